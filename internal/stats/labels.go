package stats

import (
	"math"
	"strings"

	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/openimi/openimi/internal/areas"
	"github.com/openimi/openimi/internal/countries"
)

// Labels names a table's columns and cells in one language, for the UI
// and the annual report.
type Labels struct {
	Lang string
	Reg  *areas.Registry
	T    func(key string, args ...any) string // the catalog's translation
	p    *message.Printer
}

// NewLabels returns the labels of language lang.
func NewLabels(lang string, reg *areas.Registry, t func(string, ...any) string) *Labels {
	return &Labels{Lang: lang, Reg: reg, T: t, p: message.NewPrinter(language.Make(lang))}
}

// Column is a column's heading.
func (l *Labels) Column(c Column) string { return l.T("stats_col_" + c.Key) }

// Status names a scoreboard rating.
func (l *Labels) Status(s string) string {
	if s == "" {
		return ""
	}
	return l.T("stats_status_" + s)
}

// Cell is a cell as a reader sees it: a dimension's name, a number
// written the language's way ("–" where there is none).
func (l *Labels) Cell(c Column, cell Cell) string {
	switch c.Kind {
	case KindArea:
		if p, err := l.Reg.Pack(cell.Code); err == nil {
			return p.In(l.Lang).Name
		}
	case KindCountry:
		if cell.Code == "EU" {
			return l.T("stats_network")
		}
		return countries.Name(cell.Code, l.Lang, "")
	case KindAuthority:
		return cell.Name
	case KindCategory:
		if p, err := l.Reg.Pack(cell.Area); err == nil {
			if f := p.Field(p.Statistics.Category); f != nil {
				if name := p.Text(l.Lang, "vocabularies."+f.Vocabulary+".terms."+cell.Code); name != "" {
					return name
				}
			}
		}
		if cell.Code == "" {
			return l.T("stats_unknown")
		}
	case KindQuestion:
		if p, err := l.Reg.Pack(cell.Area); err == nil {
			if q := p.In(l.Lang).Question(cell.Code); q != nil {
				return q.Display
			}
		}
	case KindCount:
		return l.p.Sprintf("%d", int64(cell.Value))
	case KindPercent:
		if cell.Null {
			return "–"
		}
		return l.p.Sprintf("%.1f %%", cell.Value)
	case KindDays:
		if cell.Null {
			return "–"
		}
		return l.p.Sprintf("%.1f", cell.Value)
	}
	return cell.Code
}

// Bar is one bar of a chart.
type Bar struct {
	Label string  // what the row is about
	Text  string  // the value as read
	Share float64 // its length, 0–100, of the longest bar (percentages: of 100)
}

// MaxBars is the most bars a chart draws; the table holds every row.
const MaxBars = 40

// Bars are the bars of t's chart: one per row (at most MaxBars), the
// length the chart's measure.
func (l *Labels) Bars(t *Table) []Bar {
	col := t.Column(t.Chart)
	if col < 0 {
		return nil
	}
	rows := t.Rows
	if t.Total && len(rows) > 0 {
		rows = rows[:len(rows)-1]
	}
	var top float64
	for _, row := range rows {
		top = math.Max(top, row[col].Value)
	}
	if t.Columns[col].Kind == KindPercent {
		top = 100
	}
	var out []Bar
	for i, row := range rows {
		if i == MaxBars {
			break
		}
		var names []string
		for j, c := range t.Columns {
			if c.Dimension() {
				names = append(names, l.Cell(c, row[j]))
			}
		}
		b := Bar{Label: strings.Join(names, " · "), Text: l.Cell(t.Columns[col], row[col])}
		if top > 0 && !row[col].Null {
			b.Share = 100 * row[col].Value / top
		}
		out = append(out, b)
	}
	return out
}
