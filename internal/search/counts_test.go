package search

import (
	"context"
	"errors"
	"fmt"
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
		if n != want || x.counts.counted.Load() != made {
			t.Fatalf("count %d after %d queries, want %d after %d", n, x.counts.counted.Load(), want, made)
		}
	}
	revision := func() int64 {
		t.Helper()
		r, err := Revision(ctx, d.Read())
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
	if n, err := x.CountUpTo(ctx, d, q, 1); err != nil || n != 1 || x.counts.counted.Load() != 2 {
		t.Fatalf("another limit: %d, %v, after %d queries", n, err, x.counts.counted.Load())
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

	// A change not yet committed is not counted, nor kept: the count
	// made while it is open is of the committed documents only.
	if err := d.InTx(ctx, func(tx db.Querier) error {
		if err := x.Put(ctx, tx, "a8", "Steuerberaterkammer Köln", nil); err != nil {
			return err
		}
		n, err := x.CountUpTo(ctx, d, q, 1001)
		if err == nil && n != 6 {
			err = fmt.Errorf("counted %d with a change open", n)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	count(7, 5)

	put("a1", "Ärztekammer Bonn") // replaced: no longer matches
	count(6, 6)

	if err := d.InTx(ctx, func(tx db.Querier) error { return x.Clear(ctx, tx) }); err != nil {
		t.Fatal(err)
	}
	count(0, 7)
}

// TestRankedTotalsFollowChanges checks the counts Ranked makes when more
// documents match than it reads (a block), inside its read transaction.
func TestRankedTotalsFollowChanges(t *testing.T) {
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
	ranked := func(want int) {
		t.Helper()
		ids, total, err := x.Ranked(ctx, d, q, 1000, 0, 20, func(*Hit) float64 { return 0 })
		if err != nil {
			t.Fatal(err)
		}
		if total != want || len(ids) != 20 {
			t.Fatalf("total %d with %d ids, want %d with 20", total, len(ids), want)
		}
	}
	insert(0, Block+50)
	ranked(Block + 50)
	ranked(Block + 50)
	if x.counts.counted.Load() != 1 {
		t.Fatalf("%d counts made for the same search", x.counts.counted.Load())
	}
	insert(Block+50, Block+51)
	ranked(Block + 51)
	if x.counts.counted.Load() != 2 {
		t.Fatalf("%d counts made, want 2", x.counts.counted.Load())
	}
}

func TestCountsForgetOlderRevisionsAndStayBounded(t *testing.T) {
	var c counts
	c.keep(5, "a", 1)
	if n, ok := c.get(5, "a"); !ok || n != 1 {
		t.Fatalf("kept %d, %v", n, ok)
	}
	c.keep(4, "b", 2) // counted before revision 5: not kept
	if _, ok := c.get(4, "b"); ok {
		t.Fatal("a count of an older revision was kept")
	}
	c.keep(6, "c", 3)
	if _, ok := c.get(6, "a"); ok {
		t.Fatal("a count of revision 5 answered for revision 6")
	}
	for i := range countsMax + 10 {
		c.keep(6, fmt.Sprint(i), i)
	}
	if len(c.byKey) > countsMax {
		t.Fatalf("%d counts kept, at most %d", len(c.byKey), countsMax)
	}
	if countKey(Query{Words: [][]string{{"a", "b"}}}, 10) == countKey(Query{Words: [][]string{{"a"}, {"b"}}}, 10) {
		t.Fatal("two queries share a key")
	}
}
