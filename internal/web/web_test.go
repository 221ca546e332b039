package web

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	shipped "github.com/openimi/openimi/areas"
	"github.com/openimi/openimi/internal/areas"
	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/i18n"
	"github.com/openimi/openimi/internal/web/static"
	"github.com/openimi/openimi/locales"
)

func newTestServer(t *testing.T) *Server {
	t.Helper()
	cat, err := i18n.Load(locales.Files)
	if err != nil {
		t.Fatal(err)
	}
	assets, err := static.Load()
	if err != nil {
		t.Fatalf("%v (run ./scripts/assets.sh)", err)
	}
	s, err := New(Config{}, Deps{Catalog: cat, Assets: assets, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAPanicShowsTheGenericErrorPageWithoutInternals(t *testing.T) {
	s := newTestServer(t)
	h := s.recoverPanics(s.securityHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		visitOf(r).lang = s.catalog.Localizer("el")
		panic("secret internal state: SELECT * FROM users")
	})))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	body := rec.Body.String()
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d", rec.Code)
	}
	if strings.Contains(body, "SELECT") || strings.Contains(body, "goroutine") || strings.Contains(body, "secret") {
		t.Fatal("internals reached the page")
	}
	if !strings.Contains(body, `lang="el"`) {
		t.Fatal("error page not in the visitor's language")
	}
}

func TestAnInternalErrorGivesAReferenceButNoDetail(t *testing.T) {
	s := newTestServer(t)
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/", nil)
	r = withVisit(r, &visit{lang: s.catalog.Localizer("en")})
	s.fail(rec, r, errors.New("pq: relation users does not exist"))
	if rec.Code != http.StatusInternalServerError || strings.Contains(rec.Body.String(), "relation") {
		t.Fatalf("%d %s", rec.Code, rec.Body.String())
	}
	if !strings.Contains(rec.Body.String(), "reference") {
		t.Fatal("no reference for the helpdesk")
	}
}

func TestSafeNextKeepsRedirectsOnThisSite(t *testing.T) {
	cases := map[string]string{
		"/profile":             "/profile",
		"/requests?state=new":  "/requests?state=new",
		"":                     "/",
		"https://evil.example": "/",
		"//evil.example":       "/",
		"/\\evil.example":      "/",
		"javascript:alert(1)":  "/",
		"/x\r\nSet-Cookie: a":  "/",
	}
	for in, want := range cases {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEveryPageRendersInEveryLanguage(t *testing.T) {
	s := newTestServer(t)
	u := &auth.User{Name: "Μαρία Παπαδοπούλου", Email: "m@example.gr", TOTPEnabled: true}
	reg, err := areas.Open(shipped.Files, "")
	if err != nil {
		t.Fatal(err)
	}
	pq, _ := reg.Pack("pq")
	data := map[string]any{
		"signin": nil, "code": nil, "forgot": nil, "help": nil, "error": nil, "home": homeData{},
		"enrol":    enrolData{Enrolment: auth.Enrolment{Secret: "ABC", QRCode: "data:image/png;base64,AA=="}, Action: "/sign-in/enrol"},
		"recovery": recoveryData{Codes: []string{"abcde-fghij"}, Next: "/"},
		"profile":  profileData{Languages: i18n.Languages},
		"language": languageData{Next: "/"},
		"reset":    resetData{Token: "t", NeedsCode: true},
	}
	for name := range s.pages {
		d, ok := data[name]
		if a := summarize(pq, "en"); name == "areas" {
			d, ok = []areaSummary{a}, true
		} else if name == "area" {
			d, ok = a, true
		} else if name == "vocabulary" {
			d, ok = vocabularyView{Area: a, LocalizedVocabulary: a.Vocabulary("professions")}, true
		} else if name == "question_set" {
			set := a.QuestionSet("right_to_practise")
			v := questionSetView{Area: a, Set: set, Lang: language("en"), Compare: language("ga"), Languages: i18n.Languages}
			for _, sec := range set.Sections {
				pair := sectionPair{A: sec, B: sec}
				for _, q := range sec.Questions {
					pair.Questions = append(pair.Questions, questionPair{A: q, B: q, Condition: &conditionView{Question: "Q", Answers: []string{"yes"}}})
				}
				v.Sections = append(v.Sections, pair)
			}
			d, ok = v, true
		}
		if !ok {
			t.Errorf("page %s has no test data", name)
			continue
		}
		for _, l := range i18n.Languages {
			rec := httptest.NewRecorder()
			r := httptest.NewRequest("GET", "/"+name, nil)
			r = withVisit(r, &visit{lang: s.catalog.Localizer(l.Code), user: u, nonce: "n"})
			s.render(rec, r, http.StatusOK, name, page{TitleKey: "home_title", Data: d, Errors: map[string]string{}})
			body := rec.Body.String()
			if rec.Code != http.StatusOK || !strings.Contains(body, `<html lang="`+l.Code+`"`) {
				t.Fatalf("%s in %s: %d", name, l.Code, rec.Code)
			}
			if strings.Contains(body, "<no value>") || strings.Contains(body, "%!") {
				t.Errorf("%s in %s: a placeholder was not filled", name, l.Code)
			}
		}
	}
}

func TestNoticesAreLimitedToKnownMessages(t *testing.T) {
	s := newTestServer(t)
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(&http.Cookie{Name: noticeCookie, Value: "<script>alert(1)</script>"})
	if got := s.takeNotice(rec, r, s.catalog.Localizer("en")); got != "" {
		t.Fatalf("unknown notice shown: %q", got)
	}
}
