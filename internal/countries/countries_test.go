package countries

import (
	"fmt"
	"testing"

	"github.com/openimi/openimi/internal/i18n"
)

func TestThirtyCountriesParticipate(t *testing.T) {
	if n := len(Current()); n != 30 {
		t.Fatalf("%d countries", n)
	}
	eu := 0
	for _, c := range Current() {
		if c.EU {
			eu++
		}
	}
	if eu != 27 {
		t.Fatalf("%d EU countries", eu)
	}
}

func TestGreeceIsELAndGRIsAnAlias(t *testing.T) {
	cases := map[string]string{"EL": "EL", "gr": "EL", " de ": "DE", "GB": "UK", "UK": "UK", "US": "", "": "", "EC": "EC", "XX": ""}
	for in, want := range cases {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
	if IsCurrent("UK") || !IsCurrent("NO") {
		t.Error("the UK is a former participant; Norway a current one")
	}
}

func TestEveryCountryHasANameInEveryLanguage(t *testing.T) {
	for _, l := range i18n.Languages {
		for _, c := range Current() {
			if n := Name(c.Code, l.Code, ""); n == "" || n == c.Code {
				t.Errorf("%s has no name in %s", c.Code, l.Code)
			}
		}
	}
	if Name("EL", "el", "") != "Ελλάδα" || Name("DE", "pl", "") != "Niemcy" || Name("EC", "de", "Europäische Kommission") != "Europäische Kommission" {
		t.Error("wrong names")
	}
}

func TestCountriesSortByTheirNameInTheReadersLanguage(t *testing.T) {
	list := Sorted("de")
	if list[0].Code != "BE" { // Belgien before Bulgarien, Dänemark, …
		t.Fatalf("first in German: %s", list[0].Code)
	}
	for i, c := range Sorted("cs") {
		if c.Code == "CZ" && i < 2 {
			t.Fatal("Česko must sort after Chorvatsko in Czech")
		}
	}
	// The lists are made once per language: what a caller does with its
	// copy changes nothing for the next; any tag asked for, even one CLDR
	// has no names in, gets names, and no more than 64 languages' lists
	// are kept.
	list[0] = Country{Code: "XX"}
	if Sorted("de")[0].Code != "BE" {
		t.Fatal("a caller's change reached the kept list")
	}
	for i := range 100 {
		if n := Name("FR", fmt.Sprintf("x-%d", i), ""); n != "France" {
			t.Fatalf("in an unknown language: %q, want the English name", n)
		}
	}
	namesMu.Lock()
	defer namesMu.Unlock()
	if len(namesMemo) > 64 {
		t.Fatalf("%d languages kept", len(namesMemo))
	}
}
