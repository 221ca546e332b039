package main

import (
	"context"
	"fmt"

	"github.com/openimi/openimi/internal/config"
)

// search runs `imi search reindex`: rebuilds the text index of authorities
// from the registry, for instance after restoring a backup of the tables
// alone.
func (c commands) search(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "reindex" {
		fmt.Fprintln(c.stderr, "usage: imi search reindex [settings]")
		return errUsage
	}
	cfg, _, err := c.load("search reindex", config.Common, args[1:], nil)
	if err != nil {
		return err
	}
	a, err := c.open(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	n, err := a.Authorities.Reindex(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "search index rebuilt: %d authorities\n", n)
	return nil
}
