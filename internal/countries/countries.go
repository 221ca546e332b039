// Package countries lists the countries of the network: the 27 EU member
// states and Iceland, Liechtenstein and Norway, the United Kingdom as a
// former participant (so that historical data still loads), and the
// European Commission as a special actor. Names come from CLDR (through
// golang.org/x/text) in every UI language.
package countries

import (
	"slices"
	"sort"
	"strings"
	"sync"

	"golang.org/x/text/collate"
	"golang.org/x/text/language"
	"golang.org/x/text/language/display"
)

// Commission is the code of the European Commission, which takes part in
// the network as a special actor, not a country.
const Commission = "EC"

// Country is a participant of the network.
type Country struct {
	Code   string // IMI's code: ISO 3166-1 alpha-2, but EL for Greece
	Region string // the ISO/CLDR region code (GR for Greece)
	EU     bool
	Former bool // no longer participates (the United Kingdom)
}

var all = func() []Country {
	var out []Country
	for _, c := range strings.Fields("AT BE BG HR CY CZ DK EE FI FR DE EL HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE") {
		out = append(out, Country{Code: c, Region: region(c), EU: true})
	}
	for _, c := range strings.Fields("IS LI NO") {
		out = append(out, Country{Code: c, Region: c})
	}
	out = append(out, Country{Code: "UK", Region: "GB", Former: true})
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out
}()

func region(code string) string {
	if code == "EL" {
		return "GR"
	}
	return code
}

// Current returns the 30 participating countries, by code.
func Current() []Country {
	var out []Country
	for _, c := range all {
		if !c.Former {
			out = append(out, c)
		}
	}
	return out
}

// Normalize turns input into IMI's code: upper case, GR as EL, GB as UK.
// It returns "" for anything that is not a country of the network (current
// or former) or the Commission.
func Normalize(code string) string {
	code = strings.ToUpper(strings.TrimSpace(code))
	switch code {
	case "GR":
		code = "EL"
	case "GB":
		code = "UK"
	case Commission:
		return Commission
	}
	for _, c := range all {
		if c.Code == code {
			return code
		}
	}
	return ""
}

// IsCurrent reports whether code (already normalized) is one of the 30
// participating countries.
func IsCurrent(code string) bool {
	for _, c := range all {
		if c.Code == code {
			return !c.Former
		}
	}
	return false
}

// Name returns the name of a country in a UI language; commission is the
// Commission's name in that language (from the UI catalog).
func Name(code, lang, commission string) string {
	if code == Commission {
		return commission
	}
	if name, ok := namesIn(lang).byCode[code]; ok {
		return name
	}
	return code
}

// names are the countries' names in one language and the current ones in
// their order, made once per language: CLDR's tables and a collator took
// longer than the rest of a page with a country list.
type names struct {
	byCode map[string]string
	sorted []Country
}

var (
	namesMu   sync.Mutex
	namesMemo = map[string]*names{}
)

// namesIn returns the names in lang, kept for the first 64 languages asked
// (any tag may be asked for; the UI has 26).
func namesIn(lang string) *names {
	namesMu.Lock()
	n := namesMemo[lang]
	namesMu.Unlock()
	if n != nil {
		return n
	}
	n = &names{byCode: map[string]string{}, sorted: Current()}
	regions := display.Regions(language.Make(lang))
	if regions == nil { // a language CLDR has no names in
		regions = display.Regions(language.English)
	}
	for _, c := range all {
		name := regions.Name(language.MustParseRegion(c.Region))
		if name == "" {
			name = c.Code
		}
		n.byCode[c.Code] = name
	}
	col := collate.New(language.Make(lang))
	sort.SliceStable(n.sorted, func(i, j int) bool {
		return col.CompareString(n.byCode[n.sorted[i].Code], n.byCode[n.sorted[j].Code]) < 0
	})
	namesMu.Lock()
	if len(namesMemo) < 64 {
		namesMemo[lang] = n
	}
	namesMu.Unlock()
	return n
}

// Sorted returns the current countries ordered by their name in lang, as a
// reader of that language expects (collation, not byte order).
func Sorted(lang string) []Country {
	return slices.Clone(namesIn(lang).sorted)
}
