package app_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

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
	// A form takes it from its session too, until its own change: a draft
	// saved and sent, its authorities and the user's roles read on the
	// way, read it in no statement of their own.
	pl := registerWith(t, s, authorities.Input{Country: "PL", Name: "Naczelna Izba Lekarska", Language: "pl", Areas: []string{"pq"}})
	m.b.get("/requests/new")
	var saved response
	if n := readsIn(func() {
		saved = m.b.post("/requests/new", url.Values{"area": {"pq"}, "question_set": {"authenticity"}, "step": {"save"}, "responder": {pl.ID},
			"questions": {"diploma_authentic"}, "subject.name": {"Jan Kowalski"}, "subject.profession": {"doctor"}})
	}); n != 0 || saved.code != http.StatusSeeOther {
		t.Fatalf("saving a draft (%d %s) read the registry revision %d times in statements of its own", saved.code, saved.location(), n)
	}
	m.b.get(saved.location())
	if n := readsIn(func() {
		if r := m.b.post(saved.location()+"/actions/send", url.Values{}); r.code != http.StatusSeeOther {
			t.Fatalf("send: %d %s", r.code, r.body)
		}
	}); n != 0 {
		t.Fatalf("sending read the registry revision %d times in statements of its own", n)
	}
	// A form whose body took longer than a second to arrive
	// (authorities.FormMemoAge) reads the revision again, once: its roles
	// are checked as they are then.
	m.b.get("/requests/new")
	body := url.Values{"csrf": {m.b.csrf}, "area": {"pq"}, "question_set": {"authenticity"}, "step": {"continue"}}.Encode()
	if n := readsIn(func() {
		pr, pw := io.Pipe()
		go func() {
			_, _ = pw.Write([]byte(body[:10]))
			time.Sleep(2 * time.Second)
			_, _ = pw.Write([]byte(body[10:]))
			_ = pw.Close()
		}()
		req, _ := http.NewRequest(http.MethodPost, s.srv.URL+"/requests/new", pr)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if r := m.b.do(req); r.code != http.StatusOK || !strings.Contains(r.body, `value="diploma_authentic"`) {
			t.Fatalf("a slow form: %d", r.code)
		}
	}); n != 1 {
		t.Fatalf("a form sent slowly read the registry revision %d times in statements of its own, want 1", n)
	}
	// The count counts: an API read, whose memo has no session to take the
	// revision from, reads it once, and a read without a memo (a job, a
	// command) reads it itself.
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
