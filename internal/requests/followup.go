package requests

import (
	"context"
	"fmt"
	"slices"
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

// acceptanceDays is how long a responder has to accept in an area.
func (s *Service) acceptanceDays(area string) int {
	if p, err := s.areas.Pack(area); err == nil && p.Workflow.AcceptanceDays > 0 {
		return p.Workflow.AcceptanceDays
	}
	return 7
}

// stalled returns the open requests that match reason at now.
func (s *Service) stalled(ctx context.Context, q db.Querier, reason string, now time.Time) ([]*Request, error) {
	var cond string
	var arg any
	switch reason {
	case NotAccepted:
		// Per area below; here sent requests older than the shortest time.
		cond, arg = "r.state IN ('sent', 'awaiting_allocation') AND r.sent_at < $1", now.AddDate(0, 0, -1)
	case Overdue:
		cond, arg = "r.state IN ('sent', 'accepted', 'info_requested', 'awaiting_allocation') AND r.reply_by < $1", now
	case Unanswered:
		cond, arg = "r.state IN ('sent', 'accepted', 'info_requested', 'awaiting_allocation') AND r.answered_at IS NULL AND r.sent_at < $1", now.AddDate(0, 0, -unansweredDays)
	case Inactive:
		cond, arg = "r.state NOT IN ('draft', 'closed', 'declined', 'withdrawn') AND r.last_activity_at < $1", now.AddDate(0, 0, -inactiveDays)
	}
	rows, err := q.QueryContext(ctx, `SELECT `+columns("r.")+` FROM requests r WHERE `+cond+` ORDER BY r.last_activity_at`, arg)
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
		if reason == NotAccepted && r.SentAt != nil && !r.SentAt.Before(now.AddDate(0, 0, -s.acceptanceDays(r.Area))) {
			continue
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

// FollowUp lists the stalled requests a coordinator follows: those whose
// requester or responder is in its scope (the Commission: all). Personal
// data is left out unless the coordinator's authority takes part.
func (s *Service) FollowUp(ctx context.Context, actor authorities.Actor, reason string) ([]FollowUpItem, error) {
	if !actor.HasAny(authorities.Coordinator) && !actor.IsCommission() {
		return nil, nil
	}
	reasons := Reasons
	if reason != "" {
		reasons = []string{reason}
	}
	var out []FollowUpItem
	for _, why := range reasons {
		list, err := s.stalled(ctx, s.db.Read(), why, s.clock())
		if err != nil {
			return nil, err
		}
		for _, r := range list {
			w, err := s.who(ctx, actor, r)
			if err != nil {
				return nil, err
			}
			if !slices.ContainsFunc(w.Parties, workflow.IsCoordinator) {
				continue
			}
			out = append(out, FollowUpItem{Request: s.view(r, w), Reason: why})
		}
	}
	return out, nil
}

// Remind sends what is due, each once per request: to the responder a few
// days before the reply date; to both sides when it has passed; to both
// sides' coordinators when a request stalls (not accepted in time,
// overdue, inactive). Idempotent: run it as often as wanted.
func (s *Service) Remind(ctx context.Context) (int, error) {
	now := s.clock()
	sent := 0
	err := s.db.InTx(ctx, func(tx db.Querier) error {
		type job struct {
			kind, mail string
			parties    []string
			list       []*Request
		}
		dueSoon, err := s.dueSoon(ctx, tx, now)
		if err != nil {
			return err
		}
		jobs := []job{{"due_soon", notify.KindRequestDueSoon, []string{workflow.Responder}, dueSoon}}
		for _, why := range Reasons {
			list, err := s.stalled(ctx, tx, why, now)
			if err != nil {
				return err
			}
			jobs = append(jobs, job{why, notify.KindRequestFollowUp, []string{workflow.RequesterCoordinator, workflow.ResponderCoordinator}, list})
			if why == Overdue {
				jobs = append(jobs, job{"overdue_parties", notify.KindRequestOverdue, []string{workflow.Requester, workflow.Responder}, list})
			}
		}
		for _, j := range jobs {
			for _, r := range j.list {
				res, err := tx.ExecContext(ctx, `INSERT INTO request_reminders (request_id, kind, sent_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, r.ID, j.kind, now)
				if err != nil {
					return db.Check(err)
				}
				if n, _ := res.RowsAffected(); n == 0 {
					continue // sent before
				}
				if r.Requester, err = s.authorities.Get(ctx, r.RequesterID); err != nil {
					return err
				}
				if r.Responder, err = s.authorities.Get(ctx, r.ResponderID); err != nil {
					return err
				}
				if err := s.tell(ctx, tx, r, j.parties, "", j.mail, map[string]string{"Date": r.ReplyBy.Format(time.DateOnly)}, "", now); err != nil {
					return err
				}
				sent++
			}
		}
		return nil
	})
	return sent, err
}

// dueSoon returns accepted requests whose reply date is near.
func (s *Service) dueSoon(ctx context.Context, q db.Querier, now time.Time) ([]*Request, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+columns("r.")+` FROM requests r WHERE r.state IN ('accepted', 'info_requested') AND r.reply_by >= $1 AND r.reply_by < $2`,
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
