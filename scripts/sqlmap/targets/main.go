// Command targets writes the sqlmap request files for scripts/sqlmap.sh:
// one file per endpoint of a running OpenIMI server, with every query
// parameter, form field, JSON value, path parameter and stored header
// marked with sqlmap's '*' injection marker.
//
// The endpoints come from the route tables themselves (the web UI's
// Routes(), the API's and the public syndication's), so a new route is
// covered without editing anything. Form fields come from the pages the
// server renders (each GET page is fetched signed in and its forms are
// read); JSON bodies, query parameters and headers of the API come from
// openapi.yaml. Path parameters are replaced by real demonstration ids.
//
// It opens the server's database (like `imi demo code`) to mint API tokens
// and read security codes, signs in over HTTP as three demonstration users,
// and prints nothing but a summary; the targets are listed in
// OUT/targets.tsv.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"

	"github.com/openimi/openimi/internal/app"
	"github.com/openimi/openimi/internal/config"
)

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "targets:", err)
		os.Exit(1)
	}
}

// options are the command line.
type options struct {
	database, base, openapi, out, only string
}

func run(ctx context.Context, args []string) error {
	var o options
	fs := flag.NewFlagSet("targets", flag.ContinueOnError)
	fs.StringVar(&o.database, "database", "", "the server's database (SQLite file or postgres:// URL)")
	fs.StringVar(&o.base, "base", "http://127.0.0.1:18431", "the server's URL")
	fs.StringVar(&o.openapi, "openapi", "openapi.yaml", "the API description")
	fs.StringVar(&o.out, "out", "", "directory for the request files (required)")
	fs.StringVar(&o.only, "only", "", "keep only endpoints whose \"METHOD pattern\" matches this regular expression")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.database == "" || o.out == "" {
		return fmt.Errorf("--database and --out are required")
	}
	var only *regexp.Regexp
	if o.only != "" {
		var err error
		if only, err = regexp.Compile(o.only); err != nil {
			return fmt.Errorf("--only: %w", err)
		}
	}
	a, err := openApp(ctx, o.database)
	if err != nil {
		return err
	}
	defer a.Close()

	env, err := prepare(ctx, a, o.base)
	if err != nil {
		return err
	}
	routes, err := routeTable(a)
	if err != nil {
		return err
	}
	env.routes, env.mux = routes, newWebMux(routes)
	spec, err := loadSpec(o.openapi)
	if err != nil {
		return err
	}
	var targets []*target
	var skipped []string
	for _, rt := range routes {
		if only != nil && !only.MatchString(rt.method+" "+rt.pattern) {
			continue
		}
		if why := skipReason(rt); why != "" {
			skipped = append(skipped, rt.method+" "+rt.pattern+": "+why)
			continue
		}
		var ts []*target
		switch {
		case strings.HasPrefix(rt.pattern, "/api/") || strings.HasPrefix(rt.pattern, "/public/"):
			ts, err = env.apiTargets(ctx, spec, rt)
		default:
			ts, err = env.webTargets(ctx, rt)
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", rt.method, rt.pattern, err)
		}
		targets = append(targets, ts...)
	}
	targets = append(targets, env.headerTargets(only)...)
	if err := writeTargets(o.out, env.base.Host, targets, skipped); err != nil {
		return err
	}
	params := 0
	for _, t := range targets {
		params += t.params()
	}
	fmt.Printf("%d routes, %d targets, %d marked parameters, %d routes skipped\n", len(routes), len(targets), params, len(skipped))
	for _, s := range skipped {
		fmt.Println("  skipped:", s)
	}
	for _, t := range targets {
		if t.note != "" {
			fmt.Printf("  note: %s %s: %s\n", t.method, t.pattern, t.note)
		}
	}
	return nil
}

// openApp opens the application on the server's database, as the imi
// command does.
func openApp(ctx context.Context, database string) (*app.App, error) {
	var cfg config.Config
	fs := config.FlagSet("targets", config.Common, &cfg, io.Discard)
	if err := config.Load(fs, &cfg, []string{"--database", database}, func(string) string { return "" }); err != nil {
		return nil, err
	}
	return app.Open(ctx, &cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// skipReason tells why a route gets no target, or "".
func skipReason(rt route) string {
	switch rt.method + " " + rt.pattern {
	case "POST /sign-out":
		return "no input but the CSRF token; it would end the session the scan uses"
	case "GET /api/v1/openapi.yaml":
		return "a static document, no input"
	}
	return ""
}
