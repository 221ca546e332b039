package e2e_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/requests"
)

// TestACoordinatorReadsTheScoreboardAndTheReplyTimes: after Germany sent
// Greece two requests and Greece answered one, the Greek coordinator
// opens the statistics in Greek, reads the scoreboard with its ratings in
// words, chooses reply times per authority with the filter form, and
// downloads the same rows as CSV. axe checks every page, charts included.
func TestACoordinatorReadsTheScoreboardAndTheReplyTimes(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	elNC := s.authority(t, authorities.Input{Areas: []string{"pq"}, Country: "EL", Name: "Υπουργείο Ανάπτυξης", Language: "el", Kind: authorities.NationalCoordinator})
	s.authority(t, authorities.Input{Areas: []string{"pq"}, Country: "DE", Name: "Bundesministerium", Language: "de", Kind: authorities.NationalCoordinator})
	el := s.authority(t, authorities.Input{Areas: []string{"pq"}, Country: "EL", Name: "Ιατρικός Σύλλογος Αθηνών", Language: "el", City: "Αθήνα"})
	de := s.authority(t, authorities.Input{Areas: []string{"pq"}, Country: "DE", Name: "Ärztekammer Berlin", Language: "de", City: "Berlin"})
	actor := func(email string) authorities.Actor {
		u, err := s.App.Auth.UserByEmail(ctx, email)
		if err != nil {
			t.Fatal(err)
		}
		a, err := s.App.Authorities.ActorFor(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	sender := actor(s.member(t, de, "anfragen@aekb.de.example", "Lena Hoffmann", "de", authorities.RequestHandler))
	answerer := actor(s.member(t, el, "aitimata@isa.el.example", "Νίκος Γεωργίου", "el", authorities.RequestHandler))
	coordinator := s.member(t, elNC, "syntonismos@mindev.el.example", "Μαρία Ιωάννου", "el", authorities.Coordinator)
	for i := 0; i < 2; i++ {
		r, err := s.App.Requests.Create(ctx, sender, requests.DraftInput{Area: "pq", QuestionSet: "authenticity", Questions: []string{"diploma_authentic"},
			ResponderID: el.ID, Subject: map[string]string{"name": "Dimitris Papas", "profession": "doctor"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.App.Requests.Act(ctx, sender, r.ID, "send", requests.Input{}); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if _, err := s.App.Requests.Act(ctx, answerer, r.ID, "accept", requests.Input{}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.App.Requests.Act(ctx, answerer, r.ID, "answer", requests.Input{Answers: map[string]requests.Answer{"diploma_authentic": {Value: "yes"}}}); err != nil {
				t.Fatal(err)
			}
		}
	}

	tb := newTab(t, s, false)
	tb.signInAndEnrol(coordinator)
	tb.open("/statistics")
	tb.wantPath("/statistics/scoreboard")
	tb.check("stats-scoreboard-el")
	l := s.App.Catalog.Localizer("el")
	main := tb.text("main")
	if tb.lang() != "el" || !strings.Contains(main, "Ελλάδα") || !strings.Contains(main, l.T("stats_status_green")) || !tb.has(`svg[role="img"] title`) {
		t.Fatalf("the scoreboard: %.600q", main)
	}

	// Reply times per authority, chosen with the form.
	tb.open("/statistics/replies")
	tb.do("group by authority", chromedp.SetValue(chromedp.CSS(`#f-by`), "authority"))
	tb.click(`form.imi-filters button[type=submit]`)
	tb.check("stats-replies-authority-el")
	if main := tb.text("main"); !strings.Contains(main, "Ιατρικός Σύλλογος Αθηνών") || strings.Contains(main, "Ärztekammer") {
		t.Fatalf("reply times per authority: %.600q", main)
	}
	if href := tb.html(`a[href*="/export?"][href*="format=csv"]`); !strings.Contains(href, "by=authority") {
		t.Errorf("the CSV link does not keep the choice: %s", href)
	}

	// A wrong period is explained next to its field, and nothing else changes.
	tb.open("/statistics/requests?from=2026-05&to=2026-04")
	tb.check("stats-bad-period-el")
	if !tb.has(`#f-to[aria-invalid="true"]`) || !strings.Contains(tb.text("main"), l.T("error_stats_period_order")) {
		t.Errorf("the wrong period: %.400q", tb.text("main"))
	}
}
