package public

import (
	"slices"
	"testing"
)

// TestInPartsCutsAnyPageFromPagesOf100 reads pages of every size from a
// list of 1,234 numbers served 100 at a time.
func TestInPartsCutsAnyPageFromPagesOf100(t *testing.T) {
	all := make([]int, 1234)
	for i := range all {
		all[i] = i
	}
	search := func(page, per int) ([]int, int, error) {
		from := min((page-1)*per, len(all))
		return all[from:min(from+per, len(all))], len(all), nil
	}
	for _, perPage := range []int{1, 7, 100, 150, 333, 500} {
		for pg := 1; pg <= len(all)/perPage+2; pg++ {
			got, total, err := inParts(pg, perPage, search)
			from := min((pg-1)*perPage, len(all))
			want := all[from:min(from+perPage, len(all))]
			if err != nil || total != len(all) || !slices.Equal(got, want) && len(got)+len(want) > 0 {
				t.Fatalf("page %d of %d: %d items from %v, want %d from %v", pg, perPage, len(got), first(got), len(want), first(want))
			}
		}
	}
}

func first(list []int) any {
	if len(list) == 0 {
		return nil
	}
	return list[0]
}
