package requests

import (
	"context"
	"fmt"

	"github.com/openimi/openimi/internal/areas"
	"github.com/openimi/openimi/internal/audit"
	"github.com/openimi/openimi/internal/db"
)

// retainBatch is how many requests one transaction of Retain blocks.
var retainBatch int64 = 1000

// Retained is what one run of Retain did.
type Retained struct {
	Blocked, Erased int
}

// Retain blocks and deletes personal data that has reached its time (see
// areas.BlockMonths and areas.EraseYears). It is
// idempotent: run it as often as wanted (the server does, hourly).
func (s *Service) Retain(ctx context.Context) (Retained, error) {
	var res Retained
	now := s.clock()
	// Blocking goes a batch at a time, each in its own short transaction
	// with its audit record: after an outage, or on data generated for an
	// earlier day, tens of thousands may be due at once, and one
	// transaction for all would hold the writer for seconds.
	for _, p := range s.areas.Packs() {
		for {
			var n int64
			err := s.db.InTxAlone(ctx, func(tx db.Querier) error {
				// The condition again outside: on PostgreSQL, an update
				// that waited for another server's re-checks only the
				// outer WHERE, and must skip the rows that one blocked.
				r, err := tx.ExecContext(ctx, `UPDATE requests SET blocked_at = $1 WHERE id IN (SELECT id FROM requests
					WHERE area = $2 AND blocked_at IS NULL AND closed_at IS NOT NULL AND closed_at < $3 ORDER BY id LIMIT `+fmt.Sprint(retainBatch)+`)
					AND blocked_at IS NULL AND closed_at IS NOT NULL AND closed_at < $3`,
					now, p.Code, now.AddDate(0, -p.BlockMonths(0), 0))
				if err != nil {
					return db.Check(err)
				}
				if n, _ = r.RowsAffected(); n == 0 {
					return nil
				}
				return audit.Record(ctx, tx, s.db.Dialect(), now, audit.Event{Event: audit.PersonalDataRetained,
					Detail: fmt.Sprintf("requests: %d blocked, 0 deleted", n)})
			})
			if err != nil {
				return res, err
			}
			res.Blocked += int(n)
			if n < retainBatch {
				break
			}
		}
	}
	err := s.db.InTxAlone(ctx, func(tx db.Querier) error {
		cutoff := now.AddDate(-areas.EraseYears, 0, 0)
		due := `SELECT id FROM requests WHERE erased_at IS NULL AND closed_at IS NOT NULL AND closed_at < $1`
		for _, q := range []string{
			// Their files go with them; the sweep removes the contents.
			`DELETE FROM request_attachments WHERE request_id IN (` + due + `)`,
			`UPDATE request_questions SET answer_text = '' WHERE request_id IN (` + due + `)`,
			`UPDATE case_events SET comment = '', data = '' WHERE case_id IN (` + due + `)`,
		} {
			if _, err := tx.ExecContext(ctx, q, cutoff); err != nil {
				return db.Check(err)
			}
		}
		r, err := tx.ExecContext(ctx, `UPDATE requests SET subject_name = '', subject = '{}', message = '', erased_at = $1,
			blocked_at = COALESCE(blocked_at, $1) WHERE erased_at IS NULL AND closed_at IS NOT NULL AND closed_at < $2`, now, cutoff)
		if err != nil {
			return db.Check(err)
		}
		n, _ := r.RowsAffected()
		res.Erased = int(n)
		if res.Erased == 0 {
			return nil
		}
		return audit.Record(ctx, tx, s.db.Dialect(), now, audit.Event{Event: audit.PersonalDataRetained,
			Detail: fmt.Sprintf("requests: 0 blocked, %d deleted", res.Erased)})
	})
	return res, err
}
