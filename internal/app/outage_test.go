package app_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/db/dbtest"
)

// proxy is a TCP proxy between the application and PostgreSQL that a test
// can cut (closing every connection and refusing new ones: the database
// is stopped), turn into a black hole (accepting connections and never
// answering: the database's host is unreachable), and restore.
type proxy struct {
	t      *testing.T
	target string
	mu     sync.Mutex
	ln     net.Listener
	addr   string
	conns  []net.Conn
	hold   bool // black hole: accepted connections are held, never forwarded
	cuts   int  // how many times it was cut: a connection accepted before a cut never forwards after it
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
			p.mu.Lock()
			hold, cuts := p.hold, p.cuts
			if hold {
				p.conns = append(p.conns, c)
			}
			p.mu.Unlock()
			if hold {
				continue
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			if p.cuts != cuts { // cut while this one was dialling
				p.mu.Unlock()
				c.Close()
				up.Close()
				continue
			}
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
	p.cuts++
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// blackhole cuts, then accepts connections again without ever answering.
func (p *proxy) blackhole() { p.reopen(true) }

// restore forwards again; held connections are dropped.
func (p *proxy) restore() { p.reopen(false) }

// reopen cuts every connection, then listens again, holding new
// connections unanswered or forwarding them.
func (p *proxy) reopen(hold bool) {
	p.cut()
	p.mu.Lock()
	p.hold = hold
	p.mu.Unlock()
	p.listen(p.addr)
}

// proxiedDatabase returns a fresh test database's location reached through
// a proxy the test can cut.
func proxiedDatabase(t *testing.T) (*proxy, *url.URL) {
	t.Helper()
	loc, err := url.Parse(dbtest.Location(t))
	if err != nil {
		t.Fatal(err)
	}
	p := newProxy(t, loc.Host)
	loc.Host = p.addr
	return p, loc
}

func TestDatabaseOutageAnswers503TranslatedAndRecovers(t *testing.T) {
	if !dbtest.IsPostgres() {
		t.Skip("needs a database server to cut off: runs in the PostgreSQL pass")
	}
	p, loc := proxiedDatabase(t)
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
		if r.header.Get("Retry-After") == "" {
			t.Errorf("%s during the outage: no Retry-After", path)
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
	if r := s.api(t, "GET", "/api/v1/me", "imi_whatever", ""); r.code != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("API during the outage: %d, Retry-After %q", r.code, r.header.Get("Retry-After"))
	}

	p.restore()
	if r := b.get("/readyz"); r.code != http.StatusOK {
		t.Fatalf("readyz after the outage: %d", r.code)
	}
	if r := b.get("/"); r.code != http.StatusOK {
		t.Fatalf("after the outage: %d", r.code)
	}
}

// outageSeconds is how long the load test keeps the database away:
// IMI_OUTAGE_SECONDS, by default the 30 seconds.
func outageSeconds(t *testing.T) time.Duration {
	t.Helper()
	v := os.Getenv("IMI_OUTAGE_SECONDS")
	if v == "" {
		return 30 * time.Second
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 2 {
		t.Fatalf("IMI_OUTAGE_SECONDS=%q: want a whole number of seconds, at least 2", v)
	}
	return time.Duration(n) * time.Second
}

// outageCall is one request made during the load test.
type outageCall struct {
	kind       string
	start, end time.Time
	code       int
	retryAfter string
	err        error
	key        string // a write's idempotency key
}

// outageLoad is the load: clients of four kinds, each with its own
// transport so that the test can close their idle connections.
type outageLoad struct {
	s          *site
	session    []*http.Cookie // a signed-in browser's cookies
	token      string
	body       string   // a request to create through the API
	signIns    []string // accounts that sign in
	timeout    time.Duration
	mu         sync.Mutex
	transports []*http.Transport
	calls      []outageCall
}

// success is each kind's status when the database is there.
var outageSuccess = map[string]int{"page": http.StatusOK, "api-read": http.StatusOK, "api-write": http.StatusCreated, "sign-in": http.StatusSeeOther}

var outageKinds = []string{"page", "api-read", "api-write", "sign-in"}

// outageClientTimeout is the longest any answer may take while the
// database is away. PostgreSQL connection attempts give up after 5 s; a
// request may wait for one in the pool's queue and then make its own, so
// about 10 s at worst. A request that hangs longer fails the test (without
// the connection timeout, a request waits as long as the database's host is
// unreachable).
const outageClientTimeout = 15 * time.Second

// lockedClientTimeout is the same for a locked SQLite file: a write waits
// at most 10 s for its turn at the writer and 10 s for the file's lock.
const lockedClientTimeout = 25 * time.Second

func (l *outageLoad) client() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	l.mu.Lock()
	l.transports = append(l.transports, tr)
	l.mu.Unlock()
	return &http.Client{Transport: tr, Timeout: l.timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (l *outageLoad) closeIdle() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, tr := range l.transports {
		tr.CloseIdleConnections()
	}
}

// call makes one request of a kind; n numbers it (for write keys and
// pages).
func (l *outageLoad) call(c *http.Client, kind, tag string, n int) outageCall {
	oc := outageCall{kind: kind, start: time.Now()}
	var req *http.Request
	base := l.s.srv.URL
	switch kind {
	case "page":
		pages := []string{"/", "/profile", "/requests", "/notifications"}
		req, _ = http.NewRequest(http.MethodGet, base+pages[n%len(pages)], nil)
		for _, ck := range l.session {
			req.AddCookie(ck)
		}
	case "api-read":
		paths := []string{"/api/v1/requests", "/api/v1/me"}
		req, _ = http.NewRequest(http.MethodGet, base+paths[n%len(paths)], nil)
		req.Header.Set("Authorization", "Bearer "+l.token)
	case "api-write":
		oc.key = fmt.Sprintf("%s-%d", tag, n)
		req, _ = http.NewRequest(http.MethodPost, base+"/api/v1/requests", strings.NewReader(l.body))
		req.Header.Set("Authorization", "Bearer "+l.token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", oc.key)
	case "sign-in":
		var err error
		if req, err = l.signInRequest(c, l.signIns[n%len(l.signIns)]); err != nil {
			oc.err, oc.end = err, time.Now()
			return oc
		}
	}
	req.Header.Set("Accept-Language", "pl")
	res, err := c.Do(req)
	if err == nil {
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		oc.code, oc.retryAfter = res.StatusCode, res.Header.Get("Retry-After")
	}
	oc.err, oc.end = err, time.Now()
	return oc
}

// signInRequest reads the sign-in form (which needs no database) for its
// CSRF cookie and token, and returns the sign-in.
func (l *outageLoad) signInRequest(c *http.Client, email string) (*http.Request, error) {
	jar, _ := cookiejar.New(nil)
	c = &http.Client{Transport: c.Transport, Jar: jar, Timeout: c.Timeout}
	res, err := c.Get(l.s.srv.URL + "/sign-in")
	if err != nil {
		return nil, err
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := csrfInput.FindStringSubmatch(string(body))
	if m == nil {
		return nil, fmt.Errorf("sign-in form: %d without a CSRF token", res.StatusCode)
	}
	form := url.Values{"email": {email}, "password": {testPassword}, "csrf": {m[1]}}
	req, _ := http.NewRequest(http.MethodPost, l.s.srv.URL+"/sign-in", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	u, _ := url.Parse(l.s.srv.URL)
	for _, ck := range jar.Cookies(u) {
		req.AddCookie(ck)
	}
	return req, nil
}

func (l *outageLoad) record(oc outageCall) {
	l.mu.Lock()
	l.calls = append(l.calls, oc)
	l.mu.Unlock()
}

// run starts workers clients, each making requests of one kind until stop
// is closed.
func (l *outageLoad) run(workers int, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		kind := []string{"page", "page", "api-read", "api-write", "page", "api-read", "api-write", "sign-in"}[w%8]
		c := l.client()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				l.record(l.call(c, kind, fmt.Sprintf("load-%d", w), n))
				time.Sleep(20 * time.Millisecond) // a steady load, not a flood, on a shared machine
			}
		}()
	}
	return &wg
}

// outageGoroutines counts the process's goroutines, leaving out the test's
// proxy (two per proxied connection, however many the pool keeps).
func outageGoroutines() (int, map[string]int) {
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n, tops := 0, map[string]int{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		if g == "" || strings.Contains(g, ".(*proxy).") {
			continue
		}
		n++
		lines := strings.Split(g, "\n")
		if len(lines) > 1 {
			tops[strings.TrimSpace(lines[1])]++
		}
	}
	return n, tops
}

// outageBaseline counts the goroutines once the setup's connections are
// closed.
func outageBaseline(l *outageLoad) int {
	l.closeIdle()
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	time.Sleep(300 * time.Millisecond)
	n, _ := outageGoroutines()
	return n
}

// outageSettle waits (a few seconds at most) for the goroutine count to come
// back to baseline+tolerance, and returns the last count.
func outageSettle(l *outageLoad, baseline, tolerance int) (int, map[string]int) {
	var n int
	var tops map[string]int
	for i := 0; i < 50; i++ {
		l.closeIdle()
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
		runtime.GC()
		if n, tops = outageGoroutines(); n <= baseline+tolerance {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return n, tops
}

// outageSite is a site whose database can be cut, with what the load
// needs: a signed-in browser, a requester's API token, a responder, and
// accounts that sign in.
func outageSite(t *testing.T, database string) (*site, *outageLoad) {
	t.Helper()
	s := startSiteOn(t, database)
	ctx := context.Background()
	registerWith(t, s, authorities.Input{Country: "DE", Name: "BMWK", Language: "de", Kind: authorities.NationalCoordinator, Areas: []string{"pq"}})
	registerWith(t, s, authorities.Input{Country: "PL", Name: "MRiT", Language: "pl", Kind: authorities.NationalCoordinator, Areas: []string{"pq"}})
	de := registerWith(t, s, authorities.Input{Country: "DE", Name: "Ärztekammer Berlin", Language: "de", Areas: []string{"pq"}})
	pl := registerWith(t, s, authorities.Input{Country: "PL", Name: "Naczelna Izba Lekarska", Language: "pl", Areas: []string{"pq"}})
	if err := s.app.Authorities.Assign(ctx, s.user.ID, de.ID, []authorities.UserRole{{Role: authorities.RequestHandler}}); err != nil {
		t.Fatal(err)
	}
	l := &outageLoad{s: s, token: s.token(t), timeout: outageClientTimeout, body: `{"area":"pq","question_set":"authenticity","questions":["diploma_authentic"],"responder_id":"` + pl.ID + `",
		"subject":{"name":"Jan Kowalski","profession":"doctor"},"message":"Please check."}`}
	for i := 0; i < 3; i++ {
		email := fmt.Sprintf("signin%d@example.de", i)
		if _, err := s.app.Auth.CreateUser(ctx, auth.NewUser{Email: email, Name: "Sign-in " + strconv.Itoa(i), Password: testPassword}); err != nil {
			t.Fatal(err)
		}
		l.signIns = append(l.signIns, email)
	}
	b := s.enrol()
	u, _ := url.Parse(s.srv.URL)
	l.session = b.c.Jar.Cookies(u)
	b.c.CloseIdleConnections()
	return s, l
}

// outageSummary counts calls by kind and status ("err" for no answer).
func outageSummary(calls []outageCall) string {
	counts := map[string]int{}
	for _, c := range calls {
		st := strconv.Itoa(c.code)
		if c.err != nil {
			st = "err"
		}
		counts[c.kind+" "+st]++
	}
	return tally(counts, func(k string, n int) string { return fmt.Sprintf("%s×%d", k, n) })
}

func TestDatabaseOutageUnderLoadAnswers503AndRecoversWithin5s(t *testing.T) {
	if !dbtest.IsPostgres() {
		t.Skip("needs a database server to cut off: runs in the PostgreSQL pass")
	}
	outage := outageSeconds(t)
	// No connect_timeout in the location: the server's own bound on a
	// connection attempt is under test.
	p, loc := proxiedDatabase(t)
	s, l := outageSite(t, loc.String())
	baseline := outageBaseline(l)

	// 16 clients: signed-in page views, API reads, API writes with an
	// idempotency key, sign-ins.
	stop := make(chan struct{})
	wg := l.run(16, stop)
	time.Sleep(2 * time.Second)
	p.cut()             // the database stops...
	cutAt := time.Now() // requests begun before this may still have finished through it
	time.Sleep(outage / 6)
	peak, _ := outageGoroutines()
	time.Sleep(outage/3 - outage/6)
	// ...and then its host does not answer at all, for longer than a
	// client waits.
	p.blackhole()
	time.Sleep(outage - outage/3)
	restoredAt := time.Now()
	p.restore()

	// Poll until every kind of request succeeds.
	probe := l.client()
	var probed time.Duration // when the first round of all kinds had succeeded
	for n := 0; probed == 0; n++ {
		ok := true
		for _, kind := range outageKinds {
			oc := l.call(probe, kind, "probe", n)
			l.record(oc)
			ok = ok && oc.err == nil && oc.code == outageSuccess[kind]
		}
		if ok {
			probed = time.Since(restoredAt)
		} else if time.Since(restoredAt) > 30*time.Second {
			t.Fatalf("no full service 30 s after the database came back: %s", outageSummary(l.calls))
		} else {
			time.Sleep(100 * time.Millisecond)
		}
	}
	// The load goes on past the 5-second mark, then stops.
	if wait := 7*time.Second - time.Since(restoredAt); wait > 0 {
		time.Sleep(wait)
	}
	close(stop)
	wg.Wait()

	var before, during, after, late []outageCall
	var longest time.Duration
	var recovery time.Duration // the last failed request started this long after the return
	for _, c := range l.calls {
		if failed := c.err != nil || c.code != outageSuccess[c.kind]; failed && c.start.After(restoredAt) && c.start.Sub(restoredAt) > recovery {
			recovery = c.start.Sub(restoredAt)
		}
		switch {
		case c.end.Before(cutAt):
			before = append(before, c)
		case !c.start.Before(cutAt) && c.end.Before(restoredAt):
			during = append(during, c)
		case !c.start.Before(restoredAt.Add(5 * time.Second)):
			late = append(late, c)
		default:
			after = append(after, c) // straddling the cut or the return
		}
		if d := c.end.Sub(c.start); d > longest {
			longest = d
		}
		switch {
		case c.err != nil:
			t.Errorf("%s: no answer within %v: %v", c.kind, outageClientTimeout, c.err)
		case c.code == http.StatusServiceUnavailable && c.retryAfter == "":
			t.Errorf("%s: 503 without Retry-After", c.kind)
		case c.code != http.StatusServiceUnavailable && c.code != outageSuccess[c.kind]:
			t.Errorf("%s: status %d", c.kind, c.code)
		}
	}
	for _, c := range during {
		if c.code != http.StatusServiceUnavailable {
			t.Errorf("%s during the outage: %d, want 503", c.kind, c.code)
		}
	}
	for _, c := range late {
		if c.err == nil && c.code != outageSuccess[c.kind] {
			t.Errorf("%s %v after the database came back: %d", c.kind, c.start.Sub(restoredAt).Round(time.Millisecond), c.code)
		}
	}
	t.Logf("outage of %v (a third stopped, then unreachable), 16 clients: %d requests", outage, len(l.calls))
	t.Logf("before the cut: %s", outageSummary(before))
	t.Logf("during the outage: %s", outageSummary(during))
	t.Logf("straddling the cut or the return, or in the first 5 s after it: %s", outageSummary(after))
	t.Logf("from 5 s after the return: %s", outageSummary(late))
	t.Logf("full service %v after the database came back (the last request refused started then; the first full round of probes ended after %v); longest answer %v",
		recovery.Round(time.Millisecond), probed.Round(time.Millisecond), longest.Round(time.Millisecond))
	if recovery > 5*time.Second {
		t.Errorf("full service took %v after the database came back, want at most 5 s", recovery)
	}
	if len(during) == 0 || len(late) == 0 {
		t.Fatalf("the load made %d requests during the outage and %d after it", len(during), len(late))
	}

	// Writes answered 503 are whole or absent: retried with their key, each
	// creates its request once; every request has its questions and one
	// creation event.
	outageCheckWrites(t, s, l)

	// No goroutine is left behind once the clients close their connections.
	after2, tops := outageSettle(l, baseline, 10)
	t.Logf("goroutines (without the test's proxy): %d before the load, %d during the outage, %d after it", baseline, peak, after2)
	if after2 > baseline+10 {
		var lines []string
		for top, n := range tops {
			lines = append(lines, fmt.Sprintf("%4d %s", n, top))
		}
		sort.Strings(lines)
		t.Errorf("goroutines: %d before the load, %d after it:\n%s", baseline, after2, strings.Join(lines, "\n"))
	}
}

// outageCheckWrites retries every write that did not get its 201 with the
// same key, then checks that each key made exactly one whole request.
func outageCheckWrites(t *testing.T, s *site, l *outageLoad) {
	t.Helper()
	status := map[string]int{}
	for _, c := range l.calls {
		if c.kind == "api-write" && c.key != "" {
			status[c.key] = c.code
		}
	}
	requests := `SELECT COUNT(*) FROM requests`
	before := s.count(t, requests)
	c := l.client()
	retried := 0
	for key, code := range status {
		if code == http.StatusCreated {
			continue
		}
		retried++
		req, _ := http.NewRequest(http.MethodPost, s.srv.URL+"/api/v1/requests", strings.NewReader(l.body))
		req.Header.Set("Authorization", "Bearer "+l.token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusCreated {
			t.Errorf("retry of %s: %d", key, res.StatusCode)
		}
	}
	made := s.count(t, requests) - before
	t.Logf("writes: %d keys, %d answered 503 and retried: %d created by the retry, %d had been saved before their 503",
		len(status), retried, made, retried-made)
	if n := s.count(t, requests); n != len(status) {
		t.Errorf("%d requests for %d idempotency keys", n, len(status))
	}
	if n := s.count(t, `SELECT COUNT(*) FROM idempotency_keys WHERE scope = 'create'`); n != len(status) {
		t.Errorf("%d idempotency keys stored for %d used", n, len(status))
	}
	if n := s.count(t, `SELECT COUNT(*) FROM requests r WHERE NOT EXISTS (SELECT 1 FROM request_questions q WHERE q.request_id = r.id)
		OR (SELECT COUNT(*) FROM case_events e WHERE e.case_id = r.id AND e.action = 'create') <> 1`); n != 0 {
		t.Errorf("%d requests half written", n)
	}
}

func TestALockedSQLiteDatabaseAnswers503AndRecovers(t *testing.T) {
	if dbtest.IsPostgres() {
		t.Skip("SQLite's file lock: runs in the SQLite pass")
	}
	s, l := outageSite(t, dbtest.Location(t))
	// The token's and the session's last use are fresh: reads write
	// nothing for a minute.
	if oc := l.call(l.client(), "api-read", "warm", 0); oc.code != http.StatusOK {
		t.Fatalf("API read: %d %v", oc.code, oc.err)
	}
	baseline := outageBaseline(l)
	l.timeout = lockedClientTimeout
	// Another process holds the write lock (an operator's sqlite3 shell,
	// say), longer than the server's busy timeout.
	other, err := sql.Open("sqlite", "file:"+s.app.Config.Database+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ctx := context.Background()
	lock, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	// Eight writes at once, and reads beside them.
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(2)
		go func() { defer wg.Done(); l.record(l.call(l.client(), "api-write", "locked", i)) }()
		go func() { defer wg.Done(); l.record(l.call(l.client(), []string{"page", "api-read"}[i%2], "locked", i)) }()
	}
	wg.Wait()
	if _, err := lock.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	lock.Close()
	var longest time.Duration
	for _, c := range l.calls {
		if d := c.end.Sub(c.start); d > longest {
			longest = d
		}
		switch {
		case c.err != nil:
			t.Errorf("%s: no answer within %v: %v", c.kind, l.timeout, c.err)
		case c.kind == "api-write" && (c.code != http.StatusServiceUnavailable || c.retryAfter == ""):
			t.Errorf("a write while the file is locked: %d, Retry-After %q; want 503 with it", c.code, c.retryAfter)
		case c.kind != "api-write" && c.code != outageSuccess[c.kind]:
			t.Errorf("%s while the file is locked: %d (reads need no write lock)", c.kind, c.code)
		}
	}
	t.Logf("SQLite file locked by another process: %s; longest answer %v", outageSummary(l.calls), longest.Round(time.Millisecond))
	// The lock is gone: the writes go through when retried.
	outageCheckWrites(t, s, l)
	n, _ := outageSettle(l, baseline, 10)
	t.Logf("goroutines: %d before, %d after", baseline, n)
	if n > baseline+10 {
		t.Errorf("goroutines: %d before, %d after", baseline, n)
	}
}
