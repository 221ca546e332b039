package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/openimi/openimi/internal/app"
	"github.com/openimi/openimi/internal/db/dbtest"
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

// With an address of their own (--metrics-listen), the metrics are served
// there, by the server's Serve, and no longer on the main address, which
// the public reaches.
func TestMetricsOnAnAddressOfTheirOwn(t *testing.T) {
	c := newConfig(t, dbtest.Location(t), "--metrics-listen", "127.0.0.1:0")
	a, err := app.Open(context.Background(), c, app.NewLogger(c))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	listen := func() net.Listener {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return ln
	}
	ln, metrics := listen(), listen()
	// Serve refuses a listener the configuration does not ask for.
	if err := a.Serve(context.Background(), listen(), nil); err == nil || !strings.Contains(err.Error(), "disagree") {
		t.Fatalf("Serve without the metrics' listener: %v", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx, ln, metrics) }()
	t.Cleanup(func() { // before the database closes, should the test fail early
		stop()
		<-served
	})
	get := func(ln net.Listener, path string) (int, string) {
		t.Helper()
		res, err := http.Get("http://" + ln.Addr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	if code, _ := get(ln, "/sign-in"); code != http.StatusOK {
		t.Fatalf("the sign-in page: %d", code)
	}
	if code, body := get(ln, "/metrics"); code != http.StatusNotFound || strings.Contains(body, "imi_http_requests_total") {
		t.Fatalf("/metrics on the main address: %d %.200s", code, body)
	}
	if code, body := get(metrics, "/metrics"); code != http.StatusOK || !strings.Contains(body, `imi_http_requests_total{code="200",route="GET /sign-in"}`) ||
		!strings.Contains(body, `imi_http_requests_total{code="404",route=`) || !strings.Contains(body, "imi_outbox_pending 0") {
		t.Fatalf("/metrics on its own address: %d\n%s", code, body)
	}
	if code, _ := get(metrics, "/sign-in"); code != http.StatusNotFound {
		t.Fatalf("the metrics' address serves the site: %d", code)
	}
	stop()
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	served <- nil // for the clean-up
	if _, err := http.Get("http://" + metrics.Addr().String() + "/metrics"); err == nil {
		t.Fatal("the metrics' address still answers after the server stopped")
	}
}
