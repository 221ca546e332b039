package api

import (
	"net/http"
	"strconv"

	"github.com/openimi/openimi/internal/areas"
	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/i18n"
	"github.com/openimi/openimi/internal/problem"
)

// language picks the language of texts in a response: the lang parameter,
// else the user's profile, else Accept-Language, else English.
func (a *API) language(r *http.Request, u auth.User) (string, error) {
	if lang := r.URL.Query().Get("lang"); lang != "" {
		if !i18n.Supported(lang) {
			return "", problem.Field("lang", "error_language_unknown")
		}
		return lang, nil
	}
	return a.catalog.Negotiate(u.Language, r.Header.Get("Accept-Language")), nil
}

// AreaSummary is an area in the list of areas.
type AreaSummary struct {
	Code        string         `json:"code"`
	Version     int            `json:"version"`
	Language    string         `json:"language"`
	Name        string         `json:"name"`
	Description string         `json:"description"`
	LegalBasis  []string       `json:"legal_basis"`
	Workflow    areas.Workflow `json:"workflow"`
}

func (a *API) listAreas(w http.ResponseWriter, r *http.Request, u auth.User) error {
	lang, err := a.language(r, u)
	if err != nil {
		return err
	}
	out := []AreaSummary{}
	for _, p := range a.areas.Packs() {
		l := p.In(lang)
		out = append(out, AreaSummary{Code: l.Code, Version: l.Version, Language: l.Language, Name: l.Name, Description: l.Description, LegalBasis: l.LegalBasis, Workflow: l.Workflow})
	}
	writeJSON(w, http.StatusOK, lang, map[string]any{"items": out})
	return nil
}

// areaIn reads the area named in the path and the language of the answer.
func (a *API) areaIn(r *http.Request, u auth.User) (*areas.Pack, string, error) {
	lang, err := a.language(r, u)
	if err != nil {
		return nil, "", err
	}
	p, err := a.areas.Pack(r.PathValue("area"))
	return p, lang, err
}

// getArea returns a whole area in one language: subject fields,
// vocabularies and question sets. ?version=N returns an earlier version
// (the one an exchange was made with).
func (a *API) getArea(w http.ResponseWriter, r *http.Request, u auth.User) error {
	p, lang, err := a.areaIn(r, u)
	if err != nil {
		return err
	}
	if v := r.URL.Query().Get("version"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return problem.Field("version", "error_not_found")
		}
		if p, err = a.areas.Version(r.Context(), a.db.Read(), p.Code, n); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, lang, p.In(lang))
	return nil
}

func (a *API) getQuestionSet(w http.ResponseWriter, r *http.Request, u auth.User) error {
	p, lang, err := a.areaIn(r, u)
	if err != nil {
		return err
	}
	set := p.In(lang).QuestionSet(r.PathValue("set"))
	if set == nil {
		return problem.New(problem.NotFound, "error_not_found")
	}
	writeJSON(w, http.StatusOK, lang, set)
	return nil
}

func (a *API) getVocabulary(w http.ResponseWriter, r *http.Request, u auth.User) error {
	p, lang, err := a.areaIn(r, u)
	if err != nil {
		return err
	}
	v := p.In(lang).Vocabulary(r.PathValue("vocabulary"))
	if v == nil {
		return problem.New(problem.NotFound, "error_not_found")
	}
	writeJSON(w, http.StatusOK, lang, v)
	return nil
}
