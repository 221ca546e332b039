package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/openimi/openimi/internal/app"
	"github.com/openimi/openimi/internal/audit"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/registers"
)

// public fetches a URL without signing in.
func (s *site) public(t *testing.T, path string, header ...string) response {
	t.Helper()
	req, _ := http.NewRequest("GET", s.srv.URL+path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return s.browser().do(req)
}

// TestThePublicEndpointsReachNothingPersonal loads the demonstration data
// (users, requests about named people, an alert about a named provider,
// the audit log) plus an authority and a register entry not yet validated,
// then reads every page of every public endpoint, in every format, and
// paths that try to reach further: none answers with anything personal or
// unvalidated.
func TestThePublicEndpointsReachNothingPersonal(t *testing.T) {
	s := startSite(t)
	ctx := context.Background()
	users, err := app.LoadDemo(ctx, s.app)
	if err != nil {
		t.Fatal(err)
	}
	pending := registerWith(t, s, authorities.Input{Country: "LU", Name: "Autorité en attente de validation", Language: "fr", Areas: []string{"services"}})
	admin := s.matrixMember(t, "Léa Muller", pending, "lea.muller@gouvernement.lu.example", "fr", authorities.LocalDataAdministrator)
	entry, err := s.app.Registers.Create(ctx, admin.actor, registers.Input{AuthorityID: pending.ID, Name: "Registre non validé", Language: "fr",
		Type: "other_register", Access: "on_request"})
	if err != nil || entry.Status != registers.Submitted {
		t.Fatalf("a submitted entry: %+v %v", entry, err)
	}
	// The authority is as a self-registered one is before its coordinator
	// checks it.
	if err := s.app.DB.InTx(ctx, func(tx db.Querier) error {
		_, err := tx.ExecContext(ctx, `UPDATE authorities SET status = 'registered' WHERE id = $1`, pending.ID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.app.Authorities.Reindex(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.app.DB.InTx(ctx, func(tx db.Querier) error {
		return audit.Record(ctx, tx, s.app.DB.Dialect(), s.app.Now(), audit.Event{Event: audit.PersonalDataViewed, Subject: "request:SECRET-AUDIT-SUBJECT"})
	}); err != nil {
		t.Fatal(err)
	}
	// What must never come out.
	secrets := []string{"Katarzyna Wiśniewska", "Γιώργος Νικολάου", "Gaz Express Dupont", "RCS Lyon 512", "SECRET-AUDIT-SUBJECT", "@demo.openimi.eu",
		"lea.muller@", "Léa Muller", "Autorité en attente", "Registre non validé", "password", "totp", "PQ-20", "SERVICES-A-", "SERVICES-N-"}
	for _, u := range users {
		secrets = append(secrets, u.Name, u.Email)
	}
	paths := []string{"/public/v1/changes.atom", "/public/v1/changes.atom?country=LU",
		"/public/v1/authorities?id=" + pending.ID, "/public/v1/registers?id=" + entry.ID, "/public/v1/authorities?country=LU&format=csv",
		"/public/v1/users", "/public/v1/requests", "/public/v1/alerts", "/public/v1/authorities/../../api/v1/me", "/public/v1/audit",
		"/public/v1/authorities?id=" + users[0].Authority}
	for _, endpoint := range []string{"/public/v1/authorities", "/public/v1/registers"} {
		for _, format := range []string{"json", "csv"} {
			for page := 1; page <= 4; page++ {
				paths = append(paths, endpoint+"?per_page=500&format="+format+"&page="+string(rune('0'+page)))
			}
		}
	}
	read := 0
	for _, p := range paths {
		r := s.public(t, p)
		if r.code == http.StatusOK {
			read += len(r.body)
		}
		for _, secret := range secrets {
			if secret != "" && strings.Contains(r.body, secret) {
				t.Errorf("%s reveals %q", p, secret)
			}
		}
		if strings.Contains(p, "users") || strings.Contains(p, "requests") || strings.Contains(p, "alerts") || strings.Contains(p, "audit") || strings.Contains(p, "..") {
			if r.code == http.StatusOK && strings.Contains(r.body, `"email"`) {
				t.Errorf("%s answers %d with data", p, r.code)
			}
		}
	}
	if read < 500_000 {
		t.Errorf("only %d bytes read: the endpoints did not answer with the demo data", read)
	}
}

// TestThePublicEndpointsPageCacheAndLimit checks pages and their links,
// conditional requests, cache headers, the Atom feed, and the rate limit.
func TestThePublicEndpointsPageCacheAndLimit(t *testing.T) {
	s := startSite(t, "--public-rate", "1", "--public-burst", "30")
	ctx := context.Background()
	if _, err := app.LoadDemo(ctx, s.app); err != nil {
		t.Fatal(err)
	}
	r := s.public(t, "/public/v1/authorities?country=DE&per_page=5")
	var page struct {
		Items []struct {
			ID, Country, Name, Email string
			Competences              []string
		}
		Total int
	}
	if err := json.Unmarshal([]byte(r.body), &page); err != nil || r.code != http.StatusOK || len(page.Items) != 5 || page.Total <= 5 {
		t.Fatalf("a page: %d %.300s", r.code, r.body)
	}
	for _, a := range page.Items {
		if a.Country != "DE" || a.Name == "" {
			t.Errorf("an item: %+v", a)
		}
	}
	if links := strings.Join(r.header.Values("Link"), ", "); !strings.Contains(links, `rel="next"`) || !strings.Contains(links, "page=2") {
		t.Errorf("links: %s", links)
	}
	etag := r.header.Get("ETag")
	if etag == "" || !strings.Contains(r.header.Get("Cache-Control"), "max-age") || r.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("headers: %v", r.header)
	}
	if again := s.public(t, "/public/v1/authorities?country=DE&per_page=5", "If-None-Match", etag); again.code != http.StatusNotModified || again.body != "" {
		t.Errorf("a conditional request: %d", again.code)
	}
	if other := s.public(t, "/public/v1/authorities?country=DE&per_page=5&page=2", "If-None-Match", etag); other.code != http.StatusOK {
		t.Errorf("another page with the first's ETag: %d", other.code)
	}
	r = s.public(t, "/public/v1/registers?country=FR&type=business_register&format=csv")
	if r.code != http.StatusOK || !strings.HasPrefix(r.body, "external_id,country,authority,name") || !strings.Contains(r.header.Get("Content-Type"), "text/csv") {
		t.Errorf("registers as CSV: %d %.200s", r.code, r.body)
	}
	r = s.public(t, "/public/v1/changes.atom")
	if r.code != http.StatusOK || !strings.Contains(r.body, `<feed xmlns="http://www.w3.org/2005/Atom">`) || strings.Count(r.body, "<entry>") != 100 {
		t.Errorf("the feed: %d, %d entries", r.code, strings.Count(r.body, "<entry>"))
	}
	if bad := s.public(t, "/public/v1/authorities?country=XX"); bad.code != http.StatusBadRequest {
		t.Errorf("an unknown country: %d", bad.code)
	}
	// The limit: the burst is spent, then the next request waits.
	limited := 0
	for range 40 {
		if r := s.public(t, "/public/v1/registers?per_page=1"); r.code == http.StatusTooManyRequests {
			limited++
			if r.header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		}
	}
	if limited == 0 {
		t.Error("40 requests in a row were never limited")
	}
}
