package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/countries"
	"github.com/openimi/openimi/internal/i18n"
	"github.com/openimi/openimi/internal/registers"
	"github.com/openimi/openimi/locales"
)

// BenchmarkRegisters20000 measures the directory with 20,000 entries in
// the 30 countries (imported through the service, as an operator would),
// and reports the median and 95th percentile of searches by words in
// several languages, by filters, and of a change:
//
//	go test ./bench/ -run '^$' -bench Registers20000 -benchtime 1x
func BenchmarkRegisters20000(b *testing.B) {
	const stored = 20_000
	ctx := context.Background()
	w := newBase(b)
	d, reg, au, auths := w.d, w.reg, w.au, w.auths
	cat, err := i18n.Load(locales.Files)
	if err != nil {
		b.Fatal(err)
	}
	svc := registers.New(d, reg, auths, cat, nil)
	var holders []*authorities.Authority
	for _, c := range countries.Current() {
		for i := range 5 {
			kind := authorities.CompetentAuthority
			if i == 0 {
				kind = authorities.NationalCoordinator
			}
			a, err := auths.Register(ctx, authorities.System(), authorities.Input{Country: c.Code, Name: fmt.Sprintf("Authority %s %d", c.Code, i), Language: "en",
				Kind: kind, Areas: []string{"services", "pq"}})
			if err != nil {
				b.Fatal(err)
			}
			holders = append(holders, a)
		}
	}
	records := make([]registers.Record, stored)
	lines := make([]int, stored)
	for i := range records {
		h := holders[i%len(holders)]
		typ := registers.Types[i%len(registers.Types)]
		records[i] = registers.Record{ExternalID: fmt.Sprintf("B-%d", i), Country: h.Country, Authority: h.ID, Language: "en", Type: typ,
			Name: fmt.Sprintf("%s %d of %s", cat.Localizer("en").T("register_type_"+typ), i, h.Name), Description: "Entries of the kind the name says.",
			Access: registers.Accesses[i%len(registers.Accesses)], Areas: []string{"services"}}
		lines[i] = i + 1
	}
	start := time.Now()
	if res, err := svc.Import(ctx, authorities.System(), records, lines, false); err != nil || len(res.Errors) > 0 {
		b.Fatalf("import: %+v %v", res.Errors, err)
	}
	b.Logf("imported %d entries in %v", stored, time.Since(start).Round(time.Millisecond))
	reader := member(b, au, auths, holders[1], "reader@example.eu", authorities.RequestHandler)
	admin := member(b, au, auths, holders[1], "admin@example.eu", authorities.LocalDataAdministrator)
	t := newTimings(b)
	search := func(name string, q registers.Query) {
		t.time(name, func() error { _, _, err := svc.Search(ctx, reader, q); return err })
	}
	b.ResetTimer()
	for range b.N {
		for i := range 30 {
			search("text_en", registers.Query{Text: "business register"})
			search("text_de", registers.Query{Text: cat.Localizer("de").T("register_type_trade_register")})
			search("text_and_country", registers.Query{Text: "qualifications", Countries: []string{"FR"}})
			search("filters_only", registers.Query{Countries: []string{"IT"}, Type: "tax_register"})
			search("all_by_name_page_10", registers.Query{Page: 10, PerPage: 100})
			t.time("update", func() error {
				list, _, err := svc.Search(ctx, admin, registers.Query{Countries: []string{holders[1].Country}, PerPage: 1, Page: i + 1})
				if err != nil || len(list) == 0 {
					return err
				}
				e := list[0]
				_, err = svc.Update(ctx, admin, e.ID, registers.Input{AuthorityID: e.AuthorityID, Name: e.Name, Language: e.Language,
					Description: fmt.Sprintf("Changed %d", i), Type: e.Type, Access: e.Access, Areas: e.Areas})
				return err
			})
		}
	}
	b.StopTimer()
	t.report()
}
