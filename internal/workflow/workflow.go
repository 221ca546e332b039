// Package workflow is the declarative state machine every kind of case
// (information request, alert, notification) runs on. A machine is data
// (machines/*.yaml): the parties a case has, its states, and its actions —
// from which states, to which state, fired by which party holding which
// role, under which options (of the area pack, of the case, or of the
// actor's part in it, e.g. "acknowledged"), with which named effects. Firing an
// action appends an event to the case's history in the caller's
// transaction; state, timeline and statistics derive from those events.
package workflow

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.yaml.in/yaml/v3"

	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/problem"
)

//go:embed machines/*.yaml
var machines embed.FS

// Parties of the request machine. Each machine declares its own parties;
// coordinators' parts end in "_coordinator".
const (
	Requester            = "requester"
	Responder            = "responder"
	RequesterCoordinator = "requester_coordinator"
	ResponderCoordinator = "responder_coordinator"
)

// Machine is one kind of case's state machine.
type Machine struct {
	Name    string             `yaml:"name"`
	Parties []string           `yaml:"parties"`
	Initial string             `yaml:"initial"`
	States  []string           `yaml:"states"`
	Final   []string           `yaml:"final"`
	Actions map[string]*Action `yaml:"actions"`
}

// Action is a transition.
type Action struct {
	Name    string   `yaml:"-"`
	From    []string `yaml:"from"`
	To      string   `yaml:"to"` // "" stays in the state (a comment, an answer)
	By      []string `yaml:"by"` // parties
	Roles   []string `yaml:"roles"`
	If      []string `yaml:"if"`      // options that must be set
	Unless  []string `yaml:"unless"`  // options that must not be set
	Comment string   `yaml:"comment"` // required, optional or none (default)
	Effects []string `yaml:"effects"`
}

// Who is an actor as a machine sees it: the parties it takes in the case
// and the roles it holds for the case's area.
type Who struct {
	Parties []string
	Roles   []string
}

func (w Who) is(party string) bool { return slices.Contains(w.Parties, party) }

// Load reads and checks the machine name from the embedded definitions;
// effects lists the effects the calling service implements.
func Load(name string, effects []string) (*Machine, error) {
	raw, err := machines.ReadFile("machines/" + name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("workflow %s: %w", name, err)
	}
	return Parse(raw, effects)
}

// Parse reads and checks a machine definition.
func Parse(raw []byte, effects []string) (*Machine, error) {
	var m Machine
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("workflow: %w", err)
	}
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if len(m.Parties) == 0 {
		bad("no parties")
	}
	if !slices.Contains(m.States, m.Initial) {
		bad("initial state %q is not a state", m.Initial)
	}
	for _, f := range m.Final {
		if !slices.Contains(m.States, f) {
			bad("final state %q is not a state", f)
		}
	}
	reached := map[string]bool{m.Initial: true}
	for name, a := range m.Actions {
		a.Name = name
		if len(a.From) == 0 {
			bad("action %s: no from state", name)
		}
		for _, s := range a.From {
			if !slices.Contains(m.States, s) {
				bad("action %s: from %q is not a state", name, s)
			}
			if slices.Contains(m.Final, s) && a.To != "" && a.To != s {
				bad("action %s: leaves final state %q", name, s)
			}
		}
		if a.To != "" && !slices.Contains(m.States, a.To) {
			bad("action %s: to %q is not a state", name, a.To)
		}
		reached[a.To] = true
		if len(a.By) == 0 {
			bad("action %s: nobody may fire it", name)
		}
		for _, p := range a.By {
			if !slices.Contains(m.Parties, p) {
				bad("action %s: unknown party %q", name, p)
			}
		}
		switch a.Comment {
		case "", "none", "optional", "required":
		default:
			bad("action %s: comment must be required, optional or none", name)
		}
		for _, e := range a.Effects {
			if !slices.Contains(effects, e) {
				bad("action %s: unknown effect %q", name, e)
			}
		}
	}
	for _, s := range m.States {
		if !reached[s] {
			bad("state %q cannot be reached", s)
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return nil, fmt.Errorf("workflow %s:\n  %s", m.Name, strings.Join(problems, "\n  "))
	}
	return &m, nil
}

// may reports whether who may fire a in state under options.
func (m *Machine) may(a *Action, state string, who Who, options map[string]bool) bool {
	if !slices.Contains(a.From, state) {
		return false
	}
	for _, o := range a.If {
		if !options[o] {
			return false
		}
	}
	for _, o := range a.Unless {
		if options[o] {
			return false
		}
	}
	party := slices.ContainsFunc(a.By, who.is)
	role := len(a.Roles) == 0 || slices.ContainsFunc(a.Roles, func(r string) bool { return slices.Contains(who.Roles, r) })
	return party && role
}

// Allowed returns the actions who may fire in state, sorted by name.
func (m *Machine) Allowed(state string, who Who, options map[string]bool) []*Action {
	var out []*Action
	for _, a := range m.Actions {
		if m.may(a, state, who, options) {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ErrNotAllowed is returned by Next for an action that who may not fire
// in state (or that does not exist).
type ErrNotAllowed struct{ Action, State string }

func (e *ErrNotAllowed) Error() string {
	return fmt.Sprintf("workflow: %s is not possible in state %s", e.Action, e.State)
}

// Party returns the part in which who fires a: the first of the action's
// parties who takes.
func (a *Action) Party(who Who) string {
	for _, p := range a.By {
		if who.is(p) {
			return p
		}
	}
	return ""
}

// IsCoordinator reports whether party is a coordinator's part.
func IsCoordinator(party string) bool { return strings.HasSuffix(party, "_coordinator") }

// Next returns the action and the state it leads to.
func (m *Machine) Next(state, action string, who Who, options map[string]bool) (*Action, string, error) {
	a := m.Actions[action]
	if a == nil || !m.may(a, state, who, options) {
		return nil, "", &ErrNotAllowed{Action: action, State: state}
	}
	to := a.To
	if to == "" {
		to = state
	}
	return a, to, nil
}

// IsFinal reports whether state ends the case.
func (m *Machine) IsFinal(state string) bool { return slices.Contains(m.Final, state) }

// Event is one step in a case's history.
type Event struct {
	ID          string
	CaseID      string
	Seq         int
	At          time.Time
	Action      string
	From, To    string
	UserID      string
	AuthorityID string
	Party       string // the part the user acted in
	Comment     string
	Data        string // JSON details (question codes, a new date…); may be personal
}

// Record appends e to its case's history inside tx, numbered after the
// last: two actions racing on one case cannot both take the same number,
// so one fails with a conflict. The number is found in the insert itself,
// one statement (a round trip to PostgreSQL) for both.
func Record(ctx context.Context, tx db.Querier, e *Event) error {
	e.ID = uuid.Must(uuid.NewV7()).String()
	e.At = e.At.UTC().Truncate(time.Microsecond)
	err := tx.QueryRowContext(ctx, `INSERT INTO case_events (id, case_id, seq, at, action, from_state, to_state, user_id, authority_id, party, comment, data)
		VALUES ($1, $2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM case_events WHERE case_id = $2), $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING seq`,
		e.ID, e.CaseID, e.At, e.Action, e.From, e.To, nullable(e.UserID), nullable(e.AuthorityID), e.Party, e.Comment, e.Data).Scan(&e.Seq)
	return db.Check(err)
}

// History returns a case's events in order.
func History(ctx context.Context, q db.Querier, caseID string) ([]Event, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, case_id, seq, at, action, from_state, to_state, COALESCE(user_id, ''), COALESCE(authority_id, ''), party, comment, data
		FROM case_events WHERE case_id = $1 ORDER BY seq`, caseID)
	if err != nil {
		return nil, db.Check(err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		if err := rows.Scan(&e.ID, &e.CaseID, &e.Seq, &e.At, &e.Action, &e.From, &e.To, &e.UserID, &e.AuthorityID, &e.Party, &e.Comment, &e.Data); err != nil {
			return nil, db.Check(err)
		}
		out = append(out, e)
	}
	return out, db.Check(rows.Err())
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Step is one action being fired on a case whose row lives in Table (with
// columns id, state, last_activity_at and updated_at).
type Step struct {
	Table                 string
	CaseID, State, Action string
	Who                   Who
	Options               map[string]bool
	UserID, AuthorityID   string
	Comment               string
	At                    time.Time
	// Refusals: the message keys for a step not possible now (with
	// Action and State) and for a case changed at the same moment.
	NotPossible, Changed string
}

// Fire fires s.Action on the case inside tx. It checks that who may fire
// it in the state, and that a required comment is there; runs effect for
// each of the action's effects in order (an effect may fill in the
// event's Data, or refuse with an error); moves the case's row from the
// state read to the next, so that of two users acting at once one wins;
// and records the event. Nothing is written if anything fails.
func (m *Machine) Fire(ctx context.Context, tx db.Querier, s Step, effect func(name string, e *Event) error) (*Event, error) {
	a, to, err := m.Next(s.State, s.Action, s.Who, s.Options)
	var notAllowed *ErrNotAllowed
	if errors.As(err, &notAllowed) {
		return nil, problem.New(problem.Conflict, s.NotPossible, "Action", s.Action, "State", s.State)
	}
	if err != nil {
		return nil, err
	}
	comment := strings.TrimSpace(s.Comment)
	if a.Comment == "required" && comment == "" {
		return nil, problem.Field("comment", "error_request_comment")
	}
	e := &Event{CaseID: s.CaseID, At: s.At, Action: s.Action, From: s.State, To: to, UserID: s.UserID, AuthorityID: s.AuthorityID, Party: a.Party(s.Who), Comment: comment}
	for _, name := range a.Effects {
		if err := effect(name, e); err != nil {
			return nil, err
		}
	}
	changed := problem.New(problem.Conflict, s.Changed)
	res, err := tx.ExecContext(ctx, `UPDATE `+s.Table+` SET state = $1, last_activity_at = $2, updated_at = $2 WHERE id = $3 AND state = $4`, to, s.At, s.CaseID, s.State)
	if err != nil {
		return nil, db.Check(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return nil, changed
	}
	if err := Record(ctx, tx, e); err != nil {
		if errors.Is(err, db.ErrConflict) {
			return nil, changed
		}
		return nil, err
	}
	return e, nil
}

// Once claims an idempotency key of a user for scope inside tx, and
// returns the result recorded by an earlier use of the key for the same
// scope ("" the first time); a key used for something else is refused.
//
// The claim is an insert that does nothing on a conflict, then a read: of
// two requests with one key at once, one inserts; the other's insert waits
// until the first commits (PostgreSQL waits on the row, SQLite's writers
// take turns), or claims the key itself if the first rolls back, and then
// reads the first's result instead of failing on the duplicate key.
func Once(ctx context.Context, tx db.Querier, userID, key, scope, result string, now time.Time) (string, error) {
	if key == "" {
		return "", nil
	}
	if len(key) > 200 {
		return "", problem.Field("idempotency_key", "error_text_too_long", "Max", 200)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO idempotency_keys (user_id, key, scope, result, created_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (user_id, key) DO NOTHING`, userID, key, scope, result, now)
	if err != nil {
		return "", db.Check(err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return "", db.Check(err)
	} else if n == 1 {
		return "", nil
	}
	var was, earlier string
	err = tx.QueryRowContext(ctx, `SELECT scope, result FROM idempotency_keys WHERE user_id = $1 AND key = $2`, userID, key).Scan(&was, &earlier)
	switch {
	case err == nil && was == scope:
		return earlier, nil
	case err == nil:
		return "", problem.New(problem.Conflict, "error_idempotency_key")
	}
	return "", db.Check(err)
}

// Number returns the next number of the counter name (1 the first time),
// inside tx, for human-readable references of cases.
func Number(ctx context.Context, tx db.Querier, name string) (int64, error) {
	var n int64
	err := tx.QueryRowContext(ctx, `INSERT INTO counters (name, value) VALUES ($1, 1) ON CONFLICT (name) DO UPDATE SET value = counters.value + 1 RETURNING value`, name).Scan(&n)
	return n, db.Check(err)
}
