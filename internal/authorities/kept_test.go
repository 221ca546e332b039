package authorities

import (
	"fmt"
	"testing"
)

// What a server keeps is bounded; what it hands out is a copy, and only
// for the revision it was kept under.
func TestKeptIsBoundedAndCopied(t *testing.T) {
	var k keptLists
	for i := range keptMax + keptMax/2 {
		k.keep([]*Authority{{ID: fmt.Sprint("a", i), revision: 1, Names: map[string]string{"en": "x"}, Areas: []string{"pq"}}})
		if len(k.byID) > keptMax {
			t.Fatalf("%d kept after %d, bound %d", len(k.byID), i+1, keptMax)
		}
	}
	last := fmt.Sprint("a", keptMax+keptMax/2-1)
	a := &Authority{ID: last, revision: 1}
	if !k.fill(a) || a.Names["en"] != "x" || len(a.Areas) != 1 {
		t.Fatalf("the last kept was not filled: %+v", a)
	}
	a.Names["en"], a.Areas[0] = "changed", "changed"
	b := &Authority{ID: last, revision: 1}
	if !k.fill(b) || b.Names["en"] != "x" || b.Areas[0] != "pq" {
		t.Fatalf("a change to a copy reached what is kept: %+v", b)
	}
	if k.fill(&Authority{ID: last, revision: 2}) {
		t.Fatal("lists of revision 1 were handed out for revision 2")
	}
}
