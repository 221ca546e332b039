package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/broadcasts"
	"github.com/openimi/openimi/internal/problem"
)

// Alerts are served at /api/v1/alerts and notifications of measures at
// /api/v1/measures ("notifications" are the users' in-app messages).
func kindOf(r *http.Request) string {
	if strings.HasPrefix(r.URL.Path, "/api/v1/measures") {
		return broadcasts.Notification
	}
	return broadcasts.Alert
}

// CaseJSON is an alert or notification as the caller may see it.
type CaseJSON struct {
	ID             string            `json:"id"`
	Reference      string            `json:"reference"`
	Kind           string            `json:"kind"`
	Area           string            `json:"area"`
	Type           string            `json:"type"`
	State          string            `json:"state"`
	SenderID       string            `json:"sender_id"`
	Title          string            `json:"title"`
	Criteria       []string          `json:"criteria"`
	AllCountries   bool              `json:"all_countries"`
	Countries      []string          `json:"countries"`
	SentAt         *time.Time        `json:"sent_at,omitempty"`
	CommentUntil   *time.Time        `json:"comment_until,omitempty"`
	ClosedAt       *time.Time        `json:"closed_at,omitempty"`
	Deadline       *time.Time        `json:"send_by,omitempty"`
	Late           bool              `json:"late"`
	LastActivityAt time.Time         `json:"last_activity_at"`
	PersonalData   bool              `json:"personal_data_shown"`
	Fields         map[string]string `json:"fields,omitempty"`
	Message        string            `json:"message,omitempty"`
	Receipts       []ReceiptJSON     `json:"receipts"`
	Recipients     []RecipientJSON   `json:"recipients"`
	Parties        []string          `json:"parties"`
	Actions        []string          `json:"actions"`
	ToDo           bool              `json:"to_do"`
}

// ReceiptJSON is a case's arrival in a country.
type ReceiptJSON struct {
	Country        string     `json:"country"`
	ReceivedAt     time.Time  `json:"received_at"`
	DisseminatedAt *time.Time `json:"disseminated_at,omitempty"`
}

// RecipientJSON is an authority a case was disseminated to.
type RecipientJSON struct {
	AuthorityID    string     `json:"authority_id"`
	Country        string     `json:"country"`
	DisseminatedAt time.Time  `json:"disseminated_at"`
	AcknowledgedAt *time.Time `json:"acknowledged_at,omitempty"`
}

func nonNil(list []string) []string {
	if list == nil {
		return []string{}
	}
	return list
}

// CaseToJSON is c as the API writes it.
func CaseToJSON(c *broadcasts.Case) CaseJSON {
	j := CaseJSON{ID: c.ID, Reference: c.Reference, Kind: c.Kind, Area: c.Area, Type: c.Type, State: c.State, SenderID: c.SenderID, Title: c.Title,
		Criteria: nonNil(c.Criteria), AllCountries: c.AllCountries, Countries: nonNil(c.Countries), SentAt: c.SentAt, CommentUntil: c.CommentUntil,
		ClosedAt: c.ClosedAt, Deadline: c.Deadline, Late: c.Late(time.Now()), LastActivityAt: c.LastActivityAt, PersonalData: c.PersonalShown,
		Fields: c.Fields, Message: c.Message, Parties: nonNil(c.Parties), Actions: nonNil(c.Actions), ToDo: c.ToDo,
		Receipts: []ReceiptJSON{}, Recipients: []RecipientJSON{}}
	for _, r := range c.Receipts {
		j.Receipts = append(j.Receipts, ReceiptJSON{Country: r.Country, ReceivedAt: r.ReceivedAt, DisseminatedAt: r.DisseminatedAt})
	}
	for _, r := range c.Recipients {
		j.Recipients = append(j.Recipients, RecipientJSON{AuthorityID: r.AuthorityID, Country: r.Country, DisseminatedAt: r.DisseminatedAt, AcknowledgedAt: r.AcknowledgedAt})
	}
	return j
}

// CaseInput is the body that creates or rewrites a draft.
type CaseInput struct {
	Area         string            `json:"area"`
	Type         string            `json:"type"`
	Title        string            `json:"title"`
	Fields       map[string]string `json:"fields"`
	Message      string            `json:"message"`
	Criteria     []string          `json:"criteria"`
	AllCountries bool              `json:"all_countries"`
	Countries    []string          `json:"countries"`
}

func readCase(r *http.Request) (broadcasts.DraftInput, error) {
	var in CaseInput
	if err := decode(r, &in); err != nil {
		return broadcasts.DraftInput{}, err
	}
	if in.Fields == nil {
		in.Fields = map[string]string{}
	}
	return broadcasts.DraftInput{Kind: kindOf(r), Area: in.Area, Type: in.Type, Title: in.Title, Fields: in.Fields, Message: in.Message,
		Criteria: in.Criteria, AllCountries: in.AllCountries, Countries: in.Countries, IdempotencyKey: r.Header.Get("Idempotency-Key")}, nil
}

// getCase reads a case of the path's kind.
func (a *API) getCase(r *http.Request, actor authorities.Actor) (*broadcasts.Case, error) {
	c, err := a.broadcasts.Get(r.Context(), actor, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if c.Kind != kindOf(r) {
		return nil, problem.New(problem.NotFound, "error_not_found")
	}
	return c, nil
}

func (a *API) createCase(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	d, err := readCase(r)
	if err != nil {
		return err
	}
	c, err := a.broadcasts.Create(r.Context(), actor, d)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1"+broadcasts.Path(c.Kind)+"/"+c.ID)
	writeJSON(w, http.StatusCreated, "", CaseToJSON(c))
	return nil
}

func (a *API) updateCase(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	if _, err := a.getCase(r, actor); err != nil {
		return err
	}
	d, err := readCase(r)
	if err != nil {
		return err
	}
	c, err := a.broadcasts.UpdateDraft(r.Context(), actor, r.PathValue("id"), d)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, "", CaseToJSON(c))
	return nil
}

func (a *API) readCase(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	c, err := a.getCase(r, actor)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, "", CaseToJSON(c))
	return nil
}

// listCases is the inbox: ?box=to_do|sent|received.
func (a *API) listCases(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	q := r.URL.Query()
	page, perPage, err := paging(q.Get("page"), q.Get("per_page"))
	if err != nil {
		return err
	}
	box := q.Get("box")
	if box == "" {
		box = broadcasts.ToDo
	}
	list, total, err := a.broadcasts.Inbox(r.Context(), actor, kindOf(r), box, broadcasts.Filter{Area: q.Get("area"), State: q.Get("state"), Text: q.Get("q"),
		Page: page, PerPage: perPage})
	if err != nil {
		return err
	}
	items := make([]CaseJSON, 0, len(list))
	for _, c := range list {
		items = append(items, CaseToJSON(c))
	}
	writeJSON(w, http.StatusOK, "", map[string]any{"items": items, "total": total, "page": page, "per_page": perPage})
	return nil
}

// CaseEvent is one event of a case's timeline.
type CaseEvent struct {
	At        time.Time `json:"at"`
	Action    string    `json:"action"`
	Party     string    `json:"party,omitempty"`
	Authority string    `json:"authority,omitempty"`
	Country   string    `json:"country,omitempty"`
	Comment   string    `json:"comment,omitempty"`
	Fields    []string  `json:"fields,omitempty"`
	Count     int       `json:"authorities,omitempty"`
}

func (a *API) caseTimeline(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	if _, err := a.getCase(r, actor); err != nil {
		return err
	}
	list, err := a.broadcasts.Timeline(r.Context(), actor, r.PathValue("id"))
	if err != nil {
		return err
	}
	out := make([]CaseEvent, 0, len(list))
	for _, e := range list {
		out = append(out, CaseEvent{At: e.At, Action: e.Action, Party: e.Party, Authority: e.Authority, Country: e.Country, Comment: e.Comment, Fields: e.Fields, Count: e.Count})
	}
	writeJSON(w, http.StatusOK, "", map[string]any{"items": out})
	return nil
}

// CaseActionInput is the body of an action; each action reads what it needs.
type CaseActionInput struct {
	Comment     string            `json:"comment"`
	Authorities []string          `json:"authorities"`
	Title       string            `json:"title"`
	Fields      map[string]string `json:"fields"`
	Message     string            `json:"message"`
}

func (a *API) caseAction(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	if _, err := a.getCase(r, actor); err != nil {
		return err
	}
	var in CaseActionInput
	if r.ContentLength != 0 {
		if err := decode(r, &in); err != nil {
			return err
		}
	}
	c, err := a.broadcasts.Act(r.Context(), actor, r.PathValue("id"), r.PathValue("action"), broadcasts.Input{Comment: in.Comment, Authorities: in.Authorities,
		Title: in.Title, Fields: in.Fields, Message: in.Message, IdempotencyKey: r.Header.Get("Idempotency-Key")})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, "", CaseToJSON(c))
	return nil
}

// caseCandidates lists the authorities a receiving coordinator may
// disseminate a case to (?q= narrows them).
func (a *API) caseCandidates(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	if _, err := a.getCase(r, actor); err != nil {
		return err
	}
	list, err := a.broadcasts.Candidates(r.Context(), actor, r.PathValue("id"), r.URL.Query().Get("q"))
	if err != nil {
		return err
	}
	type candidate struct {
		ID      string `json:"id"`
		Name    string `json:"name"`
		Country string `json:"country"`
	}
	out := make([]candidate, 0, len(list))
	for _, x := range list {
		out = append(out, candidate{ID: x.ID, Name: x.Name, Country: x.Country})
	}
	writeJSON(w, http.StatusOK, "", map[string]any{"items": out})
	return nil
}

// caseStatistics counts what each country sent and received, for
// coordinators and the Commission.
func (a *API) caseStatistics(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	stats, err := a.broadcasts.Statistics(r.Context(), actor)
	if err != nil {
		return err
	}
	type line struct {
		Kind           string   `json:"kind"`
		Area           string   `json:"area"`
		Country        string   `json:"country"`
		Sent           int      `json:"sent"`
		Received       int      `json:"received"`
		Disseminated   int      `json:"disseminated"`
		Disseminations int      `json:"disseminations"`
		Acknowledged   int      `json:"acknowledged"`
		MedianAckHours *float64 `json:"median_acknowledgement_hours,omitempty"`
	}
	out := make([]line, 0, len(stats))
	kind := kindOf(r)
	for _, s := range stats {
		if s.Kind != kind {
			continue
		}
		l := line{Kind: s.Kind, Area: s.Area, Country: s.Country, Sent: s.Sent, Received: s.Received, Disseminated: s.Disseminated,
			Disseminations: s.Disseminations, Acknowledged: s.Acknowledged}
		if s.MedianAckHours >= 0 {
			h := s.MedianAckHours
			l.MedianAckHours = &h
		}
		out = append(out, l)
	}
	writeJSON(w, http.StatusOK, "", map[string]any{"items": out})
	return nil
}
