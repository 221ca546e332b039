package authorities

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/openimi/openimi/internal/kept"
)

// authorityOfShape is an authority as the database gives one: every text
// its own allocation, with names (and descriptions of descLen bytes) in
// names languages, areas and competences.
func authorityOfShape(i, names, descLen, areas, competences int) *Authority {
	text := func(format string, args ...any) string { return strings.Clone(fmt.Sprintf(format, args...)) }
	now := time.Now().UTC()
	a := &Authority{ID: text("0193a1b2-c3d4-7e5f-8a9b-%012d", i), Country: text("DE"), Name: text("Landesamt für Gesundheit %d", i),
		Language: text("de"), Acronym: text("LAGE"), Region: text("DE-BY"), Street: text("Example Street %d", i%120), Postcode: text("%04d", i%9000),
		City: text("München"), Email: text("imi@gen-%06d.example.de", i), Phone: text("+49 1 234 %04d", i%10000),
		Website: text("https://gen-%06d.example.de", i), Kind: Kind(text("authority")), Status: Status(text("active")), CreatedAt: now, UpdatedAt: now,
		Names: map[string]string{}, Descriptions: map[string]string{}, Supervisors: map[string]string{}}
	langs := []string{"en", "fr", "it", "pl", "es", "nl", "sv", "fi", "cs", "hu", "el", "pt"}
	for j := range names {
		a.Names[text("%s", langs[j])] = text("Health office %d (%s)", i, langs[j])
		if descLen > 0 {
			a.Descriptions[text("%s", langs[j])] = text("%s", strings.Repeat("x", descLen))
		}
	}
	for j := range areas {
		a.Areas = append(a.Areas, text("area%d", j))
		if j%2 == 1 {
			a.Supervisors[text("area%d", j)] = text("0193a1b2-c3d4-7e5f-8a9b-%012d", j)
		}
	}
	for j := range competences {
		a.Competences = append(a.Competences, Competence{Area: text("pq"), Vocabulary: text("professions"), Term: text("term-%d", j)})
	}
	a.Areas, a.Competences = exact(a.Areas), exact(a.Competences) // as loadMany leaves them
	return a
}

// The registry keeps authorities up to a number of bytes that their cost
// tells: it must be what they take on the heap, or the bound means
// nothing (change 29, docs/PERFORMANCE.md).
func TestAuthorityCostIsWhatAKeptAuthorityTakes(t *testing.T) {
	for _, shape := range []struct {
		name                                     string
		names, descLen, areas, competences, many int
	}{
		{"no lists", 0, 0, 0, 0, 3000},
		{"as generated: a name in English, an area, two competences", 1, 0, 1, 2, 3000},
		{"three names and descriptions, two areas, five competences", 3, 100, 2, 5, 2000},
		{"twelve names and long descriptions, four areas, forty competences", 12, 600, 4, 40, 500},
	} {
		t.Run(shape.name, func(t *testing.T) {
			k := kept.New(math.MaxInt, authorityCost)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			estimated := 0
			for i := range shape.many {
				a := authorityOfShape(i, shape.names, shape.descLen, shape.areas, shape.competences)
				estimated += authorityCost(a)
				k.Keep(1, a.ID, a)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			if k.Len() != shape.many {
				t.Fatalf("%d kept, want %d", k.Len(), shape.many)
			}
			measured := float64(after.HeapAlloc) - float64(before.HeapAlloc)
			ratio := float64(estimated) / measured
			t.Logf("%d authorities: cost %d bytes, heap %.0f bytes (%.2f×)", shape.many, estimated, measured, ratio)
			if ratio < 0.85 || ratio > 1.25 {
				t.Errorf("the cost of %d authorities is %d bytes, the heap grew by %.0f (%.2f×): keep them within 15%% short and 25%% over",
					shape.many, estimated, measured, ratio)
			}
		})
	}
}
