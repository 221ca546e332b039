package authorities_test

import (
	"context"
	"errors"
	"reflect"
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
	"github.com/openimi/openimi/internal/problem"
	"github.com/openimi/openimi/internal/testkit"
)

type world struct {
	t    *testing.T
	ctx  context.Context
	db   *db.DB
	auth *auth.Service
	svc  *authorities.Service
}

func newWorld(t *testing.T) *world {
	t.Helper()
	d := dbtest.Open(t)
	reg, err := areas.Open(shipped.Files, "")
	if err != nil {
		t.Fatal(err)
	}
	a := auth.New(d, auth.Settings{PublicURL: "http://imi.test"}, nil)
	return &world{t: t, ctx: context.Background(), db: d, auth: a, svc: authorities.New(d, reg, a, "http://imi.test", nil)}
}

// authority registers an authority as the operator.
func (w *world) authority(country, name string, kind authorities.Kind, areas ...string) *authorities.Authority {
	w.t.Helper()
	a, err := w.svc.Register(w.ctx, authorities.System(), authorities.Input{Country: country, Name: name, Language: "de", Kind: kind, Areas: areas, Email: "office@" + strings.ToLower(country) + ".example"})
	if err != nil {
		w.t.Fatalf("register %s: %v", name, err)
	}
	return a
}

// user creates a user in an authority with roles and returns its actor.
func (w *world) user(a *authorities.Authority, email string, roles ...string) authorities.Actor {
	w.t.Helper()
	return testkit.Member(w.t, w.auth, w.svc, a, email, "", roles...)
}

func (w *world) count(query string, args ...any) int {
	w.t.Helper()
	var n int
	if err := w.db.Read().QueryRowContext(w.ctx, query, args...).Scan(&n); err != nil {
		w.t.Fatal(err)
	}
	return n
}

func wantKey(t *testing.T, err error, key string) {
	t.Helper()
	var list problem.List
	if p, ok := problem.As(err); ok && p.Key == key {
		return
	}
	if errorsAs(err, &list) {
		for _, p := range list {
			if p.Key == key {
				return
			}
		}
	}
	t.Fatalf("err = %v, want %s", err, key)
}

func TestACoordinatorRegistersAndValidatesInItsScopeOnly(t *testing.T) {
	w := newWorld(t)
	de := w.authority("DE", "Bundesministerium für Wirtschaft", authorities.NationalCoordinator, "pq", "services")
	fr := w.authority("FR", "Ministère de l'Économie", authorities.NationalCoordinator, "pq")
	coord := w.user(de, "nc@de.example", "coordinator")
	a, err := w.svc.Register(w.ctx, coord, authorities.Input{Country: "DE", Name: "Bundesärztekammer", Language: "de", Areas: []string{"pq"},
		Competences: []authorities.Competence{{Area: "pq", Vocabulary: "professions", Term: "doctor"}}})
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != authorities.Registered || a.ParentID != de.ID {
		t.Fatalf("%+v", a)
	}
	before := w.count(`SELECT COUNT(*) FROM authorities`)
	_, err = w.svc.Register(w.ctx, coord, authorities.Input{Country: "FR", Name: "Ordre national des médecins", Language: "fr", Areas: []string{"pq"}})
	wantKey(t, err, "error_forbidden")
	if w.count(`SELECT COUNT(*) FROM authorities`) != before {
		t.Fatal("a refused registration left a row")
	}
	if err := w.svc.SetStatus(w.ctx, coord, a.ID, authorities.Validated); err != nil {
		t.Fatal(err)
	}
	frCoord := w.user(fr, "nc@fr.example", "coordinator")
	wantKey(t, w.svc.SetStatus(w.ctx, frCoord, a.ID, authorities.Deactivated), "error_forbidden")
	got, _ := w.svc.Get(w.ctx, a.ID)
	if got.Status != authorities.Validated {
		t.Fatalf("status %s", got.Status)
	}
}

func TestBadInputIsReportedPerFieldAndStoresNothing(t *testing.T) {
	w := newWorld(t)
	_, err := w.svc.Register(w.ctx, authorities.System(), authorities.Input{Country: "XX", Name: "", Language: "xx", Areas: []string{"nope"}, Email: "not-mail", Website: "javascript:alert(1)"})
	var list problem.List
	if !errorsAs(err, &list) {
		t.Fatalf("err = %v", err)
	}
	fields := map[string]bool{}
	for _, p := range list {
		fields[p.Field] = true
	}
	for _, f := range []string{"country", "name", "language", "areas", "email", "website"} {
		if !fields[f] {
			t.Errorf("no problem for %s in %v", f, list)
		}
	}
	if w.count(`SELECT COUNT(*) FROM authorities`) != 0 {
		t.Fatal("stored")
	}
}

func TestGreeceIsAcceptedAsGR(t *testing.T) {
	w := newWorld(t)
	a := w.authority("gr", "Υπουργείο Υγείας", authorities.CompetentAuthority, "pq")
	if a.Country != "EL" {
		t.Fatalf("country %s", a.Country)
	}
}

func TestOneNationalCoordinatorPerCountry(t *testing.T) {
	w := newWorld(t)
	w.authority("PL", "Ministerstwo Rozwoju i Technologii", authorities.NationalCoordinator, "pq")
	_, err := w.svc.Register(w.ctx, authorities.System(), authorities.Input{Country: "PL", Name: "Drugi koordynator", Language: "pl", Kind: authorities.NationalCoordinator, Areas: []string{"pq"}})
	wantKey(t, err, "error_national_coordinator_exists")
}

func TestEditsAreRecordedFieldByField(t *testing.T) {
	w := newWorld(t)
	de := w.authority("DE", "BMWK", authorities.NationalCoordinator, "pq")
	a := w.authority("DE", "Ärztekammer Berlin", authorities.CompetentAuthority, "pq")
	admin := w.user(a, "lda@aekb.example", "local_data_administrator")
	in := authorities.Input{Country: "DE", Name: "Ärztekammer Berlin", Language: "de", Areas: []string{"pq"}, City: "Berlin", Email: "office@de.example"}
	if _, err := w.svc.Update(w.ctx, admin, a.ID, in); err != nil {
		t.Fatal(err)
	}
	changes, err := w.svc.History(w.ctx, admin, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range changes {
		found = found || (c.Field == "city" && c.New == "Berlin" && c.UserName == "lda@aekb.example")
	}
	if !found {
		t.Fatalf("no history line for city in %+v", changes)
	}
	n := len(changes)
	if _, err := w.svc.Update(w.ctx, admin, a.ID, in); err != nil {
		t.Fatal(err)
	}
	if again, _ := w.svc.History(w.ctx, admin, a.ID); len(again) != n {
		t.Fatal("an edit that changed nothing was recorded")
	}
	// The administrator cannot move the authority in the network.
	in.Kind, in.ParentID = authorities.DelegatedCoordinator, de.ID
	if got, err := w.svc.Update(w.ctx, admin, a.ID, in); err != nil || got.Kind != authorities.CompetentAuthority {
		t.Fatalf("kind %s err %v", got.Kind, err)
	}
	other := w.authority("DE", "Zahnärztekammer", authorities.CompetentAuthority, "pq")
	_, err = w.svc.Update(w.ctx, admin, other.ID, in)
	wantKey(t, err, "error_forbidden")
}

func TestAnInvitedUserJoinsAndTheFirstOneAdministers(t *testing.T) {
	w := newWorld(t)
	de := w.authority("DE", "BMWK", authorities.NationalCoordinator, "pq")
	coord := w.user(de, "nc@de.example", "coordinator")
	a := w.authority("DE", "Landesprüfungsamt", authorities.CompetentAuthority, "pq")
	if err := w.svc.SetStatus(w.ctx, coord, a.ID, authorities.Validated); err != nil {
		t.Fatal(err)
	}
	if err := w.svc.InviteUser(w.ctx, coord, a.ID, authorities.Invitation{Email: "First@LPA.example", Name: "Erika Muster", Roles: []authorities.UserRole{{Role: "request_handler", Area: "pq"}}}); err != nil {
		t.Fatal(err)
	}
	var payload string
	if err := w.db.Read().QueryRowContext(w.ctx, `SELECT payload FROM outbox WHERE kind = 'user_invitation'`).Scan(&payload); err != nil {
		t.Fatal(err)
	}
	i := strings.Index(payload, "/invitation/")
	token := payload[i+len("/invitation/"):]
	token = token[:strings.IndexAny(token, `"\`)]
	if _, err := w.svc.AcceptInvitation(w.ctx, token, "short"); err == nil {
		t.Fatal("weak password accepted")
	}
	if n := w.count(`SELECT COUNT(*) FROM users WHERE email = 'first@lpa.example'`); n != 0 {
		t.Fatal("a failed acceptance created the user")
	}
	u, err := w.svc.AcceptInvitation(w.ctx, token, "correct-horse-battery-9")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.AcceptInvitation(w.ctx, token, "correct-horse-battery-9"); err == nil {
		t.Fatal("an invitation worked twice")
	}
	act, _ := w.svc.ActorFor(w.ctx, u.ID)
	if !act.Has("local_data_administrator", "") || !act.Has("request_handler", "pq") || act.Authority.ID != a.ID {
		t.Fatalf("actor %+v", act)
	}
	if got, _ := w.svc.Get(w.ctx, a.ID); got.Status != authorities.Active {
		t.Fatalf("status %s", got.Status)
	}
}

func TestUsersOfOneAuthorityCannotTouchAnothersUsers(t *testing.T) {
	w := newWorld(t)
	a := w.authority("AT", "Österreichische Ärztekammer", authorities.CompetentAuthority, "pq")
	b := w.authority("AT", "Österreichische Zahnärztekammer", authorities.CompetentAuthority, "pq")
	adminA := w.user(a, "lda@a.example", "local_data_administrator")
	adminB := w.user(b, "lda@b.example", "local_data_administrator")
	wantKey(t, w.svc.SetRoles(w.ctx, adminA, b.ID, adminB.UserID, nil), "error_forbidden")
	wantKey(t, w.svc.DeactivateMember(w.ctx, adminA, b.ID, adminB.UserID, "x"), "error_forbidden")
	wantKey(t, w.svc.InviteUser(w.ctx, adminA, b.ID, authorities.Invitation{Email: "x@b.example", Name: "X"}), "error_forbidden")
	// Naming another authority's user through one's own authority fails too.
	if err := w.svc.SetRoles(w.ctx, adminA, a.ID, adminB.UserID, []authorities.UserRole{{Role: "request_handler"}}); err == nil {
		t.Fatal("changed the roles of another authority's user")
	}
	if act, _ := w.svc.ActorFor(w.ctx, adminB.UserID); !act.Has("local_data_administrator", "") {
		t.Fatal("the refused change took effect")
	}
	wantKey(t, w.svc.SetRoles(w.ctx, adminA, a.ID, adminA.UserID, []authorities.UserRole{{Role: "request_handler"}}), "error_last_administrator")
}

func TestUsersOfADeactivatedAuthorityCannotSignIn(t *testing.T) {
	w := newWorld(t)
	cy := w.authority("CY", "Υπουργείο Εμπορίου", authorities.NationalCoordinator, "pq")
	coord := w.user(cy, "nc@cy.example", "coordinator")
	a := w.authority("CY", "Ιατρικός Σύλλογος", authorities.CompetentAuthority, "pq")
	w.user(a, "doc@cy.example", "request_handler")
	if _, _, err := w.auth.SignIn(w.ctx, "doc@cy.example", "correct-horse-battery-9", auth.Client{Address: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := w.svc.SetStatus(w.ctx, coord, a.ID, authorities.Deactivated); err != nil {
		t.Fatal(err)
	}
	_, _, err := w.auth.SignIn(w.ctx, "doc@cy.example", "correct-horse-battery-9", auth.Client{Address: "y"})
	wantKey(t, err, "error_signin_wrong")
	if err := w.svc.SetStatus(w.ctx, coord, a.ID, authorities.Active); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.auth.SignIn(w.ctx, "doc@cy.example", "correct-horse-battery-9", auth.Client{Address: "z"}); err != nil {
		t.Fatalf("after reactivation: %v", err)
	}
}

func TestNeverUsedAuthoritiesAndStatistics(t *testing.T) {
	w := newWorld(t)
	de := w.authority("DE", "BMWK", authorities.NationalCoordinator, "pq", "services", "pw")
	coord := w.user(de, "nc@de.example", "coordinator")
	used := w.authority("DE", "Genutzt", authorities.CompetentAuthority, "pq")
	idle := w.authority("DE", "Ungenutzt", authorities.CompetentAuthority, "pq", "services")
	u := w.user(used, "u@used.example", "request_handler")
	err := w.db.InTx(w.ctx, func(tx db.Querier) error {
		_, err := tx.ExecContext(w.ctx, `UPDATE users SET last_sign_in_at = $1 WHERE id IN ($2, $3)`, time.Now().UTC(), u.UserID, coord.UserID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	list, err := w.svc.NeverUsed(w.ctx, coord, "DE")
	if err != nil || len(list) != 1 || list[0].ID != idle.ID {
		t.Fatalf("never used: %v %v", list, err)
	}
	if err := w.svc.Remind(w.ctx, coord, idle.ID); err != nil {
		t.Fatal(err)
	}
	if w.count(`SELECT COUNT(*) FROM outbox WHERE kind = 'never_used_reminder'`) != 1 {
		t.Fatal("no reminder queued")
	}
	if _, err := w.svc.NeverUsed(w.ctx, u, "DE"); err == nil {
		t.Fatal("a request handler saw the coordinators' list")
	}
	st, err := w.svc.Stats(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var deStats authorities.CountryStats
	for _, c := range st.Countries {
		if c.Country == "DE" {
			deStats = c
		}
	}
	if deStats.Total != 3 || deStats.PerArea["pq"] != 3 || deStats.PerArea["services"] != 2 || st.Total.Total != 3 {
		t.Fatalf("stats %+v total %+v", deStats, st.Total)
	}
	if st.ByAreas[1] != 1 || st.ByAreas[2] != 1 || st.ByAreas[3] != 1 {
		t.Fatalf("by areas %v", st.ByAreas)
	}
	if deStats.NeverUsed != 1 {
		t.Fatalf("never used %d", deStats.NeverUsed)
	}
}

func TestPerAreaSupervisorsMustBeCoordinatorsOfTheSameCountry(t *testing.T) {
	w := newWorld(t)
	it := w.authority("IT", "Dipartimento per le politiche europee", authorities.NationalCoordinator, "pq", "services")
	lazio, err := w.svc.Register(w.ctx, authorities.System(), authorities.Input{Country: "IT", Name: "Regione Lazio", Language: "it", Kind: authorities.DelegatedCoordinator,
		Areas: []string{"services"}, Region: "Lazio", ParentID: it.ID, AlertCoordinator: true})
	if err != nil {
		t.Fatal(err)
	}
	es := w.authority("ES", "Secretaría de Estado de Economía", authorities.NationalCoordinator, "services")
	in := authorities.Input{Country: "IT", Name: "Camera di Commercio di Roma", Language: "it", Areas: []string{"services"}, Region: "Lazio",
		Supervisors: map[string]string{"services": es.ID}}
	_, err = w.svc.Register(w.ctx, authorities.System(), in)
	wantKey(t, err, "error_parent_invalid")
	in.Supervisors = map[string]string{"services": lazio.ID}
	a, err := w.svc.Register(w.ctx, authorities.System(), in)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := w.svc.Get(w.ctx, a.ID)
	if got.Supervisors["services"] != lazio.ID {
		t.Fatalf("supervisors %v", got.Supervisors)
	}
	if l, _ := w.svc.Get(w.ctx, lazio.ID); !l.AlertCoordinator {
		t.Fatal("the alert coordinator flag was not stored")
	}
}

// GetMany reads what Get reads, for many at once: duplicates, empty and
// unknown ids are no trouble, with or without a page's memo, and what the
// memo hands out is a copy.
func TestGetManyReadsWhatGetReads(t *testing.T) {
	w := newWorld(t)
	de := w.authority("DE", "Ärztekammer Berlin", authorities.CompetentAuthority, "pq")
	at := w.authority("AT", "Ärztekammer Wien", authorities.CompetentAuthority, "pq", "services")
	for _, ctx := range []context.Context{w.ctx, authorities.WithMemo(w.ctx)} {
		got, err := w.svc.GetMany(ctx, []string{de.ID, "", at.ID, de.ID, "no-such-authority"})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("%d authorities, want 2: %v", len(got), got)
		}
		for _, a := range []*authorities.Authority{de, at} {
			one, err := w.svc.Get(ctx, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got[a.ID], one) {
				t.Fatalf("GetMany %+v\nGet     %+v", got[a.ID], one)
			}
		}
		got[at.ID].Areas[0], got[at.ID].Names["en"] = "changed", "changed"
		again, err := w.svc.Get(ctx, at.ID)
		if err != nil || again.Areas[0] == "changed" || again.Names["en"] == "changed" {
			t.Fatalf("a change to a result changed what is read next: %+v %v", again, err)
		}
	}
}

// A change to an authority's lists (texts, areas, competences, scope)
// raises its revision (migration 14) and so the registry revision
// (migration 17), under which every server keeps what it reads. Any such
// change, made by this server, another one or plain SQL, is seen at the
// next read, by every server; a change rolled back is never seen.
func TestListChangesAreSeenByEveryServer(t *testing.T) {
	w := newWorld(t)
	a := w.authority("DE", "Ärztekammer Berlin", authorities.CompetentAuthority, "pq")
	other := authorities.New(w.db, mustRegistry(t), w.auth, "http://imi.test", nil) // a second server
	read := func(svc *authorities.Service) *authorities.Authority {
		t.Helper()
		got, err := svc.Get(w.ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		many, err := svc.GetMany(w.ctx, []string{a.ID})
		if err != nil || !reflect.DeepEqual(many[a.ID], got) {
			t.Fatalf("GetMany %+v, Get %+v (%v)", many[a.ID], got, err)
		}
		return got
	}
	for _, svc := range []*authorities.Service{w.svc, other} {
		if got := read(svc); got.Names["fr"] != "" || !slices.Equal(got.Areas, []string{"pq"}) {
			t.Fatalf("before: %+v", got)
		}
	}
	revision := func() int {
		return w.count(`SELECT revision FROM authorities WHERE id = $1`, a.ID)
	}
	steps := []struct {
		name, sql string
		check     func(*authorities.Authority) bool
	}{
		{"a name inserted", `INSERT INTO authority_texts (authority_id, language, name) VALUES ($1, 'fr', 'Chambre des médecins')`,
			func(g *authorities.Authority) bool { return g.Names["fr"] == "Chambre des médecins" }},
		{"a name updated", `UPDATE authority_texts SET name = 'Ordre des médecins' WHERE authority_id = $1 AND language = 'fr'`,
			func(g *authorities.Authority) bool { return g.Names["fr"] == "Ordre des médecins" }},
		{"an area inserted", `INSERT INTO authority_areas (authority_id, area) VALUES ($1, 'services')`,
			func(g *authorities.Authority) bool { return slices.Equal(g.Areas, []string{"pq", "services"}) }},
		{"a competence inserted", `INSERT INTO authority_competences (authority_id, area, vocabulary, term) VALUES ($1, 'pq', 'professions', 'doctor')`,
			func(g *authorities.Authority) bool {
				return len(g.Competences) == 1 && g.Competences[0].Term == "doctor"
			}},
		{"a scope inserted", `INSERT INTO coordinator_scopes (authority_id, kind, value) VALUES ($1, 'region', 'DE3')`,
			func(g *authorities.Authority) bool { return slices.Equal(g.Scope.Regions, []string{"DE3"}) }},
		{"a competence deleted", `DELETE FROM authority_competences WHERE authority_id = $1`,
			func(g *authorities.Authority) bool { return len(g.Competences) == 0 }},
		{"an area deleted", `DELETE FROM authority_areas WHERE authority_id = $1 AND area = 'services'`,
			func(g *authorities.Authority) bool { return slices.Equal(g.Areas, []string{"pq"}) }},
		{"a scope deleted", `DELETE FROM coordinator_scopes WHERE authority_id = $1`,
			func(g *authorities.Authority) bool { return len(g.Scope.Regions) == 0 }},
	}
	for _, step := range steps {
		before := revision()
		if err := w.db.InTx(w.ctx, func(tx db.Querier) error {
			_, err := tx.ExecContext(w.ctx, step.sql, a.ID)
			return err
		}); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if revision() <= before {
			t.Fatalf("%s: the revision stayed at %d", step.name, before)
		}
		for i, svc := range []*authorities.Service{w.svc, other} {
			if got := read(svc); !step.check(got) {
				t.Fatalf("%s: server %d read %+v", step.name, i+1, got)
			}
		}
	}

	// Through the service: an update of the areas.
	in := authorities.Input{Country: "DE", Name: "Ärztekammer Berlin", Language: "de", Kind: authorities.CompetentAuthority, Areas: []string{"pq", "services"}, Email: "office@de.example"}
	if _, err := w.svc.Update(w.ctx, authorities.System(), a.ID, in); err != nil {
		t.Fatal(err)
	}
	for i, svc := range []*authorities.Service{other, w.svc} {
		if got := read(svc); !slices.Equal(got.Areas, []string{"pq", "services"}) {
			t.Fatalf("after the update, server %d read areas %v", i+1, got.Areas)
		}
	}

	// A change rolled back: read inside the transaction, never kept.
	errUndo := errors.New("undo")
	err := w.db.InTx(w.ctx, func(tx db.Querier) error {
		if _, err := tx.ExecContext(w.ctx, `INSERT INTO authority_texts (authority_id, language, name) VALUES ($1, 'it', 'Ordine dei medici')`, a.ID); err != nil {
			return err
		}
		return errUndo
	})
	if !errors.Is(err, errUndo) {
		t.Fatal(err)
	}
	for i, svc := range []*authorities.Service{w.svc, other} {
		if got := read(svc); got.Names["it"] != "" {
			t.Fatalf("server %d read a name rolled back: %v", i+1, got.Names)
		}
	}
}

// A server keeps the authorities it reads under the registry revision:
// read again, they come from what it keeps, until any change to an
// authority (its row or its lists, by this server, another one or plain
// SQL) raises the revision; a change rolled back raises nothing. A page's
// memo reads the revision once.
func TestKeptAuthoritiesFollowTheRegistryRevision(t *testing.T) {
	w := newWorld(t)
	a := w.authority("DE", "Ärztekammer Berlin", authorities.CompetentAuthority, "pq")
	b := w.authority("DE", "Ärztekammer Hamburg", authorities.CompetentAuthority, "pq")
	other := authorities.New(w.db, mustRegistry(t), w.auth, "http://imi.test", nil) // a second server
	registry := func() int { return w.count(`SELECT revision FROM registry_revision WHERE id = 1`) }
	get := func(svc *authorities.Service, ctx context.Context, id string) *authorities.Authority {
		t.Helper()
		got, err := svc.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	reads := func(want int64) {
		t.Helper()
		if n := w.svc.RegistryReads(); n != want {
			t.Fatalf("%d authorities read, want %d", n, want)
		}
	}
	get(w.svc, w.ctx, a.ID)
	reads(1)
	got := get(w.svc, w.ctx, a.ID)
	many, err := w.svc.GetMany(w.ctx, []string{a.ID, b.ID})
	if err != nil || len(many) != 2 || !reflect.DeepEqual(many[a.ID], got) {
		t.Fatalf("GetMany: %v, %v", many, err)
	}
	reads(2)                                             // b
	got.Names["fr"], got.Areas[0] = "changed", "changed" // a copy
	if again := get(w.svc, authorities.WithMemo(w.ctx), a.ID); again.Names["fr"] != "" || again.Areas[0] != "pq" {
		t.Fatalf("a change to a copy reached what is kept: %+v", again)
	}
	// Nor what a page's memo holds: it hands out copies of what the
	// server keeps, through Get and GetMany alike.
	page := authorities.WithMemo(w.ctx)
	first, err := w.svc.GetMany(page, []string{a.ID, b.ID})
	if err != nil {
		t.Fatal(err)
	}
	first[a.ID].Names["fr"], first[b.ID].Names["it"] = "changed", "changed"
	get(w.svc, page, b.ID).Areas[0] = "changed"
	again, err := w.svc.GetMany(page, []string{a.ID, b.ID})
	if err != nil || again[a.ID].Names["fr"] != "" || again[b.ID].Names["it"] != "" || again[b.ID].Areas[0] != "pq" {
		t.Fatalf("a change to a copy reached the memo: %+v, %+v (%v)", again[a.ID], again[b.ID], err)
	}
	if got := get(w.svc, w.ctx, b.ID); got.Names["it"] != "" || got.Areas[0] != "pq" {
		t.Fatalf("a change to a copy from a memo reached what is kept: %+v", got)
	}
	reads(2)

	change := func(name string, want int, statements ...string) {
		t.Helper()
		before := registry()
		if err := w.db.InTx(w.ctx, func(tx db.Querier) error {
			for _, q := range statements {
				if _, err := tx.ExecContext(w.ctx, q, a.ID); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if n := registry() - before; n < 1 || w.db.Dialect() == db.Postgres && n != want {
			t.Fatalf("%s: the registry revision rose by %d, want %d", name, n, want)
		}
	}
	keptAt := registry()
	change("a phone number", 1, `UPDATE authorities SET phone = '+49 30 1' WHERE id = $1`)
	// A page's memo told the revision its session was read with reads no
	// revision of its own: told the revision before the change, it finds
	// what was kept under it.
	told, revisionReads := authorities.WithMemo(w.ctx), w.svc.RevisionReads()
	authorities.KnowRevision(told, int64(keptAt))
	if got := get(w.svc, told, a.ID); got.Phone != "" {
		t.Fatalf("a memo told revision %d read the phone %q", keptAt, got.Phone)
	}
	if n := w.svc.RevisionReads() - revisionReads; n != 0 {
		t.Fatalf("a memo told the revision read it %d times", n)
	}
	authorities.KnowRevision(w.ctx, int64(keptAt)) // no memo: nothing to tell
	reads(2)
	for i, svc := range []*authorities.Service{w.svc, other} {
		if got := get(svc, w.ctx, a.ID); got.Phone != "+49 30 1" {
			t.Fatalf("server %d read the phone %q", i+1, got.Phone)
		}
	}
	reads(3)
	// What a memo holds of an authority read from the database, not kept
	// before (b, under the new revision), is safe from the caller's copy too.
	fresh := authorities.WithMemo(w.ctx)
	list, err := w.svc.GetMany(fresh, []string{b.ID})
	if err != nil || list[b.ID] == nil {
		t.Fatalf("GetMany: %v, %v", list, err)
	}
	reads(4)
	list[b.ID].Names["it"], list[b.ID].Areas[0] = "changed", "changed"
	if got := get(w.svc, fresh, b.ID); got.Names["it"] != "" || got.Areas[0] != "pq" {
		t.Fatalf("a change to a copy of an authority read reached the memo: %+v", got)
	}
	if got := get(w.svc, w.ctx, b.ID); got.Names["it"] != "" || got.Areas[0] != "pq" {
		t.Fatalf("a change to a copy of an authority read reached what is kept: %+v", got)
	}
	reads(4)
	// Several changes in one transaction raise the revision once on
	// PostgreSQL, at the commit.
	change("a status and a name", 1, `UPDATE authorities SET status = 'deactivated' WHERE id = $1`,
		`INSERT INTO authority_texts (authority_id, language, name) VALUES ($1, 'fr', 'Chambre des médecins')`,
		`UPDATE authorities SET phone = '+49 30 2' WHERE id <> $1`)
	if got := get(w.svc, w.ctx, a.ID); got.Status != authorities.Deactivated || got.Names["fr"] != "Chambre des médecins" {
		t.Fatalf("after the change: %+v", got)
	}
	if got := get(other, w.ctx, b.ID); got.Phone != "+49 30 2" {
		t.Fatalf("the other authority's phone: %q", got.Phone)
	}

	// A change to a list alone raises the authority's revision (migration
	// 14), an update of its row: the registry's too.
	change("a name alone", 1, `UPDATE authority_texts SET name = 'Ordre des médecins' WHERE authority_id = $1 AND language = 'fr'`)
	if got := get(other, w.ctx, a.ID); got.Names["fr"] != "Ordre des médecins" {
		t.Fatalf("after a name changed: %v", got.Names)
	}
	// Through the other server's service: this one sees it.
	get(w.svc, w.ctx, b.ID)
	in := authorities.Input{Country: "DE", Name: "Ärztekammer Hamburg", Language: "de", Kind: authorities.CompetentAuthority, Areas: []string{"pq"},
		Email: "office@hamburg.example"}
	if _, err := other.Update(w.ctx, authorities.System(), b.ID, in); err != nil {
		t.Fatal(err)
	}
	if got := get(w.svc, w.ctx, b.ID); got.Email != "office@hamburg.example" {
		t.Fatalf("after another server's update: %q", got.Email)
	}

	// Rolled back: the revision stays, and what is kept still answers.
	get(w.svc, w.ctx, a.ID)
	before, made := registry(), w.svc.RegistryReads()
	errUndo := errors.New("undo")
	if err := w.db.InTx(w.ctx, func(tx db.Querier) error {
		if _, err := tx.ExecContext(w.ctx, `UPDATE authorities SET phone = '+49 30 3' WHERE id = $1`, a.ID); err != nil {
			return err
		}
		return errUndo
	}); !errors.Is(err, errUndo) {
		t.Fatal(err)
	}
	if registry() != before {
		t.Fatal("a change rolled back raised the registry revision")
	}
	if got := get(w.svc, w.ctx, a.ID); got.Phone != "+49 30 1" || w.svc.RegistryReads() != made {
		t.Fatalf("after a rollback: phone %q, %d reads (%d before)", got.Phone, w.svc.RegistryReads(), made)
	}
	// A deleted authority is not found, on any server.
	change("a deletion", 1, `DELETE FROM authority_texts WHERE authority_id = $1`, `DELETE FROM authority_areas WHERE authority_id = $1`,
		`DELETE FROM authorities WHERE id = $1`)
	for i, svc := range []*authorities.Service{w.svc, other} {
		if _, err := svc.Get(w.ctx, a.ID); !errors.Is(err, db.ErrNotFound) {
			t.Fatalf("server %d found the deleted authority: %v", i+1, err)
		}
	}
}

// A user's roles, read for every page, are kept under the registry
// revision too: a change to them, through the service or in SQL, is seen
// at once, by every server.
func TestKeptRolesFollowTheRegistryRevision(t *testing.T) {
	w := newWorld(t)
	de := w.authority("DE", "Ärztekammer Berlin", authorities.CompetentAuthority, "pq", "services")
	member := w.user(de, "arzt@berlin.example", "request_handler")
	other := authorities.New(w.db, mustRegistry(t), w.auth, "http://imi.test", nil) // a second server
	roles := func(svc *authorities.Service) []authorities.UserRole {
		t.Helper()
		a, err := svc.ActorFor(authorities.WithMemo(w.ctx), member.UserID)
		if err != nil {
			t.Fatal(err)
		}
		return a.Roles
	}
	want := func(step string, list ...authorities.UserRole) {
		t.Helper()
		for i, svc := range []*authorities.Service{w.svc, other} {
			if got := roles(svc); !slices.Equal(got, list) {
				t.Fatalf("%s: server %d read %v, want %v", step, i+1, got, list)
			}
		}
	}
	want("at first", authorities.UserRole{Role: "request_handler"})
	made := w.svc.RolesReads()
	want("again", authorities.UserRole{Role: "request_handler"})
	if w.svc.RolesReads() != made {
		t.Fatal("roles read again without a change")
	}
	if err := w.svc.Assign(w.ctx, member.UserID, de.ID, []authorities.UserRole{{Role: "allocator"}, {Role: "alert_handler", Area: "services"}}); err != nil {
		t.Fatal(err)
	}
	want("assigned", authorities.UserRole{Role: "alert_handler", Area: "services"}, authorities.UserRole{Role: "allocator"})
	if err := w.db.InTx(w.ctx, func(tx db.Querier) error {
		_, err := tx.ExecContext(w.ctx, `DELETE FROM user_roles WHERE user_id = $1 AND role = 'allocator'`, member.UserID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	want("deleted in SQL", authorities.UserRole{Role: "alert_handler", Area: "services"})
}

func mustRegistry(t *testing.T) *areas.Registry {
	t.Helper()
	reg, err := areas.Open(shipped.Files, "")
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// A page makes the signed-in user's actor from the user read with the
// session (ActorOf): it is the actor ActorFor reads, with an authority or
// without one.
func TestTheActorOfAUserReadWithTheSessionIsTheirActor(t *testing.T) {
	w := newWorld(t)
	de := w.authority("DE", "Ärztekammer Berlin", authorities.CompetentAuthority, "services", "pq")
	member := w.user(de, "arzt@berlin.example", "request_handler", "alert_handler")
	loner, err := w.auth.CreateUser(w.ctx, auth.NewUser{Email: "loner@example.eu", Name: "Loner", Password: testkit.Password, Language: "fr"})
	if err != nil {
		t.Fatal(err)
	}
	for id, authority := range map[string]string{member.UserID: de.ID, loner.ID: ""} {
		u, err := w.auth.UserByID(w.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if u.AuthorityID != authority {
			t.Fatalf("user %s: authority %q, want %q", u.Email, u.AuthorityID, authority)
		}
		of, err := w.svc.ActorOf(w.ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		byID, err := w.svc.ActorFor(w.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(of, byID) {
			t.Fatalf("ActorOf  %+v\nActorFor %+v", of, byID)
		}
	}
	// The lists come back sorted, whatever order they were given in.
	if got := member.Authority.Areas; !slices.Equal(got, []string{"pq", "services"}) {
		t.Fatalf("areas %v, want [pq services]", got)
	}
	if len(member.Roles) != 2 || member.Language != "" {
		t.Fatalf("the member's actor: %+v", member)
	}
}

// A form's memo reads the registry revision once, or takes its
// session's, until one of its transactions ends (committed or not): what
// it reads then is read again, its own change with it.
func TestAFormsMemoForgetsOnceItsTransactionEnds(t *testing.T) {
	w := newWorld(t)
	a := w.authority("DE", "Ärztekammer Berlin", authorities.CompetentAuthority, "pq")
	var revision int64
	if err := w.db.Read().QueryRowContext(w.ctx, `SELECT revision FROM registry_revision WHERE id = 1`).Scan(&revision); err != nil {
		t.Fatal(err)
	}
	form := authorities.WithFormMemoAge(w.ctx, time.Hour)
	authorities.KnowRevision(form, revision)
	phone := func(want string, reads int64) {
		t.Helper()
		before := w.svc.RevisionReads()
		got, err := w.svc.Get(form, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Phone != want || w.svc.RevisionReads()-before != reads {
			t.Fatalf("the form read the phone %q and the revision %d times, want %q and %d", got.Phone, w.svc.RevisionReads()-before, want, reads)
		}
	}
	phone("", 0)
	phone("", 0)
	change := func(to string, fail bool) error {
		return w.db.InTx(form, func(tx db.Querier) error {
			if _, err := tx.ExecContext(form, `UPDATE authorities SET phone = $1 WHERE id = $2`, to, a.ID); err != nil {
				return err
			}
			if fail {
				return errors.New("refused")
			}
			return nil
		})
	}
	if err := change("+49 30 1", false); err != nil {
		t.Fatal(err)
	}
	phone("+49 30 1", 1) // read again, once
	phone("+49 30 1", 0)
	// A transaction rolled back forgets too (it changed nothing).
	if err := change("+49 30 2", true); err == nil {
		t.Fatal("the change was not refused")
	}
	phone("+49 30 1", 1)
	// A form told an older revision keeps it while it is young enough,
	// and reads the revision again once it is not (a body slow to arrive).
	form = authorities.WithFormMemoAge(w.ctx, 200*time.Millisecond)
	authorities.KnowRevision(form, revision)
	reads := func(want int64) {
		t.Helper()
		before := w.svc.RevisionReads()
		if _, err := w.svc.Get(form, a.ID); err != nil {
			t.Fatal(err)
		}
		if n := w.svc.RevisionReads() - before; n != want {
			t.Fatalf("the form read the revision %d times, want %d", n, want)
		}
	}
	reads(0)
	time.Sleep(250 * time.Millisecond)
	phone("+49 30 1", 1)
	phone("+49 30 1", 0)
}
