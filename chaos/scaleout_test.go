package chaos_test

import (
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openimi/openimi/internal/db/dbtest"
	"github.com/openimi/openimi/internal/testkit"
)

// TestTwoServersShareOnePostgreSQL runs two `imi serve` processes on one
// PostgreSQL database (and one attachments folder), as behind a load
// balancer, next to one process on a second database generated from the
// same seed:
//
//   - a session opened on one process is valid on the other, a form
//     fetched from one is accepted by the other, and signing out on one
//     ends the session on both;
//   - the scheduled work (reminders, follow-up notices) and the outbox
//     are processed exactly once: the two processes together leave the
//     same reminders and send the same e-mails, each once, as the single
//     process does on its copy of the data.
func TestTwoServersShareOnePostgreSQL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three servers")
	}
	if !dbtest.IsPostgres() {
		t.Skip("several servers share a PostgreSQL database (IMI_TEST_DATABASE)")
	}
	dir := t.TempDir()
	single, shared := dbtest.Location(t), dbtest.Location(t)
	for _, loc := range []string{single, shared} {
		// The generated history ends three weeks ago: the servers'
		// housekeeping has reminders and notices to catch up on.
		run(t, "generate", "--database", loc, "--data-dir", dir, "--log-level", "warn", "--authorities", "90", "--users", "80",
			"--requests", "600", "--alerts", "6", "--registers", "3", "--accounts", "2", "--seed", "11",
			"--until", time.Now().UTC().AddDate(0, 0, -21).Format("2006-01-02"))
	}
	mailOne, mailTwo := testkit.StartMailServer(t), testkit.StartMailServer(t)
	start := func(name, loc string, mail *testkit.MailServer, files string) *server {
		logs := filepath.Join(dir, "logs-"+name)
		if err := os.MkdirAll(logs, 0o750); err != nil {
			t.Fatal(err)
		}
		s := &server{t: t, h: &harness{loc: loc, files: files}, addr: freeAddress(t), data: filepath.Join(dir, name), logDir: logs, open: make(chan struct{}),
			extra: []string{"--smtp-host", "127.0.0.1", "--smtp-port", strconv.Itoa(mail.Port), "--smtp-tls", "none"}}
		t.Cleanup(s.kill)
		return s
	}
	alone := start("alone", single, mailOne, filepath.Join(dir, "files-alone"))
	a := start("a", shared, mailTwo, filepath.Join(dir, "files-shared"))
	b := start("b", shared, mailTwo, filepath.Join(dir, "files-shared"))
	// Side by side, so that both copies' housekeeping sees the same hour.
	done := make(chan struct{}, 3)
	for _, s := range []*server{alone, a, b} {
		go func() { defer func() { done <- struct{}{} }(); s.start() }()
	}
	for range 3 {
		<-done
	}
	if t.Failed() {
		return
	}

	t.Run("a session opened on one server is valid on the other", func(t *testing.T) {
		const email = "gen-handler-00001@gen.openimi.eu"
		jar, _ := cookiejar.New(nil) // cookies are per host, not port: both servers get them
		c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		form := func(s *server, path string) string { // the CSRF token of a page
			t.Helper()
			_, body := get(t, c, s, path)
			m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body)
			if m == nil {
				t.Fatalf("no form on %s", path)
			}
			return m[1]
		}
		post := func(s *server, path string, v url.Values) (int, string) {
			t.Helper()
			res, err := c.PostForm(s.url(path), v)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			_, _ = io.Copy(io.Discard, res.Body)
			return res.StatusCode, res.Header.Get("Location")
		}
		// The password on a, the code on b: the half-open session is shared too.
		if code, loc := post(a, "/sign-in", url.Values{"csrf": {form(a, "/sign-in")}, "email": {email}, "password": {"gen-openimi-load-2026"}}); loc != "/sign-in/code" {
			t.Fatalf("password on a: %d → %q", code, loc)
		}
		totp := strings.TrimSpace(run(t, "generate", "code", "--database", shared, "--data-dir", dir, email))
		if code, loc := post(b, "/sign-in/code", url.Values{"csrf": {form(b, "/sign-in/code")}, "code": {totp}}); loc != "/" {
			t.Fatalf("code on b: %d → %q", code, loc)
		}
		for _, s := range []*server{a, b} {
			if code, body := get(t, c, s, "/requests"); code != http.StatusOK || !strings.Contains(body, `action="/sign-out"`) {
				t.Errorf("the inbox on %s: %d, signed in %v", s.addr, code, strings.Contains(body, `action="/sign-out"`))
			}
		}
		// A form fetched from a, sent to b: signing out on b ends the
		// session on a as well.
		if code, loc := post(b, "/sign-out", url.Values{"csrf": {form(a, "/requests")}}); code != http.StatusSeeOther {
			t.Fatalf("sign-out on b with a's form: %d → %q", code, loc)
		}
		if code, _ := get(t, c, a, "/requests"); code != http.StatusSeeOther {
			t.Errorf("after signing out on b, the inbox on a answers %d", code)
		}
	})

	t.Run("scheduled work and e-mails are done once, as by one server", func(t *testing.T) {
		one, two := openDB(t, single), openDB(t, shared)
		settle(t, one, mailOne)
		settle(t, two, mailTwo)
		remindersOne, remindersTwo := rows(t, one, `SELECT request_id || ' ' || kind FROM request_reminders ORDER BY 1`), rows(t, two, `SELECT request_id || ' ' || kind FROM request_reminders ORDER BY 1`)
		generated := rows(t, one, `SELECT request_id || ' ' || kind FROM request_reminders WHERE sent_at <= $1 ORDER BY 1`, time.Now().UTC().AddDate(0, 0, -21))
		if len(remindersOne) <= len(generated) {
			t.Fatalf("the housekeeping caught up on nothing (%d reminders, %d generated): the test proves nothing", len(remindersOne), len(generated))
		}
		if !slices.Equal(remindersOne, remindersTwo) {
			t.Errorf("reminders: one server left %d, two servers %d; first difference: %s", len(remindersOne), len(remindersTwo), firstDifference(remindersOne, remindersTwo))
		}
		for _, q := range []string{`SELECT recipient || ' ' || kind FROM outbox ORDER BY 1`, `SELECT user_id || ' ' || kind || ' ' || reference || ' ' || link FROM notifications ORDER BY 1`} {
			x, y := rows(t, one, q), rows(t, two, q)
			if !slices.Equal(x, y) {
				t.Errorf("%s: one server %d rows, two servers %d; first difference: %s", q, len(x), len(y), firstDifference(x, y))
			}
		}
		sent := func(m *testkit.MailServer) []string {
			var out []string
			for _, msg := range m.Messages() {
				out = append(out, strings.Join(msg.To, ",")+" "+msg.Subject)
			}
			slices.Sort(out)
			return out
		}
		x, y := sent(mailOne), sent(mailTwo)
		if len(x) == 0 {
			t.Fatal("no e-mail was sent: the test proves nothing")
		}
		if !slices.Equal(x, y) {
			t.Errorf("e-mails: one server sent %d, two servers %d; first difference: %s", len(x), len(y), firstDifference(x, y))
		}
		var twice int
		if err := two.QueryRow(`SELECT COUNT(*) FROM outbox WHERE attempts > 1`).Scan(&twice); err != nil {
			t.Fatal(err)
		}
		t.Logf("%d reminders and notices caught up (%d generated before), %d e-mails sent, each once (%d rows needed a second attempt); the two servers agree with the one",
			len(remindersOne)-len(generated), len(generated), len(x), twice)
	})
}

// run runs an imi command and returns its standard output.
func run(t *testing.T, args ...string) string {
	t.Helper()
	return runWith(t, "", args...)
}

func get(t *testing.T, c *http.Client, s *server, path string) (int, string) {
	t.Helper()
	res, err := c.Get(s.url(path))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b)
}

func openDB(t *testing.T, loc string) *sql.DB {
	t.Helper()
	d, err := sql.Open("pgx", loc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func rows(t *testing.T, d *sql.DB, q string, args ...any) []string {
	t.Helper()
	r, err := d.Query(q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []string
	for r.Next() {
		var s string
		if err := r.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// settle waits until a database's housekeeping has run and its outbox is
// empty, with every e-mail received: the counts stop moving.
func settle(t *testing.T, d *sql.DB, mail *testkit.MailServer) {
	t.Helper()
	var last string
	steady := 0
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		var reminders, pending, sent int
		if err := d.QueryRow(`SELECT (SELECT COUNT(*) FROM request_reminders), (SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL),
			(SELECT COUNT(*) FROM outbox WHERE sent_at IS NOT NULL)`).Scan(&reminders, &pending, &sent); err != nil {
			t.Fatal(err)
		}
		now := fmt.Sprint(reminders, pending, sent, len(mail.Messages()))
		if pending == 0 && sent == len(mail.Messages()) && now == last {
			if steady++; steady >= 8 { // two seconds without change
				return
			}
		} else {
			steady = 0
		}
		last = now
	}
	t.Fatalf("the housekeeping and the outbox did not settle within two minutes (last: %s)", last)
}

func firstDifference(x, y []string) string {
	for i := range min(len(x), len(y)) {
		if x[i] != y[i] {
			return fmt.Sprintf("%q ≠ %q", x[i], y[i])
		}
	}
	if len(x) > len(y) {
		return fmt.Sprintf("%q only with one server", x[len(y)])
	}
	if len(y) > len(x) {
		return fmt.Sprintf("%q only with two servers", y[len(x)])
	}
	return "none"
}
