package bench

import (
	"sort"
	"testing"
	"time"

	shipped "github.com/openimi/openimi/areas"
	"github.com/openimi/openimi/internal/areas"
	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/db/dbtest"
	"github.com/openimi/openimi/internal/testkit"
)

// member creates a user of authority a with roles and returns it as an
// actor.
func member(b *testing.B, au *auth.Service, auths *authorities.Service, a *authorities.Authority, email string, roles ...string) authorities.Actor {
	return testkit.Member(b, au, auths, a, email, "", roles...)
}

// timings collects how long each named operation took.
type timings struct {
	b    *testing.B
	list map[string][]time.Duration
}

func newTimings(b *testing.B) *timings { return &timings{b: b, list: map[string][]time.Duration{}} }

// time runs fn and records how long it took under name.
func (t *timings) time(name string, fn func() error) {
	t0 := time.Now()
	if err := fn(); err != nil {
		t.b.Fatalf("%s: %v", name, err)
	}
	t.list[name] = append(t.list[name], time.Since(t0))
}

// report gives each operation's median and 95th percentile, in ms.
func (t *timings) report() {
	for name, list := range t.list {
		sort.Slice(list, func(i, j int) bool { return list[i] < list[j] })
		t.b.ReportMetric(float64(list[len(list)/2].Microseconds())/1000, "p50-ms-"+name)
		t.b.ReportMetric(float64(list[len(list)*95/100].Microseconds())/1000, "p95-ms-"+name)
	}
}

// base is what the service benchmarks build on: a migrated database (SQLite,
// or IMI_TEST_DATABASE), the shipped area packs, and the services of
// accounts and authorities.
type base struct {
	d     *db.DB
	reg   *areas.Registry
	au    *auth.Service
	auths *authorities.Service
}

func newBase(b *testing.B) base {
	b.Helper()
	d := dbtest.Open(b)
	reg, err := areas.Open(shipped.Files, "")
	if err != nil {
		b.Fatal(err)
	}
	au := auth.New(d, auth.Settings{}, nil)
	return base{d: d, reg: reg, au: au, auths: authorities.New(d, reg, au, "http://imi.test", nil)}
}
