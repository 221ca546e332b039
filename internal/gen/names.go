package gen

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// country is what names of a country's authorities are made of.
type country struct {
	code   string
	weight int      // share of the network's authorities
	langs  []string // languages of its authorities' names, the first most used
	cities []string
	phone  string // country calling code
	tld    string
}

// countries of the network, with languages and cities; weights follow
// the size of the countries' administrations, roughly.
var countryData = []country{
	{"AT", 3, []string{"de"}, []string{"Wien", "Graz", "Linz", "Salzburg", "Innsbruck"}, "43", "at"},
	{"BE", 3, []string{"nl", "fr", "de"}, []string{"Brussel", "Antwerpen", "Gent", "Liège", "Namur", "Eupen"}, "32", "be"},
	{"BG", 2, []string{"bg"}, []string{"София", "Пловдив", "Варна", "Бургас", "Русе"}, "359", "bg"},
	{"CY", 1, []string{"el"}, []string{"Λευκωσία", "Λεμεσός", "Λάρνακα", "Πάφος"}, "357", "cy"},
	{"CZ", 3, []string{"cs"}, []string{"Praha", "Brno", "Ostrava", "Plzeň", "Olomouc"}, "420", "cz"},
	{"DE", 12, []string{"de"}, []string{"Berlin", "München", "Hamburg", "Köln", "Stuttgart", "Dresden", "Düsseldorf"}, "49", "de"},
	{"DK", 2, []string{"da"}, []string{"København", "Aarhus", "Odense", "Aalborg"}, "45", "dk"},
	{"EE", 1, []string{"et"}, []string{"Tallinn", "Tartu", "Pärnu", "Narva"}, "372", "ee"},
	{"EL", 3, []string{"el"}, []string{"Αθήνα", "Θεσσαλονίκη", "Πάτρα", "Ηράκλειο", "Λάρισα"}, "30", "gr"},
	{"ES", 8, []string{"es"}, []string{"Madrid", "Barcelona", "Valencia", "Sevilla", "Bilbao", "Zaragoza"}, "34", "es"},
	{"FI", 2, []string{"fi", "sv"}, []string{"Helsinki", "Tampere", "Turku", "Oulu"}, "358", "fi"},
	{"FR", 11, []string{"fr"}, []string{"Paris", "Lyon", "Marseille", "Toulouse", "Lille", "Nantes", "Strasbourg"}, "33", "fr"},
	{"HR", 2, []string{"hr"}, []string{"Zagreb", "Split", "Rijeka", "Osijek"}, "385", "hr"},
	{"HU", 3, []string{"hu"}, []string{"Budapest", "Debrecen", "Szeged", "Pécs", "Győr"}, "36", "hu"},
	{"IE", 2, []string{"en", "ga"}, []string{"Dublin", "Cork", "Galway", "Limerick"}, "353", "ie"},
	{"IS", 1, []string{"is"}, []string{"Reykjavík", "Akureyri", "Kópavogur"}, "354", "is"},
	{"IT", 9, []string{"it"}, []string{"Roma", "Milano", "Napoli", "Torino", "Firenze", "Bologna", "Palermo"}, "39", "it"},
	{"LI", 1, []string{"de"}, []string{"Vaduz", "Schaan", "Balzers"}, "423", "li"},
	{"LT", 1, []string{"lt"}, []string{"Vilnius", "Kaunas", "Klaipėda", "Šiauliai"}, "370", "lt"},
	{"LU", 1, []string{"fr", "de"}, []string{"Luxembourg", "Esch-sur-Alzette", "Differdange"}, "352", "lu"},
	{"LV", 1, []string{"lv"}, []string{"Rīga", "Daugavpils", "Liepāja", "Jelgava"}, "371", "lv"},
	{"MT", 1, []string{"mt", "en"}, []string{"Valletta", "Birkirkara", "Mosta", "Qormi"}, "356", "mt"},
	{"NL", 4, []string{"nl"}, []string{"Amsterdam", "Rotterdam", "Den Haag", "Utrecht", "Eindhoven"}, "31", "nl"},
	{"NO", 2, []string{"no"}, []string{"Oslo", "Bergen", "Trondheim", "Stavanger"}, "47", "no"},
	{"PL", 7, []string{"pl"}, []string{"Warszawa", "Kraków", "Łódź", "Wrocław", "Poznań", "Gdańsk"}, "48", "pl"},
	{"PT", 3, []string{"pt"}, []string{"Lisboa", "Porto", "Braga", "Coimbra", "Faro"}, "351", "pt"},
	{"RO", 4, []string{"ro"}, []string{"București", "Cluj-Napoca", "Timișoara", "Iași", "Constanța"}, "40", "ro"},
	{"SE", 3, []string{"sv"}, []string{"Stockholm", "Göteborg", "Malmö", "Uppsala"}, "46", "se"},
	{"SI", 1, []string{"sl"}, []string{"Ljubljana", "Maribor", "Celje", "Koper"}, "386", "si"},
	{"SK", 2, []string{"sk"}, []string{"Bratislava", "Košice", "Prešov", "Žilina"}, "421", "sk"},
}

// institution words per language: office, chamber, authority,
// inspectorate, then the names of a national and of a regional
// coordinator.
var institution = map[string][6]string{
	"bg": {"Служба", "Камара", "Орган", "Инспекция", "Национален координатор на ИМИ", "Регионален координатор на ИМИ"},
	"cs": {"Úřad", "Komora", "Orgán", "Inspektorát", "Národní koordinátor IMI", "Regionální koordinátor IMI"},
	"da": {"Kontor", "Kammer", "Myndighed", "Tilsyn", "National IMI-koordinator", "Regional IMI-koordinator"},
	"de": {"Amt", "Kammer", "Behörde", "Aufsichtsamt", "Nationale IMI-Koordinierungsstelle", "Regionale IMI-Koordinierungsstelle"},
	"el": {"Γραφείο", "Επιμελητήριο", "Αρχή", "Επιθεώρηση", "Εθνικός συντονιστής ΙΜΙ", "Περιφερειακός συντονιστής ΙΜΙ"},
	"en": {"Office", "Chamber", "Authority", "Inspectorate", "National IMI Coordination Office", "Regional IMI Coordination Office"},
	"es": {"Oficina", "Cámara", "Autoridad", "Inspección", "Coordinación nacional IMI", "Coordinación regional IMI"},
	"et": {"Amet", "Koda", "Asutus", "Inspektsioon", "Riiklik IMI koordinaator", "Piirkondlik IMI koordinaator"},
	"fi": {"Virasto", "Kamari", "Viranomainen", "Tarkastusvirasto", "Kansallinen IMI-koordinaattori", "Alueellinen IMI-koordinaattori"},
	"fr": {"Office", "Chambre", "Autorité", "Inspection", "Coordination nationale IMI", "Coordination régionale IMI"},
	"ga": {"Oifig", "Cumann", "Údarás", "Cigireacht", "Oifig Náisiúnta Comhordúcháin IMI", "Oifig Réigiúnach Comhordúcháin IMI"},
	"hr": {"Ured", "Komora", "Tijelo", "Inspektorat", "Nacionalni koordinator IMI", "Regionalni koordinator IMI"},
	"hu": {"Hivatal", "Kamara", "Hatóság", "Felügyelőség", "Nemzeti IMI-koordinátor", "Regionális IMI-koordinátor"},
	"is": {"Skrifstofa", "Ráð", "Stofnun", "Eftirlit", "Landsskrifstofa IMI", "Svæðisskrifstofa IMI"},
	"it": {"Ufficio", "Camera", "Autorità", "Ispettorato", "Coordinamento nazionale IMI", "Coordinamento regionale IMI"},
	"lt": {"Biuras", "Rūmai", "Institucija", "Inspekcija", "Nacionalinis IMI koordinatorius", "Regioninis IMI koordinatorius"},
	"lv": {"Birojs", "Palāta", "Iestāde", "Inspekcija", "Nacionālais IMI koordinators", "Reģionālais IMI koordinators"},
	"mt": {"Uffiċċju", "Kamra", "Awtorità", "Spettorat", "Koordinatur Nazzjonali tal-IMI", "Koordinatur Reġjonali tal-IMI"},
	"nl": {"Bureau", "Kamer", "Autoriteit", "Inspectie", "Nationaal IMI-coördinatiepunt", "Regionaal IMI-coördinatiepunt"},
	"no": {"Kontor", "Kammer", "Myndighet", "Tilsyn", "Nasjonal IMI-koordinator", "Regional IMI-koordinator"},
	"pl": {"Urząd", "Izba", "Organ", "Inspektorat", "Krajowy koordynator IMI", "Regionalny koordynator IMI"},
	"pt": {"Gabinete", "Ordem", "Autoridade", "Inspeção", "Coordenação nacional IMI", "Coordenação regional IMI"},
	"ro": {"Oficiul", "Camera", "Autoritatea", "Inspectoratul", "Coordonatorul național IMI", "Coordonatorul regional IMI"},
	"sk": {"Úrad", "Komora", "Orgán", "Inšpektorát", "Národný koordinátor IMI", "Regionálny koordinátor IMI"},
	"sl": {"Urad", "Zbornica", "Organ", "Inšpektorat", "Nacionalni koordinator IMI", "Regionalni koordinator IMI"},
	"sv": {"Kontor", "Kammare", "Myndighet", "Inspektion", "Nationell IMI-samordnare", "Regional IMI-samordnare"},
}

// Obviously made-up people: placeholder names of several countries, and a
// number that no real name has.
var (
	firstNames = []string{"Max", "Erika", "John", "Jane", "Jean", "Marie", "Jan", "Anna", "Mario", "Maria", "Juan", "Ana", "Sven", "Ingrid", "Petra", "Pavel",
		"Jānis", "Ona", "Γιάννης", "Μαρία", "Иван", "Мария", "Matti", "Liisa"}
	lastNames = []string{"Mustermann", "Musterfrau", "Doe", "Dupont", "Jansen", "Rossi", "Pérez", "Kowalski", "Svensson", "Novák", "Horvat", "Nagy",
		"Papadopoulos", "Silva", "Virtanen", "Popescu", "Bērziņš", "Petrauskas", "Tamm", "Borg", "Murphy", "Jensen", "Nordmann", "Jónsson"}
)

// person is a made-up name, numbered.
func person(r *rand.Rand, n int) string {
	return fmt.Sprintf("%s %s %05d", firstNames[r.IntN(len(firstNames))], lastNames[r.IntN(len(lastNames))], n%100000)
}

// business is a made-up company name.
func business(r *rand.Rand, n int) string {
	forms := []string{"GmbH", "SARL", "B.V.", "S.p.A.", "Sp. z o.o.", "s.r.o.", "AB", "Oy", "Ltd", "S.L.", "Lda"}
	return fmt.Sprintf("Example %s %05d %s", lastNames[r.IntN(len(lastNames))], n%100000, forms[r.IntN(len(forms))])
}

// shortLabel is a vocabulary label without its explanation in brackets.
func shortLabel(label string) string {
	if i := strings.Index(label, " ("); i > 0 {
		return label[:i]
	}
	return label
}

// acronym makes an acronym of a name's first letters, up to six.
func acronym(name string) string {
	var b strings.Builder
	for _, w := range strings.Fields(name) {
		r := []rune(w)
		if len(r) > 2 && (r[0] >= 'A' && r[0] <= 'Z') {
			b.WriteRune(r[0])
		}
		if b.Len() >= 6 {
			break
		}
	}
	return b.String()
}
