package workflow_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/db/dbtest"
	"github.com/openimi/openimi/internal/workflow"
)

var requestEffects = []string{"check_complete", "stamp_sent", "notify_responder", "notify_responder_coordinator", "notify_requester_coordinator",
	"notify_requester", "stamp_accepted", "stamp_closed", "change_responder", "stop_clock", "start_clock", "propose_date", "accept_date",
	"refuse_date", "record_answers", "stamp_answered", "rate", "notify_parties", "split_questions", "set_handler", "claim", "store_attachment"}

func TestTheRequestMachineLoads(t *testing.T) {
	m, err := workflow.Load("request", requestEffects)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := workflow.Load("request", requestEffects[1:]); err == nil || !strings.Contains(err.Error(), `unknown effect "check_complete"`) {
		t.Fatalf("a missing effect was not reported: %v", err)
	}
	handler := workflow.Who{Parties: []string{workflow.Requester}, Roles: []string{"request_handler"}}
	// Options decide where sending leads.
	for _, c := range []struct {
		options map[string]bool
		action  string
		to      string
	}{
		{nil, "send", "sent"},
		{map[string]bool{"outgoing_approval": true}, "submit", "awaiting_approval"},
		{map[string]bool{"incoming_allocation": true}, "send_for_allocation", "awaiting_allocation"},
	} {
		var names []string
		for _, a := range m.Allowed("draft", handler, c.options) {
			names = append(names, a.Name)
		}
		if strings.Join(names, ",") != "attach,"+c.action {
			t.Fatalf("%v: %v", c.options, names)
		}
		if _, to, err := m.Next("draft", c.action, handler, c.options); err != nil || to != c.to {
			t.Fatalf("%s → %s, %v", c.action, to, err)
		}
	}
	// The wrong party, the wrong role, the wrong state: refused.
	responder := workflow.Who{Parties: []string{workflow.Responder}, Roles: []string{"allocator"}}
	noRole := workflow.Who{Parties: []string{workflow.Responder}, Roles: []string{"alert_handler"}}
	var notAllowed *workflow.ErrNotAllowed
	for _, c := range []struct {
		state, action string
		who           workflow.Who
	}{
		{"draft", "send", responder},
		{"sent", "accept", noRole},
		{"sent", "accept", handler},
		{"closed", "reopen", handler},
		{"sent", "no_such_action", responder},
	} {
		if _, _, err := m.Next(c.state, c.action, c.who, nil); !errors.As(err, &notAllowed) {
			t.Errorf("%s in %s by %v: %v", c.action, c.state, c.who, err)
		}
	}
	if _, to, err := m.Next("sent", "accept", responder, nil); err != nil || to != "accepted" {
		t.Fatalf("accept: %s %v", to, err)
	}
	if _, to, err := m.Next("accepted", "propose_date", workflow.Who{Parties: []string{workflow.Responder}, Roles: []string{"request_handler"}}, nil); err != nil || to != "accepted" {
		t.Fatalf("an action without a target state stays: %s %v", to, err)
	}
	if !m.IsFinal("closed") || m.IsFinal("sent") {
		t.Fatal("final states")
	}
}

func TestBrokenMachinesAreRefusedWithEveryProblem(t *testing.T) {
	_, err := workflow.Parse([]byte(`
name: broken
parties: [requester]
initial: start
states: [start, middle, end, island]
final: [end]
actions:
  go:
    from: [start, nowhere]
    to: end
    by: [stranger]
    comment: maybe
  back:
    from: [end]
    to: start
    by: [requester]
`), nil)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{`from "nowhere" is not a state`, `unknown party "stranger"`, "comment must be", `leaves final state "end"`, `state "middle" cannot be reached`, `state "island" cannot be reached`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	if _, err := workflow.Parse([]byte("name: x\ninitial: a\nstates: [a]\nactions: {}\n"), nil); err == nil || !strings.Contains(err.Error(), "no parties") {
		t.Errorf("a machine without parties: %v", err)
	}
	if _, err := workflow.Parse([]byte("name: x\ninitial: a\nstates: [a]\nunknown_key: 1\n"), nil); err == nil {
		t.Error("an unknown key was accepted")
	}
}

func TestEventsAreNumberedAndRacesConflict(t *testing.T) {
	d := dbtest.Open(t)
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	for i := range 3 {
		e := &workflow.Event{CaseID: "case-1", At: at.Add(time.Duration(i) * time.Hour), Action: "comment", From: "sent", To: "sent", Comment: "note"}
		if err := d.InTx(ctx, func(tx db.Querier) error { return workflow.Record(ctx, tx, e) }); err != nil {
			t.Fatal(err)
		}
		if e.Seq != i+1 {
			t.Fatalf("event %d recorded as number %d", i+1, e.Seq)
		}
	}
	h, err := workflow.History(ctx, d.Read(), "case-1")
	if err != nil || len(h) != 3 || h[0].Seq != 1 || h[2].Seq != 3 || !h[1].At.Equal(at.Add(time.Hour)) {
		t.Fatalf("%+v %v", h, err)
	}
	// Two transactions that read the same last number: one commits, the
	// other is refused as a conflict.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = d.InTx(ctx, func(tx db.Querier) error {
				return workflow.Record(ctx, tx, &workflow.Event{CaseID: "case-2", At: at, Action: "accept", From: "sent", To: "accepted"})
			})
		}()
	}
	wg.Wait()
	h, _ = workflow.History(ctx, d.Read(), "case-2")
	ok := 0
	for _, e := range errs {
		if e == nil {
			ok++
		} else if !errors.Is(e, db.ErrConflict) {
			t.Errorf("not a conflict: %v", e)
		}
	}
	if len(h) != ok || ok == 0 {
		t.Fatalf("%d events for %d successes", len(h), ok)
	}
	if d.Dialect() != db.Postgres {
		return // SQLite's writers take turns: the second reads the first's number
	}
	// On PostgreSQL, a step whose insert found the same number as one not
	// yet committed waits for it, and is refused as a conflict once it
	// commits.
	first, second := dbtest.Contend(t, d, func(ctx context.Context, tx db.Querier) error {
		return workflow.Record(ctx, tx, &workflow.Event{CaseID: "case-3", At: at, Action: "accept", From: "sent", To: "accepted"})
	}, func(ctx context.Context, tx db.Querier) error {
		return workflow.Record(ctx, tx, &workflow.Event{CaseID: "case-3", At: at, Action: "decline", From: "sent", To: "declined"})
	})
	if first != nil || !errors.Is(second, db.ErrConflict) {
		t.Fatalf("the first step: %v; the second: %v, want a conflict", first, second)
	}
	if h, _ := workflow.History(ctx, d.Read(), "case-3"); len(h) != 1 || h[0].Action != "accept" {
		t.Fatalf("case-3's history: %+v", h)
	}
}
