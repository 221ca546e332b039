package stats_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	shipped "github.com/openimi/openimi/areas"
	"github.com/openimi/openimi/internal/areas"
	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/broadcasts"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/db/dbtest"
	"github.com/openimi/openimi/internal/problem"
	"github.com/openimi/openimi/internal/requests"
	"github.com/openimi/openimi/internal/stats"
	"github.com/openimi/openimi/internal/testkit"
)

// fixture is a small network whose exchanges were made through the real
// workflow, step by step on a clock the test moves, so that every figure
// below can be computed by hand. Its requests, all in pq, from Germany:
//
//	R1  to PL: accepted day 2, answered day 5 at 09:00 on its reply date (7 March, given as a date), closed rated 5/4
//	R2  to PL: accepted day 8 (late), answered exactly day 14, closed rated 2/4 (negative)
//	R3  to PL: accepted day 1, clock stopped days 2–12, answered day 21 + 1 h (net 11 d 1 h), the day after the reply date
//	R4  to PL: accepted day 1, answered day 3, reopened day 4, answered again day 30, closed rated 3/3
//	R5  to PL: forwarded day 3 to a second Polish authority, accepted day 9 (6 days after arriving), not answered
//	R6  to FR: never accepted, not answered
//	R7  to PL: withdrawn day 2 (excluded from acceptance)
//	R8  to FR: declined day 1
//	R9  to PL: accepted day 1, one question split off day 2 to FR (C9), answered day 6
//	C9  to FR: sent day 2 by the split, accepted day 4, answered day 10 (8 days after it was sent)
//	R10 to PL: sent 31 Dec 2026 23:30 UTC (1 January 2027 in Brussels), accepted, answered 20 days later
//	R11 to PL: sent 31 Dec 2026 22:30 UTC (still 2026 in Brussels), accepted, answered exactly 7 days later
//
// Day 0 is 2 March 2026 09:00 UTC; R1–R9 ask for their answer by day 20.
// R1 and R2 also ask the qualification level; R2 is about a nurse, the
// others about doctors. A draft never sent counts nowhere. Germany also
// sent one pq alert (March 2026) and one services notification (April).
// The figures are read on 1 February 2027.
type fixture struct {
	t     *testing.T
	ctx   context.Context
	db    *db.DB
	reg   *areas.Registry
	svc   *requests.Service
	stats *stats.Service
	now   time.Time
	day0  time.Time
	ids   map[string]string

	de, pl, pl2, fr              authorities.Actor
	plCoordinator, deCoordinator authorities.Actor
	deCA, plCA, pl2CA, frCA      *authorities.Authority
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	d := dbtest.Open(t)
	reg, err := areas.Open(shipped.Files, "")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, ctx: context.Background(), db: d, reg: reg, ids: map[string]string{}}
	f.day0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	f.now = f.day0
	clock := func() time.Time { return f.now }
	au := auth.New(d, auth.Settings{PublicURL: "http://imi.test"}, clock)
	auths := authorities.New(d, reg, au, "http://imi.test", clock)
	if f.svc, err = requests.New(d, reg, auths, "http://imi.test", clock); err != nil {
		t.Fatal(err)
	}
	bc, err := broadcasts.New(d, reg, auths, "http://imi.test", clock)
	if err != nil {
		t.Fatal(err)
	}
	th, err := stats.ParseThresholds(stats.DefaultThresholds)
	if err != nil {
		t.Fatal(err)
	}
	f.stats = stats.New(d, reg, th, clock)
	register := func(country, name string, kind authorities.Kind) *authorities.Authority {
		a, err := auths.Register(f.ctx, authorities.System(), authorities.Input{Country: country, Name: name, Language: "en", Kind: kind,
			Areas: []string{"pq", "services"}, Email: "office@" + strings.ToLower(country) + ".example"})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	deNC, plNC := register("DE", "Bundesministerium", authorities.NationalCoordinator), register("PL", "Ministerstwo", authorities.NationalCoordinator)
	register("FR", "Ministère", authorities.NationalCoordinator)
	f.deCA, f.plCA = register("DE", "Ärztekammer Berlin", authorities.CompetentAuthority), register("PL", "Naczelna Izba Lekarska", authorities.CompetentAuthority)
	f.pl2CA, f.frCA = register("PL", "Izba Krakowska", authorities.CompetentAuthority), register("FR", "Ordre des médecins", authorities.CompetentAuthority)
	member := func(a *authorities.Authority, email string, roles ...string) authorities.Actor {
		return testkit.Member(t, au, auths, a, email, "", roles...)
	}
	f.de = member(f.deCA, "de@example.eu", "request_handler", "alert_handler")
	f.pl = member(f.plCA, "pl@example.eu", "request_handler")
	f.pl2 = member(f.pl2CA, "pl2@example.eu", "request_handler")
	f.fr = member(f.frCA, "fr@example.eu", "request_handler")
	f.deCoordinator = member(deNC, "nc@de.example.eu", "coordinator")
	f.plCoordinator = member(plNC, "nc@pl.example.eu", "coordinator")

	yes := map[string]requests.Answer{"diploma_authentic": {Value: "yes"}, "diploma_issuer_competent": {Value: "yes"}, "qualification_level": {Value: "diploma_master_level"}}
	at := func(days float64) { f.now = f.day0.Add(time.Duration(days * 24 * float64(time.Hour))) }

	at(0)
	for _, n := range []string{"R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8", "R9"} {
		to, questions, profession := f.plCA, []string{"diploma_authentic", "diploma_issuer_competent"}, "doctor"
		switch n {
		case "R1", "R2":
			questions = append(questions, "qualification_level")
		case "R6", "R8":
			to = f.frCA
		}
		if n == "R2" {
			profession = "nurse_general_care"
		}
		replyBy := f.day0.AddDate(0, 0, 20)
		if n == "R1" {
			replyBy = time.Date(2026, 3, 7, 0, 0, 0, 0, time.UTC) // a date, as the form gives it
		}
		f.send(n, to, questions, profession, replyBy)
	}
	f.draft(f.plCA, f.day0.AddDate(0, 0, 20)) // never sent
	alert, err := bc.Create(f.ctx, f.de, broadcasts.DraftInput{Kind: broadcasts.Alert, Area: "pq", Type: "pq_alert", Title: "Doctor struck off",
		Countries: []string{"PL"}, Fields: map[string]string{"ground": "prohibition", "name": "Hans Muster", "profession": "doctor",
			"deciding_authority": "Ärztekammer", "decision_date": "2026-03-01", "restriction_scope": "All practice", "restriction_from": "2026-03-01"}})
	if err != nil {
		t.Fatal(err)
	}
	f.must(bc.Act(f.ctx, f.de, alert.ID, "submit", broadcasts.Input{}))
	f.must(bc.Act(f.ctx, f.deCoordinator, alert.ID, "approve", broadcasts.Input{}))

	at(1)
	for _, n := range []string{"R3", "R4", "R9"} {
		f.act(f.pl, n, "accept", requests.Input{})
	}
	f.act(f.fr, "R8", "decline", requests.Input{Comment: "Not ours."})
	at(2)
	f.act(f.pl, "R1", "accept", requests.Input{})
	f.act(f.pl, "R3", "request_info", requests.Input{Comment: "Which university?"})
	f.act(f.de, "R7", "withdraw", requests.Input{})
	f.act(f.pl, "R9", "split", requests.Input{Comment: "France knows the issuer.", ResponderID: f.frCA.ID, Questions: []string{"diploma_issuer_competent"}})
	var c9 string
	if err := d.Read().QueryRowContext(f.ctx, `SELECT id FROM requests WHERE parent_id = $1`, f.ids["R9"]).Scan(&c9); err != nil {
		t.Fatal(err)
	}
	f.ids["C9"] = c9
	at(3)
	f.act(f.pl, "R4", "answer", requests.Input{Answers: pick(yes, "diploma_authentic", "diploma_issuer_competent")})
	f.act(f.pl, "R5", "forward", requests.Input{Comment: "Kraków holds the file.", ResponderID: f.pl2CA.ID})
	at(4)
	f.act(f.de, "R4", "reopen", requests.Input{Comment: "Please add the date."})
	f.act(f.fr, "C9", "accept", requests.Input{})
	at(5)
	f.act(f.pl, "R1", "answer", requests.Input{Answers: yes})
	at(6)
	f.act(f.pl, "R9", "answer", requests.Input{Answers: pick(yes, "diploma_authentic")})
	at(8)
	f.act(f.pl, "R2", "accept", requests.Input{})
	at(9)
	f.act(f.pl2, "R5", "accept", requests.Input{})
	at(10)
	f.act(f.fr, "C9", "answer", requests.Input{Answers: pick(yes, "diploma_issuer_competent")})
	at(12)
	f.act(f.de, "R3", "provide_info", requests.Input{Comment: "Jagiellonian University."})
	at(14)
	f.act(f.pl, "R2", "answer", requests.Input{Answers: yes})
	at(21)
	f.act(f.de, "R1", "close", requests.Input{RatingTime: 5, RatingEffort: 4})
	f.act(f.de, "R2", "close", requests.Input{RatingTime: 2, RatingEffort: 4})
	at(21 + 1.0/24)
	f.act(f.pl, "R3", "answer", requests.Input{Answers: pick(yes, "diploma_authentic", "diploma_issuer_competent")})
	at(30)
	f.act(f.pl, "R4", "answer", requests.Input{Answers: pick(yes, "diploma_authentic", "diploma_issuer_competent")})
	at(31)
	f.act(f.de, "R4", "close", requests.Input{RatingTime: 3, RatingEffort: 3})
	f.now = time.Date(2026, 4, 15, 10, 0, 0, 0, time.UTC)
	note, err := bc.Create(f.ctx, f.de, broadcasts.DraftInput{Kind: broadcasts.Notification, Area: "services", Type: "services_requirements",
		Title: "Locksmiths", Fields: map[string]string{"measure_title": "Schlüsseldienstgesetz", "legal_reference": "BGBl 2026 I 1", "justification": "Consumers"}})
	if err != nil {
		t.Fatal(err)
	}
	f.must(bc.Act(f.ctx, f.de, note.ID, "send", broadcasts.Input{}))

	// Across the year boundary, and across time zones.
	f.now = time.Date(2026, 12, 31, 22, 30, 0, 0, time.UTC)
	f.send("R11", f.plCA, []string{"diploma_authentic", "diploma_issuer_competent"}, "doctor", f.now.AddDate(0, 0, 14))
	f.now = time.Date(2026, 12, 31, 23, 30, 0, 0, time.UTC)
	f.send("R10", f.plCA, []string{"diploma_authentic", "diploma_issuer_competent"}, "doctor", f.now.AddDate(0, 0, 25))
	f.now = time.Date(2027, 1, 1, 8, 0, 0, 0, time.UTC)
	f.act(f.pl, "R10", "accept", requests.Input{})
	f.act(f.pl, "R11", "accept", requests.Input{})
	f.now = time.Date(2027, 1, 7, 22, 30, 0, 0, time.UTC)
	f.act(f.pl, "R11", "answer", requests.Input{Answers: pick(yes, "diploma_authentic", "diploma_issuer_competent")})
	f.now = time.Date(2027, 1, 20, 23, 30, 0, 0, time.UTC)
	f.act(f.pl, "R10", "answer", requests.Input{Answers: pick(yes, "diploma_authentic", "diploma_issuer_competent")})

	f.now = time.Date(2027, 2, 1, 12, 0, 0, 0, time.UTC)
	return f
}

func pick(all map[string]requests.Answer, codes ...string) map[string]requests.Answer {
	out := map[string]requests.Answer{}
	for _, c := range codes {
		out[c] = all[c]
	}
	return out
}

func (f *fixture) must(_ any, err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) draft(to *authorities.Authority, replyBy time.Time) *requests.Request {
	f.t.Helper()
	r, err := f.svc.Create(f.ctx, f.de, requests.DraftInput{Area: "pq", QuestionSet: "authenticity", Questions: []string{"diploma_authentic", "diploma_issuer_competent"},
		ResponderID: to.ID, ReplyBy: replyBy, Subject: map[string]string{"name": "Jan Kowalski", "profession": "doctor"}})
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func (f *fixture) send(name string, to *authorities.Authority, questions []string, profession string, replyBy time.Time) {
	f.t.Helper()
	r, err := f.svc.Create(f.ctx, f.de, requests.DraftInput{Area: "pq", QuestionSet: "authenticity", Questions: questions,
		ResponderID: to.ID, ReplyBy: replyBy, Subject: map[string]string{"name": "Jan Kowalski", "profession": profession}})
	if err != nil {
		f.t.Fatal(err)
	}
	f.ids[name] = r.ID
	f.act(f.de, name, "send", requests.Input{})
}

func (f *fixture) act(actor authorities.Actor, name, action string, in requests.Input) {
	f.t.Helper()
	if _, err := f.svc.Act(f.ctx, actor, f.ids[name], action, in); err != nil {
		f.t.Fatalf("%s %s: %v", name, action, err)
	}
}

// rows renders a table as lines of comma-separated values, as its CSV
// without the header, to compare with the hand-computed figures.
func rows(t *testing.T, tb *stats.Table, err error) []string {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := tb.WriteCSV(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	return lines[1:]
}

func expect(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\ngot\n  %s\nwant\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestFiguresMatchTheHandComputedFixture(t *testing.T) {
	f := newFixture(t)
	ctx := f.ctx
	s := f.stats

	// Volume: a request counts in the Brussels month it was first sent; a
	// split-off part is a request of its own, sent when it was split off.
	tb, err := s.Requests(ctx, stats.Query{By: []string{"area", "month"}})
	expect(t, "requests by area and month", rows(t, tb, err), "pq,2026-03,10", "pq,2026-12,1", "pq,2027-01,1")
	tb, err = s.Requests(ctx, stats.Query{By: []string{"area", "quarter"}})
	expect(t, "requests by area and quarter", rows(t, tb, err), "pq,2026-Q1,10", "pq,2026-Q4,1", "pq,2027-Q1,1")
	tb, err = s.Requests(ctx, stats.Query{By: []string{"year"}, From: "2026", To: "2026"})
	expect(t, "requests in 2026", rows(t, tb, err), "2026,11")
	tb, err = s.Requests(ctx, stats.Query{By: []string{"profession", "quarter"}, Area: "pq"})
	expect(t, "requests by profession", rows(t, tb, err), "doctor,2026-Q1,9", "doctor,2026-Q4,1", "doctor,2027-Q1,1", "nurse_general_care,2026-Q1,1")
	tb, err = s.Requests(ctx, stats.Query{By: []string{"responder_country"}, Country: "FR"})
	expect(t, "requests involving France", rows(t, tb, err), "FR,3")
	tb, err = s.Requests(ctx, stats.Query{By: []string{"profession"}})
	expect(t, "professions over all areas say their area", rows(t, tb, err), "pq,doctor,11", "pq,nurse_general_care,1")
	tb, err = s.Exchanges(ctx, stats.Query{By: []string{"area", "month"}, To: "2026-06"})
	expect(t, "exchanges", rows(t, tb, err), "pq,2026-03,10,1,0,11", "services,2026-04,0,0,1,1")

	// Questions: the share of the area's requests that hold each question.
	tb, err = s.Questions(ctx, stats.Query{Area: "pq"})
	got := rows(t, tb, err)
	expect(t, "questions", got[:3], "diploma_authentic,11,91.7", "diploma_issuer_competent,11,91.7", "diploma_copy,0,0.0")
	expect(t, "qualification level", filter(got, "qualification_level,"), "qualification_level,2,16.7")
	tb, err = s.Questions(ctx, stats.Query{Area: "pq", By: []string{"quarter"}, To: "2026-03"})
	expect(t, "questions in the first quarter", filter(rows(t, tb, err), "2026-Q1,diploma_"), "2026-Q1,diploma_authentic,9,90.0",
		"2026-Q1,diploma_issuer_competent,9,90.0", "2026-Q1,diploma_copy,0,0.0")

	// Reply times from sending to the first answer, per responding country.
	tb, err = s.Replies(ctx, stats.Query{By: []string{"country"}})
	expect(t, "replies", rows(t, tb, err), "FR,0,1,0,0,1,1,3,50.0,8.0", "PL,4,1,2,0,1,1,9,62.5,10.9")
	tb, err = s.Replies(ctx, stats.Query{By: []string{"country"}, Clock: "net"})
	expect(t, "replies, net", rows(t, tb, err), "FR,0,1,0,0,1,1,3,50.0,8.0", "PL,4,2,1,0,1,1,9,75.0,9.4")
	tb, err = s.Replies(ctx, stats.Query{By: []string{"authority"}, Country: "PL"})
	expect(t, "replies per authority", rows(t, tb, err), fmt.Sprintf("%s,Izba Krakowska,0,0,0,0,1,0,1,0.0,", f.pl2CA.ID),
		fmt.Sprintf("%s,Naczelna Izba Lekarska,4,1,2,0,0,1,8,71.4,10.9", f.plCA.ID))
	tb, err = s.Replies(ctx, stats.Query{By: []string{"authority"}, Scope: "FR"})
	if got := rows(t, tb, err); len(got) != 1 || !strings.HasPrefix(got[0], f.frCA.ID) {
		t.Errorf("a French coordinator's scope shows %v", got)
	}
	tb, err = s.Replies(ctx, stats.Query{By: []string{"area", "year"}})
	expect(t, "replies per year", rows(t, tb, err), "pq,2026,4,2,1,0,2,2,11,66.7,9.1", "pq,2027,0,0,1,0,0,0,1,0.0,20.0")

	// The scoreboard, read on 1 February 2027.
	tb, err = s.Scoreboard(ctx, stats.Query{})
	expect(t, "scoreboard", rows(t, tb, err),
		"FR,3,33.3,red,8.0,green,50.0,red,,",
		"PL,9,87.5,green,9.4,green,75.0,amber,33.3,red",
		"EU,12,72.7,amber,9.3,green,70.0,amber,33.3,red")
	th, _ := stats.ParseThresholds("accepted=30:20,negative=40:50")
	tb, err = stats.New(f.db, f.reg, th, func() time.Time { return f.now }).Scoreboard(ctx, stats.Query{Country: "FR"})
	expect(t, "scoreboard with other thresholds", rows(t, tb, err), "FR,3,33.3,green,8.0,green,50.0,red,,")
}

// The figures hold for the facts kept step by step and for facts derived
// again from the events alone.
func TestRebuildDerivesTheSameFactsFromTheEvents(t *testing.T) {
	f := newFixture(t)
	// R2's personal data was erased (as three years after closure): its
	// profession, kept in the facts, outlives it, also through a rebuild.
	if err := f.db.InTx(f.ctx, func(tx db.Querier) error {
		_, err := tx.ExecContext(f.ctx, `UPDATE requests SET subject = '{}', subject_name = '' WHERE id = $1`, f.ids["R2"])
		return err
	}); err != nil {
		t.Fatal(err)
	}
	before := f.dump()
	if !strings.Contains(before, "nurse_general_care") {
		t.Fatal("the fixture lost R2's profession")
	}
	n, err := stats.Rebuild(f.ctx, f.db, f.reg)
	if err != nil {
		t.Fatal(err)
	}
	if n != 12 {
		t.Errorf("rebuilt %d requests, want 12", n)
	}
	if after := f.dump(); after != before {
		t.Errorf("rebuilt facts differ:\nbefore %s\nafter  %s", before, after)
	}
	if missing, err := stats.Missing(f.ctx, f.db.Read()); err != nil || missing {
		t.Errorf("missing facts after rebuild: %v %v", missing, err)
	}
	if err := f.db.InTx(f.ctx, func(tx db.Querier) error {
		_, err := tx.ExecContext(f.ctx, `DELETE FROM request_facts WHERE request_id = $1`, f.ids["R1"])
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if missing, err := stats.Missing(f.ctx, f.db.Read()); err != nil || !missing {
		t.Errorf("a request without facts was not noticed: %v %v", missing, err)
	}
}

// A request with more questions than one statement writes counters for
// is counted whole, by a step's projection and by a rebuild alike.
func TestCountersBeyondOneStatementAreAllWritten(t *testing.T) {
	f := newFixture(t)
	const extra = 600 // several statements of counters
	if err := f.db.InTx(f.ctx, func(tx db.Querier) error {
		for i := range extra {
			if _, err := tx.ExecContext(f.ctx, `INSERT INTO request_questions (request_id, position, code) VALUES ($1, $2, $3)`,
				f.ids["R1"], 100+i, fmt.Sprintf("zz_%04d", i)); err != nil {
				return err
			}
		}
		return stats.Project(f.ctx, tx, f.reg, f.ids["R1"])
	}); err != nil {
		t.Fatal(err)
	}
	counted := func() (codes, total int) {
		t.Helper()
		if err := f.db.Read().QueryRowContext(f.ctx, `SELECT COUNT(*), COALESCE(SUM(requests), 0) FROM stats_questions WHERE code LIKE 'zz!_%' ESCAPE '!'`).
			Scan(&codes, &total); err != nil {
			t.Fatal(err)
		}
		return codes, total
	}
	if codes, total := counted(); codes != extra || total != extra {
		t.Fatalf("after the step: %d counters holding %d, want %d and %d", codes, total, extra, extra)
	}
	before := f.dump()
	if _, err := stats.Rebuild(f.ctx, f.db, f.reg); err != nil {
		t.Fatal(err)
	}
	if after := f.dump(); after != before {
		t.Errorf("rebuilt counters differ:\nbefore %s\nafter  %s", before, after)
	}
	if codes, total := counted(); codes != extra || total != extra {
		t.Fatalf("after a rebuild: %d counters holding %d, want %d and %d", codes, total, extra, extra)
	}
}

func (f *fixture) dump() string {
	f.t.Helper()
	rows, err := f.db.Read().QueryContext(f.ctx, `SELECT request_id, area, category, responder_country, state, sent_month, reply_bucket, net_bucket,
		COALESCE(accept_ok, -1), COALESCE(on_time, -1), COALESCE(negative, -1), COALESCE(reply_seconds, -1), reopened, forwarded, questions
		FROM request_facts ORDER BY request_id`)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		v := make([]any, 15)
		p := make([]any, 15)
		for i := range v {
			p[i] = &v[i]
		}
		if err := rows.Scan(p...); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, fmt.Sprint(v...))
	}
	q, err := f.db.Read().QueryContext(f.ctx, `SELECT area, month, code, requests FROM stats_questions WHERE requests <> 0 ORDER BY area, month, code`)
	if err != nil {
		f.t.Fatal(err)
	}
	defer q.Close()
	for q.Next() {
		var a, m, c string
		var n int
		if err := q.Scan(&a, &m, &c, &n); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, fmt.Sprint(a, m, c, n))
	}
	return strings.Join(out, "\n")
}

func filter(lines []string, prefix string) []string {
	var out []string
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

func TestBadQueriesAreRefusedWithAReason(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name  string
		q     stats.Query
		field string
	}{
		{"requests", stats.Query{From: "2026-13"}, "from"},
		{"requests", stats.Query{From: "2026-05", To: "2026-04"}, "to"},
		{"requests", stats.Query{By: []string{"colour"}}, "by"},
		{"requests", stats.Query{By: []string{"month", "year"}}, "by"},
		{"requests", stats.Query{Area: "nope"}, "area"},
		{"requests", stats.Query{Country: "XX"}, "country"},
		{"questions", stats.Query{}, "area"},
		{"questions", stats.Query{Area: "pq", Country: "PL"}, "country"},
		{"replies", stats.Query{Clock: "wall"}, "clock"},
	} {
		_, err := f.stats.Table(f.ctx, tc.name, tc.q)
		p, ok := problem.As(err)
		if !ok || p.Field != tc.field {
			t.Errorf("%s %+v: %v", tc.name, tc.q, err)
		}
	}
}

func TestBucketBoundsAreInclusive(t *testing.T) {
	for _, tc := range []struct {
		days float64
		want int
	}{{0, stats.Week1}, {7, stats.Week1}, {7 + 1.0/86400, stats.Week2}, {14, stats.Week2}, {28, stats.Week4}, {28.5, stats.Later}} {
		if got := stats.Bucket(int64(math.Round(tc.days * 86400))); got != tc.want {
			t.Errorf("%v days: bucket %d, want %d", tc.days, got, tc.want)
		}
	}
}

func TestJSONCarriesTheSameRows(t *testing.T) {
	f := newFixture(t)
	tb, err := f.stats.Scoreboard(f.ctx, stats.Query{Country: "PL"})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := tb.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var out struct {
		Statistic string           `json:"statistic"`
		Rows      []map[string]any `json:"rows"`
	}
	if err := json.Unmarshal(b.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if out.Statistic != "scoreboard" || len(out.Rows) != 1 || out.Rows[0]["country"] != "PL" || out.Rows[0]["accepted_7_days"] != 87.5 ||
		out.Rows[0]["accepted_7_days_status"] != "green" || out.Rows[0]["requests"] != float64(9) {
		t.Errorf("JSON: %s", b.String())
	}
}

// A profession that is not a term of the area's vocabulary (free text
// sent through the API, which might name a person) is not counted.
func TestOnlyTermsOfTheVocabularyAreCounted(t *testing.T) {
	f := newFixture(t)
	f.send("X", f.plCA, []string{"diploma_authentic"}, "Jan Kowalski's trade", f.day0.AddDate(1, 0, 0))
	var category string
	if err := f.db.Read().QueryRowContext(f.ctx, `SELECT category FROM request_facts WHERE request_id = $1`, f.ids["X"]).Scan(&category); err != nil {
		t.Fatal(err)
	}
	if category != "" {
		t.Errorf("free text counted as a profession: %q", category)
	}
}

// A name that a spreadsheet would read as a formula is written as text.
func TestCSVNeverStartsAFormula(t *testing.T) {
	tb := &stats.Table{Name: "replies", Columns: []stats.Column{{Key: "authority", Kind: stats.KindAuthority}, {Key: "total", Kind: stats.KindCount}},
		Rows: [][]stats.Cell{{{Code: "a1", Name: `=HYPERLINK("http://evil.example","x")`}, {Value: 3}}, {{Code: "a2", Name: "@SUM(1)"}, {Value: 1}}}}
	got := rows(t, tb, nil)
	expect(t, "CSV", got, `a1,"'=HYPERLINK(""http://evil.example"",""x"")",3`, "a2,'@SUM(1),1")
}

// counters lists the question counters, one line each.
func (f *fixture) counters() string {
	f.t.Helper()
	rows, err := f.db.Read().QueryContext(f.ctx, `SELECT area, month, code, requests FROM stats_questions ORDER BY area, month, code`)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var area, month, code string
		var n int
		if err := rows.Scan(&area, &month, &code, &n); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s %s %s %d", area, month, code, n))
	}
	if err := rows.Err(); err != nil {
		f.t.Fatal(err)
	}
	return strings.Join(out, "\n")
}

// A rebuild while the server works: a step's change of the counters under
// way when the rebuild counts them again is waited for, and then counted
// from the facts its commit leaves, not lost nor kept beside the count.
// (On SQLite, whose one writer runs the rebuild's transactions alone, it
// cannot happen.)
func TestARebuildCountsAgainAfterAStepUnderWay(t *testing.T) {
	if !dbtest.IsPostgres() {
		t.Skip("SQLite's one writer runs a rebuild's transactions alone")
	}
	f := newFixture(t)
	want := f.counters()
	if want == "" {
		t.Fatal("the fixture counted no questions")
	}
	// A step's change of the counters, held uncommitted: one no facts
	// stand for, so that the count from the facts has to replace it.
	held, release, stepped := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		stepped <- f.db.InTx(f.ctx, func(tx db.Querier) error {
			if _, err := tx.ExecContext(f.ctx, `INSERT INTO stats_questions (area, month, code, requests) VALUES ('pq', '1999-01', 'under_way', 1)`); err != nil {
				return err
			}
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	rebuilt := make(chan error, 1)
	go func() {
		_, err := stats.Rebuild(f.ctx, f.db, f.reg)
		rebuilt <- err
	}()
	// Until the rebuild waits for the counters, or ends without waiting.
	waited, ended := false, false
	for deadline := time.Now().Add(30 * time.Second); !waited && !ended && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		select {
		case err := <-rebuilt:
			if err != nil {
				t.Fatal(err)
			}
			ended = true
		default:
			var n int
			if err := f.db.Read().QueryRowContext(f.ctx, `SELECT COUNT(*) FROM pg_locks WHERE relation = 'stats_questions'::regclass AND NOT granted`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			waited = n > 0
		}
	}
	if !waited && !ended {
		t.Fatal("the rebuild neither waited for the counters nor ended in 30 seconds")
	}
	close(release)
	if err := <-stepped; err != nil {
		t.Fatal(err)
	}
	if !ended {
		if err := <-rebuilt; err != nil {
			t.Fatal(err)
		}
	}
	if got := f.counters(); got != want {
		t.Errorf("after a rebuild with a step under way (waited for it: %v), the counters are\n%s\nwant, as the facts count them,\n%s", waited, got, want)
	}
}
