package chaos_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/openimi/openimi/internal/db/dbtest"
)

// imiBinary is the real imi command, built once per run of the tests.
var imiBinary string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "imi-chaos-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	imiBinary = filepath.Join(dir, "imi")
	if out, err := exec.Command("go", "build", "-o", imiBinary, "github.com/openimi/openimi/cmd/imi").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build imi: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// Writers is how many clients write at once.
const writers = 64

// settings of one run, from the environment.
type settings struct {
	kills int    // SIGKILLs before the final life (IMI_KILLS, default 12)
	seed  uint64 // IMI_CHAOS_SEED, to replay a run's timing choices
}

func readSettings(t *testing.T) settings {
	s := settings{kills: 12, seed: uint64(time.Now().UnixNano())}
	if v := os.Getenv("IMI_KILLS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("IMI_KILLS=%q: want a positive number", v)
		}
		s.kills = n
	}
	if v := os.Getenv("IMI_CHAOS_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("IMI_CHAOS_SEED=%q: %v", v, err)
		}
		s.seed = n
	}
	return s
}

// TestAcknowledgedWritesSurviveRepeatedSIGKILL runs 64 writers against the
// API of a real `imi serve` (create a request, attach files, send, accept,
// answer, each with an Idempotency-Key), kills the server with SIGKILL at
// random moments and starts it again on the same database and files. After
// every kill it checks the database as the kill left it, and after every
// start it checks through the API, that each acknowledged write is there
// whole (request, case event, audit row, file with the right bytes), that
// no exchange is half-written, and that writes in flight at the kill,
// sent again with the same key, happened once.
func TestAcknowledgedWritesSurviveRepeatedSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a server many times: not under -short")
	}
	cfg := readSettings(t)
	t.Logf("%d kills, %d writers, seed %d (IMI_CHAOS_SEED replays the timing choices)", cfg.kills, writers, cfg.seed)
	h := newHarness(t, cfg)
	h.setUp()

	var wg sync.WaitGroup
	for i := range writers {
		w := &writer{n: i, h: h, requester: h.users[fmt.Sprintf("de%d", i%2)], responder: h.users[fmt.Sprintf("pl%d", i%2)],
			rng: rand.New(rand.NewPCG(cfg.seed, uint64(i)))}
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run()
		}()
	}
	// Whatever happens, the writers end with the test.
	defer func() {
		h.stopWriters()
		h.cancel()
		h.srv.openGate()
		wg.Wait()
	}()

	survived := 0
	for life := 1; life <= cfg.kills; life++ {
		h.srv.start()
		h.verifyThroughAPI(false)
		h.srv.openGate()
		// A random moment: somewhere in the second or so of writing.
		time.Sleep(time.Duration(300+h.rng.IntN(1700)) * time.Millisecond)
		h.srv.closeGate()
		h.srv.kill()
		h.checkDatabase(false)
		if t.Failed() {
			t.Fatalf("after kill %d: see above (server logs in %s)", life, h.srv.logDir)
		}
		survived++
	}

	// The last life: files left by interrupted uploads are made old
	// enough for the sweep at start, the writers send what was in flight
	// at the last kill again and stop.
	orphans, temps := h.leftovers()
	h.ageFiles(2 * time.Hour)
	h.srv.start()
	h.verifyThroughAPI(false)
	h.stopWriters()
	h.srv.openGate()
	wg.Wait()
	h.verifyThroughAPI(true)
	h.awaitSweep()
	h.srv.stop()
	h.checkDatabase(true)
	h.checkLogs()

	l := h.ledger.figures()
	t.Logf("kills survived: %d of %d (SQLite or PostgreSQL: %s)", survived, cfg.kills, h.dialect())
	t.Logf("writes acknowledged and verified: %d (%s)", l.total, l.byOp)
	t.Logf("requests: %d; attachments: %d, %d bytes, every one downloaded and checked by SHA-256", l.requests, l.files, l.bytes)
	t.Logf("writes in flight at a kill, sent again with the same Idempotency-Key: %d; of these, %d had been done before the kill and were not done twice (%s)",
		l.retried, l.deduplicated, l.dedupByOp)
	t.Logf("left by the kills: %d unreferenced files and %d partial uploads, swept at the next start", orphans, temps)
	t.Logf("API checks: %d requests read and %d files downloaded after restarts", h.apiReads.Load(), h.apiDownloads.Load())
}

// user is an account with an API token.
type user struct {
	name, email, token, id string
}

// harness is the server, its database and files, and what the writers
// were told.
type harness struct {
	t         *testing.T
	ctx       context.Context
	cancel    context.CancelFunc
	rng       *rand.Rand
	loc       string
	files     string
	db        *sql.DB
	srv       *server
	client    *http.Client
	users     map[string]*user
	responder string // the Polish authority's id
	ledger    *ledger
	stopping  atomic.Bool

	apiReads, apiDownloads atomic.Int64
	hashed                 map[string]bool // contents whose bytes were checked
}

func newHarness(t *testing.T, cfg settings) *harness {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h := &harness{t: t, ctx: ctx, cancel: cancel, rng: rand.New(rand.NewPCG(cfg.seed, 0)), loc: dbtest.Location(t),
		files: filepath.Join(dir, "attachments"), users: map[string]*user{}, ledger: newLedger(), hashed: map[string]bool{}}
	h.client = &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: writers * 2}}
	h.srv = &server{t: t, h: h, addr: freeAddress(t), logDir: filepath.Join(dir, "logs"), data: dir, open: make(chan struct{})}
	if err := os.MkdirAll(h.srv.logDir, 0o750); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.srv.kill() })
	return h
}

func (h *harness) dialect() string {
	if dbtest.IsPostgres() {
		return "PostgreSQL"
	}
	return "SQLite"
}

// imi runs a command of the binary on the test's database.
func (h *harness) imi(stdin string, args ...string) string {
	h.t.Helper()
	return runWith(h.t, stdin, append([]string{"--database", h.loc}, args...)...)
}

// runWith runs an imi command with stdin as its input and returns its
// standard output; the test fails if it does.
func runWith(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(imiBinary, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("imi %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String()
}

// setUp makes, through the binary's own commands, a German and a Polish
// authority with two writing users and one checking user each, all with
// API tokens.
func (h *harness) setUp() {
	t := h.t
	file := filepath.Join(t.TempDir(), "authorities.json")
	rows := `[
 {"external_id": "DE-NC", "country": "DE", "name": "Bundesministerium für Wirtschaft", "language": "de", "areas": ["pq"], "role": "national_coordinator"},
 {"external_id": "PL-NC", "country": "PL", "name": "Ministerstwo Rozwoju i Technologii", "language": "pl", "areas": ["pq"], "role": "national_coordinator"},
 {"external_id": "DE-AEK", "country": "DE", "name": "Ärztekammer Berlin", "language": "de", "areas": ["pq"], "parent_external_id": "DE-NC"},
 {"external_id": "PL-NIL", "country": "PL", "name": "Naczelna Izba Lekarska", "language": "pl", "areas": ["pq"], "parent_external_id": "PL-NC"}
]`
	if err := os.WriteFile(file, []byte(rows), 0o600); err != nil {
		t.Fatal(err)
	}
	h.imi("", "import", "authorities", file)
	for _, u := range []struct{ name, authority string }{{"de0", "DE-AEK"}, {"de1", "DE-AEK"}, {"dev", "DE-AEK"}, {"pl0", "PL-NIL"}, {"pl1", "PL-NIL"}, {"plv", "PL-NIL"}} {
		email := u.name + "@chaos.example.eu"
		h.imi("correct-horse-battery-9\n", "admin", "create-user", "--email", email, "--name", "Writer "+u.name,
			"--authority", u.authority, "--role", "request_handler:pq", "--role", "allocator:pq")
		token := strings.TrimSpace(h.imi("", "admin", "create-token", "--email", email, "--name", "chaos"))
		h.users[u.name] = &user{name: u.name, email: email, token: token}
	}
	var err error
	if dbtest.IsPostgres() {
		h.db, err = sql.Open("pgx", h.loc)
	} else {
		h.db, err = sql.Open("sqlite", "file:"+h.loc+"?_pragma=busy_timeout(10000)")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.db.Close() })
	for _, u := range h.users {
		if err := h.db.QueryRow(`SELECT id FROM users WHERE email = $1`, u.email).Scan(&u.id); err != nil {
			t.Fatalf("user %s: %v", u.email, err)
		}
	}
	if err := h.db.QueryRow(`SELECT id FROM authorities WHERE external_id = 'PL-NIL'`).Scan(&h.responder); err != nil {
		t.Fatal(err)
	}
	h.logDurabilitySettings()
}

// logDurabilitySettings records what makes a commit durable on this
// database. A SIGKILL spares the operating system's cache, so this test
// cannot tell them apart; a power cut would.
func (h *harness) logDurabilitySettings() {
	var a, b string
	if dbtest.IsPostgres() {
		if err := h.db.QueryRow(`SELECT current_setting('fsync'), current_setting('synchronous_commit')`).Scan(&a, &b); err != nil {
			h.t.Fatal(err)
		}
		h.t.Logf("PostgreSQL: fsync=%s, synchronous_commit=%s", a, b)
		return
	}
	if err := h.db.QueryRow(`PRAGMA journal_mode`).Scan(&a); err != nil {
		h.t.Fatal(err)
	}
	h.t.Logf("SQLite: journal_mode=%s; the server opens it with synchronous=FULL (--sqlite-synchronous)", a)
}

func freeAddress(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// server is `imi serve` in its successive lives, on one address, and the
// gate the writers pass while it serves them.
type server struct {
	t      *testing.T
	h      *harness
	addr   string
	data   string
	logDir string
	extra  []string // more settings of imi serve
	cmd    *exec.Cmd
	exited chan struct{}
	lives  int

	mu     sync.Mutex
	began  time.Time     // when the current life began
	open   chan struct{} // closed while writers may write
	isOpen bool
}

func (s *server) url(path string) string { return "http://" + s.addr + path }

// start begins a life and returns once the server is ready.
func (s *server) start() {
	s.t.Helper()
	s.lives++
	logs, err := os.Create(filepath.Join(s.logDir, fmt.Sprintf("life-%02d.log", s.lives)))
	if err != nil {
		s.t.Fatal(err)
	}
	defer logs.Close()
	s.cmd = exec.Command(imiBinary, "serve", "--database", s.h.loc, "--data-dir", s.data, "--attachments-dir", s.h.files,
		"--listen", s.addr, "--log-level", "warn")
	s.cmd.Args = append(s.cmd.Args, s.extra...)
	s.cmd.Stdout, s.cmd.Stderr = logs, logs
	s.cmd.SysProcAttr = dieWithParent()
	s.mu.Lock()
	s.began = time.Now()
	s.mu.Unlock()
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	exited := make(chan struct{})
	s.exited = exited
	go func(cmd *exec.Cmd) { _ = cmd.Wait(); close(exited) }(s.cmd)
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			s.t.Fatalf("life %d: the server exited at start:\n%s", s.lives, s.log(s.lives))
		default:
		}
		res, err := http.Get(s.url("/readyz"))
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("life %d: not ready within a minute:\n%s", s.lives, s.log(s.lives))
}

// kill ends the current life with SIGKILL: no chance to finish anything.
func (s *server) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
	s.cmd = nil
}

// stop ends the last life gracefully.
func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(time.Minute):
		s.t.Errorf("no exit a minute after SIGTERM")
	}
	s.kill()
}

func (s *server) log(life int) string {
	b, _ := os.ReadFile(filepath.Join(s.logDir, fmt.Sprintf("life-%02d.log", life)))
	return string(b)
}

func (s *server) openGate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.isOpen {
		close(s.open)
		s.isOpen = true
	}
}

func (s *server) closeGate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.isOpen {
		s.open = make(chan struct{})
		s.isOpen = false
	}
}

// pass waits until writers may write, and returns when the serving life
// began; false if the test is over.
func (s *server) pass(ctx context.Context) (time.Time, bool) {
	s.mu.Lock()
	open := s.open
	s.mu.Unlock()
	select {
	case <-open:
	case <-ctx.Done():
		return time.Time{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.began, true
}

func (h *harness) stopWriters() { h.stopping.Store(true) }

// call makes one API request; Idempotency-Key when key is set.
func (h *harness) call(method, path, token string, body []byte, contentType, key string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(h.ctx, method, h.srv.url(path), bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	res, err := h.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

// requestJSON is what the writers read of an API answer.
type requestJSON struct {
	ID             string     `json:"id"`
	Reference      string     `json:"reference"`
	State          string     `json:"state"`
	SentAt         *time.Time `json:"sent_at"`
	AcceptedAt     *time.Time `json:"accepted_at"`
	AnsweredAt     *time.Time `json:"answered_at"`
	LastActivityAt time.Time  `json:"last_activity_at"`
	Attachments    []struct {
		ID        string    `json:"id"`
		SHA256    string    `json:"sha256"`
		Size      int64     `json:"size"`
		CreatedAt time.Time `json:"created_at"`
	} `json:"attachments"`
}

// stages orders the states the writers take a request through.
var stages = map[string]int{"draft": 0, "sent": 1, "accepted": 2, "answered": 3}

// ack is one write the server acknowledged with a 2xx.
type ack struct {
	op           string // create, attach, send, accept, answer
	request      string
	user         *user
	key          string
	attachment   string
	sum          string
	size         int64
	retried      bool // sent again after a kill cut the first attempt
	deduplicated bool // the answer was the write an earlier life had made
}

// exchange is a request as its writer was told it is.
type exchange struct {
	id, reference string
	stage         int
	files         map[string]ack // by attachment id
	dirty         bool           // acknowledged something not yet checked through the API
}

// ledger records every acknowledged write.
type ledger struct {
	mu        sync.Mutex
	acks      []ack
	exchanges map[string]*exchange
}

func newLedger() *ledger { return &ledger{exchanges: map[string]*exchange{}} }

func (l *ledger) record(a ack, r *requestJSON) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.acks = append(l.acks, a)
	x := l.exchanges[a.request]
	if x == nil {
		x = &exchange{id: r.ID, reference: r.Reference, files: map[string]ack{}}
		l.exchanges[a.request] = x
	}
	x.dirty = true
	switch a.op {
	case "attach":
		x.files[a.attachment] = a
	case "send", "accept", "answer":
		x.stage = max(x.stage, stages[map[string]string{"send": "sent", "accept": "accepted", "answer": "answered"}[a.op]])
	}
}

// snapshot returns the acknowledged writes and exchanges so far.
func (l *ledger) snapshot() ([]ack, []exchange) {
	l.mu.Lock()
	defer l.mu.Unlock()
	acks := append([]ack(nil), l.acks...)
	xs := make([]exchange, 0, len(l.exchanges))
	for _, x := range l.exchanges {
		c := *x
		c.files = map[string]ack{}
		for k, v := range x.files {
			c.files[k] = v
		}
		xs = append(xs, c)
	}
	sort.Slice(xs, func(i, j int) bool { return xs[i].id < xs[j].id })
	return acks, xs
}

type figures struct {
	total, requests, files, retried, deduplicated int
	bytes                                         int64
	byOp, dedupByOp                               string
}

func (l *ledger) figures() figures {
	acks, xs := l.snapshot()
	f := figures{total: len(acks), requests: len(xs)}
	ops, dedup := map[string]int{}, map[string]int{}
	for _, a := range acks {
		ops[a.op]++
		if a.retried {
			f.retried++
		}
		if a.deduplicated {
			f.deduplicated++
			dedup[a.op]++
		}
		if a.op == "attach" {
			f.files++
			f.bytes += a.size
		}
	}
	format := func(m map[string]int) string {
		var parts []string
		for _, op := range []string{"create", "attach", "send", "accept", "answer"} {
			parts = append(parts, fmt.Sprintf("%s %d", op, m[op]))
		}
		return strings.Join(parts, ", ")
	}
	f.byOp, f.dedupByOp = format(ops), format(dedup)
	return f
}

// writer is one client taking requests from creation to answer, over and
// over: the German side creates, attaches and sends; the Polish side
// accepts, attaches and answers.
type writer struct {
	n                    int
	h                    *harness
	requester, responder *user
	rng                  *rand.Rand
	seq                  int
}

func (w *writer) run() {
	for !w.h.stopping.Load() && w.h.ctx.Err() == nil {
		if !w.exchange() {
			return
		}
	}
}

// exchange takes one request as far as it gets; false if the writer
// must stop.
func (w *writer) exchange() bool {
	body, _ := json.Marshal(map[string]any{"area": "pq", "question_set": "authenticity", "questions": []string{"diploma_authentic"},
		"responder_id": w.h.responder, "subject": map[string]string{"name": fmt.Sprintf("Person %d-%d", w.n, w.seq), "profession": "doctor"},
		"message": "Please confirm the diploma."})
	r, ok := w.write("create", "/api/v1/requests", w.requester, body, "application/json")
	if !ok {
		return false
	}
	steps := []struct {
		op string
		by *user
	}{{"attach", w.requester}, {"send", w.requester}, {"accept", w.responder}, {"attach", w.responder}, {"answer", w.responder}}
	for _, s := range steps {
		if w.h.stopping.Load() {
			return false
		}
		switch s.op {
		case "attach":
			_, ok = w.write("attach", "/api/v1/requests/"+r.ID+"/attachments?name=evidence.txt", s.by, w.file(), "application/octet-stream")
		case "answer":
			_, ok = w.write("answer", "/api/v1/requests/"+r.ID+"/actions/answer", s.by, []byte(`{"answers":{"diploma_authentic":{"value":"yes","text":"Checked."}}}`), "application/json")
		default:
			_, ok = w.write(s.op, "/api/v1/requests/"+r.ID+"/actions/"+s.op, s.by, nil, "")
		}
		if !ok {
			return false
		}
	}
	return true
}

// file is a text file of random content and size, unique to the upload.
func (w *writer) file() []byte {
	n := 256 + w.rng.IntN(48<<10)
	raw := make([]byte, (n+1)/2)
	for i := range raw {
		raw[i] = byte(w.rng.Uint32())
	}
	text := []byte(hex.EncodeToString(raw))
	for i := 80; i < len(text); i += 81 {
		text[i] = '\n'
	}
	return text
}

// write sends one write until it is acknowledged: after a transport
// error or a 503 (the server was killed, or is not up again yet) it
// waits for the next life and sends the same write with the same key.
func (w *writer) write(op, path string, u *user, body []byte, contentType string) (*requestJSON, bool) {
	w.seq++
	key := fmt.Sprintf("w%02d-%06d-%s", w.n, w.seq, op)
	var sum string
	if op == "attach" {
		s := sha256.Sum256(body)
		sum = hex.EncodeToString(s[:])
	}
	var lastErr error
	for attempt := 0; ; attempt++ {
		began, ok := w.h.srv.pass(w.h.ctx)
		if !ok || w.h.ctx.Err() != nil {
			return nil, false
		}
		if attempt > 2000 {
			w.h.t.Errorf("writer %d: %s %s never acknowledged: %v", w.n, op, path, lastErr)
			return nil, false
		}
		code, res, err := w.h.call(http.MethodPost, path, u.token, body, contentType, key)
		var netErr net.Error
		if errors.As(err, &netErr) && netErr.Timeout() && w.h.ctx.Err() == nil {
			// A killed server resets its connections at once: no answer
			// for a minute means a live server stopped answering.
			w.h.t.Errorf("writer %d: %s %s: no answer within %s from a live server (life %d)", w.n, op, path, w.h.client.Timeout, w.h.srv.lives)
			return nil, false
		}
		if err != nil || code == http.StatusServiceUnavailable {
			lastErr = err
			if err == nil {
				lastErr = fmt.Errorf("%d %s", code, res)
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if code != http.StatusOK && code != http.StatusCreated {
			w.h.t.Errorf("writer %d: %s %s (attempt %d, key %s): %d %s", w.n, op, path, attempt+1, key, code, res)
			return nil, false
		}
		var r requestJSON
		if err := json.Unmarshal(res, &r); err != nil || r.ID == "" {
			w.h.t.Errorf("writer %d: %s: unreadable answer %q: %v", w.n, op, res, err)
			return nil, false
		}
		a := ack{op: op, request: r.ID, user: u, key: key, retried: attempt > 0}
		// When the write was done is in the answer: before this life
		// began means an earlier life did it, and this answer repeats it.
		var done *time.Time
		switch op {
		case "create":
			done = &r.LastActivityAt
		case "send":
			done = r.SentAt
		case "accept":
			done = r.AcceptedAt
		case "answer":
			done = r.AnsweredAt
		case "attach":
			for _, f := range r.Attachments {
				if f.SHA256 == sum {
					a.attachment, a.sum, a.size, done = f.ID, f.SHA256, f.Size, &f.CreatedAt
				}
			}
		}
		if done == nil {
			w.h.t.Errorf("writer %d: %s acknowledged, but the answer does not show it: %s", w.n, op, res)
			return nil, false
		}
		a.deduplicated = done.Before(began)
		if a.deduplicated && !a.retried {
			w.h.t.Errorf("writer %d: a first %s (key %s) answered with a write of an earlier life: %s", w.n, op, key, res)
		}
		w.h.ledger.record(a, &r)
		return &r, true
	}
}

// verifyThroughAPI reads, as a checking user of the requesting authority,
// every request acknowledged since the last check plus a sample of the
// others (all of them if all), and downloads their acknowledged files.
func (h *harness) verifyThroughAPI(all bool) {
	h.t.Helper()
	h.ledger.mu.Lock()
	var todo []exchange
	var others []*exchange
	for _, x := range h.ledger.exchanges {
		if all || x.dirty {
			c := *x
			c.files = map[string]ack{}
			for k, v := range x.files {
				c.files[k] = v
			}
			todo = append(todo, c)
			x.dirty = false
		} else {
			others = append(others, x)
		}
	}
	for _, i := range h.rng.Perm(len(others))[:min(32, len(others))] {
		todo = append(todo, *others[i])
	}
	h.ledger.mu.Unlock()

	checker := h.users["dev"]
	jobs := make(chan exchange)
	var wg sync.WaitGroup
	var problems atomic.Int64
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for x := range jobs {
				if err := h.verifyExchange(checker, x, all); err != nil && problems.Add(1) <= 20 {
					h.t.Errorf("through the API after start %d: %v", h.srv.lives, err)
				}
			}
		}()
	}
	for _, x := range todo {
		jobs <- x
	}
	close(jobs)
	wg.Wait()
	if n := problems.Load(); n > 20 {
		h.t.Errorf("… and %d more", n-20)
	}
}

func (h *harness) verifyExchange(u *user, x exchange, download bool) error {
	code, body, err := h.call(http.MethodGet, "/api/v1/requests/"+x.id, u.token, nil, "", "")
	h.apiReads.Add(1)
	if err != nil || code != http.StatusOK {
		return fmt.Errorf("request %s (%s): %d %v %s", x.id, x.reference, code, err, body)
	}
	var r requestJSON
	if err := json.Unmarshal(body, &r); err != nil {
		return err
	}
	if r.Reference != x.reference {
		return fmt.Errorf("request %s: reference %q, acknowledged as %q", x.id, r.Reference, x.reference)
	}
	if s, ok := stages[r.State]; !ok || s < x.stage {
		return fmt.Errorf("request %s: state %s, but a step to stage %d was acknowledged", x.reference, r.State, x.stage)
	}
	listed := map[string]string{}
	for _, f := range r.Attachments {
		listed[f.ID] = f.SHA256
	}
	for id, f := range x.files {
		if listed[id] != f.sum {
			return fmt.Errorf("request %s: acknowledged attachment %s (%s) listed as %q", x.reference, id, f.sum, listed[id])
		}
		if !download && rand.IntN(4) != 0 {
			continue // a quarter of the files after each start; all at the end
		}
		code, content, err := h.call(http.MethodGet, "/api/v1/requests/"+x.id+"/attachments/"+id, u.token, nil, "", "")
		h.apiDownloads.Add(1)
		if err != nil || code != http.StatusOK {
			return fmt.Errorf("request %s: attachment %s: %d %v", x.reference, id, code, err)
		}
		sum := sha256.Sum256(content)
		if hex.EncodeToString(sum[:]) != f.sum || int64(len(content)) != f.size {
			return fmt.Errorf("request %s: attachment %s: %d bytes with SHA-256 %x, acknowledged %d bytes with %s", x.reference, id, len(content), sum, f.size, f.sum)
		}
	}
	return nil
}

// referencePattern finds requests' references, such as PQ-2026-000042.
var referencePattern = regexp.MustCompile(`[A-Z]+-[0-9]{4}-[0-9]{6}`)

// row types of checkDatabase.
type dbRequest struct {
	id, reference, state         string
	sent, accepted, answered     bool
	questions, answeredQuestions int
}

type dbEvent struct {
	seq                    int
	action, from, to, user string
	data                   string
}

type dbKey struct {
	user, key, scope, result string
}

// problems collects what a check found, reporting the first few.
type problems struct {
	t     *testing.T
	where string
	n     int
}

func (p *problems) add(format string, args ...any) {
	p.n++
	if p.n <= 25 {
		p.t.Errorf("%s: %s", p.where, fmt.Sprintf(format, args...))
	}
}

func (p *problems) done() {
	if p.n > 25 {
		p.t.Errorf("%s: … and %d more", p.where, p.n-25)
	}
}

// checkDatabase reads the database and the files as the server left them
// and checks every acknowledged write and every exchange.
func (h *harness) checkDatabase(final bool) {
	h.t.Helper()
	p := &problems{t: h.t, where: fmt.Sprintf("database after life %d", h.srv.lives)}
	defer p.done()
	acks, _ := h.ledger.snapshot()
	// One snapshot for every query: a killed server's last COMMIT, sent
	// before the kill, can still complete in PostgreSQL after it, and
	// queries of separate snapshots would see half of it (its events
	// before, its idempotency key after).
	var opts *sql.TxOptions
	if dbtest.IsPostgres() {
		opts = &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	}
	snapshot, err := h.db.BeginTx(h.ctx, opts)
	if err != nil {
		h.t.Fatal(err)
	}
	defer func() { _ = snapshot.Rollback() }()
	q := func(query string, scan func(*sql.Rows) error) {
		rows, err := snapshot.QueryContext(h.ctx, query)
		if err != nil {
			h.t.Fatalf("%s: %v", query, err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				h.t.Fatalf("%s: %v", query, err)
			}
		}
		if err := rows.Err(); err != nil {
			h.t.Fatalf("%s: %v", query, err)
		}
	}
	requests := map[string]*dbRequest{}
	q(`SELECT id, reference, state, sent_at IS NOT NULL, accepted_at IS NOT NULL, answered_at IS NOT NULL FROM requests`, func(r *sql.Rows) error {
		var x dbRequest
		err := r.Scan(&x.id, &x.reference, &x.state, &x.sent, &x.accepted, &x.answered)
		requests[x.id] = &x
		return err
	})
	q(`SELECT request_id, COUNT(*), SUM(CASE WHEN answer <> '' THEN 1 ELSE 0 END) FROM request_questions GROUP BY request_id`, func(r *sql.Rows) error {
		var id string
		var n, answered int
		if err := r.Scan(&id, &n, &answered); err != nil {
			return err
		}
		if x := requests[id]; x != nil {
			x.questions, x.answeredQuestions = n, answered
		}
		return nil
	})
	events := map[string][]dbEvent{}
	q(`SELECT case_id, seq, action, from_state, to_state, COALESCE(user_id, ''), data FROM case_events ORDER BY case_id, seq`, func(r *sql.Rows) error {
		var id string
		var e dbEvent
		err := r.Scan(&id, &e.seq, &e.action, &e.from, &e.to, &e.user, &e.data)
		events[id] = append(events[id], e)
		return err
	})
	type file struct {
		request, sum, user string
		size               int64
	}
	files := map[string]file{}
	byRequest := map[string][]string{}
	q(`SELECT id, request_id, sha256, size, COALESCE(user_id, '') FROM request_attachments`, func(r *sql.Rows) error {
		var id string
		var f file
		err := r.Scan(&id, &f.request, &f.sum, &f.size, &f.user)
		files[id] = f
		byRequest[f.request] = append(byRequest[f.request], id)
		return err
	})
	keys := map[[2]string]dbKey{}
	q(`SELECT user_id, key, scope, result FROM idempotency_keys`, func(r *sql.Rows) error {
		var k dbKey
		err := r.Scan(&k.user, &k.key, &k.scope, &k.result)
		keys[[2]string{k.user, k.key}] = k
		return err
	})
	audited := map[[2]string]int{}
	q(`SELECT user_id, subject, COUNT(*) FROM audit_log WHERE event = 'personal_data.viewed' GROUP BY user_id, subject`, func(r *sql.Rows) error {
		var u, s string
		var n int
		err := r.Scan(&u, &s, &n)
		audited[[2]string{u, s}] = n
		return err
	})
	told := map[[2]string]bool{}
	q(`SELECT user_id, reference FROM notifications`, func(r *sql.Rows) error {
		var u, ref string
		err := r.Scan(&u, &ref)
		told[[2]string{u, ref}] = true
		return err
	})
	mailed := map[[2]string]bool{}
	q(`SELECT recipient, payload FROM outbox`, func(r *sql.Rows) error {
		var to, payload string
		err := r.Scan(&to, &payload)
		for _, ref := range referencePattern.FindAllString(payload, -1) {
			mailed[[2]string{to, ref}] = true
		}
		return err
	})

	// Every acknowledged write is there, with its key and its audit row.
	views := map[[2]string]int{}
	for _, a := range acks {
		x := requests[a.request]
		if x == nil {
			p.add("acknowledged %s of request %s (key %s): no such request", a.op, a.request, a.key)
			continue
		}
		scope := "create"
		if a.op != "create" {
			scope = a.request + "/" + a.op
		}
		if k, ok := keys[[2]string{a.user.id, a.key}]; !ok || k.scope != scope || k.result != a.request {
			p.add("acknowledged %s of %s: its key %s is recorded as %+v", a.op, x.reference, a.key, k)
		}
		switch a.op {
		case "send", "accept", "answer":
			found := false
			for _, e := range events[a.request] {
				found = found || e.action == a.op && e.user == a.user.id
			}
			if !found {
				p.add("acknowledged %s of %s by %s: no case event", a.op, x.reference, a.user.name)
			}
		case "attach":
			f, ok := files[a.attachment]
			if !ok || f.request != a.request || f.sum != a.sum || f.size != a.size || f.user != a.user.id {
				p.add("acknowledged attachment %s of %s: recorded as %+v", a.attachment, x.reference, f)
			}
		}
		// Each answer showed the request's personal data to its user: an
		// audit row was written before the answer left.
		views[[2]string{a.user.id, "request:" + x.reference}]++
	}
	for k, n := range views {
		if audited[k] < n {
			p.add("user %s was shown %s in %d acknowledged answers, but the audit log has %d views", k[0], k[1], n, audited[k])
		}
	}

	// No exchange is half-written; nothing was done twice.
	createKeys := map[string]int{}
	scoped := map[string]int{}
	for _, k := range keys {
		if k.scope == "create" {
			createKeys[k.result]++
			if requests[k.result] == nil {
				p.add("key %s claimed for a create, but request %s does not exist", k.key, k.result)
			}
		} else {
			scoped[k.scope]++
		}
	}
	pl := []*user{h.users["pl0"], h.users["pl1"], h.users["plv"]}
	for id, x := range requests {
		if createKeys[id] != 1 {
			p.add("request %s was made by %d create keys, not 1", x.reference, createKeys[id])
		}
		evs := events[id]
		if len(evs) == 0 || evs[0].action != "create" || evs[0].from != "" || evs[0].to != "draft" {
			p.add("request %s: history does not begin with its creation: %+v", x.reference, evs)
			continue
		}
		count := map[string]int{}
		attached := map[string]bool{}
		for i, e := range evs {
			count[e.action]++
			if e.seq != i+1 {
				p.add("request %s: event %d has number %d", x.reference, i+1, e.seq)
			}
			if i > 0 && e.from != evs[i-1].to {
				p.add("request %s: event %d (%s) starts from %s, the one before ended in %s", x.reference, e.seq, e.action, e.from, evs[i-1].to)
			}
			if e.action == "attach" {
				var d map[string]string
				_ = json.Unmarshal([]byte(e.data), &d)
				attached[d["attachment"]] = true
				if f, ok := files[d["attachment"]]; !ok || f.request != id {
					p.add("request %s: event %d attached %q, which has no attachment row", x.reference, e.seq, d["attachment"])
				}
			}
		}
		if last := evs[len(evs)-1].to; last != x.state {
			p.add("request %s: state %s, but its history ends in %s", x.reference, x.state, last)
		}
		for _, op := range []string{"send", "accept", "answer"} {
			if count[op] > 1 {
				p.add("request %s: %s done %d times", x.reference, op, count[op])
			}
			if scoped[id+"/"+op] != count[op] {
				p.add("request %s: %d %s events but %d keys for it", x.reference, count[op], op, scoped[id+"/"+op])
			}
		}
		if scoped[id+"/attach"] != count["attach"] {
			p.add("request %s: %d attach events but %d keys for it", x.reference, count["attach"], scoped[id+"/attach"])
		}
		if x.sent != (count["send"] == 1) || x.accepted != (count["accept"] == 1) || x.answered != (count["answer"] == 1) {
			p.add("request %s: stamps sent/accepted/answered %v/%v/%v, events %v", x.reference, x.sent, x.accepted, x.answered, count)
		}
		if x.state == "answered" && (x.questions == 0 || x.answeredQuestions != x.questions) {
			p.add("request %s: answered with %d of %d questions answered", x.reference, x.answeredQuestions, x.questions)
		}
		if count["send"] == 1 {
			// The notice and the e-mail commit with the step.
			for _, u := range pl {
				if !told[[2]string{u.id, x.reference}] || !mailed[[2]string{u.email, x.reference}] {
					p.add("request %s was sent, but responder user %s has notice %v, e-mail %v", x.reference, u.name,
						told[[2]string{u.id, x.reference}], mailed[[2]string{u.email, x.reference}])
				}
			}
		}
		contents := map[string]bool{}
		for _, fid := range byRequest[id] {
			f := files[fid]
			if !attached[fid] {
				p.add("request %s: attachment %s has no attach event", x.reference, fid)
			}
			// Each upload has bytes of its own: the same bytes twice
			// are one upload attached twice.
			if contents[f.sum] {
				p.add("request %s: file %s attached twice", x.reference, f.sum)
			}
			contents[f.sum] = true
		}
	}

	// Every recorded file is stored whole.
	referenced := map[string]bool{}
	for id, f := range files {
		referenced[f.sum] = true
		path := filepath.Join(h.files, f.sum[:2], f.sum)
		info, err := os.Stat(path)
		if err != nil || info.Size() != f.size {
			p.add("attachment %s: file %s: %v (size %d, recorded %d)", id, f.sum, err, sizeOf(info), f.size)
			continue
		}
		if final || !h.hashed[f.sum] {
			content, err := os.ReadFile(path)
			sum := sha256.Sum256(content)
			if err != nil || hex.EncodeToString(sum[:]) != f.sum {
				p.add("attachment %s: file %s holds other bytes (%x, %v)", id, f.sum, sum, err)
			}
			h.hashed[f.sum] = true
		}
	}
	orphans, temps := h.leftovers()
	if final && orphans+temps > 0 {
		p.add("%d unreferenced files and %d partial uploads were not swept", orphans, temps)
	}

	out := h.imi("", "audit", "verify")
	if !strings.Contains(out, "audit log intact") {
		p.add("audit verify: %s", out)
	}
}

func sizeOf(info os.FileInfo) int64 {
	if info == nil {
		return -1
	}
	return info.Size()
}

// leftovers counts what interrupted uploads left in the store: contents
// no attachment refers to, and partial uploads.
func (h *harness) leftovers() (orphans, temps int) {
	referenced := map[string]bool{}
	rows, err := h.db.QueryContext(h.ctx, `SELECT DISTINCT sha256 FROM request_attachments`)
	if err != nil {
		h.t.Fatal(err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			h.t.Fatal(err)
		}
		referenced[s] = true
	}
	rows.Close()
	err = filepath.WalkDir(h.files, func(path string, e os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		switch {
		case e.IsDir():
		case len(e.Name()) == 64:
			if !referenced[e.Name()] {
				orphans++
			}
		default:
			temps++
		}
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return orphans, temps
}

// ageFiles makes every stored file look older, so that the sweep at the
// next start judges them: it must remove what no attachment refers to
// and nothing else.
func (h *harness) ageFiles(by time.Duration) {
	old := time.Now().Add(-by)
	err := filepath.WalkDir(h.files, func(path string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		return os.Chtimes(path, old, old)
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		h.t.Fatal(err)
	}
}

// awaitSweep waits (a minute at most) for the sweep that runs when the
// server starts to remove what interrupted uploads left.
func (h *harness) awaitSweep() {
	h.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		orphans, temps := h.leftovers()
		if orphans+temps == 0 {
			return
		}
		if time.Now().After(deadline) {
			h.t.Errorf("a minute after start, %d unreferenced files and %d partial uploads are still there", orphans, temps)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkLogs fails on a panic or an unexpected error in any life's log.
func (h *harness) checkLogs() {
	for life := 1; life <= h.srv.lives; life++ {
		for _, line := range strings.Split(h.srv.log(life), "\n") {
			if strings.Contains(line, "panic") || strings.Contains(line, "level=ERROR") || strings.Contains(line, "housekeeping failed") {
				h.t.Errorf("life %d logged: %s", life, line)
			}
		}
	}
}
