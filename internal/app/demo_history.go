package app

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/openimi/openimi/internal/countries"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/stats"
)

// demoHistory adds, once, two years of past requests between the demo
// authorities, so that the statistics, the scoreboard and the follow-up
// lists have something to show: their rows and events are written as the
// workflow would have written them, then the statistics are derived from
// those events (stats.Rebuild), as after a restore. They name no person.
func demoHistory(ctx context.Context, a *App, now time.Time) error {
	type party struct{ id, country, user string }
	byArea := map[string][]party{}
	rows, err := a.DB.Read().QueryContext(ctx, `SELECT aa.area, a.id, a.country, COALESCE((SELECT MIN(u.id) FROM users u WHERE u.authority_id = a.id), '')
		FROM authorities a JOIN authority_areas aa ON aa.authority_id = a.id WHERE a.status <> 'deactivated' ORDER BY a.id`)
	if err != nil {
		return db.Check(err)
	}
	for rows.Next() {
		var area string
		var p party
		if err := rows.Scan(&area, &p.id, &p.country, &p.user); err != nil {
			_ = rows.Close()
			return db.Check(err)
		}
		if countries.IsCurrent(p.country) { // not the Commission
			byArea[area] = append(byArea[area], p)
		}
	}
	_ = rows.Close()
	if err := rows.Err(); err != nil {
		return db.Check(err)
	}
	var creator string
	if err := a.DB.Read().QueryRowContext(ctx, `SELECT MIN(id) FROM users`).Scan(&creator); err != nil {
		return db.Check(err)
	}
	rnd := rand.New(rand.NewPCG(2026, 11)) // #nosec G404 -- a fixed seed on purpose: the same made-up history on every demo
	start := now.AddDate(-2, 0, 0)
	err = a.DB.InTxAlone(ctx, func(tx db.Querier) error {
		n := 0
		for _, p := range a.Areas.Packs() {
			list := byArea[p.Code]
			if len(list) < 2 || len(p.QuestionSets) == 0 || p.Statistics.Category == "" {
				continue
			}
			var terms []string
			if f := p.Field(p.Statistics.Category); f != nil {
				for _, t := range p.Vocabulary(f.Vocabulary).AllTerms() {
					terms = append(terms, t.Value)
				}
			}
			questions := p.QuestionSets[0].Questions()
			for i := 0; i < 250; i++ {
				from, to := list[rnd.IntN(len(list))], list[rnd.IntN(len(list))]
				if from.country == to.country {
					continue
				}
				n++
				sent := start.Add(time.Duration(rnd.Int64N(int64(now.Sub(start) - 24*time.Hour))))
				day := func(d float64) time.Time { return sent.Add(time.Duration(d * 24 * float64(time.Hour))) }
				replyBy := day(float64(p.Workflow.ReplyDays))
				id := uuid.Must(uuid.NewV7()).String()
				type ev struct {
					at           time.Time
					action, from string
					to           string
				}
				events := []ev{{sent, "send", "draft", "sent"}}
				state := "sent"
				var accepted, answered, closed any
				acceptDays := rnd.ExpFloat64() * 4
				answerDays := acceptDays + rnd.ExpFloat64()*10
				switch r := rnd.Float64(); {
				case r < 0.05 && now.Sub(sent) > 4*24*time.Hour:
					events = append(events, ev{day(rnd.Float64() * 3), "decline", "sent", "declined"})
					state, closed = "declined", events[len(events)-1].at
				case r < 0.08 && now.Sub(sent) > 10*24*time.Hour:
					// not accepted: stays on the follow-up lists
				default:
					if day(acceptDays).After(now) {
						break
					}
					events = append(events, ev{day(acceptDays), "accept", "sent", "accepted"})
					state, accepted = "accepted", day(acceptDays)
					if rnd.Float64() < 0.1 && day(acceptDays+4).Before(now) {
						events = append(events, ev{day(acceptDays + 1), "request_info", "accepted", "info_requested"}, ev{day(acceptDays + 4), "provide_info", "info_requested", "accepted"})
						answerDays += 4
					}
					if day(answerDays).After(now) || rnd.Float64() < 0.04 {
						break
					}
					events = append(events, ev{day(answerDays), "answer", "accepted", "answered"})
					state, answered = "answered", day(answerDays)
					if day(answerDays + 2).Before(now) {
						events = append(events, ev{day(answerDays + 2), "close", "answered", "closed"})
						state, closed = "closed", day(answerDays+2)
					}
				}
				last := events[len(events)-1].at
				var rating any
				if state == "closed" && rnd.Float64() < 0.4 {
					rating = 5 - min(4, int(rnd.ExpFloat64()*0.7)) // mostly content
				}
				by := creator
				if from.user != "" {
					by = from.user
				}
				ref := fmt.Sprintf("%s-%d-9%05d", strings.ToUpper(p.Code), sent.Year(), n)
				subject := fmt.Sprintf(`{%q: %q}`, p.Statistics.Category, terms[rnd.IntN(len(terms))])
				if _, err := tx.ExecContext(ctx, `INSERT INTO requests (id, reference, area, question_set, state, requester_id, responder_id, created_by, reply_by,
						sent_at, accepted_at, answered_at, closed_at, subject, rating_time, rating_effort, last_activity_at, created_at, updated_at)
					VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $16, $17, $16)`,
					id, ref, p.Code, p.QuestionSets[0].Code, state, from.id, to.id, by, replyBy.UTC(), sent.UTC(), utcOrNil(accepted), utcOrNil(answered), utcOrNil(closed),
					subject, rating, last.UTC(), sent.UTC()); err != nil {
					return db.Check(err)
				}
				for j, q := range questions[:1+rnd.IntN(min(3, len(questions)))] {
					if _, err := tx.ExecContext(ctx, `INSERT INTO request_questions (request_id, position, code) VALUES ($1, $2, $3)`, id, j, q.Code); err != nil {
						return db.Check(err)
					}
				}
				for seq, e := range events {
					if _, err := tx.ExecContext(ctx, `INSERT INTO case_events (id, case_id, seq, at, action, from_state, to_state, authority_id, party)
						VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, uuid.Must(uuid.NewV7()).String(), id, seq+1, e.at.UTC(), e.action, e.from, e.to,
						map[bool]string{true: from.id, false: to.id}[e.action == "send" || e.action == "close" || e.action == "provide_info"],
						map[bool]string{true: "requester", false: "responder"}[e.action == "send" || e.action == "close" || e.action == "provide_info"]); err != nil {
						return db.Check(err)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("demo history: %w", err)
	}
	_, err = stats.Rebuild(ctx, a.DB, a.Areas)
	return err
}

func utcOrNil(v any) any {
	if t, ok := v.(time.Time); ok {
		return t.UTC()
	}
	return nil
}
