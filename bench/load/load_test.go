package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/db/dbtest"
)

// TestMain lets the test binary serve as the ceiling server, which run
// starts as a process of its own (os.Executable).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "ceiling" {
		os.Exit(ceilingMain(os.Args[2:], os.Stderr))
	}
	os.Exit(m.Run())
}

// TestEveryJourneyRunsAgainstRealServers runs the whole measurement,
// briefly, on a small generated data set: real imi serve processes (two
// on PostgreSQL), the ceiling server, every journey through the forms. It
// checks that each journey and ceiling did work without an error, that
// the requests created were sent and answered, and that the table is
// written between the markers. It measures nothing worth reading. Then
// it checks when the next run uses the kept data set and when it
// generates it again.
func TestEveryJourneyRunsAgainstRealServers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	dir := t.TempDir()
	imi := filepath.Join(dir, "imi")
	if out, err := exec.Command("go", "build", "-o", imi, "github.com/openimi/openimi/cmd/imi").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	const counts = "--authorities 150 --users 150 --requests 1500 --alerts 5 --registers 5 --accounts 10"
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	scale := "t" + hex.EncodeToString(b)
	args := []string{"--imi", imi, "--work", filepath.Join(dir, "work"), "--scales", scale, "--rounds", "1", "--duration", "1s", "--warmup", "0s",
		"--half-duration", "1s", "--workers", "2", "--generate", counts}
	kind := "sqlite"
	var location string
	if base := os.Getenv(dbtest.EnvVar); base != "" {
		kind = "postgres"
		args = append(args, "--postgres", base)
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		q.Set("search_path", schemaOf(scale))
		u.RawQuery = q.Encode()
		location = u.String()
		t.Cleanup(func() { _ = dropSchema(base, scale) })
	} else {
		location = filepath.Join(dir, "work", "sqlite-"+scale, "imi.db")
	}
	doc := filepath.Join(dir, "PERFORMANCE.md")
	if err := os.WriteFile(doc, []byte("# Before\n<!-- load-table:begin -->\nold\n<!-- load-table:end -->\nAfter\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args = append(args, "--databases", kind, "--write", doc)
	var out, log bytes.Buffer
	if err := run(context.Background(), args, &out, &log); err != nil {
		t.Fatalf("run: %v\n%s", err, log.String())
	}
	table := out.String()
	for _, j := range journeys() {
		row := regexp.MustCompile(`(?m)^\| ` + regexp.QuoteMeta(j.name) + ` \| (\d+) \|.*$`).FindStringSubmatch(table)
		if row == nil {
			t.Errorf("no row for %q in\n%s", j.name, table)
			continue
		}
		if n, _ := strconv.Atoi(row[1]); n == 0 && j.name != "sign in" {
			// Sign-ins go at the pace of the password hash: fewer
			// than one a second is possible on a loaded machine.
			t.Errorf("%s: nothing done in a second: %s", j.name, row[0])
		}
		if strings.Contains(row[0], "errors") {
			t.Errorf("%s: %s\n%s", j.name, row[0], log.String())
		}
	}
	if !regexp.MustCompile(`day in the office's slowest 1% of steps \(p99 [0-9.]+ ms\): \d+× (GET|POST) /`).MatchString(table) {
		t.Errorf("no slowest steps of the day in the office:\n%s", table)
	}
	if kind == "postgres" && !strings.Contains(table, "on 2 servers") {
		t.Errorf("no scale-out figure:\n%s", table)
	}
	written, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(written), "# Before\n<!-- load-table:begin -->\n"+table+"<!-- load-table:end -->\nAfter\n") {
		t.Errorf("the table was not put between the markers:\n%s", written)
	}
	// What the journeys did is in the database: requests of the create
	// journey sent, many answered, and the ceiling's table gone.
	d, err := db.Open(context.Background(), location, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var sent, answered int
	if err := d.Read().QueryRowContext(context.Background(), `SELECT COUNT(*), COALESCE(SUM(CASE WHEN state = 'answered' THEN 1 ELSE 0 END), 0)
		FROM requests WHERE subject_name LIKE 'Load Test %' AND sent_at IS NOT NULL`).Scan(&sent, &answered); err != nil {
		t.Fatal(err)
	}
	if sent == 0 || answered == 0 {
		t.Errorf("%d requests sent and %d answered by the journeys", sent, answered)
	}
	var n int
	if err := d.Read().QueryRowContext(context.Background(), `SELECT COUNT(*) FROM `+ceilingTable).Scan(&n); err == nil {
		t.Errorf("the ceiling's table is still there (%d rows)", n)
	}
	_ = d.Close()

	t.Run("a kept data set is generated again once grown beyond --grown, shrunk or gone", func(t *testing.T) {
		// Each run measures what imi generate made: the next run uses
		// the data set while the requests the journeys added stay within
		// --grown percent of those generated.
		work := filepath.Join(dir, "work")
		marker := filepath.Join(work, kind+"-"+scale, "generated")
		generated, counted, err := generatedRequests(marker)
		if err != nil || !counted {
			t.Fatalf("the marker gives %d requests generated (%v, %v)", generated, counted, err)
		}
		stored, _, err := count(context.Background(), location)
		if err != nil || stored < generated+sent {
			t.Fatalf("the data set holds %d requests (%v), %d generated, and the journeys sent %d", stored, err, generated, sent)
		}
		added := float64(stored - generated)
		o := options{imi: imi, work: work, postgres: os.Getenv(dbtest.EnvVar), until: time.Now().UTC().Format(time.DateOnly), generateArgs: strings.Fields(counts)}
		for _, c := range []struct {
			name   string
			grown  float64      // percent
			change func() error // what happens to the data set before
			want   int
			log    string
		}{
			{"grown within --grown", 100 * (added + 0.5) / float64(generated), nil, stored, "using the data set"},
			{"grown beyond --grown", 100 * (added - 0.5) / float64(generated), nil, generated,
				fmt.Sprintf("earlier runs added %d requests to the %d generated", stored-generated, generated)},
			{"fewer than generated", 100, func() error {
				return os.WriteFile(marker, fmt.Appendf(nil, "generate\n%s%d\n", generatedPrefix, generated+1), 0o600)
			}, generated, fmt.Sprintf("the data set holds %d requests, fewer than the %d generated", generated, generated+1)},
			{"a marker without the count", 100, func() error { return os.WriteFile(marker, []byte("generate --scale 10k\n"), 0o600) },
				generated, "gives no count of the requests generated"},
			{"its database gone", 100, func() error {
				if kind == "sqlite" {
					return os.Remove(location)
				}
				return dropSchema(o.postgres, scale)
			}, generated, "the data set is gone"},
		} {
			if c.change != nil {
				if err := c.change(); err != nil {
					t.Fatal(err)
				}
			}
			o.grown = c.grown
			var log bytes.Buffer
			if _, err := prepare(context.Background(), o, kind, scale, &log); err != nil {
				t.Fatalf("%s: prepare: %v\n%s", c.name, err, log.String())
			}
			reused := c.change == nil && c.want == stored
			if got, _, err := count(context.Background(), location); err != nil || got != c.want || !strings.Contains(log.String(), c.log) ||
				strings.Contains(log.String(), ": imi generate ") == reused {
				t.Errorf("%s (--grown %g): %d requests (%v), want %d, %q in the log and generated again %v:\n%s", c.name, c.grown, got, err, c.want, c.log, !reused, log.String())
			}
		}
		// A database that cannot be reached is an error, not a data set
		// to delete.
		kept := filepath.Join(work, "postgres-unreachable")
		if err := os.MkdirAll(kept, 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(kept, "generated"), fmt.Appendf(nil, "generate\n%s%d\n", generatedPrefix, generated), 0o600); err != nil {
			t.Fatal(err)
		}
		o.postgres, o.grown = "postgres://imi@127.0.0.1:1/imi?connect_timeout=2&sslmode=disable", 5
		if _, err := prepare(context.Background(), o, "postgres", "unreachable", io.Discard); err == nil {
			t.Error("a data set on a database that cannot be reached was prepared")
		}
		if _, err := os.Stat(filepath.Join(kept, "generated")); err != nil {
			t.Errorf("a data set on a database that cannot be reached was deleted: %v", err)
		}
		for _, bad := range []string{"-1", "NaN"} {
			err := run(context.Background(), []string{"--grown", bad, "--work", t.TempDir(), "--imi", filepath.Join(dir, "none"), "--databases", "sqlite"}, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), "--grown") {
				t.Errorf("--grown %s: %v", bad, err)
			}
		}
	})
}

func TestTheSlowestStepsAreNamedWithoutTheirIdentifiers(t *testing.T) {
	for path, want := range map[string]string{
		"/requests/0194f5c2-7a3b-7c11-9d2e-0123456789ab":                  "GET /requests/{id}",
		"/requests/0194f5c2-7a3b-7c11-9d2e-0123456789ab/attachments/ab12": "GET /requests/{id}/attachments/ab12",
		"/authorities?q=M%C3%BCnchen":                                     "GET /authorities",
		"http://127.0.0.1:8080/requests":                                  "GET /requests",
	} {
		if got := stepKind("GET", path); got != want {
			t.Errorf("stepKind(%q) = %q, want %q", path, got, want)
		}
	}
	ms := time.Millisecond
	p := phase{
		lat:   []time.Duration{1 * ms, 2 * ms, 90 * ms, 3 * ms, 80 * ms, 95 * ms, 1 * ms, 2 * ms, 1 * ms, 2 * ms},
		steps: []string{"GET /", "GET /", "POST /sign-in", "GET /", "GET /authorities", "POST /sign-in", "GET /", "GET /", "GET /", "GET /"},
	}
	if got, want := p.slowest(0.3), "2× POST /sign-in, 1× GET /authorities"; got != want {
		t.Errorf("the slowest 30%%: %q, want %q", got, want)
	}
}

// A second run on the same work folder is refused while one runs, and a
// step that fails says why where the answer is a plain-text message.
func TestASecondRunIsRefusedAndFailedStepsSayWhy(t *testing.T) {
	dir := t.TempDir()
	unlock, err := lockWork(dir)
	if err != nil {
		t.Fatal(err)
	}
	err = run(context.Background(), []string{"--work", dir, "--databases", "sqlite", "--scales", "10k"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "another run of the load program is using "+dir) {
		t.Fatalf("a second run: %v", err)
	}
	unlock()
	// A run lets go of the folder when it ends, failed or not (here in
	// prepare, after taking the lock).
	err = run(context.Background(), []string{"--work", dir, "--databases", "nonsense", "--scales", "10k"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `unknown database "nonsense"`) {
		t.Fatalf("a run on an unknown database: %v", err)
	}
	again, err := lockWork(dir)
	if err != nil {
		t.Fatalf("after a run ended: %v", err)
	}
	again()

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/page":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, "<!DOCTYPE html><p>Something went wrong.</p>")
		case "/long": // 199 bytes, then a character of two
			http.Error(w, strings.Repeat("x", 199)+"é and more", http.StatusServiceUnavailable)
		case "/empty":
			w.Header().Set("Content-Type", "Text/Plain; charset=utf-8")
			w.WriteHeader(http.StatusBadGateway)
		default:
			http.Error(w, "no such table: load_ceiling\r\nsecond line", http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	l := &loader{transport: &counting{base: http.DefaultTransport}, servers: []string{srv.URL}, rec: &recorder{}}
	for path, want := range map[string]string{
		"/insert": "POST /insert: 500 no such table: load_ceiling",
		"/page":   "POST /page: 500",
		"/long":   "POST /long: 503 " + strings.Repeat("x", 199) + "…",
		"/empty":  "POST /empty: 502",
	} {
		if _, err := l.do(context.Background(), l.newSession(), http.MethodPost, srv.URL+path, url.Values{}); err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %q", path, err, want)
		}
	}
}

// A run from another work folder is refused while one uses the same
// PostgreSQL data set (its schema is named by scale alone), and a run
// lets go of the data set when it ends.
func TestASecondRunOnAPostgreSQLDataSetIsRefused(t *testing.T) {
	base := os.Getenv(dbtest.EnvVar)
	if base == "" {
		t.Skip("PostgreSQL data sets: run with " + dbtest.EnvVar)
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	scale := "t" + hex.EncodeToString(b)
	t.Cleanup(func() { _ = dropSchema(base, scale) }) // made by the run that fails below
	unlock, err := lockSchema(context.Background(), base, schemaOf(scale))
	if err != nil {
		t.Fatal(err)
	}
	// A run asks for every data set before measuring any: here the
	// SQLite one it would have measured first is not even generated.
	work := t.TempDir()
	args := []string{"--work", work, "--databases", "sqlite,postgres", "--postgres", base, "--scales", scale}
	err = run(context.Background(), args, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "another run of the load program is using the data set "+schemaOf(scale)) {
		unlock()
		t.Fatalf("a second run: %v", err)
	}
	if _, err := os.Stat(filepath.Join(work, "sqlite-"+scale)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the refused run prepared the SQLite data set first: %v", err)
	}
	if second, err := lockSchema(context.Background(), base, schemaOf(scale)); err == nil {
		second()
		unlock()
		t.Fatal("a second lock on the same data set was taken")
	}
	// Another data set is free meanwhile.
	other, err := lockSchema(context.Background(), base, schemaOf(scale+"x"))
	if err != nil {
		unlock()
		t.Fatalf("another data set: %v", err)
	}
	other()
	unlock()
	// A run lets go of the data set when it ends, failed or not (here
	// with no imi to generate it, after taking the lock); a scale named
	// twice is one data set, locked once.
	args = []string{"--work", work, "--databases", "postgres", "--postgres", base, "--scales", scale + "," + scale, "--imi", filepath.Join(t.TempDir(), "no-imi")}
	err = run(context.Background(), args, io.Discard, io.Discard)
	if err == nil || strings.Contains(err.Error(), "another run") {
		t.Fatalf("a run that fails to generate: %v", err)
	}
	again, err := lockSchema(context.Background(), base, schemaOf(scale))
	if err != nil {
		t.Fatalf("after a run ended: %v", err)
	}
	again()
}

// dropSchema drops a PostgreSQL data set's schema.
func dropSchema(base, scale string) error {
	d, err := db.Open(context.Background(), base, db.Options{})
	if err != nil {
		return err
	}
	defer d.Close()
	return d.InTx(context.Background(), func(tx db.Querier) error {
		_, err := tx.ExecContext(context.Background(), `DROP SCHEMA `+schemaOf(scale)+` CASCADE`)
		return err
	})
}
