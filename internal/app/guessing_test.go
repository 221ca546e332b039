package app_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/broadcasts"
	"github.com/openimi/openimi/internal/public"
	"github.com/openimi/openimi/internal/registers"
	"github.com/openimi/openimi/internal/requests"
)

// neighbours returns identifiers next to a UUIDv7: the same time prefix
// with the last hex digit changed, and the same random part at adjacent
// milliseconds, upper-cased and as a version 4.
func neighbours(id string, millis int) []string {
	u, err := uuid.Parse(id)
	if err != nil {
		return nil
	}
	var out []string
	last := id[len(id)-1]
	for _, c := range "0123456789abcdef" {
		if byte(c) != last {
			out = append(out, id[:len(id)-1]+string(c))
		}
	}
	ts := uint64(u[0])<<40 | uint64(u[1])<<32 | uint64(u[2])<<24 | uint64(u[3])<<16 | uint64(u[4])<<8 | uint64(u[5])
	for d := 1; d <= millis; d++ {
		for _, t := range []uint64{ts + uint64(d), ts - uint64(d)} {
			v := u
			for i := 0; i < 6; i++ {
				v[i] = byte(t >> (40 - 8*i))
			}
			out = append(out, v.String())
		}
	}
	v4 := u
	v4[6] = v4[6]&0x0f | 0x40
	return append(out, strings.ToUpper(id), v4.String())
}

// firstDifference shows where two answers part.
func firstDifference(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	from := max(0, i-80)
	return fmt.Sprintf("…%s…\nnot\n…%s…", a[from:min(len(a), i+120)], b[from:min(len(b), i+120)])
}

// malformed are identifiers no handler should choke on: too long, path
// traversal, NUL and other control bytes, invalid UTF-8, right-to-left
// overrides, SQL and template syntax, integers out of range.
var malformed = []string{
	strings.Repeat("0", 5000), "0190a0a0-0000-7000-8000-" + strings.Repeat("0", 2000), "..%2f..%2f..%2fetc%2fpasswd", "..%252f..%252fetc", "%2e%2e", "..",
	"%00", "0190a0a0-0000-7000-8000-000000000000%00", "%0d%0aSet-Cookie:%20x=y", "%ff%fe", "%c0%af", "%e2%80%ae", "%C3%BC%C3%A9", "%F0%9F%92%A9",
	"'%20OR%20'1'='1", "1;DROP%20TABLE%20users", "%7B%7B.%7D%7D", "*", "%25", "%20", "null", "undefined", "-1", "9223372036854775808", "1e309", "0x1",
}

// guessTarget is one GET route with a path parameter to guess: the
// pattern, its parameters' real values, and who guesses.
type guessTarget struct {
	pattern string
	path    string // the pattern's path with {param} in place
	params  []string
	values  map[string]string
	apiSide bool
}

var paramRe = regexp.MustCompile(`\{([a-z]+)\}`)

// TestGuessingTenThousandIdentifiersFindsNothing signs in as a user of an
// authority that is party to nothing (with every role an authority's user
// can hold) and tries identifiers on every GET route with a path
// parameter, in the UI and the API: real identifiers of requests,
// attachments, alerts, notifications of measures, register entries, users
// and tokens it may not see; their neighbours; random UUIDv4 and v7;
// integers; malformed strings. Invitation and reset links are guessed by
// an anonymous visitor. Nothing answers 2xx, nothing fails with 500, no
// answer holds another's data, and an object that exists but is not the
// user's is refused exactly as one that does not exist.
func TestGuessingTenThousandIdentifiersFindsNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("tries 10,000 identifiers")
	}
	s := newBroadcastSite(t)
	ctx := context.Background()
	alert, measure := s.fixture(t, broadcasts.Alert), s.fixture(t, broadcasts.Notification)
	// A request from Sweden to Italy, with a file.
	sender := s.users["sender's request handler"].actor
	r, err := s.app.Requests.Create(ctx, sender, requests.DraftInput{Area: "pq", QuestionSet: "authenticity", Questions: []string{"diploma_authentic"},
		ResponderID: s.itCA.ID, Subject: map[string]string{"name": "Birgitta Sandqvist", "profession": "doctor"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.app.Requests.Act(ctx, sender, r.ID, "send", requests.Input{}); err != nil {
		t.Fatal(err)
	}
	withFile, err := s.app.Requests.Attach(ctx, sender, r.ID, requests.Upload{Name: "examensbevis.pdf", Body: bytes.NewReader([]byte("%PDF-1.4\n%%EOF\n"))}, "")
	if err != nil {
		t.Fatal(err)
	}
	draft, err := s.app.Requests.Create(ctx, sender, requests.DraftInput{Area: "pq", QuestionSet: "authenticity", Questions: []string{"diploma_authentic"},
		ResponderID: s.itCA.ID, Subject: map[string]string{"name": "Birgitta Sandqvist", "profession": "doctor"}})
	if err != nil {
		t.Fatal(err)
	}
	// A register entry a Swedish administrator submitted: nobody abroad
	// sees it before its coordinator validates it.
	admin, err := s.app.Auth.CreateUser(ctx, auth.NewUser{Email: "admin@ivo.se.example", Name: "Sven Admin", Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.app.Authorities.Assign(ctx, admin.ID, s.seCA.ID, []authorities.UserRole{{Role: authorities.LocalDataAdministrator}}); err != nil {
		t.Fatal(err)
	}
	adminActor, err := s.app.Authorities.ActorFor(ctx, admin.ID)
	if err != nil {
		t.Fatal(err)
	}
	entry, err := s.app.Registers.Create(ctx, adminActor, registers.Input{AuthorityID: s.seCA.ID, Name: "Hemligt tillståndsregister", Language: "sv",
		Type: "business_register", Access: "public_online", Areas: []string{"services"}})
	if err != nil {
		t.Fatal(err)
	}
	if entry.Status != registers.Submitted {
		t.Fatalf("the entry is %s", entry.Status)
	}
	// Links sent by e-mail: an invitation to join, one to register an
	// authority, a password reset.
	if err := s.app.Authorities.InviteUser(ctx, authorities.System(), s.itCA.ID, authorities.Invitation{Email: "nuovo@salute.it.example", Name: "Nuovo", Language: "it"}); err != nil {
		t.Fatal(err)
	}
	if err := s.app.Authorities.InviteAuthority(ctx, s.users["receiving coordinator"].actor, "info@asl.it.example", "it"); err != nil {
		t.Fatal(err)
	}
	if err := s.app.Auth.RequestPasswordReset(ctx, "karin@ivo.se.example", auth.Client{Address: "192.0.2.1"}); err != nil {
		t.Fatal(err)
	}
	linkToken := func(kind, prefix string) string {
		t.Helper()
		var payload string
		if err := s.app.DB.Read().QueryRowContext(ctx, `SELECT payload FROM outbox WHERE kind = $1`, kind).Scan(&payload); err != nil {
			t.Fatal(err)
		}
		i := strings.Index(payload, prefix)
		l := payload[i+len(prefix):]
		return l[:strings.IndexAny(l, `"\`)]
	}
	tokens := map[string]string{
		"/invitation/":     linkToken("user_invitation", "/invitation/"),
		"/register/":       linkToken("authority_invitation", "/register/"),
		"/password/reset/": linkToken("password_reset", "/password/reset/"),
	}
	// The guesser: every role a competent authority's user may hold, in a
	// country that takes part in nothing above, outside the services area
	// (a notification of measures reaches every authority of its area).
	lu := registerWith(t, s.site, authorities.Input{Country: "LU", Name: "Ministère de la Santé", Language: "fr", Areas: []string{"pq"}})
	guesser := s.matrixMember(t, "Luc Guesser", lu, "luc@sante.lu.example", "fr",
		authorities.RequestHandler, authorities.Allocator, authorities.AlertHandler, authorities.LocalDataAdministrator)

	// What the guesser may not see: each must be refused like an
	// identifier that exists nowhere.
	forbidden := map[string]string{"request": r.ID, "draft": draft.ID, "attachment": withFile.Attachments[0].ID, "alert": alert, "measure": measure, "register entry": entry.ID}
	var tokenIDs []string
	for name, u := range s.users {
		if u.actor.UserID != "" {
			forbidden["user "+name] = u.actor.UserID
		}
	}
	rows, err := s.app.DB.Read().QueryContext(ctx, `SELECT id FROM api_tokens WHERE user_id <> $1`, guesser.actor.UserID)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		_ = rows.Scan(&id)
		tokenIDs = append(tokenIDs, id)
	}
	rows.Close()
	for i, id := range tokenIDs {
		forbidden[fmt.Sprintf("token %d", i)] = id
	}
	// Texts of those objects that must never reach the guesser.
	secrets := []string{"Birgitta Sandqvist", "examensbevis", "Gasfix Lindqvist", "Carbon monoxide", "Lag om låssmeder", "Hemligt tillståndsregister",
		"karin@ivo.se.example", "nuovo@salute.it.example", "info@asl.it.example"}
	for _, u := range s.users {
		if u.email != "" {
			secrets = append(secrets, u.email)
		}
	}

	// The routes: every GET route with a path parameter, with real values
	// for the parameters not being guessed.
	access := s.routeAccess(t)
	var targets []guessTarget
	for pattern := range access {
		method, path, _ := strings.Cut(pattern, " ")
		if method != http.MethodGet || !strings.Contains(path, "{") {
			continue
		}
		g := guessTarget{pattern: pattern, path: path, values: map[string]string{}, apiSide: strings.HasPrefix(path, "/api/")}
		for _, m := range paramRe.FindAllStringSubmatch(path, -1) {
			g.params = append(g.params, m[1])
		}
		if len(g.params) == 0 {
			continue // "/{$}": the home page
		}
		bare := strings.TrimPrefix(path, "/api/v1")
		for _, p := range g.params {
			switch {
			case p == "id" && strings.HasPrefix(bare, "/requests/"):
				g.values[p] = r.ID
			case p == "attachment":
				g.values[p] = withFile.Attachments[0].ID
			case p == "id" && strings.HasPrefix(bare, "/alerts/"):
				g.values[p] = alert
			case p == "id" && strings.HasPrefix(bare, "/measures/"):
				g.values[p] = measure
			case p == "id" && strings.HasPrefix(bare, "/registers/"):
				g.values[p] = entry.ID
			case p == "id" && strings.HasPrefix(bare, "/authorities/"):
				g.values[p] = s.seCA.ID
			case p == "area":
				g.values[p] = "pq"
			case p == "vocabulary":
				g.values[p] = "professions"
			case p == "set":
				g.values[p] = "authenticity"
			case p == "name":
				g.values[p] = "requests"
			case p == "token":
				for prefix, tok := range tokens {
					if strings.HasPrefix(bare, prefix) {
						g.values[p] = tok
					}
				}
			}
			if g.values[p] == "" {
				t.Fatalf("no real value for {%s} in %s: say which object the route names", p, pattern)
			}
		}
		targets = append(targets, g)
	}
	sort.Slice(targets, func(i, j int) bool { return targets[i].pattern < targets[j].pattern })

	// The guesses: real identifiers the guesser may not see, their
	// neighbours, random UUIDs, integers and malformed strings. Tokens
	// are guessed by their neighbours only: a real link is its holder's.
	var realIDs, objects []string
	for name, id := range forbidden {
		realIDs = append(realIDs, id)
		if !strings.HasPrefix(name, "user ") && !strings.HasPrefix(name, "token ") {
			objects = append(objects, id)
		}
	}
	sort.Strings(realIDs)
	sort.Strings(objects)
	var guesses []string
	guesses = append(guesses, realIDs...)
	for _, id := range realIDs {
		if slices.Contains(objects, id) {
			guesses = append(guesses, neighbours(id, 1)...)
		} else {
			guesses = append(guesses, neighbours(id, 0)[:2]...)
		}
	}
	for i := 0; i < 10; i++ {
		guesses = append(guesses, uuid.Must(uuid.NewV7()).String(), uuid.NewString())
	}
	for i := 0; i <= 20; i++ {
		guesses = append(guesses, strconv.Itoa(i))
	}
	guesses = append(guesses, malformed...)
	tokenGuesses := append([]string{}, malformed...)
	for _, tok := range tokens {
		for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" {
			if byte(c) != tok[len(tok)-1] {
				tokenGuesses = append(tokenGuesses, tok[:len(tok)-1]+string(c))
			}
		}
		tokenGuesses = append(tokenGuesses, tok[:len(tok)-1], tok+"A", strings.ToUpper(tok))
	}
	// Top up to 10,000 tries with more neighbours in time of the real
	// identifiers: the likeliest guesses for time-ordered UUIDs.
	slots := 0
	for _, g := range targets {
		if g.params[0] != "token" {
			slots += len(g.params)
		}
	}
	tries := func() int {
		n := slots * len(guesses)
		for _, g := range targets {
			if g.params[0] == "token" {
				n += len(tokenGuesses)
			}
		}
		return n
	}
	for d := 2; tries() < 10_000; d++ {
		for _, id := range objects {
			guesses = append(guesses, neighbours(id, d)[15+2*(d-1):15+2*d]...)
		}
	}

	// One client each for the guesser's session, its token and an
	// anonymous visitor, with keep-alive; four calls at a time.
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	signedIn := guesser.b.c
	plain := &http.Client{CheckRedirect: noRedirect}
	type answer struct {
		code int
		body string
	}
	fetch := func(g guessTarget, path string) (answer, error) {
		req, err := http.NewRequest(http.MethodGet, s.srv.URL+path, nil)
		if err != nil {
			return answer{}, err
		}
		c := signedIn
		switch {
		case g.apiSide:
			c = plain
			req.Header.Set("Authorization", "Bearer "+guesser.token)
		case g.params[0] == "token":
			c = plain
		}
		res, err := c.Do(req)
		if err != nil {
			return answer{}, err
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		return answer{res.StatusCode, string(body)}, err
	}
	fill := func(g guessTarget, param, value string) string {
		return paramRe.ReplaceAllStringFunc(g.path, func(m string) string {
			p := m[1 : len(m)-1]
			if p == param {
				return value
			}
			return g.values[p]
		})
	}
	type job struct {
		g            guessTarget
		param, guess string
	}
	var jobs []job
	for _, g := range targets {
		for _, p := range g.params {
			list := guesses
			if p == "token" {
				list = tokenGuesses
			}
			for _, guess := range list {
				jobs = append(jobs, job{g, p, guess})
			}
		}
	}
	var mu sync.Mutex
	failures := 0
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if failures++; failures <= 40 {
			t.Errorf(format, args...)
		}
	}
	key := func(j job) string { return j.g.pattern + "\x00" + j.param + "\x00" + j.guess }
	answers := map[string]answer{}
	work := make(chan job)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				path := fill(j.g, j.param, j.guess)
				a, err := fetch(j.g, path)
				if err != nil {
					fail("%s: %v", path, err)
					continue
				}
				if a.code >= 500 {
					fail("%s: %d %.200s", path, a.code, a.body)
				}
				if a.code < 300 {
					fail("%s: %d: a guess found something: %.300s", path, a.code, a.body)
				}
				for _, sec := range secrets {
					if strings.Contains(a.body, sec) {
						fail("%s: %d: the answer holds %q", path, a.code, sec)
					}
				}
				mu.Lock()
				answers[key(j)] = a
				mu.Unlock()
			}
		}()
	}
	for _, j := range jobs {
		work <- j
	}
	close(work)
	wg.Wait()

	// No oracle: an object that exists but is not the guesser's is
	// refused exactly like one that exists nowhere.
	nonce := regexp.MustCompile(`(nonce|value)="[^"]*"`)
	shape := func(a answer, id string) string {
		return fmt.Sprintf("%d %s", a.code, nonce.ReplaceAllString(strings.ReplaceAll(a.body, id, "{id}"), `$1=""`))
	}
	compared := 0
	for _, g := range targets {
		for _, p := range g.params {
			if p == "token" {
				continue
			}
			absent := uuid.Must(uuid.NewV7()).String()
			control, err := fetch(g, fill(g, p, absent))
			if err != nil {
				t.Fatal(err)
			}
			want := shape(control, absent)
			for name, id := range forbidden {
				if slices.Contains(slices.Collect(maps.Values(g.values)), id) {
					continue // also the other parameter: not comparable
				}
				a, ok := answers[key(job{g, p, id})]
				if !ok {
					t.Fatalf("%s {%s} %s was not tried", g.pattern, p, name)
				}
				compared++
				if got := shape(a, id); got != want {
					fail("%s {%s}: the %s is refused unlike an identifier that does not exist:\n%s", g.pattern, p, name, firstDifference(got, want))
				}
			}
		}
	}
	t.Logf("%d identifiers tried on %d GET routes (%d parameters) in the UI and the API: %d answers, %d refusals of existing objects compared with absent ones",
		len(jobs), len(targets), slots, len(answers), compared)

	// Unreadable queries (NUL, bytes that are not UTF-8) on every GET
	// route, the public endpoints included: refused as a bad request,
	// never a server error.
	var paths []string
	for pattern := range access {
		method, path, _ := strings.Cut(pattern, " ")
		if path = strings.ReplaceAll(path, "{$}", ""); method == http.MethodGet && !strings.Contains(path, "{") {
			paths = append(paths, path)
		}
	}
	for _, g := range targets {
		paths = append(paths, paramRe.ReplaceAllStringFunc(g.path, func(m string) string { return g.values[m[1:len(m)-1]] }))
	}
	for _, r := range public.New(s.app.DB, s.app.Authorities, s.app.Registers, public.Settings{}, s.app.Log).Routes() {
		paths = append(paths, strings.TrimPrefix(r.Pattern, "GET "))
	}
	sort.Strings(paths)
	queries := 0
	for _, path := range paths {
		for _, q := range []string{"q=%00", "area=%ff", "country=%c0%af&page=1", "from=2026-01%00", "%00=1"} {
			g := guessTarget{apiSide: strings.HasPrefix(path, "/api/"), params: []string{""}}
			a, err := fetch(g, path+"?"+q)
			if err != nil {
				t.Fatal(err)
			}
			queries++
			if a.code != http.StatusBadRequest {
				fail("%s?%s: %d, not 400: %.200s", path, q, a.code, a.body)
			}
		}
	}
	t.Logf("%d unreadable queries on %d GET routes refused", queries, len(paths))
}
