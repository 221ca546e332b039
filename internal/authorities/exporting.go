package authorities

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"slices"
	"sort"

	"github.com/openimi/openimi/internal/problem"
)

// Formats are the file formats of import and export.
var Formats = []string{"csv", "json"}

// Export writes every authority of the registry except the Commission, in
// format "csv" or "json" (see Columns), ordered by country, role and name.
// Importing what it writes changes nothing. Authorities without an
// external id are written with their OpenIMI id in its place, which an
// import recognises. In CSV, a cell that a spreadsheet would read as a
// formula gets a leading quote, which the import removes again. Callers
// decide who may export: the whole registry is written.
func (s *Service) Export(ctx context.Context, w io.Writer, format string) error {
	if !slices.Contains(Formats, format) {
		return problem.Field("format", "error_format_unknown")
	}
	rows, err := s.ExportRows(ctx)
	if err != nil {
		return err
	}
	if format == "json" {
		return writeJSON(w, rows)
	}
	return writeCSV(w, rows)
}

// ExportRows returns the rows Export writes.
func (s *Service) ExportRows(ctx context.Context) ([]Row, error) {
	q := s.db.Read()
	refs := map[string]string{} // id → what a file calls it
	err := scanEach(ctx, q, `SELECT id, COALESCE(external_id, '') FROM authorities`, nil, func(scan func(...any) error) error {
		var id, ext string
		if err := scan(&id, &ext); err != nil {
			return err
		}
		if ext == "" {
			ext = id
		}
		refs[id] = ext
		return nil
	})
	if err != nil {
		return nil, err
	}
	list, err := s.queryAuthorities(ctx, q, `SELECT `+authorityColumns+` FROM authorities WHERE role <> $1`, string(Commission))
	if err != nil {
		return nil, err
	}
	if err := s.loadMany(ctx, q, list); err != nil {
		return nil, err
	}
	rank := func(k Kind) int {
		return slices.Index([]Kind{NationalCoordinator, DelegatedCoordinator, CompetentAuthority}, k)
	}
	sort.Slice(list, func(i, j int) bool {
		a, b := list[i], list[j]
		switch {
		case a.Country != b.Country:
			return a.Country < b.Country
		case a.Kind != b.Kind:
			return rank(a.Kind) < rank(b.Kind)
		case a.Name != b.Name:
			return a.Name < b.Name
		}
		return a.ID < b.ID
	})
	terms := s.termIndex()
	rows := make([]Row, len(list))
	for i, a := range list {
		r := Row{ExternalID: refs[a.ID], Country: a.Country, Name: a.Name, Language: a.Language, Areas: a.Areas, NameEN: a.Names["en"],
			Acronym: a.Acronym, Region: a.Region, City: a.City, Postcode: a.Postcode, Street: a.Street, Email: a.Email, Phone: a.Phone,
			Website: a.Website, Role: string(a.Kind), ParentExternalID: refs[a.ParentID], Competences: []string{}}
		if r.Areas == nil {
			r.Areas = []string{}
		}
		for _, c := range a.Competences {
			r.Competences = append(r.Competences, terms.name(c, a.Areas))
		}
		sort.Strings(r.Competences)
		rows[i] = r
	}
	return rows, nil
}

func writeCSV(w io.Writer, rows []Row) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(Columns); err != nil {
		return err
	}
	record := make([]string, len(Columns))
	for i := range rows {
		for j, c := range Columns {
			record[j] = QuoteCell(rows[i].text(c))
		}
		if err := cw.Write(record); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// writeJSON writes one object a line, so that exports diff well.
func writeJSON(w io.Writer, rows []Row) error {
	bw := bufio.NewWriter(w)
	var item bytes.Buffer
	enc := json.NewEncoder(&item)
	enc.SetEscapeHTML(false)
	_, _ = bw.WriteString("[")
	for i := range rows {
		if i > 0 {
			_, _ = bw.WriteString(",")
		}
		item.Reset()
		if err := enc.Encode(&rows[i]); err != nil {
			return err
		}
		_, _ = bw.WriteString("\n")
		_, _ = bw.Write(bytes.TrimSuffix(item.Bytes(), []byte("\n")))
	}
	_, _ = bw.WriteString("\n]\n")
	return bw.Flush() // bufio keeps the first write error until here
}

// ExportMedia returns the content type and file name of an export in a
// format ("" means csv), and false for an unknown format.
func ExportMedia(format string) (contentType, filename string, ok bool) {
	switch format {
	case "", "csv":
		return "text/csv; charset=utf-8", "authorities.csv", true
	case "json":
		return "application/json; charset=utf-8", "authorities.json", true
	}
	return "", "", false
}
