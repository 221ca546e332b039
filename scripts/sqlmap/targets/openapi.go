package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// spec is openapi.yaml, decoded.
type spec map[string]any

func loadSpec(path string) (spec, error) {
	b, err := os.ReadFile(path) // #nosec G304 -- the operator names the file, as any command-line tool
	if err != nil {
		return nil, err
	}
	// Into a plain map: yaml gives nested maps the type of the outer one.
	var s map[string]any
	if err := yaml.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return spec(s), nil
}

func m(v any) map[string]any {
	x, _ := v.(map[string]any)
	return x
}

func list(v any) []any {
	x, _ := v.([]any)
	return x
}

func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// resolve follows a local $ref.
func (s spec) resolve(v any) map[string]any {
	x := m(v)
	for i := 0; i < 10 && x != nil; i++ {
		ref := str(x["$ref"])
		if ref == "" {
			return x
		}
		cur := any(map[string]any(s))
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			cur = m(cur)[part]
		}
		x = m(cur)
	}
	return x
}

// operation finds the description of an API route; the API's paths are
// written without /api/v1, the public ones in full.
func (s spec) operation(method, pattern string) (path, op map[string]any) {
	p := strings.TrimPrefix(pattern, "/api/v1")
	path = m(m(s["paths"])[p])
	return path, m(path[strings.ToLower(method)])
}

// apiTargets makes the target of one API route from its description: its
// query and header parameters and its JSON body, every value marked.
func (e *environment) apiTargets(ctx context.Context, s spec, rt route) ([]*target, error) {
	caller := who(rt)
	id := e.people[caller]
	t := &target{method: rt.method, pattern: rt.pattern, caller: "anonymous", headers: [][2]string{{"Accept", "application/json"}}}
	if caller != "" && !strings.HasPrefix(rt.pattern, "/public/") {
		t.caller = id.name
		t.headers = append(t.headers, [2]string{"Authorization", "Bearer " + id.token})
	}
	object := ""
	if freshlyActedOn(rt.method, rt.pattern) {
		var err error
		if object, err = e.fresh(ctx, e.pathValue(rt.method, rt.pattern, "id")); err != nil {
			return nil, err
		}
	}
	value := func(n string) string {
		if n == "id" && object != "" {
			return object
		}
		return e.pathValue(rt.method, rt.pattern, n)
	}
	path, names, err := fillPath(rt.pattern, value, true)
	if err != nil {
		return nil, err
	}
	t.names = names
	pathItem, op := s.operation(rt.method, rt.pattern)
	if op == nil {
		t.url = path
		t.note = "not in openapi.yaml: path parameters only"
		return []*target{t}, nil
	}
	ctxName := strings.Split(strings.TrimPrefix(strings.TrimPrefix(rt.pattern, "/api/v1"), "/"), "/")[0]
	plain, _, _ := fillPath(rt.pattern, value, false)
	var query [][2]string
	params := append(append([]any{}, list(pathItem["parameters"])...), list(op["parameters"])...)
	for _, p := range params {
		p := s.resolve(p)
		name, in := str(p["name"]), str(p["in"])
		v := e.sample(s, p["schema"], name, ctxName, p)
		sv := scalar(v)
		switch in {
		case "query":
			query = append(query, [2]string{name, sv})
		case "header":
			if name == "Idempotency-Key" {
				sv = "sqlmap-" + strconv.FormatInt(time.Now().UnixNano(), 36)
			}
			t.headers = append(t.headers, [2]string{name, sv + "*"})
			t.names = append(t.names, "header:"+name)
		}
	}
	t.url = path
	content := m(m(s.resolve(op["requestBody"]))["content"])
	switch {
	case content["application/json"] != nil:
		schema := s.resolve(m(content["application/json"])["schema"])
		var body any
		if strings.HasSuffix(rt.pattern, "/import") || (str(schema["type"]) == "array" && len(m(s.resolve(schema["items"])["properties"])) == 0) {
			// An import: a row of the matching export is a valid one.
			if body, err = e.exportRow(ctx, id, strings.TrimSuffix(rt.pattern, "/import")+"/export?format=json"); err != nil {
				return nil, err
			}
		} else {
			body = e.sample(s, schema, "", ctxName, nil)
		}
		var b strings.Builder
		var bodyNames []string
		writeMarked(&b, body, "", &bodyNames)
		t.contentType, t.body = "application/json", b.String()
		for _, n := range bodyNames {
			t.names = append(t.names, "json:"+n)
		}
	case content["application/octet-stream"] != nil:
		// A file: its bytes are inspected, never put in a query.
		t.contentType, t.body = "application/octet-stream", "sqlmap attachment\n"
	}
	return withQuery(t, plain, query), nil
}

// exportRow fetches the first row of an export, as the body of an import.
func (e *environment) exportRow(ctx context.Context, id *identity, path string) (any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.base.String()+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+id.token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	var rows []any
	if err := json.Unmarshal(b, &rows); err != nil || len(rows) == 0 {
		return nil, fmt.Errorf("GET %s: %s: no rows (%v)", path, res.Status, err)
	}
	return []any{rows[0]}, nil
}

// scalar renders a sampled value for a query string or header.
func scalar(v any) string {
	switch x := v.(type) {
	case []any:
		if len(x) > 0 {
			return scalar(x[0])
		}
		return ""
	case map[string]any:
		return ""
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// sample builds a valid value for a schema: its example, default or first
// enum value, else a demonstration value chosen by the property's name
// and the endpoint (kind: requests, alerts, …).
func (e *environment) sample(s spec, schemaV any, name, kind string, param map[string]any) any {
	schema := s.resolve(schemaV)
	if v, ok := e.known(name, kind); ok {
		return v
	}
	if param != nil && param["example"] != nil {
		return param["example"]
	}
	if schema == nil {
		return "sqlmap"
	}
	if schema["example"] != nil {
		return schema["example"]
	}
	if ex := list(schema["examples"]); len(ex) > 0 {
		return ex[0]
	}
	if en := list(schema["enum"]); len(en) > 0 {
		for _, want := range []string{"json", "html"} { // never a PDF per request
			for _, x := range en {
				if str(x) == want {
					return want
				}
			}
		}
		for _, x := range en {
			if str(x) != "" {
				return x
			}
		}
	}
	if schema["default"] != nil {
		return schema["default"]
	}
	typ := schema["type"]
	if ts := list(typ); len(ts) > 0 {
		typ = ts[0]
	}
	switch str(typ) {
	case "object":
		out := map[string]any{}
		for k, p := range m(schema["properties"]) {
			out[k] = e.sample(s, p, k, kind, nil)
		}
		if add := m(schema["additionalProperties"]); add != nil && len(out) == 0 {
			out["en"] = e.sample(s, add, name+".value", kind, nil)
		}
		return out
	case "array":
		return []any{e.sample(s, schema["items"], name, kind, nil)}
	case "integer", "number":
		if schema["minimum"] != nil {
			return schema["minimum"]
		}
		return 1
	case "boolean":
		return false
	}
	switch str(schema["format"]) {
	case "date":
		return "2027-01-15"
	case "date-time":
		return "2027-01-15T10:00:00Z"
	case "email":
		return "sqlmap@example.org"
	case "uri":
		return "https://example.org/"
	}
	return "sqlmap"
}

// known gives demonstration values that pass validation, so that a call
// reaches its queries.
func (e *environment) known(name, kind string) (any, bool) {
	broadcast := kind == "alerts" || kind == "measures"
	switch name {
	case "area":
		if broadcast {
			return "services", true
		}
		return "pq", true
	case "areas", "scope_areas":
		return []any{"pq"}, true
	case "type":
		switch kind {
		case "alerts":
			return "services_alert", true
		case "measures":
			return "services_requirements", true
		}
	case "question_set":
		return "authenticity", true
	case "questions":
		return []any{"diploma_authentic"}, true
	case "responder_id":
		return e.ids["eleni.authority"], true
	case "handler_id":
		return e.ids["anna.user"], true
	case "authority_id", "parent_id":
		return e.ids["joao.authority"], true
	case "id":
		if kind == "authorities" || kind == "public" {
			return e.ids["pt.authority"], true
		}
	case "country":
		return "PT", true
	case "countries":
		return []any{"PT"}, true
	case "language":
		return "pt", true
	case "languages":
		return []any{"pt"}, true
	case "roles":
		return []any{"request_handler"}, true
	case "criteria":
		return []any{"cross_border"}, true
	case "subject":
		return map[string]any{"name": "Sqlmap Subject", "profession": "doctor", "date_of_birth": "1980-01-01"}, true
	case "fields":
		if kind == "measures" {
			return map[string]any{"measure_title": "Sqlmap measure"}, true
		}
		return map[string]any{"business_name": "Sqlmap SARL"}, true
	case "answers":
		return map[string]any{"diploma_authentic": map[string]any{"value": "yes", "text": "sqlmap"}}, true
	case "competences":
		return []any{map[string]any{"area": "pq", "vocabulary": "professions", "term": "doctor"}}, true
	case "competence":
		return "pq/professions/doctor", true
	case "vocabulary":
		return "professions", true
	case "term":
		return "doctor", true
	case "supervisors":
		return map[string]any{}, true
	case "names", "descriptions":
		return map[string]any{"en": "Sqlmap Authority"}, true
	case "email":
		return "sqlmap@example.org", true
	case "website", "url":
		return "https://example.org/", true
	case "external_id":
		return "SQLMAP-" + kind, true
	case "reply_by":
		return time.Now().AddDate(0, 2, 0).Format("2006-01-02"), true
	case "rating_time", "rating_effort":
		return 3, true
	case "q":
		return "a", true // matches many: true and false conditions differ
	case "role":
		return "competent_authority", true
	case "name":
		return "Sqlmap Test", true
	case "comment", "message":
		return "sqlmap comment", true
	case "region", "scope_regions":
		if name == "scope_regions" {
			return []any{"Lisboa"}, true
		}
		return "Lisboa", true
	}
	return nil, false
}

// writeMarked writes v as JSON with sqlmap's marker after every scalar
// value (inside a string's quotes) and records their paths.
func writeMarked(b *strings.Builder, v any, path string, names *[]string) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString("{")
		for i, k := range keys {
			if i > 0 {
				b.WriteString(",")
			}
			kb, _ := json.Marshal(k)
			b.Write(kb)
			b.WriteString(":")
			p := k
			if path != "" {
				p = path + "." + k
			}
			writeMarked(b, x[k], p, names)
		}
		b.WriteString("}")
	case []any:
		b.WriteString("[")
		for i, el := range x {
			if i > 0 {
				b.WriteString(",")
			}
			writeMarked(b, el, fmt.Sprintf("%s[%d]", path, i), names)
		}
		b.WriteString("]")
	case nil:
		b.WriteString("null")
	case string:
		sb, _ := json.Marshal(x)
		b.Write(sb[:len(sb)-1])
		b.WriteString(`*"`)
		*names = append(*names, path)
	default:
		jb, _ := json.Marshal(x)
		b.Write(jb)
		b.WriteString("*")
		*names = append(*names, path)
	}
}
