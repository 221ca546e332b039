package app_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/authorities"
)

// networkMatrixRoutes are the routes TestTheNetworkAndAccountRoutesPermissionMatrix
// covers: the network (authorities, their users and roles, invitations,
// import and export), the areas, the user's own account (profile, API
// tokens) and the way in (sign-in, enrolment, password reset, language,
// help). The choice of an e-mail digest lives under /profile and /api/v1/me
// but belongs to the notifications (TestTheRequestRoutesPermissionMatrix).
var networkMatrixRoutes = func(pattern string) bool {
	_, path, _ := strings.Cut(pattern, " ")
	if strings.Contains(path, "digest") {
		return false
	}
	if path == "/{$}" || path == "/api/v1/me" {
		return true
	}
	for _, prefix := range []string{"/authorities", "/invitation/", "/register/", "/areas", "/profile", "/sign-in", "/sign-out", "/password/",
		"/language", "/help", "/open-data", "/api/v1/me/", "/api/v1/authorities", "/api/v1/areas", "/api/v1/openapi.yaml"} {
		if strings.HasPrefix(path, prefix) {
			return true
		}
	}
	return false
}

// accessMatrices are the permission matrices of the UI and the API, each
// with the routes it claims.
var accessMatrices = []struct {
	name   string
	claims func(pattern string) bool
}{
	{"requests and notifications (TestTheRequestRoutesPermissionMatrix)", requestMatrixRoutes},
	{"registers (TestTheRegisterRoutesPermissionMatrix)", registerMatrixRoutes},
	{"alerts and measures (TestTheAlertAndMeasureRoutesPermissionMatrix)", broadcastMatrixRoutes},
	{"statistics (TestTheStatisticsRoutesPermissionMatrix)", statisticsMatrixRoutes},
	{"network and accounts (TestTheNetworkAndAccountRoutesPermissionMatrix)", networkMatrixRoutes},
}

// Every route of the UI and the API belongs to exactly one permission
// matrix, and each matrix fails for a route of its own without an entry:
// a new route cannot be added without saying who may use it.
func TestEveryRouteIsInExactlyOneAccessMatrix(t *testing.T) {
	s := startSite(t)
	per := map[string]int{}
	patterns := s.routePatterns(t)
	for _, p := range patterns {
		var in []string
		for _, m := range accessMatrices {
			if m.claims(p) {
				in = append(in, m.name)
			}
		}
		switch len(in) {
		case 0:
			t.Errorf("route %s is in no permission matrix", p)
		case 1:
			per[in[0]]++
		default:
			t.Errorf("route %s is in %d permission matrices: %s", p, len(in), strings.Join(in, "; "))
		}
	}
	for _, m := range accessMatrices {
		t.Logf("%3d routes: %s", per[m.name], m.name)
	}
	t.Logf("%d routes in all", len(patterns))
}

// routeAccess maps each route pattern of the UI and the API to its access
// rule in the route table: public, anonymous, second-factor, enrolment or
// signed-in for the UI; public or token for the API.
func (s *site) routeAccess(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, r := range s.routeTable(t) {
		out[r.pattern] = r.access
	}
	return out
}

// persona is one kind of user of the network matrix.
type persona struct {
	*matrixUser
	realName string
	own      *authorities.Authority // the authority it belongs to (nil: none)
	stage    string                 // "" (anonymous), "full", "second-factor" or "enrolment"
	password string
}

// stateQueries read what a refused call must leave as it was: the
// registry, its history, invitations, e-mails, accounts, roles, tokens,
// reset links, recovery codes, sessions and the audit log.
var stateQueries = []string{
	`SELECT * FROM authorities ORDER BY id`,
	`SELECT authority_id, area FROM authority_areas ORDER BY authority_id, area`,
	`SELECT COUNT(*) FROM authority_history`,
	`SELECT COUNT(*), COUNT(used_at) FROM invitations`,
	`SELECT COUNT(*) FROM outbox`,
	`SELECT id, email, name, active, password_hash, language, totp_secret, totp_enabled, totp_pending_secret, COALESCE(authority_id, ''), email_digest FROM users ORDER BY id`,
	`SELECT user_id, role, area FROM user_roles ORDER BY user_id, role, area`,
	`SELECT id, revoked_at FROM api_tokens ORDER BY id`,
	`SELECT COUNT(*), COUNT(used_at) FROM password_resets`,
	`SELECT COUNT(*), COUNT(used_at) FROM recovery_codes`,
	`SELECT COUNT(*) FROM sessions`,
	`SELECT COUNT(*) FROM audit_log`,
}

// snapshot prints the rows of queries, to compare before and after a call.
func (s *site) snapshot(t *testing.T, queries []string) string {
	t.Helper()
	var b strings.Builder
	for _, q := range queries {
		rows, err := s.app.DB.Read().QueryContext(context.Background(), q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		fmt.Fprintln(&b, q)
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(&b, vals...)
		}
		rows.Close()
	}
	return b.String()
}

// diffLines names the lines of after that are not in before (or the
// reverse), to say what a refused call changed.
func diffLines(before, after string) string {
	in := map[string]int{}
	for _, l := range strings.Split(before, "\n") {
		in[l]++
	}
	var out []string
	for _, l := range strings.Split(after, "\n") {
		if in[l] > 0 {
			in[l]--
			continue
		}
		out = append(out, "+ "+l)
	}
	for l, n := range in {
		if n > 0 {
			out = append(out, "- "+l)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

var pendingSecretRe = regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`)

// setsSession reports whether a response starts a session (the cookie of a
// completed sign-in step).
func setsSession(r response) bool {
	for _, c := range r.header.Values("Set-Cookie") {
		if (strings.HasPrefix(c, "imi_session=") || strings.HasPrefix(c, "__Host-imi_session=")) && !strings.Contains(c, "Max-Age=0") {
			return true
		}
	}
	return false
}

// TestTheNetworkAndAccountRoutesPermissionMatrix calls every route of the
// network, the areas, the user's account and the way in, in the UI and the
// API, as the six kinds of user: anonymous, a user of another authority
// (another country), a user of the same authority without the role, a
// coordinator outside its scope (another country's, and a delegated
// coordinator of another area of the same country), a coordinator in
// scope (and the Commission), and the party itself (the authority's local
// data administrator; for the account routes, the user; for the sign-in
// steps, a visitor at that step; for invitation and reset links, their
// holder). What is allowed comes from the route table's access rule and
// the registry's policy (authorities.Actor's Can* methods); every refusal
// changes nothing; the users of the authority reach only those the policy
// lets see its members. A route without an entry here fails the test.
func TestTheNetworkAndAccountRoutesPermissionMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("calls every network and account route as every kind of user")
	}
	s := startSite(t)
	ctx := context.Background()
	access := s.routeAccess(t)
	reg := func(in authorities.Input) *authorities.Authority { return registerWith(t, s, in) }
	deNC := reg(authorities.Input{Country: "DE", Name: "Bundesministerium für Wirtschaft", Language: "de", Kind: authorities.NationalCoordinator, Areas: []string{"pq", "services"}})
	deServices := reg(authorities.Input{Country: "DE", Name: "Landesamt für Gewerbe", Language: "de", Kind: authorities.DelegatedCoordinator,
		Areas: []string{"services"}, Scope: authorities.Scope{Areas: []string{"services"}}, ParentID: deNC.ID})
	frNC := reg(authorities.Input{Country: "FR", Name: "Secrétariat général des affaires européennes", Language: "fr", Kind: authorities.NationalCoordinator, Areas: []string{"pq"}})
	frCA := reg(authorities.Input{Country: "FR", Name: "Ordre des médecins", Language: "fr", Areas: []string{"pq"}})
	target := reg(authorities.Input{Country: "DE", Name: "Ärztekammer Berlin", Language: "de", Areas: []string{"pq"}, Email: "info@aekb.de.example", City: "Berlin"})
	ec, err := s.app.Authorities.EnsureCommission(ctx)
	if err != nil {
		t.Fatal(err)
	}
	anonymous := &persona{matrixUser: &matrixUser{name: "anonymous"}}
	personas := []*persona{anonymous}
	add := func(kind, name string, a *authorities.Authority, email string, roles ...string) *persona {
		m := s.matrixMember(t, name, a, email, "de", roles...)
		m.name = kind
		p := &persona{matrixUser: m, realName: name, own: a, stage: "full", password: testPassword}
		personas = append(personas, p)
		return p
	}
	add("user of another authority", "Camille Durand", frCA, "camille@ordre.fr.example", authorities.LocalDataAdministrator, authorities.RequestHandler)
	colleague := add("user of the authority without the role", "Jonas Weber", target, "jonas@aekb.de.example", authorities.RequestHandler, authorities.AlertHandler)
	add("coordinator of another country", "Claire Petit", frNC, "claire@sgae.fr.example", authorities.Coordinator)
	add("delegated coordinator of another area", "Lena Vogt", deServices, "lena@lfg.de.example", authorities.Coordinator)
	coordinator := add("coordinator in scope", "Karl Schmidt", deNC, "karl@bmwk.de.example", authorities.Coordinator)
	add("Commission", "Jan de Vries", ec, "jan@ec.europa.example", authorities.Coordinator)
	admin := add("the authority's administrator", "Anke Fischer", target, "anke@aekb.de.example", authorities.LocalDataAdministrator)

	// A member of the authority who is no persona: only those the policy
	// lets see the authority's users may ever read her name or address.
	newMember := func(email, name string, a *authorities.Authority, roles ...authorities.UserRole) auth.User {
		t.Helper()
		u, err := s.app.Auth.CreateUser(ctx, auth.NewUser{Email: email, Name: name, Password: testPassword, Language: "de"})
		if err != nil {
			t.Fatal(err)
		}
		if a != nil {
			if err := s.app.Authorities.Assign(ctx, u.ID, a.ID, roles); err != nil {
				t.Fatal(err)
			}
		}
		return u
	}
	hidden := newMember("zofia.verborgen@aekb.de.example", "Zofia Verborgen", target, authorities.UserRole{Role: authorities.RequestHandler})
	victimToken, _, err := s.app.Auth.CreateToken(ctx, admin.email, "Anke's integration")
	if err != nil {
		t.Fatal(err)
	}
	seesMembers := func(p *persona) bool { return p.actor.CanManageUsers(target) || p.actor.CanValidate(target) }
	type secret struct {
		text   string
		maySee func(p *persona) bool
	}
	secrets := []secret{
		{hidden.Email, seesMembers}, {hidden.Name, seesMembers},
		{victimToken.ID, func(p *persona) bool { return p == admin }},
	}
	for _, member := range []*persona{colleague, admin} {
		member := member
		sees := func(p *persona) bool { return p == member || seesMembers(p) }
		secrets = append(secrets, secret{member.email, sees}, secret{member.realName, sees})
	}

	calls, allowedCalls := 0, 0
	ui, apiRoutes := map[string]bool{}, map[string]bool{}
	// judge checks one answer: the status class the access rule and the
	// policy expect, no server error, no personal data for those who may
	// not see it, and, for a refusal, no change at all.
	judge := func(pattern, desc string, p *persona, want bool, before string, r response) {
		t.Helper()
		calls++
		if want {
			allowedCalls++
		}
		rule := access[pattern]
		var ok bool
		switch rule {
		case "anonymous":
			ok = r.code < 300 || r.code < 400 && r.location() != "/"
		case "second-factor", "enrolment":
			ok = r.code < 300 || r.code < 400 && setsSession(r)
		case "public":
			ok = r.code < 400
		case "token":
			ok = r.code < 300
		default:
			ok = r.code < 300 || r.code < 400 && !strings.HasPrefix(r.location(), "/sign-in")
		}
		if r.code >= 500 {
			t.Errorf("%s (%s) as %s: %d", pattern, desc, p.name, r.code)
		}
		if ok != want {
			t.Errorf("%s (%s) as %s: %d (location %q) %.300s; allowed %v", pattern, desc, p.name, r.code, r.location(), r.body, want)
		}
		for _, sec := range secrets {
			if p.stage == "full" && strings.Contains(r.body, sec.text) && !sec.maySee(p) {
				t.Errorf("%s (%s) as %s: the answer holds %q", pattern, desc, p.name, sec.text)
			}
			if p.stage != "full" && strings.Contains(r.body, sec.text) {
				t.Errorf("%s (%s) as %s: the answer holds %q", pattern, desc, p.name, sec.text)
			}
		}
		if !want {
			if after := s.snapshot(t, stateQueries); after != before {
				t.Errorf("%s (%s) as %s: a refusal changed\n%s", pattern, desc, p.name, diffLines(before, after))
			}
		}
	}
	stageAllows := func(pattern string, p *persona) bool {
		switch access[pattern] {
		case "public":
			return true
		case "anonymous":
			return p.stage == ""
		case "second-factor":
			return p.stage == "second-factor"
		case "enrolment":
			return p.stage == "enrolment"
		}
		return p.stage == "full" // signed-in, token
	}
	// call makes one call as p and judges it: allowed when the route's
	// access rule admits p and policy(p) holds.
	call := func(pattern, desc string, p *persona, policy func(*persona) bool, do func(p *persona) response) response {
		t.Helper()
		want := stageAllows(pattern, p) && policy(p)
		before := ""
		if !want {
			before = s.snapshot(t, stateQueries)
		}
		r := do(p)
		judge(pattern, desc, p, want, before, r)
		return r
	}
	each := func(pattern, desc string, people []*persona, policy func(*persona) bool, do func(p *persona) response) {
		t.Helper()
		for _, p := range people {
			call(pattern, desc, p, policy, do)
		}
	}

	// browserOf is p's browser: a new one for every anonymous call.
	browserOf := func(p *persona) *browser {
		if p.stage == "" || p.b == nil {
			return s.browser()
		}
		return p.b
	}
	get := func(path string) func(p *persona) response {
		return func(p *persona) response { return browserOf(p).get(path) }
	}
	// post submits a form with the CSRF token of p's session (or, for an
	// anonymous visitor, of the sign-in page).
	postWith := func(b *browser, p *persona, path string, form url.Values) response {
		if b.csrf == "" {
			switch p.stage {
			case "":
				b.get("/sign-in")
			case "full":
				b.get("/profile")
			case "second-factor":
				b.get("/sign-in/code")
			case "enrolment":
				b.get("/sign-in/enrol")
			}
		}
		return b.post(path, form)
	}
	post := func(path string, form func(p *persona) url.Values) func(p *persona) response {
		return func(p *persona) response { return postWith(browserOf(p), p, path, form(p)) }
	}
	fixed := func(v url.Values) func(*persona) url.Values {
		return func(*persona) url.Values {
			out := url.Values{}
			for k, vs := range v {
				out[k] = append([]string{}, vs...)
			}
			return out
		}
	}
	apiCall := func(method, path string, body func(p *persona) string) func(p *persona) response {
		return func(p *persona) response {
			b := ""
			if body != nil {
				b = body(p)
			}
			return s.api(t, method, path, p.token, b)
		}
	}
	raw := func(method, path, contentType string, body func(p *persona) string) func(p *persona) response {
		return func(p *persona) response {
			req, _ := http.NewRequest(method, s.srv.URL+path, strings.NewReader(body(p)))
			req.Header.Set("Content-Type", contentType)
			if p.token != "" {
				req.Header.Set("Authorization", "Bearer "+p.token)
			}
			return s.browser().do(req)
		}
	}
	upload := func(path, name string, content func(p *persona) string) func(p *persona) response {
		return func(p *persona) response {
			b := browserOf(p)
			if b.csrf == "" && p.stage == "full" {
				b.get("/profile")
			}
			var buf bytes.Buffer
			ct := newMultipart(&buf, b.csrf, name, []byte(content(p)))
			req, _ := http.NewRequest("POST", s.srv.URL+path, &buf)
			req.Header.Set("Content-Type", ct)
			return b.do(req)
		}
	}
	anonymousLast := func() []*persona { return append(slices.Clone(personas[1:]), anonymous) }

	// The way in: sign-in steps, reset links, invitations.
	n := 0
	next := func() int { n++; return n }
	takeCode := func(p *persona) string {
		t.Helper()
		if len(p.b.codes) == 0 {
			t.Fatalf("%s has no recovery code left", p.name)
		}
		c := p.b.codes[0]
		p.b.codes = p.b.codes[1:]
		return c
	}
	stepper := add("a user at the second sign-in step", "Stefan Schritt", deNC, "stefan@bmwk.de.example", authorities.Coordinator)
	personas = slices.DeleteFunc(personas, func(p *persona) bool { return p == stepper })
	atStep := func(stage string) *persona {
		t.Helper()
		p := &persona{matrixUser: &matrixUser{name: "a visitor at the " + stage + " step", b: s.browser()}, stage: stage}
		email, pw := stepper.email, stepper.password
		if stage == "enrolment" {
			email = fmt.Sprintf("neu%d@bmwk.de.example", next())
			newMember(email, "Neu", nil)
			pw = testPassword
		}
		p.b.get("/sign-in")
		if r := p.b.post("/sign-in", url.Values{"email": {email}, "password": {pw}}); r.code != http.StatusSeeOther {
			t.Fatalf("sign-in of %s: %d", email, r.code)
		}
		p.b.csrf = ""
		return p
	}
	withStep := func(stage string) []*persona { return append(slices.Clone(personas), atStep(stage)) }
	signedInAgain := func(p *persona) *browser {
		t.Helper()
		b := s.browser()
		b.get("/sign-in")
		if r := b.post("/sign-in", url.Values{"email": {p.email}, "password": {p.password}}); r.location() != "/sign-in/code" {
			t.Fatalf("sign-in again as %s: %d %s", p.name, r.code, r.location())
		}
		b.get("/sign-in/code")
		if r := b.post("/sign-in/code", url.Values{"code": {takeCode(p)}}); r.code != http.StatusSeeOther {
			t.Fatalf("code again as %s: %d", p.name, r.code)
		}
		return b
	}
	everyone := func(*persona) bool { return true }
	checks := map[string]func(pattern string){}
	read := func(pattern, path string, policy func(*persona) bool) {
		checks[pattern] = func(pattern string) {
			if strings.HasPrefix(path, "/api/") {
				each(pattern, path, personas, policy, apiCall("GET", path, nil))
				return
			}
			each(pattern, path, personas, policy, get(path))
		}
	}

	read("GET /{$}", "/", everyone)
	read("GET /sign-in", "/sign-in", everyone)
	checks["POST /sign-in"] = func(pattern string) {
		each(pattern, "a user's address and password", personas, everyone, post("/sign-in", fixed(url.Values{"email": {stepper.email}, "password": {stepper.password}})))
	}
	checks["GET /sign-in/code"] = func(pattern string) { each(pattern, "", withStep("second-factor"), everyone, get("/sign-in/code")) }
	checks["POST /sign-in/code"] = func(pattern string) {
		each(pattern, "a recovery code", withStep("second-factor"), everyone, func(p *persona) response {
			code := "0000-0000-00"
			if p.stage == "second-factor" {
				code = takeCode(stepper)
			}
			return postWith(browserOf(p), p, "/sign-in/code", url.Values{"code": {code}})
		})
	}
	checks["GET /sign-in/enrol"] = func(pattern string) { each(pattern, "", withStep("enrolment"), everyone, get("/sign-in/enrol")) }
	checks["POST /sign-in/enrol"] = func(pattern string) {
		each(pattern, "a code of the new authenticator", withStep("enrolment"), everyone, func(p *persona) response {
			c := "000000"
			b := browserOf(p)
			if p.stage == "enrolment" {
				page := b.get("/sign-in/enrol")
				m := pendingSecretRe.FindStringSubmatch(page.body)
				if m == nil {
					t.Fatalf("no secret on the enrolment page: %d", page.code)
				}
				c = code(t, m[1])
			}
			return postWith(b, p, "/sign-in/enrol", url.Values{"code": {c}})
		})
	}
	checks["POST /sign-out"] = func(pattern string) {
		each(pattern, "its own session", personas, everyone, func(p *persona) response {
			if p.stage != "full" {
				return post("/sign-out", fixed(url.Values{}))(p)
			}
			b := signedInAgain(p) // not the session the matrix uses
			b.get("/profile")
			r := b.post("/sign-out", url.Values{})
			if again := b.get("/profile"); again.code != http.StatusSeeOther {
				t.Errorf("the session of %s lives on after signing out: %d", p.name, again.code)
			}
			return r
		})
	}
	read("GET /password/forgot", "/password/forgot", everyone)
	checks["POST /password/forgot"] = func(pattern string) {
		each(pattern, "an address", personas, everyone, post("/password/forgot", fixed(url.Values{"email": {"niemand@nowhere.example"}})))
	}
	resetter := newMember("vergesslich@aekb.de.example", "Vera Vergesslich", nil)
	link := func(kind, prefix string) string {
		t.Helper()
		var payload string
		if err := s.app.DB.Read().QueryRowContext(ctx, `SELECT payload FROM outbox WHERE kind = $1 ORDER BY created_at DESC, id DESC LIMIT 1`, kind).Scan(&payload); err != nil {
			t.Fatal(err)
		}
		i := strings.Index(payload, prefix)
		if i < 0 {
			t.Fatalf("no %s link in %s", prefix, payload)
		}
		l := payload[i:]
		return l[:strings.IndexAny(l, `"\`)]
	}
	resetLink := func() string {
		t.Helper()
		if err := s.app.Auth.RequestPasswordReset(ctx, resetter.Email, auth.Client{Address: "192.0.2.1"}); err != nil {
			t.Fatal(err)
		}
		return link("password_reset", "/password/reset/")
	}
	checks["GET /password/reset/{token}"] = func(pattern string) { each(pattern, "a live link", personas, everyone, get(resetLink())) }
	checks["POST /password/reset/{token}"] = func(pattern string) {
		l := resetLink()
		each(pattern, "a live link", anonymousLast(), everyone, post(l, fixed(url.Values{"password": {"ein-ganz-neues-passwort-7"}, "password_again": {"ein-ganz-neues-passwort-7"}})))
	}
	userInvitation := func() string {
		t.Helper()
		if err := s.app.Authorities.InviteUser(ctx, authorities.System(), target.ID, authorities.Invitation{Email: fmt.Sprintf("eingeladen%d@aekb.de.example", next()),
			Name: "Eingeladen", Language: "de", Roles: []authorities.UserRole{{Role: authorities.RequestHandler}}}); err != nil {
			t.Fatal(err)
		}
		return link("user_invitation", "/invitation/")
	}
	checks["GET /invitation/{token}"] = func(pattern string) { each(pattern, "a live invitation", personas, everyone, get(userInvitation())) }
	checks["POST /invitation/{token}"] = func(pattern string) {
		l := userInvitation()
		each(pattern, "a live invitation", anonymousLast(), everyone, post(l, fixed(url.Values{"password": {"ein-ganz-neues-passwort-7"}, "password_again": {"ein-ganz-neues-passwort-7"}})))
	}
	authorityInvitation := func() string {
		t.Helper()
		if err := s.app.Authorities.InviteAuthority(ctx, coordinator.actor, fmt.Sprintf("poststelle%d@behoerde.de.example", next()), "de"); err != nil {
			t.Fatal(err)
		}
		return link("authority_invitation", "/register/")
	}
	checks["GET /register/{token}"] = func(pattern string) {
		each(pattern, "a live invitation", personas, everyone, get(authorityInvitation()))
	}
	checks["POST /register/{token}"] = func(pattern string) {
		l := authorityInvitation()
		each(pattern, "a live invitation", anonymousLast(), everyone, post(l, fixed(url.Values{"name": {"Apothekerkammer Berlin"}, "language": {"de"}, "country": {"DE"}, "areas": {"pq"}})))
	}
	read("GET /language", "/language", everyone)
	checks["POST /language"] = func(pattern string) {
		each(pattern, "German", personas, everyone, post("/language", fixed(url.Values{"lang": {"de"}, "next": {"/help"}})))
	}
	read("GET /help", "/help", everyone)
	read("GET /open-data", "/open-data", everyone)

	// The user's own account: nobody reaches another's.
	read("GET /profile", "/profile", everyone)
	checks["POST /profile/language"] = func(pattern string) {
		each(pattern, "German", personas, everyone, post("/profile/language", fixed(url.Values{"language": {"de"}})))
	}
	checks["POST /profile/password"] = func(pattern string) {
		each(pattern, "its current password", personas, everyone, func(p *persona) response {
			changed := fmt.Sprintf("ein-neues-passwort-%d", next())
			r := post("/profile/password", fixed(url.Values{"current_password": {p.password}, "new_password": {changed}, "new_password_again": {changed}}))(p)
			if r.code == http.StatusSeeOther && p.stage == "full" {
				p.password = changed
			}
			return r
		})
	}
	checks["POST /profile/recovery-codes"] = func(pattern string) {
		each(pattern, "a recovery code", personas, everyone, func(p *persona) response {
			c := "0000-0000-00"
			if p.stage == "full" {
				c = takeCode(p)
			}
			r := post("/profile/recovery-codes", fixed(url.Values{"code": {c}}))(p)
			if p.stage == "full" && r.code == http.StatusOK {
				p.b.codes = nil
				for _, m := range codeRe.FindAllStringSubmatch(r.body, -1) {
					p.b.codes = append(p.b.codes, m[1])
				}
			}
			return r
		})
	}
	// startReplacing begins setting up a new authenticator for p and
	// returns its secret (uncounted: the set-up of another check).
	startReplacing := func(p *persona) string {
		t.Helper()
		r := postWith(p.b, p, "/profile/authenticator", url.Values{"code": {takeCode(p)}})
		m := pendingSecretRe.FindStringSubmatch(r.body)
		if r.code != http.StatusOK || m == nil {
			t.Fatalf("a new authenticator for %s: %d", p.name, r.code)
		}
		return m[1]
	}
	checks["POST /profile/authenticator"] = func(pattern string) {
		each(pattern, "a recovery code", personas, everyone, func(p *persona) response {
			c := "0000-0000-00"
			if p.stage == "full" {
				c = takeCode(p)
			}
			return post("/profile/authenticator", fixed(url.Values{"code": {c}}))(p)
		})
	}
	checks["GET /profile/authenticator"] = func(pattern string) {
		each(pattern, "one being set up", personas, everyone, func(p *persona) response {
			if p.stage == "full" {
				startReplacing(p)
			}
			return get("/profile/authenticator")(p)
		})
	}
	checks["POST /profile/authenticator/confirm"] = func(pattern string) {
		each(pattern, "a code of the new one", personas, everyone, func(p *persona) response {
			c := "000000"
			if p.stage == "full" {
				c = code(t, startReplacing(p))
			}
			return post("/profile/authenticator/confirm", fixed(url.Values{"code": {c}}))(p)
		})
	}
	checks["GET /api/v1/openapi.yaml"] = func(pattern string) {
		each(pattern, "", personas, everyone, apiCall("GET", "/api/v1/openapi.yaml", nil))
	}
	read("GET /api/v1/me", "/api/v1/me", everyone)
	checks["PATCH /api/v1/me"] = func(pattern string) {
		each(pattern, "German", personas, everyone, apiCall("PATCH", "/api/v1/me", func(*persona) string { return `{"language":"de"}` }))
	}
	read("GET /api/v1/me/tokens", "/api/v1/me/tokens", everyone)
	spareToken := func(p *persona) string {
		t.Helper()
		if p.email == "" {
			return "0190a0a0-0000-7000-8000-000000000000"
		}
		tok, _, err := s.app.Auth.CreateToken(ctx, p.email, "spare")
		if err != nil {
			t.Fatal(err)
		}
		return tok.ID
	}
	checks["DELETE /api/v1/me/tokens/{id}"] = func(pattern string) {
		for _, p := range personas {
			id := spareToken(p)
			call(pattern, "its own token", p, everyone, apiCall("DELETE", "/api/v1/me/tokens/"+id, nil))
		}
		for _, p := range personas {
			id := spareToken(admin)
			call(pattern, "a token of the authority's administrator", p, func(p *persona) bool { return p == admin }, apiCall("DELETE", "/api/v1/me/tokens/"+id, nil))
		}
	}

	// The areas: reference data for every user.
	for pattern, path := range map[string]string{"/areas": "/areas", "/areas/{area}": "/areas/pq",
		"/areas/{area}/vocabularies/{vocabulary}": "/areas/pq/vocabularies/professions", "/areas/{area}/question-sets/{set}": "/areas/pq/question-sets/authenticity"} {
		read("GET "+pattern, path, everyone)
		read("GET /api/v1"+pattern, "/api/v1"+path, everyone)
	}

	// The network. Its policy decides, for target (a German competent
	// authority in the professional qualifications area).
	newGerman := &authorities.Authority{Country: "DE", Kind: authorities.CompetentAuthority, Areas: []string{"pq"}}
	canEdit := func(p *persona) bool { return p.actor.CanEdit(target) }
	canExport := func(p *persona) bool { return p.actor.CanExport() }
	read("GET /authorities", "/authorities?country=DE", everyone)
	read("GET /api/v1/authorities", "/api/v1/authorities?country=DE", everyone)
	read("GET /authorities/new", "/authorities/new", func(p *persona) bool { return p.actor.CanInviteAuthorities() })
	checks["POST /authorities/new"] = func(pattern string) {
		each(pattern, "a German competent authority", personas, func(p *persona) bool { return p.actor.CanRegister(newGerman) }, post("/authorities/new", func(*persona) url.Values {
			return url.Values{"name": {fmt.Sprintf("Zahnärztekammer %d", next())}, "country": {"DE"}, "language": {"de"}, "areas": {"pq"}, "role": {"competent_authority"}}
		}))
	}
	checks["POST /api/v1/authorities"] = func(pattern string) {
		each(pattern, "a German competent authority", personas, func(p *persona) bool { return p.actor.CanRegister(newGerman) }, apiCall("POST", "/api/v1/authorities", func(*persona) string {
			return fmt.Sprintf(`{"name":"Zahnärztekammer %d","country":"DE","language":"de","areas":["pq"],"role":"competent_authority"}`, next())
		}))
	}
	checks["POST /authorities/invite"] = func(pattern string) {
		each(pattern, "an authority's address", personas, func(p *persona) bool { return p.actor.CanInviteAuthorities() }, post("/authorities/invite", func(*persona) url.Values {
			return url.Values{"email": {fmt.Sprintf("poststelle%d@behoerde.de.example", next())}, "language": {"de"}}
		}))
	}
	seesGermany := func(p *persona) bool { return p.actor.CanSeeCountry("DE") }
	read("GET /authorities/never-used", "/authorities/never-used?country=DE", seesGermany)
	read("GET /api/v1/authorities/never-used", "/api/v1/authorities/never-used?country=DE", seesGermany)
	read("GET /authorities/statistics", "/authorities/statistics", everyone)
	read("GET /api/v1/authorities/statistics", "/api/v1/authorities/statistics", everyone)
	read("GET /authorities/import", "/authorities/import", canExport)
	read("GET /authorities/export", "/authorities/export?format=csv", canExport)
	read("GET /api/v1/authorities/export", "/api/v1/authorities/export?format=json", canExport)
	// importFile is the export's row of target with a new phone number.
	importFile := func(*persona) string {
		t.Helper()
		var all bytes.Buffer
		if err := s.app.Authorities.Export(ctx, &all, "csv"); err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(&all).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		phone := slices.Index(rows[0], "phone")
		var out bytes.Buffer
		w := csv.NewWriter(&out)
		_ = w.Write(rows[0])
		for _, row := range rows[1:] {
			if row[0] == target.ID {
				row[phone] = fmt.Sprintf("+49 30 %d", 1000+next())
				_ = w.Write(row)
			}
		}
		w.Flush()
		return out.String()
	}
	importer := func(p *persona) bool { return p.actor.CanExport() && p.actor.CanEdit(target) }
	checks["POST /authorities/import"] = func(pattern string) {
		each(pattern, "a row of the authority", personas, importer, upload("/authorities/import", "authorities.csv", importFile))
	}
	checks["POST /api/v1/authorities/import"] = func(pattern string) {
		each(pattern, "a row of the authority", personas, importer, raw("POST", "/api/v1/authorities/import?format=csv", "text/csv", importFile))
	}
	read("GET /authorities/{id}", "/authorities/"+target.ID, everyone)
	read("GET /api/v1/authorities/{id}", "/api/v1/authorities/"+target.ID, everyone)
	read("GET /authorities/{id}/edit", "/authorities/"+target.ID+"/edit", canEdit)
	checks["POST /authorities/{id}/edit"] = func(pattern string) {
		each(pattern, "a new phone number", personas, canEdit, post("/authorities/"+target.ID+"/edit", func(*persona) url.Values {
			return url.Values{"name": {"Ärztekammer Berlin"}, "country": {"DE"}, "language": {"de"}, "areas": {"pq"}, "role": {"competent_authority"},
				"email": {"info@aekb.de.example"}, "city": {"Berlin"}, "phone": {fmt.Sprintf("+49 30 %d", 1000+next())}}
		}))
	}
	checks["PUT /api/v1/authorities/{id}"] = func(pattern string) {
		each(pattern, "a new phone number", personas, canEdit, apiCall("PUT", "/api/v1/authorities/"+target.ID, func(*persona) string {
			return fmt.Sprintf(`{"name":"Ärztekammer Berlin","country":"DE","language":"de","areas":["pq"],"role":"competent_authority","email":"info@aekb.de.example","city":"Berlin","phone":"+49 30 %d"}`, 1000+next())
		}))
	}
	// statusTarget is the authority whose status p changes: its own when it
	// belongs to target (the policy refuses, so nothing changes), else a
	// new German authority in the same area in status from, so that the
	// users of target keep their sessions.
	statusTarget := func(p *persona, from authorities.Status) *authorities.Authority {
		t.Helper()
		if p.own != nil && p.own.ID == target.ID {
			if p.actor.CanValidate(target) {
				t.Fatalf("%s may change its own authority's status: the matrix would end its own sessions", p.name)
			}
			return target
		}
		a := reg(authorities.Input{Country: "DE", Name: fmt.Sprintf("Gesundheitsamt %d", next()), Language: "de", Areas: []string{"pq"}})
		switch from {
		case authorities.Validated:
			if err := s.app.Authorities.SetStatus(ctx, authorities.System(), a.ID, authorities.Validated); err != nil {
				t.Fatal(err)
			}
		case authorities.Deactivated:
			if err := s.app.Authorities.SetStatus(ctx, authorities.System(), a.ID, authorities.Deactivated); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.app.Authorities.Get(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	transitions := []struct {
		action, status string
		from           authorities.Status
	}{
		{"validate", "validated", authorities.Registered},
		{"deactivate", "deactivated", authorities.Validated},
		{"reactivate", "active", authorities.Deactivated},
		{"register", "registered", authorities.Validated}, // no such change: refused for everyone
	}
	statusCheck := func(apiSide bool) func(string) {
		return func(pattern string) {
			for _, tr := range transitions {
				for _, p := range personas {
					a := statusTarget(p, tr.from)
					policy := func(p *persona) bool { return tr.action != "register" && p.actor.CanValidate(a) }
					call(pattern, tr.action, p, policy, func(p *persona) response {
						if apiSide {
							return s.api(t, "POST", "/api/v1/authorities/"+a.ID+"/status", p.token, `{"status":"`+tr.status+`"}`)
						}
						return post("/authorities/"+a.ID+"/status/"+tr.action, fixed(url.Values{}))(p)
					})
				}
			}
		}
	}
	checks["POST /authorities/{id}/status/{action}"] = statusCheck(false)
	checks["POST /api/v1/authorities/{id}/status"] = statusCheck(true)
	read("GET /authorities/{id}/history", "/authorities/"+target.ID+"/history", func(p *persona) bool { return p.actor.CanSeeHistory(target) })
	read("GET /api/v1/authorities/{id}/history", "/api/v1/authorities/"+target.ID+"/history", func(p *persona) bool { return p.actor.CanSeeHistory(target) })
	read("GET /authorities/{id}/users", "/authorities/"+target.ID+"/users", seesMembers)
	read("GET /api/v1/authorities/{id}/users", "/api/v1/authorities/"+target.ID+"/users", seesMembers)
	manages := func(p *persona) bool { return p.actor.CanManageUsers(target) }
	checks["POST /authorities/{id}/users"] = func(pattern string) {
		each(pattern, "an invitation", personas, manages, post("/authorities/"+target.ID+"/users", func(*persona) url.Values {
			return url.Values{"email": {fmt.Sprintf("neu%d@aekb.de.example", next())}, "name": {"Neu"}, "language": {"de"}, "roles": {"request_handler"}}
		}))
	}
	checks["POST /api/v1/authorities/{id}/users"] = func(pattern string) {
		each(pattern, "an invitation", personas, manages, apiCall("POST", "/api/v1/authorities/"+target.ID+"/users", func(*persona) string {
			return fmt.Sprintf(`{"email":"neu%d@aekb.de.example","name":"Neu","language":"de","roles":["request_handler"]}`, next())
		}))
	}
	// memberCheck calls a route about one user of target: through target,
	// as its policy says, and through the caller's own authority, which
	// the user is no member of (refused for everyone).
	spare := func() string {
		return newMember(fmt.Sprintf("ersatz%d@aekb.de.example", next()), "Ersatz", target, authorities.UserRole{Role: authorities.RequestHandler}).ID
	}
	memberCheck := func(desc string, do func(p *persona, authorityID, userID string) response) func(string) {
		return func(pattern string) {
			for _, p := range personas {
				u := spare()
				call(pattern, desc, p, manages, func(p *persona) response { return do(p, target.ID, u) })
			}
			for _, p := range personas {
				if p.own == nil || p.own.ID == target.ID {
					continue
				}
				u := spare()
				call(pattern, desc+" through its own authority", p, func(*persona) bool { return false }, func(p *persona) response { return do(p, p.own.ID, u) })
			}
		}
	}
	checks["POST /authorities/{id}/users/{user}/roles"] = memberCheck("new roles", func(p *persona, a, u string) response {
		return post("/authorities/"+a+"/users/"+u+"/roles", fixed(url.Values{"roles": {"request_handler", "alert_handler"}}))(p)
	})
	checks["PUT /api/v1/authorities/{id}/users/{user}/roles"] = memberCheck("new roles", func(p *persona, a, u string) response {
		return s.api(t, "PUT", "/api/v1/authorities/"+a+"/users/"+u+"/roles", p.token, `{"roles":["request_handler","alert_handler"]}`)
	})
	checks["POST /authorities/{id}/users/{user}/deactivate"] = memberCheck("deactivation", func(p *persona, a, u string) response {
		return post("/authorities/"+a+"/users/"+u+"/deactivate", fixed(url.Values{}))(p)
	})
	checks["POST /authorities/{id}/remind"] = func(pattern string) {
		each(pattern, "a reminder", personas, func(p *persona) bool { return p.actor.CanValidate(target) }, post("/authorities/"+target.ID+"/remind", fixed(url.Values{"country": {"DE"}})))
	}

	// Every route of the matrix's domain must have an entry, and every
	// entry a route.
	covered := checkRoutesOf(t, s, networkMatrixRoutes, checks, func(p string, check func(string)) {
		if _, path, _ := strings.Cut(p, " "); strings.HasPrefix(path, "/api/") {
			apiRoutes[p] = true
		} else {
			ui[p] = true
		}
		check(p)
	})
	t.Logf("%d routes (%d UI, %d API) × %d personas (and visitors at sign-in steps): %d calls, %d allowed, %d refused",
		covered, len(ui), len(apiRoutes), len(personas), calls, allowedCalls, calls-allowedCalls)
}
