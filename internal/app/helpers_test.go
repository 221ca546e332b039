package app_test

import (
	"context"
	"io"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/openimi/openimi/internal/api"
	"github.com/openimi/openimi/internal/app"
	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/config"
	"github.com/openimi/openimi/internal/db/dbtest"
	"github.com/openimi/openimi/internal/web"
	"github.com/openimi/openimi/internal/web/static"
)

const testPassword = "correct-horse-battery-9"

// site is a running OpenIMI on a real HTTP server and a real database.
type site struct {
	t    *testing.T
	app  *app.App
	srv  *httptest.Server
	user auth.User
}

func newConfig(t *testing.T, database string, extra ...string) *config.Config {
	t.Helper()
	var c config.Config
	fs := config.FlagSet("test", config.Common|config.Server, &c, io.Discard)
	args := append([]string{"--database", database, "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--log-level", "error", "--sqlite-synchronous", "NORMAL"}, extra...)
	if err := config.Load(fs, &c, args, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	return &c
}

func startSite(t *testing.T, extra ...string) *site {
	t.Helper()
	return startSiteOn(t, dbtest.Location(t), extra...)
}

func startSiteOn(t *testing.T, database string, extra ...string) *site {
	t.Helper()
	c := newConfig(t, database, extra...)
	a, err := app.Open(context.Background(), c, app.NewLogger(c))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return serveSite(t, a)
}

// serveSite serves an open application on a real HTTP server, with the
// user Anna Nowak (anna@example.pl, testPassword).
func serveSite(t *testing.T, a *app.App) *site {
	t.Helper()
	h, err := a.Handler(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	u, err := a.Auth.CreateUser(context.Background(), auth.NewUser{Email: "anna@example.pl", Name: "Anna Nowak", Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	return &site{t: t, app: a, srv: srv, user: u}
}

// browser is an HTTP client with cookies that does not follow redirects,
// remembering the CSRF token of the last page it read.
type browser struct {
	t      *testing.T
	s      *site
	c      *http.Client
	csrf   string
	lang   string
	secret string
	codes  []string
}

func (s *site) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: s.t, s: s, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type response struct {
	code   int
	body   string
	header http.Header
}

func (r response) location() string { return r.header.Get("Location") }

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) do(req *http.Request) response {
	b.t.Helper()
	if b.lang != "" {
		req.Header.Set("Accept-Language", b.lang)
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if m := csrfInput.FindStringSubmatch(string(body)); m != nil {
		b.csrf = m[1]
	}
	return response{code: res.StatusCode, body: string(body), header: res.Header}
}

func (b *browser) get(path string) response {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.s.srv.URL+path, nil)
	return b.do(req)
}

// post submits a form with the current CSRF token (unless the form sets
// its own).
func (b *browser) post(path string, form url.Values) response {
	b.t.Helper()
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", b.csrf)
	}
	req, _ := http.NewRequest(http.MethodPost, b.s.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

func code(t *testing.T, secret string) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, time.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var secretRe = regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`)
var codeRe = regexp.MustCompile(`<li><code>([a-z0-9-]+)</code></li>`)

// enrol signs a new browser in for the first time, through enrolment.
func (s *site) enrol() *browser { return s.enrolAs("anna@example.pl") }

// enrolAs is enrol for another user (with testPassword).
func (s *site) enrolAs(email string) *browser {
	s.t.Helper()
	b := s.browser()
	b.get("/sign-in")
	r := b.post("/sign-in", url.Values{"email": {email}, "password": {testPassword}})
	if r.code != http.StatusSeeOther || r.location() != "/sign-in/enrol" {
		s.t.Fatalf("sign-in: %d %s", r.code, r.location())
	}
	r = b.get("/sign-in/enrol")
	m := secretRe.FindStringSubmatch(r.body)
	if m == nil {
		s.t.Fatalf("no secret on the enrolment page: %d", r.code)
	}
	b.secret = m[1]
	r = b.post("/sign-in/enrol", url.Values{"code": {code(s.t, b.secret)}})
	if r.code != http.StatusOK {
		s.t.Fatalf("enrol: %d %s", r.code, r.body)
	}
	for _, m := range codeRe.FindAllStringSubmatch(r.body, -1) {
		b.codes = append(b.codes, m[1])
	}
	if len(b.codes) != 10 {
		s.t.Fatalf("%d recovery codes shown", len(b.codes))
	}
	return b
}

// signInWithRecoveryCode signs in a new browser for an enrolled user.
func (s *site) signInWithRecoveryCode(recovery string) *browser {
	s.t.Helper()
	b := s.browser()
	b.get("/sign-in")
	r := b.post("/sign-in", url.Values{"email": {"anna@example.pl"}, "password": {testPassword}})
	if r.location() != "/sign-in/code" {
		s.t.Fatalf("sign-in: %d %s", r.code, r.location())
	}
	b.get("/sign-in/code")
	r = b.post("/sign-in/code", url.Values{"code": {recovery}})
	if r.code != http.StatusSeeOther || r.location() != "/" {
		s.t.Fatalf("code: %d %s %s", r.code, r.location(), r.body)
	}
	return b
}

func (s *site) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := s.app.DB.Read().QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func openApp(c *config.Config) (*app.App, error) {
	return app.Open(context.Background(), c, app.NewLogger(c))
}

// matrixMember creates a user of authority a with roles and a UI
// language, signs them in with a browser (second factor enrolled) and
// makes them an API token: one kind of user of a permission matrix.
func (s *site) matrixMember(t *testing.T, name string, a *authorities.Authority, email, lang string, roles ...string) *matrixUser {
	t.Helper()
	ctx := context.Background()
	u, err := s.app.Auth.CreateUser(ctx, auth.NewUser{Email: email, Name: name, Password: testPassword, Language: lang})
	if err != nil {
		t.Fatal(err)
	}
	var rs []authorities.UserRole
	for _, r := range roles {
		rs = append(rs, authorities.UserRole{Role: r})
	}
	if err := s.app.Authorities.Assign(ctx, u.ID, a.ID, rs); err != nil {
		t.Fatal(err)
	}
	m := &matrixUser{name: name, email: email, roles: roles, b: s.enrolAs(email)}
	if _, m.token, err = s.app.Auth.CreateToken(ctx, email, "matrix"); err != nil {
		t.Fatal(err)
	}
	if m.actor, err = s.app.Authorities.ActorFor(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	return m
}

// routePatterns lists the route patterns of the UI and the API, for the
// permission matrices to check that each has an entry.
func (s *site) routePatterns(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, r := range s.routeTable(t) {
		out = append(out, r.pattern)
	}
	sort.Strings(out)
	return out
}

// checkRoutesOf runs a permission matrix: for every route that the
// matrix claims (in pattern order) it calls run with the route's entry.
// A claimed route without an entry, and an entry that names no route,
// fail the test: a new route cannot be added without saying who may use
// it. It returns the number of routes run.
func checkRoutesOf[E any](t *testing.T, s *site, claims func(pattern string) bool, entries map[string]E, run func(pattern string, entry E)) int {
	t.Helper()
	covered, seen := 0, map[string]bool{}
	for _, p := range s.routePatterns(t) {
		seen[p] = true
		if !claims(p) {
			continue
		}
		entry, ok := entries[p]
		if !ok {
			t.Errorf("route %s has no entry in the permission matrix", p)
			continue
		}
		covered++
		run(p, entry)
	}
	for _, p := range slices.Sorted(maps.Keys(entries)) {
		if !seen[p] {
			t.Errorf("the matrix entry %s names no route", p)
		} else if !claims(p) {
			t.Errorf("the matrix entry %s is a route of another matrix", p)
		}
	}
	return covered
}

// routeEntry is one entry of the route table: its pattern and access rule.
type routeEntry struct{ pattern, access string }

// routeTable lists the routes of the UI, then those of the API.
func (s *site) routeTable(t *testing.T) []routeEntry {
	t.Helper()
	assets, err := static.Load()
	if err != nil {
		t.Fatal(err)
	}
	ui, err := web.New(web.Config{}, web.Deps{DB: s.app.DB, Auth: s.app.Auth, Areas: s.app.Areas, Authorities: s.app.Authorities, Requests: s.app.Requests,
		Broadcasts: s.app.Broadcasts, Registers: s.app.Registers, Catalog: s.app.Catalog, Assets: assets, Log: s.app.Log, Now: s.app.Now})
	if err != nil {
		t.Fatal(err)
	}
	var out []routeEntry
	for _, r := range ui.Routes() {
		out = append(out, routeEntry{r.Pattern, r.Access})
	}
	for _, r := range api.New(api.Deps{}).Routes() {
		out = append(out, routeEntry{r.Pattern, r.Access})
	}
	return out
}
