package requests

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/problem"
	"github.com/openimi/openimi/internal/text"
	"github.com/openimi/openimi/internal/workflow"
)

// Boxes of the inbox.
const (
	ToDo     = "todo"     // waiting for the viewer's authority (or, for a coordinator, its decision)
	Outgoing = "sent"     // sent by the viewer's authority, still open
	Incoming = "received" // received by the viewer's authority, still open
	Drafts   = "drafts"
	Done     = "closed" // closed, declined or withdrawn, on either side
)

// Boxes lists the boxes in the order the inbox shows them.
var Boxes = []string{ToDo, Incoming, Outgoing, Drafts, Done}

// Filter narrows an inbox.
type Filter struct {
	Area    string
	State   string
	Country string // the other side's country (either side's for a coordinator)
	Overdue bool
	Text    string // a reference, or (for the parties) the subject's name
	Page    int
	PerPage int
}

// countOnly as Filter.PerPage makes Inbox count without listing.
const countOnly = -1

// Counts returns how many requests each box holds for the actor.
func (s *Service) Counts(ctx context.Context, actor authorities.Actor) (map[string]int, error) {
	out := map[string]int{}
	for _, b := range Boxes {
		_, n, err := s.Inbox(ctx, actor, b, Filter{PerPage: countOnly})
		if err != nil {
			return nil, err
		}
		out[b] = n
	}
	return out, nil
}

// Inbox lists the requests of a box for the actor, latest activity first.
func (s *Service) Inbox(ctx context.Context, actor authorities.Actor, box string, f Filter) ([]*Request, int, error) {
	me := actor.Authority
	if me == nil {
		return nil, 0, nil
	}
	if f.PerPage != countOnly && (f.PerPage <= 0 || f.PerPage > 100) {
		f.PerPage = 20
	}
	if f.Page < 1 {
		f.Page = 1
	}
	if !text.Block(f.Text) { // NUL or broken UTF-8: PostgreSQL would fail on it
		return nil, 0, problem.Field("q", "error_text_invalid")
	}
	if len(f.Text) > 200 {
		return nil, 0, problem.Field("q", "error_query_too_long", "Max", 200)
	}
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	mine := arg(me.ID)
	var cond string
	switch box {
	case ToDo:
		cond = "((r.requester_id = " + mine + " AND (r.state IN ('info_requested', 'answered') OR r.proposed_reply_by IS NOT NULL AND r.state IN ('accepted', 'info_requested')))" +
			" OR (r.responder_id = " + mine + " AND r.state IN ('sent', 'accepted'))"
		if actor.HasAny(authorities.Coordinator) {
			// Coordinators of the country decide on what waits for
			// approval or allocation there; their exact scope is checked
			// on each request below.
			country := arg(me.Country)
			cond += " OR (r.state = 'awaiting_approval' AND ra.country = " + country + ") OR (r.state = 'awaiting_allocation' AND pa.country = " + country + ")"
		}
		cond += ")"
	case Outgoing:
		cond = "r.requester_id = " + mine + " AND r.state NOT IN ('draft', 'closed', 'declined', 'withdrawn')"
	case Incoming:
		cond = "r.responder_id = " + mine + " AND r.state IN ('sent', 'accepted', 'info_requested', 'answered')"
	case Drafts:
		cond = "r.requester_id = " + mine + " AND r.state = 'draft'"
	case Done:
		cond = "(r.requester_id = " + mine + " OR r.responder_id = " + mine + " AND r.sent_at IS NOT NULL) AND r.state IN ('closed', 'declined', 'withdrawn')"
	default:
		return nil, 0, problem.Field("box", "error_request_box")
	}
	if f.Area != "" {
		cond += " AND r.area = " + arg(f.Area)
	}
	if f.State != "" {
		cond += " AND r.state = " + arg(f.State)
	}
	if f.Country != "" {
		c := arg(f.Country)
		cond += " AND (ra.country = " + c + " AND r.requester_id <> " + mine + " OR pa.country = " + c + " AND COALESCE(r.responder_id, '') <> " + mine + ")"
	}
	if f.Overdue {
		cond += " AND r.state IN ('sent', 'accepted', 'info_requested', 'awaiting_allocation') AND r.reply_by < " + arg(s.clock())
	}
	if t := strings.TrimSpace(f.Text); t != "" {
		// A reference, or the subject's name, which only the parties may
		// search by.
		cond += " AND (UPPER(r.reference) LIKE " + arg(db.EscapeLike(strings.ToUpper(t))+"%") + " ESCAPE '\\'" +
			" OR ((r.requester_id = " + mine + " OR r.responder_id = " + mine + ") AND LOWER(r.subject_name) LIKE " + arg(db.Contains(strings.ToLower(t))) + " ESCAPE '\\'))"
	}
	from := `FROM requests r JOIN authorities ra ON ra.id = r.requester_id LEFT JOIN authorities pa ON pa.id = r.responder_id WHERE ` + cond
	var total int
	if err := s.db.Read().QueryRowContext(ctx, `SELECT COUNT(*) `+from, args...).Scan(&total); err != nil {
		return nil, 0, db.Check(err)
	}
	if f.PerPage == countOnly {
		return nil, total, nil
	}
	rows, err := s.db.Read().QueryContext(ctx, `SELECT `+columns("r.")+` `+from+fmt.Sprintf(` ORDER BY r.last_activity_at DESC, r.id LIMIT %d OFFSET %d`, f.PerPage, (f.Page-1)*f.PerPage), args...)
	if err != nil {
		return nil, 0, db.Check(err)
	}
	var list []*Request
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			_ = rows.Close()
			return nil, 0, db.Check(err)
		}
		list = append(list, r)
	}
	_ = rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, db.Check(err)
	}
	// The page's authorities, each read once.
	seen := map[string]*authorities.Authority{}
	get := func(id string) (*authorities.Authority, error) {
		if a, ok := seen[id]; ok || id == "" {
			return a, nil
		}
		a, err := s.authorities.Get(ctx, id)
		seen[id] = a
		return a, err
	}
	out := make([]*Request, 0, len(list))
	for _, r := range list {
		if r.Requester, err = get(r.RequesterID); err != nil {
			return nil, 0, err
		}
		if r.Responder, err = get(r.ResponderID); err != nil {
			return nil, 0, err
		}
		w, err := s.who(ctx, actor, r)
		if err != nil {
			return nil, 0, err
		}
		if len(w.Parties) == 0 {
			total-- // a coordinator of the country, but not of this authority
			continue
		}
		out = append(out, s.view(r, w))
	}
	return out, total, nil
}

// Entry is one line of a request's timeline as a viewer may see it.
type Entry struct {
	At          time.Time
	Action      string
	From, To    string
	AuthorityID string
	Authority   string // its name in its own language
	Party       string
	Comment     string // empty when the viewer may not read it
	Data        map[string]string
}

// Timeline returns a request's events for the actor. Comments and details
// may hold personal data: the parties read them all; a coordinator reads
// only what coordinators wrote.
func (s *Service) Timeline(ctx context.Context, actor authorities.Actor, id string) ([]Entry, error) {
	r, w, err := s.takingPart(ctx, s.db.Read(), actor, id)
	if err != nil {
		return nil, err
	}
	party := seesPersonal(r, w)
	events, err := workflow.History(ctx, s.db.Read(), id)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	out := make([]Entry, 0, len(events))
	for _, e := range events {
		en := Entry{At: e.At, Action: e.Action, From: e.From, To: e.To, AuthorityID: e.AuthorityID, Party: e.Party}
		if e.AuthorityID != "" {
			if _, ok := names[e.AuthorityID]; !ok {
				if a, err := s.authorities.Get(ctx, e.AuthorityID); err == nil {
					names[e.AuthorityID] = a.Name
				}
			}
			en.Authority = names[e.AuthorityID]
		}
		if party || workflow.IsCoordinator(e.Party) && r.BlockedAt == nil {
			en.Comment = e.Comment
		}
		if party && e.Data != "" {
			_ = json.Unmarshal([]byte(e.Data), &en.Data)
		}
		out = append(out, en)
	}
	return out, nil
}
