package search

import "strings"

// Score rates how well a normalized document answers query tokens: an
// exact word counts most, then a word the token starts, then one an
// inflection variant starts; words early in the document (the original
// name) weigh a little more. extra gives, per token, what the caller knows
// beyond the text (a competence match), by the token's index: the better of the two counts, and
// the other adds a quarter. A token matched by nothing scores nothing.
func Score(document string, tokens []string, extra func(i int) float64) float64 {
	words := strings.Fields(document)
	total := 0.0
	for ti, t := range tokens {
		best := 0.0
		variants := Variants(t)
		for i, w := range words {
			s := 0.0
			switch {
			case w == t:
				s = 3
			case strings.HasPrefix(w, t):
				s = 2
			case stemMatch(w, variants[1:]):
				s = 1
			}
			if s > 0 && i < 8 {
				s += 0.5
			}
			if s > best {
				best = s
			}
		}
		if extra != nil {
			// Both the text and what the caller knows may match: the
			// better counts, and the other adds a little.
			e := extra(ti)
			best = max(best, e) + min(best, e)/4
		}
		total += best
	}
	return total
}

func stemMatch(word string, stems []string) bool {
	for _, s := range stems {
		if strings.HasPrefix(word, s) {
			return true
		}
	}
	return false
}
