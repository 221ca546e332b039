package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"image/png"
	"net/url"
	"strings"

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
	if err := db.Check(s.db.Read().QueryRowContext(ctx, `SELECT email, totp_secret FROM users WHERE id = $1`, sess.UserID).Scan(&email, &secret)); err != nil {
		return Enrolment{}, err
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
	var secret string
	if err := db.Check(s.db.Read().QueryRowContext(ctx, `SELECT totp_secret FROM users WHERE id = $1`, sess.UserID).Scan(&secret)); err != nil {
		return "", nil, err
	}
	code = normalizeCode(code)
	if secret == "" || !isTOTPCode(code) {
		return "", nil, problem.Field("code", "error_code_wrong")
	}
	now := s.clock()
	step := matchTOTP(secret, code, now)
	if step == 0 {
		return "", nil, problem.Field("code", "error_code_wrong")
	}
	codes := newRecoveryCodes()
	var token string
	err := s.db.InTx(ctx, func(tx db.Querier) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET totp_enabled = TRUE, totp_last_step = $1, updated_at = $2 WHERE id = $3 AND totp_secret = $4 AND totp_enabled = FALSE`,
			step, now, sess.UserID, secret)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return problem.Field("code", "error_code_used")
		}
		if err := storeRecoveryCodes(ctx, tx, sess.UserID, codes); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE token_hash = $1`, sess.hash); err != nil {
			return err
		}
		if token, err = s.newSession(ctx, tx, sess.UserID, StageFull, c.Address, c.UserAgent, now); err != nil {
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
func (s *Service) NewRecoveryCodes(ctx context.Context, sess Session, code string, c Client) ([]string, error) {
	var secret string
	if err := db.Check(s.db.Read().QueryRowContext(ctx, `SELECT totp_secret FROM users WHERE id = $1`, sess.UserID).Scan(&secret)); err != nil {
		return nil, err
	}
	now := s.clock()
	codes := newRecoveryCodes()
	err := s.db.InTx(ctx, func(tx db.Querier) error {
		if _, err := checkSecondFactor(ctx, tx, sess.UserID, secret, code, now); err != nil {
			return err
		}
		if err := storeRecoveryCodes(ctx, tx, sess.UserID, codes); err != nil {
			return err
		}
		return audit.Record(ctx, tx, s.db.Dialect(), now, audit.Event{Event: audit.SecondFactorEnrolled, UserID: sess.UserID, Address: c.Address, Detail: "new recovery codes"})
	})
	return codes, err
}

// ReplaceAuthenticator turns the second factor off after checking a current
// code and sends the session back to the enrolment step, so that the user
// enrols a new authenticator before doing anything else.
func (s *Service) ReplaceAuthenticator(ctx context.Context, sess Session, code string, c Client) error {
	var secret string
	if err := db.Check(s.db.Read().QueryRowContext(ctx, `SELECT totp_secret FROM users WHERE id = $1`, sess.UserID).Scan(&secret)); err != nil {
		return err
	}
	now := s.clock()
	return s.db.InTx(ctx, func(tx db.Querier) error {
		if _, err := checkSecondFactor(ctx, tx, sess.UserID, secret, code, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET totp_enabled = FALSE, totp_secret = '', updated_at = $1 WHERE id = $2`, now, sess.UserID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2`, sess.UserID, sess.hash); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET stage = $1 WHERE token_hash = $2`, string(StageEnrol), sess.hash); err != nil {
			return err
		}
		return audit.Record(ctx, tx, s.db.Dialect(), now, audit.Event{Event: audit.SecondFactorEnrolled, UserID: sess.UserID, Address: c.Address, Detail: "authenticator removed; re-enrolment started"})
	})
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
