package web

import (
	"bytes"
	"html/template"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/i18n"
	"github.com/openimi/openimi/internal/web/static"
	"github.com/openimi/openimi/locales"
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
			// And after a form's error, with a notice; and signed out,
			// for the pages that show without a user.
			q := p
			q.Heading, q.Notice, q.Error = "H", "N", "E"
			q.Summary, q.Errors = []fieldError{{Field: "name", Message: "M"}}, map[string]string{"name": "M"}
			out := p
			out.User = nil
			renderBothWays(t, name, l.Code, p, plain, fixed, served)
			renderBothWays(t, name, l.Code, q, plain, fixed, served)
			if renderPage(new(bytes.Buffer), plain, name, out) == nil {
				renderBothWays(t, name, l.Code, out, plain, fixed, served)
			}
		}
	}
}

// renderBothWays renders a page from the untranslated set and from the
// translated ones, and reports a difference.
func renderBothWays(t *testing.T, name, lang string, p page, plain, fixed, served *template.Template) {
	t.Helper()
	var want, got, got2 bytes.Buffer
	if err := renderPage(&want, plain, name, p); err != nil {
		t.Fatalf("%s in %s: %v", name, lang, err)
	}
	if err := renderPage(&got, fixed, name, p); err != nil {
		t.Fatalf("%s in %s: %v", name, lang, err)
	}
	if err := renderPage(&got2, served, name, p); err != nil {
		t.Fatalf("%s in %s: %v", name, lang, err)
	}
	if !bytes.Equal(want.Bytes(), got.Bytes()) || !bytes.Equal(want.Bytes(), got2.Bytes()) {
		t.Errorf("%s in %s: the translated page differs:\n%s", name, lang, firstDifference(want.String(), got.String()))
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

// The messages written in are exactly those printed, as HTML text, a
// quoted attribute or RCDATA, from the page's own localizer; the others
// (in a URL, unquoted, in script or style, from another dot, in a
// partial, with arguments, into a variable) run as before, and the page
// is the same either way.
func TestOnlyFixedMessagesOfThePageAreWrittenIn(t *testing.T) {
	fsys := fstest.MapFS{
		"templates/layout.html": {Data: []byte(`{{define "layout_head"}}<title>{{t .L "site_name"}}</title><div lang="{{lang .L}}" dir="{{dir .L}}">{{end}}` +
			`{{define "layout_foot"}}</div>{{end}}`)},
		"templates/_part.html": {Data: []byte(`{{define "part"}}<i>{{t .L "site_name"}}</i>{{end}}`)},
		"templates/check.html": {Data: []byte(`{{define "content"}}
<p>{{t .L "site_name"}}</p>
<p title="{{t .L "site_name"}}">{{t $.L "field_language"}}</p>
<textarea>{{t .L "site_name"}}</textarea>
<a href="/x?q={{t .L "site_name"}}">x</a>
<p title={{t .L "site_name"}}>y</p>
<button onclick="f({{t .L "site_name"}})">z</button>
<p style="content: '{{t .L "site_name"}}'">s</p>
{{with .Data}}<p>{{t .L "site_name"}}</p><p>{{t $.L "site_name"}}</p>{{else}}{{t .L "site_name"}}{{end}}
{{with .Data}}{{range .Items}}<p>{{t .L "site_name"}}{{t $.L "site_name"}}</p>{{else}}{{t $.L "field_language"}}{{end}}{{template "part" .}}{{end}}
{{if .User}}{{t .L "site_name"}}{{end}}
{{t .L "site_name" "X" 1}}
{{$x := t .L "site_name"}}{{$x}}
{{end}}`)},
	}
	set, pages, err := parseTemplates(fsys, nil)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := i18n.Load(locales.Files)
	if err != nil {
		t.Fatal(err)
	}
	fr, de := cat.Localizer("fr"), cat.Localizer("de") // "Système d'information…": escaped
	type item struct{ L *i18n.Localizer }
	type data struct {
		L     *i18n.Localizer
		Items []item
	}
	plain, _, err := translate(set, pages, fr, false)
	if err != nil {
		t.Fatal(err)
	}
	fixed, n, err := translate(set, pages, fr, true)
	if err != nil {
		t.Fatal(err)
	}
	// The layout's title, lang and dir; the page's text, quoted
	// attribute, $.L, textarea, $.L in with, .L in with's else, $.L in
	// range, $.L in range's else (a with further in) and .L in if.
	if n != 12 {
		t.Errorf("%d messages written in, want 12", n)
	}
	for _, d := range []any{nil, data{L: de, Items: []item{{L: de}}}, data{L: de}} {
		for _, u := range []*auth.User{nil, sampleUser()} {
			p := page{L: fr, User: u, Data: d}
			var want, got bytes.Buffer
			if err := renderPage(&want, plain, "check", p); err != nil {
				t.Fatal(err)
			}
			if err := renderPage(&got, fixed, "check", p); err != nil {
				t.Fatal(err)
			}
			if want.String() != got.String() {
				t.Errorf("data %v, user %v: the page differs:\n%s", d, u, firstDifference(want.String(), got.String()))
			}
			if !strings.Contains(got.String(), "Système d&#39;information") {
				t.Errorf("the French message is not there, escaped:\n%s", got.String())
			}
		}
	}
}

// The site's navigation is made once per section and language, and marks
// the section of the page shown as the current page; a user at the
// second factor, or without one, has none.
func TestTheNavigationMarksTheSectionOfThePage(t *testing.T) {
	s := newTestServer(t)
	for path, want := range map[string]string{"/": "/", "/requests/r1/edit": "/requests", "/statistics/registry": "/statistics/scoreboard",
		"/profile": "/profile", "/profile/x": "", "/authorities?q=x": "/authorities", "/open-data": ""} {
		for _, lang := range []string{"el", "fr"} {
			for range 2 { // made, then kept
				r := withVisit(httptest.NewRequest("GET", path, nil), &visit{lang: s.catalog.Localizer(lang), user: sampleUser(), nonce: "n", csrf: "c"})
				rec := httptest.NewRecorder()
				s.render(rec, r, 200, "home", page{TitleKey: "home_title", Data: homeData{}})
				body := rec.Body.String()
				i, j := strings.Index(body, `<nav class="ecl-container imi-nav"`), strings.Index(body, "</nav>")
				if i < 0 || j < i {
					t.Fatalf("%s in %s: no navigation", path, lang)
				}
				nav := body[i:j]
				if !strings.Contains(nav, ">"+s.catalog.Localizer(lang).T("nav_requests")+"</a>") {
					t.Fatalf("%s: the navigation is not in %s", path, lang)
				}
				got := ""
				if k := strings.Index(nav, `" aria-current="page"`); k >= 0 {
					got = nav[strings.LastIndex(nav[:k], `href="`)+len(`href="`) : k]
				}
				if got != want || strings.Count(nav, "aria-current") > 1 {
					t.Fatalf("%s: the current section is %q, want %q", path, got, want)
				}
			}
		}
	}
	noFactor := sampleUser()
	noFactor.TOTPEnabled = false
	for _, v := range []struct {
		path string
		user *auth.User
	}{{"/sign-in/code", sampleUser()}, {"/sign-in/enrol", sampleUser()}, {"/requests", noFactor}, {"/", nil}} {
		r := withVisit(httptest.NewRequest("GET", v.path, nil), &visit{lang: s.catalog.Localizer("el"), user: v.user, nonce: "n", csrf: "c"})
		rec := httptest.NewRecorder()
		s.render(rec, r, 200, "help", page{TitleKey: "help_title"})
		if rec.Code != 200 || strings.Contains(rec.Body.String(), "imi-nav") {
			t.Fatalf("%s: %d, a navigation shown", v.path, rec.Code)
		}
	}
}

// {{asset "name"}} is replaced by the asset's address before html/template
// escapes the set, as if written in the template; an unknown asset stops
// the server from starting.
func TestAssetAddressesAreWrittenIntoTheTemplates(t *testing.T) {
	assets, err := static.Load()
	if err != nil {
		t.Fatal(err)
	}
	layout := `{{define "layout_head"}}<link rel="stylesheet" href="{{asset "app.css"}}"><use href="{{asset "icons.svg"}}#x"></use>{{end}}{{define "layout_foot"}}{{end}}`
	fsys := fstest.MapFS{"templates/layout.html": {Data: []byte(layout)}, "templates/_part.html": {Data: []byte(`{{define "part"}}<script>load({{asset "app.js"}})</script>{{end}}`)},
		"templates/p.html": {Data: []byte(`{{define "content"}}<script src="{{asset "app.js"}}"></script>{{end}}`)}}
	set, _, err := parseTemplates(fsys, assets)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"layout_head": assets.URL("app.css"), "page/p": assets.URL("app.js")} {
		tree := set.Lookup(name).Tree.Root.String()
		if want == "" || !strings.Contains(tree, want) || strings.Contains(tree, "asset") {
			t.Fatalf("%s: %s", name, tree)
		}
	}
	var b bytes.Buffer
	if err := set.ExecuteTemplate(&b, "layout_head", nil); err != nil || b.String() != `<link rel="stylesheet" href="`+assets.URL("app.css")+`"><use href="`+assets.URL("icons.svg")+`#x"></use>` {
		t.Fatalf("%v: %s", err, b.String())
	}
	// In a script the address is left to html/template, which quotes it
	// as a string there.
	if tree := set.Lookup("part").Tree.Root.String(); !strings.Contains(tree, `asset "app.js"`) {
		t.Fatalf("the script's asset was written in: %s", tree)
	}
	b.Reset()
	if err := set.ExecuteTemplate(&b, "part", nil); err != nil || b.String() != `<script>load("`+assets.URL("app.js")+`")</script>` {
		t.Fatalf("%v: %s", err, b.String())
	}
	fsys["templates/p.html"] = &fstest.MapFile{Data: []byte(`{{define "content"}}<img src="{{asset "nothing.png"}}">{{end}}`)}
	if _, _, err := parseTemplates(fsys, assets); err == nil || !strings.Contains(err.Error(), "nothing.png") {
		t.Fatalf("an unknown asset: %v", err)
	}
}
