package web

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkRender renders pages of samplePages in Polish, as a signed-in
// user: the template work of a page without its database reads.
//
//	go test ./internal/web/ -run '^$' -bench Render
func BenchmarkRender(b *testing.B) {
	s := newTestServer(b)
	data := samplePages(b, s)
	for _, name := range []string{"home", "request", "requests"} {
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
