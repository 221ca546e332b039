package app

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strings"

	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/db"
)

// DemoPassword is the password of every demonstration account. It is
// printed by `imi demo`; demonstration data never belongs in production.
const DemoPassword = "demo-imi-2026-europe"

// demoDomain marks demonstration accounts; `imi demo code` serves only them.
const demoDomain = "@demo.openimi.eu"

// demoAuthorities are 466 authorities of the 30 countries, with native
// names, coordinators and competences, in the import format.
//
//go:embed demodata/authorities.csv
var demoAuthorities []byte

// DemoUser is a demonstration account.
type DemoUser struct {
	Email, Name, Language string
	Enrolled              bool
	Authority             string // filled in when loaded
	Roles                 []string

	country string
	kind    authorities.Kind
	area    string
}

var demoUsers = []DemoUser{
	{Email: "anna.kowalska" + demoDomain, Name: "Anna Kowalska", Enrolled: true, Roles: []string{"request_handler", "allocator"}, country: "PL", kind: authorities.CompetentAuthority, area: "pq"},
	{Email: "joao.silva" + demoDomain, Name: "João Silva", Language: "pt", Enrolled: true, Roles: []string{"coordinator", "request_handler"}, country: "PT", kind: authorities.NationalCoordinator},
	{Email: "eleni.papadopoulou" + demoDomain, Name: "Ελένη Παπαδοπούλου", Language: "el", Enrolled: true, Roles: []string{"local_data_administrator", "request_handler"}, country: "EL", kind: authorities.CompetentAuthority, area: "pq"},
	{Email: "hans.bauer" + demoDomain, Name: "Hans Bauer", Language: "de", Enrolled: true, Roles: []string{"coordinator"}, country: "DE", kind: authorities.DelegatedCoordinator},
	{Email: "claire.martin" + demoDomain, Name: "Claire Martin", Language: "fr", Enrolled: true, Roles: []string{"alert_handler", "request_handler"}, country: "FR", kind: authorities.CompetentAuthority, area: "services"},
	{Email: "commission" + demoDomain, Name: "Maria Rossi (European Commission)", Enrolled: true, Roles: []string{"coordinator"}, country: "EC", kind: authorities.Commission},
	{Email: "new.user" + demoDomain, Name: "Nina Neumann", Language: "de", Enrolled: false, Roles: []string{"request_handler"}, country: "DE", kind: authorities.CompetentAuthority, area: "pq"},
}

// IsDemoUser reports whether an address belongs to a demonstration account.
func IsDemoUser(email string) bool {
	return strings.HasSuffix(auth.NormalizeEmail(email), demoDomain)
}

// LoadDemo imports the demonstration authorities and creates the
// demonstration accounts that do not exist yet, one for every role, each
// with a security code set up except one. Loading twice changes nothing.
func LoadDemo(ctx context.Context, a *App) ([]DemoUser, error) {
	rows, errs := authorities.ParseCSV(bytes.NewReader(demoAuthorities))
	if len(errs) > 0 {
		return nil, fmt.Errorf("demo authorities: %v", errs[0])
	}
	res, err := a.Authorities.Import(ctx, authorities.System(), rows, authorities.ImportOptions{})
	if len(res.Errors) > 0 {
		var lines []string
		for _, e := range res.Errors {
			lines = append(lines, e.String())
		}
		return nil, fmt.Errorf("demo authorities:\n%s", strings.Join(lines, "\n"))
	}
	if err != nil {
		return nil, fmt.Errorf("demo authorities: %w", err)
	}
	ec, err := a.Authorities.EnsureCommission(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]DemoUser, len(demoUsers))
	for i, d := range demoUsers {
		target := ec
		if d.kind != authorities.Commission {
			list, _, err := a.Authorities.List(ctx, authorities.Filter{Country: d.country, Kind: d.kind, Area: d.area, PerPage: 1})
			if err != nil {
				return nil, err
			}
			if len(list) == 0 {
				return nil, fmt.Errorf("demo: no %s in %s", d.kind, d.country)
			}
			target = list[0]
		}
		d.Authority = target.Name
		out[i] = d
		if _, err := a.Auth.UserByEmail(ctx, d.Email); err == nil {
			continue
		} else if !errors.Is(err, db.ErrNotFound) {
			return nil, err
		}
		u, err := a.Auth.CreateUser(ctx, auth.NewUser{Email: d.Email, Name: d.Name, Password: DemoPassword, Language: d.Language})
		if err != nil {
			return nil, err
		}
		var roles []authorities.UserRole
		for _, r := range d.Roles {
			role, err := authorities.ParseRole(r)
			if err != nil {
				return nil, err
			}
			roles = append(roles, role)
		}
		if err := a.Authorities.Assign(ctx, u.ID, target.ID, roles); err != nil {
			return nil, fmt.Errorf("demo user %s: %w", d.Email, err)
		}
		if d.Enrolled {
			if err := a.Auth.EnrolForDemo(ctx, u.ID); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}
