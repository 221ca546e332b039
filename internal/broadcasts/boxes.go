package broadcasts

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/problem"
	"github.com/openimi/openimi/internal/text"
)

// Boxes of the alerts and notifications inbox.
const (
	ToDo     = "to_do"    // waits for the viewer
	Sent     = "sent"     // sent by the viewer's authority (or validated by it)
	Received = "received" // received by the viewer's authority or country
)

// Boxes lists the boxes in the order the inbox shows them.
var Boxes = []string{ToDo, Sent, Received}

// Filter narrows a box.
type Filter struct {
	Area, State, Text string
	Page, PerPage     int
}

// boxQuery is a box as SQL: a condition on broadcasts b, whose parts are
// subqueries, so that the database can use its indexes for each part
// (sender, recipient, country) and count without joining the box's rows.
type boxQuery struct {
	where               string
	args                []any
	myID, myCountry     string
	idMark, countryMark string
}

func (q *boxQuery) arg(v any) string {
	q.args = append(q.args, v)
	return fmt.Sprintf("$%d", len(q.args))
}

// id and country are the actor's authority and country as parameters,
// added once, when first used (PostgreSQL refuses unused parameters).
func (q *boxQuery) id() string {
	if q.idMark == "" {
		q.idMark = q.arg(q.myID)
	}
	return q.idMark
}

func (q *boxQuery) country() string {
	if q.countryMark == "" {
		q.countryMark = q.arg(q.myCountry)
	}
	return q.countryMark
}

// boxSQL is who as SQL: the cases of kind in which the actor takes a part
// (for ToDo, a superset that Inbox narrows with who), filtered. Each party
// mirrors a rule of who; TestTheInboxAgreesWithOpeningEachCase keeps them
// equal.
func (s *Service) boxSQL(actor authorities.Actor, kind, box string, f Filter) (*boxQuery, error) {
	q := &boxQuery{}
	me := actor.Authority
	active := me != nil && me.Status != authorities.Deactivated
	if active {
		q.myID, q.myCountry = me.ID, me.Country
	}
	q.arg(kind)
	in := func(list []string) string {
		marks := make([]string, len(list))
		for i, v := range list {
			marks[i] = q.arg(v)
		}
		return strings.Join(marks, ", ")
	}
	sent := "b.sent_at IS NOT NULL"
	sender, senderCoordinator := "FALSE", "FALSE"
	if active {
		sender = "b.sender_id = " + q.id()
	}
	if !actor.IsCommission() {
		if cond := actor.ValidatesSQL("a", q.arg); cond != "FALSE" {
			senderCoordinator = "(b.state <> 'draft' AND b.sender_id IN (SELECT a.id FROM authorities a WHERE " + cond + "))"
		}
	}
	sentSide := "(" + sender + " OR " + senderCoordinator + ")"
	// parties is every part the actor may take (parameters are added only
	// for what a box uses: PostgreSQL refuses unused ones).
	parties := func() string {
		list := []string{sentSide}
		if actor.IsCommission() {
			list = append(list, sent)
		}
		if !active {
			return "(" + strings.Join(list, " OR ") + ")"
		}
		list = append(list, "b.id IN (SELECT broadcast_id FROM broadcast_recipients WHERE authority_id = "+q.id()+")")
		var receives []string
		for _, p := range s.areas.Packs() {
			if receivesFor(actor, p.Code) {
				receives = append(receives, p.Code)
			}
		}
		if len(receives) > 0 {
			list = append(list, "("+sent+" AND b.area IN ("+in(receives)+") AND b.id IN (SELECT broadcast_id FROM broadcast_countries WHERE country = "+
				q.country()+") AND b.sender_id NOT IN (SELECT id FROM authorities WHERE country = "+q.country()+"))")
		}
		if kind == Notification && len(me.Areas) > 0 {
			list = append(list, "("+sent+" AND b.area IN ("+in(me.Areas)+"))") // recipients abroad, readers at home
		}
		return "(" + strings.Join(list, " OR ") + ")"
	}
	switch box {
	case ToDo:
		// What can wait for the actor at all: a step of the sending side,
		// its country's dissemination, its own acknowledgement. Inbox
		// narrows this with who and the machines.
		// Each way is a branch of a union, answered from its own index:
		// as one condition of ORs, PostgreSQL read every case (8 ms, twice
		// every home page, with 10,000 alerts stored).
		var waits []string
		const stepStates = "b.state IN ('draft', 'awaiting_validation', 'closure_proposed', 'withdrawal_proposed')"
		for _, side := range []string{sender, senderCoordinator} {
			if side != "FALSE" {
				waits = append(waits, "SELECT b.id FROM broadcasts b WHERE "+stepStates+" AND "+side)
			}
		}
		if active {
			// Dissemination waits only for who receives for the country
			// in the case's area (receivesFor, as who): for everyone else
			// these were thousands of candidates to rule out one by one.
			var receives []string
			for _, p := range s.areas.Packs() {
				if receivesFor(actor, p.Code) {
					receives = append(receives, p.Code)
				}
			}
			if len(receives) > 0 {
				waits = append(waits, "SELECT b.id FROM broadcast_countries bc JOIN broadcasts b ON b.id = bc.broadcast_id WHERE bc.country = "+q.country()+
					" AND bc.disseminated_at IS NULL AND b.area IN ("+in(receives)+")")
			}
			waits = append(waits, "SELECT broadcast_id FROM broadcast_recipients WHERE authority_id = "+q.id()+" AND acknowledged_at IS NULL")
		}
		if len(waits) == 0 {
			waits = []string{"SELECT id FROM broadcasts WHERE FALSE"}
		}
		q.where = "b.kind = $1 AND b.id IN (" + strings.Join(waits, " UNION ALL ") + ")"
	case Sent:
		q.where = "b.kind = $1 AND " + sentSide
	case Received:
		q.where = "b.kind = $1 AND " + sent + " AND " + parties() + " AND NOT " + sentSide
	}
	if f.Area != "" {
		q.where += " AND b.area = " + q.arg(f.Area)
	}
	if f.State != "" {
		q.where += " AND b.state = " + q.arg(f.State)
	}
	if t := strings.TrimSpace(f.Text); t != "" {
		if len(t) > 200 {
			return nil, problem.Field("q", "error_text_too_long", "Max", 200)
		}
		if !text.Block(t) { // NUL or broken UTF-8: PostgreSQL would fail on it
			return nil, problem.Field("q", "error_text_invalid")
		}
		like := q.arg(db.Contains(strings.ToLower(t))) + ` ESCAPE '\'`
		q.where += " AND (LOWER(b.reference) LIKE " + like + " OR LOWER(b.title) LIKE " + like + " OR (b.blocked_at IS NULL AND LOWER(b.subject_name) LIKE " + like + "))"
	}
	return q, nil
}

// count counts a box's rows.
func (s *Service) count(ctx context.Context, q *boxQuery) (int, error) {
	var n int
	err := s.db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM broadcasts b WHERE `+q.where, q.args...).Scan(&n)
	return n, db.Check(err)
}

// ids lists a page of a box's cases, latest activity first.
func (s *Service) ids(ctx context.Context, q *boxQuery, limit, offset int) ([]string, error) {
	return db.Strings(s.db.Read().QueryContext(ctx, `SELECT b.id FROM broadcasts b WHERE `+q.where+
		fmt.Sprintf(" ORDER BY b.last_activity_at DESC, b.id DESC LIMIT %d OFFSET %d", limit, offset), q.args...))
}

// waiting lists the ids of the cases that wait for the actor, latest
// activity first: the SQL superset of ToDo, read light (the actor's
// country's receipt and its own dissemination are all who, the options
// and the to-do rule read) and narrowed by the machines.
func (s *Service) waiting(ctx context.Context, actor authorities.Actor, q *boxQuery) ([]string, error) {
	rows, err := s.db.Read().QueryContext(ctx, `SELECT b.id, b.kind, b.area, b.state, b.sender_id, b.sent_at, b.comment_until,
		bc.received_at, bc.disseminated_at, br.disseminated_at, br.acknowledged_at FROM broadcasts b
		LEFT JOIN broadcast_countries bc ON bc.broadcast_id = b.id AND bc.country = `+q.country()+`
		LEFT JOIN broadcast_recipients br ON br.broadcast_id = b.id AND br.authority_id = `+q.id()+`
		WHERE `+q.where+` ORDER BY b.last_activity_at DESC, b.id DESC`, q.args...)
	if err != nil {
		return nil, db.Check(err)
	}
	var list []*Case
	for rows.Next() {
		var c Case
		var sentAt, until, received, disseminated, reached, acknowledged sql.NullTime
		if err := rows.Scan(&c.ID, &c.Kind, &c.Area, &c.State, &c.SenderID, &sentAt, &until, &received, &disseminated, &reached, &acknowledged); err != nil {
			_ = rows.Close()
			return nil, db.Check(err)
		}
		c.SentAt, c.CommentUntil = db.Time(sentAt), db.Time(until)
		if received.Valid && actor.Authority != nil {
			c.Receipts = []Receipt{{Country: actor.Authority.Country, ReceivedAt: received.Time.UTC(), DisseminatedAt: db.Time(disseminated)}}
		}
		if reached.Valid && actor.Authority != nil {
			c.Recipients = []Dissemination{{AuthorityID: actor.Authority.ID, Country: actor.Authority.Country, DisseminatedAt: reached.Time.UTC(),
				AcknowledgedAt: db.Time(acknowledged)}}
		}
		list = append(list, &c)
	}
	_ = rows.Close()
	if err := rows.Err(); err != nil {
		return nil, db.Check(err)
	}
	ids := make([]string, len(list))
	for i, c := range list {
		ids[i] = c.SenderID
	}
	senders, err := s.authorities.GetMany(ctx, ids)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, c := range list {
		c.Sender = senders[c.SenderID] // nil (unknown): who reads it, and fails
		w, err := s.who(ctx, actor, c)
		if err != nil {
			return nil, err
		}
		for _, a := range s.machines[c.Kind].Allowed(c.State, w, s.options(actor, c)) {
			c.Actions = append(c.Actions, a.Name)
		}
		if len(w.Parties) > 0 && s.waitsFor(actor, c) {
			out = append(out, c.ID)
		}
	}
	return out, nil
}

// Inbox returns a page of a box and the number of cases in it, latest
// activity first. Sent and Received are counted and paged in SQL; To do,
// which depends on the machines, is narrowed in Go from a small superset.
// Only the page's cases are read whole.
func (s *Service) Inbox(ctx context.Context, actor authorities.Actor, kind, box string, f Filter) ([]*Case, int, error) {
	if !slices.Contains(Kinds, kind) || !slices.Contains(Boxes, box) {
		return nil, 0, problem.New(problem.NotFound, "error_not_found")
	}
	if f.PerPage <= 0 || f.PerPage > 100 {
		f.PerPage = 20
	}
	f.Page = max(f.Page, 1)
	q, err := s.boxSQL(actor, kind, box, f)
	if err != nil {
		return nil, 0, err
	}
	var ids []string
	var total int
	if box == ToDo {
		all, err := s.waiting(ctx, actor, q)
		if err != nil {
			return nil, 0, err
		}
		total = len(all)
		from := min((f.Page-1)*f.PerPage, total)
		ids = all[from:min(from+f.PerPage, total)]
	} else {
		if total, err = s.count(ctx, q); err != nil {
			return nil, 0, err
		}
		if ids, err = s.ids(ctx, q, f.PerPage, (f.Page-1)*f.PerPage); err != nil {
			return nil, 0, err
		}
	}
	page := make([]*Case, 0, len(ids))
	for _, id := range ids {
		c, w, err := s.takingPart(ctx, s.db.Read(), actor, id)
		if p, ok := problem.As(err); ok && p.Kind == problem.NotFound {
			continue // changed since the list was read
		}
		if err != nil {
			return nil, 0, err
		}
		page = append(page, s.view(ctx, actor, c, w))
	}
	return page, total, nil
}

// Counts returns how many cases of kind are in each box for the actor.
func (s *Service) Counts(ctx context.Context, actor authorities.Actor, kind string) (map[string]int, error) {
	out := map[string]int{}
	for _, box := range Boxes {
		n, err := s.Count(ctx, actor, kind, box)
		if err != nil {
			return nil, err
		}
		out[box] = n
	}
	return out, nil
}

// Count returns how many cases of kind one box holds for the actor.
func (s *Service) Count(ctx context.Context, actor authorities.Actor, kind, box string) (int, error) {
	q, err := s.boxSQL(actor, kind, box, Filter{})
	if err != nil {
		return 0, err
	}
	if box == ToDo {
		ids, err := s.waiting(ctx, actor, q)
		return len(ids), err
	}
	return s.count(ctx, q)
}
