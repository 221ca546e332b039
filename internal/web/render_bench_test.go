package web

import (
	"net/http"
	"net/http/httptest"
	"testing"

	shipped "github.com/openimi/openimi/areas"
	"github.com/openimi/openimi/internal/areas"
)

// BenchmarkRender renders pages of samplePages in Polish, as a signed-in
// user: the template work of a page without its database reads.
//
//	go test ./internal/web/ -run '^$' -bench Render
func BenchmarkRender(b *testing.B) {
	s := newTestServer(b)
	data := samplePages(b, s)
	// The search page as the load's searches get it: a page of 20
	// authorities under the filters, every competence among them.
	list := data["authorities"].(authorityListView)
	reg, err := areas.Open(shipped.Files, "")
	if err != nil {
		b.Fatal(err)
	}
	s.areas = reg
	if list.Competences, err = s.competenceSelect(s.catalog.Localizer("pl"), ""); err != nil {
		b.Fatal(err)
	}
	for len(list.Items) < 20 {
		list.Items = append(list.Items, list.Items[0])
	}
	data["authorities"] = list
	// The inbox as the load's accounts get it: a page of 20 requests, and
	// the filters with every country.
	inbox := data["requests"].(inboxView)
	if inbox.Countries, err = s.countrySelect(s.catalog.Localizer("pl"), ""); err != nil {
		b.Fatal(err)
	}
	if inbox.States, err = s.stateSelect(s.catalog.Localizer("pl"), ""); err != nil {
		b.Fatal(err)
	}
	for len(inbox.Items) < 20 {
		inbox.Items = append(inbox.Items, inbox.Items[0])
	}
	data["requests"] = inbox
	for _, name := range []string{"home", "request", "requests", "authorities"} {
		b.Run(name, func(b *testing.B) {
			r := withVisit(httptest.NewRequest("GET", "/"+name, nil), &visit{lang: s.catalog.Localizer("pl"), user: sampleUser(), nonce: "n", csrf: "c"})
			p := page{TitleKey: "home_title", Data: data[name], Errors: map[string]string{}}
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				s.render(rec, r, http.StatusOK, name, p)
				if rec.Code != http.StatusOK {
					b.Fatal(rec.Code)
				}
			}
		})
	}
}
