package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/registers"
)

// TestARegisterExternalIdentifierBelongsToOneEntry: an external identifier
// another entry already has is refused with a translated message on the
// field, in the UI and the API, on create and on edit, and the refusal
// changes nothing; the edit form keeps an entry's identifier, so saving it
// unchanged neither loses it nor trips over it.
func TestARegisterExternalIdentifierBelongsToOneEntry(t *testing.T) {
	s := startSite(t)
	ctx := context.Background()
	registerWith(t, s, authorities.Input{Country: "DE", Name: "Bundesministerium für Wirtschaft", Language: "de", Kind: authorities.NationalCoordinator, Areas: []string{"services"}})
	ihk := registerWith(t, s, authorities.Input{Country: "DE", Name: "Industrie- und Handelskammer Berlin", Language: "de", Kind: authorities.CompetentAuthority, Areas: []string{"services"}})
	admin := s.matrixMember(t, "German administrator", ihk, "admin@ihk.de.example", "de", authorities.LocalDataAdministrator)
	entry := func(ext, name string) *registers.Entry {
		e, err := s.app.Registers.Create(ctx, admin.actor, registers.Input{ExternalID: ext, AuthorityID: ihk.ID, Name: name, Language: "de",
			Type: "business_register", Access: "public_online", Areas: []string{"services"}})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	entry("DE-HR-1", "Handelsregister")
	other := entry("DE-GR-2", "Gewerberegister")
	const german = "Ein anderer Registereintrag hat bereits diese externe Kennung."
	snapshot := func() string {
		return fmt.Sprint(s.count(t, `SELECT COUNT(*) FROM registers`), s.count(t, `SELECT COUNT(*) FROM register_history`),
			s.count(t, `SELECT COUNT(*) FROM register_names`), s.count(t, `SELECT COUNT(*) FROM audit_log WHERE event <> 'token.used'`))
	}
	externalOf := func(id string) string {
		e, err := s.app.Registers.Get(ctx, admin.actor, id)
		if err != nil {
			t.Fatal(err)
		}
		return e.ExternalID
	}
	apiRefuses := func(method, path, body string) {
		t.Helper()
		before := snapshot()
		r := s.api(t, method, path, admin.token, body, "Accept-Language", "de")
		var got struct {
			Error struct {
				Code   string
				Fields []struct{ Field, Code, Message string }
			}
		}
		if err := json.Unmarshal([]byte(r.body), &got); err != nil {
			t.Fatalf("%s %s: %d %s", method, path, r.code, r.body)
		}
		if r.code != 400 || len(got.Error.Fields) != 1 || got.Error.Fields[0].Field != "external_id" ||
			got.Error.Fields[0].Code != "error_register_external_id_taken" || got.Error.Fields[0].Message != german {
			t.Errorf("%s %s: %d %s, want 400 with the translated message on external_id", method, path, r.code, r.body)
		}
		if after := snapshot(); after != before {
			t.Errorf("%s %s: the refusal changed the tables: %s → %s", method, path, before, after)
		}
	}
	body := func(ext string) string {
		return `{"external_id":"` + ext + `","authority_id":"` + ihk.ID + `","name":"Zweites Register","language":"de","type":"trade_register","access":"on_request"}`
	}
	apiRefuses("POST", "/api/v1/registers", body("DE-HR-1"))
	apiRefuses("PUT", "/api/v1/registers/"+other.ID, body("DE-HR-1"))
	if got := externalOf(other.ID); got != "DE-GR-2" {
		t.Errorf("the refused edit changed the identifier to %q", got)
	}

	uiRefuses := func(path string, form url.Values) {
		t.Helper()
		before := snapshot()
		admin.b.get("/registers")
		r := admin.b.post(path, form)
		if r.code != 400 || !strings.Contains(r.body, german) || !strings.Contains(r.body, `id="f-external_id-error"`) {
			t.Errorf("POST %s: %d, want the form again with the message on the identifier field: %.300s", path, r.code, r.body)
		}
		if after := snapshot(); after != before {
			t.Errorf("POST %s: the refusal changed the tables: %s → %s", path, before, after)
		}
	}
	form := url.Values{"authority": {ihk.ID}, "name": {"Zweites Register"}, "language": {"de"}, "type": {"trade_register"},
		"access": {"on_request"}, "external_id": {"DE-HR-1"}, "step": {"save"}}
	uiRefuses("/registers/new", form)
	uiRefuses("/registers/"+other.ID+"/edit", form)

	// The edit form carries the identifier, and saving it keeps it.
	page := admin.b.get("/registers/" + other.ID + "/edit")
	if !strings.Contains(page.body, `value="DE-GR-2"`) {
		t.Fatalf("the edit form does not show the entry's external identifier: %.300s", page.body)
	}
	form.Set("external_id", "DE-GR-2")
	if r := admin.b.post("/registers/"+other.ID+"/edit", form); r.code >= 400 {
		t.Fatalf("saving the entry with its own identifier: %d %.300s", r.code, r.body)
	}
	if got := externalOf(other.ID); got != "DE-GR-2" {
		t.Errorf("saving through the form changed the identifier to %q", got)
	}
	if page := admin.b.get("/registers/" + other.ID); !strings.Contains(page.body, "<code>DE-GR-2</code>") {
		t.Errorf("the entry's page does not show its external identifier: %.300s", page.body)
	}
}
