package api

import (
	"bytes"
	"net/http"
	"strings"

	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/problem"
)

// ImportLine is one problem with an imported row, in the client's language.
type ImportLine struct {
	Line    int    `json:"line"`
	Column  string `json:"column"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ImportSummary is the answer to an import.
type ImportSummary struct {
	Created   int          `json:"created"`
	Updated   int          `json:"updated"`
	Unchanged int          `json:"unchanged"`
	Skipped   []ImportLine `json:"skipped"`
	Errors    []ImportLine `json:"errors"`
}

// importFormat is the format of an import body: ?format=, else the
// content type.
func importFormat(r *http.Request) string {
	if f := r.URL.Query().Get("format"); f != "" {
		return f
	}
	switch ct := r.Header.Get("Content-Type"); {
	case bytes.HasPrefix([]byte(ct), []byte("application/json")):
		return "json"
	case bytes.HasPrefix([]byte(ct), []byte("text/csv")):
		return "csv"
	}
	return ""
}

// importAuthorities imports a CSV or JSON file of authorities: all or
// nothing, or, with ?skip_invalid=true, the valid rows. Each row is checked
// against the caller's scope.
func (a *API) importAuthorities(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	// Importing files is for coordinators, as in the UI; an authority's
	// administrator edits its own entry instead.
	if !actor.CanExport() {
		return problem.New(problem.Forbidden, "error_forbidden")
	}
	format := importFormat(r)
	if format != "csv" && format != "json" {
		return problem.Field("format", "error_format_unknown")
	}
	body := &limitedBody{Reader: r.Body}
	res, err := a.authorities.ImportFile(r.Context(), actor, body, format, authorities.ImportOptions{SkipInvalid: r.URL.Query().Get("skip_invalid") == "true"})
	if body.over {
		return errImportTooLarge
	}
	l := a.catalog.Localizer(a.catalog.Negotiate(actor.Language, r.Header.Get("Accept-Language")))
	lines := func(list []authorities.ImportError) []ImportLine {
		out := []ImportLine{}
		for _, e := range list {
			out = append(out, ImportLine{Line: e.Line, Column: e.Column, Code: e.Problem.Key, Message: e.Message(l)})
		}
		return out
	}
	sum := ImportSummary{Created: res.Created, Updated: res.Updated, Unchanged: res.Unchanged, Skipped: lines(res.Skipped), Errors: lines(res.Errors)}
	if len(res.Errors) > 0 {
		writeJSON(w, http.StatusBadRequest, l.Lang(), sum)
		return nil
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, l.Lang(), sum)
	return nil
}

// exportAuthorities writes the whole registry in the import format. The
// data is not personal, but a full export is for coordinators.
func (a *API) exportAuthorities(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	if !actor.CanExport() {
		return problem.New(problem.Forbidden, "error_forbidden")
	}
	ct, name, ok := authorities.ExportMedia(r.URL.Query().Get("format"))
	if !ok {
		return problem.Field("format", "error_format_unknown")
	}
	var buf bytes.Buffer
	if err := a.authorities.Export(r.Context(), &buf, strings.TrimPrefix(name, "authorities.")); err != nil {
		return err
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	_, _ = w.Write(buf.Bytes())
	return nil
}
