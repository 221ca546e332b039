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
		if n != want || x.counts.made.Load() != made {
			t.Fatalf("count %d after %d queries, want %d after %d", n, x.counts.made.Load(), want, made)
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
	if n, err := x.CountUpTo(ctx, d, q, 1); err != nil || n != 1 || x.counts.made.Load() != 2 {
		t.Fatalf("another limit: %d, %v, after %d queries", n, err, x.counts.made.Load())
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
		if err == nil && (n != 6 || x.counts.made.Load() != 5) {
			err = fmt.Errorf("counted %d with a change open, after %d queries", n, x.counts.made.Load())
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if n, err := x.CountUpTo(ctx, d, q, 1000); err != nil || n != 7 || x.counts.made.Load() != 6 {
		t.Fatalf("after the commit: %d, %v, after %d queries", n, err, x.counts.made.Load())
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
		if x.rankings.made.Load() != rankings || x.counts.made.Load() != counts {
			t.Fatalf("%d rankings and %d counts made, want %d and %d", x.rankings.made.Load(), x.counts.made.Load(), rankings, counts)
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

func TestKeptAnswersFollowTheRevisionAndStayBounded(t *testing.T) {
	c := keptAt[int]{most: 100, cost: func(int) int { return 1 }}
	c.keep(5, "a", 1)
	if n, ok := c.get(5, "a"); !ok || n != 1 {
		t.Fatalf("kept %d, %v", n, ok)
	}
	c.keep(6, "c", 3)
	if _, ok := c.get(6, "a"); ok {
		t.Fatal("an answer of revision 5 answered for revision 6")
	}
	// An older revision (a slow reader, or a restored database) replaces
	// the kept answers too: none of revision 6 answers for it.
	c.keep(4, "b", 2)
	if _, ok := c.get(4, "c"); ok {
		t.Fatal("an answer of revision 6 answered for revision 4")
	}
	if n, ok := c.get(4, "b"); !ok || n != 2 || len(c.byKey) != 1 {
		t.Fatalf("after going back: %d, %v, %d kept", n, ok, len(c.byKey))
	}
	for i := range 110 {
		c.keep(4, fmt.Sprint(i), i)
		c.keep(4, fmt.Sprint(i), i) // again: counted once
	}
	if len(c.byKey) > 100 || c.size != len(c.byKey) {
		t.Fatalf("%d answers kept of size %d, at most 100", len(c.byKey), c.size)
	}
	if n, ok := c.get(4, "109"); !ok || n != 109 {
		t.Fatalf("the last answer: %d, %v", n, ok)
	}
	r := keptAt[ranking]{most: 1000, cost: func(r ranking) int { return keptEntry + keptID*len(r.ids) }}
	r.keep(1, "big", ranking{ids: make([]string, 20)})
	if _, ok := r.get(1, "big"); ok || r.size != 0 {
		t.Fatal("an answer larger than the bound was kept")
	}
	r.keep(1, "x", ranking{ids: make([]string, 10)})
	r.keep(1, "x", ranking{ids: make([]string, 2)}) // replaced, with its cost
	if got, ok := r.get(1, "x"); !ok || len(got.ids) != 2 || r.size != keptEntry+2*keptID {
		t.Fatalf("replaced: %d ids, size %d", len(got.ids), r.size)
	}
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
