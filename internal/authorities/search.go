package authorities

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/openimi/openimi/internal/areas"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/i18n"
	"github.com/openimi/openimi/internal/problem"
	"github.com/openimi/openimi/internal/search"
)

// document is the text an authority is found by: its names in every
// language, acronym, city and region. Competences are found through the
// vocabularies' labels instead (see labelIndex).
func document(a *Authority) string {
	parts := []string{a.Name, a.Acronym, a.City, a.Region}
	langs := make([]string, 0, len(a.Names))
	for l := range a.Names {
		langs = append(langs, l)
	}
	sort.Strings(langs)
	for _, l := range langs {
		parts = append(parts, a.Names[l])
	}
	return strings.Join(parts, " ")
}

// tags are the filter values an authority is found by, as index tags
// (see search.Tag).
func tags(a *Authority) []string {
	t := []string{search.Tag("country", a.Country), search.Tag("status", string(a.Status)), search.Tag("role", string(a.Kind))}
	if a.Region != "" {
		t = append(t, search.Tag("region", a.Region))
	}
	for _, area := range a.Areas {
		t = append(t, search.Tag("area", area))
	}
	for _, c := range a.Competences {
		t = append(t, competenceTag(c.Area+"/"+c.Vocabulary+"/"+c.Term), search.Tag("term", c.Term))
	}
	return t
}

// competenceTag is the tag of a competence "area/vocabulary/term".
func competenceTag(key string) string { return search.Tag("competence", key) }

// indexMany writes the search documents of authorities inside tx.
func (s *Service) indexMany(ctx context.Context, tx db.Querier, list []*Authority) error {
	for _, a := range list {
		if err := s.index.Put(ctx, tx, a.ID, document(a), tags(a)); err != nil {
			return err
		}
	}
	return nil
}

// searchRows are the search documents of authorities not yet in the
// index, for a bulk insert.
func searchRows(list []*Authority) tableRows {
	docs := make([][]any, len(list))
	for i, a := range list {
		docs[i] = []any{a.ID, search.Normalize(document(a)), search.Tags(a.ID, tags(a))}
	}
	return tableRows{"authority_fts", "id, document, tags", docs}
}

// reindex rewrites the search documents of authorities by id inside tx,
// after a change made in SQL (a status).
func (s *Service) reindex(ctx context.Context, tx db.Querier, ids ...string) error {
	list := make([]*Authority, 0, len(ids))
	for _, id := range ids {
		a, err := scanAuthority(tx.QueryRowContext(ctx, `SELECT `+authorityColumns+` FROM authorities WHERE id = $1`, id))
		if err != nil {
			return db.Check(err)
		}
		list = append(list, a)
	}
	if err := s.loadMany(ctx, tx, list); err != nil {
		return err
	}
	return s.indexMany(ctx, tx, list)
}

// EnsureIndex fills the search index when it does not hold every
// authority (a database made before search existed, or whose index
// changed form).
func (s *Service) EnsureIndex(ctx context.Context) error {
	var count int
	if err := s.db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM authorities`).Scan(&count); err != nil {
		return db.Check(err)
	}
	indexed, err := s.index.Count(ctx, s.db.Read())
	if err != nil {
		return err
	}
	if indexed != count {
		_, err := s.Reindex(ctx)
		return err
	}
	return nil
}

// Reindex rebuilds the search index from the registry (imi search
// reindex), in one transaction, and returns how many authorities it holds.
func (s *Service) Reindex(ctx context.Context) (int, error) {
	var n int
	err := s.db.InTxAlone(ctx, func(tx db.Querier) error {
		if err := s.index.Clear(ctx, tx); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+authorityColumns+` FROM authorities`)
		if err != nil {
			return err
		}
		var list []*Authority
		for rows.Next() {
			a, err := scanAuthority(rows)
			if err != nil {
				_ = rows.Close()
				return err
			}
			list = append(list, a)
		}
		_ = rows.Close()
		if err := rows.Err(); err != nil {
			return db.Check(err)
		}
		if err := s.loadMany(ctx, tx, list); err != nil {
			return err
		}
		n = len(list)
		t := searchRows(list)
		return s.insertRows(ctx, tx, t.table, t.cols, t.rows)
	})
	if err == nil && n >= bulkChange {
		err = s.db.AfterBulkChange(ctx, "authority_fts")
	}
	return n, err
}

// labelWord is a word of a vocabulary term's label in some language, and
// the competence it names ("area/vocabulary/term").
type labelWord struct {
	word  string
	key   string
	whole bool // the word is the whole label ("Lekarz", not "Lekarz weterynarii")
	aside bool // the word is only in the label's explanation, in brackets
}

// brackets match an explanation in a label: "Lekarz (podstawowe …)".
var brackets = regexp.MustCompile(`\([^)]*\)`)

// labelIndex finds competences by the words of their labels in all 26
// languages, so that "médecin", "Arzt" or "γιατρός" find doctors.
type labelIndex []labelWord

func newLabelIndex(reg *areas.Registry) labelIndex {
	var idx labelIndex
	if reg == nil {
		return idx
	}
	for _, p := range reg.Packs() {
		for _, v := range p.Vocabularies {
			for _, t := range v.AllTerms() {
				key := p.Code + "/" + v.Code + "/" + t.Value
				seen := map[string]bool{}
				for _, l := range i18n.Languages {
					label := p.Text(l.Code, "vocabularies."+v.Code+".terms."+t.Value)
					core := strings.Fields(search.Normalize(brackets.ReplaceAllString(label, " ")))
					for _, w := range core {
						if len([]rune(w)) >= 3 && !seen[w] {
							seen[w] = true
							idx = append(idx, labelWord{word: w, key: key, whole: len(core) == 1})
						}
					}
					for _, w := range strings.Fields(search.Normalize(strings.Join(brackets.FindAllString(label, -1), " "))) {
						if len([]rune(w)) >= 3 && !seen[w] {
							seen[w] = true
							idx = append(idx, labelWord{word: w, key: key, aside: true})
						}
					}
				}
			}
		}
	}
	sort.Slice(idx, func(i, j int) bool { return idx[i].word < idx[j].word })
	return idx
}

// competences returns the competences with a label word that starts with
// prefix, each with how well it matches: the whole label (3), a word of it
// (2.5), the start of a word (2).
func (idx labelIndex) competences(prefix string) map[string]float64 {
	out := map[string]float64{}
	i := sort.Search(len(idx), func(i int) bool { return idx[i].word >= prefix })
	for ; i < len(idx) && strings.HasPrefix(idx[i].word, prefix); i++ {
		s := 2.0
		switch {
		case idx[i].aside:
			s = 1
		case idx[i].word == prefix && idx[i].whole:
			s = 3
		case idx[i].word == prefix:
			s = 2.5
		}
		if s > out[idx[i].key] {
			out[idx[i].key] = s
		}
	}
	return out
}

// Query is a search for authorities.
type Query struct {
	Text       string
	Countries  []string
	Area       string
	Competence string // "area/vocabulary/term", or a term code in any vocabulary
	Region     string
	Kind       Kind
	Status     Status // only this status (deactivated ones are otherwise left out)
	Public     bool   // only authorities whose coordinator has validated them (validated, active)
	Page       int
	PerPage    int
}

// MaxResults bounds how many matches are paged through: enough for any
// list a person reads. A search that finds more reports MaxResults+1:
// "more than MaxResults, refine the search". A page ranks and reads only
// the blocks of candidates up to it (search.Block), so that it stays fast
// with 100,000 authorities.
const MaxResults = 1000

// Search finds authorities by free text in any language and by filters,
// ranked by relevance (filters alone: by name). Deactivated authorities are
// not found unless asked for by status. Every signed-in user may search:
// contact data is not personal. The total is at most MaxResults+1.
//
// The authorities found are the instances the server keeps, shared with
// every page that reads them, not copies: read them, never change them
// or what they hold (Get returns a copy one may change).
func (s *Service) Search(ctx context.Context, q Query) ([]*Authority, int, error) {
	if len(q.Text) > 4*search.MaxQueryLength || len([]rune(q.Text)) > search.MaxQueryLength {
		return nil, 0, problem.Field("q", "error_query_too_long", "Max", search.MaxQueryLength)
	}
	if q.PerPage <= 0 || q.PerPage > 100 {
		q.PerPage = 20
	}
	if q.Page < 1 {
		q.Page = 1
	}
	if q.Page > MaxResults/q.PerPage+1 {
		q.Page = MaxResults/q.PerPage + 1
	}
	tokens := search.Tokens(q.Text)
	if len(tokens) == 0 {
		return s.filtered(ctx, q)
	}
	m := filters(q)
	// Per query word: the competences its words name (by their tags), and
	// how well; an authority holding one matches the word as if by its
	// text.
	matched := make([]map[string]float64, len(tokens))
	for i, t := range tokens {
		matched[i] = map[string]float64{}
		for j, v := range search.Variants(t) {
			for k, score := range s.labels.competences(v) {
				if j > 0 {
					score = 1.5 // only an inflection variant matched
				}
				if tag := competenceTag(k); score > matched[i][tag] {
					matched[i][tag] = score
				}
			}
		}
		also := make([]string, 0, len(matched[i]))
		for tag := range matched[i] {
			also = append(also, tag)
		}
		sort.Strings(also)
		m.Words = append(m.Words, search.Variants(t))
		m.Also = append(m.Also, also)
	}
	page, total, err := s.index.Ranked(ctx, s.db, m, MaxResults, (q.Page-1)*q.PerPage, q.PerPage, func(h *search.Hit) float64 {
		return search.Score(h.Text, tokens, func(i int) float64 {
			best := 0.0
			for tag, score := range matched[i] {
				if score > best && h.Has(tag) {
					best = score
				}
			}
			return best
		})
	})
	if err != nil {
		return nil, 0, err
	}
	found, err := s.inOrder(ctx, page)
	return found, total, err
}

// filters are q's filters as tags of the search index.
func filters(q Query) search.Query {
	m := search.Query{}
	switch {
	case q.Status != "":
		m.Require = append(m.Require, []string{search.Tag("status", string(q.Status))})
	case q.Public:
		m.Require = append(m.Require, []string{search.Tag("status", string(Validated)), search.Tag("status", string(Active))})
	default:
		m.Exclude = []string{search.Tag("status", string(Deactivated))}
	}
	if len(q.Countries) > 0 {
		var g []string
		for _, c := range q.Countries {
			g = append(g, search.Tag("country", c))
		}
		m.Require = append(m.Require, g)
	}
	if q.Area != "" {
		m.Require = append(m.Require, []string{search.Tag("area", q.Area)})
	}
	if q.Region != "" {
		m.Require = append(m.Require, []string{search.Tag("region", q.Region)})
	}
	if q.Kind != "" {
		m.Require = append(m.Require, []string{search.Tag("role", string(q.Kind))})
	}
	if q.Competence != "" {
		if strings.Count(q.Competence, "/") == 2 {
			m.Require = append(m.Require, []string{competenceTag(q.Competence)})
		} else {
			m.Require = append(m.Require, []string{search.Tag("term", q.Competence)})
		}
	}
	return m
}

// filtered answers a search without text, by name. A few matches (at most
// MaxResults) are found in the search index and sorted; more are listed by
// walking the authorities in name order, which reaches a page after
// reading only about as many authorities as the filters let through.
func (s *Service) filtered(ctx context.Context, q Query) ([]*Authority, int, error) {
	m := filters(q)
	from := (q.Page - 1) * q.PerPage
	if len(m.Require) > 0 {
		n, err := s.index.CountUpTo(ctx, s.db, m, MaxResults+1)
		if err != nil {
			return nil, 0, err
		}
		if n <= MaxResults {
			hits, err := s.index.Find(ctx, s.db.Read(), m, MaxResults)
			if err != nil {
				return nil, 0, err
			}
			sort.Slice(hits, func(i, j int) bool { return hits[i].Text < hits[j].Text })
			var ids []string
			for _, h := range hits[min(from, len(hits)):min(from+q.PerPage, len(hits))] {
				ids = append(ids, h.ID)
			}
			list, err := s.inOrder(ctx, ids)
			return list, len(hits), err
		}
	}
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	switch {
	case q.Status != "":
		where = append(where, "a.status = "+arg(string(q.Status)))
	case q.Public:
		where = append(where, "a.status IN ('validated', 'active')")
	default:
		where = append(where, "a.status <> 'deactivated'")
	}
	if len(q.Countries) > 0 {
		marks := make([]string, len(q.Countries))
		for i, c := range q.Countries {
			marks[i] = arg(c)
		}
		where = append(where, "a.country IN ("+strings.Join(marks, ",")+")")
	}
	if q.Area != "" {
		where = append(where, "EXISTS (SELECT 1 FROM authority_areas x WHERE x.authority_id = a.id AND x.area = "+arg(q.Area)+")")
	}
	if q.Region != "" {
		where = append(where, "a.region = "+arg(q.Region))
	}
	if q.Kind != "" {
		where = append(where, "a.role = "+arg(string(q.Kind)))
	}
	if q.Competence != "" {
		if parts := strings.Split(q.Competence, "/"); len(parts) == 3 {
			where = append(where, "EXISTS (SELECT 1 FROM authority_competences x WHERE x.authority_id = a.id AND x.area = "+arg(parts[0])+" AND x.vocabulary = "+arg(parts[1])+" AND x.term = "+arg(parts[2])+")")
		} else {
			where = append(where, "EXISTS (SELECT 1 FROM authority_competences x WHERE x.authority_id = a.id AND x.term = "+arg(q.Competence)+")")
		}
	}
	cond := strings.Join(where, " AND ")
	table := "authorities a"
	if s.db.Dialect() == db.SQLite {
		table += " INDEXED BY authorities_name" // SQLite would sort every match otherwise
	}
	total := MaxResults + 1
	if len(m.Require) == 0 {
		if err := s.db.Read().QueryRowContext(ctx, fmt.Sprintf(`SELECT COUNT(*) FROM (SELECT 1 FROM authorities a WHERE %s LIMIT %d) found`, cond, MaxResults+1), args...).Scan(&total); err != nil {
			return nil, 0, db.Check(err)
		}
	}
	rows, err := s.db.Read().QueryContext(ctx, fmt.Sprintf(`SELECT a.id FROM %s WHERE %s ORDER BY a.name, a.id LIMIT %d OFFSET %d`, table, cond, q.PerPage, from), args...)
	if err != nil {
		return nil, 0, db.Check(err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			_ = rows.Close()
			return nil, 0, db.Check(err)
		}
		ids = append(ids, id)
	}
	_ = rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, db.Check(err)
	}
	list, err := s.inOrder(ctx, ids)
	return list, total, err
}

// inOrder is GetMany in the order of ids: those kept under the registry
// revision, the rest read; the instances themselves (GetManyShared).
func (s *Service) inOrder(ctx context.Context, ids []string) ([]*Authority, error) {
	byID, err := s.GetManyShared(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]*Authority, 0, len(ids))
	for _, id := range ids {
		if a := byID[id]; a != nil {
			out = append(out, a)
		}
	}
	return out, nil
}

// byIDs reads the authorities of ids that exist, in no order (GetMany).
func (s *Service) byIDs(ctx context.Context, ids []string) ([]*Authority, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := s.db.Read().QueryContext(ctx, `SELECT `+authorityColumns+` FROM authorities WHERE id IN (`+s.params(0, len(ids))+`)`, args...)
	if err != nil {
		return nil, db.Check(err)
	}
	var list []*Authority
	for rows.Next() {
		a, err := scanAuthority(rows)
		if err != nil {
			_ = rows.Close()
			return nil, err
		}
		list = append(list, a)
	}
	_ = rows.Close()
	if err := rows.Err(); err != nil {
		return nil, db.Check(err)
	}
	if err := s.loadMany(ctx, s.db.Read(), list); err != nil {
		return nil, err
	}
	return list, nil
}
