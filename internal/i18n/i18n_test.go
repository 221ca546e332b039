package i18n_test

import (
	"testing"

	"github.com/openimi/openimi/internal/i18n"
	"github.com/openimi/openimi/locales"
)

func TestNegotiationPrefersProfileThenHeaderThenEnglish(t *testing.T) {
	cat, err := i18n.Load(locales.Files)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ profile, header, want string }{
		{"pl", "de-DE,de;q=0.9", "pl"},
		{"", "de-DE,de;q=0.9", "de"},
		{"", "el-GR", "el"},
		{"", "nb-NO,nb;q=0.9", "no"},
		{"", "nn", "no"},
		{"", "pt-BR", "pt"},
		{"", "ja,zh;q=0.8", "en"},
		{"", "", "en"},
		{"", "not a header;;q=x", "en"},
		{"xx", "fr", "fr"},
		{"", "zz, ga;q=0.5", "ga"},
	}
	for _, c := range cases {
		if got := cat.Negotiate(c.profile, c.header); got != c.want {
			t.Errorf("Negotiate(%q, %q) = %q, want %q", c.profile, c.header, got, c.want)
		}
	}
}

func TestTwentySixLanguagesAreSupported(t *testing.T) {
	if len(i18n.Languages) != 26 {
		t.Fatalf("%d languages", len(i18n.Languages))
	}
	for _, code := range []string{"bg", "cs", "da", "de", "el", "en", "es", "et", "fi", "fr", "ga", "hr", "hu", "is", "it", "lt", "lv", "mt", "nl", "no", "pl", "pt", "ro", "sk", "sl", "sv"} {
		if !i18n.Supported(code) {
			t.Errorf("%s not supported", code)
		}
	}
	if i18n.Supported("xx") || i18n.Supported("") {
		t.Error("unknown codes reported as supported")
	}
}

func TestUnknownLanguageFallsBackToEnglish(t *testing.T) {
	cat, err := i18n.Load(locales.Files)
	if err != nil {
		t.Fatal(err)
	}
	if got := cat.Localizer("xx").Lang(); got != "en" {
		t.Fatalf("lang = %q", got)
	}
}
