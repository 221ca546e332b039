package auth_test

import (
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/problem"
)

func TestParallelWrongPasswordsCannotPassTheLimit(t *testing.T) {
	f := newFixture(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	checked := 0
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := f.svc.SignIn(f.ctx, f.user.Email, "wrong-password-123", f.c)
			if p, ok := problem.As(err); ok && p.Key == "error_signin_wrong" {
				mu.Lock()
				checked++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if checked > 5 {
		t.Fatalf("%d of 40 parallel attempts were checked; the limit is 5", checked)
	}
}

func TestACodeFromAnEmptySecretIsNeverAccepted(t *testing.T) {
	f := newFixture(t)
	f.enrol(t)
	half := f.signIn(t)
	// The factor is removed while the half-finished session waits.
	err := f.db.InTx(f.ctx, func(tx db.Querier) error {
		_, err := tx.ExecContext(f.ctx, `UPDATE users SET totp_secret = '', totp_enabled = FALSE WHERE id = $1`, f.user.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	code, err := totp.GenerateCodeCustom("", f.clock.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.VerifySecondFactor(f.ctx, half, code, f.c)
	wantProblem(t, err, "error_code_wrong")
}

func TestAHalfSignedInSessionSignsOutOnlyItself(t *testing.T) {
	f := newFixture(t)
	full, _, _ := f.enrol(t)
	half := f.signIn(t)
	if err := f.svc.SignOut(f.ctx, half, "x"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.SessionByToken(f.ctx, full); err != nil {
		t.Fatalf("the full session was ended by a password-only session: %v", err)
	}
}

func TestTheSecretIsNotShownAgainOnceEnrolled(t *testing.T) {
	f := newFixture(t)
	token, _, _ := f.svc.SignIn(f.ctx, f.user.Email, password, f.c)
	stale, _, _ := f.svc.SessionByToken(f.ctx, token)
	f.enrol(t)
	if _, err := f.svc.BeginEnrolment(f.ctx, stale); err == nil {
		t.Fatal("a stale enrolment session read the active secret")
	}
	if _, _, err := f.svc.SessionByToken(f.ctx, token); err == nil {
		t.Fatal("the stale half-finished session survived enrolment")
	}
}

func TestProfileCodeChecksAreThrottled(t *testing.T) {
	f := newFixture(t)
	full, _, _ := f.enrol(t)
	sess, u, _ := f.svc.SessionByToken(f.ctx, full)
	for i := 0; i < 5; i++ {
		_, err := f.svc.NewRecoveryCodes(f.ctx, sess, u, "000000", f.c)
		wantProblem(t, err, "error_code_wrong")
	}
	_, err := f.svc.ReplaceAuthenticator(f.ctx, sess, u, "000000", f.c)
	wantProblem(t, err, "error_signin_throttled")
}

func TestReplacingTheAuthenticatorKeepsTheOldOneUntilConfirmed(t *testing.T) {
	f := newFixture(t)
	full, secret, _ := f.enrol(t)
	sess, u, _ := f.svc.SessionByToken(f.ctx, full)
	e, err := f.svc.ReplaceAuthenticator(f.ctx, sess, u, f.code(t, secret), f.c)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Add(30 * time.Second)
	// Not confirmed yet: the old phone still signs in.
	other, err := f.svc.VerifySecondFactor(f.ctx, f.signIn(t), f.code(t, secret), f.c)
	if err != nil {
		t.Fatalf("old authenticator refused before the new one was confirmed: %v", err)
	}
	f.clock.Add(30 * time.Second)
	if err := f.svc.ConfirmAuthenticator(f.ctx, sess, u, "000000", f.c); err == nil {
		t.Fatal("a wrong code confirmed the new authenticator")
	}
	if err := f.svc.ConfirmAuthenticator(f.ctx, sess, u, f.code(t, e.Secret), f.c); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.SessionByToken(f.ctx, other); err == nil {
		t.Fatal("other sessions survived the change of authenticator")
	}
	f.clock.Add(30 * time.Second)
	_, err = f.svc.VerifySecondFactor(f.ctx, f.signIn(t), f.code(t, secret), f.c)
	wantProblem(t, err, "error_code_wrong")
}

func TestTheClientAddressIsTheOneTheTrustedProxyAdded(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.0.0.5:4242"
	r.Header.Add("X-Forwarded-For", "1.2.3.4, 203.0.113.9")
	if got := auth.ClientFromRequest(r, true).Address; got != "203.0.113.9" {
		t.Errorf("behind the proxy: %q", got)
	}
	if got := auth.ClientFromRequest(r, false).Address; got != "10.0.0.5" {
		t.Errorf("without trusting the proxy: %q", got)
	}
	r.Header.Set("X-Forwarded-For", "not-an-ip")
	if got := auth.ClientFromRequest(r, true).Address; got != "10.0.0.5" {
		t.Errorf("garbage header: %q", got)
	}
}
