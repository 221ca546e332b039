package bench

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"strings"
	"testing"

	shipped "github.com/openimi/openimi/areas"
	"github.com/openimi/openimi/internal/areas"
	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/countries"
	"github.com/openimi/openimi/internal/db/dbtest"
)

// importFile is a CSV of n authorities over the 30 countries: a national
// coordinator each, a delegated coordinator in every tenth, the rest
// competent authorities with competences by code, qualified code and
// English label.
func importFile(n int) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write(authorities.Columns)
	cs := countries.Current()
	row := func(ext, country, name, areasList, role, parent, competences string) {
		record := map[string]string{"external_id": ext, "country": country, "name": name, "language": "en", "areas": areasList,
			"name_en": name + " (EN)", "city": "Capital", "postcode": "1000", "street": "Main Street 1",
			"email": "imi@" + strings.ToLower(ext) + ".example.eu", "phone": "+32 2 000 00 00", "website": "https://" + strings.ToLower(ext) + ".example.eu",
			"role": role, "parent_external_id": parent, "competences": competences}
		out := make([]string, len(authorities.Columns))
		for i, c := range authorities.Columns {
			out[i] = record[c]
		}
		_ = w.Write(out)
	}
	for _, c := range cs {
		row(c.Code+"-NC", c.Code, "National IMI coordinator of "+c.Code, "general;pq;pw;services", "national_coordinator", "", "")
	}
	competences := []string{"doctor;nurse_general_care", "professions:dentist;Pharmacist", "architect;Civil engineer", "doctor_specialist;midwife"}
	for i := len(cs); i < n; i++ {
		c := cs[i%len(cs)].Code
		ext := fmt.Sprintf("%s-%05d", c, i)
		switch {
		case i%10 == 0:
			row(ext, c, "Delegated coordinator "+ext, "pq", "delegated_coordinator", c+"-NC", "")
		case i%3 == 0:
			row(ext, c, "Services authority "+ext, "services;pw", "competent_authority", c+"-NC", "service_sectors:tour_guides;economic_sectors:construction")
		default:
			row(ext, c, "Authority "+ext, "pq", "competent_authority", c+"-NC", competences[i%len(competences)])
		}
	}
	w.Flush()
	return b.Bytes()
}

// BenchmarkImport10000Authorities parses and imports 10,000 authorities
// into an empty registry, on SQLite or (IMI_TEST_DATABASE) PostgreSQL:
//
//	go test ./bench/ -run '^$' -bench Import -benchtime 1x
func BenchmarkImport10000Authorities(b *testing.B) {
	const n = 10000
	file := importFile(n)
	reg, err := areas.Open(shipped.Files, "")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		d := dbtest.Open(b)
		svc := authorities.New(d, reg, auth.New(d, auth.Settings{}, nil), "http://imi.test", nil)
		b.StartTimer()
		res, err := svc.ImportFile(ctx, authorities.System(), bytes.NewReader(file), "csv", authorities.ImportOptions{})
		if err != nil {
			b.Fatalf("%v: %v", err, res.Errors[:min(len(res.Errors), 5)])
		}
		if res.Created != n {
			b.Fatalf("created %d", res.Created)
		}
		b.StopTimer()
		// Again: everything unchanged.
		res, err = svc.ImportFile(ctx, authorities.System(), bytes.NewReader(file), "csv", authorities.ImportOptions{})
		if err != nil || res.Unchanged != n {
			b.Fatalf("re-import: %v %+v", err, res)
		}
		d.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "authorities/s")
}

// BenchmarkReimport10000Authorities imports 10,000 authorities into a
// registry that has them already: once all unchanged, once all changed.
func BenchmarkReimport10000Authorities(b *testing.B) {
	const n = 10000
	file := importFile(n)
	changed := bytes.ReplaceAll(file, []byte("Main Street 1"), []byte("Main Street 2"))
	reg, err := areas.Open(shipped.Files, "")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, bc := range []struct {
		name  string
		file  []byte
		check func(authorities.ImportResult) bool
	}{
		{"unchanged", file, func(r authorities.ImportResult) bool { return r.Unchanged == n }},
		{"changed", changed, func(r authorities.ImportResult) bool { return r.Updated == n }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				d := dbtest.Open(b)
				svc := authorities.New(d, reg, auth.New(d, auth.Settings{}, nil), "http://imi.test", nil)
				if _, err := svc.ImportFile(ctx, authorities.System(), bytes.NewReader(file), "csv", authorities.ImportOptions{}); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				res, err := svc.ImportFile(ctx, authorities.System(), bytes.NewReader(bc.file), "csv", authorities.ImportOptions{})
				if err != nil || !bc.check(res) {
					b.Fatalf("%v %+v", err, res)
				}
				b.StopTimer()
				d.Close()
				b.StartTimer()
			}
		})
	}
}
