package registers

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/problem"
)

// Record is an entry in the exchange formats (CSV and JSON; see
// docs/REGISTERS.md). Authority is the holding authority's external
// identifier or id; Names maps language codes to names.
type Record struct {
	ExternalID  string            `json:"external_id"`
	Country     string            `json:"country"`
	Authority   string            `json:"authority"`
	Name        string            `json:"name"`
	Language    string            `json:"language"`
	Names       map[string]string `json:"names,omitempty"`
	Description string            `json:"description,omitempty"`
	Type        string            `json:"type"`
	Access      string            `json:"access"`
	Fees        bool              `json:"fees"`
	URL         string            `json:"url,omitempty"`
	LegalBasis  string            `json:"legal_basis,omitempty"`
	Languages   []string          `json:"languages,omitempty"`
	Areas       []string          `json:"areas,omitempty"`
	Status      string            `json:"status,omitempty"` // written by export, ignored by import
}

// Columns of the CSV format, in order.
var Columns = []string{"external_id", "country", "authority", "name", "language", "names", "description", "type", "access", "fees", "url",
	"legal_basis", "languages", "areas", "status"}

func record(e *Entry) Record {
	r := Record{ExternalID: e.ExternalID, Country: e.Country, Authority: e.AuthorityID, Name: e.Name, Language: e.Language, Names: e.Names,
		Description: e.Description, Type: e.Type, Access: e.Access, Fees: e.Fees, URL: e.URL, LegalBasis: e.LegalBasis, Languages: e.Languages,
		Areas: e.Areas, Status: e.Status}
	if e.Authority != nil && e.Authority.ExternalID != "" {
		r.Authority = e.Authority.ExternalID
	}
	return r
}

// Export writes every entry the actor may see, by country and name, as
// "csv" or "json".
func (s *Service) Export(ctx context.Context, actor authorities.Actor, w io.Writer, format string) error {
	if format != "csv" && format != "json" {
		return problem.Field("format", "error_format_unknown")
	}
	var list []*Entry
	for page := 1; ; page++ {
		found, total, err := s.Search(ctx, actor, Query{Page: page, PerPage: 100})
		if err != nil {
			return err
		}
		list = append(list, found...)
		if len(list) >= total || len(found) == 0 {
			break
		}
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].Country < list[j].Country })
	return Write(w, list, format)
}

// Write writes entries in the exchange format, "csv" or "json".
func Write(w io.Writer, list []*Entry, format string) error {
	records := make([]Record, len(list))
	for i, e := range list {
		records[i] = record(e)
	}
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(records)
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(Columns); err != nil {
		return err
	}
	for _, r := range records {
		var names []string
		for _, l := range sortedKeys(r.Names) {
			names = append(names, l+"="+r.Names[l])
		}
		// Text typed by people never starts a formula in a spreadsheet
		// (authorities.QuoteCell; the import undoes it).
		q := authorities.QuoteCell
		if err := cw.Write([]string{q(r.ExternalID), r.Country, r.Authority, q(r.Name), r.Language, q(strings.Join(names, ";")), q(r.Description), r.Type, r.Access,
			fmt.Sprint(r.Fees), q(r.URL), q(r.LegalBasis), strings.Join(r.Languages, ";"), strings.Join(r.Areas, ";"), r.Status}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// LineError is a problem with one record of an import.
type LineError struct {
	Line  int    // the CSV line or the JSON array position (from 1)
	Field string // the column
	Key   string // a message key
	Args  []any  // its placeholders
}

// ImportResult is what an import did, or would have done.
type ImportResult struct {
	Created, Updated int
	Errors           []LineError
}

// ParseRecords reads records in format ("csv" or "json"); the line of each
// record is returned beside it.
func ParseRecords(r io.Reader, format string) ([]Record, []int, error) {
	switch format {
	case "json":
		var list []Record
		if err := json.NewDecoder(r).Decode(&list); err != nil {
			return nil, nil, problem.Field("file", "error_json_invalid")
		}
		lines := make([]int, len(list))
		for i := range list {
			lines[i] = i + 1
		}
		return list, lines, nil
	case "csv":
		cr := csv.NewReader(r)
		cr.FieldsPerRecord = -1
		rows, err := cr.ReadAll()
		if err != nil || len(rows) == 0 {
			return nil, nil, problem.Field("file", "error_csv_syntax")
		}
		index := map[string]int{}
		for i, h := range rows[0] {
			index[strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))] = i
		}
		for _, c := range []string{"country", "authority", "name", "language", "type", "access"} {
			if _, ok := index[c]; !ok {
				return nil, nil, problem.Field("file", "error_column_missing", "Column", c)
			}
		}
		get := func(row []string, col string) string {
			if i, ok := index[col]; ok && i < len(row) {
				return authorities.UnquoteCell(strings.TrimSpace(row[i]))
			}
			return ""
		}
		split := func(v string) []string {
			var out []string
			for _, p := range strings.Split(v, ";") {
				if p = strings.TrimSpace(p); p != "" {
					out = append(out, p)
				}
			}
			return out
		}
		var list []Record
		var lines []int
		for n, row := range rows[1:] {
			rec := Record{ExternalID: get(row, "external_id"), Country: get(row, "country"), Authority: get(row, "authority"), Name: get(row, "name"),
				Language: get(row, "language"), Description: get(row, "description"), Type: get(row, "type"), Access: get(row, "access"),
				Fees: strings.EqualFold(get(row, "fees"), "true") || get(row, "fees") == "1", URL: get(row, "url"), LegalBasis: get(row, "legal_basis"),
				Languages: split(get(row, "languages")), Areas: split(get(row, "areas")), Names: map[string]string{}}
			for _, pair := range split(get(row, "names")) {
				if l, name, ok := strings.Cut(pair, "="); ok {
					rec.Names[strings.TrimSpace(l)] = strings.TrimSpace(name)
				}
			}
			list = append(list, rec)
			lines = append(lines, n+2)
		}
		return list, lines, nil
	}
	return nil, nil, problem.Field("format", "error_format_unknown")
}

// Import adds or (by external identifier) updates entries, all or
// nothing: every record is checked first, with the actor's rights for its
// country, and if any fails nothing is written and every problem is
// returned. dryRun checks only.
func (s *Service) Import(ctx context.Context, actor authorities.Actor, records []Record, lines []int, dryRun bool) (ImportResult, error) {
	var res ImportResult
	type planned struct {
		in     Input
		holder *authorities.Authority
		old    *Entry
	}
	var plan []planned
	seen := map[string]int{} // external id → its first line
	for i, rec := range records {
		line := lines[i]
		fail := func(field, key string, args ...any) {
			res.Errors = append(res.Errors, LineError{Line: line, Field: field, Key: key, Args: args})
		}
		in := Input{ExternalID: rec.ExternalID, Country: rec.Country, Name: rec.Name, Language: rec.Language, Names: rec.Names, Description: rec.Description,
			Type: rec.Type, Access: rec.Access, Fees: rec.Fees, URL: rec.URL, LegalBasis: rec.LegalBasis, Languages: rec.Languages, Areas: rec.Areas}
		if in.ExternalID != "" {
			if first, dup := seen[in.ExternalID]; dup {
				fail("external_id", "error_external_id_duplicate", "Line", first)
				continue
			}
			seen[in.ExternalID] = line
		}
		if a, err := s.authorities.Find(ctx, strings.TrimSpace(rec.Authority)); err == nil {
			in.AuthorityID = a.ID
		}
		holder, err := s.check(ctx, &in)
		if p, ok := problem.As(err); ok {
			fail(p.Field, p.Key, p.Args...)
			continue
		}
		if err != nil {
			return res, err
		}
		if !maintains(actor, in.Country) {
			fail("country", "error_register_forbidden")
			continue
		}
		var old *Entry
		if in.ExternalID != "" {
			var id string
			err := s.db.Read().QueryRowContext(ctx, `SELECT id FROM registers WHERE external_id = $1`, in.ExternalID).Scan(&id)
			switch {
			case err == nil:
				if old, err = s.load(ctx, s.db.Read(), id); err != nil {
					return res, err
				}
				if old.Country != in.Country {
					fail("country", "error_register_country_fixed")
					continue
				}
			case !errors.Is(db.Check(err), db.ErrNotFound):
				return res, db.Check(err)
			}
		}
		plan = append(plan, planned{in, holder, old})
	}
	if len(res.Errors) > 0 || dryRun {
		for _, p := range plan {
			if p.old == nil {
				res.Created++
			} else {
				res.Updated++
			}
		}
		return res, nil
	}
	now := s.clock()
	err := s.db.InTxAlone(ctx, func(tx db.Querier) error {
		res.Created, res.Updated = 0, 0
		for _, p := range plan {
			if p.old == nil {
				if _, err := s.create(ctx, tx, actor, p.holder, p.in, now); err != nil {
					return err
				}
				res.Created++
				continue
			}
			if err := s.update(ctx, tx, actor, p.holder, p.old, p.in, now); err != nil {
				return err
			}
			res.Updated++
		}
		return nil
	})
	if err == nil && len(plan) >= 1000 {
		err = s.db.AfterBulkChange(ctx, "registers", "register_names", "register_history", "register_fts")
	}
	return res, err
}
