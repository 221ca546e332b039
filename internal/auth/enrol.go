package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"image/png"
	"net/url"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/openimi/openimi/internal/audit"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/problem"
)

// Enrolment is what the enrolment page shows: the secret as text for manual
// entry, and as an otpauth:// URL and a QR code (PNG data URL) for scanning.
type Enrolment struct {
	Secret string
	URL    string
	QRCode string
}

// recoveryCodeCount is how many one-time recovery codes a user gets.
const recoveryCodeCount = 10

// BeginEnrolment creates (or, on a reload, reuses) the pending TOTP secret of
// a session at the enrolment step.
func (s *Service) BeginEnrolment(ctx context.Context, sess Session) (Enrolment, error) {
	if sess.Stage != StageEnrol {
		return Enrolment{}, problem.New(problem.Forbidden, "error_session_expired")
	}
	var email, secret string
	var enabled bool
	if err := db.Check(s.db.Read().QueryRowContext(ctx, `SELECT email, totp_secret, totp_enabled FROM users WHERE id = $1`, sess.UserID).Scan(&email, &secret, &enabled)); err != nil {
		return Enrolment{}, err
	}
	if enabled {
		// Enrolled meanwhile (in another session): the secret is never
		// shown again.
		return Enrolment{}, problem.New(problem.Forbidden, "error_session_expired")
	}
	var key *otp.Key
	var err error
	if secret == "" {
		key, err = totp.Generate(totp.GenerateOpts{Issuer: s.settings.Issuer, AccountName: email})
		if err != nil {
			return Enrolment{}, err
		}
		err = s.db.InTx(ctx, func(tx db.Querier) error {
			_, err := tx.ExecContext(ctx, `UPDATE users SET totp_secret = $1, updated_at = $2 WHERE id = $3 AND totp_enabled = FALSE`, key.Secret(), s.clock(), sess.UserID)
			return err
		})
		if err != nil {
			return Enrolment{}, err
		}
	} else {
		key, err = otp.NewKeyFromURL(keyURL(s.settings.Issuer, email, secret))
		if err != nil {
			return Enrolment{}, err
		}
	}
	return enrolmentOf(key)
}

// enrolmentOf renders a key for the enrolment page.
func enrolmentOf(key *otp.Key) (Enrolment, error) {
	img, err := key.Image(240, 240)
	if err != nil {
		return Enrolment{}, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return Enrolment{}, err
	}
	return Enrolment{Secret: key.Secret(), URL: key.URL(), QRCode: "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())}, nil
}

// keyURL builds the otpauth:// URL of a stored secret, in the form
// authenticator apps read (the same form totp.Generate produces).
func keyURL(issuer, account, secret string) string {
	v := url.Values{}
	v.Set("secret", secret)
	v.Set("issuer", issuer)
	v.Set("period", "30")
	v.Set("digits", "6")
	v.Set("algorithm", "SHA1")
	u := url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + issuer + ":" + account, RawQuery: v.Encode()}
	return u.String()
}

// ConfirmEnrolment checks the first code from the user's authenticator,
// turns the second factor on, creates the recovery codes (returned once, in
// clear) and replaces the session with a full one.
func (s *Service) ConfirmEnrolment(ctx context.Context, sess Session, code string, c Client) (string, []string, error) {
	if sess.Stage != StageEnrol {
		return "", nil, problem.New(problem.Forbidden, "error_session_expired")
	}
	var email, secret string
	if err := db.Check(s.db.Read().QueryRowContext(ctx, `SELECT email, totp_secret FROM users WHERE id = $1`, sess.UserID).Scan(&email, &secret)); err != nil {
		return "", nil, err
	}
	// Throttled like every other code check, so that guessing here costs
	// the same as guessing at sign-in.
	attempt, err := s.reserve(ctx, email, c.Address)
	if err != nil {
		return "", nil, err
	}
	code = normalizeCode(code)
	now := s.clock()
	var step int64
	if secret != "" && isTOTPCode(code) {
		step = matchTOTP(secret, code, now)
	}
	if step == 0 {
		s.recordOnly(ctx, audit.Event{Event: audit.SecondFactorFailed, UserID: sess.UserID, Address: c.Address, Detail: "enrolment: error_code_wrong"})
		return "", nil, errCodeWrong
	}
	codes := newRecoveryCodes()
	var token string
	err = s.db.InTx(ctx, func(tx db.Querier) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET totp_enabled = TRUE, totp_last_step = $1, updated_at = $2 WHERE id = $3 AND totp_secret = $4 AND totp_enabled = FALSE`,
			step, now, sess.UserID, secret)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return problem.Field("code", "error_code_used")
		}
		if err := settle(ctx, tx, attempt); err != nil {
			return err
		}
		if err := storeRecoveryCodes(ctx, tx, sess.UserID, codes); err != nil {
			return err
		}
		// This and every other half-finished session of the user end: none
		// may see the secret or enrol again.
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1 AND stage <> $2`, sess.UserID, string(StageFull)); err != nil {
			return err
		}
		if token, err = s.newSession(ctx, tx, sess.UserID, StageFull, c.Address, c.UserAgent, now); err != nil {
			return err
		}
		if err := recordSignIn(ctx, tx, sess.UserID, now); err != nil {
			return err
		}
		return audit.Record(ctx, tx, s.db.Dialect(), now, audit.Event{Event: audit.SecondFactorEnrolled, UserID: sess.UserID, Address: c.Address})
	})
	if err != nil {
		return "", nil, err
	}
	return token, codes, nil
}

// recoveryAlphabet leaves out characters that are easily confused.
const recoveryAlphabet = "abcdefghjkmnpqrstuvwxyz23456789"

func newRecoveryCodes() []string {
	codes := make([]string, recoveryCodeCount)
	for i := range codes {
		raw := []byte(randomToken(16))
		var b strings.Builder
		for j := 0; j < 10; j++ {
			if j == 5 {
				b.WriteByte('-')
			}
			b.WriteByte(recoveryAlphabet[int(raw[j])%len(recoveryAlphabet)])
		}
		codes[i] = b.String()
	}
	return codes
}

func storeRecoveryCodes(ctx context.Context, tx db.Querier, userID string, codes []string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, userID); err != nil {
		return err
	}
	for _, c := range codes {
		if _, err := tx.ExecContext(ctx, `INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)`, userID, tokenHash(normalizeCode(c))); err != nil {
			return err
		}
	}
	return nil
}

// RecoveryCodesLeft counts the user's unused recovery codes.
func (s *Service) RecoveryCodesLeft(ctx context.Context, userID string) (int, error) {
	var n int
	err := s.db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL`, userID).Scan(&n)
	return n, db.Check(err)
}

// NewRecoveryCodes replaces the user's recovery codes after checking a
// current security code, and returns the new ones in clear, once.
func (s *Service) NewRecoveryCodes(ctx context.Context, sess Session, user User, code string, c Client) ([]string, error) {
	codes := newRecoveryCodes()
	err := s.withSecondFactor(ctx, sess.UserID, user.Email, code, c, func(tx db.Querier, _ string, now time.Time) error {
		if err := storeRecoveryCodes(ctx, tx, sess.UserID, codes); err != nil {
			return err
		}
		return audit.Record(ctx, tx, s.db.Dialect(), now, audit.Event{Event: audit.SecondFactorEnrolled, UserID: sess.UserID, Address: c.Address, Detail: "new recovery codes"})
	})
	return codes, err
}

// ReplaceAuthenticator starts setting up a new authenticator (a new phone)
// after checking a code of the current one. The current authenticator stays
// in force until ConfirmAuthenticator receives a code from the new one.
func (s *Service) ReplaceAuthenticator(ctx context.Context, sess Session, user User, code string, c Client) (Enrolment, error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: s.settings.Issuer, AccountName: user.Email})
	if err != nil {
		return Enrolment{}, err
	}
	err = s.withSecondFactor(ctx, sess.UserID, user.Email, code, c, func(tx db.Querier, _ string, now time.Time) error {
		_, err := tx.ExecContext(ctx, `UPDATE users SET totp_pending_secret = $1, updated_at = $2 WHERE id = $3`, key.Secret(), now, sess.UserID)
		return err
	})
	if err != nil {
		return Enrolment{}, err
	}
	return enrolmentOf(key)
}

// PendingAuthenticator shows the new authenticator being set up again (on a
// reload, or after a wrong code).
func (s *Service) PendingAuthenticator(ctx context.Context, user User) (Enrolment, error) {
	var pending string
	if err := db.Check(s.db.Read().QueryRowContext(ctx, `SELECT totp_pending_secret FROM users WHERE id = $1`, user.ID).Scan(&pending)); err != nil {
		return Enrolment{}, err
	}
	if pending == "" {
		return Enrolment{}, problem.New(problem.NotFound, "error_not_found")
	}
	key, err := otp.NewKeyFromURL(keyURL(s.settings.Issuer, user.Email, pending))
	if err != nil {
		return Enrolment{}, err
	}
	return enrolmentOf(key)
}

// ConfirmAuthenticator switches to the new authenticator once a code from
// it is given, and ends the user's other sessions.
func (s *Service) ConfirmAuthenticator(ctx context.Context, sess Session, user User, code string, c Client) error {
	attempt, err := s.reserve(ctx, user.Email, c.Address)
	if err != nil {
		return err
	}
	now := s.clock()
	err = s.db.InTx(ctx, func(tx db.Querier) error {
		var pending string
		if err := tx.QueryRowContext(ctx, `SELECT totp_pending_secret FROM users WHERE id = $1`, sess.UserID).Scan(&pending); err != nil {
			return err
		}
		step := matchTOTP(pending, normalizeCode(code), now)
		if step == 0 {
			return errCodeWrong
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET totp_secret = totp_pending_secret, totp_pending_secret = '', totp_last_step = $1, updated_at = $2 WHERE id = $3`, step, now, sess.UserID); err != nil {
			return err
		}
		if err := settle(ctx, tx, attempt); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2`, sess.UserID, sess.hash); err != nil {
			return err
		}
		return audit.Record(ctx, tx, s.db.Dialect(), now, audit.Event{Event: audit.SecondFactorEnrolled, UserID: sess.UserID, Address: c.Address, Detail: "authenticator replaced"})
	})
	if p, ok := problem.As(err); ok && p.Field == "code" {
		s.recordOnly(ctx, audit.Event{Event: audit.SecondFactorFailed, UserID: sess.UserID, Address: c.Address, Detail: "new authenticator: " + p.Key})
	}
	return err
}

func totpGenerate(issuer, account string) (string, error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: account})
	if err != nil {
		return "", err
	}
	return key.Secret(), nil
}

// CurrentCode returns the TOTP code a user's authenticator shows now. Only
// the demo command uses it, to sign in to demonstration accounts.
func (s *Service) CurrentCode(ctx context.Context, email string) (string, error) {
	var secret string
	var enabled bool
	err := db.Check(s.db.Read().QueryRowContext(ctx, `SELECT totp_secret, totp_enabled FROM users WHERE email = $1`, NormalizeEmail(email)).Scan(&secret, &enabled))
	if err != nil {
		return "", err
	}
	if secret == "" || !enabled {
		return "", problem.New(problem.NotFound, "error_no_second_factor")
	}
	return totp.GenerateCodeCustom(secret, s.now(), totpOpts)
}
