package bench

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/openimi/openimi/internal/areas"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/countries"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/requests"
	"github.com/openimi/openimi/internal/stats"
)

// BenchmarkStatistics1M measures every statistic of internal/stats over
// 1,000,000 requests (and their facts), sent from January 2024 to
// December 2026 in the three areas between 300 authorities of the 30
// countries, in every outcome: accepted late or not at all, answered
// within one, two or four weeks or later, with the clock stopped,
// forwarded, reopened, declined, withdrawn, rated. The figures are read on
// 10 January 2027. The rows are written straight into the tables, in the
// order they were sent (setup, not timed: about a minute on SQLite, two on
// PostgreSQL). It reports the median and 95th percentile of each statistic
// (run 5 times), and of stats.Project (the cost the facts add to every
// step of a request) on 300 requests whose events are stored too, which
// also checks that the generated facts are those Project derives:
//
//	go test ./bench/ -run '^$' -bench Statistics1M -benchtime 1x -timeout 60m
//	IMI_TEST_DATABASE=postgres://… go test ./bench/ -run '^$' -bench Statistics1M -benchtime 1x -timeout 60m
func BenchmarkStatistics1M(b *testing.B) {
	const stored, runs = 1_000_000, 5
	ctx := context.Background()
	w := newBase(b)
	d, reg, au, auths := w.d, w.reg, w.au, w.auths
	start := time.Now()
	network := map[string][]*authorities.Authority{} // per country, its competent authorities
	coordinators := map[string]*authorities.Authority{}
	for _, c := range countries.Current() {
		for i := range 10 {
			kind := authorities.CompetentAuthority
			if i == 0 {
				kind = authorities.NationalCoordinator
			}
			a, err := auths.Register(ctx, authorities.System(), authorities.Input{Country: c.Code, Name: fmt.Sprintf("Authority %s %02d", c.Code, i),
				Language: "en", Kind: kind, Areas: []string{"pq", "services", "pw"}})
			if err != nil {
				b.Fatal(err)
			}
			if i > 0 {
				network[c.Code] = append(network[c.Code], a)
			} else {
				coordinators[c.Code] = a
			}
		}
	}
	handler := member(b, au, auths, network["DE"][0], "handler@de.example", authorities.RequestHandler)
	deCoordinator := member(b, au, auths, coordinators["DE"], "coordinator@de.example", authorities.Coordinator)
	ec, err := auths.EnsureCommission(ctx)
	if err != nil {
		b.Fatal(err)
	}
	commission := member(b, au, auths, ec, "grow@ec.example", authorities.Coordinator)
	b.Logf("registered %d authorities in %v", 10*len(network), time.Since(start).Round(time.Millisecond))

	now := time.Date(2027, 1, 10, 12, 0, 0, 0, time.UTC)
	start = time.Now()
	sample := seedFacts(b, d, newFactsGen(b, reg, network, now, stored), stored, handler.UserID)
	b.Logf("stored %d requests with their facts in %v", stored, time.Since(start).Round(time.Millisecond))

	th, err := stats.ParseThresholds(stats.DefaultThresholds)
	if err != nil {
		b.Fatal(err)
	}
	svc := stats.New(d, reg, th, func() time.Time { return now })
	reqs, err := requests.New(d, reg, auths, "http://imi.test", func() time.Time { return now })
	if err != nil {
		b.Fatal(err)
	}
	followUps := map[string]int{}
	by := func(dims ...string) []string { return dims }
	statistics := []struct {
		name string
		run  func() (*stats.Table, error)
	}{
		{"exchanges_area_month", func() (*stats.Table, error) { return svc.Exchanges(ctx, stats.Query{By: by("area", "month")}) }},
		{"requests_area_quarter", func() (*stats.Table, error) { return svc.Requests(ctx, stats.Query{By: by("area", "quarter")}) }},
		{"requests_profession_quarter_pq", func() (*stats.Table, error) {
			return svc.Requests(ctx, stats.Query{By: by("profession", "quarter"), Area: "pq"})
		}},
		{"requests_countries_2025", func() (*stats.Table, error) {
			return svc.Requests(ctx, stats.Query{By: by("requester_country", "responder_country"), From: "2025", To: "2025"})
		}},
		{"questions_pq", func() (*stats.Table, error) { return svc.Questions(ctx, stats.Query{Area: "pq"}) }},
		{"questions_pq_quarter", func() (*stats.Table, error) { return svc.Questions(ctx, stats.Query{Area: "pq", By: by("quarter")}) }},
		{"replies_area", func() (*stats.Table, error) { return svc.Replies(ctx, stats.Query{By: by("area")}) }},
		{"replies_country", func() (*stats.Table, error) { return svc.Replies(ctx, stats.Query{By: by("country")}) }},
		{"replies_country_net", func() (*stats.Table, error) { return svc.Replies(ctx, stats.Query{By: by("country"), Clock: "net"}) }},
		{"replies_authority", func() (*stats.Table, error) { return svc.Replies(ctx, stats.Query{By: by("authority")}) }},
		{"replies_authority_DE", func() (*stats.Table, error) { return svc.Replies(ctx, stats.Query{By: by("authority"), Scope: "DE"}) }},
		{"scoreboard", func() (*stats.Table, error) { return svc.Scoreboard(ctx, stats.Query{}) }},
		{"scoreboard_2025", func() (*stats.Table, error) { return svc.Scoreboard(ctx, stats.Query{From: "2025", To: "2025"}) }},
	}
	results := map[string]*stats.Table{}
	before := dumpFacts(b, d, sample)
	t := newTimings(b)
	b.ResetTimer()
	for range b.N {
		for range runs {
			for _, s := range statistics {
				t.time(s.name, func() (err error) { results[s.name], err = s.run(); return err })
			}
			// The coordinators' follow-up lists over the same requests.
			for name, actor := range map[string]authorities.Actor{"follow_up_DE": deCoordinator, "follow_up_commission": commission} {
				t.time(name, func() error {
					list, err := reqs.FollowUp(ctx, actor, "", 1, 50) // the first page, and the counts
					followUps[name] = list.Total
					return err
				})
			}
		}
		garble(b, d, sample) // for Project to put right
		for _, id := range sample {
			t.time("project", func() error {
				return d.InTx(ctx, func(tx db.Querier) error { return stats.Project(ctx, tx, reg, id) })
			})
		}
	}
	b.StopTimer()
	t.report()
	b.Logf("stalled requests on the follow-up lists: %v", followUps)

	// The figures add up, and the facts derived again from the sample's
	// events are those stored: the generated data is what the workflow
	// would have left.
	if n := columnSum(results["exchanges_area_month"], "requests"); n != stored {
		b.Errorf("exchanges count %v requests, want %d", n, stored)
	}
	if n := columnSum(results["replies_authority"], "total"); n != stored {
		b.Errorf("replies per authority count %v requests, want %d", n, stored)
	}
	if rows := len(results["scoreboard"].Rows); rows != len(network)+1 {
		b.Errorf("scoreboard has %d rows, want %d", rows, len(network)+1)
	}
	if after := dumpFacts(b, d, sample); after != before {
		b.Errorf("Project derived other facts than generated:\nbefore %s\nafter  %s", before, after)
	}
}

// garble spoils the stored facts of the requests ids, but not their
// questions.
func garble(b *testing.B, d *db.DB, ids []string) {
	b.Helper()
	var ph []string
	var args []any
	for _, id := range ids {
		args = append(args, id)
		ph = append(ph, fmt.Sprintf("$%d", len(args)))
	}
	if err := d.InTx(context.Background(), func(tx db.Querier) error {
		_, err := tx.ExecContext(context.Background(), `UPDATE request_facts SET category = 'garbled', state = 'garbled', accept_ok = NULL,
			reply_seconds = NULL, reply_bucket = 9, on_time = NULL, negative = NULL, forwarded = 9 WHERE request_id IN (`+strings.Join(ph, ", ")+`)`, args...)
		return err
	}); err != nil {
		b.Fatal(err)
	}
}

func columnSum(t *stats.Table, key string) float64 {
	i, sum := t.Column(key), 0.0
	for _, row := range t.Rows {
		sum += row[i].Value
	}
	return sum
}

// dumpFacts renders the facts of the requests ids and the question
// counters, to compare.
func dumpFacts(b *testing.B, d *db.DB, ids []string) string {
	b.Helper()
	ctx := context.Background()
	var out []string
	for _, id := range ids {
		v := make([]any, 24)
		p := make([]any, len(v))
		for i := range v {
			p[i] = &v[i]
		}
		if err := d.Read().QueryRowContext(ctx, `SELECT request_id, area, category, requester_id, requester_country, responder_id, responder_country,
			state, sent_at, sent_month, arrived_at, accepted_at, accept_ok, answered_at, reply_seconds, net_seconds, reply_bucket, net_bucket,
			reply_by, on_time, negative, reopened, forwarded, questions FROM request_facts WHERE request_id = $1`, id).Scan(p...); err != nil {
			b.Fatal(err)
		}
		for i, x := range v {
			if tm, ok := x.(time.Time); ok {
				v[i] = tm.UTC().Format(time.RFC3339)
			}
		}
		out = append(out, fmt.Sprint(v))
	}
	var n int64
	if err := d.Read().QueryRowContext(ctx, `SELECT SUM(requests) FROM stats_questions`).Scan(&n); err != nil {
		b.Fatal(err)
	}
	return strings.Join(append(out, fmt.Sprint("questions ", n)), "\n")
}

// seedFacts writes n requests and their facts straight into the tables,
// as the workflow would have left them, and the question counters; for
// one request in 3,333 also its questions and events. It returns those.
func seedFacts(b *testing.B, d *db.DB, g *factsGen, n int, userID string) (sample []string) {
	b.Helper()
	ctx := context.Background()
	const batch, perTx = 1000, 10_000
	counters := map[[3]string]int{}
	var reqs, facts, questions, events [][]any
	flush := func(tx db.Querier) error { // requests first: the others refer to them
		for _, t := range []struct {
			rows  *[][]any
			table string
		}{
			{&reqs, `requests (id, reference, area, question_set, state, requester_id, responder_id, created_by, reply_by, sent_at, accepted_at,
				answered_at, closed_at, stopped_seconds, subject, rating_time, rating_effort, last_activity_at, created_at, updated_at)`},
			{&facts, `request_facts (request_id, area, category, requester_id, requester_country, responder_id, responder_country, state,
				sent_at, sent_month, arrived_at, accepted_at, accept_ok, answered_at, reply_seconds, net_seconds, reply_bucket, net_bucket,
				reply_by, on_time, negative, reopened, forwarded, questions)`},
			{&questions, `request_questions (request_id, position, code)`},
			{&events, `case_events (id, case_id, seq, at, action, from_state, to_state, user_id, authority_id, party)`},
		} {
			if len(*t.rows) == 0 {
				continue
			}
			if err := insertRows(ctx, d, tx, t.table, *t.rows); err != nil {
				return fmt.Errorf("%s: %w", strings.Fields(t.table)[0], err)
			}
			*t.rows = (*t.rows)[:0]
		}
		return nil
	}
	for from := 0; from < n; from += perTx {
		err := d.InTx(ctx, func(tx db.Querier) error {
			for i := from; i < min(from+perTx, n); i++ {
				r := g.next(i)
				f := &r.facts
				reqs = append(reqs, []any{f.RequestID, fmt.Sprintf("%s-%07d", strings.ToUpper(f.Area), i+1), f.Area, r.set, f.State, f.RequesterID,
					f.ResponderID, userID, f.ReplyBy, f.SentAt, utcOrNil(f.AcceptedAt), utcOrNil(f.AnsweredAt), utcOrNil(r.closedAt), r.stopped,
					fmt.Sprintf(`{%q:%q}`, r.field, f.Category), r.ratingTime, r.ratingEffort, r.last, r.created, r.last})
				facts = append(facts, []any{f.RequestID, f.Area, f.Category, f.RequesterID, f.RequesterCountry, f.ResponderID, f.ResponderCountry, f.State,
					f.SentAt, stats.Month(f.SentAt), f.ArrivedAt, utcOrNil(f.AcceptedAt), intOrNil(f.AcceptOK), utcOrNil(f.AnsweredAt),
					int64OrNil(f.ReplySeconds), int64OrNil(f.NetSeconds), f.ReplyBucket, f.NetBucket, f.ReplyBy, intOrNil(f.OnTime), intOrNil(f.Negative),
					f.Reopened, f.Forwarded, strings.Join(f.Questions, ",")})
				for _, c := range f.Questions {
					counters[[3]string{f.Area, stats.Month(f.SentAt), c}]++
				}
				if i%3333 == 0 {
					sample = append(sample, f.RequestID)
					for j, c := range f.Questions {
						questions = append(questions, []any{f.RequestID, j + 1, c})
					}
					for j, e := range r.events {
						events = append(events, []any{uuid.Must(uuid.NewV7()).String(), f.RequestID, j + 1, e.at, e.action, e.from, e.to, userID, e.by, e.party})
					}
				}
				if len(reqs) == batch {
					if err := flush(tx); err != nil {
						return err
					}
				}
			}
			return flush(tx)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	var rows [][]any
	for k, v := range counters {
		rows = append(rows, []any{k[0], k[1], k[2], v})
	}
	for from := 0; from < len(rows); from += batch {
		if err := d.InTx(ctx, func(tx db.Querier) error {
			return insertRows(ctx, d, tx, "stats_questions (area, month, code, requests)", rows[from:min(from+batch, len(rows))])
		}); err != nil {
			b.Fatal(err)
		}
	}
	if err := d.AfterBulkChange(ctx, "requests", "request_facts", "stats_questions", "request_questions", "case_events"); err != nil {
		b.Fatal(err)
	}
	return sample
}

func utcOrNil(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC()
}

func intOrNil(v *int) any {
	if v == nil {
		return nil
	}
	return *v
}

func int64OrNil(v *int64) any {
	if v == nil {
		return nil
	}
	return *v
}

// factsGen makes up requests: their history, and the facts
// internal/stats derives from it.
type factsGen struct {
	rnd       *rand.Rand
	areas     []genArea
	countries []string // the larger countries several times
	network   map[string][]*authorities.Authority
	now       time.Time
	sent      []time.Time // of each request
}

// genArea is what the generator uses of an area pack.
type genArea struct {
	code, field string  // the subject field of the statistics' category
	share       float64 // of all requests, cumulated
	terms       []string
	sets        []*areas.QuestionSet
	replyDays   int
}

// fakeRequest is one generated request.
type fakeRequest struct {
	facts                    stats.Facts
	set, field               string
	events                   []fakeEvent
	closedAt                 *time.Time
	stopped                  int64
	ratingTime, ratingEffort any
	created, last            time.Time
}

type fakeEvent struct {
	at                          time.Time
	action, from, to, by, party string
}

func newFactsGen(b *testing.B, reg *areas.Registry, network map[string][]*authorities.Authority, now time.Time, n int) *factsGen {
	g := &factsGen{rnd: rand.New(rand.NewPCG(1, 2)), network: network, now: now}
	// When the requests were sent, in order (as the workflow writes
	// them), more in the later months.
	for range n {
		m := g.rnd.IntN(36)
		if g.rnd.IntN(2) == 0 {
			m = min(int(36*math.Sqrt(g.rnd.Float64())), 35)
		}
		month := time.Date(2024, time.Month(1+m), 1, 0, 0, 0, 0, stats.Zone)
		g.sent = append(g.sent, g.between(month, 0, month.AddDate(0, 1, 0).Sub(month)).UTC())
	}
	slices.SortFunc(g.sent, time.Time.Compare)
	cum := 0.0
	for _, a := range []struct {
		code  string
		share float64
	}{{"pq", 0.5}, {"services", 0.35}, {"pw", 0.15}} {
		p, err := reg.Pack(a.code)
		if err != nil {
			b.Fatal(err)
		}
		field := p.Field(p.Statistics.Category)
		if field == nil || p.Vocabulary(field.Vocabulary) == nil {
			b.Fatalf("%s: no vocabulary for the statistics' category %q", a.code, p.Statistics.Category)
		}
		var terms []string
		for _, t := range p.Vocabulary(field.Vocabulary).AllTerms() {
			terms = append(terms, t.Value)
		}
		cum += a.share
		g.areas = append(g.areas, genArea{code: a.code, field: field.Code, share: cum, terms: terms, sets: p.QuestionSets, replyDays: max(p.Workflow.ReplyDays, 14)})
	}
	for c := range network {
		g.countries = append(g.countries, c)
		if slices.Contains([]string{"DE", "FR", "IT", "ES", "PL", "NL", "RO"}, c) {
			g.countries = append(g.countries, c, c, c)
		}
	}
	slices.Sort(g.countries)
	return g
}

// between returns a time between a+lo and a+hi, to the second.
func (g *factsGen) between(a time.Time, lo, hi time.Duration) time.Time {
	return a.Add(lo + time.Duration(g.rnd.Int64N(int64(hi-lo)))).Truncate(time.Second)
}

func (g *factsGen) authority(country string) *authorities.Authority {
	list := g.network[country]
	return list[g.rnd.IntN(len(list))]
}

// next makes up request i: when it was sent, to whom, what happened
// since (up to now), and its facts.
func (g *factsGen) next(i int) *fakeRequest {
	const day = 24 * time.Hour
	rnd := g.rnd
	u := rnd.Float64()
	a := g.areas[len(g.areas)-1]
	for _, x := range g.areas {
		if u < x.share {
			a = x
			break
		}
	}
	sent := g.sent[i]
	from := g.countries[rnd.IntN(len(g.countries))]
	to := from
	for to == from {
		to = g.countries[rnd.IntN(len(g.countries))]
	}
	requester, responder := g.authority(from), g.authority(to)
	set := a.sets[rnd.IntN(len(a.sets))]
	var codes []string
	for _, q := range set.Questions() {
		codes = append(codes, q.Code)
	}
	rnd.Shuffle(len(codes), func(i, j int) { codes[i], codes[j] = codes[j], codes[i] })
	codes = codes[:min(len(codes), 2+rnd.IntN(3))]
	slices.Sort(codes)

	r := &fakeRequest{set: set.Code, field: a.field, created: sent.Add(-10 * time.Minute)}
	f := &r.facts
	*f = stats.Facts{RequestID: uuid.Must(uuid.NewV7()).String(), Area: a.code, Category: a.terms[rnd.IntN(len(a.terms))],
		RequesterID: requester.ID, RequesterCountry: from, SentAt: sent, ArrivedAt: sent, ReplyBy: sent.AddDate(0, 0, a.replyDays), Questions: codes}
	// Steps happen in order until now; add reports whether it happened.
	state, live := "draft", true
	add := func(at time.Time, action, next string, by *authorities.Authority, party string) bool {
		if !live || at.After(g.now) {
			live = false
			return false
		}
		r.events = append(r.events, fakeEvent{at: at, action: action, from: state, to: next, by: by.ID, party: party})
		state, r.last = next, at
		return true
	}
	add(r.created, "create", "draft", requester, "requester")
	add(sent, "send", "sent", requester, "requester")
	var ended *time.Time
	if rnd.Float64() < 0.03 {
		other := g.authority(to)
		if at := g.between(sent, 2*time.Hour, 4*day); other != responder && add(at, "forward", "sent", responder, "responder") {
			f.ArrivedAt, f.Forwarded, responder = at, 1, other
		}
	}
	switch u := rnd.Float64(); {
	case u < 0.04:
		if at := g.between(f.ArrivedAt, time.Hour, 10*day); add(at, "decline", "declined", responder, "responder") {
			ended, r.closedAt = &at, &at
		}
	case u < 0.06:
		if at := g.between(f.ArrivedAt, time.Hour, 20*day); add(at, "withdraw", "withdrawn", requester, "requester") {
			ended, r.closedAt = &at, &at
		}
	case u < 0.075: // never accepted
	default:
		accept := g.between(f.ArrivedAt, 10*time.Minute, 7*day)
		if rnd.Float64() < 0.15 {
			accept = g.between(f.ArrivedAt, 7*day+time.Minute, 20*day)
		}
		if !add(accept, "accept", "accepted", responder, "responder") {
			break
		}
		f.AcceptedAt = &accept
		if u < 0.09 { // never answered
			break
		}
		var work time.Duration
		switch v := rnd.Float64(); {
		case v < 0.45:
			work = time.Duration(rnd.Int64N(int64(6 * day)))
		case v < 0.70:
			work = 6*day + time.Duration(rnd.Int64N(int64(7*day)))
		case v < 0.88:
			work = 13*day + time.Duration(rnd.Int64N(int64(14*day)))
		default:
			work = 27*day + time.Duration(rnd.Int64N(int64(40*day)))
		}
		answer := accept.Add(work + time.Hour).Truncate(time.Second)
		if rnd.Float64() < 0.10 { // the clock stands while the requester is asked
			asked := accept.Add(work / 3).Truncate(time.Second)
			told := g.between(asked, day, 10*day)
			if !add(asked, "request_info", "info_requested", responder, "responder") || !add(told, "provide_info", "accepted", requester, "requester") {
				break
			}
			r.stopped = int64(told.Sub(asked) / time.Second)
			answer = answer.Add(told.Sub(asked))
		}
		if !add(answer, "answer", "answered", responder, "responder") {
			break
		}
		f.AnsweredAt = &answer
		if rnd.Float64() < 0.02 {
			reopen := g.between(answer, time.Hour, 3*day)
			if !add(reopen, "reopen", "accepted", requester, "requester") {
				break
			}
			f.Reopened = 1
			if !add(g.between(reopen, time.Hour, 10*day), "answer", "answered", responder, "responder") {
				break
			}
		}
		if rnd.Float64() < 0.75 {
			at := g.between(r.last, time.Hour, 14*day)
			if !add(at, "close", "closed", requester, "requester") {
				break
			}
			r.closedAt = &at
			if rnd.Float64() < 0.8 { // rated: negative on one scale or none
				rt, re := 3+rnd.IntN(3), 3+rnd.IntN(3)
				if rnd.Float64() < 0.2 {
					if rnd.IntN(2) == 0 {
						rt = 1 + rnd.IntN(2)
					} else {
						re = 1 + rnd.IntN(2)
					}
				}
				neg := 0
				if rt <= 2 || re <= 2 {
					neg = 1
				}
				r.ratingTime, r.ratingEffort, f.Negative = rt, re, &neg
			}
		}
	}
	f.State, f.ResponderID, f.ResponderCountry = state, responder.ID, to

	// The facts, as internal/stats defines them.
	yes, no := 1, 0
	switch {
	case f.AcceptedAt != nil && f.AcceptedAt.Sub(f.ArrivedAt) <= stats.AcceptDays*day:
		f.AcceptOK = &yes
	case f.AcceptedAt != nil, state == "declined":
		f.AcceptOK = &no
	case ended != nil && ended.Sub(f.ArrivedAt) > stats.AcceptDays*day:
		f.AcceptOK = &no
	}
	switch {
	case f.AnsweredAt != nil:
		gross := int64(f.AnsweredAt.Sub(sent) / time.Second)
		net := max(gross-r.stopped, 0)
		f.ReplySeconds, f.NetSeconds = &gross, &net
		f.ReplyBucket, f.NetBucket = stats.Bucket(gross), stats.Bucket(net)
		f.OnTime = &yes
		if stats.Date(*f.AnsweredAt) > stats.Date(f.ReplyBy) { // the reply date is a calendar date
			f.OnTime = &no
		}
	case state == "declined" || state == "withdrawn":
		f.ReplyBucket, f.NetBucket = stats.Ended, stats.Ended
	}
	return r
}
