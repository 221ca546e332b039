package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime/debug"
	"strings"

	"github.com/openimi/openimi/internal/app"
	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/config"
)

func (c commands) serve(ctx context.Context, args []string, demo bool) error {
	cfg, _, err := c.load("serve", config.Common|config.Server, args, nil)
	if err != nil {
		return err
	}
	cfg.Demo = cfg.Demo || demo
	setMemoryLimit(cfg, os.Getenv)
	a, err := c.open(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	if cfg.Demo {
		users, err := app.LoadDemo(ctx, a)
		if err != nil {
			return fmt.Errorf("demo data: %w", err)
		}
		printDemo(c, cfg, users)
	}
	if cfg.DebugListen != "" {
		_, stop, err := serveDebug(ctx, cfg.DebugListen, a.Log)
		if err != nil {
			return fmt.Errorf("--debug-listen: %w", err)
		}
		defer stop()
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	var metrics net.Listener
	if cfg.MetricsListen != "" {
		if metrics, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
			_ = ln.Close()
			return fmt.Errorf("--metrics-listen: %w", err)
		}
	}
	return a.Serve(ctx, ln, metrics)
}

// setMemoryLimit sets the Go runtime's soft memory limit the configuration
// asks for (config.MemoryLimitBytes).
func setMemoryLimit(cfg *config.Config, getenv func(string) string) {
	if n, ok := cfg.MemoryLimitBytes(getenv, auth.PasswordChecksAtOnce()); ok {
		debug.SetMemoryLimit(n)
	}
}

func printDemo(c commands, cfg *config.Config, users []app.DemoUser) {
	fmt.Fprintf(c.stdout, "\nOpenIMI demo is starting at %s\n\n", cfg.PublicURL)
	fmt.Fprintf(c.stdout, "Sign in with one of these accounts (password: %s):\n", app.DemoPassword)
	for _, u := range users {
		note := ""
		if !u.Enrolled {
			note = "  (not enrolled yet: sign in to set up the security code with your own authenticator app)"
		}
		fmt.Fprintf(c.stdout, "  %-34s %-4s %-38s %s — %s%s\n", u.Email, u.Language, u.Name, strings.Join(u.Roles, ", "), u.Authority, note)
	}
	fmt.Fprintf(c.stdout, "\nThen get the security code from another terminal:\n  %s --database %s demo code %s\n\n", shellQuote(os.Args[0]), shellQuote(cfg.Database), users[0].Email)
}

func shellQuote(s string) string {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '/' || r == '.' || r == '-' || r == '_' || r == ':') {
			return "'" + s + "'"
		}
	}
	return s
}

func (c commands) migrate(ctx context.Context, args []string) error {
	// Opening the application migrates the database.
	return c.withApp(ctx, "migrate", args, nil, func(a *app.App, _ *flag.FlagSet) error {
		fmt.Fprintln(c.stdout, "database is up to date:", a.DB.Location)
		return nil
	})
}

func (c commands) demoCode(ctx context.Context, args []string) error {
	cfg, fs, err := c.load("demo code", config.Common, args, nil)
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(c.stderr, "usage: imi demo code EMAIL")
		return errUsage
	}
	a, err := c.open(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	if !app.IsDemoUser(fs.Arg(0)) {
		return fmt.Errorf("%s is not a demonstration account", fs.Arg(0))
	}
	code, err := a.Auth.CurrentCode(ctx, fs.Arg(0))
	if err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, code)
	return nil
}
