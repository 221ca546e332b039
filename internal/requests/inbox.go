package requests

import (
	"context"
	"database/sql"
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
	// Brief reads only what a row of the inbox shows (briefColumns):
	// the requests come without the subject's fields, the message, the
	// question set, the ratings, who created and who handles them, their
	// parent, and the moments of each step but the reply-by date; nor are
	// the actions the viewer may take listed (Request.Actions). The pages
	// of the inbox are read so; the API's list gives whole requests.
	Brief bool
}

// countExact as Filter.PerPage makes Inbox count the box from its
// rows, without listing them: what the kept counts must equal (tests).
const countExact = -2

// Count returns the number of requests in one box.
func (s *Service) Count(ctx context.Context, actor authorities.Actor, box string) (int, error) {
	counts, err := s.Counts(ctx, actor)
	return counts[box], err
}

// Counts returns how many requests each box holds for the actor. They are
// kept in inbox_counts by the database (migration 15) in the transaction
// of every change, so that no page counts rows. A coordinator's to-do box
// also counts what waits for its decision in the country, as Inbox lists
// it: for a national coordinator the country's kept count; for a delegated
// one, whose scope is some regions or areas of the country, a count of
// the requests in its scope (decisions).
func (s *Service) Counts(ctx context.Context, actor authorities.Actor) (map[string]int, error) {
	out := make(map[string]int, len(Boxes))
	for _, b := range Boxes {
		out[b] = 0
	}
	me := actor.Authority
	if me == nil {
		return out, nil
	}
	country := ""
	var scoped sqlArgs // a delegated coordinator's decisions, as a count's arguments
	var counted []string
	switch {
	case !decides(actor):
	case me.Kind == authorities.DelegatedCoordinator:
		// A count for each state, each one range of the states' index.
		for _, b := range decisions(actor, scoped.add) {
			for _, st := range b.states {
				counted = append(counted, `(SELECT COUNT(*) `+withParties+` WHERE `+b.where(st)+`)`)
			}
		}
	default: // the whole country: its kept count
		country = countryOwner + me.Country
	}
	rows, err := s.db.Read().QueryContext(ctx, `SELECT owner, box, n FROM inbox_counts WHERE owner IN ($1, $2)`, me.ID, country)
	if err != nil {
		return nil, db.Check(err)
	}
	defer rows.Close()
	for rows.Next() {
		var owner, box string
		var n int
		if err := rows.Scan(&owner, &box, &n); err != nil {
			return nil, db.Check(err)
		}
		if owner == me.ID || box == ToDo {
			out[box] += n
		}
	}
	if err := rows.Err(); err != nil {
		return nil, db.Check(err)
	}
	if len(counted) > 0 {
		var n int
		if err := s.db.Read().QueryRowContext(ctx, `SELECT `+strings.Join(counted, " + "), scoped.list...).Scan(&n); err != nil {
			return nil, db.Check(err)
		}
		out[ToDo] += n
	}
	return out, nil
}

// decisions are the branches of a coordinator's to-do box that wait for
// its decision in its country: requests awaiting the approval of their
// requester, or allocation to a responder, in its country, or for a
// delegated coordinator of an authority in its scope, its regions and
// areas (authorities.Actor.ValidatesSQL, the rule of CanValidate, which
// who applies to each request). None for anyone else, nor for a
// coordinator whose authority is deactivated. arg binds a value.
func decisions(actor authorities.Actor, arg func(any) string) []branch {
	if !decides(actor) {
		return nil
	}
	me := actor.Authority
	if me.Kind == authorities.DelegatedCoordinator {
		return []branch{{actor.ValidatesSQL("ra", arg), "", []string{AwaitingApproval}}, {actor.ValidatesSQL("pa", arg), "", []string{AwaitingAllocation}}}
	}
	country := arg(me.Country)
	return []branch{{"ra.country = " + country, "", []string{AwaitingApproval}}, {"pa.country = " + country, "", []string{AwaitingAllocation}}}
}

// decides reports whether the actor decides on what waits in its
// country (decisions): a coordinator of an authority not deactivated.
func decides(actor authorities.Actor) bool {
	me := actor.Authority
	return me != nil && me.Status != authorities.Deactivated && actor.HasAny(authorities.Coordinator)
}

// withParties is the FROM of a box whose conditions name the parties'
// authorities: ra the requester's, pa the responder's.
const withParties = `FROM requests r JOIN authorities ra ON ra.id = r.requester_id LEFT JOIN authorities pa ON pa.id = r.responder_id`

// maxPage is the last page of a box one may ask for (a million requests
// at 100 a page): each state of a box reads up to page × per-page entries.
const maxPage = 10_000

// countryOwner prefixes a country's code in inbox_counts.
const countryOwner = "country:"

// Inbox lists the requests of a box for the actor, latest activity first.
// Their Requester and Responder are the authorities the server keeps,
// shared with every page (authorities.GetManyShared): read them, never
// change them.
func (s *Service) Inbox(ctx context.Context, actor authorities.Actor, box string, f Filter) ([]*Request, int, error) {
	return s.inbox(ctx, actor, box, f, nil)
}

// InboxWithCounts is Inbox with the tabs' counts (Counts), read once for
// both: the page of a box shows its tabs.
func (s *Service) InboxWithCounts(ctx context.Context, actor authorities.Actor, box string, f Filter) ([]*Request, int, map[string]int, error) {
	counts, err := s.Counts(ctx, actor)
	if err != nil {
		return nil, 0, nil, err
	}
	list, total, err := s.inbox(ctx, actor, box, f, counts)
	return list, total, counts, err
}

// inbox is Inbox; counts, when given, are the actor's (Counts).
func (s *Service) inbox(ctx context.Context, actor authorities.Actor, box string, f Filter, counts map[string]int) ([]*Request, int, error) {
	me := actor.Authority
	if me == nil {
		return nil, 0, nil
	}
	if f.PerPage != countExact && (f.PerPage <= 0 || f.PerPage > 100) {
		f.PerPage = 20
	}
	if f.Page < 1 {
		f.Page = 1
	}
	if f.Page > maxPage {
		return nil, 0, problem.Field("page", "error_page_invalid")
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
	var branches []branch
	var filter string
	requester, responder := "r.requester_id = "+mine, "r.responder_id = "+mine
	switch box {
	case ToDo:
		branches = []branch{
			{requester, "", []string{InfoRequested, Answered}},
			{requester, "r.proposed_reply_by IS NOT NULL", []string{Accepted}},
			{responder, "", []string{Sent, Accepted}},
		}
		// Coordinators decide on what waits for approval or allocation
		// in their scope (who checks it again on each request below).
		branches = append(branches, decisions(actor, arg)...)
	case Outgoing:
		branches = []branch{{requester, "", []string{AwaitingApproval, AwaitingAllocation, Sent, Accepted, InfoRequested, Answered}}}
	case Incoming:
		branches = []branch{{responder, "", []string{Sent, Accepted, InfoRequested, Answered}}}
	case Drafts:
		branches = []branch{{requester, "", []string{Draft}}}
	case Done:
		branches = []branch{{requester, "", []string{Closed, Declined, Withdrawn}}, {responder, "r.sent_at IS NOT NULL", []string{Closed, Declined, Withdrawn}}}
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
	// row of the table, thousands for a large authority. No request is in
	// two branches of a box (their states differ, or the requester is not
	// the responder: an authority abroad), so none is read twice.
	var matching string
	conds := make([]string, len(branches))
	for i, b := range branches {
		conds[i] = b.where("")
	}
	cond := strings.Join(conds, " ") + filter
	plain := !strings.Contains(cond, "ra.") && !strings.Contains(cond, "pa.")
	if plain {
		parts := make([]string, len(branches))
		for i, c := range conds {
			parts[i] = `SELECT r.id, r.last_activity_at FROM requests r WHERE ` + c + filter
		}
		matching = strings.Join(parts, " UNION ALL ")
	} else {
		matching = `SELECT r.id, r.last_activity_at ` + withParties + ` WHERE ((` + strings.Join(conds, ") OR (") + `))` + filter
	}
	var total int
	if f.PerPage == countExact || filter != "" {
		if err := s.db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM (`+matching+`) m`, args...).Scan(&total); err != nil {
			return nil, 0, db.Check(err)
		}
		if f.PerPage == countExact {
			return nil, total, nil
		}
	} else { // the whole box: its kept count
		if counts == nil {
			var err error
			if counts, err = s.Counts(ctx, actor); err != nil {
				return nil, 0, err
			}
		}
		total = counts[box]
	}
	// The page: from each state of each branch, read in its index's
	// order, only as many entries as the pages up to this one hold; then
	// the latest of those. A box of thousands reads a few dozen entries.
	order := ` ORDER BY last_activity_at DESC, id DESC`
	listing := matching
	if plain {
		var parts []string
		for _, b := range branches {
			for _, st := range b.states {
				if f.State != "" && f.State != st {
					continue
				}
				parts = append(parts, `SELECT id, last_activity_at FROM (SELECT r.id, r.last_activity_at FROM requests r WHERE `+b.where(st)+filter+
					strings.ReplaceAll(order, " last_", " r.last_")+fmt.Sprintf(` LIMIT %d) b%d`, f.Page*f.PerPage, len(parts)))
			}
		}
		if len(parts) == 0 {
			return nil, total, nil
		}
		listing = strings.Join(parts, " UNION ALL ")
	}
	list, err := s.page(ctx, `SELECT m.id FROM (`+listing+`) m`+strings.ReplaceAll(order, " last_", " m.last_")+fmt.Sprintf(` LIMIT %d OFFSET %d`, f.PerPage, (f.Page-1)*f.PerPage), args, f.Brief)
	if err != nil {
		return nil, 0, err
	}
	// The page's authorities, read together: the instances the server
	// keeps, which the list's readers only read (GetManyShared).
	ids := make([]string, 0, 2*len(list))
	for _, r := range list {
		ids = append(ids, r.RequesterID, r.ResponderID)
	}
	parties, err := s.authorities.GetManyShared(ctx, ids)
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
			total-- // out of the actor's sight after all (changed meanwhile)
			continue
		}
		if f.Brief {
			out = append(out, shown(r, w))
		} else {
			out = append(out, s.view(r, w))
		}
	}
	return out, total, nil
}

// branch is one way into a box: who the viewer is to the request (side),
// a further condition (extra), and the states; each state of a branch is a
// range of one index (requests_requester, requests_proposed,
// requests_responder, requests_responder_sent: migration 13), or, for a
// coordinator's country, of the states.
type branch struct {
	side, extra string
	states      []string
}

// where is the branch's condition, for one of its states or ("") all.
// The states are the package's constants.
func (b branch) where(state string) string {
	w := b.side
	if b.extra != "" {
		w += " AND " + b.extra
	}
	if state != "" {
		return w + " AND r.state = '" + state + "'"
	}
	return w + " AND r.state IN ('" + strings.Join(b.states, "', '") + "')"
}

// page reads the requests whose ids query returns, in its order: the ids
// come from the indexes alone (see migration 13), then only those rows are
// read, instead of every matching row before sorting them; brief ones
// (Filter.Brief) if brief.
func (s *Service) page(ctx context.Context, query string, args []any, brief bool) ([]*Request, error) {
	ids, err := db.Strings(s.db.Read().QueryContext(ctx, query, args...))
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	in := make([]string, len(ids))
	idArgs := make([]any, len(ids))
	for i, id := range ids {
		in[i], idArgs[i] = fmt.Sprintf("$%d", i+1), id
	}
	cols, scan := columns("r."), scanWhole
	if brief {
		cols, scan = briefColumns, scanBrief
	}
	rows, err := s.db.Read().QueryContext(ctx, `SELECT `+cols+` FROM requests r WHERE r.id IN (`+strings.Join(in, ", ")+`)`, idArgs...)
	if err != nil {
		return nil, db.Check(err)
	}
	defer rows.Close()
	byID := make(map[string]*Request, len(ids))
	for rows.Next() {
		r, err := scan(rows)
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

// briefColumns lists what scanBrief reads, from the requests table as r:
// what a row of the inbox shows, and what deciding what its viewer sees
// needs (the parties, the state, whether the personal data is blocked;
// erasure blocks it too, and empties the subject's name). What it leaves
// out cost about an eighth of the processor time of an inbox page at 1m on
// SQLite: decoding each subject's JSON (4%), parsing the moments of each
// step from text (6%) and listing the actions (2.5%; docs/PERFORMANCE.md,
// change 30).
const briefColumns = `r.id, r.reference, r.area, r.state, r.requester_id, COALESCE(r.responder_id, ''), r.reply_by, r.subject_name, r.blocked_at`

// scanBrief scans a row of briefColumns.
func scanBrief(row interface{ Scan(...any) error }) (*Request, error) {
	var r Request
	var blocked sql.NullTime
	if err := row.Scan(&r.ID, &r.Reference, &r.Area, &r.State, &r.RequesterID, &r.ResponderID, &r.ReplyBy, &r.SubjectName, &blocked); err != nil {
		return nil, err
	}
	r.BlockedAt = db.Time(blocked)
	r.ReplyBy = r.ReplyBy.UTC()
	return &r, nil
}

// scanWhole scans a row of columns(): scanRequest as page's scanner, which
// takes the row alone (scanRequest also scans further columns into more).
func scanWhole(row interface{ Scan(...any) error }) (*Request, error) { return scanRequest(row) }

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

func (s *Service) timeline(ctx context.Context, id string, party, blocked bool) ([]Entry, error) {
	events, err := workflow.History(ctx, s.db.Read(), id)
	if err != nil {
		return nil, err
	}
	return s.entries(ctx, events, party, blocked), nil
}

// entries is a request's timeline from its events, as a party (party)
// or a coordinator sees it.
func (s *Service) entries(ctx context.Context, events []workflow.Event, party, blocked bool) []Entry {
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
	return out
}
