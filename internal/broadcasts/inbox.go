package broadcasts

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/openimi/openimi/internal/areas"
	"github.com/openimi/openimi/internal/audit"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/notify"
	"github.com/openimi/openimi/internal/problem"
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

// candidates are the cases of kind the actor may take part in: a superset
// found in SQL (by authority, country, Commission), narrowed by who.
func (s *Service) candidates(ctx context.Context, actor authorities.Actor, kind string, f Filter) ([]*Case, error) {
	me := actor.Authority
	var where []string
	args := []any{kind}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if actor.IsCommission() {
		where = append(where, "b.sent_at IS NOT NULL")
	}
	if me != nil && me.Status != authorities.Deactivated {
		id := arg(me.ID)
		where = append(where, "b.sender_id = "+id,
			"EXISTS (SELECT 1 FROM broadcast_recipients r WHERE r.broadcast_id = b.id AND r.authority_id = "+id+")")
		if actor.HasAny(authorities.Coordinator) {
			country := arg(me.Country)
			where = append(where, "(b.state <> 'draft' AND b.sender_id IN (SELECT a.id FROM authorities a WHERE a.country = "+country+"))",
				"EXISTS (SELECT 1 FROM broadcast_countries c WHERE c.broadcast_id = b.id AND c.country = "+country+")")
		}
		if kind == Notification && len(me.Areas) > 0 {
			marks := make([]string, len(me.Areas))
			for i, a := range me.Areas {
				marks[i] = arg(a)
			}
			where = append(where, "(b.sent_at IS NOT NULL AND b.area IN ("+strings.Join(marks, ", ")+"))")
		}
	}
	if len(where) == 0 {
		return nil, nil
	}
	query := `SELECT ` + prefixed("b.") + ` FROM broadcasts b WHERE b.kind = $1 AND (` + strings.Join(where, " OR ") + `)`
	if f.Area != "" {
		query += " AND b.area = " + arg(f.Area)
	}
	if f.State != "" {
		query += " AND b.state = " + arg(f.State)
	}
	if t := strings.TrimSpace(f.Text); t != "" {
		if len(t) > 200 {
			return nil, problem.Field("q", "error_text_too_long", "Max", 200)
		}
		like := arg("%" + strings.ToLower(t) + "%")
		query += " AND (LOWER(b.reference) LIKE " + like + " OR LOWER(b.title) LIKE " + like + " OR (b.blocked_at IS NULL AND LOWER(b.subject_name) LIKE " + like + "))"
	}
	query += " ORDER BY b.last_activity_at DESC, b.id DESC"
	rows, err := s.db.Read().QueryContext(ctx, query, args...)
	if err != nil {
		return nil, db.Check(err)
	}
	var list []*Case
	for rows.Next() {
		c, err := scanCase(rows)
		if err != nil {
			rows.Close()
			return nil, db.Check(err)
		}
		list = append(list, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, db.Check(err)
	}
	var out []*Case
	for _, c := range list {
		if err := s.loadDissemination(ctx, s.db.Read(), c); err != nil {
			return nil, err
		}
		w, err := s.who(ctx, actor, c)
		if err != nil {
			return nil, err
		}
		if len(w.Parties) > 0 {
			out = append(out, s.view(actor, c, w))
		}
	}
	return out, nil
}

func prefixed(alias string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = alias + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

// inBox reports whether a case the actor sees belongs in a box.
func inBox(actor authorities.Actor, c *Case, box string) bool {
	switch box {
	case ToDo:
		return c.ToDo
	case Sent:
		return slices.Contains(c.Parties, Sender) || slices.Contains(c.Parties, SenderCoordinator)
	case Received:
		return c.SentAt != nil && !slices.Contains(c.Parties, Sender) && !slices.Contains(c.Parties, SenderCoordinator)
	}
	return false
}

// Inbox returns a page of a box and the number of cases in it, newest
// activity first. Alerts are few beside requests, so the box is narrowed
// in Go after a superset is found in SQL.
func (s *Service) Inbox(ctx context.Context, actor authorities.Actor, kind, box string, f Filter) ([]*Case, int, error) {
	if !slices.Contains(Kinds, kind) || !slices.Contains(Boxes, box) {
		return nil, 0, problem.New(problem.NotFound, "error_not_found")
	}
	all, err := s.candidates(ctx, actor, kind, f)
	if err != nil {
		return nil, 0, err
	}
	var list []*Case
	for _, c := range all {
		if inBox(actor, c, box) {
			list = append(list, c)
		}
	}
	if f.PerPage <= 0 || f.PerPage > 100 {
		f.PerPage = 20
	}
	f.Page = max(f.Page, 1)
	from := min((f.Page-1)*f.PerPage, len(list))
	to := min(from+f.PerPage, len(list))
	return list[from:to], len(list), nil
}

// Counts returns how many cases of kind are in each box for the actor.
func (s *Service) Counts(ctx context.Context, actor authorities.Actor, kind string) (map[string]int, error) {
	all, err := s.candidates(ctx, actor, kind, Filter{})
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, c := range all {
		for _, b := range Boxes {
			if inBox(actor, c, b) {
				out[b]++
			}
		}
	}
	return out, nil
}

// Retained is what one run of Retain did.
type Retained struct {
	Blocked, Erased int
}

// Retain blocks and deletes alerts' personal data that has reached its
// time, as for requests (see areas.BlockMonths: the alert type's
// retention_months, else the area's). It is idempotent.
func (s *Service) Retain(ctx context.Context) (Retained, error) {
	var res Retained
	now := s.clock()
	err := s.db.InTx(ctx, func(tx db.Querier) error {
		for _, p := range s.areas.Packs() {
			for _, b := range p.Broadcasts {
				if b.Kind != Alert {
					continue
				}
				r, err := tx.ExecContext(ctx, `UPDATE broadcasts SET blocked_at = $1 WHERE kind = 'alert' AND area = $2 AND type = $3 AND blocked_at IS NULL
					AND closed_at IS NOT NULL AND closed_at < $4`, now, p.Code, b.Code, now.AddDate(0, -p.BlockMonths(b.RetentionMonths), 0))
				if err != nil {
					return db.Check(err)
				}
				n, _ := r.RowsAffected()
				res.Blocked += int(n)
			}
		}
		cutoff := now.AddDate(-areas.EraseYears, 0, 0)
		if _, err := tx.ExecContext(ctx, `UPDATE case_events SET comment = '', data = '' WHERE case_id IN (SELECT id FROM broadcasts WHERE kind = 'alert'
			AND erased_at IS NULL AND closed_at IS NOT NULL AND closed_at < $1)`, cutoff); err != nil {
			return db.Check(err)
		}
		r, err := tx.ExecContext(ctx, `UPDATE broadcasts SET fields = '{}', subject_name = '', message = '', erased_at = $1, blocked_at = COALESCE(blocked_at, $1)
			WHERE kind = 'alert' AND erased_at IS NULL AND closed_at IS NOT NULL AND closed_at < $2`, now, cutoff)
		if err != nil {
			return db.Check(err)
		}
		n, _ := r.RowsAffected()
		res.Erased = int(n)
		if res.Blocked+res.Erased == 0 {
			return nil
		}
		return audit.Record(ctx, tx, s.db.Dialect(), now, audit.Event{Event: audit.PersonalDataRetained,
			Detail: fmt.Sprintf("alerts: %d blocked, %d deleted", res.Blocked, res.Erased)})
	})
	return res, err
}

// Tick runs the timers once: it tells senders whose notifications' comment
// periods have ended, and applies retention. The server runs it with the
// requests' housekeeping, every 15 minutes.
func (s *Service) Tick(ctx context.Context) error {
	now := s.clock()
	err := s.db.InTx(ctx, func(tx db.Querier) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, reference, sender_id, area FROM broadcasts WHERE kind = 'notification' AND state = 'broadcast'
			AND comment_until IS NOT NULL AND comment_until <= $1 AND period_told_at IS NULL ORDER BY id`, now)
		if err != nil {
			return db.Check(err)
		}
		type due struct{ id, ref, sender, area string }
		var list []due
		for rows.Next() {
			var d due
			if err := rows.Scan(&d.id, &d.ref, &d.sender, &d.area); err != nil {
				rows.Close()
				return db.Check(err)
			}
			list = append(list, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return db.Check(err)
		}
		for _, d := range list {
			to := notify.Audience{AuthorityID: d.sender, Area: d.area, Roles: []string{authorities.AlertHandler, authorities.Coordinator}, Done: map[string]bool{}}
			if err := notify.TellAuthority(ctx, tx, now, to, d.ref, Path(Notification)+"/"+d.id, s.publicURL, notify.KindCommentPeriodEnded, nil); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE broadcasts SET period_told_at = $1 WHERE id = $2`, now, d.id); err != nil {
				return db.Check(err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("comment periods: %w", err)
	}
	if _, err = s.Retain(ctx); err != nil {
		return fmt.Errorf("alert retention: %w", err)
	}
	return nil
}

// Stats are counts for statistics: how many cases of each kind each
// country sent and received, how many were disseminated, and how long
// acknowledgement took.
type Stats struct {
	Kind, Area, Country string
	Sent, Received      int
	Disseminated        int // received and passed on to at least one authority
	Acknowledged        int // disseminations acknowledged
	Disseminations      int
	// MedianAckHours is the median time from dissemination to
	// acknowledgement, in hours (-1: none yet).
	MedianAckHours float64
}

// Statistics returns per kind, area and country what was sent and
// received. It holds no personal data; coordinators and the Commission
// read it (see internal/web and internal/api).
func (s *Service) Statistics(ctx context.Context, actor authorities.Actor) ([]Stats, error) {
	if !actor.CanExport() { // coordinators and the Commission
		return nil, problem.New(problem.Forbidden, "error_statistics_forbidden")
	}
	q := s.db.Read()
	type key struct{ kind, area, country string }
	stats := map[key]*Stats{}
	get := func(k key) *Stats {
		if stats[k] == nil {
			stats[k] = &Stats{Kind: k.kind, Area: k.area, Country: k.country, MedianAckHours: -1}
		}
		return stats[k]
	}
	rows, err := q.QueryContext(ctx, `SELECT b.kind, b.area, a.country, COUNT(*) FROM broadcasts b JOIN authorities a ON a.id = b.sender_id
		WHERE b.sent_at IS NOT NULL GROUP BY b.kind, b.area, a.country`)
	if err != nil {
		return nil, db.Check(err)
	}
	for rows.Next() {
		var k key
		var n int
		if err := rows.Scan(&k.kind, &k.area, &k.country, &n); err != nil {
			rows.Close()
			return nil, db.Check(err)
		}
		get(k).Sent = n
	}
	rows.Close()
	rows, err = q.QueryContext(ctx, `SELECT b.kind, b.area, c.country, COUNT(*), COUNT(c.disseminated_at) FROM broadcast_countries c
		JOIN broadcasts b ON b.id = c.broadcast_id GROUP BY b.kind, b.area, c.country`)
	if err != nil {
		return nil, db.Check(err)
	}
	for rows.Next() {
		var k key
		var n, d int
		if err := rows.Scan(&k.kind, &k.area, &k.country, &n, &d); err != nil {
			rows.Close()
			return nil, db.Check(err)
		}
		st := get(k)
		st.Received, st.Disseminated = n, d
	}
	rows.Close()
	rows, err = q.QueryContext(ctx, `SELECT b.kind, b.area, r.country, r.disseminated_at, r.acknowledged_at FROM broadcast_recipients r
		JOIN broadcasts b ON b.id = r.broadcast_id`)
	if err != nil {
		return nil, db.Check(err)
	}
	hours := map[key][]float64{}
	for rows.Next() {
		var k key
		var from time.Time
		var ack sql.NullTime
		if err := rows.Scan(&k.kind, &k.area, &k.country, &from, &ack); err != nil {
			rows.Close()
			return nil, db.Check(err)
		}
		st := get(k)
		st.Disseminations++
		if ack.Valid {
			st.Acknowledged++
			hours[k] = append(hours[k], ack.Time.Sub(from).Hours())
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, db.Check(err)
	}
	var out []Stats
	for k, st := range stats {
		if h := hours[k]; len(h) > 0 {
			slices.Sort(h)
			st.MedianAckHours = h[len(h)/2]
		}
		out = append(out, *st)
	}
	slices.SortFunc(out, func(a, b Stats) int {
		return strings.Compare(a.Kind+a.Area+a.Country, b.Kind+b.Area+b.Country)
	})
	return out, nil
}
