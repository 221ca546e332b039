package requests_test

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"testing"

	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/problem"
	"github.com/openimi/openimi/internal/requests"
	"github.com/openimi/openimi/internal/workflow"
)

// TestThePermissionMatrix tries every action of the request machine, in
// every state a request reaches in an ordinary exchange, as every kind of
// user, and compares the outcome with the machine's own rule for that
// user's parties and roles: what the machine allows succeeds, everything
// else is refused and changes nothing. Reads follow the same parties:
// nobody else sees the request, and only the two authorities see
// personal data.
func TestThePermissionMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("tries every action as every user in every state")
	}
	w := newWorld(t)
	type who struct {
		name    string
		actor   authorities.Actor
		parties []string // in a request from deCA to plCA, once sent
		roles   []string
	}
	users := []who{
		{"requester handler", w.deHandler, []string{workflow.Requester}, []string{"request_handler"}},
		{"requester without the role", w.deStranger, []string{workflow.Requester}, []string{"alert_handler"}},
		{"responder allocator", w.plAllocator, []string{workflow.Responder}, []string{"allocator"}},
		{"responder handler", w.plHandler, []string{workflow.Responder}, []string{"request_handler"}},
		{"requester's coordinator", w.deCoordinator, []string{workflow.RequesterCoordinator}, []string{"coordinator"}},
		{"responder's coordinator", w.plCoordinator, []string{workflow.ResponderCoordinator}, []string{"coordinator"}},
		{"another authority", w.frHandler, nil, []string{"request_handler"}},
		{"another authority of the responder's country", w.pl2Handler, nil, []string{"request_handler"}},
	}
	// How to bring a new request to each state.
	paths := map[string][]struct {
		by     authorities.Actor
		action string
		in     requests.Input
	}{
		requests.Draft:         nil,
		requests.Sent:          {{w.deHandler, "send", requests.Input{}}},
		requests.Accepted:      {{w.deHandler, "send", requests.Input{}}, {w.plAllocator, "accept", requests.Input{}}},
		requests.InfoRequested: {{w.deHandler, "send", requests.Input{}}, {w.plAllocator, "accept", requests.Input{}}, {w.plHandler, "request_info", requests.Input{Comment: "?"}}},
		requests.Answered:      {{w.deHandler, "send", requests.Input{}}, {w.plAllocator, "accept", requests.Input{}}, {w.plHandler, "answer", requests.Input{Answers: answers()}}},
		requests.Closed:        {{w.deHandler, "send", requests.Input{}}, {w.plAllocator, "accept", requests.Input{}}, {w.plHandler, "answer", requests.Input{Answers: answers()}}, {w.deHandler, "close", requests.Input{}}},
	}
	// A valid input for each action: what the machine allows must not
	// fail for want of one.
	input := func(action string) requests.Input {
		in := requests.Input{Comment: "A comment."}
		switch action {
		case "forward":
			in.ResponderID = w.plCA2.ID
		case "split":
			in.ResponderID, in.Questions = w.plCA2.ID, []string{"diploma_issuer_competent"}
		case "reallocate":
			in.HandlerID = w.plHandler.UserID
		case "propose_date":
			in.ReplyBy = w.now.AddDate(0, 2, 0)
		case "answer":
			in.Answers = answers()
		}
		return in
	}
	m := w.svc.Machine()
	var actions []string
	for name := range m.Actions {
		actions = append(actions, name)
	}
	sort.Strings(actions)
	states := []string{requests.Draft, requests.Sent, requests.Accepted, requests.InfoRequested, requests.Answered, requests.Closed}
	fresh := func(state string) *requests.Request {
		r := w.draft()
		for _, st := range paths[state] {
			w.act(st.by, r.ID, st.action, st.in)
		}
		return r
	}
	tried, allowed := 0, 0
	for _, state := range states {
		for _, u := range users {
			r := fresh(state)
			parties := u.parties
			if state == requests.Draft {
				// A draft is the requester's alone.
				parties = nil
				for _, p := range u.parties {
					if p == workflow.Requester || p == workflow.RequesterCoordinator {
						parties = append(parties, p)
					}
				}
			}
			// Reads.
			got, err := w.svc.Get(w.ctx, u.actor, r.ID)
			switch {
			case len(parties) == 0 && !isKind(err, problem.NotFound):
				t.Errorf("%s reads a %s request: %v", u.name, state, err)
			case len(parties) > 0 && err != nil:
				t.Errorf("%s cannot read a %s request: %v", u.name, state, err)
			case err == nil && got.PersonalShown != (slices.Contains(parties, workflow.Requester) || slices.Contains(parties, workflow.Responder)):
				t.Errorf("%s, %s: personal data shown %v", u.name, state, got.PersonalShown)
			}
			for _, action := range actions {
				tried++
				want := false
				if a := m.Actions[action]; a != nil {
					_, _, nerr := m.Next(state, action, workflow.Who{Parties: parties, Roles: u.roles}, nil)
					want = nerr == nil
				}
				before := w.count(`SELECT COUNT(*) FROM case_events`)
				in := input(action)
				var err error
				if action == "attach" {
					_, err = w.svc.Attach(w.ctx, u.actor, r.ID, requests.Upload{Name: "scan.pdf", Body: bytes.NewReader(pdf)}, "")
				} else {
					_, err = w.svc.Act(w.ctx, u.actor, r.ID, action, in)
				}
				desc := fmt.Sprintf("%s by %s in %s", action, u.name, state)
				if want {
					allowed++
					if err != nil {
						t.Errorf("%s: refused although allowed: %v", desc, err)
					}
					r = fresh(state) // the action changed it: start again
					continue
				}
				if err == nil {
					t.Errorf("%s: allowed although the machine refuses it", desc)
					r = fresh(state)
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
	t.Logf("%d attempts, %d allowed", tried, allowed)
}
