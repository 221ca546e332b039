package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html"
	"html/template"
	"mime/multipart"
	"net/http"
	netmail "net/mail"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/notify"
	"github.com/openimi/openimi/internal/stats"
	"github.com/openimi/openimi/internal/testkit"
)

// xssLangs are the UI languages every page is read in: English, German
// (umlauts), Greek and Bulgarian (Cyrillic). No official EU language is
// written right to left; the corpus brings Arabic and Hebrew.
var xssLangs = []string{"en", "de", "el", "bg"}

// xssMarker is in every payload that could become markup.
const xssMarker = "imixss"

// xssPayload is one line of testdata/xss/payloads.txt.
type xssPayload struct {
	cat, text string
	line      int
}

func (p xssPayload) String() string { return fmt.Sprintf("payload %s:%d", p.cat, p.line) }

// trimmed is the payload as a form stores it (surrounding space removed).
func (p xssPayload) trimmed() string { return strings.TrimSpace(p.text) }

func loadXSSCorpus(t *testing.T) []xssPayload {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "xss", "payloads.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []xssPayload
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		cat, rest, _ := strings.Cut(line, " ")
		count := 1
		if r, ok := strings.CutPrefix(rest, "repeat "); ok {
			c, lit, _ := strings.Cut(r, " ")
			if count, err = strconv.Atoi(c); err != nil {
				t.Fatalf("payloads.txt:%d: %v", n, err)
			}
			rest = lit
		}
		text, err := strconv.Unquote(rest)
		if err != nil {
			t.Fatalf("payloads.txt:%d: %v", n, err)
		}
		out = append(out, xssPayload{cat: cat, text: strings.Repeat(text, count), line: n})
	}
	if len(out) < 50 {
		t.Fatalf("only %d payloads", len(out))
	}
	return out
}

// ---- what a safe rendering is ----

// htmlAttr is an attribute as a browser would read it.
type htmlAttr struct {
	name, value string
	quoted      bool
}

// urlAttrs hold URLs a browser follows or loads.
var urlAttrs = map[string]bool{"href": true, "src": true, "action": true, "formaction": true, "xlink:href": true, "poster": true,
	"data": true, "background": true, "cite": true, "ping": true, "srcset": true}

// htmlProblems reads a page as a browser's tokenizer would (tags,
// attributes, raw-text elements) and names every place where data became
// markup: the marker in a tag or attribute name, in an unquoted value, in
// an event handler, style or srcdoc, in a comment or inside a script or
// style element; any event handler attribute (the CSP forbids them, so
// the templates have none); any script-capable URL.
func htmlProblems(body string) []string {
	var bad []string
	for i := 0; i < len(body); {
		lt := strings.IndexByte(body[i:], '<')
		if lt < 0 {
			break
		}
		i += lt
		rest := body[i:]
		if strings.HasPrefix(rest, "<!--") {
			end := strings.Index(rest, "-->")
			if end < 0 {
				end = len(rest) - 3
			}
			if strings.Contains(rest[:end+3], xssMarker) {
				bad = append(bad, "marker in a comment")
			}
			i += end + 3
			continue
		}
		if len(rest) < 2 || !(isASCIILetter(rest[1]) || rest[1] == '/' || rest[1] == '!' || rest[1] == '?') {
			i++ // a '<' that starts no tag is text
			continue
		}
		name, attrs, closing, n := parseTag(rest)
		i += n
		if strings.Contains(name, xssMarker) {
			bad = append(bad, "marker in a tag name: <"+name)
		}
		for _, a := range attrs {
			bad = append(bad, attrProblems(name, a)...)
		}
		if !closing && (name == "script" || name == "style") {
			end := strings.Index(strings.ToLower(body[i:]), "</"+name)
			if end < 0 {
				end = len(body) - i
			}
			if strings.Contains(body[i:i+end], xssMarker) {
				bad = append(bad, "marker inside <"+name+">")
			}
			i += end
		}
	}
	return bad
}

func attrProblems(tag string, a htmlAttr) []string {
	var bad []string
	name := strings.ToLower(a.name)
	if strings.Contains(name, xssMarker) {
		bad = append(bad, fmt.Sprintf("marker in an attribute name of <%s>: %s", tag, a.name))
	}
	if strings.HasPrefix(name, "on") {
		bad = append(bad, fmt.Sprintf("event handler attribute on <%s>: %s=%.60q", tag, a.name, a.value))
	}
	if strings.Contains(a.value, xssMarker) {
		switch {
		case !a.quoted:
			bad = append(bad, fmt.Sprintf("marker in an unquoted attribute of <%s>: %s=%.60q", tag, a.name, a.value))
		case name == "style" || name == "srcdoc":
			bad = append(bad, fmt.Sprintf("marker in <%s %s>", tag, name))
		}
	}
	if urlAttrs[name] {
		v := strings.ToLower(strings.Map(func(r rune) rune {
			if r <= ' ' {
				return -1
			}
			return r
		}, html.UnescapeString(a.value)))
		for _, scheme := range []string{"javascript:", "vbscript:", "data:"} {
			// The layout's empty icon and the enrolment QR code are inert.
			if strings.HasPrefix(v, scheme) && v != "data:," && !strings.HasPrefix(v, "data:image/png;base64,") {
				bad = append(bad, fmt.Sprintf("%s URL in <%s %s>", scheme, tag, name))
			}
		}
	}
	return bad
}

func isASCIILetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

// parseTag reads the tag at the start of s ("<...>") and returns its
// lower-cased name, attributes, whether it closes, and its length.
func parseTag(s string) (name string, attrs []htmlAttr, closing bool, n int) {
	j := 1
	if s[j] == '!' || s[j] == '?' { // a declaration: up to '>'
		end := strings.IndexByte(s, '>')
		if end < 0 {
			return "!", nil, false, len(s)
		}
		return "!", []htmlAttr{{name: "declaration", value: s[:end], quoted: !strings.Contains(s[:end], xssMarker)}}, false, end + 1
	}
	if s[j] == '/' {
		closing = true
		j++
	}
	start := j
	for j < len(s) && !isSpace(s[j]) && s[j] != '/' && s[j] != '>' {
		j++
	}
	name = strings.ToLower(s[start:j])
	for j < len(s) {
		for j < len(s) && (isSpace(s[j]) || s[j] == '/') {
			j++
		}
		if j >= len(s) {
			break
		}
		if s[j] == '>' {
			j++
			break
		}
		start := j
		j++ // an attribute name may start with '='
		for j < len(s) && !isSpace(s[j]) && s[j] != '/' && s[j] != '>' && s[j] != '=' {
			j++
		}
		a := htmlAttr{name: s[start:j]}
		k := j
		for k < len(s) && isSpace(s[k]) {
			k++
		}
		if k < len(s) && s[k] == '=' {
			j = k + 1
			for j < len(s) && isSpace(s[j]) {
				j++
			}
			if j < len(s) && (s[j] == '"' || s[j] == '\'') {
				q := s[j]
				end := strings.IndexByte(s[j+1:], q)
				if end < 0 {
					end = len(s) - j - 1
				}
				a.value, a.quoted = s[j+1:j+1+end], true
				j += end + 2
			} else {
				vs := j
				for j < len(s) && !isSpace(s[j]) && s[j] != '>' {
					j++
				}
				a.value = s[vs:j]
			}
		}
		attrs = append(attrs, a)
	}
	return name, attrs, closing, min(j, len(s))
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

// formulaCell reports a CSV cell a spreadsheet would run as a formula.
func formulaCell(v string) bool { return v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) }

// ---- the run ----

// xssRun feeds the corpus through one site and counts what it checked.
type xssRun struct {
	t        *testing.T
	s        *site
	payloads []xssPayload
	coord    *matrixUser // national coordinator of Germany
	handler  *matrixUser // German authority: requests, alerts, its data
	resp     *matrixUser // Polish authority: answers requests
	ec       *matrixUser // the Commission: statistics per authority
	deNC     *authorities.Authority
	de, pl   *authorities.Authority

	renders   map[string]int  // rendering → checks made
	fields    map[string]bool // "form input" → the corpus went into it
	accepted  map[string]int  // field → payloads stored
	refused   map[string]int  // field → payloads refused with a message
	inputs    map[string]string
	failures  int
	kinds     map[string]int        // problems per message format
	turn      int                   // the language of the next page read (xssLangs)
	authNames map[string]xssPayload // authority id → payload in its name
}

// fail reports a problem: the first few of each kind, then only counts.
func (x *xssRun) fail(format string, args ...any) {
	x.t.Helper()
	x.failures++
	x.kinds[format]++
	if x.kinds[format] <= 5 {
		x.t.Errorf(format, args...)
	}
}

func (x *xssRun) count(rendering string) { x.renders[rendering]++ }

var textInputRe = regexp.MustCompile(`<(input|textarea)\b[^>]*>`)
var nameAttrRe = regexp.MustCompile(`\bname="([^"]+)"`)
var typeAttrRe = regexp.MustCompile(`\btype="([^"]+)"`)

// noteInputs records the free-text inputs of a page's forms, for the
// check that the corpus went into each.
func (x *xssRun) noteInputs(where, body string) {
	for _, m := range textInputRe.FindAllStringSubmatch(body, -1) {
		typ := "text"
		if t := typeAttrRe.FindStringSubmatch(m[0]); t != nil {
			typ = t[1]
		}
		if m[1] == "textarea" {
			typ = "textarea"
		}
		switch typ {
		case "text", "search", "email", "url", "tel", "textarea":
		default:
			continue
		}
		if n := nameAttrRe.FindStringSubmatch(m[0]); n != nil {
			if _, seen := x.inputs[n[1]]; !seen {
				x.inputs[n[1]] = where
			}
		}
	}
}

// page checks one HTML response: no server error, nothing the payload
// turned into markup, the payload never verbatim where it holds
// characters that escaping changes, and (shown) the payload readable in
// the page, unchanged.
func (x *xssRun) page(desc string, r response, p xssPayload, shown bool) {
	x.t.Helper()
	if r.code >= 500 {
		x.fail("%s, %s: %d", desc, p, r.code)
		return
	}
	if r.code >= 300 && r.code < 400 {
		if loc := r.location(); !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") {
			x.fail("%s, %s: redirect off the site to %q", desc, p, loc)
		}
		return
	}
	x.count("html")
	x.noteInputs(desc, r.body)
	for _, b := range htmlProblems(r.body) {
		x.fail("%s, %s: %s", desc, p, b)
	}
	if strings.ContainsAny(p.trimmed(), `<>"'&`) && strings.Contains(r.body, p.trimmed()) {
		x.fail("%s, %s: the payload is in the page unescaped", desc, p)
	}
	if shown && !strings.Contains(html.UnescapeString(r.body), p.trimmed()) {
		x.fail("%s, %s: the page does not show the value as typed", desc, p)
	}
}

// get reads a page in one language, the next of xssLangs at each call:
// over the corpus, each kind of page is read in all of them.
func (x *xssRun) get(u *matrixUser, path string, p xssPayload, shown bool) {
	x.t.Helper()
	x.turn++
	x.read(u, path, p, shown, xssLangs[x.turn%len(xssLangs)])
}

// getAll reads a page in every language.
func (x *xssRun) getAll(u *matrixUser, path string, p xssPayload) {
	x.t.Helper()
	x.read(u, path, p, false, xssLangs...)
}

func (x *xssRun) read(u *matrixUser, path string, p xssPayload, shown bool, langs ...string) {
	x.t.Helper()
	for _, lang := range langs {
		u.b.lang = lang
		r := u.b.get(path)
		if r.code != http.StatusOK {
			x.fail("GET %s as %s in %s, %s: %d", path, u.name, lang, p, r.code)
		}
		x.page("GET "+path+" in "+lang, r, p, shown)
	}
	u.b.lang = ""
}

// json checks an API response: JSON by content type, not sniffable, and
// (shown) the value among its strings unchanged.
func (x *xssRun) json(desc string, r response, p xssPayload, shown bool) {
	x.t.Helper()
	x.count("json")
	if r.code >= 500 {
		x.fail("%s, %s: %d", desc, p, r.code)
		return
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") || r.header.Get("X-Content-Type-Options") != "nosniff" {
		x.fail("%s: Content-Type %q, X-Content-Type-Options %q", desc, ct, r.header.Get("X-Content-Type-Options"))
	}
	var v any
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		x.fail("%s, %s: not JSON: %v", desc, p, err)
		return
	}
	if shown && !slices.Contains(jsonStrings(v, nil), p.trimmed()) {
		x.fail("%s, %s: the value is not in the JSON as typed", desc, p)
	}
}

func jsonStrings(v any, out []string) []string {
	switch v := v.(type) {
	case string:
		out = append(out, v)
	case []any:
		for _, e := range v {
			out = jsonStrings(e, out)
		}
	case map[string]any:
		for _, e := range v {
			out = jsonStrings(e, out)
		}
	}
	return out
}

// csv checks a CSV export: it parses, and no cell starts a formula.
func (x *xssRun) csv(desc string, data []byte) [][]string {
	x.t.Helper()
	x.count("csv")
	cr := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte("\ufeff"))))
	cr.FieldsPerRecord = -1
	records, err := cr.ReadAll()
	if err != nil {
		x.fail("%s: not CSV: %v", desc, err)
		return nil
	}
	for i, rec := range records {
		for j, cell := range rec {
			if formulaCell(cell) {
				x.fail("%s: line %d, column %d starts a formula: %.60q", desc, i+1, j+1, cell)
			}
		}
	}
	return records
}

// withPayload is a copy of the form base with the payload in fields.
func withPayload(base url.Values, fields []string, p xssPayload) url.Values {
	form := url.Values{}
	for k, v := range base {
		form[k] = slices.Clone(v)
	}
	for _, f := range fields {
		form.Set(f, p.text)
	}
	return form
}

// submit posts a form with the payload in every one of fields. Where the
// site refuses it, the refused fields (named by the page's errors) get
// their ordinary values back and the form goes again, so that the other
// fields still carry the payload. It returns the last answer and the
// fields that carried the payload into it.
func (x *xssRun) submit(u *matrixUser, path string, base url.Values, fields []string, p xssPayload) (response, []string, bool) {
	x.t.Helper()
	live := slices.Clone(fields)
	for {
		r := u.b.post(path, withPayload(base, live, p))
		x.page("POST "+path, r, p, false)
		key := strings.Trim(idRe.ReplaceAllString(path, "{id}"), "/")
		switch {
		case r.code == http.StatusSeeOther || r.code == http.StatusOK:
			for _, f := range live {
				x.fields[key+" "+f] = true
				x.accepted[key+" "+f]++
			}
			return r, live, true
		case r.code == http.StatusRequestEntityTooLarge && len(live) > 0:
			// The form's limit on any one field: refused whole.
			for _, f := range live {
				x.fields[key+" "+f] = true
				x.refused[key+" "+f]++
			}
			live = nil
			continue
		case r.code != http.StatusBadRequest:
			x.fail("POST %s as %s, %s: %d %.200s", path, u.name, p, r.code, errorTexts(r.body))
			return r, nil, false
		}
		if len(live) == 0 {
			x.fail("POST %s: refused without the payload: %.300s", path, errorTexts(r.body))
			return r, nil, false
		}
		var named []string
		for _, m := range errorIDRe.FindAllStringSubmatch(r.body, -1) {
			if slices.Contains(live, m[1]) {
				named = append(named, m[1])
			}
		}
		if len(named) == 0 {
			named = live[len(live)-1:]
		}
		for _, f := range named {
			x.fields[key+" "+f] = true
			x.refused[key+" "+f]++
		}
		live = slices.DeleteFunc(live, func(f string) bool { return slices.Contains(named, f) })
	}
}

var idRe = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f-]{27}`)
var errorIDRe = regexp.MustCompile(`id="f-([^"]+)-error"`)
var feedbackRe = regexp.MustCompile(`class="ecl-feedback-message"[^>]*>([^<]*)<`)

func errorTexts(body string) string {
	var out []string
	for _, m := range feedbackRe.FindAllStringSubmatch(body, -1) {
		out = append(out, html.UnescapeString(m[1]))
	}
	return strings.Join(out, " | ")
}

// act fires an action of a request or case with the payload as its
// comment; refused, the action goes with an ordinary comment so that the
// exchange can go on.
func (x *xssRun) act(u *matrixUser, path string, field string, p xssPayload) {
	x.t.Helper()
	if field != "" {
		x.submit(u, path, url.Values{field: {"An ordinary comment."}}, []string{field}, p)
		return
	}
	if r := u.b.post(path, url.Values{}); r.code != http.StatusSeeOther {
		x.fail("POST %s as %s: %d %.300s", path, u.name, r.code, errorTexts(r.body))
	}
}

// TestTheXSSCorpusIsEscapedInEveryRendering feeds every payload of
// testdata/xss/payloads.txt into every free-text field of the UI's forms
// (authorities, members, requests with their comments, answers and
// attachments, alerts, notifications of measures, registers, imports,
// searches, sign-in) and reads back every rendering of it: the HTML pages
// in four languages, the API's JSON, the e-mails through a real SMTP
// server, the CSV exports, the statistics' pages, exports, HTML report and
// PDF. Each payload is stored as typed and shown inert, or refused with a
// message; never a server error. A text input of a form that the corpus
// did not go into fails the test.
func TestTheXSSCorpusIsEscapedInEveryRendering(t *testing.T) {
	if testing.Short() {
		t.Skip("thousands of requests")
	}
	x := startXSSRun(t)
	started := time.Now()
	x.authorities()
	x.members()
	x.requests()
	x.broadcasts("alerts")
	x.broadcasts("measures")
	x.registers()
	x.apiWrites()
	x.searches()
	x.imports()
	x.exports()
	x.statistics()
	x.emails()
	x.coverage()
	var kinds []string
	total := 0
	for k, n := range x.renders {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
		total += n
	}
	sort.Strings(kinds)
	acc, ref := 0, 0
	for _, n := range x.accepted {
		acc += n
	}
	for _, n := range x.refused {
		ref += n
	}
	t.Logf("%d payloads × %d fields: %d stored, %d refused with a message; %d renderings checked (%s) in %v",
		len(x.payloads), len(x.fields), acc, ref, total, strings.Join(kinds, ", "), time.Since(started).Round(time.Second))
	if x.failures > 0 {
		t.Errorf("%d problems in all (the first five of each kind shown)", x.failures)
	}
}

func startXSSRun(t *testing.T) *xssRun {
	t.Helper()
	s := startSite(t)
	ctx := context.Background()
	x := &xssRun{t: t, s: s, payloads: loadXSSCorpus(t), renders: map[string]int{}, fields: map[string]bool{}, accepted: map[string]int{},
		refused: map[string]int{}, inputs: map[string]string{}, authNames: map[string]xssPayload{}, kinds: map[string]int{}}
	in := func(country, name string, kind authorities.Kind) *authorities.Authority {
		return registerWith(t, s, authorities.Input{Country: country, Name: name, Language: "de", Kind: kind, Areas: []string{"pq", "services"}})
	}
	x.deNC = in("DE", "Bundesministerium für Wirtschaft", authorities.NationalCoordinator)
	in("PL", "Ministerstwo Rozwoju", authorities.NationalCoordinator)
	x.de = in("DE", "Ärztekammer Berlin", authorities.CompetentAuthority)
	x.pl = in("PL", "Naczelna Izba Lekarska", authorities.CompetentAuthority)
	ec, err := s.app.Authorities.EnsureCommission(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// No profile language: each page is read in the Accept-Language asked.
	x.coord = s.matrixMember(t, "Koordinatorin", x.deNC, "coordinator@bmwk.de.example", "", authorities.Coordinator)
	x.handler = s.matrixMember(t, "Sachbearbeiter", x.de, "handler@aekb.de.example", "", authorities.RequestHandler, authorities.AlertHandler,
		authorities.LocalDataAdministrator)
	x.resp = s.matrixMember(t, "Piotr", x.pl, "piotr@nil.pl.example", "", authorities.Allocator, authorities.RequestHandler)
	x.ec = s.matrixMember(t, "Commission", ec, "grow@ec.example", "", authorities.Coordinator)
	for _, u := range []*matrixUser{x.coord, x.handler, x.resp, x.ec} {
		u.b.get("/profile") // the session's CSRF token
	}
	return x
}

// ---- the fields ----

// authorities: every text input of the authority form, by a coordinator;
// the profile, the form again, the history of a change and the API.
func (x *xssRun) authorities() {
	fields := []string{"name", "name_en", "acronym", "external_id", "region", "street", "postcode", "city", "email", "phone", "website", "description"}
	for i, p := range x.payloads {
		base := url.Values{"name": {fmt.Sprintf("Landesamt %d", i)}, "language": {"de"}, "country": {"DE"}, "role": {"competent_authority"},
			"areas": {"pq"}, "external_id": {fmt.Sprintf("xss-%d", i)}, "email": {"amt@example.de"}, "website": {"https://amt.example.de"}}
		r, used, ok := x.submit(x.coord, "/authorities/new", base, fields, p)
		if !ok {
			continue // refused with a message
		}
		id := strings.TrimPrefix(r.location(), "/authorities/")
		named := slices.Contains(used, "name")
		if named {
			x.authNames[id] = p
		}
		x.get(x.coord, "/authorities/"+id, p, named)
		x.get(x.coord, "/authorities/"+id+"/edit", p, named)
		x.json("GET /api/v1/authorities/"+id, x.s.api(x.t, "GET", "/api/v1/authorities/"+id, x.coord.token, ""), p, named)
		// A change keeps the old value in the history.
		form := withPayload(base, used, p)
		form.Set("city", "Bonn")
		form.Set("region", "Nordrhein-Westfalen")
		if r := x.coord.b.post("/authorities/"+id+"/edit", form); r.code != http.StatusSeeOther {
			x.fail("edit authority %s, %s: %d %.200s", id, p, r.code, errorTexts(r.body))
		}
		x.get(x.coord, "/authorities/"+id+"/history", p, slices.Contains(used, "city"))
		x.json("GET /api/v1/authorities/"+id+"/history", x.s.api(x.t, "GET", "/api/v1/authorities/"+id+"/history", x.coord.token, ""), p, false)
		// A reminder to the authority that never used the system: an
		// e-mail with its name, checked in emails.
		x.coord.b.post("/authorities/"+id+"/remind", url.Values{})
	}
	x.getAll(x.coord, "/authorities?country=DE", xssPayload{cat: "list"})
}

// members: the name of a user invited to an authority.
func (x *xssRun) members() {
	path := "/authorities/" + x.de.ID + "/users"
	for i, p := range x.payloads {
		base := url.Values{"name": {fmt.Sprintf("Mitglied %d", i)}, "email": {fmt.Sprintf("member%d@aekb.de.example", i)}, "roles": {authorities.RequestHandler}}
		x.submit(x.handler, path, base, []string{"name", "email"}, p)
	}
	x.getAll(x.handler, path, xssPayload{cat: "members"})
	x.json("GET /api/v1"+path, x.s.api(x.t, "GET", "/api/v1"+path, x.handler.token, ""), xssPayload{cat: "members"}, false)
}

// requests: the subject's text fields and the message, by the requesting
// handler; the comments of asking for and giving further information;
// the answers' texts; an attachment's name and comment. Both parties'
// pages, the API, the inbox search and the subject data search.
func (x *xssRun) requests() {
	pack, err := x.s.app.Areas.Pack("pq")
	if err != nil {
		x.t.Fatal(err)
	}
	var fields []string
	for _, f := range pack.Subject {
		if f.Type == "text" || f.Type == "country" { // the inputs a person types into
			fields = append(fields, "subject."+f.Code)
		}
	}
	fields = append(fields, "message")
	for i, p := range x.payloads {
		base := url.Values{"area": {"pq"}, "question_set": {"authenticity"}, "questions": {"diploma_authentic", "qualification_delivered"},
			"responder": {x.pl.ID}, "subject.name": {fmt.Sprintf("Jan Kowalski %d", i)}, "subject.profession": {"doctor"}, "step": {"save"}}
		r, used, ok := x.submit(x.handler, "/requests/new", base, fields, p)
		if !ok {
			continue // refused with a message
		}
		id := strings.TrimPrefix(r.location(), "/requests/")
		named := slices.Contains(used, "subject.name")
		x.get(x.handler, "/requests/"+id+"/edit", p, named)
		base.Set("step", "find") // the responder search, reflected
		x.submit(x.handler, "/requests/"+id+"/edit", base, []string{"responder_q"}, p)
		rq := "/requests/" + id + "/actions/"
		x.act(x.handler, rq+"send", "", p)
		x.act(x.resp, rq+"accept", "", p)
		x.act(x.resp, rq+"request_info", "comment", p)
		x.act(x.handler, rq+"provide_info", "comment", p)
		x.attach(id, p)
		answer := url.Values{"answer.diploma_authentic": {"yes"}, "text.qualification_delivered": {"Diploma in medicine"}}
		x.submit(x.resp, rq+"answer", answer, []string{"text.diploma_authentic", "text.qualification_delivered"}, p)
		x.get(x.handler, "/requests/"+id, p, named)
		x.get(x.resp, "/requests/"+id, p, named)
		x.json("GET /api/v1/requests/"+id, x.s.api(x.t, "GET", "/api/v1/requests/"+id, x.handler.token, ""), p, named)
		x.json("GET /api/v1/requests/"+id+"/timeline", x.s.api(x.t, "GET", "/api/v1/requests/"+id+"/timeline", x.resp.token, ""), p, false)
		q := "/requests/subject-data?name=" + url.QueryEscape(p.text)
		x.handler.b.lang = xssLangs[i%len(xssLangs)]
		x.page("GET /requests/subject-data", x.handler.b.get(q), p, false)
		x.handler.b.lang = ""
		x.fields["requests/subject-data name"] = true
	}
	x.getAll(x.handler, "/requests?box=sent", xssPayload{cat: "inbox"})
	x.getAll(x.resp, "/requests", xssPayload{cat: "inbox"})
}

// attach adds a text file named after the payload, with the payload as
// its comment.
func (x *xssRun) attach(id string, p xssPayload) {
	x.t.Helper()
	for i, comment := range []string{p.text, "An ordinary comment."} {
		name := p.text + ".txt"
		if i > 0 {
			name = "diploma.txt"
		}
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		_ = mw.WriteField("csrf", x.resp.b.csrf)
		_ = mw.WriteField("comment", comment)
		fw, _ := mw.CreateFormFile("file", name)
		_, _ = fw.Write([]byte("A scanned diploma, in words.\n"))
		_ = mw.Close()
		req, _ := http.NewRequest("POST", x.s.srv.URL+"/requests/"+id+"/attachments", &body)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		r := x.resp.b.do(req)
		x.page("POST /requests/{id}/attachments", r, p, false)
		if r.code >= 500 {
			return
		}
		if r.code == http.StatusSeeOther {
			x.fields["requests/{id}/attachments comment"], x.fields["requests/{id}/attachments file name"] = true, true
			if comment == p.text {
				x.accepted["requests/{id}/attachments comment"]++
			}
			return
		}
		x.refused["requests/{id}/attachments comment"]++
	}
	x.fail("attach to %s, %s: refused even with an ordinary comment", id, p)
}

// broadcasts: an alert (kind "alerts") or a notification of a measure
// ("measures"): title, message and the type's text fields; the
// coordinator's approval comment.
func (x *xssRun) broadcasts(kind string) {
	typ := "pq/pq_alert"
	if kind == "measures" {
		typ = "services/services_requirements"
	}
	area, code, _ := strings.Cut(typ, "/")
	pack, err := x.s.app.Areas.Pack(area)
	if err != nil {
		x.t.Fatal(err)
	}
	// Every field of the type: the text ones carry the payload, the others
	// an ordinary value so that the case can be sent.
	base := url.Values{"countries": {"PL"}}
	fields := []string{"title", "message"}
	for _, f := range pack.Broadcast(code).Fields {
		n := "field." + f.Code
		switch f.Type {
		case "text":
			fields = append(fields, n)
			base.Set(n, "Ein gewöhnlicher Wert")
		case "date":
			base.Set(n, "2026-11-01")
		case "country":
			base.Set(n, "PL")
		case "term":
			base.Set(n, pack.Vocabulary(f.Vocabulary).AllTerms()[0].Value)
		}
	}
	base.Set("type", typ)
	base.Set("step", "save")
	base.Set("title", "Titel")
	for i, p := range x.payloads {
		r, used, ok := x.submit(x.handler, "/"+kind+"/new", base, fields, p)
		if !ok {
			continue // refused with a message
		}
		id := strings.TrimPrefix(r.location(), "/"+kind+"/")
		titled := slices.Contains(used, "title")
		x.get(x.handler, "/"+kind+"/"+id+"/edit", p, titled)
		path := "/" + kind + "/" + id + "/actions/"
		if kind == "alerts" {
			x.act(x.handler, path+"submit", "", p)
			x.act(x.coord, path+"approve", "comment", p)
			x.get(x.coord, "/"+kind+"/"+id, p, titled)
		} else {
			x.act(x.handler, path+"send", "", p)
		}
		x.get(x.handler, "/"+kind+"/"+id, p, titled)
		x.json("GET /api/v1/"+kind+"/"+id, x.s.api(x.t, "GET", "/api/v1/"+kind+"/"+id, x.handler.token, ""), p, titled)
		x.json("GET /api/v1/"+kind+"/"+id+"/timeline", x.s.api(x.t, "GET", "/api/v1/"+kind+"/"+id+"/timeline", x.handler.token, ""), p, false)
		_ = i
	}
	x.getAll(x.handler, "/"+kind, xssPayload{cat: kind})
}

// registers: the entry's name, its names in the other languages, its
// description, address and legal basis; the entry, its form, its history.
func (x *xssRun) registers() {
	fields := []string{"name", "description", "url", "legal_basis"}
	for _, l := range []string{"en", "el", "bg", "fr", "pl", "mt"} {
		fields = append(fields, "name_"+l)
	}
	for i, p := range x.payloads {
		base := url.Values{"authority": {x.de.ID}, "name": {fmt.Sprintf("Register %d", i)}, "language": {"de"}, "type": {"business_register"},
			"access": {"public_online"}, "areas": {"services"}, "step": {"save"}}
		r, used, ok := x.submit(x.handler, "/registers/new", base, fields, p)
		if !ok {
			continue // refused with a message
		}
		id := strings.TrimPrefix(r.location(), "/registers/")
		named := slices.Contains(used, "name")
		x.get(x.handler, "/registers/"+id, p, named)
		x.get(x.handler, "/registers/"+id+"/edit", p, named)
		x.json("GET /api/v1/registers/"+id, x.s.api(x.t, "GET", "/api/v1/registers/"+id, x.handler.token, ""), p, named)
		form := withPayload(base, used, p)
		form.Set("name", "Register "+strconv.Itoa(i)+" (neu)")
		if r := x.handler.b.post("/registers/"+id+"/edit", form); r.code != http.StatusSeeOther {
			x.fail("edit register %s, %s: %d %.200s", id, p, r.code, errorTexts(r.body))
		}
		x.get(x.handler, "/registers/"+id+"/history", p, named)
	}
	x.getAll(x.handler, "/registers", xssPayload{cat: "registers"})
}

// apiWrites: the same texts through the API's JSON: stored as typed and
// read back, or refused with a translated message naming the field.
func (x *xssRun) apiWrites() {
	for i, p := range x.payloads {
		for _, w := range []struct {
			path, token, field string
			body               map[string]any
		}{
			{"/api/v1/authorities", x.coord.token, "name", map[string]any{"country": "DE", "name": p.text, "language": "de", "role": "competent_authority",
				"areas": []string{"pq"}, "external_id": fmt.Sprintf("api-%d", i), "names": map[string]string{"en": p.text},
				"descriptions": map[string]string{"de": p.text}, "city": p.text}},
			{"/api/v1/requests", x.handler.token, "message", map[string]any{"area": "pq", "question_set": "authenticity",
				"questions": []string{"diploma_authentic"}, "responder_id": x.pl.ID, "subject": map[string]string{"name": p.text, "profession": "doctor"},
				"message": p.text}},
		} {
			body, _ := json.Marshal(w.body)
			r := x.s.api(x.t, "POST", w.path, w.token, string(body), "Accept-Language", xssLangs[i%len(xssLangs)])
			key := strings.TrimPrefix(w.path, "/") + " " + w.field
			x.fields[key] = true
			switch r.code {
			case http.StatusCreated:
				x.accepted[key]++
				// JSON cannot carry broken UTF-8: the decoder made it U+FFFD.
				x.json("POST "+w.path, r, p, utf8.ValidString(p.text))
			case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
				x.refused[key]++
				x.json("POST "+w.path, r, p, false)
				if e := apiError(x.t, r); e.Message == "" {
					x.fail("POST %s, %s: a refusal without a message: %s", w.path, p, r.body)
				}
			default:
				x.fail("POST %s, %s: %d %.200s", w.path, p, r.code, r.body)
			}
		}
	}
}

// searches: the search text of every list, reflected in its form and
// its results, and of the API's lists.
func (x *xssRun) searches() {
	for i, p := range x.payloads {
		q := url.QueryEscape(p.text)
		lang := xssLangs[i%len(xssLangs)]
		for _, path := range []string{"/authorities?q=", "/requests?q=", "/alerts?q=", "/measures?q=", "/registers?q="} {
			x.handler.b.lang = lang
			r := x.handler.b.get(path + q)
			x.handler.b.lang = ""
			if r.code != http.StatusOK && r.code != http.StatusBadRequest {
				x.fail("GET %s, %s: %d", path, p, r.code)
			}
			x.page("GET "+path+"…", r, p, false)
			x.fields[strings.Trim(path, "/?=")+" q"] = true
		}
		for _, path := range []string{"/api/v1/authorities?q=", "/api/v1/requests?q=", "/api/v1/alerts?q=", "/api/v1/registers?q="} {
			r := x.s.api(x.t, "GET", path+q, x.handler.token, "")
			if r.code != http.StatusOK && r.code != http.StatusBadRequest {
				x.fail("GET %s, %s: %d", path, p, r.code)
			}
			x.json("GET "+path+"…", r, p, false)
		}
		// The sign-in and forgotten-password forms show the address
		// typed back.
		b := x.s.browser()
		b.lang = lang
		b.get("/sign-in")
		x.page("POST /sign-in", b.post("/sign-in", url.Values{"email": {p.text}, "password": {"wrong password"}}), p, false)
		b.get("/password/forgot")
		x.page("POST /password/forgot", b.post("/password/forgot", url.Values{"email": {p.text}}), p, false)
	}
	x.fields["sign-in email"], x.fields["password/forgot email"] = true, true
}

// imports: a CSV and a JSON file of authorities whose texts are the
// payloads, and a CSV of register entries; the page of the outcome.
func (x *xssRun) imports() {
	var csvFile, regFile bytes.Buffer
	cw := csv.NewWriter(&csvFile)
	_ = cw.Write([]string{"external_id", "country", "name", "language", "role", "areas", "acronym", "city", "street", "description"})
	rw := csv.NewWriter(&regFile)
	_ = rw.Write([]string{"authority", "name", "language", "type", "access", "areas", "description", "legal_basis"})
	var list []map[string]any
	for i, p := range x.payloads {
		_ = cw.Write([]string{fmt.Sprintf("csv-%d", i), "DE", p.text, "de", "competent_authority", "pq", p.text, p.text, p.text, p.text})
		_ = rw.Write([]string{x.de.ID, p.text, "de", "business_register", "public_online", "services", p.text, p.text})
		list = append(list, map[string]any{"external_id": fmt.Sprintf("json-%d", i), "country": "DE", "name": p.text, "language": "de",
			"role": "competent_authority", "areas": []string{"pq"}, "city": p.text})
	}
	cw.Flush()
	rw.Flush()
	jsonFile, _ := json.Marshal(list)
	all := xssPayload{cat: "import"}
	for _, f := range []struct {
		u          *matrixUser
		path, name string
		data       []byte
	}{{x.coord, "/authorities/import", "authorities.csv", csvFile.Bytes()}, {x.coord, "/authorities/import", "authorities.json", jsonFile},
		{x.handler, "/registers/import", "registers.csv", regFile.Bytes()}} {
		for _, lang := range xssLangs {
			for _, skip := range []string{"", "on"} {
				var body bytes.Buffer
				mw := multipart.NewWriter(&body)
				_ = mw.WriteField("csrf", f.u.b.csrf)
				_ = mw.WriteField("skip_invalid", skip)
				fw, _ := mw.CreateFormFile("file", f.name)
				_, _ = fw.Write(f.data)
				_ = mw.Close()
				req, _ := http.NewRequest("POST", x.s.srv.URL+f.path, &body)
				req.Header.Set("Content-Type", mw.FormDataContentType())
				f.u.b.lang = lang
				r := f.u.b.do(req)
				f.u.b.lang = ""
				if r.code >= 500 {
					x.fail("import %s in %s: %d", f.name, lang, r.code)
				}
				x.page("POST "+f.path+" "+f.name+" in "+lang, r, all, false)
				x.count("import " + f.name)
			}
		}
	}
	// The API reports the lines it refused in JSON.
	for _, f := range []struct{ path, ct string }{{"/api/v1/authorities/import", "text/csv"}} {
		req, _ := http.NewRequest("POST", x.s.srv.URL+f.path, bytes.NewReader(csvFile.Bytes()))
		req.Header.Set("Authorization", "Bearer "+x.coord.token)
		req.Header.Set("Content-Type", f.ct)
		r := x.s.browser().do(req)
		x.json("POST "+f.path, r, all, false)
	}
}

// exports: the CSV of authorities and of register entries: no formula,
// and every stored name reads back as it was typed.
func (x *xssRun) exports() {
	for _, e := range []struct {
		u          *matrixUser
		path, name string
	}{{x.coord, "/authorities/export?country=DE", "name"}, {x.handler, "/registers/export?format=csv", "name"}} {
		r := e.u.b.get(e.path)
		if r.code != http.StatusOK {
			x.fail("GET %s: %d", e.path, r.code)
			continue
		}
		records := x.csv("GET "+e.path, []byte(r.body))
		if len(records) < 2 {
			x.fail("GET %s: %d lines", e.path, len(records))
			continue
		}
		col := slices.Index(records[0], e.name)
		names := map[string]bool{}
		for _, rec := range records[1:] {
			if col >= 0 && col < len(rec) {
				names[authorities.UnquoteCell(rec[col])] = true
			}
		}
		if e.path[1] == 'a' {
			for _, p := range x.authNames {
				if !names[p.trimmed()] {
					x.fail("GET %s: the name of %s does not read back", e.path, p)
				}
			}
		}
		r = x.s.api(x.t, "GET", "/api/v1"+e.path, e.u.token, "")
		x.csv("GET /api/v1"+e.path, []byte(r.body))
	}
}

// statistics: the Polish authority takes each name of the corpus in turn;
// the replies per authority (page, CSV, JSON) show it; a report with a
// section per payload renders as HTML and as a PDF that parses and holds
// the names as text.
func (x *xssRun) statistics() {
	ctx := context.Background()
	pl, err := x.s.app.Authorities.Get(ctx, x.pl.ID)
	if err != nil {
		x.t.Fatal(err)
	}
	var sections []stats.Section
	year := strconv.Itoa(time.Now().Year())
	q := "?by=authority&from=" + year + "-01&to=" + year + "-12"
	for i, p := range x.payloads {
		in := authorities.Input{Country: pl.Country, Name: p.text, Language: pl.Language, Kind: pl.Kind, Areas: pl.Areas, ParentID: pl.ParentID}
		if _, err := x.s.app.Authorities.Update(ctx, authorities.System(), pl.ID, in); err != nil {
			continue // refused as a name: no table shows it
		}
		lang := xssLangs[i%len(xssLangs)]
		x.ec.b.lang = lang
		r := x.ec.b.get("/statistics/replies" + q)
		x.ec.b.lang = ""
		if r.code != http.StatusOK {
			x.fail("GET /statistics/replies, %s: %d", p, r.code)
		}
		x.page("GET /statistics/replies?by=authority in "+lang, r, p, true)
		r = x.ec.b.get("/statistics/replies/export" + q + "&format=csv")
		names := map[string]bool{}
		for _, rec := range x.csv("GET /statistics/replies/export", []byte(r.body)) {
			for _, c := range rec {
				names[authorities.UnquoteCell(c)] = true
			}
		}
		if !names[p.trimmed()] {
			x.fail("statistics CSV, %s: the name does not read back", p)
		}
		x.json("GET /api/v1/statistics/replies", x.s.api(x.t, "GET", "/api/v1/statistics/replies"+q, x.ec.token, ""), p, true)
		t, err := x.s.app.Stats.Table(ctx, "replies", stats.Query{From: year + "-01", To: year + "-12", By: []string{"authority"}})
		if err != nil {
			x.t.Fatal(err)
		}
		sections = append(sections, stats.Section{Title: p.text, Intro: p.text, Table: t})
		x.pdf(lang, p, stats.Report{Year: time.Now().Year(), Generated: time.Now(), Sections: sections[len(sections)-1:]})
	}
	// The report with every payload, as HTML and PDF, in each language.
	for _, lang := range xssLangs {
		rep := stats.Report{Year: time.Now().Year(), Generated: time.Now(), Sections: sections}
		l := stats.NewLabels(lang, x.s.app.Areas, x.s.app.Catalog.Localizer(lang).T)
		var buf bytes.Buffer
		if err := rep.WriteHTML(&buf, l); err != nil {
			x.fail("report HTML in %s: %v", lang, err)
		}
		x.page("the HTML report in "+lang, response{code: 200, body: buf.String()}, xssPayload{cat: "report"}, false)
		x.pdf(lang, xssPayload{cat: "report"}, rep)
	}
	for _, format := range []string{"html", "pdf"} {
		r := x.ec.b.get("/statistics/report?year=" + year + "&format=" + format)
		if r.code != http.StatusOK {
			x.fail("GET /statistics/report %s: %d", format, r.code)
		}
	}
}

var pdfText = sync.OnceValue(func() string { p, _ := exec.LookPath("pdftotext"); return p })

// pdf renders a report as a PDF and checks that it is one, that no name
// added an action or script, and (with poppler's pdftotext) that it
// parses and holds each name in the font's alphabets as text.
func (x *xssRun) pdf(lang string, p xssPayload, rep stats.Report) {
	x.t.Helper()
	x.count("pdf")
	l := stats.NewLabels(lang, x.s.app.Areas, x.s.app.Catalog.Localizer(lang).T)
	var buf bytes.Buffer
	if err := rep.WritePDF(&buf, l); err != nil {
		x.fail("PDF in %s, %s: %v", lang, p, err)
		return
	}
	data := buf.Bytes()
	if !bytes.HasPrefix(data, []byte("%PDF-")) || !bytes.Contains(data[max(0, len(data)-32):], []byte("%%EOF")) {
		x.fail("PDF in %s, %s: not a PDF", lang, p)
		return
	}
	for _, bad := range []string{"/JavaScript", "/JS ", "/OpenAction", "/Launch", "/URI", "/AA "} {
		if bytes.Contains(data, []byte(bad)) {
			x.fail("PDF in %s, %s: holds %s", lang, p, bad)
		}
	}
	if pdfText() == "" {
		return
	}
	file := filepath.Join(x.t.TempDir(), "report.pdf")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		x.t.Fatal(err)
	}
	out, err := exec.Command(pdfText(), "-q", "-enc", "UTF-8", file, "-").Output()
	if err != nil {
		x.fail("PDF in %s, %s: pdftotext: %v", lang, p, err)
		return
	}
	text := strings.Join(strings.Fields(string(out)), "")
	for _, sec := range rep.Sections {
		want := strings.Join(strings.Fields(sec.Title), "")
		if inPDFFont(want) && !strings.Contains(text, want) {
			x.fail("PDF in %s, %s: the name is not in its text", lang, p)
		}
	}
}

// inPDFFont reports whether the report's font (Go, Latin, Greek and
// Cyrillic) draws every character of s.
func inPDFFont(s string) bool {
	for _, r := range s {
		if !unicode.In(r, unicode.Latin, unicode.Greek, unicode.Cyrillic, unicode.Digit, unicode.Punct, unicode.Symbol) && r != ' ' {
			return false
		}
	}
	return utf8.ValidString(s)
}

// emails delivers every queued message (invitations with the payloads as
// names, reminders with them as authority names) through a real SMTP
// server and checks each: one recipient, no header but those the
// system writes, a plain-text body.
func (x *xssRun) emails() {
	ms := testkit.StartMailServer(x.t)
	w := &notify.Worker{DB: x.s.app.DB, Catalog: x.s.app.Catalog, From: "imi@openimi.example",
		Sender: notify.NewSMTPSender(notify.SMTPConfig{Host: "127.0.0.1", Port: ms.Port, TLS: "none"})}
	ctx := context.Background()
	for {
		n, err := w.DeliverDue(ctx)
		if err != nil {
			x.t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	if n := x.s.count(x.t, `SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL`); n != 0 {
		x.fail("%d e-mails not delivered", n)
	}
	allowed := map[string]bool{"From": true, "To": true, "Subject": true, "Message-Id": true, "Date": true, "User-Agent": true, "X-Mailer": true,
		"Content-Language": true, "Auto-Submitted": true, "Mime-Version": true, "Content-Type": true, "Content-Transfer-Encoding": true}
	msgs := ms.Messages()
	names := 0
	for _, m := range msgs {
		x.count("e-mail")
		to, err := netmail.ParseAddress(m.Header.Get("To"))
		if len(m.To) != 1 || err != nil || to.Address != m.To[0] || m.Header.Get("Cc") != "" || m.Header.Get("Bcc") != "" {
			x.fail("an e-mail to %v: To %q, Cc %q, Bcc %q", m.To, m.Header.Get("To"), m.Header.Get("Cc"), m.Header.Get("Bcc"))
		}
		for k := range m.Header {
			if !allowed[k] {
				x.fail("an e-mail to %v has the header %s", m.To, k)
			}
		}
		if ct := m.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			x.fail("an e-mail to %v is %s, not plain text", m.To, ct)
		}
		if strings.Contains(m.Subject, "\n") || strings.Contains(m.Subject, "forged") {
			x.fail("an e-mail to %v has the subject %q", m.To, m.Subject)
		}
		for _, p := range x.payloads {
			if len(p.trimmed()) > 3 && strings.Contains(m.Body, p.trimmed()) {
				names++
				break
			}
		}
	}
	if len(msgs) < len(x.payloads) || names < len(x.payloads)/2 {
		x.fail("%d e-mails, %d with a name of the corpus", len(msgs), names)
	}
}

// coverage fails on a text input, seen on any page read, that the corpus
// did not go into.
func (x *xssRun) coverage() {
	// Pages with forms the runs above did not read.
	for _, path := range []string{"/requests/new", "/alerts/new", "/measures/new", "/registers/new", "/authorities/new", "/authorities/import",
		"/registers/import", "/profile", "/requests/subject-data", "/authorities/never-used", "/statistics/replies"} {
		u := x.handler
		if strings.HasPrefix(path, "/authorities/") || path == "/statistics/replies" {
			u = x.coord
		}
		r := u.b.get(path)
		x.page("GET "+path, r, xssPayload{cat: "coverage"}, false)
	}
	// Inputs that take no free text, with why.
	exempt := map[string]string{
		"code":        "a one-time code: compared, never stored or shown",
		"authority_q": "the authority search of the dissemination form: the same search as responder_q",
		"holder_q":    "the authority search of the register form: the same search as responder_q",
	}
	covered := map[string]bool{}
	for f := range x.fields {
		_, name, _ := strings.Cut(f, " ")
		covered[name] = true
	}
	var missing []string
	for name, where := range x.inputs {
		if covered[name] {
			continue
		}
		if _, ok := exempt[name]; ok {
			continue
		}
		if strings.HasPrefix(name, "answer.") { // the number answers: refused unless a number
			continue
		}
		if strings.HasPrefix(name, "text.") && covered["text.diploma_authentic"] {
			continue // the same textarea for every question
		}
		if strings.HasPrefix(name, "name_") && covered["name_en"] {
			continue // the same input for every language
		}
		missing = append(missing, name+" (on "+where+")")
	}
	sort.Strings(missing)
	for _, m := range missing {
		x.fail("the text input %s got no payload", m)
	}
	x.t.Logf("%d text inputs seen on the pages read, %d fed with the corpus", len(x.inputs), len(covered))
}

// TestTheXSSCheckerCatchesUnescapedPayloads shows that the checks above
// would see a payload that reached a page unescaped: every markup payload
// of the corpus, written raw into text, a double-quoted attribute and a
// single-quoted one, is caught, and the same page through html/template
// passes.
func TestTheXSSCheckerCatchesUnescapedPayloads(t *testing.T) {
	contexts := []string{`<p>%s</p>`, `<input name="q" value="%s">`, `<a title='%s' href="/x">x</a>`, `<textarea name="t">%s</textarea>`}
	tmpl := template.Must(template.New("").Parse(`<p>{{.}}</p><input name="q" value="{{.}}"><a title='{{.}}' href="{{.}}">x</a><textarea name="t">{{.}}</textarea>`))
	checked := 0
	for _, p := range loadXSSCorpus(t) {
		if !strings.Contains(p.text, xssMarker) || p.cat == "long" {
			continue
		}
		for _, c := range contexts {
			page := fmt.Sprintf(c, p.text)
			unescaped := strings.ContainsAny(p.text, `<>"'&`) && strings.Contains(page, p.trimmed())
			if len(htmlProblems(page)) == 0 && !unescaped {
				t.Errorf("%s raw in %s: not caught", p, c)
			}
			checked++
		}
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, p.text); err != nil {
			t.Fatal(err)
		}
		if bad := htmlProblems(buf.String()); len(bad) > 0 || strings.Contains(buf.String(), p.trimmed()) && strings.ContainsAny(p.text, `<>"'&`) {
			t.Errorf("%s through html/template: %v", p, bad)
		}
	}
	for _, bad := range []string{`<a href="javascript:alert(1)">`, `<a href=" java&#x09;script:x">`, `<iframe src="data:text/html,x">`, `<p onclick="x">`} {
		if len(htmlProblems(bad)) == 0 {
			t.Errorf("%s: not caught", bad)
		}
	}
	for _, cell := range []string{"=1+1", "+1", "-1+1", "@SUM(A1)", "\t=1", "\r=1"} {
		if !formulaCell(cell) || formulaCell(authorities.QuoteCell(cell)) {
			t.Errorf("%q: formula check or QuoteCell wrong", cell)
		}
	}
	t.Logf("%d raw renderings caught", checked)
}
