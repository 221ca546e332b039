package main

import (
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/openimi/openimi/internal/api"
	"github.com/openimi/openimi/internal/app"
	"github.com/openimi/openimi/internal/public"
	"github.com/openimi/openimi/internal/web"
	"github.com/openimi/openimi/internal/web/static"
)

// route is one entry of a route table.
type route struct {
	method, pattern, access string
}

// routeTable lists every route of the web UI, the API and the public
// syndication, as the server registers them.
func routeTable(a *app.App) ([]route, error) {
	assets, err := static.Load()
	if err != nil {
		return nil, err
	}
	ui, err := web.New(web.Config{}, web.Deps{DB: a.DB, Auth: a.Auth, Areas: a.Areas, Authorities: a.Authorities, Requests: a.Requests,
		Broadcasts: a.Broadcasts, Registers: a.Registers, Stats: a.Stats, Catalog: a.Catalog, Assets: assets, Log: a.Log, Now: a.Now})
	if err != nil {
		return nil, fmt.Errorf("web routes: %w", err)
	}
	var out []route
	add := func(p, access string) {
		method, path, _ := strings.Cut(p, " ")
		out = append(out, route{method: method, pattern: path, access: access})
	}
	for _, r := range ui.Routes() {
		add(r.Pattern, r.Access)
	}
	for _, r := range api.New(api.Deps{}).Routes() {
		add(r.Pattern, r.Access)
	}
	for _, r := range public.New(nil, nil, nil, public.Settings{}, nil).Routes() {
		add(r.Pattern, "public")
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].pattern < out[j].pattern })
	return out, nil
}

// webMux finds the route pattern of a URL found in a page.
type webMux struct{ mux *http.ServeMux }

func newWebMux(routes []route) webMux {
	m := http.NewServeMux()
	for _, r := range routes {
		m.Handle(r.method+" "+r.pattern, http.NotFoundHandler())
	}
	return webMux{m}
}

// match returns the route pattern (without the method) serving method and
// path, or "".
func (w webMux) match(method, path string) string {
	req, err := http.NewRequest(method, path, nil)
	if err != nil {
		return ""
	}
	_, p := w.mux.Handler(req)
	_, pattern, _ := strings.Cut(p, " ")
	return pattern
}

// pathValues matches a concrete path against a pattern and returns the
// values of its wildcards.
func pathValues(pattern, path string) map[string]string {
	ps, xs := strings.Split(strings.TrimSuffix(pattern, "{$}"), "/"), strings.Split(path, "/")
	out := map[string]string{}
	for i, p := range ps {
		if i < len(xs) && strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
			out[strings.Trim(p, "{}.")] = xs[i]
		}
	}
	return out
}

// fillPath replaces the wildcards of a pattern by values; marked adds
// sqlmap's injection marker after each. A missing value is an error.
func fillPath(pattern string, value func(name string) string, marked bool) (string, []string, error) {
	parts := strings.Split(strings.TrimSuffix(pattern, "{$}"), "/")
	var names []string
	for i, p := range parts {
		if !strings.HasPrefix(p, "{") {
			continue
		}
		name := strings.Trim(p, "{}.")
		v := value(name)
		if v == "" {
			return "", nil, fmt.Errorf("no value for path parameter {%s}", name)
		}
		if marked {
			v += "*"
			names = append(names, "path:"+name)
		}
		parts[i] = v
	}
	return strings.Join(parts, "/"), names, nil
}
