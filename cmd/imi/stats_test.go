package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openimi/openimi/internal/app"
	"github.com/openimi/openimi/internal/config"
	"github.com/openimi/openimi/internal/db/dbtest"
	"github.com/openimi/openimi/internal/stats"
)

// The demonstration data holds two years of requests; the command line
// gives the same figures as the statistics service (which the UI and the
// API use), writes the annual report, refuses bad choices with a reason,
// and derives the figures again from the events.
func TestStatisticsFromTheCommandLine(t *testing.T) {
	loc := dbtest.Location(t)
	ctx := context.Background()
	var cfg config.Config
	if err := config.Load(config.FlagSet("test", config.Common, &cfg, &bytes.Buffer{}), &cfg, []string{"--database", loc, "--data-dir", t.TempDir()}, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	a, err := app.Open(ctx, &cfg, app.NewLogger(&cfg))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.LoadDemo(ctx, a); err != nil {
		t.Fatal(err)
	}
	year := strconv.Itoa(time.Now().In(stats.Zone).Year())
	want := func(name string, q stats.Query) string {
		t.Helper()
		tb, err := a.Stats.Table(ctx, name, q)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := tb.WriteCSV(&b); err != nil {
			t.Fatal(err)
		}
		if strings.Count(b.String(), "\n") < 2 {
			t.Fatalf("%s: no figures in the demonstration data:\n%s", name, b.String())
		}
		return b.String()
	}
	cases := []struct {
		args []string
		name string
		q    stats.Query
	}{
		{[]string{"requests", "--by", "area,quarter"}, "requests", stats.Query{By: []string{"area", "quarter"}}},
		{[]string{"requests", "--by", "profession,quarter", "--area", "pq"}, "requests", stats.Query{By: []string{"profession", "quarter"}, Area: "pq"}},
		{[]string{"exchanges", "--by", "area,year"}, "exchanges", stats.Query{By: []string{"area", "year"}}},
		{[]string{"questions", "--area", "services", "--from", year}, "questions", stats.Query{Area: "services", From: year}},
		{[]string{"replies", "--by", "country", "--clock", "net"}, "replies", stats.Query{By: []string{"country"}, Clock: "net"}},
		{[]string{"scoreboard", "--from", year + "-01", "--to", year + "-12"}, "scoreboard", stats.Query{From: year + "-01", To: year + "-12"}},
	}
	expected := make([]string, len(cases))
	for i, c := range cases {
		expected[i] = want(c.name, c.q)
	}
	facts := 0
	if err := a.DB.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM request_facts`).Scan(&facts); err != nil {
		t.Fatal(err)
	}
	a.Close()

	for i, c := range cases {
		code, out, errOut := imi(t, "", append([]string{"--database", loc, "stats"}, c.args...)...)
		if code != 0 || out != expected[i] {
			t.Errorf("imi stats %s: %d %s\n%s\nwant\n%s", strings.Join(c.args, " "), code, errOut, out, expected[i])
		}
	}
	code, out, errOut := imi(t, "", "--database", loc, "stats", "scoreboard", "--format", "json")
	if code != 0 || !strings.Contains(out, `"accepted_7_days_status"`) || !strings.Contains(out, `"country": "EU"`) {
		t.Errorf("scoreboard JSON: %d %s %.300s", code, errOut, out)
	}
	code, _, errOut = imi(t, "", "--database", loc, "stats", "requests", "--by", "colour")
	if code != 1 || !strings.Contains(errOut, "--by: The figures cannot be grouped that way") {
		t.Errorf("a bad grouping: %d %s", code, errOut)
	}
	code, _, errOut = imi(t, "", "--database", loc, "stats", "requests", "--from", "2026-13")
	if code != 1 || !strings.Contains(errOut, "--from: Give a month as YYYY-MM") {
		t.Errorf("a bad month: %d %s", code, errOut)
	}

	// The annual report, in Greek: HTML with its tables and charts, and a PDF.
	base := filepath.Join(t.TempDir(), "report")
	code, out, errOut = imi(t, "", "--database", loc, "stats", "report", "--year", year, "--lang", "el", "--output", base)
	if code != 0 || !strings.Contains(out, "report.html") {
		t.Fatalf("report: %d %s %s", code, out, errOut)
	}
	html, err := os.ReadFile(base + ".html")
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{`<html lang="el">`, "<svg role=\"img\"", "<caption>", "Ελλάδα", year} {
		if !strings.Contains(string(html), part) {
			t.Errorf("the HTML report lacks %q", part)
		}
	}
	pdf, err := os.ReadFile(base + ".pdf")
	if err != nil || !bytes.HasPrefix(pdf, []byte("%PDF-")) || bytes.Count(pdf, []byte("/Type /Page\n")) < 3 {
		t.Errorf("the PDF report: %v, %d bytes, %d pages", err, len(pdf), bytes.Count(pdf, []byte("/Type /Page\n")))
	}
	if code, _, _ := imi(t, "", "--database", loc, "stats", "report", "--year", "20"); code != 2 {
		t.Errorf("a report without a year: %d", code)
	}

	code, out, errOut = imi(t, "", "--database", loc, "stats", "rebuild")
	if code != 0 || out != "statistics derived again for "+strconv.Itoa(facts)+" requests\n" {
		t.Errorf("rebuild: %d %q %s (want %d)", code, out, errOut, facts)
	}
	for i, c := range cases[:2] {
		if _, out, _ := imi(t, "", append([]string{"--database", loc, "stats"}, c.args...)...); out != expected[i] {
			t.Errorf("after rebuild, imi stats %s differs", strings.Join(c.args, " "))
		}
	}
}
