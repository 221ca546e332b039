package e2e_test

import (
	"strings"
	"testing"
)

// TestAreaPagesAreAccessibleAndReadSideBySide browses the legislative
// areas, a list of terms and a question set, then shows the question set in
// English and Greek side by side; axe checks every page.
func TestAreaPagesAreAccessibleAndReadSideBySide(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	u := s.createUser(t, "maria.rossi@example.eu", "Maria Rossi")
	tb := newTab(t, s, false)
	tb.signInAndEnrol(u.Email)

	tb.open("/areas")
	if !strings.Contains(tb.text("main"), "Professional qualifications") {
		t.Fatalf("the list of areas lacks professional qualifications: %.300q", tb.text("main"))
	}
	tb.check("areas")
	tb.open("/areas/pq")
	tb.check("area-pq")
	tb.open("/areas/pq/vocabularies/professions")
	tb.check("professions")
	tb.open("/areas/pq/question-sets/right_to_practise")
	tb.check("question-set")

	tb.open("/areas/pq/question-sets/right_to_practise?compare=el")
	if !tb.has(`td[lang="el"]`) || !greek.MatchString(tb.text(`td[lang="el"]`)) {
		t.Fatal("no Greek column beside the English one")
	}
	tb.check("question-set-en-el")

	tb.chooseLanguage("pl", "/areas/services/question-sets/establishment")
	if tb.lang() != "pl" {
		t.Fatalf("page language %q", tb.lang())
	}
	tb.check("question-set-pl")
}
