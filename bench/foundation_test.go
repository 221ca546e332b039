// Package bench measures OpenIMI's pages against ceilings taken in the same
// run: a hello-world net/http handler, and a primary-key read plus a small
// html/template render on the same database. Compare ratios, not absolute
// times: the machines are shared and noisy.
//
//	go test ./bench/ -run '^$' -bench . -benchtime 2s
//	IMI_TEST_DATABASE=postgres://… go test ./bench/ -run '^$' -bench .
package bench

import (
	"context"
	"html/template"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openimi/openimi/internal/app"
	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/config"
	"github.com/openimi/openimi/internal/db/dbtest"
)

const password = "correct-horse-battery-9"

type fixture struct {
	app    *app.App
	srv    *httptest.Server
	client *http.Client // signed in
	token  string
}

func setUp(b *testing.B) *fixture {
	b.Helper()
	var c config.Config
	fs := config.FlagSet("bench", config.Common|config.Server, &c, io.Discard)
	if err := config.Load(fs, &c, []string{"--database", dbtest.Location(b), "--data-dir", b.TempDir(), "--log-level", "error"}, func(string) string { return "" }); err != nil {
		b.Fatal(err)
	}
	a, err := app.Open(context.Background(), &c, app.NewLogger(&c))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() })
	h, err := a.Handler(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)
	u, err := a.Auth.CreateUser(context.Background(), auth.NewUser{Email: "bench@example.eu", Name: "Bench", Password: password})
	if err != nil {
		b.Fatal(err)
	}
	if err := a.Auth.EnrolForDemo(context.Background(), u.ID); err != nil {
		b.Fatal(err)
	}
	f := &fixture{app: a, srv: srv}
	f.client = f.signIn(b)
	_, f.token, err = a.Auth.CreateToken(context.Background(), u.Email, "bench")
	if err != nil {
		b.Fatal(err)
	}
	return f
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (f *fixture) signIn(b *testing.B) *http.Client {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	csrf := func(path string) string {
		res, err := c.Get(f.srv.URL + path)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return csrfRe.FindStringSubmatch(string(body))[1]
	}
	res, err := c.PostForm(f.srv.URL+"/sign-in", url.Values{"csrf": {csrf("/sign-in")}, "email": {"bench@example.eu"}, "password": {password}})
	if err != nil {
		b.Fatal(err)
	}
	res.Body.Close()
	code, err := f.app.Auth.CurrentCode(context.Background(), "bench@example.eu")
	if err != nil {
		b.Fatal(err)
	}
	res, err = c.PostForm(f.srv.URL+"/sign-in/code", url.Values{"csrf": {csrf("/sign-in/code")}, "code": {code}})
	if err != nil {
		b.Fatal(err)
	}
	res.Body.Close()
	if res.Request.URL.Path != "/" {
		b.Fatalf("not signed in: ended at %s", res.Request.URL.Path)
	}
	return c
}

func get(b *testing.B, c *http.Client, req *http.Request) {
	res, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b.Fatalf("%s: %d", req.URL.Path, res.StatusCode)
	}
}

func loop(b *testing.B, c *http.Client, url string, header ...string) {
	b.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	b.ResetTimer()
	for range b.N {
		// A fresh request each time: the client's cookie jar adds its
		// cookies to the request it is given.
		get(b, c, req.Clone(context.Background()))
	}
}

// BenchmarkCeilingHelloWorld is the fastest any page can be here.
func BenchmarkCeilingHelloWorld(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("hello")) }))
	defer srv.Close()
	loop(b, srv.Client(), srv.URL)
}

// BenchmarkCeilingPrimaryKeyRender is a primary-key read and a small
// template render on the same database: the ceiling of a real page.
func BenchmarkCeilingPrimaryKeyRender(b *testing.B) {
	f := setUp(b)
	t := template.Must(template.New("p").Parse(`<!DOCTYPE html><html lang="en"><title>{{.}}</title><p>Hello, {{.}}.</p></html>`))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var name string
		if err := f.app.DB.Read().QueryRowContext(r.Context(), `SELECT name FROM users WHERE email = $1`, "bench@example.eu").Scan(&name); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		_ = t.Execute(w, name)
	}))
	defer srv.Close()
	loop(b, srv.Client(), srv.URL)
}

// BenchmarkSignInPage is the anonymous sign-in page (no database).
func BenchmarkSignInPage(b *testing.B) {
	f := setUp(b)
	jar, _ := cookiejar.New(nil)
	loop(b, &http.Client{Jar: jar}, f.srv.URL+"/sign-in")
}

// BenchmarkHomeSignedIn is the signed-in home page: session look-up and
// the full ECL layout.
func BenchmarkHomeSignedIn(b *testing.B) {
	f := setUp(b)
	loop(b, f.client, f.srv.URL+"/")
}

// BenchmarkAPIMe is a token-authenticated API read.
func BenchmarkAPIMe(b *testing.B) {
	f := setUp(b)
	loop(b, f.srv.Client(), f.srv.URL+"/api/v1/me", "Authorization", "Bearer "+f.token)
}

// BenchmarkPasswordStep is the password step of sign-in, bounded by argon2id
// (19 MiB, 2 passes) by design.
func BenchmarkPasswordStep(b *testing.B) {
	f := setUp(b)
	b.ResetTimer()
	for range b.N {
		if _, _, err := f.app.Auth.SignIn(context.Background(), "bench@example.eu", password, auth.Client{Address: "192.0.2.1"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkQuestionSetSideBySide is the heaviest area page: a question set
// in two languages, rendered from the pack.
func BenchmarkQuestionSetSideBySide(b *testing.B) {
	f := setUp(b)
	loop(b, f.client, f.srv.URL+"/areas/pq/question-sets/sanctions?compare=el")
}

// BenchmarkAPIArea is a whole area (64 professions, 35 questions) as JSON.
func BenchmarkAPIArea(b *testing.B) {
	f := setUp(b)
	loop(b, f.srv.Client(), f.srv.URL+"/api/v1/areas/pq?lang=pl", "Authorization", "Bearer "+f.token)
}

// BenchmarkAuthoritiesListPage is a page of 50 authorities of the demo
// registry (466 authorities), with their areas and competences.
func BenchmarkAuthoritiesListPage(b *testing.B) {
	f := setUp(b)
	if _, err := app.LoadDemo(context.Background(), f.app); err != nil {
		b.Fatal(err)
	}
	ec, err := f.app.Authorities.EnsureCommission(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	u, err := f.app.Auth.UserByEmail(context.Background(), "bench@example.eu")
	if err != nil {
		b.Fatal(err)
	}
	if err := f.app.Authorities.Assign(context.Background(), u.ID, ec.ID, []authorities.UserRole{{Role: authorities.Coordinator}}); err != nil {
		b.Fatal(err)
	}
	loop(b, f.client, f.srv.URL+"/authorities?page=2")
}
