package search

import (
	"context"
	"crypto/sha256"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/openimi/openimi/internal/db"
)

// keptAt keeps what an index answered (counts of matches, rankings of
// candidates) under the search revision it was read at (migration 16).
// Triggers add one to the revision in the transaction of any change to a
// search index, whoever makes it; an answer kept under another revision
// than the one just read is not used. Answers are kept only from reads of
// committed data (the read pool, or a read-only transaction): a
// transaction's own changes could be rolled back.
//
// The revision is read before the index, so an answer kept under
// revision r saw at least what r stands for. An answer read under another
// revision than the kept ones replaces them all: usually a newer one; an
// older one when a reader was slow (its answer is no older than its
// revision) or when a database was restored under a running server, whose
// older answers must go. Servers are still stopped for a restore
// (docs/OPERATIONS.md), as for the authorities' kept lists: the revision
// could climb back to a kept one before any search is made.
type keptAt[V any] struct {
	mu       sync.Mutex
	revision int64
	byKey    map[string]V
	size     int          // bytes: the sum of the kept answers' costs
	most     int          // what size may reach
	cost     func(V) int  // an answer's bytes, with its key's
	made     atomic.Int64 // answers read from the index, for the tests
}

// get returns the answer of key kept under revision.
func (k *keptAt[V]) get(revision int64, key string) (V, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.revision != revision {
		var none V
		return none, false
	}
	v, ok := k.byKey[key]
	return v, ok
}

// keep remembers the answer of key just read from the index under
// revision, forgetting every answer of another one.
func (k *keptAt[V]) keep(revision int64, key string, v V) {
	k.made.Add(1)
	k.mu.Lock()
	defer k.mu.Unlock()
	if revision != k.revision || k.byKey == nil {
		k.revision, k.byKey, k.size = revision, map[string]V{}, 0
	}
	if old, ok := k.byKey[key]; ok {
		delete(k.byKey, key)
		k.size -= k.cost(old)
	}
	c := k.cost(v)
	if c > k.most {
		return
	}
	if k.size+c > k.most {
		// Forget arbitrary answers, down to nine tenths of the bound:
		// the searches made often come back at once.
		for kk, old := range k.byKey {
			delete(k.byKey, kk)
			k.size -= k.cost(old)
			if k.size+c <= k.most*9/10 {
				break
			}
		}
	}
	k.byKey[key] = v
	k.size += c
}

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
