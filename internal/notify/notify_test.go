package notify_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/db/dbtest"
	"github.com/openimi/openimi/internal/i18n"
	"github.com/openimi/openimi/internal/notify"
	"github.com/openimi/openimi/internal/testkit"
)

// --- fixtures ---------------------------------------------------------------

const enCatalog = `
email_password_reset_subject = "Reset your password"
email_password_reset_body = "Hello {{.Name}},\n\nto choose a new password, open {{.Link}}\nThe link works for {{.Minutes}} minutes."
email_password_changed_subject = "Your password was changed"
email_password_changed_body = "Hello {{.Name}},\n\nyour password was just changed."
email_account_created_subject = "Your account is ready"
email_account_created_body = "Hello {{.Name}},\n\nset your password at {{.Link}}"
email_footer = "This message was sent automatically; please do not reply."
`

const plCatalog = `
email_password_reset_subject = "Ustaw nowe hasło"
email_password_reset_body = "Dzień dobry {{.Name}},\n\naby ustawić nowe hasło, otwórz {{.Link}}\nLink wygasa za {{.Minutes}} min."
email_password_changed_subject = "Twoje hasło zostało zmienione"
email_password_changed_body = "Dzień dobry {{.Name}},\n\nTwoje hasło zostało właśnie zmienione."
email_account_created_subject = "Twoje konto jest gotowe"
email_account_created_body = "Dzień dobry {{.Name}},\n\nustaw hasło pod adresem {{.Link}}"
email_footer = "Ta wiadomość została wysłana automatycznie; prosimy na nią nie odpowiadać."
`

// catalog has real English and Polish texts; the other languages copy
// English.
func catalog(t *testing.T) *i18n.Catalog {
	t.Helper()
	fsys := fstest.MapFS{}
	for _, l := range i18n.Languages {
		text := enCatalog
		if l.Code == "pl" {
			text = plCatalog
		}
		fsys[l.Code+".toml"] = &fstest.MapFile{Data: []byte(text)}
	}
	cat, err := i18n.Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

// received is one message the SMTP server accepted.
type received struct {
	from, to string
	header   mail.Header
	subject  string
	body     string
}

// mailServer is a real SMTP server (testkit's) whose answers the test
// controls.
type mailServer struct {
	port int
	srv  *testkit.MailServer

	mu           sync.Mutex
	rcptAttempts int
	tempFailures int  // answer 451 to this many RCPT commands
	rejectAll    bool // answer 550 to every RCPT
	hold         chan struct{}
	holding      chan struct{} // signalled when a DATA is held
}

func startMailServer(t *testing.T) *mailServer {
	t.Helper()
	m := &mailServer{holding: make(chan struct{}, 1)}
	m.srv = testkit.StartMailServerAnswering(t, testkit.MailAnswers{Rcpt: m.rcpt, Data: m.data})
	m.port = m.srv.Port
	return m
}

// configure changes the server's answers under its lock.
func (m *mailServer) configure(change func(*mailServer)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	change(m)
}

func (m *mailServer) messages() []received {
	var out []received
	for _, g := range m.srv.Messages() {
		out = append(out, received{from: g.From, to: strings.Join(g.To, ", "), header: g.Header, subject: g.Subject, body: g.Body})
	}
	return out
}

func (m *mailServer) attempts() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rcptAttempts
}

// rcpt answers a RCPT command as configured.
func (m *mailServer) rcpt(string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rcptAttempts++
	switch {
	case m.rejectAll:
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}
	case m.tempFailures > 0:
		m.tempFailures--
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	return nil
}

// data holds a message's DATA while the test has set hold.
func (m *mailServer) data() {
	m.mu.Lock()
	hold := m.hold
	m.mu.Unlock()
	if hold != nil {
		m.holding <- struct{}{}
		<-hold
	}
}

// fixture is one test's database, mail server, clock and catalog.
type fixture struct {
	t     *testing.T
	ctx   context.Context
	db    *db.DB
	cat   *i18n.Catalog
	mail  *mailServer
	clock *testkit.Clock // the workers' time: tests move it past backoffs and leases
}

func setup(t *testing.T) *fixture {
	t.Helper()
	t.Parallel()
	return &fixture{t: t, ctx: context.Background(), db: dbtest.Open(t), cat: catalog(t), mail: startMailServer(t), clock: testkit.NewClock(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))}
}

// worker returns a fresh worker, as a newly started server would have.
func (f *fixture) worker() *notify.Worker {
	return &notify.Worker{
		DB:      f.db,
		Catalog: f.cat,
		Sender: notify.NewSMTPSender(notify.SMTPConfig{
			Host: "127.0.0.1", Port: f.mail.port, TLS: "none", From: "config@openimi.example",
		}),
		From:     "noreply@openimi.example",
		Interval: time.Millisecond,
		Now:      f.clock.Now,
	}
}

func resetMessage(to, lang string) notify.Message {
	return notify.Message{
		Kind: notify.KindPasswordReset, To: to, Language: lang,
		Data: map[string]string{"Name": "Zofia", "Link": "https://imi.example/reset/abc123", "Minutes": "30"},
	}
}

// enqueue commits m in its own transaction.
func (f *fixture) enqueue(m notify.Message) {
	f.t.Helper()
	err := f.db.InTx(f.ctx, func(tx db.Querier) error { return notify.Enqueue(f.ctx, tx, f.clock.Now(), m) })
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) deliver(w *notify.Worker, want int) {
	f.t.Helper()
	n, err := w.DeliverDue(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	if n != want {
		f.t.Fatalf("DeliverDue sent %d, want %d", n, want)
	}
}

func (f *fixture) pending(want int) {
	f.t.Helper()
	n, err := notify.Pending(f.ctx, f.db.Read())
	if err != nil {
		f.t.Fatal(err)
	}
	if n != want {
		f.t.Fatalf("Pending = %d, want %d", n, want)
	}
}

func (f *fixture) count() int {
	f.t.Helper()
	var n int
	if err := f.db.Read().QueryRowContext(f.ctx, `SELECT COUNT(*) FROM outbox`).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

// row is an outbox row's delivery state.
type row struct {
	id        string
	attempts  int
	sent      bool
	failed    bool
	locked    bool
	lastError string
}

func (f *fixture) rows() []row {
	f.t.Helper()
	rs, err := f.db.Read().QueryContext(f.ctx, `SELECT id, attempts, sent_at, failed_at, locked_until, last_error FROM outbox ORDER BY id`)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rs.Close()
	var out []row
	for rs.Next() {
		var r row
		var sent, failed, locked sql.NullTime
		if err := rs.Scan(&r.id, &r.attempts, &sent, &failed, &locked, &r.lastError); err != nil {
			f.t.Fatal(err)
		}
		r.sent, r.failed, r.locked = sent.Valid, failed.Valid, locked.Valid
		out = append(out, r)
	}
	if err := rs.Err(); err != nil {
		f.t.Fatal(err)
	}
	return out
}

func (f *fixture) onlyRow() row {
	f.t.Helper()
	rs := f.rows()
	if len(rs) != 1 {
		f.t.Fatalf("%d outbox rows, want 1", len(rs))
	}
	return rs[0]
}

// --- behaviours -------------------------------------------------------------

func TestACommittedMessageIsDeliveredOnceInTheRecipientsLanguage(t *testing.T) {
	cases := []struct {
		name, lang, wantLang, wantSubject, wantBody, wantFooter string
	}{
		{"Polish", "pl", "pl", "Ustaw nowe hasło", "Dzień dobry Zofia,\n\naby ustawić nowe hasło, otwórz https://imi.example/reset/abc123\nLink wygasa za 30 min.",
			"Ta wiadomość została wysłana automatycznie"},
		{"English", "en", "en", "Reset your password", "Hello Zofia,\n\nto choose a new password, open https://imi.example/reset/abc123\nThe link works for 30 minutes.",
			"This message was sent automatically"},
		{"unknown language falls back to English", "xx", "en", "Reset your password", "Hello Zofia,", "This message was sent automatically"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := setup(t)
			f.enqueue(resetMessage("zofia@example.eu", c.lang))
			id := f.onlyRow().id
			w := f.worker()
			f.deliver(w, 1)
			f.clock.Add(24 * time.Hour)
			f.deliver(w, 0)
			f.deliver(f.worker(), 0)

			got := f.mail.messages()
			if len(got) != 1 {
				t.Fatalf("%d messages delivered, want 1", len(got))
			}
			m := got[0]
			checks := []struct{ what, got, want string }{
				{"envelope recipient", m.to, "zofia@example.eu"},
				{"envelope sender", m.from, "noreply@openimi.example"},
				{"Subject", m.subject, c.wantSubject},
				{"Content-Language", m.header.Get("Content-Language"), c.wantLang},
				{"Message-ID", m.header.Get("Message-ID"), "<" + id + "@openimi>"},
				{"Auto-Submitted", m.header.Get("Auto-Submitted"), "auto-generated"},
				{"Content-Type", m.header.Get("Content-Type"), "text/plain; charset=UTF-8"},
			}
			for _, ch := range checks {
				if ch.got != ch.want {
					t.Errorf("%s = %q, want %q", ch.what, ch.got, ch.want)
				}
			}
			body := strings.ReplaceAll(m.body, "\r\n", "\n")
			if !strings.HasPrefix(body, c.wantBody) || !strings.Contains(body, "\n\n"+c.wantFooter) {
				t.Errorf("body = %q, want it to start with %q and end with the footer", body, c.wantBody)
			}
			if strings.Contains(body, "no value") {
				t.Errorf("a placeholder was left empty: %q", body)
			}
			if r := f.onlyRow(); !r.sent || r.failed || r.locked || r.attempts != 1 {
				t.Errorf("row after delivery = %+v", r)
			}
			f.pending(0)
		})
	}
}

func TestAMessageWhoseTransactionRolledBackIsNeverSent(t *testing.T) {
	f := setup(t)
	err := f.db.InTx(f.ctx, func(tx db.Querier) error {
		if err := notify.Enqueue(f.ctx, tx, f.clock.Now(), resetMessage("zofia@example.eu", "pl")); err != nil {
			return err
		}
		return errors.New("the password change failed")
	})
	if err == nil {
		t.Fatal("transaction did not fail")
	}
	f.deliver(f.worker(), 0)
	f.pending(0)
	if n := f.count(); n != 0 {
		t.Fatalf("%d outbox rows after rollback", n)
	}
	if n := f.mail.attempts(); n != 0 {
		t.Fatalf("%d delivery attempts", n)
	}
}

func TestATemporaryFailureIsRetriedAfterTheBackoffAndDeliveredOnce(t *testing.T) {
	f := setup(t)
	f.mail.configure(func(m *mailServer) { m.tempFailures = 1 })
	f.enqueue(resetMessage("zofia@example.eu", "en"))
	w := f.worker()

	f.deliver(w, 0)
	r := f.onlyRow()
	if r.sent || r.failed || r.locked || r.attempts != 1 || !strings.Contains(r.lastError, "451") {
		t.Fatalf("row after a 451 = %+v", r)
	}
	f.pending(1)

	f.deliver(w, 0) // still backing off
	if n := f.mail.attempts(); n != 1 {
		t.Fatalf("retried during the backoff: %d attempts", n)
	}

	f.clock.Add(34 * time.Second) // 30 s backoff plus at most 10% jitter
	f.deliver(w, 1)
	f.clock.Add(time.Hour)
	f.deliver(w, 0)
	if got := f.mail.messages(); len(got) != 1 {
		t.Fatalf("%d messages delivered, want 1", len(got))
	}
	if r := f.onlyRow(); !r.sent || r.attempts != 2 || r.lastError != "" {
		t.Fatalf("row after the retry = %+v", r)
	}
}

func TestAPermanentRejectionFailsTheMessageAtOnce(t *testing.T) {
	f := setup(t)
	f.mail.configure(func(m *mailServer) { m.rejectAll = true })
	f.enqueue(resetMessage("nobody@example.eu", "en"))
	w := f.worker()

	f.deliver(w, 0)
	r := f.onlyRow()
	if !r.failed || r.sent || r.locked || r.attempts != 1 || !strings.Contains(r.lastError, "550") {
		t.Fatalf("row after a 550 = %+v", r)
	}
	f.pending(0)
	f.clock.Add(24 * time.Hour)
	f.deliver(f.worker(), 0)
	if n := f.mail.attempts(); n != 1 {
		t.Fatalf("%d attempts, want 1", n)
	}
}

func TestTheWorkerGivesUpAfterTwelveTemporaryFailures(t *testing.T) {
	f := setup(t)
	f.mail.configure(func(m *mailServer) { m.tempFailures = 1000 })
	f.enqueue(resetMessage("zofia@example.eu", "en"))
	w := f.worker()
	for range 12 {
		f.deliver(w, 0)
		f.clock.Add(2 * time.Hour)
	}
	if r := f.onlyRow(); !r.failed || r.attempts != 12 {
		t.Fatalf("row after 12 failures = %+v", r)
	}
	f.pending(0)
	f.deliver(w, 0)
	if n := f.mail.attempts(); n != 12 {
		t.Fatalf("%d attempts, want 12", n)
	}
}

func TestBackoffDoublesFromThirtySecondsUpToAnHour(t *testing.T) {
	cases := []struct {
		attempts int
		base     time.Duration
	}{
		{1, 30 * time.Second},
		{2, time.Minute},
		{3, 2 * time.Minute},
		{7, 32 * time.Minute},
		{8, time.Hour},
		{11, time.Hour},
		{100, time.Hour},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.attempts), func(t *testing.T) {
			for range 50 {
				d := notify.Backoff(c.attempts)
				if d < c.base || d > c.base+c.base/10 {
					t.Fatalf("Backoff(%d) = %v, want %v plus at most 10%%", c.attempts, d, c.base)
				}
			}
		})
	}
}

func TestAMessageClaimedByACrashedWorkerIsSentOnceAfterTheLeaseExpires(t *testing.T) {
	f := setup(t)
	f.enqueue(resetMessage("zofia@example.eu", "pl"))
	id := f.onlyRow().id

	crashed := f.worker()
	if n, err := crashed.ClaimDue(f.ctx); err != nil || n != 1 {
		t.Fatalf("claimed %d, err %v", n, err)
	}

	restarted := f.worker()
	f.deliver(restarted, 0) // the lease still holds
	f.clock.Add(time.Minute)
	f.deliver(restarted, 0)
	f.clock.Add(time.Minute + time.Second) // past the 2-minute lease
	f.deliver(restarted, 1)

	got := f.mail.messages()
	if len(got) != 1 {
		t.Fatalf("%d messages delivered, want 1", len(got))
	}
	if mid := got[0].header.Get("Message-ID"); mid != "<"+id+"@openimi>" {
		t.Fatalf("Message-ID = %q, want one derived from the outbox row", mid)
	}

	// A sent message stays sent across restarts.
	f.clock.Add(24 * time.Hour)
	f.deliver(f.worker(), 0)
	if n := f.mail.attempts(); n != 1 {
		t.Fatalf("%d attempts, want 1", n)
	}
}

func TestWorkersSharingADatabaseSendEachMessageOnce(t *testing.T) {
	f := setup(t)
	const messages, workers = 45, 4
	for i := range messages {
		f.enqueue(resetMessage(fmt.Sprintf("user%d@example.eu", i), "en"))
	}
	var wg sync.WaitGroup
	for range workers {
		w := f.worker()
		wg.Go(func() {
			for range 3 {
				if _, err := w.DeliverDue(f.ctx); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	f.deliver(f.worker(), 0) // nothing was left behind
	seen := map[string]int{}
	for _, m := range f.mail.messages() {
		seen[m.header.Get("Message-ID")]++
	}
	if len(seen) != messages {
		t.Errorf("%d distinct messages delivered, want %d", len(seen), messages)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s delivered %d times", id, n)
		}
	}
	f.pending(0)
}

func TestRunFinishesTheSendInHandWhenCancelled(t *testing.T) {
	f := setup(t)
	release := make(chan struct{})
	f.mail.configure(func(m *mailServer) { m.hold = release })
	f.enqueue(resetMessage("first@example.eu", "en"))
	f.enqueue(resetMessage("second@example.eu", "en"))

	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f.worker().Run(ctx) }()

	select {
	case <-f.mail.holding:
	case <-time.After(5 * time.Second):
		t.Fatal("no send started")
	}
	cancel()
	select {
	case err := <-done:
		t.Fatalf("Run returned (%v) while a send was in progress", err)
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after the send finished")
	}

	if got := f.mail.messages(); len(got) != 1 {
		t.Fatalf("%d messages delivered, want 1", len(got))
	}
	rs := f.rows()
	if len(rs) != 2 {
		t.Fatalf("%d rows", len(rs))
	}
	if !rs[0].sent {
		t.Errorf("the message in hand was not recorded as sent: %+v", rs[0])
	}
	if rs[1].sent || rs[1].locked || rs[1].attempts != 0 {
		t.Errorf("the message not yet started was not returned to the queue: %+v", rs[1])
	}
	f.pending(1)
}

func TestEnqueueRefusesAMessageThatCannotBeDelivered(t *testing.T) {
	valid := resetMessage("zofia@example.eu", "pl")
	with := func(change func(*notify.Message)) notify.Message {
		m := valid
		m.Data = map[string]string{}
		for k, v := range valid.Data {
			m.Data[k] = v
		}
		change(&m)
		return m
	}
	cases := []struct {
		name string
		m    notify.Message
	}{
		{"unknown kind", with(func(m *notify.Message) { m.Kind = "newsletter" })},
		{"empty kind", with(func(m *notify.Message) { m.Kind = "" })},
		{"empty address", with(func(m *notify.Message) { m.To = "" })},
		{"not an address", with(func(m *notify.Message) { m.To = "zofia" })},
		{"address with a display name", with(func(m *notify.Message) { m.To = "Zofia <zofia@example.eu>" })},
		{"header injection", with(func(m *notify.Message) { m.To = "zofia@example.eu\r\nBcc: eve@example.eu" })},
		{"two addresses", with(func(m *notify.Message) { m.To = "zofia@example.eu, eve@example.eu" })},
		{"missing placeholder", with(func(m *notify.Message) { delete(m.Data, "Link") })},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := setup(t)
			var enqueueErr error
			// The caller's transaction commits regardless: a refused
			// message must not have written anything.
			err := f.db.InTx(f.ctx, func(tx db.Querier) error {
				enqueueErr = notify.Enqueue(f.ctx, tx, f.clock.Now(), c.m)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if enqueueErr == nil {
				t.Fatal("Enqueue accepted the message")
			}
			if n := f.count(); n != 0 {
				t.Fatalf("%d outbox rows written", n)
			}
		})
	}
}

func TestWithoutASenderMessagesStayQueuedAndTheWorkerSaysSoOnce(t *testing.T) {
	f := setup(t)
	var logs bytes.Buffer
	var logMu sync.Mutex
	w := &notify.Worker{
		DB: f.db, Catalog: f.cat, Now: f.clock.Now,
		Log: slog.New(slog.NewTextHandler(lockedWriter{&logs, &logMu}, nil)),
	}
	f.enqueue(resetMessage("zofia@example.eu", "en"))
	f.deliver(w, 0)
	f.clock.Add(time.Hour)
	f.deliver(w, 0)
	f.pending(1)
	if r := f.onlyRow(); r.attempts != 0 || r.locked || r.sent || r.failed {
		t.Fatalf("row = %+v, want untouched", r)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if n := strings.Count(logs.String(), "no SMTP server configured"); n != 1 {
		t.Fatalf("notice logged %d times, want once:\n%s", n, logs.String())
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestSMTPConfigValidationRejectsUnusableSettings(t *testing.T) {
	cases := []struct {
		name string
		cfg  notify.SMTPConfig
		ok   bool
	}{
		{"plain relay", notify.SMTPConfig{Host: "localhost", Port: 25, TLS: "none", From: "imi@example.eu"}, true},
		{"STARTTLS by default", notify.SMTPConfig{Host: "smtp.example.eu", Username: "imi", Password: "secret"}, true},
		{"implicit TLS", notify.SMTPConfig{Host: "smtp.example.eu", TLS: "tls"}, true},
		{"no host", notify.SMTPConfig{TLS: "none"}, false},
		{"unknown TLS mode", notify.SMTPConfig{Host: "smtp.example.eu", TLS: "ssl"}, false},
		{"port out of range", notify.SMTPConfig{Host: "smtp.example.eu", Port: 70000}, false},
		{"sender with a display name", notify.SMTPConfig{Host: "smtp.example.eu", From: "IMI <imi@example.eu>"}, true},
		{"bad sender", notify.SMTPConfig{Host: "smtp.example.eu", From: "imi at example"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.cfg.Validate(); (err == nil) != c.ok {
				t.Fatalf("Validate = %v, want ok=%v", err, c.ok)
			}
		})
	}
}
