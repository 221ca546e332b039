package app_test

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/requests"
	"github.com/openimi/openimi/internal/workflow"
)

// matrixUser is one kind of user in the HTTP permission matrix.
type matrixUser struct {
	name    string
	email   string
	parties []string // in the fixture request (sent from DE to PL)
	roles   []string
	b       *browser
	token   string
	actor   authorities.Actor
}

// TestTheRequestRoutesPermissionMatrix enumerates every route of the web
// UI and the API that concerns requests and notifications, and calls each
// as every kind of user: anonymous, a user of another authority, a user of
// the requesting authority without the role, the requester's handler, the
// responder, and the coordinators of both sides. What is expected comes
// from the policies — the request machine for actions, the parties for
// reads. Refusals change nothing; personal data reaches only the two
// authorities. A route without an entry here fails the test.
func TestTheRequestRoutesPermissionMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("calls every request route as every kind of user")
	}
	s, de, pl, _, _ := requestSite(t)
	ctx := context.Background()
	var deNC, plNC string
	_ = s.app.DB.Read().QueryRowContext(ctx, `SELECT id FROM authorities WHERE country = 'DE' AND role = 'national_coordinator'`).Scan(&deNC)
	_ = s.app.DB.Read().QueryRowContext(ctx, `SELECT id FROM authorities WHERE country = 'PL' AND role = 'national_coordinator'`).Scan(&plNC)
	fr := registerWith(t, s, authorities.Input{Country: "FR", Name: "Ordre des médecins", Language: "fr", Kind: authorities.NationalCoordinator, Areas: []string{"pq"}})
	// Where forwarded and split requests go: an authority without users,
	// so that the users above keep their parts.
	elsewhere := registerWith(t, s, authorities.Input{Country: "PL", Name: "Okręgowa Izba Lekarska w Krakowie", Language: "pl", Areas: []string{"pq"}})
	member := func(authorityID, email string, roles ...string) {
		t.Helper()
		u, err := s.app.Auth.CreateUser(ctx, auth.NewUser{Email: email, Name: email, Password: testPassword})
		if err != nil {
			t.Fatal(err)
		}
		var rs []authorities.UserRole
		for _, r := range roles {
			rs = append(rs, authorities.UserRole{Role: r})
		}
		if err := s.app.Authorities.Assign(ctx, u.ID, authorityID, rs); err != nil {
			t.Fatal(err)
		}
	}
	member(de.ID, "alerts@aekb.de.example", authorities.AlertHandler)
	member(deNC, "koordination@bmwk.de.example", authorities.Coordinator)
	member(plNC, "koordynator@mrit.pl.example", authorities.Coordinator)
	member(fr.ID, "gestion@ordre.fr.example", authorities.RequestHandler)
	users := []*matrixUser{
		{name: "anonymous"},
		{name: "another authority", email: "gestion@ordre.fr.example", roles: []string{"request_handler"}},
		{name: "requester without the role", email: "alerts@aekb.de.example", parties: []string{workflow.Requester}, roles: []string{"alert_handler"}},
		{name: "requester's handler", email: "anna@example.pl", parties: []string{workflow.Requester}, roles: []string{"request_handler"}},
		{name: "responder", email: "piotr@nil.example.pl", parties: []string{workflow.Responder}, roles: []string{"allocator", "request_handler"}},
		{name: "requester's coordinator", email: "koordination@bmwk.de.example", parties: []string{workflow.RequesterCoordinator}, roles: []string{"coordinator"}},
		{name: "responder's coordinator", email: "koordynator@mrit.pl.example", parties: []string{workflow.ResponderCoordinator}, roles: []string{"coordinator"}},
	}
	for _, u := range users {
		if u.email == "" {
			u.b = s.browser()
			continue
		}
		u.b = s.enrolAs(u.email)
		_, tok, err := s.app.Auth.CreateToken(ctx, u.email, "matrix")
		if err != nil {
			t.Fatal(err)
		}
		u.token = tok
		usr, err := s.app.Auth.UserByEmail(ctx, u.email)
		if err != nil {
			t.Fatal(err)
		}
		if u.actor, err = s.app.Authorities.ActorFor(ctx, usr.ID); err != nil {
			t.Fatal(err)
		}
	}
	requester := users[3].actor
	// fixture is a request sent from DE to PL, with personal data and a file.
	fixture := func() (id, attachment string) {
		t.Helper()
		r, err := s.app.Requests.Create(ctx, requester, requests.DraftInput{Area: "pq", QuestionSet: "authenticity",
			Questions: []string{"diploma_authentic", "diploma_issuer_competent"}, ResponderID: pl.ID,
			Subject: map[string]string{"name": "Jan Kowalski", "profession": "doctor"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.app.Requests.Act(ctx, requester, r.ID, "send", requests.Input{}); err != nil {
			t.Fatal(err)
		}
		got, err := s.app.Requests.Attach(ctx, requester, r.ID, requests.Upload{Name: "scan.pdf", Body: bytes.NewReader([]byte("%PDF-1.4\n%%EOF\n"))}, "")
		if err != nil {
			t.Fatal(err)
		}
		return r.ID, got.Attachments[0].ID
	}
	events := func() int { return s.count(t, `SELECT COUNT(*) FROM case_events`) }
	isParty := func(u *matrixUser) bool { return len(u.parties) > 0 }
	seesPersonal := func(u *matrixUser) bool {
		return slices.Contains(u.parties, workflow.Requester) || slices.Contains(u.parties, workflow.Responder)
	}
	has := func(u *matrixUser, role string) bool { return slices.Contains(u.roles, role) }
	machine := s.app.Requests.Machine()

	// call sends one request as u over the web UI (api false) or the API.
	call := func(u *matrixUser, apiSide bool, method, path string, form url.Values, body string) response {
		t.Helper()
		if apiSide {
			return s.api(t, method, path, u.token, body)
		}
		if method == http.MethodGet {
			return u.b.get(path)
		}
		u.b.get("/requests") // a fresh CSRF token
		own := url.Values{}
		for k, v := range form {
			if k != "csrf" {
				own[k] = v
			}
		}
		return u.b.post(path, own)
	}
	// expect checks the status class of a response: allowed (2xx, 3xx to
	// somewhere other than the sign-in page) or refused.
	calls, allowedCalls := 0, 0
	expect := func(desc string, r response, allowed bool, u *matrixUser) {
		t.Helper()
		calls++
		if allowed {
			allowedCalls++
		}
		ok := r.code < 300 || r.code < 400 && !strings.HasPrefix(r.location(), "/sign-in")
		if ok != allowed {
			t.Errorf("%s as %s: %d (location %q), allowed %v", desc, u.name, r.code, r.location(), allowed)
		}
		if strings.Contains(r.body, "Jan Kowalski") && !seesPersonal(u) {
			t.Errorf("%s as %s: personal data in the answer", desc, u.name)
		}
	}

	id, att := fixture()
	checks := map[string]func(pattern string, apiSide bool){}
	read := func(path string, allowed func(u *matrixUser) bool) func(string, bool) {
		return func(pattern string, apiSide bool) {
			for _, u := range users {
				if apiSide && u.token == "" {
					expect(pattern, s.api(t, "GET", path, "", ""), false, u)
					continue
				}
				expect(pattern, call(u, apiSide, "GET", path, nil, ""), u.email != "" && allowed(u), u)
			}
		}
	}
	anyone := func(*matrixUser) bool { return true }
	checks["GET /requests"] = read("/requests", anyone)
	checks["GET /api/v1/requests"] = read("/api/v1/requests", anyone)
	checks["GET /requests/new"] = read("/requests/new", func(u *matrixUser) bool { return has(u, "request_handler") })
	checks["GET /requests/follow-up"] = read("/requests/follow-up", func(u *matrixUser) bool { return has(u, "coordinator") })
	checks["GET /api/v1/requests/follow-up"] = read("/api/v1/requests/follow-up", anyone) // an empty list for non-coordinators
	checks["GET /requests/subject-data"] = read("/requests/subject-data", func(*matrixUser) bool { return false })
	checks["GET /api/v1/requests/subject-data"] = read("/api/v1/requests/subject-data?name=kowalski", func(*matrixUser) bool { return false })
	checks["GET /requests/{id}"] = read("/requests/"+id, isParty)
	checks["GET /api/v1/requests/{id}"] = read("/api/v1/requests/"+id, isParty)
	checks["GET /api/v1/requests/{id}/timeline"] = read("/api/v1/requests/"+id+"/timeline", isParty)
	checks["GET /api/v1/requests/{id}/handlers"] = read("/api/v1/requests/"+id+"/handlers", isParty)
	checks["GET /requests/{id}/edit"] = read("/requests/"+id+"/edit", func(*matrixUser) bool { return false }) // sent: no longer a draft
	checks["GET /requests/{id}/attachments/{attachment}"] = read("/requests/"+id+"/attachments/"+att, seesPersonal)
	checks["GET /api/v1/requests/{id}/attachments/{attachment}"] = read("/api/v1/requests/"+id+"/attachments/"+att, seesPersonal)
	checks["GET /notifications"] = read("/notifications", anyone)
	checks["GET /api/v1/notifications"] = read("/api/v1/notifications", anyone)

	// Writes: each as every user; a refusal must leave the events as they were.
	write := func(desc string, allowed func(u *matrixUser) bool, do func(u *matrixUser, apiSide bool, id string) response) func(string, bool) {
		return func(pattern string, apiSide bool) {
			for _, u := range users {
				target, _ := fixture()
				before := events()
				var r response
				if apiSide && u.token == "" {
					r = do(&matrixUser{name: u.name}, true, target)
				} else {
					r = do(u, apiSide, target)
				}
				want := u.email != "" && allowed(u)
				expect(desc, r, want, u)
				if !want && events() != before {
					t.Errorf("%s as %s: a refusal wrote events", desc, u.name)
				}
			}
		}
	}
	draft := func(u *matrixUser, apiSide bool, _ string) response {
		to := pl.ID // requests go abroad
		if u.actor.Authority != nil && u.actor.Authority.Country == "PL" {
			to = de.ID
		}
		body := `{"area":"pq","question_set":"authenticity","questions":["diploma_authentic"],"responder_id":"` + to + `","subject":{"name":"Eva Muster","profession":"doctor"}}`
		if apiSide {
			return s.api(t, "POST", "/api/v1/requests", u.token, body)
		}
		return call(u, false, "POST", "/requests/new", url.Values{"area": {"pq"}, "question_set": {"authenticity"}, "questions": {"diploma_authentic"},
			"responder": {to}, "subject.name": {"Eva Muster"}, "step": {"save"}}, "")
	}
	checks["POST /requests/new"] = write("create", func(u *matrixUser) bool { return has(u, "request_handler") }, draft)
	checks["POST /api/v1/requests"] = checks["POST /requests/new"]
	requesterHandler := func(u *matrixUser) bool {
		return slices.Contains(u.parties, workflow.Requester) && has(u, "request_handler")
	}
	checks["POST /requests/{id}/edit"] = write("edit a sent request", func(*matrixUser) bool { return false }, func(u *matrixUser, apiSide bool, id string) response {
		return call(u, false, "POST", "/requests/"+id+"/edit", url.Values{"area": {"pq"}, "question_set": {"authenticity"}, "step": {"save"}}, "")
	})
	checks["PUT /api/v1/requests/{id}"] = write("edit a sent request", func(*matrixUser) bool { return false }, func(u *matrixUser, apiSide bool, id string) response {
		return s.api(t, "PUT", "/api/v1/requests/"+id, u.token, `{"area":"pq","question_set":"authenticity"}`)
	})
	checks["POST /requests/{id}/copy"] = write("copy", requesterHandler, func(u *matrixUser, apiSide bool, id string) response {
		return call(u, false, "POST", "/requests/"+id+"/copy", url.Values{"questions": {"on"}}, "")
	})
	checks["POST /api/v1/requests/{id}/copy"] = write("copy", requesterHandler, func(u *matrixUser, apiSide bool, id string) response {
		return s.api(t, "POST", "/api/v1/requests/"+id+"/copy", u.token, `{"questions":true}`)
	})
	attachBy := func(u *matrixUser) bool {
		_, _, err := machine.Next(requests.Sent, "attach", workflow.Who{Parties: u.parties, Roles: u.roles}, nil)
		return err == nil
	}
	checks["POST /requests/{id}/attachments"] = write("attach", attachBy, func(u *matrixUser, apiSide bool, id string) response {
		u.b.get("/requests")
		var form bytes.Buffer
		mw := newMultipart(&form, u.b.csrf, "scan.pdf", []byte("%PDF-1.4\n%%EOF\n"))
		req, _ := http.NewRequest("POST", s.srv.URL+"/requests/"+id+"/attachments", &form)
		req.Header.Set("Content-Type", mw)
		return u.b.do(req)
	})
	checks["POST /api/v1/requests/{id}/attachments"] = write("attach", attachBy, func(u *matrixUser, apiSide bool, id string) response {
		req, _ := http.NewRequest("POST", s.srv.URL+"/api/v1/requests/"+id+"/attachments?name=scan.pdf", strings.NewReader("%PDF-1.4\n%%EOF\n"))
		if u.token != "" {
			req.Header.Set("Authorization", "Bearer "+u.token)
		}
		return s.browser().do(req)
	})
	checks["POST /notifications/read"] = write("mark read", anyone, func(u *matrixUser, apiSide bool, _ string) response {
		return call(u, false, "POST", "/notifications/read", url.Values{}, "")
	})
	checks["POST /api/v1/notifications/read"] = write("mark read", anyone, func(u *matrixUser, apiSide bool, _ string) response {
		return s.api(t, "POST", "/api/v1/notifications/read", u.token, "")
	})
	// Every action of the machine, allowed exactly as the machine says for
	// the user's parties and roles in a sent request.
	actionInput := map[string]struct {
		form url.Values
		json string
	}{
		"forward":      {url.Values{"comment": {"c"}, "responder": {elsewhere.ID}}, `{"comment":"c","responder_id":"` + elsewhere.ID + `"}`},
		"split":        {url.Values{"comment": {"c"}, "responder": {elsewhere.ID}, "questions": {"diploma_issuer_competent"}}, `{"comment":"c","responder_id":"` + elsewhere.ID + `","questions":["diploma_issuer_competent"]}`},
		"reallocate":   {url.Values{"handler": {users[4].actor.UserID}}, `{"handler_id":"` + users[4].actor.UserID + `"}`},
		"propose_date": {url.Values{"reply_by": {"2030-01-01"}}, `{"reply_by":"2030-01-01"}`},
		"answer":       {url.Values{"answer.diploma_authentic": {"yes"}, "answer.diploma_issuer_competent": {"no"}}, `{"answers":{"diploma_authentic":{"value":"yes"},"diploma_issuer_competent":{"value":"no"}}}`},
	}
	actionCheck := func(apiSide bool) func(string, bool) {
		return func(pattern string, _ bool) {
			var names []string
			for name := range machine.Actions {
				if name != "attach" { // a file, through its own route
					names = append(names, name)
				}
			}
			sort.Strings(names)
			for _, name := range names {
				in, ok := actionInput[name]
				if !ok {
					in.form, in.json = url.Values{"comment": {"A comment."}}, `{"comment":"A comment."}`
				}
				allowed := func(u *matrixUser) bool {
					_, _, err := machine.Next(requests.Sent, name, workflow.Who{Parties: u.parties, Roles: u.roles}, map[string]bool{})
					return err == nil
				}
				write(name, allowed, func(u *matrixUser, apiSide2 bool, id string) response {
					if apiSide {
						return s.api(t, "POST", "/api/v1/requests/"+id+"/actions/"+name, u.token, in.json)
					}
					return call(u, false, "POST", "/requests/"+id+"/actions/"+name, in.form, "")
				})(pattern, apiSide)
			}
		}
	}
	checks["POST /requests/{id}/actions/{action}"] = actionCheck(false)
	checks["POST /api/v1/requests/{id}/actions/{action}"] = actionCheck(true)
	checks["POST /profile/digest"] = write("digest", anyone, func(u *matrixUser, apiSide bool, _ string) response {
		return call(u, false, "POST", "/profile/digest", url.Values{"digest": {"on"}}, "")
	})
	checks["PUT /api/v1/me/email-digest"] = write("digest", anyone, func(u *matrixUser, apiSide bool, _ string) response {
		return s.api(t, "PUT", "/api/v1/me/email-digest", u.token, `{"email_digest":true}`)
	})

	// Every route about requests or notifications must have an entry.
	covered := checkRoutesOf(t, s, requestMatrixRoutes, checks, func(p string, check func(string, bool)) { check(p, strings.Contains(p, "/api/")) })
	t.Logf("%d routes, %d calls, %d of them allowed", covered, calls, allowedCalls)
}

// requestMatrixRoutes are the routes TestTheRequestRoutesPermissionMatrix
// covers: requests, notifications and the choice of an e-mail digest
// (/profile/digest, /api/v1/me/email-digest).
var requestMatrixRoutes = func(pattern string) bool {
	return strings.Contains(pattern, "/requests") || strings.Contains(pattern, "/notifications") || strings.Contains(pattern, "digest")
}

// newMultipart writes a form with the CSRF token and one file, and returns
// its content type.
func newMultipart(buf *bytes.Buffer, csrf, name string, content []byte) string {
	mw := multipart.NewWriter(buf)
	_ = mw.WriteField("csrf", csrf)
	fw, _ := mw.CreateFormFile("file", name)
	_, _ = fw.Write(content)
	mw.Close()
	return mw.FormDataContentType()
}
