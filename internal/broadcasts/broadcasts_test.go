package broadcasts_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	shipped "github.com/openimi/openimi/areas"
	"github.com/openimi/openimi/internal/areas"
	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/broadcasts"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/db/dbtest"
	"github.com/openimi/openimi/internal/problem"
	"github.com/openimi/openimi/internal/testkit"
	"github.com/openimi/openimi/internal/workflow"
)

// world is a small network in the services and pq areas: Sweden sends,
// Italy and Germany receive, France is left out of alerts, and the
// Commission oversees. The clock is the test's.
type world struct {
	t     *testing.T
	ctx   context.Context
	db    *db.DB
	auth  *auth.Service
	auths *authorities.Service
	svc   *broadcasts.Service
	now   time.Time

	seNC, seCA, seCA2, itNC, itCA, itCA2, deNC, frNC, ec *authorities.Authority

	seHandler, seClerk, seCoordinator, se2Handler   authorities.Actor
	itCoordinator, itHandler, it2Handler, deHandler authorities.Actor
	frCoordinator, commission                       authorities.Actor
}

func newWorld(t *testing.T) *world {
	t.Helper()
	d := dbtest.Open(t)
	reg, err := areas.Open(shipped.Files, "")
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, ctx: context.Background(), db: d, now: time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)}
	clock := func() time.Time { return w.now }
	w.auth = auth.New(d, auth.Settings{PublicURL: "http://imi.test"}, clock)
	w.auths = authorities.New(d, reg, w.auth, "http://imi.test", clock)
	if w.svc, err = broadcasts.New(d, reg, w.auths, "http://imi.test", clock); err != nil {
		t.Fatal(err)
	}
	if w.ec, err = w.auths.EnsureCommission(w.ctx); err != nil {
		t.Fatal(err)
	}
	w.seNC = w.authority("SE", "Kommerskollegium", authorities.NationalCoordinator)
	w.seCA = w.authority("SE", "Inspektionen för vård och omsorg", authorities.CompetentAuthority)
	w.seCA2 = w.authority("SE", "Boverket", authorities.CompetentAuthority)
	w.itNC = w.authority("IT", "Dipartimento per le politiche europee", authorities.NationalCoordinator)
	w.itCA = w.authority("IT", "Ministero della Salute", authorities.CompetentAuthority)
	w.itCA2 = w.authority("IT", "Camera di commercio di Milano", authorities.CompetentAuthority)
	w.deNC = w.authority("DE", "Bundesministerium für Wirtschaft", authorities.NationalCoordinator)
	w.frNC = w.authority("FR", "Secrétariat général des affaires européennes", authorities.NationalCoordinator)
	de := w.authority("DE", "Gewerbeaufsicht Berlin", authorities.CompetentAuthority)

	w.seHandler = w.user(w.seCA, "alerts@se.example", "sv", "alert_handler")
	w.seClerk = w.user(w.seCA, "requests@se.example", "sv", "request_handler")
	w.se2Handler = w.user(w.seCA2, "alerts@boverket.example", "sv", "alert_handler")
	w.seCoordinator = w.user(w.seNC, "coordinator@se.example", "sv", "coordinator")
	w.itCoordinator = w.user(w.itNC, "coordinator@it.example", "it", "coordinator")
	w.itHandler = w.user(w.itCA, "alerts@salute.example", "it", "alert_handler")
	w.it2Handler = w.user(w.itCA2, "alerts@milano.example", "it", "alert_handler")
	w.deHandler = w.user(de, "alerts@berlin.example", "de", "alert_handler")
	w.frCoordinator = w.user(w.frNC, "coordinator@fr.example", "fr", "coordinator")
	w.commission = w.user(w.ec, "grow@ec.example", "en", "coordinator")
	return w
}

func (w *world) authority(country, name string, kind authorities.Kind) *authorities.Authority {
	w.t.Helper()
	in := authorities.Input{Country: country, Name: name, Language: "en", Kind: kind, Areas: []string{"pq", "services"},
		Email: "office@" + strings.ToLower(country) + ".example"}
	a, err := w.auths.Register(w.ctx, authorities.System(), in)
	if err != nil {
		w.t.Fatalf("register %s: %v", name, err)
	}
	return a
}

func (w *world) user(a *authorities.Authority, email, lang string, roles ...string) authorities.Actor {
	w.t.Helper()
	return testkit.Member(w.t, w.auth, w.auths, a, email, lang, roles...)
}

// alert is a complete services alert from Sweden to Italy and Germany.
func (w *world) alert() *broadcasts.Case {
	w.t.Helper()
	c, err := w.svc.Create(w.ctx, w.seHandler, broadcasts.DraftInput{Kind: broadcasts.Alert, Area: "services", Type: "services_alert",
		Title: "Unsafe gas installations", Criteria: []string{"caused_by_service_activity", "serious_damage_risk", "cross_border"},
		Countries: []string{"IT", "DE"}, Message: "Inspections found leaking connections.",
		Fields: map[string]string{"business_name": "Gasfix Lindqvist AB", "country_of_establishment": "SE", "activity": "construction",
			"risk": "Carbon monoxide poisoning", "registration_number": "556677-8899"}})
	if err != nil {
		w.t.Fatal(err)
	}
	return c
}

// notification is a notification of new requirements from Sweden.
func (w *world) notification() *broadcasts.Case {
	w.t.Helper()
	c, err := w.svc.Create(w.ctx, w.seHandler, broadcasts.DraftInput{Kind: broadcasts.Notification, Area: "services", Type: "services_requirements",
		Title: "Authorisation scheme for locksmiths", Fields: map[string]string{"measure_title": "Lag om låssmeder",
			"legal_reference": "SFS 2026:101", "justification": "Protection of consumers"}})
	if err != nil {
		w.t.Fatal(err)
	}
	return c
}

func (w *world) act(actor authorities.Actor, id, action string, in broadcasts.Input) *broadcasts.Case {
	w.t.Helper()
	c, err := w.svc.Act(w.ctx, actor, id, action, in)
	if err != nil {
		w.t.Fatalf("%s: %v", action, err)
	}
	return c
}

func (w *world) count(query string, args ...any) int {
	w.t.Helper()
	var n int
	if err := w.db.Read().QueryRowContext(w.ctx, query, args...).Scan(&n); err != nil {
		w.t.Fatal(err)
	}
	return n
}

func isKind(err error, k problem.Kind) bool {
	p, ok := problem.As(err)
	return ok && p.Kind == k
}

func (w *world) sees(actor authorities.Actor, id string) bool {
	w.t.Helper()
	_, err := w.svc.Get(w.ctx, actor, id)
	if err != nil && !isKind(err, problem.NotFound) {
		w.t.Fatal(err)
	}
	return err == nil
}

func TestAnAlertGoesFromDraftToClosure(t *testing.T) {
	w := newWorld(t)
	c := w.alert()
	if c.State != broadcasts.Draft || !strings.HasPrefix(c.Reference, "SERVICES-A-2026-") {
		t.Fatalf("created %s %s", c.State, c.Reference)
	}
	for _, who := range []authorities.Actor{w.seCoordinator, w.itCoordinator, w.commission, w.se2Handler} {
		if w.sees(who, c.ID) {
			t.Errorf("%s sees a draft", who.UserID)
		}
	}
	c = w.act(w.seHandler, c.ID, "submit", broadcasts.Input{})
	if w.count(`SELECT COUNT(*) FROM outbox WHERE recipient = 'coordinator@se.example' AND kind = 'alert_update' AND language = 'sv'`) != 1 {
		t.Error("the Swedish coordinator was not told, in Swedish")
	}
	if w.sees(w.itCoordinator, c.ID) || w.sees(w.commission, c.ID) {
		t.Error("an alert awaiting validation is seen abroad")
	}
	// Returned with a comment, then sent again.
	if _, err := w.svc.Act(w.ctx, w.seCoordinator, c.ID, "return", broadcasts.Input{}); err == nil {
		t.Error("returned without a comment")
	}
	w.act(w.seCoordinator, c.ID, "return", broadcasts.Input{Comment: "Name the measures taken."})
	if _, err := w.svc.UpdateDraft(w.ctx, w.seHandler, c.ID, broadcasts.DraftInput{Title: c.Title, Criteria: c.Criteria, Countries: c.Countries,
		Message: c.Message, Fields: with(c.Fields, "measures", "Activity suspended by the municipality")}); err != nil {
		t.Fatal(err)
	}
	w.act(w.seHandler, c.ID, "submit", broadcasts.Input{})
	c = w.act(w.seCoordinator, c.ID, "approve", broadcasts.Input{})
	if c.State != broadcasts.Broadcast || c.SentAt == nil || len(c.Receipts) != 2 {
		t.Fatalf("approved: %s, receipts %v", c.State, c.Receipts)
	}
	for email, lang := range map[string]string{"coordinator@it.example": "it", "coordinator@de.example": "", "grow@ec.example": "en", "alerts@se.example": "sv"} {
		q := `SELECT COUNT(*) FROM outbox WHERE recipient = $1 AND kind = 'alert_update'`
		if email == "coordinator@de.example" {
			continue // Germany's coordinator has no user here
		}
		if w.count(q+` AND language = $2`, email, lang) == 0 {
			t.Errorf("%s was not told in %s", email, lang)
		}
	}
	if w.count(`SELECT COUNT(*) FROM outbox WHERE recipient = 'coordinator@fr.example'`) != 0 || w.sees(w.frCoordinator, c.ID) {
		t.Error("France, not chosen, received the alert")
	}
	// Italy's coordinator disseminates to the Ministry of Health only.
	if !w.sees(w.itCoordinator, c.ID) || w.sees(w.itHandler, c.ID) {
		t.Fatal("before dissemination: the coordinator must see it, the authority not")
	}
	if _, err := w.svc.Act(w.ctx, w.itCoordinator, c.ID, "disseminate", broadcasts.Input{Authorities: []string{w.seCA.ID}}); !isKind(err, problem.Invalid) {
		t.Errorf("disseminated to an authority abroad: %v", err)
	}
	w.act(w.itCoordinator, c.ID, "disseminate", broadcasts.Input{Authorities: []string{w.itCA.ID}})
	got, err := w.svc.Get(w.ctx, w.itHandler, c.ID)
	if err != nil || !got.PersonalShown || got.Fields["business_name"] != "Gasfix Lindqvist AB" || !slices.Equal(got.Actions, []string{"acknowledge"}) {
		t.Fatalf("the recipient reads %+v, %v", got, err)
	}
	if w.sees(w.it2Handler, c.ID) {
		t.Error("an Italian authority it was not disseminated to sees the alert")
	}
	if w.count(`SELECT COUNT(*) FROM outbox WHERE recipient = 'alerts@salute.example' AND language = 'it'`) != 1 {
		t.Error("the recipient was not told in Italian")
	}
	w.now = w.now.Add(5 * time.Hour)
	got = w.act(w.itHandler, c.ID, "acknowledge", broadcasts.Input{})
	if len(got.Recipients) != 1 || got.Recipients[0].AcknowledgedAt == nil || len(got.Actions) != 0 {
		t.Fatalf("acknowledged: %+v", got.Recipients)
	}
	if _, err := w.svc.Act(w.ctx, w.itHandler, c.ID, "acknowledge", broadcasts.Input{}); !isKind(err, problem.Conflict) {
		t.Errorf("acknowledged twice: %v", err)
	}
	// The sender sees the whole dissemination; Italy sees its own.
	mine, _ := w.svc.Get(w.ctx, w.seHandler, c.ID)
	if len(mine.Receipts) != 2 || len(mine.Recipients) != 1 {
		t.Errorf("the sender sees %d receipts and %d recipients", len(mine.Receipts), len(mine.Recipients))
	}
	itView, _ := w.svc.Get(w.ctx, w.itCoordinator, c.ID)
	if len(itView.Receipts) != 1 || itView.Receipts[0].Country != "IT" {
		t.Errorf("Italy sees receipts %+v", itView.Receipts)
	}
	// An update, a rectification that reaches every recipient, closure.
	w.act(w.seHandler, c.ID, "update", broadcasts.Input{Comment: "The provider moved to Norway."})
	before := w.count(`SELECT COUNT(*) FROM outbox WHERE recipient = 'alerts@salute.example'`)
	w.act(w.seHandler, c.ID, "rectify", broadcasts.Input{Comment: "Wrong registration number.", Fields: map[string]string{"registration_number": "556677-8890"}})
	if w.count(`SELECT COUNT(*) FROM outbox WHERE recipient = 'alerts@salute.example'`) != before+1 {
		t.Error("the rectification did not reach the recipient")
	}
	got, _ = w.svc.Get(w.ctx, w.itHandler, c.ID)
	if got.Fields["registration_number"] != "556677-8890" {
		t.Error("the recipient reads the old value")
	}
	if _, err := w.svc.Act(w.ctx, w.seHandler, c.ID, "rectify", broadcasts.Input{Comment: "x", Fields: map[string]string{"country_of_establishment": "XX"}}); !isKind(err, problem.Invalid) {
		t.Errorf("an invalid rectification: %v", err)
	}
	w.act(w.seHandler, c.ID, "propose_closure", broadcasts.Input{Comment: "The provider stopped trading."})
	c = w.act(w.seCoordinator, c.ID, "close", broadcasts.Input{})
	if c.State != broadcasts.Closed || c.ClosedAt == nil {
		t.Fatalf("closed: %s", c.State)
	}
	tl, err := w.svc.Timeline(w.ctx, w.seHandler, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, e := range tl {
		steps = append(steps, e.Action)
	}
	want := "create submit return submit approve disseminate acknowledge update rectify propose_closure close"
	if strings.Join(steps, " ") != want {
		t.Errorf("timeline %s", strings.Join(steps, " "))
	}
	// Germany reads the timeline without Italy's dissemination.
	deTL, err := w.svc.Timeline(w.ctx, w.commission, c.ID)
	if err != nil || len(deTL) != len(tl) {
		t.Errorf("the Commission reads %d events, %v", len(deTL), err)
	}
	itTL, _ := w.svc.Timeline(w.ctx, w.itHandler, c.ID)
	for _, e := range itTL {
		if e.Action == "rectify" && !slices.Equal(e.Fields, []string{"registration_number"}) {
			t.Errorf("rectified fields %v", e.Fields)
		}
	}
}

func with(m map[string]string, k, v string) map[string]string {
	out := map[string]string{}
	for a, b := range m {
		out[a] = b
	}
	out[k] = v
	return out
}

func TestBadAlertsAreRefusedAndChangeNothing(t *testing.T) {
	w := newWorld(t)
	base := broadcasts.DraftInput{Kind: broadcasts.Alert, Area: "services", Type: "services_alert", Title: "t",
		Fields: map[string]string{"business_name": "x", "country_of_establishment": "SE", "activity": "construction", "risk": "r"}}
	cases := map[string]struct {
		actor authorities.Actor
		edit  func(d *broadcasts.DraftInput)
		field string
	}{
		"not an alert handler": {w.seClerk, func(d *broadcasts.DraftInput) {}, ""},
		"unknown type":         {w.seHandler, func(d *broadcasts.DraftInput) { d.Type = "nope" }, "type"},
		"a notification type":  {w.seHandler, func(d *broadcasts.DraftInput) { d.Type = "services_requirements" }, "type"},
		"unknown field":        {w.seHandler, func(d *broadcasts.DraftInput) { d.Fields = with(d.Fields, "shoe_size", "42") }, "fields"},
		"bad term":             {w.seHandler, func(d *broadcasts.DraftInput) { d.Fields = with(d.Fields, "activity", "juggling") }, "fields.activity"},
		"unknown criterion":    {w.seHandler, func(d *broadcasts.DraftInput) { d.Criteria = []string{"vibes"} }, "criteria"},
		"own country":          {w.seHandler, func(d *broadcasts.DraftInput) { d.Countries = []string{"SE"} }, "countries"},
		"long title":           {w.seHandler, func(d *broadcasts.DraftInput) { d.Title = strings.Repeat("x", 201) }, "title"},
	}
	for name, tc := range cases {
		d := base
		tc.edit(&d)
		_, err := w.svc.Create(w.ctx, tc.actor, d)
		p, ok := problem.As(err)
		if !ok || p.Field != tc.field || tc.field == "" && p.Kind != problem.Forbidden {
			t.Errorf("%s: %v", name, err)
		}
	}
	if n := w.count(`SELECT COUNT(*) FROM broadcasts`); n != 0 {
		t.Fatalf("%d broadcasts written", n)
	}
	// A draft without the criteria confirmed or countries chosen cannot
	// be submitted.
	c, err := w.svc.Create(w.ctx, w.seHandler, base)
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.svc.Act(w.ctx, w.seHandler, c.ID, "submit", broadcasts.Input{})
	if p, _ := problem.As(err); p == nil || p.Field != "criteria" {
		t.Errorf("submitted without the criteria: %v", err)
	}
	base.Criteria = []string{"caused_by_service_activity", "serious_damage_risk", "cross_border"}
	if _, err := w.svc.UpdateDraft(w.ctx, w.seHandler, c.ID, base); err != nil {
		t.Fatal(err)
	}
	_, err = w.svc.Act(w.ctx, w.seHandler, c.ID, "submit", broadcasts.Input{})
	if p, _ := problem.As(err); p == nil || p.Field != "countries" {
		t.Errorf("submitted without countries: %v", err)
	}
	if n := w.count(`SELECT COUNT(*) FROM case_events WHERE case_id = $1`, c.ID); n != 1 {
		t.Errorf("refusals wrote events: %d", n)
	}
	// Only the sender edits a draft.
	if _, err := w.svc.UpdateDraft(w.ctx, w.se2Handler, c.ID, base); !isKind(err, problem.NotFound) {
		t.Errorf("another authority edited the draft: %v", err)
	}
}

func TestAProfessionalsAlertShowsItsThreeDayDeadline(t *testing.T) {
	w := newWorld(t)
	c, err := w.svc.Create(w.ctx, w.seHandler, broadcasts.DraftInput{Kind: broadcasts.Alert, Area: "pq", Type: "pq_alert", Title: "Doctor struck off",
		AllCountries: true, Fields: map[string]string{"ground": "prohibition", "name": "Per Andersson", "profession": "doctor",
			"deciding_authority": "HSAN", "decision_date": "2026-05-04", "restriction_scope": "All medical practice", "restriction_from": "2026-05-04"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Deadline == nil || c.Deadline.Format(time.DateOnly) != "2026-05-07" || c.Late(w.now) {
		t.Fatalf("deadline %v", c.Deadline)
	}
	w.now = time.Date(2026, 5, 8, 0, 0, 1, 0, time.UTC)
	c, _ = w.svc.Get(w.ctx, w.seHandler, c.ID)
	if !c.Late(w.now) {
		t.Error("not late a day after the deadline")
	}
	// Required fields: the profession and the scope of the restriction.
	_, err = w.svc.Act(w.ctx, w.seHandler, c.ID, "submit", broadcasts.Input{})
	if err != nil {
		t.Fatal(err)
	}
	c = w.act(w.seCoordinator, c.ID, "approve", broadcasts.Input{})
	if len(c.Receipts) != 29 {
		t.Errorf("to all: %d countries", len(c.Receipts))
	}
	if c.Late(w.now) {
		t.Error("late once sent")
	}
	d := broadcasts.DraftInput{Kind: broadcasts.Alert, Area: "pq", Type: "pq_alert", Title: "x", AllCountries: true,
		Fields: map[string]string{"ground": "prohibition", "name": "A", "profession": "doctor", "deciding_authority": "HSAN", "decision_date": "2026-05-04"}}
	c, _ = w.svc.Create(w.ctx, w.seHandler, d)
	_, err = w.svc.Act(w.ctx, w.seHandler, c.ID, "submit", broadcasts.Input{})
	if p, _ := problem.As(err); p == nil || p.Field != "fields.restriction_scope" {
		t.Errorf("submitted without the scope of the restriction: %v", err)
	}
}

func TestANotificationIsOpenToCommentsForItsPeriod(t *testing.T) {
	w := newWorld(t)
	c := w.notification()
	if strings.Contains(c.Reference, "-A-") {
		t.Errorf("reference %s", c.Reference)
	}
	c = w.act(w.seHandler, c.ID, "send", broadcasts.Input{})
	if c.State != broadcasts.Broadcast || c.CommentUntil == nil || !c.CommentUntil.Equal(w.now.AddDate(0, 0, 90)) || len(c.Receipts) != 29 {
		t.Fatalf("sent: %s until %v, %d countries", c.State, c.CommentUntil, len(c.Receipts))
	}
	// Every user of the area reads it: abroad, at home, not disseminated to.
	for _, who := range []authorities.Actor{w.it2Handler, w.frCoordinator, w.se2Handler, w.commission, w.deHandler} {
		if !w.sees(who, c.ID) {
			t.Errorf("%s cannot read the notification", who.UserID)
		}
	}
	got, _ := w.svc.Get(w.ctx, w.se2Handler, c.ID)
	if !slices.Equal(got.Parties, []string{broadcasts.Reader}) || len(got.Actions) != 0 {
		t.Errorf("a Swedish authority is %v and may %v", got.Parties, got.Actions)
	}
	w.act(w.itCoordinator, c.ID, "disseminate", broadcasts.Input{Authorities: []string{w.itCA2.ID}})
	w.act(w.it2Handler, c.ID, "comment", broadcasts.Input{Comment: "Is the scheme proportionate for small firms?"})
	if w.count(`SELECT COUNT(*) FROM outbox WHERE recipient = 'alerts@se.example' AND kind = 'notification_update'`) == 0 {
		t.Error("the sender was not told of the comment")
	}
	// France reads neither Italy's comment nor its dissemination.
	tl, _ := w.svc.Timeline(w.ctx, w.frCoordinator, c.ID)
	for _, e := range tl {
		if e.Action == "comment" || e.Action == "disseminate" {
			t.Errorf("France reads Italy's %s", e.Action)
		}
	}
	w.act(w.seHandler, c.ID, "modify", broadcasts.Input{Comment: "Adopted text.", Fields: map[string]string{"legal_reference": "SFS 2026:102"}})
	// The period ends: comments are refused, the sender is told once.
	w.now = w.now.AddDate(0, 0, 90)
	if _, err := w.svc.Act(w.ctx, w.it2Handler, c.ID, "comment", broadcasts.Input{Comment: "Late."}); !isKind(err, problem.Conflict) {
		t.Errorf("a comment after the period: %v", err)
	}
	for range 2 {
		if err := w.svc.Tick(w.ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := w.count(`SELECT COUNT(*) FROM outbox WHERE kind = 'comment_period_ended' AND recipient = 'alerts@se.example' AND language = 'sv'`); n != 1 {
		t.Errorf("the sender was told %d times that the period ended", n)
	}
	c = w.act(w.seHandler, c.ID, "close", broadcasts.Input{})
	c = w.act(w.seHandler, c.ID, "modify", broadcasts.Input{Comment: "Entry into force.", Fields: map[string]string{"entry_into_force": "2027-01-01"}})
	if c.State != broadcasts.Closed || c.Fields["entry_into_force"] != "2027-01-01" {
		t.Errorf("modified after closure: %s %v", c.State, c.Fields)
	}
	// Notifications hold no personal data: a pack declaring one is refused
	// (internal/areas), and the service has none to block.
	if r, err := w.svc.Retain(w.ctx); err != nil || r.Blocked != 0 {
		t.Errorf("retention of a notification: %+v %v", r, err)
	}
}

func TestAlertsPersonalDataIsBlockedThenDeleted(t *testing.T) {
	w := newWorld(t)
	c := w.alert()
	w.act(w.seHandler, c.ID, "submit", broadcasts.Input{})
	w.act(w.seCoordinator, c.ID, "approve", broadcasts.Input{})
	w.act(w.itCoordinator, c.ID, "disseminate", broadcasts.Input{Authorities: []string{w.itCA.ID}})
	w.act(w.seHandler, c.ID, "propose_withdrawal", broadcasts.Input{Comment: "Sent in error."})
	w.act(w.seCoordinator, c.ID, "withdraw", broadcasts.Input{})
	w.now = w.now.AddDate(0, 6, -1)
	if r, _ := w.svc.Retain(w.ctx); r.Blocked != 0 {
		t.Fatal("blocked early")
	}
	w.now = w.now.AddDate(0, 0, 2)
	if r, _ := w.svc.Retain(w.ctx); r.Blocked != 1 {
		t.Fatalf("not blocked after six months: %+v", r)
	}
	got, err := w.svc.Get(w.ctx, w.itHandler, c.ID)
	if err != nil || got.PersonalShown || got.Fields != nil || got.Title != c.Title {
		t.Errorf("blocked: %+v %v", got, err)
	}
	if _, err := w.svc.Act(w.ctx, w.seHandler, c.ID, "rectify", broadcasts.Input{Comment: "c", Fields: map[string]string{"risk": "Fire"}}); !isKind(err, problem.Conflict) {
		t.Errorf("blocked data was rectified: %v", err)
	}
	if list, _, _ := w.svc.Inbox(w.ctx, w.itHandler, broadcasts.Alert, broadcasts.Received, broadcasts.Filter{Text: "Gasfix"}); len(list) != 0 {
		t.Error("blocked data is still found by search")
	}
	w.now = w.now.AddDate(3, 0, 0)
	if r, _ := w.svc.Retain(w.ctx); r.Erased != 1 {
		t.Fatalf("not deleted: %+v", r)
	}
	var fields, subject string
	if err := w.db.Read().QueryRowContext(w.ctx, `SELECT fields, subject_name FROM broadcasts WHERE id = $1`, c.ID).Scan(&fields, &subject); err != nil {
		t.Fatal(err)
	}
	if fields != "{}" || subject != "" || w.count(`SELECT COUNT(*) FROM case_events WHERE case_id = $1 AND comment <> ''`, c.ID) != 0 {
		t.Errorf("left after deletion: %s %q", fields, subject)
	}
}

func TestInboxBoxesAndStatistics(t *testing.T) {
	w := newWorld(t)
	c := w.alert()
	counts := func(a authorities.Actor) string {
		m, err := w.svc.Counts(w.ctx, a, broadcasts.Alert)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%d/%d/%d", m[broadcasts.ToDo], m[broadcasts.Sent], m[broadcasts.Received])
	}
	if got := counts(w.seHandler); got != "1/1/0" {
		t.Errorf("sender with a draft: %s", got)
	}
	w.act(w.seHandler, c.ID, "submit", broadcasts.Input{})
	if got := counts(w.seCoordinator); got != "1/1/0" {
		t.Errorf("coordinator to validate: %s", got)
	}
	w.act(w.seCoordinator, c.ID, "approve", broadcasts.Input{})
	if got := counts(w.itCoordinator); got != "1/0/1" {
		t.Errorf("receiving coordinator: %s", got)
	}
	w.act(w.itCoordinator, c.ID, "disseminate", broadcasts.Input{Authorities: []string{w.itCA.ID}})
	for who, want := range map[*authorities.Actor]string{&w.itCoordinator: "0/0/1", &w.itHandler: "1/0/1", &w.it2Handler: "0/0/0", &w.frCoordinator: "0/0/0", &w.commission: "0/0/1"} {
		if got := counts(*who); got != want {
			t.Errorf("%s: %s, want %s", who.UserID, got, want)
		}
	}
	list, total, err := w.svc.Inbox(w.ctx, w.itHandler, broadcasts.Alert, broadcasts.ToDo, broadcasts.Filter{Text: "gasfix"})
	if err != nil || total != 1 || list[0].ID != c.ID {
		t.Errorf("found by the provider's name: %d %v", total, err)
	}
	// LIKE's wildcards in the text are only themselves.
	for _, q := range []string{"%", "_", "g_sfix", "%fix"} {
		if _, total, err := w.svc.Inbox(w.ctx, w.itHandler, broadcasts.Alert, broadcasts.ToDo, broadcasts.Filter{Text: q}); err != nil || total != 0 {
			t.Errorf("%q matched %d alerts (%v), want none", q, total, err)
		}
	}
	w.now = w.now.Add(3 * time.Hour)
	w.act(w.itHandler, c.ID, "acknowledge", broadcasts.Input{})
	if _, err := w.svc.Statistics(w.ctx, w.itHandler); !isKind(err, problem.Forbidden) {
		t.Errorf("an authority reads statistics: %v", err)
	}
	stats, err := w.svc.Statistics(w.ctx, w.commission)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, s := range stats {
		lines = append(lines, fmt.Sprintf("%s %s %s sent=%d received=%d disseminated=%d ack=%d/%d median=%.0f", s.Kind, s.Area, s.Country, s.Sent, s.Received,
			s.Disseminated, s.Acknowledged, s.Disseminations, s.MedianAckHours))
	}
	want := []string{"alert services DE sent=0 received=1 disseminated=0 ack=0/0 median=-1",
		"alert services IT sent=0 received=1 disseminated=1 ack=1/1 median=3",
		"alert services SE sent=1 received=0 disseminated=0 ack=0/0 median=-1"}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("statistics:\n%s", strings.Join(lines, "\n"))
	}
}

// TestThePermissionMatrix tries every action of both machines, in every
// state a case reaches, as every kind of user, and compares the outcome
// with the machine's rule for the parties this test expects each user to
// take: what the machine allows succeeds, everything else is refused and
// changes nothing. Reads follow the same parties: nobody else sees the
// case.
func TestThePermissionMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("tries every action as every user in every state")
	}
	w := newWorld(t)
	type who struct {
		name  string
		actor authorities.Actor
		roles []string
		// parties once the case is out; the draft is the sender's alone.
		alert, notification []string
	}
	users := []who{
		{"sender's alert handler", w.seHandler, []string{"alert_handler"}, []string{broadcasts.Sender}, []string{broadcasts.Sender}},
		{"sender's request handler", w.seClerk, []string{"request_handler"}, []string{broadcasts.Sender}, []string{broadcasts.Sender}},
		{"sender's coordinator", w.seCoordinator, []string{"coordinator"}, []string{broadcasts.SenderCoordinator}, []string{broadcasts.SenderCoordinator}},
		{"another Swedish authority", w.se2Handler, []string{"alert_handler"}, nil, []string{broadcasts.Reader}},
		{"receiving coordinator", w.itCoordinator, []string{"coordinator"}, []string{broadcasts.RecipientCoordinator},
			[]string{broadcasts.RecipientCoordinator, broadcasts.Recipient}},
		{"authority disseminated to", w.itHandler, []string{"alert_handler"}, []string{broadcasts.Recipient}, []string{broadcasts.Recipient}},
		{"authority not disseminated to", w.it2Handler, []string{"alert_handler"}, nil, []string{broadcasts.Recipient}},
		{"coordinator of a country left out", w.frCoordinator, []string{"coordinator"}, nil, []string{broadcasts.RecipientCoordinator, broadcasts.Recipient}},
		{"Commission", w.commission, []string{"coordinator"}, []string{broadcasts.Commission}, []string{broadcasts.Commission}},
	}
	type step struct {
		by     authorities.Actor
		action string
		in     broadcasts.Input
	}
	c := broadcasts.Input{Comment: "Because."}
	out := step{w.itCoordinator, "disseminate", broadcasts.Input{Authorities: []string{w.itCA.ID}}}
	paths := map[string]map[string][]step{
		broadcasts.Alert: {
			broadcasts.Draft:              nil,
			broadcasts.AwaitingValidation: {{w.seHandler, "submit", c}},
			broadcasts.Broadcast:          {{w.seHandler, "submit", c}, {w.seCoordinator, "approve", c}, out},
			broadcasts.ClosureProposed:    {{w.seHandler, "submit", c}, {w.seCoordinator, "approve", c}, out, {w.seHandler, "propose_closure", c}},
			broadcasts.WithdrawalProposed: {{w.seHandler, "submit", c}, {w.seCoordinator, "approve", c}, out, {w.seHandler, "propose_withdrawal", c}},
			broadcasts.Closed:             {{w.seHandler, "submit", c}, {w.seCoordinator, "approve", c}, out, {w.seHandler, "propose_closure", c}, {w.seCoordinator, "close", c}},
			broadcasts.Withdrawn:          {{w.seHandler, "submit", c}, {w.seCoordinator, "approve", c}, out, {w.seHandler, "propose_withdrawal", c}, {w.seCoordinator, "withdraw", c}},
			broadcasts.Rejected:           {{w.seHandler, "submit", c}, {w.seCoordinator, "reject", c}},
		},
		broadcasts.Notification: {
			broadcasts.Draft:     nil,
			broadcasts.Broadcast: {{w.seHandler, "send", c}, out},
			broadcasts.Closed:    {{w.seHandler, "send", c}, out, {w.seHandler, "close", c}},
			broadcasts.Withdrawn: {{w.seHandler, "send", c}, out, {w.seHandler, "withdraw", c}},
		},
	}
	input := func(action string, actor authorities.Actor) broadcasts.Input {
		in := broadcasts.Input{Comment: "A comment."}
		switch action {
		case "disseminate":
			for _, a := range []*authorities.Authority{w.itCA2, w.frNC} { // someone new in the actor's country
				if actor.Authority != nil && a.Country == actor.Authority.Country {
					in.Authorities = []string{a.ID}
				}
			}
		case "rectify":
			in.Fields = map[string]string{"risk": "Fire"}
		case "modify":
			in.Fields = map[string]string{"legal_reference": "SFS 2026:999"}
		}
		return in
	}
	tried, allowed := 0, 0
	for _, kind := range broadcasts.Kinds {
		m := w.svc.Machine(kind)
		var actions []string
		for name := range m.Actions {
			actions = append(actions, name)
		}
		sort.Strings(actions)
		fresh := func(state string) *broadcasts.Case {
			var x *broadcasts.Case
			if kind == broadcasts.Alert {
				x = w.alert()
			} else {
				x = w.notification()
			}
			for _, st := range paths[kind][state] {
				w.act(st.by, x.ID, st.action, st.in)
			}
			return x
		}
		var states []string
		for s := range paths[kind] {
			states = append(states, s)
		}
		sort.Strings(states)
		for _, state := range states {
			for _, u := range users {
				x := fresh(state)
				parties := u.alert
				if kind == broadcasts.Notification {
					parties = u.notification
				}
				sent := len(paths[kind][state]) > 0 && state != broadcasts.AwaitingValidation && state != broadcasts.Rejected
				switch {
				case state == broadcasts.Draft:
					parties = slices.DeleteFunc(slices.Clone(parties), func(p string) bool { return p != broadcasts.Sender })
				case !sent:
					parties = slices.DeleteFunc(slices.Clone(parties), func(p string) bool { return p != broadcasts.Sender && p != broadcasts.SenderCoordinator })
				}
				_, err := w.svc.Get(w.ctx, u.actor, x.ID)
				switch {
				case len(parties) == 0 && !isKind(err, problem.NotFound):
					t.Errorf("%s reads a %s %s: %v", u.name, state, kind, err)
				case len(parties) > 0 && err != nil:
					t.Errorf("%s cannot read a %s %s: %v", u.name, state, kind, err)
				}
				options := map[string]bool{
					"disseminated_to_me":  u.actor.UserID == w.itHandler.UserID && sent,
					"comment_period_open": kind == broadcasts.Notification && state == broadcasts.Broadcast,
				}
				for _, action := range actions {
					tried++
					_, _, nerr := m.Next(state, action, workflow.Who{Parties: parties, Roles: u.roles}, options)
					want := nerr == nil
					before := w.count(`SELECT COUNT(*) FROM case_events`)
					_, err := w.svc.Act(w.ctx, u.actor, x.ID, action, input(action, u.actor))
					desc := fmt.Sprintf("%s %s by %s in %s", kind, action, u.name, state)
					if want {
						allowed++
						if err != nil {
							t.Errorf("%s: refused although allowed: %v", desc, err)
						}
						x = fresh(state)
						continue
					}
					if err == nil {
						t.Errorf("%s: allowed although the machine refuses it", desc)
						x = fresh(state)
						continue
					}
					if !isKind(err, problem.Conflict) && !isKind(err, problem.NotFound) {
						t.Errorf("%s: refused with %v", desc, err)
					}
					if after := w.count(`SELECT COUNT(*) FROM case_events`); after != before {
						t.Errorf("%s: a refusal wrote %d events", desc, after-before)
					}
				}
			}
		}
	}
	t.Logf("%d attempts, %d allowed", tried, allowed)
	if allowed < 40 {
		t.Errorf("only %d allowed: the matrix does not exercise the machines", allowed)
	}
}

// TestTheInboxAgreesWithOpeningEachCase checks the inbox's SQL against
// the rules of a single case: for every user, including a delegated alert
// coordinator and a delegated coordinator that is not one, each box holds
// exactly the cases that, opened one by one, belong in it, and the counts
// match.
func TestTheInboxAgreesWithOpeningEachCase(t *testing.T) {
	w := newWorld(t)
	reg := func(in authorities.Input) *authorities.Authority {
		in.Language, in.Email, in.Areas = "en", "office@example.eu", []string{"services"}
		a, err := w.auths.Register(w.ctx, authorities.System(), in)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	itDC := reg(authorities.Input{Country: "IT", Name: "Coordinamento servizi", Kind: authorities.DelegatedCoordinator, AlertCoordinator: true,
		Scope: authorities.Scope{Areas: []string{"services"}}})
	seDC := reg(authorities.Input{Country: "SE", Name: "Länsstyrelsen", Kind: authorities.DelegatedCoordinator, Region: "Skåne",
		Scope: authorities.Scope{Regions: []string{"Skåne"}}})
	users := map[string]authorities.Actor{
		"sender": w.seHandler, "sender's clerk": w.seClerk, "sender's coordinator": w.seCoordinator, "another Swedish authority": w.se2Handler,
		"Italian coordinator": w.itCoordinator, "Italian recipient": w.itHandler, "Italian non-recipient": w.it2Handler, "German authority": w.deHandler,
		"French coordinator": w.frCoordinator, "Commission": w.commission,
		"Italian delegated alert coordinator": w.user(itDC, "alerts@coord.it.example", "it", "coordinator"),
		"Swedish regional delegate":           w.user(seDC, "skane@lst.se.example", "sv", "coordinator"),
	}
	// An authority that receives alerts and is then deactivated (below):
	// its user takes no part any more, and its to-do box's union has no
	// branch at all.
	itGone := w.authority("IT", "Ufficio soppresso", authorities.CompetentAuthority)
	gone := w.user(itGone, "alerts@soppresso.example", "it", "alert_handler")
	// Cases in many states and of both kinds.
	steps := [][]string{{}, {"submit"}, {"submit", "approve"}, {"submit", "approve", "disseminate"}, {"submit", "approve", "disseminate", "acknowledge"},
		{"submit", "approve", "disseminate", "propose_closure"}, {"submit", "approve", "propose_closure", "close"}, {"submit", "reject"}}
	by := map[string]authorities.Actor{"submit": w.seHandler, "approve": w.seCoordinator, "reject": w.seCoordinator, "disseminate": w.itCoordinator,
		"acknowledge": w.itHandler, "propose_closure": w.seHandler, "close": w.seCoordinator, "send": w.seHandler}
	var ids []string
	for _, path := range steps {
		c := w.alert()
		for _, a := range path {
			w.act(by[a], c.ID, a, broadcasts.Input{Comment: "c", Authorities: []string{w.itCA.ID, itGone.ID}})
		}
		ids = append(ids, c.ID)
	}
	for _, path := range [][]string{{}, {"send"}, {"send", "disseminate"}} {
		c := w.notification()
		for _, a := range path {
			w.act(by[a], c.ID, a, broadcasts.Input{Authorities: []string{w.itCA.ID}})
		}
		ids = append(ids, c.ID)
	}
	if n, err := w.svc.Count(w.ctx, gone, broadcasts.Alert, broadcasts.ToDo); err != nil || n == 0 {
		t.Fatalf("before its deactivation, %d alerts wait for the recipient (%v)", n, err)
	}
	if err := w.auths.SetStatus(w.ctx, authorities.System(), itGone.ID, authorities.Deactivated); err != nil {
		t.Fatal(err)
	}
	gone, err := w.auths.ActorFor(w.ctx, gone.UserID)
	if err != nil || gone.Authority.Status != authorities.Deactivated {
		t.Fatalf("the deactivated recipient's actor: %+v, %v", gone.Authority, err)
	}
	users["deactivated Italian recipient"], users["System"] = gone, authorities.System()
	seen := map[string]int{} // user/kind/box → cases
	defer func() {
		// The comparison means something only if the boxes are not empty.
		for _, key := range []string{"Italian delegated alert coordinator/alert/received", "Italian delegated alert coordinator/alert/to_do",
			"sender's coordinator/alert/sent", "Italian recipient/alert/to_do", "Commission/alert/received", "System/alert/received", "another Swedish authority/notification/received"} {
			if seen[key] == 0 {
				t.Errorf("%s is empty", key)
			}
		}
		for _, box := range broadcasts.Boxes {
			if n := seen["deactivated Italian recipient/alert/"+box]; n != 0 {
				t.Errorf("a deactivated authority's %s box holds %d alerts", box, n)
			}
		}
		if seen["Swedish regional delegate/alert/sent"] != 0 {
			t.Error("a regional delegate sees alerts of an authority outside its region")
		}
	}()
	for name, u := range users {
		for _, kind := range broadcasts.Kinds {
			want := map[string][]string{}
			for _, id := range ids {
				c, err := w.svc.Get(w.ctx, u, id)
				if err != nil && !isKind(err, problem.NotFound) {
					t.Fatal(err)
				}
				if err != nil || c.Kind != kind {
					continue
				}
				sentSide := slices.Contains(c.Parties, broadcasts.Sender) || slices.Contains(c.Parties, broadcasts.SenderCoordinator)
				if c.ToDo {
					want[broadcasts.ToDo] = append(want[broadcasts.ToDo], id)
				}
				if sentSide {
					want[broadcasts.Sent] = append(want[broadcasts.Sent], id)
				}
				if c.SentAt != nil && !sentSide {
					want[broadcasts.Received] = append(want[broadcasts.Received], id)
				}
			}
			counts, err := w.svc.Counts(w.ctx, u, kind)
			if err != nil {
				t.Fatal(err)
			}
			for _, box := range broadcasts.Boxes {
				list, total, err := w.svc.Inbox(w.ctx, u, kind, box, broadcasts.Filter{PerPage: 100})
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, c := range list {
					got = append(got, c.ID)
				}
				slices.Sort(got)
				slices.Sort(want[box])
				seen[name+"/"+kind+"/"+box] = len(got)
				if !slices.Equal(got, want[box]) || total != len(got) || counts[box] != total {
					t.Errorf("%s, %s, %s: inbox %d (total %d, count %d), opening each: %d", name, kind, box, len(got), total, counts[box], len(want[box]))
				}
			}
		}
	}
}
