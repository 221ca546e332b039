package requests

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/notify"
	"github.com/openimi/openimi/internal/workflow"
)

// Why a request is on coordinators' follow-up lists.
const (
	NotAccepted = "not_accepted" // sent, not accepted within the area's acceptance days (7)
	Overdue     = "overdue"      // the reply date has passed
	Unanswered  = "unanswered"   // sent more than four weeks ago and not answered
	Inactive    = "inactive"     // no activity for two months
)

// Reasons lists the follow-up reasons in the order lists show them.
var Reasons = []string{NotAccepted, Overdue, Unanswered, Inactive}

const (
	dueSoonDays    = 3  // the responder is reminded this many days before the reply date
	inactiveDays   = 60 // two months without activity
	unansweredDays = 28 // four weeks without an answer
)

// sqlArgs numbers the arguments of a query as they are added.
type sqlArgs struct{ list []any }

func (a *sqlArgs) add(v any) string {
	a.list = append(a.list, v)
	return fmt.Sprintf("$%d", len(a.list))
}

// stalledWhere is the SQL condition on r of the requests stalled for
// reason at now.
func (s *Service) stalledWhere(reason string, now time.Time, a *sqlArgs) string {
	const open = "r.state IN ('sent', 'accepted', 'info_requested', 'awaiting_allocation')"
	switch reason {
	case NotAccepted: // each area has its acceptance days (7 by default)
		var own, codes []string
		for _, p := range s.areas.Packs() {
			if days := p.Workflow.AcceptanceDays; days > 0 && days != 7 {
				code := a.add(p.Code)
				codes = append(codes, code)
				own = append(own, "(r.area = "+code+" AND r.sent_at < "+a.add(now.AddDate(0, 0, -days))+")")
			}
		}
		rest := "r.sent_at < " + a.add(now.AddDate(0, 0, -7))
		if len(codes) > 0 {
			rest = "(r.area NOT IN (" + strings.Join(codes, ", ") + ") AND " + rest + ")"
		}
		return "r.state IN ('sent', 'awaiting_allocation') AND (" + strings.Join(append(own, rest), " OR ") + ")"
	case Overdue:
		return open + " AND r.reply_by < " + a.add(now)
	case Unanswered:
		return open + " AND r.answered_at IS NULL AND r.sent_at < " + a.add(now.AddDate(0, 0, -unansweredDays))
	}
	return "r.state IN ('awaiting_approval', 'awaiting_allocation', 'sent', 'accepted', 'info_requested', 'answered') AND r.last_activity_at < " +
		a.add(now.AddDate(0, 0, -inactiveDays))
}

// stalled returns the requests stalled for reason at now, least recently
// active first; scope (if set) narrows them further. limit < 0: all.
func (s *Service) stalled(ctx context.Context, q db.Querier, reason string, now time.Time, scope func(*sqlArgs) string, limit, offset int) ([]*Request, error) {
	var a sqlArgs
	cond := s.stalledWhere(reason, now, &a)
	if scope != nil {
		cond += " AND " + scope(&a)
	}
	query := `SELECT ` + columns("r.") + ` FROM requests r WHERE ` + cond + ` ORDER BY r.last_activity_at, r.id`
	if limit >= 0 {
		query += fmt.Sprintf(` LIMIT %d OFFSET %d`, limit, offset)
	}
	rows, err := q.QueryContext(ctx, query, a.list...)
	if err != nil {
		return nil, db.Check(err)
	}
	defer rows.Close()
	var out []*Request
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, db.Check(err)
		}
		out = append(out, r)
	}
	return out, db.Check(rows.Err())
}

// FollowUpItem is a stalled request on a coordinator's list.
type FollowUpItem struct {
	Request *Request
	Reason  string
}

// FollowUpList is one page of a coordinator's follow-up list.
type FollowUpList struct {
	Items  []FollowUpItem
	Counts map[string]int // per reason, in the coordinator's scope
	Total  int            // of the reason chosen, or of all
}

// FollowUp lists the stalled requests a coordinator follows, for reason
// (or all, reason by reason), perPage at a time: those whose requester or
// responder is in its scope (the Commission: all). Personal data is left
// out unless the coordinator's authority takes part.
func (s *Service) FollowUp(ctx context.Context, actor authorities.Actor, reason string, page, perPage int) (FollowUpList, error) {
	list := FollowUpList{Counts: map[string]int{}}
	if !actor.HasAny(authorities.Coordinator) && !actor.IsCommission() {
		return list, nil
	}
	// In the database, the requests one of whose authorities the actor
	// coordinates (authorities.Actor.ValidatesSQL); then exactly as the
	// request's page decides.
	var scope func(*sqlArgs) string
	if !actor.IsCommission() {
		if actor.ValidatesSQL("a", func(any) string { return "" }) == "FALSE" {
			return list, nil
		}
		scope = func(a *sqlArgs) string {
			cond := actor.ValidatesSQL("a", a.add)
			// As who: the responder's coordinator only once it was sent.
			return "(r.requester_id IN (SELECT a.id FROM authorities a WHERE " + cond + ") OR (r.state NOT IN ('draft', 'awaiting_approval') AND r.responder_id IN (SELECT a.id FROM authorities a WHERE " + cond + ")))"
		}
	}
	now := s.clock()
	for _, why := range Reasons {
		var a sqlArgs
		cond := s.stalledWhere(why, now, &a)
		if scope != nil {
			cond += " AND " + scope(&a)
		}
		var n int
		if err := s.db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM requests r WHERE `+cond, a.list...).Scan(&n); err != nil {
			return list, db.Check(err)
		}
		list.Counts[why] = n
		if reason == "" || reason == why {
			list.Total += n
		}
	}
	// The page's window over the reasons' lists, one after the other.
	if perPage < 1 || page > list.Total/perPage+1 {
		return list, nil // past the end
	}
	skip, want := (max(page, 1)-1)*perPage, perPage
	for _, why := range Reasons {
		if reason != "" && why != reason {
			continue
		}
		if skip >= list.Counts[why] {
			skip -= list.Counts[why]
			continue
		}
		found, err := s.stalled(ctx, s.db.Read(), why, now, scope, want, skip)
		if err != nil {
			return list, err
		}
		skip = 0
		for _, r := range found {
			want--
			w, err := s.who(ctx, actor, r)
			if err != nil {
				return list, err
			}
			if slices.ContainsFunc(w.Parties, workflow.IsCoordinator) {
				list.Items = append(list.Items, FollowUpItem{Request: s.view(r, w), Reason: why})
			}
		}
		if want <= 0 {
			break
		}
	}
	return list, nil
}

// Remind sends what is due, each once per request: to the responder a few
// days before the reply date; to both sides when it has passed; to both
// sides' coordinators when a request stalls (not accepted in time,
// overdue, inactive). Idempotent: run it as often as wanted, on as many
// servers as wanted.
//
// What is due is read outside any transaction, leaving out what was sent
// before; then each reminder is recorded and told in small transactions.
// With a million requests stored, a single transaction re-reading every
// stalled request held SQLite's only writer for many seconds every
// quarter of an hour, and the writes of users waiting behind it failed
// (found by bench/load). A reminder is still sent exactly once: its row
// (request, kind) is inserted in the transaction that tells it, and a
// server that finds the row there already skips it.
func (s *Service) Remind(ctx context.Context) (int, error) {
	now := s.clock()
	type due struct {
		kind, mail string
		parties    []string
		r          *Request
	}
	var todo []due
	notSent := func(kinds ...string) func(*sqlArgs) string {
		return func(a *sqlArgs) string {
			var conds []string
			for _, k := range kinds {
				conds = append(conds, "NOT EXISTS (SELECT 1 FROM request_reminders rr WHERE rr.request_id = r.id AND rr.kind = "+a.add(k)+")")
			}
			return "(" + strings.Join(conds, " OR ") + ")"
		}
	}
	q := s.db.Read()
	dueSoon, err := s.dueSoon(ctx, q, now)
	if err != nil {
		return 0, err
	}
	for _, r := range dueSoon {
		todo = append(todo, due{"due_soon", notify.KindRequestDueSoon, []string{workflow.Responder}, r})
	}
	for _, why := range Reasons {
		kinds := []string{why}
		if why == Overdue {
			kinds = append(kinds, "overdue_parties")
		}
		list, err := s.stalled(ctx, q, why, now, notSent(kinds...), -1, 0)
		if err != nil {
			return 0, err
		}
		for _, r := range list {
			todo = append(todo, due{why, notify.KindRequestFollowUp, []string{workflow.RequesterCoordinator, workflow.ResponderCoordinator}, r})
			if why == Overdue {
				todo = append(todo, due{"overdue_parties", notify.KindRequestOverdue, []string{workflow.Requester, workflow.Responder}, r})
			}
		}
	}
	sent := 0
	for start := 0; start < len(todo); start += remindBatch {
		batch := todo[start:min(start+remindBatch, len(todo))]
		n := 0
		err := s.db.InTxAlone(ctx, func(tx db.Querier) error {
			n = 0
			for _, d := range batch {
				// Still due, read again: the request may have moved on (been
				// forwarded to another responder, say) since it was read.
				fresh, err := s.stillDue(ctx, tx, d.kind, d.r.ID, now)
				if err != nil {
					return err
				}
				if fresh == nil {
					continue
				}
				res, err := tx.ExecContext(ctx, `INSERT INTO request_reminders (request_id, kind, sent_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, d.r.ID, d.kind, now)
				if err != nil {
					return db.Check(err)
				}
				if k, _ := res.RowsAffected(); k == 0 {
					continue // sent before, or by another server meanwhile
				}
				r := *fresh
				if r.Requester, err = s.authorities.Get(ctx, r.RequesterID); err != nil {
					return err
				}
				if r.Responder, err = s.authorities.Get(ctx, r.ResponderID); err != nil {
					return err
				}
				if err := s.tell(ctx, tx, &r, d.parties, "", d.mail, map[string]string{"Date": r.ReplyBy.Format(time.DateOnly)}, "", now); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		if err != nil {
			return sent, err
		}
		sent += n
	}
	return sent, nil
}

// stillDue returns request id, read in tx, if the reminder kind is due
// for it at now, else nil.
func (s *Service) stillDue(ctx context.Context, tx db.Querier, kind, id string, now time.Time) (*Request, error) {
	var a sqlArgs
	cond := "r.id = " + a.add(id) + " AND "
	switch kind {
	case "due_soon":
		cond += "r.state IN ('accepted', 'info_requested') AND r.reply_by >= " + a.add(now) + " AND r.reply_by < " + a.add(now.AddDate(0, 0, dueSoonDays))
	case "overdue_parties":
		cond += s.stalledWhere(Overdue, now, &a)
	default:
		cond += s.stalledWhere(kind, now, &a)
	}
	r, err := scanRequest(tx.QueryRowContext(ctx, `SELECT `+columns("r.")+` FROM requests r WHERE `+cond, a.list...))
	if errors.Is(db.Check(err), db.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, db.Check(err)
	}
	return r, nil
}

// remindBatch is how many reminders one transaction records and tells.
const remindBatch = 100

// dueSoon returns accepted requests whose reply date is near and whose
// responder was not reminded of it yet.
func (s *Service) dueSoon(ctx context.Context, q db.Querier, now time.Time) ([]*Request, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+columns("r.")+` FROM requests r WHERE r.state IN ('accepted', 'info_requested') AND r.reply_by >= $1 AND r.reply_by < $2
		AND NOT EXISTS (SELECT 1 FROM request_reminders rr WHERE rr.request_id = r.id AND rr.kind = 'due_soon')`,
		now, now.AddDate(0, 0, dueSoonDays))
	if err != nil {
		return nil, db.Check(err)
	}
	defer rows.Close()
	var out []*Request
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, db.Check(err)
		}
		out = append(out, r)
	}
	return out, db.Check(rows.Err())
}

// Housekeep runs the scheduled work — reminders, retention, the sweep of
// unreferenced files and the daily digests — every
// interval until ctx ends, reporting failures to report.
func (s *Service) Housekeep(ctx context.Context, interval time.Duration, report func(error), also ...func(context.Context) error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.Remind(ctx); err != nil && ctx.Err() == nil {
			report(fmt.Errorf("reminders: %w", err))
		}
		if _, err := s.Retain(ctx); err != nil && ctx.Err() == nil {
			report(fmt.Errorf("retention: %w", err))
		}
		if err := s.sweepFiles(ctx); err != nil && ctx.Err() == nil {
			report(fmt.Errorf("attachment sweep: %w", err))
		}
		for _, job := range also {
			if err := job(ctx); err != nil && ctx.Err() == nil {
				report(err)
			}
		}
		if _, err := notify.Digest(ctx, s.db, s.clock(), s.publicURL); err != nil && ctx.Err() == nil {
			report(fmt.Errorf("digest: %w", err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
