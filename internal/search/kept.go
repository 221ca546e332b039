package search

import (
	"context"
	"crypto/sha256"
	"strconv"
	"strings"

	"github.com/openimi/openimi/internal/db"
)

// revisionOf reads the search revision: one more after each committed
// change to any search index.
func revisionOf(ctx context.Context, q db.Querier) (int64, error) {
	var r int64
	err := q.QueryRowContext(ctx, `SELECT revision FROM search_revision WHERE id = 1`).Scan(&r)
	return r, db.Check(err)
}

// queryKey stands for what an answer depends on: every part of q, and the
// limits of what was read. It is a hash, of one length whatever the query
// (the tags of the competences a short word names can be thousands of
// bytes).
func queryKey(q Query, limits ...int) string {
	var b strings.Builder
	for _, n := range limits {
		b.WriteString(strconv.Itoa(n))
		b.WriteByte('\x1d')
	}
	groups := func(mark byte, gs [][]string) {
		b.WriteByte(mark)
		for _, g := range gs {
			b.WriteByte('\x1e')
			b.WriteString(strings.Join(g, "\x1f"))
		}
	}
	groups('w', q.Words)
	groups('a', q.Also)
	groups('r', q.Require)
	groups('x', [][]string{q.Exclude})
	h := sha256.Sum256([]byte(b.String()))
	return string(h[:])
}
