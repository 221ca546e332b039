package e2e_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/openimi/openimi/internal/authorities"
)

// TestACoordinatorRegistersAnAuthorityAndItsFirstUserSignsIn is the
// network's journey in the browser: a national coordinator registers an
// authority, validates it and invites its first user, who accepts the
// e-mailed invitation and signs in. axe checks every page.
func TestACoordinatorRegistersAnAuthorityAndItsFirstUserSignsIn(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	nc, err := s.App.Authorities.Register(ctx, authorities.System(), authorities.Input{Country: "SI", Name: "Ministrstvo za gospodarstvo", Language: "sl",
		Kind: authorities.NationalCoordinator, Areas: []string{"pq", "services"}})
	if err != nil {
		t.Fatal(err)
	}
	coord := s.createUser(t, "koordinator@gov.si.example", "Mojca Novak")
	if err := s.App.Authorities.Assign(ctx, coord.ID, nc.ID, []authorities.UserRole{{Role: authorities.Coordinator}}); err != nil {
		t.Fatal(err)
	}

	tb := newTab(t, s, false)
	tb.signInAndEnrol(coord.Email)
	tb.open("/authorities")
	tb.check("authorities")
	tb.open("/authorities/new")
	tb.check("authority-new")
	tb.fill("#f-name", "Zdravniška zbornica Slovenije")
	tb.fill("#f-city", "Ljubljana")
	tb.fill("#f-email", "info@zzs.si.example")
	tb.do("choose the area", chromedp.Click(chromedp.CSS(`label[for="area-pq"]`)))
	tb.click(`form[action="/authorities/new"] button[type=submit]`)
	if !strings.HasPrefix(tb.path(), "/authorities/") || !strings.Contains(tb.text("h1"), "Zdravniška zbornica Slovenije") {
		t.Fatalf("after registering: %s, h1 %q, %.400q", tb.path(), tb.text("h1"), tb.text("main"))
	}
	tb.check("authority-registered")
	tb.click(`form[action$="/status/validate"] button[type=submit]`)
	tb.check("authority-validated")

	tb.click(`a[href$="/users"]`)
	tb.check("users")
	tb.fill("#f-name", "Janez Kranjc")
	tb.fill("#f-email", "janez.kranjc@zzs.si.example")
	tb.click(`form[action$="/users"] button[type=submit]`)
	if !tb.has(".ecl-notification--success") {
		t.Fatalf("no confirmation after inviting: %.400q", tb.text("main"))
	}
	tb.check("users-invited")

	var payload string
	if err := s.App.DB.Read().QueryRowContext(ctx, `SELECT payload FROM outbox WHERE kind = 'user_invitation'`).Scan(&payload); err != nil {
		t.Fatal(err)
	}
	i := strings.Index(payload, "/invitation/")
	link := payload[i:]
	link = link[:strings.IndexAny(link, `"\`)]

	user := newTab(t, s, false)
	user.open(link)
	user.check("invitation")
	user.fill("#f-password", testPassword)
	user.fill("#f-password_again", testPassword)
	user.click(`form[action^="/invitation/"] button[type=submit]`)
	user.wantPath("/sign-in")
	user.submitSignIn("janez.kranjc@zzs.si.example", testPassword)
	user.enrol(false)
	user.continueHome()
	if !strings.Contains(user.text("main"), "Janez Kranjc") {
		t.Fatalf("the new user's home page: %.300q", user.text("main"))
	}
	// The first user administers the authority.
	a, _, err := s.App.Authorities.List(ctx, authorities.Filter{Country: "SI", Kind: authorities.CompetentAuthority})
	if err != nil || len(a) != 1 || a[0].Status != authorities.Active {
		t.Fatalf("authority after the first sign-in: %+v %v", a, err)
	}
	user.open("/authorities/" + a[0].ID + "/users")
	user.check("users-as-administrator")
	tb.open("/authorities/statistics")
	tb.check("registry-statistics")
	tb.open("/authorities/never-used?country=SI")
	tb.check("never-used")
	tb.open("/authorities/" + a[0].ID + "/history")
	tb.check("history")
}
