package gen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/openimi/openimi/internal/areas"
	"github.com/openimi/openimi/internal/countries"
	"github.com/openimi/openimi/internal/requests"
	"github.com/openimi/openimi/internal/stats"
	"github.com/openimi/openimi/internal/workflow"
)

// storedFile is a content put in the attachment store, for attachments
// to refer to.
type storedFile struct {
	name, sum string
	size      int64
}

// storeFiles puts a few small text files into the attachment store, as
// an upload would (the store names them by their SHA-256), so that
// generated attachments download.
func (g *generator) storeFiles() error {
	names := []string{"diploma-copy", "register-extract", "certificate-of-good-standing", "decision", "company-register-extract", "payslips", "a1-certificate", "letter"}
	for i, n := range names {
		var b bytes.Buffer
		fmt.Fprintf(&b, "OpenIMI generated attachment %d (%s), seed %d.\nThis file is made-up test data; it names no real person.\n", i+1, n, g.s.Seed)
		for k := 0; k < 20*(i+1); k++ {
			fmt.Fprintf(&b, "Line %d of the %s.\n", k+1, strings.ReplaceAll(n, "-", " "))
		}
		sum, size, err := g.d.Files.Put(bytes.NewReader(b.Bytes()), int64(b.Len()))
		if err != nil {
			return fmt.Errorf("gen: store attachment: %w", err)
		}
		g.files = append(g.files, storedFile{name: requests.CleanName(n+".txt", "text/plain; charset=utf-8"), sum: sum, size: size})
	}
	return nil
}

// requestArea is what requests of one area are made of.
type requestArea struct {
	p            *areas.Pack
	responders   picker
	category     string // the subject field counted in statistics
	blockMonths  int
	acceptDays   int
	replyDays    int
	vocabularies map[string][]string // vocabulary → term codes
}

// event is a step of a generated case.
type event struct {
	at                     time.Time
	action, from, to       string
	user, authority, party string
	comment, data          string
}

// Comments a step needs, written by made-up handlers.
var comments = map[string]string{
	"decline":      "We are not competent for this request; please ask the regional chamber.",
	"forward":      "Forwarded to the authority competent for this case.",
	"request_info": "Please send a copy of the document mentioned in your request.",
	"provide_info": "The copy is attached to this request.",
	"reopen":       "The answer to one of the questions is missing.",
	"withdraw":     "The matter was settled in the meantime.",
	"comment":      "Thank you, we are looking into it.",
}

// requests makes the information requests, in the order they were
// created, each with its questions, timeline, answers, attachments,
// statistics, notifications and reminders.
func (g *generator) requests(ctx context.Context) error {
	n := g.s.Requests
	if n == 0 {
		return nil
	}
	r := g.rng(2)
	until := g.s.Until
	span := 730 * 24 * time.Hour
	byArea := map[string]*requestArea{}
	var requesters picker
	for _, p := range g.packs {
		ra := &requestArea{p: p, category: p.Statistics.Category, blockMonths: p.BlockMonths(0), acceptDays: p.Workflow.AcceptanceDays,
			replyDays: p.Workflow.ReplyDays, vocabularies: map[string][]string{}}
		if ra.acceptDays <= 0 {
			ra.acceptDays = 7
		}
		if ra.replyDays <= 0 {
			ra.replyDays = 28
		}
		for _, v := range p.Vocabularies {
			for _, t := range v.AllTerms() {
				ra.vocabularies[v.Code] = append(ra.vocabularies[v.Code], t.Value)
			}
		}
		byArea[p.Code] = ra
	}
	for _, a := range g.auths {
		if a.rank < 0 || len(a.handlers) == 0 || a.status != "active" || a.kind != "competent_authority" {
			continue
		}
		w := 1 / math.Pow(float64(a.rank+1), 0.8)
		requesters.add(a, w)
		for _, area := range a.areas {
			byArea[area].responders.add(a, w)
		}
	}
	if len(requesters.items) < 2 {
		return fmt.Errorf("too few authorities with users to exchange requests: give more --users or --authorities")
	}
	// Creation moments, in order: references and identifiers follow time.
	offsets := make([]int64, n)
	for i := range offsets {
		offsets[i] = r.Int64N(int64(span/time.Second) - 3600)
	}
	slices.Sort(offsets)
	start := until.Add(-span)
	questionCounts := map[[3]string]int{}
	w := &requestWriter{g: g, r: r, until: until, questions: questionCounts}
	for i, off := range offsets {
		created := start.Add(time.Duration(off) * time.Second)
		req := requesters.pick(r)
		area := byArea[req.areas[r.IntN(len(req.areas))]]
		resp := pickAbroad(r, &area.responders, req.country, "")
		if resp == nil {
			continue // nobody abroad works in the area
		}
		if i%1024 == 0 && ctx.Err() != nil { // interrupted: stop now, not a million requests later
			return ctx.Err()
		}
		if err := w.one(ctx, i, created, req, resp, area); err != nil {
			return err
		}
		if (i+1)%1_000_000 == 0 {
			if err := g.b.commit(ctx); err != nil {
				return err
			}
		}
		g.tick("requests", i+1, n)
	}
	keys := make([][3]string, 0, len(questionCounts))
	for k := range questionCounts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return slices.Compare(keys[i][:], keys[j][:]) < 0 })
	for _, k := range keys {
		if err := g.b.exec(ctx, `INSERT INTO stats_questions (area, month, code, requests) VALUES ($1, $2, $3, $4)
			ON CONFLICT (area, month, code) DO UPDATE SET requests = stats_questions.requests + excluded.requests`, k[0], k[1], k[2], questionCounts[k]); err != nil {
			return err
		}
	}
	g.res.Rows["stats_questions"] += len(keys)
	g.tick("requests", n, n)
	return g.b.commit(ctx)
}

// pickAbroad draws an authority of another country than the requester's
// (and not except).
func pickAbroad(r *rand.Rand, p *picker, country, except string) *authority {
	for range 30 {
		if a := p.pick(r); a != nil && a.country != country && a.id != except {
			return a
		}
	}
	for _, a := range p.items {
		if a.country != country && a.id != except {
			return a
		}
	}
	return nil
}

// requestWriter makes one request at a time.
type requestWriter struct {
	g         *generator
	r         *rand.Rand
	until     time.Time
	questions map[[3]string]int
}

func (w *requestWriter) one(ctx context.Context, n int, created time.Time, req, resp *authority, area *requestArea) error {
	g, r, until := w.g, w.r, w.until
	p := area.p
	rid := id(r, created)
	year := created.Year()
	ref := fmt.Sprintf("%s-%d-%06d", strings.ToUpper(p.Code), year, g.next(fmt.Sprintf("request/%s/%d", p.Code, year)))
	creator := req.handlers[r.IntN(len(req.handlers))]
	set := p.QuestionSets[r.IntN(len(p.QuestionSets))]
	all := set.Questions()
	k := 1 + r.IntN(min(4, len(all)))
	picked := r.Perm(len(all))[:k]
	sort.Ints(picked)
	var qs []*areas.Question
	for _, i := range picked {
		qs = append(qs, all[i])
	}
	subject, name := w.subject(area, n)
	subjectJSON, _ := json.Marshal(subject)
	message := fmt.Sprintf("Generated request %d: please answer the questions below about the %s named in the subject.", n+1, map[bool]string{true: "professional", false: "company"}[p.Code == "pq"])
	replyBy := created.AddDate(0, 0, area.replyDays)

	var events []event
	state, t := requests.Draft, created
	add := func(action, to string, requester bool, data string) {
		e := event{at: t, action: action, from: state, to: to, comment: comments[action], data: data}
		if action == "create" {
			e.from = ""
		}
		if requester {
			e.user, e.authority, e.party = creator, req.id, workflow.Requester
		} else {
			e.user, e.authority, e.party = resp.handlers[0], resp.id, workflow.Responder
		}
		events = append(events, e)
		state = to
	}
	step := func(d time.Duration) bool { return advance(&t, until, d) }
	days := func(mean float64) time.Duration { return expDays(r, mean) }
	var sentAt, acceptedAt, answeredAt, closedAt, stoppedAt *time.Time
	var stopped int64
	var handler any
	var ratingTime, ratingEffort any
	answered := false
	type attachment struct {
		file     storedFile
		id       string
		user, by string
		at       time.Time
	}
	var attachments []attachment
	attach := func(requester bool) {
		f := g.files[r.IntN(len(g.files))]
		aid := id(r, t)
		add("attach", state, requester, fmt.Sprintf(`{"attachment":%q,"name":%q}`, aid, f.name))
		e := events[len(events)-1]
		attachments = append(attachments, attachment{file: f, id: aid, user: e.user, by: e.authority, at: t})
	}
	stamp := func() *time.Time { v := t; return &v }
	add("create", requests.Draft, true, "")
	func() {
		if r.Float64() < 0.2 && step(time.Duration(1+r.IntN(30))*time.Minute) {
			attach(true)
		}
		if r.Float64() < 0.03 || !step(time.Duration(5+r.IntN(115))*time.Minute) {
			return // still a draft
		}
		add("send", requests.Sent, true, "")
		sentAt = stamp()
		if r.Float64() < 0.05 && step(days(1)) {
			add("comment", state, true, "")
		}
		if r.Float64() < 0.03 {
			to := pickAbroad(r, &area.responders, req.country, resp.id)
			if to == nil || !step(days(1)) {
				return
			}
			add("forward", requests.Sent, false, fmt.Sprintf(`{"from":%q,"to":%q}`, resp.id, to.id))
			resp = to
		}
		switch x := r.Float64(); {
		case x < 0.04:
			if step(time.Duration(r.Float64()*3*24) * time.Hour) {
				add("decline", requests.Declined, false, "")
				closedAt = stamp()
			}
			return
		case x < 0.06:
			if step(days(6)) {
				add("withdraw", requests.Withdrawn, true, "")
				closedAt = stamp()
			}
			return
		case x < 0.09:
			return // never accepted
		}
		if !step(days(2.5)) {
			return
		}
		add("accept", requests.Accepted, false, "")
		acceptedAt, handler = stamp(), resp.handlers[0]
		if r.Float64() < 0.1 {
			if !step(days(2)) {
				return
			}
			add("request_info", requests.InfoRequested, false, "")
			stoppedAt = stamp()
			if !step(days(3)) {
				return
			}
			add("provide_info", requests.Accepted, true, "")
			stopped += int64(t.Sub(*stoppedAt).Seconds())
			stoppedAt = nil
		}
		switch x := r.Float64(); {
		case x < 0.01:
			if step(days(5)) {
				add("withdraw", requests.Withdrawn, true, "")
				closedAt = stamp()
			}
			return
		case x < 0.03:
			return // never answered
		}
		if r.Float64() < 0.2 && step(days(4)) {
			attach(false)
		}
		if !step(days(7)) {
			return
		}
		add("answer", requests.Answered, false, "")
		answeredAt, answered = stamp(), true
		if r.Float64() < 0.04 {
			if !step(days(2)) {
				return
			}
			add("reopen", requests.Accepted, true, "")
			if !step(days(3)) {
				return
			}
			add("answer", requests.Answered, false, "")
			answeredAt = stamp()
		}
		if r.Float64() < 0.05 || !step(days(3)) {
			return
		}
		add("close", requests.Closed, true, "")
		closedAt = stamp()
		if r.Float64() < 0.4 {
			ratingTime, ratingEffort = 5-min(4, int(r.ExpFloat64()*0.7)), 5-min(4, int(r.ExpFloat64()*0.7))
		}
	}()
	last := events[len(events)-1].at
	var blocked any
	if closedAt != nil && closedAt.Before(until.AddDate(0, -area.blockMonths, 0)) {
		blocked = closedAt.AddDate(0, area.blockMonths, 0)
	}
	if err := g.add(ctx, "requests", rid, ref, p.Code, set.Code, state, req.id, resp.id, creator, handler, replyBy, tp(sentAt), tp(acceptedAt), tp(answeredAt), tp(closedAt),
		tp(stoppedAt), stopped, name, string(subjectJSON), message, blocked, ratingTime, ratingEffort, last, created, last); err != nil {
		return err
	}
	codes := make([]string, len(qs))
	for i, q := range qs {
		codes[i] = q.Code
		value, text := "", ""
		if answered {
			value, text = answer(r, q)
		}
		if err := g.add(ctx, "request_questions", rid, i+1, q.Code, value, text); err != nil {
			return err
		}
	}
	for i, e := range events {
		if err := g.add(ctx, "case_events", id(r, e.at), rid, i+1, e.at, e.action, e.from, e.to, e.user, e.authority, e.party, e.comment, e.data); err != nil {
			return err
		}
	}
	for _, a := range attachments {
		if err := g.add(ctx, "request_attachments", a.id, rid, a.file.name, "text/plain; charset=utf-8", a.file.size, a.file.sum, a.user, a.by, a.at); err != nil {
			return err
		}
	}
	if sentAt != nil {
		req.inbox++
		resp.inbox++
		if err := w.facts(ctx, rid, p.Code, subject[area.category], req, resp, state, replyBy, events, codes, ratingTime, ratingEffort); err != nil {
			return err
		}
	}
	if err := w.notify(ctx, rid, ref, events, req, resp); err != nil {
		return err
	}
	return w.reminders(ctx, rid, area, state, sentAt, answeredAt, replyBy, last)
}

func tp(t *time.Time) any {
	if t == nil {
		return nil
	}
	return *t
}

// subject fills the area's subject fields: the required ones, the one
// counted in statistics, and some others; and the name parties find the
// request by (its personal fields).
func (w *requestWriter) subject(area *requestArea, n int) (map[string]string, string) {
	r := w.r
	out := map[string]string{}
	var personal []string
	for _, f := range area.p.Subject {
		if !f.Required && f.Code != area.category && r.Float64() < 0.5 {
			continue
		}
		v := fieldValue(r, f.Code, f.Type, area.vocabularies[f.Vocabulary], n)
		out[f.Code] = v
		if f.PersonalData && v != "" {
			personal = append(personal, v)
		}
	}
	return out, strings.Join(personal, " ")
}

// fieldValue is a made-up value of a subject or broadcast field.
func fieldValue(r *rand.Rand, code, typ string, terms []string, n int) string {
	switch typ {
	case "date":
		if strings.Contains(code, "birth") {
			return time.Date(1955+r.IntN(45), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
		}
		return time.Date(2005+r.IntN(20), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
	case "country":
		cs := countries.Current()
		return cs[r.IntN(len(cs))].Code
	case "term":
		if len(terms) == 0 {
			return ""
		}
		return terms[r.IntN(len(terms))]
	case "number":
		return strconv.Itoa(1 + r.IntN(100))
	case "email":
		return fmt.Sprintf("person-%06d@example.invalid", n%1000000)
	}
	switch {
	case strings.Contains(code, "business") || strings.Contains(code, "company"):
		return business(r, n)
	case strings.Contains(code, "name"):
		return person(r, n)
	case strings.Contains(code, "number") || strings.Contains(code, "reference"):
		return fmt.Sprintf("GEN-%08d", r.IntN(100000000))
	case strings.Contains(code, "address") || strings.Contains(code, "place"):
		return fmt.Sprintf("Example Street %d, Sample Town", 1+r.IntN(200))
	}
	return fmt.Sprintf("Generated %s %d", strings.ReplaceAll(code, "_", " "), n%100000)
}

// answer is a valid answer to a question, as requests.checkAnswer wants
// it.
func answer(r *rand.Rand, q *areas.Question) (value, text string) {
	switch q.Answer {
	case areas.YesNo:
		return []string{"yes", "yes", "yes", "no"}[r.IntN(4)], ""
	case areas.YesNoUnknown:
		switch x := r.Float64(); {
		case x < 0.1:
			return "unknown", "Not recorded in our register."
		case x < 0.3:
			return "no", ""
		}
		return "yes", ""
	case areas.SingleChoice, areas.MultipleChoice:
		return q.Options[r.IntN(len(q.Options))].Value, ""
	case areas.Date:
		return time.Date(2005+r.IntN(20), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC).Format(time.DateOnly), ""
	case areas.Number:
		return strconv.Itoa(1 + r.IntN(20)), ""
	case areas.DocumentRequested:
		return "", "A copy is attached to this request."
	}
	return "", "Confirmed by an extract of our register dated last month."
}

// facts writes the request's statistics as stats.Project would, from the
// same events.
func (w *requestWriter) facts(ctx context.Context, rid, area, category string, req, resp *authority, state string, replyBy time.Time, events []event,
	codes []string, ratingTime, ratingEffort any) error {
	f := stats.Facts{RequestID: rid, Area: area, Category: category, RequesterID: req.id, RequesterCountry: req.country,
		ResponderID: resp.id, ResponderCountry: resp.country, State: state, ReplyBy: replyBy}
	at := make([]time.Time, len(events))
	actions := make([]string, len(events))
	for i, e := range events {
		at[i], actions[i] = e.at, e.action
	}
	if !stats.Derive(&f, at, actions) {
		return nil
	}
	f.Questions = slices.Clone(codes)
	sort.Strings(f.Questions)
	if ratingTime != nil || ratingEffort != nil {
		neg := 0
		for _, v := range []any{ratingTime, ratingEffort} {
			if x, ok := v.(int); ok && x >= 1 && x <= 2 {
				neg = 1
			}
		}
		f.Negative = &neg
	}
	month := stats.Month(f.SentAt)
	for _, c := range f.Questions {
		w.questions[[3]string{area, month, c}]++
	}
	return w.g.add(ctx, "request_facts", f.RequestID, f.Area, f.Category, f.RequesterID, f.RequesterCountry, f.ResponderID, f.ResponderCountry, f.State,
		f.SentAt.UTC(), month, f.ArrivedAt.UTC(), tp(f.AcceptedAt), ip(f.AcceptOK), tp(f.AnsweredAt), i64(f.ReplySeconds), i64(f.NetSeconds),
		f.ReplyBucket, f.NetBucket, f.ReplyBy.UTC(), ip(f.OnTime), ip(f.Negative), f.Reopened, f.Forwarded, strings.Join(f.Questions, ","))
}

func ip(v *int) any {
	if v == nil {
		return nil
	}
	return *v
}

func i64(v *int64) any {
	if v == nil {
		return nil
	}
	return *v
}

// told are the sides the request machine's effects tell of each action.
var told = map[string][]string{
	"send": {workflow.Responder}, "accept": {workflow.Requester}, "decline": {workflow.Requester},
	"forward": {workflow.Requester, workflow.Responder, "former_responder"}, "request_info": {workflow.Requester},
	"provide_info": {workflow.Responder}, "answer": {workflow.Requester}, "reopen": {workflow.Responder}, "close": {workflow.Responder},
	"withdraw": {workflow.Responder}, "attach": {workflow.Requester, workflow.Responder}, "comment": {workflow.Requester, workflow.Responder},
}

// notify writes the in-app notifications of the request's latest step,
// if it was in the last 30 days, to the users of the sides it told (as
// notify.TellAuthority): unread if in the last week. Older notices are
// left out: they would have been read long ago, and would only weigh on
// the tables.
func (w *requestWriter) notify(ctx context.Context, rid, ref string, events []event, req, resp *authority) error {
	e := events[len(events)-1]
	if e.at.Before(w.until.AddDate(0, 0, -30)) {
		return nil // older notices: read, and no longer shown
	}
	done := map[string]bool{e.user: true}
	var read any
	if e.at.Before(w.until.AddDate(0, 0, -7)) {
		read = e.at.Add(24 * time.Hour)
	}
	for _, side := range told[e.action] {
		a := req
		switch side {
		case workflow.Responder:
			a = resp
		case "former_responder":
			continue // its users were told too; rarely the latest step
		}
		for _, u := range a.handlers {
			if done[u] {
				continue
			}
			done[u] = true
			if err := w.g.add(ctx, "notifications", id(w.r, e.at), u, "request_update", ref, "/requests/"+rid, e.at, read); err != nil {
				return err
			}
		}
	}
	return nil
}

// reminders records the reminders and follow-up notices the server's
// housekeeping would have sent by the end of the history
// (requests.Service.Remind), so that it does not send them all again.
func (w *requestWriter) reminders(ctx context.Context, rid string, area *requestArea, state string, sentAt, answeredAt *time.Time, replyBy, last time.Time) error {
	until := w.until
	open := state == requests.Sent || state == requests.Accepted || state == requests.InfoRequested
	var kinds []string
	var ats []time.Time
	remind := func(kind string, at time.Time) { kinds, ats = append(kinds, kind), append(ats, at) }
	if state == requests.Sent && sentAt != nil && sentAt.Before(until.AddDate(0, 0, -area.acceptDays)) {
		remind(requests.NotAccepted, sentAt.AddDate(0, 0, area.acceptDays))
	}
	if open && replyBy.Before(until) {
		remind(requests.Overdue, replyBy)
		remind("overdue_parties", replyBy)
	}
	if open && answeredAt == nil && sentAt != nil && sentAt.Before(until.AddDate(0, 0, -28)) {
		remind(requests.Unanswered, sentAt.AddDate(0, 0, 28))
	}
	if (open || state == requests.Answered) && last.Before(until.AddDate(0, 0, -60)) {
		remind(requests.Inactive, last.AddDate(0, 0, 60))
	}
	if (state == requests.Accepted || state == requests.InfoRequested) && !replyBy.Before(until) && replyBy.Before(until.AddDate(0, 0, 3)) {
		at := replyBy.AddDate(0, 0, -3)
		if at.Before(last) {
			at = last
		}
		remind("due_soon", at)
	}
	for i, k := range kinds {
		if err := w.g.add(ctx, "request_reminders", rid, k, ats[i]); err != nil {
			return err
		}
	}
	return nil
}

// advance moves the moment *t on by about d (at least a minute, to the
// second); false, leaving *t, if that passes until, the end of the
// history, where what is being made stays as it is.
func advance(t *time.Time, until time.Time, d time.Duration) bool {
	next := t.Add(max(d, time.Minute)).Truncate(time.Second)
	if next.After(until) {
		return false
	}
	*t = next
	return true
}

// expDays is a delay drawn from an exponential distribution of the given
// mean, in days.
func expDays(r *rand.Rand, mean float64) time.Duration {
	return time.Duration(r.ExpFloat64() * mean * 24 * float64(time.Hour))
}
