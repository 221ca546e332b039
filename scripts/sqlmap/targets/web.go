package main

import (
	"context"
	"fmt"
	"mime/multipart"
	"net/url"
	"sort"
	"strings"
)

// who is the identity that calls a route: the party whose roles let the
// call through to the queries behind it.
func who(rt route) string {
	switch rt.access {
	case "anonymous", "public":
		return ""
	case "second-factor":
		return "code"
	case "enrolment":
		return "enrol"
	}
	p := strings.TrimPrefix(rt.pattern, "/api/v1")
	switch {
	case strings.HasPrefix(p, "/requests"):
		return anna
	case strings.HasPrefix(p, "/alerts"), strings.HasPrefix(p, "/measures"):
		return claire
	}
	return joao
}

// pathValue is the demonstration value of a path parameter of a route.
func (e *environment) pathValue(method, pattern, name string) string {
	p := strings.TrimPrefix(pattern, "/api/v1")
	kind := strings.Split(strings.TrimPrefix(p, "/"), "/")[0]
	edit := strings.HasSuffix(p, "/edit") || (method == "PUT" && (kind == "requests" || kind == "alerts" || kind == "measures"))
	switch name {
	case "id":
		switch kind {
		case "requests", "alerts", "measures":
			k := strings.TrimSuffix(kind, "s")
			if edit {
				return e.ids[k+".draft"]
			}
			return e.ids[k]
		case "registers":
			return e.ids["register"]
		case "me":
			return e.ids["token"]
		case "authorities":
			if strings.Contains(p, "/status") || strings.HasSuffix(p, "/remind") || strings.Contains(p, "/users/{user}") {
				return e.ids["pt.authority"] // never the authority in use
			}
			return e.ids["joao.authority"]
		}
	case "user":
		return e.ids["eleni.user"] // never a user the scan signs in as
	case "attachment":
		return e.ids["attachment"]
	case "action":
		if kind == "authorities" {
			return "validate"
		}
		return "comment"
	case "area":
		return "pq"
	case "set":
		return "authenticity"
	case "vocabulary":
		return "professions"
	case "name":
		return "requests"
	case "token":
		return "sqlmapNoSuchToken0123456789"
	}
	return ""
}

// crawl fetches every GET page of the UI as every identity that may see it
// and keeps the forms and links found.
func (e *environment) crawl() {
	if e.pages != nil {
		return
	}
	e.pages = map[string][]form{}
	for _, rt := range e.routes {
		if rt.method != "GET" || strings.HasPrefix(rt.pattern, "/api/") || strings.HasPrefix(rt.pattern, "/public/") {
			continue
		}
		var viewers []string
		switch w := who(rt); w {
		case anna, joao, claire:
			viewers = []string{anna, joao, claire}
		default:
			viewers = []string{w}
		}
		paths := []string{}
		for _, variant := range []map[string]string{nil, {"request": "request.draft", "alert": "alert.draft", "measure": "measure.draft"}, {"request": "request.answered"}} {
			p, _, err := fillPath(rt.pattern, func(n string) string {
				v := e.pathValue(rt.method, rt.pattern, n)
				for from, to := range variant {
					if v == e.ids[from] && e.ids[to] != "" {
						v = e.ids[to]
					}
				}
				return v
			}, false)
			if err == nil && !contains(paths, p) {
				paths = append(paths, p)
			}
		}
		for _, viewer := range viewers {
			id := e.people[viewer]
			for _, p := range paths {
				status, body, err := e.get(id.client, p)
				if err != nil || status != 200 {
					continue
				}
				e.pages[viewer] = append(e.pages[viewer], parseForms(body, p, viewer)...)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// formsFor lists the forms found for a route, those seen by its caller
// first.
func (e *environment) formsFor(rt route) []form {
	caller := who(rt)
	var mine, others []form
	for viewer, forms := range e.pages {
		for _, f := range forms {
			if f.method != rt.method || e.mux.match(f.method, f.path) != rt.pattern {
				continue
			}
			if viewer == caller {
				mine = append(mine, f)
			} else {
				others = append(others, f)
			}
		}
	}
	sort.SliceStable(others, func(i, j int) bool { return others[i].who < others[j].who })
	return append(mine, others...)
}

// webTargets makes the targets of one UI route: a GET page with the query
// parameters its forms and links use, or a POST form with its fields (one
// target per action where the route's {action} varies).
func (e *environment) webTargets(ctx context.Context, rt route) ([]*target, error) {
	if e.routes == nil {
		return nil, fmt.Errorf("route table not set")
	}
	e.crawl()
	id := e.people[who(rt)]
	forms := e.formsFor(rt)
	groups := map[string][]form{}
	var keys []string
	for _, f := range forms {
		k := ""
		if rt.method == "POST" && strings.Contains(rt.pattern, "{action}") {
			k = pathValues(rt.pattern, f.path)["action"]
		}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], f)
	}
	note := ""
	if strings.HasSuffix(rt.pattern, "/new") && rt.method == "POST" && len(forms) > 0 {
		// A new draft's form is shown in steps; its edit form has every field.
		groups[""] = append(groups[""], e.sibling(rt)...)
	}
	if len(forms) == 0 && rt.method == "POST" {
		// No page showed this form to anyone (its object is in another
		// state): use the fields of its sibling form, if any.
		if sib := e.sibling(rt); len(sib) > 0 {
			groups[""] = sib
			note = "form not shown; fields of " + sib[0].path + " used"
		} else {
			note = "no form found: path parameters only"
		}
		keys = []string{""}
	}
	if len(keys) == 0 {
		keys = []string{""}
	}
	var out []*target
	for _, k := range keys {
		ts, err := e.webTarget(ctx, rt, id, k, groups[k])
		if err != nil {
			return nil, err
		}
		for _, t := range ts {
			t.note = note
		}
		out = append(out, ts...)
	}
	return out, nil
}

// sibling finds the fields of the form that creates what this route edits
// (…/{id}/edit ↔ …/new).
func (e *environment) sibling(rt route) []form {
	if prefix, ok := strings.CutSuffix(rt.pattern, "/{id}/edit"); ok {
		return e.formsFor(route{method: rt.method, pattern: prefix + "/new", access: rt.access})
	}
	if prefix, ok := strings.CutSuffix(rt.pattern, "/new"); ok {
		return e.formsFor(route{method: rt.method, pattern: prefix + "/{id}/edit", access: rt.access})
	}
	return nil
}

func (e *environment) webTarget(ctx context.Context, rt route, id *identity, action string, forms []form) ([]*target, error) {
	object := ""
	if freshlyActedOn(rt.method, rt.pattern) {
		like := e.pathValue(rt.method, rt.pattern, "id")
		if len(forms) > 0 {
			if v := pathValues(rt.pattern, forms[0].path)["id"]; v != "" {
				like = v // the page the form was on: its object's state
			}
		}
		var err error
		if object, err = e.fresh(ctx, like); err != nil {
			return nil, err
		}
	}
	value := func(n string) string {
		switch {
		case n == "action" && action != "":
			return action
		case n == "id" && object != "":
			return object
		}
		return e.pathValue(rt.method, rt.pattern, n)
	}
	path, names, err := fillPath(rt.pattern, value, true)
	if err != nil {
		return nil, err
	}
	plain, _, _ := fillPath(rt.pattern, value, false)
	t := &target{method: rt.method, pattern: rt.pattern, caller: id.name, names: names,
		headers: [][2]string{{"Accept", "text/html"}, {"Cookie", id.cookie}}}
	if rt.access == "anonymous" || rt.access == "second-factor" || rt.access == "enrolment" {
		// Sign-in attempts are throttled per client address: each request
		// comes from a random one (the server trusts X-Forwarded-For here).
		t.tamper = "xforwardedfor"
	}
	fields := mergeFields(forms, rt.method == "GET")
	if rt.method == "GET" {
		var q [][2]string
		for _, f := range fields {
			q = append(q, [2]string{f.name, f.value})
		}
		t.url = path
		return withQuery(t, plain, q), nil
	}
	t.url = path
	var parts []field
	for _, f := range fields {
		if f.name == "csrf" {
			continue
		}
		parts = append(parts, f)
		if !f.file {
			t.names = append(t.names, "form:"+f.name)
		}
	}
	csrf := field{name: "csrf", value: id.csrf}
	multi := len(forms) > 0 && forms[0].multipart
	if !multi {
		var b []string
		b = append(b, "csrf="+url.QueryEscape(csrf.value))
		for _, f := range parts {
			b = append(b, url.QueryEscape(f.name)+"="+url.QueryEscape(f.value)+"*")
		}
		t.contentType, t.body = "application/x-www-form-urlencoded", strings.Join(b, "&")
		return []*target{t}, nil
	}
	body, ctype, err := multipartBody(csrf, parts)
	if err != nil {
		return nil, err
	}
	t.contentType, t.body = ctype, body
	return []*target{t}, nil
}

// multipartBody encodes a multipart form: the CSRF field as it is, every
// other field marked, a small CSV for each file input.
func multipartBody(csrf field, parts []field) (string, string, error) {
	var sb strings.Builder
	w := multipart.NewWriter(&sb)
	if err := w.SetBoundary("sqlmapOpenIMIboundary"); err != nil {
		return "", "", err
	}
	if err := w.WriteField(csrf.name, csrf.value); err != nil {
		return "", "", err
	}
	for _, f := range parts {
		if !f.file {
			if err := w.WriteField(f.name, f.value+"*"); err != nil {
				return "", "", err
			}
			continue
		}
		fw, err := w.CreateFormFile(f.name, "sqlmap.csv")
		if err != nil {
			return "", "", err
		}
		if _, err := fw.Write([]byte("external_id,country,name\r\nSQLMAP-1,PT,Sqlmap\r\n")); err != nil {
			return "", "", err
		}
	}
	if err := w.Close(); err != nil {
		return "", "", err
	}
	return sb.String(), w.FormDataContentType(), nil
}

// mergeFields unites the fields of several forms of one route: each name
// from the first form that has it (with all its values there, as for a
// group of check boxes); a GET query keeps one value per name.
func mergeFields(forms []form, get bool) []field {
	var out []field
	owner := map[string]int{}
	seen := map[string]bool{}
	for i, f := range forms {
		for _, x := range f.fields {
			if o, ok := owner[x.name]; ok && (o != i || get) {
				continue
			}
			owner[x.name] = i
			if k := x.name + "\x00" + x.value; !seen[k] {
				seen[k] = true
				out = append(out, x)
			}
		}
	}
	return out
}
