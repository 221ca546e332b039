// Package testkit holds what the tests of several packages need alike:
// users made the way the application makes them, on a real database.
package testkit

import (
	"context"
	"testing"

	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/authorities"
)

// Password is every test user's password.
const Password = "correct-horse-battery-9"

// Member creates an active user of authority a (named by its e-mail
// address, in language lang; "" for the default) holding roles ("role" or
// "role:area"), and returns the user as an actor.
func Member(t testing.TB, au *auth.Service, auths *authorities.Service, a *authorities.Authority, email, lang string, roles ...string) authorities.Actor {
	t.Helper()
	ctx := context.Background()
	u, err := au.CreateUser(ctx, auth.NewUser{Email: email, Name: email, Password: Password, Language: lang})
	if err != nil {
		t.Fatal(err)
	}
	var rs []authorities.UserRole
	for _, r := range roles {
		role, err := authorities.ParseRole(r)
		if err != nil {
			t.Fatalf("role %q: %v", r, err)
		}
		rs = append(rs, role)
	}
	if err := auths.Assign(ctx, u.ID, a.ID, rs); err != nil {
		t.Fatal(err)
	}
	actor, err := auths.ActorFor(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	return actor
}
