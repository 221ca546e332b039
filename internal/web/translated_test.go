package web

import (
	"bytes"
	"net/http/httptest"
	"testing"

	"github.com/openimi/openimi/internal/i18n"
)

// TestTranslatedPagesRenderAsTheirTemplates renders every page in every
// language from the translated set and from the same templates escaped
// but not translated: the bytes must be the same, and the translated set
// must have replaced the fixed messages.
func TestTranslatedPagesRenderAsTheirTemplates(t *testing.T) {
	s := newTestServer(t)
	data := samplePages(t, s)
	for _, l := range i18n.Languages {
		loc := s.catalog.Localizer(l.Code)
		plain, n, err := translate(s.templates, s.pages, loc, false)
		if err != nil || n != 0 {
			t.Fatalf("%s: untranslated set: %d replaced, %v", l.Code, n, err)
		}
		fixed, n, err := translate(s.templates, s.pages, loc, true)
		if err != nil {
			t.Fatal(err)
		}
		// The layout alone has about 35 fixed messages, the pages
		// together hundreds.
		if n < 300 {
			t.Fatalf("%s: only %d fixed messages replaced", l.Code, n)
		}
		served, err := s.pagesIn(loc)
		if err != nil {
			t.Fatal(err)
		}
		for name, d := range data {
			r := httptest.NewRequest("GET", "/"+name, nil)
			p := page{TitleKey: "home_title", Data: d, Errors: map[string]string{}, L: loc, Nonce: "n", CSRF: "c", User: sampleUser(), Path: r.URL.Path, Languages: i18n.Languages}
			var want, got, got2 bytes.Buffer
			if err := renderPage(&want, plain, name, p); err != nil {
				t.Fatalf("%s in %s: %v", name, l.Code, err)
			}
			if err := renderPage(&got, fixed, name, p); err != nil {
				t.Fatalf("%s in %s: %v", name, l.Code, err)
			}
			if err := renderPage(&got2, served, name, p); err != nil {
				t.Fatalf("%s in %s: %v", name, l.Code, err)
			}
			if !bytes.Equal(want.Bytes(), got.Bytes()) || !bytes.Equal(want.Bytes(), got2.Bytes()) {
				t.Errorf("%s in %s: the translated page differs:\n%s", name, l.Code, firstDifference(want.String(), got.String()))
			}
		}
	}
}

// firstDifference shows where two texts part.
func firstDifference(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	from := max(0, i-80)
	return "want …" + a[from:min(len(a), i+80)] + "…\ngot  …" + b[from:min(len(b), i+80)] + "…"
}
