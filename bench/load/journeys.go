package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pquerna/otp/totp"
)

// password is the generated accounts' password (imi generate).
const password = "gen-openimi-load-2026" // #nosec G101 -- the published password of generated test accounts

// counting is the transport of every client: it counts the HTTP requests
// of the current phase, redirects followed included, as a browser makes
// them.
type counting struct {
	base            http.RoundTripper
	requests, posts atomic.Int64
}

func (c *counting) RoundTrip(r *http.Request) (*http.Response, error) {
	c.requests.Add(1)
	if r.Method == http.MethodPost {
		c.posts.Add(1)
	}
	return c.base.RoundTrip(r)
}

// session is a browser: a cookie jar and the servers it talks to (one, or
// several in turn behind a round-robin "load balancer").
type session struct {
	client *http.Client
}

// recorder collects the latency of each step (a page, or a form sent and
// the page it leads to) of the current phase.
type recorder struct {
	mu    sync.Mutex
	lat   []time.Duration
	steps []string // what each step of lat was (stepKind)
	errs  int
	last  string
}

func (r *recorder) add(d time.Duration, step string) {
	r.mu.Lock()
	r.lat = append(r.lat, d)
	r.steps = append(r.steps, step)
	r.mu.Unlock()
}

// stepKind names a step for the list of the slowest: its method and path,
// identifiers and the query left out ("GET /requests/{id}").
func stepKind(method, path string) string {
	if u, err := url.Parse(path); err == nil {
		path = u.Path
	}
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if len(p) >= 16 && strings.Trim(p, "0123456789abcdef-") == "" {
			parts[i] = "{id}"
		}
	}
	return method + " " + strings.Join(parts, "/")
}

func (r *recorder) fail(err error) {
	r.mu.Lock()
	r.errs++
	r.last = err.Error()
	r.mu.Unlock()
}

// loader runs journeys against one or more imi servers and the ceiling.
type loader struct {
	w         *world
	transport *counting
	servers   []string // base URLs of imi serve processes in use
	mu        sync.Mutex
	next      int
	ceiling   string
	rec       *recorder
}

// base picks the server of the next request: round robin.
func (l *loader) base() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.next = (l.next + 1) % len(l.servers)
	return l.servers[l.next]
}

func (l *loader) newSession() *session {
	jar, _ := cookiejar.New(nil)
	return &session{client: &http.Client{Jar: jar, Transport: l.transport, Timeout: time.Minute}}
}

// page is a response read to the end.
type page struct {
	path string
	body string
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (p page) csrf() string {
	if m := csrfRe.FindStringSubmatch(p.body); m != nil {
		return m[1]
	}
	return ""
}

// do makes one step: the request, the redirects a browser would follow, the
// body read to the end; anything but 200 at the end is an error.
func (l *loader) do(ctx context.Context, s *session, method, path string, form url.Values) (page, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	u := path
	if !strings.HasPrefix(path, "http") {
		u = l.base() + path
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return page{}, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept-Language", "en")
	start := time.Now()
	// A step that fails counts at the time it took too: leaving failures
	// (timeouts above all) out would make the latency look better.
	defer func() { l.rec.add(time.Since(start), stepKind(method, path)) }()
	res, err := s.client.Do(req)
	if err != nil {
		return page{}, err
	}
	b, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if err != nil {
		return page{}, err
	}
	if res.StatusCode != http.StatusOK && res.StatusCode != http.StatusCreated {
		// A plain-text answer is an error message (the ceiling server's,
		// http.Error's): its first line says why, where an HTML page would
		// be too long.
		return page{}, fmt.Errorf("%s %s: %d%s", method, res.Request.URL.Path, res.StatusCode, reason(res.Header.Get("Content-Type"), b))
	}
	return page{path: res.Request.URL.Path, body: string(b)}, nil
}

// reason is " " and the first line of a plain-text body, at most 200
// bytes of it, or "" for any other.
func reason(contentType string, body []byte) string {
	if t, _, err := mime.ParseMediaType(contentType); err != nil || t != "text/plain" {
		return ""
	}
	line, _, _ := strings.Cut(string(body), "\n")
	line = strings.TrimSpace(line)
	if len(line) > 200 {
		line = strings.ToValidUTF8(line[:200], "") + "…"
	}
	if line == "" {
		return ""
	}
	return " " + line
}

// journey is one user's task, made of steps; it returns an error when a
// step fails or lands on the wrong page.
type journey struct {
	name string
	// ceiling is the ceiling it is compared with: "pk" for pages that
	// only read, "insert" for what writes durably, "" for none.
	ceiling string
	// unit is what is counted against the ceiling's requests: "gets"
	// (pages read), "posts" (forms sent: each one durable commit) or
	// "journeys".
	unit string
	run  func(ctx context.Context, l *loader, r *rand.Rand) error
}

func (l *loader) signIn(ctx context.Context, email, secret string) (*session, error) {
	s := l.newSession()
	p, err := l.do(ctx, s, http.MethodGet, "/sign-in", nil)
	if err != nil {
		return nil, err
	}
	if p, err = l.do(ctx, s, http.MethodPost, "/sign-in", url.Values{"csrf": {p.csrf()}, "email": {email}, "password": {password}}); err != nil {
		return nil, err
	}
	if p.path != "/sign-in/code" {
		return nil, fmt.Errorf("sign-in of %s: the password step ended at %s", email, p.path)
	}
	code, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		return nil, err
	}
	if p, err = l.do(ctx, s, http.MethodPost, "/sign-in/code", url.Values{"csrf": {p.csrf()}, "code": {code}}); err != nil {
		return nil, err
	}
	if p.path != "/" {
		return nil, fmt.Errorf("sign-in of %s: the code step ended at %s", email, p.path)
	}
	return s, nil
}

func journeys() []journey {
	return []journey{
		{"hello world", "", "", func(ctx context.Context, l *loader, _ *rand.Rand) error {
			_, err := l.do(ctx, l.w.accounts[0].session, http.MethodGet, l.ceiling+"/hello", nil)
			return err
		}},
		{"primary-key read + render", "", "", func(ctx context.Context, l *loader, r *rand.Rand) error {
			_, err := l.do(ctx, l.w.accounts[0].session, http.MethodGet, l.ceiling+"/pk?id="+pick(r, l.w.pkIDs), nil)
			return err
		}},
		{"durable insert", "", "", func(ctx context.Context, l *loader, _ *rand.Rand) error {
			_, err := l.do(ctx, l.w.accounts[0].session, http.MethodPost, l.ceiling+"/insert", url.Values{"x": {"1"}})
			return err
		}},
		{"sign in", "", "", func(ctx context.Context, l *loader, _ *rand.Rand) error {
			p, err := l.w.nextPerson(ctx)
			if err != nil {
				return err
			}
			_, err = l.signIn(ctx, p.email, p.secret)
			return err
		}},
		{"inbox", "pk", "gets", inbox},
		{"search authorities", "pk", "gets", search},
		{"open a request", "pk", "gets", open},
		// A download of a file of the exchange is recorded durably in
		// the audit log (personal data viewed): a write.
		{"download an attachment", "insert", "journeys", download},
		{"create and send a request", "insert", "posts", create},
		{"answer a request", "insert", "posts", answer},
		{"day in the office", "", "", mixed},
	}
}

func inbox(ctx context.Context, l *loader, r *rand.Rand) error {
	a := pick(r, l.w.accounts)
	p, err := l.do(ctx, a.session, http.MethodGet, "/requests", nil)
	if err == nil && !strings.Contains(p.body, "/requests/") {
		err = fmt.Errorf("the inbox of %s lists no request", a.email)
	}
	return err
}

func search(ctx context.Context, l *loader, r *rand.Rand) error {
	a := pick(r, l.w.accounts)
	_, err := l.do(ctx, a.session, http.MethodGet, "/authorities?q="+url.QueryEscape(pick(r, a.terms)), nil)
	return err
}

func open(ctx context.Context, l *loader, r *rand.Rand) error {
	a := pick(r, l.w.accounts)
	if len(a.requests) == 0 {
		a = l.w.withFiles[0]
	}
	_, err := l.do(ctx, a.session, http.MethodGet, "/requests/"+pick(r, a.requests), nil)
	return err
}

func download(ctx context.Context, l *loader, r *rand.Rand) error {
	a := pick(r, l.w.withFiles)
	f := pick(r, a.attachments)
	_, err := l.do(ctx, a.session, http.MethodGet, "/requests/"+f[0]+"/attachments/"+f[1], nil)
	return err
}

// create writes a request to a professional qualifications authority of
// another country and sends it, through the forms, as a handler would.
func create(ctx context.Context, l *loader, r *rand.Rand) error {
	a := pick(r, l.w.requesters)
	b := pick(r, l.w.responders[a.email])
	p, err := l.do(ctx, a.session, http.MethodGet, "/requests/new", nil)
	if err != nil {
		return err
	}
	form := url.Values{"csrf": {p.csrf()}, "area": {"pq"}, "question_set": {"authenticity"}, "step": {"save"}, "responder": {b.authority},
		"questions": {"diploma_authentic"}, "subject.name": {fmt.Sprintf("Load Test %06d", r.IntN(1e6))}, "subject.profession": {"doctor"}}
	if p, err = l.do(ctx, a.session, http.MethodPost, "/requests/new", form); err != nil {
		return err
	}
	id, ok := strings.CutPrefix(p.path, "/requests/")
	if !ok || strings.Contains(id, "/") {
		return fmt.Errorf("saving a draft ended at %s", p.path)
	}
	if _, err = l.do(ctx, a.session, http.MethodPost, "/requests/"+id+"/actions/send", url.Values{"csrf": {p.csrf()}}); err != nil {
		return err
	}
	select {
	case l.w.answerQueue <- created{id: id, responder: b}:
	default: // more than enough to answer
	}
	return nil
}

// errNothingToAnswer ends the answer journey's phase when every request
// the create journey sent is answered.
var errNothingToAnswer = fmt.Errorf("nothing left to answer")

// answer accepts a request sent by the create journey and answers it, as
// the responder's handler.
func answer(ctx context.Context, l *loader, _ *rand.Rand) error {
	var c created
	select {
	case c = <-l.w.answerQueue:
	default:
		return errNothingToAnswer
	}
	s := c.responder.session
	p, err := l.do(ctx, s, http.MethodGet, "/requests/"+c.id, nil)
	if err != nil {
		return err
	}
	if p, err = l.do(ctx, s, http.MethodPost, "/requests/"+c.id+"/actions/accept", url.Values{"csrf": {p.csrf()}}); err != nil {
		return err
	}
	p, err = l.do(ctx, s, http.MethodPost, "/requests/"+c.id+"/actions/answer", url.Values{"csrf": {p.csrf()}, "answer.diploma_authentic": {"yes"}})
	if err == nil && (p.path != "/requests/"+c.id || strings.Contains(p.body, "/actions/answer\"")) {
		err = fmt.Errorf("request %s: not answered (the page still offers to answer)", c.id)
	}
	return err
}

// mixed is a day in the office: mostly reading, some writing, now and
// then someone signing in.
func mixed(ctx context.Context, l *loader, r *rand.Rand) error {
	switch n := r.IntN(100); {
	case n < 20:
		return inbox(ctx, l, r)
	case n < 45:
		return open(ctx, l, r)
	case n < 60:
		return search(ctx, l, r)
	case n < 70:
		return download(ctx, l, r)
	case n < 82:
		return create(ctx, l, r)
	case n < 94:
		if err := answer(ctx, l, r); err != errNothingToAnswer {
			return err
		}
		return open(ctx, l, r)
	default:
		p, err := l.w.nextPerson(ctx)
		if err != nil {
			return err
		}
		_, err = l.signIn(ctx, p.email, p.secret)
		return err
	}
}
