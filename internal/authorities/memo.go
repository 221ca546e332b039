package authorities

import (
	"context"
	"maps"
	"slices"
	"sync"
)

type memoKey struct{}

// memo holds the authorities one page has read: a request's page asks for
// its two parties several times (who may see it, its timeline, its
// actions), each a handful of queries.
type memo struct {
	mu   sync.Mutex
	byID map[string]*Authority
}

// WithMemo returns a context in which Get reads each authority once. It is
// meant for one read-only HTTP request (GET): what a write changes would
// otherwise be read from before the change.
func WithMemo(ctx context.Context) context.Context {
	return context.WithValue(ctx, memoKey{}, &memo{byID: map[string]*Authority{}})
}

func memoOf(ctx context.Context) *memo {
	m, _ := ctx.Value(memoKey{}).(*memo)
	return m
}

// Clone returns a copy of a that shares nothing with it.
func (a *Authority) Clone() *Authority {
	c := *a
	c.Names, c.Descriptions, c.Supervisors = maps.Clone(a.Names), maps.Clone(a.Descriptions), maps.Clone(a.Supervisors)
	c.Areas, c.Competences = slices.Clone(a.Areas), slices.Clone(a.Competences)
	c.Scope = Scope{Areas: slices.Clone(a.Scope.Areas), Regions: slices.Clone(a.Scope.Regions)}
	return &c
}

func (m *memo) get(id string) *Authority {
	m.mu.Lock()
	defer m.mu.Unlock()
	if a := m.byID[id]; a != nil {
		return a.Clone()
	}
	return nil
}

func (m *memo) put(a *Authority) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.byID[a.ID] = a.Clone()
}

// kept holds, for the authorities a server has read, their four lists
// (texts, areas, competences, scope) under the revision they were read at.
// Triggers add one to an authority's revision in the transaction that
// changes any of its lists (migration 14), so a reader that finds the
// row's revision equal to the kept one has the lists without another
// query (loadMany's union of the four), on every server. Lists are kept
// only from reads outside a transaction: a transaction's uncommitted lists
// could be rolled back.
//
// A database restored under a running server could bring back an older
// revision; servers are stopped for a restore (docs/OPERATIONS.md).
type kept struct {
	mu   sync.Mutex
	byID map[string]*Authority // only the lists and the revision are used
}

// keptMax bounds what a server keeps: about a kilobyte an authority, and
// the authorities of the busiest exchanges are read far more than the rest.
var keptMax = 5000

// fill copies the kept lists of a into it when they are of its revision.
func (k *kept) fill(a *Authority) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	c := k.byID[a.ID]
	if c == nil || c.revision != a.revision {
		return false
	}
	a.Names, a.Descriptions, a.Supervisors = maps.Clone(c.Names), maps.Clone(c.Descriptions), maps.Clone(c.Supervisors)
	a.Areas, a.Competences = slices.Clone(c.Areas), slices.Clone(c.Competences)
	a.Scope = Scope{Areas: slices.Clone(c.Scope.Areas), Regions: slices.Clone(c.Scope.Regions)}
	return true
}

// keep remembers a's lists, read outside any transaction.
func (k *kept) keep(list []*Authority) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.byID == nil {
		k.byID = map[string]*Authority{}
	}
	for _, a := range list {
		if len(k.byID) >= keptMax {
			// Forget an arbitrary tenth: the authorities read often
			// come back at once.
			n := keptMax / 10
			for id := range k.byID {
				delete(k.byID, id)
				if n--; n <= 0 {
					break
				}
			}
		}
		k.byID[a.ID] = a.Clone()
	}
}

// loadKept is loadMany for authorities read outside a transaction: the
// lists of those whose revision the server has kept are copied, the
// others read (and kept).
func (s *Service) loadKept(ctx context.Context, list []*Authority) error {
	var missing []*Authority
	for _, a := range list {
		if !s.kept.fill(a) {
			missing = append(missing, a)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if err := s.loadMany(ctx, s.db.Read(), missing); err != nil {
		return err
	}
	s.kept.keep(missing)
	return nil
}
