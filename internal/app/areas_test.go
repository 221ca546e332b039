package app_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openimi/openimi/internal/areas"
	"github.com/openimi/openimi/internal/db/dbtest"
)

func TestAreasAreBrowsedInTheReadersLanguage(t *testing.T) {
	s := startSite(t)
	b := s.enrol()
	pq, _ := s.app.Areas.Pack("pq")
	for _, lang := range []string{"en", "pl", "el"} {
		b.get("/language")
		b.post("/language", map[string][]string{"lang": {lang}})
		r := b.get("/areas")
		if r.code != http.StatusOK || !strings.Contains(r.body, pq.In(lang).Name) {
			t.Fatalf("%s: /areas %d lacks %q", lang, r.code, pq.In(lang).Name)
		}
		r = b.get("/areas/pq/vocabularies/professions")
		doctor := pq.In(lang).Vocabulary("professions").Groups[0].Terms[0].Name
		if r.code != http.StatusOK || !strings.Contains(r.body, doctor) {
			t.Fatalf("%s: professions page lacks %q", lang, doctor)
		}
	}
	if r := b.get("/areas/pq"); r.code != http.StatusOK || !strings.Contains(r.body, "eur-lex.europa.eu/legal-content/EL/TXT/?uri=CELEX:32005L0036") {
		t.Fatalf("area page %d without the Greek EUR-Lex link", r.code)
	}
}

func TestAQuestionSetReadsSideBySideInTwoLanguages(t *testing.T) {
	s := startSite(t)
	b := s.enrol()
	pq, _ := s.app.Areas.Pack("pq")
	r := b.get("/areas/pq/question-sets/right_to_practise?compare=pt")
	if r.code != http.StatusOK {
		t.Fatalf("%d", r.code)
	}
	en := pq.In("en").Question("right_to_practise_territory").Display
	pt := pq.In("pt").Question("right_to_practise_territory").Display
	if en == pt || !strings.Contains(r.body, htmlEscape(en)) || !strings.Contains(r.body, htmlEscape(pt)) || !strings.Contains(r.body, `lang="pt"`) {
		t.Fatal("the question is not shown in English and Portuguese side by side")
	}
	if r := b.get("/areas/pq/question-sets/right_to_practise?compare=xx"); r.code != http.StatusBadRequest {
		t.Fatalf("unknown comparison language: %d", r.code)
	}
	for _, p := range []string{"/areas/nope", "/areas/pq/question-sets/nope", "/areas/pq/vocabularies/nope"} {
		if r := b.get(p); r.code != http.StatusNotFound {
			t.Errorf("%s: %d", p, r.code)
		}
	}
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace(s)
}

func TestAreasThroughTheAPI(t *testing.T) {
	s := startSite(t)
	tok := s.token(t)
	r := s.api(t, "GET", "/api/v1/areas?lang=de", tok, "")
	var list struct {
		Items []struct{ Code, Name, Language string }
	}
	if err := json.Unmarshal([]byte(r.body), &list); err != nil || r.code != http.StatusOK || len(list.Items) != 4 {
		t.Fatalf("%d %s", r.code, r.body)
	}
	r = s.api(t, "GET", "/api/v1/areas/services?lang=fr", tok, "")
	var svc areas.Localized
	if err := json.Unmarshal([]byte(r.body), &svc); err != nil || svc.Language != "fr" || svc.QuestionSet("establishment") == nil {
		t.Fatalf("%d %s", r.code, r.body[:min(len(r.body), 300)])
	}
	q := svc.Question("entitled_to_exercise")
	if q == nil || !strings.Contains(q.Text, "{activity}") {
		t.Fatalf("question %+v keeps no placeholder", q)
	}
	if r := s.api(t, "GET", "/api/v1/areas/pq/question-sets/teachers?lang=mt", tok, ""); r.code != http.StatusOK || !strings.Contains(r.body, `"teacher_subjects"`) {
		t.Fatalf("question set: %d", r.code)
	}
	if r := s.api(t, "GET", "/api/v1/areas/pq?lang=xx", tok, ""); r.code != http.StatusBadRequest {
		t.Fatalf("unknown lang: %d", r.code)
	}
	if r := s.api(t, "GET", "/api/v1/areas/pq?version=99", tok, ""); r.code != http.StatusNotFound {
		t.Fatalf("unknown version: %d", r.code)
	}
	if r := s.api(t, "GET", "/api/v1/areas", "", ""); r.code != http.StatusUnauthorized {
		t.Fatalf("anonymous: %d", r.code)
	}
}

// fixturePacks is the folder of packs OpenIMI does not ship, for the tests
// that prove a new area needs no code.
func fixturePacks(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../areas/testdata")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestANewAreaIsUsableWithoutCodeChanges is the proof of reuse: an area
// that OpenIMI does not ship (cross-border transport of euro cash) is
// loaded from a folder and used through the public interfaces. Extend it as
// capabilities land: an authority registered for the area, found through
// its vocabulary, sent a request with its questions.
func TestANewAreaIsUsableWithoutCodeChanges(t *testing.T) {
	s := startSite(t, "--areas-dir", fixturePacks(t))
	cash, err := s.app.Areas.Pack("cash")
	if err != nil {
		t.Fatal(err)
	}
	b := s.enrol()
	b.get("/language")
	b.post("/language", map[string][]string{"lang": {"pl"}})
	pl := cash.In("pl")
	for path, want := range map[string]string{
		"/areas":                                 pl.Name,
		"/areas/cash":                            pl.Name,
		"/areas/cash/vocabularies/licence_types": pl.Vocabulary("licence_types").Terms[0].Name,
		"/areas/cash/question-sets/licence":      htmlEscape(pl.Question("licence_valid").Display),
	} {
		if r := b.get(path); r.code != http.StatusOK || !strings.Contains(r.body, want) {
			t.Errorf("%s: %d without %q", path, r.code, want)
		}
	}
	r := s.api(t, "GET", "/api/v1/areas/cash?lang=el", s.token(t), "")
	var el areas.Localized
	if err := json.Unmarshal([]byte(r.body), &el); err != nil || el.Workflow.ReplyDays != 10 || el.Question("vehicle_mode") == nil || len(el.Question("vehicle_mode").Options) != 2 {
		t.Fatalf("API: %d %s", r.code, r.body[:min(len(r.body), 300)])
	}
}

func TestAnInvalidPackStopsStartUpWithTheValidatorsMessage(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "cash"), os.DirFS(filepath.Join(fixturePacks(t), "cash"))); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "cash", "area.yaml")
	b, _ := os.ReadFile(f)
	if err := os.WriteFile(f, []byte(strings.Replace(string(b), "answer: yes_no_unknown", "answer: maybe", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	c := newConfig(t, dbtest.Location(t), "--areas-dir", dir)
	_, err := openApp(c)
	if err == nil || !strings.Contains(err.Error(), "cash/area.yaml:") || !strings.Contains(err.Error(), "answer") {
		t.Fatalf("err = %v", err)
	}
}
