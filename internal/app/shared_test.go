package app_test

import (
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/openimi/openimi/internal/authorities"
)

// A search hands out the authorities the server keeps, shared with every
// page (authorities.Search): the pages and answers made from them, the
// search page, the API's and the public API's, read them and change
// nothing in them.
func TestSearchesLeaveTheAuthoritiesTheyShareAsTheyAre(t *testing.T) {
	s := startSite(t)
	de := registerWith(t, s, authorities.Input{Country: "DE", Name: "Ärztekammer Berlin", Language: "de", Areas: []string{"pq"}, City: "Berlin",
		Names: map[string]string{"en": "Berlin Medical Association"}, Descriptions: map[string]string{"de": "Kammer der Ärzte in Berlin"},
		Competences: []authorities.Competence{{Area: "pq", Vocabulary: "professions", Term: "doctor"}}})
	if err := s.app.Authorities.SetStatus(t.Context(), authorities.System(), de.ID, authorities.Validated); err != nil { // shown to the public
		t.Fatal(err)
	}
	before, err := s.app.Authorities.Get(t.Context(), de.ID) // a copy
	if err != nil {
		t.Fatal(err)
	}
	shared := func() *authorities.Authority {
		t.Helper()
		list, _, err := s.app.Authorities.Search(t.Context(), authorities.Query{Text: "Ärztekammer"})
		if i := slices.IndexFunc(list, func(a *authorities.Authority) bool { return a.ID == de.ID }); err == nil && i >= 0 {
			return list[i]
		}
		t.Fatalf("not found: %v", err)
		return nil
	}
	kept := shared() // the instance the pages below read
	if !reflect.DeepEqual(kept, before) {
		t.Fatalf("a search found another authority than Get: %+v", kept)
	}
	b := s.enrol()
	for _, lang := range []string{"en", "fr"} {
		b.lang = lang
		if r := b.get("/authorities?" + url.Values{"q": {"Ärztekammer"}}.Encode()); r.code != http.StatusOK || !strings.Contains(r.body, "/authorities/"+de.ID) {
			t.Fatalf("the search page in %s: %d", lang, r.code)
		}
		if r := s.api(t, http.MethodGet, "/api/v1/authorities?q=%C3%84rztekammer&lang="+lang, s.token(t), ""); r.code != http.StatusOK || !strings.Contains(r.body, de.ID) {
			t.Fatalf("the API in %s: %d %.200s", lang, r.code, r.body)
		}
	}
	for _, format := range []string{"json", "csv"} {
		if r := s.public(t, "/public/v1/authorities?country=DE&format="+format); r.code != http.StatusOK || !strings.Contains(r.body, "Ärztekammer Berlin") {
			t.Fatalf("the public API in %s: %d %.200s", format, r.code, r.body)
		}
	}
	if after := shared(); after != kept || !reflect.DeepEqual(after, before) {
		t.Fatalf("what searches share changed, or is another instance (%t):\n%+v\nwas\n%+v", after != kept, after, before)
	}
}

// An inbox's requests name their parties by the authorities the server
// keeps, shared with every page (authorities.GetManyShared): the inbox
// pages and the API's inboxes read them and change nothing in them.
func TestInboxesLeaveTheAuthoritiesTheyShareAsTheyAre(t *testing.T) {
	s, de, pl, deToken, plToken := requestSite(t)
	_, b := sentToPiotr(t, s, pl, deToken)
	ids := []string{de.ID, pl.ID}
	before, err := s.app.Authorities.GetMany(t.Context(), ids) // copies
	if err != nil || len(before) != 2 {
		t.Fatalf("%v %v", before, err)
	}
	kept, err := s.app.Authorities.GetManyShared(t.Context(), ids) // what the pages below read
	if err != nil || !reflect.DeepEqual(kept, before) {
		t.Fatalf("%v %v", kept, err)
	}
	for _, lang := range []string{"pl", "de"} {
		b.lang = lang
		if r := b.get("/requests"); r.code != http.StatusOK || !strings.Contains(r.body, "Jan Kowalski") {
			t.Fatalf("the inbox in %s: %d", lang, r.code)
		}
	}
	for _, call := range []struct{ token, box string }{{plToken, "todo"}, {deToken, "sent"}} {
		if r := s.api(t, http.MethodGet, "/api/v1/requests?box="+call.box, call.token, ""); r.code != http.StatusOK || !strings.Contains(r.body, pl.ID) {
			t.Fatalf("the API's %s box: %d %.200s", call.box, r.code, r.body)
		}
	}
	after, err := s.app.Authorities.GetManyShared(t.Context(), ids)
	if err != nil || after[de.ID] != kept[de.ID] || after[pl.ID] != kept[pl.ID] || !reflect.DeepEqual(after, before) {
		t.Fatalf("what inboxes share changed, or is another instance (%v):\n%+v\nwas\n%+v", err, after, before)
	}
}
