package authorities

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/openimi/openimi/internal/areas"
	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/countries"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/i18n"
	"github.com/openimi/openimi/internal/kept"
	"github.com/openimi/openimi/internal/problem"
	"github.com/openimi/openimi/internal/search"
	"github.com/openimi/openimi/internal/text"
)

// Service is the registry of the network.
type Service struct {
	db        *db.DB
	areas     *areas.Registry
	auth      *auth.Service
	now       func() time.Time
	publicURL string
	index     *search.Index
	labels    labelIndex
	registry  *kept.At[*Authority] // authorities by the registry revision (memo.go)
	userRoles *kept.At[[]UserRole] // users' roles by the registry revision

	revisionReads atomic.Int64 // RevisionReads
}

// New returns the registry service.
func New(d *db.DB, reg *areas.Registry, a *auth.Service, publicURL string, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{db: d, areas: reg, auth: a, now: now, publicURL: publicURL,
		index: search.NewIndex(d.Dialect(), "authority"), labels: newLabelIndex(reg), registry: kept.New(registryMost, authorityCost),
		userRoles: kept.New(rolesMost, func(r []UserRole) int { return 128 + 48*len(r) })}
}

func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

var errNotFound = problem.New(problem.NotFound, "error_not_found")

// errForbidden is what a refused operation answers. It says "not found"
// where the actor may not even know the object exists.
var errForbidden = problem.New(problem.Forbidden, "error_forbidden")

const authorityColumns = `id, COALESCE(external_id, ''), country, name, language, acronym, region, street, postcode, city, email, phone, website,
	role, alert_coordinator, status, COALESCE(parent_id, ''), created_at, updated_at`

func scanAuthority(row interface{ Scan(...any) error }) (*Authority, error) {
	var a Authority
	var kind, status string
	err := row.Scan(&a.ID, &a.ExternalID, &a.Country, &a.Name, &a.Language, &a.Acronym, &a.Region, &a.Street, &a.Postcode, &a.City,
		&a.Email, &a.Phone, &a.Website, &kind, &a.AlertCoordinator, &status, &a.ParentID, &a.CreatedAt, &a.UpdatedAt)
	a.Kind, a.Status = Kind(kind), Status(status)
	return &a, db.Check(err)
}

// load fills an authority's texts, areas, competences and scope.
func (s *Service) load(ctx context.Context, q db.Querier, a *Authority) error {
	return s.loadMany(ctx, q, []*Authority{a})
}

// Get returns an authority by id: from the page's memo, or from those the
// server keeps under the registry revision, or read.
func (s *Service) Get(ctx context.Context, id string) (*Authority, error) {
	m := memoOf(ctx)
	if m != nil {
		if a := m.get(id); a != nil {
			return a, nil
		}
	}
	revision, err := s.registryRevision(ctx, m)
	if err != nil {
		return nil, err
	}
	a, ok := s.registry.Get(revision, id)
	if !ok {
		if a, err = s.get(ctx, nil, `id = $1`, id); err != nil {
			return nil, err
		}
		s.registry.Keep(revision, a.ID, a) // its own id: the key costs nothing more (authorityCost)
	}
	if m != nil {
		m.put(a)
	}
	return a.Clone(), nil
}

// GetMany returns the authorities of ids that exist, by id, reading them a
// thousand at a time: a list of cases from many senders needs each
// sender, and one Get each was thousands of queries.
func (s *Service) GetMany(ctx context.Context, ids []string) (map[string]*Authority, error) {
	return s.getMany(ctx, ids, false)
}

// GetManyShared is GetMany for a caller that only reads what it is
// given (a list to show: Search, an inbox's parties): the instances the
// server keeps, or read and gave nobody else, shared with every page,
// instead of copies. Read them, never change them or what they hold.
// Copying was 7.1% of the processor time of a search page and 4.8% of an
// inbox page at 1m on SQLite (bench/load).
func (s *Service) GetManyShared(ctx context.Context, ids []string) (map[string]*Authority, error) {
	return s.getMany(ctx, ids, true)
}

// getMany is GetMany, or GetManyShared if shared.
func (s *Service) getMany(ctx context.Context, ids []string, shared bool) (map[string]*Authority, error) {
	out := map[string]*Authority{}
	m := memoOf(ctx)
	// give is what the caller gets of an instance nobody changes.
	give := func(a *Authority) *Authority {
		if shared {
			return a
		}
		return a.Clone()
	}
	var missing []string
	for _, id := range ids {
		if _, ok := out[id]; ok || id == "" {
			continue
		}
		if m != nil {
			if a := m.peek(id); a != nil {
				out[id] = give(a)
				continue
			}
		}
		out[id] = nil
		missing = append(missing, id)
	}
	if len(missing) > 0 {
		revision, err := s.registryRevision(ctx, m)
		if err != nil {
			return nil, err
		}
		// The instances kept, which nobody changes, go to the memo; the
		// caller gets copies, unless it shares them.
		found := func(a *Authority) {
			out[a.ID] = give(a)
			if m != nil {
				m.put(a)
			}
		}
		var unread []string
		for _, id := range missing {
			if a, ok := s.registry.Get(revision, id); ok {
				found(a)
			} else {
				unread = append(unread, id)
			}
		}
		for start := 0; start < len(unread); start += lookupChunk {
			list, err := s.byIDs(ctx, unread[start:min(start+lookupChunk, len(unread))])
			if err != nil {
				return nil, err
			}
			for _, a := range list {
				s.registry.Keep(revision, a.ID, a)
				found(a)
			}
		}
	}
	for id, a := range out {
		if a == nil {
			delete(out, id)
		}
	}
	return out, nil
}

// GetByExternalID returns an authority by its external id.
func (s *Service) GetByExternalID(ctx context.Context, ext string) (*Authority, error) {
	return s.get(ctx, nil, `external_id = $1`, ext)
}

// Find returns an authority by id or, failing that, by external id.
func (s *Service) Find(ctx context.Context, ref string) (*Authority, error) {
	a, err := s.Get(ctx, ref)
	if errors.Is(err, db.ErrNotFound) {
		a, err = s.GetByExternalID(ctx, ref)
	}
	return a, err
}

// get reads one authority within q, or outside any transaction (q nil).
func (s *Service) get(ctx context.Context, q db.Querier, where string, arg any) (*Authority, error) {
	read := q
	if q == nil {
		read = s.db.Read()
	}
	a, err := scanAuthority(read.QueryRowContext(ctx, `SELECT `+authorityColumns+` FROM authorities WHERE `+where, arg))
	if errors.Is(err, db.ErrNotFound) {
		return nil, fmt.Errorf("%w: %w", errNotFound, err)
	}
	if err != nil {
		return nil, err
	}
	return a, s.load(ctx, read, a)
}

// ActorFor returns the actor a user acts as: their authority and roles.
func (s *Service) ActorFor(ctx context.Context, userID string) (Actor, error) {
	u, err := s.auth.UserByID(ctx, userID)
	if err != nil {
		return Actor{UserID: userID}, err
	}
	return s.ActorOf(ctx, u)
}

// ActorOf is ActorFor for a user just read with their session or API token
// (its ID, AuthorityID and Language): one query less on every page.
func (s *Service) ActorOf(ctx context.Context, u auth.User) (a Actor, err error) {
	a = Actor{UserID: u.ID, Language: u.Language}
	if u.AuthorityID != "" {
		if a.Authority, err = s.Get(ctx, u.AuthorityID); err != nil {
			return a, err
		}
	}
	a.Roles, err = s.keptRoles(ctx, u.ID)
	return a, err
}

// keptRoles is roles of committed data, from those kept under the
// registry revision (memo.go).
func (s *Service) keptRoles(ctx context.Context, userID string) ([]UserRole, error) {
	revision, err := s.registryRevision(ctx, memoOf(ctx))
	if err != nil {
		return nil, err
	}
	r, err := s.userRoles.GetOr(revision, userID, func() ([]UserRole, error) { return s.roles(ctx, s.db.Read(), userID) })
	return slices.Clone(r), err
}

func (s *Service) roles(ctx context.Context, q db.Querier, userID string) ([]UserRole, error) {
	rows, err := q.QueryContext(ctx, `SELECT role, area FROM user_roles WHERE user_id = $1 ORDER BY role, area`, userID)
	if err != nil {
		return nil, db.Check(err)
	}
	defer rows.Close()
	var out []UserRole
	for rows.Next() {
		var r UserRole
		if err := rows.Scan(&r.Role, &r.Area); err != nil {
			return nil, db.Check(err)
		}
		out = append(out, r)
	}
	return out, db.Check(rows.Err())
}

// Filter selects authorities in a list.
type Filter struct {
	Country string
	Area    string
	Status  Status
	Kind    Kind
	Page    int // from 1
	PerPage int
}

// List returns a page of authorities, ordered by country and name, and the
// number of all that match.
func (s *Service) List(ctx context.Context, f Filter) ([]*Authority, int, error) {
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	if f.Country != "" {
		where = append(where, "country = "+arg(f.Country))
	}
	if f.Status != "" {
		where = append(where, "status = "+arg(string(f.Status)))
	}
	if f.Kind != "" {
		where = append(where, "role = "+arg(string(f.Kind)))
	}
	if f.Area != "" {
		where = append(where, "id IN (SELECT authority_id FROM authority_areas WHERE area = "+arg(f.Area)+")")
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := s.db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM authorities`+cond, args...).Scan(&total); err != nil {
		return nil, 0, db.Check(err)
	}
	if f.PerPage <= 0 || f.PerPage > 200 {
		f.PerPage = 50
	}
	if f.Page < 1 {
		f.Page = 1
	}
	q := `SELECT ` + authorityColumns + ` FROM authorities` + cond + ` ORDER BY country, name, id LIMIT ` + arg(f.PerPage) + ` OFFSET ` + arg((f.Page-1)*f.PerPage)
	rows, err := s.db.Read().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, 0, db.Check(err)
	}
	var out []*Authority
	for rows.Next() {
		a, err := scanAuthority(rows)
		if err != nil {
			_ = rows.Close()
			return nil, 0, err
		}
		out = append(out, a)
	}
	_ = rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, db.Check(err)
	}
	if err := s.loadMany(ctx, s.db.Read(), out); err != nil {
		return nil, 0, err
	}
	return out, total, db.Check(rows.Err())
}

// Input is what registering or editing an authority takes; import rows too.
type Input struct {
	ExternalID       string
	Country          string
	Name             string
	Language         string
	Acronym          string
	Region           string
	Street           string
	Postcode         string
	City             string
	Email            string
	Phone            string
	Website          string
	Kind             Kind
	AlertCoordinator bool
	ParentID         string
	Names            map[string]string
	Descriptions     map[string]string
	Areas            []string
	Competences      []Competence
	Scope            Scope
	// Supervisors names, per area, the coordinator that supervises the
	// authority's exchanges there, where it is not the one it reports to.
	Supervisors map[string]string
}

const maxText = 300

// Check returns every problem with the input, by field. It resolves the
// country alias and drops empty texts.
func (s *Service) Check(in *Input) problem.List {
	var errs problem.List
	bad := func(field, key string, args ...any) { errs = append(errs, problem.Field(field, key, args...)) }
	trim := func(p *string) { *p = strings.TrimSpace(*p) }
	for _, p := range []*string{&in.ExternalID, &in.Country, &in.Name, &in.Language, &in.Acronym, &in.Region, &in.Street, &in.Postcode, &in.City, &in.Email, &in.Phone, &in.Website} {
		trim(p)
	}
	for field, v := range map[string]string{"external_id": in.ExternalID, "name": in.Name, "acronym": in.Acronym, "region": in.Region,
		"street": in.Street, "postcode": in.Postcode, "city": in.City, "email": in.Email, "phone": in.Phone, "website": in.Website} {
		if !text.Line(v) {
			bad(field, "error_text_invalid")
		} else if utf8.RuneCountInString(v) > maxText {
			bad(field, "error_text_too_long", "Max", maxText)
		}
	}
	if c := countries.Normalize(in.Country); c == "" || !countries.IsCurrent(c) {
		bad("country", "error_country_unknown")
	} else {
		in.Country = c
	}
	if in.Name == "" {
		bad("name", "error_name_required")
	}
	if !i18n.Supported(in.Language) {
		bad("language", "error_language_unknown")
	}
	if in.Email != "" {
		if a, err := mail.ParseAddress(in.Email); err != nil || a.Address != in.Email {
			bad("email", "error_email_invalid")
		}
	}
	if in.Website != "" {
		if u, err := url.Parse(in.Website); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("website", "error_website_invalid")
		}
	}
	if in.Kind == "" {
		in.Kind = CompetentAuthority
	}
	if !slices.Contains(Kinds, in.Kind) {
		bad("role", "error_authority_kind_unknown")
	}
	if len(in.Areas) == 0 {
		bad("areas", "error_areas_required")
	}
	seen := map[string]bool{}
	for _, a := range in.Areas {
		if _, err := s.areas.Pack(a); err != nil {
			bad("areas", "error_area_unknown", "Code", a)
		}
		if seen[a] {
			bad("areas", "error_area_duplicate", "Code", a)
		}
		seen[a] = true
	}
	sort.Strings(in.Areas)
	for _, c := range in.Competences {
		p, err := s.areas.Pack(c.Area)
		ok := err == nil && seen[c.Area]
		if ok {
			v := p.Vocabulary(c.Vocabulary)
			ok = v != nil && slices.ContainsFunc(v.AllTerms(), func(t areas.Code) bool { return t.Value == c.Term })
		}
		if !ok {
			bad("competences", "error_competence_unknown", "Code", c.Term)
		}
	}
	for i, texts := range []map[string]string{in.Names, in.Descriptions} {
		field, valid := "names", text.Line
		if i == 1 {
			field, valid = "descriptions", text.Block
		}
		for lang, v := range texts {
			if !i18n.Supported(lang) {
				bad("names", "error_language_unknown")
			}
			if strings.TrimSpace(v) == "" {
				delete(texts, lang)
			} else if !valid(v) {
				bad(field, "error_text_invalid")
			} else if utf8.RuneCountInString(v) > 4000 {
				bad("descriptions", "error_text_too_long", "Max", 4000)
			}
		}
	}
	for _, a := range in.Scope.Areas {
		if !seen[a] {
			bad("scope", "error_area_unknown", "Code", a)
		}
	}
	for area, id := range in.Supervisors {
		if !seen[area] || id == "" {
			bad("supervisors", "error_area_unknown", "Code", area)
		}
	}
	return errs
}

// checkSupervisors makes sure each supervisor is a coordinator of the same
// country (or the Commission).
func (s *Service) checkSupervisors(ctx context.Context, in Input) error {
	for _, id := range in.Supervisors {
		sup, err := s.Get(ctx, id)
		if err != nil || !sup.Kind.IsCoordinator() || (sup.Country != in.Country && sup.Kind != Commission) {
			return problem.Field("supervisors", "error_parent_invalid")
		}
	}
	return nil
}

// newAuthority builds the authority an input describes (not yet stored).
func newAuthority(in Input) *Authority {
	return &Authority{ExternalID: in.ExternalID, Country: in.Country, Name: in.Name, Language: in.Language, Acronym: in.Acronym,
		Region: in.Region, Street: in.Street, Postcode: in.Postcode, City: in.City, Email: in.Email, Phone: in.Phone, Website: in.Website,
		Kind: in.Kind, AlertCoordinator: in.AlertCoordinator, ParentID: in.ParentID, Names: in.Names, Descriptions: in.Descriptions,
		Areas: in.Areas, Competences: in.Competences, Scope: in.Scope, Supervisors: in.Supervisors}
}

// Register adds an authority. A coordinator registers authorities in its
// scope; they report to that coordinator unless the input names another
// one the actor coordinates. The new authority waits to be validated.
func (s *Service) Register(ctx context.Context, actor Actor, in Input) (*Authority, error) {
	if errs := s.Check(&in); len(errs) > 0 {
		return nil, errs
	}
	a := newAuthority(in)
	if !actor.CanRegister(a) {
		return nil, errForbidden
	}
	if err := s.checkSupervisors(ctx, in); err != nil {
		return nil, err
	}
	if a.ParentID == "" && actor.Authority != nil && a.Kind != NationalCoordinator {
		a.ParentID = actor.Authority.ID
	}
	if a.ParentID != "" {
		parent, err := s.Get(ctx, a.ParentID)
		if err != nil || !parent.Kind.IsCoordinator() || (parent.Country != a.Country && parent.Kind != Commission) {
			return nil, problem.Field("parent_id", "error_parent_invalid")
		}
	}
	a.ID, a.Status = uuid.Must(uuid.NewV7()).String(), Registered
	err := s.db.InTx(ctx, func(tx db.Querier) error {
		return s.insertMany(ctx, tx, actor, []*Authority{a})
	})
	return a, s.conflict(err)
}

// conflict turns a unique violation into the problem users see.
func (s *Service) conflict(err error) error {
	if errors.Is(err, db.ErrConflict) {
		if strings.Contains(err.Error(), "national") || strings.Contains(err.Error(), "country") {
			return problem.Field("role", "error_national_coordinator_exists")
		}
		return problem.Field("external_id", "error_external_id_taken")
	}
	return err
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// writeDetails replaces an authority's texts, areas, competences and scope.
func (s *Service) writeDetails(ctx context.Context, tx db.Querier, a *Authority) error {
	for _, table := range []string{"authority_texts", "authority_areas", "authority_competences", "coordinator_scopes"} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE authority_id = $1`, a.ID); err != nil {
			return err
		}
	}
	langs := map[string]bool{}
	for l := range a.Names {
		langs[l] = true
	}
	for l := range a.Descriptions {
		langs[l] = true
	}
	for l := range langs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO authority_texts (authority_id, language, name, description) VALUES ($1, $2, $3, $4)`,
			a.ID, l, a.Names[l], a.Descriptions[l]); err != nil {
			return err
		}
	}
	for _, area := range a.Areas {
		if _, err := tx.ExecContext(ctx, `INSERT INTO authority_areas (authority_id, area, supervisor_id) VALUES ($1, $2, $3)`,
			a.ID, area, nullable(a.Supervisors[area])); err != nil {
			return err
		}
	}
	for _, c := range a.Competences {
		if _, err := tx.ExecContext(ctx, `INSERT INTO authority_competences (authority_id, area, vocabulary, term) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
			a.ID, c.Area, c.Vocabulary, c.Term); err != nil {
			return err
		}
	}
	for kind, values := range map[string][]string{"area": a.Scope.Areas, "region": a.Scope.Regions} {
		for _, v := range values {
			if _, err := tx.ExecContext(ctx, `INSERT INTO coordinator_scopes (authority_id, kind, value) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, a.ID, kind, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// record writes one line of an authority's change history.
func (s *Service) record(ctx context.Context, tx db.Querier, authorityID, userID, field, old, new string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO authority_history (id, authority_id, at, user_id, field, old_value, new_value) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		uuid.Must(uuid.NewV7()).String(), authorityID, s.clock(), userID, field, old, new)
	return err
}

// fields lists an authority's data as field → printable value, for the
// change history.
func fields(a *Authority) map[string]string {
	m := map[string]string{
		"external_id": a.ExternalID, "country": a.Country, "name": a.Name, "language": a.Language, "acronym": a.Acronym, "region": a.Region,
		"street": a.Street, "postcode": a.Postcode, "city": a.City, "email": a.Email, "phone": a.Phone, "website": a.Website,
		"role": string(a.Kind), "alert_coordinator": fmt.Sprint(a.AlertCoordinator), "parent_id": a.ParentID,
		"areas": strings.Join(a.Areas, ";"), "competences": competenceList(a.Competences),
		"scope": strings.Join(a.Scope.Areas, ";") + " | " + strings.Join(a.Scope.Regions, ";"),
	}
	for area, id := range a.Supervisors {
		m["supervisor_"+area] = id
	}
	for l, n := range a.Names {
		m["name_"+l] = n
	}
	for l, d := range a.Descriptions {
		m["description_"+l] = d
	}
	return m
}

func competenceList(cs []Competence) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.Area + "/" + c.Vocabulary + "/" + c.Term
	}
	sort.Strings(parts)
	return strings.Join(parts, ";")
}

// diff returns both authorities' fields and, sorted, the names of the
// fields that differ: what the change history records.
func diff(old, next *Authority) (before, after map[string]string, changed []string) {
	before, after = fields(old), fields(next)
	for k, v := range after {
		if before[k] != v {
			changed = append(changed, k)
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			changed = append(changed, k)
		}
	}
	sort.Strings(changed)
	return before, after, changed
}

// Update changes an authority's data and records every changed field in its
// history. Unchanged input changes nothing (and records nothing).
func (s *Service) Update(ctx context.Context, actor Actor, id string, in Input) (*Authority, error) {
	old, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if !actor.CanEdit(old) {
		return nil, errForbidden
	}
	if errs := s.Check(&in); len(errs) > 0 {
		return nil, errs
	}
	next := newAuthority(in)
	next.ID, next.Status, next.CreatedAt = old.ID, old.Status, old.CreatedAt
	if !actor.coordinates(old) {
		// An authority's own administrator edits its data, not its place
		// in the network.
		next.Country, next.Kind, next.ParentID, next.Scope, next.ExternalID, next.AlertCoordinator, next.Supervisors =
			old.Country, old.Kind, old.ParentID, old.Scope, old.ExternalID, old.AlertCoordinator, old.Supervisors
	} else if !actor.IsCommission() && next.Country != old.Country {
		return nil, problem.Field("country", "error_forbidden")
	} else if err := s.checkSupervisors(ctx, in); err != nil {
		return nil, err
	}
	if next.Supervisors == nil {
		next.Supervisors = map[string]string{}
	}
	if next.ParentID == "" {
		next.ParentID = old.ParentID
	}
	return next, s.db.InTx(ctx, func(tx db.Querier) error {
		changed, err := s.save(ctx, tx, actor.UserID, old, next)
		if err != nil || !changed {
			return err
		}
		return nil
	})
}

// save writes next over old inside tx, with a history line per changed
// field, and reports whether anything changed.
func (s *Service) save(ctx context.Context, tx db.Querier, userID string, old, next *Authority) (bool, error) {
	before, after, changed := diff(old, next)
	if len(changed) == 0 {
		return false, nil
	}
	next.UpdatedAt = s.clock()
	_, err := tx.ExecContext(ctx, `UPDATE authorities SET external_id = $1, country = $2, name = $3, language = $4, acronym = $5, region = $6, street = $7,
		postcode = $8, city = $9, email = $10, phone = $11, website = $12, role = $13, alert_coordinator = $14, parent_id = $15, updated_at = $16 WHERE id = $17`,
		nullable(next.ExternalID), next.Country, next.Name, next.Language, next.Acronym, next.Region, next.Street, next.Postcode, next.City,
		next.Email, next.Phone, next.Website, string(next.Kind), next.AlertCoordinator, nullable(next.ParentID), next.UpdatedAt, next.ID)
	if err != nil {
		return false, s.conflict(db.Check(err))
	}
	if err := s.writeDetails(ctx, tx, next); err != nil {
		return false, err
	}
	if err := s.indexMany(ctx, tx, []*Authority{next}); err != nil {
		return false, err
	}
	for _, k := range changed {
		if err := s.record(ctx, tx, next.ID, userID, k, before[k], after[k]); err != nil {
			return false, err
		}
	}
	return true, nil
}

// SetStatus validates, deactivates or reactivates an authority.
func (s *Service) SetStatus(ctx context.Context, actor Actor, id string, to Status) error {
	a, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	if !actor.CanValidate(a) {
		return errForbidden
	}
	from := a.Status
	switch {
	case to == Validated && from == Registered:
	case to == Deactivated && from != Deactivated:
	case to == Active && from == Deactivated:
		to = s.statusByUsers(ctx, a)
	default:
		return problem.New(problem.Conflict, "error_status_change", "From", string(from), "To", string(to))
	}
	return s.db.InTx(ctx, func(tx db.Querier) error {
		if _, err := tx.ExecContext(ctx, `UPDATE authorities SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4`, string(to), s.clock(), id, string(from)); err != nil {
			return s.conflict(db.Check(err))
		}
		if err := s.reindex(ctx, tx, id); err != nil {
			return err
		}
		if to == Deactivated {
			// Its users' sessions end now, not at their next request.
			if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE authority_id = $1)`, id); err != nil {
				return err
			}
		}
		return s.record(ctx, tx, id, actor.UserID, "status", string(from), string(to))
	})
}

// statusByUsers is the status a reactivated authority returns to.
func (s *Service) statusByUsers(ctx context.Context, a *Authority) Status {
	var n int
	_ = s.db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE authority_id = $1`, a.ID).Scan(&n)
	if n > 0 {
		return Active
	}
	return Validated
}

// Change is one line of an authority's history.
type Change struct {
	At       time.Time
	UserID   string
	UserName string
	Field    string
	Old, New string
}

// History returns an authority's changes, newest first.
func (s *Service) History(ctx context.Context, actor Actor, id string) ([]Change, error) {
	a, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if !actor.CanSeeHistory(a) {
		return nil, errForbidden
	}
	rows, err := s.db.Read().QueryContext(ctx, `SELECT h.at, h.user_id, COALESCE(u.name, ''), h.field, h.old_value, h.new_value
		FROM authority_history h LEFT JOIN users u ON u.id = h.user_id WHERE h.authority_id = $1 ORDER BY h.at DESC, h.id DESC LIMIT 500`, id)
	if err != nil {
		return nil, db.Check(err)
	}
	defer rows.Close()
	var out []Change
	for rows.Next() {
		var c Change
		if err := rows.Scan(&c.At, &c.UserID, &c.UserName, &c.Field, &c.Old, &c.New); err != nil {
			return nil, db.Check(err)
		}
		out = append(out, c)
	}
	return out, db.Check(rows.Err())
}

// CommissionExternalID identifies the European Commission in the registry.
const CommissionExternalID = "EC-COMM"

// EnsureCommission returns the European Commission's entry in the registry,
// creating it on first use. It is not a country's authority, so it is not
// registered through the usual checks.
func (s *Service) EnsureCommission(ctx context.Context) (*Authority, error) {
	if a, err := s.GetByExternalID(ctx, CommissionExternalID); err == nil {
		return a, nil
	} else if !errors.Is(err, db.ErrNotFound) {
		return nil, err
	}
	a := &Authority{ID: uuid.Must(uuid.NewV7()).String(), ExternalID: CommissionExternalID, Country: countries.Commission, Name: "European Commission",
		Language: "en", Kind: Commission, Status: Active, Email: "imi-helpdesk@ec.europa.eu.example", Website: "https://ec.europa.eu/internal_market/imi-net/",
		Names: map[string]string{}, Descriptions: map[string]string{}}
	for _, p := range s.areas.Packs() {
		a.Areas = append(a.Areas, p.Code)
	}
	err := s.db.InTx(ctx, func(tx db.Querier) error {
		return s.insertMany(ctx, tx, System(), []*Authority{a})
	})
	if errors.Is(err, db.ErrConflict) {
		return s.GetByExternalID(ctx, CommissionExternalID)
	}
	return a, err
}
