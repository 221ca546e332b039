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

// countOnly as Filter.PerPage makes Inbox count without listing, up to
// CountCap + 1; countExact counts them all.
const (
	countOnly  = -1
	countExact = -2
)

// CountCap bounds the counts of the inbox's tabs: an authority with tens
// of thousands of requests would otherwise count them all, five boxes
// over, on every page (bench/load: a hundred milliseconds on PostgreSQL
// with a million requests stored). A count above it reads "1000+".
const CountCap = 1000

// countLimit is CountCap, lowered by tests.
var countLimit = CountCap

// Count returns the number of requests in one box, exactly.
func (s *Service) Count(ctx context.Context, actor authorities.Actor, box string) (int, error) {
	_, n, err := s.Inbox(ctx, actor, box, Filter{PerPage: countExact})
	return n, err
}

// Counts returns how many requests each box holds for the actor, up to
// CountCap + 1 (which means more than CountCap).
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
	if f.PerPage != countOnly && f.PerPage != countExact && (f.PerPage <= 0 || f.PerPage > 100) {
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
	// branches are the box's condition as alternatives, each one range of
	// an index (requests_requester, requests_proposed, requests_responder,
	// requests_responder_sent: migration 13); filter is what the user
	// narrows it by.
	var branches []string
	var filter string
	switch box {
	case ToDo:
		branches = []string{
			"r.requester_id = " + mine + " AND r.state IN ('info_requested', 'answered')",
			"r.requester_id = " + mine + " AND r.proposed_reply_by IS NOT NULL AND r.state = 'accepted'",
			"r.responder_id = " + mine + " AND r.state IN ('sent', 'accepted')",
		}
		if actor.HasAny(authorities.Coordinator) {
			// Coordinators of the country decide on what waits for
			// approval or allocation there; their exact scope is checked
			// on each request below.
			country := arg(me.Country)
			branches = append(branches, "r.state = 'awaiting_approval' AND ra.country = "+country, "r.state = 'awaiting_allocation' AND pa.country = "+country)
		}
	case Outgoing:
		branches = []string{"r.requester_id = " + mine + " AND r.state NOT IN ('draft', 'closed', 'declined', 'withdrawn')"}
	case Incoming:
		branches = []string{"r.responder_id = " + mine + " AND r.state IN ('sent', 'accepted', 'info_requested', 'answered')"}
	case Drafts:
		branches = []string{"r.requester_id = " + mine + " AND r.state = 'draft'"}
	case Done:
		branches = []string{"r.requester_id = " + mine + " AND r.state IN ('closed', 'declined', 'withdrawn')",
			"r.responder_id = " + mine + " AND r.sent_at IS NOT NULL AND r.state IN ('closed', 'declined', 'withdrawn')"}
	default:
		return nil, 0, problem.Field("box", "error_request_box")
	}
	if f.Area != "" {
		filter += " AND r.area = " + arg(f.Area)
	}
	if f.State != "" {
		filter += " AND r.state = " + arg(f.State)
	}
	if f.Country != "" {
		c := arg(f.Country)
		filter += " AND (ra.country = " + c + " AND r.requester_id <> " + mine + " OR pa.country = " + c + " AND COALESCE(r.responder_id, '') <> " + mine + ")"
	}
	if f.Overdue {
		filter += " AND r.state IN ('sent', 'accepted', 'info_requested', 'awaiting_allocation') AND r.reply_by < " + arg(s.clock())
	}
	if t := strings.TrimSpace(f.Text); t != "" {
		// A reference, or the subject's name, which only the parties may
		// search by.
		filter += " AND (UPPER(r.reference) LIKE " + arg(db.EscapeLike(strings.ToUpper(t))+"%") + " ESCAPE '\\'" +
			" OR ((r.requester_id = " + mine + " OR r.responder_id = " + mine + ") AND LOWER(r.subject_name) LIKE " + arg(db.Contains(strings.ToLower(t))) + " ESCAPE '\\'))"
	}
	// The requests of the box, as (id, last_activity_at) rows. Without a
	// join (the parties' countries are needed only for coordinators and
	// the country filter), each branch is read from its index alone and
	// the branches are united; an OR of them would read every matching
	// row of the table, thousands for a large authority.
	var matching string
	if cond := strings.Join(branches, " ") + filter; !strings.Contains(cond, "ra.") && !strings.Contains(cond, "pa.") {
		parts := make([]string, len(branches))
		for i, b := range branches {
			parts[i] = `SELECT r.id, r.last_activity_at FROM requests r WHERE ` + b + filter
		}
		matching = strings.Join(parts, " UNION ")
	} else {
		from := `FROM requests r JOIN authorities ra ON ra.id = r.requester_id LEFT JOIN authorities pa ON pa.id = r.responder_id`
		matching = `SELECT r.id, r.last_activity_at ` + from + ` WHERE ((` + strings.Join(branches, ") OR (") + `))` + filter
	}
	var total int
	count := `SELECT COUNT(*) FROM (` + matching + `) m`
	if f.PerPage == countOnly {
		count = `SELECT COUNT(*) FROM (SELECT 1 AS one FROM (` + matching + `) m` + fmt.Sprintf(` LIMIT %d) c`, countLimit+1)
	}
	if err := s.db.Read().QueryRowContext(ctx, count, args...).Scan(&total); err != nil {
		return nil, 0, db.Check(err)
	}
	if f.PerPage == countOnly || f.PerPage == countExact {
		return nil, total, nil
	}
	list, err := s.page(ctx, `SELECT m.id FROM (`+matching+`) m`+fmt.Sprintf(` ORDER BY m.last_activity_at DESC, m.id LIMIT %d OFFSET %d`, f.PerPage, (f.Page-1)*f.PerPage), args)
	if err != nil {
		return nil, 0, err
	}
	// The page's authorities, read together.
	ids := make([]string, 0, 2*len(list))
	for _, r := range list {
		ids = append(ids, r.RequesterID, r.ResponderID)
	}
	parties, err := s.authorities.GetMany(ctx, ids)
	if err != nil {
		return nil, 0, err
	}
	out := make([]*Request, 0, len(list))
	for _, r := range list {
		// Missing ones (none: references are checked) are read by who.
		r.Requester, r.Responder = parties[r.RequesterID], parties[r.ResponderID]
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

// page reads the requests whose ids query returns, in its order: the ids
// come from the indexes alone (see migration 13), then only those rows are
// read, instead of every matching row before sorting them.
func (s *Service) page(ctx context.Context, query string, args []any) ([]*Request, error) {
	ids, err := db.Strings(s.db.Read().QueryContext(ctx, query, args...))
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	in := make([]string, len(ids))
	idArgs := make([]any, len(ids))
	for i, id := range ids {
		in[i], idArgs[i] = fmt.Sprintf("$%d", i+1), id
	}
	rows, err := s.db.Read().QueryContext(ctx, `SELECT `+columns("r.")+` FROM requests r WHERE r.id IN (`+strings.Join(in, ", ")+`)`, idArgs...)
	if err != nil {
		return nil, db.Check(err)
	}
	defer rows.Close()
	byID := make(map[string]*Request, len(ids))
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, db.Check(err)
		}
		byID[r.ID] = r
	}
	if err := rows.Err(); err != nil {
		return nil, db.Check(err)
	}
	list := make([]*Request, 0, len(ids))
	for _, id := range ids {
		if r := byID[id]; r != nil { // gone meanwhile: left out
			list = append(list, r)
		}
	}
	return list, nil
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
	return s.timeline(ctx, r.ID, seesPersonal(r, w), r.BlockedAt != nil)
}

// TimelineOf is Timeline for a request Get has just returned to the same
// actor (its access checked, its view trimmed): a request's page needs
// both, and need not check twice.
func (s *Service) TimelineOf(ctx context.Context, r *Request) ([]Entry, error) {
	return s.timeline(ctx, r.ID, r.PersonalShown, r.BlockedAt != nil)
}

func (s *Service) timeline(ctx context.Context, id string, party, blocked bool) ([]Entry, error) {
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
		if party || workflow.IsCoordinator(e.Party) && !blocked {
			en.Comment = e.Comment
		}
		if party && e.Data != "" {
			_ = json.Unmarshal([]byte(e.Data), &en.Data)
		}
		out = append(out, en)
	}
	return out, nil
}
