package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/openimi/openimi/internal/app"
	"github.com/openimi/openimi/internal/authorities"
)

// registerWith registers an authority as the operator.
func registerWith(t *testing.T, s *site, in authorities.Input) *authorities.Authority {
	t.Helper()
	a, err := s.app.Authorities.Register(context.Background(), authorities.System(), in)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAnotherCountrysCoordinatorIsRefusedAndChangesNothing(t *testing.T) {
	s := startSite(t)
	fr := registerWith(t, s, authorities.Input{Country: "FR", Name: "SGAE", Language: "fr", Kind: authorities.NationalCoordinator, Areas: []string{"pq"}})
	de := registerWith(t, s, authorities.Input{Country: "DE", Name: "Bundesärztekammer", Language: "de", Areas: []string{"pq"}, City: "Berlin"})
	if err := s.app.Authorities.Assign(context.Background(), s.user.ID, fr.ID, []authorities.UserRole{{Role: authorities.Coordinator}}); err != nil {
		t.Fatal(err)
	}
	b := s.enrol()
	if r := b.get("/authorities/" + de.ID); r.code != http.StatusOK {
		t.Fatalf("profile: %d (contact data is for every user)", r.code)
	}
	if r := b.get("/authorities/" + de.ID + "/edit"); r.code != http.StatusForbidden {
		t.Fatalf("edit page: %d", r.code)
	}
	for path, form := range map[string]url.Values{
		"/authorities/" + de.ID + "/edit":              {"name": {"Hijacked"}, "country": {"DE"}, "language": {"de"}, "areas": {"pq"}},
		"/authorities/" + de.ID + "/status/deactivate": {},
		"/authorities/" + de.ID + "/users":             {"name": {"Eve"}, "email": {"eve@example.eu"}},
	} {
		if r := b.post(path, form); r.code != http.StatusForbidden {
			t.Errorf("POST %s: %d", path, r.code)
		}
	}
	got, _ := s.app.Authorities.Get(context.Background(), de.ID)
	if got.Name != "Bundesärztekammer" || got.Status != authorities.Validated && got.Status != authorities.Registered {
		t.Fatalf("a refused request changed the authority: %+v", got)
	}
	if n := s.count(t, `SELECT COUNT(*) FROM invitations`); n != 0 {
		t.Fatal("a refused invitation was stored")
	}
}

func TestACoordinatorRegistersThroughTheFormWithFieldErrors(t *testing.T) {
	s := startSite(t)
	nc := registerWith(t, s, authorities.Input{Country: "LV", Name: "Ekonomikas ministrija", Language: "lv", Kind: authorities.NationalCoordinator, Areas: []string{"pq", "services"}})
	if err := s.app.Authorities.Assign(context.Background(), s.user.ID, nc.ID, []authorities.UserRole{{Role: authorities.Coordinator}}); err != nil {
		t.Fatal(err)
	}
	b := s.enrol()
	b.get("/authorities/new")
	r := b.post("/authorities/new", url.Values{"name": {""}, "country": {"LV"}, "language": {"lv"}, "email": {"not an address"}})
	if r.code != http.StatusBadRequest || !strings.Contains(r.body, `id="f-name-error"`) || !strings.Contains(r.body, `id="f-email-error"`) || !strings.Contains(r.body, `value="not an address"`) {
		t.Fatalf("%d: field errors missing or input lost", r.code)
	}
	r = b.post("/authorities/new", url.Values{"name": {"Veselības inspekcija"}, "country": {"LV"}, "language": {"lv"}, "areas": {"pq"}, "competences": {"pq/professions/doctor"}})
	if r.code != http.StatusSeeOther {
		t.Fatalf("register: %d", r.code)
	}
	r = b.get(r.location())
	if !strings.Contains(r.body, "Veselības inspekcija") || !strings.Contains(r.body, "status/validate") {
		t.Fatal("the new authority's page lacks its name or the validate button")
	}
}

func TestAuthoritiesThroughTheAPI(t *testing.T) {
	s := startSite(t)
	nc := registerWith(t, s, authorities.Input{Country: "SE", Name: "Kommerskollegium", Language: "sv", Kind: authorities.NationalCoordinator, Areas: []string{"pq"}})
	if err := s.app.Authorities.Assign(context.Background(), s.user.ID, nc.ID, []authorities.UserRole{{Role: authorities.Coordinator}}); err != nil {
		t.Fatal(err)
	}
	tok := s.token(t)
	r := s.api(t, "POST", "/api/v1/authorities", tok, `{"country":"SE","name":"Socialstyrelsen","language":"sv","areas":["pq"],"competences":[{"area":"pq","vocabulary":"professions","term":"nurse_general_care"}]}`)
	var created struct{ ID, Status string }
	if err := json.Unmarshal([]byte(r.body), &created); err != nil || r.code != http.StatusCreated || created.Status != "registered" {
		t.Fatalf("%d %s", r.code, r.body)
	}
	if r := s.api(t, "POST", "/api/v1/authorities", tok, `{"country":"NO","name":"Helsedirektoratet","language":"no","areas":["pq"]}`); r.code != http.StatusForbidden {
		t.Fatalf("another country: %d", r.code)
	}
	if r := s.api(t, "POST", "/api/v1/authorities/"+created.ID+"/status", tok, `{"status":"validated"}`); r.code != http.StatusOK || !strings.Contains(r.body, `"validated"`) {
		t.Fatalf("validate: %d %s", r.code, r.body)
	}
	if r := s.api(t, "GET", "/api/v1/authorities?country=SE", tok, ""); r.code != http.StatusOK || !strings.Contains(r.body, `"total":2`) {
		t.Fatalf("list: %d %s", r.code, r.body)
	}
	if r := s.api(t, "GET", "/api/v1/authorities/statistics", tok, ""); r.code != http.StatusOK || !strings.Contains(r.body, `"country":"SE"`) {
		t.Fatalf("stats: %d", r.code)
	}
	if r := s.api(t, "GET", "/api/v1/authorities/"+created.ID+"/history", tok, ""); r.code != http.StatusOK || !strings.Contains(r.body, `"field":"status"`) {
		t.Fatalf("history: %d %s", r.code, r.body)
	}
}

func TestTheDemoLoadsTwiceWithoutChange(t *testing.T) {
	s := startSite(t)
	users, err := app.LoadDemo(context.Background(), s.app)
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string]bool{}
	for _, u := range users {
		for _, r := range u.Roles {
			roles[r] = true
		}
	}
	for _, r := range authorities.UserRoles {
		if !roles[r] {
			t.Errorf("no demo user with role %s", r)
		}
	}
	count := func() (int, int, int) {
		return s.count(t, `SELECT COUNT(*) FROM authorities`), s.count(t, `SELECT COUNT(*) FROM users`), s.count(t, `SELECT COUNT(*) FROM authority_history`)
	}
	a1, u1, h1 := count()
	if a1 < 300 {
		t.Fatalf("%d demo authorities", a1)
	}
	if n := s.count(t, `SELECT COUNT(DISTINCT country) FROM authorities WHERE role = 'national_coordinator'`); n != 30 {
		t.Fatalf("%d countries with a national coordinator", n)
	}
	if n, c := s.count(t, `SELECT COUNT(*) FROM registers WHERE status = 'validated'`), s.count(t, `SELECT COUNT(DISTINCT country) FROM registers`); n < 1000 || c != 30 {
		t.Fatalf("%d demo register entries in %d countries", n, c)
	} else {
		t.Logf("%d demo register entries in %d countries", n, c)
	}
	r1 := s.count(t, `SELECT COUNT(*) FROM registers`)
	if _, err := app.LoadDemo(context.Background(), s.app); err != nil {
		t.Fatal(err)
	}
	if s.count(t, `SELECT COUNT(*) FROM registers`) != r1 {
		t.Error("the demo's register entries were added twice")
	}
	if a2, u2, h2 := count(); a1 != a2 || u1 != u2 || h1 != h2 {
		t.Fatalf("the second load changed something: %d/%d/%d → %d/%d/%d", a1, u1, h1, a2, u2, h2)
	}
	// Two demo requests, one waiting on each side, and two years of
	// history for the statistics, each with its facts; loaded once.
	if n := s.count(t, `SELECT COUNT(*) FROM requests WHERE reference LIKE '%-0%'`); n != 2 {
		t.Fatalf("%d demo requests", n)
	}
	if n := s.count(t, `SELECT COUNT(*) FROM requests WHERE reference LIKE '%-0%' AND state IN ('sent', 'answered')`); n != 2 {
		t.Fatal("the demo requests do not wait for the demo users")
	}
	history, facts := s.count(t, `SELECT COUNT(*) FROM requests WHERE sent_at IS NOT NULL`), s.count(t, `SELECT COUNT(*) FROM request_facts`)
	if history < 500 || facts != history {
		t.Fatalf("%d demo requests sent, %d with facts", history, facts)
	}
	t.Logf("%d demo requests", history)
}

func TestAnAuthorityRegistersItselfThroughAnInvitationLink(t *testing.T) {
	s := startSite(t)
	nc := registerWith(t, s, authorities.Input{Country: "EE", Name: "Majandus- ja Kommunikatsiooniministeerium", Language: "et", Kind: authorities.NationalCoordinator, Areas: []string{"pq"}})
	if err := s.app.Authorities.Assign(context.Background(), s.user.ID, nc.ID, []authorities.UserRole{{Role: authorities.Coordinator}}); err != nil {
		t.Fatal(err)
	}
	b := s.enrol()
	b.get("/authorities")
	if r := b.post("/authorities/invite", url.Values{"email": {"info@terviseamet.ee.example"}}); r.code != http.StatusSeeOther {
		t.Fatalf("invite: %d", r.code)
	}
	var payload string
	if err := s.app.DB.Read().QueryRowContext(context.Background(), `SELECT payload FROM outbox WHERE kind = 'authority_invitation'`).Scan(&payload); err != nil {
		t.Fatal(err)
	}
	i := strings.Index(payload, "/register/")
	link := payload[i:]
	link = link[:strings.IndexAny(link, `"\`)]
	anon := s.browser()
	if r := anon.get(link); r.code != http.StatusOK || strings.Contains(r.body, `name="role"`) {
		t.Fatalf("register page: %d (an invited authority must not choose its role)", r.code)
	}
	r := anon.post(link, url.Values{"name": {"Terviseamet"}, "language": {"et"}, "country": {"EE"}, "areas": {"pq"}, "role": {"national_coordinator"}})
	if r.code != http.StatusSeeOther {
		t.Fatalf("register: %d %s", r.code, r.body)
	}
	list, _, _ := s.app.Authorities.List(context.Background(), authorities.Filter{Country: "EE", Kind: authorities.CompetentAuthority})
	if len(list) != 1 || list[0].Name != "Terviseamet" || list[0].ParentID != nc.ID || list[0].Status != authorities.Registered {
		t.Fatalf("%+v", list)
	}
	if r := anon.get(link); r.code != http.StatusNotFound {
		t.Fatalf("used link: %d", r.code)
	}
}

func TestImportAndExportThroughTheAPI(t *testing.T) {
	s := startSite(t)
	nc := registerWith(t, s, authorities.Input{Country: "HR", Name: "Ministarstvo gospodarstva", Language: "hr", Kind: authorities.NationalCoordinator, Areas: []string{"pq"}, ExternalID: "HR-MINGO"})
	if err := s.app.Authorities.Assign(context.Background(), s.user.ID, nc.ID, []authorities.UserRole{{Role: authorities.Coordinator}}); err != nil {
		t.Fatal(err)
	}
	tok := s.token(t)
	bad := "external_id,country,name,language,areas\nHR-HLK,HR,Hrvatska liječnička komora,hr,pq\nHR-X,XX,,hr,nope\n"
	r := s.api(t, "POST", "/api/v1/authorities/import?format=csv", tok, bad, "Content-Type", "text/csv", "Accept-Language", "hr")
	var sum struct {
		Created int
		Errors  []struct {
			Line    int
			Column  string
			Message string
		}
	}
	if err := json.Unmarshal([]byte(r.body), &sum); err != nil || r.code != http.StatusBadRequest || len(sum.Errors) < 2 || sum.Errors[0].Line != 3 {
		t.Fatalf("%d %s", r.code, r.body)
	}
	if n := s.count(t, `SELECT COUNT(*) FROM authorities WHERE external_id = 'HR-HLK'`); n != 0 {
		t.Fatal("a refused import stored a row")
	}
	good := "external_id,country,name,language,areas,parent_external_id\nHR-HLK,HR,Hrvatska liječnička komora,hr,pq,HR-MINGO\n"
	r = s.api(t, "POST", "/api/v1/authorities/import", tok, good, "Content-Type", "text/csv")
	if r.code != http.StatusOK || !strings.Contains(r.body, `"created":1`) {
		t.Fatalf("%d %s", r.code, r.body)
	}
	r = s.api(t, "GET", "/api/v1/authorities/export?format=csv", tok, "")
	if r.code != http.StatusOK || !strings.Contains(r.body, "HR-HLK") || !strings.HasPrefix(r.body, "external_id,") {
		t.Fatalf("export %d %.200s", r.code, r.body)
	}
	r = s.api(t, "POST", "/api/v1/authorities/import", tok, r.body, "Content-Type", "text/csv")
	if r.code != http.StatusOK || !strings.Contains(r.body, `"created":0`) || !strings.Contains(r.body, `"updated":0`) {
		t.Fatalf("re-import of the export: %d %s", r.code, r.body)
	}
}

func TestACoordinatorImportsAFileInTheBrowser(t *testing.T) {
	s := startSite(t)
	nc := registerWith(t, s, authorities.Input{Country: "MT", Name: "Ministeru għall-Ekonomija", Language: "mt", Kind: authorities.NationalCoordinator, Areas: []string{"pq"}, ExternalID: "MT-MEE"})
	if err := s.app.Authorities.Assign(context.Background(), s.user.ID, nc.ID, []authorities.UserRole{{Role: authorities.Coordinator}}); err != nil {
		t.Fatal(err)
	}
	b := s.enrol()
	upload := func(content string) response {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		_ = mw.WriteField("csrf", b.csrf)
		fw, _ := mw.CreateFormFile("file", "authorities.csv")
		_, _ = fw.Write([]byte(content))
		_ = mw.Close()
		req, _ := http.NewRequest(http.MethodPost, s.srv.URL+"/authorities/import", &body)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		return b.do(req)
	}
	b.get("/authorities/import")
	r := upload("external_id,country,name,language,areas\nMT-KM,MT,\"=HYPERLINK(\"\"x\"\")\",mt,pq\nMT-BAD,XX,x,mt,pq\n")
	if r.code != http.StatusBadRequest || !strings.Contains(r.body, "<code>country</code>") {
		t.Fatalf("%d %s", r.code, r.body[strings.Index(r.body, "<main"):])
	}
	r = upload("external_id,country,name,language,areas\nMT-KM,MT,\"=HYPERLINK(\"\"x\"\")\",mt,pq\n")
	if r.code != http.StatusOK || !strings.Contains(r.body, "ecl-notification--success") {
		t.Fatalf("%d", r.code)
	}
	var name string
	if err := s.app.DB.Read().QueryRowContext(context.Background(), `SELECT name FROM authorities WHERE external_id = 'MT-KM'`).Scan(&name); err != nil || name != `=HYPERLINK("x")` {
		t.Fatalf("stored %q %v", name, err)
	}
	r = b.get("/authorities/export?format=csv")
	if r.code != http.StatusOK || !strings.Contains(r.body, `'=HYPERLINK`) {
		t.Fatalf("export %d: the formula is not neutralised", r.code)
	}
}

func TestTheSearchPageFindsByCompetenceInAnotherLanguageAndSurvivesBadInput(t *testing.T) {
	s := startSite(t)
	if _, err := app.LoadDemo(context.Background(), s.app); err != nil {
		t.Fatal(err)
	}
	b := s.enrol()
	b.lang = "pt"
	r := b.get("/authorities?" + url.Values{"q": {"enfermeiro"}, "country": {"PL"}}.Encode())
	if r.code != http.StatusOK || !strings.Contains(r.body, "Naczelna Izba Pielęgniarek i Położnych") {
		t.Fatalf("%d: the Polish nursing chamber is not found by a Portuguese word", r.code)
	}
	if !strings.Contains(r.body, `<option value="PL" selected>`) {
		t.Fatal("the chosen country is not chosen in the filter")
	}
	// The competence filter offers every competence in the reader's
	// language; the chosen one stays chosen, and the next search without
	// one (its options made once per language) has none chosen.
	nurse := `<option value="pq/professions/nurse_general_care"`
	r = b.get("/authorities?" + url.Values{"competence": {"pq/professions/nurse_general_care"}, "country": {"PL"}}.Encode())
	if r.code != http.StatusOK || !strings.Contains(r.body, nurse+` selected>Enfermeiro responsável por cuidados gerais</option>`) ||
		!strings.Contains(r.body, "Naczelna Izba Pielęgniarek i Położnych") {
		i := strings.Index(r.body, nurse)
		t.Fatalf("%d: the chosen competence is not chosen, or its authorities not found: %.200s", r.code, r.body[max(i, 0):])
	}
	for range 2 {
		r = b.get("/authorities?q=izba")
		if r.code != http.StatusOK || !strings.Contains(r.body, nurse+`>Enfermeiro responsável por cuidados gerais</option>`) || strings.Contains(r.body, " selected>Enfermeiro") ||
			!strings.Contains(r.body, `<option value="PL">`) || strings.Contains(r.body, `<option value="PL" selected>`) {
			t.Fatalf("%d: the competence or country filter after a choice", r.code)
		}
	}
	for _, q := range []string{`"`, `*`, `NEAR(`, `:`, `'`, `'; DROP TABLE authorities; --`, "Ärzte Υπουργείο Минист"} {
		if r := b.get("/authorities?" + url.Values{"q": {q}}.Encode()); r.code != http.StatusOK {
			t.Errorf("%q: %d", q, r.code)
		}
	}
	r = b.get("/authorities?" + url.Values{"q": {strings.Repeat("é", 201)}}.Encode())
	if r.code != http.StatusBadRequest || !strings.Contains(r.body, `id="f-q-error"`) {
		t.Fatalf("long query: %d", r.code)
	}
	if r := b.get("/authorities?page=-3&q=kammer"); r.code != http.StatusOK {
		t.Fatalf("bad page: %d", r.code)
	}
	r = s.api(t, "GET", "/api/v1/authorities?q=lekarz&country=PL&lang=fr", s.token(t), "")
	if r.code != http.StatusOK || !strings.Contains(r.body, `"country_name":"Pologne"`) || !strings.Contains(r.body, `"competence_labels"`) {
		t.Fatalf("API: %d %.300s", r.code, r.body)
	}
	if r := s.api(t, "GET", "/api/v1/authorities?page=x", s.token(t), ""); r.code != http.StatusBadRequest {
		t.Fatalf("API bad page: %d", r.code)
	}
}
