package api

import (
	"bytes"
	"net/http"
	"slices"
	"time"

	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/countries"
	"github.com/openimi/openimi/internal/problem"
	"github.com/openimi/openimi/internal/registers"
)

// RegisterJSON is a register entry.
type RegisterJSON struct {
	ID          string            `json:"id"`
	ExternalID  string            `json:"external_id,omitempty"`
	Country     string            `json:"country"`
	AuthorityID string            `json:"authority_id"`
	Name        string            `json:"name"`
	Language    string            `json:"language"`
	Names       map[string]string `json:"names"`
	Description string            `json:"description,omitempty"`
	Type        string            `json:"type"`
	Access      string            `json:"access"`
	Fees        bool              `json:"fees"`
	URL         string            `json:"url,omitempty"`
	LegalBasis  string            `json:"legal_basis,omitempty"`
	Languages   []string          `json:"languages"`
	Areas       []string          `json:"areas"`
	Status      string            `json:"status"`
	ValidatedAt *time.Time        `json:"validated_at,omitempty"`
	UpdatedAt   time.Time         `json:"updated_at"`
	CanEdit     bool              `json:"can_edit"`
	CanValidate bool              `json:"can_validate"`
}

// RegisterToJSON is e as the API writes it.
func RegisterToJSON(e *registers.Entry) RegisterJSON {
	j := RegisterJSON{ID: e.ID, ExternalID: e.ExternalID, Country: e.Country, AuthorityID: e.AuthorityID, Name: e.Name, Language: e.Language, Names: e.Names,
		Description: e.Description, Type: e.Type, Access: e.Access, Fees: e.Fees, URL: e.URL, LegalBasis: e.LegalBasis, Languages: nonNil(e.Languages),
		Areas: nonNil(e.Areas), Status: e.Status, ValidatedAt: e.ValidatedAt, UpdatedAt: e.UpdatedAt, CanEdit: e.CanEdit, CanValidate: e.CanValidate}
	if j.Names == nil {
		j.Names = map[string]string{}
	}
	return j
}

// RegisterInput is the body that writes an entry.
type RegisterInput struct {
	AuthorityID string            `json:"authority_id"`
	Name        string            `json:"name"`
	Language    string            `json:"language"`
	Names       map[string]string `json:"names"`
	Description string            `json:"description"`
	Type        string            `json:"type"`
	Access      string            `json:"access"`
	Fees        bool              `json:"fees"`
	URL         string            `json:"url"`
	LegalBasis  string            `json:"legal_basis"`
	Languages   []string          `json:"languages"`
	Areas       []string          `json:"areas"`
	ExternalID  string            `json:"external_id"`
}

func readRegister(r *http.Request) (registers.Input, error) {
	var in RegisterInput
	if err := decode(r, &in); err != nil {
		return registers.Input{}, err
	}
	return registers.Input{ExternalID: in.ExternalID, AuthorityID: in.AuthorityID, Name: in.Name, Language: in.Language, Names: in.Names,
		Description: in.Description, Type: in.Type, Access: in.Access, Fees: in.Fees, URL: in.URL, LegalBasis: in.LegalBasis,
		Languages: in.Languages, Areas: in.Areas}, nil
}

// listRegisters searches the directory.
func (a *API) listRegisters(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	q := r.URL.Query()
	page, perPage, err := paging(q.Get("page"), q.Get("per_page"))
	if err != nil {
		return err
	}
	query := registers.Query{Text: q.Get("q"), Type: q.Get("type"), Area: q.Get("area"), Access: q.Get("access"), Status: q.Get("status"), Page: page, PerPage: perPage}
	if query.Status != "" && !slices.Contains(registers.Statuses, query.Status) {
		return problem.Field("status", "error_register_status")
	}
	for _, c := range q["country"] {
		code := countries.Normalize(c)
		if code == "" {
			return problem.Field("country", "error_country_unknown")
		}
		query.Countries = append(query.Countries, code)
	}
	list, total, err := a.registers.Search(r.Context(), actor, query)
	if err != nil {
		return err
	}
	items := make([]RegisterJSON, 0, len(list))
	for _, e := range list {
		items = append(items, RegisterToJSON(e))
	}
	writeJSON(w, http.StatusOK, "", map[string]any{"items": items, "total": total, "more": total > registers.MaxResults, "page": page, "per_page": perPage})
	return nil
}

func (a *API) createRegister(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	in, err := readRegister(r)
	if err != nil {
		return err
	}
	e, err := a.registers.Create(r.Context(), actor, in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/registers/"+e.ID)
	writeJSON(w, http.StatusCreated, "", RegisterToJSON(e))
	return nil
}

func (a *API) getRegister(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	e, err := a.registers.Get(r.Context(), actor, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, "", RegisterToJSON(e))
	return nil
}

func (a *API) updateRegister(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	in, err := readRegister(r)
	if err != nil {
		return err
	}
	e, err := a.registers.Update(r.Context(), actor, r.PathValue("id"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, "", RegisterToJSON(e))
	return nil
}

func (a *API) validateRegister(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	e, err := a.registers.Validate(r.Context(), actor, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, "", RegisterToJSON(e))
	return nil
}

func (a *API) withdrawRegister(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	e, err := a.registers.Withdraw(r.Context(), actor, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, "", RegisterToJSON(e))
	return nil
}

func (a *API) registerHistory(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	list, err := a.registers.History(r.Context(), actor, r.PathValue("id"))
	if err != nil {
		return err
	}
	type change struct {
		At    time.Time `json:"at"`
		User  string    `json:"user,omitempty"`
		Field string    `json:"field"`
		Old   string    `json:"old"`
		New   string    `json:"new"`
	}
	out := make([]change, 0, len(list))
	for _, c := range list {
		out = append(out, change{At: c.At, User: c.UserName, Field: c.Field, Old: c.Old, New: c.New})
	}
	writeJSON(w, http.StatusOK, "", map[string]any{"items": out})
	return nil
}

func (a *API) exportRegisters(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "json"
	}
	var buf bytes.Buffer
	if err := a.registers.Export(r.Context(), actor, &buf, format); err != nil {
		return err
	}
	ct := "application/json"
	if format == "csv" {
		ct = "text/csv; charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
	_, _ = w.Write(buf.Bytes())
	return nil
}

// importRegisters reads a CSV or JSON body (?format=, or by Content-Type);
// ?dry_run=true checks only.
func (a *API) importRegisters(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	if !registers.CanAdd(actor) {
		return problem.New(problem.Forbidden, "error_register_forbidden")
	}
	format := importFormat(r)
	body := &limitedBody{Reader: r.Body}
	records, lines, err := registers.ParseRecords(body, format)
	if body.over {
		return errImportTooLarge
	}
	if err != nil {
		return err
	}
	res, err := a.registers.Import(r.Context(), actor, records, lines, r.URL.Query().Get("dry_run") == "true")
	if err != nil {
		return err
	}
	l := a.catalog.Localizer(a.catalog.Negotiate(actor.Language, r.Header.Get("Accept-Language")))
	errs := []ImportLine{}
	for _, e := range res.Errors {
		errs = append(errs, ImportLine{Line: e.Line, Column: e.Field, Code: e.Key, Message: l.T(e.Key, e.Args...)})
	}
	sum := map[string]any{"created": res.Created, "updated": res.Updated, "errors": errs}
	code := http.StatusOK
	if len(errs) > 0 {
		code = http.StatusBadRequest
	}
	writeJSON(w, code, l.Lang(), sum)
	return nil
}
