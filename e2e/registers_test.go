package e2e_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/registers"
)

// TestARegisterEntryAddedInGermanValidatedAndFoundInFrench is the
// directory's journey: a German local data administrator adds the
// commercial register with the German interface, the German coordinator
// validates it, and a French official finds it by the French name of its
// type and reads it in French. axe checks every page.
func TestARegisterEntryAddedInGermanValidatedAndFoundInFrench(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	deNC := s.authority(t, authorities.Input{Areas: []string{"services"}, Country: "DE", Name: "Bundesministerium für Wirtschaft", Language: "de", Kind: authorities.NationalCoordinator})
	frNC := s.authority(t, authorities.Input{Areas: []string{"services"}, Country: "FR", Name: "Direction générale des entreprises", Language: "fr", Kind: authorities.NationalCoordinator})
	ihk := s.authority(t, authorities.Input{Areas: []string{"services"}, Country: "DE", Name: "Industrie- und Handelskammer Berlin", Language: "de", City: "Berlin"})
	admin := s.member(t, ihk, "verwaltung@ihk.de.example", "Petra Schulz", "de", authorities.LocalDataAdministrator)
	coordinator := s.member(t, deNC, "koordination@bmwk.de.example", "Jonas Weber", "de", authorities.Coordinator)
	french := s.member(t, frNC, "agent@dge.fr.example", "Camille Durand", "fr", authorities.RequestHandler)

	// Added in German.
	de := newTab(t, s, false)
	de.signInAndEnrol(admin)
	de.open("/registers/new")
	de.check("register-new-de")
	de.fill("#f-name", "Handelsregister")
	de.do("open the other names", chromedp.Click(chromedp.CSS(`details.imi-details summary`)))
	de.fill("#f-name_fr", "Registre du commerce allemand")
	de.do("describe", chromedp.SendKeys(chromedp.CSS(`#f-description`), "Eintragungen der Kaufleute und Handelsgesellschaften"))
	de.do("type", chromedp.SetValue(chromedp.CSS(`#f-type`), "business_register"))
	de.do("access", chromedp.SetValue(chromedp.CSS(`#f-access`), "public_online"))
	de.fill("#f-url", "https://www.handelsregister.de")
	de.do("services", chromedp.Click(chromedp.CSS(`label[for="a-services"]`)))
	de.click(`button[name=step][value=save]`)
	if !strings.HasPrefix(de.path(), "/registers/") {
		t.Fatalf("after saving: %s %.300q", de.path(), de.text("main"))
	}
	id := strings.TrimPrefix(de.path(), "/registers/")
	de.check("register-submitted-de")

	// The French official does not see it yet.
	fr := newTab(t, s, false)
	fr.signInAndEnrol(french)
	label := s.App.Catalog.Localizer("fr").T("register_type_business_register")
	fr.open("/registers?q=" + strings.ReplaceAll(label, " ", "+"))
	if strings.Contains(fr.text("main"), "Registre du commerce allemand") {
		t.Fatal("an entry awaiting validation is seen abroad")
	}

	// Validated by the coordinator.
	co := newTab(t, s, false)
	co.signInAndEnrol(coordinator)
	co.open("/registers/" + id)
	co.click(`form[action$="/validate"] button[type=submit]`)
	co.check("register-validated-de")
	co.open("/registers/" + id + "/history")
	co.check("register-history-de")

	// Found in French by the French name of its type, read in French.
	fr.open("/registers?q=" + strings.ReplaceAll(label, " ", "+") + "&country=DE")
	fr.check("registers-found-fr")
	if !strings.Contains(fr.text("main"), "Registre du commerce allemand") {
		t.Fatalf("the French search: %.500q", fr.text("main"))
	}
	fr.open("/registers/" + id)
	fr.check("register-fr")
	main := fr.text("main")
	if fr.lang() != "fr" || !strings.Contains(main, "Registre du commerce allemand") || !strings.Contains(main, "Eintragungen der Kaufleute") {
		t.Fatalf("the French reader's page: %.500q", main)
	}
	// The open data page links to the public endpoints, which publish it.
	fr.open("/open-data")
	fr.check("open-data-fr")
	fr.open("/public/v1/registers?country=DE")
	if !strings.Contains(fr.text("body"), "Registre du commerce allemand") {
		t.Fatalf("the public endpoint: %.300q", fr.text("body"))
	}
	e, err := s.App.Registers.Get(ctx, authorities.System(), id)
	if err != nil || e.Status != registers.Validated {
		t.Fatalf("stored: %+v %v", e, err)
	}
}
