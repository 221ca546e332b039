package web

import (
	"bytes"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/countries"
	"github.com/openimi/openimi/internal/i18n"
	"github.com/openimi/openimi/internal/problem"
	"github.com/openimi/openimi/internal/registers"
)

// entryView is a register entry as pages show it, in the reader's
// language where the structure allows.
type entryView struct {
	*registers.Entry
	DisplayName, CountryName, Holder, LanguageName string
	AreaNames, LanguageNames                       []string
}

func (s *Server) entryView(r *http.Request, e *registers.Entry) entryView {
	lang := visitOf(r).lang.Lang()
	v := entryView{Entry: e, DisplayName: e.NameIn(lang), CountryName: countries.Name(e.Country, lang, ""), LanguageName: languageName(e.Language)}
	if e.Authority != nil {
		v.Holder = e.Authority.NameIn(lang)
	}
	for _, a := range e.Areas {
		if p, err := s.areas.Pack(a); err == nil {
			v.AreaNames = append(v.AreaNames, p.In(lang).Name)
		}
	}
	for _, l := range e.Languages {
		v.LanguageNames = append(v.LanguageNames, languageName(l))
	}
	return v
}

// languageName is a language's name in that language.
func languageName(code string) string {
	for _, l := range i18n.Languages {
		if l.Code == code {
			return l.Name
		}
	}
	return code
}

type registersView struct {
	Items       []entryView
	Total       int
	Page, Pages int
	PrevURL     string
	NextURL     string
	Filter      url.Values
	Countries   template.HTML // the country filter's options (countrySelect)
	Areas       []areaName
	Types       []string
	Accesses    []string
	Statuses    []string
	CanAdd      bool
	CanImport   bool
}

// registersPage is the directory: search by words and filters.
func (s *Server) registersPage(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	q := r.URL.Query()
	n, _ := strconv.Atoi(q.Get("page"))
	n = max(n, 1)
	lang := visitOf(r).lang.Lang()
	v := registersView{Page: n, Filter: q, Types: registers.Types, Accesses: registers.Accesses,
		Statuses: registers.Statuses, CanAdd: registers.CanAdd(actor), CanImport: registers.CanAdd(actor)}
	var err error
	if v.Countries, err = s.countrySelect(visitOf(r).lang, q.Get("country")); err != nil {
		return err
	}
	for _, p := range s.areas.Packs() {
		v.Areas = append(v.Areas, areaName{Code: p.Code, Name: p.In(lang).Name})
	}
	query := registers.Query{Text: q.Get("q"), Type: q.Get("type"), Area: q.Get("area"), Access: q.Get("access"), Page: n, PerPage: 20}
	if st := q.Get("status"); slices.Contains(registers.Statuses, st) {
		query.Status = st
	}
	if c := countries.Normalize(q.Get("country")); c != "" {
		query.Countries = []string{c}
	}
	list, total, err := s.registers.Search(r.Context(), actor, query)
	if p, ok := problem.As(err); ok && p.Field != "" {
		return s.formError(w, r, "registers", page{TitleKey: "registers_title", Data: v}, err)
	}
	if err != nil {
		return err
	}
	v.Total, v.Pages = total, (min(total, registers.MaxResults)+19)/20
	for _, e := range list {
		v.Items = append(v.Items, s.entryView(r, e))
	}
	v.PrevURL, v.NextURL = pager("/registers", q, n, v.Pages)
	s.render(w, r, http.StatusOK, "registers", page{TitleKey: "registers_title", Data: v})
	return nil
}

func (s *Server) registerEntryPage(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	e, err := s.registers.Get(r.Context(), actor, r.PathValue("id"))
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "register", page{TitleKey: "registers_title", Heading: e.NameIn(visitOf(r).lang.Lang()), Data: s.entryView(r, e)})
	return nil
}

type registerFormView struct {
	Action    string
	Types     []string
	Accesses  []string
	Areas     []areaName
	Languages []i18n.Language
	Holders   []authorityOption // authorities found for "holder_q"
	Holder    *authorityOption  // the one chosen
}

func (s *Server) registerForm(r *http.Request, actor authorities.Actor, form url.Values) registerFormView {
	lang := visitOf(r).lang.Lang()
	v := registerFormView{Action: "/registers/new", Types: registers.Types, Accesses: registers.Accesses, Languages: i18n.Languages}
	if id := r.PathValue("id"); id != "" {
		v.Action = "/registers/" + id + "/edit"
	}
	for _, p := range s.areas.Packs() {
		v.Areas = append(v.Areas, areaName{Code: p.Code, Name: p.In(lang).Name})
	}
	if id := form.Get("authority"); id != "" {
		if a, err := s.authorities.Get(r.Context(), id); err == nil {
			v.Holder = &authorityOption{ID: a.ID, Name: a.NameIn(lang), Country: countries.Name(a.Country, lang, "")}
		}
	}
	if text := strings.TrimSpace(form.Get("holder_q")); text != "" && actor.Authority != nil {
		found, _, err := s.authorities.Search(r.Context(), authorities.Query{Text: text, Countries: []string{actor.Authority.Country}, PerPage: 10})
		if err == nil {
			for _, a := range found {
				v.Holders = append(v.Holders, authorityOption{ID: a.ID, Name: a.NameIn(lang), Country: countries.Name(a.Country, lang, "")})
			}
		}
	}
	return v
}

func (s *Server) newRegisterPage(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	if !registers.CanAdd(actor) {
		return problem.New(problem.Forbidden, "error_register_forbidden")
	}
	form := r.URL.Query()
	if form.Get("language") == "" && actor.Authority != nil {
		form.Set("language", actor.Authority.Language)
		form.Set("authority", actor.Authority.ID)
	}
	s.render(w, r, http.StatusOK, "register_form", page{TitleKey: "register_new_title", Form: form, Data: s.registerForm(r, actor, form)})
	return nil
}

// registerInput reads an entry from the form.
func registerInput(form url.Values) registers.Input {
	in := registers.Input{AuthorityID: form.Get("authority"), Name: form.Get("name"), Language: form.Get("language"), Description: form.Get("description"),
		Type: form.Get("type"), Access: form.Get("access"), Fees: form.Get("fees") == "on", URL: form.Get("url"), LegalBasis: form.Get("legal_basis"),
		ExternalID: strings.TrimSpace(form.Get("external_id")), Languages: form["languages"], Areas: form["areas"], Names: map[string]string{}}
	for _, l := range i18n.Languages {
		if v := strings.TrimSpace(form.Get("name_" + l.Code)); v != "" {
			in.Names[l.Code] = v
		}
	}
	return in
}

func (s *Server) saveRegister(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	id := r.PathValue("id")
	title := "register_new_title"
	if id != "" {
		title = "register_edit_title"
	}
	v := s.registerForm(r, actor, r.PostForm)
	if r.PostForm.Get("step") != "save" {
		p := page{TitleKey: title, Data: v}
		p.Form = r.PostForm
		s.render(w, r, http.StatusOK, "register_form", p)
		return nil
	}
	var e *registers.Entry
	var err error
	if id == "" {
		e, err = s.registers.Create(r.Context(), actor, registerInput(r.PostForm))
	} else {
		e, err = s.registers.Update(r.Context(), actor, id, registerInput(r.PostForm))
	}
	if err != nil {
		return s.formError(w, r, "register_form", page{TitleKey: title, Data: v}, err)
	}
	return s.redirectWithNotice(w, r, "/registers/"+e.ID, "notice_register_saved")
}

// registerValues are an entry as the form's values.
func registerValues(e *registers.Entry) url.Values {
	v := url.Values{"authority": {e.AuthorityID}, "name": {e.Name}, "language": {e.Language}, "description": {e.Description}, "type": {e.Type},
		"access": {e.Access}, "url": {e.URL}, "legal_basis": {e.LegalBasis}, "external_id": {e.ExternalID}, "languages": e.Languages, "areas": e.Areas}
	if e.Fees {
		v.Set("fees", "on")
	}
	for l, n := range e.Names {
		v.Set("name_"+l, n)
	}
	return v
}

func (s *Server) editRegisterPage(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	e, err := s.registers.Get(r.Context(), actor, r.PathValue("id"))
	if err != nil {
		return err
	}
	if !e.CanEdit {
		return problem.New(problem.Forbidden, "error_register_forbidden")
	}
	values := registerValues(e)
	s.render(w, r, http.StatusOK, "register_form", page{TitleKey: "register_edit_title", Form: values, Data: s.registerForm(r, actor, values)})
	return nil
}

func (s *Server) validateRegister(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	e, err := s.registers.Validate(r.Context(), actor, r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.redirectWithNotice(w, r, "/registers/"+e.ID, "notice_register_validated")
}

func (s *Server) withdrawRegister(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	e, err := s.registers.Withdraw(r.Context(), actor, r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.redirectWithNotice(w, r, "/registers/"+e.ID, "notice_register_withdrawn")
}

func (s *Server) registerHistory(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	e, err := s.registers.Get(r.Context(), actor, r.PathValue("id"))
	if err != nil {
		return err
	}
	h, err := s.registers.History(r.Context(), actor, e.ID)
	if err != nil {
		return err
	}
	var changes []authorities.Change
	for _, c := range h {
		changes = append(changes, authorities.Change{At: c.At, UserName: c.UserName, Field: c.Field, Old: c.Old, New: c.New})
	}
	s.render(w, r, http.StatusOK, "register_history", page{TitleKey: "register_history_title", Heading: e.NameIn(visitOf(r).lang.Lang()),
		Data: struct {
			ID      string
			Changes []authorities.Change
		}{e.ID, changes}})
	return nil
}

func (s *Server) exportRegisters(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	format := r.URL.Query().Get("format")
	var buf bytes.Buffer
	if err := s.registers.Export(r.Context(), actor, &buf, format); err != nil {
		return err
	}
	ct := "text/csv; charset=utf-8"
	if format == "json" {
		ct = "application/json"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Disposition", `attachment; filename="registers.`+format+`"`)
	_, _ = w.Write(buf.Bytes())
	return nil
}

type registerImportView struct {
	Done   bool
	Result registers.ImportResult
	Lines  []importLine
}

func (s *Server) registerImportPage(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	if !registers.CanAdd(actor) {
		return problem.New(problem.Forbidden, "error_register_forbidden")
	}
	s.render(w, r, http.StatusOK, "register_import", page{TitleKey: "register_import_title"})
	return nil
}

func (s *Server) importRegisters(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	if !registers.CanAdd(actor) {
		return problem.New(problem.Forbidden, "error_register_forbidden")
	}
	file, header, err := r.FormFile("file")
	if err != nil {
		return s.formError(w, r, "register_import", page{TitleKey: "register_import_title"}, problem.Field("file", "error_file_unreadable"))
	}
	defer file.Close()
	format := "csv"
	if strings.HasSuffix(strings.ToLower(header.Filename), ".json") {
		format = "json"
	}
	records, lines, err := registers.ParseRecords(file, format)
	if err != nil {
		return s.formError(w, r, "register_import", page{TitleKey: "register_import_title"}, err)
	}
	res, err := s.registers.Import(r.Context(), actor, records, lines, false)
	if err != nil {
		return err
	}
	l := visitOf(r).lang
	v := registerImportView{Done: true, Result: res}
	for _, e := range res.Errors {
		v.Lines = append(v.Lines, importLine{Line: e.Line, Column: e.Field, Reason: l.T(e.Key, e.Args...)})
	}
	code := http.StatusOK
	if len(res.Errors) > 0 {
		code = http.StatusBadRequest
	}
	s.render(w, r, code, "register_import", page{TitleKey: "register_import_title", Data: v})
	return nil
}
