// Package stats produces IMI's figures: the network, the volume of
// exchanges, the questions asked, reply times and the scoreboard. The
// figures of requests come from request_facts, a projection of each
// request's events kept up to date in the transaction of every step
// (Project) and derivable again from the events alone (Rebuild). The same
// tables serve the UI, the API, the CLI and the annual report.
package stats

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
	_ "time/tzdata" // periods are Brussels months wherever the server runs

	"github.com/openimi/openimi/internal/areas"
	"github.com/openimi/openimi/internal/db"
)

// Zone is where periods are counted: months, quarters and years are
// calendar periods in Brussels time, as the Commission reports them.
var Zone = mustZone("Europe/Brussels")

func mustZone(name string) *time.Location {
	z, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return z
}

// Month is the period key of t: "2026-01" in Brussels time.
func Month(t time.Time) string { return t.In(Zone).Format("2006-01") }

// Date is the calendar date of t in Brussels time, "2026-01-31".
func Date(t time.Time) string { return t.In(Zone).Format(time.DateOnly) }

// StartOfDay is midnight in Brussels of t's date: a reply date before it
// has passed.
func StartOfDay(t time.Time) time.Time {
	t = t.In(Zone)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, Zone)
}

// seconds counts a duration in whole seconds, rounding up, so that an
// answer a fraction of a second after 7 days is "within 2 weeks".
func seconds(d time.Duration) int64 { return int64((d + time.Second - 1) / time.Second) }

const (
	day  = 24 * 60 * 60 // seconds
	week = 7 * day
	// AcceptDays is the scoreboard's target for accepting a request.
	AcceptDays = 7
)

// Reply-time buckets.
const (
	Unanswered = 0 // still open, no answer yet
	Week1      = 1 // answered within 7 days
	Week2      = 2 // within 14 days
	Week4      = 3 // within 28 days
	Later      = 4 // after more than 28 days
	Ended      = 5 // declined or withdrawn without an answer
)

// Bucket places a reply time in seconds: the bounds are inclusive, so a
// request answered exactly 14 days after it was sent is "within 2 weeks".
func Bucket(seconds int64) int {
	switch {
	case seconds <= week:
		return Week1
	case seconds <= 2*week:
		return Week2
	case seconds <= 4*week:
		return Week4
	}
	return Later
}

// Facts is one request's figures, derived from its events.
type Facts struct {
	RequestID, Area, Category                   string
	RequesterID, RequesterCountry               string
	ResponderID, ResponderCountry               string
	State                                       string
	SentAt, ArrivedAt, ReplyBy                  time.Time
	AcceptedAt, AnsweredAt                      *time.Time
	AcceptOK, OnTime, Negative                  *int
	ReplySeconds, NetSeconds                    *int64
	ReplyBucket, NetBucket, Reopened, Forwarded int
	Questions                                   []string
}

// event is the part of a case event the facts need.
type event struct {
	at     time.Time
	action string
}

// derive computes the facts of a request from its events, in order. ok is
// false for a request never sent (a draft, or one awaiting approval).
func derive(f *Facts, events []event) (ok bool) {
	var stoppedAt *time.Time
	var stopped int64
	var endedAt *time.Time
	for _, e := range events {
		at := e.at
		switch e.action {
		case "send", "send_for_allocation", "approve", "approve_for_allocation", "split_from":
			if !ok {
				f.SentAt, f.ArrivedAt, ok = at, at, true
			}
		case "forward":
			if f.AcceptedAt == nil {
				f.ArrivedAt = at
			}
			f.Forwarded++
		case "accept":
			if f.AcceptedAt == nil {
				f.AcceptedAt = &at
			}
		case "request_info":
			if f.AnsweredAt == nil {
				stoppedAt = &at
			}
		case "provide_info":
			if stoppedAt != nil {
				stopped += int64(at.Sub(*stoppedAt) / time.Second) // whole seconds: the answer's are rounded up
				stoppedAt = nil
			}
		case "answer":
			if f.AnsweredAt == nil {
				f.AnsweredAt = &at
			}
		case "reopen":
			f.Reopened++
		case "decline", "withdraw":
			endedAt = &at
		}
	}
	if !ok {
		return false
	}
	yes, no := 1, 0
	switch {
	case f.AcceptedAt != nil && f.AcceptedAt.Sub(f.ArrivedAt) <= AcceptDays*day*time.Second:
		f.AcceptOK = &yes
	case f.AcceptedAt != nil, f.State == "declined":
		f.AcceptOK = &no
	case endedAt != nil && endedAt.Sub(f.ArrivedAt) > AcceptDays*day*time.Second:
		f.AcceptOK = &no // withdrawn after waiting more than 7 days
	}
	f.ReplyBucket, f.NetBucket = Unanswered, Unanswered
	if f.AnsweredAt != nil {
		gross := seconds(f.AnsweredAt.Sub(f.SentAt))
		net := max(gross-stopped, 0)
		f.ReplySeconds, f.NetSeconds = &gross, &net
		f.ReplyBucket, f.NetBucket = Bucket(gross), Bucket(net)
		// The reply date is a calendar date: an answer during it is on time.
		if Date(*f.AnsweredAt) > Date(f.ReplyBy) {
			f.OnTime = &no
		} else {
			f.OnTime = &yes
		}
	} else if f.State == "declined" || f.State == "withdrawn" {
		f.ReplyBucket, f.NetBucket = Ended, Ended
	}
	return true
}

// Derive computes the facts of a request from its events' moments and
// actions, in order, exactly as Project does; f must hold the request's
// state and reply date. It is for writers of many requests at once
// (internal/gen), which cannot afford Project's queries per request.
func Derive(f *Facts, at []time.Time, actions []string) bool {
	events := make([]event, len(at))
	for i := range at {
		events[i] = event{at[i], actions[i]}
	}
	return derive(f, events)
}

// Project brings the facts of the given requests up to date inside tx,
// after a step changed them. Requests never sent have none.
func Project(ctx context.Context, tx db.Querier, reg *areas.Registry, ids ...string) error {
	return projectAll(ctx, tx, reg, true, ids)
}

// ProjectHeld is Project for a step whose transaction has already written
// each request's row, a write that affected it (the workflow's change of
// state, which Fire checks, or a request split off, which nobody else sees
// before the commit): the row is the transaction's until its commit, and
// holding it again would be one more statement and, on PostgreSQL, one
// more version of the row.
func ProjectHeld(ctx context.Context, tx db.Querier, reg *areas.Registry, ids ...string) error {
	return projectAll(ctx, tx, reg, false, ids)
}

func projectAll(ctx context.Context, tx db.Querier, reg *areas.Registry, hold bool, ids []string) error {
	var deltas []delta
	for _, id := range ids {
		d, err := project(ctx, tx, reg, id, hold)
		if err != nil {
			return err
		}
		deltas = append(deltas, d...)
	}
	return applyDeltas(ctx, tx, deltas)
}

// delta is a change of one question counter.
type delta struct {
	area, month, code string
	n                 int
}

func project(ctx context.Context, tx db.Querier, reg *areas.Registry, id string, hold bool) ([]delta, error) {
	// Hold the request's row, so that a rebuild and a step never project
	// the same request at once (a no-op on SQLite's single writer), unless
	// the transaction holds it already (ProjectHeld).
	// (Not the key: updating a key would make SQLite check every table
	// that refers to requests.)
	if hold {
		if _, err := tx.ExecContext(ctx, `UPDATE requests SET updated_at = updated_at WHERE id = $1`, id); err != nil {
			return nil, db.Check(err)
		}
	}
	// The request, the facts stored for it and its questions, in one
	// round trip.
	f := Facts{RequestID: id}
	var subject, codes string
	var rateTime, rateEffort sql.NullInt64
	var responder, oldArea, oldMonth, oldCategory, oldQuestions sql.NullString
	err := tx.QueryRowContext(ctx, `SELECT r.area, r.state, r.requester_id, a.country, r.responder_id, COALESCE(b.country, ''), r.reply_by, r.subject, r.rating_time, r.rating_effort,
			f.area, f.sent_month, f.category, f.questions,
			COALESCE((SELECT string_agg(q.code, ',' ORDER BY q.code) FROM request_questions q WHERE q.request_id = r.id), '')
		FROM requests r JOIN authorities a ON a.id = r.requester_id LEFT JOIN authorities b ON b.id = r.responder_id
			LEFT JOIN request_facts f ON f.request_id = r.id
		WHERE r.id = $1`, id).
		Scan(&f.Area, &f.State, &f.RequesterID, &f.RequesterCountry, &responder, &f.ResponderCountry, &f.ReplyBy, &subject, &rateTime, &rateEffort,
			&oldArea, &oldMonth, &oldCategory, &oldQuestions, &codes)
	if err != nil {
		return nil, db.Check(err)
	}
	f.ResponderID = responder.String
	var old *storedFacts
	if oldArea.Valid {
		old = &storedFacts{area: oldArea.String, month: oldMonth.String, category: oldCategory.String, questions: split(oldQuestions.String)}
	}
	rows, err := tx.QueryContext(ctx, `SELECT at, action FROM case_events WHERE case_id = $1 ORDER BY seq`, id)
	if err != nil {
		return nil, db.Check(err)
	}
	var events []event
	for rows.Next() {
		var e event
		if err := rows.Scan(&e.at, &e.action); err != nil {
			_ = rows.Close()
			return nil, db.Check(err)
		}
		events = append(events, e)
	}
	_ = rows.Close()
	if err := rows.Err(); err != nil {
		return nil, db.Check(err)
	}
	if !derive(&f, events) || f.ResponderID == "" {
		return nil, nil
	}
	f.Questions = split(codes)
	f.Category = category(reg, f.Area, subject)
	if f.Category == "" && old != nil {
		f.Category = old.category // the subject's data was erased: the figure stays
	}
	if rateTime.Valid || rateEffort.Valid {
		neg := 0
		for _, v := range []sql.NullInt64{rateTime, rateEffort} {
			if v.Valid && v.Int64 >= 1 && v.Int64 <= 2 {
				neg = 1
			}
		}
		f.Negative = &neg
	}
	if err := Save(ctx, tx, &f); err != nil {
		return nil, err
	}
	month := Month(f.SentAt)
	var out []delta
	if old != nil {
		for _, c := range old.questions {
			out = append(out, delta{old.area, old.month, c, -1})
		}
	}
	for _, c := range f.Questions {
		out = append(out, delta{f.Area, month, c, 1})
	}
	return out, nil
}

// storedFacts is what the question counters hold for a request.
type storedFacts struct {
	area, month, category string
	questions             []string
}

// split is a list of question codes joined by commas (none is empty).
func split(codes string) []string {
	if codes == "" {
		return nil
	}
	return strings.Split(codes, ",")
}

// category reads the area's statistics category (a term of the subject,
// never personal data) from a request's subject.
func category(reg *areas.Registry, area, subject string) string {
	p, err := reg.Pack(area)
	if err != nil || p.Statistics.Category == "" {
		return ""
	}
	var fields map[string]any
	if json.Unmarshal([]byte(subject), &fields) != nil {
		return ""
	}
	v, _ := fields[p.Statistics.Category].(string)
	// Only a term of the field's vocabulary: never free text, which might
	// name a person and would outlive the erasure of personal data.
	if f := p.Field(p.Statistics.Category); f == nil || !isTerm(p, f.Vocabulary, v) {
		return ""
	}
	return v
}

func isTerm(p *areas.Pack, vocabulary, code string) bool {
	if v := p.Vocabulary(vocabulary); v != nil {
		for _, t := range v.AllTerms() {
			if t.Value == code {
				return true
			}
		}
	}
	return false
}

// Save writes the facts of one request, replacing what was there. The
// question counters are the caller's to keep (Project does).
func Save(ctx context.Context, q db.Querier, f *Facts) error {
	_, err := q.ExecContext(ctx, `INSERT INTO request_facts (request_id, area, category, requester_id, requester_country, responder_id, responder_country, state,
			sent_at, sent_month, arrived_at, accepted_at, accept_ok, answered_at, reply_seconds, net_seconds, reply_bucket, net_bucket, reply_by, on_time, negative,
			reopened, forwarded, questions)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)
		ON CONFLICT (request_id) DO UPDATE SET area = excluded.area, category = excluded.category, requester_id = excluded.requester_id,
			requester_country = excluded.requester_country, responder_id = excluded.responder_id, responder_country = excluded.responder_country,
			state = excluded.state, sent_at = excluded.sent_at, sent_month = excluded.sent_month, arrived_at = excluded.arrived_at,
			accepted_at = excluded.accepted_at, accept_ok = excluded.accept_ok, answered_at = excluded.answered_at,
			reply_seconds = excluded.reply_seconds, net_seconds = excluded.net_seconds, reply_bucket = excluded.reply_bucket,
			net_bucket = excluded.net_bucket, reply_by = excluded.reply_by, on_time = excluded.on_time, negative = excluded.negative,
			reopened = excluded.reopened, forwarded = excluded.forwarded, questions = excluded.questions`,
		f.RequestID, f.Area, f.Category, f.RequesterID, f.RequesterCountry, f.ResponderID, f.ResponderCountry, f.State,
		f.SentAt.UTC(), Month(f.SentAt), f.ArrivedAt.UTC(), utc(f.AcceptedAt), f.AcceptOK, utc(f.AnsweredAt), f.ReplySeconds, f.NetSeconds,
		f.ReplyBucket, f.NetBucket, f.ReplyBy.UTC(), f.OnTime, f.Negative, f.Reopened, f.Forwarded, strings.Join(f.Questions, ","))
	return db.Check(err)
}

func utc(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC()
}

// applyDeltas adds up the changes per counter and writes those that are
// not zero, in one order so that concurrent writers cannot deadlock: a
// statement of many rows writes them in the order of its VALUES. A step's
// counters are one statement, one round trip to PostgreSQL.
func applyDeltas(ctx context.Context, tx db.Querier, ds []delta) error {
	sum := map[[3]string]int{}
	for _, d := range ds {
		sum[[3]string{d.area, d.month, d.code}] += d.n
	}
	keys := make([][3]string, 0, len(sum))
	for k, n := range sum {
		if n != 0 {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return slices.Compare(keys[i][:], keys[j][:]) < 0 })
	for batch := range slices.Chunk(keys, deltasPerStatement) {
		rows := make([]string, len(batch))
		args := make([]any, 0, 4*len(batch))
		for i, k := range batch {
			rows[i] = db.ValuesRow(4*i+1, 4)
			args = append(args, k[0], k[1], k[2], sum[k])
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO stats_questions (area, month, code, requests) VALUES `+strings.Join(rows, ", ")+`
			ON CONFLICT (area, month, code) DO UPDATE SET requests = stats_questions.requests + excluded.requests`, args...); err != nil {
			return db.Check(err)
		}
	}
	return nil
}

// deltasPerStatement bounds a statement's counters (four parameters
// each), far below either database's limit of parameters.
const deltasPerStatement = 250

// Rebuild derives every request's facts again from the events, in
// batches, over the stored ones (which keep the category of requests
// whose personal data was erased), then counts the questions again from
// the facts; it returns how many requests have facts.
func Rebuild(ctx context.Context, d *db.DB, reg *areas.Registry) (int, error) {
	after := ""
	for {
		ids, err := db.Strings(d.Read().QueryContext(ctx, `SELECT id FROM requests WHERE id > $1 AND sent_at IS NOT NULL ORDER BY id LIMIT 500`, after))
		if err != nil {
			return 0, err
		}
		if len(ids) == 0 {
			break
		}
		if err := d.InTxAlone(ctx, func(tx db.Querier) error { return Project(ctx, tx, reg, ids...) }); err != nil {
			return 0, fmt.Errorf("rebuild statistics: %w", err)
		}
		after = ids[len(ids)-1]
	}
	n := 0
	err := d.InTxAlone(ctx, func(tx db.Querier) error {
		// Steps add to the counters while the server works. On PostgreSQL
		// a step that committed between reading the facts and deleting the
		// counters would lose its change, or keep it twice: the counters
		// are locked against steps first (a step waits, or is waited for),
		// and then read from the facts its commit left. SQLite's one writer
		// runs this transaction alone.
		if d.Dialect() == db.Postgres {
			if _, err := tx.ExecContext(ctx, `LOCK TABLE stats_questions IN EXCLUSIVE MODE`); err != nil {
				return db.Check(err)
			}
		}
		sum := map[[3]string]int{}
		rows, err := tx.QueryContext(ctx, `SELECT area, sent_month, questions FROM request_facts`)
		if err != nil {
			return db.Check(err)
		}
		for rows.Next() {
			var area, month, qs string
			if err := rows.Scan(&area, &month, &qs); err != nil {
				_ = rows.Close()
				return db.Check(err)
			}
			n++
			for _, c := range strings.Split(qs, ",") {
				if c != "" {
					sum[[3]string{area, month, c}]++
				}
			}
		}
		_ = rows.Close()
		if err := rows.Err(); err != nil {
			return db.Check(err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM stats_questions`); err != nil {
			return db.Check(err)
		}
		var ds []delta
		for k, v := range sum {
			ds = append(ds, delta{k[0], k[1], k[2], v})
		}
		return applyDeltas(ctx, tx, ds)
	})
	return n, err
}

// Missing reports whether sent requests have no facts yet (a database
// from before statistics, or restored without them): the server then
// rebuilds them at start.
func Missing(ctx context.Context, q db.Querier) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM requests r WHERE r.sent_at IS NOT NULL
		AND NOT EXISTS (SELECT 1 FROM request_facts f WHERE f.request_id = r.id) LIMIT 1) x`).Scan(&n)
	return n > 0, db.Check(err)
}
