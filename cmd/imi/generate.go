package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/openimi/openimi/internal/app"
	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/config"
	"github.com/openimi/openimi/internal/gen"
	"github.com/openimi/openimi/internal/requests"
)

const generateUsage = `usage:
  imi generate [--scale 10k|100k|1m] [--authorities N --users N --requests N --alerts N --registers N]
               [--accounts N] [--seed N] [--until YYYY-MM-DD] [--append] [settings]
  imi generate code EMAIL     print the current security code of a generated account`

// generate runs `imi generate`: a reproducible data set for load tests
// (see docs/PERFORMANCE.md), written in bulk into the configured database.
func (c commands) generate(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "code" {
		return c.generateCode(ctx, args[1:])
	}
	var scale, until string
	var s gen.Settings
	extra := func(fs *flag.FlagSet) {
		fs.StringVar(&scale, "scale", "", "a preset: 10k, 100k or 1m requests (with authorities, users, alerts and registers to match); --authorities, --users … given override its counts")
		fs.IntVar(&s.Authorities, "authorities", 0, "authorities, including a national coordinator per country")
		fs.IntVar(&s.Users, "users", 0, "user accounts")
		fs.IntVar(&s.Requests, "requests", 0, "information requests")
		fs.IntVar(&s.Alerts, "alerts", 0, "alerts and notifications of measures")
		fs.IntVar(&s.Registers, "registers", 0, "entries of the directory of registers")
		fs.IntVar(&s.Accounts, "accounts", 0, "known handler accounts (gen-handler-00001@gen.openimi.eu …) on the busiest authorities")
		fs.Uint64Var(&s.Seed, "seed", 1, "the same seed and counts give the same data")
		fs.StringVar(&until, "until", gen.DefaultUntil.Format(time.DateOnly), "the day the generated history ends (requests span the two years before it)")
		fs.BoolVar(&s.Append, "append", false, "add to a database that already holds requests (other than imi demo's)")
	}
	cfg, fs, err := c.load("generate", config.Common, args, extra)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(c.stderr, generateUsage)
		return errUsage
	}
	// A preset, with the counts given on the command line over it.
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	counts := func(x *gen.Settings) map[string]*int {
		return map[string]*int{"authorities": &x.Authorities, "users": &x.Users, "requests": &x.Requests, "alerts": &x.Alerts,
			"registers": &x.Registers, "accounts": &x.Accounts}
	}
	if scale == "" && !given["authorities"] && !given["users"] && !given["requests"] && !given["alerts"] && !given["registers"] {
		scale = "10k"
	}
	settings := gen.Settings{Accounts: 10}
	if scale != "" {
		if settings, err = gen.Preset(scale); err != nil {
			return err
		}
	}
	to, from := counts(&settings), counts(&s)
	for name, v := range from {
		if given[name] {
			*to[name] = *v
		}
	}
	settings.Seed, settings.Append = s.Seed, s.Append
	if settings.Until, err = time.Parse(time.DateOnly, until); err != nil {
		return fmt.Errorf("--until: %q is not a date (YYYY-MM-DD)", until)
	}
	if err := settings.Check(); err != nil {
		return err
	}
	a, err := c.open(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	dir := cfg.AttachmentsDir
	if dir == "" {
		dir = filepath.Join(cfg.DataDir, "attachments")
	}
	bar := newGenerationBar(c.stderr)
	res, err := gen.Run(ctx, gen.Deps{DB: a.DB, Location: cfg.Database, Areas: a.Areas, Catalog: a.Catalog, Authorities: a.Authorities,
		Registers: a.Registers, Files: requests.DirStore{Dir: dir}, Progress: bar.update}, settings)
	bar.end()
	if err != nil {
		return err
	}
	c.printGenerated(cfg.Database, settings, res)
	return nil
}

func (c commands) printGenerated(database string, s gen.Settings, res *gen.Result) {
	fmt.Fprintf(c.stdout, "Generated into %s (seed %d, history until %s) in %.1f s: %.0f requests/s\n\n", database, s.Seed, s.Until.Format(time.DateOnly),
		res.Elapsed.Seconds(), res.RequestsPerSecond())
	names := make([]string, 0, len(res.Rows))
	for n := range res.Rows {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(c.stdout, "  %-24s %10d rows\n", n, res.Rows[n])
	}
	fmt.Fprintf(c.stdout, "\nKnown accounts (password: %s; every generated account has it):\n", gen.Password)
	for _, a := range res.Accounts {
		fmt.Fprintf(c.stdout, "  %-36s %-3s %7d requests  %s\n", a.Email, a.Country, a.Inbox, a.Authority)
	}
	fmt.Fprintf(c.stdout, "  gen-coordinator-XX%s       the national coordinator of country XX (e.g. gen-coordinator-de%s)\n", gen.Domain, gen.Domain)
	fmt.Fprintf(c.stdout, "\nThe security code of an account:\n  %s --database %s generate code EMAIL\n", shellQuote(os.Args[0]), shellQuote(database))
}

// generateCode prints the current TOTP code of a generated account, as
// `imi demo code` does for demonstration accounts.
func (c commands) generateCode(ctx context.Context, args []string) error {
	return c.withApp(ctx, "generate code", args, nil, func(a *app.App, fs *flag.FlagSet) error {
		if fs.NArg() != 1 {
			fmt.Fprintln(c.stderr, "usage: imi generate code EMAIL")
			return errUsage
		}
		email := auth.NormalizeEmail(fs.Arg(0))
		if !strings.HasSuffix(email, gen.Domain) {
			return fmt.Errorf("%s is not a generated account (%s)", fs.Arg(0), gen.Domain)
		}
		code, err := a.Auth.CurrentCode(ctx, email)
		if err != nil {
			return err
		}
		fmt.Fprintln(c.stdout, code)
		return nil
	})
}

// generationBar draws generation progress on standard error: one line
// redrawn in place on a terminal, a line every few seconds otherwise.
type generationBar struct {
	mu       sync.Mutex
	w        io.Writer
	terminal bool
	phase    string
	start    time.Time
	printed  time.Time
	drawn    bool
}

func newGenerationBar(w io.Writer) *generationBar {
	b := &generationBar{w: w}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			b.terminal = true
		}
	}
	return b
}

func (b *generationBar) update(p gen.Progress) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	if p.Phase != b.phase {
		if b.drawn && b.terminal {
			fmt.Fprintln(b.w)
		}
		b.phase, b.start, b.printed, b.drawn = p.Phase, now, time.Time{}, false
	}
	if !b.terminal && now.Sub(b.printed) < 3*time.Second && p.Done < p.Total {
		return
	}
	b.printed, b.drawn = now, true
	const width = 30
	fill := 0
	if p.Total > 0 {
		fill = min(width, width*p.Done/p.Total)
	}
	rate := 0.0
	if s := now.Sub(b.start).Seconds(); s > 0 {
		rate = float64(p.Done) / s
	}
	line := fmt.Sprintf("%-12s [%s%s] %9d/%-9d %8.0f/s  %s", p.Phase, strings.Repeat("#", fill), strings.Repeat(".", width-fill), p.Done, p.Total, rate,
		p.Elapsed.Truncate(time.Second))
	if b.terminal {
		fmt.Fprint(b.w, "\r"+line)
	} else {
		fmt.Fprintln(b.w, line)
	}
}

func (b *generationBar) end() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.drawn && b.terminal {
		fmt.Fprintln(b.w)
	}
}
