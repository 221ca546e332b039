package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/broadcasts"
	"github.com/openimi/openimi/internal/countries"
	"github.com/openimi/openimi/internal/db"
)

// BenchmarkAlerts20000 measures alerts with 20,000 already broadcast to
// every country (580,000 receipts), half of them disseminated in Italy to
// its Ministry of Health, and reports the median and 95th percentile of
// each operation for the users who see most: the Italian coordinator, the
// Italian authority, the Commission. As in a working network, most of the
// work is done: 1 in 50 alerts still waits for Italy's dissemination, 1 in
// 50 of those disseminated for the ministry's acknowledgement (the "to do"
// box is narrowed in Go, at some 25 µs per waiting case).
//
//	go test ./bench/ -run '^$' -bench Alerts20000 -benchtime 1x
//	IMI_TEST_DATABASE=postgres://… go test ./bench/ -run '^$' -bench Alerts20000 -benchtime 1x
func BenchmarkAlerts20000(b *testing.B) {
	const stored = 20_000
	ctx := context.Background()
	w := newBase(b)
	d, reg, au, auths := w.d, w.reg, w.au, w.auths
	svc, err := broadcasts.New(d, reg, auths, "http://imi.test", nil)
	if err != nil {
		b.Fatal(err)
	}
	register := func(country, name string, kind authorities.Kind) *authorities.Authority {
		a, err := auths.Register(ctx, authorities.System(), authorities.Input{Country: country, Name: name, Language: "en", Kind: kind, Areas: []string{"services"}})
		if err != nil {
			b.Fatal(err)
		}
		return a
	}
	var senders []*authorities.Authority
	for _, c := range countries.Current() {
		register(c.Code, "Coordinator "+c.Code, authorities.NationalCoordinator)
		for i := range 4 {
			senders = append(senders, register(c.Code, fmt.Sprintf("Authority %s %d", c.Code, i), authorities.CompetentAuthority))
		}
	}
	ec, err := auths.EnsureCommission(ctx)
	if err != nil {
		b.Fatal(err)
	}
	itNC, _, _ := auths.List(ctx, authorities.Filter{Country: "IT", Kind: authorities.NationalCoordinator, PerPage: 1})
	itCA := register("IT", "Ministero della Salute", authorities.CompetentAuthority)
	seCA := register("SE", "Inspektionen för vård och omsorg", authorities.CompetentAuthority)
	seNC, _, _ := auths.List(ctx, authorities.Filter{Country: "SE", Kind: authorities.NationalCoordinator, PerPage: 1})
	actor := func(a *authorities.Authority, email string, roles ...string) authorities.Actor {
		return member(b, au, auths, a, email, roles...)
	}
	itCoordinator := actor(itNC[0], "coordinator@it.example", authorities.Coordinator)
	itHandler := actor(itCA, "alerts@it.example", authorities.AlertHandler)
	commission := actor(ec, "grow@ec.example", authorities.Coordinator)
	seHandler := actor(seCA, "alerts@se.example", authorities.AlertHandler)
	seCoordinator := actor(seNC[0], "coordinator@se.example", authorities.Coordinator)
	start := time.Now()
	seedAlerts(b, d, stored, senders, itCA.ID, itCoordinator.UserID)
	b.Logf("stored %d alerts in %v", stored, time.Since(start).Round(time.Millisecond))

	draft := broadcasts.DraftInput{Kind: broadcasts.Alert, Area: "services", Type: "services_alert", Title: "Unsafe gas installations", AllCountries: true,
		Criteria: []string{"caused_by_service_activity", "serious_damage_risk", "cross_border"},
		Fields:   map[string]string{"business_name": "Gasfix AB", "country_of_establishment": "SE", "activity": "construction", "risk": "Carbon monoxide"}}
	t := newTimings(b)
	timed := t.time
	inbox := func(a authorities.Actor, box string) func() error {
		return func() error { _, _, err := svc.Inbox(ctx, a, broadcasts.Alert, box, broadcasts.Filter{}); return err }
	}
	b.ResetTimer()
	for range b.N {
		for range 20 {
			var id string
			timed("create_submit_broadcast_to_all", func() error {
				c, err := svc.Create(ctx, seHandler, draft)
				if err != nil {
					return err
				}
				id = c.ID
				if _, err := svc.Act(ctx, seHandler, id, "submit", broadcasts.Input{}); err != nil {
					return err
				}
				_, err = svc.Act(ctx, seCoordinator, id, "approve", broadcasts.Input{})
				return err
			})
			timed("disseminate", func() error {
				_, err := svc.Act(ctx, itCoordinator, id, "disseminate", broadcasts.Input{Authorities: []string{itCA.ID}})
				return err
			})
			timed("open", func() error { _, err := svc.Get(ctx, itHandler, id); return err })
			timed("inbox_to_do_coordinator", inbox(itCoordinator, broadcasts.ToDo))
			timed("inbox_received_authority", inbox(itHandler, broadcasts.Received))
			timed("inbox_received_commission", inbox(commission, broadcasts.Received))
			timed("counts_authority", func() error { _, err := svc.Counts(ctx, itHandler, broadcasts.Alert); return err })
		}
	}
	b.StopTimer()
	t.report()
}

// seedAlerts writes n broadcast alerts straight into the tables, each
// received by every country but its sender's; Italy disseminated all but 1
// in 50, every other one to recipient, which acknowledged all but 1 in 50.
func seedAlerts(b *testing.B, d *db.DB, n int, senders []*authorities.Authority, recipient, userID string) {
	b.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	states := []string{"broadcast", "broadcast", "closed", "closure_proposed", "withdrawn"}
	const batch = 200
	for startAt := 0; startAt < n; startAt += batch {
		err := d.InTx(ctx, func(tx db.Querier) error {
			var rows, receipts, recipients [][]any
			for i := startAt; i < min(startAt+batch, n); i++ {
				id := uuid.Must(uuid.NewV7()).String()
				sender := senders[i%len(senders)]
				sent := now.Add(-time.Duration(n-i) * time.Minute)
				state := states[i%len(states)]
				var closed any
				if state == "closed" || state == "withdrawn" {
					closed = sent.Add(48 * time.Hour)
				}
				rows = append(rows, []any{id, fmt.Sprintf("SERVICES-A-2025-%06d", i+1), "alert", "services", "services_alert", state, sender.ID, userID,
					fmt.Sprintf("Alert %d", i), `{"business_name":"Provider","risk":"Risk"}`, fmt.Sprintf("Provider %d", i), "",
					"caused_by_service_activity serious_damage_risk cross_border", true, "", sent, closed, sent, sent, sent})
				for _, c := range countries.Current() {
					if c.Code == sender.Country {
						continue
					}
					var disseminated any
					if c.Code == "IT" && i%50 != 1 {
						disseminated = sent.Add(time.Hour)
					}
					receipts = append(receipts, []any{id, c.Code, sent, disseminated})
				}
				if i%2 == 0 && sender.Country != "IT" {
					var acknowledged any
					if i%100 != 0 {
						acknowledged = sent.Add(3 * time.Hour)
					}
					recipients = append(recipients, []any{id, recipient, "IT", userID, sent.Add(time.Hour), acknowledged})
				}
			}
			if err := insertRows(ctx, d, tx, `broadcasts (id, reference, kind, area, type, state, sender_id, created_by, title, fields, subject_name, message,
				criteria, all_countries, countries, sent_at, closed_at, last_activity_at, created_at, updated_at)`, rows); err != nil {
				return err
			}
			for from := 0; from < len(receipts); from += 1000 {
				if err := insertRows(ctx, d, tx, "broadcast_countries (broadcast_id, country, received_at, disseminated_at)", receipts[from:min(from+1000, len(receipts))]); err != nil {
					return err
				}
			}
			if len(recipients) == 0 {
				return nil
			}
			return insertRows(ctx, d, tx, "broadcast_recipients (broadcast_id, authority_id, country, disseminated_by, disseminated_at, acknowledged_at)", recipients)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := d.AfterBulkChange(ctx, "broadcasts", "broadcast_countries", "broadcast_recipients"); err != nil {
		b.Fatal(err)
	}
}
