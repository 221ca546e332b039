// Package public is the syndication of IMI's public information to
// citizen-facing portals (Your Europe and national ones): authorities'
// public contact details and the directory of registers, as JSON and CSV,
// and an Atom feed of changes. Nothing here needs signing in, so nothing
// here may reach personal data: the handlers read only the authorities'
// contact fields and validated register entries, through an actor that
// is no user. Responses carry ETags and cache headers; every client
// address has a rate limit.
package public

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/countries"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/problem"
	"github.com/openimi/openimi/internal/registers"
)

// Settings of the public endpoints.
type Settings struct {
	PublicURL string
	// Rate and Burst limit each client address: requests per second, and
	// how many may come at once.
	Rate  float64
	Burst int
	// TrustProxy takes the client address from X-Forwarded-For.
	TrustProxy bool
}

// DefaultRate and DefaultBurst allow a portal to page through the whole
// registry in a minute, and a person to browse freely.
const (
	DefaultRate  = 5
	DefaultBurst = 60
)

// Public serves the public endpoints.
type Public struct {
	db          *db.DB
	authorities *authorities.Service
	registers   *registers.Service
	settings    Settings
	log         *slog.Logger

	mu      sync.Mutex
	clients map[string]*client
}

type client struct {
	limiter *rate.Limiter
	seen    time.Time
}

// New returns the public endpoints.
func New(d *db.DB, auths *authorities.Service, regs *registers.Service, s Settings, log *slog.Logger) *Public {
	if s.Rate <= 0 {
		s.Rate = DefaultRate
	}
	if s.Burst <= 0 {
		s.Burst = DefaultBurst
	}
	return &Public{db: d, authorities: auths, registers: regs, settings: s, log: log, clients: map[string]*client{}}
}

// Route is one public route.
type Route struct {
	Pattern string
	handler http.Handler
}

// Routes lists the public routes.
func (p *Public) Routes() []Route {
	return []Route{
		{"GET /public/v1/authorities", p.serve(p.authoritiesList)},
		{"GET /public/v1/registers", p.serve(p.registersList)},
		{"GET /public/v1/changes.atom", p.serve(p.changes)},
	}
}

// Register mounts the routes on mux.
func (p *Public) Register(mux *http.ServeMux) {
	for _, r := range p.Routes() {
		mux.Handle(r.Pattern, r.handler)
	}
}

// anonymous is the actor the public endpoints read as: no user, no
// authority, so validated entries only.
var anonymous = authorities.Actor{}

// body is a response before it is sent: its type and bytes.
type body struct {
	contentType string
	data        []byte
	links       []string // Link header values (pages)
}

// serve wraps a handler with the rate limit, conditional requests and
// cache headers, and error answers in JSON.
func (p *Public) serve(h func(r *http.Request) (*body, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		if !p.allow(r) {
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusTooManyRequests, "too_many_requests", "Too many requests from this address: slow down.")
			return
		}
		b, err := h(r)
		if err != nil {
			if pe, ok := problem.As(err); ok && pe.Field != "" {
				writeError(w, http.StatusBadRequest, pe.Key, "Invalid parameter: "+pe.Field)
				return
			}
			p.log.Error("public endpoint failed", "path", r.URL.Path, "err", err)
			writeError(w, http.StatusInternalServerError, "internal", "Something went wrong.")
			return
		}
		sum := sha256.Sum256(b.data)
		etag := `"` + hex.EncodeToString(sum[:16]) + `"`
		w.Header().Set("ETag", etag)
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Header().Set("Vary", "Accept-Encoding")
		for _, l := range b.links {
			w.Header().Add("Link", l)
		}
		if match := r.Header.Get("If-None-Match"); match != "" && etagMatches(match, etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", b.contentType)
		w.Header().Set("Content-Length", strconv.Itoa(len(b.data)))
		_, _ = w.Write(b.data)
	})
}

func etagMatches(header, etag string) bool {
	for _, part := range strings.Split(header, ",") {
		if p := strings.TrimSpace(part); p == etag || p == "*" || strings.TrimPrefix(p, "W/") == etag {
			return true
		}
	}
	return false
}

func writeError(w http.ResponseWriter, code int, key, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": key, "message": message}})
}

// allow applies the client address's rate limit. Addresses idle for ten
// minutes are forgotten.
func (p *Public) allow(r *http.Request) bool {
	addr := clientAddress(r, p.settings.TrustProxy)
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.clients[addr]
	if c == nil {
		if len(p.clients) > 10000 {
			for k, v := range p.clients {
				if now.Sub(v.seen) > 10*time.Minute {
					delete(p.clients, k)
				}
			}
		}
		c = &client{limiter: rate.NewLimiter(rate.Limit(p.settings.Rate), p.settings.Burst)}
		p.clients[addr] = c
	}
	c.seen = now
	return c.limiter.AllowN(now, 1)
}

// clientAddress is the request's client address, grouping IPv6 by /64.
func clientAddress(r *http.Request, trustProxy bool) string {
	addr := r.RemoteAddr
	if trustProxy {
		if f := r.Header.Get("X-Forwarded-For"); f != "" {
			addr = strings.TrimSpace(strings.Split(f, ",")[0])
		}
	}
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	if ip := net.ParseIP(addr); ip != nil && ip.To4() == nil {
		return ip.Mask(net.CIDRMask(64, 128)).String()
	}
	return addr
}

// page reads page and per_page (default 100, at most 500).
func page(q url.Values) (int, int, error) {
	p, pp := 1, 100
	var err error
	if v := q.Get("page"); v != "" {
		if p, err = strconv.Atoi(v); err != nil || p < 1 {
			return 0, 0, problem.Field("page", "error_page_invalid")
		}
	}
	if v := q.Get("per_page"); v != "" {
		if pp, err = strconv.Atoi(v); err != nil || pp < 1 || pp > 500 {
			return 0, 0, problem.Field("per_page", "error_page_invalid")
		}
	}
	return p, pp, nil
}

// pageLinks are the Link headers to the first, previous and next pages.
func pageLinks(r *http.Request, pg, pages int) []string {
	link := func(n int, rel string) string {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(n))
		return fmt.Sprintf(`<%s?%s>; rel="%s"`, r.URL.Path, q.Encode(), rel)
	}
	out := []string{link(1, "first")}
	if pg > 1 {
		out = append(out, link(pg-1, "prev"))
	}
	if pg < pages {
		out = append(out, link(pg+1, "next"))
	}
	return out
}

// listParams reads a list's page, size, format (json or csv) and
// countries.
func listParams(q url.Values) (pg, perPage int, format string, places []string, err error) {
	if pg, perPage, err = page(q); err != nil {
		return
	}
	switch format = q.Get("format"); format {
	case "":
		format = "json"
	case "json", "csv":
	default:
		return 0, 0, "", nil, problem.Field("format", "error_format_unknown")
	}
	for _, c := range q["country"] {
		code := countries.Normalize(c)
		if code == "" || code == countries.Commission {
			return 0, 0, "", nil, problem.Field("country", "error_country_unknown")
		}
		places = append(places, code)
	}
	return
}

// Contact is an authority's public contact details. It has no field for
// a person: the e-mail and telephone are the authority's own.
type Contact struct {
	ID          string            `json:"id"`
	Country     string            `json:"country"`
	Name        string            `json:"name"`
	Language    string            `json:"language"`
	Names       map[string]string `json:"names,omitempty"`
	Acronym     string            `json:"acronym,omitempty"`
	Street      string            `json:"street,omitempty"`
	Postcode    string            `json:"postcode,omitempty"`
	City        string            `json:"city,omitempty"`
	Region      string            `json:"region,omitempty"`
	Email       string            `json:"email,omitempty"`
	Phone       string            `json:"phone,omitempty"`
	Website     string            `json:"website,omitempty"`
	Areas       []string          `json:"areas"`
	Competences []string          `json:"competences"` // area/vocabulary/term
	UpdatedAt   time.Time         `json:"updated_at"`
}

func contact(a *authorities.Authority) Contact {
	c := Contact{ID: a.ID, Country: a.Country, Name: a.Name, Language: a.Language, Names: a.Names, Acronym: a.Acronym, Street: a.Street,
		Postcode: a.Postcode, City: a.City, Region: a.Region, Email: a.Email, Phone: a.Phone, Website: a.Website, Areas: a.Areas,
		Competences: []string{}, UpdatedAt: a.UpdatedAt.UTC()}
	if c.Areas == nil {
		c.Areas = []string{}
	}
	for _, k := range a.Competences {
		c.Competences = append(c.Competences, k.Area+"/"+k.Vocabulary+"/"+k.Term)
	}
	return c
}

// authoritiesList is GET /public/v1/authorities: validated authorities'
// contact details, by country, area and competence.
func (p *Public) authoritiesList(r *http.Request) (*body, error) {
	q := r.URL.Query()
	pg, perPage, f, places, err := listParams(q)
	if err != nil {
		return nil, err
	}
	query := authorities.Query{Area: q.Get("area"), Competence: q.Get("competence"), Public: true}
	query.Countries = places
	var list []*authorities.Authority
	total := 0
	if id := q.Get("id"); id != "" {
		if a, err := p.authorities.Get(r.Context(), id); err == nil && (a.Status == authorities.Validated || a.Status == authorities.Active) {
			list, total = []*authorities.Authority{a}, 1
		}
	} else if list, total, err = inParts(pg, perPage, func(page, per int) ([]*authorities.Authority, int, error) {
		query.Page, query.PerPage = page, per
		return p.authorities.Search(r.Context(), query)
	}); err != nil {
		return nil, err
	}
	items := make([]Contact, 0, len(list))
	for _, a := range list {
		if a.Kind != authorities.Commission {
			items = append(items, contact(a))
		}
	}
	pages := (min(total, authorities.MaxResults) + perPage - 1) / perPage
	if f == "csv" {
		var buf bytes.Buffer
		cw := csv.NewWriter(&buf)
		_ = cw.Write([]string{"id", "country", "name", "language", "names", "acronym", "street", "postcode", "city", "region", "email", "phone", "website",
			"areas", "competences", "updated_at"})
		for _, c := range items {
			var names []string
			for _, l := range slices.Sorted(maps.Keys(c.Names)) {
				names = append(names, l+"="+c.Names[l])
			}
			_ = cw.Write([]string{c.ID, c.Country, c.Name, c.Language, strings.Join(names, ";"), c.Acronym, c.Street, c.Postcode, c.City, c.Region,
				c.Email, c.Phone, c.Website, strings.Join(c.Areas, ";"), strings.Join(c.Competences, ";"), c.UpdatedAt.Format(time.RFC3339)})
		}
		cw.Flush()
		return &body{contentType: "text/csv; charset=utf-8", data: buf.Bytes(), links: pageLinks(r, pg, pages)}, cw.Error()
	}
	data, err := json.Marshal(map[string]any{"items": items, "total": total, "page": pg, "per_page": perPage, "more": total > authorities.MaxResults})
	return &body{contentType: "application/json", data: data, links: pageLinks(r, pg, pages)}, err
}

// inParts reads page pg of perPage items, and the total, from a search
// that pages by 100 at most: it reads the search's pages that cover the
// page asked for, and cuts them.
func inParts[T any](pg, perPage int, search func(page, per int) ([]T, int, error)) ([]T, int, error) {
	per := min(perPage, 100)
	start := (pg - 1) * perPage
	skip := start % per
	var list []T
	total := 0
	for page := start/per + 1; len(list) < skip+perPage; page++ {
		found, n, err := search(page, per)
		if err != nil {
			return nil, 0, err
		}
		total = n
		list = append(list, found...)
		if len(found) < per {
			break
		}
	}
	if skip >= len(list) {
		return nil, total, nil
	}
	return list[skip:min(len(list), skip+perPage)], total, nil
}

// registersList is GET /public/v1/registers: validated entries of the
// directory, by country, type and area, in the directory's exchange
// format (docs/REGISTERS.md).
func (p *Public) registersList(r *http.Request) (*body, error) {
	q := r.URL.Query()
	pg, perPage, f, places, err := listParams(q)
	if err != nil {
		return nil, err
	}
	query := registers.Query{Type: q.Get("type"), Area: q.Get("area"), Status: registers.Validated}
	query.Countries = places
	var list []*registers.Entry
	total := 0
	if id := q.Get("id"); id != "" {
		if e, err := p.registers.Get(r.Context(), anonymous, id); err == nil {
			list, total = []*registers.Entry{e}, 1
		}
	} else if list, total, err = inParts(pg, perPage, func(page, per int) ([]*registers.Entry, int, error) {
		query.Page, query.PerPage = page, per
		return p.registers.Search(r.Context(), anonymous, query)
	}); err != nil {
		return nil, err
	}
	pages := (total + perPage - 1) / perPage
	var buf bytes.Buffer
	if err := registers.Write(&buf, list, f); err != nil {
		return nil, err
	}
	if f == "csv" {
		return &body{contentType: "text/csv; charset=utf-8", data: buf.Bytes(), links: pageLinks(r, pg, pages)}, nil
	}
	var items json.RawMessage = bytes.TrimSpace(buf.Bytes())
	data, err := json.Marshal(map[string]any{"items": items, "total": total, "page": pg, "per_page": perPage})
	return &body{contentType: "application/json", data: data, links: pageLinks(r, pg, pages)}, err
}

// The Atom feed of changes.
type atomFeed struct {
	XMLName xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	Title   string      `xml:"title"`
	ID      string      `xml:"id"`
	Updated string      `xml:"updated"`
	Link    []atomLink  `xml:"link"`
	Author  atomAuthor  `xml:"author"`
	Entries []atomEntry `xml:"entry"`
}

type atomLink struct {
	Rel  string `xml:"rel,attr,omitempty"`
	Href string `xml:"href,attr"`
	Type string `xml:"type,attr,omitempty"`
}

type atomAuthor struct {
	Name string `xml:"name"`
}

type atomEntry struct {
	Title    string     `xml:"title"`
	ID       string     `xml:"id"`
	Updated  string     `xml:"updated"`
	Category atomCat    `xml:"category"`
	Link     []atomLink `xml:"link"`
	Summary  string     `xml:"summary"`
}

type atomCat struct {
	Term string `xml:"term,attr"`
}

// changes is GET /public/v1/changes.atom: the 100 authorities and register
// entries that changed last, newest first (?country= narrows it).
func (p *Public) changes(r *http.Request) (*body, error) {
	country := ""
	if c := r.URL.Query().Get("country"); c != "" {
		if country = countries.Normalize(c); country == "" {
			return nil, problem.Field("country", "error_country_unknown")
		}
	}
	type change struct {
		kind, id, title, country string
		at                       time.Time
	}
	var list []change
	read := func(query string, kind string) error {
		args := []any{}
		if country != "" {
			query = strings.Replace(query, "WHERE ", "WHERE country = $1 AND ", 1)
			args = append(args, country)
		}
		rows, err := p.db.Read().QueryContext(r.Context(), query, args...)
		if err != nil {
			return db.Check(err)
		}
		defer rows.Close()
		for rows.Next() {
			c := change{kind: kind}
			if err := rows.Scan(&c.id, &c.title, &c.country, &c.at); err != nil {
				return db.Check(err)
			}
			list = append(list, c)
		}
		return db.Check(rows.Err())
	}
	if err := read(`SELECT id, name, country, updated_at FROM authorities WHERE status IN ('validated', 'active') AND role <> 'commission'
		ORDER BY updated_at DESC, id DESC LIMIT 100`, "authority"); err != nil {
		return nil, err
	}
	if err := read(`SELECT id, name, country, updated_at FROM registers WHERE status = 'validated' ORDER BY updated_at DESC, id DESC LIMIT 100`, "register"); err != nil {
		return nil, err
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].at.After(list[j].at) })
	list = list[:min(len(list), 100)]
	base := strings.TrimSuffix(p.settings.PublicURL, "/")
	feed := atomFeed{Title: "OpenIMI: public contact details and registers", ID: base + "/public/v1/changes.atom",
		Link: []atomLink{{Rel: "self", Href: base + r.URL.RequestURI(), Type: "application/atom+xml"}}, Author: atomAuthor{Name: "OpenIMI"},
		Updated: time.Unix(0, 0).UTC().Format(time.RFC3339)}
	if len(list) > 0 {
		feed.Updated = list[0].at.UTC().Format(time.RFC3339)
	}
	for _, c := range list {
		href := base + "/public/v1/authorities?id=" + url.QueryEscape(c.id)
		if c.kind == "register" {
			href = base + "/public/v1/registers?id=" + url.QueryEscape(c.id)
		}
		feed.Entries = append(feed.Entries, atomEntry{Title: c.title, ID: "urn:uuid:" + c.id, Updated: c.at.UTC().Format(time.RFC3339),
			Category: atomCat{Term: c.kind}, Link: []atomLink{{Href: href, Type: "application/json"}},
			Summary: fmt.Sprintf("%s %s (%s) changed.", c.kind, c.title, c.country)})
	}
	data, err := xml.MarshalIndent(feed, "", "  ")
	if err != nil {
		return nil, err
	}
	return &body{contentType: "application/atom+xml; charset=utf-8", data: append([]byte(xml.Header), data...)}, nil
}
