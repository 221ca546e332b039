package bench

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/requests"
)

// BenchmarkRequests100000 measures the request service with 100,000
// requests already stored (spread over 200 requesting and 200 responding
// authorities, in every state), and reports the median and 95th
// percentile of each operation:
//
//	go test ./bench/ -run '^$' -bench Requests100000 -benchtime 1x
//	IMI_TEST_DATABASE=postgres://… go test ./bench/ -run '^$' -bench Requests100000 -benchtime 1x
func BenchmarkRequests100000(b *testing.B) {
	const stored, sides = 100_000, 200
	ctx := context.Background()
	w := newBase(b)
	d, reg, au, auths := w.d, w.reg, w.au, w.auths
	svc, err := requests.New(d, reg, auths, "http://imi.test", nil)
	if err != nil {
		b.Fatal(err)
	}
	register := func(country, name string, kind authorities.Kind) *authorities.Authority {
		a, err := auths.Register(ctx, authorities.System(), authorities.Input{Country: country, Name: name, Language: "en", Kind: kind, Areas: []string{"pq"}})
		if err != nil {
			b.Fatal(err)
		}
		return a
	}
	register("DE", "Coordinator DE", authorities.NationalCoordinator)
	register("PL", "Coordinator PL", authorities.NationalCoordinator)
	var de, pl []*authorities.Authority
	for i := range sides {
		de = append(de, register("DE", fmt.Sprintf("Kammer %d", i), authorities.CompetentAuthority))
		pl = append(pl, register("PL", fmt.Sprintf("Izba %d", i), authorities.CompetentAuthority))
	}
	actor := func(a *authorities.Authority, email string, roles ...string) authorities.Actor {
		return member(b, au, auths, a, email, roles...)
	}
	requester := actor(de[0], "handler@de.example", authorities.RequestHandler)
	responder := actor(pl[0], "handler@pl.example", authorities.RequestHandler, authorities.Allocator)
	start := time.Now()
	seedRequests(b, d, stored, de, pl, requester.UserID)
	b.Logf("stored %d requests in %v", stored, time.Since(start).Round(time.Millisecond))

	draft := requests.DraftInput{Area: "pq", QuestionSet: "authenticity", Questions: []string{"diploma_authentic", "diploma_issuer_competent"},
		ResponderID: pl[0].ID, Subject: map[string]string{"name": "Jan Kowalski", "profession": "doctor"}, Message: "Please check."}
	answers := map[string]requests.Answer{"diploma_authentic": {Value: "yes"}, "diploma_issuer_competent": {Value: "no"}}
	t := newTimings(b)
	timed := t.time
	b.ResetTimer()
	for range b.N {
		for range 50 {
			var id string
			timed("create_and_send", func() error {
				r, err := svc.Create(ctx, requester, draft)
				if err != nil {
					return err
				}
				id = r.ID
				_, err = svc.Act(ctx, requester, id, "send", requests.Input{})
				return err
			})
			timed("open", func() error { _, err := svc.Get(ctx, responder, id); return err })
			timed("inbox", func() error { // as the API lists it
				_, _, err := svc.Inbox(ctx, responder, requests.Incoming, requests.Filter{})
				return err
			})
			timed("inbox_brief", func() error { // as the inbox's pages read it
				_, _, err := svc.Inbox(ctx, responder, requests.Incoming, requests.Filter{Brief: true})
				return err
			})
			timed("accept_and_answer", func() error {
				if _, err := svc.Act(ctx, responder, id, "accept", requests.Input{}); err != nil {
					return err
				}
				_, err := svc.Act(ctx, responder, id, "answer", requests.Input{Answers: answers})
				return err
			})
		}
	}
	b.StopTimer()
	t.report()
}

// seedRequests writes n requests straight into the tables, as the service
// would have left them, in batches.
func seedRequests(b *testing.B, d *db.DB, n int, de, pl []*authorities.Authority, userID string) {
	b.Helper()
	ctx := context.Background()
	states := []string{"sent", "accepted", "answered", "closed", "closed", "closed", "info_requested", "declined"}
	now := time.Now().UTC().Truncate(time.Microsecond)
	const batch = 500
	for startAt := 0; startAt < n; startAt += batch {
		err := d.InTx(ctx, func(tx db.Querier) error {
			var reqs, questions, events [][]any
			for i := startAt; i < min(startAt+batch, n); i++ {
				id := uuid.Must(uuid.NewV7()).String()
				state := states[i%len(states)]
				sent := now.Add(-time.Duration(n-i) * time.Minute)
				var closed any
				if state == "closed" || state == "declined" {
					closed = sent.Add(72 * time.Hour)
				}
				reqs = append(reqs, []any{id, fmt.Sprintf("PQ-2025-%06d", i+1), "pq", "authenticity", state, de[i%len(de)].ID, pl[(i/len(de))%len(pl)].ID, userID,
					sent.Add(14 * 24 * time.Hour), nil, sent, sent.Add(time.Hour), nil, closed, nil, int64(0), fmt.Sprintf("Person %d", i), `{"name":"Person","profession":"doctor"}`, "",
					nil, nil, sent, sent, sent})
				questions = append(questions, []any{id, 1, "diploma_authentic", "", ""}, []any{id, 2, "diploma_issuer_competent", "", ""})
				events = append(events, []any{uuid.Must(uuid.NewV7()).String(), id, 1, sent, "create", "", "draft", userID, de[i%len(de)].ID, "requester", "", ""},
					[]any{uuid.Must(uuid.NewV7()).String(), id, 2, sent, "send", "draft", "sent", userID, de[i%len(de)].ID, "requester", "", ""})
			}
			if err := insertRows(ctx, d, tx, `requests (id, reference, area, question_set, state, requester_id, responder_id, created_by, reply_by, proposed_reply_by,
				sent_at, accepted_at, answered_at, closed_at, stopped_at, stopped_seconds, subject_name, subject, message, rating_time, rating_effort,
				last_activity_at, created_at, updated_at)`, reqs); err != nil {
				return err
			}
			if err := insertRows(ctx, d, tx, "request_questions (request_id, position, code, answer, answer_text)", questions); err != nil {
				return err
			}
			return insertRows(ctx, d, tx, "case_events (id, case_id, seq, at, action, from_state, to_state, user_id, authority_id, party, comment, data)", events)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := d.AfterBulkChange(ctx, "requests", "request_questions", "case_events"); err != nil {
		b.Fatal(err)
	}
}

// insertRows writes rows into table (with its column list) in one
// statement.
func insertRows(ctx context.Context, d *db.DB, tx db.Querier, table string, rows [][]any) error {
	var sb strings.Builder
	var args []any
	for i, r := range rows {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteByte('(')
		for j := range r {
			if j > 0 {
				sb.WriteString(", ")
			}
			args = append(args, r[j])
			if d.Dialect() == db.SQLite {
				sb.WriteByte('?')
			} else {
				fmt.Fprintf(&sb, "$%d", len(args))
			}
		}
		sb.WriteByte(')')
	}
	_, err := tx.ExecContext(ctx, "INSERT INTO "+table+" VALUES "+sb.String(), args...)
	return err
}
