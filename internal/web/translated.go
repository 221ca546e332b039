package web

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io"
	"strings"
	"sync"
	texttemplate "text/template"
	"text/template/parse"

	"github.com/openimi/openimi/internal/i18n"
)

// Pages are rendered from template sets translated in advance, one per
// language holding every page. In a set, every action that prints a fixed message
// of the page's localizer ({{t .L "key"}}, {{t $.L "key"}}, {{lang .L}},
// {{dir .L}}) is replaced by its text, escaped as html/template would have
// escaped it there. html/template calls each function of an action and
// each of its escapers through reflection, and a page has dozens of such
// messages: its layout alone about 35 (a third of the rendering of a
// request's page, bench: BenchmarkRender).
//
// Only actions that print into HTML text, a quoted attribute or RCDATA
// (the page title) are replaced: html/template escapes a string the same
// way in all three. Anything else (a URL, a message with arguments, a key
// computed at run time, a partial template's localizer) is left to run.
// The catalog never changes while the server runs, so the text is the
// same as the action's.

// fixedEscapers are html/template's escapers that, for a string, all
// escape as HTML text does.
var fixedEscapers = map[string]bool{
	"_html_template_htmlescaper":   true,
	"_html_template_attrescaper":   true,
	"_html_template_rcdataescaper": true,
}

// htmlText escapes s as html/template escapes a string in HTML text.
var htmlText = template.Must(template.New("text").Parse("{{.}}"))

var errNoSet = errors.New("web: the templates of this language could not be made")

// translatedSet is the set of one language, made at its first page.
type translatedSet struct {
	once sync.Once
	t    *template.Template
	err  error

	kept sync.Map // a key → *keptHTML (keep)
}

// keptHTML is a part of pages that is the same on every page of a
// language, made once.
type keptHTML struct {
	once sync.Once
	html template.HTML
	err  error
}

// keep returns the HTML that build makes for key in loc's language, made
// at its first page and kept. Keys are a fixed few (selectOptions, nav),
// so what is kept is bounded.
func (s *Server) keep(loc *i18n.Localizer, key string, build func() (template.HTML, error)) (template.HTML, error) {
	ts, err := s.setOf(loc)
	if err != nil {
		return "", err
	}
	v, ok := ts.kept.Load(key)
	if !ok {
		v, _ = ts.kept.LoadOrStore(key, &keptHTML{})
	}
	k := v.(*keptHTML)
	k.once.Do(func() { k.html, k.err = build() })
	return k.html, k.err
}

// renderPart renders template name of loc's set with data, as HTML to
// put in a page.
func (s *Server) renderPart(loc *i18n.Localizer, name string, data any) (template.HTML, error) {
	t, err := s.pagesIn(loc)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	err = t.ExecuteTemplate(&b, name, data)
	return template.HTML(b.String()), err // #nosec G203 -- made by html/template, which escaped every value
}

// selectOptions returns the options of a select that are the same on every
// page in loc's language (countries, competences, the inbox's states), rendered by the
// template name from data() with current chosen. With none chosen, as on
// nearly every page, they are rendered once per language and kept: a list
// of hundreds of options was half of a search page's processor time. name
// is one of a fixed few, so what is kept is bounded.
func (s *Server) selectOptions(loc *i18n.Localizer, name, current string, data func() any) (template.HTML, error) {
	render := func() (template.HTML, error) {
		return s.renderPart(loc, name, map[string]any{"List": data(), "Current": current})
	}
	if current != "" {
		return render()
	}
	return s.keep(loc, name, render)
}

// navSections are the sections of the site's navigation: a page is in
// the first whose path is its own, or, for a prefix, begins it.
var navSections = []struct {
	path   string
	prefix bool
}{{"/", false}, {"/notifications", true}, {"/requests", true}, {"/alerts", true}, {"/measures", true}, {"/authorities", true},
	{"/registers", true}, {"/statistics", true}, {"/areas", true}, {"/profile", false}, {"/help", false}}

// nav returns the site's navigation in loc's language for a page at path,
// its section marked as the current page. It is made once for each
// section and language, and kept: it was a dozen calls through reflection
// on every page.
func (s *Server) nav(loc *i18n.Localizer, path string) (template.HTML, error) {
	current := ""
	for _, sec := range navSections {
		if sec.path == path || sec.prefix && strings.HasPrefix(path, sec.path) {
			current = sec.path
			break
		}
	}
	return s.keep(loc, "nav "+current, func() (template.HTML, error) {
		return s.renderPart(loc, "nav", map[string]any{"L": loc, "Current": current})
	})
}

// setOf returns the translated set of loc's language, made or not.
func (s *Server) setOf(loc *i18n.Localizer) (*translatedSet, error) {
	ts := s.translated[loc.Lang()]
	if ts == nil {
		return nil, fmt.Errorf("web: no templates for language %q", loc.Lang())
	}
	return ts, nil
}

// pagesIn returns the set pages in loc's language are rendered from.
func (s *Server) pagesIn(loc *i18n.Localizer) (*template.Template, error) {
	ts, err := s.setOf(loc)
	if err != nil {
		return nil, err
	}
	ts.once.Do(func() {
		// Should translate panic, the language stays without a set
		// rather than with a nil one.
		ts.err = errNoSet
		t, _, err := translate(s.templates, s.pages, loc, true)
		if err != nil {
			ts.err = fmt.Errorf("web: templates in %s: %w", loc.Lang(), err)
			return
		}
		ts.t, ts.err = t, nil
	})
	return ts.t, ts.err
}

// translate clones src, has html/template escape the layout and every
// page of the clone, and, if fixed, writes the fixed messages of loc into
// them. It returns the clone and how many actions it replaced.
func translate(src *template.Template, pages map[string]bool, loc *i18n.Localizer, fixed bool) (*template.Template, int, error) {
	t, err := src.Clone()
	if err != nil {
		return nil, 0, err
	}
	// html/template escapes a template (and those it calls), rewriting
	// its actions' pipelines, the first time it executes; only that is
	// wanted here, so the data is an empty page and an error of the
	// execution that follows is not one.
	roots := []string{"layout_head", "layout_foot"}
	for name := range pages {
		roots = append(roots, pageTemplate(name))
	}
	for _, name := range roots {
		if t.Lookup(name) == nil {
			return nil, 0, fmt.Errorf("no template %q", name)
		}
		// An error of the execution itself is an ExecError; any other
		// (html/template's) means the template cannot be escaped.
		if err := t.ExecuteTemplate(io.Discard, name, page{L: loc}); err != nil {
			if ee := (texttemplate.ExecError{}); !errors.As(err, &ee) {
				return nil, 0, err
			}
		}
	}
	if !fixed {
		return t, 0, nil
	}
	n := 0
	for _, name := range roots {
		// In these, dot and $ are the page; in a partial they are
		// whatever its caller passed.
		if x := t.Lookup(name); x != nil && x.Tree != nil {
			n += translateList(x.Tree.Root, loc, true)
		}
	}
	return t, n, nil
}

// translateList replaces the fixed messages of list and what it contains.
// dotIsPage tells whether dot is the page there.
func translateList(list *parse.ListNode, loc *i18n.Localizer, dotIsPage bool) int {
	return replaceActions(list, dotIsPage, func(a *parse.ActionNode, _ parse.Node, dotIsPage bool) (string, bool) {
		return fixedText(a.Pipe, loc, dotIsPage)
	})
}

// replaceActions replaces each action of list, and of what it contains,
// for which text answers a text, with that text, and returns how many it
// replaced. text is given the node before the action (nil if none), and
// whether dot is the page there.
func replaceActions(list *parse.ListNode, dotIsPage bool, text func(a *parse.ActionNode, before parse.Node, dotIsPage bool) (string, bool)) int {
	if list == nil {
		return 0
	}
	n := 0
	for i, node := range list.Nodes {
		switch x := node.(type) {
		case *parse.ActionNode:
			var before parse.Node
			if i > 0 {
				before = list.Nodes[i-1]
			}
			if t, ok := text(x, before, dotIsPage); ok {
				list.Nodes[i] = &parse.TextNode{NodeType: parse.NodeText, Pos: x.Pos, Text: []byte(t)}
				n++
			}
		case *parse.IfNode:
			n += replaceActions(x.List, dotIsPage, text) + replaceActions(x.ElseList, dotIsPage, text)
		case *parse.RangeNode: // dot is each element, or unchanged in else
			n += replaceActions(x.List, false, text) + replaceActions(x.ElseList, dotIsPage, text)
		case *parse.WithNode: // dot is the value, or unchanged in else
			n += replaceActions(x.List, false, text) + replaceActions(x.ElseList, dotIsPage, text)
		case *parse.ListNode:
			n += replaceActions(x, dotIsPage, text)
		}
	}
	return n
}

// assetURLs writes, in every template of set, the address of each asset
// named by {{asset "name"}} in its place, before html/template escapes
// anything: as if the address were written in the template. The addresses
// are fixed when the server starts (static). Only an action that begins
// a quoted href or src attribute is replaced, where html/template would
// have printed such an address as it is, and only with an address of
// letters, digits and "/._-"; any other (in a script, say, where the
// escaped address would be a quoted string) is left to run. Each was four
// calls through reflection (the function and the URL's three escapers) on
// every page.
func assetURLs(set *template.Template, url func(string) string) error {
	var unknown error
	for _, t := range set.Templates() {
		if t.Tree == nil {
			continue
		}
		replaceActions(t.Tree.Root, false, func(a *parse.ActionNode, before parse.Node, _ bool) (string, bool) {
			p := a.Pipe
			if p == nil || len(p.Decl) > 0 || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 2 {
				return "", false
			}
			fn, ok := p.Cmds[0].Args[0].(*parse.IdentifierNode)
			name, isString := p.Cmds[0].Args[1].(*parse.StringNode)
			if !ok || fn.Ident != "asset" || !isString {
				return "", false
			}
			u := url(name.Text)
			if u == "" {
				unknown = fmt.Errorf("web: template %s: unknown asset %q", t.Name(), name.Text)
				return "", false
			}
			text, ok := before.(*parse.TextNode)
			inURL := ok && (bytes.HasSuffix(text.Text, []byte(` href="`)) || bytes.HasSuffix(text.Text, []byte(` src="`)))
			if !inURL || strings.TrimLeft(u, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-") != "" {
				return "", false
			}
			return u, true
		})
	}
	return unknown
}

// fixedText returns the escaped text an action always prints in loc's
// language, if it is a fixed message of the page's localizer followed by
// one of fixedEscapers.
func fixedText(p *parse.PipeNode, loc *i18n.Localizer, dotIsPage bool) (string, bool) {
	if p == nil || len(p.Decl) > 0 || len(p.Cmds) != 2 || len(p.Cmds[1].Args) != 1 {
		return "", false
	}
	if esc, ok := p.Cmds[1].Args[0].(*parse.IdentifierNode); !ok || !fixedEscapers[esc.Ident] {
		return "", false
	}
	args := p.Cmds[0].Args
	fn, ok := args[0].(*parse.IdentifierNode)
	if !ok || len(args) < 2 || !pageLocalizer(args[1], dotIsPage) {
		return "", false
	}
	var text string
	switch {
	case fn.Ident == "t" && len(args) == 3:
		key, ok := args[2].(*parse.StringNode)
		if !ok {
			return "", false
		}
		text = loc.T(key.Text)
	case fn.Ident == "lang" && len(args) == 2:
		text = loc.Lang()
	case fn.Ident == "dir" && len(args) == 2:
		text = loc.Dir()
	default:
		return "", false
	}
	var b strings.Builder
	if err := htmlText.Execute(&b, text); err != nil {
		return "", false
	}
	return b.String(), true
}

// pageLocalizer tells whether n is the page's localizer: $.L, or .L where
// dot is the page.
func pageLocalizer(n parse.Node, dotIsPage bool) bool {
	switch x := n.(type) {
	case *parse.VariableNode:
		return len(x.Ident) == 2 && x.Ident[0] == "$" && x.Ident[1] == "L"
	case *parse.FieldNode:
		return dotIsPage && len(x.Ident) == 1 && x.Ident[0] == "L"
	}
	return false
}
