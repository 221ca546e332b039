package bench

import (
	"context"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	shipped "github.com/openimi/openimi/areas"
	"github.com/openimi/openimi/internal/areas"
	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/db/dbtest"
	"github.com/openimi/openimi/internal/gen"
	"github.com/openimi/openimi/internal/i18n"
	"github.com/openimi/openimi/internal/registers"
	"github.com/openimi/openimi/internal/requests"
	"github.com/openimi/openimi/locales"
)

// BenchmarkGenerate measures the data generator (imi generate) writing
// the 100k preset (20,000 authorities and users, 100,000 requests, 2,000
// alerts, 5,000 registers) into an empty database, and reports requests
// generated per second (the requests phase alone) and in all:
//
//	go test ./bench/ -run '^$' -bench Generate -benchtime 1x
//	IMI_TEST_DATABASE=postgres://… go test ./bench/ -run '^$' -bench Generate -benchtime 1x
//
// IMI_GEN_REQUESTS changes the number of requests (authorities and users
// stay as in the preset). The machine's load changes the rates; requests
// per processor-second of the process does not, much.
func BenchmarkGenerate(b *testing.B) {
	ctx := context.Background()
	s, err := gen.Preset("100k")
	if err != nil {
		b.Fatal(err)
	}
	if n, err := strconv.Atoi(os.Getenv("IMI_GEN_REQUESTS")); err == nil {
		s.Requests = n
	}
	reg, err := areas.Open(shipped.Files, "")
	if err != nil {
		b.Fatal(err)
	}
	cat, err := i18n.Load(locales.Files)
	if err != nil {
		b.Fatal(err)
	}
	var rate, overall float64
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		loc := dbtest.Location(b)
		d, err := db.Open(ctx, loc, db.Options{SQLiteSynchronous: "NORMAL"})
		if err != nil {
			b.Fatal(err)
		}
		if err := d.Migrate(ctx, nil); err != nil {
			b.Fatal(err)
		}
		auths := authorities.New(d, reg, auth.New(d, auth.Settings{}, nil), "http://imi.test", nil)
		b.StartTimer()
		before := cpuTime()
		res, err := gen.Run(ctx, gen.Deps{DB: d, Location: loc, Areas: reg, Catalog: cat, Authorities: auths,
			Registers: registers.New(d, reg, auths, cat, nil), Files: requests.DirStore{Dir: b.TempDir()}}, s)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		cpu += cpuTime() - before
		rate += res.RequestsPerSecond()
		overall += float64(res.Rows["requests"]) / res.Elapsed.Seconds()
		_ = d.Close()
		b.StartTimer()
	}
	b.ReportMetric(rate/float64(b.N), "requests/s")
	b.ReportMetric(overall/float64(b.N), "requests/s-overall")
	// What the machine's load does not change: requests per second of
	// this process's processor time, the whole run (on SQLite the
	// database works in the process; PostgreSQL's server is not counted).
	b.ReportMetric(float64(s.Requests*b.N)/cpu.Seconds(), "requests/cpu-s")
}

// cpuTime is the processor time this process has used.
func cpuTime() time.Duration {
	var u syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &u)
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}
