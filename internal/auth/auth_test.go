package auth_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/openimi/openimi/internal/audit"
	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/db/dbtest"
	"github.com/openimi/openimi/internal/problem"
	"github.com/openimi/openimi/internal/testkit"
)

const password = "correct-horse-battery-9"

type fixture struct {
	ctx   context.Context
	db    *db.DB
	svc   *auth.Service
	clock *testkit.Clock
	user  auth.User
	c     auth.Client
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	d := dbtest.Open(t)
	clk := testkit.NewClock(time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC))
	svc := auth.New(d, auth.Settings{PublicURL: "http://imi.test"}, clk.Now)
	u, err := svc.CreateUser(context.Background(), auth.NewUser{Email: "Anna.Nowak@Example.PL", Name: "Anna Nowak", Password: password, Language: "pl"})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{ctx: context.Background(), db: d, svc: svc, clock: clk, user: u, c: auth.Client{Address: "192.0.2.7", UserAgent: "test"}}
}

func wantProblem(t *testing.T, err error, key string) *problem.Error {
	t.Helper()
	p, ok := problem.As(err)
	if !ok {
		t.Fatalf("err = %v, want problem %s", err, key)
	}
	if p.Key != key {
		t.Fatalf("problem %s, want %s", p.Key, key)
	}
	return p
}

// enrol signs in, enrols a second factor and returns the full session's
// token, the TOTP secret and the recovery codes.
func (f *fixture) enrol(t *testing.T) (string, string, []string) {
	t.Helper()
	token, stage, err := f.svc.SignIn(f.ctx, f.user.Email, password, f.c)
	if err != nil || stage != auth.StageEnrol {
		t.Fatalf("sign in: %v %v", stage, err)
	}
	sess, _, err := f.svc.SessionByToken(f.ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	e, err := f.svc.BeginEnrolment(f.ctx, sess)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(e.QRCode, "data:image/png;base64,") || !strings.HasPrefix(e.URL, "otpauth://totp/") {
		t.Fatalf("enrolment %q %q", e.QRCode[:30], e.URL)
	}
	full, codes, err := f.svc.ConfirmEnrolment(f.ctx, sess, f.code(t, e.Secret), f.c)
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes", len(codes))
	}
	f.clock.Add(30 * time.Second) // the next code is a new one
	return full, e.Secret, codes
}

func (f *fixture) code(t *testing.T, secret string) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, f.clock.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// signIn does the password step and returns the half-finished session.
func (f *fixture) signIn(t *testing.T) auth.Session {
	t.Helper()
	token, stage, err := f.svc.SignIn(f.ctx, f.user.Email, password, f.c)
	if err != nil || stage != auth.StageSecondFactor {
		t.Fatalf("sign in: %v %v", stage, err)
	}
	sess, _, err := f.svc.SessionByToken(f.ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	return sess
}

func TestPasswordRules(t *testing.T) {
	cases := []struct {
		password string
		key      string
	}{
		{"short-pw-1", "error_password_too_short"},
		{strings.Repeat("x1", 65), "error_password_too_long"},
		{"password1234", "error_password_common"},
		{"Welcome2026!!", "error_password_common"},
		{"aaaaaaaaaaaaaa", "error_password_common"},
		{"123456789012", "error_password_common"},
		{"anna.nowak-2026", "error_password_common"},
		{"Żółta-gęś-lata-7", ""},
		{"correct-horse-battery-9", ""},
	}
	for _, c := range cases {
		err := auth.ValidatePassword(c.password, "anna.nowak@example.pl")
		if c.key == "" {
			if err != nil {
				t.Errorf("%q refused: %v", c.password, err)
			}
			continue
		}
		if p, ok := problem.As(err); !ok || p.Key != c.key {
			t.Errorf("%q: err = %v, want %s", c.password, err, c.key)
		}
	}
}

func TestPasswordsAreStoredAsArgon2idHashes(t *testing.T) {
	f := newFixture(t)
	var hash string
	if err := f.db.Read().QueryRowContext(f.ctx, `SELECT password_hash FROM users WHERE id = $1`, f.user.ID).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$") || strings.Contains(hash, password) {
		t.Fatalf("hash %q", hash)
	}
	ok, err := auth.CheckPassword(hash, password)
	if !ok || err != nil {
		t.Fatalf("check %v %v", ok, err)
	}
}

// A stored hash whose key was cut short (or emptied) must match nothing:
// with an empty key, any password would derive the same empty key.
func TestATruncatedHashMatchesNoPassword(t *testing.T) {
	hash, err := auth.HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	prefix := hash[:strings.LastIndex(hash, "$")+1]
	// Parameters that would crash argon2 or make it worthless.
	params := regexp.MustCompile(`m=\d+,t=\d+,p=\d+`)
	bad := []string{prefix, prefix + "AAAA"}
	for _, p := range []string{"m=19456,t=2,p=0", "m=19456,t=0,p=1", "m=0,t=2,p=1"} {
		bad = append(bad, params.ReplaceAllString(hash, p))
	}
	for _, h := range bad {
		for _, p := range []string{password, "", "anything"} {
			if ok, err := auth.CheckPassword(h, p); ok || err == nil {
				t.Errorf("CheckPassword(%q, %q) = %v, %v; want false and an error", h, p, ok, err)
			}
		}
	}
}

func TestEmailIsUniqueWhateverItsCase(t *testing.T) {
	f := newFixture(t)
	_, err := f.svc.CreateUser(f.ctx, auth.NewUser{Email: "anna.nowak@example.pl", Name: "Other", Password: "another-good-pass-1"})
	wantProblem(t, err, "error_email_taken")
}

func TestWrongPasswordAndUnknownAccountAnswerAlike(t *testing.T) {
	f := newFixture(t)
	_, _, err1 := f.svc.SignIn(f.ctx, f.user.Email, "wrong-password-123", f.c)
	_, _, err2 := f.svc.SignIn(f.ctx, "nobody@example.eu", "wrong-password-123", f.c)
	wantProblem(t, err1, "error_signin_wrong")
	wantProblem(t, err2, "error_signin_wrong")
}

func TestFiveFailuresLockTheAccountForAGrowingPeriod(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 5; i++ {
		_, _, err := f.svc.SignIn(f.ctx, f.user.Email, "wrong-password-123", f.c)
		wantProblem(t, err, "error_signin_wrong")
	}
	// Locked now, even with the right password.
	_, _, err := f.svc.SignIn(f.ctx, f.user.Email, password, f.c)
	p := wantProblem(t, err, "error_signin_throttled")
	if p.Kind != problem.TooMany || p.Args[1] != 1 {
		t.Fatalf("problem %+v", p)
	}
	f.clock.Add(61 * time.Second)
	_, _, err = f.svc.SignIn(f.ctx, f.user.Email, "wrong-password-123", f.c)
	wantProblem(t, err, "error_signin_wrong")
	_, _, err = f.svc.SignIn(f.ctx, f.user.Email, password, f.c)
	p = wantProblem(t, err, "error_signin_throttled")
	if p.Args[1] != 2 {
		t.Fatalf("second lock lasts %v minutes, want 2", p.Args[1])
	}
	f.clock.Add(2 * time.Minute)
	if _, _, err := f.svc.SignIn(f.ctx, f.user.Email, password, f.c); err != nil {
		t.Fatalf("after the lock: %v", err)
	}
}

func TestTwentyFailuresFromOneAddressLockIt(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 20; i++ {
		_, _, err := f.svc.SignIn(f.ctx, "someone"+string(rune('a'+i))+"@example.eu", "wrong-password-123", f.c)
		wantProblem(t, err, "error_signin_wrong")
	}
	_, _, err := f.svc.SignIn(f.ctx, f.user.Email, password, f.c)
	wantProblem(t, err, "error_signin_throttled")
	other := f.c
	other.Address = "198.51.100.9"
	if _, _, err := f.svc.SignIn(f.ctx, f.user.Email, password, other); err != nil {
		t.Fatalf("another address: %v", err)
	}
}

func TestFirstSignInLeadsToEnrolmentAndAFullSession(t *testing.T) {
	f := newFixture(t)
	full, _, _ := f.enrol(t)
	sess, u, err := f.svc.SessionByToken(f.ctx, full)
	if err != nil || sess.Stage != auth.StageFull || !u.TOTPEnabled {
		t.Fatalf("%v %+v %+v", err, sess, u)
	}
}

func TestEnrolmentRefusesAWrongCode(t *testing.T) {
	f := newFixture(t)
	token, _, _ := f.svc.SignIn(f.ctx, f.user.Email, password, f.c)
	sess, _, _ := f.svc.SessionByToken(f.ctx, token)
	if _, err := f.svc.BeginEnrolment(f.ctx, sess); err != nil {
		t.Fatal(err)
	}
	_, _, err := f.svc.ConfirmEnrolment(f.ctx, sess, "000000", f.c)
	wantProblem(t, err, "error_code_wrong")
}

func TestATOTPCodeIsAcceptedOnceOnly(t *testing.T) {
	f := newFixture(t)
	_, secret, _ := f.enrol(t)
	code := f.code(t, secret)
	first := f.signIn(t)
	if _, err := f.svc.VerifySecondFactor(f.ctx, first, code, f.c); err != nil {
		t.Fatal(err)
	}
	second := f.signIn(t)
	_, err := f.svc.VerifySecondFactor(f.ctx, second, code, f.c)
	wantProblem(t, err, "error_code_used")
}

func TestSecondFactorReplacesTheSessionWithANewOne(t *testing.T) {
	f := newFixture(t)
	_, secret, _ := f.enrol(t)
	half := f.signIn(t)
	full, err := f.svc.VerifySecondFactor(f.ctx, half, f.code(t, secret), f.c)
	if err != nil {
		t.Fatal(err)
	}
	sess, _, err := f.svc.SessionByToken(f.ctx, full)
	if err != nil || sess.Stage != auth.StageFull {
		t.Fatalf("%v %v", sess.Stage, err)
	}
	if sess.CSRFToken == half.CSRFToken {
		t.Fatal("the full session reuses the half session's CSRF token")
	}
}

func TestARecoveryCodeWorksOnceOnly(t *testing.T) {
	f := newFixture(t)
	_, _, codes := f.enrol(t)
	if _, err := f.svc.VerifySecondFactor(f.ctx, f.signIn(t), strings.ToUpper(codes[3]), f.c); err != nil {
		t.Fatalf("recovery code refused: %v", err)
	}
	_, err := f.svc.VerifySecondFactor(f.ctx, f.signIn(t), codes[3], f.c)
	wantProblem(t, err, "error_code_wrong")
	if n, _ := f.svc.RecoveryCodesLeft(f.ctx, f.user.ID); n != 9 {
		t.Fatalf("%d codes left", n)
	}
}

func TestWrongCodesCountTowardsThrottling(t *testing.T) {
	f := newFixture(t)
	_, secret, _ := f.enrol(t)
	for i := 0; i < 5; i++ {
		_, err := f.svc.VerifySecondFactor(f.ctx, f.signIn(t), "000000", f.c)
		wantProblem(t, err, "error_code_wrong")
	}
	_, _, err := f.svc.SignIn(f.ctx, f.user.Email, password, f.c)
	wantProblem(t, err, "error_signin_throttled")
	_ = secret
}

func TestSessionsEndWhenIdleAndAtTheirAbsoluteLimit(t *testing.T) {
	f := newFixture(t)
	full, _, _ := f.enrol(t)
	f.clock.Add(29 * time.Minute)
	if _, _, err := f.svc.SessionByToken(f.ctx, full); err != nil {
		t.Fatalf("29 minutes idle: %v", err)
	}
	f.clock.Add(31 * time.Minute)
	_, _, err := f.svc.SessionByToken(f.ctx, full)
	wantProblem(t, err, "error_session_expired")

	full, _, _ = f.enrol2(t)
	for i := 0; i < 35; i++ { // busy for 11 h 40 min, never idle
		f.clock.Add(20 * time.Minute)
		if _, _, err := f.svc.SessionByToken(f.ctx, full); err != nil {
			t.Fatalf("after %v of use: %v", time.Duration(i+1)*20*time.Minute, err)
		}
	}
	f.clock.Add(21 * time.Minute) // past 12 h, though used 21 minutes ago
	_, _, err = f.svc.SessionByToken(f.ctx, full)
	wantProblem(t, err, "error_session_expired")
}

// enrol2 signs in again for a user who is already enrolled.
func (f *fixture) enrol2(t *testing.T) (string, string, []string) {
	t.Helper()
	var secret string
	if err := f.db.Read().QueryRowContext(f.ctx, `SELECT totp_secret FROM users WHERE id = $1`, f.user.ID).Scan(&secret); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(30 * time.Second)
	full, err := f.svc.VerifySecondFactor(f.ctx, f.signIn(t), f.code(t, secret), f.c)
	if err != nil {
		t.Fatal(err)
	}
	return full, secret, nil
}

func TestSignOutEndsEverySessionOfTheUser(t *testing.T) {
	f := newFixture(t)
	a, _, _ := f.enrol(t)
	b, _, _ := f.enrol2(t)
	sess, _, err := f.svc.SessionByToken(f.ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.SignOut(f.ctx, sess, f.c.Address); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{a, b} {
		_, _, err := f.svc.SessionByToken(f.ctx, tok)
		wantProblem(t, err, "error_session_expired")
	}
}

func TestDeactivationEndsSessionsAndTokens(t *testing.T) {
	f := newFixture(t)
	full, _, _ := f.enrol(t)
	_, secret, err := f.svc.CreateToken(f.ctx, f.user.Email, "ci")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AuthenticateToken(f.ctx, secret, "x"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Deactivate(f.ctx, f.user.ID, "x"); err != nil {
		t.Fatal(err)
	}
	_, _, err = f.svc.SessionByToken(f.ctx, full)
	wantProblem(t, err, "error_session_expired")
	_, err = f.svc.AuthenticateToken(f.ctx, secret, "x")
	wantProblem(t, err, "error_token_invalid")
	_, _, err = f.svc.SignIn(f.ctx, f.user.Email, password, f.c)
	wantProblem(t, err, "error_signin_wrong")
}

func TestRevokedTokensStopWorking(t *testing.T) {
	f := newFixture(t)
	tok, secret, err := f.svc.CreateToken(f.ctx, f.user.Email, "ci")
	if err != nil {
		t.Fatal(err)
	}
	var stored []byte
	if err := f.db.Read().QueryRowContext(f.ctx, `SELECT token_hash FROM api_tokens WHERE id = $1`, tok.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(stored), secret) {
		t.Fatal("token stored in clear")
	}
	if err := f.svc.RevokeToken(f.ctx, "someone-else", tok.ID); err == nil {
		t.Fatal("another user revoked the token")
	}
	if err := f.svc.RevokeToken(f.ctx, f.user.ID, tok.ID); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.AuthenticateToken(f.ctx, secret, "x")
	wantProblem(t, err, "error_token_invalid")
}

func resetToken(t *testing.T, f *fixture) string {
	t.Helper()
	if err := f.svc.RequestPasswordReset(f.ctx, f.user.Email, f.c); err != nil {
		t.Fatal(err)
	}
	var payload string
	if err := f.db.Read().QueryRowContext(f.ctx, `SELECT payload FROM outbox WHERE kind = 'password_reset' ORDER BY created_at DESC LIMIT 1`).Scan(&payload); err != nil {
		t.Fatal(err)
	}
	i := strings.Index(payload, "/password/reset/")
	if i < 0 {
		t.Fatalf("no link in %s", payload)
	}
	tok := payload[i+len("/password/reset/"):]
	return tok[:strings.IndexAny(tok, `"\`)]
}

func TestPasswordResetNeedsTheSecondFactorAndWorksOnce(t *testing.T) {
	f := newFixture(t)
	_, secret, _ := f.enrol(t)
	tok := resetToken(t, f)
	need, err := f.svc.CheckResetToken(f.ctx, tok)
	if err != nil || !need {
		t.Fatalf("need code %v err %v", need, err)
	}
	err = f.svc.ResetPassword(f.ctx, tok, "a-brand-new-passphrase", "", f.c)
	wantProblem(t, err, "error_code_wrong")
	if err := f.svc.ResetPassword(f.ctx, tok, "a-brand-new-passphrase", f.code(t, secret), f.c); err != nil {
		t.Fatal(err)
	}
	err = f.svc.ResetPassword(f.ctx, tok, "yet-another-passphrase", f.code(t, secret), f.c)
	wantProblem(t, err, "error_reset_invalid")
	if _, _, err := f.svc.SignIn(f.ctx, f.user.Email, "a-brand-new-passphrase", f.c); err != nil {
		t.Fatalf("new password: %v", err)
	}
}

func TestResetLinksExpire(t *testing.T) {
	f := newFixture(t)
	tok := resetToken(t, f)
	f.clock.Add(61 * time.Minute)
	_, err := f.svc.CheckResetToken(f.ctx, tok)
	wantProblem(t, err, "error_reset_invalid")
}

func TestResetForAnUnknownAddressSendsNothing(t *testing.T) {
	f := newFixture(t)
	if err := f.svc.RequestPasswordReset(f.ctx, "nobody@example.eu", f.c); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := f.db.Read().QueryRowContext(f.ctx, `SELECT COUNT(*) FROM outbox`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d e-mails queued", n)
	}
}

func TestSecurityEventsAreAuditedInAnIntactChain(t *testing.T) {
	f := newFixture(t)
	_, _, _ = f.svc.SignIn(f.ctx, f.user.Email, "wrong-password-123", f.c)
	f.enrol(t)
	rows, err := f.db.Read().QueryContext(f.ctx, `SELECT event FROM audit_log ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var events []string
	for rows.Next() {
		var e string
		_ = rows.Scan(&e)
		events = append(events, e)
	}
	want := []string{audit.UserCreated, audit.SignInFailed, audit.SignInSucceeded, audit.SecondFactorEnrolled}
	if strings.Join(events, ",") != strings.Join(want, ",") {
		t.Fatalf("events %v, want %v", events, want)
	}
	if _, err := audit.Verify(f.ctx, f.db.Read()); err != nil {
		t.Fatal(err)
	}
}

func TestChangePasswordChecksTheCurrentOneAndEndsOtherSessions(t *testing.T) {
	f := newFixture(t)
	mine, _, _ := f.enrol(t)
	other, _, _ := f.enrol2(t)
	sess, _, _ := f.svc.SessionByToken(f.ctx, mine)
	err := f.svc.ChangePassword(f.ctx, sess, "not-the-password", "a-brand-new-passphrase", f.c)
	wantProblem(t, err, "error_password_wrong")
	if err := f.svc.ChangePassword(f.ctx, sess, password, "a-brand-new-passphrase", f.c); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.SessionByToken(f.ctx, mine); err != nil {
		t.Fatalf("own session ended: %v", err)
	}
	_, _, err = f.svc.SessionByToken(f.ctx, other)
	wantProblem(t, err, "error_session_expired")
}

func TestUnknownLanguageIsRefused(t *testing.T) {
	f := newFixture(t)
	err := f.svc.SetLanguage(f.ctx, f.user.ID, "xx")
	wantProblem(t, err, "error_language_unknown")
	var lang string
	_ = f.db.Read().QueryRowContext(f.ctx, `SELECT language FROM users WHERE id = $1`, f.user.ID).Scan(&lang)
	if lang != "pl" {
		t.Fatalf("language changed to %q", lang)
	}
	if !errors.Is(f.svc.SetLanguage(f.ctx, f.user.ID, "el"), nil) {
		t.Fatal("el refused")
	}
}

// A session is read with the registry's revision, so that a page needs no
// statement of its own to read it (authorities.KnowRevision).
func TestASessionCarriesTheRegistryRevision(t *testing.T) {
	f := newFixture(t)
	full, _, _ := f.enrol(t)
	revision := func() int64 {
		t.Helper()
		var r int64
		if err := f.db.Read().QueryRowContext(f.ctx, `SELECT revision FROM registry_revision WHERE id = 1`).Scan(&r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	for range 2 {
		sess, _, err := f.svc.SessionByToken(f.ctx, full)
		if err != nil {
			t.Fatal(err)
		}
		if want := revision(); sess.RegistryRevision != want {
			t.Fatalf("the session read revision %d, the registry is at %d", sess.RegistryRevision, want)
		}
		if err := f.db.InTx(f.ctx, func(tx db.Querier) error {
			_, err := tx.ExecContext(f.ctx, `UPDATE registry_revision SET revision = revision + 7`)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
}
