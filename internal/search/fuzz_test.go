package search_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/openimi/openimi/internal/search"
)

// Search text is typed in any of 26 languages, or anything else.
// Normalizing is idempotent and yields valid text; tokens are non-empty
// and contain no space; variants of a token include the token.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"Ärztekammer Straße", "Ιατρικός Σύλλογος", "Ţară şi ţinut", "ﬁnance", "İstanbul", "\u202eevil", "a\x00b", "\xff\xfe", "ＡＢＣ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := search.Normalize(s)
		if !utf8.ValidString(n) {
			t.Fatalf("Normalize(%q) = %q: invalid UTF-8", s, n)
		}
		if again := search.Normalize(n); again != n {
			t.Fatalf("Normalize is not idempotent: %q → %q → %q", s, n, again)
		}
		for _, tok := range search.Tokens(s) {
			if tok == "" || strings.ContainsAny(tok, " \t\n") {
				t.Fatalf("Tokens(%q) has %q", s, tok)
			}
			vs := search.Variants(tok)
			found := false
			for _, v := range vs {
				found = found || v == tok
			}
			if len(vs) > 0 && !found {
				t.Fatalf("Variants(%q) = %q lacks the token", tok, vs)
			}
		}
	})
}
