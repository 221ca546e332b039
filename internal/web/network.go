package web

import (
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/openimi/openimi/internal/areas"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/countries"
	"github.com/openimi/openimi/internal/i18n"
	"github.com/openimi/openimi/internal/problem"
)

// The pages of the network: authorities, their users, invitations and the
// registry's statistics. Every rule about who may do what is in
// authorities' policy; these handlers only ask it.

// actingFunc is a handler that acts on the registry as the signed-in user.
type actingFunc func(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error

// acting finds the signed-in user's actor (authority and roles) once, for
// every handler of the network.
func (s *Server) acting(h actingFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		actor, err := s.actorOf(r)
		if err != nil {
			return err
		}
		return h(w, r, actor)
	}
}

// actorOf is the signed-in user's actor, from the user read with the
// session.
func (s *Server) actorOf(r *http.Request) (authorities.Actor, error) {
	return s.authorities.ActorOf(r.Context(), *visitOf(r).user)
}

// countryOption is a country in a select, named in the reader's language.
type countryOption struct {
	Code, Name string
}

func (s *Server) countryOptions(lang string) []countryOption {
	var out []countryOption
	for _, c := range countries.Sorted(lang) {
		out = append(out, countryOption{Code: c.Code, Name: countries.Name(c.Code, lang, "")})
	}
	return out
}

// authorityView is an authority as a page shows it, in the reader's
// language.
type authorityView struct {
	*authorities.Authority
	DisplayName  string // in the reader's language where the authority has one
	ShowOriginal bool   // the original name differs from DisplayName
	CountryName  string
	Description  string
	DescLang     string
	AreaNames    []areaName
	Competences  []competenceGroup
	Parent       *authorities.Authority
	CanEdit      bool
	CanValidate  bool
	CanUsers     bool
}

// authorityRow is an authority as the search lists it, with fields of its
// own rather than an embedded authority's (see requestRow). Its areas and
// competences are each one text, joined here: a range over them in the
// template was a call through reflection for each name, and the search's
// rows list dozens (bench: BenchmarkRender).
type authorityRow struct {
	ID, DisplayName, Name, Language, CountryName, Region string
	ShowOriginal                                         bool
	Areas                                                string // "PQ, Services"
	Competences                                          string // terms of a vocabulary by ", ", vocabularies by "; "
	StatusName                                           string
	StatusTone                                           string // the label's tone: low (active), high (deactivated), medium
}

// row is v as a list shows it, its status named in l's language.
func (v authorityView) row(l *i18n.Localizer) authorityRow {
	tone := "medium"
	switch v.Status {
	case authorities.Active:
		tone = "low"
	case authorities.Deactivated:
		tone = "high"
	}
	names := make([]string, 0, len(v.AreaNames))
	for _, a := range v.AreaNames {
		names = append(names, a.Name)
	}
	groups := make([]string, 0, len(v.Competences))
	for _, c := range v.Competences {
		groups = append(groups, strings.Join(c.Terms, ", "))
	}
	return authorityRow{ID: v.ID, DisplayName: v.DisplayName, Name: v.Name, Language: v.Language, CountryName: v.CountryName, Region: v.Region,
		ShowOriginal: v.ShowOriginal, Areas: strings.Join(names, ", "), Competences: strings.Join(groups, "; "),
		StatusName: l.T("status_" + string(v.Status)), StatusTone: tone}
}

type areaName struct {
	Code, Name string
}

type competenceGroup struct {
	Area, Vocabulary string
	Terms            []string
}

func (s *Server) viewAuthority(r *http.Request, a *authorities.Authority, actor authorities.Actor) authorityView {
	lang := visitOf(r).lang.Lang()
	l := visitOf(r).lang
	v := authorityView{Authority: a, DisplayName: a.NameIn(lang), CountryName: countries.Name(a.Country, lang, l.T("logo_alt")),
		CanEdit: actor.CanEdit(a), CanValidate: actor.CanValidate(a), CanUsers: actor.CanManageUsers(a)}
	v.ShowOriginal = v.DisplayName != a.Name
	v.Description, v.DescLang = a.Descriptions[lang], lang
	if v.Description == "" {
		v.Description, v.DescLang = a.Descriptions[a.Language], a.Language
	}
	groups := map[string]*competenceGroup{}
	for _, code := range a.Areas {
		p, err := s.areas.Pack(code)
		if err != nil {
			continue
		}
		v.AreaNames = append(v.AreaNames, areaName{Code: code, Name: p.In(lang).Name})
	}
	for _, c := range a.Competences {
		p, err := s.areas.Pack(c.Area)
		if err != nil {
			continue
		}
		key := c.Area + "/" + c.Vocabulary
		g := groups[key]
		if g == nil {
			g = &competenceGroup{Area: p.In(lang).Name, Vocabulary: p.Text(lang, "vocabularies."+c.Vocabulary+".name")}
			groups[key] = g
			v.Competences = append(v.Competences, competenceGroup{})
		}
		g.Terms = append(g.Terms, p.Text(lang, "vocabularies."+c.Vocabulary+".terms."+c.Term))
	}
	v.Competences = v.Competences[:0]
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v.Competences = append(v.Competences, *groups[k])
	}
	return v
}

// withParent adds the coordinator an authority reports to, for its page.
func (s *Server) withParent(r *http.Request, v authorityView) authorityView {
	if v.ParentID != "" {
		v.Parent, _ = s.authorities.Get(r.Context(), v.ParentID)
	}
	return v
}

type authorityListView struct {
	Items       []authorityRow
	Total       int
	More        bool // more than Total match: only Total are listed
	Page        int
	Pages       int
	Filter      url.Values
	Countries   template.HTML // the country filter's options (countrySelect)
	Areas       []areaName
	Statuses    []string
	Competences template.HTML // the competence filter's options (competenceSelect)
	PrevURL     string
	NextURL     string
	CanInvite   bool
}

// competenceOptions are the terms of one vocabulary, for the competence
// picker, in the reader's language.
type competenceOptions struct {
	Label string
	Terms []areas.LocalizedTerm
	Area  string
	Vocab string
}

// competenceSelect returns the options of the competence filter in loc's
// language, current chosen.
func (s *Server) competenceSelect(loc *i18n.Localizer, current string) (template.HTML, error) {
	return s.selectOptions(loc, "competence_options", current, func() any { return s.competencePicker(loc.Lang()) })
}

// countrySelect returns the options of a country filter in loc's
// language, current chosen.
func (s *Server) countrySelect(loc *i18n.Localizer, current string) (template.HTML, error) {
	return s.selectOptions(loc, "country_options", current, func() any { return s.countryOptions(loc.Lang()) })
}

func (s *Server) competencePicker(lang string) []competenceOptions {
	var out []competenceOptions
	for _, p := range s.areas.Packs() {
		l := p.In(lang)
		for _, v := range l.Vocabularies {
			terms := append([]areas.LocalizedTerm{}, v.Terms...)
			for _, g := range v.Groups {
				terms = append(terms, g.Terms...)
			}
			slices.SortFunc(terms, func(a, b areas.LocalizedTerm) int {
				return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
			})
			out = append(out, competenceOptions{Label: l.Name + " – " + v.Name, Terms: terms, Area: p.Code, Vocab: v.Code})
		}
	}
	return out
}

// pager returns the links to the pages before and after page of pages,
// keeping the query's filters ("" where there is none).
func pager(path string, q url.Values, page, pages int) (prev, next string) {
	link := func(to int) string {
		u := url.Values{}
		for k, vs := range q {
			u[k] = vs
		}
		u.Set("page", strconv.Itoa(to))
		return path + "?" + u.Encode()
	}
	if page > 1 {
		prev = link(page - 1)
	}
	if page < pages {
		next = link(page + 1)
	}
	return prev, next
}

// authoritiesPage is the search for authorities: free text in the reader's
// language (or any other), filters, results ranked by relevance.
func (s *Server) authoritiesPage(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	q := r.URL.Query()
	n, _ := strconv.Atoi(q.Get("page"))
	if n < 1 {
		n = 1
	}
	lang := visitOf(r).lang.Lang()
	var countryList []string
	if c := countries.Normalize(q.Get("country")); c != "" {
		countryList = []string{c}
	}
	countryOpts, err := s.countrySelect(visitOf(r).lang, q.Get("country"))
	if err != nil {
		return err
	}
	list, total, err := s.authorities.Search(r.Context(), authorities.Query{Text: q.Get("q"), Countries: countryList, Area: q.Get("area"),
		Competence: q.Get("competence"), Status: authorities.Status(q.Get("status")), Page: n, PerPage: 20})
	if p, ok := problem.As(err); ok && p.Field == "q" {
		return s.formError(w, r, "authorities", page{TitleKey: "authorities_title", Data: authorityListView{Filter: q, Countries: countryOpts}}, err)
	}
	if err != nil {
		return err
	}
	shown := min(total, authorities.MaxResults)
	v := authorityListView{Total: shown, More: total > shown, Page: n, Pages: (shown + 19) / 20, Filter: q, Countries: countryOpts,
		Statuses: []string{"registered", "validated", "active", "deactivated"}, CanInvite: actor.CanInviteAuthorities()}
	if v.Competences, err = s.competenceSelect(visitOf(r).lang, q.Get("competence")); err != nil {
		return err
	}
	for _, p := range s.areas.Packs() {
		v.Areas = append(v.Areas, areaName{Code: p.Code, Name: p.In(lang).Name})
	}
	for _, a := range list {
		v.Items = append(v.Items, s.viewAuthority(r, a, actor).row(visitOf(r).lang))
	}
	v.PrevURL, v.NextURL = pager("/authorities", q, n, v.Pages)
	s.render(w, r, http.StatusOK, "authorities", page{TitleKey: "authorities_title", Data: v})
	return nil
}

func (s *Server) authorityPage(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	a, err := s.authorities.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	v := s.withParent(r, s.viewAuthority(r, a, actor))
	s.render(w, r, http.StatusOK, "authority", page{TitleKey: "authority_title", Heading: v.DisplayName, Data: v})
	return nil
}

// authorityForm is the register and edit form.
type authorityForm struct {
	Action      string
	Register    bool // a new authority
	ByLink      bool // self-registration through an invitation link
	Coordinates bool // the actor places it in the network (kind, parent)
	Countries   []countryOption
	Languages   []i18n.Language
	Kinds       []authorities.Kind
	Areas       []formArea
	Values      url.Values
}

type formArea struct {
	Code, Name string
	Checked    bool
	Vocabs     []formVocab
}

type formVocab struct {
	Code, Name string
	Terms      []formTerm
}

type formTerm struct {
	Value, Name string
	Checked     bool
}

// formValues writes an authority into form values.
func formValues(a *authorities.Authority) url.Values {
	v := url.Values{}
	for k, val := range map[string]string{"external_id": a.ExternalID, "country": a.Country, "name": a.Name, "language": a.Language,
		"acronym": a.Acronym, "region": a.Region, "street": a.Street, "postcode": a.Postcode, "city": a.City, "email": a.Email,
		"phone": a.Phone, "website": a.Website, "role": string(a.Kind), "name_en": a.Names["en"], "description": a.Descriptions[a.Language]} {
		v.Set(k, val)
	}
	if a.AlertCoordinator {
		v.Set("alert_coordinator", "on")
	}
	for _, area := range a.Areas {
		v.Add("areas", area)
	}
	for _, c := range a.Competences {
		v.Add("competences", c.Area+"/"+c.Vocabulary+"/"+c.Term)
	}
	return v
}

// inputFrom reads the form into an Input.
func inputFrom(form url.Values) authorities.Input {
	in := authorities.Input{ExternalID: form.Get("external_id"), Country: form.Get("country"), Name: form.Get("name"), Language: form.Get("language"),
		Acronym: form.Get("acronym"), Region: form.Get("region"), Street: form.Get("street"), Postcode: form.Get("postcode"), City: form.Get("city"),
		Email: form.Get("email"), Phone: form.Get("phone"), Website: form.Get("website"), Kind: authorities.Kind(form.Get("role")),
		AlertCoordinator: form.Get("alert_coordinator") == "on",
		Areas:            form["areas"], Names: map[string]string{}, Descriptions: map[string]string{}}
	if n := form.Get("name_en"); n != "" {
		in.Names["en"] = n
	}
	if d := form.Get("description"); d != "" {
		in.Descriptions[in.Language] = d
	}
	for _, c := range form["competences"] {
		parts := strings.SplitN(c, "/", 3)
		if len(parts) == 3 && slices.Contains(in.Areas, parts[0]) {
			in.Competences = append(in.Competences, authorities.Competence{Area: parts[0], Vocabulary: parts[1], Term: parts[2]})
		}
	}
	return in
}

func (s *Server) form(r *http.Request, action string, values url.Values) authorityForm {
	lang := visitOf(r).lang.Lang()
	f := authorityForm{Action: action, Countries: s.countryOptions(lang), Languages: i18n.Languages, Kinds: authorities.Kinds, Values: values}
	for _, p := range s.areas.Packs() {
		l := p.In(lang)
		fa := formArea{Code: p.Code, Name: l.Name, Checked: slices.Contains(values["areas"], p.Code)}
		for _, voc := range l.Vocabularies {
			fv := formVocab{Code: voc.Code, Name: voc.Name}
			terms := append([]areas.LocalizedTerm{}, voc.Terms...)
			for _, g := range voc.Groups {
				terms = append(terms, g.Terms...)
			}
			for _, t := range terms {
				val := p.Code + "/" + voc.Code + "/" + t.Code
				fv.Terms = append(fv.Terms, formTerm{Value: val, Name: t.Name, Checked: slices.Contains(values["competences"], val)})
			}
			fa.Vocabs = append(fa.Vocabs, fv)
		}
		f.Areas = append(f.Areas, fa)
	}
	return f
}

func (s *Server) newAuthorityPage(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	if !actor.CanInviteAuthorities() {
		return problem.New(problem.Forbidden, "error_forbidden")
	}
	values := url.Values{"country": {actor.Authority.Country}, "language": {actor.Authority.Language}, "role": {string(authorities.CompetentAuthority)}}
	f := s.form(r, "/authorities/new", values)
	f.Register, f.Coordinates = true, true
	s.render(w, r, http.StatusOK, "authority_form", page{TitleKey: "authority_new_title", Data: f})
	return nil
}

func (s *Server) createAuthority(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	a, err := s.authorities.Register(r.Context(), actor, inputFrom(r.PostForm))
	if err != nil {
		f := s.form(r, "/authorities/new", r.PostForm)
		f.Register, f.Coordinates = true, true
		return s.formError(w, r, "authority_form", page{TitleKey: "authority_new_title", Data: f}, err)
	}
	return s.redirectWithNotice(w, r, "/authorities/"+a.ID, "notice_authority_registered")
}

func (s *Server) editAuthorityPage(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	a, err := s.authorities.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if !actor.CanEdit(a) {
		return problem.New(problem.Forbidden, "error_forbidden")
	}
	f := s.form(r, "/authorities/"+a.ID+"/edit", formValues(a))
	f.Coordinates = actor.CanValidate(a)
	s.render(w, r, http.StatusOK, "authority_form", page{TitleKey: "authority_edit_title", Heading: a.Name, Data: f})
	return nil
}

func (s *Server) updateAuthority(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	id := r.PathValue("id")
	if _, err := s.authorities.Update(r.Context(), actor, id, inputFrom(r.PostForm)); err != nil {
		a, err2 := s.authorities.Get(r.Context(), id)
		if err2 != nil {
			return err2
		}
		f := s.form(r, "/authorities/"+id+"/edit", r.PostForm)
		f.Coordinates = actor.CanValidate(a)
		return s.formError(w, r, "authority_form", page{TitleKey: "authority_edit_title", Heading: a.Name, Data: f}, err)
	}
	return s.redirectWithNotice(w, r, "/authorities/"+id, "notice_authority_saved")
}

func (s *Server) authorityStatus(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	id := r.PathValue("id")
	to := map[string]authorities.Status{"validate": authorities.Validated, "deactivate": authorities.Deactivated, "reactivate": authorities.Active}[r.PathValue("action")]
	if to == "" {
		return problem.New(problem.NotFound, "error_not_found")
	}
	if err := s.authorities.SetStatus(r.Context(), actor, id, to); err != nil {
		return err
	}
	return s.redirectWithNotice(w, r, "/authorities/"+id, "notice_authority_saved")
}

type historyView struct {
	Authority *authorities.Authority
	Changes   []authorities.Change
}

func (s *Server) authorityHistory(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	a, err := s.authorities.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	changes, err := s.authorities.History(r.Context(), actor, a.ID)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "authority_history", page{TitleKey: "authority_history_title", Heading: a.Name, Data: historyView{Authority: a, Changes: changes}})
	return nil
}

type membersView struct {
	Authority *authorities.Authority
	Members   []authorities.Member
	Roles     []string
	Areas     []string
	Languages []i18n.Language
	Self      string
}

func (s *Server) membersData(r *http.Request, actor authorities.Actor, id string) (membersView, error) {
	a, err := s.authorities.Get(r.Context(), id)
	if err != nil {
		return membersView{}, err
	}
	members, err := s.authorities.Members(r.Context(), actor, a.ID)
	if err != nil {
		return membersView{}, err
	}
	roles := []string{authorities.RequestHandler, authorities.Allocator, authorities.AlertHandler, authorities.LocalDataAdministrator}
	if a.Kind.IsCoordinator() {
		roles = append(roles, authorities.Coordinator)
	}
	return membersView{Authority: a, Members: members, Roles: roles, Areas: a.Areas, Languages: i18n.Languages, Self: actor.UserID}, nil
}

func (s *Server) membersPage(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	v, err := s.membersData(r, actor, r.PathValue("id"))
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "members", page{TitleKey: "members_title", Heading: v.Authority.Name, Data: v})
	return nil
}

func rolesFrom(form url.Values) []authorities.UserRole {
	var out []authorities.UserRole
	for _, r := range form["roles"] {
		if role, err := authorities.ParseRole(r); err == nil {
			out = append(out, role)
		}
	}
	return out
}

// membersFormError shows the users page again with a form's problem.
func (s *Server) membersFormError(w http.ResponseWriter, r *http.Request, actor authorities.Actor, id string, err error) error {
	v, err2 := s.membersData(r, actor, id)
	if err2 != nil {
		return err2
	}
	return s.formError(w, r, "members", page{TitleKey: "members_title", Heading: v.Authority.Name, Data: v}, err)
}

func (s *Server) inviteMember(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	id := r.PathValue("id")
	inv := authorities.Invitation{Email: r.PostFormValue("email"), Name: r.PostFormValue("name"), Language: r.PostFormValue("language"), Roles: rolesFrom(r.PostForm)}
	if err := s.authorities.InviteUser(r.Context(), actor, id, inv); err != nil {
		return s.membersFormError(w, r, actor, id, err)
	}
	return s.redirectWithNotice(w, r, "/authorities/"+id+"/users", "notice_invitation_sent")
}

func (s *Server) memberRoles(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	id := r.PathValue("id")
	if err := s.authorities.SetRoles(r.Context(), actor, id, r.PathValue("user"), rolesFrom(r.PostForm)); err != nil {
		return s.membersFormError(w, r, actor, id, err)
	}
	return s.redirectWithNotice(w, r, "/authorities/"+id+"/users", "notice_roles_saved")
}

func (s *Server) deactivateMember(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	id := r.PathValue("id")
	if err := s.authorities.DeactivateMember(r.Context(), actor, id, r.PathValue("user"), visitOf(r).client.Address); err != nil {
		return err
	}
	return s.redirectWithNotice(w, r, "/authorities/"+id+"/users", "notice_roles_saved")
}

type neverUsedView struct {
	Country   string
	Countries []countryOption
	Items     []authorityView
}

func (s *Server) neverUsedPage(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	country := countries.Normalize(r.URL.Query().Get("country"))
	if country == "" && actor.Authority != nil {
		country = actor.Authority.Country
	}
	list, err := s.authorities.NeverUsed(r.Context(), actor, country)
	if err != nil {
		return err
	}
	v := neverUsedView{Country: country, Countries: s.countryOptions(visitOf(r).lang.Lang())}
	for _, a := range list {
		v.Items = append(v.Items, s.viewAuthority(r, a, actor))
	}
	s.render(w, r, http.StatusOK, "never_used", page{TitleKey: "never_used_title", Data: v})
	return nil
}

func (s *Server) remindAuthority(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	if err := s.authorities.Remind(r.Context(), actor, r.PathValue("id")); err != nil {
		return err
	}
	return s.redirectWithNotice(w, r, "/authorities/never-used?country="+url.QueryEscape(r.PostFormValue("country")), "notice_reminder_sent")
}

func (s *Server) inviteAuthority(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	if err := s.authorities.InviteAuthority(r.Context(), actor, r.PostFormValue("email"), r.PostFormValue("language")); err != nil {
		return err
	}
	return s.redirectWithNotice(w, r, "/authorities", "notice_invitation_sent")
}

type statsView struct {
	Stats     authorities.Stats
	Countries map[string]string
	AreaNames map[string]string
	ByAreas   []byAreasRow
}

type byAreasRow struct {
	Areas, Authorities int
}

func (s *Server) registryStatsPage(w http.ResponseWriter, r *http.Request) error {
	st, err := s.authorities.Stats(r.Context())
	if err != nil {
		return err
	}
	lang := visitOf(r).lang.Lang()
	v := statsView{Stats: st, Countries: map[string]string{}, AreaNames: map[string]string{}}
	for _, c := range st.Countries {
		v.Countries[c.Country] = countries.Name(c.Country, lang, "")
	}
	for _, code := range st.Areas {
		if p, err := s.areas.Pack(code); err == nil {
			v.AreaNames[code] = p.In(lang).Name
		}
	}
	for n := 1; n <= len(st.Areas); n++ {
		v.ByAreas = append(v.ByAreas, byAreasRow{Areas: n, Authorities: st.ByAreas[n]})
	}
	s.render(w, r, http.StatusOK, "registry_stats", page{TitleKey: "registry_stats_title", Data: v})
	return nil
}

type invitationView struct {
	Token string
	authorities.PendingInvitation
	Form authorityForm
}

// invitationPage lets an invited person choose a password (user
// invitation) or register their authority (authority invitation).
func (s *Server) invitationPage(w http.ResponseWriter, r *http.Request) error {
	token := r.PathValue("token")
	p, err := s.authorities.Invitation(r.Context(), token)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "invitation", page{TitleKey: "invitation_title", Data: invitationView{Token: token, PendingInvitation: p}})
	return nil
}

func (s *Server) acceptInvitation(w http.ResponseWriter, r *http.Request) error {
	token := r.PathValue("token")
	p, err := s.authorities.Invitation(r.Context(), token)
	if err != nil {
		return err
	}
	if r.PostFormValue("password") != r.PostFormValue("password_again") {
		return s.formError(w, r, "invitation", page{TitleKey: "invitation_title", Data: invitationView{Token: token, PendingInvitation: p}}, fieldProblem("password_again", "error_password_mismatch"))
	}
	if _, err := s.authorities.AcceptInvitation(r.Context(), token, r.PostFormValue("password")); err != nil {
		return s.formError(w, r, "invitation", page{TitleKey: "invitation_title", Data: invitationView{Token: token, PendingInvitation: p}}, err)
	}
	return s.redirectWithNotice(w, r, "/sign-in", "notice_account_ready")
}

func (s *Server) registerPage(w http.ResponseWriter, r *http.Request) error {
	token := r.PathValue("token")
	p, err := s.authorities.Invitation(r.Context(), token)
	if err != nil || p.Kind != "authority" {
		return problem.New(problem.NotFound, "error_invitation_invalid")
	}
	f := s.form(r, "/register/"+token, url.Values{"language": {p.Language}, "email": {p.Email}})
	f.Register, f.ByLink = true, true
	s.render(w, r, http.StatusOK, "authority_form", page{TitleKey: "authority_register_title", Data: f})
	return nil
}

func (s *Server) register(w http.ResponseWriter, r *http.Request) error {
	token := r.PathValue("token")
	if _, err := s.authorities.RegisterByInvitation(r.Context(), token, inputFrom(r.PostForm)); err != nil {
		f := s.form(r, "/register/"+token, r.PostForm)
		f.Register, f.ByLink = true, true
		return s.formError(w, r, "authority_form", page{TitleKey: "authority_register_title", Data: f}, err)
	}
	return s.redirectWithNotice(w, r, "/sign-in", "notice_authority_submitted")
}
