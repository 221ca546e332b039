package authorities

import (
	"context"
	"fmt"
	"regexp"
	"slices"
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

// indexMany writes the search documents of authorities inside tx: in the
// text index, and on the authority for ranking.
func (s *Service) indexMany(ctx context.Context, tx db.Querier, list []*Authority) error {
	for _, a := range list {
		doc := search.Normalize(document(a))
		if err := s.index.Put(ctx, tx, a.ID, doc); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE authorities SET search_document = $1 WHERE id = $2`, doc, a.ID); err != nil {
			return err
		}
	}
	return nil
}

// EnsureIndex fills the search index when it is empty but authorities
// exist (a database made before search existed).
func (s *Service) EnsureIndex(ctx context.Context) error {
	var indexed, missing int
	if err := s.db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM authority_fts`).Scan(&indexed); err != nil {
		return db.Check(err)
	}
	if err := s.db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM authorities WHERE search_document = ''`).Scan(&missing); err != nil {
		return db.Check(err)
	}
	if missing > 0 {
		_, err := s.Reindex(ctx)
		return err
	}
	return nil
}

// Reindex rebuilds the search index from the registry (imi search
// reindex), in one transaction, and returns how many authorities it holds.
func (s *Service) Reindex(ctx context.Context) (int, error) {
	var n int
	err := s.db.InTx(ctx, func(tx db.Querier) error {
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
				rows.Close()
				return err
			}
			list = append(list, a)
		}
		rows.Close()
		if err := s.loadMany(ctx, tx, list); err != nil {
			return err
		}
		n = len(list)
		return s.indexMany(ctx, tx, list)
	})
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
	Page       int
	PerPage    int
}

// maxCandidates bounds how many matches are ranked: enough for any page a
// person reads, small enough to stay fast with 100,000 authorities.
const maxCandidates = 1000

// Search finds authorities by free text in any language and by filters,
// ranked by relevance (filters alone: by name). Deactivated authorities are
// not found. Every signed-in user may search: contact data is not personal.
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
	if q.Page > maxCandidates/q.PerPage+1 {
		q.Page = maxCandidates/q.PerPage + 1
	}
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	if q.Status != "" {
		where = append(where, "a.status = "+arg(string(q.Status)))
	} else {
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
		where = append(where, "a.id IN (SELECT authority_id FROM authority_areas WHERE area = "+arg(q.Area)+")")
	}
	if q.Region != "" {
		where = append(where, "a.region = "+arg(q.Region))
	}
	if q.Kind != "" {
		where = append(where, "a.role = "+arg(string(q.Kind)))
	}
	if q.Competence != "" {
		if parts := strings.Split(q.Competence, "/"); len(parts) == 3 {
			where = append(where, "a.id IN (SELECT authority_id FROM authority_competences WHERE area = "+arg(parts[0])+" AND vocabulary = "+arg(parts[1])+" AND term = "+arg(parts[2])+")")
		} else {
			where = append(where, "a.id IN (SELECT authority_id FROM authority_competences WHERE term = "+arg(q.Competence)+")")
		}
	}
	tokens := search.Tokens(q.Text)
	if len(tokens) == 0 {
		return s.filtered(ctx, where, args, q)
	}
	matched := make([]map[string]float64, len(tokens)) // per token: competences its words name, and how well
	for i, t := range tokens {
		matched[i] = map[string]float64{}
		for j, v := range search.Variants(t) {
			for k, score := range s.labels.competences(v) {
				if j > 0 {
					score = 1.5 // only an inflection variant matched
				}
				if score > matched[i][k] {
					matched[i][k] = score
				}
			}
		}
		text, textArg := s.index.Match(search.Variants(t), len(args)+1)
		args = append(args, textArg)
		cond := "a.id IN (" + text + ")"
		if len(matched[i]) > 0 {
			// Equality on the three columns, so that the index serves it.
			terms := make([]string, 0, len(matched[i]))
			for k := range matched[i] {
				parts := strings.SplitN(k, "/", 3)
				terms = append(terms, "(area = "+arg(parts[0])+" AND vocabulary = "+arg(parts[1])+" AND term = "+arg(parts[2])+")")
			}
			sort.Strings(terms)
			cond = "(" + cond + " OR a.id IN (SELECT authority_id FROM authority_competences WHERE " + strings.Join(terms, " OR ") + "))"
		}
		where = append(where, cond)
	}
	rows, err := s.db.Read().QueryContext(ctx, `SELECT a.id, a.name, a.search_document FROM authorities a WHERE `+strings.Join(where, " AND ")+fmt.Sprintf(` LIMIT %d`, maxCandidates), args...)
	if err != nil {
		return nil, 0, db.Check(err)
	}
	type candidate struct {
		id, name, doc string
		score         float64
	}
	var cands []candidate
	var ids []string
	for rows.Next() {
		var c candidate
		if err := rows.Scan(&c.id, &c.name, &c.doc); err != nil {
			rows.Close()
			return nil, 0, db.Check(err)
		}
		cands = append(cands, c)
		ids = append(ids, c.id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, db.Check(err)
	}
	held, err := s.competenceKeys(ctx, ids, matched)
	if err != nil {
		return nil, 0, err
	}
	for i := range cands {
		c := &cands[i]
		c.score = search.Score(c.doc, tokens, func(t string) float64 {
			idx := slices.Index(tokens, t)
			best := 0.0
			for k := range held[c.id] {
				best = max(best, matched[idx][k])
			}
			return best
		})
	}
	sort.SliceStable(cands, func(i, j int) bool {
		if cands[i].score != cands[j].score {
			return cands[i].score > cands[j].score
		}
		return cands[i].name < cands[j].name
	})
	total := len(cands)
	from := min((q.Page-1)*q.PerPage, total)
	to := min(from+q.PerPage, total)
	page := make([]string, 0, to-from)
	for _, c := range cands[from:to] {
		page = append(page, c.id)
	}
	list, err := s.byIDs(ctx, page)
	return list, total, err
}

// competenceKeys returns, for each candidate, the matched competences it
// holds.
func (s *Service) competenceKeys(ctx context.Context, ids []string, matched []map[string]float64) (map[string]map[string]bool, error) {
	out := map[string]map[string]bool{}
	keys := map[string]bool{}
	for _, m := range matched {
		for k := range m {
			keys[k] = true
		}
	}
	if len(keys) == 0 || len(ids) == 0 {
		return out, nil
	}
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := s.db.Read().QueryContext(ctx, `SELECT authority_id, area || '/' || vocabulary || '/' || term FROM authority_competences WHERE authority_id IN (`+s.params(0, len(chunk))+`)`, args...)
		if err != nil {
			return nil, db.Check(err)
		}
		for rows.Next() {
			var id, key string
			if err := rows.Scan(&id, &key); err != nil {
				rows.Close()
				return nil, db.Check(err)
			}
			if keys[key] {
				if out[id] == nil {
					out[id] = map[string]bool{}
				}
				out[id][key] = true
			}
		}
		rows.Close()
	}
	return out, nil
}

// filtered answers a search without text: by name, paginated in SQL.
func (s *Service) filtered(ctx context.Context, where []string, args []any, q Query) ([]*Authority, int, error) {
	cond := strings.Join(where, " AND ")
	var total int
	if err := s.db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM authorities a WHERE `+cond, args...).Scan(&total); err != nil {
		return nil, 0, db.Check(err)
	}
	rows, err := s.db.Read().QueryContext(ctx, `SELECT a.id FROM authorities a WHERE `+cond+fmt.Sprintf(` ORDER BY a.name, a.id LIMIT %d OFFSET %d`, q.PerPage, (q.Page-1)*q.PerPage), args...)
	if err != nil {
		return nil, 0, db.Check(err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, 0, db.Check(err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	list, err := s.byIDs(ctx, ids)
	return list, total, err
}

// byIDs loads authorities in the order of ids.
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
	byID := map[string]*Authority{}
	var list []*Authority
	for rows.Next() {
		a, err := scanAuthority(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		byID[a.ID] = a
		list = append(list, a)
	}
	rows.Close()
	if err := s.loadMany(ctx, s.db.Read(), list); err != nil {
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
