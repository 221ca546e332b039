package web

import (
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/openimi/openimi/internal/api"
	"github.com/openimi/openimi/internal/areas"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/countries"
	"github.com/openimi/openimi/internal/i18n"
	"github.com/openimi/openimi/internal/problem"
	"github.com/openimi/openimi/internal/requests"
	"github.com/openimi/openimi/internal/scan"
)

// requestRow is a request in the inbox.
// Its fields are its own, not an embedded request's: a template finds the
// field of an embedded struct by a search that allocates, and a list asks
// for five fields of each of its rows.
type requestRow struct {
	ID, Reference, SubjectName string
	ReplyBy                    string // the date, 2006-01-02
	AreaName                   string
	Other                      string // the other authority's name in the reader's language
	Overdue                    bool
	StateName                  string
	Reason                     string // why it is followed up (the follow-up list)
}

// newRequestRow is the row of x, as of now (overdue or not), in l's
// language.
func newRequestRow(x *requests.Request, now time.Time, l *i18n.Localizer) requestRow {
	return requestRow{ID: x.ID, Reference: x.Reference, SubjectName: x.SubjectName, ReplyBy: x.ReplyBy.Format(time.DateOnly),
		Overdue: x.Overdue(now), StateName: l.T("request_state_" + x.State)}
}

type inboxView struct {
	Box       string
	Tabs      []inboxTab
	Items     []requestRow
	Total     int
	Page      int
	Pages     int
	PrevURL   string
	NextURL   string
	Filter    url.Values
	Areas     []areaName
	States    template.HTML // the state filter's options (stateSelect)
	Countries template.HTML // the country filter's options (countrySelect)
	CanNew    bool
	// CanFollowUp: a coordinator, who has a follow-up list.
	CanFollowUp bool
	// CanSubjectData: a local data administrator, who answers data
	// subjects' requests.
	CanSubjectData bool
}

// inboxTab is the link to a box of the inbox, with its count.
type inboxTab struct {
	Box, Label, Count string
	Current           bool
}

// inboxTabs are the links to the inbox's boxes, box the one shown. Their
// names and counts are written here rather than looked up in the template,
// which calls each function (t, print, index, eq) through reflection.
func inboxTabs(l *i18n.Localizer, box string, counts map[string]int) []inboxTab {
	tabs := make([]inboxTab, 0, len(requests.Boxes))
	for _, b := range requests.Boxes {
		tabs = append(tabs, inboxTab{Box: b, Label: l.T("inbox_box_" + b), Count: strconv.Itoa(counts[b]), Current: b == box})
	}
	return tabs
}

// stateSelect returns the options of the inbox's state filter in loc's
// language, current chosen: kept for each language, like the countries'.
func (s *Server) stateSelect(loc *i18n.Localizer, current string) (template.HTML, error) {
	return s.selectOptions(loc, "request_state_options", current, func() any {
		out := make([]countryOption, 0, len(requests.States))
		for _, st := range requests.States {
			out = append(out, countryOption{Code: st, Name: loc.T("request_state_" + st)})
		}
		return out
	})
}

// inboxPage is the requests inbox: boxes, filters, a page of requests.
func (s *Server) inboxPage(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	q := r.URL.Query()
	box := q.Get("box")
	if box == "" {
		box = requests.ToDo
	}
	if !slices.Contains(requests.Boxes, box) {
		return problem.New(problem.NotFound, "error_not_found")
	}
	n, _ := strconv.Atoi(q.Get("page"))
	n = max(n, 1)
	lang := visitOf(r).lang.Lang()
	f := requests.Filter{Area: q.Get("area"), State: q.Get("state"), Country: countries.Normalize(q.Get("country")), Overdue: q.Get("overdue") == "on",
		Text: q.Get("q"), Page: n, PerPage: 20, Brief: true}
	list, total, counts, err := s.requests.InboxWithCounts(r.Context(), actor, box, f)
	v := inboxView{Box: box, Tabs: inboxTabs(visitOf(r).lang, box, counts), Total: total, Page: n, Pages: (total + 19) / 20, Filter: q,
		CanNew: actor.HasAny(authorities.RequestHandler), CanFollowUp: actor.HasAny(authorities.Coordinator),
		CanSubjectData: actor.HasAny(authorities.LocalDataAdministrator)}
	for _, p := range s.areas.Packs() {
		v.Areas = append(v.Areas, areaName{Code: p.Code, Name: p.In(lang).Name})
	}
	var optErr error
	if v.Countries, optErr = s.countrySelect(visitOf(r).lang, q.Get("country")); optErr != nil {
		return optErr
	}
	if v.States, optErr = s.stateSelect(visitOf(r).lang, q.Get("state")); optErr != nil {
		return optErr
	}
	if p, ok := problem.As(err); ok && p.Field != "" {
		return s.formError(w, r, "requests", page{TitleKey: "requests_title", Data: v}, err)
	}
	if err != nil {
		return err
	}
	now := s.now()
	for _, x := range list {
		row := newRequestRow(x, now, visitOf(r).lang)
		if p, err := s.areas.Pack(x.Area); err == nil {
			row.AreaName = p.In(lang).Name
		}
		other := x.Responder
		if actor.Authority != nil && x.ResponderID == actor.Authority.ID {
			other = x.Requester
		}
		if other != nil {
			row.Other = other.NameIn(lang) + " (" + countries.Name(other.Country, lang, "") + ")"
		}
		v.Items = append(v.Items, row)
	}
	v.PrevURL, v.NextURL = pager("/requests", q, n, v.Pages)
	s.render(w, r, http.StatusOK, "requests", page{TitleKey: "requests_title", Data: v})
	return nil
}

// requestFormView is the form that writes a draft: area and question set
// first, then the questions, the subject, the responder and the rest.
type requestFormView struct {
	Action    string // where the form posts
	Editing   bool   // a saved draft: its area stays
	Areas     []areaName
	Area      *areas.Localized
	Set       *areas.LocalizedQuestionSet
	Chosen    map[string]bool
	Found     []authorityOption // authorities found for the responder
	Searched  bool
	Responder *authorityOption
}

type authorityOption struct {
	ID, Name, Country string
}

// handledAreas are the areas the actor writes requests in.
func (s *Server) handledAreas(actor authorities.Actor, lang string) []areaName {
	var out []areaName
	for _, p := range s.areas.Packs() {
		if actor.Has(authorities.RequestHandler, p.Code) {
			out = append(out, areaName{Code: p.Code, Name: p.In(lang).Name})
		}
	}
	return out
}

func (s *Server) requestForm(r *http.Request, actor authorities.Actor, form url.Values) (requestFormView, error) {
	lang := visitOf(r).lang.Lang()
	v := requestFormView{Action: "/requests/new", Areas: s.handledAreas(actor, lang), Chosen: map[string]bool{}}
	if id := r.PathValue("id"); id != "" {
		v.Action, v.Editing = "/requests/"+id+"/edit", true
	}
	if len(v.Areas) == 0 {
		return v, problem.New(problem.Forbidden, "error_request_not_handler")
	}
	// Defaults save steps: the only area the user handles, the area's
	// first question set.
	code := form.Get("area")
	if code == "" && len(v.Areas) == 1 {
		code = v.Areas[0].Code
	}
	if code != "" {
		p, err := s.areas.Pack(code)
		if err != nil {
			return v, problem.Field("area", "error_request_area")
		}
		l := p.In(lang)
		v.Area = &l
		v.Set = l.QuestionSet(form.Get("question_set"))
		if v.Set == nil && form.Get("question_set") == "" && len(l.QuestionSets) > 0 {
			v.Set = &l.QuestionSets[0]
		}
	}
	for _, c := range form["questions"] {
		v.Chosen[c] = true
	}
	if id := form.Get("responder"); id != "" {
		if a, err := s.authorities.Get(r.Context(), id); err == nil {
			v.Responder = &authorityOption{ID: a.ID, Name: a.NameIn(lang), Country: countries.Name(a.Country, lang, "")}
		}
	}
	if text := strings.TrimSpace(form.Get("responder_q")); text != "" && v.Area != nil {
		v.Searched = true
		found, _, err := s.authorities.Search(r.Context(), authorities.Query{Text: text, Area: v.Area.Code, PerPage: 10})
		if err != nil {
			return v, err
		}
		for _, a := range found {
			if actor.Authority != nil && a.Country == actor.Authority.Country {
				continue // requests go abroad
			}
			v.Found = append(v.Found, authorityOption{ID: a.ID, Name: a.NameIn(lang), Country: countries.Name(a.Country, lang, "")})
		}
	}
	return v, nil
}

func (s *Server) newRequestPage(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	v, err := s.requestForm(r, actor, r.URL.Query())
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "request_form", page{TitleKey: "request_new_title", Form: r.URL.Query(), Data: v})
	return nil
}

// draftFrom reads a draft from the form.
func draftFrom(form url.Values, pack *areas.Localized) (requests.DraftInput, error) {
	d := requests.DraftInput{Area: form.Get("area"), QuestionSet: form.Get("question_set"), Questions: form["questions"],
		ResponderID: form.Get("responder"), Message: strings.TrimSpace(form.Get("message")), Subject: map[string]string{}}
	if pack != nil {
		for _, f := range pack.Subject {
			if v := strings.TrimSpace(form.Get("subject." + f.Code)); v != "" {
				d.Subject[f.Code] = v
			}
		}
	}
	if v := form.Get("reply_by"); v != "" {
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return d, problem.Field("reply_by", "error_date_invalid")
		}
		d.ReplyBy = t
	}
	return d, nil
}

func (s *Server) createRequest(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	v, err := s.requestForm(r, actor, r.PostForm)
	if err != nil {
		return s.formError(w, r, "request_form", page{TitleKey: "request_new_title", Data: v}, err)
	}
	if r.PostForm.Get("step") != "save" {
		// Continue (area chosen) or Find (responder search): the same
		// form again, with what was written kept.
		p := page{TitleKey: "request_new_title", Data: v}
		p.Form = r.PostForm
		s.render(w, r, http.StatusOK, "request_form", p)
		return nil
	}
	d, err := draftFrom(r.PostForm, v.Area)
	if err == nil {
		// The draft's page, redirected to, reads it and records the view.
		id := r.PathValue("id")
		if v.Editing {
			err = s.requests.SaveDraft(r.Context(), actor, id, d)
		} else {
			id, err = s.requests.CreateDraft(r.Context(), actor, d)
		}
		if err == nil {
			return s.redirectWithNotice(w, r, "/requests/"+id, "notice_request_saved")
		}
	}
	return s.formError(w, r, "request_form", page{TitleKey: "request_new_title", Data: v}, err)
}

// draftValues are a draft as the form's values.
func draftValues(x *requests.Request) url.Values {
	v := url.Values{"area": {x.Area}, "question_set": {x.QuestionSet}, "responder": {x.ResponderID}, "message": {x.Message},
		"reply_by": {x.ReplyBy.Format(time.DateOnly)}}
	for _, q := range x.Questions {
		v.Add("questions", q.Code)
	}
	for code, val := range x.Subject {
		v.Set("subject."+code, val)
	}
	return v
}

// editRequestPage shows a draft in the form that wrote it.
func (s *Server) editRequestPage(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	x, err := s.requests.Get(r.Context(), actor, r.PathValue("id"))
	if err != nil {
		return err
	}
	if x.State != requests.Draft || !slices.Contains(x.Parties, "requester") {
		return problem.New(problem.Conflict, "error_request_not_draft")
	}
	values := draftValues(x)
	v, err := s.requestForm(r, actor, values)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "request_form", page{TitleKey: "request_new_title", Heading: x.Reference, Form: values, Data: v})
	return nil
}

// requestView is a request as its page shows it. Like requestRow, it has
// the request's fields the page shows as its own.
type requestView struct {
	ID, State, ParentID, HandlerID string
	ReplyBy                        string // the date, 2006-01-02
	Blocked                        bool   // its personal data is blocked
	PersonalShown                  bool
	Message                        string
	Attachments                    []requests.Attachment
	AreaName                       string
	SetName                        string
	StateName                      string
	Requester                      authorityOption
	Responder                      *authorityOption
	Overdue                        bool
	Subject                        []subjectLine
	Questions                      []questionLine
	Timeline                       []timelineLine
	Actions                        []actionForm
	Proposed                       string
	Stopped                        bool
	Authorities                    []authorityOption // forward targets found
	CanCopy                        bool
	Handlers                       []requests.Person // reallocation
	CanAttach                      bool
	MaxMB                          int64
	Parent                         string // the reference of the request this one was split from
}

type subjectLine struct {
	Label, Value string
	Personal     bool
}

type questionLine struct {
	Code, Text, Answer, AnswerText string
	Personal                       bool
	answerInputs
}

// answerInputs are a question's inputs in the answer form, made here
// rather than chosen and named in the template: each function a template
// calls (eq, print, t) is a call through reflection, and a question's
// inputs were about 40 of them (bench: BenchmarkRender).
type answerInputs struct {
	Name, TextName string       // the fields of the answer and of its text
	ErrorKey       string       // the key of the answer's problem, and its fieldset's id after "f-"
	Choices        []choiceLine // radio buttons, or boxes if Multiple
	Multiple       bool
	Date, Number   bool // a date, or a number, as the answer's value
}

// choiceLine is one radio button or box of a question.
type choiceLine struct{ ID, Value, Label string }

// newAnswerInputs makes the inputs of question code, of type answerType
// (one of areas.AnswerTypes; a free text or a document has only the
// answer's text) with options for the choices.
func newAnswerInputs(l *i18n.Localizer, code, answerType string, options []areas.LocalizedTerm) answerInputs {
	in := answerInputs{Name: "answer." + code, TextName: "text." + code, ErrorKey: "answers." + code,
		Multiple: answerType == areas.MultipleChoice, Date: answerType == areas.Date, Number: answerType == areas.Number}
	choice := func(value, label string) {
		in.Choices = append(in.Choices, choiceLine{ID: "a-" + code + "-" + value, Value: value, Label: label})
	}
	switch answerType {
	case areas.YesNo, areas.YesNoUnknown:
		values := []string{"yes", "no"}
		if answerType == areas.YesNoUnknown {
			values = append(values, "unknown")
		}
		for _, v := range values {
			choice(v, answerLabel(l, nil, v))
		}
	case areas.SingleChoice, areas.MultipleChoice:
		for _, o := range options {
			choice(o.Code, o.Name)
		}
	}
	return in
}

type timelineLine struct {
	At, Event, Authority, Party, Comment string
}

// actionForm is one action the viewer may take, with what it asks for.
type actionForm struct {
	Name, Label     string
	Comment         bool // a comment: optional, or required if CommentRequired
	CommentRequired bool
	Responder       bool // forward, split
	Split           bool // split: questions to choose
	Search          bool // forward: a search for the responder, under the form
	Handler         bool // reallocate
	Date            bool // propose_date
	Answers         bool // answer
	Rating          bool // close
	Primary         bool
}

// newActionForm is the form of action name, labelled label, whose comment
// is "", "optional" or "required" (workflow.Action.Comment).
func newActionForm(name, label, comment string) actionForm {
	return actionForm{Name: name, Label: label, Comment: comment == "optional" || comment == "required", CommentRequired: comment == "required",
		Responder: name == "forward" || name == "split", Split: name == "split", Search: name == "forward",
		Handler: name == "reallocate", Date: name == "propose_date", Answers: name == "answer", Rating: name == "close",
		Primary: slices.Contains([]string{"send", "send_for_allocation", "submit", "approve", "approve_for_allocation", "allocate", "accept", "answer", "close", "provide_info"}, name)}
}

func (s *Server) requestPage(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	return s.showRequest(w, r, actor, http.StatusOK, page{})
}

func (s *Server) showRequest(w http.ResponseWriter, r *http.Request, actor authorities.Actor, code int, p page) error {
	x, tl, err := s.requests.Page(r.Context(), actor, r.PathValue("id"))
	if err != nil {
		return err
	}
	v, err := s.viewRequest(r, actor, x, tl)
	if err != nil {
		return err
	}
	p.TitleKey, p.Heading, p.Data = "requests_title", x.Reference, v
	s.render(w, r, code, "request", p)
	return nil
}

func (s *Server) viewRequest(r *http.Request, actor authorities.Actor, x *requests.Request, tl []requests.Entry) (requestView, error) {
	l := visitOf(r).lang
	lang := l.Lang()
	v := requestView{ID: x.ID, State: x.State, ParentID: x.ParentID, HandlerID: x.HandlerID, ReplyBy: x.ReplyBy.Format(time.DateOnly),
		Blocked: x.BlockedAt != nil, PersonalShown: x.PersonalShown, Message: x.Message, Attachments: x.Attachments,
		StateName: l.T("request_state_" + x.State), Overdue: x.Overdue(s.now()), Stopped: x.StoppedAt != nil}
	pack, err := s.areas.Pack(x.Area)
	if err != nil {
		return v, err
	}
	lp := pack.In(lang)
	v.AreaName = lp.Name
	if set := lp.QuestionSet(x.QuestionSet); set != nil {
		v.SetName = set.Name
	}
	if x.Requester != nil {
		v.Requester = authorityOption{ID: x.Requester.ID, Name: x.Requester.NameIn(lang), Country: countries.Name(x.Requester.Country, lang, "")}
	}
	if x.Responder != nil {
		v.Responder = &authorityOption{ID: x.Responder.ID, Name: x.Responder.NameIn(lang), Country: countries.Name(x.Responder.Country, lang, "")}
	}
	if x.ProposedReplyBy != nil {
		v.Proposed = x.ProposedReplyBy.Format(time.DateOnly)
	}
	if x.PersonalShown {
		for _, f := range lp.Subject {
			if val := x.Subject[f.Code]; val != "" {
				if f.Type == "term" {
					if voc := lp.Vocabulary(f.Vocabulary); voc != nil {
						val = termName(voc, val)
					}
				}
				v.Subject = append(v.Subject, subjectLine{Label: f.Label, Value: val, Personal: f.PersonalData})
			}
		}
	}
	answering := slices.Contains(x.Actions, "answer")
	for _, q := range x.Questions {
		lq := lp.Question(q.Code)
		if lq == nil {
			continue
		}
		text := lq.Display
		if x.PersonalShown {
			text = fillPlaceholders(lq.Text, x.Subject, lq.Display)
		}
		line := questionLine{Code: q.Code, Text: text, Personal: lq.PersonalData, AnswerText: q.AnswerText}
		if answering {
			line.answerInputs = newAnswerInputs(l, q.Code, lq.Answer, lq.Options)
		}
		if q.Answer != "" {
			parts := strings.Split(q.Answer, ",")
			for i, a := range parts {
				parts[i] = answerLabel(l, lq, a)
			}
			line.Answer = strings.Join(parts, ", ")
		}
		v.Questions = append(v.Questions, line)
	}
	for i := len(tl) - 1; i >= 0; i-- { // latest first
		e := tl[i]
		line := timelineLine{At: e.At.Format("2006-01-02 15:04"), Event: l.T("request_event_" + e.Action), Authority: e.Authority, Comment: e.Comment}
		if e.Party != "" {
			line.Party = l.T("party_" + e.Party)
		}
		v.Timeline = append(v.Timeline, line)
	}
	v.CanCopy = slices.Contains(x.Parties, "requester") && x.PersonalShown
	v.CanAttach, v.MaxMB = slices.Contains(x.Actions, "attach"), s.requests.MaxAttachment()>>20
	m := s.requests.Machine()
	for _, name := range x.Actions {
		if name == "attach" {
			continue // its own form, with a file
		}
		v.Actions = append(v.Actions, newActionForm(name, l.T("request_action_"+name), m.Actions[name].Comment))
	}
	if v.Handlers, err = s.requests.HandlersOf(r.Context(), actor, x); err != nil { // none unless the actor may reallocate
		return v, err
	}
	if x.ParentID != "" {
		if ref, err := s.requests.ReferenceOf(r.Context(), actor, x.ParentID); err == nil {
			v.Parent = ref
		}
	}
	if q := strings.TrimSpace(r.URL.Query().Get("responder_q")); q != "" && (slices.Contains(x.Actions, "forward") || slices.Contains(x.Actions, "split")) {
		found, _, err := s.authorities.Search(r.Context(), authorities.Query{Text: q, Area: x.Area, PerPage: 10})
		if err != nil {
			return v, err
		}
		for _, a := range found {
			if a.ID != x.ResponderID && x.Requester != nil && a.Country != x.Requester.Country {
				v.Authorities = append(v.Authorities, authorityOption{ID: a.ID, Name: a.NameIn(lang), Country: countries.Name(a.Country, lang, "")})
			}
		}
	}
	return v, nil
}

// termName is a vocabulary term's name, or its code.
func termName(v *areas.LocalizedVocabulary, code string) string {
	for _, g := range v.Groups {
		for _, t := range g.Terms {
			if t.Code == code {
				return t.Name
			}
		}
	}
	for _, t := range v.Terms {
		if t.Code == code {
			return t.Name
		}
	}
	return code
}

var fieldPattern = regexp.MustCompile(`\{[a-z][a-z0-9_]*\}`)

// fillPlaceholders writes the subject's values into a question's {field}
// placeholders; without a value, the question reads as displayed.
func fillPlaceholders(text string, subject map[string]string, display string) string {
	missing := false
	out := fieldPattern.ReplaceAllStringFunc(text, func(m string) string {
		if v := subject[m[1:len(m)-1]]; v != "" {
			return v
		}
		missing = true
		return m
	})
	if missing {
		return display
	}
	return out
}

// requestAction fires an action from the request page.
func (s *Server) requestAction(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	id := r.PathValue("id")
	in := requests.Input{Comment: r.PostForm.Get("comment"), ResponderID: r.PostForm.Get("responder"), Questions: r.PostForm["questions"],
		HandlerID: r.PostForm.Get("handler")}
	if v := r.PostForm.Get("reply_by"); v != "" {
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return s.showRequest(w, r, actor, http.StatusBadRequest, s.problemPage(r, problem.Field("reply_by", "error_date_invalid")))
		}
		in.ReplyBy = t
	}
	if r.PathValue("action") == "answer" {
		in.Answers = map[string]requests.Answer{}
		for k := range r.PostForm {
			if code, ok := strings.CutPrefix(k, "answer."); ok {
				in.Answers[code] = requests.Answer{Value: strings.Join(r.PostForm[k], ","), Text: r.PostForm.Get("text." + code)}
			}
		}
		for k := range r.PostForm {
			if code, ok := strings.CutPrefix(k, "text."); ok {
				if _, has := in.Answers[code]; !has {
					in.Answers[code] = requests.Answer{Text: r.PostForm.Get(k)}
				}
			}
		}
	}
	in.RatingTime, _ = strconv.Atoi(r.PostForm.Get("rating_time"))
	in.RatingEffort, _ = strconv.Atoi(r.PostForm.Get("rating_effort"))
	// The request's page, redirected to, reads it and records the view.
	o, err := s.requests.Do(r.Context(), actor, id, r.PathValue("action"), in)
	if pe, ok := problem.As(err); ok && pe.Field != "" && slices.Contains([]string{"send", "submit", "send_for_allocation"}, r.PathValue("action")) {
		// What sending needs is fixed in the draft's form: show it there.
		draft, gerr := s.requests.Get(r.Context(), actor, id)
		if gerr != nil {
			return gerr
		}
		values := draftValues(draft)
		r.PostForm = values
		v, ferr := s.requestForm(r, actor, values)
		if ferr != nil {
			return ferr
		}
		v.Action, v.Editing = "/requests/"+id+"/edit", true
		return s.formError(w, r, "request_form", page{TitleKey: "request_new_title", Heading: draft.Reference, Data: v}, err)
	}
	if err != nil {
		if _, ok := problem.As(err); ok {
			return s.showRequest(w, r, actor, problemStatus(err), s.problemPage(r, err))
		}
		return err
	}
	if !o.TakingPart {
		return s.redirectWithNotice(w, r, "/requests", "notice_request_done") // forwarded away
	}
	return s.redirectWithNotice(w, r, "/requests/"+id, "notice_request_done")
}

// problemPage is a page carrying err next to its field and in the summary,
// with the user's input kept.
func (s *Server) problemPage(r *http.Request, err error) page {
	l := visitOf(r).lang
	p := page{Errors: map[string]string{}, Form: r.PostForm}
	if pe, ok := problem.As(err); ok {
		msg := pe.Message(l)
		if pe.Field != "" {
			p.Errors[pe.Field] = msg
			p.Summary = append(p.Summary, fieldError{Field: pe.Field, Message: msg})
			p.Error = l.T("error_form")
		} else {
			p.Error = msg
		}
	}
	return p
}

func problemStatus(err error) int {
	if pe, ok := problem.As(err); ok {
		return pe.Kind.HTTPStatus()
	}
	return http.StatusInternalServerError
}

// copyRequest starts a new draft from the parts of a request ticked on its
// page.
func (s *Server) copyRequest(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	on := func(k string) bool { return r.PostForm.Get(k) == "on" }
	// The new draft's page, redirected to, reads it and records the view.
	draft, err := s.requests.CopyDraft(r.Context(), actor, r.PathValue("id"), requests.Parts{Questions: on("questions"), Subject: on("subject"), Responder: on("responder"), Message: on("message")})
	if err != nil {
		return err
	}
	return s.redirectWithNotice(w, r, "/requests/"+draft, "notice_request_saved")
}

// followUpPerPage is how many stalled requests a page of the follow-up
// list shows.
const followUpPerPage = 50

type followUpView struct {
	Items            []requestRow
	Reasons          []string
	Reason           string
	Counts           map[string]int
	Total            int
	Page, Pages      int
	PrevURL, NextURL string
}

// followUpPage lists the stalled requests a coordinator follows.
func (s *Server) followUpPage(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	if !actor.HasAny(authorities.Coordinator) {
		return problem.New(problem.Forbidden, "error_forbidden")
	}
	reason := r.URL.Query().Get("reason")
	if reason != "" && !slices.Contains(requests.Reasons, reason) {
		reason = ""
	}
	n, _ := strconv.Atoi(r.URL.Query().Get("page"))
	n = max(n, 1)
	list, err := s.requests.FollowUp(r.Context(), actor, reason, n, followUpPerPage)
	if err != nil {
		return err
	}
	l := visitOf(r).lang
	lang := l.Lang()
	v := followUpView{Reasons: requests.Reasons, Reason: reason, Counts: list.Counts, Total: list.Total, Page: n,
		Pages: max((list.Total+followUpPerPage-1)/followUpPerPage, 1)}
	q := url.Values{}
	if reason != "" {
		q.Set("reason", reason)
	}
	v.PrevURL, v.NextURL = pager("/requests/follow-up", q, n, v.Pages)
	for _, it := range list.Items {
		x := it.Request
		row := newRequestRow(x, s.now(), l)
		row.Reason = l.T("follow_up_reason_" + it.Reason)
		if p, err := s.areas.Pack(x.Area); err == nil {
			row.AreaName = p.In(lang).Name
		}
		var names []string
		for _, a := range []*authorities.Authority{x.Requester, x.Responder} {
			if a != nil {
				names = append(names, a.NameIn(lang)+" ("+countries.Name(a.Country, lang, "")+")")
			}
		}
		row.Other = strings.Join(names, " → ")
		v.Items = append(v.Items, row)
	}
	s.render(w, r, http.StatusOK, "follow_up", page{TitleKey: "follow_up_title", Data: v})
	return nil
}

type subjectDataView struct {
	Name  string
	Found []requestRow
	Done  bool
}

// subjectDataPage answers a data subject's request: the exchanges found,
// and the whole of them as a JSON file.
func (s *Server) subjectDataPage(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	if !actor.HasAny(authorities.LocalDataAdministrator) {
		return problem.New(problem.Forbidden, "error_subject_data_role")
	}
	name := r.URL.Query().Get("name")
	v := subjectDataView{Name: name}
	if name == "" {
		s.render(w, r, http.StatusOK, "subject_data", page{TitleKey: "subject_data_title", Data: v})
		return nil
	}
	list, err := s.requests.SubjectData(r.Context(), actor, name)
	if err != nil {
		return s.formError(w, r, "subject_data", page{TitleKey: "subject_data_title", Form: r.URL.Query(), Data: v}, err)
	}
	if r.URL.Query().Get("format") == "json" {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="subject-data.json"`)
		w.Header().Set("Cache-Control", "no-store")
		return json.NewEncoder(w).Encode(api.SubjectToJSON(list))
	}
	l := visitOf(r).lang
	for _, rec := range list {
		v.Found = append(v.Found, newRequestRow(rec.Request, s.now(), l))
	}
	v.Done = true
	s.render(w, r, http.StatusOK, "subject_data", page{TitleKey: "subject_data_title", Form: r.URL.Query(), Data: v})
	return nil
}

// attachFile adds the uploaded file to a request.
func (s *Server) attachFile(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	id := r.PathValue("id")
	var err error
	if r.MultipartForm == nil || len(r.MultipartForm.File["file"]) == 0 {
		err = problem.Field("file", "error_attachment_empty")
	} else {
		fh := r.MultipartForm.File["file"][0]
		f, ferr := fh.Open()
		if ferr != nil {
			return ferr
		}
		defer f.Close()
		// The request's page, redirected to, records the view.
		err = s.requests.AttachFile(r.Context(), actor, id, requests.Upload{Name: fh.Filename, Body: f}, r.PostForm.Get("comment"))
	}
	if errors.Is(err, scan.ErrUnavailable) {
		// Refused (fail closed) until the scanner answers again.
		s.log.Warn("virus scanner unavailable: upload refused", "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "10")
	}
	if err != nil {
		if _, ok := problem.As(err); ok {
			return s.showRequest(w, r, actor, problemStatus(err), s.problemPage(r, err))
		}
		return err
	}
	return s.redirectWithNotice(w, r, "/requests/"+id, "notice_request_done")
}

// downloadAttachment sends a request's file as a download, never to be
// shown or run by the browser.
func (s *Server) downloadAttachment(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	a, body, err := s.requests.OpenAttachment(r.Context(), actor, r.PathValue("id"), r.PathValue("attachment"))
	if err != nil {
		return err
	}
	defer body.Close()
	api.ServeAttachment(w, a, body)
	return nil
}
