package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// options are the command's settings.
type options struct {
	imi          string
	self         string // this program, for the ceiling server
	work         string
	postgres     string
	databases    []string
	scales       []string
	rounds       int
	duration     time.Duration
	warmup       time.Duration
	half         time.Duration
	workers      int
	servers      int
	profile      string // folder for CPU profiles of each journey
	only         []string
	commit       string // of the source measured (sourceCommit)
	until        string
	generateArgs []string // instead of --scale (tests: tiny data sets)
	// grown is the percentage of its generated requests the journeys of
	// earlier runs may have added to a data set before it is generated
	// again (--grown).
	grown float64
}

// phase is what one journey did in one measured period.
type phase struct {
	journeys, requests, posts, errors int
	elapsed                           time.Duration
	lat                               []time.Duration
	steps                             []string // what each step of lat was
	lastErr                           string
}

// slowest counts the kinds of the slowest share of the steps (at least
// one), most frequent first ("12× POST /sign-in, 3× GET /authorities"):
// where a mixed journey's tail comes from.
func (p phase) slowest(share float64) string {
	if len(p.lat) == 0 || len(p.steps) != len(p.lat) {
		return ""
	}
	order := make([]int, len(p.lat))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(p.lat[b], p.lat[a]) })
	counts := map[string]int{}
	for _, i := range order[:max(1, int(math.Ceil(share*float64(len(order)))))] {
		counts[p.steps[i]]++
	}
	kinds := slices.Collect(maps.Keys(counts))
	slices.SortFunc(kinds, func(a, b string) int {
		if c := counts[b] - counts[a]; c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	var out []string
	for _, k := range kinds {
		out = append(out, fmt.Sprintf("%d× %s", counts[k], k))
	}
	return strings.Join(out, ", ")
}

func (p phase) perSecond(n int) float64 {
	if p.elapsed <= 0 {
		return 0
	}
	return float64(n) / p.elapsed.Seconds()
}

func quantile(lat []time.Duration, q float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	// Nearest rank: the smallest value with at least q of them at or below.
	return s[max(0, int(math.Ceil(q*float64(len(s))))-1)]
}

// measure runs j for d with the given workers, each in a loop (closed
// loop: the saturation throughput), after a warm-up that is not counted.
func (l *loader) measure(ctx context.Context, j journey, workers int, warmup, d time.Duration) phase {
	if warmup > 0 {
		l.closedLoop(ctx, j, workers, warmup)
	}
	return l.closedLoop(ctx, j, workers, d)
}

func (l *loader) closedLoop(ctx context.Context, j journey, workers int, d time.Duration) phase {
	l.rec = &recorder{}
	l.transport.requests.Store(0)
	l.transport.posts.Store(0)
	var done sync.WaitGroup
	var mu sync.Mutex
	ph := phase{}
	start := time.Now()
	// Journeys started before the deadline run to their end and count: a
	// sign-in cut off half way would count as a failed attempt, and
	// enough of them lock the client's address out.
	deadline := start.Add(d)
	for range workers {
		done.Go(func() {
			r := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())) // #nosec G404 -- load, not secrets
			n := 0
			for time.Now().Before(deadline) && ctx.Err() == nil {
				err := j.run(ctx, l, r)
				if errors.Is(err, errNothingToAnswer) {
					break
				}
				switch {
				case err == nil:
					n++ // only journeys that succeeded count
				case ctx.Err() == nil:
					l.rec.fail(err)
				}
			}
			mu.Lock()
			ph.journeys += n
			mu.Unlock()
		})
	}
	done.Wait()
	ph.elapsed = time.Since(start)
	ph.requests = int(l.transport.requests.Load())
	ph.posts = int(l.transport.posts.Load())
	ph.lat, ph.steps, ph.errors, ph.lastErr = l.rec.lat, l.rec.steps, l.rec.errs, l.rec.last
	return ph
}

// openLoop starts journeys at a fixed rate whatever the answers' speed
// (arrivals as from many independent users), for latency at a given load.
func (l *loader) openLoop(ctx context.Context, j journey, rate float64, d time.Duration) phase {
	l.rec = &recorder{}
	l.transport.requests.Store(0)
	l.transport.posts.Store(0)
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var done sync.WaitGroup
	var n, errs int
	var mu sync.Mutex
	slots := make(chan struct{}, 512)
	start := time.Now()
	interval := time.Duration(float64(time.Second) / max(rate, 0.1))
	r := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())) // #nosec G404 -- load, not secrets
	for i := 0; ; i++ {
		at := start.Add(time.Duration(i) * interval)
		if at.After(start.Add(d)) {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Until(at)):
		}
		if ctx.Err() != nil {
			break
		}
		select {
		case slots <- struct{}{}:
		default:
			errs++ // the server is far behind: count it, do not pile up
			continue
		}
		jr := rand.New(rand.NewPCG(r.Uint64(), r.Uint64())) // #nosec G404 -- load, not secrets
		done.Go(func() {
			defer func() { <-slots }()
			err := j.run(context.WithoutCancel(ctx), l, jr)
			mu.Lock()
			defer mu.Unlock()
			if errors.Is(err, errNothingToAnswer) {
				return
			}
			if err != nil {
				l.rec.fail(err)
				return
			}
			n++
		})
	}
	done.Wait()
	ph := phase{journeys: n, elapsed: time.Since(start), errors: errs}
	ph.requests = int(l.transport.requests.Load())
	ph.posts = int(l.transport.posts.Load())
	ph.lat, ph.steps, ph.lastErr = l.rec.lat, l.rec.steps, l.rec.last
	ph.errors += l.rec.errs
	return ph
}

// process is a server this program started.
type process struct {
	name   string
	cmd    *exec.Cmd
	url    string
	debug  string
	exited chan struct{}
	log    *os.File
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func start(ctx context.Context, name, logPath, ready string, bin string, args ...string) (*process, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	p := &process{name: name, url: "http://" + addr, exited: make(chan struct{})}
	args = append(args, "--listen", addr)
	if name != "ceiling" {
		if p.debug, err = freeAddr(); err != nil {
			return nil, err
		}
		args = append(args, "--debug-listen", p.debug)
	}
	if p.log, err = os.Create(logPath); err != nil { // #nosec G304 -- a log in the operator's --work folder
		return nil, err
	}
	p.cmd = exec.Command(bin, args...) // #nosec G204 -- our own programs
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		select {
		case <-p.exited:
			b, _ := os.ReadFile(logPath) // #nosec G304 -- the log just written
			return nil, fmt.Errorf("%s exited at start:\n%s", name, b)
		default:
		}
		if res, err := http.Get(p.url + ready); err == nil {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.stop()
	return nil, fmt.Errorf("%s not ready within 5 minutes (log: %s)", name, logPath)
}

func (p *process) stop() {
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(time.Minute):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	}
	_ = p.log.Close()
}

// rss is the process's resident set size and, of it, its own memory
// (RssAnon: not pages of files it maps, such as SQLite's database), in
// bytes.
func (p *process) rss() (all, own int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, 0
	}
	for line := range strings.Lines(string(b)) {
		for key, to := range map[string]*int64{"VmRSS:": &all, "RssAnon:": &own} {
			if v, ok := strings.CutPrefix(line, key); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				*to = kb << 10
			}
		}
	}
	return all, own
}

// cpu is the processor time the process has used.
func (p *process) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// The fields after the command's name in parentheses: utime and
	// stime are the 12th and 13th, in clock ticks (100 per second).
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * 10 * time.Millisecond
}

// settle waits until the process is idle (less than a tenth of a core
// over two seconds), at most limit: a server's first housekeeping on a
// large data set must not count against the first journeys.
func (p *process) settle(ctx context.Context, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for before := p.cpu(); time.Now().Before(deadline) && ctx.Err() == nil; {
		time.Sleep(2 * time.Second)
		now := p.cpu()
		if now-before < 200*time.Millisecond {
			return
		}
		before = now
	}
}

// profile saves a CPU profile of the server taken while fn runs.
func (p *process) profile(ctx context.Context, path string, seconds int, fn func()) error {
	errc := make(chan error, 1)
	go func() {
		res, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", p.debug, seconds))
		if err != nil {
			errc <- err
			return
		}
		defer res.Body.Close()
		f, err := os.Create(path) // #nosec G304 -- in the operator's --profile folder
		if err != nil {
			errc <- err
			return
		}
		_, err = io.Copy(f, res.Body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		errc <- err
	}()
	fn()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func abs(path string) string {
	if a, err := filepath.Abs(path); err == nil {
		return a
	}
	return path
}
