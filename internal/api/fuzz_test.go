package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/openimi/openimi/internal/problem"
)

// FuzzDecodeJSON sends any body, under any content type, to the strict JSON
// decoding of every API body. Nothing panics; a refusal is a translated
// problem about the input; an accepted body is exactly one JSON value.
func FuzzDecodeJSON(f *testing.F) {
	targets := []func() any{
		func() any { return new(RequestInput) }, func() any { return new(ActionInput) }, func() any { return new(CopyInput) },
		func() any { return new(AuthorityInput) }, func() any { return new(StatusChange) }, func() any { return new(InvitationInput) },
		func() any { return new(RolesInput) }, func() any { return new(CaseInput) }, func() any { return new(CaseActionInput) },
		func() any { return new(MeUpdate) }, func() any { return new(RegisterInput) },
	}
	const ct = "application/json"
	f.Add([]byte(`{"area":"pq","question_set":"authenticity","questions":["diploma_authentic"],"responder_id":"x","subject":{"name":"Jan"}}`), ct)
	f.Add([]byte(`{"answers":{"diploma_authentic":{"value":"yes"}},"comment":"\u202e"}`), ct)
	f.Add([]byte(`{"name":"x","names":{"en":"y"},"competences":[{"area":"pq"}]}{}`), ct)
	f.Add([]byte(`{"roles":["coordinator"],"unknown":1}`), "application/json; charset=utf-8")
	f.Add([]byte(`[1,2,3]`), "text/plain")
	f.Add([]byte(`{"a":`), ct)
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		for _, target := range targets {
			r := httptest.NewRequest(http.MethodPost, "/api/v1/x", bytes.NewReader(body))
			r.Header.Set("Content-Type", contentType)
			r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, 64<<10)
			v := target()
			err := decode(r, v)
			if err == nil {
				if !json.Valid(body) {
					t.Fatalf("%T accepted a body that is not one JSON value: %q", v, body)
				}
				continue
			}
			if p, ok := problem.As(err); !ok || (p.Kind != problem.Invalid && p.Kind != problem.TooLarge) || p.Key == "" {
				t.Fatalf("%T: a refusal that is not a translated problem about the input: %v", v, err)
			}
		}
	})
}
