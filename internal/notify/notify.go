// Package notify sends e-mail through a transactional outbox. Callers write a
// message into the outbox inside the transaction that makes the change the
// message is about, so the message exists if and only if the change
// committed. A Worker later renders each message in the recipient's language
// and hands it to a Sender, retrying temporary failures with backoff.
//
// Delivery is at least once: a worker that dies between sending and
// recording the send leaves the message to be sent again when its lease
// expires. Every delivery of one outbox row carries the same Message-ID, so
// receiving systems can drop the duplicate.
package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/i18n"
)

// Message is an e-mail to send, rendered in the recipient's language when it
// is delivered.
type Message struct {
	Kind     string            // one of the registered kinds, e.g. KindPasswordReset
	To       string            // recipient address
	Language string            // recipient's UI language code (one of i18n.Languages; unknown -> "en")
	Data     map[string]string // values for the message's placeholders
}

// The kinds of message the outbox accepts. Each kind has the catalog
// messages email_<kind>_subject and email_<kind>_body; the comment names the
// Data entries the kind requires.
const (
	KindPasswordReset   = "password_reset"   // Data: Name, Link, Minutes
	KindPasswordChanged = "password_changed" // Data: Name
	KindAccountCreated  = "account_created"  // Data: Name, Link
	// KindUserInvitation invites someone to become a user of an authority.
	KindUserInvitation = "user_invitation" // Data: Name, Authority, Link, Days
	// KindAuthorityInvitation invites an authority to register itself.
	KindAuthorityInvitation = "authority_invitation" // Data: Coordinator, Link, Days
	// KindNeverUsedReminder reminds an authority that no one has used IMI yet.
	KindNeverUsedReminder = "never_used_reminder" // Data: Authority, Coordinator, Link
	// KindRequestUpdate tells a user that an information request needs
	// them or has news; it carries the reference, never personal data.
	KindRequestUpdate = "request_update" // Data: Name, Reference, Link
	// KindRequestDueSoon reminds the responder that a reply date nears.
	KindRequestDueSoon = "request_due_soon" // Data: Name, Reference, Link, Date
	// KindRequestOverdue tells both sides that a reply date has passed.
	KindRequestOverdue = "request_overdue" // Data: Name, Reference, Link, Date
	// KindRequestFollowUp tells coordinators that a request stalls.
	KindRequestFollowUp = "request_follow_up" // Data: Name, Reference, Link
	// KindAlertUpdate tells a user that an alert needs them or has news;
	// it carries the reference, never personal data.
	KindAlertUpdate = "alert_update" // Data: Name, Reference, Link
	// KindNotificationUpdate does the same for a notification of a measure.
	KindNotificationUpdate = "notification_update" // Data: Name, Reference, Link
	// KindCommentPeriodEnded tells a notification's sender that the
	// comment period is over.
	KindCommentPeriodEnded = "comment_period_ended" // Data: Name, Reference, Link
	// KindDigest gathers a day's notifications for users who chose it.
	KindDigest = "digest" // Data: Name, Count, References, Link
)

// placeholders returns the Data entries a kind needs and whether the kind is
// known. A switch rather than a package map keeps the registry immutable.
func placeholders(kind string) ([]string, bool) {
	switch kind {
	case KindPasswordReset:
		return []string{"Name", "Link", "Minutes"}, true
	case KindPasswordChanged:
		return []string{"Name"}, true
	case KindAccountCreated:
		return []string{"Name", "Link"}, true
	case KindUserInvitation:
		return []string{"Name", "Authority", "Link", "Days"}, true
	case KindAuthorityInvitation:
		return []string{"Coordinator", "Link", "Days"}, true
	case KindNeverUsedReminder:
		return []string{"Authority", "Coordinator", "Link"}, true
	case KindRequestUpdate, KindRequestFollowUp, KindAlertUpdate, KindNotificationUpdate, KindCommentPeriodEnded:
		return []string{"Name", "Reference", "Link"}, true
	case KindDigest:
		return []string{"Name", "Count", "References", "Link"}, true
	case KindRequestDueSoon, KindRequestOverdue:
		return []string{"Name", "Reference", "Link", "Date"}, true
	}
	return nil, false
}

// maxAddressLength is the longest address SMTP can carry (RFC 5321 path
// limit minus the angle brackets).
const maxAddressLength = 254

// validate refuses a message that could never be delivered, so that the
// caller learns about it while its transaction can still roll back.
func (m Message) validate() error {
	need, ok := placeholders(m.Kind)
	if !ok {
		return fmt.Errorf("notify: unknown message kind %q", m.Kind)
	}
	if err := validAddress(m.To); err != nil {
		return err
	}
	for _, k := range need {
		if _, ok := m.Data[k]; !ok {
			return fmt.Errorf("notify: %s message lacks %s", m.Kind, k)
		}
	}
	return nil
}

// validAddress accepts a bare address (no display name): anything else would
// let a user-supplied value add header text or extra recipients.
func validAddress(to string) error {
	if to == "" {
		return errors.New("notify: no recipient address")
	}
	if len(to) > maxAddressLength {
		return errors.New("notify: recipient address too long")
	}
	a, err := mail.ParseAddress(to)
	if err != nil || a.Name != "" || a.Address != to || !strings.Contains(a.Address, "@") {
		return fmt.Errorf("notify: invalid recipient address %q", to)
	}
	return nil
}

// language returns the code the message will be rendered in.
func language(code string) string {
	if i18n.Supported(code) {
		return code
	}
	return i18n.Default
}

// Enqueue stores m in the outbox inside the caller's transaction, so the
// message commits with the change that caused it and disappears if that
// change rolls back. An unknown kind, a missing placeholder value or an empty
// or invalid To is an error and nothing is written.
func Enqueue(ctx context.Context, tx db.Querier, now time.Time, m Message) error {
	return enqueueAll(ctx, tx, now, []Message{m})
}

// enqueueAll is Enqueue for several messages, in one statement for up to
// rowsPerStatement: nothing is written unless every one is valid.
func enqueueAll(ctx context.Context, tx db.Querier, now time.Time, ms []Message) error {
	for _, m := range ms {
		if err := m.validate(); err != nil {
			return err
		}
	}
	now = dbTime(now)
	for part := range slices.Chunk(ms, rowsPerStatement) {
		args := []any{now}
		rows := make([]string, len(part))
		for i, m := range part {
			data := m.Data
			if data == nil {
				data = map[string]string{}
			}
			payload, err := json.Marshal(data) // map keys marshal sorted: stable rows
			if err != nil {
				return fmt.Errorf("notify: encode placeholders: %w", err)
			}
			id, err := uuid.NewV7() // time-ordered, so ids sort in enqueue order
			if err != nil {
				return fmt.Errorf("notify: message id: %w", err)
			}
			rows[i] = db.ValuesRow(len(args)+1, 5, "$1", "$1")
			args = append(args, id.String(), m.Kind, m.To, language(m.Language), string(payload))
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO outbox (id, kind, recipient, language, payload, created_at, next_attempt_at) VALUES `+strings.Join(rows, ", "), args...); err != nil {
			return db.Check(err)
		}
	}
	return nil
}

// Pending returns how many messages wait to be sent: neither sent nor given
// up on. The health page shows it; a growing number means delivery is
// stuck.
func Pending(ctx context.Context, q db.Querier) (int, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL`).Scan(&n)
	return n, db.Check(err)
}

// dbTime prepares a time for storage: UTC so that SQLite's text timestamps
// compare in time order, microseconds because that is PostgreSQL's
// precision and a value must read back equal to what was written.
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
