package search

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/openimi/openimi/internal/db"
)

// counts keeps the answers of CountUpTo under the search revision they
// were counted at (migration 16). Triggers add one to the revision in the
// transaction of any change to a search index, whoever makes it; a count
// kept under an older revision is never used again. Counts are kept only
// from reads of committed data (the read pool, or a read-only
// transaction): a transaction's own changes could be rolled back.
//
// The revision is read before the count, so a count kept under revision r
// saw at least what r stands for; a count made under a revision older
// than the kept ones is not kept. A database restored under a running
// server could bring back an older revision; servers are stopped for a
// restore (docs/OPERATIONS.md), as for the authorities' kept lists.
type counts struct {
	mu       sync.Mutex
	revision int64
	byKey    map[string]int
	counted  atomic.Int64 // counts made by a query, for the tests
}

// countsMax bounds what an index keeps: a query's words and tags, a few
// hundred bytes each.
const countsMax = 10000

// get returns the count of key kept under revision.
func (c *counts) get(revision int64, key string) (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.revision != revision {
		return 0, false
	}
	n, ok := c.byKey[key]
	return n, ok
}

// keep remembers the count of key made under revision, forgetting every
// count of an older one.
func (c *counts) keep(revision int64, key string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case revision < c.revision:
		return // counted before a change another count has seen
	case revision > c.revision || c.byKey == nil:
		c.revision, c.byKey = revision, map[string]int{}
	case len(c.byKey) >= countsMax:
		// Forget an arbitrary tenth: the searches made often come
		// back at once.
		n := countsMax / 10
		for k := range c.byKey {
			delete(c.byKey, k)
			if n--; n <= 0 {
				break
			}
		}
	}
	c.byKey[key] = n
}

// Revision reads the search revision: one more after each committed
// change to any search index.
func Revision(ctx context.Context, q db.Querier) (int64, error) {
	var r int64
	err := q.QueryRowContext(ctx, `SELECT revision FROM search_revision WHERE id = 1`).Scan(&r)
	return r, db.Check(err)
}

// countKey is what a count depends on: every part of q, and the limit.
func countKey(q Query, limit int) string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(limit))
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
	return b.String()
}
