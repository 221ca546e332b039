// Command imi is OpenIMI: one binary that serves the web UI and the API,
// migrates the database, loads demonstration data and runs administration
// tasks. Run `imi help` for the subcommands and `imi serve --help` for every
// setting.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/openimi/openimi/internal/app"
	"github.com/openimi/openimi/internal/config"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `imi — OpenIMI, the Internal Market Information system

Usage:
  imi [global settings] <command> [settings]

Commands:
  serve                       run the web server (UI, API, e-mail worker)
  demo                        run the web server with demonstration users (serve --demo)
  demo code EMAIL             print the current security code of a demonstration user
  generate --scale 10k|100k|1m  write a reproducible data set for load tests (see docs/PERFORMANCE.md)
  migrate                     bring the database schema up to date
  backup [--output FILE]      write a checked copy of the SQLite database, while the server runs
  restore FILE [--replace]    replace the SQLite database's content with a checked backup
  admin create-user           create a user account
  admin create-token          print a new API token for a user
  admin revoke-token          revoke an API token
  areas check [DIR]           check legislative area packs (default: the shipped ones and --areas-dir)
  import authorities FILE     add or update authorities from a CSV or JSON file (--skip-invalid)
  export authorities          write every authority as CSV or JSON (--format, --output)
  stats authorities           authorities per country and area (--format csv|json)
  stats exchanges|requests|questions|replies|scoreboard
                              the statistics (--by, --from, --to, --area, --country, --format csv|json)
  stats report --year YYYY    write the annual report as HTML and PDF
  stats rebuild               derive the statistics of requests again from their events
  search reindex              rebuild the search index of authorities
  audit verify                check the audit log's hash chain
  version                     print the version

Global settings (also accepted after the command):
  --database URL-or-path      SQLite file, sqlite: URL or postgres:// URL [IMI_DATABASE]
  --data-dir DIR              directory of the default SQLite database [IMI_DATA_DIR]
  --config FILE               configuration file (TOML) [IMI_CONFIG]

Run 'imi <command> --help' for the settings of a command.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, config.Getenv)
	stop()
	os.Exit(code)
}

// run is main without the process: testable, returning the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env func(string) string) int {
	global, rest := splitGlobal(args)
	if len(rest) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := rest[0], rest[1:]
	c := commands{stdin: stdin, stdout: stdout, stderr: stderr, env: env, global: global}
	var err error
	switch cmd {
	case "serve":
		err = c.serve(ctx, rest, false)
	case "demo":
		if len(rest) > 0 && rest[0] == "code" {
			err = c.demoCode(ctx, rest[1:])
		} else {
			err = c.serve(ctx, rest, true)
		}
	case "generate":
		err = c.generate(ctx, rest)
	case "migrate":
		err = c.migrate(ctx, rest)
	case "backup":
		err = c.backup(ctx, rest)
	case "restore":
		err = c.restore(ctx, rest)
	case "admin":
		err = c.admin(ctx, rest)
	case "audit":
		err = c.audit(ctx, rest)
	case "areas":
		err = c.areas(rest)
	case "search":
		err = c.search(ctx, rest)
	case "import":
		err = c.importCmd(ctx, rest)
	case "export":
		err = c.exportCmd(ctx, rest)
	case "stats":
		err = c.statsCmd(ctx, rest)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "imi", version)
	case "help", "--help", "-h", "-help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "imi: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintln(stderr, "imi:", err)
		return 1
	}
}

// errUsage means the command line was wrong and usage was printed.
var errUsage = errors.New("usage")

// splitGlobal separates global settings written before the command.
func splitGlobal(args []string) (global, rest []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		name := strings.TrimLeft(a, "-")
		if !strings.HasPrefix(a, "-") || a == "-h" || a == "--help" || a == "-help" || a == "--version" {
			return global, args[i:]
		}
		name, _, hasValue := strings.Cut(name, "=")
		switch name {
		case "database", "data-dir", "config", "log-format", "log-level":
			global = append(global, a)
			if !hasValue && i+1 < len(args) {
				global = append(global, args[i+1])
				i++
			}
		default:
			return global, args[i:]
		}
	}
	return global, nil
}

type commands struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	env            func(string) string
	global         []string
}

// load parses the settings of a command: global ones first, then the
// command's own, over the file and the environment.
func (c commands) load(name string, groups config.Group, args []string, extra func(*flag.FlagSet)) (*config.Config, *flag.FlagSet, error) {
	var cfg config.Config
	fs := config.FlagSet("imi "+name, groups, &cfg, c.stderr)
	if extra != nil {
		extra(fs)
	}
	if err := config.Load(fs, &cfg, append(append([]string{}, c.global...), args...), c.env); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil, err
		}
		fmt.Fprintln(c.stderr, "imi "+name+":", err)
		return nil, nil, errUsage
	}
	return &cfg, fs, nil
}

func (c commands) open(ctx context.Context, cfg *config.Config) (*app.App, error) {
	return app.Open(ctx, cfg, app.NewLogger(cfg))
}

// withApp loads a command's settings (common ones plus extra), opens the
// application on the configured database, runs fn and closes it again.
func (c commands) withApp(ctx context.Context, name string, args []string, extra func(*flag.FlagSet), fn func(a *app.App, fs *flag.FlagSet) error) error {
	cfg, fs, err := c.load(name, config.Common, args, extra)
	if err != nil {
		return err
	}
	a, err := c.open(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	return fn(a, fs)
}
