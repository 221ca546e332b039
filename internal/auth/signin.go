package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"math"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/openimi/openimi/internal/audit"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/problem"
)

// Client identifies where an attempt comes from, for throttling and the
// audit log.
type Client struct {
	Address   string
	UserAgent string
}

// throttled turns a lock's remaining time into the problem users see.
func throttled(d time.Duration) error {
	minutes := int(math.Ceil(d.Minutes()))
	if minutes < 1 {
		minutes = 1
	}
	return problem.New(problem.TooMany, "error_signin_throttled", "Count", minutes)
}

var errWrongCredentials = problem.New(problem.Unauthorized, "error_signin_wrong")

// SignIn checks an e-mail address and password. On success it starts a
// session at the second-factor step (or the enrolment step for a user with
// no second factor yet) and returns its token. Wrong credentials, an unknown
// or deactivated account all give the same answer in the same time.
func (s *Service) SignIn(ctx context.Context, email, password string, c Client) (string, Stage, error) {
	email = NormalizeEmail(email)
	if email == "" || password == "" || len(email) > 254 || len(password) > 4*MaxPasswordLength {
		return "", "", errWrongCredentials
	}
	attempt, err := s.reserve(ctx, email, c.Address)
	if err != nil {
		return "", "", err
	}
	var id, hash string
	var active bool
	err = db.Check(s.db.Read().QueryRowContext(ctx, `SELECT u.id, u.password_hash, `+activeExpr+` FROM `+usersJoined+` WHERE u.email = $1`, email).Scan(&id, &hash, &active))
	if err != nil && !errors.Is(err, db.ErrNotFound) {
		return "", "", err
	}
	if err != nil {
		hash = dummyHash
	}
	ok, err := s.checkPassword(ctx, hash, password)
	if err != nil {
		return "", "", err
	}
	ok = ok && id != ""
	now := s.clock()
	if !ok || !active {
		reason := "wrong password"
		if ok {
			reason = "account deactivated"
		}
		s.recordOnly(ctx, audit.Event{Event: audit.SignInFailed, UserID: id, Subject: email, Address: c.Address, Detail: reason})
		return "", "", errWrongCredentials
	}
	var token string
	var stage Stage
	err = s.db.InTx(ctx, func(tx db.Querier) error {
		// The stage is decided inside the transaction, so that it agrees
		// with the second factor as it is when the session starts.
		var enrolled bool
		if err := tx.QueryRowContext(ctx, `SELECT totp_enabled FROM users WHERE id = $1`, id).Scan(&enrolled); err != nil {
			return err
		}
		stage = StageSecondFactor
		if !enrolled {
			stage = StageEnrol
		}
		if err := passed(ctx, tx, attempt); err != nil {
			return err
		}
		var err error
		if token, err = s.newSession(ctx, tx, id, stage, c.Address, c.UserAgent, now); err != nil {
			return err
		}
		return audit.Record(ctx, tx, s.db.Dialect(), now, audit.Event{Event: audit.SignInSucceeded, UserID: id, Subject: email, Address: c.Address, Detail: "password accepted; next: " + string(stage)})
	})
	return token, stage, err
}

// recordOnly writes an audit event that belongs to no other change.
func (s *Service) recordOnly(ctx context.Context, e audit.Event) {
	_ = s.db.InTx(ctx, func(tx db.Querier) error { return audit.Record(ctx, tx, s.db.Dialect(), s.clock(), e) })
}

// isTOTPCode reports whether the input looks like an authenticator code
// rather than a recovery code.
func isTOTPCode(code string) bool {
	if len(code) != 6 {
		return false
	}
	for _, r := range code {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func normalizeCode(code string) string {
	return strings.ToLower(strings.NewReplacer(" ", "", "-", "").Replace(strings.TrimSpace(code)))
}

var totpOpts = totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// matchTOTP returns the time step at which code is valid for secret, within
// one step of now either side, or 0. An empty secret matches nothing.
func matchTOTP(secret, code string, now time.Time) int64 {
	if secret == "" {
		return 0
	}
	for _, skew := range []int64{0, -1, 1} {
		t := now.Add(time.Duration(skew) * 30 * time.Second)
		want, err := totp.GenerateCodeCustom(secret, t, totpOpts)
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return t.Unix() / 30
		}
	}
	return 0
}

var errCodeWrong = problem.Field("code", "error_code_wrong")

// checkSecondFactor accepts, inside tx, a TOTP code of the user's active
// authenticator once only (its time step must be later than the last one
// used) or an unused recovery code. The secret is read in the transaction,
// so a factor removed meanwhile cannot be used. It returns the audit event
// to record, or a problem.
func checkSecondFactor(ctx context.Context, tx db.Querier, userID, code string, now time.Time) (string, error) {
	var secret string
	var enabled bool
	if err := tx.QueryRowContext(ctx, `SELECT totp_secret, totp_enabled FROM users WHERE id = $1`, userID).Scan(&secret, &enabled); err != nil {
		return "", err
	}
	if !enabled || secret == "" {
		return "", errCodeWrong
	}
	code = normalizeCode(code)
	if isTOTPCode(code) {
		step := matchTOTP(secret, code, now)
		if step == 0 {
			return "", errCodeWrong
		}
		res, err := tx.ExecContext(ctx, `UPDATE users SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $1`, step, userID)
		if err != nil {
			return "", err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return "", problem.Field("code", "error_code_used")
		}
		return audit.SecondFactorUsed, nil
	}
	if len(code) < 8 || len(code) > 40 {
		return "", errCodeWrong
	}
	res, err := tx.ExecContext(ctx, `UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL`, now, userID, tokenHash(code))
	if err != nil {
		return "", err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return "", errCodeWrong
	}
	return audit.RecoveryCodeUsed, nil
}

// withSecondFactor runs a change that needs a security code: the attempt is
// throttled, the code checked, and fn runs in the same transaction as the
// check. A wrong code is audited and stays counted.
func (s *Service) withSecondFactor(ctx context.Context, userID, email, code string, c Client, fn func(tx db.Querier, event string, now time.Time) error) error {
	attempt, err := s.reserve(ctx, email, c.Address)
	if err != nil {
		return err
	}
	return s.checkSecondFactorThen(ctx, attempt, userID, code, c, fn)
}

// checkSecondFactorThen is withSecondFactor for a caller that has already
// counted the attempt with reserve.
func (s *Service) checkSecondFactorThen(ctx context.Context, attempt reservation, userID, code string, c Client, fn func(tx db.Querier, event string, now time.Time) error) error {
	now := s.clock()
	err := s.db.InTx(ctx, func(tx db.Querier) error {
		event, err := checkSecondFactor(ctx, tx, userID, code, now)
		if err != nil {
			return err
		}
		if err := settle(ctx, tx, attempt); err != nil {
			return err
		}
		return fn(tx, event, now)
	})
	if p, ok := problem.As(err); ok && p.Field == "code" {
		s.recordOnly(ctx, audit.Event{Event: audit.SecondFactorFailed, UserID: userID, Address: c.Address, Detail: p.Key})
	}
	return err
}

// VerifySecondFactor completes sign-in with a security code (or a recovery
// code). The half-finished session is replaced by a new full one, whose
// token is returned.
func (s *Service) VerifySecondFactor(ctx context.Context, sess Session, code string, c Client) (string, error) {
	if sess.Stage != StageSecondFactor {
		return "", problem.New(problem.Forbidden, "error_session_expired")
	}
	var email string
	if err := db.Check(s.db.Read().QueryRowContext(ctx, `SELECT email FROM users WHERE id = $1`, sess.UserID).Scan(&email)); err != nil {
		return "", err
	}
	var token string
	err := s.withSecondFactor(ctx, sess.UserID, email, code, c, func(tx db.Querier, event string, now time.Time) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE token_hash = $1`, sess.hash)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return problem.New(problem.Unauthorized, "error_session_expired") // ended meanwhile
		}
		if token, err = s.newSession(ctx, tx, sess.UserID, StageFull, c.Address, c.UserAgent, now); err != nil {
			return err
		}
		if err := recordSignIn(ctx, tx, sess.UserID, now); err != nil {
			return err
		}
		return audit.Record(ctx, tx, s.db.Dialect(), now, audit.Event{Event: event, UserID: sess.UserID, Address: c.Address})
	})
	return token, err
}

// recordSignIn notes when a user last completed sign-in (coordinators see
// which authorities never use the system).
func recordSignIn(ctx context.Context, tx db.Querier, userID string, now time.Time) error {
	_, err := tx.ExecContext(ctx, `UPDATE users SET last_sign_in_at = $1 WHERE id = $2`, now, userID)
	return err
}
