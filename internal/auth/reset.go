package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/openimi/openimi/internal/audit"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/notify"
	"github.com/openimi/openimi/internal/problem"
)

// maxOpenResets bounds the reset links one account can have at once, so the
// form cannot be used to flood someone's mailbox.
const maxOpenResets = 3

// RequestPasswordReset e-mails a single-use, time-limited reset link to the
// account with that address, if there is an active one. The caller always
// tells the user the same thing, so that the form does not reveal which
// addresses have accounts.
func (s *Service) RequestPasswordReset(ctx context.Context, email string, c Client) error {
	u, err := s.UserByEmail(ctx, email)
	if errors.Is(err, db.ErrNotFound) || (err == nil && !u.Active) {
		s.recordOnly(ctx, audit.Event{Event: audit.PasswordResetAsked, Subject: NormalizeEmail(email), Address: c.Address, Detail: "no such active account"})
		return nil
	}
	if err != nil {
		return err
	}
	now := s.clock()
	token := randomToken(32)
	return s.db.InTx(ctx, func(tx db.Querier) error {
		var open int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM password_resets WHERE user_id = $1 AND used_at IS NULL AND expires_at > $2`, u.ID, now).Scan(&open); err != nil {
			return err
		}
		if open >= maxOpenResets {
			return audit.Record(ctx, tx, s.db.Dialect(), now, audit.Event{Event: audit.PasswordResetAsked, UserID: u.ID, Address: c.Address, Detail: "too many open links; none sent"})
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
			tokenHash(token), u.ID, now, now.Add(s.settings.ResetTTL)); err != nil {
			return err
		}
		msg := notify.Message{Kind: notify.KindPasswordReset, To: u.Email, Language: u.Language, Data: map[string]string{
			"Name":    u.Name,
			"Link":    s.settings.PublicURL + "/password/reset/" + token,
			"Minutes": fmt.Sprint(int(s.settings.ResetTTL.Minutes())),
		}}
		if err := notify.Enqueue(ctx, tx, now, msg); err != nil {
			return err
		}
		return audit.Record(ctx, tx, s.db.Dialect(), now, audit.Event{Event: audit.PasswordResetAsked, UserID: u.ID, Address: c.Address})
	})
}

// resetUser returns the user a live reset token belongs to.
func (s *Service) resetUser(ctx context.Context, token string) (User, error) {
	invalid := problem.New(problem.NotFound, "error_reset_invalid")
	if token == "" || len(token) > 100 {
		return User{}, invalid
	}
	var expires time.Time
	var used *time.Time
	var u User
	err := db.Check(s.db.Read().QueryRowContext(ctx, `SELECT r.expires_at, r.used_at, `+userColumns+`
		FROM password_resets r JOIN users u ON u.id = r.user_id `+authorityJoin+` WHERE r.token_hash = $1`, tokenHash(token)).
		Scan(append([]any{&expires, &used}, u.targets()...)...))
	if errors.Is(err, db.ErrNotFound) {
		return User{}, invalid
	}
	if err != nil {
		return User{}, err
	}
	if used != nil || s.clock().After(expires) || !u.Active {
		return User{}, invalid
	}
	return u, nil
}

// CheckResetToken reports whether a reset link is still usable, and whether
// the form must ask for a security code (it does whenever the user has a
// second factor).
func (s *Service) CheckResetToken(ctx context.Context, token string) (needsCode bool, err error) {
	u, err := s.resetUser(ctx, token)
	return u.TOTPEnabled, err
}

// ResetPassword sets a new password through a reset link. It never skips
// the second factor: a user who has one must give a security code or a
// recovery code (throttled like sign-in). All the user's sessions end.
func (s *Service) ResetPassword(ctx context.Context, token, password, code string, c Client) error {
	u, err := s.resetUser(ctx, token)
	if err != nil {
		return err
	}
	if err := ValidatePassword(password, u.Email); err != nil {
		return err
	}
	var attempt reservation
	if u.TOTPEnabled {
		// The code is throttled before the new password is hashed: a
		// throttled attempt costs no argon2id work.
		if attempt, err = s.reserve(ctx, u.Email, c.Address); err != nil {
			return err
		}
	}
	hash, err := s.hashPassword(ctx, password)
	if err != nil {
		return err
	}
	change := func(tx db.Querier, now time.Time) error {
		res, err := tx.ExecContext(ctx, `UPDATE password_resets SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL`, now, tokenHash(token))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return problem.New(problem.NotFound, "error_reset_invalid")
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $1, password_changed_at = $2, updated_at = $2 WHERE id = $3`, hash, now, u.ID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1`, u.ID); err != nil {
			return err
		}
		if err := notify.Enqueue(ctx, tx, now, notify.Message{Kind: notify.KindPasswordChanged, To: u.Email, Language: u.Language, Data: map[string]string{"Name": u.Name}}); err != nil {
			return err
		}
		return audit.Record(ctx, tx, s.db.Dialect(), now, audit.Event{Event: audit.PasswordReset, UserID: u.ID, Address: c.Address})
	}
	if u.TOTPEnabled {
		return s.checkSecondFactorThen(ctx, attempt, u.ID, code, c, func(tx db.Querier, _ string, now time.Time) error { return change(tx, now) })
	}
	// No second factor yet: the next sign-in enrols one.
	return s.db.InTx(ctx, func(tx db.Querier) error { return change(tx, s.clock()) })
}

// EnrolForDemo gives a demonstration account a second factor at once, so
// that `imi demo code` can print its codes.
func (s *Service) EnrolForDemo(ctx context.Context, userID string) error {
	var email string
	if err := db.Check(s.db.Read().QueryRowContext(ctx, `SELECT email FROM users WHERE id = $1`, userID).Scan(&email)); err != nil {
		return err
	}
	key, err := totpGenerate(s.settings.Issuer, email)
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx db.Querier) error {
		_, err := tx.ExecContext(ctx, `UPDATE users SET totp_secret = $1, totp_enabled = TRUE, updated_at = $2 WHERE id = $3`, key, s.clock(), userID)
		if err != nil {
			return err
		}
		return storeRecoveryCodes(ctx, tx, userID, newRecoveryCodes())
	})
}
