package e2e_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/openimi/openimi/internal/authorities"
)

// TestAnAlertDraftedInSwedishValidatedBroadcastAndReadInItalian is the
// alert's journey: a Swedish alert handler drafts a services alert in
// Swedish and confirms its criteria, the Swedish coordinator validates and
// broadcasts it to Italy, the Italian coordinator disseminates it to the
// Ministry of Health, whose alert handler reads it in Italian and
// acknowledges it; an Italian authority it was not disseminated to cannot
// open it. A notification of a measure is then sent and commented on.
// axe checks every page.
func TestAnAlertDraftedInSwedishValidatedBroadcastAndReadInItalian(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	seNC := s.authority(t, authorities.Input{Areas: []string{"services"}, Country: "SE", Name: "Kommerskollegium", Language: "sv", Kind: authorities.NationalCoordinator})
	itNC := s.authority(t, authorities.Input{Areas: []string{"services"}, Country: "IT", Name: "Dipartimento per le politiche europee", Language: "it", Kind: authorities.NationalCoordinator})
	se := s.authority(t, authorities.Input{Areas: []string{"services"}, Country: "SE", Name: "Boverket", Language: "sv", City: "Karlskrona"})
	it := s.authority(t, authorities.Input{Areas: []string{"services"}, Country: "IT", Name: "Ministero della Salute", Language: "it", City: "Roma"})
	it2 := s.authority(t, authorities.Input{Areas: []string{"services"}, Country: "IT", Name: "Camera di commercio di Milano", Language: "it", City: "Milano"})
	seUser := s.member(t, se, "larm@boverket.se.example", "Karin Lind", "sv", authorities.AlertHandler)
	seCoordinator := s.member(t, seNC, "samordnare@kommers.se.example", "Eva Holm", "sv", authorities.Coordinator)
	itCoordinator := s.member(t, itNC, "coordinatore@politicheeuropee.it.example", "Giulia Conti", "it", authorities.Coordinator)
	itUser := s.member(t, it, "allerta@salute.it.example", "Marco Ricci", "it", authorities.AlertHandler)
	itOther := s.member(t, it2, "allerta@mi.camcom.it.example", "Sara Greco", "it", authorities.AlertHandler)
	pack, _ := s.App.Areas.Pack("services")
	criterion := func(lang string) string { return pack.In(lang).Broadcast("services_alert").Criteria[0].Name }
	field := func(lang string) string { return pack.In(lang).Broadcast("services_alert").Fields[0].Label }

	// Drafted in Swedish.
	sv := newTab(t, s, false)
	sv.signInAndEnrol(seUser)
	sv.open("/alerts/new")
	sv.check("alert-new-sv")
	sv.do("choose the type", chromedp.SetValue(chromedp.CSS(`#f-type`), "services/services_alert"))
	sv.click(`button[name=step][value=continue]`)
	sv.check("alert-new-fields-sv")
	if main := sv.text("main"); !strings.Contains(main, criterion("sv")) || !strings.Contains(main, field("sv")) {
		t.Fatalf("the form is not in Swedish: %.400q", main)
	}
	sv.fill("#f-title", "Osäkra gasinstallationer")
	sv.fill(`[id="f-field.business_name"]`, "Gasfix Lindqvist AB")
	sv.do("country", chromedp.SetValue(chromedp.CSS(`[id="f-field.country_of_establishment"]`), "SE"))
	sv.do("activity", chromedp.SetValue(chromedp.CSS(`[id="f-field.activity"]`), "construction"))
	sv.fill(`[id="f-field.risk"]`, "Risk för kolmonoxidförgiftning")
	// Saved without the criteria: allowed for a draft, refused at sending.
	sv.do("Italy", chromedp.Click(chromedp.CSS(`label[for="c-IT"]`)))
	sv.click(`button[name=step][value=save]`)
	if !strings.HasPrefix(sv.path(), "/alerts/") {
		t.Fatalf("after saving: %s %.300q", sv.path(), sv.text("main"))
	}
	id := strings.TrimPrefix(sv.path(), "/alerts/")
	sv.click(`form[action$="/actions/submit"] button[type=submit]`)
	sv.check("alert-criteria-missing-sv")
	if !strings.Contains(sv.text("#f-criteria"), s.App.Catalog.Localizer("sv").T("error_broadcast_criteria")) {
		t.Fatalf("no translated error on the criteria: %.300q", sv.text("main"))
	}
	for _, k := range []string{"caused_by_service_activity", "serious_damage_risk", "cross_border"} {
		sv.do("confirm "+k, chromedp.Click(chromedp.CSS(`label[for="k-`+k+`"]`)))
	}
	sv.click(`button[name=step][value=save]`)
	sv.click(`form[action$="/actions/submit"] button[type=submit]`)
	sv.check("alert-submitted-sv")

	// Validated and broadcast by the Swedish coordinator.
	co := newTab(t, s, false)
	co.signInAndEnrol(seCoordinator)
	co.open("/alerts")
	co.check("alerts-to-validate-sv")
	co.open("/alerts/" + id)
	co.click(`form[action$="/actions/approve"] button[type=submit]`)
	co.check("alert-broadcast-sv")

	// Disseminated by the Italian coordinator, in Italian.
	ic := newTab(t, s, false)
	ic.signInAndEnrol(itCoordinator)
	ic.open("/alerts/" + id + "?authority_q=salute")
	ic.check("alert-to-disseminate-it")
	ic.do("choose the ministry", chromedp.Click(chromedp.CSS(`label[for="d-0"]`)))
	ic.click(`form[action$="/actions/disseminate"] button[type=submit]`)
	ic.check("alert-disseminated-it")

	// Read in Italian and acknowledged.
	it1 := newTab(t, s, false)
	it1.signInAndEnrol(itUser)
	it1.open("/")
	it1.check("home-it")
	it1.open("/alerts/" + id)
	main := it1.text("main")
	if it1.lang() != "it" || !strings.Contains(main, field("it")) || !strings.Contains(main, "Gasfix Lindqvist AB") || !strings.Contains(main, "kolmonoxidförgiftning") {
		t.Fatalf("the Italian reader's page (%s): %.500q", it1.lang(), main)
	}
	it1.click(`form[action$="/actions/acknowledge"] button[type=submit]`)
	it1.check("alert-acknowledged-it")

	// Not disseminated to: nothing to see.
	other := newTab(t, s, false)
	other.signInAndEnrol(itOther)
	other.open("/alerts/" + id)
	if strings.Contains(other.text("main"), "Gasfix") {
		t.Fatal("an authority the alert was not disseminated to reads it")
	}
	other.open("/alerts?box=received")
	other.check("alerts-empty-it")

	// A notification of a measure: sent by the Swedish authority, commented
	// on in Italian.
	sv.open("/measures/new")
	sv.fill("#f-title", "Tillståndskrav för låssmeder")
	sv.fill(`[id="f-field.measure_title"]`, "Lag om låssmeder")
	sv.fill(`[id="f-field.legal_reference"]`, "SFS 2026:101")
	sv.fill(`[id="f-field.justification"]`, "Konsumentskydd")
	sv.click(`button[name=step][value=save]`)
	sv.check("measure-draft-sv")
	sv.click(`form[action$="/actions/send"] button[type=submit]`)
	sv.check("measure-sent-sv")
	mid := strings.TrimPrefix(sv.path(), "/measures/")
	other.open("/measures/" + mid)
	other.do("comment", chromedp.SendKeys(chromedp.CSS(`#f-comment-comment`), "La misura è proporzionata per le piccole imprese?"))
	other.click(`form[action$="/actions/comment"] button[type=submit]`)
	other.check("measure-commented-it")
	sv.open("/measures/" + mid)
	if !strings.Contains(sv.text("main"), "piccole imprese") {
		t.Fatalf("the sender does not read the comment: %.400q", sv.text("main"))
	}
	co.open("/measures/statistics")
	co.check("measure-statistics-sv")
}
