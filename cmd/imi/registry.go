package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/openimi/openimi/internal/app"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/config"
)

// registry is the registry service of an open app.
func registry(a *app.App) *authorities.Service {
	if a.Authorities != nil {
		return a.Authorities
	}
	return authorities.New(a.DB, a.Areas, a.Auth, a.Config.PublicURL, a.Now)
}

// importCmd is `imi import authorities FILE`: upsert authorities from a CSV
// or JSON file (docs/AUTHORITIES-IMPORT.md), as the operator.
func (c commands) importCmd(ctx context.Context, args []string) error {
	const use = "usage: imi import authorities FILE [--format csv|json] [--skip-invalid]"
	if len(args) == 0 || args[0] != "authorities" {
		fmt.Fprintln(c.stderr, use)
		return errUsage
	}
	var format string
	var skip bool
	extra := func(fs *flag.FlagSet) {
		fs.StringVar(&format, "format", "", "file format: csv or json (default: from the file name's extension; required for - (standard input))")
		fs.BoolVar(&skip, "skip-invalid", false, "import the valid rows and report the invalid ones as skipped (default: any invalid row means nothing is imported)")
	}
	settings, files := interspersed("import authorities", extra, args[1:])
	cfg, _, err := c.load("import authorities", config.Common, settings, extra)
	if err != nil {
		return err
	}
	if len(files) != 1 {
		fmt.Fprintln(c.stderr, use)
		return errUsage
	}
	file := files[0]
	if format == "" {
		format = formatOf(file)
	}
	if !slices.Contains(authorities.Formats, format) {
		fmt.Fprintf(c.stderr, "imi import authorities: cannot tell the format of %s: give --format csv or --format json\n", file)
		return errUsage
	}
	var in io.Reader = c.stdin
	if file != "-" {
		f, err := os.Open(file) // #nosec G304 G703 -- the operator's own command-line argument, read with the operator's rights
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	a, err := c.open(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	opts := authorities.ImportOptions{SkipInvalid: skip}
	bar := c.progressBar()
	if bar != nil {
		opts.Progress = bar.show
	}
	res, err := registry(a).ImportFile(ctx, authorities.System(), in, format, opts)
	bar.finish()
	en := a.Catalog.Localizer("en")
	for _, e := range append(res.Errors, res.Skipped...) {
		where := fmt.Sprintf("%s:%d:", file, e.Line)
		if e.Column != "" {
			where += " " + e.Column + ":"
		}
		fmt.Fprintln(c.stderr, where, e.Message(en))
	}
	if len(res.Errors) > 0 {
		return fmt.Errorf("%s; nothing imported", plural(len(res.Errors), "problem"))
	}
	if err != nil {
		return explain(err)
	}
	skipped := map[int]bool{}
	for _, e := range res.Skipped {
		skipped[e.Line] = true
	}
	fmt.Fprintf(c.stdout, "created %d, updated %d, unchanged %d, skipped %d\n", res.Created, res.Updated, res.Unchanged, len(skipped))
	if len(skipped) > 0 && res.Created+res.Updated+res.Unchanged == 0 {
		return errors.New("every row was invalid; nothing imported")
	}
	return nil
}

// exportCmd is `imi export authorities`: the whole registry in the import
// format.
func (c commands) exportCmd(ctx context.Context, args []string) error {
	const use = "usage: imi export authorities [--format csv|json] [--output FILE]"
	if len(args) == 0 || args[0] != "authorities" {
		fmt.Fprintln(c.stderr, use)
		return errUsage
	}
	var format, output string
	extra := func(fs *flag.FlagSet) {
		fs.StringVar(&format, "format", "", "file format: csv or json (default: from the --output file name's extension, else csv)")
		fs.StringVar(&output, "output", "", "file to write (default: standard output)")
	}
	cfg, fs, err := c.load("export authorities", config.Common, args[1:], extra)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(c.stderr, use)
		return errUsage
	}
	if format == "" {
		if format = formatOf(output); format == "" {
			format = "csv"
		}
	}
	if !slices.Contains(authorities.Formats, format) {
		fmt.Fprintf(c.stderr, "imi export authorities: --format must be csv or json, not %q\n", format)
		return errUsage
	}
	a, err := c.open(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	return c.writeOutput(output, func(w io.Writer) error { return registry(a).Export(ctx, w, format) })
}

// statsAuthorities is `imi stats authorities`: authorities per country and area.
func (c commands) statsAuthorities(ctx context.Context, args []string) error {
	const use = "usage: imi stats authorities [--format csv|json] [--output FILE]"
	var format, output string
	extra := func(fs *flag.FlagSet) {
		fs.StringVar(&format, "format", "csv", "csv (a table: country, one column per area, total) or json (also by number of areas and the share never used)")
		fs.StringVar(&output, "output", "", "file to write (default: standard output)")
	}
	cfg, fs, err := c.load("stats authorities", config.Common, args, extra)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 || (format != "csv" && format != "json") {
		fmt.Fprintln(c.stderr, use)
		return errUsage
	}
	a, err := c.open(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	st, err := registry(a).Stats(ctx)
	if err != nil {
		return err
	}
	return c.writeOutput(output, func(w io.Writer) error {
		if format == "json" {
			return writeStatsJSON(w, st)
		}
		return writeStatsCSV(w, st)
	})
}

// writeStatsCSV writes the table: country, one column per area, total;
// one row per country, then TOTAL.
func writeStatsCSV(w io.Writer, st authorities.Stats) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(append(append([]string{"country"}, st.Areas...), "total"))
	for _, cs := range append(slices.Clone(st.Countries), st.Total) {
		record := []string{cs.Country}
		for _, area := range st.Areas {
			record = append(record, strconv.Itoa(cs.PerArea[area]))
		}
		_ = cw.Write(append(record, strconv.Itoa(cs.Total)))
	}
	cw.Flush()
	return cw.Error()
}

type countryStatsJSON struct {
	Country        string         `json:"country"`
	PerArea        map[string]int `json:"per_area"`
	Total          int            `json:"total"`
	NeverUsed      int            `json:"never_used"`
	NeverUsedShare float64        `json:"never_used_share"`
}

func countryJSON(cs authorities.CountryStats, areas []string) countryStatsJSON {
	per := map[string]int{}
	for _, area := range areas {
		per[area] = cs.PerArea[area]
	}
	return countryStatsJSON{Country: cs.Country, PerArea: per, Total: cs.Total, NeverUsed: cs.NeverUsed, NeverUsedShare: cs.NeverUsedShare()}
}

// writeStatsJSON writes the table per country, the total, how many
// authorities work in 1, 2, 3… areas, and per country the share none of
// whose users ever signed in.
func writeStatsJSON(w io.Writer, st authorities.Stats) error {
	out := struct {
		Areas           []string           `json:"areas"`
		Countries       []countryStatsJSON `json:"countries"`
		Total           countryStatsJSON   `json:"total"`
		ByNumberOfAreas map[string]int     `json:"by_number_of_areas"`
	}{Areas: st.Areas, Total: countryJSON(st.Total, st.Areas), ByNumberOfAreas: map[string]int{}}
	for _, cs := range st.Countries {
		out.Countries = append(out.Countries, countryJSON(cs, st.Areas))
	}
	for n, count := range st.ByAreas {
		out.ByNumberOfAreas[strconv.Itoa(n)] = count
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// formatOf is a file's format by its extension, or "".
func formatOf(file string) string {
	switch strings.ToLower(filepath.Ext(file)) {
	case ".csv":
		return "csv"
	case ".json":
		return "json"
	}
	return ""
}

// writeOutput runs write on standard output, or on a file that appears
// complete or not at all.
func (c commands) writeOutput(output string, write func(io.Writer) error) error {
	if output == "" || output == "-" {
		return write(c.stdout)
	}
	f, err := os.CreateTemp(filepath.Dir(output), "."+filepath.Base(output)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := write(f); err != nil {
		_ = f.Close()
		return explain(err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), output)
}

// interspersed separates settings from the other arguments, so that they
// may follow a file name (`imi import authorities FILE --skip-invalid`),
// which the flag package alone does not allow.
func interspersed(name string, extra func(*flag.FlagSet), args []string) (settings, rest []string) {
	var cfg config.Config
	fs := config.FlagSet("imi "+name, config.Common, &cfg, io.Discard)
	extra(fs)
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return settings, append(rest, args[i+1:]...)
		case a == "-" || !strings.HasPrefix(a, "-"):
			rest = append(rest, a)
			continue
		}
		settings = append(settings, a)
		flagName, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := fs.Lookup(flagName)
		if f == nil || hasValue {
			continue // parsing reports an unknown setting
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			settings = append(settings, args[i+1])
			i++
		}
	}
	return settings, rest
}

// progressBar draws an import's progress on a terminal.
type progressBar struct {
	w    io.Writer
	last int
}

// progressBar returns a bar on standard error when that is a terminal,
// else nil (which draws nothing).
func (c commands) progressBar() *progressBar {
	f, ok := c.stderr.(*os.File)
	if !ok {
		return nil
	}
	if st, err := f.Stat(); err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return &progressBar{w: f, last: -1}
}

func (p *progressBar) show(done, total int) {
	if total == 0 {
		return
	}
	percent := done * 100 / total
	if percent == p.last {
		return
	}
	p.last = percent
	const width = 40
	fill := done * width / total
	fmt.Fprintf(p.w, "\r[%s%s] %3d%% %d/%d", strings.Repeat("=", fill), strings.Repeat(" ", width-fill), percent, done, total)
}

func (p *progressBar) finish() {
	if p != nil && p.last >= 0 {
		fmt.Fprintln(p.w)
	}
}
