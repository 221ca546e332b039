// Command load measures OpenIMI under load: the journeys of its users (sign
// in, inbox, search, open, create and send, answer, download, a mixed day),
// each compared with a ceiling measured in the same run, alternately, on the
// same machine and database: a minimal Go server answering hello world,
// reading a row by primary key and rendering it with html/template, and
// inserting one row durably. The machine is shared and noisy: the ratios
// are the result, not the absolute times.
//
// It generates the data sets it needs (imi generate, kept in --work for
// the next runs until their journeys have grown a set by more than
// --grown percent), starts imi serve (two processes on PostgreSQL, for the
// scale-out figure) and the ceiling server, signs the generated handler
// accounts in through the forms, like a browser, and prints a Markdown
// table; --write puts it in docs/PERFORMANCE.md. scripts/load.sh builds
// and runs it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openimi/openimi/internal/db"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "ceiling" {
		os.Exit(ceilingMain(os.Args[2:], os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o := options{}
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.imi, "imi", "bin/imi", "the imi program to measure")
	fs.StringVar(&o.work, "work", "data/load", "folder for the generated data sets (kept for the next runs, see --grown), logs and profiles")
	fs.StringVar(&o.postgres, "postgres", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL database; each data set is a schema in it")
	dbs := fs.String("databases", "sqlite,postgres", "databases to measure: sqlite, postgres or both")
	scales := fs.String("scales", "10k,1m", "data sets (imi generate --scale), smallest first: the medians of the largest are compared with the smallest's")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds: every journey and ceiling is measured once per round, in turn")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "measured time of each journey in each round")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "time before each measurement that is not counted")
	fs.DurationVar(&o.half, "half-duration", 10*time.Second, "time of each journey at half of its saturation rate (latency)")
	fs.IntVar(&o.workers, "workers", 8, "concurrent users in the saturation measurements")
	fs.IntVar(&o.servers, "servers", 2, "imi serve processes on PostgreSQL for the scale-out figure (1: none)")
	fs.StringVar(&o.profile, "profile", "", "save a CPU profile of the (first) server during each journey in this folder")
	fs.Float64Var(&o.grown, "grown", 5, "generate a kept data set again once earlier runs' journeys have added more than this percentage of its generated requests")
	fs.StringVar(&o.until, "until", time.Now().UTC().Format(time.DateOnly), "the last day of the generated history (imi generate --until)")
	only := fs.String("only", "", "measure only these journeys (comma-separated names, e.g. \"inbox,open a request\"), besides the ceilings")
	generate := fs.String("generate", "", "imi generate's counts instead of --scale, e.g. \"--authorities 200 --users 200 --requests 2000\" (the scale names the data set)")
	write := fs.String("write", "", "also write the table into this Markdown file, between its load-table markers")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !(o.grown >= 0) { // NaN too
		return fmt.Errorf("--grown: %v is not a percentage of zero or more", o.grown)
	}
	o.databases = strings.Split(*dbs, ",")
	for _, scale := range strings.Split(*scales, ",") {
		scale = strings.TrimSpace(scale)
		if !slices.Contains(o.scales, scale) { // each data set once (and locked once)
			o.scales = append(o.scales, scale)
		}
	}
	o.generateArgs = strings.Fields(*generate)
	if *only != "" {
		for _, name := range strings.Split(*only, ",") {
			o.only = append(o.only, strings.TrimSpace(name))
		}
		for _, name := range o.only {
			if !slices.ContainsFunc(journeys(), func(j journey) bool { return j.name == name && !isCeiling(j) }) {
				var names []string
				for _, j := range journeys() {
					if !isCeiling(j) {
						names = append(names, j.name)
					}
				}
				return fmt.Errorf("--only: no journey is called %q; the journeys: %s", name, strings.Join(names, ", "))
			}
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	o.self, o.imi, o.work = self, abs(o.imi), abs(o.work)
	unlock, err := lockWork(o.work)
	if err != nil {
		return err
	}
	defer unlock()
	// Every PostgreSQL data set of the run, before measuring anything: a
	// run refused one after measuring the others would have thrown their
	// minutes away.
	if slices.Contains(o.databases, "postgres") {
		for _, scale := range o.scales {
			unlock, err := lockSchema(ctx, o.postgres, schemaOf(scale))
			if err != nil {
				return err
			}
			defer unlock()
		}
	}
	o.commit = sourceCommit(o.imi)
	var results []*result
	for _, kind := range o.databases {
		for _, scale := range o.scales {
			res, err := measureSet(ctx, o, kind, scale, stderr)
			if err != nil {
				return fmt.Errorf("%s %s: %w", kind, scale, err)
			}
			results = append(results, res)
		}
	}
	command := []string{"scripts/load.sh"}
	for _, a := range args {
		if strings.ContainsAny(a, " \"'$") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		command = append(command, a)
	}
	table := report(o, results, strings.Join(command, " "))
	fmt.Fprint(stdout, table)
	if *write != "" {
		return writeBetweenMarkers(*write, table)
	}
	return nil
}

// lockWork keeps other runs of the load program out of the work folder
// while this one runs. Two runs on the same data sets disturb each other's
// measurements, and each one's ceiling server drops its table when it
// stops, under the other's inserts: in a table measured so, every insert
// of three rounds failed. The lock is the kernel's (flock), released when
// the process ends, however it ends. The PostgreSQL data sets, named by
// scale alone whatever the folder, have a lock of their own (lockSchema).
func lockWork(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600) // #nosec G304 -- the work folder the operator named
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil { // #nosec G115 -- a file descriptor fits an int
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another run of the load program is using %s: two runs would disturb each other's measurements; wait for it to end", dir)
		}
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	return func() { _ = f.Close() }, nil
}

// lockSchema keeps other runs of the load program, from any work folder,
// out of a PostgreSQL data set while this one runs: its schema is named
// by scale alone (schemaOf), so two folders' runs would generate, measure
// and drop the same one. The lock is PostgreSQL's (a session advisory lock
// on the schema's name, in a key space of the load program's own), held
// by a connection of its own; unlock releases it before closing the
// connection, and PostgreSQL releases it when the process ends however it
// ends.
func lockSchema(ctx context.Context, postgres, schema string) (unlock func(), err error) {
	conn, err := pgx.Connect(ctx, postgres)
	if err != nil {
		return nil, fmt.Errorf("locking the data set %s: %w", schema, err)
	}
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, hashtext($2))`, lockSpace, schema).Scan(&locked); err != nil {
		_ = conn.Close(ctx)
		return nil, fmt.Errorf("locking the data set %s: %w", schema, err)
	}
	if !locked {
		_ = conn.Close(ctx)
		return nil, fmt.Errorf("another run of the load program is using the data set %s in this PostgreSQL database: two runs would disturb each other's measurements and generate or drop it under each other; wait for it to end", schema)
	}
	return func() {
		_, _ = conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1, hashtext($2))`, lockSpace, schema)
		_ = conn.Close(context.Background())
	}, nil
}

// lockSpace is the first key of the load program's advisory locks, apart
// from imi's own (a single 64-bit key, such as the audit log's).
const lockSpace = 0x10ad

// result is what one data set on one database gave.
type result struct {
	kind, scale string
	rounds      map[string][]phase // per journey, one per round
	half        map[string]phase
	rss, own    int64
	// What the data set held at the start: the journeys of each run add
	// requests to it.
	stored, authorities int
	one, two            []phase // the mixed journey on one and on two servers, per round
}

// dataSet is a data set ready to measure: its database location, its
// data folder, and the requests and authorities it holds at the start.
type dataSet struct {
	loc, dir              string
	requests, authorities int
}

// prepare makes the data set unless a finished one is there that holds
// the requests it was generated with and at most --grown percent more (the
// journeys of earlier runs add some), and returns it.
func prepare(ctx context.Context, o options, kind, scale string, log io.Writer) (dataSet, error) {
	dir := filepath.Join(o.work, kind+"-"+scale)
	loc := filepath.Join(dir, "imi.db")
	if kind == "postgres" {
		u, err := url.Parse(o.postgres)
		if err != nil {
			return dataSet{}, err
		}
		q := u.Query()
		q.Set("search_path", schemaOf(scale))
		u.RawQuery = q.Encode()
		loc = u.String()
	} else if kind != "sqlite" {
		return dataSet{}, fmt.Errorf("unknown database %q (sqlite or postgres)", kind)
	}
	marker := filepath.Join(dir, "generated")
	generated, counted, err := generatedRequests(marker)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return dataSet{}, err
	case !counted:
		fmt.Fprintf(log, "%s %s: the marker of the data set in %s gives no count of the requests generated: generating it again\n", kind, scale, dir)
	default:
		// A data set that lost requests, or whose database is gone, is
		// not what was generated either.
		stored, authorities, err := count(ctx, loc)
		switch {
		case errors.Is(err, errNoDataSet):
			fmt.Fprintf(log, "%s %s: %v: generating it again\n", kind, scale, err)
		case err != nil:
			return dataSet{}, err
		case stored < generated:
			fmt.Fprintf(log, "%s %s: the data set holds %d requests, fewer than the %d generated: generating it again\n", kind, scale, stored, generated)
		case 100*float64(stored-generated) > o.grown*float64(generated):
			fmt.Fprintf(log, "%s %s: earlier runs added %d requests to the %d generated, more than %g%%: generating it again\n",
				kind, scale, stored-generated, generated, o.grown)
		default:
			fmt.Fprintf(log, "%s %s: using the data set in %s, %d requests (%d generated, at most %g%% more; delete it to generate again)\n",
				kind, scale, dir, stored, generated, o.grown)
			return dataSet{loc, dir, stored, authorities}, nil
		}
	}
	if err := ctx.Err(); err != nil {
		return dataSet{}, err // interrupted: what is there stays
	}
	if err := os.RemoveAll(dir); err != nil {
		return dataSet{}, err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return dataSet{}, err
	}
	if kind == "postgres" {
		d, err := db.Open(ctx, o.postgres, db.Options{})
		if err != nil {
			return dataSet{}, err
		}
		schema := schemaOf(scale)
		err = d.InTx(ctx, func(tx db.Querier) error {
			if _, err := tx.ExecContext(ctx, `DROP SCHEMA IF EXISTS `+schema+` CASCADE`); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `CREATE SCHEMA `+schema)
			return err
		})
		_ = d.Close()
		if err != nil {
			return dataSet{}, err
		}
	}
	args := []string{"generate", "--database", loc, "--data-dir", dir, "--log-level", "warn", "--until", o.until}
	if len(o.generateArgs) > 0 {
		args = append(args, o.generateArgs...)
	} else {
		args = append(args, "--scale", scale)
	}
	fmt.Fprintf(log, "%s %s: imi %s\n", kind, scale, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, o.imi, args...) // #nosec G204 -- our own program
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return dataSet{}, fmt.Errorf("imi generate: %w", err)
	}
	stored, authorities, err := count(ctx, loc)
	if err != nil {
		return dataSet{}, err
	}
	return dataSet{loc, dir, stored, authorities}, os.WriteFile(marker, fmt.Appendf(nil, "%s\n%s%d\n", strings.Join(args, " "), generatedPrefix, stored), 0o600)
}

// schemaOf is the PostgreSQL schema of a data set: named by its scale
// alone, whatever the work folder.
func schemaOf(scale string) string { return "openimi_load_" + strings.ToLower(scale) }

// generatedPrefix begins the line of a data set's marker that gives how
// many requests it held when generated.
const generatedPrefix = "requests generated: "

// generatedRequests reads a data set's marker, written once the set was
// generated: the requests it held then, and whether the marker says
// (one written before they were counted does not). Without a marker the
// error wraps fs.ErrNotExist.
func generatedRequests(marker string) (int, bool, error) {
	b, err := os.ReadFile(marker) // #nosec G304 -- our own work folder
	if err != nil {
		return 0, false, err
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), generatedPrefix); ok {
			n, err := strconv.Atoi(rest)
			return n, err == nil && n >= 0, nil
		}
	}
	return 0, false, nil
}

// errNoDataSet is count's error when the data set's database, or its
// tables, are not there. Any other error (the database server down, an
// interrupted count) is not one: the data set may be whole.
var errNoDataSet = errors.New("the data set is gone")

// count returns how many requests and authorities the data set at loc
// holds. It makes no database where there is none.
func count(ctx context.Context, loc string) (requests, authorities int, err error) {
	d, err := db.Open(ctx, loc, db.Options{Existing: true})
	if errors.Is(err, fs.ErrNotExist) {
		return 0, 0, fmt.Errorf("%w (%w)", errNoDataSet, err)
	}
	if err != nil {
		return 0, 0, err
	}
	defer d.Close()
	// Whether the tables are there, asked of the catalog (on PostgreSQL,
	// not there when the data set's schema is gone).
	there, err := d.HasTable(ctx, "requests")
	if err != nil {
		return 0, 0, err
	}
	if !there {
		return 0, 0, fmt.Errorf("%w (no requests table)", errNoDataSet)
	}
	err = d.Read().QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM requests), (SELECT COUNT(*) FROM authorities)`).Scan(&requests, &authorities)
	return requests, authorities, err
}

func measureSet(ctx context.Context, o options, kind, scale string, log io.Writer) (*result, error) {
	set, err := prepare(ctx, o, kind, scale, log)
	if err != nil {
		return nil, err
	}
	loc, dir := set.loc, set.dir
	servers := 1
	if kind == "postgres" {
		servers = max(o.servers, 1)
	}
	var procs []*process
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()
	for i := range servers {
		p, err := start(ctx, fmt.Sprintf("imi-%d", i+1), filepath.Join(dir, fmt.Sprintf("serve-%d.log", i+1)), "/readyz",
			o.imi, "serve", "--database", loc, "--data-dir", dir, "--log-level", "warn")
		if err != nil {
			return nil, err
		}
		procs = append(procs, p)
	}
	for _, p := range procs {
		p.settle(ctx, 5*time.Minute)
	}
	ceiling, err := start(ctx, "ceiling", filepath.Join(dir, "ceiling.log"), "/hello", o.self, "ceiling", "--database", loc)
	if err != nil {
		return nil, err
	}
	procs = append(procs, ceiling)
	d, err := db.Open(ctx, loc, db.Options{})
	if err != nil {
		return nil, err
	}
	w, err := loadWorld(ctx, d)
	_ = d.Close()
	if err != nil {
		return nil, err
	}
	l := &loader{w: w, ceiling: ceiling.url, servers: []string{procs[0].url},
		transport: &counting{base: &http.Transport{MaxIdleConnsPerHost: 1024, MaxIdleConns: 1024, IdleConnTimeout: time.Minute}}}
	l.rec = &recorder{}
	fmt.Fprintf(log, "%s %s: signing in %d accounts\n", kind, scale, len(w.accounts))
	for _, a := range w.accounts {
		var secret string
		d, err := db.Open(ctx, loc, db.Options{})
		if err != nil {
			return nil, err
		}
		err = d.Read().QueryRowContext(ctx, `SELECT totp_secret FROM users WHERE email = $1`, a.email).Scan(&secret)
		_ = d.Close()
		if err != nil {
			return nil, err
		}
		if a.session, err = l.signIn(ctx, a.email, secret); err != nil {
			return nil, err
		}
	}
	res := &result{kind: kind, scale: scale, rounds: map[string][]phase{}, half: map[string]phase{}, stored: set.requests, authorities: set.authorities}
	// The resident size of the (first) server, sampled while it works.
	sampling, stopSampling := context.WithCancel(ctx)
	var sampled sync.WaitGroup
	sampled.Go(func() {
		for sampling.Err() == nil {
			all, own := procs[0].rss()
			res.rss, res.own = max(res.rss, all), max(res.own, own)
			select {
			case <-sampling.Done():
			case <-time.After(250 * time.Millisecond):
			}
		}
	})
	defer func() { stopSampling(); sampled.Wait() }()
	all := journeys()
	if len(o.only) > 0 {
		all = slices.DeleteFunc(all, func(j journey) bool { return !isCeiling(j) && !slices.Contains(o.only, j.name) })
	}
	for round := range o.rounds {
		for _, j := range all {
			ph := l.measure(ctx, j, o.workers, o.warmup, o.duration)
			res.rounds[j.name] = append(res.rounds[j.name], ph)
			fmt.Fprintf(log, "%s %s round %d: %-28s %8.1f/s  %7.1f req/s  p50 %6.1f ms  errors %d %s\n", kind, scale, round+1, j.name,
				ph.perSecond(ph.journeys), ph.perSecond(ph.requests), ms(quantile(ph.lat, 0.5)), ph.errors, ph.lastErr)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
		}
		if servers > 1 && len(o.only) == 0 {
			for _, n := range []int{1, servers} {
				l.servers = nil
				for _, p := range procs[:n] {
					l.servers = append(l.servers, p.url)
				}
				ph := l.measure(ctx, all[len(all)-1], o.workers, o.warmup, o.duration)
				if n == 1 {
					res.one = append(res.one, ph)
				} else {
					res.two = append(res.two, ph)
				}
				fmt.Fprintf(log, "%s %s round %d: day in the office on %d server(s): %.1f/s errors %d %s\n", kind, scale, round+1, n,
					ph.perSecond(ph.journeys), ph.errors, ph.lastErr)
			}
			l.servers = []string{procs[0].url}
		}
	}
	for _, j := range all[3:] {
		rate := 0.5 * median(res.rounds[j.name], func(p phase) float64 { return p.perSecond(p.journeys) })
		ph := l.openLoop(ctx, j, rate, o.half)
		res.half[j.name] = ph
		fmt.Fprintf(log, "%s %s at half saturation (%.1f/s): %-28s p50 %6.1f ms  p99 %6.1f ms  errors %d %s\n", kind, scale, rate, j.name,
			ms(quantile(ph.lat, 0.5)), ms(quantile(ph.lat, 0.99)), ph.errors, ph.lastErr)
		fmt.Fprintf(log, "%s %s at half saturation: %s: the slowest 1%% of steps: %s\n", kind, scale, j.name, ph.slowest(0.01))
	}
	if o.profile != "" {
		if err := os.MkdirAll(o.profile, 0o750); err != nil {
			return nil, err
		}
		for _, j := range all[3:] {
			path := filepath.Join(o.profile, fmt.Sprintf("cpu-%s-%s-%s.pprof", kind, scale, strings.ReplaceAll(j.name, " ", "-")))
			secs := max(int(o.duration.Seconds()), 1)
			err := procs[0].profile(ctx, path, secs, func() { l.closedLoop(ctx, j, o.workers, time.Duration(secs)*time.Second) })
			if err != nil {
				return nil, fmt.Errorf("profile: %w", err)
			}
			fmt.Fprintf(log, "%s %s: profile of %s: go tool pprof %s\n", kind, scale, j.name, path)
		}
	}
	return res, ctx.Err()
}

func isCeiling(j journey) bool {
	return j.name == "hello world" || j.name == "primary-key read + render" || j.name == "durable insert"
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func median(ps []phase, f func(phase) float64) float64 {
	if len(ps) == 0 {
		return 0
	}
	v := make([]float64, len(ps))
	for i, p := range ps {
		v[i] = f(p)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// ratios is the journey's rate over its ceiling's, round by round (each
// round measured both within seconds of each other), then the median.
func ratios(res *result, j journey) float64 {
	ceil := map[string]string{"pk": "primary-key read + render", "insert": "durable insert"}[j.ceiling]
	var v []float64
	for i, p := range res.rounds[j.name] {
		c := res.rounds[ceil][i]
		units := map[string]int{"gets": p.requests - p.posts, "posts": p.posts, "journeys": p.journeys}[j.unit]
		if c.requests == 0 || p.elapsed <= 0 {
			v = append(v, 0) // no ceiling measured: no ratio to claim
			continue
		}
		v = append(v, float64(units)/p.elapsed.Seconds()/(float64(c.requests)/c.elapsed.Seconds()))
	}
	slices.Sort(v)
	if len(v) == 0 {
		return 0
	}
	return v[len(v)/2]
}

var errNoMarkers = errors.New("the file has no <!-- load-table:begin --> and <!-- load-table:end --> markers")

func writeBetweenMarkers(path, table string) error {
	b, err := os.ReadFile(path) // #nosec G304 -- the file the operator named (--write)
	if err != nil {
		return err
	}
	const begin, end = "<!-- load-table:begin -->\n", "<!-- load-table:end -->"
	s := string(b)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		return errNoMarkers
	}
	return os.WriteFile(path, []byte(s[:i+len(begin)]+table+s[j:]), 0o600) // #nosec G304 G703 -- the file the operator named (--write)
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}
