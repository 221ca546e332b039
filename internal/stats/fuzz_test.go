package stats_test

import (
	"net/url"
	"testing"

	shipped "github.com/openimi/openimi/areas"
	"github.com/openimi/openimi/internal/areas"
	"github.com/openimi/openimi/internal/problem"
	"github.com/openimi/openimi/internal/stats"
)

// Statistics filters come from URLs and the command line: any text.
// Checking them never panics and either accepts a query whose periods are
// months and whose dimensions are known, or names the parameter at fault.
func FuzzStatisticsQuery(f *testing.F) {
	reg, err := areas.Open(shipped.Files, "")
	if err != nil {
		f.Fatal(err)
	}
	f.Add("replies", "by=authority,quarter&from=2026&to=2026-12&clock=net")
	f.Add("requests", "by=profession,,profession&area=pq&country=el")
	f.Add("questions", "area=pq&from=2026-13&by=year,month")
	f.Add("scoreboard", "from=9999-99&country=%00")
	f.Fuzz(func(t *testing.T, name, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q := stats.ParseQuery(v)
		if err := q.Check(name, reg); err != nil {
			if p, ok := problem.As(err); !ok || p.Field == "" {
				t.Fatalf("%s %q: %v", name, raw, err)
			}
			return
		}
		for _, m := range []string{q.From, q.To} {
			if m != "" && (len(m) != 7 || m[4] != '-') {
				t.Fatalf("%s %q: period %q is not a month", name, raw, m)
			}
		}
		if q.Clock != "gross" && q.Clock != "net" {
			t.Fatalf("clock %q", q.Clock)
		}
	})
}
