package app_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestHealthReadinessAndMetrics(t *testing.T) {
	s := startSite(t)
	b := s.browser()
	if r := b.get("/healthz"); r.code != http.StatusOK {
		t.Fatalf("healthz %d", r.code)
	}
	r := b.get("/readyz")
	var body map[string]string
	if err := json.Unmarshal([]byte(r.body), &body); err != nil || r.code != http.StatusOK || body["database"] != "ok" {
		t.Fatalf("readyz %d %s", r.code, r.body)
	}
	b.get("/sign-in")
	r = b.get("/metrics")
	if r.code != http.StatusOK || !strings.Contains(r.body, `imi_http_requests_total{code="200",route="GET /sign-in"}`) || !strings.Contains(r.body, "imi_outbox_pending 0") {
		t.Fatalf("metrics %d:\n%s", r.code, r.body)
	}
}
