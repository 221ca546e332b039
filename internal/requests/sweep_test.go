package requests

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	shipped "github.com/openimi/openimi/areas"
	"github.com/openimi/openimi/internal/areas"
	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/db/dbtest"
	"github.com/openimi/openimi/internal/testkit"
)

// These tests run two DirStores on one folder, as two servers sharing the
// attachments folder do, and drive Delete's two steps (moveAside, settle)
// one at a time to put the other server's work in between.

var sweptBytes = []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")

// storedOld stores content and makes it two hours old, as a content no
// request uses looks to the sweep.
func storedOld(t *testing.T, st DirStore, content []byte) string {
	t.Helper()
	sum, _, err := st.Put(bytes.NewReader(content), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(st.path(sum), old, old); err != nil {
		t.Fatal(err)
	}
	return sum
}

// mustRead returns a stored content's bytes.
func mustRead(t *testing.T, st DirStore, sum string) []byte {
	t.Helper()
	f, err := st.Open(sum)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// asides lists what is moved aside in sum's folder.
func asides(t *testing.T, st DirStore, sum string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Dir(st.path(sum)))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), sweepPrefix) {
			out = append(out, e.Name())
		}
	}
	return out
}

// sweepOnce is the store's part of a sweep (sweepFiles) on a server where
// no request uses any content: tidy, list, delete what is old.
func sweepOnce(t *testing.T, st DirStore, cutoff time.Time) {
	t.Helper()
	if err := st.Tidy(cutoff); err != nil {
		t.Fatalf("tidy: %v", err)
	}
	list, err := st.List()
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	for sum, at := range list {
		if at.Before(cutoff) {
			if err := st.Delete(sum, cutoff); err != nil {
				t.Fatalf("delete: %v", err)
			}
		}
	}
}

// checkFresh asserts that sum is in place, with its bytes and the time of
// the fresh upload, and that nothing is left aside.
func checkFresh(t *testing.T, st DirStore, sum string, cutoff time.Time) {
	t.Helper()
	list, err := st.List()
	if err != nil {
		t.Fatal(err)
	}
	if at, ok := list[sum]; !ok || at.Before(cutoff) {
		t.Fatalf("the fresh upload is gone or looks old: listed %v, %v", ok, at)
	}
	if got := mustRead(t, st, sum); !bytes.Equal(got, sweptBytes) {
		t.Fatalf("the content changed: %q", got)
	}
	if left := asides(t, st, sum); len(left) != 0 {
		t.Fatalf("left aside: %v", left)
	}
}

// Server A's sweep moves an old unused content aside; an upload of the same
// bytes lands on server B; B's sweep tidies, lists and deletes; then A's
// Delete ends. The upload's content, about to be recorded, stays.
func TestAnUploadSurvivesASweepOnAnotherServer(t *testing.T) {
	dir := t.TempDir()
	a, b := DirStore{Dir: dir}, DirStore{Dir: dir}
	cutoff := time.Now().Add(-time.Hour)
	sum := storedOld(t, a, sweptBytes)

	aside, err := a.moveAside(sum)
	if err != nil || aside == "" {
		t.Fatalf("move aside: %q %v", aside, err)
	}
	if again, _, err := b.Put(bytes.NewReader(sweptBytes), 1<<20); err != nil || again != sum {
		t.Fatalf("upload: %v", err)
	}
	sweepOnce(t, b, cutoff)
	if err := a.settle(sum, aside, cutoff); err != nil {
		t.Fatalf("settle: %v", err)
	}
	checkFresh(t, a, sum, cutoff)
	sweepOnce(t, a, cutoff) // and the next sweep keeps it too
	checkFresh(t, b, sum, cutoff)
}

// A Delete stalled (or killed) after moving a content aside for longer
// than Tidy waits: B's Tidy puts the aside back, but never over a fresh
// upload of the same bytes.
func TestTidyNeverPutsAnOldContentOverAFreshOne(t *testing.T) {
	dir := t.TempDir()
	a, b := DirStore{Dir: dir}, DirStore{Dir: dir}
	cutoff := time.Now().Add(-time.Hour)
	sum := storedOld(t, a, sweptBytes)

	moved, err := a.moveAside(sum)
	if err != nil {
		t.Fatal(err)
	}
	name, err := asideName(sum, time.Now().Add(-2*asideGrace))
	if err != nil {
		t.Fatal(err)
	}
	aside := filepath.Join(filepath.Dir(moved), name)
	if err := os.Rename(moved, aside); err != nil { // as if moved long ago
		t.Fatal(err)
	}
	if _, _, err := b.Put(bytes.NewReader(sweptBytes), 1<<20); err != nil {
		t.Fatal(err)
	}
	sweepOnce(t, b, cutoff)
	checkFresh(t, b, sum, cutoff)
	if err := a.settle(sum, aside, cutoff); err != nil {
		t.Fatalf("settle after tidy: %v", err)
	}
	checkFresh(t, a, sum, cutoff)
}

// Tidy leaves alone what a Delete moved aside a moment ago (it may be at
// work on another server), and puts back one abandoned long ago, or one
// named by an earlier version, for the sweep to judge again.
func TestTidyWaitsBeforePuttingBackAContentMovedAside(t *testing.T) {
	st := DirStore{Dir: t.TempDir()}
	cutoff := time.Now().Add(-time.Hour)
	young := storedOld(t, st, []byte("young"))
	abandoned := storedOld(t, st, []byte("abandoned"))
	legacy := storedOld(t, st, []byte("legacy"))

	youngAside, err := st.moveAside(young)
	if err != nil {
		t.Fatal(err)
	}
	name, _ := asideName(abandoned, time.Now().Add(-2*asideGrace))
	if err := os.Rename(st.path(abandoned), filepath.Join(filepath.Dir(st.path(abandoned)), name)); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(st.path(legacy), filepath.Join(filepath.Dir(st.path(legacy)), sweepPrefix+legacy)); err != nil {
		t.Fatal(err)
	}
	if err := st.Tidy(cutoff); err != nil {
		t.Fatal(err)
	}
	list, err := st.List()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := list[young]; ok || len(asides(t, st, young)) != 1 {
		t.Fatalf("a content a Delete is at work on was put back: %v", asides(t, st, young))
	}
	for _, sum := range []string{abandoned, legacy} {
		if at, ok := list[sum]; !ok || !at.Before(cutoff) || len(asides(t, st, sum)) != 0 {
			t.Fatalf("an abandoned content was not put back as it was: %v %v %v", ok, at, asides(t, st, sum))
		}
	}
	if err := st.settle(young, youngAside, cutoff); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Open(young); !os.IsNotExist(err) {
		t.Fatalf("an old unused content was kept: %v", err)
	}
}

// While a sweep has moved a content aside and is about to put it back
// (an upload of the same bytes was just recorded), it can be downloaded.
func TestAContentMovedAsideCanStillBeRead(t *testing.T) {
	st := DirStore{Dir: t.TempDir()}
	cutoff := time.Now().Add(-time.Hour)
	sum, _, err := st.Put(bytes.NewReader(sweptBytes), 1<<20) // the fresh upload
	if err != nil {
		t.Fatal(err)
	}
	aside, err := st.moveAside(sum) // judged unused a moment before the upload was recorded
	if err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, st, sum); !bytes.Equal(got, sweptBytes) {
		t.Fatalf("read while aside: %q", got)
	}
	if err := st.settle(sum, aside, cutoff); err != nil {
		t.Fatal(err)
	}
	checkFresh(t, st, sum, cutoff)
}

// Two servers sweep the same folder at once while a third lists it: no
// listing fails on a content deleted under it, and everything old goes.
func TestListingWhileOtherServersDeleteDoesNotFail(t *testing.T) {
	dir := t.TempDir()
	cutoff := time.Now().Add(-time.Hour)
	var sums []string
	for i := range 150 {
		sums = append(sums, storedOld(t, DirStore{Dir: dir}, fmt.Appendf(nil, "content %d", i)))
	}
	errs := make(chan error, 3)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			st := DirStore{Dir: dir}
			for _, sum := range sums {
				if err := st.Delete(sum, cutoff); err != nil {
					errs <- fmt.Errorf("delete: %w", err)
					return
				}
			}
		})
	}
	deleted := make(chan struct{})
	go func() { wg.Wait(); close(deleted) }()
	lists := 0
	for running := true; running; lists++ {
		select {
		case <-deleted:
			running = false // one more listing after the last delete
		default:
		}
		st := DirStore{Dir: dir}
		if _, err := st.List(); err != nil {
			t.Fatalf("list: %v", err)
		}
		if err := st.Tidy(cutoff); err != nil {
			t.Fatalf("tidy: %v", err)
		}
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	list, err := DirStore{Dir: dir}.List()
	if err != nil || len(list) != 0 {
		t.Fatalf("left %d contents: %v", len(list), err)
	}
	t.Logf("%d listings during the deletes", lists)
}

// Eight requests with one Idempotency-Key at once (a client retrying
// while its first request is still running) make one request, and every
// caller gets it, on SQLite and on PostgreSQL; the same for an action.
func TestOneIdempotencyKeyUsedAtOnceActsOnce(t *testing.T) {
	ctx := context.Background()
	d := dbtest.Open(t)
	reg, err := areas.Open(shipped.Files, "")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	au := auth.New(d, auth.Settings{PublicURL: "http://imi.test"}, clock)
	auths := authorities.New(d, reg, au, "http://imi.test", clock)
	svc, err := New(d, reg, auths, "http://imi.test", clock)
	if err != nil {
		t.Fatal(err)
	}
	register := func(country, name string) *authorities.Authority {
		a, err := auths.Register(ctx, authorities.System(), authorities.Input{Country: country, Name: name, Language: "en",
			Kind: authorities.CompetentAuthority, Areas: []string{"pq"}, Email: "office@" + strings.ToLower(country) + ".example"})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	de, pl := register("DE", "Ärztekammer Berlin"), register("PL", "Naczelna Izba Lekarska")
	handler := testkit.Member(t, au, auths, de, "handler@de.example", "", "request_handler")
	draft := DraftInput{Area: "pq", QuestionSet: "authenticity", Questions: []string{"diploma_authentic"}, ResponderID: pl.ID,
		Subject: map[string]string{"name": "Anna Nowak", "profession": "nurse_general_care"}, IdempotencyKey: "client-7"}

	const n = 8
	run := func(do func() (*Request, error)) []string {
		ids, errs := make([]string, n), make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				r, err := do()
				if err == nil {
					ids[i] = r.ID
				}
				errs[i] = err
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("caller %d: %v", i, err)
			}
		}
		return ids
	}
	count := func(query string, args ...any) int {
		var c int
		if err := d.Read().QueryRowContext(ctx, query, args...).Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}

	ids := run(func() (*Request, error) { return svc.Create(ctx, handler, draft) })
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("callers got different requests: %v", ids)
		}
	}
	if c := count(`SELECT COUNT(*) FROM requests`); c != 1 {
		t.Fatalf("%d requests made", c)
	}
	run(func() (*Request, error) {
		return svc.Act(ctx, handler, ids[0], "send", Input{IdempotencyKey: "send-7"})
	})
	if c := count(`SELECT COUNT(*) FROM case_events WHERE case_id = $1 AND action = 'send'`, ids[0]); c != 1 {
		t.Fatalf("sent %d times", c)
	}
	if c := count(`SELECT COUNT(*) FROM idempotency_keys`); c != 2 {
		t.Fatalf("%d keys recorded", c)
	}
}
