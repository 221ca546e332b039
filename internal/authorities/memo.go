package authorities

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"
	"unsafe"

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
	learnt   time.Time     // when a form's memo read or was told the revision
	maxAge   time.Duration // a form's: how long it uses the revision learnt (0: as long as it lives)
}

// WithMemo returns a context in which Get reads each authority once. It is
// meant for one read-only HTTP request (GET): what a write changes would
// otherwise be read from before the change.
func WithMemo(ctx context.Context) context.Context {
	return context.WithValue(ctx, memoKey{}, &memo{byID: map[string]*Authority{}})
}

// WithFormMemo is WithMemo for an HTTP request that may write (a form, an
// API call that changes something): what it remembers is forgotten
// whenever one of its transactions ends, committed or not (db.AfterTx),
// so that what it reads after a change of its own is read again; and once
// the registry revision it learnt is older than FormMemoAge, so that a
// form whose body was slow to arrive reads what it checks (the user's
// roles, the parties) as the registry is once it has arrived, and what it
// reads after a long scan of an upload as it is then. Until then it reads the registry revision once (or
// takes its session's, KnowRevision) instead of once for each authority
// and user's roles it asks for: on PostgreSQL a round trip each, about
// three for each step of a request.
func WithFormMemo(ctx context.Context) context.Context { return withFormMemo(ctx, FormMemoAge) }

// FormMemoAge is how long a form's memo uses the registry revision it
// learnt (WithFormMemo).
const FormMemoAge = time.Second

func withFormMemo(ctx context.Context, maxAge time.Duration) context.Context {
	m := &memo{byID: map[string]*Authority{}, maxAge: maxAge}
	return db.AfterTx(context.WithValue(ctx, memoKey{}, m), m.forget)
}

// forget drops what the memo remembers.
func (m *memo) forget() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.forgetLocked()
}

func (m *memo) forgetLocked() {
	clear(m.byID)
	m.revision, m.read = 0, false
}

// freshLocked forgets what the memo remembers if the revision it learnt
// is older than its maxAge (a form's).
func (m *memo) freshLocked() {
	if m.maxAge > 0 && m.read && time.Since(m.learnt) > m.maxAge {
		m.forgetLocked()
	}
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
	if a := m.peek(id); a != nil {
		return a.Clone()
	}
	return nil
}

// peek returns the instance the memo holds for id, which nobody may
// change (put), or nil.
func (m *memo) peek(id string) *Authority {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.freshLocked()
	return m.byID[id]
}

// put remembers a, which must be an instance nobody changes: one the
// server keeps (package kept), or one it read and gave nobody else (an
// authority too large to keep). get hands out copies of it.
func (m *memo) put(a *Authority) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.byID[a.ID] = a
}

// registry holds whole authorities, lists and all, as the server read
// them, and users' roles, under the registry revision (migration 17):
// triggers add one to it in the transaction of any change to an
// authority, its lists or a user's roles, so what is kept under the
// revision a page reads has not changed since (package kept). A page
// reads the revision once (its memo keeps it; a signed-in page takes the
// one read with its session, KnowRevision); a form too, until any of its
// transactions ends or a second has passed (WithFormMemo), and then
// again: a read of a one-row table instead of an authority's row and
// lists. Any change to any authority or user's
// roles makes every server read again what it needs: such changes are
// rare (the registry is kept by hand and by imports), pages many.
const (
	registryMost = 8 << 20 // bytes: about 5,500 authorities of one name, an area and two competences (authorityCost)
	rolesMost    = 1 << 20 // bytes: about 5,000 users' roles
)

// authorityCost is the bytes an authority kept takes on the heap: its
// struct, each text, list and map as Go lays them out, and its entry in
// what keeps it. An estimate 23–41% short let the registry hold 10–14 MB
// where 8 were meant, beside a second copy of the lists; at 1,000,000
// requests the collector then ran far more often under password checks
// (change 29, docs/PERFORMANCE.md). TestAuthorityCostIsWhatAKeptAuthorityTakes
// compares it with the heap.
func authorityCost(a *Authority) int {
	n := keptEntryBytes + heapBytes(int(unsafe.Sizeof(*a)))
	for _, s := range [...]string{a.ExternalID, a.Country, a.Name, a.Language, a.Acronym, a.Region, a.Street, a.Postcode, a.City,
		a.Email, a.Phone, a.Website, string(a.Kind), string(a.Status), a.ParentID} {
		n += heapBytes(len(s))
	}
	n += heapBytes(len(a.ID)) // also the key it is kept under
	for _, m := range [...]map[string]string{a.Names, a.Descriptions, a.Supervisors} {
		n += mapBytes(len(m))
		for k, v := range m {
			n += heapBytes(len(k)) + heapBytes(len(v))
		}
	}
	for _, list := range [...][]string{a.Areas, a.Scope.Areas, a.Scope.Regions} {
		n += heapBytes(16 * cap(list))
		for _, s := range list {
			n += heapBytes(len(s))
		}
	}
	n += heapBytes(int(unsafe.Sizeof(Competence{})) * cap(a.Competences))
	for _, c := range a.Competences {
		n += heapBytes(len(c.Area)) + heapBytes(len(c.Vocabulary)) + heapBytes(len(c.Term))
	}
	return n
}

// keptEntryBytes is what an entry takes in the map of what is kept: its
// key and value, and the empty slots a map keeps beside them.
const keptEntryBytes = 40

// heapBytes is what an allocation of n bytes takes: n rounded up to the
// allocator's size classes, about an eighth above n beyond 128 bytes.
func heapBytes(n int) int {
	switch {
	case n == 0:
		return 0
	case n <= 16:
		return (n + 7) &^ 7
	case n <= 128:
		return (n + 15) &^ 15
	default:
		return n + n/8
	}
}

// mapBytes is what a map[string]string of n entries takes besides its
// keys and values: its header and groups of eight slots of 32 bytes, at
// most seven eighths full beyond the first eight entries, which also need
// a table and a directory.
func mapBytes(n int) int {
	const header, group, table = 48, 8 + 8*32, 32 + 8
	switch {
	case n == 0:
		return header
	case n <= 8:
		return header + heapBytes(group)
	}
	groups := 2
	for groups*8*7/8 < n {
		groups *= 2
	}
	return header + table + heapBytes(groups*group)
}

// KnowRevision gives the memo of ctx, if it has one, the registry
// revision read with the page's session (auth.Session.RegistryRevision),
// so that the page does not read it again: on PostgreSQL a round trip
// for each page. The session is read before anything the page keeps, so
// what the page reads is as new as the revision or newer, as when the
// memo reads it first itself.
func KnowRevision(ctx context.Context, revision int64) {
	if m := memoOf(ctx); m != nil {
		m.know(revision)
	}
}

// know keeps the registry revision the memo's page reads under.
func (m *memo) know(revision int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.revision, m.read = revision, true
	if m.maxAge > 0 { // only a form's memo grows old
		m.learnt = time.Now()
	}
}

// known returns the registry revision the memo keeps, if it has one.
func (m *memo) known() (int64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.freshLocked()
	return m.revision, m.read
}

// RevisionReads is how many times the server has read the registry
// revision in a statement of its own (registryRevision): none for a
// signed-in page (GET), which has it from its session.
func (s *Service) RevisionReads() int64 { return s.revisionReads.Load() }

// registryRevision reads the registry revision, once for a memo.
func (s *Service) registryRevision(ctx context.Context, m *memo) (int64, error) {
	if m != nil {
		if r, read := m.known(); read {
			return r, nil
		}
	}
	var r int64
	if err := s.db.Read().QueryRowContext(ctx, `SELECT revision FROM registry_revision WHERE id = 1`).Scan(&r); err != nil {
		return 0, db.Check(err)
	}
	s.revisionReads.Add(1)
	if m != nil {
		m.know(r)
	}
	return r, nil
}
