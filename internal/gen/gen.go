// Package gen generates realistic, reproducible data sets for load tests
// and demonstrations: authorities of the 30 countries with names in their
// languages, users with roles, information requests in every state with
// their timelines, questions, answers and attachments, alerts and
// notifications, and registers. What it writes is what the application
// would have written had people done it all through the UI: the same
// tables, the same event histories, the statistics derived from those
// events (stats.Derive), the search indexes built by the services' own
// code, and reference counters that go on from the generated numbers.
//
// Rows are written in bulk (multi-row INSERTs in large transactions on
// SQLite, COPY on PostgreSQL), not through the services, so that a
// million requests take minutes. The same seed and settings give the
// same data, byte for byte: nothing depends on the clock or on chance
// outside the seeded generator.
package gen

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/openimi/openimi/internal/areas"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/i18n"
	"github.com/openimi/openimi/internal/registers"
	"github.com/openimi/openimi/internal/requests"
)

// Domain is the e-mail domain of every generated account; `imi generate
// code` serves only these.
const Domain = "@gen.openimi.eu"

// Password is the password of every generated account. Generated data
// never belongs in production.
const Password = "gen-openimi-load-2026" // #nosec G101 -- public by design: printed by `imi generate`, for generated accounts only

// DefaultUntil is the default end of the generated history.
var DefaultUntil = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// Settings say what to generate.
type Settings struct {
	Authorities int // including the 30 national coordinators
	Users       int
	Requests    int
	Alerts      int // alerts and notifications of measures
	Registers   int
	// Accounts is how many known handler accounts (gen-handler-00001…)
	// are made, on the authorities with the most requests.
	Accounts int
	Seed     uint64
	// Until ends the history: requests are made over the two years
	// before it, and their states are what they would be at Until.
	Until time.Time
	// Append allows a database that already holds requests other than
	// the demonstration's (see Run).
	Append bool
}

// Presets are the named scales of --scale.
var Presets = map[string]Settings{
	"10k":  {Authorities: 2_000, Users: 2_000, Requests: 10_000, Alerts: 200, Registers: 500, Accounts: 10},
	"100k": {Authorities: 20_000, Users: 20_000, Requests: 100_000, Alerts: 2_000, Registers: 5_000, Accounts: 20},
	"1m":   {Authorities: 100_000, Users: 100_000, Requests: 1_000_000, Alerts: 10_000, Registers: 20_000, Accounts: 50},
}

// Preset returns the settings of a named scale.
func Preset(name string) (Settings, error) {
	s, ok := Presets[strings.ToLower(name)]
	if !ok {
		return Settings{}, fmt.Errorf("unknown scale %q: choose 10k, 100k or 1m", name)
	}
	s.Seed, s.Until = 1, DefaultUntil
	return s, nil
}

// minimum numbers of authorities and users: a national coordinator and
// a coordinator account in each of the 30 countries, and room for
// authorities that exchange requests.
const (
	minAuthorities = 60
	minUsers       = 60
)

// Check reports what is wrong with the settings, in words for the
// command line.
func (s Settings) Check() error {
	var bad []string
	for _, c := range []struct {
		name string
		n    int
	}{{"authorities", s.Authorities}, {"users", s.Users}, {"requests", s.Requests}, {"alerts", s.Alerts}, {"registers", s.Registers}, {"accounts", s.Accounts}} {
		if c.n < 0 {
			bad = append(bad, fmt.Sprintf("--%s must not be negative (%d)", c.name, c.n))
		}
	}
	if s.Authorities < minAuthorities {
		bad = append(bad, fmt.Sprintf("--authorities must be at least %d (a coordinator per country and authorities to exchange requests)", minAuthorities))
	}
	if s.Users < minUsers+s.Accounts {
		bad = append(bad, fmt.Sprintf("--users must be at least %d (a coordinator per country, the known accounts and request handlers)", minUsers+s.Accounts))
	}
	if s.Authorities > 1_000_000 || s.Users > 1_000_000 || s.Requests > 50_000_000 {
		bad = append(bad, "counts above 1,000,000 authorities or users, or 50,000,000 requests, are not supported")
	}
	if s.Until.IsZero() || s.Until.Year() < 2005 || s.Until.Year() > 9000 {
		bad = append(bad, "--until must be a date between 2005 and 9000")
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}

// Deps are what the generator writes through and builds on.
type Deps struct {
	DB *db.DB
	// Location is the database as configured (a PostgreSQL URL with its
	// password): the generator opens its own connection for bulk writes.
	// Empty for SQLite means DB's file.
	Location    string
	Areas       *areas.Registry
	Catalog     *i18n.Catalog
	Authorities *authorities.Service // its index code builds the search index
	Registers   *registers.Service   // likewise for registers
	Files       requests.Store       // where attachments' contents go
	// Progress, if set, is told how far the generation is, often.
	Progress func(Progress)
}

// Progress is how far a generation is.
type Progress struct {
	Phase       string // authorities, requests, alerts, registers, index
	Done, Total int
	Elapsed     time.Duration
}

// Account is a known generated account.
type Account struct {
	Email, Name, Authority, Country string
	Roles                           []string
	Inbox                           int // requests its authority takes part in
}

// Result is what a generation wrote.
type Result struct {
	Rows     map[string]int // per table
	Accounts []Account
	Elapsed  time.Duration
	// RequestsElapsed is the time spent on requests alone.
	RequestsElapsed time.Duration
}

// RequestsPerSecond is the generation rate of requests.
func (r *Result) RequestsPerSecond() float64 {
	if r.RequestsElapsed <= 0 {
		return 0
	}
	return float64(r.Rows["requests"]) / r.RequestsElapsed.Seconds()
}

// ErrNotEmpty refuses a database with requests that are not the
// demonstration's, unless Append is set.
var ErrNotEmpty = errors.New("the database already holds requests that are not demonstration data (imi demo); generate into an empty database, or give --append to add to it")

// Run generates a data set into the database. It refuses a database that
// holds requests created by anyone but the demonstration accounts
// (@demo.openimi.eu) unless s.Append is set: generated data mixed into a
// real registry by mistake cannot be told apart afterwards. Nothing is
// written when the settings are wrong or the database is refused.
func Run(ctx context.Context, d Deps, s Settings) (*Result, error) {
	if err := s.Check(); err != nil {
		return nil, err
	}
	if d.DB == nil || d.Areas == nil || d.Authorities == nil || d.Registers == nil || d.Files == nil || d.Catalog == nil {
		return nil, errors.New("gen: missing dependencies")
	}
	start := time.Now()
	// Millions of short-lived rows: collect garbage less often (memory
	// is what a generation has to spare).
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	g, err := newGenerator(ctx, d, s)
	if err != nil {
		return nil, err
	}
	defer g.close()
	if err := g.run(ctx); err != nil {
		return nil, err
	}
	g.res.Elapsed = time.Since(start)
	return &g.res, nil
}
