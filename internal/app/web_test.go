package app_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/openimi/openimi/internal/db"
)

func TestFirstSignInEnrolsTheSecondFactorAndReachesHome(t *testing.T) {
	s := startSite(t)
	b := s.enrol()
	r := b.get("/")
	if r.code != http.StatusOK || !strings.Contains(r.body, "Anna Nowak") {
		t.Fatalf("home: %d", r.code)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("signed-in page Cache-Control %q", r.header.Get("Cache-Control"))
	}
}

func TestAnonymousVisitorsAreSentToSignIn(t *testing.T) {
	s := startSite(t)
	b := s.browser()
	for _, p := range []string{"/", "/profile"} {
		r := b.get(p)
		if r.code != http.StatusSeeOther || !strings.HasPrefix(r.location(), "/sign-in") {
			t.Errorf("%s: %d %s", p, r.code, r.location())
		}
	}
	r := b.post("/profile/language", url.Values{"language": {"pl"}})
	if r.code != http.StatusUnauthorized {
		t.Errorf("anonymous POST: %d", r.code)
	}
}

func TestAHalfSignedInSessionReachesOnlyItsNextStep(t *testing.T) {
	s := startSite(t)
	s.enrol()
	b := s.browser()
	b.get("/sign-in")
	b.post("/sign-in", url.Values{"email": {"anna@example.pl"}, "password": {testPassword}})
	for _, p := range []string{"/", "/profile", "/sign-in/enrol"} {
		r := b.get(p)
		if r.code != http.StatusSeeOther || r.location() != "/sign-in/code" {
			t.Errorf("%s: %d %s, want a redirect to the code step", p, r.code, r.location())
		}
	}
}

func TestEveryPageCarriesTheSecurityHeaders(t *testing.T) {
	s := startSite(t)
	b := s.enrol()
	for _, p := range []string{"/", "/profile", "/help", "/language", "/no-such-page"} {
		r := b.get(p)
		csp := r.header.Get("Content-Security-Policy")
		for _, want := range []string{"frame-ancestors 'none'", "script-src 'self' 'nonce-", "default-src 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", p, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: CSP allows unsafe code: %q", p, csp)
		}
		nonce := csp[strings.Index(csp, "'nonce-")+7:]
		nonce = nonce[:strings.Index(nonce, "'")]
		if !strings.Contains(r.body, `nonce="`+nonce+`"`) {
			t.Errorf("%s: the page's script does not carry the CSP nonce", p)
		}
		if r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("Referrer-Policy") == "" {
			t.Errorf("%s: headers %v", p, r.header)
		}
		if r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: signed-in page Cache-Control %q", p, r.header.Get("Cache-Control"))
		}
		if r.header.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: HSTS over plain HTTP", p)
		}
	}
	if r := b.get("/no-such-page"); r.code != http.StatusNotFound {
		t.Errorf("unknown page: %d", r.code)
	}
}

func TestSessionCookieIsHttpOnlyLaxAndNotReadableByScripts(t *testing.T) {
	s := startSite(t)
	b := s.browser()
	b.get("/sign-in")
	req, _ := http.NewRequest(http.MethodPost, s.srv.URL+"/sign-in", strings.NewReader(url.Values{"csrf": {b.csrf}, "email": {"anna@example.pl"}, "password": {testPassword}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var found bool
	for _, c := range res.Cookies() {
		if c.Name == "imi_session" {
			found = true
			if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure {
				t.Errorf("cookie %+v", c)
			}
		}
	}
	if !found {
		t.Fatal("no session cookie")
	}
}

func TestOverHTTPSTheSessionCookieIsAHostPrefixedSecureCookieWithHSTS(t *testing.T) {
	s := startSite(t, "--public-url", "https://imi.example.eu")
	b := s.browser()
	r := b.get("/sign-in")
	if r.header.Get("Strict-Transport-Security") == "" {
		t.Error("no HSTS")
	}
	sc := strings.Join(r.header.Values("Set-Cookie"), "\n")
	if !strings.Contains(sc, "__Host-imi_csrf=") || !strings.Contains(sc, "Secure") {
		t.Errorf("cookies %q", sc)
	}
}

func TestWrongPasswordShowsATranslatedErrorAndKeepsTheEmail(t *testing.T) {
	s := startSite(t)
	b := s.browser()
	b.lang = "pl"
	b.get("/sign-in")
	r := b.post("/sign-in", url.Values{"email": {"anna@example.pl"}, "password": {"wrong-password-123"}})
	if r.code != http.StatusUnauthorized {
		t.Fatalf("status %d", r.code)
	}
	en := s.app.Catalog.Localizer("en").T("error_signin_wrong")
	pl := s.app.Catalog.Localizer("pl").T("error_signin_wrong")
	if pl == en || !strings.Contains(r.body, pl) {
		t.Errorf("the Polish message %q is not on the page", pl)
	}
	if !strings.Contains(r.body, `value="anna@example.pl"`) {
		t.Error("the e-mail address typed was not kept")
	}
	if strings.Contains(r.body, "wrong-password-123") {
		t.Error("the password was echoed back")
	}
	if !strings.Contains(r.body, `<html lang="pl"`) {
		t.Error("page not in Polish")
	}
}

func TestSixthFailedAttemptIsThrottledWithAClearMessage(t *testing.T) {
	s := startSite(t)
	b := s.browser()
	b.get("/sign-in")
	for i := 0; i < 5; i++ {
		b.post("/sign-in", url.Values{"email": {"anna@example.pl"}, "password": {"wrong-password-123"}})
	}
	r := b.post("/sign-in", url.Values{"email": {"anna@example.pl"}, "password": {testPassword}})
	if r.code != http.StatusTooManyRequests {
		t.Fatalf("status %d", r.code)
	}
	if want := s.app.Catalog.Localizer("en").N("error_signin_throttled", 1); !strings.Contains(r.body, strings.Split(want, ".")[0]) {
		t.Errorf("no throttling message %q", want)
	}
}

func TestAReplayedCodeIsRefused(t *testing.T) {
	s := startSite(t)
	first := s.enrol()
	// The enrolment used the current code: the same code cannot sign in again.
	b := s.browser()
	b.get("/sign-in")
	b.post("/sign-in", url.Values{"email": {"anna@example.pl"}, "password": {testPassword}})
	b.get("/sign-in/code")
	r := b.post("/sign-in/code", url.Values{"code": {code(t, first.secret)}})
	if r.code != http.StatusBadRequest || !strings.Contains(r.body, "already been used") {
		if !(r.code == http.StatusSeeOther) { // the 30-s window may have turned over
			t.Fatalf("replay: %d", r.code)
		}
	}
}

func TestFormsWithoutAValidCSRFTokenAreRefusedAndChangeNothing(t *testing.T) {
	s := startSite(t)
	b := s.enrol()
	b.get("/profile")
	r := b.post("/profile/language", url.Values{"language": {"el"}, "csrf": {"forged"}})
	if r.code != http.StatusForbidden {
		t.Fatalf("forged token: %d", r.code)
	}
	r = b.post("/profile/language", url.Values{"language": {"el"}, "csrf": {""}})
	if r.code != http.StatusForbidden {
		t.Fatalf("no token: %d", r.code)
	}
	if n := s.count(t, `SELECT COUNT(*) FROM users WHERE language = 'el'`); n != 0 {
		t.Fatal("language changed by a forged request")
	}
}

func TestCrossSiteRequestsAreRefusedEvenWithAToken(t *testing.T) {
	s := startSite(t)
	b := s.enrol()
	b.get("/profile")
	req, _ := http.NewRequest(http.MethodPost, s.srv.URL+"/profile/language", strings.NewReader(url.Values{"language": {"el"}, "csrf": {b.csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if r := b.do(req); r.code != http.StatusForbidden {
		t.Fatalf("cross-site POST: %d", r.code)
	}
	if n := s.count(t, `SELECT COUNT(*) FROM users WHERE language = 'el'`); n != 0 {
		t.Fatal("language changed by a cross-site request")
	}
}

func TestChoosingALanguageChangesThePageAndTheProfile(t *testing.T) {
	s := startSite(t)
	b := s.enrol()
	b.get("/language")
	r := b.post("/language", url.Values{"lang": {"el"}, "next": {"/profile"}})
	if r.code != http.StatusSeeOther || r.location() != "/profile" {
		t.Fatalf("%d %s", r.code, r.location())
	}
	r = b.get("/profile")
	if !strings.Contains(r.body, `<html lang="el"`) || r.header.Get("Content-Language") != "el" {
		t.Fatal("profile not in Greek")
	}
	if n := s.count(t, `SELECT COUNT(*) FROM users WHERE language = 'el'`); n != 1 {
		t.Fatal("language not stored in the profile")
	}
}

func TestAnUnknownLanguageGetsATranslatedErrorAndChangesNothing(t *testing.T) {
	s := startSite(t)
	b := s.browser()
	b.lang = "de"
	b.get("/language")
	r := b.post("/language", url.Values{"lang": {"xx"}})
	de := s.app.Catalog.Localizer("de").T("error_language_unknown")
	if r.code != http.StatusBadRequest || !strings.Contains(r.body, de) {
		t.Fatalf("%d, want 400 with %q", r.code, de)
	}
	for _, c := range r.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "imi_lang=") {
			t.Fatal("language cookie set for an unknown language")
		}
	}
}

func TestAnonymousLanguageChoiceBeatsTheBrowserHeader(t *testing.T) {
	s := startSite(t)
	b := s.browser()
	b.lang = "de"
	b.get("/language")
	b.post("/language", url.Values{"lang": {"pl"}, "next": {"/sign-in"}})
	if r := b.get("/sign-in"); !strings.Contains(r.body, `<html lang="pl"`) {
		t.Fatal("sign-in page not in the chosen Polish")
	}
}

func TestOversizedAndMalformedFormsAreRefusedWithoutChange(t *testing.T) {
	s := startSite(t)
	b := s.browser()
	b.get("/sign-in")
	r := b.post("/sign-in", url.Values{"email": {"anna@example.pl"}, "password": {strings.Repeat("x", 2<<20)}})
	if r.code != http.StatusRequestEntityTooLarge {
		t.Errorf("2 MiB form: %d", r.code)
	}
	r = b.post("/sign-in", url.Values{"email": {strings.Repeat("a", 20000)}, "password": {"x"}})
	if r.code != http.StatusRequestEntityTooLarge {
		t.Errorf("20 kB field: %d", r.code)
	}
	req, _ := http.NewRequest(http.MethodPost, s.srv.URL+"/sign-in", strings.NewReader("%zz=%%&csrf="+b.csrf))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if r := b.do(req); r.code != http.StatusBadRequest {
		t.Errorf("malformed form: %d", r.code)
	}
	if n := s.count(t, `SELECT COUNT(*) FROM sessions`); n != 0 {
		t.Errorf("%d sessions after bad input", n)
	}
	for _, body := range []string{r.body} {
		if strings.Contains(body, "goroutine") || strings.Contains(body, "SQL") || strings.Contains(body, ".go:") {
			t.Error("internals leaked into the page")
		}
	}
}

func TestSignOutEndsEverySessionOfTheUser(t *testing.T) {
	s := startSite(t)
	a := s.enrol()
	b := s.signInWithRecoveryCode(a.codes[0])
	b.get("/")
	r := b.post("/sign-out", url.Values{})
	if r.code != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", r.code)
	}
	for _, br := range []*browser{a, b} {
		if r := br.get("/"); r.code != http.StatusSeeOther || !strings.HasPrefix(r.location(), "/sign-in") {
			t.Fatalf("after sign-out: %d %s", r.code, r.location())
		}
	}
	if n := s.count(t, `SELECT COUNT(*) FROM sessions`); n != 0 {
		t.Fatalf("%d sessions left", n)
	}
}

func TestDeactivationEndsTheUsersSessions(t *testing.T) {
	s := startSite(t)
	b := s.enrol()
	if err := s.app.Auth.Deactivate(t.Context(), s.user.ID, "test"); err != nil {
		t.Fatal(err)
	}
	if r := b.get("/"); r.code != http.StatusSeeOther {
		t.Fatalf("deactivated user still served: %d", r.code)
	}
}

func TestPasswordResetByEmailedLinkAsksForTheSecurityCode(t *testing.T) {
	s := startSite(t)
	enrolled := s.enrol()
	b := s.browser()
	b.get("/password/forgot")
	r := b.post("/password/forgot", url.Values{"email": {"anna@example.pl"}})
	if r.code != http.StatusSeeOther {
		t.Fatalf("forgot: %d", r.code)
	}
	var payload string
	if err := s.app.DB.Read().QueryRowContext(t.Context(), `SELECT payload FROM outbox WHERE kind = 'password_reset'`).Scan(&payload); err != nil {
		t.Fatal(err)
	}
	i := strings.Index(payload, "/password/reset/")
	link := payload[i:]
	link = link[:strings.IndexAny(link, `"\`)]
	r = b.get(link)
	if r.code != http.StatusOK || !strings.Contains(r.body, `name="code"`) {
		t.Fatalf("reset page: %d, asks for a code: %v", r.code, strings.Contains(r.body, `name="code"`))
	}
	r = b.post(link, url.Values{"password": {"a-brand-new-passphrase"}, "password_again": {"a-brand-new-passphrase"}})
	if r.code != http.StatusBadRequest {
		t.Fatalf("reset without a code: %d", r.code)
	}
	r = b.post(link, url.Values{"password": {"a-brand-new-passphrase"}, "password_again": {"a-brand-new-passphrase"}, "code": {enrolled.codes[1]}})
	if r.code != http.StatusSeeOther {
		t.Fatalf("reset: %d %s", r.code, r.body)
	}
	if r := b.get(link); r.code != http.StatusNotFound {
		t.Fatalf("used link: %d", r.code)
	}
	if r := enrolled.get("/"); r.code != http.StatusSeeOther {
		t.Fatal("the reset did not end the existing session")
	}
}

func TestProfileChangesPasswordAndShowsFieldErrors(t *testing.T) {
	s := startSite(t)
	b := s.enrol()
	b.get("/profile")
	r := b.post("/profile/password", url.Values{"current_password": {testPassword}, "new_password": {"short"}, "new_password_again": {"short"}})
	if r.code != http.StatusBadRequest || !strings.Contains(r.body, `id="f-new_password-error"`) {
		t.Fatalf("short password: %d", r.code)
	}
	r = b.post("/profile/password", url.Values{"current_password": {testPassword}, "new_password": {"a-brand-new-passphrase"}, "new_password_again": {"a-brand-new-passphrase"}})
	if r.code != http.StatusSeeOther {
		t.Fatalf("change: %d", r.code)
	}
	if r := b.get("/profile"); !strings.Contains(r.body, "ecl-notification--success") {
		t.Error("no confirmation shown")
	}
	if n := s.count(t, `SELECT COUNT(*) FROM outbox WHERE kind = 'password_changed'`); n != 1 {
		t.Errorf("%d notification e-mails queued", n)
	}
}

func TestNewRecoveryCodesReplaceTheOldOnes(t *testing.T) {
	s := startSite(t)
	b := s.enrol()
	b.get("/profile")
	r := b.post("/profile/recovery-codes", url.Values{"code": {b.codes[9]}})
	if r.code != http.StatusOK || len(codeRe.FindAllString(r.body, -1)) != 10 {
		t.Fatalf("new codes: %d", r.code)
	}
	b2 := s.browser()
	b2.get("/sign-in")
	b2.post("/sign-in", url.Values{"email": {"anna@example.pl"}, "password": {testPassword}})
	b2.get("/sign-in/code")
	if r := b2.post("/sign-in/code", url.Values{"code": {b.codes[0]}}); r.code != http.StatusBadRequest {
		t.Fatalf("an old recovery code still works: %d", r.code)
	}
}

func TestStaticAssetsAreServedUnderContentHashURLs(t *testing.T) {
	s := startSite(t)
	b := s.browser()
	r := b.get("/sign-in")
	i := strings.Index(r.body, `href="/static/app.`)
	if i < 0 {
		t.Fatal("no hashed stylesheet link")
	}
	href := r.body[i+6:]
	href = href[:strings.Index(href, `"`)]
	a := b.get(href)
	if a.code != http.StatusOK || !strings.Contains(a.header.Get("Cache-Control"), "immutable") {
		t.Fatalf("%s: %d %q", href, a.code, a.header.Get("Cache-Control"))
	}
}

func TestAnExpiredSessionSaysSoOnTheSignInPage(t *testing.T) {
	s := startSite(t)
	b := s.enrol()
	err := s.app.DB.InTx(t.Context(), func(tx db.Querier) error {
		_, err := tx.ExecContext(t.Context(), `UPDATE sessions SET last_seen_at = $1`, time.Now().Add(-31*time.Minute).UTC())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	r := b.get("/profile")
	if r.code != http.StatusSeeOther || !strings.HasPrefix(r.location(), "/sign-in") {
		t.Fatalf("%d %s", r.code, r.location())
	}
	r = b.get(r.location())
	if want := s.app.Catalog.Localizer("en").T("error_session_expired"); !strings.Contains(r.body, want) {
		t.Fatalf("the sign-in page does not say %q", want)
	}
	if n := s.count(t, `SELECT COUNT(*) FROM audit_log WHERE event = 'session.ended' AND detail = 'idle timeout'`); n != 1 {
		t.Fatalf("%d session-end audit rows", n)
	}
}

func TestTheEnrolmentPageShowsTheQRCodeImage(t *testing.T) {
	s := startSite(t)
	b := s.browser()
	b.get("/sign-in")
	b.post("/sign-in", url.Values{"email": {"anna@example.pl"}, "password": {testPassword}})
	r := b.get("/sign-in/enrol")
	if !strings.Contains(r.body, `<img src="data:image/png;base64,`) {
		t.Fatal("the QR code is not an inline PNG image")
	}
}

func TestANewPhoneIsSetUpFromTheProfileWithoutLosingTheOldOneFirst(t *testing.T) {
	s := startSite(t)
	b := s.enrol()
	b.get("/profile")
	r := b.post("/profile/authenticator", url.Values{"code": {b.codes[0]}})
	m := secretRe.FindStringSubmatch(r.body)
	if r.code != http.StatusOK || m == nil || !strings.Contains(r.body, `action="/profile/authenticator/confirm"`) {
		t.Fatalf("replace: %d", r.code)
	}
	if again := b.get("/profile/authenticator"); !strings.Contains(again.body, m[1]) {
		t.Fatal("reloading the page lost the new key")
	}
	r = b.post("/profile/authenticator/confirm", url.Values{"code": {code(t, m[1])}})
	if r.code != http.StatusSeeOther || r.location() != "/profile" {
		t.Fatalf("confirm: %d %s", r.code, r.body)
	}
	if r := b.get("/profile"); !strings.Contains(r.body, "ecl-notification--success") {
		t.Fatal("no confirmation")
	}
}

func TestNextAfterSignInNeverLeavesTheSite(t *testing.T) {
	s := startSite(t)
	s.enrol()
	b := s.browser()
	b.get("/sign-in")
	r := b.post("/sign-in", url.Values{"email": {"anna@example.pl"}, "password": {testPassword}, "next": {"/\t/evil.example"}})
	if r.location() != "/sign-in/code" {
		t.Fatalf("location %q", r.location())
	}
}
