// Package requests is the information request: an authority asks a
// counterpart abroad about a professional or a service provider, in
// pre-translated questions, on the "request" machine of internal/workflow.
// Every rule about who may see or do what is here, so that the web UI and
// the API cannot disagree.
package requests

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/openimi/openimi/internal/areas"
	"github.com/openimi/openimi/internal/audit"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/problem"
	"github.com/openimi/openimi/internal/scan"
	"github.com/openimi/openimi/internal/stats"
	"github.com/openimi/openimi/internal/text"
	"github.com/openimi/openimi/internal/workflow"
)

// States of a request (see internal/workflow/machines/request.yaml).
const (
	Draft              = "draft"
	AwaitingApproval   = "awaiting_approval"
	AwaitingAllocation = "awaiting_allocation"
	Sent               = "sent"
	Accepted           = "accepted"
	InfoRequested      = "info_requested"
	Answered           = "answered"
	Closed             = "closed"
	Declined           = "declined"
	Withdrawn          = "withdrawn"
)

// States lists every state in the order a request passes them.
var States = []string{Draft, AwaitingApproval, AwaitingAllocation, Sent, Accepted, InfoRequested, Answered, Closed, Declined, Withdrawn}

// Request is an information request as one viewer may see it.
type Request struct {
	ID, Reference, Area, QuestionSet, State string
	RequesterID, ResponderID                string
	// Requester and Responder may be the authorities the server keeps,
	// shared with every page (an inbox's: authorities.GetManyShared):
	// read them, never change them.
	Requester, Responder                 *authorities.Authority
	CreatedBy, HandlerID, ParentID       string
	ReplyBy                              time.Time
	ProposedReplyBy                      *time.Time
	SentAt, AcceptedAt, AnsweredAt       *time.Time
	ClosedAt, StoppedAt                  *time.Time
	BlockedAt, ErasedAt                  *time.Time
	StoppedSeconds                       int64
	RatingTime, RatingEffort             *int
	LastActivityAt, CreatedAt, UpdatedAt time.Time
	Questions                            []Question
	Attachments                          []Attachment // for the parties only

	// Personal data: filled only for a viewer of a party authority.
	PersonalShown bool
	SubjectName   string
	Subject       map[string]string
	Message       string

	// For the viewer.
	Parties []string // workflow parties the viewer takes
	Actions []string // actions the viewer may take now
}

// Question is one question of a request and its answer.
type Question struct {
	Code       string
	Answer     string // an option code, yes/no/unknown, a date, a number
	AnswerText string // free text; hidden from non-parties
}

// Overdue reports whether the reply date has passed without an answer.
func (r *Request) Overdue(now time.Time) bool {
	switch r.State {
	case Sent, Accepted, InfoRequested, AwaitingAllocation:
		return now.After(r.ReplyBy)
	}
	return false
}

// Service runs information requests.
type Service struct {
	db          *db.DB
	views       *audit.Batch // who was shown personal data
	areas       *areas.Registry
	authorities *authorities.Service
	machine     *workflow.Machine
	files       Store
	scanner     scan.Scanner // nil: no virus scanner
	// maxAttachment is the largest file a request may carry.
	maxAttachment int64
	publicURL     string
	now           func() time.Time
}

// effects are the named effects the request machine may use.
var effects = []string{"check_complete", "stamp_sent", "notify_responder", "notify_responder_coordinator", "notify_requester_coordinator",
	"notify_requester", "stamp_accepted", "stamp_closed", "change_responder", "stop_clock", "start_clock", "propose_date", "accept_date",
	"refuse_date", "record_answers", "stamp_answered", "rate", "notify_parties", "split_questions", "set_handler", "claim", "store_attachment"}

// New returns the request service.
func New(d *db.DB, reg *areas.Registry, auths *authorities.Service, publicURL string, now func() time.Time) (*Service, error) {
	m, err := workflow.Load("request", effects)
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	return &Service{db: d, views: audit.NewBatch(d), areas: reg, authorities: auths, machine: m, publicURL: publicURL, now: now, maxAttachment: DefaultMaxAttachment}, nil
}

// DefaultMaxAttachment is the default size limit of an attachment.
const DefaultMaxAttachment = 20 << 20

// UseStore sets where attachments are kept and how large they may be.
func (s *Service) UseStore(st Store, max int64) {
	s.files = st
	if max > 0 {
		s.maxAttachment = max
	}
}

// MaxAttachment is the largest file a request may carry.
func (s *Service) MaxAttachment() int64 { return s.maxAttachment }

// Machine returns the request machine (for labels and documentation).
func (s *Service) Machine() *workflow.Machine { return s.machine }

func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// errNotFound answers for a request that does not exist and for one the
// actor may not see alike, so that identifiers reveal nothing.
var errNotFound = problem.New(problem.NotFound, "error_not_found")

// DraftInput is what a request handler writes before sending.
type DraftInput struct {
	Area        string
	QuestionSet string
	Questions   []string // codes, in the order asked
	ResponderID string
	ReplyBy     time.Time // zero: the area's default
	Subject     map[string]string
	Message     string
	// IdempotencyKey, when set, makes a repeated create return the
	// request the first one made.
	IdempotencyKey string
}

const maxMessage = 10000

// check validates a draft against its area pack; complete also demands
// what sending needs.
func (s *Service) check(actor authorities.Actor, d *DraftInput, complete bool) (*areas.Pack, error) {
	p, err := s.areas.Pack(d.Area)
	if err != nil {
		return nil, problem.Field("area", "error_request_area")
	}
	if !actor.Has(authorities.RequestHandler, d.Area) || actor.Authority == nil {
		return nil, problem.New(problem.Forbidden, "error_request_not_handler")
	}
	set := p.QuestionSet(d.QuestionSet)
	if set == nil {
		return nil, problem.Field("question_set", "error_request_question_set")
	}
	seen := map[string]bool{}
	for _, q := range d.Questions {
		if seen[q] || !slices.ContainsFunc(set.Questions(), func(x *areas.Question) bool { return x.Code == q }) {
			return nil, problem.Field("questions", "error_request_question", "Code", q)
		}
		seen[q] = true
	}
	if complete && len(d.Questions) == 0 {
		return nil, problem.Field("questions", "error_request_no_questions")
	}
	for code, v := range d.Subject {
		if p.Field(code) == nil {
			return nil, problem.Field("subject", "error_request_subject_field", "Code", code)
		}
		if len(v) > 500 {
			return nil, problem.Field("subject."+code, "error_text_too_long", "Max", 500)
		}
		if !text.Line(v) {
			return nil, problem.Field("subject."+code, "error_text_invalid")
		}
	}
	if complete {
		for _, f := range p.Subject {
			if f.Required && strings.TrimSpace(d.Subject[f.Code]) == "" {
				return nil, problem.Field("subject."+f.Code, "error_request_subject_required")
			}
		}
		if d.ResponderID == "" {
			return nil, problem.Field("responder", "error_request_responder")
		}
	}
	if len(d.Message) > maxMessage {
		return nil, problem.Field("message", "error_text_too_long", "Max", maxMessage)
	}
	if !text.Block(d.Message) {
		return nil, problem.Field("message", "error_text_invalid")
	}
	if !d.ReplyBy.IsZero() && !d.ReplyBy.After(s.clock()) {
		return nil, problem.Field("reply_by", "error_request_reply_by_past")
	}
	return p, nil
}

// checkResponder checks that the responder is an authority abroad that
// works in the area and can receive requests.
func (s *Service) checkResponder(ctx context.Context, requesterCountry, area, id string) (*authorities.Authority, error) {
	if id == "" {
		return nil, nil
	}
	a, err := s.authorities.Get(ctx, id)
	if errors.Is(err, db.ErrNotFound) {
		return nil, problem.Field("responder", "error_request_responder")
	}
	if err != nil {
		return nil, err // the database is away, say: not the user's mistake
	}
	if a.Status == authorities.Deactivated || !slices.Contains(a.Areas, area) {
		return nil, problem.Field("responder", "error_request_responder_area")
	}
	if a.Country == requesterCountry {
		return nil, problem.Field("responder", "error_request_responder_abroad")
	}
	return a, nil
}

// subjectName is the text a party finds a request by: the subject's
// personal fields joined.
func subjectName(p *areas.Pack, subject map[string]string) string {
	var parts []string
	for _, f := range p.Subject {
		if v := strings.TrimSpace(subject[f.Code]); v != "" && f.PersonalData {
			parts = append(parts, v)
		}
	}
	return strings.Join(parts, " ")
}

// Create saves a new draft.
func (s *Service) Create(ctx context.Context, actor authorities.Actor, d DraftInput) (*Request, error) {
	id, err := s.CreateDraft(ctx, actor, d)
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, actor, id)
}

// CreateDraft is Create for a caller that goes on to the draft's page (a
// form, redirected), which reads it: it returns the draft's id.
func (s *Service) CreateDraft(ctx context.Context, actor authorities.Actor, d DraftInput) (string, error) {
	p, err := s.check(actor, &d, false)
	if err != nil {
		return "", err
	}
	if _, err := s.checkResponder(ctx, actor.Authority.Country, d.Area, d.ResponderID); err != nil {
		return "", err
	}
	now := s.clock()
	if d.ReplyBy.IsZero() {
		days := p.Workflow.ReplyDays
		if days <= 0 {
			days = 28
		}
		d.ReplyBy = now.AddDate(0, 0, days)
	}
	subject, _ := json.Marshal(d.Subject)
	id := uuid.Must(uuid.NewV7()).String()
	err = s.db.InTx(ctx, func(tx db.Querier) error {
		earlier, err := s.once(ctx, tx, actor, d.IdempotencyKey, "create", id)
		if err != nil || earlier != "" {
			id = earlier
			return err
		}
		ref, err := s.reference(ctx, tx, d.Area, now)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO requests (id, reference, area, question_set, state, requester_id, responder_id, created_by, reply_by,
			subject_name, subject, message, last_activity_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $13)`,
			id, ref, d.Area, d.QuestionSet, Draft, actor.Authority.ID, nullable(d.ResponderID), actor.UserID, d.ReplyBy.UTC(), subjectName(p, d.Subject),
			string(subject), d.Message, now); err != nil {
			return db.Check(err)
		}
		if err := writeQuestions(ctx, tx, id, d.Questions); err != nil {
			return err
		}
		return workflow.Record(ctx, tx, &workflow.Event{CaseID: id, At: now, Action: "create", From: "", To: Draft, UserID: actor.UserID, AuthorityID: actor.Authority.ID, Party: workflow.Requester})
	})
	if err != nil {
		return "", err
	}
	return id, nil
}

// UpdateDraft rewrites a draft and returns it; only its requester's
// handlers may.
func (s *Service) UpdateDraft(ctx context.Context, actor authorities.Actor, id string, d DraftInput) (*Request, error) {
	if err := s.SaveDraft(ctx, actor, id, d); err != nil {
		return nil, err
	}
	return s.Get(ctx, actor, id)
}

// SaveDraft is UpdateDraft for a caller that goes on to the draft's page
// (a form, redirected), which reads it.
func (s *Service) SaveDraft(ctx context.Context, actor authorities.Actor, id string, d DraftInput) error {
	r, err := s.load(ctx, s.db.Read(), id)
	if err != nil {
		return err
	}
	if actor.Authority == nil || actor.Authority.ID != r.RequesterID {
		return errNotFound
	}
	if r.State != Draft {
		return problem.New(problem.Conflict, "error_request_not_draft")
	}
	d.Area = r.Area
	p, err := s.check(actor, &d, false)
	if err != nil {
		return err
	}
	if _, err := s.checkResponder(ctx, actor.Authority.Country, d.Area, d.ResponderID); err != nil {
		return err
	}
	if d.ReplyBy.IsZero() {
		d.ReplyBy = r.ReplyBy
	}
	subject, _ := json.Marshal(d.Subject)
	now := s.clock()
	return s.db.InTx(ctx, func(tx db.Querier) error {
		res, err := tx.ExecContext(ctx, `UPDATE requests SET question_set = $1, responder_id = $2, reply_by = $3, subject_name = $4, subject = $5, message = $6,
			updated_at = $7, last_activity_at = $7 WHERE id = $8 AND state = 'draft'`,
			d.QuestionSet, nullable(d.ResponderID), d.ReplyBy.UTC(), subjectName(p, d.Subject), string(subject), d.Message, now, id)
		if err != nil {
			return db.Check(err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return problem.New(problem.Conflict, "error_request_not_draft")
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM request_questions WHERE request_id = $1`, id); err != nil {
			return err
		}
		return writeQuestions(ctx, tx, id, d.Questions)
	})
}

func writeQuestions(ctx context.Context, tx db.Querier, id string, codes []string) error {
	for i, c := range codes {
		if _, err := tx.ExecContext(ctx, `INSERT INTO request_questions (request_id, position, code) VALUES ($1, $2, $3)`, id, i+1, c); err != nil {
			return db.Check(err)
		}
	}
	return nil
}

// reference numbers requests per area and year: "PQ-2026-000042".
func (s *Service) reference(ctx context.Context, tx db.Querier, area string, now time.Time) (string, error) {
	n, err := workflow.Number(ctx, tx, fmt.Sprintf("request/%s/%d", area, now.Year()))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s-%d-%06d", strings.ToUpper(area), now.Year(), n), nil
}

// columns lists what scanRequest reads, from the requests table as alias.
func columns(alias string) string {
	cols := []string{"id", "reference", "area", "question_set", "state", "requester_id", "COALESCE(%sresponder_id, '')", "created_by", "reply_by",
		"proposed_reply_by", "sent_at", "accepted_at", "answered_at", "closed_at", "stopped_at", "stopped_seconds", "rating_time", "rating_effort",
		"last_activity_at", "created_at", "updated_at", "subject_name", "subject", "message", "blocked_at", "erased_at",
		"COALESCE(%shandler_id, '')", "COALESCE(%sparent_id, '')"}
	for i, c := range cols {
		if strings.Contains(c, "%s") {
			cols[i] = strings.ReplaceAll(c, "%s", alias)
		} else {
			cols[i] = alias + c
		}
	}
	return strings.Join(cols, ", ")
}

// scanRequest scans a row of columns() and then, into more, the row's
// further columns.
func scanRequest(row interface{ Scan(...any) error }, more ...any) (*Request, error) {
	var r Request
	var proposed, sent, accepted, answered, closed, stopped, blocked, erased sql.NullTime
	var rt, re sql.NullInt64
	var subject string
	if err := row.Scan(append([]any{&r.ID, &r.Reference, &r.Area, &r.QuestionSet, &r.State, &r.RequesterID, &r.ResponderID, &r.CreatedBy, &r.ReplyBy, &proposed,
		&sent, &accepted, &answered, &closed, &stopped, &r.StoppedSeconds, &rt, &re, &r.LastActivityAt, &r.CreatedAt, &r.UpdatedAt,
		&r.SubjectName, &subject, &r.Message, &blocked, &erased, &r.HandlerID, &r.ParentID}, more...)...); err != nil {
		return nil, err
	}
	num := func(n sql.NullInt64) *int {
		if !n.Valid {
			return nil
		}
		v := int(n.Int64)
		return &v
	}
	r.ProposedReplyBy, r.SentAt, r.AcceptedAt, r.AnsweredAt, r.ClosedAt, r.StoppedAt = db.Time(proposed), db.Time(sent), db.Time(accepted), db.Time(answered), db.Time(closed), db.Time(stopped)
	r.RatingTime, r.RatingEffort = num(rt), num(re)
	r.BlockedAt, r.ErasedAt = db.Time(blocked), db.Time(erased)
	r.ReplyBy = r.ReplyBy.UTC()
	_ = json.Unmarshal([]byte(subject), &r.Subject)
	return &r, nil
}

// load reads a request with everything in it, for the service's own use:
// one query, its questions in order as a JSON array of [code, answer,
// answer text] (a second query was a second round trip on PostgreSQL on
// every request's page).
func (s *Service) load(ctx context.Context, q db.Querier, id string) (*Request, error) {
	questions := `COALESCE((SELECT json_agg(json_build_array(q.code, q.answer, q.answer_text) ORDER BY q.position, q.code)
		FROM request_questions q WHERE q.request_id = $1)::text, '[]')`
	if s.db.Dialect() == db.SQLite {
		questions = `(SELECT json_group_array(json_array(q.code, q.answer, q.answer_text) ORDER BY q.position, q.code)
		FROM request_questions q WHERE q.request_id = $1)`
	}
	var list string
	r, err := scanRequest(q.QueryRowContext(ctx, `SELECT `+columns("")+`, `+questions+` FROM requests WHERE id = $1`, id), &list)
	if errors.Is(db.Check(err), db.ErrNotFound) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, db.Check(err)
	}
	var rows [][3]string
	if err := json.Unmarshal([]byte(list), &rows); err != nil {
		return nil, fmt.Errorf("the questions of request %s: %w", id, err)
	}
	for _, x := range rows {
		r.Questions = append(r.Questions, Question{Code: x[0], Answer: x[1], AnswerText: x[2]})
	}
	return r, nil
}

// who is what the actor is in a request: its parties and its roles for
// the request's area.
func (s *Service) who(ctx context.Context, actor authorities.Actor, r *Request) (workflow.Who, error) {
	var w workflow.Who
	var missing []string
	if r.Requester == nil {
		missing = append(missing, r.RequesterID)
	}
	if r.Responder == nil && r.ResponderID != "" {
		missing = append(missing, r.ResponderID)
	}
	if len(missing) > 0 {
		// The parties in one read: GetMany takes what the page's memo
		// (a party's own authority) and the kept authorities hold, and
		// reads the rest in one query. With a Get for each, a
		// coordinator's page and every read without a memo (a job, a
		// command) read the registry revision twice, and each party the
		// server does not keep in a query of its own. One
		// that does not exist is left to Get below, which says so.
		found, err := s.authorities.GetMany(ctx, missing)
		if err != nil {
			return w, err
		}
		if r.Requester == nil {
			r.Requester = found[r.RequesterID]
		}
		if r.Responder == nil {
			r.Responder = found[r.ResponderID]
		}
	}
	if r.Requester == nil {
		a, err := s.authorities.Get(ctx, r.RequesterID)
		if err != nil {
			return w, err
		}
		r.Requester = a
	}
	if r.Responder == nil && r.ResponderID != "" {
		a, err := s.authorities.Get(ctx, r.ResponderID)
		if err != nil {
			return w, err
		}
		r.Responder = a
	}
	me := actor.Authority
	if me != nil && me.Status != authorities.Deactivated {
		if me.ID == r.RequesterID {
			w.Parties = append(w.Parties, workflow.Requester)
		}
		if me.ID == r.ResponderID && r.State != Draft && r.State != AwaitingApproval {
			w.Parties = append(w.Parties, workflow.Responder)
		}
	}
	if actor.CanValidate(r.Requester) {
		w.Parties = append(w.Parties, workflow.RequesterCoordinator)
	}
	if r.Responder != nil && r.State != Draft && r.State != AwaitingApproval && actor.CanValidate(r.Responder) {
		w.Parties = append(w.Parties, workflow.ResponderCoordinator)
	}
	for _, role := range actor.Roles {
		if role.Area == "" || role.Area == r.Area {
			w.Roles = append(w.Roles, role.Role)
		}
	}
	return w, nil
}

// takingPart loads a request for an actor who takes part in it; for
// anyone else it does not exist.
func (s *Service) takingPart(ctx context.Context, q db.Querier, actor authorities.Actor, id string) (*Request, workflow.Who, error) {
	r, err := s.load(ctx, q, id)
	if err != nil {
		return nil, workflow.Who{}, err
	}
	w, err := s.who(ctx, actor, r)
	if err != nil {
		return nil, w, err
	}
	if len(w.Parties) == 0 {
		return nil, w, errNotFound
	}
	return r, w, nil
}

// options are the area pack's workflow options for this request, and the
// request's own conditions the machine names.
func (s *Service) options(r *Request) map[string]bool {
	p, err := s.areas.Pack(r.Area)
	if err != nil || r.Requester == nil {
		return nil
	}
	o := map[string]bool{"outgoing_approval": p.Workflow.OutgoingApprovalIn(r.Requester.Country), "date_proposed": r.ProposedReplyBy != nil}
	if r.Responder != nil {
		o["incoming_allocation"] = p.Workflow.IncomingAllocationIn(r.Responder.Country)
	}
	return o
}

// isParty reports whether who is one of the two authorities in the
// exchange, who alone see its personal data.
func isParty(w workflow.Who) bool {
	return slices.Contains(w.Parties, workflow.Requester) || slices.Contains(w.Parties, workflow.Responder)
}

// seesPersonal reports whether who may see r's personal data now: a party,
// while the data is not blocked (blocked data is shown to nobody).
func seesPersonal(r *Request, w workflow.Who) bool { return isParty(w) && r.BlockedAt == nil }

// view trims r to what the actor may see and fills in what it may do.
// A coordinator sees the exchange's progress, not its personal data.
func (s *Service) view(r *Request, w workflow.Who) *Request {
	for _, a := range s.machine.Allowed(r.State, w, s.options(r)) {
		r.Actions = append(r.Actions, a.Name)
	}
	return shown(r, w)
}

// shown trims r to what who may see: view without the actions.
func shown(r *Request, w workflow.Who) *Request {
	r.Parties = w.Parties
	r.PersonalShown = seesPersonal(r, w)
	if !r.PersonalShown {
		r.SubjectName, r.Subject, r.Message = "", nil, ""
		for i := range r.Questions {
			r.Questions[i].AnswerText = ""
		}
	}
	return r
}

// Get returns a request as the actor may see it. Every view of personal
// data is recorded in the audit log.
func (s *Service) Get(ctx context.Context, actor authorities.Actor, id string) (*Request, error) {
	return s.get(ctx, actor, id, false)
}

// get is Get for a caller that may already have recorded the actor's view
// of the request's personal data, in the transaction of its change.
func (s *Service) get(ctx context.Context, actor authorities.Actor, id string, recorded bool) (*Request, error) {
	r, _, err := s.read(ctx, actor, id, recorded, false)
	return r, err
}

// Page is Get with the request's timeline (as Timeline gives it), for its
// page: its events and, if the actor sees them, its files are read in one
// query, a round trip fewer on PostgreSQL for a party's page.
func (s *Service) Page(ctx context.Context, actor authorities.Actor, id string) (*Request, []Entry, error) {
	r, events, err := s.read(ctx, actor, id, false, true)
	if err != nil {
		return nil, nil, err
	}
	return r, s.entries(ctx, events, r.PersonalShown, r.BlockedAt != nil), nil
}

// read is get, and with timeline also the request's events.
func (s *Service) read(ctx context.Context, actor authorities.Actor, id string, recorded, timeline bool) (*Request, []workflow.Event, error) {
	r, w, err := s.takingPart(ctx, s.db.Read(), actor, id)
	if err != nil {
		return nil, nil, err
	}
	r = s.view(r, w)
	var events []workflow.Event
	switch {
	case timeline:
		events, r.Attachments, err = s.historyAndFiles(ctx, id, r.PersonalShown)
	case r.PersonalShown:
		r.Attachments, err = s.attachments(ctx, s.db.Read(), id)
	}
	if err != nil {
		return nil, nil, err
	}
	if r.PersonalShown && !recorded {
		if err := s.views.Record(ctx, s.clock(), viewed(actor, r)); err != nil {
			return nil, nil, err
		}
	}
	return r, events, nil
}

// ReferenceOf returns the reference of a request the actor takes part in,
// for a link to it (a linked request's page names its parent so). Nothing
// of the request is shown, so no view is recorded, and nothing personal is
// read: only what deciding who takes part needs; for anyone else it does
// not exist.
func (s *Service) ReferenceOf(ctx context.Context, actor authorities.Actor, id string) (string, error) {
	var r Request
	err := s.db.Read().QueryRowContext(ctx, `SELECT reference, area, state, requester_id, COALESCE(responder_id, '') FROM requests WHERE id = $1`, id).
		Scan(&r.Reference, &r.Area, &r.State, &r.RequesterID, &r.ResponderID)
	if err = db.Check(err); errors.Is(err, db.ErrNotFound) {
		return "", errNotFound
	} else if err != nil {
		return "", err
	}
	w, err := s.who(ctx, actor, &r)
	if err != nil {
		return "", err
	}
	if len(w.Parties) == 0 {
		return "", errNotFound
	}
	return r.Reference, nil
}

func viewed(actor authorities.Actor, r *Request) audit.Event {
	return audit.Event{Event: audit.PersonalDataViewed, UserID: actor.UserID, Subject: "request:" + r.Reference}
}

// Input is what an action may carry.
type Input struct {
	Comment      string
	ResponderID  string            // forward, split
	Questions    []string          // split: the questions to forward
	HandlerID    string            // reallocate: a user of the responding authority
	ReplyBy      time.Time         // propose_date
	Answers      map[string]Answer // answer: question code → answer
	RatingTime   int               // close: 1–5, 0 for none
	RatingEffort int
	// IdempotencyKey, when set, makes a repeated action a no-op that
	// returns the request as it is.
	IdempotencyKey string

	attachment *Attachment // attach: the stored file (see Attach)
}

// once claims an idempotency key for scope inside tx (see workflow.Once).
func (s *Service) once(ctx context.Context, tx db.Querier, actor authorities.Actor, key, scope, result string) (string, error) {
	return workflow.Once(ctx, tx, actor.UserID, key, scope, result, s.clock())
}

// Answer is the answer to one question.
type Answer struct {
	Value string
	Text  string
}

// Act fires action on request id for the actor and returns the request as
// the actor sees it after. Invalid actions and invalid input change
// nothing.
func (s *Service) Act(ctx context.Context, actor authorities.Actor, id, action string, in Input) (*Request, error) {
	o, err := s.act(ctx, actor, id, action, in, true)
	if err != nil {
		return nil, err
	}
	return s.shownAfter(ctx, actor, o)
}

// shownAfter is the request as the actor sees it after the change o.
func (s *Service) shownAfter(ctx context.Context, actor authorities.Actor, o Outcome) (*Request, error) {
	done := &Request{ID: o.ID, Reference: o.Reference, Area: o.Area, State: o.State}
	if !o.TakingPart {
		return done, nil // forwarded elsewhere: done, and no longer the actor's to see
	}
	r, err := s.get(ctx, actor, o.ID, o.recorded)
	if p, ok := problem.As(err); ok && p.Kind == problem.NotFound {
		return done, nil
	}
	return r, err
}

// Outcome is what a change leaves its actor: the request's state, and
// whether the actor still takes part in it.
type Outcome struct {
	ID, Reference, Area, State string
	// TakingPart is false when the change took the request out of the
	// actor's sight (a responder forwarding it to another authority).
	TakingPart bool

	recorded bool // the actor's view of the result, recorded with the change
}

// Do fires action like Act, for a caller that does not show the request
// itself but goes on to its page (a form, redirected): the request is not
// read again, and no view is recorded for it; the page records the view
// it shows.
func (s *Service) Do(ctx context.Context, actor authorities.Actor, id, action string, in Input) (Outcome, error) {
	return s.act(ctx, actor, id, action, in, false)
}

// act is Act and Do. With shown, on SQLite, the actor's view of the
// request as the change leaves it is recorded in the change's
// transaction, if it shows personal data: the change's commit makes it
// durable, instead of one more commit for the answer that shows it. Only
// on SQLite: on PostgreSQL an audit record takes the log's lock (its hash
// chain) until the commit, which would queue every action of every server
// on it; there views.Record group-commits the view.
func (s *Service) act(ctx context.Context, actor authorities.Actor, id, action string, in Input, shown bool) (Outcome, error) {
	if len(in.Comment) > maxMessage {
		return Outcome{}, problem.Field("comment", "error_text_too_long", "Max", maxMessage)
	}
	if !text.Block(in.Comment) {
		return Outcome{}, problem.Field("comment", "error_text_invalid")
	}
	var o Outcome
	err := s.db.InTx(ctx, func(tx db.Querier) error {
		o = Outcome{} // a retried transaction starts again
		r, err := s.load(ctx, tx, id)
		if err != nil {
			return err
		}
		w, err := s.who(ctx, actor, r)
		if err != nil {
			return err
		}
		if earlier, err := s.once(ctx, tx, actor, in.IdempotencyKey, id+"/"+action, id); err != nil || earlier != "" {
			// Done before: the request as it is now.
			o = Outcome{ID: r.ID, Reference: r.Reference, Area: r.Area, State: r.State, TakingPart: len(w.Parties) > 0}
			return err
		}
		if len(w.Parties) == 0 {
			return errNotFound
		}
		now := s.clock()
		step := workflow.Step{Table: "requests", CaseID: id, State: r.State, Action: action, Who: w, Options: s.options(r), UserID: actor.UserID,
			Comment: in.Comment, At: now, NotPossible: "error_request_action", Changed: "error_request_changed"}
		if actor.Authority != nil {
			step.AuthorityID = actor.Authority.ID
		}
		c := &change{s: s, tx: tx, r: r, now: now, in: in, actor: actor}
		e, err := s.machine.Fire(ctx, tx, step, func(name string, e *workflow.Event) error {
			c.event, c.to = e, e.To
			return c.apply(ctx, name)
		})
		if err != nil {
			return err
		}
		c.event, c.to = e, e.To
		// Fire wrote the request's row (one row, or a conflict) and split
		// inserted its parts: they are this transaction's until the commit.
		if err := stats.ProjectHeld(ctx, tx, s.areas, append([]string{id}, c.parts...)...); err != nil {
			return err
		}
		if err := c.notify(ctx); err != nil {
			return err
		}
		// What the actor is in the request as the change leaves it: its
		// effects changed the request in r too (the responder, for one).
		r.State = e.To
		after, err := s.who(ctx, actor, r)
		if err != nil {
			return err
		}
		o = Outcome{ID: r.ID, Reference: r.Reference, Area: r.Area, State: r.State, TakingPart: len(after.Parties) > 0}
		if shown && s.db.Dialect() == db.SQLite && seesPersonal(r, after) {
			o.recorded = true
			return audit.Record(ctx, tx, db.SQLite, now, viewed(actor, r))
		}
		return nil
	})
	if errors.Is(err, db.ErrConflict) {
		return Outcome{}, problem.New(problem.Conflict, "error_request_changed")
	}
	if err != nil {
		return Outcome{}, err
	}
	return o, nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Parts are the parts of a request that Copy takes over.
type Parts struct {
	Questions, Subject, Responder, Message bool
}

// Copy starts a new draft from chosen parts of a request the actor's
// authority sent (or wrote): same area and question set, and as chosen
// its questions, subject, responder and message.
func (s *Service) Copy(ctx context.Context, actor authorities.Actor, id string, parts Parts) (*Request, error) {
	draft, err := s.CopyDraft(ctx, actor, id, parts)
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, actor, draft)
}

// CopyDraft is Copy for a caller that goes on to the new draft's page (a
// form, redirected), which reads it: it returns the draft's id. Reading
// the request copied is a view of it, recorded.
func (s *Service) CopyDraft(ctx context.Context, actor authorities.Actor, id string, parts Parts) (string, error) {
	r, err := s.Get(ctx, actor, id)
	if err != nil {
		return "", err
	}
	if !slices.Contains(r.Parties, workflow.Requester) || !r.PersonalShown && (parts.Subject || parts.Message) {
		return "", errNotFound
	}
	d := DraftInput{Area: r.Area, QuestionSet: r.QuestionSet}
	if parts.Questions {
		for _, q := range r.Questions {
			d.Questions = append(d.Questions, q.Code)
		}
	}
	if parts.Subject {
		d.Subject = r.Subject
	}
	if parts.Responder {
		d.ResponderID = r.ResponderID
	}
	if parts.Message {
		d.Message = r.Message
	}
	return s.CreateDraft(ctx, actor, d)
}

// Person is a user as request pages name them.
type Person struct {
	ID, Name string
}

// Handlers lists who may handle a request for its responder, for the
// responder's users who may take it over now (reallocate: its allocators,
// while it is open); nobody for the other parties.
func (s *Service) Handlers(ctx context.Context, actor authorities.Actor, id string) ([]Person, error) {
	r, w, err := s.takingPart(ctx, s.db.Read(), actor, id)
	if err != nil {
		return nil, err
	}
	if _, _, err := s.machine.Next(r.State, reallocate, w, s.options(r)); err != nil {
		return nil, nil // not theirs to reallocate now
	}
	return s.handlers(ctx, r)
}

// HandlersOf is Handlers for a request Get has just returned to the same
// actor (its access checked, its actions set): a request's page need not
// read the request and check again (7% of the processor time of the
// answer journey at 1m on SQLite, bench/load). The actor must also be of
// the responding authority.
func (s *Service) HandlersOf(ctx context.Context, actor authorities.Actor, r *Request) ([]Person, error) {
	if actor.Authority == nil || actor.Authority.ID != r.ResponderID || !slices.Contains(r.Actions, reallocate) {
		return nil, nil
	}
	return s.handlers(ctx, r)
}

// reallocate is the action that hands a request to another handler.
const reallocate = "reallocate"

func (s *Service) handlers(ctx context.Context, r *Request) ([]Person, error) {
	rows, err := s.db.Read().QueryContext(ctx, `SELECT DISTINCT u.id, u.name FROM users u JOIN user_roles ur ON ur.user_id = u.id
		WHERE u.authority_id = $1 AND u.active AND ur.role IN ('request_handler', 'allocator') AND (ur.area = '' OR ur.area = $2) ORDER BY u.name`, r.ResponderID, r.Area)
	if err != nil {
		return nil, db.Check(err)
	}
	defer rows.Close()
	var out []Person
	for rows.Next() {
		var p Person
		if err := rows.Scan(&p.ID, &p.Name); err != nil {
			return nil, db.Check(err)
		}
		out = append(out, p)
	}
	return out, db.Check(rows.Err())
}
