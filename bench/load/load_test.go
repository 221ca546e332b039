package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
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
// written between the markers. It measures nothing worth reading.
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
		q.Set("search_path", "openimi_load_"+scale)
		u.RawQuery = q.Encode()
		location = u.String()
		t.Cleanup(func() {
			d, err := db.Open(context.Background(), base, db.Options{})
			if err != nil {
				return
			}
			defer d.Close()
			_ = d.InTx(context.Background(), func(tx db.Querier) error {
				_, err := tx.ExecContext(context.Background(), `DROP SCHEMA openimi_load_`+scale+` CASCADE`)
				return err
			})
		})
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

	// The next run uses the data set while the requests the journeys
	// added stay within --grown of those generated, and generates it again
	// beyond: each run measures what imi generate made.
	work := filepath.Join(dir, "work")
	generated, ok := generatedRequests(filepath.Join(work, kind+"-"+scale, "generated"))
	if n, ok := generatedRequests(filepath.Join(work, "sqlite-none", "generated")); ok {
		t.Errorf("a data set without a marker: %d requests generated", n)
	}
	stored, _, err := count(context.Background(), location)
	if !ok || err != nil || generated == 0 || stored < generated+sent {
		t.Fatalf("the marker gives %d requests generated (%v), the data set holds %d (%v), the journeys sent %d", generated, ok, stored, err, sent)
	}
	added := float64(stored - generated)
	o := options{imi: imi, work: work, postgres: os.Getenv(dbtest.EnvVar), until: time.Now().UTC().Format(time.DateOnly), generateArgs: strings.Fields(counts)}
	marker := filepath.Join(work, kind+"-"+scale, "generated")
	for _, c := range []struct {
		grown float64
		claim int // if not 0, the marker is made to say this many were generated
		want  int
		log   string
	}{
		{grown: (added + 0.5) / float64(generated), want: stored, log: "using the data set"},
		{grown: (added - 0.5) / float64(generated), want: generated, log: fmt.Sprintf("the data set holds %d requests, %d generated", stored, generated)},
		// A set with fewer requests than generated is generated again.
		{grown: 1, claim: generated + 1, want: generated, log: fmt.Sprintf("the data set holds %d requests, %d generated", generated, generated+1)},
	} {
		if c.claim != 0 {
			if err := os.WriteFile(marker, fmt.Appendf(nil, "generate\n%s%d\n", generatedPrefix, c.claim), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		o.grown = c.grown
		var log bytes.Buffer
		if _, _, err := prepare(context.Background(), o, kind, scale, &log); err != nil {
			t.Fatalf("prepare: %v\n%s", err, log.String())
		}
		if got, _, err := count(context.Background(), location); err != nil || got != c.want || !strings.Contains(log.String(), c.log) {
			t.Errorf("--grown %.4f: %d requests (%v), want %d; log:\n%s", c.grown, got, err, c.want, log.String())
		}
	}
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
