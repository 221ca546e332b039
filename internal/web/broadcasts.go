package web

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/openimi/openimi/internal/areas"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/broadcasts"
	"github.com/openimi/openimi/internal/countries"
	"github.com/openimi/openimi/internal/problem"
)

// Alerts live at /alerts and notifications of measures at /measures; one
// set of handlers serves both, with the kind taken from the path.
func kindOf(r *http.Request) string {
	if strings.HasPrefix(r.URL.Path, "/measures") {
		return broadcasts.Notification
	}
	return broadcasts.Alert
}

// keyOf is the prefix of a kind's page texts: "alert", or "measure" (the
// users' in-app notifications have the "notification" texts).
func keyOf(kind string) string {
	if kind == broadcasts.Notification {
		return "measure"
	}
	return "alert"
}

// caseRow is a case in the inbox.
type caseRow struct {
	*broadcasts.Case
	AreaName, TypeName, StateName, Sender string
	Late                                  bool
}

type caseInboxView struct {
	Kind, Key    string
	Base         string
	Box          string
	Boxes        []string
	Counts       map[string]int
	Items        []caseRow
	Total        int
	Page, Pages  int
	PrevURL      string
	NextURL      string
	Filter       url.Values
	Areas        []areaName
	States       []string
	CanNew       bool
	CanStatistic bool
}

func (s *Server) row(r *http.Request, c *broadcasts.Case) caseRow {
	l := visitOf(r).lang
	lang := l.Lang()
	row := caseRow{Case: c, StateName: l.T("broadcast_state_" + c.State), Late: c.Late(s.now())}
	if p, err := s.areas.Pack(c.Area); err == nil {
		lp := p.In(lang)
		row.AreaName = lp.Name
		if b := lp.Broadcast(c.Type); b != nil {
			row.TypeName = b.Name
		}
	}
	if c.Sender != nil {
		row.Sender = c.Sender.NameIn(lang) + " (" + countries.Name(c.Sender.Country, lang, "") + ")"
	}
	return row
}

// casesPage is the inbox of alerts or notifications.
func (s *Server) casesPage(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	kind := kindOf(r)
	q := r.URL.Query()
	box := q.Get("box")
	if box == "" {
		box = broadcasts.ToDo
	}
	n, _ := strconv.Atoi(q.Get("page"))
	n = max(n, 1)
	lang := visitOf(r).lang.Lang()
	v := caseInboxView{Kind: kind, Key: keyOf(kind), Base: broadcasts.Path(kind), Box: box, Boxes: broadcasts.Boxes, Page: n, Filter: q,
		States: s.broadcasts.Machine(kind).States, CanNew: s.broadcasts.CanSend(actor, kind), CanStatistic: actor.CanExport()}
	for _, p := range s.areas.Packs() {
		for _, b := range p.Broadcasts {
			if b.Kind == kind {
				v.Areas = append(v.Areas, areaName{Code: p.Code, Name: p.In(lang).Name})
				break
			}
		}
	}
	title := keyOf(kind) + "s_title"
	list, total, err := s.broadcasts.Inbox(r.Context(), actor, kind, box, broadcasts.Filter{Area: q.Get("area"), State: q.Get("state"), Text: q.Get("q"), Page: n, PerPage: 20})
	if p, ok := problem.As(err); ok && p.Field != "" {
		return s.formError(w, r, "broadcasts", page{TitleKey: title, Data: v}, err)
	}
	if err != nil {
		return err
	}
	if v.Counts, err = s.broadcasts.Counts(r.Context(), actor, kind); err != nil {
		return err
	}
	v.Total, v.Pages = total, (total+19)/20
	for _, c := range list {
		v.Items = append(v.Items, s.row(r, c))
	}
	v.PrevURL, v.NextURL = pager(v.Base, q, n, v.Pages)
	s.render(w, r, http.StatusOK, "broadcasts", page{TitleKey: title, Data: v})
	return nil
}

// caseFormView writes a draft: the type first, then its fields.
type caseFormView struct {
	Kind, Key, Base, Action string
	Editing                 bool
	Types                   []typeOption
	Type                    *areas.LocalizedBroadcast
	Fields                  []fieldInput
	Countries               []countryOption
	Chosen                  map[string]bool // countries and criteria ticked
}

type typeOption struct {
	Value, Name, Area string
}

// fieldInput is one field of a type, ready for its input.
type fieldInput struct {
	areas.LocalizedField
	Options []areas.LocalizedTerm // term: the vocabulary's terms; country: the countries
}

func (s *Server) fieldInputs(lp areas.Localized, b *areas.LocalizedBroadcast, lang string) []fieldInput {
	var out []fieldInput
	for _, f := range b.Fields {
		in := fieldInput{LocalizedField: f}
		switch f.Type {
		case "term":
			if voc := lp.Vocabulary(f.Vocabulary); voc != nil {
				for _, g := range voc.Groups {
					in.Options = append(in.Options, g.Terms...)
				}
				in.Options = append(in.Options, voc.Terms...)
			}
		case "country":
			for _, c := range s.countryOptions(lang) {
				in.Options = append(in.Options, areas.LocalizedTerm{Code: c.Code, Name: c.Name})
			}
		}
		out = append(out, in)
	}
	return out
}

func (s *Server) caseForm(r *http.Request, actor authorities.Actor, form url.Values) (caseFormView, error) {
	kind := kindOf(r)
	lang := visitOf(r).lang.Lang()
	v := caseFormView{Kind: kind, Key: keyOf(kind), Base: broadcasts.Path(kind), Action: broadcasts.Path(kind) + "/new", Chosen: map[string]bool{}}
	if id := r.PathValue("id"); id != "" {
		v.Action, v.Editing = v.Base+"/"+id+"/edit", true
	}
	for _, p := range s.areas.Packs() {
		for _, b := range s.broadcasts.Types(actor, kind) {
			if p.Broadcast(b.Code) == b {
				lp := p.In(lang)
				v.Types = append(v.Types, typeOption{Value: p.Code + "/" + b.Code, Name: lp.Broadcast(b.Code).Name, Area: lp.Name})
			}
		}
	}
	if len(v.Types) == 0 {
		return v, problem.New(problem.Forbidden, "error_broadcast_not_sender")
	}
	choice := form.Get("type")
	if choice == "" && len(v.Types) == 1 {
		choice = v.Types[0].Value
	}
	if choice != "" {
		area, code, _ := strings.Cut(choice, "/")
		p, err := s.areas.Pack(area)
		if err != nil || p.Broadcast(code) == nil || !slices.ContainsFunc(v.Types, func(t typeOption) bool { return t.Value == choice }) {
			return v, problem.Field("type", "error_broadcast_type")
		}
		lp := p.In(lang)
		v.Type = lp.Broadcast(code)
		v.Fields = s.fieldInputs(lp, v.Type, lang)
	}
	for _, c := range countries.Current() {
		if actor.Authority == nil || c.Code != actor.Authority.Country {
			v.Countries = append(v.Countries, countryOption{Code: c.Code, Name: countries.Name(c.Code, lang, "")})
		}
	}
	slices.SortFunc(v.Countries, func(a, b countryOption) int { return strings.Compare(a.Name, b.Name) })
	for _, c := range append(form["countries"], form["criteria"]...) {
		v.Chosen[c] = true
	}
	return v, nil
}

func (s *Server) newCasePage(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	v, err := s.caseForm(r, actor, r.URL.Query())
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "broadcast_form", page{TitleKey: v.Key + "_new_title", Form: r.URL.Query(), Data: v})
	return nil
}

// caseDraftFrom reads a draft from the form.
func caseDraftFrom(form url.Values, v caseFormView) broadcasts.DraftInput {
	area, code, _ := strings.Cut(form.Get("type"), "/")
	d := broadcasts.DraftInput{Kind: v.Kind, Area: area, Type: code, Title: form.Get("title"), Message: strings.TrimSpace(form.Get("message")),
		Criteria: form["criteria"], AllCountries: form.Get("all_countries") == "on", Countries: form["countries"], Fields: map[string]string{}}
	for _, f := range v.Fields {
		if val := strings.TrimSpace(form.Get("field." + f.Code)); val != "" {
			d.Fields[f.Code] = val
		}
	}
	if d.AllCountries {
		d.Countries = nil
	}
	return d
}

func (s *Server) createCase(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	v, err := s.caseForm(r, actor, r.PostForm)
	title := keyOf(kindOf(r)) + "_new_title"
	if err != nil {
		return s.formError(w, r, "broadcast_form", page{TitleKey: title, Data: v}, err)
	}
	if r.PostForm.Get("step") != "save" || v.Type == nil {
		p := page{TitleKey: title, Data: v}
		p.Form = r.PostForm
		s.render(w, r, http.StatusOK, "broadcast_form", p)
		return nil
	}
	d := caseDraftFrom(r.PostForm, v)
	var c *broadcasts.Case
	if v.Editing {
		c, err = s.broadcasts.UpdateDraft(r.Context(), actor, r.PathValue("id"), d)
	} else {
		c, err = s.broadcasts.Create(r.Context(), actor, d)
	}
	if err != nil {
		return s.formError(w, r, "broadcast_form", page{TitleKey: title, Data: v}, err)
	}
	return s.redirectWithNotice(w, r, v.Base+"/"+c.ID, "notice_request_saved")
}

// caseValues are a case as the form's values.
func caseValues(c *broadcasts.Case) url.Values {
	v := url.Values{"type": {c.Area + "/" + c.Type}, "title": {c.Title}, "message": {c.Message}, "countries": c.Countries, "criteria": c.Criteria}
	if c.AllCountries {
		v.Set("all_countries", "on")
	}
	for code, val := range c.Fields {
		v.Set("field."+code, val)
	}
	return v
}

func (s *Server) editCasePage(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	c, err := s.broadcasts.Get(r.Context(), actor, r.PathValue("id"))
	if err != nil {
		return err
	}
	if c.Kind != kindOf(r) {
		return problem.New(problem.NotFound, "error_not_found")
	}
	if c.State != broadcasts.Draft || !slices.Contains(c.Parties, broadcasts.Sender) {
		return problem.New(problem.Conflict, "error_broadcast_not_draft")
	}
	values := caseValues(c)
	v, err := s.caseForm(r, actor, values)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "broadcast_form", page{TitleKey: keyOf(c.Kind) + "_new_title", Heading: c.Reference, Form: values, Data: v})
	return nil
}

// caseView is a case as its page shows it.
type caseView struct {
	caseRow
	Base        string
	Type        *areas.LocalizedBroadcast
	Values      []subjectLine
	Criteria    []string
	Countries   []string // chosen or reached, by name
	Receipts    []receiptLine
	Recipients  []recipientLine
	Timeline    []timelineLine
	Actions     []caseAction
	Fields      []fieldInput // for rectify and modify
	Candidates  []authorityOption
	Searched    bool
	CommentOpen bool
}

type receiptLine struct {
	Country, Received, Disseminated string
}

type recipientLine struct {
	Name, Country, Disseminated, Acknowledged string
}

type caseAction struct {
	Name, Label string
	Comment     string
	Disseminate bool
	Revise      bool
	Primary     bool
}

const dateTime = "2006-01-02 15:04"

func (s *Server) casePage(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	return s.showCase(w, r, actor, http.StatusOK, page{})
}

func (s *Server) showCase(w http.ResponseWriter, r *http.Request, actor authorities.Actor, code int, p page) error {
	c, err := s.broadcasts.Get(r.Context(), actor, r.PathValue("id"))
	if err != nil {
		return err
	}
	if c.Kind != kindOf(r) {
		return problem.New(problem.NotFound, "error_not_found")
	}
	v, err := s.viewCase(r, actor, c)
	if err != nil {
		return err
	}
	p.TitleKey, p.Heading, p.Data = keyOf(c.Kind)+"s_title", c.Reference, v
	if p.Form == nil {
		p.Form = caseValues(c)
	}
	s.render(w, r, code, "broadcast", p)
	return nil
}

func (s *Server) viewCase(r *http.Request, actor authorities.Actor, c *broadcasts.Case) (caseView, error) {
	l := visitOf(r).lang
	lang := l.Lang()
	v := caseView{caseRow: s.row(r, c), Base: broadcasts.Path(c.Kind), CommentOpen: c.CommentOpen(s.now())}
	pack, err := s.areas.Pack(c.Area)
	if err != nil {
		return v, err
	}
	lp := pack.In(lang)
	v.Type = lp.Broadcast(c.Type)
	if v.Type == nil {
		return v, problem.New(problem.NotFound, "error_not_found")
	}
	v.Fields = s.fieldInputs(lp, v.Type, lang)
	for _, f := range v.Fields {
		val := c.Fields[f.Code]
		if val == "" {
			continue
		}
		for _, o := range f.Options {
			if o.Code == val {
				val = o.Name
			}
		}
		v.Values = append(v.Values, subjectLine{Label: f.Label, Value: val, Personal: f.PersonalData})
	}
	for _, k := range v.Type.Criteria {
		if slices.Contains(c.Criteria, k.Code) {
			v.Criteria = append(v.Criteria, k.Name)
		}
	}
	for _, code := range c.Countries {
		v.Countries = append(v.Countries, countries.Name(code, lang, ""))
	}
	for _, x := range c.Receipts {
		line := receiptLine{Country: countries.Name(x.Country, lang, ""), Received: x.ReceivedAt.Format(dateTime)}
		if x.DisseminatedAt != nil {
			line.Disseminated = x.DisseminatedAt.Format(dateTime)
		}
		v.Receipts = append(v.Receipts, line)
	}
	for _, x := range c.Recipients {
		line := recipientLine{Country: countries.Name(x.Country, lang, ""), Disseminated: x.DisseminatedAt.Format(dateTime)}
		if x.Authority != nil {
			line.Name = x.Authority.NameIn(lang)
		}
		if x.AcknowledgedAt != nil {
			line.Acknowledged = x.AcknowledgedAt.Format(dateTime)
		}
		v.Recipients = append(v.Recipients, line)
	}
	tl, err := s.broadcasts.Timeline(r.Context(), actor, c.ID)
	if err != nil {
		return v, err
	}
	for i := len(tl) - 1; i >= 0; i-- {
		e := tl[i]
		line := timelineLine{At: e.At.Format(dateTime), Event: l.T("broadcast_event_" + e.Action), Authority: e.Authority, Comment: e.Comment}
		if e.Party != "" {
			line.Party = l.T("party_" + e.Party)
		}
		var extra []string
		for _, f := range e.Fields {
			if f == "title" || f == "message" {
				extra = append(extra, l.T("broadcast_"+f+"_label"))
			} else if lf := fieldLabel(v.Type, f); lf != "" {
				extra = append(extra, lf)
			}
		}
		if len(extra) > 0 {
			line.Event += " — " + strings.Join(extra, ", ")
		}
		if e.Count > 0 {
			line.Event += " — " + l.N("broadcast_authorities_count", e.Count)
		}
		v.Timeline = append(v.Timeline, line)
	}
	m := s.broadcasts.Machine(c.Kind)
	for _, name := range c.Actions {
		a := m.Actions[name]
		v.Actions = append(v.Actions, caseAction{Name: name, Label: l.T("broadcast_action_" + name), Comment: a.Comment,
			Disseminate: name == "disseminate", Revise: name == "rectify" || name == "modify",
			Primary: slices.Contains([]string{"submit", "send", "approve", "acknowledge", "close", "withdraw"}, name)})
	}
	if slices.Contains(c.Actions, "disseminate") {
		q := r.URL.Query().Get("authority_q")
		v.Searched = q != ""
		found, err := s.broadcasts.Candidates(r.Context(), actor, c.ID, q)
		if err != nil {
			return v, err
		}
		for _, a := range found {
			v.Candidates = append(v.Candidates, authorityOption{ID: a.ID, Name: a.NameIn(lang), Country: countries.Name(a.Country, lang, "")})
		}
	}
	return v, nil
}

func fieldLabel(b *areas.LocalizedBroadcast, code string) string {
	for _, f := range b.Fields {
		if f.Code == code {
			return f.Label
		}
	}
	return ""
}

func (s *Server) caseAction(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	id, action := r.PathValue("id"), r.PathValue("action")
	c, err := s.broadcasts.Get(r.Context(), actor, id)
	if err != nil {
		return err
	}
	if c.Kind != kindOf(r) {
		return problem.New(problem.NotFound, "error_not_found")
	}
	in := broadcasts.Input{Comment: r.PostForm.Get("comment"), Authorities: r.PostForm["authorities"], Title: r.PostForm.Get("title"),
		Message: r.PostForm.Get("message"), Fields: map[string]string{}}
	for key, vals := range r.PostForm {
		if code, ok := strings.CutPrefix(key, "field."); ok && len(vals) > 0 {
			in.Fields[code] = vals[0]
		}
	}
	_, err = s.broadcasts.Act(r.Context(), actor, id, action, in)
	if pe, ok := problem.As(err); ok && pe.Field != "" && (action == "submit" || action == "send") && slices.Contains(c.Parties, broadcasts.Sender) {
		// What sending needs is fixed in the draft's form: show it there.
		values := caseValues(c)
		r.PostForm = values
		v, ferr := s.caseForm(r, actor, values)
		if ferr != nil {
			return ferr
		}
		v.Action, v.Editing = v.Base+"/"+id+"/edit", true
		return s.formError(w, r, "broadcast_form", page{TitleKey: keyOf(c.Kind) + "_new_title", Heading: c.Reference, Data: v}, err)
	}
	if err != nil {
		if _, ok := problem.As(err); ok {
			return s.showCase(w, r, actor, problemStatus(err), s.problemPage(r, err))
		}
		return err
	}
	return s.redirectWithNotice(w, r, broadcasts.Path(c.Kind)+"/"+id, "notice_request_done")
}

// broadcastStatsPage shows who sent and received alerts and notifications,
// and how fast they were acknowledged: for coordinators and the Commission.
func (s *Server) broadcastStatsPage(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	stats, err := s.broadcasts.Statistics(r.Context(), actor)
	if err != nil {
		return err
	}
	lang := visitOf(r).lang.Lang()
	type line struct {
		broadcasts.Stats
		AreaName, CountryName string
	}
	var lines []line
	for _, st := range stats {
		if st.Kind != kindOf(r) {
			continue
		}
		x := line{Stats: st, CountryName: countries.Name(st.Country, lang, "")}
		if p, err := s.areas.Pack(st.Area); err == nil {
			x.AreaName = p.In(lang).Name
		}
		lines = append(lines, x)
	}
	s.render(w, r, http.StatusOK, "broadcast_stats", page{TitleKey: "broadcast_stats_title", Data: lines})
	return nil
}
