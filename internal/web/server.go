// Package web serves the HTML user interface: server-rendered pages that work
// without JavaScript, styled with the Europa Component Library. Handlers are
// thin: they parse the request, call a service and render a template.
package web

import (
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"math"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/openimi/openimi/internal/areas"
	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/broadcasts"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/i18n"
	"github.com/openimi/openimi/internal/registers"
	"github.com/openimi/openimi/internal/requests"
	"github.com/openimi/openimi/internal/stats"
	"github.com/openimi/openimi/internal/web/static"
)

//go:embed templates/*.html
var templateFiles embed.FS

// Config is what the web layer needs to know about its deployment.
type Config struct {
	Secure            bool  // served over HTTPS: Secure __Host- cookies and HSTS
	TrustProxyHeaders bool  // take the client address from X-Forwarded-For
	MaxFormBytes      int64 // largest accepted request body
	HelpdeskEmail     string
}

// Server is the web UI.
type Server struct {
	cfg         Config
	db          *db.DB
	auth        *auth.Service
	areas       *areas.Registry
	authorities *authorities.Service
	requests    *requests.Service
	broadcasts  *broadcasts.Service
	registers   *registers.Service
	stats       *stats.Service
	catalog     *i18n.Catalog
	assets      *static.Assets
	log         *slog.Logger
	pages       map[string]bool    // the pages' names
	templates   *template.Template // every template, parsed, never executed (translated.go)
	translated  map[string]*translatedSet
	now         func() time.Time
	cookieSes   string
	cookieCSR   string
}

// Deps are the services the web UI calls.
type Deps struct {
	DB          *db.DB
	Auth        *auth.Service
	Areas       *areas.Registry
	Authorities *authorities.Service
	Requests    *requests.Service
	Broadcasts  *broadcasts.Service
	Registers   *registers.Service
	Stats       *stats.Service
	Catalog     *i18n.Catalog
	Assets      *static.Assets
	Log         *slog.Logger
	Now         func() time.Time
}

// New parses every template (failing fast on a mistake) and returns the
// server.
func New(cfg Config, d Deps) (*Server, error) {
	if cfg.MaxFormBytes <= 0 {
		cfg.MaxFormBytes = 1 << 20
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	s := &Server{cfg: cfg, db: d.DB, auth: d.Auth, areas: d.Areas, authorities: d.Authorities, requests: d.Requests, broadcasts: d.Broadcasts, registers: d.Registers, stats: d.Stats, catalog: d.Catalog, assets: d.Assets, log: d.Log, now: d.Now}
	s.cookieSes, s.cookieCSR = "imi_session", "imi_csrf"
	if cfg.Secure {
		// The __Host- prefix makes browsers refuse the cookie unless it is
		// Secure, host-only and for the whole site: no subdomain can
		// plant or read it.
		s.cookieSes, s.cookieCSR = "__Host-imi_session", "__Host-imi_csrf"
	}
	set, pages, err := parseTemplates(templateFiles, d.Assets)
	if err != nil {
		return nil, err
	}
	s.templates, s.pages = set, pages
	s.translated = map[string]*translatedSet{}
	for _, l := range i18n.Languages {
		s.translated[l.Code] = &translatedSet{}
	}
	// Escaping does not depend on the language: one set made now finds
	// a template html/template cannot escape at start-up.
	loc := d.Catalog.Localizer(i18n.Default)
	if _, err := s.pagesIn(loc); err != nil {
		return nil, err
	}
	// The parts pages keep are partials, escaped at their first render:
	// made now, one that cannot be fails the start rather than every page
	// of a language afterwards (keep keeps its error).
	if _, err := s.nav(loc, "/"); err != nil {
		return nil, fmt.Errorf("web: the navigation: %w", err)
	}
	if _, err := s.stateSelect(loc, ""); err != nil {
		return nil, fmt.Errorf("web: the inbox's states: %w", err)
	}
	return s, nil
}

// number reads an int or a float64 for template arithmetic.
func number(v any) float64 {
	switch x := v.(type) {
	case int:
		return float64(x)
	case float64:
		return x
	}
	return 0
}

// parseTemplates parses the layout, the partial templates and every page
// into one set, and returns it with the pages' names. The set is never
// executed: pages are rendered from its translated clones (translated.go).
func parseTemplates(fsys fs.FS, assets *static.Assets) (*template.Template, map[string]bool, error) {
	funcs := template.FuncMap{
		"asset": func(name string) (string, error) {
			u := assets.URL(name)
			if u == "" {
				return "", fmt.Errorf("unknown asset %q", name)
			}
			return u, nil
		},
		// logo is the European Commission logo in the page's language,
		// or in English where the ECL has none for it.
		"logo": func(lang string) string {
			if u := assets.URL("logo/positive/logo-ec--" + lang + ".svg"); u != "" {
				return u
			}
			return assets.URL("logo/positive/logo-ec--en.svg")
		},
		// pngDataURL lets a PNG data URL (the enrolment QR code) through
		// html/template, which blocks data: URLs given as strings. Only
		// that exact, inert form passes.
		"pngDataURL": func(s string) (template.URL, error) {
			const prefix = "data:image/png;base64,"
			if !strings.HasPrefix(s, prefix) || strings.ContainsAny(s[len(prefix):], "\"'<> ") {
				return "", fmt.Errorf("not a PNG data URL")
			}
			return template.URL(s), nil // #nosec G203 -- checked above: an inert PNG data URL
		},
		// t, tn, lang and dir are the localizer's T, N, Lang and Dir as
		// functions ({{t .L "key"}}): text/template finds a method by name
		// through reflection at every call, which took a tenth of the
		// rendering of a page; a function is found once, at parsing.
		"t":    (*i18n.Localizer).T,
		"tn":   (*i18n.Localizer).N,
		"lang": (*i18n.Localizer).Lang,
		"dir":  (*i18n.Localizer).Dir,
		"pct":  func(f float64) float64 { return f * 100 },
		"join": func(list []string) string { return strings.Join(list, ", ") },
		// has reports whether a form's key holds value (a ticked box).
		"has": func(form url.Values, key, value string) bool { return slices.Contains(form[key], value) },
		// The geometry of a bar chart (stats_chart): a row of 40 units per
		// bar, bars up to 620 units long, room for the value after them.
		"chartHeight": func(bars int) int { return bars*40 + 10 },
		"chartY":      func(i int) int { return i*40 + 16 },
		"chartWidth":  func(share float64) float64 { return math.Round(share*6.2*10) / 10 },
		"add":         func(a, b any) float64 { return number(a) + number(b) },
		// shorten cuts a long label to n characters, marking the cut.
		"shorten": func(s string, n int) string {
			if r := []rune(s); len(r) > n {
				return string(r[:n-1]) + "…"
			}
			return s
		},
		"dict": func(kv ...any) map[string]any {
			m := map[string]any{}
			for i := 0; i+1 < len(kv); i += 2 {
				m[fmt.Sprint(kv[i])] = kv[i+1]
			}
			return m
		},
	}
	set, err := template.New("pages").Funcs(funcs).ParseFS(fsys, "templates/layout.html", "templates/_*.html")
	if err != nil {
		return nil, nil, fmt.Errorf("web: template: %w", err)
	}
	names, err := fs.Glob(fsys, "templates/*.html")
	if err != nil {
		return nil, nil, err
	}
	pages := map[string]bool{}
	for _, n := range names {
		base := n[len("templates/"):]
		if base == "layout.html" || base[0] == '_' {
			continue
		}
		name := strings.TrimSuffix(base, ".html")
		// Each page defines "content": it joins the set as page/<name>.
		one, err := template.New(base).Funcs(funcs).ParseFS(fsys, n)
		if err != nil {
			return nil, nil, fmt.Errorf("web: template %s: %w", base, err)
		}
		for _, x := range one.Templates() {
			if x.Tree == nil || x.Name() == base {
				continue // the text outside the file's definitions
			}
			tree := x.Tree.Copy()
			if tree.Name == "content" {
				tree.Name = pageTemplate(name)
			}
			if set.Lookup(tree.Name) != nil {
				return nil, nil, fmt.Errorf("web: template %s: %q is defined twice", base, tree.Name)
			}
			if _, err := set.AddParseTree(tree.Name, tree); err != nil {
				return nil, nil, fmt.Errorf("web: template %s: %w", base, err)
			}
		}
		if set.Lookup(pageTemplate(name)) == nil {
			return nil, nil, fmt.Errorf("web: template %s defines no content", base)
		}
		pages[name] = true
	}
	if err := assetURLs(set, assets.URL); err != nil {
		return nil, nil, err
	}
	return set, pages, nil
}

// pageTemplate is the name of a page's content in the set of pages.
func pageTemplate(page string) string { return "page/" + page }
