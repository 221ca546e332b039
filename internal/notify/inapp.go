package notify

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/openimi/openimi/internal/db"
)

// Notice is an in-app notification: what a user was told, and whether
// they have read it.
type Notice struct {
	ID, Kind, Reference, Link string
	CreatedAt                 time.Time
	Read                      bool
}

// Tell records an in-app notification for a user and, unless the user
// chose a daily digest, e-mails it at once (m, whose Kind names both).
// Everything happens in the caller's transaction.
func Tell(ctx context.Context, tx db.Querier, now time.Time, userID, reference, link string, m Message) error {
	var digest bool
	if err := tx.QueryRowContext(ctx, `SELECT email_digest FROM users WHERE id = $1`, userID).Scan(&digest); err != nil {
		return db.Check(err)
	}
	return tellAll(ctx, tx, now, reference, link, []told{{userID, digest, m}})
}

// told is one user told of a case: the in-app notification, and the
// e-mail unless the user chose a digest.
type told struct {
	userID string
	digest bool
	m      Message
}

// tellAll is Tell for several users of one case, in two statements (one
// for the notifications, one for the e-mails) for up to rowsPerStatement
// users: each statement is a round trip to PostgreSQL.
func tellAll(ctx context.Context, tx db.Querier, now time.Time, reference, link string, list []told) error {
	if len(list) == 0 {
		return nil
	}
	now = dbTime(now)
	kind := list[0].m.Kind
	for _, x := range list {
		if x.m.Kind != kind {
			return fmt.Errorf("notify: one case's news told as %s and %s", kind, x.m.Kind)
		}
	}
	var mails []Message
	for part := range slices.Chunk(list, rowsPerStatement) {
		// The values every row shares are parameters once.
		args := []any{kind, reference, link, now}
		rows := make([]string, len(part))
		for i, x := range part {
			rows[i] = db.ValuesRow(len(args)+1, 2, "$1", "$2", "$3", "$4")
			args = append(args, uuid.Must(uuid.NewV7()).String(), x.userID)
			if !x.digest {
				mails = append(mails, x.m)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO notifications (id, user_id, kind, reference, link, created_at) VALUES `+strings.Join(rows, ", "), args...); err != nil {
			return db.Check(err)
		}
	}
	return enqueueAll(ctx, tx, now, mails)
}

// rowsPerStatement bounds the rows of one insert of notifications or
// e-mails (five parameters each at most), far below either database's
// limit of parameters.
const rowsPerStatement = 500

// Notices returns a user's latest notifications, newest first, and how
// many are unread.
func Notices(ctx context.Context, q db.Querier, userID string, limit int) ([]Notice, int, error) {
	unread, err := Unread(ctx, q, userID)
	if err != nil {
		return nil, 0, err
	}
	rows, err := q.QueryContext(ctx, `SELECT id, kind, reference, link, created_at, read_at IS NOT NULL FROM notifications WHERE user_id = $1
		ORDER BY created_at DESC, id DESC LIMIT `+strconv.Itoa(limit), userID)
	if err != nil {
		return nil, 0, db.Check(err)
	}
	defer rows.Close()
	var out []Notice
	for rows.Next() {
		var n Notice
		if err := rows.Scan(&n.ID, &n.Kind, &n.Reference, &n.Link, &n.CreatedAt, &n.Read); err != nil {
			return nil, 0, db.Check(err)
		}
		out = append(out, n)
	}
	return out, unread, db.Check(rows.Err())
}

// MarkRead marks all of a user's notifications read.
func MarkRead(ctx context.Context, d *db.DB, userID string, now time.Time) error {
	return d.InTx(ctx, func(tx db.Querier) error {
		_, err := tx.ExecContext(ctx, `UPDATE notifications SET read_at = $1 WHERE user_id = $2 AND read_at IS NULL`, dbTime(now), userID)
		return db.Check(err)
	})
}

// SetDigest chooses between an e-mail per notification and a daily digest.
func SetDigest(ctx context.Context, d *db.DB, userID string, on bool) error {
	return d.InTx(ctx, func(tx db.Querier) error {
		_, err := tx.ExecContext(ctx, `UPDATE users SET email_digest = $1 WHERE id = $2`, on, userID)
		return db.Check(err)
	})
}

// Digest e-mails each user who chose a digest the notifications of the
// last day not yet sent, in one message, and returns how many it sent. It
// sends to a user at most once a day: run it as often as wanted.
func Digest(ctx context.Context, d *db.DB, now time.Time, publicURL string) (int, error) {
	sent := 0
	err := d.InTxAlone(ctx, func(tx db.Querier) error {
		rows, err := tx.QueryContext(ctx, `SELECT u.id, u.email, u.name, u.language FROM users u WHERE u.email_digest AND u.active
			AND EXISTS (SELECT 1 FROM notifications n WHERE n.user_id = u.id AND n.digested_at IS NULL AND n.read_at IS NULL)
			AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.user_id = u.id AND n.digested_at > $1)`, dbTime(now.Add(-24*time.Hour)))
		if err != nil {
			return db.Check(err)
		}
		type user struct{ id, email, name, lang string }
		var users []user
		for rows.Next() {
			var u user
			if err := rows.Scan(&u.id, &u.email, &u.name, &u.lang); err != nil {
				_ = rows.Close()
				return db.Check(err)
			}
			users = append(users, u)
		}
		_ = rows.Close()
		if err := rows.Err(); err != nil {
			return db.Check(err)
		}
		for _, u := range users {
			refs, err := tx.QueryContext(ctx, `SELECT DISTINCT reference FROM notifications WHERE user_id = $1 AND digested_at IS NULL AND read_at IS NULL ORDER BY reference`, u.id)
			if err != nil {
				return db.Check(err)
			}
			var list []string
			for refs.Next() {
				var r string
				if err := refs.Scan(&r); err != nil {
					_ = refs.Close()
					return db.Check(err)
				}
				list = append(list, r)
			}
			_ = refs.Close()
			if err := refs.Err(); err != nil {
				return db.Check(err)
			}
			// Claimed before it is sent: on PostgreSQL another server may
			// have read the same users, and its update, once this one
			// commits, finds nothing left and sends nothing.
			res, err := tx.ExecContext(ctx, `UPDATE notifications SET digested_at = $1 WHERE user_id = $2 AND digested_at IS NULL AND read_at IS NULL`, dbTime(now), u.id)
			if err != nil {
				return db.Check(err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				continue
			}
			if err := Enqueue(ctx, tx, now, Message{Kind: KindDigest, To: u.email, Language: u.lang, Data: map[string]string{
				"Name": u.name, "Count": strconv.Itoa(len(list)), "References": strings.Join(list, "\n"), "Link": publicURL + "/notifications"}}); err != nil {
				return err
			}
			sent++
		}
		return nil
	})
	return sent, err
}

// Unread returns how many of a user's notifications are unread.
func Unread(ctx context.Context, q db.Querier, userID string) (int, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL`, userID).Scan(&n)
	return n, db.Check(err)
}

// DigestChosen reports whether a user chose the daily digest.
func DigestChosen(ctx context.Context, q db.Querier, userID string) (bool, error) {
	var on bool
	err := q.QueryRowContext(ctx, `SELECT email_digest FROM users WHERE id = $1`, userID).Scan(&on)
	return on, db.Check(err)
}

// Audience is the users of one authority who hold one of Roles for Area
// (a role for every area counts). Skip and users already in Done are left
// out; those told are added to Done, so that one action tells each user
// once.
type Audience struct {
	AuthorityID string
	Area        string
	Roles       []string
	Skip        string
	Done        map[string]bool
}

// TellAuthority tells an audience, each user in their own language, of
// news on the case with reference at link (a path; the e-mail carries
// publicURL+link). kind's placeholders are Name, Reference and Link, with
// extra added. Nothing personal goes into the message.
func TellAuthority(ctx context.Context, tx db.Querier, now time.Time, to Audience, reference, link, publicURL, kind string, extra map[string]string) error {
	if to.AuthorityID == "" || len(to.Roles) == 0 {
		return nil
	}
	args := []any{to.AuthorityID, to.Area}
	marks := make([]string, len(to.Roles))
	for i, r := range to.Roles {
		args = append(args, r)
		marks[i] = "$" + strconv.Itoa(3+i)
	}
	rows, err := tx.QueryContext(ctx, `SELECT DISTINCT u.id, u.email, u.name, u.language, u.email_digest FROM users u JOIN user_roles ur ON ur.user_id = u.id
		WHERE u.authority_id = $1 AND u.active AND (ur.area = '' OR ur.area = $2) AND ur.role IN (`+strings.Join(marks, ", ")+`) ORDER BY u.id`, args...)
	if err != nil {
		return db.Check(err)
	}
	type recipient struct {
		id, email, name, lang string
		digest                bool
	}
	var list []recipient
	for rows.Next() {
		var x recipient
		if err := rows.Scan(&x.id, &x.email, &x.name, &x.lang, &x.digest); err != nil {
			_ = rows.Close()
			return db.Check(err)
		}
		list = append(list, x)
	}
	_ = rows.Close()
	if err := rows.Err(); err != nil {
		return db.Check(err)
	}
	var all []told
	for _, x := range list {
		if to.Done[x.id] || x.id == to.Skip {
			continue
		}
		if to.Done != nil {
			to.Done[x.id] = true
		}
		data := map[string]string{"Name": x.name, "Reference": reference, "Link": publicURL + link}
		for k, v := range extra {
			data[k] = v
		}
		all = append(all, told{x.id, x.digest, Message{Kind: kind, To: x.email, Language: x.lang, Data: data}})
	}
	return tellAll(ctx, tx, now, reference, link, all)
}
