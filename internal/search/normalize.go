// Package search is the text search of OpenIMI: one interface over SQLite
// FTS5 and PostgreSQL full-text search. Text is normalized in Go before it
// reaches either engine (lower case, no diacritics, ß as ss, Greek without
// accents), so that both see the same words and behave the same.
package search

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// special are letters that do not decompose into a base letter and a mark.
var special = strings.NewReplacer(
	"ß", "ss", "ẞ", "ss", "æ", "ae", "Æ", "ae", "ø", "o", "Ø", "o", "œ", "oe", "Œ", "oe",
	"đ", "d", "Đ", "d", "ł", "l", "Ł", "l", "þ", "th", "Þ", "th", "ð", "d", "Ð", "d",
	"ı", "i", "ħ", "h", "Ħ", "h", "ς", "σ",
)

// Normalize returns text as the index stores it: lower case, without
// diacritics, with every run of other characters as one space.
func Normalize(s string) string {
	// Bytes that are not UTF-8 separate words; left in, they would keep
	// NFD from decomposing the letter after them.
	s = special.Replace(strings.ToValidUTF8(s, " "))
	var b strings.Builder
	space := true
	for _, r := range norm.NFD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
			continue // a combining mark: the accent of the letter before
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(unicode.ToLower(r))
			space = false
		default:
			if !space {
				b.WriteByte(' ')
				space = true
			}
		}
	}
	out := special.Replace(strings.TrimSpace(b.String())) // a final sigma made by lower-casing
	if strings.Contains(out, "γιατρ") {
		out = foldWords(out)
	}
	return out
}

// wordFolds map everyday word stems to the ones legal texts use, where the
// two differ from the first letter on and no prefix can bridge them: Greek
// "γιατρός" (doctor) is "ιατρός" in the directives.
var wordFolds = map[string]string{"γιατρ": "ιατρ"}

func foldWords(s string) string {
	words := strings.Fields(s)
	for i, w := range words {
		for from, to := range wordFolds {
			if strings.HasPrefix(w, from) {
				words[i] = to + strings.TrimPrefix(w, from)
			}
		}
	}
	return strings.Join(words, " ")
}

// Limits that keep every query cheap.
const (
	MaxQueryLength = 200
	maxTokens      = 8
	maxTokenLength = 40
)

// Tokens splits a query into at most maxTokens distinct normalized words.
func Tokens(q string) []string {
	if len(q) > 4*MaxQueryLength {
		q = q[:4*MaxQueryLength]
	}
	seen := map[string]bool{}
	var out []string
	for _, t := range strings.Fields(Normalize(q)) {
		if len(t) > maxTokenLength {
			t = t[:maxTokenLength]
		}
		if seen[t] {
			continue
		}
		seen[t] = true
		out = append(out, t)
		if len(out) == maxTokens {
			break
		}
	}
	return out
}

// Variants are the prefixes a query word is matched by: the word itself
// and, for longer words, the word less its last one to three letters, so
// that inflected forms meet ("lekarzy" finds "lekarz", "lekarskiej" finds
// "lekarska", "kammern" finds "kammer"). Greek final sigma is folded to σ
// by Normalize on both sides.
func Variants(token string) []string {
	r := []rune(token)
	out := []string{token}
	switch {
	case len(r) >= 9:
		out = append(out, string(r[:len(r)-2]), string(r[:len(r)-3]))
	case len(r) >= 7:
		out = append(out, string(r[:len(r)-2]))
	case len(r) >= 5:
		out = append(out, string(r[:len(r)-1]))
	}
	return out
}
