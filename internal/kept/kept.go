// Package kept keeps answers read from the database under a revision: a
// number that triggers raise in the transaction of any change to what the
// answers depend on, whoever makes it (a form, an import, a rebuild, SQL
// by hand). An answer kept under another revision than the one just read
// is not used, on any server.
//
// A reader reads the revision before the answer, so an answer kept under
// revision r saw at least what r stands for. Answers are kept only from
// reads of committed data (the read pool, or a read-only transaction): a
// transaction's own changes could be rolled back.
//
// An answer read under another revision than the kept ones replaces them
// all: usually a newer one; an older one when a reader was slow (its
// answer is no older than its revision) or when a database was restored
// under a running server, whose older answers must go. Servers are still
// stopped for a restore (docs/OPERATIONS.md): the revision could climb
// back to a kept one before anything is read.
package kept

import (
	"sync"
	"sync/atomic"
)

// At keeps answers by key under one revision, bounded in bytes.
type At[V any] struct {
	mu       sync.Mutex
	revision int64
	byKey    map[string]V
	size     int          // bytes: the sum of the kept answers' costs
	most     int          // what size may reach
	cost     func(V) int  // an answer's bytes, with its key's
	made     atomic.Int64 // answers read from the database (Keep)
}

// New returns an empty At that keeps at most most bytes of answers, each
// costing cost.
func New[V any](most int, cost func(V) int) *At[V] {
	return &At[V]{most: most, cost: cost}
}

// Get returns the answer of key kept under revision.
func (k *At[V]) Get(revision int64, key string) (V, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.revision != revision {
		var none V
		return none, false
	}
	v, ok := k.byKey[key]
	return v, ok
}

// Keep remembers the answer of key just read from the database under
// revision, forgetting every answer of another one.
func (k *At[V]) Keep(revision int64, key string, v V) {
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
		// the answers asked for often come back at once.
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

// GetOr returns the answer of key kept under revision, or the one read
// (read under revision, from committed data), which it keeps. What it
// returns is what is kept: a caller that may change it copies it.
func (k *At[V]) GetOr(revision int64, key string, read func() (V, error)) (V, error) {
	if v, ok := k.Get(revision, key); ok {
		return v, nil
	}
	v, err := read()
	if err != nil {
		return v, err
	}
	k.Keep(revision, key, v)
	return v, nil
}

// Made is how many answers were read from the database and kept, for the
// tests.
func (k *At[V]) Made() int64 { return k.made.Load() }

// Len and Size are how many answers are kept and their cost, for the
// tests.
func (k *At[V]) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.byKey)
}

// Size is the sum of the kept answers' costs, in bytes.
func (k *At[V]) Size() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.size
}
