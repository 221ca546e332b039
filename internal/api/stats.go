package api

import (
	"net/http"

	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/i18n"
	"github.com/openimi/openimi/internal/problem"
	"github.com/openimi/openimi/internal/stats"
)

// statistic returns one statistic as JSON (default) or CSV (?format=csv):
// the same rows the UI, the CLI and the annual report show.
func (a *API) statistic(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "csv" {
		return problem.Field("format", "error_stats_format")
	}
	t, err := a.stats.For(r.Context(), actor, r.PathValue("name"), stats.ParseQuery(r.URL.Query()))
	if err != nil {
		return err
	}
	body, ct, err := t.Encode(format)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", ct)
	_, _ = w.Write(body) // #nosec G705 -- CSV or JSON under its own Content-Type with nosniff, never HTML
	return nil
}

// statsReport returns the annual report of ?year= as PDF (default) or
// HTML (?format=html), in ?lang= (default: the caller's language).
func (a *API) statsReport(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	q := r.URL.Query()
	format, lang := q.Get("format"), q.Get("lang")
	if format == "" {
		format = "pdf"
	}
	if !i18n.Supported(lang) {
		lang = a.catalog.Negotiate(actor.Language, r.Header.Get("Accept-Language"))
	}
	body, ct, err := a.stats.RenderReport(r.Context(), q.Get("year"), format, a.authorities.Stats, stats.NewLabels(lang, a.areas, a.catalog.Localizer(lang).T))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Disposition", `attachment; filename="imi-report-`+q.Get("year")+`.`+format+`"`)
	_, _ = w.Write(body) // #nosec G705 -- a PDF, or HTML rendered by html/template, which escapes
	return nil
}
