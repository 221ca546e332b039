package app_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/registers"
)

// registerMatrixRoutes are the routes TestTheRegisterRoutesPermissionMatrix
// covers: the directory of registers.
var registerMatrixRoutes = func(pattern string) bool { return strings.Contains(pattern, "/registers") }

// TestTheRegisterRoutesPermissionMatrix calls every route of the
// directory of registers, in the UI and the API, as every kind of user,
// on an entry that awaits validation: its country's local data
// administrators and coordinators maintain it, the coordinator validates
// it, nobody abroad sees it before validation, a user without a
// maintaining role only reads. Refusals change nothing. A route without
// an entry here fails the test.
func TestTheRegisterRoutesPermissionMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("calls every register route as every kind of user")
	}
	s := startSite(t)
	ctx := context.Background()
	in := func(country, name string, kind authorities.Kind) *authorities.Authority {
		return registerWith(t, s, authorities.Input{Country: country, Name: name, Language: "de", Kind: kind, Areas: []string{"services"}})
	}
	deNC := in("DE", "Bundesministerium für Wirtschaft", authorities.NationalCoordinator)
	ihk := in("DE", "Industrie- und Handelskammer Berlin", authorities.CompetentAuthority)
	in("AT", "Bundesministerium für Arbeit und Wirtschaft", authorities.NationalCoordinator)
	wko := in("AT", "Wirtschaftskammer Österreich", authorities.CompetentAuthority)
	ec, err := s.app.Authorities.EnsureCommission(ctx)
	if err != nil {
		t.Fatal(err)
	}
	users := []*matrixUser{{name: "anonymous", b: s.browser()}}
	add := func(name string, a *authorities.Authority, email string, roles ...string) {
		users = append(users, s.matrixMember(t, name, a, email, "de", roles...))
	}
	add("German administrator", ihk, "admin@ihk.de.example", authorities.LocalDataAdministrator)
	add("German request handler", ihk, "handler@ihk.de.example", authorities.RequestHandler)
	add("German coordinator", deNC, "coordinator@bmwk.de.example", authorities.Coordinator)
	add("Austrian administrator", wko, "admin@wko.at.example", authorities.LocalDataAdministrator)
	add("Commission", ec, "grow@ec.example", authorities.Coordinator)
	admin := users[1].actor
	fixture := func() string {
		t.Helper()
		e, err := s.app.Registers.Create(ctx, admin, registers.Input{AuthorityID: ihk.ID, Name: "Handelsregister", Language: "de",
			Type: "business_register", Access: "public_online", Areas: []string{"services"}})
		if err != nil {
			t.Fatal(err)
		}
		return e.ID
	}
	is := func(names ...string) func(*matrixUser) bool {
		return func(u *matrixUser) bool {
			for _, n := range names {
				if u.name == n {
					return true
				}
			}
			return false
		}
	}
	signedIn := func(u *matrixUser) bool { return u.email != "" }
	german := is("German administrator", "German request handler", "German coordinator", "Commission") // see a submitted German entry
	maintainers := is("German administrator", "German coordinator", "Commission")
	adders := is("German administrator", "German coordinator", "Austrian administrator", "Commission")
	validators := is("German coordinator", "Commission")
	calls := 0
	expect := func(desc string, r response, allowed bool, u *matrixUser) {
		t.Helper()
		calls++
		ok := r.code < 300 || r.code < 400 && !strings.HasPrefix(r.location(), "/sign-in")
		if ok != allowed {
			t.Errorf("%s as %s: %d (location %q, %.200s), allowed %v", desc, u.name, r.code, r.location(), r.body, allowed)
		}
	}
	histories := func() int { return s.count(t, `SELECT COUNT(*) FROM register_history`) }
	checks := map[string]func(){}
	read := func(pattern string, path func() string, allowed func(*matrixUser) bool) {
		checks[pattern] = func() {
			p := path()
			for _, u := range users {
				var r response
				if strings.HasPrefix(p, "/api/") {
					r = s.api(t, "GET", p, u.token, "")
				} else {
					r = u.b.get(p)
				}
				expect(pattern, r, signedIn(u) && allowed(u), u)
			}
		}
	}
	write := func(pattern string, allowed func(*matrixUser) bool, do func(u *matrixUser, id string) response) {
		checks[pattern] = func() {
			for _, u := range users {
				id := fixture()
				before := histories()
				want := signedIn(u) && allowed(u)
				expect(pattern, do(u, id), want, u)
				if !want && histories() != before {
					t.Errorf("%s as %s: a refusal wrote history", pattern, u.name)
				}
			}
		}
	}
	everyone := func(*matrixUser) bool { return true }
	id := fixture()
	read("GET /registers", func() string { return "/registers?q=handelsregister" }, everyone)
	read("GET /api/v1/registers", func() string { return "/api/v1/registers?q=handelsregister" }, everyone)
	read("GET /registers/new", func() string { return "/registers/new" }, adders)
	read("GET /registers/{id}", func() string { return "/registers/" + id }, german)
	read("GET /api/v1/registers/{id}", func() string { return "/api/v1/registers/" + id }, german)
	read("GET /registers/{id}/history", func() string { return "/registers/" + id + "/history" }, german)
	read("GET /api/v1/registers/{id}/history", func() string { return "/api/v1/registers/" + id + "/history" }, german)
	read("GET /registers/{id}/edit", func() string { return "/registers/" + id + "/edit" }, maintainers)
	read("GET /registers/export", func() string { return "/registers/export?format=csv" }, everyone)
	read("GET /api/v1/registers/export", func() string { return "/api/v1/registers/export?format=json" }, everyone)
	read("GET /registers/import", func() string { return "/registers/import" }, adders)
	form := func(u *matrixUser) url.Values {
		holder := ihk.ID
		if u.actor.Authority != nil && u.actor.Authority.Country == "AT" {
			holder = wko.ID
		}
		return url.Values{"authority": {holder}, "name": {"Gewerberegister"}, "language": {"de"}, "type": {"trade_register"}, "access": {"on_request"}, "step": {"save"}}
	}
	jsonBody := func(u *matrixUser) string {
		v := form(u)
		return `{"authority_id":"` + v.Get("authority") + `","name":"Gewerberegister","language":"de","type":"trade_register","access":"on_request"}`
	}
	post := func(u *matrixUser, path string, v url.Values) response {
		u.b.get("/registers")
		return u.b.post(path, v)
	}
	write("POST /registers/new", adders, func(u *matrixUser, _ string) response { return post(u, "/registers/new", form(u)) })
	write("POST /api/v1/registers", adders, func(u *matrixUser, _ string) response {
		return s.api(t, "POST", "/api/v1/registers", u.token, jsonBody(u))
	})
	edit := func(u *matrixUser) url.Values {
		v := form(u)
		v.Set("authority", ihk.ID)
		return v
	}
	write("POST /registers/{id}/edit", maintainers, func(u *matrixUser, id string) response { return post(u, "/registers/"+id+"/edit", edit(u)) })
	write("PUT /api/v1/registers/{id}", maintainers, func(u *matrixUser, id string) response {
		return s.api(t, "PUT", "/api/v1/registers/"+id, u.token, `{"authority_id":"`+ihk.ID+`","name":"Gewerberegister","language":"de","type":"trade_register","access":"on_request"}`)
	})
	write("POST /registers/{id}/validate", validators, func(u *matrixUser, id string) response { return post(u, "/registers/"+id+"/validate", url.Values{}) })
	write("POST /api/v1/registers/{id}/validate", validators, func(u *matrixUser, id string) response {
		return s.api(t, "POST", "/api/v1/registers/"+id+"/validate", u.token, "")
	})
	write("POST /registers/{id}/withdraw", maintainers, func(u *matrixUser, id string) response { return post(u, "/registers/"+id+"/withdraw", url.Values{}) })
	write("POST /api/v1/registers/{id}/withdraw", maintainers, func(u *matrixUser, id string) response {
		return s.api(t, "POST", "/api/v1/registers/"+id+"/withdraw", u.token, "")
	})
	csvFor := func(u *matrixUser) string {
		holder, country := ihk.ID, "DE"
		if u.actor.Authority != nil && u.actor.Authority.Country == "AT" {
			holder, country = wko.ID, "AT"
		}
		return "country,authority,name,language,type,access\n" + country + "," + holder + ",Register " + u.name + ",de,other_register,on_request\n"
	}
	write("POST /registers/import", adders, func(u *matrixUser, _ string) response {
		u.b.get("/registers/import")
		var buf bytes.Buffer
		ct := newMultipart(&buf, u.b.csrf, "registers.csv", []byte(csvFor(u)))
		req, _ := http.NewRequest("POST", s.srv.URL+"/registers/import", &buf)
		req.Header.Set("Content-Type", ct)
		return u.b.do(req)
	})
	write("POST /api/v1/registers/import", adders, func(u *matrixUser, _ string) response {
		req, _ := http.NewRequest("POST", s.srv.URL+"/api/v1/registers/import?format=csv", strings.NewReader(csvFor(u)))
		if u.token != "" {
			req.Header.Set("Authorization", "Bearer "+u.token)
		}
		return s.browser().do(req)
	})

	covered := checkRoutesOf(t, s, registerMatrixRoutes, checks, func(_ string, check func()) { check() })
	t.Logf("%d routes, %d calls", covered, calls)
}
