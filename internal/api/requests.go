package api

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/countries"
	"github.com/openimi/openimi/internal/problem"
	"github.com/openimi/openimi/internal/requests"
	"github.com/openimi/openimi/internal/scan"
)

// RequestJSON is an information request as the caller may see it:
// subject, message and free-text answers only for the two parties.
type RequestJSON struct {
	ID              string            `json:"id"`
	Reference       string            `json:"reference"`
	Area            string            `json:"area"`
	QuestionSet     string            `json:"question_set"`
	State           string            `json:"state"`
	RequesterID     string            `json:"requester_id"`
	ResponderID     string            `json:"responder_id,omitempty"`
	HandlerID       string            `json:"handler_id,omitempty"`
	ParentID        string            `json:"parent_id,omitempty"`
	ReplyBy         string            `json:"reply_by"`
	ProposedReplyBy string            `json:"proposed_reply_by,omitempty"`
	SentAt          *time.Time        `json:"sent_at,omitempty"`
	AcceptedAt      *time.Time        `json:"accepted_at,omitempty"`
	AnsweredAt      *time.Time        `json:"answered_at,omitempty"`
	ClosedAt        *time.Time        `json:"closed_at,omitempty"`
	StoppedSeconds  int64             `json:"stopped_seconds"`
	Overdue         bool              `json:"overdue"`
	LastActivityAt  time.Time         `json:"last_activity_at"`
	Questions       []QuestionJSON    `json:"questions"`
	PersonalData    bool              `json:"personal_data_shown"`
	SubjectName     string            `json:"subject_name,omitempty"`
	Subject         map[string]string `json:"subject,omitempty"`
	Message         string            `json:"message,omitempty"`
	Attachments     []AttachmentJSON  `json:"attachments"`
	Parties         []string          `json:"parties"`
	Actions         []string          `json:"actions"`
}

// QuestionJSON is one question and its answer.
type QuestionJSON struct {
	Code       string `json:"code"`
	Answer     string `json:"answer,omitempty"`
	AnswerText string `json:"answer_text,omitempty"`
}

// RequestToJSON is r as the API writes it.
func RequestToJSON(r *requests.Request) RequestJSON {
	j := RequestJSON{ID: r.ID, Reference: r.Reference, Area: r.Area, QuestionSet: r.QuestionSet, State: r.State, RequesterID: r.RequesterID,
		ResponderID: r.ResponderID, HandlerID: r.HandlerID, ParentID: r.ParentID, SentAt: r.SentAt, AcceptedAt: r.AcceptedAt, AnsweredAt: r.AnsweredAt, ClosedAt: r.ClosedAt,
		StoppedSeconds: r.StoppedSeconds, Overdue: r.Overdue(time.Now()), LastActivityAt: r.LastActivityAt, PersonalData: r.PersonalShown,
		SubjectName: r.SubjectName, Subject: r.Subject, Message: r.Message, Parties: r.Parties, Actions: r.Actions, Questions: []QuestionJSON{}}
	if !r.ReplyBy.IsZero() {
		j.ReplyBy = r.ReplyBy.Format(time.DateOnly)
	}
	if r.ProposedReplyBy != nil {
		j.ProposedReplyBy = r.ProposedReplyBy.Format(time.DateOnly)
	}
	for _, q := range r.Questions {
		j.Questions = append(j.Questions, QuestionJSON{Code: q.Code, Answer: q.Answer, AnswerText: q.AnswerText})
	}
	j.Attachments = []AttachmentJSON{}
	for _, at := range r.Attachments {
		j.Attachments = append(j.Attachments, AttachmentJSON{ID: at.ID, Name: at.Name, ContentType: at.ContentType, Size: at.Size, SHA256: at.SHA256, CreatedAt: at.CreatedAt})
	}
	if j.Parties == nil {
		j.Parties = []string{}
	}
	if j.Actions == nil {
		j.Actions = []string{}
	}
	return j
}

// RequestInput is the body that creates or rewrites a draft.
type RequestInput struct {
	Area        string            `json:"area"`
	QuestionSet string            `json:"question_set"`
	Questions   []string          `json:"questions"`
	ResponderID string            `json:"responder_id"`
	ReplyBy     string            `json:"reply_by"` // YYYY-MM-DD, empty for the area's default
	Subject     map[string]string `json:"subject"`
	Message     string            `json:"message"`
}

func (in RequestInput) draft(r *http.Request) (requests.DraftInput, error) {
	d := requests.DraftInput{Area: in.Area, QuestionSet: in.QuestionSet, Questions: in.Questions, ResponderID: in.ResponderID,
		Subject: in.Subject, Message: in.Message, IdempotencyKey: r.Header.Get("Idempotency-Key")}
	if in.ReplyBy != "" {
		t, err := time.Parse(time.DateOnly, in.ReplyBy)
		if err != nil {
			return d, problem.Field("reply_by", "error_date_invalid")
		}
		d.ReplyBy = t
	}
	return d, nil
}

// readDraft reads a draft from the request's body.
func readDraft(r *http.Request) (requests.DraftInput, error) {
	var in RequestInput
	if err := decode(r, &in); err != nil {
		return requests.DraftInput{}, err
	}
	return in.draft(r)
}

func (a *API) createRequest(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	d, err := readDraft(r)
	if err != nil {
		return err
	}
	x, err := a.requests.Create(r.Context(), actor, d)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/requests/"+x.ID)
	writeJSON(w, http.StatusCreated, "", RequestToJSON(x))
	return nil
}

func (a *API) updateRequest(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	d, err := readDraft(r)
	if err != nil {
		return err
	}
	x, err := a.requests.UpdateDraft(r.Context(), actor, r.PathValue("id"), d)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, "", RequestToJSON(x))
	return nil
}

func (a *API) getRequest(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	x, err := a.requests.Get(r.Context(), actor, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, "", RequestToJSON(x))
	return nil
}

// listRequests is the inbox: ?box=todo|received|sent|drafts|closed.
func (a *API) listRequests(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	q := r.URL.Query()
	page, perPage, err := paging(q.Get("page"), q.Get("per_page"))
	if err != nil {
		return err
	}
	box := q.Get("box")
	if box == "" {
		box = requests.ToDo
	}
	country := ""
	if c := q.Get("country"); c != "" {
		if country = countries.Normalize(c); country == "" {
			return problem.Field("country", "error_country_unknown")
		}
	}
	list, total, counts, err := a.requests.InboxWithCounts(r.Context(), actor, box, requests.Filter{Area: q.Get("area"), State: q.Get("state"), Country: country,
		Overdue: q.Get("overdue") == "true", Text: q.Get("q"), Page: page, PerPage: perPage})
	if err != nil {
		return err
	}
	items := make([]RequestJSON, 0, len(list))
	for _, x := range list {
		items = append(items, RequestToJSON(x))
	}
	writeJSON(w, http.StatusOK, "", map[string]any{"items": items, "total": total, "counts": counts, "page": page, "per_page": perPage})
	return nil
}

// TimelineEntry is one event of a request's history.
type TimelineEntry struct {
	At          time.Time         `json:"at"`
	Action      string            `json:"action"`
	From        string            `json:"from"`
	To          string            `json:"to"`
	Party       string            `json:"party,omitempty"`
	AuthorityID string            `json:"authority_id,omitempty"`
	Authority   string            `json:"authority,omitempty"`
	Comment     string            `json:"comment,omitempty"`
	Data        map[string]string `json:"data,omitempty"`
}

func (a *API) requestTimeline(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	list, err := a.requests.Timeline(r.Context(), actor, r.PathValue("id"))
	if err != nil {
		return err
	}
	out := make([]TimelineEntry, 0, len(list))
	for _, e := range list {
		out = append(out, timelineJSON(e))
	}
	writeJSON(w, http.StatusOK, "", map[string]any{"items": out})
	return nil
}

// Handler is a user of the responding authority who may handle a request.
type Handler struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// requestHandlers lists who may take a request over (reallocate's
// handler_id), for those who may reallocate it now (its responder's
// allocators, while it is open); an empty list for the other parties, as on
// the request's page.
func (a *API) requestHandlers(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	list, err := a.requests.Handlers(r.Context(), actor, r.PathValue("id"))
	if err != nil {
		return err
	}
	out := make([]Handler, 0, len(list))
	for _, p := range list {
		out = append(out, Handler{ID: p.ID, Name: p.Name})
	}
	writeJSON(w, http.StatusOK, "", map[string]any{"items": out})
	return nil
}

// ActionInput is the body of an action; each action reads what it needs.
type ActionInput struct {
	Comment      string                 `json:"comment"`
	ResponderID  string                 `json:"responder_id"`
	Questions    []string               `json:"questions"`
	HandlerID    string                 `json:"handler_id"`
	ReplyBy      string                 `json:"reply_by"`
	Answers      map[string]AnswerInput `json:"answers"`
	RatingTime   int                    `json:"rating_time"`
	RatingEffort int                    `json:"rating_effort"`
}

// AnswerInput answers one question.
type AnswerInput struct {
	Value string `json:"value"`
	Text  string `json:"text"`
}

func (a *API) requestAction(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	var in ActionInput
	if r.ContentLength != 0 {
		if err := decode(r, &in); err != nil {
			return err
		}
	}
	act := requests.Input{Comment: in.Comment, ResponderID: in.ResponderID, Questions: in.Questions, HandlerID: in.HandlerID, RatingTime: in.RatingTime, RatingEffort: in.RatingEffort,
		IdempotencyKey: r.Header.Get("Idempotency-Key")}
	if in.ReplyBy != "" {
		t, err := time.Parse(time.DateOnly, in.ReplyBy)
		if err != nil {
			return problem.Field("reply_by", "error_date_invalid")
		}
		act.ReplyBy = t
	}
	if len(in.Answers) > 0 {
		act.Answers = map[string]requests.Answer{}
		for code, ans := range in.Answers {
			act.Answers[code] = requests.Answer{Value: ans.Value, Text: ans.Text}
		}
	}
	x, err := a.requests.Act(r.Context(), actor, r.PathValue("id"), r.PathValue("action"), act)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, "", RequestToJSON(x))
	return nil
}

// paging reads page and per_page (default 20, at most 100).
func paging(page, perPage string) (int, int, error) {
	p, pp := 1, 20
	var err error
	if page != "" {
		if p, err = strconv.Atoi(page); err != nil || p < 1 {
			return 0, 0, problem.Field("page", "error_page_invalid")
		}
	}
	if perPage != "" {
		if pp, err = strconv.Atoi(perPage); err != nil || pp < 1 || pp > 100 {
			return 0, 0, problem.Field("per_page", "error_page_invalid")
		}
	}
	return p, pp, nil
}

// CopyInput chooses the parts of a request that a copy takes over.
type CopyInput struct {
	Questions bool `json:"questions"`
	Subject   bool `json:"subject"`
	Responder bool `json:"responder"`
	Message   bool `json:"message"`
}

func (a *API) copyRequest(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	var in CopyInput
	if err := decode(r, &in); err != nil {
		return err
	}
	x, err := a.requests.Copy(r.Context(), actor, r.PathValue("id"), requests.Parts{Questions: in.Questions, Subject: in.Subject, Responder: in.Responder, Message: in.Message})
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/requests/"+x.ID)
	writeJSON(w, http.StatusCreated, "", RequestToJSON(x))
	return nil
}

// followUp lists the stalled requests a coordinator follows.
func (a *API) followUp(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	reason := r.URL.Query().Get("reason")
	if reason != "" && !slices.Contains(requests.Reasons, reason) {
		return problem.Field("reason", "error_follow_up_reason")
	}
	page, perPage, err := paging(r.URL.Query().Get("page"), r.URL.Query().Get("per_page"))
	if err != nil {
		return err
	}
	list, err := a.requests.FollowUp(r.Context(), actor, reason, page, perPage)
	if err != nil {
		return err
	}
	type item struct {
		Reason  string      `json:"reason"`
		Request RequestJSON `json:"request"`
	}
	items := make([]item, 0, len(list.Items))
	for _, it := range list.Items {
		items = append(items, item{Reason: it.Reason, Request: RequestToJSON(it.Request)})
	}
	writeJSON(w, http.StatusOK, "", map[string]any{"items": items, "total": list.Total, "counts": list.Counts, "page": page, "per_page": perPage})
	return nil
}

// subjectData answers a data subject's request (local data administrators).
func (a *API) subjectData(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	list, err := a.requests.SubjectData(r.Context(), actor, r.URL.Query().Get("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, "", SubjectToJSON(list))
	return nil
}

// SubjectRecordJSON is one exchange about a data subject, with its history.
type SubjectRecordJSON struct {
	Request  RequestJSON     `json:"request"`
	Timeline []TimelineEntry `json:"timeline"`
}

// SubjectToJSON is a data subject's exchanges as the API writes them.
func SubjectToJSON(list []requests.SubjectRecord) map[string]any {
	out := make([]SubjectRecordJSON, 0, len(list))
	for _, rec := range list {
		j := SubjectRecordJSON{Request: RequestToJSON(rec.Request), Timeline: []TimelineEntry{}}
		for _, e := range rec.Timeline {
			j.Timeline = append(j.Timeline, timelineJSON(e))
		}
		out = append(out, j)
	}
	return map[string]any{"items": out}
}

func timelineJSON(e requests.Entry) TimelineEntry {
	return TimelineEntry{At: e.At, Action: e.Action, From: e.From, To: e.To, Party: e.Party, AuthorityID: e.AuthorityID,
		Authority: e.Authority, Comment: e.Comment, Data: e.Data}
}

// handleUpload is handle for a file body: up to the attachment limit, and
// a larger declared body refused before it is read.
func (a *API) handleUpload(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := a.requests.MaxAttachment()
		if r.ContentLength > limit {
			w.Header().Set("Connection", "close")
			a.fail(w, r, nil, problem.New(problem.TooLarge, "error_attachment_too_large", "Max", limit>>20))
			return
		}
		a.handleLimit(h, limit).ServeHTTP(w, r)
	})
}

// handleImport is handle for an import file: up to maxImportBytes, and a
// larger declared body refused before it is read.
func (a *API) handleImport(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > maxImportBytes {
			w.Header().Set("Connection", "close")
			a.fail(w, r, nil, problem.New(problem.TooLarge, "error_too_large"))
			return
		}
		a.handleLimit(h, maxImportBytes).ServeHTTP(w, r)
	})
}

// limitedBody notes whether reading a body ran past its limit
// (http.MaxBytesReader), so that a parser's own error about the cut file
// ("unreadable", "syntax") gives way to "too large".
type limitedBody struct {
	io.Reader
	over bool
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.Reader.Read(p)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		b.over = true
	}
	return n, err
}

var errImportTooLarge = problem.New(problem.TooLarge, "error_too_large")

// attachFile adds the body, a file named by ?name=, to a request; a
// repeated upload with the same Idempotency-Key attaches nothing more.
func (a *API) attachFile(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	x, err := a.requests.Attach(r.Context(), actor, r.PathValue("id"), requests.Upload{Name: r.URL.Query().Get("name"), Body: r.Body,
		IdempotencyKey: r.Header.Get("Idempotency-Key")}, r.URL.Query().Get("comment"))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return problem.New(problem.TooLarge, "error_attachment_too_large", "Max", a.requests.MaxAttachment()>>20)
	}
	if errors.Is(err, scan.ErrUnavailable) {
		// Refused (fail closed) until the scanner answers again.
		a.log.Warn("virus scanner unavailable: upload refused", "path", r.URL.Path, "err", err)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, "", RequestToJSON(x))
	return nil
}

func (a *API) downloadAttachment(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	att, body, err := a.requests.OpenAttachment(r.Context(), actor, r.PathValue("id"), r.PathValue("attachment"))
	if err != nil {
		return err
	}
	defer body.Close()
	ServeAttachment(w, att, body)
	return nil
}

// ServeAttachment writes a request's file as a download, never to be
// shown or run by a browser (the web UI serves files the same way).
func ServeAttachment(w http.ResponseWriter, a *requests.Attachment, body io.Reader) {
	w.Header().Set("Content-Type", requests.ServedType(a.ContentType))
	disposition := mime.FormatMediaType("attachment", map[string]string{"filename": a.Name})
	if disposition == "" {
		disposition = "attachment"
	}
	w.Header().Set("Content-Disposition", disposition)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	// Should a browser still open the file (a plug-in, a bug), it runs
	// nothing, loads nothing and cannot be framed.
	w.Header().Set("Content-Security-Policy", "sandbox; default-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.FormatInt(a.Size, 10))
	_, _ = io.Copy(w, body)
}

// AttachmentJSON is a file attached to a request.
type AttachmentJSON struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	CreatedAt   time.Time `json:"created_at"`
}
