package app_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestAPIFilesAndImportsHaveTheirOwnLimits: the API takes files and imports
// up to their own limits, above the form limit (1 MiB by default), while an
// ordinary JSON body stays within the form limit.
func TestAPIFilesAndImportsHaveTheirOwnLimits(t *testing.T) {
	s, _, pl, deToken, _ := requestSite(t)
	body := `{"area":"pq","question_set":"authenticity","questions":["diploma_authentic"],"responder_id":"` + pl.ID + `","subject":{"name":"Jan Kowalski","profession":"doctor"}}`
	r := s.api(t, "POST", "/api/v1/requests", deToken, body)
	var req struct{ ID string }
	if err := json.Unmarshal([]byte(r.body), &req); err != nil || r.code != http.StatusCreated {
		t.Fatalf("create: %d %s", r.code, r.body)
	}

	// A 3 MiB file: above the form limit, within the attachment limit (20 MiB).
	file := []byte(strings.Repeat("Diploma of medicine, Warsaw, 2019.\n", 3<<20/35))
	up, _ := http.NewRequest("POST", s.srv.URL+"/api/v1/requests/"+req.ID+"/attachments?name=scan.txt", bytes.NewReader(file))
	up.Header.Set("Authorization", "Bearer "+deToken)
	got := s.browser().do(up)
	if got.code != http.StatusOK && got.code != http.StatusCreated {
		t.Fatalf("a 3 MiB file through the API: %d %s", got.code, got.body)
	}
	var x struct {
		Attachments []struct{ ID string }
	}
	if err := json.Unmarshal([]byte(got.body), &x); err != nil || len(x.Attachments) != 1 {
		t.Fatalf("attachments: %v %s", err, got.body)
	}
	dl, _ := http.NewRequest("GET", s.srv.URL+"/api/v1/requests/"+req.ID+"/attachments/"+x.Attachments[0].ID, nil)
	dl.Header.Set("Authorization", "Bearer "+deToken)
	resp, err := http.DefaultClient.Do(dl)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	back, _ := io.ReadAll(resp.Body)
	if sha256.Sum256(back) != sha256.Sum256(file) {
		t.Fatalf("the file came back with %d bytes, not the %d sent", len(back), len(file))
	}

	// An import of 2 MiB is read whole: its problems are about its rows,
	// not its size.
	var csv strings.Builder
	csv.WriteString("external_id,country,name,language\n")
	for csv.Len() < 2<<20 {
		csv.WriteString("x,ZZ,Nowhere,xx\n")
	}
	imp, _ := http.NewRequest("POST", s.srv.URL+"/api/v1/authorities/import", strings.NewReader(csv.String()))
	imp.Header.Set("Authorization", "Bearer "+deToken)
	imp.Header.Set("Content-Type", "text/csv")
	if got := s.browser().do(imp); got.code == http.StatusRequestEntityTooLarge {
		t.Fatalf("a 2 MiB import refused as too large: %s", got.body)
	}

	// An ordinary body above the form limit is refused, and nothing is made.
	before := s.count(t, `SELECT COUNT(*) FROM requests`)
	huge := `{"area":"pq","question_set":"authenticity","responder_id":"` + pl.ID + `","message":"` + strings.Repeat("a", 1<<20) + `"}`
	if r := s.api(t, "POST", "/api/v1/requests", deToken, huge); r.code != http.StatusRequestEntityTooLarge {
		t.Fatalf("a JSON body above the form limit: %d", r.code)
	}
	if after := s.count(t, `SELECT COUNT(*) FROM requests`); after != before {
		t.Fatalf("a refused body made %d requests", after-before)
	}
}
