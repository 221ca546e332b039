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
	"github.com/openimi/openimi/internal/broadcasts"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/registers"
	"github.com/openimi/openimi/internal/requests"
)

// DemoPassword is the password of every demonstration account. It is
// printed by `imi demo`; demonstration data never belongs in production.
const DemoPassword = "demo-imi-2026-europe" // #nosec G101 -- public by design: printed by `imi demo`, for demonstration accounts only

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
	where := map[string]string{} // demo e-mail → its authority's id
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
		where[d.Email] = target.ID
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
	if err := demoRequests(ctx, a, where); err != nil {
		return nil, err
	}
	if err := demoBroadcasts(ctx, a); err != nil {
		return nil, err
	}
	return out, demoRegisters(ctx, a)
}

// demoRegisters adds, once, entries to the directory of registers: two or
// three per demo authority (over 1,000 in all 30 countries), named in the
// authority's language and in English, validated.
func demoRegisters(ctx context.Context, a *App) error {
	var n int
	if err := a.DB.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM registers`).Scan(&n); err != nil || n > 0 {
		return err
	}
	var records []registers.Record
	for page := 1; ; page++ {
		list, total, err := a.Authorities.List(ctx, authorities.Filter{Page: page, PerPage: 100})
		if err != nil {
			return err
		}
		for i, au := range list {
			if au.Kind == authorities.Commission {
				continue
			}
			k := (page-1)*100 + i
			for j := range 2 + k%2 {
				typ := registers.Types[(k+3*j)%len(registers.Types)]
				local, en := a.Catalog.Localizer(au.Language).T("register_type_"+typ), a.Catalog.Localizer("en").T("register_type_"+typ)
				rec := registers.Record{ExternalID: fmt.Sprintf("DEMO-%s-%04d-%d", au.Country, k, j), Country: au.Country, Authority: au.ID,
					Name: local + " — " + au.Name, Language: au.Language, Description: local + ": " + au.Name, Type: typ,
					Access: registers.Accesses[(k+j)%len(registers.Accesses)], Fees: (k+j)%3 == 0,
					URL: fmt.Sprintf("https://registers.example.eu/%s/%d", strings.ToLower(au.Country), k*3+j), Languages: []string{au.Language}, Areas: au.Areas}
				if au.Language != "en" {
					rec.Names = map[string]string{"en": en + " — " + au.NameIn("en")}
				}
				records = append(records, rec)
			}
		}
		if page*100 >= total {
			break
		}
	}
	lines := make([]int, len(records))
	for i := range lines {
		lines[i] = i + 1
	}
	res, err := a.Registers.Import(ctx, authorities.System(), records, lines, false)
	if err != nil {
		return fmt.Errorf("demo registers: %w", err)
	}
	if len(res.Errors) > 0 {
		e := res.Errors[0]
		return fmt.Errorf("demo registers: %d problems, first line %d %s: %s", len(res.Errors), e.Line, e.Field, e.Key)
	}
	return nil
}

// demoBroadcasts adds, once, a services alert from the French demo user,
// validated by France's coordinator and broadcast to Portugal and
// Germany (João Silva disseminates it), and a notification of new
// requirements, open to comments.
func demoBroadcasts(ctx context.Context, a *App) error {
	var n int
	if err := a.DB.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM broadcasts`).Scan(&n); err != nil || n > 0 {
		return err
	}
	u, err := a.Auth.UserByEmail(ctx, "claire.martin"+demoDomain)
	if err != nil {
		return err
	}
	claire, err := a.Authorities.ActorFor(ctx, u.ID)
	if err != nil {
		return err
	}
	list, _, err := a.Authorities.List(ctx, authorities.Filter{Country: "FR", Kind: authorities.NationalCoordinator, PerPage: 1})
	if err != nil || len(list) == 0 {
		return fmt.Errorf("demo: no French coordinator: %v", err)
	}
	// France's coordinator has no demo account: it validates as the system.
	frCoordinator := authorities.Actor{Authority: list[0], Roles: []authorities.UserRole{{Role: authorities.Coordinator}}}
	alert, err := a.Broadcasts.Create(ctx, claire, broadcasts.DraftInput{Kind: broadcasts.Alert, Area: "services", Type: "services_alert",
		Title: "Installations de gaz dangereuses", Criteria: []string{"caused_by_service_activity", "serious_damage_risk", "cross_border"},
		Countries: []string{"PT", "DE"}, Message: "Plusieurs installations contrôlées présentent des fuites de monoxyde de carbone.",
		Fields: map[string]string{"business_name": "Gaz Express Dupont SARL", "registration_number": "RCS Lyon 512 345 678",
			"country_of_establishment": "FR", "activity": "construction", "risk": "Intoxication au monoxyde de carbone",
			"measures": "Activité suspendue par la préfecture du Rhône"}})
	if err != nil {
		return fmt.Errorf("demo alert: %w", err)
	}
	if _, err := a.Broadcasts.Act(ctx, claire, alert.ID, "submit", broadcasts.Input{}); err != nil {
		return fmt.Errorf("demo alert: %w", err)
	}
	if _, err := a.Broadcasts.Act(ctx, frCoordinator, alert.ID, "approve", broadcasts.Input{}); err != nil {
		return fmt.Errorf("demo alert: %w", err)
	}
	measure, err := a.Broadcasts.Create(ctx, claire, broadcasts.DraftInput{Kind: broadcasts.Notification, Area: "services", Type: "services_requirements",
		Title: "Autorisation préalable des diagnostiqueurs immobiliers", Fields: map[string]string{"measure_title": "Décret relatif aux diagnostiqueurs immobiliers",
			"legal_reference": "Projet de décret NOR ECOI2600001D", "activity": "real_estate_agents", "entry_into_force": "2027-01-01",
			"justification": "Protection des consommateurs : certification obligatoire et assurance de responsabilité civile."}})
	if err != nil {
		return fmt.Errorf("demo notification: %w", err)
	}
	if _, err := a.Broadcasts.Act(ctx, claire, measure.ID, "send", broadcasts.Input{}); err != nil {
		return fmt.Errorf("demo notification: %w", err)
	}
	return nil
}

// demoRequests adds, once, two information requests between the Greek and
// the Polish demo users, so that each finds one waiting in "To do": one
// to accept, one answered to close.
func demoRequests(ctx context.Context, a *App, where map[string]string) error {
	var n int
	if err := a.DB.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM requests`).Scan(&n); err != nil || n > 0 {
		return err
	}
	actor := func(email string) (authorities.Actor, error) {
		u, err := a.Auth.UserByEmail(ctx, email)
		if err != nil {
			return authorities.Actor{}, err
		}
		return a.Authorities.ActorFor(ctx, u.ID)
	}
	eleni, err := actor("eleni.papadopoulou" + demoDomain)
	if err != nil {
		return err
	}
	anna, err := actor("anna.kowalska" + demoDomain)
	if err != nil {
		return err
	}
	steps := []struct {
		from, to authorities.Actor
		toID     string
		subject  map[string]string
		answer   bool
	}{
		{eleni, anna, where["anna.kowalska"+demoDomain], map[string]string{"name": "Katarzyna Wiśniewska", "profession": "nurse_general_care", "date_of_birth": "1988-05-14"}, false},
		{anna, eleni, where["eleni.papadopoulou"+demoDomain], map[string]string{"name": "Γιώργος Νικολάου", "profession": "doctor", "date_of_birth": "1979-11-02"}, true},
	}
	if err := demoHistory(ctx, a, a.Now()); err != nil {
		return err
	}
	for _, st := range steps {
		r, err := a.Requests.Create(ctx, st.from, requests.DraftInput{Area: "pq", QuestionSet: "authenticity",
			Questions: []string{"diploma_authentic", "diploma_issuer_competent"}, ResponderID: st.toID, Subject: st.subject})
		if err != nil {
			return fmt.Errorf("demo request: %w", err)
		}
		if _, err := a.Requests.Act(ctx, st.from, r.ID, "send", requests.Input{}); err != nil {
			return fmt.Errorf("demo request: %w", err)
		}
		if !st.answer {
			continue
		}
		if _, err := a.Requests.Act(ctx, st.to, r.ID, "accept", requests.Input{}); err != nil {
			return fmt.Errorf("demo request: %w", err)
		}
		if _, err := a.Requests.Act(ctx, st.to, r.ID, "answer", requests.Input{Answers: map[string]requests.Answer{
			"diploma_authentic": {Value: "yes"}, "diploma_issuer_competent": {Value: "yes"}}}); err != nil {
			return fmt.Errorf("demo request: %w", err)
		}
	}
	return nil
}
