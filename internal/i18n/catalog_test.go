package i18n_test

import (
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/feature/plural"
	"golang.org/x/text/language"

	"github.com/openimi/openimi/internal/i18n"
	"github.com/openimi/openimi/locales"
)

// message is one catalog entry: a plain string or a table of plural forms.
type message struct {
	forms map[string]string // "other" alone for a plain string
}

func (m message) plural() bool { return len(m.forms) > 1 || m.forms["other"] == "" }

var formNames = []string{"zero", "one", "two", "few", "many", "other"}

func isForm(k string) bool {
	for _, f := range formNames {
		if f == k {
			return true
		}
	}
	return false
}

func readCatalog(t *testing.T, code string) map[string]message {
	t.Helper()
	data, err := fs.ReadFile(locales.Files, code+".toml")
	if err != nil {
		t.Fatalf("%s: %v", code, err)
	}
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		t.Fatalf("%s.toml: %v", code, err)
	}
	out := map[string]message{}
	for id, v := range raw {
		switch v := v.(type) {
		case string:
			out[id] = message{forms: map[string]string{"other": v}}
		case map[string]any:
			m := message{forms: map[string]string{}}
			for k, s := range v {
				if k == "description" || k == "hash" {
					continue
				}
				if !isForm(k) {
					t.Errorf("%s.toml: table [%s] holds %q, which is not a plural form: in TOML every key after a [table] header belongs to it, so keep plural tables at the end of the file", code, id, k)
					continue
				}
				str, ok := s.(string)
				if !ok {
					t.Errorf("%s.toml: %s.%s is not a string", code, id, k)
					continue
				}
				m.forms[k] = str
			}
			out[id] = m
		default:
			t.Errorf("%s.toml: %s has unexpected type %T", code, id, v)
		}
	}
	return out
}

// cldrForms returns the plural categories a language uses for whole numbers
// (required) and for any number (allowed). Required forms come from go-i18n
// itself, which picks the form at run time: a probe message with all six
// forms reveals which one it chooses for each count. The CLDR rules of x/text
// add the forms used only for decimals, which a translator may give.
func cldrForms(code string) (required, allowed map[string]bool) {
	required, allowed = map[string]bool{}, map[string]bool{}
	b := goi18n.NewBundle(language.English)
	probe := &goi18n.Message{ID: "probe", Zero: "zero", One: "one", Two: "two", Few: "few", Many: "many", Other: "other"}
	if err := b.AddMessages(language.MustParse(code), probe); err != nil {
		panic(err)
	}
	loc := goi18n.NewLocalizer(b, code)
	for n := 0; n <= 2_000_000; n = next(n) {
		form, err := loc.Localize(&goi18n.LocalizeConfig{MessageID: "probe", PluralCount: n})
		if err != nil {
			panic(err)
		}
		required[form] = true
		allowed[form] = true
	}
	tag := language.MustParse(code)
	names := map[plural.Form]string{plural.Zero: "zero", plural.One: "one", plural.Two: "two", plural.Few: "few", plural.Many: "many", plural.Other: "other"}
	for n := 0; n <= 200; n++ { // decimals such as 1.5 (v=1, f=5)
		for _, frac := range []int{1, 5} {
			f := plural.Cardinal.MatchPlural(tag, n, 1, 1, frac, frac)
			allowed[names[f]] = true
		}
	}
	return required, allowed
}

func next(n int) int {
	if n < 2000 {
		return n + 1
	}
	return n * 10
}

var placeholder = regexp.MustCompile(`\{\{\s*\.(\w+)\s*\}\}`)

func placeholders(m message) []string {
	set := map[string]bool{}
	for _, s := range m.forms {
		for _, p := range placeholder.FindAllStringSubmatch(s, -1) {
			set[p[1]] = true
		}
	}
	var out []string
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func TestEveryLanguageHasEveryMessage(t *testing.T) {
	en := readCatalog(t, "en")
	if len(en) == 0 {
		t.Fatal("the English catalog is empty")
	}
	for _, l := range i18n.Languages {
		cat := readCatalog(t, l.Code)
		for id := range en {
			m, ok := cat[id]
			if !ok {
				t.Errorf("%s.toml: missing %q", l.Code, id)
				continue
			}
			for form, s := range m.forms {
				if strings.TrimSpace(s) == "" {
					t.Errorf("%s.toml: %s.%s is empty", l.Code, id, form)
				}
			}
		}
		for id := range cat {
			if _, ok := en[id]; !ok {
				t.Errorf("%s.toml: %q is not in the English catalog", l.Code, id)
			}
		}
	}
}

func TestPluralMessagesHaveTheLanguagesCLDRForms(t *testing.T) {
	en := readCatalog(t, "en")
	for _, l := range i18n.Languages {
		cat := readCatalog(t, l.Code)
		required, allowed := cldrForms(l.Code)
		for id, src := range en {
			if !src.plural() {
				continue
			}
			m, ok := cat[id]
			if !ok {
				continue // reported by TestEveryLanguageHasEveryMessage
			}
			for _, f := range formNames {
				if required[f] && m.forms[f] == "" {
					t.Errorf("%s.toml: %s lacks plural form %q", l.Code, id, f)
				}
				if m.forms[f] != "" && !allowed[f] {
					t.Errorf("%s.toml: %s has plural form %q, which %s does not use", l.Code, id, f, l.Code)
				}
			}
		}
	}
}

func TestTranslationsUseTheSamePlaceholders(t *testing.T) {
	en := readCatalog(t, "en")
	for _, l := range i18n.Languages {
		cat := readCatalog(t, l.Code)
		for id, src := range en {
			m, ok := cat[id]
			if !ok {
				continue
			}
			want, got := placeholders(src), placeholders(m)
			if src.plural() {
				want = without(want, "Count")
				got = without(got, "Count")
			}
			if fmt.Sprint(want) != fmt.Sprint(got) {
				t.Errorf("%s.toml: %s has placeholders %v, English has %v", l.Code, id, got, want)
			}
		}
	}
}

func without(list []string, s string) []string {
	var out []string
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

func TestEveryPluralMessageLocalizesForEveryCount(t *testing.T) {
	cat, err := i18n.Load(locales.Files)
	if err != nil {
		t.Fatal(err)
	}
	en := readCatalog(t, "en")
	for _, l := range i18n.Languages {
		loc := cat.Localizer(l.Code)
		for id, src := range en {
			if !src.plural() {
				continue
			}
			for _, n := range []int{0, 1, 2, 3, 4, 5, 7, 11, 12, 21, 22, 25, 101, 1000000} {
				if s := loc.N(id, n); s == strings.ReplaceAll(id, "_", " ") || strings.Contains(s, "<no value>") {
					t.Errorf("%s: %s(%d) = %q", l.Code, id, n, s)
				}
			}
		}
	}
}
