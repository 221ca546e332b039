package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	shipped "github.com/openimi/openimi/areas"
	"github.com/openimi/openimi/internal/areas"
	"github.com/openimi/openimi/internal/config"
)

// areas checks packs: `imi areas check DIR` prints every problem as
// file:line: reason and fails if there is one.
func (c commands) areas(args []string) error {
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprintln(c.stderr, "usage: imi areas check [DIR]")
		return errUsage
	}
	cfg, fs2, err := c.load("areas check", config.Common, args[1:], nil)
	if err != nil {
		return err
	}
	var packs []*areas.Pack
	var problems areas.Problems
	check := func(fsys fs.FS, prefix string) {
		ps, pr := areas.Load(fsys, ".")
		for i := range pr {
			if prefix != "" {
				pr[i].File = prefix + "/" + pr[i].File
			}
		}
		packs, problems = append(packs, ps...), append(problems, pr...)
	}
	switch {
	case fs2.NArg() > 1:
		fmt.Fprintln(c.stderr, "usage: imi areas check [DIR]")
		return errUsage
	case fs2.NArg() == 1:
		dir := fs2.Arg(0)
		if st, err := os.Stat(dir); err != nil || !st.IsDir() { // #nosec G703 -- the operator's own command-line argument
			return fmt.Errorf("%s is not a folder", dir)
		}
		check(os.DirFS(dir), dir)
	default:
		check(shipped.Files, "areas")
		if cfg.AreasDir != "" {
			check(os.DirFS(cfg.AreasDir), cfg.AreasDir)
		}
	}
	for _, p := range problems {
		fmt.Fprintln(c.stdout, p)
	}
	for _, p := range packs {
		n := 0
		for _, s := range p.QuestionSets {
			n += len(s.Questions())
		}
		fmt.Fprintf(c.stdout, "ok  %-10s version %d: %d vocabularies, %d question sets, %d questions, %d languages\n",
			p.Code, p.Version, len(p.Vocabularies), len(p.QuestionSets), n, len(p.Texts))
	}
	if len(problems) > 0 {
		return errors.New(plural(len(problems), "problem"))
	}
	return nil
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
