// Command testreport reads `go test -json` on standard input, prints the
// ordinary test output, and ends with a count of passed, failed and skipped
// tests. It exits non-zero when a test or a package failed.
//
//	go test -json ./... | go run ./internal/testreport -label sqlite
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

func main() {
	label := flag.String("label", "", "name of this run, printed with the counts")
	flag.Parse()
	passed, failed, skipped := 0, 0, 0
	var failures []string
	pkgFailed := false
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 16<<20)
	for in.Scan() {
		var e event
		if err := json.Unmarshal(in.Bytes(), &e); err != nil {
			fmt.Println(in.Text()) // build errors arrive as plain text
			continue
		}
		switch e.Action {
		case "output":
			if e.Test == "" {
				fmt.Print(e.Output)
			}
			buffer(e)
		case "pass":
			if e.Test != "" {
				passed++
			}
		case "fail":
			if e.Test != "" {
				failed++
				failures = append(failures, e.Package+"."+e.Test)
				flush(e)
			} else {
				pkgFailed = true
			}
		case "skip":
			if e.Test != "" {
				skipped++
			}
		}
	}
	sort.Strings(failures)
	for _, f := range failures {
		fmt.Println("FAILED:", f)
	}
	prefix := ""
	if *label != "" {
		prefix = *label + ": "
	}
	fmt.Printf("%s%d passed, %d failed, %d skipped\n", prefix, passed, failed, skipped)
	if failed > 0 || pkgFailed {
		os.Exit(1)
	}
}

// Output of a test is held back until the test ends, and shown only if it
// failed.
var held = map[string][]string{}

func key(e event) string { return e.Package + "\x00" + e.Test }

func buffer(e event) {
	if e.Test != "" {
		held[key(e)] = append(held[key(e)], e.Output)
	}
}

func flush(e event) {
	for _, line := range held[key(e)] {
		fmt.Print(line)
	}
	delete(held, key(e))
}
