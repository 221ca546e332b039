package app_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/openimi/openimi/internal/authorities"
)

// A signed-in page takes the registry revision from its session's
// statement: it reads authorities and roles under it, with no statement of
// its own for it, and sees a change to the registry at once.
func TestASignedInPageReadsTheRegistryRevisionWithItsSession(t *testing.T) {
	s := startSite(t)
	de := registerWith(t, s, authorities.Input{Country: "DE", Name: "Ärztekammer Berlin", Language: "de", Areas: []string{"pq"}})
	m := s.matrixMember(t, "Anna Arzt", de, "anna@aekb.de.example", "de", "request_handler")
	// readsIn is how many times do read the registry revision in
	// statements of its own.
	readsIn := func(do func()) int64 {
		before := s.app.Authorities.RevisionReads()
		do()
		return s.app.Authorities.RevisionReads() - before
	}
	page := func(path, want string) {
		t.Helper()
		if n := readsIn(func() {
			if r := m.b.get(path); r.code != http.StatusOK || !strings.Contains(r.body, want) {
				t.Fatalf("%s: %d, %q not on the page", path, r.code, want)
			}
		}); n != 0 {
			t.Fatalf("%s read the registry revision %d times in statements of its own", path, n)
		}
	}
	page("/requests", `href="/requests/new"`) // offered by the user's roles
	page("/authorities/"+de.ID, "Ärztekammer Berlin")
	in := authorities.Input{Country: "DE", Name: "Ärztekammer des Landes Berlin", Language: "de", Areas: []string{"pq"}}
	if _, err := s.app.Authorities.Update(t.Context(), authorities.System(), de.ID, in); err != nil {
		t.Fatal(err)
	}
	page("/authorities/"+de.ID, "Ärztekammer des Landes Berlin")
	// The count counts: an API read, whose memo has no session to take the
	// revision from, reads it once, and a read without a memo (a form)
	// reads it itself.
	if n := readsIn(func() {
		if r := s.api(t, http.MethodGet, "/api/v1/authorities/"+de.ID, m.token, ""); r.code != http.StatusOK {
			t.Fatalf("the API: %d", r.code)
		}
	}); n != 1 {
		t.Fatalf("an API read read the registry revision %d times, want 1", n)
	}
	if n := readsIn(func() {
		if _, err := s.app.Authorities.Get(t.Context(), de.ID); err != nil {
			t.Fatal(err)
		}
	}); n != 1 {
		t.Fatalf("a read without a memo read the registry revision %d times, want 1", n)
	}
}
