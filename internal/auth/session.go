package auth

import (
	"context"
	"errors"
	"time"

	"github.com/openimi/openimi/internal/audit"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/problem"
)

// Stage is how far a session has come through sign-in.
type Stage string

// Sign-in stages. Only a Full session reaches the application; the others
// reach only the page of their next step.
const (
	StageSecondFactor Stage = "second_factor" // password accepted, code needed
	StageEnrol        Stage = "enrol"         // password accepted, no second factor yet
	StageFull         Stage = "full"
)

// Session is a server-side session. The token itself lives only in the
// user's cookie; the database holds its SHA-256.
type Session struct {
	UserID     string
	Stage      Stage
	CSRFToken  string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
	// RegistryRevision is the registry's revision (migration 17), read in
	// the session's statement: a page then needs no statement of its own
	// to read it (authorities.KnowRevision).
	RegistryRevision int64
	hash             []byte
}

// touchEvery limits how often a session's last use is written.
const touchEvery = time.Minute

func (s *Service) newSession(ctx context.Context, tx db.Querier, userID string, stage Stage, address, userAgent string, now time.Time) (string, error) {
	token := randomToken(32)
	maxAge := s.settings.MaxAge
	if stage != StageFull {
		maxAge = 15 * time.Minute // a half-finished sign-in does not linger
	}
	if len(userAgent) > 300 {
		userAgent = userAgent[:300]
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO sessions (token_hash, user_id, stage, csrf_token, created_at, last_seen_at, expires_at, ip, user_agent)
		VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8)`, tokenHash(token), userID, string(stage), randomToken(24), now, now.Add(maxAge), address, userAgent)
	return token, err
}

// SessionByToken returns the live session for a cookie's token and its user.
// An unknown, expired or idle session, or one whose user was deactivated, is
// problem Unauthorized (and an expired one is deleted).
func (s *Service) SessionByToken(ctx context.Context, token string) (Session, User, error) {
	if token == "" || len(token) > 100 {
		return Session{}, User{}, problem.New(problem.Unauthorized, "error_session_expired")
	}
	h := tokenHash(token)
	var sess Session
	var stage string
	row := s.db.Read().QueryRowContext(ctx, `SELECT s.user_id, s.stage, s.csrf_token, s.created_at, s.last_seen_at, s.expires_at,
		(SELECT revision FROM registry_revision WHERE id = 1), `+userColumns+`
		FROM sessions s JOIN users u ON u.id = s.user_id `+authorityJoin+` WHERE s.token_hash = $1`, h)
	var u User
	err := db.Check(row.Scan(append([]any{&sess.UserID, &stage, &sess.CSRFToken, &sess.CreatedAt, &sess.LastSeenAt, &sess.ExpiresAt,
		&sess.RegistryRevision}, u.targets()...)...))
	if errors.Is(err, db.ErrNotFound) {
		return Session{}, User{}, problem.New(problem.Unauthorized, "error_session_expired")
	}
	if err != nil {
		return Session{}, User{}, err
	}
	sess.Stage, sess.hash = Stage(stage), h
	now := s.clock()
	if !u.Active || now.After(sess.ExpiresAt) || now.Sub(sess.LastSeenAt) > s.settings.IdleTimeout {
		reason := "idle timeout"
		switch {
		case !u.Active:
			reason = "account deactivated"
		case now.After(sess.ExpiresAt):
			reason = "absolute timeout"
		}
		_ = s.db.InTx(ctx, func(tx db.Querier) error {
			res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE token_hash = $1`, h)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return nil // another request ended it first
			}
			return audit.Record(ctx, tx, s.db.Dialect(), now, audit.Event{Event: audit.SessionEnded, UserID: u.ID, Detail: reason})
		})
		return Session{}, User{}, problem.New(problem.Unauthorized, "error_session_expired")
	}
	if now.Sub(sess.LastSeenAt) >= touchEvery {
		err := s.db.InTx(ctx, func(tx db.Querier) error {
			_, err := tx.ExecContext(ctx, `UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2`, now, h)
			return err
		})
		if err != nil {
			return Session{}, User{}, err
		}
		sess.LastSeenAt = now
	}
	return sess, u, nil
}

// SignOut ends every session of the session's user, on every device. A
// session that has not passed the second factor ends only itself: knowing
// the password is not enough to sign the user out elsewhere.
func (s *Service) SignOut(ctx context.Context, sess Session, address string) error {
	now := s.clock()
	return s.db.InTx(ctx, func(tx db.Querier) error {
		if sess.Stage != StageFull {
			_, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE token_hash = $1`, sess.hash)
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1`, sess.UserID); err != nil {
			return err
		}
		return audit.Record(ctx, tx, s.db.Dialect(), now, audit.Event{Event: audit.SessionEnded, UserID: sess.UserID, Address: address, Detail: "sign-out"})
	})
}

// DeleteExpiredSessions removes sessions past their absolute or idle limit;
// run periodically.
func (s *Service) DeleteExpiredSessions(ctx context.Context) (int64, error) {
	now := s.clock()
	var n int64
	err := s.db.InTx(ctx, func(tx db.Querier) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at < $1 OR last_seen_at < $2`, now, now.Add(-s.settings.IdleTimeout))
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}
