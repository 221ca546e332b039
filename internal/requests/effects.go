package requests

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/openimi/openimi/internal/areas"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/notify"
	"github.com/openimi/openimi/internal/problem"
	"github.com/openimi/openimi/internal/text"
	"github.com/openimi/openimi/internal/workflow"
)

// change is one action being applied: its effects run in order inside the
// action's transaction.
type change struct {
	s     *Service
	tx    db.Querier
	r     *Request
	to    string
	now   time.Time
	in    Input
	event *workflow.Event
	actor authorities.Actor
	tell  []string // parties to tell, once each
	parts []string // requests split off by this step
}

func (c *change) exec(ctx context.Context, query string, args ...any) error {
	_, err := c.tx.ExecContext(ctx, query, args...)
	return db.Check(err)
}

// apply runs one named effect of the request machine.
func (c *change) apply(ctx context.Context, effect string) error {
	r := c.r
	switch effect {
	case "check_complete":
		d := DraftInput{Area: r.Area, QuestionSet: r.QuestionSet, ResponderID: r.ResponderID, Subject: r.Subject}
		for _, q := range r.Questions {
			d.Questions = append(d.Questions, q.Code)
		}
		if _, err := c.s.check(c.actor, &d, true); err != nil {
			return err
		}
		if _, err := c.s.checkResponder(ctx, r.Requester.Country, r.Area, r.ResponderID); err != nil {
			return err
		}
		if !r.ReplyBy.After(c.now) {
			return problem.Field("reply_by", "error_request_reply_by_past")
		}
	case "stamp_sent":
		return c.exec(ctx, `UPDATE requests SET sent_at = $1 WHERE id = $2`, c.now, r.ID)
	case "stamp_accepted":
		return c.exec(ctx, `UPDATE requests SET accepted_at = $1 WHERE id = $2`, c.now, r.ID)
	case "stamp_answered":
		return c.exec(ctx, `UPDATE requests SET answered_at = $1 WHERE id = $2`, c.now, r.ID)
	case "stamp_closed":
		return c.exec(ctx, `UPDATE requests SET closed_at = $1 WHERE id = $2`, c.now, r.ID)
	case "change_responder":
		to, err := c.s.checkResponder(ctx, r.Requester.Country, r.Area, c.in.ResponderID)
		if err != nil {
			return err
		}
		if to == nil || to.ID == r.ResponderID {
			return problem.Field("responder", "error_request_forward_target")
		}
		c.event.Data = marshal(map[string]string{"from": r.ResponderID, "to": to.ID})
		c.tell = append(c.tell, "former_responder")
		if err := c.exec(ctx, `UPDATE requests SET responder_id = $1, accepted_at = NULL WHERE id = $2`, to.ID, r.ID); err != nil {
			return err
		}
		r.ResponderID, r.Responder = to.ID, to
	case "stop_clock":
		return c.exec(ctx, `UPDATE requests SET stopped_at = $1 WHERE id = $2`, c.now, r.ID)
	case "start_clock":
		if r.StoppedAt != nil {
			return c.exec(ctx, `UPDATE requests SET stopped_at = NULL, stopped_seconds = stopped_seconds + $1 WHERE id = $2`, int64(c.now.Sub(*r.StoppedAt).Seconds()), r.ID)
		}
	case "propose_date":
		if !c.in.ReplyBy.After(c.now) {
			return problem.Field("reply_by", "error_request_reply_by_past")
		}
		c.event.Data = marshal(map[string]string{"reply_by": c.in.ReplyBy.UTC().Format(time.DateOnly)})
		return c.exec(ctx, `UPDATE requests SET proposed_reply_by = $1 WHERE id = $2`, c.in.ReplyBy.UTC(), r.ID)
	case "accept_date", "refuse_date":
		if r.ProposedReplyBy == nil {
			return problem.New(problem.Conflict, "error_request_no_proposal")
		}
		c.event.Data = marshal(map[string]string{"reply_by": r.ProposedReplyBy.Format(time.DateOnly)})
		if effect == "accept_date" {
			return c.exec(ctx, `UPDATE requests SET reply_by = proposed_reply_by, proposed_reply_by = NULL WHERE id = $1`, r.ID)
		}
		return c.exec(ctx, `UPDATE requests SET proposed_reply_by = NULL WHERE id = $1`, r.ID)
	case "record_answers":
		return c.recordAnswers(ctx)
	case "rate":
		for _, v := range []int{c.in.RatingTime, c.in.RatingEffort} {
			if v < 0 || v > 5 {
				return problem.Field("rating", "error_request_rating")
			}
		}
		return c.exec(ctx, `UPDATE requests SET rating_time = $1, rating_effort = $2 WHERE id = $3`, nullInt(c.in.RatingTime), nullInt(c.in.RatingEffort), r.ID)
	case "claim":
		return c.exec(ctx, `UPDATE requests SET handler_id = COALESCE(handler_id, $1) WHERE id = $2`, c.actor.UserID, r.ID)
	case "set_handler":
		ok, err := c.s.isHandler(ctx, c.tx, r, c.in.HandlerID)
		if err != nil {
			return err
		}
		if !ok {
			return problem.Field("handler", "error_request_handler")
		}
		c.event.Data = marshal(map[string]string{"handler": c.in.HandlerID})
		return c.exec(ctx, `UPDATE requests SET handler_id = $1 WHERE id = $2`, c.in.HandlerID, r.ID)
	case "split_questions":
		return c.split(ctx)
	case "store_attachment":
		return c.storeAttachment(ctx)
	case "notify_requester":
		c.tell = append(c.tell, workflow.Requester)
	case "notify_responder":
		c.tell = append(c.tell, workflow.Responder)
	case "notify_requester_coordinator":
		c.tell = append(c.tell, workflow.RequesterCoordinator)
	case "notify_responder_coordinator":
		c.tell = append(c.tell, workflow.ResponderCoordinator)
	case "notify_parties":
		c.tell = append(c.tell, workflow.Requester, workflow.Responder)
	}
	return nil
}

// recordAnswers checks that every question has a valid answer and stores
// them: accepting a request is a commitment to answer all.
func (c *change) recordAnswers(ctx context.Context) error {
	p, err := c.s.areas.Pack(c.r.Area)
	if err != nil {
		return err
	}
	for code := range c.in.Answers {
		if !slices.ContainsFunc(c.r.Questions, func(q Question) bool { return q.Code == code }) {
			return problem.Field("answers", "error_request_question", "Code", code)
		}
	}
	// All the answers in one statement (one round trip to PostgreSQL),
	// each row of VALUES being a question's code, answer and text.
	args := []any{c.r.ID}
	rows := make([]string, 0, len(c.r.Questions))
	for _, q := range c.r.Questions {
		a := c.in.Answers[q.Code]
		a.Value, a.Text = strings.TrimSpace(a.Value), strings.TrimSpace(a.Text)
		if err := checkAnswer(p.Question(q.Code), a); err != nil {
			return err
		}
		rows = append(rows, db.ValuesRow(len(args)+1, 3))
		args = append(args, q.Code, a.Value, a.Text)
	}
	if len(rows) == 0 {
		return nil
	}
	return c.exec(ctx, `UPDATE request_questions SET answer = v.column2, answer_text = v.column3 FROM (VALUES `+strings.Join(rows, ", ")+`) AS v
		WHERE request_questions.request_id = $1 AND request_questions.code = v.column1`, args...)
}

// checkAnswer checks an answer against its question's answer type.
func checkAnswer(q *areas.Question, a Answer) error {
	field := "answers." + q.Code
	bad := problem.Field(field, "error_request_answer")
	if len(a.Text) > maxMessage || len(a.Value) > 500 {
		return problem.Field(field, "error_text_too_long", "Max", maxMessage)
	}
	if !text.Block(a.Text) || !text.Line(a.Value) {
		return problem.Field(field, "error_text_invalid")
	}
	options := func() []string {
		var out []string
		for _, o := range q.Options {
			out = append(out, o.Value)
		}
		return out
	}
	switch q.Answer {
	case areas.YesNo:
		if a.Value != "yes" && a.Value != "no" {
			return bad
		}
	case areas.YesNoUnknown:
		if !slices.Contains([]string{"yes", "no", "unknown"}, a.Value) || a.Value == "unknown" && a.Text == "" {
			return bad
		}
	case areas.SingleChoice:
		if !slices.Contains(options(), a.Value) {
			return bad
		}
	case areas.MultipleChoice:
		if a.Value == "" {
			return bad
		}
		for _, v := range strings.Split(a.Value, ",") {
			if !slices.Contains(options(), v) {
				return bad
			}
		}
	case areas.Date:
		if _, err := time.Parse(time.DateOnly, a.Value); err != nil {
			return bad
		}
	case areas.Number:
		if _, err := strconv.ParseFloat(a.Value, 64); err != nil {
			return bad
		}
	case areas.FreeText, areas.DocumentRequested:
		if a.Value != "" || a.Text == "" {
			return bad
		}
	}
	return nil
}

// notify tells the users concerned that something happened.
func (c *change) notify(ctx context.Context) error {
	var from string
	if c.event.Data != "" {
		var moved map[string]string
		_ = json.Unmarshal([]byte(c.event.Data), &moved)
		from = moved["from"]
	}
	return c.s.tell(ctx, c.tx, c.r, c.tell, from, notify.KindRequestUpdate, nil, c.actor.UserID, c.now)
}

// tell e-mails the users of the parties of r (and of formerResponder, for
// "former_responder"), each once, in each one's language, except skipUser.
// The message names the request's reference and links to it; it never
// carries personal data.
func (s *Service) tell(ctx context.Context, tx db.Querier, r *Request, parties []string, formerResponder, kind string, extra map[string]string, skipUser string, now time.Time) error {
	done := map[string]bool{}
	for _, party := range parties {
		var authorityID string
		var roles []string
		switch party {
		case workflow.Requester:
			authorityID, roles = r.RequesterID, []string{authorities.RequestHandler}
		case workflow.Responder:
			authorityID, roles = r.ResponderID, []string{authorities.Allocator, authorities.RequestHandler}
		case "former_responder":
			authorityID, roles = formerResponder, []string{authorities.Allocator, authorities.RequestHandler}
		case workflow.RequesterCoordinator, workflow.ResponderCoordinator:
			a := r.Requester
			if party == workflow.ResponderCoordinator {
				a = r.Responder
			}
			id, err := authorities.CoordinatorOf(ctx, tx, a, r.Area)
			if err != nil {
				return err
			}
			authorityID, roles = id, []string{authorities.Coordinator}
		}
		if authorityID == "" {
			continue
		}
		to := notify.Audience{AuthorityID: authorityID, Area: r.Area, Roles: roles, Skip: skipUser, Done: done}
		if err := notify.TellAuthority(ctx, tx, now, to, r.Reference, "/requests/"+r.ID, s.publicURL, kind, extra); err != nil {
			return err
		}
	}
	return nil
}

func marshal(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func nullInt(v int) any {
	if v == 0 {
		return nil
	}
	return v
}

// isHandler reports whether userID may handle r for its responder: an
// active user of the responding authority with a request role in the area.
func (s *Service) isHandler(ctx context.Context, q db.Querier, r *Request, userID string) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM users u JOIN user_roles ur ON ur.user_id = u.id WHERE u.id = $1 AND u.authority_id = $2 AND u.active
		AND ur.role IN ('request_handler', 'allocator') AND (ur.area = '' OR ur.area = $3)`, userID, r.ResponderID, r.Area).Scan(&n)
	return n > 0, db.Check(err)
}

// split forwards some of the questions to another authority as a linked
// request: a new request with the same requester, subject and reply date,
// sent to the other authority; both parts are tracked, each on its own.
func (c *change) split(ctx context.Context) error {
	r := c.r
	chosen := map[string]bool{}
	for _, q := range c.in.Questions {
		if !slices.ContainsFunc(r.Questions, func(x Question) bool { return x.Code == q }) {
			return problem.Field("questions", "error_request_question", "Code", q)
		}
		chosen[q] = true
	}
	if len(chosen) == 0 || len(chosen) == len(r.Questions) {
		return problem.Field("questions", "error_request_split")
	}
	to, err := c.s.checkResponder(ctx, r.Requester.Country, r.Area, c.in.ResponderID)
	if err != nil {
		return err
	}
	if to == nil || to.ID == r.ResponderID {
		return problem.Field("responder", "error_request_forward_target")
	}
	child := uuid.Must(uuid.NewV7()).String()
	ref, err := c.s.reference(ctx, c.tx, r.Area, c.now)
	if err != nil {
		return err
	}
	if err := c.exec(ctx, `INSERT INTO requests (id, reference, area, question_set, state, requester_id, responder_id, created_by, parent_id, reply_by,
		sent_at, subject_name, subject, message, last_activity_at, created_at, updated_at)
		SELECT $1, $2, area, question_set, 'sent', requester_id, $3, created_by, id, reply_by, $4, subject_name, subject, message, $4, $4, $4
		FROM requests WHERE id = $5`, child, ref, to.ID, c.now, r.ID); err != nil {
		return err
	}
	var codes []string
	for _, q := range r.Questions {
		if chosen[q.Code] {
			codes = append(codes, q.Code)
			if err := c.exec(ctx, `UPDATE request_questions SET request_id = $1 WHERE request_id = $2 AND code = $3`, child, r.ID, q.Code); err != nil {
				return err
			}
		}
	}
	c.parts = append(c.parts, child)
	c.event.Data = marshal(map[string]string{"to": to.ID, "request": child, "reference": ref, "questions": strings.Join(codes, ",")})
	if err := workflow.Record(ctx, c.tx, &workflow.Event{CaseID: child, At: c.now, Action: "split_from", From: "", To: Sent, UserID: c.actor.UserID,
		AuthorityID: c.event.AuthorityID, Party: c.event.Party, Comment: c.event.Comment,
		Data: marshal(map[string]string{"request": r.ID, "reference": r.Reference, "questions": strings.Join(codes, ",")})}); err != nil {
		return err
	}
	part := *r
	part.ID, part.Reference, part.ResponderID, part.Responder = child, ref, to.ID, to
	return c.s.tell(ctx, c.tx, &part, []string{workflow.Responder}, "", notify.KindRequestUpdate, nil, c.actor.UserID, c.now)
}
