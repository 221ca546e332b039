package stats

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"math"
	"strconv"

	"github.com/openimi/openimi/internal/authorities"
)

// Column kinds. Dimensions name what a row is about; measures are numbers.
const (
	KindArea      = "area"      // an area code
	KindCountry   = "country"   // a country code
	KindPeriod    = "period"    // "2026", "2026-Q1" or "2026-01"
	KindCategory  = "category"  // a term of the area's statistics category
	KindQuestion  = "question"  // a question code of the area
	KindAuthority = "authority" // an authority: Code its id, Name its name
	KindCount     = "count"
	KindPercent   = "percent"
	KindDays      = "days"
)

// Column is one column of a table.
type Column struct {
	Key  string `json:"key"`  // the CSV header and JSON key; labels are "stats_col_<key>"
	Kind string `json:"kind"` // see the kinds above
	// Rated columns carry a status (green, amber, red) in "<key>_status".
	Rated bool `json:"rated,omitempty"`
}

// Dimension reports whether the column says what a row is about.
func (c Column) Dimension() bool {
	return c.Kind != KindCount && c.Kind != KindPercent && c.Kind != KindDays
}

// Cell is one value: a dimension's code (and name), or a measure.
type Cell struct {
	Code   string  // dimension: the code
	Name   string  // authority: its name
	Area   string  // category, question: the area the code belongs to
	Value  float64 // measure
	Null   bool    // measure without a value: a share of nothing
	Status string  // scoreboard: green, amber or red
}

// Table is a statistic's result: the same rows for the UI, the API, the
// CLI and the annual report.
type Table struct {
	Name    string   `json:"statistic"`
	Columns []Column `json:"columns"`
	Rows    [][]Cell `json:"-"`
	// Chart is the key of the measure the UI and the report draw.
	Chart string `json:"-"`
	// Total: the last row adds up the others (the network, "EU"); charts
	// leave it out.
	Total bool `json:"-"`
}

// value is a cell as CSV and JSON give it.
func (t *Table) value(c Column, cell Cell) any {
	switch {
	case c.Dimension():
		return cell.Code
	case cell.Null:
		return nil
	case c.Kind == KindCount:
		return int64(cell.Value)
	}
	return math.Round(cell.Value*10) / 10
}

// Records are the rows as JSON objects, keyed by column.
func (t *Table) Records() []map[string]any {
	out := make([]map[string]any, 0, len(t.Rows))
	for _, row := range t.Rows {
		m := make(map[string]any, len(row))
		for i, c := range t.Columns {
			m[c.Key] = t.value(c, row[i])
			if c.Kind == KindAuthority {
				m[c.Key+"_name"] = row[i].Name
			}
			if c.Rated {
				m[c.Key+"_status"] = row[i].Status
			}
		}
		out = append(out, m)
	}
	return out
}

// WriteJSON writes the table as {"statistic": …, "columns": […], "rows": [{…}]}.
func (t *Table) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(struct {
		*Table
		Rows []map[string]any `json:"rows"`
	}{t, t.Records()})
}

// WriteCSV writes a header of column keys and one line per row. Authority
// columns are followed by the authority's name; scoreboard indicators by
// their status.
func (t *Table) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	var head []string
	for _, c := range t.Columns {
		head = append(head, c.Key)
		if c.Kind == KindAuthority {
			head = append(head, c.Key+"_name")
		}
		if c.Rated {
			head = append(head, c.Key+"_status")
		}
	}
	if err := cw.Write(head); err != nil {
		return err
	}
	for _, row := range t.Rows {
		var line []string
		for i, c := range t.Columns {
			switch v := t.value(c, row[i]).(type) {
			case nil:
				line = append(line, "")
			case string:
				line = append(line, v)
			case int64:
				line = append(line, strconv.FormatInt(v, 10))
			case float64:
				line = append(line, strconv.FormatFloat(v, 'f', 1, 64))
			}
			if c.Kind == KindAuthority { // a name typed by people: never a formula
				line = append(line, authorities.QuoteCell(row[i].Name))
			}
			if c.Rated {
				line = append(line, row[i].Status)
			}
		}
		if err := cw.Write(line); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// Column returns the index of the column key, or -1.
func (t *Table) Column(key string) int {
	for i, c := range t.Columns {
		if c.Key == key {
			return i
		}
	}
	return -1
}

// Encode renders the table as "csv" or "json" (the default) and gives
// its content type: what the UI's and the API's downloads send.
func (t *Table) Encode(format string) ([]byte, string, error) {
	var buf bytes.Buffer
	if format == "csv" {
		err := t.WriteCSV(&buf)
		return buf.Bytes(), "text/csv; charset=utf-8", err
	}
	err := t.WriteJSON(&buf)
	return buf.Bytes(), "application/json", err
}
