package app_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/openimi/openimi/internal/app"
	"github.com/openimi/openimi/internal/authorities"
)

var (
	hrefRe  = regexp.MustCompile(`href="(/[^"#]*)"`)
	idSegRe = regexp.MustCompile(`/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
)

// checkHeaders checks what every response must carry: a CSP without
// unsafe code, that forbids plugins, base changes and framing; nosniff; a
// referrer policy; and, since pages and API answers may hold personal
// data, no storing.
func checkHeaders(t *testing.T, what string, r response) {
	t.Helper()
	csp := r.header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "script-src 'self' 'nonce-"} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s: CSP %q lacks %q", what, csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-") {
		t.Errorf("%s: CSP allows unsafe code: %q", what, csp)
	}
	if r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("Referrer-Policy") == "" {
		t.Errorf("%s: nosniff %q, Referrer-Policy %q", what, r.header.Get("X-Content-Type-Options"), r.header.Get("Referrer-Policy"))
	}
	// Open data (no personal data, published for caching) may be kept.
	public := strings.HasPrefix(what, "/public/") || what == "/api/v1/openapi.yaml"
	if !public && r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("%s: Cache-Control %q", what, r.header.Get("Cache-Control"))
	}
	if strings.HasPrefix(r.header.Get("Content-Type"), "text/html") && strings.Contains(r.body, "<script") {
		nonce := csp[strings.Index(csp, "'nonce-")+7:]
		nonce = nonce[:strings.Index(nonce, "'")]
		for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAllString(r.body, -1) {
			if !strings.Contains(tag, `nonce="`+nonce+`"`) && !strings.Contains(tag, "src=") {
				t.Errorf("%s: an inline script without the response's nonce: %s", what, tag)
			}
		}
	}
}

// TestACrawlOfEveryPageAndAPIAnswerFindsTheSecurityHeaders signs in to
// the demonstration network as a coordinator with every role, follows
// every link from the home page (a few of each shape of address), and
// reads every GET route of the API with identifiers that exist: each
// response carries the security headers.
func TestACrawlOfEveryPageAndAPIAnswerFindsTheSecurityHeaders(t *testing.T) {
	if testing.Short() {
		t.Skip("crawls the whole site")
	}
	s := startSite(t)
	ctx := context.Background()
	if _, err := app.LoadDemo(ctx, s.app); err != nil {
		t.Fatal(err)
	}
	list, _, err := s.app.Authorities.List(ctx, authorities.Filter{Country: "PT", Kind: authorities.NationalCoordinator, PerPage: 1})
	if err != nil || len(list) == 0 {
		t.Fatalf("no Portuguese coordinator: %v", err)
	}
	u := s.matrixMember(t, "crawler", list[0], "crawler@pt.example", "pt", authorities.Coordinator, authorities.RequestHandler,
		authorities.LocalDataAdministrator, authorities.AlertHandler)

	// The UI: breadth first, at most three addresses of each shape.
	seen, shapes := map[string]bool{"/": true}, map[string]int{}
	queue := []string{"/"}
	pages := 0
	for len(queue) > 0 && pages < 400 {
		p := queue[0]
		queue = queue[1:]
		r := u.b.get(p)
		pages++
		if r.code >= 500 {
			t.Errorf("%s: %d", p, r.code)
		}
		checkHeaders(t, p, r)
		if !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
			continue
		}
		for _, m := range hrefRe.FindAllStringSubmatch(r.body, -1) {
			next := strings.ReplaceAll(m[1], "&amp;", "&")
			shape := idSegRe.ReplaceAllString(strings.SplitN(next, "?", 2)[0], "/{id}")
			if seen[next] || strings.HasPrefix(next, "/static/") || shapes[shape] >= 3 {
				continue
			}
			seen[next], shapes[shape] = true, shapes[shape]+1
			queue = append(queue, next)
		}
	}
	if len(shapes) < 40 {
		t.Errorf("the crawl reached only %d shapes of address", len(shapes))
	}

	// The API: every GET route, with identifiers of the demo.
	ids := map[string]string{"{name}": "scoreboard"}
	one := func(key, query string, args ...any) {
		var v string
		if err := s.app.DB.Read().QueryRowContext(ctx, query, args...).Scan(&v); err == nil {
			ids[key] = v
		}
	}
	one("authorities", `SELECT id FROM authorities WHERE country = 'PT' ORDER BY id LIMIT 1`)
	one("requests", `SELECT r.id FROM requests r JOIN authorities a ON a.id = r.responder_id WHERE a.country = 'PT' ORDER BY r.id LIMIT 1`)
	one("registers", `SELECT id FROM registers WHERE country = 'PT' ORDER BY id LIMIT 1`)
	one("alerts", `SELECT id FROM broadcasts WHERE kind = 'alert' ORDER BY id LIMIT 1`)
	one("measures", `SELECT id FROM broadcasts WHERE kind = 'notification' ORDER BY id LIMIT 1`)
	api := 0
	for _, p := range s.routePatterns(t) {
		path, ok := strings.CutPrefix(p, "GET ")
		if !ok || !strings.HasPrefix(path, "/api/v1/") {
			continue
		}
		resource := strings.SplitN(strings.TrimPrefix(path, "/api/v1/"), "/", 2)[0]
		path = strings.ReplaceAll(path, "{id}", ids[resource])
		path = strings.ReplaceAll(path, "{name}", ids["{name}"])
		if strings.Contains(path, "{") || strings.Contains(path, "//") {
			continue // an identifier the demo has not (attachments, tokens)
		}
		if strings.HasSuffix(path, "/report") {
			path += "?year=2026&format=html"
		}
		r := s.api(t, "GET", path, u.token, "")
		api++
		if r.code >= 500 {
			t.Errorf("%s: %d", path, r.code)
		}
		checkHeaders(t, path, r)
	}
	t.Logf("%d pages of %d shapes, %d API routes", pages, len(shapes), api)
	if api < 30 {
		t.Errorf("only %d API routes read", api)
	}
}

// Over HTTPS the session and CSRF cookies are __Host- cookies: Secure,
// for the whole site, bound to the host.
func TestCookiesAreHostCookiesOverHTTPS(t *testing.T) {
	s := startSite(t, "--public-url", "https://imi.example")
	r := s.browser().get("/sign-in")
	cookies := (&http.Response{Header: r.header}).Cookies()
	if len(cookies) == 0 {
		t.Fatal("no cookie set on the sign-in page")
	}
	for _, c := range cookies {
		if !strings.HasPrefix(c.Name, "__Host-") || !c.Secure || c.Path != "/" || c.Domain != "" || !c.HttpOnly {
			t.Errorf("cookie %s: Secure %v, Path %q, Domain %q, HttpOnly %v", c.Name, c.Secure, c.Path, c.Domain, c.HttpOnly)
		}
	}
}
