package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/openimi/openimi/internal/app"
)

// search runs `imi search reindex`: rebuilds the text index of authorities
// from the registry, for instance after restoring a backup of the tables
// alone.
func (c commands) search(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "reindex" {
		fmt.Fprintln(c.stderr, "usage: imi search reindex [settings]")
		return errUsage
	}
	return c.withApp(ctx, "search reindex", args[1:], nil, func(a *app.App, _ *flag.FlagSet) error {
		n, err := a.Authorities.Reindex(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "search index rebuilt: %d authorities\n", n)
		return nil
	})
}
