package main

import (
	"html"
	"net/url"
	"regexp"
	"sort"
	"strings"
)

// field is one input of a form, with the value a person would send.
type field struct {
	name, value string
	file        bool // a file input: sent as a small file, never marked
}

// form is a form found in a page, or the query string of a link.
type form struct {
	method, path string // path of the action, without query
	multipart    bool
	fields       []field
	who          string // the identity that saw it
}

var (
	formRE     = regexp.MustCompile(`(?is)<form\b([^>]*)>(.*?)</form>`)
	attrRE     = regexp.MustCompile(`([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*"([^"]*)")?`)
	controlRE  = regexp.MustCompile(`(?is)<(input|button)\b([^>]*)>|<select\b([^>]*)>(.*?)</select>|<textarea\b([^>]*)>(.*?)</textarea>`)
	optionRE   = regexp.MustCompile(`(?is)<option\b([^>]*)>`)
	linkRE     = regexp.MustCompile(`href="(/[^"]*\?[^"]*)"`)
	checkedMax = 1 // unchecked boxes sent per field name, besides the checked ones
)

func attrs(s string) map[string]string {
	out := map[string]string{}
	for _, m := range attrRE.FindAllStringSubmatch(s, -1) {
		out[strings.ToLower(m[1])] = html.UnescapeString(m[2])
	}
	return out
}

// parseForms reads the forms and the links with a query string of a page
// fetched at pagePath.
func parseForms(body, pagePath, who string) []form {
	var out []form
	for _, m := range formRE.FindAllStringSubmatch(body, -1) {
		fa := attrs(m[1])
		method := strings.ToUpper(fa["method"])
		if method == "" {
			method = "GET"
		}
		action := fa["action"]
		if action == "" {
			action = pagePath
		}
		u, err := url.Parse(action)
		if err != nil || u.Host != "" || !strings.HasPrefix(u.Path, "/") {
			continue
		}
		f := form{method: method, path: u.Path, multipart: strings.Contains(fa["enctype"], "multipart"), who: who}
		f.fields = controls(m[2])
		out = append(out, f)
	}
	for _, m := range linkRE.FindAllStringSubmatch(body, -1) {
		u, err := url.Parse(html.UnescapeString(m[1]))
		if err != nil {
			continue
		}
		f := form{method: "GET", path: u.Path, who: who}
		keys := make([]string, 0, len(u.Query()))
		for k := range u.Query() {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			f.fields = append(f.fields, field{name: k, value: u.Query().Get(k)})
		}
		out = append(out, f)
	}
	return out
}

// controls lists the inputs of a form with the values a person would
// send: filled fields as they are, empty ones with a plausible value, the
// chosen option of each list, and checked boxes plus one unchecked.
func controls(body string) []field {
	var out []field
	unchecked := map[string]int{}
	radios := map[string]bool{}
	for _, m := range controlRE.FindAllStringSubmatch(body, -1) {
		switch {
		case m[1] != "":
			a := attrs(m[2])
			name, typ := a["name"], strings.ToLower(a["type"])
			if name == "" || (strings.EqualFold(m[1], "button") && a["value"] == "") {
				continue
			}
			if typ == "" {
				typ = "text"
			}
			if strings.EqualFold(m[1], "button") || typ == "submit" {
				continue // buttons carry no data the server queries by
			}
			_, checked := a["checked"]
			switch typ {
			case "file":
				out = append(out, field{name: name, file: true})
				continue
			case "checkbox":
				if !checked {
					if unchecked[name] >= checkedMax {
						continue
					}
					unchecked[name]++
				}
			case "radio":
				if radios[name] && !checked {
					continue
				}
				if radios[name] && checked {
					for i := range out {
						if out[i].name == name {
							out[i].value = a["value"]
						}
					}
					continue
				}
				radios[name] = true
			}
			v := a["value"]
			if v == "" && typ != "hidden" {
				v = plausible(name, typ)
			}
			out = append(out, field{name: name, value: v})
		case m[3] != "":
			a := attrs(m[3])
			if a["name"] == "" {
				continue
			}
			v, first := "", ""
			for _, o := range optionRE.FindAllStringSubmatch(m[4], -1) {
				oa := attrs(o[1])
				if _, sel := oa["selected"]; sel {
					v = oa["value"]
				}
				if first == "" && oa["value"] != "" {
					first = oa["value"]
				}
			}
			if v == "" {
				v = first
			}
			out = append(out, field{name: a["name"], value: v})
		case m[5] != "":
			a := attrs(m[5])
			if a["name"] == "" {
				continue
			}
			v := strings.TrimSpace(html.UnescapeString(m[6]))
			if v == "" {
				v = "sqlmap test text"
			}
			out = append(out, field{name: a["name"], value: v})
		}
	}
	return out
}

// plausible is the value a person would type in an empty field.
func plausible(name, typ string) string {
	switch {
	case typ == "password":
		return demoPassword
	case typ == "email" || name == "email":
		return nobody
	case typ == "date" || strings.HasSuffix(name, "_by") || strings.Contains(name, "date"):
		return "2027-01-15"
	case typ == "number":
		return "3"
	case typ == "url" || name == "website" || name == "url":
		return "https://example.org/"
	case typ == "tel" || name == "phone":
		return "+351210000000"
	case name == "code":
		return "123456"
	case name == "q" || strings.HasSuffix(name, "_q"):
		return "a" // a search that finds much: true and false conditions differ
	}
	return "sqlmap"
}
