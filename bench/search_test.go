package bench

import (
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	shipped "github.com/openimi/openimi/areas"
	"github.com/openimi/openimi/internal/areas"
	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/db/dbtest"
)

// registryOf grows the demo registry (466 authorities with real names in
// their languages and competences) to n authorities: copies keep the
// words, country, areas and competences, get their own external id, and
// report to their country's national coordinator.
func registryOf(b *testing.B, n int) []byte {
	b.Helper()
	raw, err := os.ReadFile("../internal/app/demodata/authorities.csv")
	if err != nil {
		b.Fatal(err)
	}
	records, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	if err != nil {
		b.Fatal(err)
	}
	head, rows := records[0], records[1:]
	col := map[string]int{}
	for i, h := range head {
		col[h] = i
	}
	nc := map[string]string{}
	for _, r := range rows {
		if r[col["role"]] == "national_coordinator" {
			nc[r[col["country"]]] = r[col["external_id"]]
		}
	}
	var out bytes.Buffer
	w := csv.NewWriter(&out)
	_ = w.Write(head)
	for _, r := range rows {
		_ = w.Write(r)
	}
	for i := len(rows); i < n; i++ {
		r := append([]string{}, rows[i%len(rows)]...)
		copyNo := strconv.Itoa(i / len(rows))
		r[col["external_id"]] += "-" + copyNo
		r[col["name"]] += " " + copyNo
		r[col["role"]] = "competent_authority"
		r[col["parent_external_id"]] = nc[r[col["country"]]]
		_ = w.Write(r)
	}
	w.Flush()
	return out.Bytes()
}

// BenchmarkSearch100000Authorities measures searches in a registry of
// 100,000 authorities and reports the 95th percentile of each kind:
//
//	go test ./bench/ -run '^$' -bench Search100000 -benchtime 1x
//	IMI_TEST_DATABASE=postgres://… go test ./bench/ -run '^$' -bench Search100000 -benchtime 1x
func BenchmarkSearch100000Authorities(b *testing.B) {
	d := dbtest.Open(b)
	reg, err := areas.Open(shipped.Files, "")
	if err != nil {
		b.Fatal(err)
	}
	svc := authorities.New(d, reg, auth.New(d, auth.Settings{}, nil), "http://imi.test", nil)
	ctx := context.Background()
	start := time.Now()
	if _, err := svc.ImportFile(ctx, authorities.System(), bytes.NewReader(registryOf(b, 100_000)), "csv", authorities.ImportOptions{}); err != nil {
		b.Fatal(err)
	}
	b.Logf("imported 100,000 authorities in %v", time.Since(start).Round(time.Millisecond))
	kinds := []struct {
		name    string
		queries []authorities.Query
	}{
		{"text", []authorities.Query{{Text: "arztekammer"}, {Text: "naczelna izba lek"}, {Text: "ministerstvo"}, {Text: "Υπουργείο Υγείας"}, {Text: "chambre des metiers"}}},
		{"text_country", []authorities.Query{{Text: "kammer", Countries: []string{"DE", "AT"}}, {Text: "poznan", Countries: []string{"PL"}}, {Text: "ordre", Countries: []string{"FR"}}}},
		{"competence_word", []authorities.Query{{Text: "enfermeiro", Countries: []string{"PL"}}, {Text: "médecin"}, {Text: "Arzt", Countries: []string{"IT"}}, {Text: "architekt"}}},
		{"filters_only", []authorities.Query{{Countries: []string{"DE"}, Area: "pq"}, {Countries: []string{"FR", "BE"}}, {Area: "services", Page: 40}}},
		{"competence_filter", []authorities.Query{{Competence: "pq/professions/doctor"}, {Competence: "pq/professions/architect", Countries: []string{"ES"}}}},
	}
	b.ResetTimer()
	for range b.N {
		for _, k := range kinds {
			var took []time.Duration
			for round := 0; round < 10; round++ {
				for _, q := range k.queries {
					t0 := time.Now()
					if _, _, err := svc.Search(ctx, q); err != nil {
						b.Fatal(err)
					}
					took = append(took, time.Since(t0))
				}
			}
			sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
			p95 := took[len(took)*95/100]
			b.ReportMetric(float64(p95.Microseconds())/1000, "p95-ms-"+k.name)
		}
	}
}
