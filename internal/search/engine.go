package search

import (
	"context"
	"fmt"
	"strings"

	"github.com/openimi/openimi/internal/db"
)

// Index is the text index of one kind of document (authorities, and later
// registers), on whichever database runs. The difference between the two
// engines is confined to this file.
type Index struct {
	dialect db.Dialect
	name    string // base name of the index's tables
}

// NewIndex returns the index named name (letters and underscores only).
func NewIndex(dialect db.Dialect, name string) *Index {
	return &Index{dialect: dialect, name: name}
}

// Put stores (or replaces) a document's text, inside the caller's
// transaction so that the index changes with the data.
func (x *Index) Put(ctx context.Context, tx db.Querier, id, text string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM `+x.name+`_fts WHERE id = $1`, id); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO `+x.name+`_fts (id, document) VALUES ($1, $2)`, id, Normalize(text)) // Normalize is idempotent
	return err
}

// Clear empties the index (before a rebuild).
func (x *Index) Clear(ctx context.Context, tx db.Querier) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM `+x.name+`_fts`)
	return err
}

// Match returns SQL selecting the ids of documents that contain a word
// starting with any of prefixes, and its single argument. Prefixes are
// normalized words: letters and digits only, so they cannot carry query
// syntax; they are quoted all the same.
func (x *Index) Match(prefixes []string, arg int) (string, any) {
	parts := make([]string, len(prefixes))
	if x.dialect == db.SQLite {
		for i, p := range prefixes {
			parts[i] = `"` + strings.ReplaceAll(p, `"`, ``) + `"*`
		}
		return fmt.Sprintf(`SELECT id FROM %s_fts WHERE %s_fts MATCH $%d`, x.name, x.name, arg), `document : (` + strings.Join(parts, " OR ") + `)`
	}
	for i, p := range prefixes {
		parts[i] = `'` + strings.ReplaceAll(p, `'`, ``) + `':*`
	}
	return fmt.Sprintf(`SELECT id FROM %s_fts WHERE tsv @@ to_tsquery('simple', $%d)`, x.name, arg), strings.Join(parts, " | ")
}
