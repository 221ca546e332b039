package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/openimi/openimi/internal/app"
	"github.com/openimi/openimi/internal/i18n"
	"github.com/openimi/openimi/internal/problem"
	"github.com/openimi/openimi/internal/stats"
)

const statsUsage = `usage:
  imi stats authorities [--format csv|json] [--output FILE]
  imi stats exchanges   [--by area,month] [filters]
  imi stats requests    [--by area,quarter | profession,quarter --area pq | requester_country,responder_country …] [filters]
  imi stats questions   --area AREA [--by quarter] [filters]
  imi stats replies     [--by area | country | authority [,quarter]] [--clock gross|net] [filters]
  imi stats scoreboard  [filters]
  imi stats report      --year YYYY [--lang en] [--output imi-report-YYYY]
  imi stats rebuild
filters: --from YYYY-MM --to YYYY-MM --area AREA --country CC; output: --format csv|json --output FILE`

// statsCmd runs `imi stats …`: the same figures as the UI and the API.
func (c commands) statsCmd(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(c.stderr, statsUsage)
		return errUsage
	}
	switch name := args[0]; {
	case name == "authorities":
		return c.statsAuthorities(ctx, args[1:])
	case name == "report":
		return c.statsReport(ctx, args[1:])
	case name == "rebuild":
		return c.withApp(ctx, "stats rebuild", args[1:], nil, func(a *app.App, fs *flag.FlagSet) error {
			n, err := stats.Rebuild(ctx, a.DB, a.Areas)
			if err == nil {
				fmt.Fprintf(c.stdout, "statistics derived again for %d requests\n", n)
			}
			return err
		})
	case slices.Contains(stats.Statistics, name):
		return c.statsTable(ctx, name, args[1:])
	}
	fmt.Fprintln(c.stderr, statsUsage)
	return errUsage
}

func (c commands) statsTable(ctx context.Context, name string, args []string) error {
	var q stats.Query
	var by, format, output string
	extra := func(fs *flag.FlagSet) {
		fs.StringVar(&by, "by", "", "dimensions to group by, comma-separated (area, month, quarter, year, profession, sector, requester_country, responder_country, country, authority)")
		fs.StringVar(&q.From, "from", "", "first month (YYYY-MM) or year")
		fs.StringVar(&q.To, "to", "", "last month (YYYY-MM) or year")
		fs.StringVar(&q.Area, "area", "", "one legislative area")
		fs.StringVar(&q.Country, "country", "", "requests involving one country (replies, scoreboard: answered by it)")
		fs.StringVar(&q.Clock, "clock", "gross", "replies: gross, or net of the time the clock stood")
		fs.StringVar(&format, "format", "csv", "csv or json")
		fs.StringVar(&output, "output", "", "file to write (default: standard output)")
	}
	return c.withApp(ctx, "stats "+name, args, extra, func(a *app.App, fs *flag.FlagSet) error {
		if fs.NArg() > 0 || format != "csv" && format != "json" {
			fmt.Fprintln(c.stderr, statsUsage)
			return errUsage
		}
		if by != "" {
			q.By = strings.Split(by, ",")
		}
		q.Country = strings.ToUpper(q.Country)
		t, err := a.Stats.Table(ctx, name, q)
		if err != nil {
			return inEnglish(a, err)
		}
		return c.writeOutput(output, func(w io.Writer) error {
			if format == "json" {
				return t.WriteJSON(w)
			}
			return t.WriteCSV(w)
		})
	})
}

// statsReport writes the annual report of a year as HTML and PDF.
func (c commands) statsReport(ctx context.Context, args []string) error {
	var year int
	var lang, output string
	extra := func(fs *flag.FlagSet) {
		fs.IntVar(&year, "year", 0, "the year reported on")
		fs.StringVar(&lang, "lang", "en", "the report's language (one of the 26)")
		fs.StringVar(&output, "output", "", "file name without extension (default: imi-report-YYYY); .html and .pdf are written")
	}
	return c.withApp(ctx, "stats report", args, extra, func(a *app.App, fs *flag.FlagSet) error {
		if fs.NArg() > 0 || year < 2000 || year > 9999 {
			fmt.Fprintln(c.stderr, "usage: imi stats report --year YYYY [--lang en] [--output imi-report-YYYY]")
			return errUsage
		}
		if !i18n.Supported(lang) {
			return fmt.Errorf("--lang: %q is not one of the languages of IMI", lang)
		}
		if output == "" {
			output = fmt.Sprintf("imi-report-%d", year)
		}
		l := a.Catalog.Localizer(lang)
		labels := stats.NewLabels(lang, a.Areas, l.T)
		network, err := a.Authorities.Stats(ctx)
		if err != nil {
			return err
		}
		rep, err := a.Stats.Report(ctx, year, network, labels)
		if err != nil {
			return err
		}
		if err := c.writeOutput(output+".html", func(w io.Writer) error { return rep.WriteHTML(w, labels) }); err != nil {
			return err
		}
		if err := c.writeOutput(output+".pdf", func(w io.Writer) error { return rep.WritePDF(w, labels) }); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "wrote %s.html and %s.pdf\n", output, output)
		return nil
	})
}

// inEnglish turns a problem into its English message for the terminal.
func inEnglish(a *app.App, err error) error {
	p, ok := problem.As(err)
	if !ok {
		return err
	}
	msg := a.Catalog.Localizer("en").T(p.Key, p.Args...)
	if p.Field != "" {
		return errors.New("--" + p.Field + ": " + msg)
	}
	return errors.New(msg)
}
