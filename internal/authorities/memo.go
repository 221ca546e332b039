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
