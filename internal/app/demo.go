package app

import (
	"context"
	"errors"
	"strings"

	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/db"
)

// DemoPassword is the password of every demonstration account. It is
// printed by `imi demo`; demonstration data never belongs in production.
const DemoPassword = "demo-imi-2026-europe"

// demoDomain marks demonstration accounts; `imi demo code` serves only them.
const demoDomain = "@demo.openimi.eu"

// DemoUser is a demonstration account.
type DemoUser struct {
	Email, Name, Language string
	Enrolled              bool
}

var demoUsers = []DemoUser{
	{"anna.kowalska" + demoDomain, "Anna Kowalska", "", true},
	{"joao.silva" + demoDomain, "João Silva", "pt", true},
	{"eleni.papadopoulou" + demoDomain, "Ελένη Παπαδοπούλου", "el", true},
	{"new.user" + demoDomain, "Nina Neumann", "de", false},
}

// IsDemoUser reports whether an address belongs to a demonstration account.
func IsDemoUser(email string) bool {
	return strings.HasSuffix(auth.NormalizeEmail(email), demoDomain)
}

// LoadDemo creates the demonstration accounts that do not exist yet, with a
// security code set up for all but one, and returns them.
func LoadDemo(ctx context.Context, a *App) ([]DemoUser, error) {
	for _, d := range demoUsers {
		if _, err := a.Auth.UserByEmail(ctx, d.Email); err == nil {
			continue
		} else if !errors.Is(err, db.ErrNotFound) {
			return nil, err
		}
		u, err := a.Auth.CreateUser(ctx, auth.NewUser{Email: d.Email, Name: d.Name, Password: DemoPassword, Language: d.Language})
		if err != nil {
			return nil, err
		}
		if d.Enrolled {
			if err := a.Auth.EnrolForDemo(ctx, u.ID); err != nil {
				return nil, err
			}
		}
	}
	return demoUsers, nil
}
