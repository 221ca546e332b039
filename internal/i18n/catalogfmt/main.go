// Command catalogfmt rewrites translation catalogs into the layout of the
// English source: the same key order, plain messages first and plural
// tables last (in TOML every key after a [table] header belongs to that
// table, so a plain message placed after one is silently swallowed).
// Keys a table swallowed that way are moved back to the top level.
//
//	go run ./internal/i18n/catalogfmt locales/*.toml
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"
)

var forms = []string{"zero", "one", "two", "few", "many", "other"}

func isForm(k string) bool {
	for _, f := range forms {
		if f == k {
			return true
		}
	}
	return false
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: catalogfmt FILE.toml ...")
		os.Exit(2)
	}
	for _, path := range os.Args[1:] {
		if err := format(path); err != nil {
			fmt.Fprintln(os.Stderr, path+":", err)
			os.Exit(1)
		}
	}
}

// order returns the English catalog's keys in file order.
func order(dir string) ([]string, error) {
	var raw map[string]any
	md, err := toml.DecodeFile(filepath.Join(dir, "en.toml"), &raw)
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, k := range md.Keys() {
		if len(k) == 1 {
			keys = append(keys, k[0])
		}
	}
	return keys, nil
}

func format(path string) error {
	var raw map[string]any
	md, err := toml.DecodeFile(path, &raw)
	if err != nil {
		return err
	}
	keys, err := order(filepath.Dir(path))
	if err != nil {
		return err
	}
	plain := map[string]string{}
	tables := map[string]map[string]string{}
	for k, v := range raw {
		switch v := v.(type) {
		case string:
			plain[k] = v
		case map[string]any:
			for fk, fv := range v {
				s := fmt.Sprint(fv)
				if isForm(fk) {
					if tables[k] == nil {
						tables[k] = map[string]string{}
					}
					tables[k][fk] = s
				} else {
					plain[fk] = s // swallowed by the table above it
				}
			}
		}
	}
	header := "# OpenIMI user interface."
	if b, err := os.ReadFile(path); err == nil { // #nosec G304 G703 -- a developer tool: path is its own command-line argument
		if first, _, _ := strings.Cut(string(b), "\n"); strings.HasPrefix(first, "#") {
			header = first
		}
	}
	_ = md
	var b strings.Builder
	b.WriteString(header + "\n# Format: go-i18n v2 TOML; see docs/TRANSLATING.md.\n\n")
	seen := map[string]bool{}
	for _, k := range keys {
		if v, ok := plain[k]; ok {
			fmt.Fprintf(&b, "%s = %s\n", k, quote(v))
			seen[k] = true
		}
	}
	for k, v := range plain { // keys English does not have: kept, flagged by the tests
		if !seen[k] {
			fmt.Fprintf(&b, "%s = %s\n", k, quote(v))
		}
	}
	b.WriteString("\n# Messages that depend on a number: one entry per CLDR plural category.\n# Keep these tables at the end of the file.\n")
	for _, k := range keys {
		t, ok := tables[k]
		if !ok {
			continue
		}
		fmt.Fprintf(&b, "\n[%s]\n", k)
		for _, f := range forms {
			if v, ok := t[f]; ok {
				fmt.Fprintf(&b, "%s = %s\n", f, quote(v))
			}
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o644) // #nosec G306 G703 -- rewrites a catalog named on its command line; catalogs are public source files
}

// quote writes a TOML string: multi-line text in triple quotes, the rest as
// a basic string.
func quote(s string) string {
	if strings.Contains(s, "\n") && !strings.Contains(s, `"""`) && !strings.Contains(s, `\`) {
		return `"""` + "\n" + s + `"""`
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`)
	return `"` + r.Replace(s) + `"`
}
