package authorities_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/openimi/openimi/internal/authorities"
)

// relevanceCase is one query of the relevance test set: any one of Expect
// must be among the first three results.
type relevanceCase struct {
	Query   string   `yaml:"query"`
	Lang    string   `yaml:"lang"`
	Country []string `yaml:"country"`
	Area    string   `yaml:"area"`
	Role    string   `yaml:"role"`
	Expect  []string `yaml:"expect"`
}

// TestRelevanceRecallAtThree runs the relevance test set (more than 100
// queries in 26 languages, typed the way people type) against the demo
// registry and prints recall@3, which must be at least 95%.
func TestRelevanceRecallAtThree(t *testing.T) {
	raw, err := os.ReadFile("../search/testdata/relevance.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cases []relevanceCase
	if err := yaml.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	langs := map[string]bool{}
	for _, c := range cases {
		langs[c.Lang] = true
	}
	if len(cases) < 100 || len(langs) < 15 {
		t.Fatalf("%d queries in %d languages", len(cases), len(langs))
	}
	w := demo(t)
	hits := 0
	var misses []string
	for _, c := range cases {
		list := w.search(authorities.Query{Text: c.Query, Countries: c.Country, Area: c.Area, Kind: authorities.Kind(c.Role), PerPage: 3})
		var got []string
		for _, a := range list {
			got = append(got, a.ExternalID)
		}
		if slices.ContainsFunc(got, func(id string) bool { return slices.Contains(c.Expect, id) }) {
			hits++
			continue
		}
		misses = append(misses, c.Lang+" "+strings.Join(c.Country, ",")+" "+c.Query+" → "+strings.Join(got, ",")+" (want "+strings.Join(c.Expect, ",")+")")
	}
	recall := float64(hits) / float64(len(cases))
	t.Logf("recall@3: %.1f%% (%d of %d queries in %d languages)", 100*recall, hits, len(cases), len(langs))
	if recall < 0.95 {
		for _, m := range misses {
			t.Log("miss:", m)
		}
		t.Fatalf("recall@3 %.1f%% is under 95%%", 100*recall)
	}
}
