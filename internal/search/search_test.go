package search

import (
	"strings"
	"testing"
)

func TestNormalizeFoldsCaseAndDiacritics(t *testing.T) {
	cases := map[string]string{
		"Ärztekammer Köln":            "arztekammer koln",
		"Poznań, Łódź":                "poznan lodz",
		"Straße":                      "strasse",
		"Υπουργείο Υγείας":            "υπουργειο υγειασ", // final sigma folded, as in queries
		"ΥΠΟΥΡΓΕΊΟ ΥΓΕΊΑΣ":            "υπουργειο υγειασ", // final sigma folded, as in queries
		"Министерство на труда":       "министерство на труда",
		"Ordre national des médecins": "ordre national des medecins",
		"  *\"NEAR(x): 'y'  ":         "near x y",
		"Þjóðskrá Íslands":            "thjodskra islands",
		"Kraków-Nowa Huta":            "krakow nowa huta",
	}
	for in, want := range cases {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTokensAreBoundedAndDistinct(t *testing.T) {
	if got := Tokens(strings.Repeat("abc ", 100)); len(got) != 1 {
		t.Fatalf("%v", got)
	}
	if got := Tokens("a b c d e f g h i j k"); len(got) != 8 {
		t.Fatalf("%d tokens", len(got))
	}
	if got := Tokens(strings.Repeat("x", 100)); len(got[0]) != 40 {
		t.Fatalf("token of %d", len(got[0]))
	}
	if got := Tokens(`"*()':`); len(got) != 0 {
		t.Fatalf("punctuation gave %v", got)
	}
}

func TestScorePrefersExactWordsThenPrefixesThenInflections(t *testing.T) {
	exact := Score("naczelna izba lekarska", []string{"lekarska"}, nil)
	prefix := Score("naczelna izba lekarska", []string{"lekar"}, nil)
	inflected := Score("naczelna izba lekarska", []string{"lekarskiej"}, nil)
	none := Score("naczelna izba lekarska", []string{"notariusz"}, nil)
	if !(exact > prefix && prefix > inflected && inflected > none && none == 0) {
		t.Fatalf("%v %v %v %v", exact, prefix, inflected, none)
	}
}
