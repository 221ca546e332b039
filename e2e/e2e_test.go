// Package e2e_test drives OpenIMI in headless Chromium: whole user journeys
// through the real HTTP server, with axe-core accessibility checks (WCAG 2.1
// A and AA) and a screenshot of every page checked.
//
// Run with `go test ./e2e/`; set IMI_E2E_SCREENSHOTS=/some/dir to keep the
// screenshots, IMI_TEST_DATABASE=postgres://… to run on PostgreSQL, and
// IMI_E2E_SKIP=1 to skip (instead of failing) where Chromium is missing.
package e2e_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
)

// TestSignInWithTOTPAndEveryPageIsAccessible walks through a first sign-in
// (wrong password, enrolment of an authenticator, recovery codes), the
// signed-in pages, sign-out, a second sign-in with a recovery code, and the
// anonymous pages, checking each page with axe.
func TestSignInWithTOTPAndEveryPageIsAccessible(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	s.createUser(t, "maria.rossi@example.eu", "Maria Rossi")
	tb := newTab(t, s, false)

	tb.open("/sign-in")
	tb.wantPath("/sign-in")
	tb.check("sign-in")

	// A wrong password: the error is shown with the form, the address kept.
	tb.submitSignIn("maria.rossi@example.eu", "wrong-password-123")
	tb.wantPath("/sign-in")
	if !tb.has("#form-error") {
		t.Fatalf("a wrong password shows no #form-error; main: %.600s", tb.text("main"))
	}
	if msg := tb.text("#form-error"); msg == "" {
		t.Error("#form-error is empty after a wrong password")
	}
	if !tb.has(`form[action="/sign-in"] #f-email[value="maria.rossi@example.eu"]`) {
		t.Errorf("after a wrong password the e-mail address is not kept in the form: %s", tb.html("#f-email"))
	}
	tb.check("sign-in-error")

	// The right password leads to the enrolment of an authenticator.
	tb.fill("#f-password", testPassword)
	tb.click(`form[action="/sign-in"] button[type=submit]`)
	codes := tb.enrol(true)
	if len(codes) < 5 {
		t.Errorf("only %d recovery codes shown", len(codes))
	}
	tb.continueHome()
	if h1 := tb.text("h1"); h1 == "" {
		t.Error("the home page has no heading")
	}
	if !strings.Contains(tb.text("main"), "Maria Rossi") {
		t.Errorf("the home page does not greet the user: %.300s", tb.text("main"))
	}
	tb.check("home")

	for _, p := range []struct{ path, name string }{
		{"/profile", "profile"},
		{"/language", "language"},
		{"/help", "help"},
	} {
		if st := tb.open(p.path); st != 200 {
			t.Errorf("GET %s: status %d", p.path, st)
		}
		tb.wantPath(p.path)
		tb.check(p.name)
	}

	// Sign out: back at the sign-in page with a notice.
	tb.signOut()
	if !tb.has(".ecl-notification--success") {
		t.Errorf("after sign-out the sign-in page shows no notice; main: %.400s", tb.text("main"))
	}
	tb.check("signed-out")

	// Sign in again, this time with a recovery code on the code page.
	tb.submitSignIn("maria.rossi@example.eu", testPassword)
	tb.wantPath("/sign-in/code")
	tb.check("sign-in-code")
	tb.fill("#f-code", codes[0])
	tb.click(`form[action="/sign-in/code"] button[type=submit]`)
	tb.wantPath("/")
	if !tb.has(signOutSel) {
		t.Error("signed in with a recovery code, but the header has no sign-out button")
	}

	// Anonymous pages.
	tb.signOut()
	tb.open("/password/forgot")
	tb.wantPath("/password/forgot")
	tb.check("password-forgot")

	if st := tb.open("/no-such-page"); st != 404 {
		t.Errorf("GET /no-such-page: status %d, want 404", st)
	}
	tb.check("not-found")
}

var greek = regexp.MustCompile(`\p{Greek}`)

// TestSwitchingLanguageChangesThePage switches the language on the language
// page, anonymously (a cookie) and signed in (the profile), and checks that
// the page follows, in Polish and in Greek.
func TestSwitchingLanguageChangesThePage(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	u := s.createUser(t, "jan.kowalski@example.eu", "Jan Kowalski")
	tb := newTab(t, s, false)

	// Anonymous: the sign-in page.
	tb.open("/sign-in")
	if got := tb.lang(); got != "en" {
		t.Fatalf("the browser asks for English, but the page is %q", got)
	}
	enH1 := tb.text("h1")

	tb.chooseLanguage("pl", "/sign-in")
	tb.wantPath("/sign-in")
	if h1 := tb.text("h1"); h1 == enH1 || h1 == "" {
		t.Errorf("in Polish, the sign-in heading is %q (English: %q)", h1, enH1)
	}
	tb.check("sign-in")

	tb.chooseLanguage("el", "/sign-in")
	if h1 := tb.text("h1"); !greek.MatchString(h1) {
		t.Errorf("in Greek, the sign-in heading has no Greek letters: %q", h1)
	}
	if main := tb.text("main"); !greek.MatchString(main) {
		t.Errorf("in Greek, the sign-in page has no Greek letters: %.300q", main)
	}
	tb.check("sign-in")

	// Back to English, then sign in: the user's profile has no language yet.
	tb.chooseLanguage("en", "/sign-in")
	tb.signInAndEnrol(u.Email)
	if got := tb.lang(); got != "en" {
		t.Fatalf("signed in, the home page is %q, want en", got)
	}
	enHome, enSignOut := tb.text("h1"), tb.text(signOutSel)
	if enSignOut == "" {
		t.Fatal("the sign-out button has no text")
	}

	// Signed in: Polish, stored in the profile.
	tb.chooseLanguage("pl", "/")
	tb.wantPath("/")
	if h1 := tb.text("h1"); h1 == enHome || h1 == "" {
		t.Errorf("in Polish, the home heading is %q (English: %q)", h1, enHome)
	}
	if so := tb.text(signOutSel); so == enSignOut || so == "" {
		t.Errorf("in Polish, the sign-out button says %q (English: %q)", so, enSignOut)
	}
	if got := profileLanguage(t, s, u.ID); got != "pl" {
		t.Errorf("after choosing Polish signed in, the profile language is %q, want pl", got)
	}
	tb.check("home")

	// Greek.
	tb.chooseLanguage("el", "/")
	tb.wantPath("/")
	if h1 := tb.text("h1"); !greek.MatchString(h1) {
		t.Errorf("in Greek, the home heading has no Greek letters: %q", h1)
	}
	if so := tb.text(signOutSel); !greek.MatchString(so) {
		t.Errorf("in Greek, the sign-out button has no Greek letters: %q", so)
	}
	if got := profileLanguage(t, s, u.ID); got != "el" {
		t.Errorf("after choosing Greek signed in, the profile language is %q, want el", got)
	}
	tb.check("home")
	tb.open("/profile")
	tb.check("profile")
}

func profileLanguage(t *testing.T, s *server, userID string) string {
	t.Helper()
	u, err := s.App.Auth.UserByID(context.Background(), userID)
	if err != nil {
		t.Fatalf("read the user: %v", err)
	}
	return u.Language
}

// TestPagesWorkWithoutJavaScript signs in, enrols, switches the language,
// signs out and in again with the page's scripts turned off: the forms are
// plain HTML. Each page is screenshotted and checked for broken images and
// failed loads (axe cannot run without the page's timers), and <html> must
// keep its no-js class.
func TestPagesWorkWithoutJavaScript(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	s.createUser(t, "ana.silva@example.eu", "Ana Silva")
	tb := newTab(t, s, true)

	tb.open("/sign-in")
	tb.check("sign-in")
	tb.submitSignIn("ana.silva@example.eu", testPassword)
	tb.wantPath("/sign-in/enrol")
	codes := tb.enrol(true)
	tb.continueHome()
	tb.check("home")

	tb.chooseLanguage("pl", "/")
	tb.wantPath("/")
	tb.check("home")

	tb.signOut()
	tb.submitSignIn("ana.silva@example.eu", testPassword)
	tb.wantPath("/sign-in/code")
	tb.fill("#f-code", codes[1])
	tb.click(`form[action="/sign-in/code"] button[type=submit]`)
	tb.wantPath("/")
	tb.check("home-again")
}
