package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/countries"
	"github.com/openimi/openimi/internal/problem"
)

// Authority is an authority as the API shows it.
type Authority struct {
	ID               string            `json:"id"`
	ExternalID       string            `json:"external_id,omitempty"`
	Country          string            `json:"country"`
	Name             string            `json:"name"`
	Language         string            `json:"language"`
	Names            map[string]string `json:"names,omitempty"`
	Descriptions     map[string]string `json:"descriptions,omitempty"`
	Acronym          string            `json:"acronym,omitempty"`
	Region           string            `json:"region,omitempty"`
	Street           string            `json:"street,omitempty"`
	Postcode         string            `json:"postcode,omitempty"`
	City             string            `json:"city,omitempty"`
	Email            string            `json:"email,omitempty"`
	Phone            string            `json:"phone,omitempty"`
	Website          string            `json:"website,omitempty"`
	Role             string            `json:"role"`
	AlertCoordinator bool              `json:"alert_coordinator"`
	Status           string            `json:"status"`
	ParentID         string            `json:"parent_id,omitempty"`
	Areas            []string          `json:"areas"`
	Competences      []Competence      `json:"competences,omitempty"`
	Supervisors      map[string]string `json:"supervisors,omitempty"`
	ScopeAreas       []string          `json:"scope_areas,omitempty"`
	ScopeRegions     []string          `json:"scope_regions,omitempty"`
	// In search results, texts in the requested language.
	DisplayName      string    `json:"display_name,omitempty"`
	CountryName      string    `json:"country_name,omitempty"`
	AreaNames        []string  `json:"area_names,omitempty"`
	CompetenceLabels []string  `json:"competence_labels,omitempty"`
	CreatedAt        time.Time `json:"created_at"`
	UpdatedAt        time.Time `json:"updated_at"`
}

// Competence is a vocabulary term an authority is competent for.
type Competence struct {
	Area       string `json:"area"`
	Vocabulary string `json:"vocabulary"`
	Term       string `json:"term"`
}

func authorityJSON(a *authorities.Authority) Authority {
	out := Authority{ID: a.ID, ExternalID: a.ExternalID, Country: a.Country, Name: a.Name, Language: a.Language, Names: a.Names, Descriptions: a.Descriptions,
		Acronym: a.Acronym, Region: a.Region, Street: a.Street, Postcode: a.Postcode, City: a.City, Email: a.Email, Phone: a.Phone, Website: a.Website,
		Role: string(a.Kind), AlertCoordinator: a.AlertCoordinator, Status: string(a.Status), ParentID: a.ParentID, Areas: a.Areas, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt,
		Supervisors: a.Supervisors, ScopeAreas: a.Scope.Areas, ScopeRegions: a.Scope.Regions}
	if out.Areas == nil {
		out.Areas = []string{}
	}
	for _, c := range a.Competences {
		out.Competences = append(out.Competences, Competence{Area: c.Area, Vocabulary: c.Vocabulary, Term: c.Term})
	}
	return out
}

// AuthorityInput is the body of a registration or an edit.
type AuthorityInput struct {
	ExternalID       string            `json:"external_id"`
	Country          string            `json:"country"`
	Name             string            `json:"name"`
	Language         string            `json:"language"`
	Names            map[string]string `json:"names"`
	Descriptions     map[string]string `json:"descriptions"`
	Acronym          string            `json:"acronym"`
	Region           string            `json:"region"`
	Street           string            `json:"street"`
	Postcode         string            `json:"postcode"`
	City             string            `json:"city"`
	Email            string            `json:"email"`
	Phone            string            `json:"phone"`
	Website          string            `json:"website"`
	Role             string            `json:"role"`
	AlertCoordinator bool              `json:"alert_coordinator"`
	ParentID         string            `json:"parent_id"`
	Areas            []string          `json:"areas"`
	Competences      []Competence      `json:"competences"`
	Supervisors      map[string]string `json:"supervisors"`
	ScopeAreas       []string          `json:"scope_areas"`
	ScopeRegions     []string          `json:"scope_regions"`
}

func (in AuthorityInput) input() authorities.Input {
	out := authorities.Input{ExternalID: in.ExternalID, Country: in.Country, Name: in.Name, Language: in.Language, Names: in.Names, Descriptions: in.Descriptions,
		Acronym: in.Acronym, Region: in.Region, Street: in.Street, Postcode: in.Postcode, City: in.City, Email: in.Email, Phone: in.Phone, Website: in.Website,
		Kind: authorities.Kind(in.Role), AlertCoordinator: in.AlertCoordinator, ParentID: in.ParentID, Areas: in.Areas,
		Supervisors: in.Supervisors, Scope: authorities.Scope{Areas: in.ScopeAreas, Regions: in.ScopeRegions}}
	if out.Names == nil {
		out.Names = map[string]string{}
	}
	if out.Descriptions == nil {
		out.Descriptions = map[string]string{}
	}
	for _, c := range in.Competences {
		out.Competences = append(out.Competences, authorities.Competence{Area: c.Area, Vocabulary: c.Vocabulary, Term: c.Term})
	}
	return out
}

// actingFunc is an API handler that acts on the registry as the token's
// user.
type actingFunc func(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error

// acting finds the token user's actor (authority and roles) once, for every
// handler of the network.
func (a *API) acting(h actingFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, u auth.User) error {
		actor, err := a.authorities.ActorOf(r.Context(), u)
		if err != nil {
			return err
		}
		return h(w, r, actor)
	}
}

// listAuthorities searches authorities: free text in any language (names,
// acronyms, city, region, competences through the vocabularies' labels)
// and filters, ranked by relevance; texts come in the requested language.
func (a *API) listAuthorities(w http.ResponseWriter, r *http.Request, u auth.User) error {
	q := r.URL.Query()
	lang, err := a.language(r, u)
	if err != nil {
		return err
	}
	page, perPage, err := paging(q.Get("page"), q.Get("per_page"))
	if err != nil {
		return err
	}
	var countryList []string
	for _, c := range q["country"] {
		for _, part := range strings.Split(c, ",") {
			code := countries.Normalize(part)
			if code == "" {
				return problem.Field("country", "error_country_unknown")
			}
			countryList = append(countryList, code)
		}
	}
	list, total, err := a.authorities.Search(r.Context(), authorities.Query{Text: q.Get("q"), Countries: countryList, Area: q.Get("area"),
		Competence: q.Get("competence"), Region: q.Get("region"), Kind: authorities.Kind(q.Get("role")), Page: page, PerPage: perPage})
	if err != nil {
		return err
	}
	l := a.catalog.Localizer(lang)
	items := make([]Authority, 0, len(list))
	for _, x := range list {
		j := authorityJSON(x)
		j.DisplayName = x.NameIn(lang)
		j.CountryName = countries.Name(x.Country, lang, l.T("logo_alt"))
		for _, c := range x.Competences {
			if p, err := a.areas.Pack(c.Area); err == nil {
				j.CompetenceLabels = append(j.CompetenceLabels, p.Text(lang, "vocabularies."+c.Vocabulary+".terms."+c.Term))
			}
		}
		for _, code := range x.Areas {
			if p, err := a.areas.Pack(code); err == nil {
				j.AreaNames = append(j.AreaNames, p.In(lang).Name)
			}
		}
		items = append(items, j)
	}
	shown := min(total, authorities.MaxResults)
	writeJSON(w, http.StatusOK, lang, map[string]any{"items": items, "total": shown, "more": total > shown, "page": page, "per_page": perPage})
	return nil
}

func (a *API) getAuthority(w http.ResponseWriter, r *http.Request, u auth.User) error {
	x, err := a.authorities.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, "", authorityJSON(x))
	return nil
}

func (a *API) createAuthority(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	var in AuthorityInput
	if err := decode(r, &in); err != nil {
		return err
	}
	x, err := a.authorities.Register(r.Context(), actor, in.input())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, "", authorityJSON(x))
	return nil
}

func (a *API) updateAuthority(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	var in AuthorityInput
	if err := decode(r, &in); err != nil {
		return err
	}
	x, err := a.authorities.Update(r.Context(), actor, r.PathValue("id"), in.input())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, "", authorityJSON(x))
	return nil
}

// StatusChange is the body of POST /authorities/{id}/status.
type StatusChange struct {
	Status string `json:"status"`
}

func (a *API) setAuthorityStatus(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	var in StatusChange
	if err := decode(r, &in); err != nil {
		return err
	}
	if err := a.authorities.SetStatus(r.Context(), actor, r.PathValue("id"), authorities.Status(in.Status)); err != nil {
		return err
	}
	x, err := a.authorities.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, "", authorityJSON(x))
	return nil
}

// Member is a user of an authority, as its administrators see it.
type Member struct {
	ID         string     `json:"id"`
	Email      string     `json:"email"`
	Name       string     `json:"name"`
	Active     bool       `json:"active"`
	Roles      []string   `json:"roles"`
	LastSignIn *time.Time `json:"last_sign_in"`
}

func (a *API) listMembers(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	members, err := a.authorities.Members(r.Context(), actor, r.PathValue("id"))
	if err != nil {
		return err
	}
	out := make([]Member, 0, len(members))
	for _, m := range members {
		j := Member{ID: m.ID, Email: m.Email, Name: m.Name, Active: m.Active, LastSignIn: m.LastSignIn, Roles: []string{}}
		for _, role := range m.Roles {
			s := role.Role
			if role.Area != "" {
				s += ":" + role.Area
			}
			j.Roles = append(j.Roles, s)
		}
		out = append(out, j)
	}
	writeJSON(w, http.StatusOK, "", map[string]any{"items": out})
	return nil
}

// InvitationInput is the body of an invitation to become a user.
type InvitationInput struct {
	Email    string   `json:"email"`
	Name     string   `json:"name"`
	Language string   `json:"language"`
	Roles    []string `json:"roles"`
}

func parseRoles(list []string) ([]authorities.UserRole, error) {
	var out []authorities.UserRole
	for _, s := range list {
		r, err := authorities.ParseRole(s)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func (a *API) inviteMember(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	var in InvitationInput
	if err := decode(r, &in); err != nil {
		return err
	}
	roles, err := parseRoles(in.Roles)
	if err != nil {
		return err
	}
	if err := a.authorities.InviteUser(r.Context(), actor, r.PathValue("id"), authorities.Invitation{Email: in.Email, Name: in.Name, Language: in.Language, Roles: roles}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// RolesInput is the body of PUT /authorities/{id}/users/{user}/roles.
type RolesInput struct {
	Roles []string `json:"roles"`
}

func (a *API) setMemberRoles(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	var in RolesInput
	if err := decode(r, &in); err != nil {
		return err
	}
	roles, err := parseRoles(in.Roles)
	if err != nil {
		return err
	}
	if err := a.authorities.SetRoles(r.Context(), actor, r.PathValue("id"), r.PathValue("user"), roles); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// HistoryLine is one change of an authority.
type HistoryLine struct {
	At     time.Time `json:"at"`
	UserID string    `json:"user_id,omitempty"`
	Field  string    `json:"field"`
	Old    string    `json:"old"`
	New    string    `json:"new"`
}

func (a *API) authorityHistory(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	changes, err := a.authorities.History(r.Context(), actor, r.PathValue("id"))
	if err != nil {
		return err
	}
	out := make([]HistoryLine, 0, len(changes))
	for _, c := range changes {
		out = append(out, HistoryLine{At: c.At, UserID: c.UserID, Field: c.Field, Old: c.Old, New: c.New})
	}
	writeJSON(w, http.StatusOK, "", map[string]any{"items": out})
	return nil
}

func (a *API) neverUsed(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	list, err := a.authorities.NeverUsed(r.Context(), actor, countries.Normalize(r.URL.Query().Get("country")))
	if err != nil {
		return err
	}
	items := make([]Authority, 0, len(list))
	for _, x := range list {
		items = append(items, authorityJSON(x))
	}
	writeJSON(w, http.StatusOK, "", map[string]any{"items": items})
	return nil
}

// CountryStats are one row of the registry statistics.
type CountryStats struct {
	Country        string         `json:"country"`
	PerArea        map[string]int `json:"per_area"`
	Total          int            `json:"total"`
	NeverUsedShare float64        `json:"never_used_share"`
}

func statsRow(c authorities.CountryStats) CountryStats {
	return CountryStats{Country: c.Country, PerArea: c.PerArea, Total: c.Total, NeverUsedShare: c.NeverUsedShare()}
}

func (a *API) registryStats(w http.ResponseWriter, r *http.Request, u auth.User) error {
	st, err := a.authorities.Stats(r.Context())
	if err != nil {
		return err
	}
	rows := make([]CountryStats, 0, len(st.Countries))
	for _, c := range st.Countries {
		rows = append(rows, statsRow(c))
	}
	writeJSON(w, http.StatusOK, "", map[string]any{"areas": st.Areas, "countries": rows, "total": statsRow(st.Total), "by_number_of_areas": st.ByAreas})
	return nil
}
