// Package i18n negotiates the user's language and looks up translated
// strings. Catalogs are go-i18n TOML files, one per language, with CLDR plural
// forms; English is the source language and the fallback.
package i18n

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/BurntSushi/toml"
	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

// Language is one of the supported UI languages.
type Language struct {
	Code string // e.g. "pl"
	Name string // the language's name in itself, e.g. "polski"
	Dir  string // "ltr" (every supported language today)
}

// Languages are the 24 official EU languages plus Icelandic and Norwegian,
// in the order of their codes.
var Languages = []Language{
	{"bg", "български", "ltr"}, {"cs", "čeština", "ltr"}, {"da", "dansk", "ltr"},
	{"de", "Deutsch", "ltr"}, {"el", "ελληνικά", "ltr"}, {"en", "English", "ltr"},
	{"es", "español", "ltr"}, {"et", "eesti", "ltr"}, {"fi", "suomi", "ltr"},
	{"fr", "français", "ltr"}, {"ga", "Gaeilge", "ltr"}, {"hr", "hrvatski", "ltr"},
	{"hu", "magyar", "ltr"}, {"is", "íslenska", "ltr"}, {"it", "italiano", "ltr"},
	{"lt", "lietuvių", "ltr"}, {"lv", "latviešu", "ltr"}, {"mt", "Malti", "ltr"},
	{"nl", "Nederlands", "ltr"}, {"no", "norsk", "ltr"}, {"pl", "polski", "ltr"},
	{"pt", "português", "ltr"}, {"ro", "română", "ltr"}, {"sk", "slovenčina", "ltr"},
	{"sl", "slovenščina", "ltr"}, {"sv", "svenska", "ltr"},
}

// Default is the language used when nothing else matches.
const Default = "en"

// Supported reports whether code is one of the 26 languages.
func Supported(code string) bool {
	for _, l := range Languages {
		if l.Code == code {
			return true
		}
	}
	return false
}

// Catalog holds every language's messages.
type Catalog struct {
	bundle  *goi18n.Bundle
	matcher language.Matcher
	tags    []language.Tag
	loc     map[string]*Localizer
}

// Load reads <code>.toml for every supported language from fsys. A missing
// catalog is an error; missing keys fall back to English at run time (and
// fail the catalog tests).
func Load(fsys fs.FS) (*Catalog, error) {
	b := goi18n.NewBundle(language.English)
	b.RegisterUnmarshalFunc("toml", toml.Unmarshal)
	c := &Catalog{bundle: b, loc: map[string]*Localizer{}}
	for _, l := range Languages {
		data, err := fs.ReadFile(fsys, l.Code+".toml")
		if err != nil {
			return nil, fmt.Errorf("i18n: catalog for %s: %w", l.Code, err)
		}
		if _, err := b.ParseMessageFileBytes(data, path.Join("locales", l.Code+".toml")); err != nil {
			return nil, fmt.Errorf("i18n: %s.toml: %w", l.Code, err)
		}
		c.tags = append(c.tags, language.MustParse(l.Code))
	}
	// English first: the matcher falls back to its first tag.
	tags := append([]language.Tag{language.English}, c.tags...)
	c.matcher = language.NewMatcher(tags)
	for _, l := range Languages {
		c.loc[l.Code] = &Localizer{lang: l, l: goi18n.NewLocalizer(b, l.Code, Default)}
	}
	return c, nil
}

// Negotiate picks the UI language: the user's profile setting when it is
// supported, else the best match for the Accept-Language header, else
// English.
func (c *Catalog) Negotiate(profile, acceptLanguage string) string {
	if Supported(profile) {
		return profile
	}
	if acceptLanguage == "" {
		return Default
	}
	desired := parseAcceptLanguage(acceptLanguage)
	if len(desired) == 0 {
		return Default
	}
	for i, t := range desired {
		// Norwegian Bokmål and Nynorsk are served in Norwegian.
		if base, _ := t.Base(); base.String() == "nb" || base.String() == "nn" {
			desired[i] = language.Norwegian
		}
	}
	_, index, conf := c.matcher.Match(desired...)
	if conf == language.No || index == 0 {
		return Default
	}
	return Languages[index-1].Code
}

// parseAcceptLanguage returns the header's languages by preference. Unlike
// language.ParseAcceptLanguage it skips an entry it cannot parse (an unknown
// or malformed tag) instead of rejecting the whole header.
func parseAcceptLanguage(header string) []language.Tag {
	if tags, _, err := language.ParseAcceptLanguage(header); err == nil {
		return tags
	}
	type entry struct {
		tag language.Tag
		q   float64
	}
	var entries []entry
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		t, err := language.Parse(strings.TrimSpace(name))
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if _, err := fmt.Sscanf(v, "%g", &q); err != nil {
				continue
			}
		}
		if q > 0 {
			entries = append(entries, entry{t, q})
		}
	}
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].q > entries[j].q })
	tags := make([]language.Tag, len(entries))
	for i, e := range entries {
		tags[i] = e.tag
	}
	return tags
}

// Localizer returns the localizer for a supported language code, or
// English's.
func (c *Catalog) Localizer(code string) *Localizer {
	if l, ok := c.loc[code]; ok {
		return l
	}
	return c.loc[Default]
}

// Localizer translates messages into one language.
type Localizer struct {
	lang Language
	l    *goi18n.Localizer
	// plain holds the messages translated without arguments, id → text:
	// a page asks for dozens of them, and the catalog never changes
	// while the server runs.
	plain sync.Map
}

// Lang returns the language's code, for the lang attribute.
func (l *Localizer) Lang() string { return l.lang.Code }

// Dir returns the text direction, for the dir attribute.
func (l *Localizer) Dir() string { return l.lang.Dir }

// T translates message id. args are alternating names and values for the
// message's placeholders: T("signin.locked", "Minutes", 5).
func (l *Localizer) T(id string, args ...any) string {
	return l.translate(id, nil, args)
}

// N translates a message with plural forms chosen by count, which is also
// available to the message as {{.Count}}.
func (l *Localizer) N(id string, count int, args ...any) string {
	return l.translate(id, count, append(args, "Count", count))
}

func (l *Localizer) translate(id string, count any, args []any) string {
	if count == nil && len(args) == 0 {
		if s, ok := l.plain.Load(id); ok {
			return s.(string)
		}
		s, known := l.localize(id, nil, nil)
		if known { // an unknown id (from a URL, say) is not kept
			l.plain.Store(id, s)
		}
		return s
	}
	var data map[string]any
	if len(args) > 0 {
		data = make(map[string]any, len(args)/2)
		for i := 0; i+1 < len(args); i += 2 {
			data[fmt.Sprint(args[i])] = args[i+1]
		}
	}
	s, _ := l.localize(id, count, data)
	return s
}

// localize translates a message and reports whether the catalog has it.
func (l *Localizer) localize(id string, count any, data map[string]any) (string, bool) {
	s, err := l.l.Localize(&goi18n.LocalizeConfig{MessageID: id, TemplateData: data, PluralCount: count})
	if err != nil || s == "" {
		// A missing message shows its id rather than nothing; the
		// catalog tests keep this from reaching a release.
		return strings.ReplaceAll(id, "_", " "), false
	}
	return s, true
}
