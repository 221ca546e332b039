package app_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/openimi/openimi/internal/api"
)

func (s *site) api(t *testing.T, method, path, token, body string, header ...string) response {
	t.Helper()
	req, _ := http.NewRequest(method, s.srv.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return s.browser().do(req)
}

func (s *site) token(t *testing.T) string {
	t.Helper()
	_, secret, err := s.app.Auth.CreateToken(t.Context(), "anna@example.pl", "test")
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

func apiError(t *testing.T, r response) api.ErrorDetail {
	t.Helper()
	var e api.Error
	if err := json.Unmarshal([]byte(r.body), &e); err != nil {
		t.Fatalf("not an error body: %s", r.body)
	}
	return e.Error
}

func TestAPITokenAuthenticatesAsItsUser(t *testing.T) {
	s := startSite(t)
	r := s.api(t, "GET", "/api/v1/me", s.token(t), "")
	var me api.Me
	if err := json.Unmarshal([]byte(r.body), &me); err != nil || r.code != http.StatusOK || me.Email != "anna@example.pl" {
		t.Fatalf("%d %s", r.code, r.body)
	}
}

func TestAPIWithoutAValidTokenIsRefusedInTheClientsLanguage(t *testing.T) {
	s := startSite(t)
	for _, tok := range []string{"", "imi_nonsense", "Basic abc"} {
		r := s.api(t, "GET", "/api/v1/me", tok, "", "Accept-Language", "fr")
		e := apiError(t, r)
		if r.code != http.StatusUnauthorized || e.Code != "error_token_invalid" || r.header.Get("WWW-Authenticate") == "" {
			t.Fatalf("token %q: %d %+v", tok, r.code, e)
		}
		if fr := s.app.Catalog.Localizer("fr").T("error_token_invalid"); e.Message != fr {
			t.Fatalf("message %q, want the French %q", e.Message, fr)
		}
	}
}

func TestAPIChangesTheLanguageAndRefusesAnUnknownOne(t *testing.T) {
	s := startSite(t)
	tok := s.token(t)
	r := s.api(t, "PATCH", "/api/v1/me", tok, `{"language":"xx"}`)
	e := apiError(t, r)
	if r.code != http.StatusBadRequest || len(e.Fields) != 1 || e.Fields[0].Field != "language" {
		t.Fatalf("%d %+v", r.code, e)
	}
	for _, bad := range []string{`{"language":`, `{"lang":"pl"}`, `{"language":"pl"} {}`, `[]`} {
		if r := s.api(t, "PATCH", "/api/v1/me", tok, bad); r.code != http.StatusBadRequest {
			t.Errorf("%s: %d", bad, r.code)
		}
	}
	if n := s.count(t, `SELECT COUNT(*) FROM users WHERE language <> ''`); n != 0 {
		t.Fatal("a refused request changed the language")
	}
	r = s.api(t, "PATCH", "/api/v1/me", tok, `{"language":"pl"}`)
	if r.code != http.StatusOK || !strings.Contains(r.body, `"language":"pl"`) {
		t.Fatalf("%d %s", r.code, r.body)
	}
}

func TestAPIRefusesOversizedBodies(t *testing.T) {
	s := startSite(t)
	r := s.api(t, "PATCH", "/api/v1/me", s.token(t), `{"language":"`+strings.Repeat("x", 2<<20)+`"}`)
	if r.code != http.StatusRequestEntityTooLarge {
		t.Fatalf("%d", r.code)
	}
}

func TestARevokedTokenStopsWorking(t *testing.T) {
	s := startSite(t)
	tok := s.token(t)
	r := s.api(t, "GET", "/api/v1/me/tokens", tok, "")
	var list struct{ Items []api.Token }
	if err := json.Unmarshal([]byte(r.body), &list); err != nil || len(list.Items) != 1 {
		t.Fatalf("%d %s", r.code, r.body)
	}
	if r := s.api(t, "DELETE", "/api/v1/me/tokens/"+list.Items[0].ID, tok, ""); r.code != http.StatusNoContent {
		t.Fatalf("revoke %d", r.code)
	}
	if r := s.api(t, "GET", "/api/v1/me", tok, ""); r.code != http.StatusUnauthorized {
		t.Fatalf("revoked token: %d", r.code)
	}
}

func TestAPIUnknownPathsAnswerJSON404(t *testing.T) {
	s := startSite(t)
	r := s.api(t, "GET", "/api/v1/nothing", s.token(t), "")
	if r.code != http.StatusNotFound || apiError(t, r).Code != "error_not_found" {
		t.Fatalf("%d %s", r.code, r.body)
	}
}

func TestTheOpenAPIDocumentIsServed(t *testing.T) {
	s := startSite(t)
	r := s.api(t, "GET", "/api/v1/openapi.yaml", "", "")
	if r.code != http.StatusOK || !strings.Contains(r.body, "openapi: 3.1.0") {
		t.Fatalf("%d", r.code)
	}
}
