package kept_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/openimi/openimi/internal/kept"
)

func TestKeptAnswersFollowTheRevisionAndStayBounded(t *testing.T) {
	c := kept.New(100, func(int) int { return 1 })
	c.Keep(5, "a", 1)
	if n, ok := c.Get(5, "a"); !ok || n != 1 {
		t.Fatalf("kept %d, %v", n, ok)
	}
	c.Keep(6, "c", 3)
	if _, ok := c.Get(6, "a"); ok {
		t.Fatal("an answer of revision 5 answered for revision 6")
	}
	// An older revision (a slow reader, or a restored database) replaces
	// the kept answers too: none of revision 6 answers for it.
	c.Keep(4, "b", 2)
	if _, ok := c.Get(4, "c"); ok {
		t.Fatal("an answer of revision 6 answered for revision 4")
	}
	if n, ok := c.Get(4, "b"); !ok || n != 2 || c.Len() != 1 {
		t.Fatalf("after going back: %d, %v, %d kept", n, ok, c.Len())
	}
	for i := range 110 {
		c.Keep(4, fmt.Sprint(i), i)
		c.Keep(4, fmt.Sprint(i), i) // again: counted once
	}
	if c.Len() > 100 || c.Size() != c.Len() {
		t.Fatalf("%d answers kept of size %d, at most 100", c.Len(), c.Size())
	}
	if n, ok := c.Get(4, "109"); !ok || n != 109 {
		t.Fatalf("the last answer: %d, %v", n, ok)
	}
	if c.Made() != 3+220 {
		t.Fatalf("%d answers made, want 223", c.Made())
	}
	r := kept.New(1000, func(ids []string) int { return 100 + 50*len(ids) })
	r.Keep(1, "big", make([]string, 20))
	if _, ok := r.Get(1, "big"); ok || r.Size() != 0 {
		t.Fatal("an answer larger than the bound was kept")
	}
	r.Keep(1, "x", make([]string, 10))
	r.Keep(1, "x", make([]string, 2)) // replaced, with its cost
	if got, ok := r.Get(1, "x"); !ok || len(got) != 2 || r.Size() != 100+2*50 {
		t.Fatalf("replaced: %d ids, size %d", len(got), r.Size())
	}
}

// GetOr reads an answer once under a revision, keeps no error, and reads
// again under another revision.
func TestGetOrReadsOnceARevision(t *testing.T) {
	k := kept.New(100, func(int) int { return 1 })
	reads := 0
	read := func(v int, err error) func() (int, error) {
		return func() (int, error) { reads++; return v, err }
	}
	if _, err := k.GetOr(1, "a", read(0, errors.New("lost"))); err == nil || k.Len() != 0 {
		t.Fatalf("a failed read: %v, %d kept", err, k.Len())
	}
	for range 3 {
		if v, err := k.GetOr(1, "a", read(7, nil)); err != nil || v != 7 {
			t.Fatalf("GetOr: %d, %v", v, err)
		}
	}
	if v, err := k.GetOr(2, "a", read(8, nil)); err != nil || v != 8 || reads != 3 {
		t.Fatalf("under another revision: %d, %v, after %d reads (want 3)", v, err, reads)
	}
}
