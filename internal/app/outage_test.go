package app_test

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/openimi/openimi/internal/db/dbtest"
)

// proxy is a TCP proxy between the application and PostgreSQL that a test
// can cut (closing every connection and refusing new ones) and restore.
type proxy struct {
	t      *testing.T
	target string
	mu     sync.Mutex
	ln     net.Listener
	addr   string
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	p := &proxy{t: t, target: target}
	p.listen("127.0.0.1:0")
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) listen(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *proxy) restore() { p.listen(p.addr) }

func TestDatabaseOutageAnswers503TranslatedAndRecovers(t *testing.T) {
	if !dbtest.IsPostgres() {
		t.Skip("needs a database server to cut off: runs in the PostgreSQL pass")
	}
	loc, err := url.Parse(dbtest.Location(t))
	if err != nil {
		t.Fatal(err)
	}
	p := newProxy(t, loc.Host)
	loc.Host = p.addr
	q := loc.Query()
	q.Set("connect_timeout", "2")
	loc.RawQuery = q.Encode()
	s := startSiteOn(t, loc.String())
	b := s.enrol()
	b.lang = "pl"
	if r := b.get("/"); r.code != http.StatusOK {
		t.Fatalf("before the outage: %d", r.code)
	}

	p.cut()
	pl := s.app.Catalog.Localizer("pl").T("error_unavailable")
	for _, path := range []string{"/", "/profile"} {
		r := b.get(path)
		if r.code != http.StatusServiceUnavailable || !strings.Contains(r.body, pl) {
			t.Fatalf("%s during the outage: %d, want 503 with %q", path, r.code, pl)
		}
		if strings.Contains(r.body, "dial") || strings.Contains(r.body, "127.0.0.1") {
			t.Fatalf("%s: internals leaked: %s", path, r.body)
		}
	}
	anon := s.browser()
	anon.get("/sign-in")
	if r := anon.post("/sign-in", url.Values{"email": {"anna@example.pl"}, "password": {testPassword}}); r.code != http.StatusServiceUnavailable {
		t.Fatalf("sign-in during the outage: %d", r.code)
	}
	if r := b.get("/readyz"); r.code != http.StatusServiceUnavailable {
		t.Fatalf("readyz during the outage: %d", r.code)
	}
	if r := b.get("/healthz"); r.code != http.StatusOK {
		t.Fatalf("healthz during the outage: %d", r.code)
	}
	if r := s.api(t, "GET", "/api/v1/me", "imi_whatever", ""); r.code != http.StatusServiceUnavailable {
		t.Fatalf("API during the outage: %d", r.code)
	}

	p.restore()
	if r := b.get("/readyz"); r.code != http.StatusOK {
		t.Fatalf("readyz after the outage: %d", r.code)
	}
	if r := b.get("/"); r.code != http.StatusOK {
		t.Fatalf("after the outage: %d", r.code)
	}
}
