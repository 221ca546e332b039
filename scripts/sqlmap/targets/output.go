package main

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// target is one sqlmap run: an HTTP request with its injection points
// marked by '*'.
type target struct {
	method, pattern string
	caller          string      // who sends it
	url             string      // path and query, marked
	headers         [][2]string // in order; values may be marked
	contentType     string
	body            string
	names           []string // the marked parameters, as place:name
	tamper          string   // sqlmap tamper script, if any
	note            string
}

func (t *target) params() int { return len(t.names) }

// request renders the target as a raw HTTP request for sqlmap -r.
func (t *target) request(host string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\n", t.method, t.url)
	fmt.Fprintf(&b, "Host: %s\n", host)
	ua := false
	for _, h := range t.headers {
		if h[1] == "" {
			continue
		}
		ua = ua || strings.EqualFold(h[0], "User-Agent")
		fmt.Fprintf(&b, "%s: %s\n", h[0], h[1])
	}
	if !ua {
		b.WriteString("User-Agent: openimi-sqlmap-scan\n")
	}
	if t.contentType != "" {
		fmt.Fprintf(&b, "Content-Type: %s\n", t.contentType)
	}
	b.WriteString("\n")
	b.WriteString(t.body)
	return b.String()
}

// headerTargets mark the request headers the server stores or looks up:
// the client's User-Agent and forwarded address (recorded with sign-ins
// and sessions), the session cookie and the API token.
func (e *environment) headerTargets(only *regexp.Regexp) []*target {
	var out []*target
	keep := func(t *target) {
		if only == nil || only.MatchString(t.method+" "+t.pattern) {
			out = append(out, t)
		}
	}
	anon := e.people[""]
	keep(&target{method: "POST", pattern: "/sign-in", caller: anon.name, url: "/sign-in", note: "headers",
		headers:     [][2]string{{"Accept", "text/html"}, {"Cookie", anon.cookie}, {"User-Agent", "Mozilla/5.0 sqlmap*"}, {"Referer", e.base.String() + "/sign-in*"}, {"X-Forwarded-For", "192.0.2.10*"}},
		contentType: "application/x-www-form-urlencoded", body: "csrf=" + anon.csrf + "&email=" + nobody + "&password=wrong-password",
		names: []string{"header:User-Agent", "header:Referer", "header:X-Forwarded-For"}})
	j := e.people[joao]
	session, rest := splitSession(j.cookie)
	keep(&target{method: "GET", pattern: "/{$}", caller: j.name, url: "/", note: "headers",
		headers: [][2]string{{"Accept", "text/html"}, {"Cookie", session + "*" + rest}, {"User-Agent", "Mozilla/5.0 sqlmap*"}, {"Referer", e.base.String() + "/*"}},
		names:   []string{"header:Cookie(session)", "header:User-Agent", "header:Referer"}})
	// Last: a wrong token is a failed sign-in for the address, so each
	// request comes from a random one.
	keep(&target{method: "GET", pattern: "/api/v1/me", caller: j.name, url: "/api/v1/me", note: "headers", tamper: "xforwardedfor",
		headers: [][2]string{{"Accept", "application/json"}, {"Authorization", "Bearer " + j.token + "*"}, {"User-Agent", "sqlmap-client*"}},
		names:   []string{"header:Authorization", "header:User-Agent"}})
	return out
}

// splitSession puts the session cookie first in a Cookie header and
// returns it apart from the others.
func splitSession(cookie string) (string, string) {
	var session string
	var rest []string
	for _, c := range strings.Split(cookie, "; ") {
		if strings.Contains(c, "_session=") {
			session = c
		} else if c != "" {
			rest = append(rest, c)
		}
	}
	if len(rest) == 0 {
		return session, ""
	}
	return session, "; " + strings.Join(rest, "; ")
}

// writeTargets writes NNN.req per target and targets.tsv, their index:
// file, method, pattern, caller, tamper, parameter count, parameters, note.
func writeTargets(dir, host string, targets []*target, skipped []string) error {
	// The files hold session cookies and API tokens: the owner's only.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	var index strings.Builder
	for i, t := range targets {
		name := fmt.Sprintf("%03d.req", i+1)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(t.request(host)), 0o600); err != nil {
			return err
		}
		fmt.Fprintf(&index, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", name, t.method, t.pattern, t.caller, t.tamper, t.params(),
			strings.Join(t.names, ","), t.note)
	}
	if err := os.WriteFile(filepath.Join(dir, "targets.tsv"), []byte(index.String()), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "skipped.txt"), []byte(strings.Join(skipped, "\n")+"\n"), 0o600)
}

// withQuery adds the marked query parameters (name, value) to a target
// whose url is its marked path. A GET gets one target per parameter, the
// others left out: a filter alone still matches rows, so that sqlmap's
// true and false conditions give different pages. The path parameters
// and headers are marked in the first of them only.
func withQuery(t *target, plainPath string, query [][2]string) []*target {
	encode := func(q [2]string) string { return url.QueryEscape(q[0]) + "=" + url.QueryEscape(q[1]) + "*" }
	if t.method != "GET" || len(query) <= 1 {
		var parts []string
		for _, q := range query {
			parts = append(parts, encode(q))
			t.names = append(t.names, "query:"+q[0])
		}
		if len(parts) > 0 {
			t.url += "?" + strings.Join(parts, "&")
		}
		return []*target{t}
	}
	out := make([]*target, 0, len(query))
	for i, q := range query {
		c := *t
		c.names = append([]string(nil), t.names...)
		if i > 0 {
			c.url, c.names = plainPath, nil
			c.headers = nil
			for _, h := range t.headers {
				c.headers = append(c.headers, [2]string{h[0], strings.TrimSuffix(h[1], "*")})
			}
		}
		c.url += "?" + encode(q)
		c.names = append(c.names, "query:"+q[0])
		out = append(out, &c)
	}
	return out
}
