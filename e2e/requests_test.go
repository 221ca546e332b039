package e2e_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/openimi/openimi/internal/authorities"
)

// TestARequestComposedInGermanAnsweredInPolishReadInPortuguese is the
// information request's journey: a German request handler writes and
// sends it with the German interface, a Polish allocator accepts and
// answers it in Polish, and a Portuguese-speaking colleague of the
// requester reads the answer; each reader sees every question in their
// own language. axe checks every page.
func TestARequestComposedInGermanAnsweredInPolishReadInPortuguese(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	deNC := s.authority(t, authorities.Input{Country: "DE", Name: "Bundesministerium für Wirtschaft", Language: "de", Kind: authorities.NationalCoordinator, Areas: []string{"pq"}})
	s.authority(t, authorities.Input{Country: "PL", Name: "Ministerstwo Rozwoju", Language: "pl", Kind: authorities.NationalCoordinator, Areas: []string{"pq"}})
	de := s.authority(t, authorities.Input{Country: "DE", Name: "Ärztekammer Berlin", Language: "de", Areas: []string{"pq"}, City: "Berlin"})
	pl := s.authority(t, authorities.Input{Country: "PL", Name: "Naczelna Izba Lekarska", Language: "pl", Areas: []string{"pq"}, City: "Warszawa"})
	deUser := s.member(t, de, "sachbearbeiterin@aekb.de.example", "Katrin Vogel", "de", authorities.RequestHandler)
	plUser := s.member(t, pl, "alokator@nil.pl.example", "Piotr Zieliński", "pl", authorities.Allocator, authorities.RequestHandler)
	ptUser := s.member(t, de, "colega@aekb.de.example", "Ana Costa", "pt", authorities.RequestHandler, authorities.LocalDataAdministrator)
	coordinator := s.member(t, deNC, "koordination@bmwk.de.example", "Jonas Weber", "de", authorities.Coordinator)
	pack, _ := s.App.Areas.Pack("pq")
	question := func(lang string) string { return pack.In(lang).Question("diploma_authentic").Display }

	// Composed in German.
	tb := newTab(t, s, false)
	tb.signInAndEnrol(deUser)
	tb.open("/requests/new")
	tb.check("request-new")
	tb.do("choose the area", chromedp.SetValue(chromedp.CSS(`#f-area`), "pq"))
	tb.click(`button[name=step][value=continue]`)
	tb.check("request-new-questions")
	if !strings.Contains(tb.text("main"), question("de")) {
		t.Fatalf("the question is not in German: %.300q", tb.text("#f-questions"))
	}
	tb.do("choose a question", chromedp.Click(chromedp.CSS(`label[for="q-diploma_authentic"]`)))
	tb.fill(`[id="f-subject.name"]`, "Jan Kowalski")
	tb.do("choose the profession", chromedp.SetValue(chromedp.CSS(`[id="f-subject.profession"]`), "doctor"))
	tb.fill("#f-responder_q", "izba lekarska")
	tb.click(`button[name=step][value=find]`)
	tb.check("request-new-responder")
	tb.do("choose the responder", chromedp.Click(chromedp.CSS(`label[for="r-0"]`)))
	tb.click(`button[name=step][value=save]`)
	if !strings.HasPrefix(tb.path(), "/requests/") {
		t.Fatalf("after saving: %s %.300q", tb.path(), tb.text("main"))
	}
	tb.check("request-draft")
	id := strings.TrimPrefix(tb.path(), "/requests/")
	tb.click(`form[action$="/actions/send"] button[type=submit]`)
	tb.check("request-sent")
	tb.open("/requests?box=sent")
	tb.check("inbox-sent")

	// Answered in Polish.
	pt := newTab(t, s, false)
	pt.signInAndEnrol(plUser)
	pt.open("/requests")
	pt.check("inbox-todo-pl")
	pt.open("/requests/" + id)
	if !strings.Contains(pt.text("main"), question("pl")) || !strings.Contains(pt.text("main"), "Jan Kowalski") {
		t.Fatalf("the Polish reader's page: %.400q", pt.text("main"))
	}
	pt.click(`form[action$="/actions/accept"] button[type=submit]`)
	pt.check("request-accepted-pl")
	pt.do("answer yes", chromedp.Click(chromedp.CSS(`label[for="a-diploma_authentic-yes"]`)))
	pt.do("explain", chromedp.SendKeys(chromedp.CSS(`#t-diploma_authentic`), "Dyplom wydany przez Uniwersytet Jagielloński."))
	pt.click(`form[action$="/actions/answer"] button[type=submit]`)
	pt.check("request-answered-pl")

	// Read in Portuguese.
	pr := newTab(t, s, false)
	pr.signInAndEnrol(ptUser)
	pr.open("/requests/" + id)
	pr.check("request-answered-pt")
	main := pr.text("main")
	if pr.lang() != "pt" || !strings.Contains(main, question("pt")) || !strings.Contains(main, "Dyplom wydany") {
		t.Fatalf("the Portuguese reader's page (%s): %.500q", pr.lang(), main)
	}
	pr.click(`form[action$="/actions/close"] button[type=submit]`)
	pr.check("request-closed-pt")
	pr.open("/notifications")
	pr.check("notifications-pt")
	pr.open("/requests/subject-data?name=Kowalski")
	if !strings.Contains(pr.text("main"), "Jan Kowalski") {
		t.Fatalf("the data subject's page: %.300q", pr.text("main"))
	}
	pr.check("subject-data-pt")

	// The coordinator follows without personal data.
	co := newTab(t, s, false)
	co.signInAndEnrol(coordinator)
	co.open("/requests/follow-up")
	co.check("follow-up")
	co.open("/requests/" + id)
	co.check("request-coordinator")
	if strings.Contains(co.text("main"), "Jan Kowalski") {
		t.Fatal("the coordinator sees the person's name")
	}
}
