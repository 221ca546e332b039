package main

import (
	"debug/buildinfo"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"
)

// targets of issue 11, for the largest data set.
var targets = map[string]float64{
	"open a request":            0.40,
	"inbox":                     0.20,
	"search authorities":        0.20,
	"create and send a request": 0.50,
	"answer a request":          0.50,
}

const (
	p99Target    = 100 * time.Millisecond
	growthTarget = 2.0
	rssTarget    = 300 << 20
)

func mark(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}

// sourceCommit names the commit the imi program measured was built from,
// as the Go toolchain stamped it in the binary, and says so when the tree
// held changes not committed.
func sourceCommit(imi string) string {
	info, err := buildinfo.ReadFile(imi)
	if err != nil {
		return ""
	}
	var commit string
	var modified bool
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			commit = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if len(commit) > 7 {
		commit = commit[:7]
	}
	if commit != "" && modified {
		commit += " with changes not committed"
	}
	return commit
}

// report renders the results as Markdown: per database, one row per
// journey, one group of columns per data set.
func report(o options, results []*result, command string) string {
	var b strings.Builder
	commit := o.commit
	if commit == "" {
		commit = "?"
	}
	fmt.Fprintf(&b, "Measured on %s, commit %s, %d cores, load average %s at the end; %d rounds of %s per journey (after %s not counted), %d concurrent users; latency at half of each journey's saturation rate for %s.\n\n",
		time.Now().UTC().Format(time.DateOnly), commit, runtime.NumCPU(), loadAverage(), o.rounds, o.duration, o.warmup, o.workers, o.half)
	fmt.Fprintf(&b, "```\n%s\n```\n\n", command)
	b.WriteString("*Per second*: journeys (for the ceilings, requests). *Ratio*, round by round against the ceiling measured seconds before, then the median: " +
		"pages read per second ÷ the primary-key ceiling's (inbox, search, open); forms sent per second, each one durable commit, ÷ the durable insert's " +
		"(create and send, answer); downloads, each recorded durably in the audit log, ÷ the durable insert's. " +
		"*p50 / p99*: latency of each step (a page, or a form sent and the page it leads to) with journeys arriving at half of the saturation rate.\n\n")
	byKind := map[string][]*result{}
	var kinds []string
	for _, r := range results {
		if byKind[r.kind] == nil {
			kinds = append(kinds, r.kind)
		}
		byKind[r.kind] = append(byKind[r.kind], r)
	}
	for _, kind := range kinds {
		rs := byKind[kind]
		first, last := rs[0], rs[len(rs)-1]
		fmt.Fprintf(&b, "#### %s\n\n", map[string]string{"sqlite": "SQLite", "postgres": "PostgreSQL"}[kind])
		b.WriteString("| journey |")
		for _, r := range rs {
			fmt.Fprintf(&b, " %s: per second | %s: ratio | %s: p50 / p99 at half (ms) |", r.scale, r.scale, r.scale)
		}
		if len(rs) > 1 {
			fmt.Fprintf(&b, " p50 %s / %s |", last.scale, first.scale)
		}
		fmt.Fprintf(&b, " targets (%s) |\n|---|", last.scale)
		for range rs {
			b.WriteString("---:|---:|---:|")
		}
		if len(rs) > 1 {
			b.WriteString("---:|")
		}
		b.WriteString("---|\n")
		for _, j := range journeys() {
			if _, ok := last.rounds[j.name]; !ok {
				continue // not measured (--only)
			}
			fmt.Fprintf(&b, "| %s |", j.name)
			for _, r := range rs {
				rate := median(r.rounds[j.name], func(p phase) float64 { return p.perSecond(p.journeys) })
				ratio := "—"
				if j.ceiling != "" {
					ratio = fmt.Sprintf("%.0f%%", 100*ratios(r, j))
				}
				lat := "—"
				if h, ok := r.half[j.name]; ok {
					lat = fmt.Sprintf("%.1f / %.1f", ms(quantile(h.lat, 0.5)), ms(quantile(h.lat, 0.99)))
				}
				fmt.Fprintf(&b, " %.0f | %s | %s |", rate, ratio, lat)
			}
			h0, ok0 := first.half[j.name]
			h1, ok1 := last.half[j.name]
			growth := 0.0
			if ok0 && ok1 && quantile(h0.lat, 0.5) > 0 {
				growth = float64(quantile(h1.lat, 0.5)) / float64(quantile(h0.lat, 0.5))
			}
			if len(rs) > 1 {
				if ok0 && ok1 {
					fmt.Fprintf(&b, " %.2f× |", growth)
				} else {
					b.WriteString(" — |")
				}
			}
			var t []string
			if goal, ok := targets[j.name]; ok {
				t = append(t, fmt.Sprintf("≥ %.0f%% %s", 100*goal, mark(ratios(last, j) >= goal)))
			}
			if ok1 {
				t = append(t, fmt.Sprintf("p99 < 100 ms %s", mark(quantile(h1.lat, 0.99) < p99Target)))
				if len(rs) > 1 && ok0 {
					t = append(t, fmt.Sprintf("≤ 2× %s", mark(growth <= growthTarget)))
				}
			}
			errs := 0
			for _, r := range rs {
				for _, p := range r.rounds[j.name] {
					errs += p.errors
				}
				errs += r.half[j.name].errors
				if j.name == "day in the office" {
					for _, p := range append(slices.Clone(r.one), r.two...) {
						errs += p.errors
					}
				}
			}
			if errs > 0 {
				t = append(t, fmt.Sprintf("%d errors ✗", errs))
			}
			fmt.Fprintf(&b, " %s |\n", strings.Join(t, ", "))
		}
		b.WriteString("\n")
		for _, r := range rs {
			fmt.Fprintf(&b, "- %s: %d requests and %d authorities stored at the start.\n", r.scale, r.stored, r.authorities)
			fmt.Fprintf(&b, "- %s: the server's resident size under load peaked at %.0f MB, of which its own memory %.0f MB (target < 300 MB %s); the rest is program and library pages shared with other processes.\n",
				r.scale, float64(r.rss)/(1<<20), float64(r.own)/(1<<20), mark(r.own < rssTarget))
			if day, ok := r.half["day in the office"]; ok {
				if slow := day.slowest(0.01); slow != "" {
					fmt.Fprintf(&b, "- %s: at half load, the day in the office's slowest 1%% of steps (p99 %.1f ms): %s.\n", r.scale, ms(quantile(day.lat, 0.99)), slow)
				}
			}
			if len(r.one) > 0 {
				one := median(r.one, func(p phase) float64 { return p.perSecond(p.journeys) })
				two := median(r.two, func(p phase) float64 { return p.perSecond(p.journeys) })
				gain := "—"
				if one > 0 {
					gain = fmt.Sprintf("%.2f×", two/one)
				}
				fmt.Fprintf(&b, "- %s: a day in the office on one server %.0f/s, on %d servers %.0f/s (%s), the servers, the database and the load on the same %d cores.\n",
					r.scale, one, o.servers, two, gain, runtime.NumCPU())
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}
