package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/i18n"
)

// Worker delivers the outbox. Several workers, on one server or many, may
// share a database: each message is leased to one worker at a time.
type Worker struct {
	DB      *db.DB
	Catalog *i18n.Catalog
	// Sender nil means no mail server is configured: messages stay
	// queued, to be delivered once one is, and the worker says so once.
	Sender Sender
	From   string
	// Interval is the poll interval; zero means 10 seconds.
	Interval time.Duration
	// Lease is how long a claimed message is reserved before another
	// worker may retry it; zero means 2 minutes. Values under a minute
	// are raised to one, so that a lease outlasts the 30-second send
	// timeout and a slow send is not duplicated.
	Lease time.Duration
	Now   func() time.Time // clock; nil means time.Now
	Log   *slog.Logger     // nil discards

	// warnedNoSender keeps the "no SMTP configured" notice to one line
	// instead of one per poll.
	warnedNoSender atomic.Bool
}

// Delivery parameters. They are constants rather than fields because
// nothing needs to tune them and a wrong value (a huge backoff, one
// attempt) would silently lose mail.
const (
	defaultInterval = 10 * time.Second
	defaultLease    = 2 * time.Minute
	minLease        = 2 * sendTimeout
	// sendTimeout bounds one delivery, including one that Run lets
	// finish after its context was cancelled.
	sendTimeout = 30 * time.Second
	// batchSize is how many messages one claim takes: enough to drain a
	// burst quickly, few enough that all are sent well within the lease.
	batchSize = 20
	// maxAttempts is how many failed deliveries make the worker give up
	// (about five and a half hours of backoff).
	maxAttempts  = 12
	firstBackoff = 30 * time.Second
	maxBackoff   = time.Hour
	// maxErrorLength bounds last_error; SMTP replies can be long.
	maxErrorLength = 500
)

// outboxRow is a claimed message.
type outboxRow struct {
	id, kind, recipient, language, payload string
	attempts                               int
}

func (w *Worker) now() time.Time {
	if w.Now != nil {
		return dbTime(w.Now())
	}
	return dbTime(time.Now())
}

func (w *Worker) lease() time.Duration {
	if w.Lease > 0 {
		return max(w.Lease, minLease)
	}
	return defaultLease
}

func (w *Worker) log() *slog.Logger {
	if w.Log != nil {
		return w.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Run delivers due messages every Interval until ctx is cancelled. On
// cancellation it finishes the message in hand, records the result,
// returns the rest of its batch to the queue and returns nil.
func (w *Worker) Run(ctx context.Context) error {
	interval := w.Interval
	if interval <= 0 {
		interval = defaultInterval
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		n, err := w.DeliverDue(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			w.log().Warn("e-mail delivery", "err", err)
		}
		if n == batchSize {
			// A full batch suggests more are due: do not wait.
			timer.Reset(0)
		} else {
			timer.Reset(interval)
		}
	}
}

// DeliverDue delivers the messages due now, one batch, and returns how many
// were sent. Delivery failures are recorded on the message, not returned;
// the error reports a database problem or cancellation.
func (w *Worker) DeliverDue(ctx context.Context) (int, error) {
	if w.Sender == nil {
		if !w.warnedNoSender.Swap(true) {
			w.log().Warn("no SMTP server configured: e-mail stays queued until one is")
		}
		return 0, nil
	}
	if w.DB == nil || w.Catalog == nil {
		return 0, errors.New("notify: worker needs a database and a catalog")
	}
	rows, leaseEnd, err := w.claim(ctx, batchSize)
	if err != nil {
		return 0, err
	}
	sent := 0
	for i, r := range rows {
		// Stop when cancelled, or when the lease would run out during
		// the next send and let another worker send the same message.
		if ctx.Err() != nil || w.now().Add(sendTimeout).After(leaseEnd) {
			w.release(ctx, rows[i:], leaseEnd)
			return sent, ctx.Err()
		}
		ok, err := w.deliver(ctx, r)
		if err != nil {
			return sent, err
		}
		if ok {
			sent++
		}
	}
	return sent, nil
}

// lockClause is the only place where the dialects differ. On PostgreSQL,
// SKIP LOCKED lets workers on several servers claim at once without
// waiting for or double-claiming each other's rows; SQLite has a single
// writer, which serialises claims by itself.
func lockClause(d db.Dialect) string {
	if d == db.Postgres {
		return " FOR UPDATE SKIP LOCKED"
	}
	return ""
}

// claim leases up to limit due messages to this worker in one short
// transaction, so that the slow part, sending, holds no database lock.
func (w *Worker) claim(ctx context.Context, limit int) ([]outboxRow, time.Time, error) {
	now := w.now()
	leaseEnd := now.Add(w.lease())
	var rows []outboxRow
	err := w.DB.InTx(ctx, func(tx db.Querier) error {
		rs, err := tx.QueryContext(ctx, `UPDATE outbox SET locked_until = $1
			WHERE id IN (SELECT id FROM outbox
				WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $2
				AND (locked_until IS NULL OR locked_until <= $2)
				ORDER BY next_attempt_at, id LIMIT $3`+lockClause(w.DB.Dialect())+`)
			RETURNING id, kind, recipient, language, payload, attempts`, leaseEnd, now, limit)
		if err != nil {
			return db.Check(err)
		}
		defer rs.Close()
		for rs.Next() {
			var r outboxRow
			if err := rs.Scan(&r.id, &r.kind, &r.recipient, &r.language, &r.payload, &r.attempts); err != nil {
				return db.Check(err)
			}
			rows = append(rows, r)
		}
		return db.Check(rs.Err())
	})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("notify: claim: %w", err)
	}
	// RETURNING promises no order; ids are time-ordered, so oldest first.
	slices.SortFunc(rows, func(a, b outboxRow) int { return strings.Compare(a.id, b.id) })
	return rows, leaseEnd, nil
}

// deliver sends one claimed message and records the outcome. It reports
// whether the message was sent; the error is a database failure.
//
// The send and the bookkeeping run on a context detached from ctx: once a
// message is handed to the mail server, recording that fact matters more
// than stopping fast, because an unrecorded send is sent again.
func (w *Worker) deliver(ctx context.Context, r outboxRow) (bool, error) {
	bg := context.WithoutCancel(ctx)
	e, err := render(w.Catalog, w.From, r)
	if err != nil {
		return false, w.recordFailure(bg, r, &PermanentError{Err: err})
	}
	sendCtx, cancel := context.WithTimeout(bg, sendTimeout)
	err = w.Sender.Send(sendCtx, e)
	cancel()
	if err != nil {
		return false, w.recordFailure(bg, r, err)
	}
	return true, w.recordSent(bg, r)
}

func (w *Worker) recordSent(ctx context.Context, r outboxRow) error {
	err := w.DB.InTx(ctx, func(tx db.Querier) error {
		_, err := tx.ExecContext(ctx, `UPDATE outbox SET sent_at = $1, locked_until = NULL, attempts = $2, last_error = ''
			WHERE id = $3 AND sent_at IS NULL`, w.now(), r.attempts+1, r.id)
		return db.Check(err)
	})
	if err != nil {
		// The lease will expire and the message go out again, with the
		// same Message-ID.
		w.log().Error("e-mail sent but not recorded as sent", "id", r.id, "kind", r.kind, "err", err)
		return fmt.Errorf("notify: record sent %s: %w", r.id, err)
	}
	w.log().Info("e-mail sent", "id", r.id, "kind", r.kind, "attempt", r.attempts+1)
	return nil
}

// recordFailure schedules a retry, or gives up after a permanent failure
// or too many attempts.
func (w *Worker) recordFailure(ctx context.Context, r outboxRow, sendErr error) error {
	now := w.now()
	attempts := r.attempts + 1
	msg := errorText(sendErr)
	giveUp := isPermanent(sendErr) || attempts >= maxAttempts
	err := w.DB.InTx(ctx, func(tx db.Querier) error {
		var err error
		if giveUp {
			_, err = tx.ExecContext(ctx, `UPDATE outbox SET failed_at = $1, locked_until = NULL, attempts = $2, last_error = $3
				WHERE id = $4 AND sent_at IS NULL`, now, attempts, msg, r.id)
		} else {
			_, err = tx.ExecContext(ctx, `UPDATE outbox SET next_attempt_at = $1, locked_until = NULL, attempts = $2, last_error = $3
				WHERE id = $4 AND sent_at IS NULL`, dbTime(now.Add(backoff(attempts))), attempts, msg, r.id)
		}
		return db.Check(err)
	})
	if err != nil {
		return fmt.Errorf("notify: record failure %s: %w", r.id, err)
	}
	if giveUp {
		w.log().Error("e-mail given up", "id", r.id, "kind", r.kind, "attempts", attempts, "err", msg)
	} else {
		w.log().Warn("e-mail delivery failed, will retry", "id", r.id, "kind", r.kind, "attempts", attempts, "err", msg)
	}
	return nil
}

// release returns claimed but unsent messages to the queue at once rather
// than at lease expiry. It only clears leases that are still this worker's.
func (w *Worker) release(ctx context.Context, rows []outboxRow, leaseEnd time.Time) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := w.DB.InTx(ctx, func(tx db.Querier) error {
		for _, r := range rows {
			if _, err := tx.ExecContext(ctx, `UPDATE outbox SET locked_until = NULL
				WHERE id = $1 AND sent_at IS NULL AND locked_until = $2`, r.id, leaseEnd); err != nil {
				return db.Check(err)
			}
		}
		return nil
	})
	if err != nil {
		// Harmless: the leases expire by themselves.
		w.log().Warn("e-mail claims not released", "err", err)
	}
}

// backoff is the wait after the given number of failed attempts: 30 s,
// doubling, at most an hour, plus up to 10% jitter so that messages that
// failed together do not retry together.
func backoff(attempts int) time.Duration {
	d := firstBackoff
	for i := 1; i < attempts && d < maxBackoff; i++ {
		d *= 2
	}
	d = min(d, maxBackoff)
	return d + rand.N(d/10+1) // #nosec G404 -- retry jitter, not a secret
}

// errorText makes an error storable: one line, printable, bounded.
func errorText(err error) string {
	s := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, err.Error())
	if len(s) <= maxErrorLength {
		return s
	}
	cut := maxErrorLength
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
