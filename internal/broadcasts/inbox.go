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
				_ = rows.Close()
				return db.Check(err)
			}
			list = append(list, d)
		}
		_ = rows.Close()
		if err := rows.Err(); err != nil {
			return db.Check(err)
		}
		for _, d := range list {
			// Claimed first, on its condition: on PostgreSQL another
			// server may have read the same list, and its update, once
			// this one commits, finds the period told and tells nobody.
			res, err := tx.ExecContext(ctx, `UPDATE broadcasts SET period_told_at = $1 WHERE id = $2 AND period_told_at IS NULL`, now, d.id)
			if err != nil {
				return db.Check(err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				continue
			}
			to := notify.Audience{AuthorityID: d.sender, Area: d.area, Roles: []string{authorities.AlertHandler, authorities.Coordinator}, Done: map[string]bool{}}
			if err := notify.TellAuthority(ctx, tx, now, to, d.ref, Path(Notification)+"/"+d.id, s.publicURL, notify.KindCommentPeriodEnded, nil); err != nil {
				return err
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
			_ = rows.Close()
			return nil, db.Check(err)
		}
		get(k).Sent = n
	}
	_ = rows.Close()
	if err := rows.Err(); err != nil {
		return nil, db.Check(err)
	}
	rows, err = q.QueryContext(ctx, `SELECT b.kind, b.area, c.country, COUNT(*), COUNT(c.disseminated_at) FROM broadcast_countries c
		JOIN broadcasts b ON b.id = c.broadcast_id GROUP BY b.kind, b.area, c.country`)
	if err != nil {
		return nil, db.Check(err)
	}
	for rows.Next() {
		var k key
		var n, d int
		if err := rows.Scan(&k.kind, &k.area, &k.country, &n, &d); err != nil {
			_ = rows.Close()
			return nil, db.Check(err)
		}
		st := get(k)
		st.Received, st.Disseminated = n, d
	}
	_ = rows.Close()
	if err := rows.Err(); err != nil {
		return nil, db.Check(err)
	}
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
			_ = rows.Close()
			return nil, db.Check(err)
		}
		st := get(k)
		st.Disseminations++
		if ack.Valid {
			st.Acknowledged++
			hours[k] = append(hours[k], ack.Time.Sub(from).Hours())
		}
	}
	_ = rows.Close()
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
