package authorities

import (
	"bytes"
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/problem"
)

// Columns are the columns of the import and export formats, in the order
// the export writes them. docs/AUTHORITIES-IMPORT.md describes them.
var Columns = []string{
	"external_id", "country", "name", "language", "areas",
	"name_en", "acronym", "region", "city", "postcode", "street", "email", "phone", "website",
	"role", "parent_external_id", "competences",
}

// RequiredColumns must be in every CSV header.
var RequiredColumns = []string{"external_id", "country", "name", "language", "areas"}

// Row is one authority in an import or export file. Areas and Competences
// are lists (in CSV one cell each, separated by ";").
type Row struct {
	Line             int      `json:"-"` // of the file: CSV line, or 1-based JSON item
	ExternalID       string   `json:"external_id"`
	Country          string   `json:"country"`
	Name             string   `json:"name"`
	Language         string   `json:"language"`
	Areas            []string `json:"areas"`
	NameEN           string   `json:"name_en"`
	Acronym          string   `json:"acronym"`
	Region           string   `json:"region"`
	City             string   `json:"city"`
	Postcode         string   `json:"postcode"`
	Street           string   `json:"street"`
	Email            string   `json:"email"`
	Phone            string   `json:"phone"`
	Website          string   `json:"website"`
	Role             string   `json:"role"`
	ParentExternalID string   `json:"parent_external_id"`
	Competences      []string `json:"competences"`
}

// text returns the cell of a column as the CSV writes it.
func (r *Row) text(column string) string {
	switch column {
	case "areas":
		return strings.Join(r.Areas, ";")
	case "competences":
		return strings.Join(r.Competences, ";")
	}
	if p := r.field(column); p != nil {
		return *p
	}
	return ""
}

// setText sets a column from its CSV cell.
func (r *Row) setText(column, v string) {
	switch column {
	case "areas":
		r.Areas = splitList(v)
	case "competences":
		r.Competences = splitList(v)
	default:
		if p := r.field(column); p != nil {
			*p = v
		}
	}
}

func (r *Row) field(column string) *string {
	switch column {
	case "external_id":
		return &r.ExternalID
	case "country":
		return &r.Country
	case "name":
		return &r.Name
	case "language":
		return &r.Language
	case "name_en":
		return &r.NameEN
	case "acronym":
		return &r.Acronym
	case "region":
		return &r.Region
	case "city":
		return &r.City
	case "postcode":
		return &r.Postcode
	case "street":
		return &r.Street
	case "email":
		return &r.Email
	case "phone":
		return &r.Phone
	case "website":
		return &r.Website
	case "role":
		return &r.Role
	case "parent_external_id":
		return &r.ParentExternalID
	}
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ";") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// ImportError is what is wrong with one row (or the whole file, Line 0) of
// an import: the line (CSV: the file's line, the header being line 1;
// JSON: the 1-based item), the column, and the problem.
type ImportError struct {
	Line    int
	Column  string
	Problem *problem.Error
}

// Message renders the problem in the translator's language, e.g. English
// for the command line.
func (e ImportError) Message(t problem.Translator) string { return e.Problem.Message(t) }

// String is the error for logs: line, column and message key.
func (e ImportError) String() string {
	s := fmt.Sprintf("line %d", e.Line)
	if e.Column != "" {
		s += ": " + e.Column
	}
	return s + ": " + e.Problem.Key
}

func importErr(line int, column, key string, args ...any) ImportError {
	return ImportError{Line: line, Column: column, Problem: problem.Field(column, key, args...)}
}

func sortErrors(errs []ImportError) {
	sort.SliceStable(errs, func(i, j int) bool {
		if errs[i].Line != errs[j].Line {
			return errs[i].Line < errs[j].Line
		}
		return slices.Index(Columns, errs[i].Column) < slices.Index(Columns, errs[j].Column)
	})
}

var bom = []byte("\xef\xbb\xbf")

// formulaStart reports whether a cell would start a formula in a
// spreadsheet once any leading quotes are removed.
func formulaStart(v string) bool {
	v = strings.TrimLeft(v, "'")
	return v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0]))
}

// UnquoteCell removes the one quote the CSV export puts before a cell that
// would otherwise start a formula.
func UnquoteCell(v string) string {
	if strings.HasPrefix(v, "'") && formulaStart(v) {
		return v[1:]
	}
	return v
}

// QuoteCell puts a quote before a cell a spreadsheet would read as a
// formula. UnquoteCell undoes exactly this, so the export reads back as it
// was written.
func QuoteCell(v string) string {
	if formulaStart(v) {
		return "'" + v
	}
	return v
}

// ParseCSV reads an import file in CSV: UTF-8 (a byte order mark is
// ignored), a header row naming the columns, one authority per record. Rows
// with problems are left out and reported; if the file as a whole cannot
// be read (no or bad header, broken quoting), no rows are returned.
func ParseCSV(r io.Reader) ([]Row, []ImportError) {
	p := parseCSV(r)
	return p.clean(), p.errs
}

// parsed is what a parser read: the rows, the problems, and whether they
// concern the whole file (which nothing can be imported from). Rows on the
// lines of problems are damaged: they are not imported, but still tell
// which authority the line meant, so that checking the others does not
// report it missing.
type parsed struct {
	rows  []Row
	errs  []ImportError
	whole bool
}

func (p parsed) clean() []Row {
	bad := map[int]bool{}
	for _, e := range p.errs {
		bad[e.Line] = true
	}
	var out []Row
	for _, r := range p.rows {
		if !bad[r.Line] {
			out = append(out, r)
		}
	}
	return out
}

func wholeFile(errs ...ImportError) parsed { return parsed{errs: errs, whole: true} }

// parseCSV is ParseCSV keeping the damaged rows.
func parseCSV(r io.Reader) parsed {
	data, err := io.ReadAll(r)
	if err != nil {
		return wholeFile(importErr(0, "", "error_file_unreadable"))
	}
	data = bytes.TrimPrefix(data, bom)
	cr := csv.NewReader(bytes.NewReader(data))
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return wholeFile(importErr(1, "", "error_header_missing"))
	}
	if err != nil {
		return wholeFile(csvSyntax(err, 1))
	}
	var errs []ImportError
	seen := map[string]bool{}
	for i, h := range header {
		if !utf8.ValidString(h) {
			errs = append(errs, importErr(1, "", "error_encoding"))
			continue
		}
		h = strings.ToLower(strings.TrimSpace(h))
		header[i] = h
		switch {
		case !slices.Contains(Columns, h):
			errs = append(errs, importErr(1, h, "error_column_unknown", "Column", h))
		case seen[h]:
			errs = append(errs, importErr(1, h, "error_column_duplicate", "Column", h))
		}
		seen[h] = true
	}
	for _, c := range RequiredColumns {
		if !seen[c] {
			errs = append(errs, importErr(1, c, "error_column_missing", "Column", c))
		}
	}
	if len(errs) > 0 {
		return wholeFile(errs...)
	}
	var rows []Row
	for {
		record, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line := 0 // a syntax error has no fields: csvSyntax takes its line from the error
		if len(record) > 0 {
			line, _ = cr.FieldPos(0)
		}
		if errors.Is(err, csv.ErrFieldCount) {
			errs = append(errs, importErr(line, "", "error_field_count", "Expected", len(header), "Found", len(record)))
			continue
		}
		if err != nil {
			return wholeFile(append(errs, csvSyntax(err, line))...)
		}
		row := Row{Line: line}
		for i, v := range record {
			if !utf8.ValidString(v) {
				// Reported at the record's line, which names the row.
				errs = append(errs, importErr(line, header[i], "error_encoding"))
				v = strings.ToValidUTF8(v, "\uFFFD")
			}
			row.setText(header[i], UnquoteCell(v))
		}
		rows = append(rows, row)
	}
	return parsed{rows: rows, errs: errs}
}

func csvSyntax(err error, line int) ImportError {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		line = pe.Line
	}
	return importErr(line, "", "error_csv_syntax")
}

// ParseJSON reads an import file in JSON: an array of objects with the
// columns as keys, areas and competences as arrays of strings. Items with
// problems are left out and reported, with their 1-based index as line.
func ParseJSON(r io.Reader) ([]Row, []ImportError) {
	p := parseJSON(r)
	return p.clean(), p.errs
}

// parseJSON is ParseJSON keeping the damaged rows.
func parseJSON(r io.Reader) parsed {
	data, err := io.ReadAll(r)
	if err != nil {
		return wholeFile(importErr(0, "", "error_file_unreadable"))
	}
	dec := json.NewDecoder(bytes.NewReader(bytes.TrimPrefix(data, bom)))
	var items []json.RawMessage
	if err := dec.Decode(&items); err != nil || dec.More() {
		return wholeFile(importErr(0, "", "error_json_invalid"))
	}
	var p parsed
	for i, raw := range items {
		line := i + 1
		d := json.NewDecoder(bytes.NewReader(raw))
		d.DisallowUnknownFields()
		row := Row{Line: line}
		// A wrong value or unknown key does not stop the decoder: the row
		// still says which authority it means.
		err := d.Decode(&row)
		switch {
		case !utf8.Valid(raw):
			// encoding/json would quietly replace the bad bytes.
			p.errs = append(p.errs, importErr(line, "", "error_encoding"))
		case err != nil:
			p.errs = append(p.errs, jsonItemError(line, err))
		}
		p.rows = append(p.rows, row)
	}
	return p
}

func jsonItemError(line int, err error) ImportError {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return importErr(line, te.Field, "error_value_invalid")
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name = strings.Trim(name, `"`)
		return importErr(line, name, "error_column_unknown", "Column", name)
	}
	return importErr(line, "", "error_json_invalid")
}

// ImportOptions tune an import.
type ImportOptions struct {
	// SkipInvalid imports the valid rows and reports the others as
	// skipped; without it, any invalid row means nothing is imported.
	SkipInvalid bool
	// Progress, if set, is told how many of the rows to write are done.
	Progress func(done, total int)
}

// ImportResult says what an import did. Errors are the problems that
// stopped it (nothing was imported); Skipped the rows left out with
// SkipInvalid.
type ImportResult struct {
	Created, Updated, Unchanged int
	Skipped                     []ImportError
	Errors                      []ImportError
}

// errImportInvalid is what Import and ImportFile return when rows were
// invalid and nothing was imported; the result lists the problems.
func errImportInvalid(n int) error {
	return problem.New(problem.Invalid, "error_import_invalid", "Count", n)
}

// ImportFile parses a file in format "csv" or "json" and imports it. Rows
// the parser could not read count as invalid rows.
func (s *Service) ImportFile(ctx context.Context, actor Actor, r io.Reader, format string, opts ImportOptions) (ImportResult, error) {
	var p parsed
	switch format {
	case "csv":
		p = parseCSV(r)
	case "json":
		p = parseJSON(r)
	default:
		return ImportResult{}, problem.Field("format", "error_format_unknown")
	}
	if p.whole {
		sortErrors(p.errs)
		return ImportResult{Errors: p.errs}, errImportInvalid(len(p.errs))
	}
	return s.importRows(ctx, actor, p.rows, p.errs, opts)
}

// importRow is a row on its way into the registry.
type importRow struct {
	Row
	key        string     // external id, trimmed
	old        *Authority // the authority the row updates; nil: a new one
	next       *Authority // what the row makes of it
	parent     *importRow // the row of its coordinator, when in the file
	errs       []ImportError
	countryOK  bool
	duplicate  bool
	coordinate bool // the actor may change the row's place in the network
}

func (r *importRow) fail(column, key string, args ...any) {
	r.errs = append(r.errs, importErr(r.Line, column, key, args...))
}

// checkColumn maps the fields Check names to the file's columns.
var checkColumn = map[string]string{"names": "name_en", "descriptions": "", "scope": "areas", "parent_id": "parent_external_id"}

// Import upserts authorities by external id, all in one transaction. Every
// row is checked first; with an invalid row nothing is imported (the result
// lists the problems and the error is Invalid) unless opts.SkipInvalid.
// New authorities are validated at once; changes to existing ones are
// recorded in their history as made by actor. A row's external id may also
// be the OpenIMI id of an authority that has no external id (the export
// writes those so).
func (s *Service) Import(ctx context.Context, actor Actor, rows []Row, opts ImportOptions) (ImportResult, error) {
	return s.importRows(ctx, actor, rows, nil, opts)
}

// importRows is Import with the parser's problems: rows on their lines are
// damaged (see parsed).
func (s *Service) importRows(ctx context.Context, actor Actor, rows []Row, parseErrs []ImportError, opts ImportOptions) (ImportResult, error) {
	var res ImportResult
	damaged := map[int][]ImportError{}
	for _, e := range parseErrs {
		damaged[e.Line] = append(damaged[e.Line], e)
	}
	lines := make(map[int]bool, len(rows))
	for _, r := range rows {
		lines[r.Line] = true
	}
	var orphans []ImportError // problems of lines without a row
	for line, errs := range damaged {
		if !lines[line] {
			orphans = append(orphans, errs...)
		}
	}
	sortErrors(orphans)
	if len(rows) == 0 {
		switch {
		case len(orphans) == 0:
			return res, nil
		case opts.SkipInvalid:
			return ImportResult{Skipped: orphans}, nil
		}
		return ImportResult{Errors: orphans}, errImportInvalid(len(orphans))
	}
	terms := s.termIndex()
	err := s.db.InTxAlone(ctx, func(tx db.Querier) error {
		list := make([]*importRow, len(rows))
		keys := map[string]bool{}
		for i, r := range rows {
			if r.Line == 0 {
				r.Line = i + 1
			}
			list[i] = &importRow{Row: r, key: strings.TrimSpace(r.ExternalID)}
			list[i].errs = damaged[r.Line]
			keys[list[i].key] = true
			if p := strings.TrimSpace(r.ParentExternalID); p != "" {
				keys[p] = true
			}
		}
		delete(keys, "")
		existing, err := s.prefetch(ctx, tx, keys)
		if err != nil {
			return err
		}
		nationals, err := s.nationalCoordinators(ctx, tx)
		if err != nil {
			return err
		}
		byKey := map[string]*importRow{}
		for _, r := range list {
			switch {
			case r.key == "":
				r.fail("external_id", "error_external_id_required")
			case byKey[r.key] != nil:
				r.duplicate = true
				r.fail("external_id", "error_external_id_duplicate", "Line", byKey[r.key].Line)
			default:
				byKey[r.key] = r
			}
			r.old = existing[r.key]
			s.checkRow(actor, r, terms)
		}
		// Relations between rows: judged first over every identifiable
		// row, as the file means them; then, when invalid rows are
		// skipped, again without them until nothing more drops out.
		present := func(r *importRow) bool { return r.key != "" && !r.duplicate }
		for pass := 0; ; pass++ {
			var set []*importRow
			for _, r := range list {
				if present(r) {
					set = append(set, r)
				}
			}
			dropped := s.checkRelations(actor, set, existing, nationals)
			failed := len(orphans)
			for _, r := range list {
				if len(r.errs) > 0 {
					failed++
				}
			}
			if failed > 0 && !opts.SkipInvalid {
				res.Errors = slices.Clone(orphans)
				for _, r := range list {
					res.Errors = append(res.Errors, r.errs...)
				}
				sortErrors(res.Errors)
				return errSkipWrite
			}
			if pass > 0 && !dropped {
				break
			}
			present = func(r *importRow) bool { return r.key != "" && !r.duplicate && len(r.errs) == 0 }
			if failed == 0 {
				break
			}
		}
		var valid []*importRow
		res.Skipped = slices.Clone(orphans)
		for _, r := range list {
			if len(r.errs) > 0 {
				res.Skipped = append(res.Skipped, r.errs...)
			} else {
				valid = append(valid, r)
			}
		}
		sortErrors(res.Skipped)
		return s.writeImport(ctx, tx, actor, valid, &res, opts.Progress)
	})
	if errors.Is(err, errSkipWrite) {
		return ImportResult{Errors: res.Errors}, errImportInvalid(len(res.Errors))
	}
	if err != nil {
		return ImportResult{}, s.conflict(err)
	}
	if res.Created+res.Updated >= bulkChange {
		// Searches would otherwise be slow until the database
		// tidies up by itself.
		if err := s.db.AfterBulkChange(ctx, "authorities", "authority_texts", "authority_areas", "authority_competences", "authority_fts"); err != nil {
			return res, err
		}
	}
	return res, nil
}

// bulkChange is how many authorities an import must write for the
// database's statistics to be refreshed after it.
const bulkChange = 1000

// errSkipWrite rolls back an import that found invalid rows.
var errSkipWrite = errors.New("invalid rows")

// checkRow checks what a row says by itself, and whether the actor may
// make it so.
func (s *Service) checkRow(actor Actor, r *importRow, terms *termIndex) {
	in := Input{ExternalID: r.key, Country: r.Country, Name: r.Name, Language: r.Language, Acronym: r.Acronym, Region: r.Region,
		Street: r.Street, Postcode: r.Postcode, City: r.City, Email: r.Email, Phone: r.Phone, Website: r.Website,
		Kind: Kind(strings.TrimSpace(r.Role)), Names: map[string]string{}, Descriptions: map[string]string{}}
	for _, a := range r.Areas {
		if a = strings.TrimSpace(a); a != "" {
			in.Areas = append(in.Areas, a)
		}
	}
	if old := r.old; old != nil {
		if in.Kind == "" {
			in.Kind = old.Kind // role left empty: it stays
		}
		// The file does not carry these: they stay as they are.
		for l, n := range old.Names {
			in.Names[l] = n
		}
		delete(in.Names, "en")
		for l, d := range old.Descriptions {
			in.Descriptions[l] = d
		}
		in.Scope, in.AlertCoordinator, in.ParentID = old.Scope, old.AlertCoordinator, old.ParentID
		if old.ExternalID == "" {
			in.ExternalID = "" // the row named it by its OpenIMI id
		}
	}
	if r.NameEN != "" {
		in.Names["en"] = r.NameEN
	}
	seen := map[Competence]bool{}
	for _, token := range r.Competences {
		if token = strings.TrimSpace(token); token == "" {
			continue
		}
		c, p := terms.resolve(token, in.Areas)
		if p != nil {
			r.errs = append(r.errs, ImportError{Line: r.Line, Column: "competences", Problem: p})
		} else if !seen[c] {
			seen[c] = true
			in.Competences = append(in.Competences, c)
		}
	}
	r.countryOK = true
	for _, p := range s.Check(&in) {
		column, ok := checkColumn[p.Field]
		if !ok {
			column = p.Field
		}
		if column == "country" {
			r.countryOK = false
		}
		p.Field = column
		r.errs = append(r.errs, ImportError{Line: r.Line, Column: column, Problem: p})
	}
	next := newAuthority(in)
	if old := r.old; old != nil {
		next.ID, next.Status, next.CreatedAt, next.Supervisors = old.ID, old.Status, old.CreatedAt, old.Supervisors
	} else {
		next.ID, next.Status = uuid.Must(uuid.NewV7()).String(), Validated
	}
	r.next = next
	if !r.countryOK {
		return
	}
	switch old := r.old; {
	case old == nil:
		if !actor.CanRegister(next) {
			r.fail(refusedColumn(actor, next), "error_forbidden")
		}
	case !actor.CanEdit(old):
		r.fail(refusedColumn(actor, old), "error_forbidden")
	case actor.coordinates(old):
		r.coordinate = true
		if !actor.coordinates(next) || (next.Kind == NationalCoordinator && old.Kind != NationalCoordinator && !actor.IsCommission()) {
			r.fail(refusedColumn(actor, next), "error_forbidden")
		}
	default:
		// An authority's own administrator edits its data, not its
		// place in the network.
		if next.Country != old.Country {
			r.fail("country", "error_forbidden")
		}
		if next.Kind != old.Kind {
			r.fail("role", "error_forbidden")
		}
	}
}

// refusedColumn names the column that puts target out of the actor's
// reach.
func refusedColumn(actor Actor, target *Authority) string {
	me := actor.Authority
	switch {
	case me == nil || me.Country != target.Country:
		return "country"
	case target.Kind.IsCoordinator():
		return "role"
	case len(me.Scope.Regions) > 0 && !slices.Contains(me.Scope.Regions, target.Region):
		return "region"
	case len(me.Scope.Areas) > 0:
		return "areas"
	}
	return ""
}

// checkRelations checks what rows say about each other and the registry:
// coordinators they report to, and one national coordinator per country.
// It resolves each row's parent and reports whether a row failed.
func (s *Service) checkRelations(actor Actor, set []*importRow, existing map[string]*Authority, nationals map[string][]string) bool {
	failed := false
	fail := func(r *importRow, column, key string, args ...any) {
		// A relation problem already reported in an earlier pass is not
		// repeated.
		for _, e := range r.errs {
			if e.Column == column && e.Problem.Key == key {
				return
			}
		}
		r.fail(column, key, args...)
		failed = true
	}
	byKey := map[string]*importRow{}
	for _, r := range set {
		byKey[r.key] = r
	}
	for _, r := range set {
		r.parent = nil
		ref := strings.TrimSpace(r.ParentExternalID)
		if ref == "" {
			if r.old == nil && actor.Authority != nil && r.next.Kind != NationalCoordinator {
				r.next.ParentID = actor.Authority.ID
			} else if r.old != nil {
				r.next.ParentID = r.old.ParentID
			}
			continue
		}
		var parent *Authority
		if p := byKey[ref]; p != nil {
			parent, r.parent = p.next, p
		} else if p := existing[ref]; p != nil {
			parent = p
		} else {
			fail(r, "parent_external_id", "error_parent_unknown", "Code", ref)
			continue
		}
		if parent.ID == r.next.ID || !parent.Kind.IsCoordinator() || (parent.Country != r.next.Country && parent.Kind != Commission) {
			fail(r, "parent_external_id", "error_parent_invalid")
			r.parent = nil
			continue
		}
		r.next.ParentID = parent.ID
		if r.old != nil && !r.coordinate && r.next.ParentID != r.old.ParentID && !actor.IsCommission() {
			fail(r, "parent_external_id", "error_forbidden")
		}
	}
	// A coordinator that reports, through the file, to itself.
	for _, r := range set {
		slow, fast := r, r
		for fast != nil && fast.parent != nil {
			slow, fast = slow.parent, fast.parent.parent
			if slow == fast {
				for c := slow; ; {
					fail(c, "parent_external_id", "error_parent_cycle")
					if c = c.parent; c == slow {
						break
					}
				}
				for _, c := range set {
					if slices.ContainsFunc(c.errs, func(e ImportError) bool { return e.Problem.Key == "error_parent_cycle" }) {
						c.parent = nil
					}
				}
				break
			}
		}
	}
	// Exactly one national coordinator per country afterwards: the rows
	// that will be one, and those in the registry no row changes.
	type count struct {
		rows   []*importRow
		kept   int
		all    []*importRow
		listed map[string]bool
	}
	countries := map[string]*count{}
	at := func(c string) *count {
		if countries[c] == nil {
			countries[c] = &count{listed: map[string]bool{}}
		}
		return countries[c]
	}
	for _, r := range set {
		if r.old != nil {
			at(r.old.Country).listed[r.old.ID] = true
		}
		if !r.countryOK {
			continue
		}
		c := at(r.next.Country)
		c.all = append(c.all, r)
		if r.next.Kind == NationalCoordinator && r.next.Status != Deactivated {
			c.rows = append(c.rows, r)
		}
	}
	for country, c := range countries {
		if len(c.all) == 0 {
			continue
		}
		for _, id := range nationals[country] {
			if !c.listed[id] {
				c.kept++
			}
		}
		switch {
		case len(c.rows) > 1:
			for _, r := range c.rows {
				fail(r, "role", "error_national_coordinator_twice", "Country", country)
			}
		case len(c.rows) == 1 && c.kept > 0:
			fail(c.rows[0], "role", "error_national_coordinator_exists")
		case len(c.rows) == 0 && c.kept == 0:
			for _, r := range c.all {
				fail(r, "country", "error_national_coordinator_missing", "Country", country)
			}
		}
	}
	return failed
}

// writeImport writes the valid rows: new authorities in batches, parents
// before the authorities that report to them, then the changes to existing
// ones.
func (s *Service) writeImport(ctx context.Context, tx db.Querier, actor Actor, rows []*importRow, res *ImportResult, progress func(done, total int)) error {
	total, done := len(rows), 0
	report := func(n int) {
		done += n
		if progress != nil {
			progress(done, total)
		}
	}
	// A national coordinator that stops being one makes way first, for
	// the one index that allows a single one per country.
	for _, r := range rows {
		if o := r.old; o != nil && o.Kind == NationalCoordinator && r.next.Kind != NationalCoordinator && o.Status != Deactivated {
			if _, err := tx.ExecContext(ctx, `UPDATE authorities SET role = $1 WHERE id = $2`, string(r.next.Kind), o.ID); err != nil {
				return db.Check(err)
			}
		}
	}
	var levels [][]*Authority
	var existing []*importRow
	depth := map[*importRow]int{}
	var depthOf func(r *importRow) int
	depthOf = func(r *importRow) int {
		if d, ok := depth[r]; ok {
			return d
		}
		d := 0
		if r.parent != nil && r.parent.old == nil {
			d = depthOf(r.parent) + 1
		}
		depth[r] = d
		return d
	}
	for _, r := range rows {
		if r.old != nil {
			existing = append(existing, r)
			continue
		}
		d := depthOf(r)
		for len(levels) <= d {
			levels = append(levels, nil)
		}
		levels[d] = append(levels[d], r.next)
	}
	for _, level := range levels {
		for start := 0; start < len(level); start += lookupChunk {
			chunk := level[start:min(start+lookupChunk, len(level))]
			if err := s.insertMany(ctx, tx, actor, chunk); err != nil {
				return err
			}
			res.Created += len(chunk)
			report(len(chunk))
		}
	}
	for start := 0; start < len(existing); start += lookupChunk {
		chunk := existing[start:min(start+lookupChunk, len(existing))]
		updated, err := s.updateMany(ctx, tx, actor.UserID, chunk)
		if err != nil {
			return err
		}
		res.Updated += updated
		res.Unchanged += len(chunk) - updated
		report(len(chunk))
	}
	return nil
}

// tableRows are rows to insert into a table.
type tableRows struct {
	table, cols string
	rows        [][]any
}

// detailRows are the rows writeDetails writes for each authority.
func detailRows(list []*Authority) []tableRows {
	var texts, areaRows, competences, scopes [][]any
	for _, a := range list {
		langs := map[string]bool{}
		for l := range a.Names {
			langs[l] = true
		}
		for l := range a.Descriptions {
			langs[l] = true
		}
		for l := range langs {
			texts = append(texts, []any{a.ID, l, a.Names[l], a.Descriptions[l]})
		}
		for _, area := range a.Areas {
			areaRows = append(areaRows, []any{a.ID, area, nullable(a.Supervisors[area])})
		}
		for _, c := range a.Competences {
			competences = append(competences, []any{a.ID, c.Area, c.Vocabulary, c.Term})
		}
		for _, v := range a.Scope.Areas {
			scopes = append(scopes, []any{a.ID, "area", v})
		}
		for _, v := range a.Scope.Regions {
			scopes = append(scopes, []any{a.ID, "region", v})
		}
	}
	return []tableRows{
		{"authority_texts", "authority_id, language, name, description", texts},
		{"authority_areas", "authority_id, area, supervisor_id", areaRows},
		{"authority_competences", "authority_id, area, vocabulary, term", competences},
		{"coordinator_scopes", "authority_id, kind, value", scopes},
	}
}

const historyColumns = "id, authority_id, at, user_id, field, old_value, new_value"

// insertMany is insert for many authorities, with multi-row inserts, each
// with a "created" line in its history.
func (s *Service) insertMany(ctx context.Context, tx db.Querier, actor Actor, list []*Authority) error {
	now := s.clock()
	var main, history [][]any
	for _, a := range list {
		a.CreatedAt, a.UpdatedAt = now, now
		main = append(main, []any{a.ID, nullable(a.ExternalID), a.Country, a.Name, a.Language, a.Acronym, a.Region, a.Street, a.Postcode, a.City,
			a.Email, a.Phone, a.Website, string(a.Kind), a.AlertCoordinator, string(a.Status), nullable(a.ParentID), now, now})
		history = append(history, []any{uuid.Must(uuid.NewV7()).String(), a.ID, now, actor.UserID, "created", "", a.Name})
	}
	tables := []tableRows{{"authorities", "id, external_id, country, name, language, acronym, region, street, postcode, city, email, phone, website, role, alert_coordinator, status, parent_id, created_at, updated_at", main}}
	// New authorities have no search document yet: theirs go in batches.
	tables = append(append(tables, detailRows(list)...), tableRows{"authority_history", historyColumns, history}, searchRows(list))
	for _, t := range tables {
		if err := s.insertRows(ctx, tx, t.table, t.cols, t.rows); err != nil {
			return err
		}
	}
	return nil
}

// updateMany is save for many authorities: it writes each row's changes,
// with a history line per changed field, and rewrites texts, areas,
// competences and scopes only of the authorities where they changed, in
// batches. It returns how many changed.
func (s *Service) updateMany(ctx context.Context, tx db.Querier, userID string, rows []*importRow) (int, error) {
	now := s.clock()
	var history [][]any
	var details, reindex []*Authority
	updated := 0
	for _, r := range rows {
		old, next := r.old, r.next
		before, after, changed := diff(old, next)
		if len(changed) == 0 {
			continue
		}
		updated++
		next.UpdatedAt = now
		_, err := tx.ExecContext(ctx, `UPDATE authorities SET external_id = $1, country = $2, name = $3, language = $4, acronym = $5, region = $6, street = $7,
			postcode = $8, city = $9, email = $10, phone = $11, website = $12, role = $13, alert_coordinator = $14, parent_id = $15, updated_at = $16 WHERE id = $17`,
			nullable(next.ExternalID), next.Country, next.Name, next.Language, next.Acronym, next.Region, next.Street, next.Postcode, next.City,
			next.Email, next.Phone, next.Website, string(next.Kind), next.AlertCoordinator, nullable(next.ParentID), now, next.ID)
		if err != nil {
			return 0, db.Check(err)
		}
		reindex = append(reindex, next)
		if slices.ContainsFunc(changed, isDetail) {
			details = append(details, next)
		}
		for _, k := range changed {
			history = append(history, []any{uuid.Must(uuid.NewV7()).String(), next.ID, now, userID, k, before[k], after[k]})
		}
	}
	if len(details) > 0 {
		ids := make([]any, len(details))
		for i, a := range details {
			ids[i] = a.ID
		}
		for _, t := range []string{"authority_texts", "authority_areas", "authority_competences", "coordinator_scopes"} {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+t+` WHERE authority_id IN (`+s.params(0, len(ids))+`)`, ids...); err != nil {
				return 0, db.Check(err)
			}
		}
	}
	for _, t := range append(detailRows(details), tableRows{"authority_history", historyColumns, history}) {
		if err := s.insertRows(ctx, tx, t.table, t.cols, t.rows); err != nil {
			return 0, err
		}
	}
	return updated, s.indexMany(ctx, tx, reindex)
}

// isDetail reports whether a field of fields is kept beside the
// authorities table.
func isDetail(field string) bool {
	return field == "areas" || field == "competences" || field == "scope" ||
		strings.HasPrefix(field, "name_") || strings.HasPrefix(field, "description_")
}

// maxParams keeps a statement under both databases' limits on bound
// parameters (SQLite 32766, PostgreSQL 65535).
const maxParams = 30000

// insertRows inserts rows with as few statements as the parameter limit
// allows.
func (s *Service) insertRows(ctx context.Context, tx db.Querier, table, cols string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	width := len(rows[0])
	per := min(maxParams/width, 1000)
	for start := 0; start < len(rows); start += per {
		chunk := rows[start:min(start+per, len(rows))]
		var b strings.Builder
		args := make([]any, 0, len(chunk)*width)
		b.WriteString("INSERT INTO " + table + " (" + cols + ") VALUES ")
		for i, r := range chunk {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString("(" + s.params(len(args), len(r)) + ")")
			args = append(args, r...)
		}
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return db.Check(err)
		}
	}
	return nil
}

// params returns count parameter placeholders after offset others, for
// statements with very many: SQLite looks a "$n" up among the statement's
// earlier ones, which grows with their square, and takes plain "?" in
// order instead.
func (s *Service) params(offset, count int) string {
	if s.db.Dialect() == db.SQLite {
		return strings.TrimSuffix(strings.Repeat("?,", count), ",")
	}
	var b strings.Builder
	for i := range count {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "$%d", offset+i+1)
	}
	return b.String()
}

const lookupChunk = 1000

// prefetch returns, in a few queries, the authorities that keys name: by
// external id, or by OpenIMI id for authorities without one. Each comes
// with its texts, areas, competences and scope.
func (s *Service) prefetch(ctx context.Context, q db.Querier, keys map[string]bool) (map[string]*Authority, error) {
	list := make([]string, 0, len(keys))
	for k := range keys {
		list = append(list, k)
	}
	sort.Strings(list)
	var found []*Authority
	for start := 0; start < len(list); start += lookupChunk {
		chunk := list[start:min(start+lookupChunk, len(list))]
		args := make([]any, 0, 2*len(chunk))
		for _, k := range chunk {
			args = append(args, k)
		}
		args = append(args, args...)
		as, err := s.queryAuthorities(ctx, q, `SELECT `+authorityColumns+` FROM authorities WHERE external_id IN (`+s.params(0, len(chunk))+`)
			OR (external_id IS NULL AND id IN (`+s.params(len(chunk), len(chunk))+`))`, args...)
		if err != nil {
			return nil, err
		}
		found = append(found, as...)
	}
	if err := s.loadMany(ctx, q, found); err != nil {
		return nil, err
	}
	out := make(map[string]*Authority, len(found))
	for _, a := range found {
		if a.ExternalID == "" {
			out[a.ID] = a
		}
	}
	for _, a := range found {
		if a.ExternalID != "" {
			out[a.ExternalID] = a // an external id wins over an id
		}
	}
	return out, nil
}

// nationalCoordinators returns the ids of each country's national
// coordinators that are not deactivated.
func (s *Service) nationalCoordinators(ctx context.Context, q db.Querier) (map[string][]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT country, id FROM authorities WHERE role = 'national_coordinator' AND status <> 'deactivated'`)
	if err != nil {
		return nil, db.Check(err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var country, id string
		if err := rows.Scan(&country, &id); err != nil {
			return nil, db.Check(err)
		}
		out[country] = append(out[country], id)
	}
	return out, db.Check(rows.Err())
}

func (s *Service) queryAuthorities(ctx context.Context, q db.Querier, query string, args ...any) ([]*Authority, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, db.Check(err)
	}
	defer rows.Close()
	var out []*Authority
	for rows.Next() {
		a, err := scanAuthority(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, db.Check(rows.Err())
}

// loadMany is load for many authorities at once: one query per thousand
// authorities, their four lists (texts, areas, competences, scope) read as
// one union, instead of four. Lists are sorted here, in byte order on both
// databases (PostgreSQL sorted by its collation before).
func (s *Service) loadMany(ctx context.Context, q db.Querier, list []*Authority) error {
	byID := make(map[string]*Authority, len(list))
	for _, a := range list {
		a.Names, a.Descriptions, a.Supervisors = map[string]string{}, map[string]string{}, map[string]string{}
		a.Areas, a.Competences, a.Scope = nil, nil, Scope{}
		byID[a.ID] = a
	}
	for start := 0; start < len(list); start += lookupChunk {
		chunk := list[start:min(start+lookupChunk, len(list))]
		args := make([]any, len(chunk))
		for i, a := range chunk {
			args[i] = a.ID
		}
		in, queryArgs := s.params(0, len(chunk)), args
		if s.db.Dialect() == db.SQLite {
			// Plain "?" marks are taken in order: the ids again for each
			// branch (a numbered "?n" is looked up as "$n" is, params).
			queryArgs = slices.Concat(args, args, args, args)
		}
		err := scanEach(ctx, q, `SELECT 't', authority_id, language, name, description FROM authority_texts WHERE authority_id IN (`+in+`)
			UNION ALL SELECT 'a', authority_id, area, COALESCE(supervisor_id, ''), '' FROM authority_areas WHERE authority_id IN (`+in+`)
			UNION ALL SELECT 'c', authority_id, area, vocabulary, term FROM authority_competences WHERE authority_id IN (`+in+`)
			UNION ALL SELECT 's', authority_id, kind, value, '' FROM coordinator_scopes WHERE authority_id IN (`+in+`)`, queryArgs,
			func(scan func(...any) error) error {
				var tag, id, x, y, z string // tag: which of the four lists
				if err := scan(&tag, &id, &x, &y, &z); err != nil {
					return err
				}
				a := byID[id]
				switch tag {
				case "t": // language, name, description
					if y != "" {
						a.Names[x] = y
					}
					if z != "" {
						a.Descriptions[x] = z
					}
				case "a": // area, supervisor
					a.Areas = append(a.Areas, x)
					if y != "" {
						a.Supervisors[x] = y
					}
				case "c": // area, vocabulary, term
					a.Competences = append(a.Competences, Competence{Area: x, Vocabulary: y, Term: z})
				case "s": // kind, value
					if x == "area" {
						a.Scope.Areas = append(a.Scope.Areas, y)
					} else {
						a.Scope.Regions = append(a.Scope.Regions, y)
					}
				}
				return nil
			})
		if err != nil {
			return err
		}
	}
	for _, a := range list {
		slices.Sort(a.Areas)
		slices.SortFunc(a.Competences, func(x, y Competence) int {
			return cmp.Or(cmp.Compare(x.Area, y.Area), cmp.Compare(x.Vocabulary, y.Vocabulary), cmp.Compare(x.Term, y.Term))
		})
		slices.Sort(a.Scope.Areas)
		slices.Sort(a.Scope.Regions)
		// No room left behind the lists: an authority may be kept and
		// shared (GetManyShared), and an append to a shared list with
		// room would write into what other pages read.
		a.Areas, a.Competences = exact(a.Areas), exact(a.Competences)
		a.Scope.Areas, a.Scope.Regions = exact(a.Scope.Areas), exact(a.Scope.Regions)
	}
	return nil
}

// exact returns s in an array of its own length.
func exact[T any](s []T) []T {
	if cap(s) == len(s) {
		return s
	}
	return append(make([]T, 0, len(s)), s...)
}

func scanEach(ctx context.Context, q db.Querier, query string, args []any, fn func(scan func(...any) error) error) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return db.Check(err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows.Scan); err != nil {
			return db.Check(err)
		}
	}
	return db.Check(rows.Err())
}

// termIndex finds the vocabulary terms a competence cell names: by code,
// by English label (either case-insensitive), or by code qualified with
// its vocabulary ("professions:doctor") or area and vocabulary
// ("pq:professions:doctor").
type termIndex struct {
	byName map[string][]Competence
}

func (s *Service) termIndex() *termIndex {
	x := &termIndex{byName: map[string][]Competence{}}
	add := func(name string, c Competence) {
		name = strings.ToLower(strings.TrimSpace(name))
		if name != "" && !slices.Contains(x.byName[name], c) {
			x.byName[name] = append(x.byName[name], c)
		}
	}
	for _, p := range s.areas.Packs() {
		for _, v := range p.Vocabularies {
			for _, t := range v.AllTerms() {
				c := Competence{Area: p.Code, Vocabulary: v.Code, Term: t.Value}
				add(t.Value, c)
				add(v.Code+":"+t.Value, c)
				add(p.Code+":"+v.Code+":"+t.Value, c)
				if p.Texts["en"] != nil {
					add(p.Texts["en"]["vocabularies."+v.Code+".terms."+t.Value], c)
				}
			}
		}
	}
	return x
}

// resolve returns the one term of the given areas' vocabularies that name
// denotes.
func (x *termIndex) resolve(name string, areas []string) (Competence, *problem.Error) {
	var found []Competence
	for _, c := range x.byName[strings.ToLower(name)] {
		if slices.Contains(areas, c.Area) {
			found = append(found, c)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return Competence{}, problem.Field("competences", "error_competence_unknown", "Code", name)
	}
	return Competence{}, problem.Field("competences", "error_competence_ambiguous", "Code", name)
}

// name is how the export writes a competence: vocabulary:term, or
// area:vocabulary:term where the authority's areas need it.
func (x *termIndex) name(c Competence, areas []string) string {
	short := c.Vocabulary + ":" + c.Term
	if got, p := x.resolve(short, areas); p == nil && got == c {
		return short
	}
	return c.Area + ":" + short
}
