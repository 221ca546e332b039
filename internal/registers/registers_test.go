package registers_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	shipped "github.com/openimi/openimi/areas"
	"github.com/openimi/openimi/internal/areas"
	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/db/dbtest"
	"github.com/openimi/openimi/internal/i18n"
	"github.com/openimi/openimi/internal/problem"
	"github.com/openimi/openimi/internal/registers"
	"github.com/openimi/openimi/internal/testkit"
	"github.com/openimi/openimi/locales"
)

// world is Germany and Austria with coordinators and authorities, a
// Commission, and the directory.
type world struct {
	t     *testing.T
	ctx   context.Context
	db    *db.DB
	auth  *auth.Service
	auths *authorities.Service
	svc   *registers.Service
	cat   *i18n.Catalog
	now   time.Time

	deNC, deCA, deCA2, atCA                        *authorities.Authority
	deCoordinator, deAdmin, deHandler, atAdmin, ec authorities.Actor
}

func newWorld(t *testing.T) *world {
	t.Helper()
	d := dbtest.Open(t)
	reg, err := areas.Open(shipped.Files, "")
	if err != nil {
		t.Fatal(err)
	}
	cat, err := i18n.Load(locales.Files)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, ctx: context.Background(), db: d, now: time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)}
	clock := func() time.Time { return w.now }
	w.auth = auth.New(d, auth.Settings{}, clock)
	w.auths = authorities.New(d, reg, w.auth, "http://imi.test", clock)
	w.svc, w.cat = registers.New(d, reg, w.auths, cat, clock), cat
	w.deNC = w.authority("DE", "Bundesministerium für Wirtschaft", authorities.NationalCoordinator, nil)
	w.deCA = w.authority("DE", "Industrie- und Handelskammer Berlin", authorities.CompetentAuthority, map[string]string{"en": "Berlin Chamber of Commerce"})
	w.deCA2 = w.authority("DE", "Bundesnotarkammer", authorities.CompetentAuthority, nil)
	w.authority("AT", "Bundesministerium für Arbeit und Wirtschaft", authorities.NationalCoordinator, nil)
	w.atCA = w.authority("AT", "Wirtschaftskammer Österreich", authorities.CompetentAuthority, nil)
	w.deCoordinator = w.user(w.deNC, "coordinator@de.example", "coordinator")
	w.deAdmin = w.user(w.deCA, "admin@ihk.de.example", "local_data_administrator")
	w.deHandler = w.user(w.deCA, "handler@ihk.de.example", "request_handler")
	w.atAdmin = w.user(w.atCA, "admin@wko.at.example", "local_data_administrator")
	ec, err := w.auths.EnsureCommission(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	w.ec = w.user(ec, "grow@ec.example", "coordinator")
	return w
}

func (w *world) authority(country, name string, kind authorities.Kind, names map[string]string) *authorities.Authority {
	w.t.Helper()
	a, err := w.auths.Register(w.ctx, authorities.System(), authorities.Input{Country: country, Name: name, Language: "de", Kind: kind,
		Areas: []string{"services", "pq"}, Names: names, Email: "office@example.eu"})
	if err != nil {
		w.t.Fatalf("register %s: %v", name, err)
	}
	return a
}

func (w *world) user(a *authorities.Authority, email string, roles ...string) authorities.Actor {
	w.t.Helper()
	return testkit.Member(w.t, w.auth, w.auths, a, email, "", roles...)
}

func (w *world) handelsregister() registers.Input {
	return registers.Input{AuthorityID: w.deCA.ID, Name: "Handelsregister", Language: "de", Names: map[string]string{"en": "Commercial register", "fr": "Registre du commerce"},
		Description: "Eintragungen der Kaufleute und Handelsgesellschaften", Type: "business_register", Access: "public_online", Fees: true,
		URL: "https://www.handelsregister.de", LegalBasis: "§ 8 HGB", Languages: []string{"de"}, Areas: []string{"services"}}
}

func isKind(err error, k problem.Kind) bool {
	p, ok := problem.As(err)
	return ok && p.Kind == k
}

func ids(list []*registers.Entry) []string {
	var out []string
	for _, e := range list {
		out = append(out, e.Name)
	}
	slices.Sort(out)
	return out
}

func TestAnEntryIsWrittenValidatedAndItsChangesKept(t *testing.T) {
	w := newWorld(t)
	e, err := w.svc.Create(w.ctx, w.deAdmin, w.handelsregister())
	if err != nil {
		t.Fatal(err)
	}
	if e.Status != registers.Submitted || e.Country != "DE" || e.CanValidate || !e.CanEdit || e.NameIn("fr") != "Registre du commerce" {
		t.Fatalf("created: %+v", e)
	}
	// Until validated, only Germany and the Commission see it.
	if _, err := w.svc.Get(w.ctx, w.atAdmin, e.ID); !isKind(err, problem.NotFound) {
		t.Errorf("Austria sees a submitted entry: %v", err)
	}
	if got, _ := w.svc.Get(w.ctx, w.deCoordinator, e.ID); got == nil || !got.CanValidate {
		t.Fatal("the coordinator cannot validate")
	}
	if _, err := w.svc.Validate(w.ctx, w.deAdmin, e.ID); !isKind(err, problem.Forbidden) {
		t.Errorf("the authority validated its own entry: %v", err)
	}
	w.now = w.now.Add(time.Hour)
	e, err = w.svc.Validate(w.ctx, w.deCoordinator, e.ID)
	if err != nil || e.Status != registers.Validated || e.ValidatedAt == nil {
		t.Fatalf("validated: %+v %v", e, err)
	}
	if _, err := w.svc.Get(w.ctx, w.atAdmin, e.ID); err != nil {
		t.Errorf("Austria cannot read a validated entry: %v", err)
	}
	// An authority's change needs validating again; every field is kept.
	w.now = w.now.Add(time.Hour)
	in := w.handelsregister()
	in.Access, in.Fees = "on_request", false
	if e, err = w.svc.Update(w.ctx, w.deAdmin, e.ID, in); err != nil || e.Status != registers.Submitted {
		t.Fatalf("updated: %+v %v", e, err)
	}
	h, err := w.svc.History(w.ctx, w.deCoordinator, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	var changes []string
	for _, c := range h {
		changes = append(changes, c.Field+":"+c.Old+">"+c.New)
	}
	want := []string{"access:public_online>on_request", "fees:true>false", "status:validated>submitted", "status:submitted>validated", "created:>Handelsregister"}
	for _, c := range want {
		if !slices.Contains(changes, c) {
			t.Errorf("history lacks %s: %v", c, changes)
		}
	}
	// Another country's authority, and a user without the role, change nothing.
	if _, err := w.svc.Update(w.ctx, w.atAdmin, e.ID, in); !isKind(err, problem.NotFound) && !isKind(err, problem.Forbidden) {
		t.Errorf("Austria edited a German entry: %v", err)
	}
	if _, err := w.svc.Update(w.ctx, w.deHandler, e.ID, in); !isKind(err, problem.Forbidden) {
		t.Errorf("a request handler edited an entry: %v", err)
	}
	if _, err := w.svc.Create(w.ctx, w.deHandler, w.handelsregister()); !isKind(err, problem.Forbidden) {
		t.Errorf("a request handler added an entry: %v", err)
	}
	// A coordinator's entry is validated at once.
	in = w.handelsregister()
	in.Name, in.AuthorityID = "Notarverzeichnis", w.deCA2.ID
	if e, err := w.svc.Create(w.ctx, w.deCoordinator, in); err != nil || e.Status != registers.Validated {
		t.Fatalf("a coordinator's entry: %+v %v", e, err)
	}
}

func TestBadEntriesAreRefusedAndChangeNothing(t *testing.T) {
	w := newWorld(t)
	cases := map[string]struct {
		edit  func(in *registers.Input)
		field string
	}{
		"no name":                 {func(in *registers.Input) { in.Name = " " }, "name"},
		"unknown type":            {func(in *registers.Input) { in.Type = "phonebook" }, "type"},
		"unknown access":          {func(in *registers.Input) { in.Access = "sometimes" }, "access"},
		"bad link":                {func(in *registers.Input) { in.URL = "javascript:alert(1)" }, "url"},
		"unknown language":        {func(in *registers.Input) { in.Language = "xx" }, "language"},
		"unknown area":            {func(in *registers.Input) { in.Areas = []string{"fishing"} }, "areas"},
		"authority abroad":        {func(in *registers.Input) { in.AuthorityID = w.atCA.ID }, "authority"},
		"country of another user": {func(in *registers.Input) { in.Country = "AT"; in.AuthorityID = w.atCA.ID }, ""},
		"long description":        {func(in *registers.Input) { in.Description = strings.Repeat("x", 5001) }, "description"},
	}
	for name, c := range cases {
		in := w.handelsregister()
		c.edit(&in)
		_, err := w.svc.Create(w.ctx, w.deAdmin, in)
		p, ok := problem.As(err)
		if !ok || p.Field != c.field || c.field == "" && p.Kind != problem.Forbidden {
			t.Errorf("%s: %v", name, err)
		}
	}
	var n int
	if err := w.db.Read().QueryRowContext(w.ctx, `SELECT COUNT(*) FROM registers`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d entries written", n)
	}
}

func TestSearchFindsEntriesInAnyLanguage(t *testing.T) {
	w := newWorld(t)
	add := func(actor authorities.Actor, in registers.Input) {
		t.Helper()
		if _, err := w.svc.Create(w.ctx, actor, in); err != nil {
			t.Fatal(err)
		}
	}
	add(w.deCoordinator, w.handelsregister())
	notaries := w.handelsregister()
	notaries.Name, notaries.Names, notaries.Description, notaries.Type, notaries.AuthorityID = "Notarverzeichnis", nil, "Alle bestellten Notare", "professional_register", w.deCA2.ID
	add(w.deCoordinator, notaries)
	at := registers.Input{AuthorityID: w.atCA.ID, Name: "Firmenbuch", Language: "de", Description: "Verzeichnis der Unternehmen", Type: "business_register",
		Access: "public_online", Areas: []string{"services"}}
	add(w.atAdmin, at) // submitted: Austria's own
	cases := []struct {
		actor authorities.Actor
		q     registers.Query
		want  []string
	}{
		{w.deAdmin, registers.Query{Text: "handelsregister"}, []string{"Handelsregister"}},
		{w.deAdmin, registers.Query{Text: "registre du commerce"}, []string{"Handelsregister"}},                                     // a translated name
		{w.deAdmin, registers.Query{Text: "notare"}, []string{"Notarverzeichnis"}},                                                  // the description
		{w.deAdmin, registers.Query{Text: "Bundesnotarkammer"}, []string{"Notarverzeichnis"}},                                       // the holding authority
		{w.deAdmin, registers.Query{Text: w.cat.Localizer("es").T("register_type_business_register")}, []string{"Handelsregister"}}, // the type, in Spanish
		{w.deAdmin, registers.Query{Text: "Firmenbuch"}, nil},                                                                       // Austria's, not yet validated
		{w.atAdmin, registers.Query{Text: "Firmenbuch"}, []string{"Firmenbuch"}},                                                    // its own country's
		{w.atAdmin, registers.Query{Type: "business_register"}, []string{"Firmenbuch", "Handelsregister"}},
		{w.atAdmin, registers.Query{Countries: []string{"DE"}, Type: "professional_register"}, []string{"Notarverzeichnis"}},
		{w.ec, registers.Query{Area: "services"}, []string{"Firmenbuch", "Handelsregister", "Notarverzeichnis"}},
		{w.ec, registers.Query{Text: "verzeichnis", Countries: []string{"AT"}}, []string{"Firmenbuch"}},
	}
	for _, c := range cases {
		got, total, err := w.svc.Search(w.ctx, c.actor, c.q)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids(got), c.want) || total != len(c.want) {
			t.Errorf("%+v: %v (total %d), want %v", c.q, ids(got), total, c.want)
		}
	}
}

func TestImportAndExport(t *testing.T) {
	w := newWorld(t)
	csv := "external_id,country,authority,name,language,names,description,type,access,fees,url,legal_basis,languages,areas\n" +
		"DE-HR,DE," + w.deCA.ID + ",Handelsregister,de,en=Commercial register,Kaufleute,business_register,public_online,true,https://www.handelsregister.de,§ 8 HGB,de;en,services\n" +
		"DE-NV,DE," + w.deCA2.ID + ",Notarverzeichnis,de,,,professional_register,on_request,false,,,de,pq\n"
	records, lines, err := registers.ParseRecords(strings.NewReader(csv), "csv")
	if err != nil {
		t.Fatal(err)
	}
	res, err := w.svc.Import(w.ctx, w.deCoordinator, records, lines, false)
	if err != nil || res.Created != 2 || len(res.Errors) != 0 {
		t.Fatalf("import: %+v %v", res, err)
	}
	// The same file again with one change updates; one bad line stops all.
	bad := strings.Replace(csv, "on_request", "authorities_only", 1) + "DE-X,DE," + w.deCA.ID + ",X,de,,,nope,public_online,false,,,,\n"
	records, lines, _ = registers.ParseRecords(strings.NewReader(bad), "csv")
	res, err = w.svc.Import(w.ctx, w.deCoordinator, records, lines, false)
	if err != nil || len(res.Errors) != 1 || res.Errors[0].Line != 4 || res.Errors[0].Field != "type" {
		t.Fatalf("a bad line: %+v %v", res, err)
	}
	list, _, _ := w.svc.Search(w.ctx, w.deCoordinator, registers.Query{Access: "authorities_only"})
	if len(list) != 0 {
		t.Fatal("a refused import changed an entry")
	}
	records, lines, _ = registers.ParseRecords(strings.NewReader(strings.Replace(csv, "on_request", "authorities_only", 1)), "csv")
	if res, err = w.svc.Import(w.ctx, w.deCoordinator, records, lines, false); err != nil || res.Updated != 2 {
		t.Fatalf("re-import: %+v %v", res, err)
	}
	// Austria may not import German entries.
	if res, _ = w.svc.Import(w.ctx, w.atAdmin, records, lines, false); len(res.Errors) != 2 {
		t.Errorf("Austria imported German entries: %+v", res)
	}
	for _, format := range []string{"csv", "json"} {
		var buf bytes.Buffer
		if err := w.svc.Export(w.ctx, w.atAdmin, &buf, format); err != nil {
			t.Fatal(err)
		}
		back, lines, err := registers.ParseRecords(&buf, format)
		if err != nil || len(back) != 2 || back[0].Names["en"] == "" && back[1].Names["en"] == "" {
			t.Fatalf("%s round trip: %+v %v", format, back, err)
		}
		// What was exported imports again as it was: nothing changes.
		res, err := w.svc.Import(w.ctx, w.deCoordinator, back, lines, false)
		if err != nil || res.Updated != 2 || len(res.Errors) != 0 {
			t.Fatalf("%s re-import: %+v %v", format, res, err)
		}
	}
	h, _, _ := w.svc.Search(w.ctx, w.deCoordinator, registers.Query{Text: "handelsregister"})
	// A page past the end, however far, is an empty page of the same total.
	if far, total, err := w.svc.Search(w.ctx, w.deCoordinator, registers.Query{Text: "handelsregister", Page: 1 << 62}); err != nil || len(far) != 0 || total != len(h) {
		t.Fatalf("a page far past the end: %d of %d, %v", len(far), total, err)
	}
	hist, _ := w.svc.History(w.ctx, w.deCoordinator, h[0].ID)
	if len(hist) != 1 { // created; the re-imports changed nothing
		t.Errorf("history after unchanged re-imports: %+v", hist)
	}
}

func TestAWithdrawnEntryLeavesTheDirectoryAndComesBack(t *testing.T) {
	w := newWorld(t)
	e, err := w.svc.Create(w.ctx, w.deCoordinator, w.handelsregister())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Withdraw(w.ctx, w.atAdmin, e.ID); !isKind(err, problem.Forbidden) {
		t.Errorf("Austria withdrew a German entry: %v", err)
	}
	if _, err := w.svc.Withdraw(w.ctx, w.deHandler, e.ID); !isKind(err, problem.Forbidden) {
		t.Errorf("a request handler withdrew an entry: %v", err)
	}
	w.now = w.now.Add(time.Hour)
	if e, err = w.svc.Withdraw(w.ctx, w.deAdmin, e.ID); err != nil || e.Status != registers.Withdrawn {
		t.Fatalf("withdrawn: %+v %v", e, err)
	}
	for _, actor := range []authorities.Actor{w.deAdmin, w.ec, w.atAdmin} {
		for _, q := range []registers.Query{{Text: "handelsregister"}, {Countries: []string{"DE"}}} {
			if list, total, _ := w.svc.Search(w.ctx, actor, q); len(list) != 0 || total != 0 {
				t.Errorf("a withdrawn entry is found by %+v", q)
			}
		}
	}
	if _, err := w.svc.Get(w.ctx, w.atAdmin, e.ID); !isKind(err, problem.NotFound) {
		t.Errorf("Austria reads a withdrawn entry: %v", err)
	}
	if got, err := w.svc.Get(w.ctx, w.deAdmin, e.ID); err != nil || got.Status != registers.Withdrawn {
		t.Errorf("its country no longer reads it: %v", err)
	}
	if list, _, _ := w.svc.Search(w.ctx, w.deAdmin, registers.Query{Status: registers.Withdrawn}); len(list) != 1 {
		t.Error("withdrawn entries cannot be listed on purpose")
	}
	// A coordinator's change puts it back, validated.
	if e, err = w.svc.Update(w.ctx, w.deCoordinator, e.ID, w.handelsregister()); err != nil || e.Status != registers.Validated {
		t.Fatalf("back: %+v %v", e, err)
	}
	h, _ := w.svc.History(w.ctx, w.deCoordinator, e.ID)
	if len(h) < 3 || h[0].New != registers.Validated || h[1].New != registers.Withdrawn {
		t.Errorf("history: %+v", h)
	}
}
