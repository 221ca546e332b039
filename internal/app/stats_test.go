package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/requests"
	"github.com/openimi/openimi/internal/stats"
)

// statsSite is a site where a German authority sent two requests to a
// Polish one, which answered one: the figures every output must agree on.
type statsSite struct {
	*site
	handler, plHandler, plCoordinator, frCoordinator, commission *matrixUser
	plCA                                                         *authorities.Authority
}

func startStatsSite(t *testing.T) *statsSite {
	t.Helper()
	s := &statsSite{site: startSite(t)}
	ctx := context.Background()
	in := func(country, name string, kind authorities.Kind) *authorities.Authority {
		return registerWith(t, s.site, authorities.Input{Country: country, Name: name, Language: "en", Kind: kind, Areas: []string{"pq"}})
	}
	plNC, frNC := in("PL", "Ministerstwo Rozwoju", authorities.NationalCoordinator), in("FR", "SGAE", authorities.NationalCoordinator)
	in("DE", "Bundesministerium", authorities.NationalCoordinator)
	de := in("DE", "Ärztekammer Berlin", authorities.CompetentAuthority)
	s.plCA = in("PL", "Naczelna Izba Lekarska", authorities.CompetentAuthority)
	ec, err := s.app.Authorities.EnsureCommission(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.handler = s.matrixMember(t, "German request handler", de, "handler@de.example", "en", authorities.RequestHandler)
	s.plHandler = s.matrixMember(t, "Polish request handler", s.plCA, "handler@pl.example", "pl", authorities.RequestHandler)
	s.plCoordinator = s.matrixMember(t, "Polish coordinator", plNC, "coordinator@pl.example", "pl", authorities.Coordinator)
	s.frCoordinator = s.matrixMember(t, "French coordinator", frNC, "coordinator@fr.example", "fr", authorities.Coordinator)
	s.commission = s.matrixMember(t, "Commission", ec, "grow@ec.example", "en", authorities.Coordinator)
	for i := 0; i < 2; i++ {
		r, err := s.app.Requests.Create(ctx, s.handler.actor, requests.DraftInput{Area: "pq", QuestionSet: "authenticity",
			Questions: []string{"diploma_authentic"}, ResponderID: s.plCA.ID, Subject: map[string]string{"name": "Jan Kowalski", "profession": "doctor"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.app.Requests.Act(ctx, s.handler.actor, r.ID, "send", requests.Input{}); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if _, err := s.app.Requests.Act(ctx, s.plHandler.actor, r.ID, "accept", requests.Input{}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.app.Requests.Act(ctx, s.plHandler.actor, r.ID, "answer", requests.Input{Answers: map[string]requests.Answer{"diploma_authentic": {Value: "yes"}}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return s
}

// statisticsMatrixRoutes are the routes
// TestTheStatisticsRoutesPermissionMatrix covers: the statistics pages,
// exports and report, whatever their method.
var statisticsMatrixRoutes = func(pattern string) bool {
	_, path, _ := strings.Cut(pattern, " ")
	return strings.HasPrefix(path, "/statistics") || strings.HasPrefix(path, "/api/v1/statistics")
}

// Every statistics route, as every kind of user: all signed-in users see
// the figures; only coordinators (their country's) and the Commission see
// figures per authority. A route without an entry fails the test.
func TestTheStatisticsRoutesPermissionMatrix(t *testing.T) {
	s := startStatsSite(t)
	users := []*matrixUser{{name: "anonymous", b: s.browser()}, s.handler, s.plCoordinator, s.commission}
	coordinators := func(u *matrixUser) bool { return u == s.plCoordinator || u == s.commission }
	everyone := func(*matrixUser) bool { return true }
	type call struct {
		path    string
		allowed func(*matrixUser) bool
	}
	checks := map[string][]call{
		"GET /statistics":               {{"/statistics", everyone}},
		"GET /statistics/{name}":        {{"/statistics/replies?by=country", everyone}, {"/statistics/replies?by=authority", coordinators}, {"/statistics/scoreboard", everyone}},
		"GET /statistics/{name}/export": {{"/statistics/requests/export?format=csv&by=area,quarter", everyone}, {"/statistics/replies/export?format=json&by=authority", coordinators}},
		"GET /statistics/report":        {{"/statistics/report?year=2026&format=html", everyone}},
		"GET /api/v1/statistics/report": {{"/api/v1/statistics/report?year=2026", everyone}},
		"GET /api/v1/statistics/{name}": {{"/api/v1/statistics/questions?area=pq", everyone}, {"/api/v1/statistics/replies?by=authority,quarter&format=csv", coordinators}},
	}
	calls := 0
	checkRoutesOf(t, s.site, statisticsMatrixRoutes, checks, func(_ string, list []call) {
		for _, c := range list {
			for _, u := range users {
				var r response
				if strings.HasPrefix(c.path, "/api/") {
					r = s.api(t, "GET", c.path, u.token, "")
				} else {
					r = u.b.get(c.path)
				}
				calls++
				ok := r.code < 300 || r.code < 400 && !strings.HasPrefix(r.location(), "/sign-in")
				if want := u.email != "" && c.allowed(u); ok != want {
					t.Errorf("%s as %s: %d %.200s, allowed %v", c.path, u.name, r.code, r.body, want)
				}
			}
		}
	})
	t.Logf("%d calls", calls)
}

// The UI, its exports and the API give the same figures, computed once by
// the statistics service; a coordinator's figures per authority hold only
// its country's authorities; bad choices get a translated message.
func TestTheStatisticsAgreeInTheUIExportsAndAPI(t *testing.T) {
	s := startStatsSite(t)
	want, err := s.app.Stats.Replies(context.Background(), stats.Query{By: []string{"country"}})
	if err != nil {
		t.Fatal(err)
	}
	var csv bytes.Buffer
	if err := want.WriteCSV(&csv); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(csv.String(), "PL,1,0,0,0,1,0,2,") {
		t.Fatalf("replies: %s", csv.String())
	}
	if r := s.handler.b.get("/statistics/replies/export?format=csv&by=country"); r.code != 200 || r.body != csv.String() {
		t.Errorf("UI export: %d %q, want %q", r.code, r.body, csv.String())
	}
	if r := s.api(t, "GET", "/api/v1/statistics/replies?by=country&format=csv", s.handler.token, ""); r.code != 200 || r.body != csv.String() {
		t.Errorf("API CSV: %d %q", r.code, r.body)
	}
	r := s.api(t, "GET", "/api/v1/statistics/replies?by=country", s.handler.token, "")
	var out struct {
		Rows []map[string]any `json:"rows"`
	}
	if err := json.Unmarshal([]byte(r.body), &out); err != nil || len(out.Rows) != 1 || out.Rows[0]["week1"] != float64(1) || out.Rows[0]["unanswered"] != float64(1) {
		t.Errorf("API JSON: %v %s", err, r.body)
	}
	// The page: its table, and a chart with a text alternative.
	page := s.plHandler.b.get("/statistics/replies?by=country")
	for _, part := range []string{"<svg role=\"img\"", "<title id=\"chart-replies\">", "Polska", "<caption id=\"stats-table\""} {
		if page.code != 200 || !strings.Contains(page.body, part) {
			t.Errorf("the page lacks %q (%d)", part, page.code)
		}
	}
	// Per authority: the Polish coordinator sees Polish authorities only.
	if r := s.api(t, "GET", "/api/v1/statistics/replies?by=authority&format=csv", s.frCoordinator.token, ""); r.code != 200 || strings.Contains(r.body, s.plCA.ID) {
		t.Errorf("a French coordinator sees Polish authorities: %d %s", r.code, r.body)
	}
	if r := s.api(t, "GET", "/api/v1/statistics/replies?by=authority&format=csv", s.plCoordinator.token, ""); r.code != 200 || !strings.Contains(r.body, s.plCA.ID) {
		t.Errorf("the Polish coordinator misses a Polish authority: %d %s", r.code, r.body)
	}
	// Bad choices: a clear message in the reader's language, on the page
	// and in the API.
	bad := s.plHandler.b.get("/statistics/requests?from=2026-13")
	if bad.code != 400 && bad.code != 422 || !strings.Contains(bad.body, "aria-invalid=\"true\"") {
		t.Errorf("a bad month: %d", bad.code)
	}
	if r := s.api(t, "GET", "/api/v1/statistics/requests?by=colour", s.handler.token, ""); r.code != 400 && r.code != 422 || !strings.Contains(r.body, "area, month, quarter") {
		t.Errorf("a bad grouping: %d %s", r.code, r.body)
	}
	if r := s.api(t, "GET", "/api/v1/statistics/nonsense", s.handler.token, ""); r.code != 404 {
		t.Errorf("an unknown statistic: %d", r.code)
	}
	// The annual report, in the UI (the reader's language) and the API.
	year := strconv.Itoa(time.Now().In(stats.Zone).Year())
	if r := s.plHandler.b.get("/statistics/report?year=" + year + "&format=html"); r.code != 200 || !strings.Contains(r.body, `<html lang="pl">`) || !strings.Contains(r.body, "<svg role=\"img\"") {
		t.Errorf("the report page: %d %.200s", r.code, r.body)
	}
	if r := s.api(t, "GET", "/api/v1/statistics/report?year="+year+"&lang=de", s.handler.token, ""); r.code != 200 || !strings.HasPrefix(r.body, "%PDF-") || r.header.Get("Content-Type") != "application/pdf" {
		t.Errorf("the report PDF: %d %.100q", r.code, r.body)
	}
	if r := s.api(t, "GET", "/api/v1/statistics/report?year=1999", s.handler.token, ""); r.code != 400 || !strings.Contains(r.body, "2000") {
		t.Errorf("a report of 1999: %d %s", r.code, r.body)
	}
}
