package search

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/db/dbtest"
)

// TestCountsAreKeptUntilAnIndexChanges checks, on the database the tests
// run on, that a count is made once and kept, and that every way of
// changing an index (Put, a bulk insert that bypasses Put, a replaced
// document, Clear) makes the next count read the index again, while a
// rolled-back or uncommitted change does not reach it.
func TestCountsAreKeptUntilAnIndexChanges(t *testing.T) {
	ctx := context.Background()
	d := dbtest.Open(t)
	x := NewIndex(d.Dialect(), "authority")
	put := func(id, text string) {
		t.Helper()
		if err := d.InTx(ctx, func(tx db.Querier) error { return x.Put(ctx, tx, id, text, nil) }); err != nil {
			t.Fatal(err)
		}
	}
	q := Query{Words: [][]string{{"koln"}}}
	count := func(want int, made int64) {
		t.Helper()
		n, err := x.CountUpTo(ctx, d, q, 1001)
		if err != nil {
			t.Fatal(err)
		}
		if n != want || x.counts.Made() != made {
			t.Fatalf("count %d after %d queries, want %d after %d", n, x.counts.Made(), want, made)
		}
	}
	revision := func() int64 {
		t.Helper()
		r, err := revisionOf(ctx, d.Read())
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	put("a1", "Ärztekammer Köln")
	put("a2", "Zahnärztekammer Köln")
	put("a3", "Notarkammer Bonn")
	count(2, 1)
	count(2, 1) // kept
	if n, err := x.CountUpTo(ctx, d, q, 1); err != nil || n != 1 || x.counts.Made() != 2 {
		t.Fatalf("another limit: %d, %v, after %d queries", n, err, x.counts.Made())
	}

	before := revision()
	if err := d.InTx(ctx, func(tx db.Querier) error {
		for _, id := range []string{"a4", "a5", "a6"} {
			if err := x.Put(ctx, tx, id, "Apothekerkammer Köln "+id, nil); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if after := revision(); after <= before || d.Dialect() == db.Postgres && after != before+1 {
		t.Fatalf("a transaction of three documents took the revision from %d to %d", before, after)
	}
	count(5, 3)

	// A bulk insert that bypasses Put, as imports and the generator do.
	if err := d.InTx(ctx, func(tx db.Querier) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO authority_fts (id, document, tags) VALUES ($1, $2, $3)`, "a7", "architektenkammer koln", Tags("a7", nil))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	count(6, 4)

	// A change rolled back leaves the revision and the kept count.
	rollback := errors.New("rolled back")
	if err := d.InTx(ctx, func(tx db.Querier) error {
		if err := x.Put(ctx, tx, "a8", "Steuerberaterkammer Köln", nil); err != nil {
			return err
		}
		return rollback
	}); !errors.Is(err, rollback) {
		t.Fatal(err)
	}
	count(6, 4)

	// A change not yet committed is not counted: a count made while it is
	// open (another limit, so that the index is read) is of the committed
	// documents only, and after the commit the same count is made again.
	if err := d.InTx(ctx, func(tx db.Querier) error {
		if err := x.Put(ctx, tx, "a8", "Steuerberaterkammer Köln", nil); err != nil {
			return err
		}
		n, err := x.CountUpTo(ctx, d, q, 1000)
		if err == nil && (n != 6 || x.counts.Made() != 5) {
			err = fmt.Errorf("counted %d with a change open, after %d queries", n, x.counts.Made())
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if n, err := x.CountUpTo(ctx, d, q, 1000); err != nil || n != 7 || x.counts.Made() != 6 {
		t.Fatalf("after the commit: %d, %v, after %d queries", n, err, x.counts.Made())
	}
	count(7, 7)

	// One revision for every index: a change to the registers' makes
	// the authorities' counts again.
	before = revision()
	registers := NewIndex(d.Dialect(), "register")
	if err := d.InTx(ctx, func(tx db.Querier) error { return registers.Put(ctx, tx, "g1", "Handelsregister Köln", nil) }); err != nil {
		t.Fatal(err)
	}
	if after := revision(); after <= before {
		t.Fatalf("a register's document left the revision at %d", after)
	}
	count(7, 8)
	before = revision()
	if err := d.InTx(ctx, func(tx db.Querier) error { return registers.Clear(ctx, tx) }); err != nil {
		t.Fatal(err)
	}
	if after := revision(); after <= before {
		t.Fatalf("emptying the registers' index left the revision at %d", after)
	}

	put("a1", "Ärztekammer Bonn") // replaced: no longer matches
	count(6, 9)

	if err := d.InTx(ctx, func(tx db.Querier) error { return x.Clear(ctx, tx) }); err != nil {
		t.Fatal(err)
	}
	count(0, 10)
}

// TestRankingsAreKeptUntilAnIndexChanges checks Ranked when more
// documents match than it reads (a block): inside its read transaction it
// ranks and counts once per search, pages of the same search come from the
// kept ranking and list each match once, and a change is seen at once.
func TestRankingsAreKeptUntilAnIndexChanges(t *testing.T) {
	ctx := context.Background()
	d := dbtest.Open(t)
	x := NewIndex(d.Dialect(), "authority")
	insert := func(from, to int) {
		t.Helper()
		if err := d.InTx(ctx, func(tx db.Querier) error {
			for i := from; i < to; i++ {
				id := fmt.Sprintf("r%04d", i)
				if _, err := tx.ExecContext(ctx, `INSERT INTO authority_fts (id, document, tags) VALUES ($1, $2, $3)`, id, fmt.Sprintf("kammer koln %d", i), Tags(id, nil)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	q := Query{Words: [][]string{{"koln"}}}
	// Scores that put the candidates of a block in another order than
	// the table's: by the number's last digit.
	score := func(h *Hit) float64 { return float64(h.Text[len(h.Text)-1]) }
	page := func(from, n, want int) []string {
		t.Helper()
		ids, total, err := x.Ranked(ctx, d, q, 1000, from, n, score)
		if err != nil {
			t.Fatal(err)
		}
		if total != want || len(ids) != n {
			t.Fatalf("total %d with %d ids, want %d with %d", total, len(ids), want, n)
		}
		return ids
	}
	made := func(rankings, counts int64) {
		t.Helper()
		if x.rankings.Made() != rankings || x.counts.Made() != counts {
			t.Fatalf("%d rankings and %d counts made, want %d and %d", x.rankings.Made(), x.counts.Made(), rankings, counts)
		}
	}
	insert(0, Block+50)
	first := page(0, 20, Block+50)
	made(1, 1)
	if again := page(0, 20, Block+50); !slices.Equal(again, first) {
		t.Fatalf("the same page listed %v, then %v", first, again)
	}
	made(1, 1)
	// The pages of the first block, from the kept ranking, list each
	// candidate once, in the order of the scores.
	seen := map[string]bool{}
	var listed []string
	for from := 0; from < Block; from += 20 {
		listed = append(listed, page(from, 20, Block+50)...)
	}
	made(1, 1)
	for i, id := range listed {
		if seen[id] {
			t.Fatalf("%s listed twice", id)
		}
		seen[id] = true
		if i > 0 && id[len(id)-1] > listed[i-1][len(id)-1] {
			t.Fatalf("%s after %s", id, listed[i-1])
		}
	}
	// The second block is another read (the first two blocks, ranked
	// each in turn); past the most listed, only how many match.
	second := page(Block, 20, Block+50)
	made(2, 1)
	for _, id := range second {
		if seen[id] {
			t.Fatalf("%s listed in both blocks", id)
		}
	}
	if ids, total, err := x.Ranked(ctx, d, q, 1000, 1000, 20, score); err != nil || len(ids) != 0 || total != Block+50 {
		t.Fatalf("past the most listed: %v, %d, %v", ids, total, err)
	}
	made(2, 1)
	insert(Block+50, Block+51)
	page(0, 20, Block+51)
	made(3, 2)
}

func TestQueryKeysAreHashesOfEveryPart(t *testing.T) {
	long := Query{Words: [][]string{{"a"}}, Also: [][]string{make([]string, 500)}}
	for i := range long.Also[0] {
		long.Also[0][i] = Tag("competence", fmt.Sprint(i))
	}
	if len(queryKey(long, 10)) != len(queryKey(Query{}, 10)) {
		t.Fatal("a key grows with its query")
	}
	if queryKey(Query{Words: [][]string{{"a", "b"}}}, 10) == queryKey(Query{Words: [][]string{{"a"}, {"b"}}}, 10) ||
		queryKey(Query{Words: [][]string{{"a"}}}, 10) == queryKey(Query{Words: [][]string{{"a"}}}, 100) ||
		queryKey(Query{Words: [][]string{{"a"}}}, 200, 1000) == queryKey(Query{Words: [][]string{{"a"}}}, 400, 1000) {
		t.Fatal("two queries share a key")
	}
}
