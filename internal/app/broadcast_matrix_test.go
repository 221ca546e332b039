package app_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/broadcasts"
	"github.com/openimi/openimi/internal/workflow"
)

// broadcastSite is a network for alerts and notifications in the services
// area: Sweden sends, Italy receives (its coordinator disseminates to the
// Ministry of Health, not to the Milan chamber), France is left out of
// alerts, and the Commission oversees. Each user has a browser and a token.
type broadcastSite struct {
	*site
	users                   map[string]*matrixUser
	seCA, itCA, itCA2, frCA *authorities.Authority
	// elsewhere is where the matrix disseminates: an Italian authority
	// without users, so that the users above keep their parts.
	elsewhere *authorities.Authority
}

func newBroadcastSite(t *testing.T) *broadcastSite {
	t.Helper()
	s := &broadcastSite{site: startSite(t), users: map[string]*matrixUser{}}
	ctx := context.Background()
	in := func(country, name string, kind authorities.Kind) *authorities.Authority {
		return registerWith(t, s.site, authorities.Input{Country: country, Name: name, Language: "en", Kind: kind, Areas: []string{"services", "pq"}})
	}
	ec, err := s.app.Authorities.EnsureCommission(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seNC := in("SE", "Kommerskollegium", authorities.NationalCoordinator)
	s.seCA = in("SE", "Inspektionen för vård och omsorg", authorities.CompetentAuthority)
	itNC := in("IT", "Dipartimento per le politiche europee", authorities.NationalCoordinator)
	s.itCA = in("IT", "Ministero della Salute", authorities.CompetentAuthority)
	s.itCA2 = in("IT", "Camera di commercio di Milano", authorities.CompetentAuthority)
	s.elsewhere = in("IT", "Camera di commercio di Roma", authorities.CompetentAuthority)
	in("DE", "Bundesministerium für Wirtschaft", authorities.NationalCoordinator)
	frNC := in("FR", "Secrétariat général des affaires européennes", authorities.NationalCoordinator)
	s.frCA = in("FR", "Direction générale des entreprises", authorities.CompetentAuthority)
	add := func(key, name string, a *authorities.Authority, email, lang string, roles ...string) {
		m := s.matrixMember(t, name, a, email, lang, roles...)
		m.name = key
		s.users[key] = m
	}
	add("sender", "Karin Lind", s.seCA, "karin@ivo.se.example", "sv", authorities.AlertHandler)
	add("sender's request handler", "Olof Berg", s.seCA, "olof@ivo.se.example", "sv", authorities.RequestHandler)
	add("sender's coordinator", "Eva Holm", seNC, "eva@kommers.se.example", "sv", authorities.Coordinator)
	add("receiving coordinator", "Giulia Conti", itNC, "giulia@politicheeuropee.it.example", "it", authorities.Coordinator)
	add("authority disseminated to", "Marco Ricci", s.itCA, "marco@salute.it.example", "it", authorities.AlertHandler)
	add("authority not disseminated to", "Sara Greco", s.itCA2, "sara@mi.camcom.it.example", "it", authorities.AlertHandler)
	add("coordinator of a country left out", "Claire Petit", frNC, "claire@sgae.fr.example", "fr", authorities.Coordinator)
	add("Commission", "Jan de Vries", ec, "jan@ec.europa.example", "en", authorities.Coordinator)
	s.users["anonymous"] = &matrixUser{name: "anonymous", b: s.browser()}
	return s
}

// fixture is a services alert (or notification) from Sweden, broadcast
// and disseminated in Italy to the Ministry of Health.
func (s *broadcastSite) fixture(t *testing.T, kind string) string {
	t.Helper()
	ctx := context.Background()
	d := broadcasts.DraftInput{Kind: kind, Area: "services", Type: "services_alert", Title: "Unsafe gas installations",
		Criteria: []string{"caused_by_service_activity", "serious_damage_risk", "cross_border"}, Countries: []string{"IT", "DE"},
		Fields: map[string]string{"business_name": "Gasfix Lindqvist AB", "country_of_establishment": "SE", "activity": "construction", "risk": "Carbon monoxide"}}
	if kind == broadcasts.Notification {
		d = broadcasts.DraftInput{Kind: kind, Area: "services", Type: "services_requirements", Title: "Authorisation scheme for locksmiths",
			Fields: map[string]string{"measure_title": "Lag om låssmeder", "legal_reference": "SFS 2026:101", "justification": "Consumer protection"}}
	}
	sender := s.users["sender"].actor
	c, err := s.app.Broadcasts.Create(ctx, sender, d)
	if err != nil {
		t.Fatal(err)
	}
	type step struct {
		who, action string
		in          broadcasts.Input
	}
	steps := []step{{"sender", "submit", broadcasts.Input{}}, {"sender's coordinator", "approve", broadcasts.Input{}}}
	if kind == broadcasts.Notification {
		steps = []step{{"sender", "send", broadcasts.Input{}}}
	}
	steps = append(steps, step{"receiving coordinator", "disseminate", broadcasts.Input{Authorities: []string{s.itCA.ID}}})
	for _, st := range steps {
		if _, err := s.app.Broadcasts.Act(ctx, s.users[st.who].actor, c.ID, st.action, st.in); err != nil {
			t.Fatalf("%s: %v", st.action, err)
		}
	}
	return c.ID
}

// broadcastMatrixRoutes are the routes
// TestTheAlertAndMeasureRoutesPermissionMatrix covers: alerts and
// notifications of measures.
var broadcastMatrixRoutes = func(pattern string) bool {
	return strings.Contains(pattern, "/alerts") || strings.Contains(pattern, "/measures")
}

// TestTheAlertAndMeasureRoutesPermissionMatrix calls every route of the
// web UI and the API for alerts and notifications of measures as every
// kind of user. What is expected comes from this test's own list of who
// takes which part and from the machines for actions: refusals change
// nothing, and an alert's personal data reaches nobody outside it. A
// route without an entry here fails the test.
func TestTheAlertAndMeasureRoutesPermissionMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("calls every alert route as every kind of user")
	}
	s := newBroadcastSite(t)
	// The parts each user takes once a case is out (see fixture).
	parts := map[string]map[string][]string{
		broadcasts.Alert: {
			"sender": {broadcasts.Sender}, "sender's request handler": {broadcasts.Sender}, "sender's coordinator": {broadcasts.SenderCoordinator},
			"receiving coordinator": {broadcasts.RecipientCoordinator}, "authority disseminated to": {broadcasts.Recipient}, "Commission": {broadcasts.Commission},
		},
		broadcasts.Notification: {
			"sender": {broadcasts.Sender}, "sender's request handler": {broadcasts.Sender}, "sender's coordinator": {broadcasts.SenderCoordinator},
			"receiving coordinator": {broadcasts.RecipientCoordinator, broadcasts.Recipient}, "authority disseminated to": {broadcasts.Recipient},
			"authority not disseminated to": {broadcasts.Recipient}, "coordinator of a country left out": {broadcasts.RecipientCoordinator, broadcasts.Recipient},
			"Commission": {broadcasts.Commission},
		},
	}
	var names []string
	for n := range s.users {
		names = append(names, n)
	}
	sort.Strings(names)
	has := func(u *matrixUser, role string) bool { return slices.Contains(u.roles, role) }
	sends := map[string]func(u *matrixUser) bool{
		broadcasts.Alert: func(u *matrixUser) bool { return has(u, authorities.AlertHandler) },
		broadcasts.Notification: func(u *matrixUser) bool {
			return has(u, authorities.AlertHandler) || has(u, authorities.Coordinator) && u.name != "Commission"
		},
	}
	events := func() int { return s.count(t, `SELECT COUNT(*) FROM case_events`) }
	calls, allowedCalls := 0, 0
	expect := func(desc string, r response, allowed bool, u *matrixUser, kind string) {
		t.Helper()
		calls++
		if allowed {
			allowedCalls++
		}
		ok := r.code < 300 || r.code < 400 && !strings.HasPrefix(r.location(), "/sign-in")
		if ok != allowed {
			t.Errorf("%s as %s: %d (location %q), allowed %v", desc, u.name, r.code, r.location(), allowed)
		}
		if kind == broadcasts.Alert && strings.Contains(r.body, "Gasfix Lindqvist") && len(parts[kind][u.name]) == 0 {
			t.Errorf("%s as %s: personal data in the answer", desc, u.name)
		}
	}
	call := func(u *matrixUser, apiSide bool, method, path string, form url.Values, body string) response {
		t.Helper()
		if apiSide {
			return s.api(t, method, path, u.token, body)
		}
		if method == http.MethodGet {
			return u.b.get(path)
		}
		u.b.get("/alerts") // a fresh CSRF token
		return u.b.post(path, form)
	}
	checks := map[string]func(pattern string, apiSide bool){}
	for _, kind := range broadcasts.Kinds {
		base := broadcasts.Path(kind)
		id := s.fixture(t, kind)
		party := func(u *matrixUser) bool { return len(parts[kind][u.name]) > 0 }
		read := func(path string, allowed func(u *matrixUser) bool) func(string, bool) {
			return func(pattern string, apiSide bool) {
				for _, n := range names {
					u := s.users[n]
					expect(pattern, call(u, apiSide, "GET", path, nil, ""), u.email != "" && allowed(u), u, kind)
				}
			}
		}
		anyone := func(*matrixUser) bool { return true }
		coordinates := func(u *matrixUser) bool { return has(u, authorities.Coordinator) }
		checks["GET "+base] = read(base, anyone)
		checks["GET /api/v1"+base] = read("/api/v1"+base+"?box=received", anyone)
		checks["GET "+base+"/new"] = read(base+"/new", sends[kind])
		checks["GET "+base+"/statistics"] = read(base+"/statistics", coordinates)
		checks["GET /api/v1"+base+"/statistics"] = read("/api/v1"+base+"/statistics", coordinates)
		checks["GET "+base+"/{id}"] = read(base+"/"+id, party)
		checks["GET /api/v1"+base+"/{id}"] = read("/api/v1"+base+"/"+id, party)
		checks["GET /api/v1"+base+"/{id}/timeline"] = read("/api/v1"+base+"/"+id+"/timeline", party)
		checks["GET /api/v1"+base+"/{id}/candidates"] = read("/api/v1"+base+"/"+id+"/candidates", party)
		checks["GET "+base+"/{id}/edit"] = read(base+"/"+id+"/edit", func(*matrixUser) bool { return false }) // sent: no longer a draft

		write := func(desc string, allowed func(u *matrixUser) bool, do func(u *matrixUser, id string) response) func(string, bool) {
			return func(pattern string, apiSide bool) {
				for _, n := range names {
					u := s.users[n]
					target := s.fixture(t, kind)
					before := events()
					want := u.email != "" && allowed(u)
					expect(desc, do(u, target), want, u, kind)
					if !want && events() != before {
						t.Errorf("%s as %s: a refusal wrote events", desc, u.name)
					}
				}
			}
		}
		typeCode, fields, jsonFields := "services_alert", url.Values{"field.business_name": {"X"}, "field.risk": {"Y"}}, `{"business_name":"X","risk":"Y"}`
		if kind == broadcasts.Notification {
			typeCode, fields, jsonFields = "services_requirements", url.Values{"field.measure_title": {"X"}}, `{"measure_title":"X"}`
		}
		create := func(apiSide bool) func(u *matrixUser, _ string) response {
			return func(u *matrixUser, _ string) response {
				if apiSide {
					return s.api(t, "POST", "/api/v1"+base, u.token, `{"area":"services","type":"`+typeCode+`","title":"T","fields":`+jsonFields+`}`)
				}
				form := url.Values{"type": {"services/" + typeCode}, "title": {"T"}, "step": {"save"}}
				for k, v := range fields {
					form[k] = v
				}
				return call(u, false, "POST", base+"/new", form, "")
			}
		}
		checks["POST "+base+"/new"] = write("create", sends[kind], create(false))
		checks["POST /api/v1"+base] = write("create", sends[kind], create(true))
		checks["POST "+base+"/{id}/edit"] = write("edit a sent case", func(*matrixUser) bool { return false }, func(u *matrixUser, id string) response {
			return call(u, false, "POST", base+"/"+id+"/edit", url.Values{"type": {"services/" + typeCode}, "title": {"T"}, "step": {"save"}}, "")
		})
		checks["PUT /api/v1"+base+"/{id}"] = write("edit a sent case", func(*matrixUser) bool { return false }, func(u *matrixUser, id string) response {
			return s.api(t, "PUT", "/api/v1"+base+"/"+id, u.token, `{"area":"services","type":"`+typeCode+`","title":"T"}`)
		})
		m := s.app.Broadcasts.Machine(kind)
		actionCheck := func(apiSide bool) func(string, bool) {
			return func(pattern string, _ bool) {
				var actions []string
				for name := range m.Actions {
					actions = append(actions, name)
				}
				sort.Strings(actions)
				for _, name := range actions {
					allowed := func(u *matrixUser) bool {
						options := map[string]bool{"disseminated_to_me": u.name == "authority disseminated to", "comment_period_open": true}
						_, _, err := m.Next(broadcasts.Broadcast, name, workflow.Who{Parties: parts[kind][u.name], Roles: u.roles}, options)
						return err == nil
					}
					write(name, allowed, func(u *matrixUser, id string) response {
						form, body := url.Values{"comment": {"A comment."}}, map[string]string{"comment": `"A comment."`}
						switch name {
						case "disseminate":
							to := s.elsewhere.ID
							if u.actor.Authority != nil && u.actor.Authority.Country == "FR" {
								to = s.frCA.ID
							}
							form["authorities"], body["authorities"] = []string{to}, `["`+to+`"]`
						case "rectify", "modify":
							for k, v := range fields {
								form[k] = v
							}
							body["fields"] = jsonFields
						}
						if apiSide {
							var parts []string
							for k, v := range body {
								parts = append(parts, `"`+k+`":`+v)
							}
							sort.Strings(parts)
							return s.api(t, "POST", "/api/v1"+base+"/"+id+"/actions/"+name, u.token, "{"+strings.Join(parts, ",")+"}")
						}
						return call(u, false, "POST", base+"/"+id+"/actions/"+name, form, "")
					})(pattern, apiSide)
				}
			}
		}
		checks["POST "+base+"/{id}/actions/{action}"] = actionCheck(false)
		checks["POST /api/v1"+base+"/{id}/actions/{action}"] = actionCheck(true)
	}

	covered := checkRoutesOf(t, s.site, broadcastMatrixRoutes, checks, func(p string, check func(string, bool)) { check(p, strings.Contains(p, "/api/")) })
	t.Logf("%d routes, %d calls, %d of them allowed", covered, calls, allowedCalls)
}
