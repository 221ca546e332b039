// Package registers is IMI's directory of registers: which registers of
// service providers, professionals or qualifications each country keeps,
// what they hold, and who may consult them how (Directive 2006/123/EC,
// article 28(7): access for authorities abroad under the same conditions
// as at home). Authorities of a country maintain its entries, their
// coordinators validate them, and every change is kept. Every rule about
// who may see or do what is here, so that the web UI and the API cannot
// disagree.
package registers

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/openimi/openimi/internal/areas"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/countries"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/i18n"
	"github.com/openimi/openimi/internal/problem"
	"github.com/openimi/openimi/internal/search"
	"github.com/openimi/openimi/internal/text"
)

// Types of register: a vocabulary, named in every language by the UI
// catalog (register_type_<code>).
var Types = []string{"business_register", "trade_register", "professional_register", "register_of_qualifications", "register_of_service_providers",
	"register_of_insolvencies", "tax_register", "social_security_register", "other_register"}

// Access conditions (register_access_<code>).
var Accesses = []string{"public_online", "on_request", "authorities_only"}

// Statuses of an entry.
const (
	Submitted = "submitted" // written or changed by an authority; its coordinator has not validated it yet
	Validated = "validated"
	Withdrawn = "withdrawn" // the register no longer exists or is no longer listed; kept with its history
)

// Statuses lists the statuses, in the order an entry passes them.
var Statuses = []string{Submitted, Validated, Withdrawn}

// Entry is one register in the directory.
type Entry struct {
	ID, ExternalID, Country, AuthorityID string
	Authority                            *authorities.Authority
	Name, Language                       string            // the original name and its language
	Names                                map[string]string // the name in other languages
	Description                          string            // in Language
	Type, Access                         string
	Fees                                 bool
	URL, LegalBasis                      string
	Languages, Areas                     []string
	Status                               string
	ValidatedAt                          *time.Time
	CreatedAt, UpdatedAt                 time.Time

	// For the viewer.
	CanEdit, CanValidate bool
}

// NameIn is the entry's name in lang where it has one, else the original.
func (e *Entry) NameIn(lang string) string {
	if n := e.Names[lang]; n != "" {
		return n
	}
	return e.Name
}

// Service runs the directory.
type Service struct {
	db          *db.DB
	areas       *areas.Registry
	authorities *authorities.Service
	catalog     *i18n.Catalog
	index       *search.Index
	now         func() time.Time
}

// New returns the directory's service. The catalog names types in every
// language for search.
func New(d *db.DB, reg *areas.Registry, auths *authorities.Service, cat *i18n.Catalog, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{db: d, areas: reg, authorities: auths, catalog: cat, index: search.NewIndex(d.Dialect(), "register"), now: now}
}

func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

var (
	errNotFound  = problem.New(problem.NotFound, "error_not_found")
	errForbidden = problem.New(problem.Forbidden, "error_register_forbidden")
)

// maintains reports whether the actor may add and edit entries of country:
// a local data administrator or coordinator of an active authority of that
// country, or the Commission.
func maintains(actor authorities.Actor, country string) bool {
	if actor.IsCommission() {
		return true
	}
	me := actor.Authority
	return me != nil && me.Status != authorities.Deactivated && me.Country == country &&
		(actor.HasAny(authorities.LocalDataAdministrator) || actor.HasAny(authorities.Coordinator))
}

// CanAdd reports whether the actor may add entries (of its country).
func CanAdd(actor authorities.Actor) bool {
	return actor.Authority != nil && maintains(actor, actor.Authority.Country)
}

// sees reports whether the actor may read an entry: validated ones are for
// every user; submitted ones for their country's users and the Commission.
func sees(actor authorities.Actor, e *Entry) bool {
	if e.Status == Validated || actor.IsCommission() {
		return true
	}
	return actor.Authority != nil && actor.Authority.Country == e.Country
}

// Input is an entry as written.
type Input struct {
	ExternalID  string
	Country     string // default: the writer's (the Commission: the holding authority's)
	AuthorityID string
	Name        string
	Language    string
	Names       map[string]string
	Description string
	Type        string
	Access      string
	Fees        bool
	URL         string
	LegalBasis  string
	Languages   []string
	Areas       []string
}

const (
	maxText        = 300
	maxDescription = 5000
)

// check validates an input and returns its holding authority.
func (s *Service) check(ctx context.Context, in *Input) (*authorities.Authority, error) {
	for _, p := range []*string{&in.ExternalID, &in.Country, &in.AuthorityID, &in.Name, &in.Language, &in.Description, &in.URL, &in.LegalBasis} {
		*p = strings.TrimSpace(*p)
	}
	if in.Country == "" { // the holding authority's
		if a, err := s.authorities.Get(ctx, in.AuthorityID); err == nil {
			in.Country = a.Country
		}
	}
	in.Country = countries.Normalize(in.Country)
	if in.Country == "" || !countries.IsCurrent(in.Country) {
		return nil, problem.Field("country", "error_country_unknown")
	}
	if in.Name == "" {
		return nil, problem.Field("name", "error_register_name")
	}
	for field, v := range map[string]string{"name": in.Name, "external_id": in.ExternalID, "url": in.URL, "legal_basis": in.LegalBasis} {
		if !text.Line(v) {
			return nil, problem.Field(field, "error_text_invalid")
		}
		if len([]rune(v)) > maxText {
			return nil, problem.Field(field, "error_text_too_long", "Max", maxText)
		}
	}
	if !text.Block(in.Description) {
		return nil, problem.Field("description", "error_text_invalid")
	}
	if len([]rune(in.Description)) > maxDescription {
		return nil, problem.Field("description", "error_text_too_long", "Max", maxDescription)
	}
	if !i18n.Supported(in.Language) {
		return nil, problem.Field("language", "error_language_unknown")
	}
	for l, n := range in.Names {
		if !i18n.Supported(l) || len([]rune(n)) > maxText {
			return nil, problem.Field("names", "error_register_names")
		}
		if !text.Line(n) {
			return nil, problem.Field("names", "error_text_invalid")
		}
		if strings.TrimSpace(n) == "" || l == in.Language {
			delete(in.Names, l)
		}
	}
	if !slices.Contains(Types, in.Type) {
		return nil, problem.Field("type", "error_register_type")
	}
	if !slices.Contains(Accesses, in.Access) {
		return nil, problem.Field("access", "error_register_access")
	}
	if in.URL != "" {
		u, err := url.Parse(in.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, problem.Field("url", "error_website_invalid")
		}
	}
	for _, l := range in.Languages {
		if !i18n.Supported(l) {
			return nil, problem.Field("languages", "error_language_unknown")
		}
	}
	for _, a := range in.Areas {
		if _, err := s.areas.Pack(a); err != nil {
			return nil, problem.Field("areas", "error_request_area")
		}
	}
	in.Languages, in.Areas = sortedUnique(in.Languages), sortedUnique(in.Areas)
	holder, err := s.authorities.Get(ctx, in.AuthorityID)
	if err != nil || holder.Country != in.Country || holder.Status == authorities.Deactivated {
		return nil, problem.Field("authority", "error_register_authority")
	}
	return holder, nil
}

func sortedUnique(list []string) []string {
	out := slices.Clone(list)
	slices.Sort(out)
	return slices.Compact(out)
}

// Create adds an entry. A coordinator's entry is validated at once; an
// authority's waits for its coordinator.
func (s *Service) Create(ctx context.Context, actor authorities.Actor, in Input) (*Entry, error) {
	if in.Country == "" && actor.Authority != nil && !actor.IsCommission() {
		in.Country = actor.Authority.Country // an authority writes its own country's entries
	}
	holder, err := s.check(ctx, &in)
	if err != nil {
		return nil, err
	}
	if !maintains(actor, in.Country) {
		return nil, errForbidden
	}
	var id string
	err = s.db.InTx(ctx, func(tx db.Querier) error {
		id, err = s.create(ctx, tx, actor, holder, in, s.clock())
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, actor, id)
}

// create writes a checked new entry inside tx.
func (s *Service) create(ctx context.Context, tx db.Querier, actor authorities.Actor, holder *authorities.Authority, in Input, now time.Time) (string, error) {
	e := &Entry{ID: uuid.Must(uuid.NewV7()).String(), Status: Submitted, CreatedAt: now, Authority: holder}
	apply(e, in)
	if actor.CanValidate(holder) {
		e.Status, e.ValidatedAt = Validated, &now
	}
	if err := s.write(ctx, tx, e, now, true); err != nil {
		return "", err
	}
	return e.ID, s.record(ctx, tx, e.ID, actor.UserID, now, "created", "", e.Name)
}

func apply(e *Entry, in Input) {
	e.ExternalID, e.Country, e.AuthorityID, e.Name, e.Language, e.Names, e.Description = in.ExternalID, in.Country, in.AuthorityID, in.Name, in.Language, in.Names, in.Description
	e.Type, e.Access, e.Fees, e.URL, e.LegalBasis, e.Languages, e.Areas = in.Type, in.Access, in.Fees, in.URL, in.LegalBasis, in.Languages, in.Areas
}

// write stores an entry (insert or update), its names and its index document.
func (s *Service) write(ctx context.Context, tx db.Querier, e *Entry, now time.Time, insert bool) error {
	var ext any
	if e.ExternalID != "" {
		ext = e.ExternalID
	}
	var err error
	if insert {
		_, err = tx.ExecContext(ctx, `INSERT INTO registers (id, external_id, country, authority_id, name, language, description, type, access, fees, url,
			legal_basis, languages, areas, status, validated_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17)`,
			e.ID, ext, e.Country, e.AuthorityID, e.Name, e.Language, e.Description, e.Type, e.Access, e.Fees, e.URL, e.LegalBasis,
			strings.Join(e.Languages, " "), strings.Join(e.Areas, " "), e.Status, e.ValidatedAt, now)
	} else {
		_, err = tx.ExecContext(ctx, `UPDATE registers SET external_id = $1, authority_id = $2, name = $3, language = $4, description = $5, type = $6, access = $7,
			fees = $8, url = $9, legal_basis = $10, languages = $11, areas = $12, status = $13, validated_at = $14, updated_at = $15 WHERE id = $16`,
			ext, e.AuthorityID, e.Name, e.Language, e.Description, e.Type, e.Access, e.Fees, e.URL, e.LegalBasis,
			strings.Join(e.Languages, " "), strings.Join(e.Areas, " "), e.Status, e.ValidatedAt, now, e.ID)
	}
	if err = db.Check(err); errors.Is(err, db.ErrConflict) { // external_id is the only unique column
		return problem.Field("external_id", "error_register_external_id_taken")
	} else if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM register_names WHERE register_id = $1`, e.ID); err != nil {
		return db.Check(err)
	}
	for _, l := range sortedKeys(e.Names) {
		if _, err := tx.ExecContext(ctx, `INSERT INTO register_names (register_id, language, name) VALUES ($1, $2, $3)`, e.ID, l, e.Names[l]); err != nil {
			return db.Check(err)
		}
	}
	if e.Authority == nil || e.Authority.ID != e.AuthorityID { // the index names the holding authority
		holder, err := s.authorities.Get(ctx, e.AuthorityID)
		if err != nil {
			return err
		}
		e.Authority = holder
	}
	return db.Check(s.index.Put(ctx, tx, e.ID, s.document(e), tags(e)))
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

// document is what an entry is found by: its names, description, holding
// authority, and its type named in every language (so that
// "Handelsregister" or "registre du commerce" find business registers).
func (s *Service) document(e *Entry) string {
	parts := []string{e.Name, e.Description, e.LegalBasis}
	for _, l := range sortedKeys(e.Names) {
		parts = append(parts, e.Names[l])
	}
	if e.Authority != nil {
		parts = append(parts, e.Authority.Name)
		for _, l := range sortedKeys(e.Authority.Names) {
			parts = append(parts, e.Authority.Names[l])
		}
	}
	if s.catalog != nil {
		seen := map[string]bool{}
		for _, l := range i18n.Languages {
			label := s.catalog.Localizer(l.Code).T("register_type_" + e.Type)
			if !seen[label] {
				seen[label] = true
				parts = append(parts, label)
			}
		}
	}
	return strings.Join(parts, " ")
}

// tags are an entry's filter values in the index.
func tags(e *Entry) []string {
	out := []string{search.Tag("country", e.Country), search.Tag("type", e.Type), search.Tag("access", e.Access), search.Tag("status", e.Status)}
	for _, a := range e.Areas {
		out = append(out, search.Tag("area", a))
	}
	return out
}

// Update rewrites an entry. An authority's change waits for validation
// again; a coordinator's keeps the entry validated. Every field that
// changes is recorded.
func (s *Service) Update(ctx context.Context, actor authorities.Actor, id string, in Input) (*Entry, error) {
	old, err := s.load(ctx, s.db.Read(), id)
	if err != nil {
		return nil, err
	}
	if !sees(actor, old) {
		return nil, errNotFound
	}
	if !maintains(actor, old.Country) {
		return nil, errForbidden
	}
	in.Country = old.Country // an entry stays in its country
	holder, err := s.check(ctx, &in)
	if err != nil {
		return nil, err
	}
	err = s.db.InTx(ctx, func(tx db.Querier) error { return s.update(ctx, tx, actor, holder, old, in, s.clock()) })
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, actor, id)
}

// update rewrites an entry with a checked input inside tx, recording each
// field that changes.
func (s *Service) update(ctx context.Context, tx db.Querier, actor authorities.Actor, holder *authorities.Authority, old *Entry, in Input, now time.Time) error {
	id := old.ID
	next := *old
	apply(&next, in)
	next.Authority = holder
	if actor.CanValidate(holder) {
		if next.Status != Validated {
			next.Status, next.ValidatedAt = Validated, &now
		}
	} else {
		next.Status, next.ValidatedAt = Submitted, nil
	}
	before, after := fields(old), fields(&next)
	changed := false
	for _, k := range sortedKeys(after) {
		if before[k] != after[k] {
			changed = true
			if err := s.record(ctx, tx, id, actor.UserID, now, k, before[k], after[k]); err != nil {
				return err
			}
		}
	}
	for _, k := range sortedKeys(before) {
		if _, ok := after[k]; !ok {
			changed = true
			if err := s.record(ctx, tx, id, actor.UserID, now, k, before[k], ""); err != nil {
				return err
			}
		}
	}
	if !changed {
		return nil
	}
	return s.write(ctx, tx, &next, now, false)
}

// Withdraw takes an entry out of the directory (a register closed or
// merged): it leaves searches and the public endpoints, and stays with its
// history for its country and the Commission. Its maintainers may.
func (s *Service) Withdraw(ctx context.Context, actor authorities.Actor, id string) (*Entry, error) {
	e, err := s.load(ctx, s.db.Read(), id)
	if err != nil {
		return nil, err
	}
	if !sees(actor, e) {
		return nil, errNotFound
	}
	if !maintains(actor, e.Country) {
		return nil, errForbidden
	}
	if e.Status == Withdrawn {
		return s.Get(ctx, actor, id)
	}
	now := s.clock()
	old := e.Status
	e.Status, e.ValidatedAt = Withdrawn, nil
	err = s.db.InTx(ctx, func(tx db.Querier) error {
		if err := s.record(ctx, tx, id, actor.UserID, now, "status", old, Withdrawn); err != nil {
			return err
		}
		return s.write(ctx, tx, e, now, false)
	})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, actor, id)
}

// Validate marks an entry validated: the coordinators of its holding
// authority may.
func (s *Service) Validate(ctx context.Context, actor authorities.Actor, id string) (*Entry, error) {
	e, err := s.load(ctx, s.db.Read(), id)
	if err != nil {
		return nil, err
	}
	if !sees(actor, e) {
		return nil, errNotFound
	}
	holder, err := s.authorities.Get(ctx, e.AuthorityID)
	if err != nil {
		return nil, err
	}
	if !actor.CanValidate(holder) {
		return nil, errForbidden
	}
	if e.Status == Validated {
		return s.Get(ctx, actor, id)
	}
	now := s.clock()
	e.Status, e.ValidatedAt = Validated, &now
	err = s.db.InTx(ctx, func(tx db.Querier) error {
		if err := s.record(ctx, tx, id, actor.UserID, now, "status", Submitted, Validated); err != nil {
			return err
		}
		return s.write(ctx, tx, e, now, false)
	})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, actor, id)
}

// fields lists an entry's data as field → printable value, for the history.
func fields(e *Entry) map[string]string {
	m := map[string]string{"external_id": e.ExternalID, "authority_id": e.AuthorityID, "name": e.Name, "language": e.Language, "description": e.Description,
		"type": e.Type, "access": e.Access, "fees": fmt.Sprint(e.Fees), "url": e.URL, "legal_basis": e.LegalBasis,
		"languages": strings.Join(e.Languages, " "), "areas": strings.Join(e.Areas, " "), "status": e.Status}
	for l, n := range e.Names {
		m["name_"+l] = n
	}
	return m
}

func (s *Service) record(ctx context.Context, tx db.Querier, id, userID string, at time.Time, field, old, new string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO register_history (id, register_id, at, user_id, field, old_value, new_value) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		uuid.Must(uuid.NewV7()).String(), id, at, userID, field, old, new)
	return db.Check(err)
}

const columns = `id, COALESCE(external_id, ''), country, authority_id, name, language, description, type, access, fees, url, legal_basis, languages, areas,
	status, validated_at, created_at, updated_at`

func scan(row interface{ Scan(...any) error }) (*Entry, error) {
	var e Entry
	var langs, areaList string
	var validated sql.NullTime
	if err := row.Scan(&e.ID, &e.ExternalID, &e.Country, &e.AuthorityID, &e.Name, &e.Language, &e.Description, &e.Type, &e.Access, &e.Fees, &e.URL,
		&e.LegalBasis, &langs, &areaList, &e.Status, &validated, &e.CreatedAt, &e.UpdatedAt); err != nil {
		return nil, err
	}
	e.Languages, e.Areas, e.ValidatedAt = strings.Fields(langs), strings.Fields(areaList), db.Time(validated)
	e.CreatedAt, e.UpdatedAt = e.CreatedAt.UTC(), e.UpdatedAt.UTC()
	return &e, nil
}

// load reads an entry with its names and holding authority.
func (s *Service) load(ctx context.Context, q db.Querier, id string) (*Entry, error) {
	e, err := scan(q.QueryRowContext(ctx, `SELECT `+columns+` FROM registers WHERE id = $1`, id))
	if errors.Is(db.Check(err), db.ErrNotFound) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, db.Check(err)
	}
	if err := s.names(ctx, q, []*Entry{e}); err != nil {
		return nil, err
	}
	if e.Authority, err = s.authorities.Get(ctx, e.AuthorityID); err != nil {
		return nil, err
	}
	return e, nil
}

// names reads the translated names of entries.
func (s *Service) names(ctx context.Context, q db.Querier, list []*Entry) error {
	for _, e := range list {
		e.Names = map[string]string{}
		rows, err := q.QueryContext(ctx, `SELECT language, name FROM register_names WHERE register_id = $1`, e.ID)
		if err != nil {
			return db.Check(err)
		}
		for rows.Next() {
			var l, n string
			if err := rows.Scan(&l, &n); err != nil {
				_ = rows.Close()
				return db.Check(err)
			}
			e.Names[l] = n
		}
		_ = rows.Close()
		if err := rows.Err(); err != nil {
			return db.Check(err)
		}
	}
	return nil
}

// view fills in what the actor may do with an entry.
func view(actor authorities.Actor, e *Entry) *Entry {
	e.CanEdit = maintains(actor, e.Country)
	e.CanValidate = e.Status == Submitted && e.Authority != nil && actor.CanValidate(e.Authority)
	return e
}

// Get returns an entry the actor may see.
func (s *Service) Get(ctx context.Context, actor authorities.Actor, id string) (*Entry, error) {
	e, err := s.load(ctx, s.db.Read(), id)
	if err != nil {
		return nil, err
	}
	if !sees(actor, e) {
		return nil, errNotFound
	}
	return view(actor, e), nil
}

// Change is one recorded change of an entry.
type Change struct {
	At       time.Time
	UserName string
	Field    string
	Old, New string
}

// History returns an entry's changes, newest first, for whoever sees it.
func (s *Service) History(ctx context.Context, actor authorities.Actor, id string) ([]Change, error) {
	if _, err := s.Get(ctx, actor, id); err != nil {
		return nil, err
	}
	rows, err := s.db.Read().QueryContext(ctx, `SELECT h.at, COALESCE(u.name, ''), h.field, h.old_value, h.new_value
		FROM register_history h LEFT JOIN users u ON u.id = h.user_id WHERE h.register_id = $1 ORDER BY h.at DESC, h.id DESC LIMIT 500`, id)
	if err != nil {
		return nil, db.Check(err)
	}
	defer rows.Close()
	var out []Change
	for rows.Next() {
		var c Change
		if err := rows.Scan(&c.At, &c.UserName, &c.Field, &c.Old, &c.New); err != nil {
			return nil, db.Check(err)
		}
		c.At = c.At.UTC()
		out = append(out, c)
	}
	return out, db.Check(rows.Err())
}
