package i18n

import (
	"testing"

	"github.com/openimi/openimi/locales"
)

// Messages without arguments are translated once per language and kept;
// ids the catalog does not have are not kept, so that ids made from input
// cannot grow the server's memory.
func TestPlainMessagesAreKeptOnlyWhenKnown(t *testing.T) {
	c, err := Load(locales.Files)
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{"en", "de", "el"} {
		l := c.Localizer(code)
		first := l.T("site_name")
		if first == "" || first == "site name" {
			t.Fatalf("%s: site_name is %q", code, first)
		}
		if again := l.T("site_name"); again != first {
			t.Fatalf("%s: %q, then %q", code, first, again)
		}
		if kept, ok := l.plain.Load("site_name"); !ok || kept != first {
			t.Fatalf("%s: kept %v %v", code, kept, ok)
		}
		if got := l.T("no_such_message_from_a_url"); got != "no such message from a url" {
			t.Fatalf("%s: unknown id read %q", code, got)
		}
		if _, ok := l.plain.Load("no_such_message_from_a_url"); ok {
			t.Fatalf("%s: an unknown id was kept", code)
		}
	}
	if c.Localizer("de").T("site_name") == c.Localizer("el").T("site_name") {
		t.Fatal("one language's text was kept for another")
	}
}
