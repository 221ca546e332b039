package stats

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"html/template"
	"io"
	"strconv"
	"time"

	"github.com/go-pdf/fpdf"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"

	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/problem"
)

//go:embed templates/report.html
var reportFiles embed.FS

// Section is one table of the annual report, with its chart.
type Section struct {
	Title string
	Intro string
	Table *Table
}

// Report is the annual report of a year: the network, then the tables of
// every statistic over the year's twelve Brussels months.
type Report struct {
	Year      int
	Generated time.Time
	Sections  []Section
}

// NetworkTables turn the registry's figures into tables: authorities per
// country and area with the share never used, and authorities per number
// of areas they are registered for.
func NetworkTables(st authorities.Stats) (perCountry, byAreas *Table) {
	perCountry = &Table{Name: "authorities", Chart: "total", Total: true, Columns: []Column{{Key: "country", Kind: KindCountry}}}
	for _, a := range st.Areas {
		perCountry.Columns = append(perCountry.Columns, Column{Key: "area_" + a, Kind: KindCount})
	}
	perCountry.Columns = append(perCountry.Columns, Column{Key: "total", Kind: KindCount}, Column{Key: "never_used_share", Kind: KindPercent})
	for _, c := range append(append([]authorities.CountryStats{}, st.Countries...), st.Total) {
		code := c.Country
		if code == "TOTAL" {
			code = "EU"
		}
		row := []Cell{{Code: code}}
		for _, a := range st.Areas {
			row = append(row, Cell{Value: float64(c.PerArea[a])})
		}
		row = append(row, Cell{Value: float64(c.Total)}, share(float64(c.NeverUsed), float64(c.Total)))
		perCountry.Rows = append(perCountry.Rows, row)
	}
	byAreas = &Table{Name: "authorities_by_areas", Chart: "authorities", Columns: []Column{{Key: "areas", Kind: KindPeriod}, {Key: "authorities", Kind: KindCount}}}
	for n := 1; n <= len(st.Areas); n++ {
		byAreas.Rows = append(byAreas.Rows, []Cell{{Code: strconv.Itoa(n)}, {Value: float64(st.ByAreas[n])}})
	}
	return perCountry, byAreas
}

// Report gathers the year's tables; network holds the registry's figures
// (authorities.Service.Stats).
func (s *Service) Report(ctx context.Context, year int, network authorities.Stats, l *Labels) (*Report, error) {
	if year < 2000 || year > 9999 {
		return nil, fmt.Errorf("report: %d is not a year", year)
	}
	y := strconv.Itoa(year)
	rep := &Report{Year: year, Generated: s.now()}
	perCountry, byAreas := NetworkTables(network)
	rep.Sections = append(rep.Sections,
		Section{Title: l.T("registry_stats_per_country"), Table: perCountry},
		Section{Title: l.T("registry_stats_by_areas"), Table: byAreas})
	year1 := Query{From: y + "-01", To: y + "-12"}
	add := func(name, title string, q Query) error {
		t, err := s.Table(ctx, name, q)
		if err != nil {
			return err
		}
		rep.Sections = append(rep.Sections, Section{Title: title, Intro: l.T("stats_" + name + "_intro"), Table: t})
		return nil
	}
	with := func(q Query, by ...string) Query { q.By = by; return q }
	if err := add("exchanges", l.T("stats_exchanges_title"), with(year1, "area", "quarter")); err != nil {
		return nil, err
	}
	if err := add("requests", l.T("stats_requests_title"), with(year1, "area", "month")); err != nil {
		return nil, err
	}
	for _, p := range s.areas.Packs() {
		if p.Statistics.Category == "" {
			continue
		}
		q := with(year1, "category", "quarter")
		q.Area = p.Code
		if err := add("requests", l.T("stats_requests_title")+" · "+p.In(l.Lang).Name+" · "+l.T("stats_col_category"), q); err != nil {
			return nil, err
		}
	}
	for _, p := range s.areas.Packs() {
		if len(p.QuestionSets) == 0 {
			continue
		}
		q := year1
		q.Area = p.Code
		if err := add("questions", l.T("stats_questions_title")+" · "+p.In(l.Lang).Name, q); err != nil {
			return nil, err
		}
	}
	if err := add("replies", l.T("stats_replies_title")+" · "+l.T("stats_col_area"), with(year1, "area")); err != nil {
		return nil, err
	}
	if err := add("replies", l.T("stats_replies_title")+" · "+l.T("stats_col_country"), with(year1, "country")); err != nil {
		return nil, err
	}
	net := with(year1, "country")
	net.Clock = "net"
	if err := add("replies", l.T("stats_replies_title")+" · "+l.T("stats_clock_net"), net); err != nil {
		return nil, err
	}
	if err := add("scoreboard", l.T("stats_scoreboard_title"), year1); err != nil {
		return nil, err
	}
	return rep, nil
}

// reportCell is a cell as the report prints it.
type reportCell struct {
	Text   string
	Num    bool
	Head   bool
	Status string
}

type reportSection struct {
	ID, Title, Intro, Measure string
	Heads                     []reportCell
	Rows                      [][]reportCell
	Bars                      []Bar
}

func (r *Report) sections(l *Labels) []reportSection {
	var out []reportSection
	for i, sec := range r.Sections {
		t := sec.Table
		rs := reportSection{ID: fmt.Sprintf("s%d", i+1), Title: sec.Title, Intro: sec.Intro, Bars: l.Bars(t)}
		if c := t.Column(t.Chart); c >= 0 {
			rs.Measure = l.Column(t.Columns[c])
		}
		for _, c := range t.Columns {
			label := l.Column(c)
			if len(c.Key) > 5 && c.Key[:5] == "area_" {
				label = l.Cell(Column{Kind: KindArea}, Cell{Code: c.Key[5:]})
			}
			rs.Heads = append(rs.Heads, reportCell{Text: label, Num: !c.Dimension()})
		}
		for _, row := range t.Rows {
			var cells []reportCell
			for j, c := range t.Columns {
				text := l.Cell(c, row[j])
				if row[j].Status != "" {
					text += " (" + l.Status(row[j].Status) + ")"
				}
				cells = append(cells, reportCell{Text: text, Num: !c.Dimension(), Head: j == 0, Status: row[j].Status})
			}
			rs.Rows = append(rs.Rows, cells)
		}
		out = append(out, rs)
	}
	return out
}

var reportTemplate = template.Must(template.New("report.html").Funcs(template.FuncMap{
	"chartHeight": func(bars int) int { return bars*40 + 10 },
	"chartY":      func(i int) int { return i*40 + 16 },
	"barY":        func(i int) int { return i*40 + 22 },
	"valueY":      func(i int) int { return i*40 + 34 },
	"barW":        func(share float64) float64 { return share * 6.2 },
	"valueX":      func(share float64) float64 { return share*6.2 + 6 },
}).ParseFS(reportFiles, "templates/report.html"))

// WriteHTML writes the report as one self-contained HTML page: tables,
// and SVG charts with their text alternative.
func (r *Report) WriteHTML(w io.Writer, l *Labels) error {
	return reportTemplate.Execute(w, map[string]any{
		"Lang": l.Lang, "Title": l.T("report_title", "Year", r.Year), "Intro": l.T("report_intro", "Year", r.Year),
		"Generated": l.T("report_generated", "Date", r.Generated.In(Zone).Format(time.DateOnly)), "Contents": l.T("report_contents"),
		"Sections": r.sections(l), "ChartAlt": func(m string) string { return l.T("stats_chart_alt", "Measure", m) },
	})
}

// WritePDF writes the report as a PDF in an embedded font that covers the
// Latin, Greek and Cyrillic alphabets of the IMI languages.
func (r *Report) WritePDF(w io.Writer, l *Labels) error {
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.AddUTF8FontFromBytes("go", "", goregular.TTF)
	pdf.AddUTF8FontFromBytes("go", "B", gobold.TTF)
	pdf.SetTitle(l.T("report_title", "Year", r.Year), true)
	pdf.SetCreator("OpenIMI", true)
	pdf.SetLang(l.Lang)
	pdf.SetAutoPageBreak(true, 15)
	pdf.SetFooterFunc(func() {
		pdf.SetY(-12)
		pdf.SetFont("go", "", 8)
		pdf.CellFormat(0, 6, strconv.Itoa(pdf.PageNo()), "", 0, "C", false, 0, "")
	})
	pdf.AddPage()
	pdf.SetFont("go", "B", 18)
	pdf.MultiCell(0, 9, l.T("report_title", "Year", r.Year), "", "L", false)
	pdf.SetFont("go", "", 10)
	pdf.MultiCell(0, 5, l.T("report_intro", "Year", r.Year), "", "L", false)
	pdf.MultiCell(0, 5, l.T("report_generated", "Date", r.Generated.In(Zone).Format(time.DateOnly)), "", "L", false)
	const width = 180.0 // printable width, mm
	for _, sec := range r.sections(l) {
		pdf.Ln(4)
		if pdf.GetY() > 240 {
			pdf.AddPage()
		}
		pdf.SetFont("go", "B", 12)
		pdf.MultiCell(0, 6, sec.Title, "", "L", false)
		if sec.Intro != "" {
			pdf.SetFont("go", "", 8)
			pdf.MultiCell(0, 4, sec.Intro, "", "L", false)
		}
		// The chart: a bar per row, labelled.
		if len(sec.Bars) > 0 && len(sec.Bars) <= 30 {
			pdf.SetFont("go", "", 7)
			for _, b := range sec.Bars {
				if pdf.GetY() > 275 {
					pdf.AddPage()
				}
				y := pdf.GetY()
				pdf.SetXY(15, y)
				pdf.CellFormat(70, 4, cut(b.Label, 60), "", 0, "L", false, 0, "")
				pdf.SetFillColor(0, 68, 148)
				pdf.Rect(86, y+0.5, 80*b.Share/100, 3, "F")
				pdf.SetXY(87+80*b.Share/100, y)
				pdf.CellFormat(25, 4, b.Text, "", 1, "L", false, 0, "")
			}
			pdf.Ln(2)
		}
		// The table: columns share the width, the first gets more.
		n := float64(len(sec.Heads))
		first := width * 0.3
		if n == 1 {
			first = width
		}
		other := (width - first) / max(n-1, 1)
		colW := func(i int) float64 {
			if i == 0 {
				return first
			}
			return other
		}
		row := func(cells []reportCell, bold bool) {
			style := ""
			if bold {
				style = "B"
			}
			pdf.SetFont("go", style, 7)
			h := 4.5
			for i, c := range cells {
				lines := pdf.SplitText(c.Text, colW(i)-1)
				h = max(h, float64(len(lines))*3.5+1)
			}
			if pdf.GetY()+h > 280 {
				pdf.AddPage()
			}
			x, y := 15.0, pdf.GetY()
			for i, c := range cells {
				align := "L"
				if c.Num {
					align = "R"
				}
				pdf.Rect(x, y, colW(i), h, "D")
				pdf.SetXY(x+0.5, y+0.5)
				pdf.MultiCell(colW(i)-1, 3.5, c.Text, "", align, false)
				x += colW(i)
			}
			pdf.SetXY(15, y+h)
		}
		pdf.SetDrawColor(180, 180, 180)
		row(sec.Heads, true)
		for _, cells := range sec.Rows {
			row(cells, false)
		}
	}
	if err := pdf.Error(); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := pdf.Output(&buf); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

func cut(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// RenderReport renders the annual report of year (as typed: "2026") in
// format "html" or "pdf", for the UI and the API, and gives its content
// type. network reads the registry's figures (authorities.Service.Stats).
func (s *Service) RenderReport(ctx context.Context, year, format string, network func(context.Context) (authorities.Stats, error), l *Labels) ([]byte, string, error) {
	if format != "html" && format != "pdf" {
		return nil, "", problem.Field("format", "error_stats_report_format")
	}
	y, err := strconv.Atoi(year)
	if err != nil || y < 2000 || y > s.now().In(Zone).Year() {
		return nil, "", problem.Field("year", "error_stats_year")
	}
	st, err := network(ctx)
	if err != nil {
		return nil, "", err
	}
	rep, err := s.Report(ctx, y, st, l)
	if err != nil {
		return nil, "", err
	}
	var buf bytes.Buffer
	ct := "text/html; charset=utf-8"
	if format == "pdf" {
		ct = "application/pdf"
		err = rep.WritePDF(&buf, l)
	} else {
		err = rep.WriteHTML(&buf, l)
	}
	return buf.Bytes(), ct, err
}
