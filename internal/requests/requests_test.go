package requests_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	shipped "github.com/openimi/openimi/areas"
	"github.com/openimi/openimi/internal/areas"
	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/db/dbtest"
	"github.com/openimi/openimi/internal/problem"
	"github.com/openimi/openimi/internal/requests"
	"github.com/openimi/openimi/internal/testkit"
)

// world is a small network: German and Polish coordinators and competent
// authorities for professional qualifications, each with its users, and a
// clock the test moves.
type world struct {
	t     *testing.T
	ctx   context.Context
	db    *db.DB
	auth  *auth.Service
	auths *authorities.Service
	svc   *requests.Service
	store requests.DirStore
	now   time.Time

	deNC, plNC, deCA, plCA, plCA2, frCA                 *authorities.Authority
	deHandler, plAllocator, plHandler, pl2Handler       authorities.Actor
	deCoordinator, plCoordinator, frHandler, deStranger authorities.Actor
}

func newWorld(t *testing.T) *world { return newWorldWith(t, "") }

// newWorldWith runs on the shipped packs, with the pq pack replaced by a
// copy whose workflow options are followed by extra (YAML lines).
func newWorldWith(t *testing.T, extra string) *world {
	t.Helper()
	d := dbtest.Open(t)
	dir := ""
	if extra != "" {
		dir = t.TempDir()
		if err := os.CopyFS(filepath.Join(dir, "pq"), mustSub(t, "pq")); err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(dir, "pq", "area.yaml")
		raw, _ := os.ReadFile(file)
		changed := strings.Replace(string(raw), "  alerts: true\n", "  alerts: true\n"+extra, 1)
		if changed == string(raw) {
			t.Fatal("the pq pack's workflow options moved")
		}
		if err := os.WriteFile(file, []byte(changed), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	reg, err := areas.Open(shipped.Files, dir)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, ctx: context.Background(), db: d, now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	clock := func() time.Time { return w.now }
	w.auth = auth.New(d, auth.Settings{PublicURL: "http://imi.test"}, clock)
	w.auths = authorities.New(d, reg, w.auth, "http://imi.test", clock)
	w.svc, err = requests.New(d, reg, w.auths, "http://imi.test", clock)
	if err != nil {
		t.Fatal(err)
	}
	w.store = requests.DirStore{Dir: t.TempDir()}
	w.svc.UseStore(w.store, 1<<20)
	w.deNC = w.authority("DE", "Bundesministerium für Wirtschaft", authorities.NationalCoordinator)
	w.plNC = w.authority("PL", "Ministerstwo Rozwoju", authorities.NationalCoordinator)
	w.authority("FR", "Ministère de l'Économie", authorities.NationalCoordinator)
	w.deCA = w.authority("DE", "Ärztekammer Berlin", authorities.CompetentAuthority)
	w.plCA = w.authority("PL", "Naczelna Izba Lekarska", authorities.CompetentAuthority)
	w.plCA2 = w.authority("PL", "Okręgowa Izba Lekarska w Krakowie", authorities.CompetentAuthority)
	w.frCA = w.authority("FR", "Ordre des médecins", authorities.CompetentAuthority)
	w.deHandler = w.user(w.deCA, "handler@de.example", "request_handler")
	w.deStranger = w.user(w.deCA, "alerts@de.example", "alert_handler")
	w.plAllocator = w.user(w.plCA, "allocator@pl.example", "allocator")
	w.plHandler = w.user(w.plCA, "handler@pl.example", "request_handler")
	w.pl2Handler = w.user(w.plCA2, "handler@krakow.example", "request_handler")
	w.deCoordinator = w.user(w.deNC, "coordinator@de.example", "coordinator")
	w.plCoordinator = w.user(w.plNC, "coordinator@pl.example", "coordinator")
	w.frHandler = w.user(w.frCA, "handler@fr.example", "request_handler")
	// Whatever a test did, the kept counts of every box still equal its
	// rows, for every member of the world.
	t.Cleanup(func() { w.checkCounts("at the end of the test") })
	return w
}

// checkCounts compares the tabs' counts, kept by the database, with the
// rows each box holds, for every actor of the world.
func (w *world) checkCounts(when string) {
	w.t.Helper()
	for _, a := range []authorities.Actor{w.deHandler, w.plAllocator, w.plHandler, w.pl2Handler, w.deCoordinator, w.plCoordinator, w.frHandler, w.deStranger} {
		counts, err := w.svc.Counts(w.ctx, a)
		if err != nil {
			w.t.Fatal(err)
		}
		for _, box := range requests.Boxes {
			rows, err := w.svc.CountRows(w.ctx, a, box)
			if err != nil {
				w.t.Fatal(err)
			}
			if counts[box] != rows {
				w.t.Errorf("%s, %s's box %s counts %d, holds %d", when, a.UserID, box, counts[box], rows)
			}
		}
	}
}

func mustSub(t *testing.T, dir string) fs.FS {
	sub, err := fs.Sub(shipped.Files, dir)
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

func (w *world) authority(country, name string, kind authorities.Kind) *authorities.Authority {
	w.t.Helper()
	a, err := w.auths.Register(w.ctx, authorities.System(), authorities.Input{Country: country, Name: name, Language: "en", Kind: kind,
		Areas: []string{"pq"}, Email: "office@" + strings.ToLower(country) + ".example"})
	if err != nil {
		w.t.Fatalf("register %s: %v", name, err)
	}
	return a
}

func (w *world) user(a *authorities.Authority, email string, roles ...string) authorities.Actor {
	w.t.Helper()
	return testkit.Member(w.t, w.auth, w.auths, a, email, "", roles...)
}

// draft is a complete request from the German chamber to the Polish one.
func (w *world) draft() *requests.Request {
	w.t.Helper()
	r, err := w.svc.Create(w.ctx, w.deHandler, requests.DraftInput{Area: "pq", QuestionSet: "authenticity",
		Questions: []string{"diploma_authentic", "diploma_issuer_competent"}, ResponderID: w.plCA.ID,
		Subject: map[string]string{"name": "Jan Kowalski", "profession": "doctor", "date_of_birth": "1980-04-01"}, Message: "Please check the enclosed diploma."})
	if err != nil {
		w.t.Fatal(err)
	}
	return r
}

func (w *world) act(actor authorities.Actor, id, action string, in requests.Input) *requests.Request {
	w.t.Helper()
	r, err := w.svc.Act(w.ctx, actor, id, action, in)
	if err != nil {
		w.t.Fatalf("%s: %v", action, err)
	}
	return r
}

func (w *world) count(query string, args ...any) int {
	w.t.Helper()
	var n int
	if err := w.db.Read().QueryRowContext(w.ctx, query, args...).Scan(&n); err != nil {
		w.t.Fatal(err)
	}
	return n
}

func answers() map[string]requests.Answer {
	return map[string]requests.Answer{"diploma_authentic": {Value: "yes"}, "diploma_issuer_competent": {Value: "unknown", Text: "The faculty merged in 2005."}}
}

func TestARequestFromDraftToClosure(t *testing.T) {
	w := newWorld(t)
	r := w.draft()
	if r.State != requests.Draft || !strings.HasPrefix(r.Reference, "PQ-2026-") || !r.ReplyBy.Equal(w.now.AddDate(0, 0, 14)) {
		t.Fatalf("%+v", r)
	}
	if second := w.draft(); second.Reference == r.Reference {
		t.Fatal("two requests share a reference")
	}
	// The responder does not see a draft.
	if _, err := w.svc.Get(w.ctx, w.plHandler, r.ID); !isKind(err, problem.NotFound) {
		t.Fatalf("the responder saw a draft: %v", err)
	}
	r = w.act(w.deHandler, r.ID, "send", requests.Input{})
	if r.State != requests.Sent || r.SentAt == nil {
		t.Fatalf("send: %+v", r)
	}
	w.now = w.now.Add(48 * time.Hour)
	got, err := w.svc.Get(w.ctx, w.plAllocator, r.ID)
	if err != nil || !got.PersonalShown || got.Subject["name"] != "Jan Kowalski" || strings.Join(got.Actions, ",") != "accept,attach,comment,decline,forward,reallocate,refer,split" {
		t.Fatalf("the responder's view: %+v %v", got, err)
	}
	r = w.act(w.plAllocator, r.ID, "accept", requests.Input{})
	// Further information: the clock stops while the responder waits.
	w.act(w.plHandler, r.ID, "request_info", requests.Input{Comment: "Which university issued the diploma?"})
	w.now = w.now.Add(72 * time.Hour)
	r = w.act(w.deHandler, r.ID, "provide_info", requests.Input{Comment: "Uniwersytet Jagielloński."})
	if r.StoppedSeconds != 72*3600 || r.StoppedAt != nil {
		t.Fatalf("clock stopped for %d s", r.StoppedSeconds)
	}
	// A new reply date, proposed and accepted.
	later := r.ReplyBy.AddDate(0, 0, 7)
	w.act(w.plHandler, r.ID, "propose_date", requests.Input{ReplyBy: later})
	r = w.act(w.deHandler, r.ID, "accept_date", requests.Input{})
	if !r.ReplyBy.Equal(later) || r.ProposedReplyBy != nil {
		t.Fatalf("reply date %v, proposal %v", r.ReplyBy, r.ProposedReplyBy)
	}
	// An incomplete answer is refused and changes nothing.
	if _, err := w.svc.Act(w.ctx, w.plHandler, r.ID, "answer", requests.Input{Answers: map[string]requests.Answer{"diploma_authentic": {Value: "yes"}}}); !isKind(err, problem.Invalid) {
		t.Fatalf("an incomplete answer: %v", err)
	}
	r = w.act(w.plHandler, r.ID, "answer", requests.Input{Answers: answers()})
	// Each answer is stored on its own question (all in one statement).
	if r.State != requests.Answered || r.Questions[0].Code != "diploma_authentic" || r.Questions[0].Answer != "yes" || r.Questions[0].AnswerText != "" ||
		r.Questions[1].Answer != "unknown" || r.Questions[1].AnswerText != "The faculty merged in 2005." {
		t.Fatalf("answer: %+v", r)
	}
	// A follow-up question reopens it; the second answer closes it.
	w.act(w.deHandler, r.ID, "reopen", requests.Input{Comment: "Was the faculty accredited in 2004?"})
	w.act(w.plHandler, r.ID, "answer", requests.Input{Answers: answers()})
	r = w.act(w.deHandler, r.ID, "close", requests.Input{RatingTime: 5, RatingEffort: 4})
	if r.State != requests.Closed || r.ClosedAt == nil || *r.RatingTime != 5 || strings.Join(r.Actions, ",") != "attach" {
		t.Fatalf("close: %+v", r)
	}
	events := w.count(`SELECT COUNT(*) FROM case_events WHERE case_id = $1`, r.ID)
	if events != 11 { // create, send, accept, request_info, provide_info, propose_date, accept_date, answer, reopen, answer, close
		t.Fatalf("%d events", events)
	}
	// Both sides' users were told, by e-mail, without personal data.
	var body string
	if err := w.db.Read().QueryRowContext(w.ctx, `SELECT payload FROM outbox WHERE recipient = 'handler@pl.example' LIMIT 1`).Scan(&body); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, r.Reference) || strings.Contains(body, "Kowalski") {
		t.Fatalf("notification: %s", body)
	}
}

func isKind(err error, k problem.Kind) bool {
	p, ok := problem.As(err)
	return ok && p.Kind == k
}

func TestRefusedActionsChangeNothing(t *testing.T) {
	w := newWorld(t)
	r := w.draft()
	r = w.act(w.deHandler, r.ID, "send", requests.Input{})
	before := w.count(`SELECT COUNT(*) FROM case_events`)
	for _, c := range []struct {
		actor  authorities.Actor
		action string
		in     requests.Input
		kind   problem.Kind
	}{
		{w.deHandler, "accept", requests.Input{}, problem.Conflict},                                       // the requester cannot accept
		{w.deStranger, "withdraw", requests.Input{}, problem.Conflict},                                    // same authority, without the role
		{w.frHandler, "accept", requests.Input{}, problem.NotFound},                                       // another authority sees nothing
		{w.plAllocator, "decline", requests.Input{}, problem.Invalid},                                     // a reason is required
		{w.plAllocator, "answer", requests.Input{Answers: answers()}, problem.Conflict},                   // not accepted yet
		{w.plAllocator, "forward", requests.Input{Comment: "x", ResponderID: w.deNC.ID}, problem.Invalid}, // back to the requester's country
		{w.plAllocator, "no_such_action", requests.Input{}, problem.Conflict},
	} {
		if _, err := w.svc.Act(w.ctx, c.actor, r.ID, c.action, c.in); !isKind(err, c.kind) {
			t.Errorf("%s by %s: %v", c.action, c.actor.UserID, err)
		}
	}
	if after := w.count(`SELECT COUNT(*) FROM case_events`); after != before {
		t.Fatalf("refusals wrote %d events", after-before)
	}
	if got, _ := w.svc.Get(w.ctx, w.deHandler, r.ID); got.State != requests.Sent {
		t.Fatalf("state %s", got.State)
	}
}

func TestForwardMovesTheRequestAndItsPersonalData(t *testing.T) {
	w := newWorld(t)
	r := w.draft()
	w.act(w.deHandler, r.ID, "send", requests.Input{})
	r = w.act(w.plAllocator, r.ID, "forward", requests.Input{Comment: "The regional chamber keeps this register.", ResponderID: w.plCA2.ID})
	if r.State != requests.Sent || r.SubjectName != "" {
		t.Fatalf("the forwarder learns only that it is done: %+v", r)
	}
	if mine, err := w.svc.Get(w.ctx, w.deHandler, r.ID); err != nil || mine.ResponderID != w.plCA2.ID {
		t.Fatalf("the requester sees the new responder: %+v %v", mine, err)
	}
	// The first responder no longer sees it; the new one does, with its data.
	if _, err := w.svc.Get(w.ctx, w.plAllocator, r.ID); !isKind(err, problem.NotFound) {
		t.Fatalf("the former responder still sees it: %v", err)
	}
	got, err := w.svc.Get(w.ctx, w.pl2Handler, r.ID)
	if err != nil || got.SubjectName == "" {
		t.Fatalf("%+v %v", got, err)
	}
	w.act(w.pl2Handler, r.ID, "accept", requests.Input{})
}

func TestCoordinatorsFollowWithoutPersonalData(t *testing.T) {
	w := newWorld(t)
	r := w.draft()
	w.act(w.deHandler, r.ID, "send", requests.Input{})
	for c, actions := range map[*authorities.Actor]string{&w.deCoordinator: "comment", &w.plCoordinator: "comment,forward,split"} {
		got, err := w.svc.Get(w.ctx, *c, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.PersonalShown || got.SubjectName != "" || got.Subject != nil || got.Message != "" {
			t.Fatalf("a coordinator saw personal data: %+v", got)
		}
		if strings.Join(got.Actions, ",") != actions {
			t.Fatalf("coordinator actions %v", got.Actions)
		}
	}
	w.act(w.plCoordinator, r.ID, "comment", requests.Input{Comment: "Please accept this within 7 days."})
	// Viewing personal data is audited; a coordinator's view is not such a view.
	if n := w.count(`SELECT COUNT(*) FROM audit_log WHERE event = 'personal_data.viewed'`); n == 0 {
		t.Fatal("personal data views are not audited")
	}
}

func TestApprovalWhereTheCountryRequiresIt(t *testing.T) {
	// The shipped pq pack needs no approval; a pack option switches it on
	// per country: here for requests sent from Germany.
	w := newWorldWith(t, "  countries:\n    DE:\n      outgoing_approval: true\n")
	r := w.draft()
	if _, err := w.svc.Act(w.ctx, w.deHandler, r.ID, "send", requests.Input{}); !isKind(err, problem.Conflict) {
		t.Fatalf("sent without approval: %v", err)
	}
	r = w.act(w.deHandler, r.ID, "submit", requests.Input{})
	if r.State != requests.AwaitingApproval {
		t.Fatal(r.State)
	}
	if _, err := w.svc.Get(w.ctx, w.plHandler, r.ID); !isKind(err, problem.NotFound) {
		t.Fatal("the responder sees a request its coordinator has not approved")
	}
	// What waits for approval follows its authority to another country
	// in the coordinators' counts (the Commission may move one).
	todo := func() int {
		n, err := w.svc.Count(w.ctx, w.deCoordinator, requests.ToDo)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	move := func(country string) {
		if err := w.db.InTx(w.ctx, func(tx db.Querier) error {
			_, err := tx.ExecContext(w.ctx, `UPDATE authorities SET country = $1 WHERE id = $2`, country, w.deCA.ID)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		w.checkCounts("after the requester moved to " + country)
	}
	if todo() != 1 {
		t.Fatalf("the German coordinator's to-do counts %d, want 1", todo())
	}
	move("AT")
	if todo() != 0 {
		t.Fatalf("after the move, the German coordinator's to-do counts %d, want 0", todo())
	}
	move("DE")
	r = w.act(w.deCoordinator, r.ID, "return", requests.Input{Comment: "Add the date of birth."})
	if r.State != requests.Draft {
		t.Fatal(r.State)
	}
	w.act(w.deHandler, r.ID, "submit", requests.Input{})
	r = w.act(w.deCoordinator, r.ID, "approve", requests.Input{})
	if r.State != requests.Sent || r.SentAt == nil {
		t.Fatal(r.State)
	}
}

func TestTwoAllocatorsAcceptAtOnce(t *testing.T) {
	w := newWorld(t)
	r := w.draft()
	w.act(w.deHandler, r.ID, "send", requests.Input{})
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, a := range []authorities.Actor{w.plAllocator, w.plHandler} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = w.svc.Act(w.ctx, a, r.ID, "accept", requests.Input{})
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !isKind(err, problem.Conflict):
			t.Fatalf("not a clear conflict: %v", err)
		}
	}
	if won != 1 || w.count(`SELECT COUNT(*) FROM case_events WHERE case_id = $1 AND action = 'accept'`, r.ID) != 1 {
		t.Fatalf("%d accepted: %v", won, errs)
	}
}

// Requests crossing between two authorities in both directions, moved on
// by both sides at once, move the same counts in opposite directions:
// every step succeeds (on PostgreSQL no transaction waits for another's
// counts in the opposite order) and the counts still equal the rows.
func TestCountsOfRequestsCrossingAtOnce(t *testing.T) {
	w := newWorld(t)
	const each = 6
	var toPL, toDE []string
	for range each {
		r := w.draft()
		w.act(w.deHandler, r.ID, "send", requests.Input{})
		toPL = append(toPL, r.ID)
		back, err := w.svc.Create(w.ctx, w.plHandler, requests.DraftInput{Area: "pq", QuestionSet: "authenticity",
			Questions: []string{"diploma_authentic"}, ResponderID: w.deCA.ID,
			Subject: map[string]string{"name": "Anna Schmidt", "profession": "doctor", "date_of_birth": "1985-02-03"}, Message: "Please check."})
		if err != nil {
			t.Fatal(err)
		}
		w.act(w.plHandler, back.ID, "send", requests.Input{})
		toDE = append(toDE, back.ID)
	}
	for _, step := range []struct {
		action string
		in     requests.Input
	}{{"accept", requests.Input{}}, {"request_info", requests.Input{Comment: "Which year?"}}} {
		var wg sync.WaitGroup
		errs := make(chan error, 2*each)
		for i := range each {
			for _, x := range []struct {
				actor authorities.Actor
				id    string
			}{{w.plHandler, toPL[i]}, {w.deHandler, toDE[i]}} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := w.svc.Act(w.ctx, x.actor, x.id, step.action, step.in); err != nil {
						errs <- err
					}
				}()
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("%s at once: %v", step.action, err)
		}
		w.checkCounts("after " + step.action + " at once")
	}
	counts, err := w.svc.Counts(w.ctx, w.deHandler)
	if err != nil || counts[requests.ToDo] != each || counts[requests.Outgoing] != each || counts[requests.Incoming] != each {
		t.Fatalf("the German chamber's counts %v (%v), want %d to do, sent and received", counts, err, each)
	}
}

func TestWithdrawAndDecline(t *testing.T) {
	w := newWorld(t)
	a := w.draft()
	w.act(w.deHandler, a.ID, "send", requests.Input{})
	a = w.act(w.deHandler, a.ID, "withdraw", requests.Input{Comment: "Sent by mistake."})
	if a.State != requests.Withdrawn || a.ClosedAt == nil {
		t.Fatal(a.State)
	}
	b := w.draft()
	w.act(w.deHandler, b.ID, "send", requests.Input{})
	b = w.act(w.plAllocator, b.ID, "decline", requests.Input{Comment: "We hold no register of diplomas."})
	if b.State != requests.Declined {
		t.Fatal(b.State)
	}
	if _, err := w.svc.Act(w.ctx, w.deHandler, b.ID, "withdraw", requests.Input{}); !errors.As(err, new(*problem.Error)) {
		t.Fatalf("withdrawn after the end: %v", err)
	}
}

func TestIdempotencyKeysMakeRepeatsHarmless(t *testing.T) {
	w := newWorld(t)
	d := requests.DraftInput{Area: "pq", QuestionSet: "authenticity", Questions: []string{"diploma_authentic"}, ResponderID: w.plCA.ID,
		Subject: map[string]string{"name": "Anna Nowak", "profession": "nurse_general_care"}, IdempotencyKey: "client-42"}
	a, err := w.svc.Create(w.ctx, w.deHandler, d)
	if err != nil {
		t.Fatal(err)
	}
	b, err := w.svc.Create(w.ctx, w.deHandler, d)
	if err != nil || b.ID != a.ID || w.count(`SELECT COUNT(*) FROM requests`) != 1 {
		t.Fatalf("a repeated create made another request: %v", err)
	}
	for range 2 {
		if r, err := w.svc.Act(w.ctx, w.deHandler, a.ID, "send", requests.Input{IdempotencyKey: "send-1"}); err != nil || r.State != requests.Sent {
			t.Fatalf("send: %v", err)
		}
	}
	if n := w.count(`SELECT COUNT(*) FROM case_events WHERE case_id = $1 AND action = 'send'`, a.ID); n != 1 {
		t.Fatalf("sent %d times", n)
	}
	// The same key for something else is refused.
	if _, err := w.svc.Act(w.ctx, w.deHandler, a.ID, "withdraw", requests.Input{IdempotencyKey: "send-1"}); !isKind(err, problem.Conflict) {
		t.Fatalf("a reused key: %v", err)
	}
}

func TestInboxAndTimeline(t *testing.T) {
	w := newWorld(t)
	a := w.draft()
	w.act(w.deHandler, a.ID, "send", requests.Input{})
	w.draft() // stays a draft
	box := func(actor authorities.Actor, name string, f requests.Filter) int {
		t.Helper()
		list, total, err := w.svc.Inbox(w.ctx, actor, name, f)
		if err != nil || len(list) != total {
			t.Fatalf("%s: %d of %d, %v", name, len(list), total, err)
		}
		return total
	}
	if box(w.deHandler, requests.Outgoing, requests.Filter{}) != 1 || box(w.deHandler, requests.Drafts, requests.Filter{}) != 1 ||
		box(w.plAllocator, requests.ToDo, requests.Filter{}) != 1 || box(w.plAllocator, requests.Incoming, requests.Filter{}) != 1 ||
		box(w.frHandler, requests.Incoming, requests.Filter{}) != 0 {
		t.Fatal("boxes")
	}
	// The parties find a request by the subject's name; nobody else does.
	if box(w.plHandler, requests.Incoming, requests.Filter{Text: "kowalski"}) != 1 || box(w.plHandler, requests.Incoming, requests.Filter{Text: a.Reference}) != 1 {
		t.Fatal("a party cannot find it")
	}
	if box(w.plHandler, requests.Incoming, requests.Filter{Country: "DE"}) != 1 || box(w.plHandler, requests.Incoming, requests.Filter{Country: "FR"}) != 0 ||
		box(w.deHandler, requests.Outgoing, requests.Filter{Country: "PL"}) != 1 || box(w.deHandler, requests.Outgoing, requests.Filter{Country: "DE"}) != 0 {
		t.Fatal("the country filter")
	}
	if box(w.plHandler, requests.Incoming, requests.Filter{Text: "%"}) != 0 {
		t.Fatal("LIKE syntax in a search")
	}
	w.now = w.now.AddDate(0, 1, 0)
	if box(w.plHandler, requests.Incoming, requests.Filter{Overdue: true}) != 1 {
		t.Fatal("not overdue after a month")
	}
	if _, _, err := w.svc.Inbox(w.ctx, w.plHandler, "nonsense", requests.Filter{}); !isKind(err, problem.Invalid) {
		t.Fatalf("unknown box: %v", err)
	}
	w.act(w.deCoordinator, a.ID, "comment", requests.Input{Comment: "Noted."})
	w.act(w.plAllocator, a.ID, "decline", requests.Input{Comment: "Jan Kowalski is not registered with us."})
	for _, c := range []struct {
		actor    authorities.Actor
		personal bool
	}{{w.deHandler, true}, {w.plHandler, true}, {w.deCoordinator, false}} {
		tl, err := w.svc.Timeline(w.ctx, c.actor, a.ID)
		if err != nil || len(tl) != 4 {
			t.Fatalf("timeline: %d %v", len(tl), err)
		}
		if seen := tl[3].Comment != ""; seen != c.personal {
			t.Fatalf("the decline's reason shown to %s: %v", c.actor.UserID, seen)
		}
		if tl[2].Comment != "Noted." {
			t.Fatal("a coordinator's comment is hidden")
		}
		// Every event names its authority: the parties' names come with
		// the request, the coordinator's is read.
		for _, e := range tl {
			a, err := w.auths.Get(w.ctx, e.AuthorityID)
			if err != nil || e.Authority != a.Name || a.Name == "" {
				t.Fatalf("%s by %q, of authority %s: %v", e.Action, e.Authority, e.AuthorityID, err)
			}
		}
		if tl[2].AuthorityID == tl[0].AuthorityID || tl[2].AuthorityID == tl[3].AuthorityID {
			t.Fatal("the coordinator's comment is by a party")
		}
	}
	if _, err := w.svc.Timeline(w.ctx, w.frHandler, a.ID); !isKind(err, problem.NotFound) {
		t.Fatalf("a stranger read the timeline: %v", err)
	}
}

// The inbox's pages read brief rows (Filter.Brief): each holds what the
// whole request holds of what a row shows, and its viewer sees of it what
// they would see of the whole request: the subject of a request whose
// personal data is blocked is named to nobody, and that of any request to
// nobody but the parties (here a coordinator who approves what is sent).
func TestBriefRowsHoldWhatTheWholeRequestsDo(t *testing.T) {
	w := newWorldWith(t, "  countries:\n    DE:\n      outgoing_approval: true\n")
	sent := func() *requests.Request {
		r := w.draft()
		w.act(w.deHandler, r.ID, "submit", requests.Input{})
		w.act(w.deCoordinator, r.ID, "approve", requests.Input{})
		return r
	}
	accepted := sent()
	w.act(w.plAllocator, accepted.ID, "accept", requests.Input{})
	w.act(w.plHandler, accepted.ID, "request_info", requests.Input{Comment: "Which year?"}) // the requester's to do
	blocked := sent()
	if err := w.db.InTx(w.ctx, func(tx db.Querier) error {
		_, err := tx.ExecContext(w.ctx, `UPDATE requests SET blocked_at = $1 WHERE id = $2`, w.now, blocked.ID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	waiting := w.draft()
	w.act(w.deHandler, waiting.ID, "submit", requests.Input{})
	w.draft()
	seen := map[string]*requests.Request{} // by viewer and request
	for _, c := range []struct {
		actor authorities.Actor
		box   string
	}{{w.deHandler, requests.Outgoing}, {w.deHandler, requests.ToDo}, {w.deHandler, requests.Drafts}, {w.plHandler, requests.Incoming},
		{w.plAllocator, requests.ToDo}, {w.deCoordinator, requests.ToDo}} {
		whole, total, err := w.svc.Inbox(w.ctx, c.actor, c.box, requests.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		brief, briefTotal, err := w.svc.Inbox(w.ctx, c.actor, c.box, requests.Filter{Brief: true})
		if err != nil || briefTotal != total || len(brief) != len(whole) || len(whole) == 0 {
			t.Fatalf("%s, %s: %d brief rows of %d, %d whole of %d, %v", c.actor.UserID, c.box, len(brief), briefTotal, len(whole), total, err)
		}
		for i, b := range brief {
			x := whole[i]
			if b.ID != x.ID || b.Reference != x.Reference || b.Area != x.Area || b.State != x.State ||
				b.RequesterID != x.RequesterID || b.ResponderID != x.ResponderID || !b.ReplyBy.Equal(x.ReplyBy) || b.ReplyBy.Location() != time.UTC ||
				b.SubjectName != x.SubjectName || b.PersonalShown != x.PersonalShown || (b.BlockedAt == nil) != (x.BlockedAt == nil) ||
				!slices.Equal(b.Parties, x.Parties) || b.Requester == nil || b.Requester.ID != x.Requester.ID || (b.Responder == nil) != (x.Responder == nil) {
				t.Fatalf("%s, %s: brief row\n%+v\nof the whole\n%+v", c.actor.UserID, c.box, b, x)
			}
			// Brief: nothing else was read.
			if b.Subject != nil || b.Message != "" || b.Actions != nil || b.CreatedBy != "" || !b.CreatedAt.IsZero() || b.SentAt != nil || x.CreatedBy == "" {
				t.Fatalf("a brief row holds more: %+v", b)
			}
			seen[c.actor.UserID+" "+b.ID] = b
		}
	}
	name := func(viewer authorities.Actor, r *requests.Request) string {
		t.Helper()
		b := seen[viewer.UserID+" "+r.ID]
		if b == nil {
			t.Fatalf("%s not listed for %s", r.Reference, viewer.UserID)
		}
		if b.PersonalShown != (b.SubjectName != "") {
			t.Fatalf("%s for %s: personal data shown %v, subject %q", r.Reference, viewer.UserID, b.PersonalShown, b.SubjectName)
		}
		return b.SubjectName
	}
	if n := name(w.plHandler, accepted); !strings.HasPrefix(n, "Jan Kowalski") {
		t.Fatalf("the responder reads the subject as %q", n)
	}
	if n := name(w.deHandler, waiting); !strings.HasPrefix(n, "Jan Kowalski") {
		t.Fatalf("the requester reads the subject as %q", n)
	}
	for _, c := range []struct {
		viewer authorities.Actor
		r      *requests.Request
	}{{w.deHandler, blocked}, {w.plHandler, blocked}, {w.deCoordinator, waiting}} {
		if n := name(c.viewer, c.r); n != "" {
			t.Fatalf("%s named %q to %s", c.r.Reference, n, c.viewer.UserID)
		}
	}
}

// The tabs' counts are kept by the database in the transaction of every
// change: after each step of a request's life, for every actor, they equal
// the rows of each box, and the list's total is its tab's count.
func TestTabCountsFollowEveryStep(t *testing.T) {
	w := newWorld(t)
	later := w.now.AddDate(0, 2, 0)
	r := w.draft()
	w.checkCounts("after a draft")
	steps := []struct {
		actor  authorities.Actor
		action string
		in     requests.Input
	}{
		{w.deHandler, "send", requests.Input{}},
		{w.plAllocator, "accept", requests.Input{}},
		{w.plHandler, "propose_date", requests.Input{ReplyBy: later}},
		{w.deHandler, "accept_date", requests.Input{}},
		{w.plHandler, "request_info", requests.Input{Comment: "Which year?"}},
		{w.deHandler, "provide_info", requests.Input{Comment: "2004."}},
		{w.plHandler, "answer", requests.Input{Answers: answers()}},
		{w.deHandler, "reopen", requests.Input{Comment: "And the faculty?"}},
		{w.plHandler, "answer", requests.Input{Answers: answers()}},
		{w.deHandler, "close", requests.Input{}},
	}
	for _, st := range steps {
		w.act(st.actor, r.ID, st.action, st.in)
		w.checkCounts("after " + st.action)
	}
	for range 3 {
		w.draft()
	}
	other := w.draft()
	w.act(w.deHandler, other.ID, "send", requests.Input{})
	w.act(w.deHandler, other.ID, "withdraw", requests.Input{Comment: "Sent by mistake."})
	w.checkCounts("after a withdrawal")
	counts, err := w.svc.Counts(w.ctx, w.deHandler)
	if err != nil || counts[requests.Drafts] != 3 || counts[requests.Done] != 2 {
		t.Fatalf("counts %v (%v), want 3 drafts and 2 closed", counts, err)
	}
	if n, err := w.svc.Count(w.ctx, w.deHandler, requests.Drafts); err != nil || n != 3 {
		t.Fatalf("Count: %d %v, want 3", n, err)
	}
	if list, total, err := w.svc.Inbox(w.ctx, w.deHandler, requests.Drafts, requests.Filter{PerPage: 2}); err != nil || total != 3 || len(list) != 2 {
		t.Fatalf("Inbox: %d of %d %v, want 2 of 3", len(list), total, err)
	}
	if _, _, err := w.svc.Inbox(w.ctx, w.deHandler, requests.Drafts, requests.Filter{Page: 10_001}); !isKind(err, problem.Invalid) {
		t.Fatalf("page 10,001: %v", err)
	}
	// A filtered list counts its rows.
	if _, total, err := w.svc.Inbox(w.ctx, w.deHandler, requests.Done, requests.Filter{State: "withdrawn"}); err != nil || total != 1 {
		t.Fatalf("filtered total: %d %v, want 1", total, err)
	}
	// A change made outside the service, by SQL, is counted too, and a
	// rolled-back one is not.
	if err := w.db.InTx(w.ctx, func(tx db.Querier) error {
		_, err := tx.ExecContext(w.ctx, `UPDATE requests SET state = 'draft', sent_at = NULL WHERE id = $1`, other.ID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	w.checkCounts("after an update by SQL")
	lost := errors.New("rolled back")
	if err := w.db.InTx(w.ctx, func(tx db.Querier) error {
		if _, err := tx.ExecContext(w.ctx, `UPDATE requests SET state = 'closed' WHERE id = $1`, other.ID); err != nil {
			return err
		}
		return lost
	}); !errors.Is(err, lost) {
		t.Fatal(err)
	}
	if n, err := w.svc.Count(w.ctx, w.deHandler, requests.Drafts); err != nil || n != 4 {
		t.Fatalf("after a rollback, %d drafts (%v), want 4", n, err)
	}
}

// Retain blocks in batches, each a transaction of its own with its audit
// record: requests more than a batch are all blocked, once.
func TestRetentionBlocksBatchAfterBatch(t *testing.T) {
	defer requests.SetRetainBatch(2)()
	w := newWorld(t)
	for range 5 {
		r := w.draft()
		w.act(w.deHandler, r.ID, "send", requests.Input{})
		w.act(w.deHandler, r.ID, "withdraw", requests.Input{Comment: "Sent by mistake."})
	}
	closed := w.count(`SELECT COUNT(*) FROM requests WHERE closed_at IS NOT NULL`)
	if closed != 5 {
		t.Fatalf("%d requests closed, want 5", closed)
	}
	before := w.count(`SELECT COUNT(*) FROM audit_log WHERE event = 'personal_data.retained'`)
	w.now = w.now.AddDate(0, 7, 0)
	if res, err := w.svc.Retain(w.ctx); err != nil || res.Blocked != 5 {
		t.Fatalf("%+v %v", res, err)
	}
	if n := w.count(`SELECT COUNT(*) FROM requests WHERE blocked_at IS NULL`); n != 0 {
		t.Fatalf("%d requests left unblocked", n)
	}
	// Batches of 2, 2 and 1: three records.
	if n := w.count(`SELECT COUNT(*) FROM audit_log WHERE event = 'personal_data.retained'`) - before; n != 3 {
		t.Fatalf("%d audit records, want 3", n)
	}
	if res, err := w.svc.Retain(w.ctx); err != nil || res.Blocked != 0 {
		t.Fatalf("blocked again: %+v %v", res, err)
	}
}

func TestPersonalDataIsBlockedThenDeletedOnSchedule(t *testing.T) {
	w := newWorld(t)
	r := w.draft()
	w.act(w.deHandler, r.ID, "send", requests.Input{})
	w.act(w.plAllocator, r.ID, "accept", requests.Input{})
	w.act(w.plHandler, r.ID, "request_info", requests.Input{Comment: "Is Jan Kowalski's diploma from 2004?"})
	w.act(w.deHandler, r.ID, "provide_info", requests.Input{Comment: "Yes."})
	w.act(w.plHandler, r.ID, "answer", requests.Input{Answers: answers()})
	w.act(w.deHandler, r.ID, "close", requests.Input{})
	open := w.count(`SELECT COUNT(*) FROM requests WHERE state <> 'closed'`)

	// Five months on: nothing yet.
	w.now = w.now.AddDate(0, 5, 0)
	if res, err := w.svc.Retain(w.ctx); err != nil || res.Blocked != 0 {
		t.Fatalf("%+v %v", res, err)
	}
	// Past six months (the pq pack's retention): blocked for everyone,
	// the exchange itself still there.
	w.now = w.now.AddDate(0, 1, 1)
	if res, err := w.svc.Retain(w.ctx); err != nil || res.Blocked != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	got, err := w.svc.Get(w.ctx, w.deHandler, r.ID)
	if err != nil || got.PersonalShown || got.SubjectName != "" || got.Questions[1].AnswerText != "" || got.Reference != r.Reference {
		t.Fatalf("blocked: %+v %v", got, err)
	}
	tl, _ := w.svc.Timeline(w.ctx, w.plHandler, r.ID)
	for _, e := range tl {
		if e.Comment != "" {
			t.Fatalf("a comment is shown after blocking: %q", e.Comment)
		}
	}
	if res, _ := w.svc.Retain(w.ctx); res.Blocked != 0 {
		t.Fatal("blocked twice")
	}
	// Three years after closure: deleted from the database.
	w.now = w.now.AddDate(3, 0, 0)
	if res, err := w.svc.Retain(w.ctx); err != nil || res.Erased != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	if n := w.count(`SELECT COUNT(*) FROM requests WHERE subject_name LIKE '%Kowalski%' OR subject LIKE '%Kowalski%' OR message <> ''`); n != 0 {
		t.Fatal("the subject survived deletion")
	}
	if n := w.count(`SELECT COUNT(*) FROM case_events WHERE comment LIKE '%Kowalski%'`) + w.count(`SELECT COUNT(*) FROM request_questions WHERE answer_text <> ''`); n != 0 {
		t.Fatal("comments or answers survived deletion")
	}
	if w.count(`SELECT COUNT(*) FROM requests`) != 1 || w.count(`SELECT COUNT(*) FROM requests WHERE state <> 'closed'`) != open {
		t.Fatal("the exchange itself must remain")
	}
	if w.count(`SELECT COUNT(*) FROM audit_log WHERE event = 'personal_data.retained'`) != 2 {
		t.Fatal("retention runs are not audited")
	}
}

func TestCopyStartsADraftFromChosenParts(t *testing.T) {
	w := newWorld(t)
	r := w.draft()
	w.act(w.deHandler, r.ID, "send", requests.Input{})
	c, err := w.svc.Copy(w.ctx, w.deHandler, r.ID, requests.Parts{Questions: true, Subject: true})
	if err != nil {
		t.Fatal(err)
	}
	if c.State != requests.Draft || c.ID == r.ID || len(c.Questions) != 2 || c.Subject["name"] != "Jan Kowalski" || c.ResponderID != "" || c.Message != "" {
		t.Fatalf("%+v", c)
	}
	// The responder may not copy someone else's request.
	if _, err := w.svc.Copy(w.ctx, w.plHandler, r.ID, requests.Parts{Subject: true}); !isKind(err, problem.NotFound) {
		t.Fatalf("the responder copied: %v", err)
	}
}

func TestStalledRequestsAreFollowedUpAndRemindedOnce(t *testing.T) {
	w := newWorld(t)
	a := w.draft()
	w.act(w.deHandler, a.ID, "send", requests.Input{})
	b := w.draft()
	w.act(w.deHandler, b.ID, "send", requests.Input{})
	w.act(w.plAllocator, b.ID, "accept", requests.Input{})
	mails := func(kind string) int {
		return w.count(`SELECT COUNT(*) FROM outbox WHERE kind = $1`, kind)
	}
	reasons := func(actor authorities.Actor) string {
		list, err := w.svc.FollowUp(w.ctx, actor, "", 1, 100)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, it := range list.Items {
			if it.Request.PersonalShown {
				t.Fatal("personal data on a follow-up list")
			}
			out = append(out, it.Request.Reference+":"+it.Reason)
		}
		return strings.Join(out, ",")
	}
	if got := reasons(w.plCoordinator); got != "" {
		t.Fatalf("listed too early: %s", got)
	}
	// Twelve days on: a is not accepted after 7 days; b's reply date
	// (14 days) is near.
	w.now = w.now.AddDate(0, 0, 12)
	if got := reasons(w.plCoordinator); got != a.Reference+":not_accepted" {
		t.Fatalf("the Polish coordinator's list: %q", got)
	}
	if got := reasons(w.deCoordinator); got != a.Reference+":not_accepted" {
		t.Fatalf("the German coordinator's list: %q", got)
	}
	if got := reasons(w.frHandler); got != "" {
		t.Fatal("a non-coordinator has a follow-up list")
	}
	if _, err := w.svc.Remind(w.ctx); err != nil {
		t.Fatal(err)
	}
	if mails("request_follow_up") != 2 || mails("request_due_soon") != 2 {
		t.Fatalf("follow-up %d, due soon %d", mails("request_follow_up"), mails("request_due_soon"))
	}
	// Again: nothing new is sent.
	if n, _ := w.svc.Remind(w.ctx); n != 0 {
		t.Fatalf("%d sent twice", n)
	}
	// Past both reply dates: overdue, to both sides and their coordinators.
	w.now = w.now.AddDate(0, 0, 5)
	if got := reasons(w.plCoordinator); !strings.Contains(got, b.Reference+":overdue") || !strings.Contains(got, a.Reference+":overdue") {
		t.Fatalf("overdue: %q", got)
	}
	w.svc.Remind(w.ctx)
	if mails("request_overdue") == 0 {
		t.Fatal("no overdue notice")
	}
	// Four weeks after sending, neither is answered: both are listed for
	// that too, and the coordinators are told once more.
	if got := reasons(w.plCoordinator); strings.Contains(got, ":unanswered") {
		t.Fatalf("unanswered before four weeks: %q", got)
	}
	before := mails("request_follow_up")
	w.now = w.now.AddDate(0, 0, 12)
	if got := reasons(w.plCoordinator); !strings.Contains(got, a.Reference+":unanswered") || !strings.Contains(got, b.Reference+":unanswered") {
		t.Fatalf("unanswered: %q", got)
	}
	w.svc.Remind(w.ctx)
	if mails("request_follow_up") <= before {
		t.Fatal("no notice for an unanswered request")
	}
	// Page by page, the list is the same, with its counts per reason.
	all, err := w.svc.FollowUp(w.ctx, w.plCoordinator, "", 1, 100)
	if err != nil {
		t.Fatal(err)
	}
	var paged []string
	for n := 1; n <= all.Total; n++ {
		one, err := w.svc.FollowUp(w.ctx, w.plCoordinator, "", n, 1)
		if err != nil || len(one.Items) != 1 || one.Total != all.Total {
			t.Fatalf("page %d: %v %+v", n, err, one)
		}
		paged = append(paged, one.Items[0].Request.Reference+":"+one.Items[0].Reason)
	}
	if got := reasons(w.plCoordinator); strings.Join(paged, ",") != got || all.Total != len(all.Items) ||
		all.Counts[requests.Unanswered] != 2 || all.Counts[requests.Overdue] != 2 || all.Counts[requests.NotAccepted] != 1 {
		t.Fatalf("paged %v, listed %s, counts %v", paged, got, all.Counts)
	}
	// Two months without activity.
	w.now = w.now.AddDate(0, 2, 0)
	if got := reasons(w.deCoordinator); !strings.Contains(got, b.Reference+":inactive") {
		t.Fatalf("inactive: %q", got)
	}
	before = mails("request_follow_up")
	w.svc.Remind(w.ctx)
	if mails("request_follow_up") <= before {
		t.Fatal("no notice for an inactive request")
	}
}

func TestSplitReferAndReallocate(t *testing.T) {
	w := newWorld(t)
	r := w.draft()
	w.act(w.deHandler, r.ID, "send", requests.Input{})
	// Split: one question goes to the Kraków chamber as a linked request.
	if _, err := w.svc.Act(w.ctx, w.plAllocator, r.ID, "split", requests.Input{Comment: "Kraków issued it.", ResponderID: w.plCA2.ID,
		Questions: []string{"diploma_authentic", "diploma_issuer_competent"}}); !isKind(err, problem.Invalid) {
		t.Fatalf("splitting off every question: %v", err)
	}
	w.act(w.plAllocator, r.ID, "split", requests.Input{Comment: "Kraków issued it.", ResponderID: w.plCA2.ID, Questions: []string{"diploma_issuer_competent"}})
	parent, _ := w.svc.Get(w.ctx, w.deHandler, r.ID)
	if len(parent.Questions) != 1 || parent.State != requests.Sent {
		t.Fatalf("parent: %+v", parent)
	}
	list, _, _ := w.svc.Inbox(w.ctx, w.pl2Handler, requests.Incoming, requests.Filter{})
	if len(list) != 1 || list[0].ParentID != r.ID {
		t.Fatalf("the linked request: %d", len(list))
	}
	if part, err := w.svc.Get(w.ctx, w.pl2Handler, list[0].ID); err != nil || !strings.Contains(part.SubjectName, "Jan Kowalski") ||
		len(part.Questions) != 1 || part.Questions[0].Code != "diploma_issuer_competent" {
		t.Fatalf("the linked request as its responder sees it: %+v %v", part, err)
	}
	if mine, _, _ := w.svc.Inbox(w.ctx, w.deHandler, requests.Outgoing, requests.Filter{}); len(mine) != 2 {
		t.Fatalf("the requester tracks %d parts", len(mine))
	}
	// Refer to the coordinator, who passes it back on.
	r2 := w.act(w.plAllocator, r.ID, "refer", requests.Input{Comment: "Who holds this register?"})
	if r2.State != requests.AwaitingAllocation {
		t.Fatal(r2.State)
	}
	w.act(w.plCoordinator, r.ID, "allocate", requests.Input{})
	// Accepting makes the allocator the handler; it reallocates to a colleague.
	a := w.act(w.plAllocator, r.ID, "accept", requests.Input{})
	if a.HandlerID != w.plAllocator.UserID {
		t.Fatal("accepting does not make the handler")
	}
	if _, err := w.svc.Act(w.ctx, w.plAllocator, r.ID, "reallocate", requests.Input{HandlerID: w.pl2Handler.UserID}); !isKind(err, problem.Invalid) {
		t.Fatalf("reallocated to another authority's user: %v", err)
	}
	a = w.act(w.plAllocator, r.ID, "reallocate", requests.Input{HandlerID: w.plHandler.UserID})
	if a.HandlerID != w.plHandler.UserID {
		t.Fatal("not reallocated")
	}
	hs, err := w.svc.Handlers(w.ctx, w.plAllocator, r.ID)
	if err != nil || len(hs) != 2 {
		t.Fatalf("handlers %v %v", hs, err)
	}
	// A request's page lists them from the request it shows: the same for
	// the responder's user, none for a coordinator or the requester.
	for _, c := range []struct {
		actor authorities.Actor
		want  int
	}{{w.plAllocator, 2}, {w.plHandler, 0}, {w.plCoordinator, 0}, {w.deHandler, 0}} { // the handler may not reallocate
		shown, err := w.svc.Get(w.ctx, c.actor, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		of, err := w.svc.HandlersOf(w.ctx, c.actor, shown)
		if err != nil || len(of) != c.want || c.want > 0 && fmt.Sprint(of) != fmt.Sprint(hs) {
			t.Errorf("%s: handlers of the request shown %v (%v), want %d", c.actor.UserID, of, err, c.want)
		}
		if direct, err := w.svc.Handlers(w.ctx, c.actor, r.ID); err != nil || len(direct) != c.want {
			t.Errorf("%s: handlers %v (%v), want %d", c.actor.UserID, direct, err, c.want)
		}
		// A request shown to the responder's user, passed with another
		// actor, lists nobody.
		if c.want > 0 {
			if of, err := w.svc.HandlersOf(w.ctx, w.deHandler, shown); err != nil || len(of) != 0 {
				t.Errorf("the responder's request with the requester's handler: handlers %v (%v)", of, err)
			}
		}
	}
	// Answered, it can no longer be taken over: nobody is listed. (The
	// question split off is the linked request's.)
	w.act(w.plHandler, r.ID, "answer", requests.Input{Answers: map[string]requests.Answer{"diploma_authentic": {Value: "yes"}}})
	if hs, err := w.svc.Handlers(w.ctx, w.plAllocator, r.ID); err != nil || len(hs) != 0 {
		t.Errorf("handlers of an answered request: %v (%v)", hs, err)
	}
	if shown, err := w.svc.Get(w.ctx, w.plAllocator, r.ID); err != nil {
		t.Error(err)
	} else if hs, err := w.svc.HandlersOf(w.ctx, w.plAllocator, shown); err != nil || len(hs) != 0 {
		t.Errorf("handlers of an answered request shown: %v (%v)", hs, err)
	}
}

func TestADataSubjectsRequestExportsTheirExchanges(t *testing.T) {
	w := newWorld(t)
	r := w.draft()
	w.act(w.deHandler, r.ID, "send", requests.Input{})
	w.draft() // a second request about the same person
	if _, err := w.svc.SubjectData(w.ctx, w.deHandler, "Kowalski"); !isKind(err, problem.Forbidden) {
		t.Fatalf("a request handler exported: %v", err)
	}
	lda := w.user(w.deCA, "lda@de.example", "local_data_administrator")
	if _, err := w.svc.SubjectData(w.ctx, lda, "Ko"); !isKind(err, problem.Invalid) {
		t.Fatalf("two letters: %v", err)
	}
	got, err := w.svc.SubjectData(w.ctx, lda, "kowalski")
	if err != nil || len(got) != 2 || got[0].Request.Subject["name"] != "Jan Kowalski" || len(got[0].Timeline) == 0 {
		t.Fatalf("%d records, %v", len(got), err)
	}
	// The other side's administrator sees only what reached its authority.
	plLDA := w.user(w.plCA, "lda@pl.example", "local_data_administrator")
	if got, _ := w.svc.SubjectData(w.ctx, plLDA, "kowalski"); len(got) != 1 {
		t.Fatalf("the responder's export holds %d", len(got))
	}
	if n := w.count(`SELECT COUNT(*) FROM audit_log WHERE event = 'personal_data.exported' AND detail NOT LIKE '%Kowalski%'`); n != 2 {
		t.Fatalf("%d audited exports", n)
	}
}

var pdf = []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")

func TestAttachmentsAreCheckedStoredAndShownToThePartiesOnly(t *testing.T) {
	w := newWorld(t)
	r := w.draft()
	w.act(w.deHandler, r.ID, "send", requests.Input{})
	attach := func(actor authorities.Actor, name string, body []byte) (*requests.Request, error) {
		return w.svc.Attach(w.ctx, actor, r.ID, requests.Upload{Name: name, Body: bytes.NewReader(body)}, "")
	}
	for _, c := range []struct {
		name string
		body []byte
		kind problem.Kind
	}{
		{"page.html", []byte("<!DOCTYPE html><html><script>alert(1)</script></html>"), problem.Invalid},
		{"x.svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), problem.Invalid},
		{"js.pdf", []byte("%PDF-1.4\n<< /OpenAction << /S /JavaScript /JS (app.alert(1)) >> >>"), problem.Invalid},
		{"empty.txt", nil, problem.Invalid},
		{"big.txt", bytes.Repeat([]byte("a"), 1<<20+1), problem.TooLarge},
	} {
		if _, err := attach(w.deHandler, c.name, c.body); !isKind(err, c.kind) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	if n := w.count(`SELECT COUNT(*) FROM request_attachments`); n != 0 {
		t.Fatalf("%d refused files recorded", n)
	}
	got, err := attach(w.deHandler, "../../etc/passwd\x00 Diplom Kowalski.exe", pdf)
	if err != nil || len(got.Attachments) != 1 {
		t.Fatalf("%v", err)
	}
	a := got.Attachments[0]
	if a.Name != "passwd_ Diplom Kowalski.pdf" || a.ContentType != "application/pdf" || a.Size != int64(len(pdf)) {
		t.Fatalf("stored as %+v", a)
	}
	// The responder downloads it; a coordinator and a stranger cannot.
	meta, body, err := w.svc.OpenAttachment(w.ctx, w.plHandler, r.ID, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	content, _ := io.ReadAll(body)
	body.Close()
	if !bytes.Equal(content, pdf) || meta.SHA256 != a.SHA256 {
		t.Fatal("the content changed")
	}
	for _, actor := range []authorities.Actor{w.plCoordinator, w.frHandler} {
		if _, _, err := w.svc.OpenAttachment(w.ctx, actor, r.ID, a.ID); !isKind(err, problem.NotFound) {
			t.Fatalf("a non-party downloaded: %v", err)
		}
	}
	if c, _ := w.svc.Get(w.ctx, w.plCoordinator, r.ID); len(c.Attachments) != 0 {
		t.Fatal("a coordinator sees the list of files")
	}
	// Closed, then three years on: the file goes with the personal data.
	w.act(w.plAllocator, r.ID, "decline", requests.Input{Comment: "Not ours."})
	w.now = w.now.AddDate(3, 1, 0)
	if _, err := w.svc.Retain(w.ctx); err != nil {
		t.Fatal(err)
	}
	if n := w.count(`SELECT COUNT(*) FROM request_attachments`); n != 0 {
		t.Fatal("the attachment survived deletion")
	}
}

func TestTheStoreNeverKeepsAPartialFile(t *testing.T) {
	st := requests.DirStore{Dir: t.TempDir()}
	if _, _, err := st.Put(bytes.NewReader(bytes.Repeat([]byte("x"), 11)), 10); !errors.Is(err, requests.ErrTooLarge) {
		t.Fatalf("%v", err)
	}
	list, err := st.List()
	if err != nil || len(list) != 0 {
		t.Fatalf("a refused upload left %d files", len(list))
	}
	sum, n, err := st.Put(bytes.NewReader(pdf), 1<<20)
	if err != nil || n != int64(len(pdf)) {
		t.Fatal(err)
	}
	if _, err := st.Open("../" + sum[:61]); err == nil {
		t.Fatal("a path outside the store opened")
	}
}

// Tidy puts back only what Delete moved aside: a stray file whose name
// merely starts like one is left alone (a short name used to panic).
func TestTidyLeavesStrayNamesAlone(t *testing.T) {
	st := requests.DirStore{Dir: t.TempDir()}
	sum, _, err := st.Put(bytes.NewReader(pdf), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	stray := []string{".sweep-", ".sweep-a", ".sweep-..", ".sweep-" + strings.Repeat("z", 64)}
	for _, name := range stray {
		if err := os.WriteFile(filepath.Join(st.Dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Tidy(time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, name := range stray {
		if _, err := os.Stat(filepath.Join(st.Dir, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	f, err := st.Open(sum)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got, err := io.ReadAll(f); err != nil || !bytes.Equal(got, pdf) {
		t.Fatalf("the stored content changed: %v", err)
	}
}

// An action's answer shows the request as the action left it; the view of
// its personal data is recorded once, on SQLite in the action's own
// transaction (no commit of its own). An actor the action takes the request away from,
// or a coordinator, is recorded as seeing nothing.
func TestActRecordsItsViewWithTheChange(t *testing.T) {
	w := newWorld(t)
	r := w.draft()
	views := func(userID string) int {
		return w.count(`SELECT COUNT(*) FROM audit_log WHERE event = 'personal_data.viewed' AND user_id = $1 AND subject = $2`, userID, "request:"+r.Reference)
	}
	before := views(w.deHandler.UserID)
	got := w.act(w.deHandler, r.ID, "send", requests.Input{})
	if !got.PersonalShown || got.SubjectName == "" {
		t.Fatalf("the sender does not see what it sent: %+v", got)
	}
	if n := views(w.deHandler.UserID) - before; n != 1 {
		t.Fatalf("the send recorded %d views of personal data, want 1", n)
	}
	// On SQLite the event is in the same transaction as the step: same
	// instant (PostgreSQL group-commits views, see Service.act).
	var stepAt, viewAt time.Time
	if err := w.db.Read().QueryRowContext(w.ctx, `SELECT at FROM case_events WHERE case_id = $1 ORDER BY at DESC LIMIT 1`, r.ID).Scan(&stepAt); err != nil {
		t.Fatal(err)
	}
	if err := w.db.Read().QueryRowContext(w.ctx, `SELECT at FROM audit_log WHERE event = 'personal_data.viewed' AND subject = $1 ORDER BY at DESC LIMIT 1`, "request:"+r.Reference).Scan(&viewAt); err != nil {
		t.Fatal(err)
	}
	if w.db.Dialect() == db.SQLite && !viewAt.Equal(stepAt) {
		t.Fatalf("view recorded at %v, step at %v", viewAt, stepAt)
	}

	w.act(w.plCoordinator, r.ID, "comment", requests.Input{Comment: "Please accept this within 7 days."})
	if n := views(w.plCoordinator.UserID); n != 0 {
		t.Fatalf("a coordinator's comment recorded %d views of personal data", n)
	}
	before = views(w.plAllocator.UserID)
	w.act(w.plAllocator, r.ID, "forward", requests.Input{Comment: "The regional chamber keeps this register.", ResponderID: w.plCA2.ID})
	if n := views(w.plAllocator.UserID) - before; n != 0 {
		t.Fatalf("forwarding away recorded %d views of personal data", n)
	}
}

// A form's change is followed by the request's page, which records the
// view it shows: CreateDraft, SaveDraft and Do record none themselves and
// read nothing back, and Do tells whether the actor still takes part.
func TestFormChangesLeaveTheViewToThePage(t *testing.T) {
	w := newWorld(t)
	allViews := func() int { return w.count(`SELECT COUNT(*) FROM audit_log WHERE event = 'personal_data.viewed'`) }
	before := allViews()
	in := requests.DraftInput{Area: "pq", QuestionSet: "authenticity", Questions: []string{"diploma_authentic"}, ResponderID: w.plCA.ID,
		Subject: map[string]string{"name": "Anna Nowak", "profession": "doctor"}}
	id, err := w.svc.CreateDraft(w.ctx, w.deHandler, in)
	if err != nil {
		t.Fatal(err)
	}
	in.Questions = []string{"diploma_authentic", "diploma_issuer_competent"}
	if err := w.svc.SaveDraft(w.ctx, w.deHandler, id, in); err != nil {
		t.Fatal(err)
	}
	if err := w.svc.SaveDraft(w.ctx, w.plHandler, id, in); !isKind(err, problem.NotFound) {
		t.Fatalf("another authority saved the draft: %v", err)
	}
	o, err := w.svc.Do(w.ctx, w.deHandler, id, "send", requests.Input{})
	if err != nil {
		t.Fatal(err)
	}
	if o.ID != id || o.State != requests.Sent || !o.TakingPart || o.Reference == "" {
		t.Fatalf("the send's outcome: %+v", o)
	}
	if n := allViews() - before; n != 0 {
		t.Fatalf("saving and sending through a form recorded %d views; the page that follows records it", n)
	}
	r, err := w.svc.Get(w.ctx, w.deHandler, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Questions) != 2 || r.SubjectName != "Anna Nowak" || r.State != requests.Sent {
		t.Fatalf("the draft saved and sent: %+v", r)
	}
	if n := allViews() - before; n != 1 {
		t.Fatalf("the page recorded %d views, want 1", n)
	}
	// A file attached through a form: no view; the page records it.
	if err := w.svc.AttachFile(w.ctx, w.deHandler, id, requests.Upload{Name: "diploma.pdf", Body: bytes.NewReader(pdf)}, ""); err != nil {
		t.Fatal(err)
	}
	if n := allViews() - before; n != 1 {
		t.Fatalf("attaching through a form recorded %d views", n-1)
	}
	if r, err = w.svc.Get(w.ctx, w.deHandler, id); err != nil || len(r.Attachments) != 1 {
		t.Fatalf("the attachment: %v", err)
	}
	// A copy through a form reads the request copied (one view), not the
	// new draft, whose page records it.
	copied, err := w.svc.CopyDraft(w.ctx, w.deHandler, id, requests.Parts{Subject: true, Questions: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := allViews() - before; n != 3 {
		t.Fatalf("the copy recorded %d views, want 1 (of the request copied)", n-2)
	}
	if c, err := w.svc.Get(w.ctx, w.deHandler, copied); err != nil || c.State != requests.Draft || c.SubjectName != "Anna Nowak" || len(c.Questions) != 2 {
		t.Fatalf("the copy: %+v, %v", c, err)
	}
	before = allViews()

	// Forwarded away: the allocator no longer takes part, and an action
	// repeated with its key answers with the request as it is now.
	forward := requests.Input{Comment: "The regional chamber keeps this register.", ResponderID: w.plCA2.ID, IdempotencyKey: "forward-1"}
	for range 2 {
		if o, err = w.svc.Do(w.ctx, w.plAllocator, id, "forward", forward); err != nil {
			t.Fatal(err)
		}
		if o.TakingPart || o.State != requests.Sent || o.ID != id {
			t.Fatalf("forwarded away, the outcome says: %+v", o)
		}
	}
	if n := w.count(`SELECT COUNT(*) FROM case_events WHERE case_id = $1 AND action = 'forward'`, id); n != 1 {
		t.Fatalf("%d forwards recorded, want 1", n)
	}
	if _, err := w.svc.Get(w.ctx, w.plAllocator, id); !isKind(err, problem.NotFound) {
		t.Fatalf("the forwarding authority still sees the request: %v", err)
	}
	if n := allViews() - before; n != 0 {
		t.Fatalf("the actions recorded %d views", n)
	}
}

// A delegated coordinator's to-do box holds what waits for its decision
// in its scope alone (its regions, its areas), on the requesting side
// (approval) and on the responding side (allocation), and its count says
// so: the count counted the whole country's, and its pages listed fewer
// than it said.
func TestADelegatedCoordinatorsToDoHoldsItsScopeAlone(t *testing.T) {
	w := newWorldWith(t, "  countries:\n    DE:\n      outgoing_approval: true\n    PL:\n      incoming_allocation: true\n")
	register := func(country, name, region string, kind authorities.Kind, scope authorities.Scope) *authorities.Authority {
		a, err := w.auths.Register(w.ctx, authorities.System(), authorities.Input{Country: country, Name: name, Language: "de", Kind: kind, Region: region,
			Areas: []string{"pq"}, Scope: scope, Email: "office@example.eu"})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return a
	}
	delegate := func(country, name, email string, scope authorities.Scope) authorities.Actor {
		region := ""
		if len(scope.Regions) > 0 {
			region = scope.Regions[0]
		}
		return w.user(register(country, name, region, authorities.DelegatedCoordinator, scope), email, "coordinator")
	}
	bavaria := delegate("DE", "Koordinierung Bayern", "coordinator@bayern.example", authorities.Scope{Regions: []string{"Bayern"}})
	health := delegate("DE", "Koordinierung Gesundheitsberufe", "coordinator@gesundheit.example", authorities.Scope{Areas: []string{"pq"}})
	saxony := delegate("DE", "Koordinierung Sachsen", "coordinator@sachsen.example", authorities.Scope{Regions: []string{"Sachsen"}})
	lesserPoland := delegate("PL", "Koordynator Małopolska", "koordynator@malopolska.example", authorities.Scope{Regions: []string{"Małopolskie"}})
	munich := w.user(register("DE", "Ärztekammer München", "Bayern", authorities.CompetentAuthority, authorities.Scope{}), "handler@muenchen.example", "request_handler")
	krakow := register("PL", "Okręgowa Izba Lekarska w Krakowie", "Małopolskie", authorities.CompetentAuthority, authorities.Scope{})
	draft := func(actor authorities.Actor, to *authorities.Authority, name string) string {
		r, err := w.svc.Create(w.ctx, actor, requests.DraftInput{Area: "pq", QuestionSet: "authenticity", Questions: []string{"diploma_authentic"},
			ResponderID: to.ID, Subject: map[string]string{"name": name, "profession": "doctor"}})
		if err != nil {
			t.Fatal(err)
		}
		w.act(actor, r.ID, "submit", requests.Input{})
		return r.ID
	}
	fromBerlin := draft(w.deHandler, w.plCA, "Jan Kowalski")
	fromMunich := draft(munich, w.plCA, "Anna Nowak")
	toKrakow := draft(w.deHandler, krakow, "Piotr Zieliński")
	todo := func(actor authorities.Actor, want ...string) {
		t.Helper()
		counts, err := w.svc.Counts(w.ctx, actor)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := w.svc.CountRows(w.ctx, actor, requests.ToDo)
		if err != nil {
			t.Fatal(err)
		}
		if counts[requests.ToDo] != len(want) || rows != len(want) {
			t.Errorf("%s: the to-do box counts %d and holds %d, want %d", actor.UserID, counts[requests.ToDo], rows, len(want))
		}
		var got []string
		for page := 1; page <= len(want)+1; page++ { // a request a page, and one page more
			list, total, err := w.svc.Inbox(w.ctx, actor, requests.ToDo, requests.Filter{Page: page, PerPage: 1})
			if err != nil {
				t.Fatal(err)
			}
			if total != len(want) {
				t.Errorf("%s: page %d says %d in all, want %d", actor.UserID, page, total, len(want))
			}
			for _, r := range list {
				got = append(got, r.ID)
			}
		}
		// Filtered, the box is counted from its rows.
		if _, total, err := w.svc.Inbox(w.ctx, actor, requests.ToDo, requests.Filter{Area: "pq"}); err != nil || total != len(want) {
			t.Errorf("%s: filtered by area, the box says %d in all, want %d (%v)", actor.UserID, total, len(want), err)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: the to-do box lists %v, want %v", actor.UserID, got, want)
		}
	}
	// Approval, on the requesting side.
	todo(w.deCoordinator, fromBerlin, fromMunich, toKrakow)
	todo(bavaria, fromMunich)
	todo(health, fromBerlin, fromMunich, toKrakow)
	todo(saxony)
	for _, c := range []authorities.Actor{bavaria, w.deCoordinator} { // their authority deactivated: they decide on nothing
		withdrawn := *c.Authority
		withdrawn.Status = authorities.Deactivated
		c.Authority = &withdrawn
		todo(c)
	}
	// Allocation, on the responding side.
	w.act(bavaria, fromMunich, "approve_for_allocation", requests.Input{})
	w.act(w.deCoordinator, toKrakow, "approve_for_allocation", requests.Input{})
	todo(bavaria)
	todo(health, fromBerlin)
	todo(w.deCoordinator, fromBerlin)
	todo(w.plCoordinator, fromMunich, toKrakow)
	todo(lesserPoland, toKrakow)
	w.act(lesserPoland, toKrakow, "allocate", requests.Input{})
	todo(lesserPoland)
	todo(w.plCoordinator, fromMunich)
}

// ReferenceOf names a request to those who take part in it, a party or a
// coordinator on its path, and to nobody else.
func TestAReferenceIsNamedToThoseWhoTakePartAlone(t *testing.T) {
	w := newWorld(t)
	r := w.draft()
	w.act(w.deHandler, r.ID, "send", requests.Input{})
	for _, a := range []authorities.Actor{w.deHandler, w.plHandler, w.deCoordinator, w.plCoordinator} {
		if ref, err := w.svc.ReferenceOf(w.ctx, a, r.ID); err != nil || ref != r.Reference {
			t.Errorf("%s: %q %v, want %q", a.UserID, ref, err, r.Reference)
		}
	}
	for _, a := range []authorities.Actor{w.frHandler, w.pl2Handler} {
		if ref, err := w.svc.ReferenceOf(w.ctx, a, r.ID); !isKind(err, problem.NotFound) || ref != "" {
			t.Errorf("%s, who takes no part: %q %v", a.UserID, ref, err)
		}
	}
	if _, err := w.svc.ReferenceOf(w.ctx, w.deHandler, "no-such-request"); !isKind(err, problem.NotFound) {
		t.Errorf("a request that does not exist: %v", err)
	}
}

// A request's page (Page) reads in one query what Get and Timeline read
// in two: the same request, files, timeline and view recorded, for a
// party with its files, and a coordinator, who sees neither files nor
// the parties' comments.
func TestAPageReadsWhatGetAndTimelineRead(t *testing.T) {
	w := newWorld(t)
	r := w.draft()
	w.act(w.deHandler, r.ID, "send", requests.Input{Comment: "Urgent, please."})
	for i, name := range []string{"diploma.pdf", "transcript.pdf"} {
		w.now = w.now.Add(time.Duration(i+1) * time.Hour)
		if _, err := w.svc.Attach(w.ctx, w.deHandler, r.ID, requests.Upload{Name: name, Body: bytes.NewReader(append(slices.Clone(pdf), name...))}, ""); err != nil {
			t.Fatal(err)
		}
	}
	w.now = w.now.Add(time.Hour)
	w.act(w.plAllocator, r.ID, "accept", requests.Input{})
	views := func() int { return w.count(`SELECT COUNT(*) FROM audit_log WHERE event = 'personal_data.viewed'`) }
	for _, c := range []struct {
		name  string
		actor authorities.Actor
		files int
	}{{"the requester", w.deHandler, 2}, {"the responder", w.plHandler, 2}, {"a coordinator", w.deCoordinator, 0}} {
		before := views()
		page, timeline, err := w.svc.Page(w.ctx, c.actor, r.ID)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		pageViews := views() - before
		got, err := w.svc.Get(w.ctx, c.actor, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		want, err := w.svc.Timeline(w.ctx, c.actor, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Attachments) != c.files || !reflect.DeepEqual(page, got) {
			t.Errorf("%s: the page's request differs from Get's:\npage %+v\nget  %+v", c.name, page, got)
		}
		if len(timeline) != 5 || !reflect.DeepEqual(timeline, want) { // create, send, attach, attach, accept
			t.Errorf("%s: the page's timeline differs from Timeline's:\npage %+v\nwant %+v", c.name, timeline, want)
		}
		if wantViews := min(c.files, 1); pageViews != wantViews || views()-before != 2*wantViews {
			t.Errorf("%s: the page recorded %d views, Get %d; want %d each", c.name, pageViews, views()-before-pageViews, wantViews)
		}
	}
	if _, _, err := w.svc.Page(w.ctx, w.frHandler, r.ID); !isKind(err, problem.NotFound) {
		t.Fatalf("a stranger's page: %v", err)
	}
}
