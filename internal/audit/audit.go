// Package audit keeps the tamper-evident log of security events. Rows are
// only ever appended; each carries a SHA-256 hash over its own content and the
// previous row's hash, so that changing or removing a row breaks the chain
// from that row on.
package audit

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/openimi/openimi/internal/db"
)

// Events recorded by the foundation. Later capabilities add their own.
const (
	SignInSucceeded      = "sign_in.succeeded"
	SignInFailed         = "sign_in.failed"
	SignInThrottled      = "sign_in.throttled"
	SecondFactorUsed     = "second_factor.used"
	SecondFactorFailed   = "second_factor.failed"
	RecoveryCodeUsed     = "second_factor.recovery_code_used"
	SecondFactorEnrolled = "second_factor.enrolled"
	PasswordChanged      = "password.changed"
	PasswordResetAsked   = "password.reset_requested"
	PasswordReset        = "password.reset"
	SessionEnded         = "session.ended"
	UserCreated          = "user.created"
	UserDeactivated      = "user.deactivated"
	TokenCreated         = "token.created"
	TokenUsed            = "token.used"
	TokenRevoked         = "token.revoked"
	// PersonalDataViewed records each time a user is shown the personal
	// data of an exchange (Regulation (EU) No 1024/2012).
	PersonalDataViewed = "personal_data.viewed"
	// PersonalDataRetained records a run of the retention job that
	// blocked or deleted personal data.
	PersonalDataRetained = "personal_data.retained"
	// PersonalDataExported records a data subject's request answered;
	// the detail lists the exchanges, not the person's name.
	PersonalDataExported = "personal_data.exported"
)

// Event is one security event.
type Event struct {
	Event   string
	UserID  string // the account concerned, if known
	Subject string // what was acted on, e.g. an e-mail address tried
	Address string // the client address
	Detail  string
}

// genesis is the previous hash of the first row.
const genesis = "0000000000000000000000000000000000000000000000000000000000000000"

// advisoryLockKey serialises appends on PostgreSQL, where several servers
// may write at once. On SQLite the single writer connection does it.
const advisoryLockKey = 7262736101

// Record appends an event inside the caller's transaction, so the event
// commits with the change it describes.
func Record(ctx context.Context, tx db.Querier, dialect db.Dialect, at time.Time, e Event) error {
	return recordAll(ctx, tx, dialect, []timed{{at, e}})
}

// timed is an event and when it happened.
type timed struct {
	at time.Time
	e  Event
}

// rowsPerInsert bounds the rows of one insert (nine parameters each).
const rowsPerInsert = 100

// recordAll appends events in order inside the caller's transaction: the
// chain's lock and its last row once, and the rows in as few statements
// as rowsPerInsert allows (on PostgreSQL each statement is a round trip).
func recordAll(ctx context.Context, tx db.Querier, dialect db.Dialect, events []timed) error {
	var seq int64
	prev := genesis
	if dialect == db.Postgres {
		// The lock, then the last row, in one round trip (migration 18).
		var last sql.NullInt64
		var hash sql.NullString
		if err := tx.QueryRowContext(ctx, `SELECT last_seq, last_hash FROM audit_head($1)`, advisoryLockKey).Scan(&last, &hash); err != nil {
			return db.Check(err)
		}
		if last.Valid {
			seq, prev = last.Int64, hash.String
		}
	} else {
		err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&seq, &prev)
		if err := db.Check(err); err != nil && !errors.Is(err, db.ErrNotFound) {
			return err
		}
	}
	for part := range slices.Chunk(events, rowsPerInsert) {
		rows := make([]string, len(part))
		args := make([]any, 0, 9*len(part))
		for i, x := range part {
			seq++
			at := x.at.UTC().Truncate(time.Microsecond)
			h := rowHash(seq, at, x.e, prev)
			rows[i] = db.ValuesRow(9*i+1, 9)
			args = append(args, seq, at, x.e.Event, x.e.UserID, x.e.Subject, x.e.Address, x.e.Detail, prev, h)
			prev = h
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_log (seq, at, event, user_id, subject, address, detail, prev_hash, hash) VALUES `+strings.Join(rows, ", "), args...); err != nil {
			return db.Check(err)
		}
	}
	return nil
}

// rowHash is the chained hash of one row. Fields are length-prefixed so that
// no two different rows encode alike.
func rowHash(seq int64, at time.Time, e Event, prev string) string {
	var b strings.Builder
	for _, f := range []string{strconv.FormatInt(seq, 10), at.UTC().Format(time.RFC3339Nano), e.Event, e.UserID, e.Subject, e.Address, e.Detail, prev} {
		b.WriteString(strconv.Itoa(len(f)))
		b.WriteByte(':')
		b.WriteString(f)
	}
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}

// BadRow describes the first row where the chain breaks.
type BadRow struct {
	Seq    int64
	Reason string
}

func (b *BadRow) Error() string { return fmt.Sprintf("audit row %d: %s", b.Seq, b.Reason) }

// Verify walks the whole log and returns the number of rows checked and, if
// the chain is broken, a *BadRow naming the first bad row.
func Verify(ctx context.Context, q db.Querier) (int, error) {
	rows, err := q.QueryContext(ctx, `SELECT seq, at, event, user_id, subject, address, detail, prev_hash, hash FROM audit_log ORDER BY seq`)
	if err != nil {
		return 0, db.Check(err)
	}
	defer rows.Close()
	n := 0
	wantSeq, prev := int64(1), genesis
	for rows.Next() {
		var seq int64
		var at time.Time
		var e Event
		var rowPrev, h string
		if err := rows.Scan(&seq, &at, &e.Event, &e.UserID, &e.Subject, &e.Address, &e.Detail, &rowPrev, &h); err != nil {
			return n, db.Check(err)
		}
		switch {
		case seq != wantSeq:
			return n, &BadRow{Seq: wantSeq, Reason: "row missing"}
		case rowPrev != prev:
			return n, &BadRow{Seq: seq, Reason: "does not follow the previous row (a row before it was changed or removed)"}
		case rowHash(seq, at, e, rowPrev) != h:
			return n, &BadRow{Seq: seq, Reason: "content does not match its hash (the row was changed)"}
		}
		n++
		wantSeq, prev = seq+1, h
	}
	return n, db.Check(rows.Err())
}
