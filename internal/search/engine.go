package search

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/kept"
)

// Index is the text index of one kind of document (authorities, and later
// registers), on whichever database runs. The difference between the two
// engines is confined to this file.
//
// A document has its text (normalized words, matched by prefix) and its
// tags: exact words that stand for filter values (country, area,
// competence…), made by Tag, so that text and filters are answered by the
// engine's inverted index in one lookup instead of by scanning a table.
type Index struct {
	dialect db.Dialect
	name    string // base name of the index's tables
	// What the index answered, under the search revision (migration 16,
	// kept.go).
	counts   *kept.At[int]
	rankings *kept.At[ranking]
}

// ranking is the ids of the candidates read for some pages of a search,
// block by block in the caller's order, and how many match.
type ranking struct {
	ids   []string
	total int
}

// Bounds of what an index keeps, in bytes: an answer costs its key and
// the map's entry (keptEntry), and a ranking its ids too (keptID each: a
// string of a UUID's 36 characters and its header).
const (
	keptEntry    = 128
	keptID       = 64
	countsMost   = 1 << 20  // about 8,000 counts
	rankingsMost = 16 << 20 // about 1,300 first blocks of 200
)

// NewIndex returns the index named name (letters and underscores only).
func NewIndex(dialect db.Dialect, name string) *Index {
	return &Index{dialect: dialect, name: name,
		counts:   kept.New(countsMost, func(int) int { return keptEntry }),
		rankings: kept.New(rankingsMost, func(r ranking) int { return keptEntry + keptID*len(r.ids) })}
}

// Tag returns the index word that stands for value of kind (a country, an
// area…): letters and digits only, and never a word of any text.
func Tag(kind, value string) string {
	h := sha256.Sum256([]byte(kind + "\x00" + value))
	return "t" + hex.EncodeToString(h[:8])
}

// Put stores (or replaces) a document's text and tags, inside the caller's
// transaction so that the index changes with the data.
func (x *Index) Put(ctx context.Context, tx db.Querier, id, text string, tags []string) error {
	// FTS5 finds a row by its id column only by reading them all, so each
	// document also carries a tag of its id, found through the index.
	del, key := `DELETE FROM `+x.name+`_fts WHERE `+x.name+`_fts MATCH $1`, `tags : "`+IDTag(id)+`"`
	if x.dialect != db.SQLite {
		del, key = `DELETE FROM `+x.name+`_fts WHERE id = $1`, id
	}
	if _, err := tx.ExecContext(ctx, del, key); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO `+x.name+`_fts (id, document, tags) VALUES ($1, $2, $3)`, id, Normalize(text), Tags(id, tags)) // Normalize is idempotent
	return err
}

// IDTag is the tag every document carries of its own id.
func IDTag(id string) string { return Tag("id", id) }

// Tags is the tags column of the document id: its tags and its id's tag.
// Bulk inserts that bypass Put write it too.
func Tags(id string, tags []string) string {
	return strings.Join(append(tags, IDTag(id)), " ")
}

// Clear empties the index (before a rebuild).
func (x *Index) Clear(ctx context.Context, tx db.Querier) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM `+x.name+`_fts`)
	return err
}

// Count returns how many documents the index holds.
func (x *Index) Count(ctx context.Context, q db.Querier) (int, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+x.name+`_fts`).Scan(&n)
	return n, db.Check(err)
}

// Query is what documents must match. Every word must match: by its text
// (a document word starting with one of its prefixes) or by one of its
// tags; every group of Require must match by one of its tags; no tag of
// Exclude may match.
type Query struct {
	Words   [][]string // per query word: the prefixes it matches text by, the word itself first
	Also    [][]string // per query word: tags that match it too (may be nil)
	Require [][]string
	Exclude []string
}

// Hit is a found document: its id, normalized text and tags.
type Hit struct {
	ID, Text, Tags string
}

// Has reports whether the document carries tag. Tags are words of one
// length without spaces, so a substring that is a tag is one of them.
func (h *Hit) Has(tag string) bool { return strings.Contains(h.Tags, tag) }

// words is how the words of a query match text at one stage of Find.
type words int

const (
	exactly   words = iota // the word itself, as a whole document word
	asPrefix               // a document word starting with the word
	inflected              // … or with one of its shorter prefixes
	tagged                 // … or a tag of the word
)

// Find returns up to limit documents that match q, best first by stages:
// those holding every query word exactly, then as the start of a word,
// then by an inflection, then by a tag (a competence the word names). The
// caller ranks the candidates; the stages, which follow the caller's
// scoring, decide which candidates it sees when more match than it may
// rank, at the cost of reading little more than limit documents.
func (x *Index) Find(ctx context.Context, tx db.Querier, q Query, limit int) ([]Hit, error) {
	if len(q.Words) == 0 {
		if len(q.Require) == 0 {
			return nil, nil
		}
		return x.find(ctx, tx, q, tagged, -1, limit)
	}
	inflections, tags := false, false
	for i, w := range q.Words {
		inflections = inflections || len(w) > 1
		tags = tags || i < len(q.Also) && len(q.Also[i]) > 0
	}
	var hits []Hit
	for stage := exactly; stage <= tagged && len(hits) < limit; stage++ {
		if stage == inflected && !inflections || stage == tagged && !tags {
			continue // the same documents as the stage before
		}
		more, err := x.find(ctx, tx, q, stage, stage-1, limit-len(hits))
		if err != nil {
			return nil, err
		}
		hits = append(hits, more...)
	}
	return hits, nil
}

// Block is how many candidates are ranked together. The first Block found
// (best first, by the stages of Find) make the first pages, ordered by the
// caller's score; the next Block the pages after them, and so on. A page
// reads only the blocks up to it, so the first pages of a search that
// matches 100,000 documents read no more than those of one that matches
// Block: with 100,000 authorities, reading 1,000 candidates to show 20 was
// most of a search's time.
const Block = 200

// Ranked returns the ids of the matches of q from the from-th, at most n
// of them, and how many match (at most most+1: "more than most"; no match
// after the most-th is listed). Blocks of candidates are ranked by score,
// highest first, then by text, so that every page of the same search, read
// one after another, lists each match once: d's documents are read in the
// table's order (db.ReadInTableOrder), so that the first read for a later
// page are those read for an earlier one. The price: within a stage, a
// better match found after the first Block is listed after them, on a
// later page (the stages still put whole words before prefixes, prefixes
// before inflections, and those before competences).
//
// A search ranked since the last change to a search index is not read
// again (kept.go): score must depend only on the document, on q (whose
// first prefix of each word is the word typed) and on what does not change
// while the program runs.
func (x *Index) Ranked(ctx context.Context, d *db.DB, q Query, most, from, n int, score func(*Hit) float64) (ids []string, total int, err error) {
	err = d.ReadInTableOrder(ctx, func(tx db.Querier) (err error) {
		ids, total, err = x.ranked(ctx, tx, q, most, from, n, score)
		return err
	})
	return ids, total, err
}

// ranked is Ranked within tx, a read of committed data in the table's
// order.
func (x *Index) ranked(ctx context.Context, tx db.Querier, q Query, most, from, n int, score func(*Hit) float64) ([]string, int, error) {
	revision, err := revisionOf(ctx, tx)
	if err != nil {
		return nil, 0, err
	}
	from = max(from, 0)
	if from >= most { // past what is listed: only how many match
		total, err := x.countAt(ctx, tx, revision, q, most+1)
		return nil, total, err
	}
	end := min(from+n, most)
	read := min(most, max(1, (end+Block-1)/Block)*Block) // whole blocks
	r, err := x.rankings.GetOr(revision, queryKey(q, read, most), func() (ranking, error) {
		return x.rank(ctx, tx, revision, q, most, read, score)
	})
	if err != nil {
		return nil, 0, err
	}
	return slices.Clone(r.ids[min(from, len(r.ids)):min(end, len(r.ids))]), r.total, nil
}

// rank reads up to read candidates of q and ranks them block by block.
func (x *Index) rank(ctx context.Context, tx db.Querier, revision int64, q Query, most, read int, score func(*Hit) float64) (ranking, error) {
	hits, err := x.Find(ctx, tx, q, read+1)
	if err != nil {
		return ranking{}, err
	}
	total := len(hits)
	if total > read {
		hits = hits[:read]
		if read < most {
			if total, err = x.countAt(ctx, tx, revision, q, most+1); err != nil {
				return ranking{}, err
			}
		}
	}
	type scored struct {
		hit   *Hit
		score float64
	}
	ids := make([]string, 0, len(hits))
	for b := 0; b < len(hits); b += Block {
		block := make([]scored, 0, Block)
		for i := b; i < min(b+Block, len(hits)); i++ {
			block = append(block, scored{&hits[i], score(&hits[i])})
		}
		sort.Slice(block, func(i, j int) bool {
			if block[i].score != block[j].score {
				return block[i].score > block[j].score
			}
			if block[i].hit.Text != block[j].hit.Text {
				return block[i].hit.Text < block[j].hit.Text
			}
			return block[i].hit.ID < block[j].hit.ID
		})
		for _, c := range block {
			ids = append(ids, c.hit.ID)
		}
	}
	return ranking{ids: ids, total: total}, nil
}

// CountUpTo returns how many documents of d match q, counting no further
// than limit. A count made since the last change to a search index is
// not made again (kept.go).
func (x *Index) CountUpTo(ctx context.Context, d *db.DB, q Query, limit int) (int, error) {
	revision, err := revisionOf(ctx, d.Read())
	if err != nil {
		return 0, err
	}
	return x.countAt(ctx, d.Read(), revision, q, limit)
}

// countAt is CountUpTo within tx, a read of committed data made after the
// search revision was read.
func (x *Index) countAt(ctx context.Context, tx db.Querier, revision int64, q Query, limit int) (int, error) {
	if len(q.Words) == 0 && len(q.Require) == 0 {
		return 0, nil
	}
	return x.counts.GetOr(revision, queryKey(q, limit), func() (int, error) {
		cond, args := x.where(q, tagged, -1)
		var n int
		err := tx.QueryRowContext(ctx, fmt.Sprintf(`SELECT COUNT(*) FROM (SELECT 1 FROM %s_fts WHERE %s LIMIT %d) found`, x.name, cond, limit), args...).Scan(&n)
		return n, db.Check(err)
	})
}

// where writes q as a condition on the index table, with its arguments:
// its words matched as at stage, and not as at stage not (-1: none).
func (x *Index) where(q Query, stage, not words) (string, []any) {
	if x.dialect == db.SQLite {
		expr := x.fts5Words(q, stage)
		for _, g := range q.Require {
			expr = join(expr, " AND ", "tags : "+fts5Or(tagWords(g)))
		}
		if not >= 0 {
			expr = "(" + expr + ") NOT (" + x.fts5Words(q, not) + ")"
		}
		if len(q.Exclude) > 0 {
			expr = "(" + expr + ") NOT tags : " + fts5Or(tagWords(q.Exclude))
		}
		return x.name + "_fts MATCH $1", []any{expr}
	}
	var args []any
	arg := func(v string) string {
		args = append(args, v)
		return fmt.Sprintf("to_tsquery('simple', $%d)", len(args))
	}
	tsWords := func(stage words) string {
		var and []string
		for i, w := range q.Words {
			t := "tsv @@ " + arg(tsOr(stageWords(w, stage)))
			if stage == tagged && i < len(q.Also) && len(q.Also[i]) > 0 {
				t = "(" + t + " OR tagv @@ " + arg(tsOr(tagWords(q.Also[i]))) + ")"
			}
			and = append(and, t)
		}
		return strings.Join(and, " AND ")
	}
	cond := tsWords(stage)
	for _, g := range q.Require {
		cond = join(cond, " AND ", "tagv @@ "+arg(tsOr(tagWords(g))))
	}
	if not >= 0 {
		cond += " AND NOT (" + tsWords(not) + ")"
	}
	if len(q.Exclude) > 0 {
		cond += " AND NOT tagv @@ " + arg(tsOr(tagWords(q.Exclude)))
	}
	return cond, args
}

// word is a query word or tag as the engines write it: exact or a prefix.
type word struct {
	text   string
	prefix bool
}

// stageWords are the forms of one query word matched at stage.
func stageWords(prefixes []string, stage words) []word {
	switch stage {
	case exactly:
		return []word{{prefixes[0], false}}
	case asPrefix:
		return []word{{prefixes[0], true}}
	}
	out := make([]word, len(prefixes))
	for i, p := range prefixes {
		out[i] = word{p, true}
	}
	return out
}

func tagWords(tags []string) []word {
	out := make([]word, len(tags))
	for i, t := range tags {
		out[i] = word{t, false}
	}
	return out
}

func join(a, sep, b string) string {
	if a == "" {
		return b
	}
	return a + sep + b
}

// find runs q on the engine at stage, leaving out what matches at not.
func (x *Index) find(ctx context.Context, tx db.Querier, q Query, stage, not words, limit int) ([]Hit, error) {
	cond, args := x.where(q, stage, not)
	rows, err := tx.QueryContext(ctx, fmt.Sprintf(`SELECT id, document, tags FROM %s_fts WHERE %s LIMIT %d`, x.name, cond, limit), args...)
	if err != nil {
		return nil, db.Check(err)
	}
	defer rows.Close()
	var hits []Hit
	for rows.Next() {
		var h Hit
		if err := rows.Scan(&h.ID, &h.Text, &h.Tags); err != nil {
			return nil, db.Check(err)
		}
		hits = append(hits, h)
	}
	return hits, db.Check(rows.Err())
}

// fts5Words writes the words of q, matched as at stage, as an FTS5
// expression.
func (x *Index) fts5Words(q Query, stage words) string {
	var and []string
	for i, w := range q.Words {
		t := "document : " + fts5Or(stageWords(w, stage))
		if stage == tagged && i < len(q.Also) && len(q.Also[i]) > 0 {
			t = "(" + t + " OR tags : " + fts5Or(tagWords(q.Also[i])) + ")"
		}
		and = append(and, t)
	}
	return strings.Join(and, " AND ")
}

// fts5Or writes words as an FTS5 alternative.
func fts5Or(words []word) string {
	parts := make([]string, len(words))
	for i, w := range words {
		parts[i] = `"` + strings.ReplaceAll(w.text, `"`, ``) + `"`
		if w.prefix {
			parts[i] += "*"
		}
	}
	return "(" + strings.Join(parts, " OR ") + ")"
}

// tsOr writes words as a PostgreSQL tsquery alternative.
func tsOr(words []word) string {
	parts := make([]string, len(words))
	for i, w := range words {
		parts[i] = `'` + strings.ReplaceAll(w.text, `'`, ``) + `'`
		if w.prefix {
			parts[i] += ":*"
		}
	}
	return strings.Join(parts, " | ")
}
