package app_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestAnAlertThroughTheAPI sends an alert with the API: bad input gets a
// translated error naming the field and writes nothing, a repeated create
// with the same key makes one alert, and the alert reaches only those it
// is for.
func TestAnAlertThroughTheAPI(t *testing.T) {
	s := newBroadcastSite(t)
	sender, coordinator := s.users["sender"].token, s.users["sender's coordinator"].token
	itCoordinator, itUser, itOther := s.users["receiving coordinator"].token, s.users["authority disseminated to"].token, s.users["authority not disseminated to"].token
	before := s.count(t, `SELECT COUNT(*) FROM broadcasts`)
	bad := `{"area":"services","type":"services_alert","title":"T","fields":{"business_name":"Gasfix","activity":"juggling"}}`
	r := s.api(t, "POST", "/api/v1/alerts", sender, bad, "Accept-Language", "it")
	// In the token user's profile language (Swedish), before Accept-Language.
	if e := apiError(t, r); r.code != http.StatusBadRequest || len(e.Fields) == 0 || e.Fields[0].Field != "fields.activity" ||
		r.header.Get("Content-Language") != "sv" || e.Fields[0].Message != s.app.Catalog.Localizer("sv").T("error_broadcast_term") {
		t.Fatalf("a bad term: %d %s", r.code, r.body)
	}
	if s.count(t, `SELECT COUNT(*) FROM broadcasts`) != before {
		t.Fatal("a refused alert was written")
	}
	body := `{"area":"services","type":"services_alert","title":"Unsafe gas installations","countries":["IT"],
		"criteria":["caused_by_service_activity","serious_damage_risk","cross_border"],
		"fields":{"business_name":"Gasfix Lindqvist AB","country_of_establishment":"SE","activity":"construction","risk":"Carbon monoxide"}}`
	r = s.api(t, "POST", "/api/v1/alerts", sender, body, "Idempotency-Key", "alert-1")
	var c struct {
		ID, Reference, State string
		Actions              []string
	}
	if err := json.Unmarshal([]byte(r.body), &c); err != nil || r.code != http.StatusCreated || c.State != "draft" {
		t.Fatalf("create: %d %s", r.code, r.body)
	}
	if again := s.api(t, "POST", "/api/v1/alerts", sender, body, "Idempotency-Key", "alert-1"); !strings.Contains(again.body, c.ID) {
		t.Fatal("a repeated create made another alert")
	}
	if r := s.api(t, "GET", "/api/v1/measures/"+c.ID, sender, ""); r.code != http.StatusNotFound {
		t.Fatalf("an alert read as a notification: %d", r.code)
	}
	for _, step := range []struct{ token, action, body string }{{sender, "submit", ""}, {coordinator, "approve", `{"comment":"OK"}`},
		{itCoordinator, "disseminate", `{"authorities":["` + s.itCA.ID + `"]}`}} {
		if r := s.api(t, "POST", "/api/v1/alerts/"+c.ID+"/actions/"+step.action, step.token, step.body); r.code != http.StatusOK {
			t.Fatalf("%s: %d %s", step.action, r.code, r.body)
		}
	}
	if r := s.api(t, "POST", "/api/v1/alerts/"+c.ID+"/actions/approve", coordinator, "", "Accept-Language", "fr"); r.code != http.StatusConflict ||
		apiError(t, r).Message == "" {
		t.Fatalf("approved twice: %d %s", r.code, r.body)
	}
	r = s.api(t, "GET", "/api/v1/alerts?box=to_do", itUser, "")
	if !strings.Contains(r.body, c.Reference) || !strings.Contains(r.body, "Gasfix Lindqvist") || !strings.Contains(r.body, `"acknowledge"`) {
		t.Fatalf("the recipient's inbox: %s", r.body)
	}
	if r := s.api(t, "GET", "/api/v1/alerts/"+c.ID, itOther, ""); r.code != http.StatusNotFound {
		t.Fatalf("an authority it was not disseminated to reads it: %d", r.code)
	}
	if r := s.api(t, "GET", "/api/v1/alerts?box=received", itOther, ""); strings.Contains(r.body, c.Reference) {
		t.Fatal("it is in the inbox of an authority it was not disseminated to")
	}
	if r := s.api(t, "POST", "/api/v1/alerts/"+c.ID+"/actions/acknowledge", itUser, ""); r.code != http.StatusOK {
		t.Fatalf("acknowledge: %d %s", r.code, r.body)
	}
	r = s.api(t, "GET", "/api/v1/alerts/"+c.ID+"/timeline", sender, "")
	if !strings.Contains(r.body, `"acknowledge"`) || !strings.Contains(r.body, `"disseminate"`) {
		t.Fatalf("the sender's timeline: %s", r.body)
	}
	r = s.api(t, "GET", "/api/v1/alerts/statistics", s.users["Commission"].token, "")
	if !strings.Contains(r.body, `"country":"IT"`) || !strings.Contains(r.body, `"acknowledged":1`) {
		t.Fatalf("statistics: %s", r.body)
	}
}
