package authorities

import (
	"context"
	"maps"
	"slices"
	"sync"

	"github.com/openimi/openimi/internal/db"
)

type memoKey struct{}

// memo holds the authorities one page has read: a request's page asks for
// its two parties several times (who may see it, its timeline, its
// actions), each a handful of queries.
type memo struct {
	mu       sync.Mutex
	byID     map[string]*Authority
	revision int64 // the registry revision, once read (read)
	read     bool
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

// registry holds whole authorities, lists and all, as the server read
// them, and users' roles, under the registry revision (migration 17):
// triggers add one to it in the transaction of any change to an
// authority, its lists or a user's roles, so what is kept under the
// revision a page reads has not changed since (package kept). A page
// reads the revision once (its memo keeps it); a form, which has no memo,
// once for each authority it asks for: a read of a one-row table instead
// of an authority's row and lists. Any change to any authority or user's
// roles makes every server read again what it needs: such changes are
// rare (the registry is kept by hand and by imports), pages many.
const (
	registryMost = 8 << 20 // bytes: about 5,000 authorities
	rolesMost    = 1 << 20 // bytes: about 5,000 users' roles
)

// authorityCost is about the bytes an authority kept takes.
func authorityCost(a *Authority) int {
	n := 512 + len(a.ID) + len(a.ExternalID) + len(a.Name) + len(a.Acronym) + len(a.Region) + len(a.Street) + len(a.Postcode) + len(a.City) +
		len(a.Email) + len(a.Phone) + len(a.Website) + len(a.ParentID)
	for _, m := range []map[string]string{a.Names, a.Descriptions, a.Supervisors} {
		for k, v := range m {
			n += 48 + len(k) + len(v)
		}
	}
	return n + 24*(len(a.Areas)+len(a.Competences)+len(a.Scope.Areas)+len(a.Scope.Regions))
}

// registryRevision reads the registry revision, once for a memo.
func (s *Service) registryRevision(ctx context.Context, m *memo) (int64, error) {
	if m != nil {
		m.mu.Lock()
		r, read := m.revision, m.read
		m.mu.Unlock()
		if read {
			return r, nil
		}
	}
	var r int64
	if err := s.db.Read().QueryRowContext(ctx, `SELECT revision FROM registry_revision WHERE id = 1`).Scan(&r); err != nil {
		return 0, db.Check(err)
	}
	if m != nil {
		m.mu.Lock()
		m.revision, m.read = r, true
		m.mu.Unlock()
	}
	return r, nil
}

// keptLists holds, for the authorities a server has read, their four lists
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
type keptLists struct {
	mu   sync.Mutex
	byID map[string]*Authority // only the lists and the revision are used
}

// keptMax bounds what a server keeps: about a kilobyte an authority, and
// the authorities of the busiest exchanges are read far more than the rest.
var keptMax = 5000

// fill copies the kept lists of a into it when they are of its revision.
func (k *keptLists) fill(a *Authority) bool {
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
func (k *keptLists) keep(list []*Authority) {
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
		if !s.lists.fill(a) {
			missing = append(missing, a)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if err := s.loadMany(ctx, s.db.Read(), missing); err != nil {
		return err
	}
	s.lists.keep(missing)
	return nil
}
