package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/openimi/openimi/internal/app"
	"github.com/openimi/openimi/internal/audit"
	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/config"
	"github.com/openimi/openimi/internal/problem"
)

func (c commands) admin(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(c.stderr, "usage: imi admin create-user|create-token|revoke-token [settings]")
		return errUsage
	}
	switch args[0] {
	case "create-user":
		return c.createUser(ctx, args[1:])
	case "create-token":
		return c.createToken(ctx, args[1:])
	case "revoke-token":
		return c.revokeToken(ctx, args[1:])
	}
	fmt.Fprintf(c.stderr, "imi admin: unknown command %q\n", args[0])
	return errUsage
}

// explain turns a service problem into English for the terminal.
func explain(err error) error {
	var list problem.List
	if errors.As(err, &list) {
		var parts []string
		for _, p := range list {
			parts = append(parts, fmt.Sprintf("%s: %s", p.Field, p.Key))
		}
		return errors.New(strings.Join(parts, "; "))
	}
	if p, ok := problem.As(err); ok {
		if p.Field != "" {
			return fmt.Errorf("%s: %s", p.Field, p.Key)
		}
		return errors.New(p.Key)
	}
	return err
}

func (c commands) createUser(ctx context.Context, args []string) error {
	var email, name, lang, password, authority string
	var roles roleList
	cfg, _, err := c.load("admin create-user", config.Common, args, func(fs *flag.FlagSet) {
		fs.StringVar(&authority, "authority", "", "the user's authority: its id or external_id")
		fs.Var(&roles, "role", "a role, ROLE or ROLE:AREA (repeatable): request_handler, allocator, alert_handler, local_data_administrator, coordinator")
		fs.StringVar(&email, "email", "", "the user's e-mail address (required)")
		fs.StringVar(&name, "name", "", "the user's full name (required)")
		fs.StringVar(&lang, "language", "", "the user's UI language code, e.g. pl (default: from the browser)")
	})
	if err != nil {
		return err
	}
	if email == "" || name == "" {
		fmt.Fprintln(c.stderr, "imi admin create-user: --email and --name are required")
		return errUsage
	}
	// The password comes from standard input, never from the command line,
	// where the process list and shell history would keep it.
	line, err := bufio.NewReader(c.stdin).ReadString('\n')
	if err != nil && line == "" {
		return errors.New("no password given: write it on standard input")
	}
	password = strings.TrimRight(line, "\r\n")
	a, err := c.open(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	if len(roles) > 0 && authority == "" {
		fmt.Fprintln(c.stderr, "imi admin create-user: --role needs --authority")
		return errUsage
	}
	var parsed []authorities.UserRole
	for _, r := range roles {
		role, err := authorities.ParseRole(r)
		if err != nil {
			return explain(err)
		}
		parsed = append(parsed, role)
	}
	if authority != "" {
		if _, err := a.Authorities.Find(ctx, authority); err != nil {
			return fmt.Errorf("no authority %q", authority)
		}
		if err := a.Authorities.CheckAssignment(ctx, authority, parsed); err != nil {
			return explain(err) // before the account exists: a refusal leaves nothing behind
		}
	}
	u, err := a.Auth.CreateUser(ctx, auth.NewUser{Email: email, Name: name, Password: password, Language: lang})
	if err != nil {
		return explain(err)
	}
	if authority != "" {
		if err := a.Authorities.Assign(ctx, u.ID, authority, parsed); err != nil {
			return explain(err)
		}
	}
	fmt.Fprintf(c.stdout, "created user %s (%s); the security code is set up at first sign-in\n", u.Email, u.ID)
	return nil
}

// roleList collects repeated --role flags.
type roleList []string

func (r *roleList) String() string     { return strings.Join(*r, ",") }
func (r *roleList) Set(v string) error { *r = append(*r, v); return nil }

func (c commands) createToken(ctx context.Context, args []string) error {
	var email, name string
	cfg, _, err := c.load("admin create-token", config.Common, args, func(fs *flag.FlagSet) {
		fs.StringVar(&email, "email", "", "the e-mail address of the user the token acts for (required)")
		fs.StringVar(&name, "name", "", "a name to recognise the token by")
	})
	if err != nil {
		return err
	}
	if email == "" {
		fmt.Fprintln(c.stderr, "imi admin create-token: --email is required")
		return errUsage
	}
	a, err := c.open(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	t, secret, err := a.Auth.CreateToken(ctx, email, name)
	if err != nil {
		return explain(err)
	}
	fmt.Fprintln(c.stdout, secret)
	fmt.Fprintf(c.stderr, "token %s for %s created; it is shown only now. Revoke it with: imi admin revoke-token --email %s --id %s\n", t.ID, email, email, t.ID)
	return nil
}

func (c commands) revokeToken(ctx context.Context, args []string) error {
	var email, id string
	cfg, _, err := c.load("admin revoke-token", config.Common, args, func(fs *flag.FlagSet) {
		fs.StringVar(&email, "email", "", "the token's user (required)")
		fs.StringVar(&id, "id", "", "the token's id (required)")
	})
	if err != nil {
		return err
	}
	if email == "" || id == "" {
		fmt.Fprintln(c.stderr, "imi admin revoke-token: --email and --id are required")
		return errUsage
	}
	a, err := c.open(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	u, err := a.Auth.UserByEmail(ctx, email)
	if err != nil {
		return fmt.Errorf("no user %s", email)
	}
	if err := a.Auth.RevokeToken(ctx, u.ID, id); err != nil {
		return explain(err)
	}
	fmt.Fprintln(c.stdout, "revoked", id)
	return nil
}

func (c commands) audit(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprintln(c.stderr, "usage: imi audit verify [settings]")
		return errUsage
	}
	return c.withApp(ctx, "audit verify", args[1:], nil, func(a *app.App, _ *flag.FlagSet) error {
		n, err := audit.Verify(ctx, a.DB.Read())
		if err != nil {
			var bad *audit.BadRow
			if errors.As(err, &bad) {
				return fmt.Errorf("audit log broken after %d good rows: first bad row is %d: %s", n, bad.Seq, bad.Reason)
			}
			return err
		}
		fmt.Fprintf(c.stdout, "audit log intact: %d rows verified\n", n)
		return nil
	})
}
