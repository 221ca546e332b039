package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/openimi/openimi/internal/app"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/broadcasts"
	"github.com/openimi/openimi/internal/requests"
)

// The demonstration accounts the scan acts as: each endpoint is called by
// the one whose roles let the request reach the database.
const (
	demoPassword = app.DemoPassword
	anna         = "anna.kowalska@demo.openimi.eu"      // PL request handler, allocator: requests
	joao         = "joao.silva@demo.openimi.eu"         // PT national coordinator: registry, registers, statistics
	claire       = "claire.martin@demo.openimi.eu"      // FR alert handler: alerts, measures
	eleni        = "eleni.papadopoulou@demo.openimi.eu" // EL: the other party of the demo requests, never signed in here
	hans         = "hans.bauer@demo.openimi.eu"         // left waiting for the security code
	newUser      = "new.user@demo.openimi.eu"           // left waiting to enrol an authenticator
	nobody       = "sqlmap-nobody@example.org"          // an address no account has: sign-in attempts lock nobody out
)

// identity is how one caller reaches the server: a cookie session for the
// UI and a bearer token for the API.
type identity struct {
	name   string
	client *http.Client
	cookie string // Cookie header of the UI session
	csrf   string // the session's CSRF token
	token  string // API bearer token
}

// environment is everything the targets are made from.
type environment struct {
	a      *app.App
	base   *url.URL
	people map[string]*identity // by e-mail; "" is the anonymous visitor
	ids    map[string]string    // demonstration ids by role, see prepare
	routes []route
	mux    webMux
	pages  map[string][]form // forms found, by the e-mail of who saw them
	actors actors            // who creates the objects each target acts on
}

// prepare signs in, mints API tokens, creates the drafts that edit pages
// need and collects the ids that replace path parameters.
func prepare(ctx context.Context, a *app.App, base string) (*environment, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	e := &environment{a: a, base: u, people: map[string]*identity{}, ids: map[string]string{}}
	for _, email := range []string{anna, joao, claire} {
		id, err := e.signIn(ctx, email, true)
		if err != nil {
			return nil, fmt.Errorf("sign in %s: %w", email, err)
		}
		if _, id.token, err = a.Auth.CreateToken(ctx, email, "sqlmap"); err != nil {
			return nil, err
		}
		e.people[email] = id
	}
	// DELETE /api/v1/me/tokens/{id} gets a token id that does not exist:
	// revoking a real one would answer 204 once and 404 after, which sqlmap
	// takes for an unstable page and gives up; the look-up is the same.
	e.ids["token"] = "01a20000-0000-7000-8000-000000000000"
	for _, s := range []struct{ email, name string }{{hans, "code"}, {newUser, "enrol"}} {
		id, err := e.signIn(ctx, s.email, false)
		if err != nil {
			return nil, fmt.Errorf("sign in %s: %w", s.email, err)
		}
		e.people[s.name] = id
	}
	anon, err := e.visitor()
	if err != nil {
		return nil, err
	}
	e.people[""] = anon
	if err := e.collectIDs(ctx); err != nil {
		return nil, err
	}
	return e, e.loadActors(ctx)
}

// newClient is an HTTP client with a cookie jar that does not follow
// redirects, so that each response can be read as it is.
func newClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// get fetches a page and returns its body.
func (e *environment) get(c *http.Client, path string) (int, string, error) {
	res, err := c.Get(e.base.String() + path)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, string(b), err
}

// csrfOf reads the CSRF token of a page.
func (e *environment) csrfOf(c *http.Client, path string) (string, error) {
	_, body, err := e.get(c, path)
	if err != nil {
		return "", err
	}
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		return "", fmt.Errorf("no CSRF field on %s", path)
	}
	return m[1], nil
}

func (e *environment) post(c *http.Client, path string, form url.Values) (*http.Response, error) {
	res, err := c.PostForm(e.base.String()+path, form)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if _, err := io.Copy(io.Discard, res.Body); err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusSeeOther && res.StatusCode != http.StatusFound {
		return res, fmt.Errorf("POST %s: %s", path, res.Status)
	}
	return res, nil
}

// signIn signs in with the password and, when full, the current security
// code, as a person would.
func (e *environment) signIn(ctx context.Context, email string, full bool) (*identity, error) {
	c := newClient()
	csrf, err := e.csrfOf(c, "/sign-in")
	if err != nil {
		return nil, err
	}
	if _, err := e.post(c, "/sign-in", url.Values{"email": {email}, "password": {demoPassword}, "csrf": {csrf}}); err != nil {
		return nil, err
	}
	if full {
		if csrf, err = e.csrfOf(c, "/sign-in/code"); err != nil {
			return nil, err
		}
		// A code is good once: when this account signed in a moment ago,
		// wait for the next one.
		for try := 0; ; try++ {
			code, err := e.a.Auth.CurrentCode(ctx, email)
			if err != nil {
				return nil, err
			}
			_, err = e.post(c, "/sign-in/code", url.Values{"code": {code}, "csrf": {csrf}})
			if err == nil {
				break
			}
			if try == 1 {
				return nil, err
			}
			time.Sleep(time.Duration(31-time.Now().Unix()%30) * time.Second)
		}
		if csrf, err = e.csrfOf(c, "/profile"); err != nil {
			return nil, fmt.Errorf("not signed in: %w", err)
		}
	} else {
		page := "/sign-in/code"
		if email == newUser {
			page = "/sign-in/enrol"
		}
		if csrf, err = e.csrfOf(c, page); err != nil {
			return nil, err
		}
	}
	return &identity{name: email, client: c, cookie: cookieHeader(c, e.base), csrf: csrf}, nil
}

// visitor is an anonymous browser with its pre-session CSRF cookie.
func (e *environment) visitor() (*identity, error) {
	c := newClient()
	csrf, err := e.csrfOf(c, "/sign-in")
	if err != nil {
		return nil, err
	}
	return &identity{name: "anonymous", client: c, cookie: cookieHeader(c, e.base), csrf: csrf}, nil
}

func cookieHeader(c *http.Client, base *url.URL) string {
	var parts []string
	for _, k := range c.Jar.Cookies(base) {
		parts = append(parts, k.Name+"="+k.Value)
	}
	return strings.Join(parts, "; ")
}

// collectIDs finds, and where needed creates, the objects whose ids
// replace path parameters: ids the acting user may use, so that a
// request gets past the access checks to the queries behind them.
func (e *environment) collectIDs(ctx context.Context) error {
	actor := func(email string) (authorities.Actor, error) {
		u, err := e.a.Auth.UserByEmail(ctx, email)
		if err != nil {
			return authorities.Actor{}, err
		}
		return e.a.Authorities.ActorFor(ctx, u.ID)
	}
	annaA, err := actor(anna)
	if err != nil {
		return err
	}
	joaoA, err := actor(joao)
	if err != nil {
		return err
	}
	claireA, err := actor(claire)
	if err != nil {
		return err
	}
	eleniA, err := actor(eleni)
	if err != nil {
		return err
	}
	e.ids["anna.user"], e.ids["anna.authority"] = annaA.UserID, annaA.Authority.ID
	e.ids["joao.user"], e.ids["joao.authority"] = joaoA.UserID, joaoA.Authority.ID
	e.ids["claire.authority"] = claireA.Authority.ID
	e.ids["eleni.user"], e.ids["eleni.authority"] = eleniA.UserID, eleniA.Authority.ID
	// A Portuguese authority in João's scope other than his own: status
	// changes and reminders go to it, never to the authority in use.
	list, _, err := e.a.Authorities.List(ctx, authorities.Filter{Country: "PT", Kind: authorities.CompetentAuthority, PerPage: 1})
	if err != nil || len(list) == 0 {
		return fmt.Errorf("no Portuguese competent authority: %v", err)
	}
	e.ids["pt.authority"] = list[0].ID

	q := func(key, sql string, args ...any) error {
		var id string
		if err := e.a.DB.Read().QueryRowContext(ctx, sql, args...).Scan(&id); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		e.ids[key] = id
		return nil
	}
	// The demo requests between Eleni and Anna: one waiting for Anna's
	// answer, one she received an answer to.
	if err := q("request", `SELECT id FROM requests WHERE state = 'sent' AND responder_id = $1 ORDER BY id LIMIT 1`, annaA.Authority.ID); err != nil {
		return err
	}
	if err := q("request.answered", `SELECT id FROM requests WHERE state = 'answered' AND requester_id = $1 ORDER BY id LIMIT 1`, annaA.Authority.ID); err != nil {
		return err
	}
	if err := q("alert", `SELECT id FROM broadcasts WHERE kind = 'alert' AND sender_id = $1 ORDER BY id LIMIT 1`, claireA.Authority.ID); err != nil {
		return err
	}
	if err := q("measure", `SELECT id FROM broadcasts WHERE kind = 'notification' AND sender_id = $1 ORDER BY id LIMIT 1`, claireA.Authority.ID); err != nil {
		return err
	}
	if err := q("register", `SELECT id FROM registers WHERE country = 'PT' ORDER BY id LIMIT 1`); err != nil {
		return err
	}
	// Drafts, whose edit pages and PUTs are open to their authors.
	draft, err := e.a.Requests.Create(ctx, annaA, requests.DraftInput{Area: "pq", QuestionSet: "authenticity",
		Questions: []string{"diploma_authentic"}, ResponderID: eleniA.Authority.ID,
		Subject: map[string]string{"name": "Sqlmap Draft", "profession": "doctor", "date_of_birth": "1980-01-01"}})
	if err != nil {
		return fmt.Errorf("draft request: %w", err)
	}
	e.ids["request.draft"] = draft.ID
	alert, err := e.a.Broadcasts.Create(ctx, claireA, broadcasts.DraftInput{Kind: broadcasts.Alert, Area: "services", Type: "services_alert",
		Title: "Sqlmap draft", Countries: []string{"PT"}, Fields: map[string]string{"business_name": "Sqlmap SARL"}})
	if err != nil {
		return fmt.Errorf("draft alert: %w", err)
	}
	e.ids["alert.draft"] = alert.ID
	measure, err := e.a.Broadcasts.Create(ctx, claireA, broadcasts.DraftInput{Kind: broadcasts.Notification, Area: "services", Type: "services_requirements",
		Title: "Sqlmap draft", Fields: map[string]string{"measure_title": "Sqlmap"}})
	if err != nil {
		return fmt.Errorf("draft measure: %w", err)
	}
	e.ids["measure.draft"] = measure.ID
	return e.attachment(ctx)
}

// attachment uploads a small text file to the demo request as Anna, for
// the download routes.
func (e *environment) attachment(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.base.String()+"/api/v1/requests/"+e.ids["request"]+"/attachments?name=sqlmap.txt",
		strings.NewReader("sqlmap attachment\n"))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+e.people[anna].token)
	req.Header.Set("Content-Type", "application/octet-stream")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var out struct {
		Attachments []struct{ ID string } `json:"attachments"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || len(out.Attachments) == 0 {
		return fmt.Errorf("attachment upload: %s: %v", res.Status, err)
	}
	e.ids["attachment"] = out.Attachments[0].ID
	return nil
}
