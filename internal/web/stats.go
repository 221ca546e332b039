package web

import (
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/problem"
	"github.com/openimi/openimi/internal/stats"
)

// groupings are the ways each statistic's rows can be grouped, as the
// page offers them (the API and the CLI take any allowed combination).
var groupings = map[string][]string{
	"exchanges":  {"area,month", "area,quarter", "area,year", "month", "quarter", "year"},
	"requests":   {"area,month", "area,quarter", "area,year", "category,quarter", "category,year", "requester_country", "responder_country", "requester_country,responder_country"},
	"questions":  {"", "quarter", "year"},
	"replies":    {"area", "country", "authority", "area,quarter", "country,year"},
	"scoreboard": nil,
}

type statsOption struct {
	Value, Label string
}

type statsHead struct {
	Label      string
	Num, Rated bool
}

type statsCell struct {
	Text, Status, StatusText string
	Num, Head                bool
}

type statsPageView struct {
	Name        string
	Names       []string
	Query       stats.Query
	By          string
	Groupings   []statsOption
	Areas       []areaName
	Countries   template.HTML // the country filter's options (countrySelect)
	Heads       []statsHead
	Rows        [][]statsCell
	Bars        []stats.Bar
	ChartLabel  string
	ExportCSV   template.URL // the exports of the same rows, built from url.Values
	ExportJSON  template.URL
	CanFollowUp bool
	Thresholds  stats.Thresholds
	Years       []int // the annual reports offered
}

// statsIndex opens the statistics on the scoreboard.
func (s *Server) statsIndex(w http.ResponseWriter, r *http.Request) error {
	http.Redirect(w, r, "/statistics/scoreboard", http.StatusSeeOther)
	return nil
}

// statsPage shows one statistic: filters, a chart and its data table,
// and links to export the same rows as CSV or JSON.
func (s *Server) statsPage(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	name := r.PathValue("name")
	options, ok := groupings[name]
	if !ok {
		return problem.New(problem.NotFound, "error_not_found")
	}
	l := visitOf(r).lang
	lang := l.Lang()
	q := stats.ParseQuery(r.URL.Query())
	labels := stats.NewLabels(lang, s.areas, l.T)
	v := statsPageView{Name: name, Names: stats.Statistics, Query: q, By: strings.Join(q.By, ","),
		CanFollowUp: actor.HasAny(authorities.Coordinator) || actor.IsCommission(), Thresholds: s.stats.Thresholds()}
	var err error
	if v.Countries, err = s.countrySelect(l, q.Country); err != nil {
		return err
	}
	for y := s.now().In(stats.Zone).Year(); len(v.Years) < 3; y-- {
		v.Years = append(v.Years, y)
	}
	if v.By == "" && len(options) > 0 {
		v.By = options[0]
		q.By = strings.Split(v.By, ",")
		if v.By == "" {
			q.By = nil
		}
	}
	for _, o := range options {
		if o == "authority" && !stats.CanSeeAuthorities(actor) {
			continue
		}
		var names []string
		for _, d := range strings.Split(o, ",") {
			if d != "" {
				names = append(names, l.T("stats_col_"+d))
			}
		}
		label := strings.Join(names, " · ")
		if o == "" {
			label = l.T("stats_by_nothing")
		}
		v.Groupings = append(v.Groupings, statsOption{Value: o, Label: label})
	}
	for _, p := range s.areas.Packs() {
		v.Areas = append(v.Areas, areaName{Code: p.Code, Name: p.In(lang).Name})
	}
	if name == "questions" && q.Area == "" && len(v.Areas) > 0 {
		q.Area = v.Areas[0].Code
		v.Query.Area = q.Area
	}
	for _, f := range []struct {
		format string
		to     *template.URL
	}{{"csv", &v.ExportCSV}, {"json", &v.ExportJSON}} {
		ev := q.Values()
		ev.Set("format", f.format)
		*f.to = template.URL("/statistics/" + url.PathEscape(name) + "/export?" + ev.Encode()) // #nosec G203 -- a local path, its parts escaped
	}
	p := page{TitleKey: "stats_" + name + "_title", Data: &v, Form: r.URL.Query()}
	t, err := s.stats.For(r.Context(), actor, name, q)
	if err != nil {
		return s.formError(w, r, "statistics", p, err)
	}
	for _, c := range t.Columns {
		v.Heads = append(v.Heads, statsHead{Label: labels.Column(c), Num: !c.Dimension(), Rated: c.Rated})
	}
	for _, row := range t.Rows {
		var cells []statsCell
		for i, c := range t.Columns {
			cells = append(cells, statsCell{Text: labels.Cell(c, row[i]), Num: !c.Dimension(), Head: i == 0,
				Status: row[i].Status, StatusText: labels.Status(row[i].Status)})
		}
		v.Rows = append(v.Rows, cells)
	}
	v.Bars = labels.Bars(t)
	if i := t.Column(t.Chart); i >= 0 {
		v.ChartLabel = labels.Column(t.Columns[i])
	}
	s.render(w, r, http.StatusOK, "statistics", p)
	return nil
}

// statsExport downloads a statistic as CSV or JSON: the rows the page shows.
func (s *Server) statsExport(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	name := r.PathValue("name")
	format := r.URL.Query().Get("format")
	if !slices.Contains(stats.Statistics, name) || format != "csv" && format != "json" {
		return problem.New(problem.NotFound, "error_not_found")
	}
	t, err := s.stats.For(r.Context(), actor, name, stats.ParseQuery(r.URL.Query()))
	if err != nil {
		return err
	}
	body, ct, err := t.Encode(format)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Disposition", `attachment; filename="imi-`+name+`.`+format+`"`)
	_, _ = w.Write(body) // #nosec G705 -- CSV or JSON under its own Content-Type with nosniff, never HTML
	return nil
}

// statsReport downloads the annual report of ?year= as HTML or PDF
// (?format=), in the reader's language.
func (s *Server) statsReport(w http.ResponseWriter, r *http.Request, actor authorities.Actor) error {
	q, l := r.URL.Query(), visitOf(r).lang
	body, ct, err := s.stats.RenderReport(r.Context(), q.Get("year"), q.Get("format"), s.authorities.Stats, stats.NewLabels(l.Lang(), s.areas, l.T))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", ct)
	if q.Get("format") == "pdf" {
		w.Header().Set("Content-Disposition", `attachment; filename="imi-report-`+q.Get("year")+`.pdf"`)
	}
	_, _ = w.Write(body) // #nosec G705 -- a PDF, or HTML rendered by html/template, which escapes
	return nil
}
