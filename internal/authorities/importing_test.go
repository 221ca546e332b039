package authorities_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/problem"
)

// importRegistry is a registry on a fresh database.
type importRegistry struct {
	t   *testing.T
	db  *db.DB
	svc *authorities.Service
}

func newImportRegistry(t *testing.T) *importRegistry {
	t.Helper()
	w := newWorld(t)
	return &importRegistry{t: t, db: w.db, svc: w.svc}
}

func (r *importRegistry) importFile(actor authorities.Actor, format, text string, opts authorities.ImportOptions) (authorities.ImportResult, error) {
	r.t.Helper()
	return r.svc.ImportFile(context.Background(), actor, strings.NewReader(text), format, opts)
}

// mustImport imports a file as the operator and fails the test on any
// problem.
func (r *importRegistry) mustImport(format, text string) authorities.ImportResult {
	r.t.Helper()
	res, err := r.importFile(authorities.System(), format, text, authorities.ImportOptions{})
	if err != nil {
		r.t.Fatalf("import: %v %v", err, res.Errors)
	}
	return res
}

func (r *importRegistry) export(format string) string {
	r.t.Helper()
	var b bytes.Buffer
	if err := r.svc.Export(context.Background(), &b, format); err != nil {
		r.t.Fatal(err)
	}
	return b.String()
}

func (r *importRegistry) count(table string) int {
	r.t.Helper()
	var n int
	if err := r.db.Read().QueryRowContext(context.Background(), `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
		r.t.Fatal(err)
	}
	return n
}

func (r *importRegistry) get(ext string) *authorities.Authority {
	r.t.Helper()
	a, err := r.svc.GetByExternalID(context.Background(), ext)
	if err != nil {
		r.t.Fatalf("%s: %v", ext, err)
	}
	return a
}

func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func hasError(errs []authorities.ImportError, line int, column, key string) bool {
	return slices.ContainsFunc(errs, func(e authorities.ImportError) bool {
		return e.Line == line && e.Column == column && e.Problem.Key == key
	})
}

const importHeader = "external_id,country,name,language,areas,role,parent_external_id,competences,email\n"

// importNC is a national coordinator for Germany, line 2 of each bad file.
const importNC = "DE-NC,DE,Bundesministerium für Wirtschaft und Klimaschutz,de,pq;services;pw,national_coordinator,,,\n"

func TestImportRefusesEveryKindOfBadRowAndImportsNothing(t *testing.T) {
	for _, tc := range []struct {
		name   string
		file   string
		line   int
		column string
		key    string
	}{
		{"unknown country", importHeader + importNC + "X-1,XX,Behörde,de,pq,,,,\n", 3, "country", "error_country_unknown"},
		{"unknown area", importHeader + importNC + "DE-1,DE,Behörde,de,pq;zz,,,,\n", 3, "areas", "error_area_unknown"},
		{"missing name", importHeader + importNC + "DE-1,DE,,de,pq,,,,\n", 3, "name", "error_name_required"},
		{"bad e-mail", importHeader + importNC + "DE-1,DE,Behörde,de,pq,,,,info@@behoerde\n", 3, "email", "error_email_invalid"},
		{"missing external id", importHeader + importNC + ",DE,Behörde,de,pq,,,,\n", 3, "external_id", "error_external_id_required"},
		{"duplicate external id", importHeader + importNC + "DE-1,DE,Behörde,de,pq,,,,\nDE-1,DE,Amt,de,pq,,,,\n", 4, "external_id", "error_external_id_duplicate"},
		{"invalid UTF-8", importHeader + importNC + "DE-1,DE,Stra\xdfenbauamt,de,pq,,,,\n", 3, "name", "error_encoding"},
		{"Latin-1 header", "external_id,country,name,language,areas,b\xe4r\n", 1, "", "error_encoding"},
		{"unknown column", "external_id,country,name,language,areas,fax\n", 1, "fax", "error_column_unknown"},
		{"missing required column", "external_id,country,name,areas\nDE-1,DE,Amt,pq\n", 1, "language", "error_column_missing"},
		{"duplicate column", "external_id,country,name,language,areas,name\n", 1, "name", "error_column_duplicate"},
		{"wrong number of fields", importHeader + importNC + "DE-1,DE,Behörde,de\n", 3, "", "error_field_count"},
		{"broken quoting", importHeader + importNC + "DE-1,DE,\"Behörde,de,pq,,,,\n", 3, "", "error_csv_syntax"},
		{"unknown language", importHeader + importNC + "DE-1,DE,Behörde,xx,pq,,,,\n", 3, "language", "error_language_unknown"},
		{"unknown role", importHeader + importNC + "DE-1,DE,Behörde,de,pq,mayor,,,\n", 3, "role", "error_authority_kind_unknown"},
		{"unknown competence", importHeader + importNC + "DE-1,DE,Behörde,de,pq,,,astronaut,\n", 3, "competences", "error_competence_unknown"},
		{"competence of an area the row does not have", importHeader + importNC + "DE-1,DE,Behörde,de,pq,,,tour_guides,\n", 3, "competences", "error_competence_unknown"},
		{"ambiguous competence code", importHeader + importNC + "DE-1,DE,Behörde,de,pw;services,,,construction,\n", 3, "competences", "error_competence_ambiguous"},
		{"ambiguous competence label", importHeader + importNC + "DE-1,DE,Behörde,de,pw;services,,,cleaning services,\n", 3, "competences", "error_competence_ambiguous"},
		{"unknown parent", importHeader + importNC + "DE-1,DE,Behörde,de,pq,,NOPE,,\n", 3, "parent_external_id", "error_parent_unknown"},
		{"parent that is no coordinator", importHeader + importNC + "DE-1,DE,Behörde,de,pq,,,,\nDE-2,DE,Amt,de,pq,,DE-1,,\n", 4, "parent_external_id", "error_parent_invalid"},
		{"parent in another country", importHeader + importNC + "AT-NC,AT,Bundesministerium,de,pq,national_coordinator,,,\nAT-1,AT,Amt,de,pq,,DE-NC,,\n", 4, "parent_external_id", "error_parent_invalid"},
		{"coordinators reporting to each other", importHeader + importNC + "DE-A,DE,A,de,pq,delegated_coordinator,DE-B,,\nDE-B,DE,B,de,pq,delegated_coordinator,DE-A,,\n", 3, "parent_external_id", "error_parent_cycle"},
		{"two national coordinators for one country", importHeader + importNC + "DE-NC2,DE,Auswärtiges Amt,de,pq,national_coordinator,,,\n", 3, "role", "error_national_coordinator_twice"},
		{"a country without national coordinator", importHeader + "AT-1,AT,Amt,de,pq,,,,\n", 2, "country", "error_national_coordinator_missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newImportRegistry(t)
			res, err := r.importFile(authorities.System(), "csv", tc.file, authorities.ImportOptions{})
			if p, ok := problem.As(err); !ok || p.Kind != problem.Invalid {
				t.Fatalf("error %v, want an Invalid problem", err)
			}
			if !hasError(res.Errors, tc.line, tc.column, tc.key) {
				t.Fatalf("want line %d %s %s, got %v", tc.line, tc.column, tc.key, res.Errors)
			}
			if res.Created+res.Updated+res.Unchanged != 0 || r.count("authorities") != 0 || r.count("authority_history") != 0 {
				t.Fatalf("imported something: %+v, %d authorities", res, r.count("authorities"))
			}
		})
	}
}

func TestImportReportsEveryBadRowAtOnce(t *testing.T) {
	r := newImportRegistry(t)
	res, _ := r.importFile(authorities.System(), "csv", importHeader+importNC+
		"DE-1,XX,Behörde,de,pq,,,,\nDE-2,DE,,de,pq,,,,\nDE-3,DE,Stra\xdfe,de,pq,,,,\nDE-4,DE,Amt,de,pq,,,,a@@b\n", authorities.ImportOptions{})
	for _, want := range []struct {
		line        int
		column, key string
	}{{3, "country", "error_country_unknown"}, {4, "name", "error_name_required"}, {5, "name", "error_encoding"}, {6, "email", "error_email_invalid"}} {
		if !hasError(res.Errors, want.line, want.column, want.key) {
			t.Errorf("missing %v in %v", want, res.Errors)
		}
	}
	if len(res.Errors) != 4 {
		t.Errorf("errors %v, want exactly 4", res.Errors)
	}
}

func TestImportJSONNamesTheItemOfEachProblem(t *testing.T) {
	r := newImportRegistry(t)
	res, err := r.importFile(authorities.System(), "json", `[
		{"external_id": "DE-NC", "country": "DE", "name": "BMWK", "language": "de", "areas": ["pq"], "role": "national_coordinator"},
		{"external_id": "DE-1", "country": "DE", "name": "Amt", "language": "de", "areas": ["pq"], "fax": "030 1"},
		{"external_id": "DE-2", "country": "DE", "name": "Amt", "language": "de", "areas": "pq"},
		{"external_id": "DE-3", "country": "DE", "name": "Amt", "language": "de", "areas": ["pq"], "email": "nope"}
	]`, authorities.ImportOptions{})
	if err == nil || r.count("authorities") != 0 {
		t.Fatalf("imported: %v", err)
	}
	for _, want := range []struct {
		line        int
		column, key string
	}{{2, "fax", "error_column_unknown"}, {3, "areas", "error_value_invalid"}, {4, "email", "error_email_invalid"}} {
		if !hasError(res.Errors, want.line, want.column, want.key) {
			t.Errorf("missing %v in %v", want, res.Errors)
		}
	}
	res, _ = r.importFile(authorities.System(), "json", `{"external_id": "DE-NC"}`, authorities.ImportOptions{})
	if !hasError(res.Errors, 0, "", "error_json_invalid") {
		t.Errorf("not an array: %v", res.Errors)
	}
}

func TestImportWithSkipInvalidImportsTheRestAndReportsTheSkipped(t *testing.T) {
	r := newImportRegistry(t)
	res, err := r.importFile(authorities.System(), "csv", importHeader+importNC+
		"DE-1,DE,Behörde,de,pq,delegated_coordinator,DE-NC,,bad-address\n"+ // invalid
		"DE-2,DE,Amt,de,pq,,DE-1,,\n"+ // reports to a skipped row
		"DE-3,DE,Stra\xdfenbauamt,de,pq,,,,\n"+ // wrong encoding
		"DE-4,DE,Landesamt,de,pq,,DE-NC,doctor,\n"+
		"AT-1,AT,Amt,de,pq,,,,\n", // no national coordinator for AT
		authorities.ImportOptions{SkipInvalid: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Created != 2 || len(res.Errors) != 0 {
		t.Fatalf("result %+v", res)
	}
	for _, want := range []struct {
		line        int
		column, key string
	}{{3, "email", "error_email_invalid"}, {4, "parent_external_id", "error_parent_unknown"}, {5, "name", "error_encoding"},
		{7, "country", "error_national_coordinator_missing"}} {
		if !hasError(res.Skipped, want.line, want.column, want.key) {
			t.Errorf("missing %v in %v", want, res.Skipped)
		}
	}
	if r.count("authorities") != 2 || r.get("DE-4").ParentID != r.get("DE-NC").ID {
		t.Fatalf("%d authorities", r.count("authorities"))
	}
}

func TestImportedAuthoritiesAreValidatedAndReportToTheirParents(t *testing.T) {
	r := newImportRegistry(t)
	res := r.mustImport("csv", fixture(t, "authorities.csv"))
	if res.Created != 9 || res.Updated+res.Unchanged != 0 || len(res.Skipped) != 0 {
		t.Fatalf("result %+v", res)
	}
	nc, dc, baek := r.get("DE-NC"), r.get("DE-DC-PQ"), r.get("DE-0101")
	if baek.Status != authorities.Validated || baek.ParentID != dc.ID || dc.ParentID != nc.ID || dc.Kind != authorities.DelegatedCoordinator {
		t.Fatalf("network: %+v", baek)
	}
	if baek.Names["en"] != "German Medical Association" || baek.Phone != "+49 30 400456-0" || baek.Acronym != "BÄK" {
		t.Fatalf("data: %+v", baek)
	}
	if fr := r.get("FR-0101"); fr.Phone != "+33 1 53 89 32 00" || fr.Kind != authorities.CompetentAuthority {
		t.Fatalf("the leading quote stays: %q %s", fr.Phone, fr.Kind)
	}
	if r.count("authority_history") != 9 {
		t.Fatalf("history: %d lines", r.count("authority_history"))
	}
}

func TestImportAcceptsGRForGreece(t *testing.T) {
	r := newImportRegistry(t)
	r.mustImport("csv", fixture(t, "authorities.csv"))
	if el := r.get("EL-NC"); el.Country != "EL" {
		t.Fatalf("country %q", el.Country)
	}
}

func TestImportResolvesCompetencesByCodeLabelOrQualifiedCode(t *testing.T) {
	r := newImportRegistry(t)
	r.mustImport("csv", fixture(t, "authorities.csv"))
	for ext, want := range map[string][]authorities.Competence{
		"DE-0101": {{Area: "pq", Vocabulary: "professions", Term: "doctor"}, {Area: "pq", Vocabulary: "professions", Term: "general_practitioner"}},
		"DE-0102": {{Area: "pq", Vocabulary: "professions", Term: "architect"}, {Area: "services", Vocabulary: "service_sectors", Term: "architecture_engineering"}},
		"DE-0103": {{Area: "pw", Vocabulary: "economic_sectors", Term: "cleaning"}, {Area: "pw", Vocabulary: "economic_sectors", Term: "construction"}},
		"FR-0101": {{Area: "pq", Vocabulary: "professions", Term: "dentist"}, {Area: "pq", Vocabulary: "professions", Term: "doctor"}},
	} {
		if got := r.get(ext).Competences; !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", ext, got, want)
		}
	}
	r.mustImport("json", `[{"external_id": "DE-0101", "country": "DE", "name": "Bundesärztekammer", "language": "de", "areas": ["pq"],
		"role": "competent_authority", "parent_external_id": "DE-DC-PQ", "competences": ["general PRACTITIONER", "Dental practitioner (dentist)"]}]`)
	if got := r.get("DE-0101").Competences; len(got) != 2 || got[0].Term != "dentist" || got[1].Term != "general_practitioner" {
		t.Fatalf("by label: %v", got)
	}
}

func TestFormulaLikeValuesAreStoredAsTextAndExportedSafely(t *testing.T) {
	r := newImportRegistry(t)
	r.mustImport("csv", fixture(t, "authorities.csv")+"DE-0104,DE,'@SUM(A1),de,pq,,,,,,,,,,,,\n")
	if got := r.get("DE-0103").Name; got != "=cmd" {
		t.Fatalf("stored %q", got)
	}
	if got := r.get("DE-0104").Name; got != "@SUM(A1)" {
		t.Fatalf("the export's quote is not removed: %q", got)
	}
	out := r.export("csv")
	for _, want := range []string{"DE-0103,DE,'=cmd,", ",'+49 30 400456-0,", "DE-0104,DE,'@SUM(A1),"} {
		if !strings.Contains(out, want) {
			t.Errorf("export lacks %q:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		for _, cell := range strings.Split(line, ",") {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("cell %q starts a formula", cell)
			}
		}
	}
	res := r.mustImport("csv", out)
	if res.Unchanged != 10 || r.get("DE-0103").Name != "=cmd" {
		t.Fatalf("re-import: %+v, %q", res, r.get("DE-0103").Name)
	}
}

func TestExportThenImportChangesNothing(t *testing.T) {
	for _, format := range []string{"csv", "json"} {
		t.Run(format, func(t *testing.T) {
			r := newImportRegistry(t)
			r.mustImport("csv", fixture(t, "authorities.csv"))
			r.mustImport("json", fixture(t, "authorities.json"))
			// One registered by hand, without an external id, reporting to
			// a coordinator.
			if _, err := r.svc.Register(context.Background(), authorities.System(), authorities.Input{Country: "DE", Name: "Landesamt für Gesundheit",
				Language: "de", Areas: []string{"pq"}, ParentID: r.get("DE-NC").ID, Competences: []authorities.Competence{{Area: "pq", Vocabulary: "professions", Term: "nurse_general_care"}}}); err != nil {
				t.Fatal(err)
			}
			n, history := r.count("authorities"), r.count("authority_history")
			out := r.export(format)
			res := r.mustImport(format, out)
			if res.Unchanged != n || res.Created+res.Updated != 0 || len(res.Skipped) != 0 {
				t.Fatalf("re-import of %d: %+v", n, res)
			}
			if got := r.count("authority_history"); got != history {
				t.Fatalf("history grew from %d to %d", history, got)
			}
			if again := r.export(format); again != out {
				t.Fatalf("export changed:\n%s\n---\n%s", out, again)
			}
			// The export rebuilds the same registry elsewhere.
			fresh := newImportRegistry(t)
			if res := fresh.mustImport(format, out); res.Created != n {
				t.Fatalf("fresh import: %+v", res)
			}
			if got := fresh.export(format); got != out {
				t.Fatalf("fresh registry exports differently:\n%s\n---\n%s", out, got)
			}
		})
	}
}

func TestImportIsIdempotentAndRecordsChanges(t *testing.T) {
	r := newImportRegistry(t)
	file := fixture(t, "authorities.csv")
	r.mustImport("csv", file)
	history := r.count("authority_history")
	if res := r.mustImport("csv", file); res.Unchanged != 9 || res.Created+res.Updated != 0 {
		t.Fatalf("second import: %+v", res)
	}
	if r.count("authority_history") != history {
		t.Fatal("an unchanged import wrote history")
	}
	changed := strings.Replace(file, "info@baek.de", "post@baek.de", 1)
	if res := r.mustImport("csv", changed); res.Updated != 1 || res.Unchanged != 8 {
		t.Fatalf("changed import: %+v", res)
	}
	h, err := r.svc.History(context.Background(), authorities.System(), r.get("DE-0101").ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 || h[0].Field != "email" || h[0].Old != "info@baek.de" || h[0].New != "post@baek.de" || h[0].UserID != "" {
		t.Fatalf("history %+v", h)
	}
}

func TestImportCanReplaceANationalCoordinator(t *testing.T) {
	r := newImportRegistry(t)
	r.mustImport("csv", fixture(t, "authorities.csv"))
	res := r.mustImport("csv", importHeader+
		"DE-NC,DE,Bundesministerium für Wirtschaft und Klimaschutz,de,pq;services;pw,delegated_coordinator,DE-NC2,,\n"+
		"DE-NC2,DE,Bundesministerium für Wirtschaft und Energie,de,pq;services;pw,national_coordinator,,,\n")
	if res.Created != 1 || res.Updated != 1 {
		t.Fatalf("result %+v", res)
	}
	if old, nc := r.get("DE-NC"), r.get("DE-NC2"); old.Kind != authorities.DelegatedCoordinator || nc.Kind != authorities.NationalCoordinator || old.ParentID != nc.ID {
		t.Fatalf("%s %s", old.Kind, nc.Kind)
	}
	res, _ = r.importFile(authorities.System(), "csv", importHeader+"DE-NC3,DE,Auswärtiges Amt,de,pq,national_coordinator,,,\n", authorities.ImportOptions{})
	if !hasError(res.Errors, 2, "role", "error_national_coordinator_exists") {
		t.Fatalf("a second one: %v", res.Errors)
	}
}

func TestImportAsACoordinatorStaysInItsCountry(t *testing.T) {
	r := newImportRegistry(t)
	r.mustImport("csv", fixture(t, "authorities.csv"))
	de := authorities.Actor{UserID: "user-de", Authority: r.get("DE-NC"), Roles: []authorities.UserRole{{Role: authorities.Coordinator}}}
	n := r.count("authorities")
	for _, tc := range []struct {
		name, file  string
		column, key string
	}{
		{"a new authority in another country", "FR-0102,FR,Ordre des architectes,fr,pq,,FR-NC,,\n", "country", "error_forbidden"},
		{"an authority of another country", "FR-0101,FR,Ordre national des médecins,fr,pq,,FR-NC,,\n", "country", "error_forbidden"},
		{"a national coordinator", "DE-NC2,DE,Auswärtiges Amt,de,pq,national_coordinator,,,\n", "role", "error_forbidden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := r.importFile(de, "csv", importHeader+tc.file, authorities.ImportOptions{})
			if err == nil || !hasError(res.Errors, 2, tc.column, tc.key) {
				t.Fatalf("%v %v", err, res.Errors)
			}
			if r.count("authorities") != n || r.get("FR-0101").Name != "Ordre national des médecins" {
				t.Fatal("changed something")
			}
		})
	}
	// A delegated coordinator for professional qualifications only.
	dc := r.get("DE-DC-PQ")
	dc.Scope.Areas = []string{"pq"}
	pq := authorities.Actor{UserID: "user-dc", Authority: dc, Roles: []authorities.UserRole{{Role: authorities.Coordinator}}}
	res, err := r.importFile(pq, "csv", importHeader+"DE-0106,DE,Gewerbeamt,de,services,,DE-DC-PQ,,\n", authorities.ImportOptions{})
	if err == nil || !hasError(res.Errors, 2, "areas", "error_forbidden") || r.count("authorities") != n {
		t.Fatalf("outside its areas: %v %v", err, res.Errors)
	}
	res, err = r.importFile(de, "csv", importHeader+"DE-0105,DE,Landesamt für Gesundheit und Soziales,de,pq,,,doctor,\n", authorities.ImportOptions{})
	if err != nil || res.Created != 1 {
		t.Fatalf("in its country: %v %v", err, res.Errors)
	}
	a := r.get("DE-0105")
	h, _ := r.svc.History(context.Background(), authorities.System(), a.ID)
	if a.ParentID != de.Authority.ID || len(h) != 1 || h[0].UserID != "user-de" {
		t.Fatalf("parent %s, history %+v", a.ParentID, h)
	}
}

func TestImportParsersLeaveOutDamagedRows(t *testing.T) {
	rows, errs := authorities.ParseCSV(strings.NewReader("\xef\xbb\xbf" + importHeader + importNC + "DE-1,DE,Stra\xdfe,de,pq,,,,\n\"DE-2\",DE,\"Amt, Berlin\",de,pq; services ,,,,\n"))
	if len(rows) != 2 || len(errs) != 1 || !hasError(errs, 3, "name", "error_encoding") {
		t.Fatalf("rows %+v errors %v", rows, errs)
	}
	if r := rows[1]; r.Line != 4 || r.Name != "Amt, Berlin" || !slices.Equal(r.Areas, []string{"pq", "services"}) {
		t.Fatalf("row %+v", r)
	}
	rows, errs = authorities.ParseJSON(strings.NewReader(`[{"external_id": "A", "areas": ["pq"]}, {"external_id": "B", "colour": "red"}]`))
	if len(rows) != 1 || rows[0].Line != 1 || !hasError(errs, 2, "colour", "error_column_unknown") {
		t.Fatalf("rows %+v errors %v", rows, errs)
	}
}

func TestImportFileRefusesAnUnknownFormat(t *testing.T) {
	r := newImportRegistry(t)
	_, err := r.importFile(authorities.System(), "xlsx", "", authorities.ImportOptions{})
	if p, ok := problem.As(err); !ok || p.Key != "error_format_unknown" {
		t.Fatalf("%v", err)
	}
	if err := r.svc.Export(context.Background(), &bytes.Buffer{}, "xlsx"); !errors.As(err, new(*problem.Error)) {
		t.Fatalf("export: %v", err)
	}
}

func TestImportReportsProgress(t *testing.T) {
	r := newImportRegistry(t)
	var last, total int
	_, err := r.importFile(authorities.System(), "csv", fixture(t, "authorities.csv"), authorities.ImportOptions{Progress: func(d, n int) { last, total = d, n }})
	if err != nil || last != 9 || total != 9 {
		t.Fatalf("%v: %d of %d", err, last, total)
	}
}
