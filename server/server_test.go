package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tether-id/tether/api/httpx"
)

func TestClientIP(t *testing.T) {
	s := New(Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}})
	tests := []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"direct peer", "203.0.113.7:4000", nil, "203.0.113.7"},
		{"untrusted peer's XFF is ignored", "203.0.113.7:4000", []string{"1.2.3.4"}, "203.0.113.7"},
		{"trusted proxy", "10.1.2.3:80", []string{"198.51.100.9"}, "198.51.100.9"},
		{"spoofed left-most entry ignored", "10.1.2.3:80", []string{"6.6.6.6, 198.51.100.9"}, "198.51.100.9"},
		{"chain of trusted proxies", "10.1.2.3:80", []string{"198.51.100.9, 10.9.9.9"}, "198.51.100.9"},
		{"several headers", "10.1.2.3:80", []string{"6.6.6.6", "198.51.100.9"}, "198.51.100.9"},
		{"garbage stops the walk", "10.1.2.3:80", []string{"198.51.100.9, not-an-ip"}, "10.1.2.3"},
		{"IPv6 proxy, v4-mapped client", "[::1]:80", []string{"::ffff:198.51.100.9"}, "198.51.100.9"},
		{"only trusted hops", "10.1.2.3:80", []string{"10.4.4.4"}, "10.4.4.4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := s.client(r).IP; got != tt.want {
				t.Errorf("client IP = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestMiddleware(t *testing.T) {
	var logs bytes.Buffer
	s := New(Options{
		Logger:        slog.New(slog.NewJSONHandler(&logs, nil)),
		Ready:         func(context.Context) error { return errors.New("database down") },
		PublicMetrics: true,
	})
	var seenID, seenIP string
	s.Mux.HandleFunc("GET /echo", func(w http.ResponseWriter, r *http.Request) {
		seenID, seenIP = httpx.RequestID(r.Context()), httpx.Client(r).IP
		w.WriteHeader(http.StatusTeapot)
	})
	s.Mux.HandleFunc("GET /boom", func(http.ResponseWriter, *http.Request) { panic("kaboom") })
	h := s.Handler()

	do := func(path string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", path, nil)
		r.RemoteAddr = "192.0.2.1:1234"
		h.ServeHTTP(w, r)
		return w
	}
	w := do("/echo?code=SECRET-CODE&state=s")
	if w.Code != http.StatusTeapot || seenIP != "192.0.2.1" || seenID == "" || w.Header().Get("X-Correlation-Id") != seenID {
		t.Fatalf("status %d, id %q (header %q), ip %q", w.Code, seenID, w.Header().Get("X-Correlation-Id"), seenIP)
	}
	if w.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Error("nosniff missing")
	}
	if w := do("/boom"); w.Code != http.StatusInternalServerError {
		t.Errorf("panic: status %d, want 500", w.Code)
	}
	if w := do("/readyz"); w.Code != http.StatusServiceUnavailable {
		t.Errorf("readyz with a dead database: %d", w.Code)
	}
	if w := do("/healthz"); w.Code != http.StatusOK {
		t.Errorf("healthz: %d", w.Code)
	}
	w = do("/metrics")
	body, _ := io.ReadAll(w.Body)
	if !strings.Contains(string(body), `tether_http_requests_total{route="GET /echo",status="418"} 1`) {
		t.Errorf("metrics lack the echo request:\n%s", body)
	}
	if strings.Contains(logs.String(), "SECRET-CODE") {
		t.Error("a query string reached the logs")
	}
	if !strings.Contains(logs.String(), `"panic":"kaboom"`) || !strings.Contains(logs.String(), seenID) {
		t.Errorf("logs lack the panic or the correlation id:\n%s", logs.String())
	}
}

// TestMetricsApart: without PublicMetrics, /metrics is not on the mux
// but on MetricsHandler, which serves nothing else.
func TestMetricsApart(t *testing.T) {
	s := New(Options{})
	s.Mux.HandleFunc("GET /echo", func(w http.ResponseWriter, r *http.Request) {})
	h := s.Handler()
	get := func(h http.Handler, path string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		return w
	}
	get(h, "/echo")
	if w := get(h, "/metrics"); w.Code != http.StatusNotFound {
		t.Errorf("public /metrics: HTTP %d, want 404", w.Code)
	}
	m := s.MetricsHandler()
	if w := get(m, "/metrics"); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `tether_http_requests_total{route="GET /echo",status="200"} 1`) {
		t.Errorf("metrics handler: HTTP %d\n%s", w.Code, w.Body)
	}
	for _, path := range []string{"/echo", "/healthz", "/api/v4/session/token"} {
		if w := get(m, path); w.Code != http.StatusNotFound {
			t.Errorf("metrics handler serves %s: HTTP %d", path, w.Code)
		}
	}
}

// TestSharedMetrics: Servers built on one Metrics (one per reloaded
// configuration) register nothing twice and count into the same series.
func TestSharedMetrics(t *testing.T) {
	m := NewMetrics(nil)
	for range 2 {
		s := New(Options{Metrics: m})
		s.Mux.HandleFunc("GET /echo", func(w http.ResponseWriter, r *http.Request) {})
		s.Handler().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/echo", nil))
	}
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(w.Body.String(), `tether_http_requests_total{route="GET /echo",status="200"} 2`) {
		t.Errorf("the two servers did not count into one series:\n%s", w.Body)
	}
}

// TestUserAgentCapped: the client recorded for a request keeps at most
// MaxUserAgent bytes of its User-Agent, cut between characters.
func TestUserAgentCapped(t *testing.T) {
	s := New(Options{})
	var got string
	s.Mux.HandleFunc("GET /ua", func(w http.ResponseWriter, r *http.Request) { got = httpx.Client(r).UserAgent })
	tests := []struct{ name, ua, want string }{
		{"short", "curl/8.0", "curl/8.0"},
		{"exactly the limit", strings.Repeat("a", httpx.MaxUserAgent), strings.Repeat("a", httpx.MaxUserAgent)},
		{"long", strings.Repeat("a", 1<<20), strings.Repeat("a", httpx.MaxUserAgent)},
		// 255 ASCII bytes, then a 3-byte character across the limit.
		{"cut inside a character", strings.Repeat("a", 255) + "界界", strings.Repeat("a", 255)},
		{"multi-byte throughout", strings.Repeat("界", 200), strings.Repeat("界", 85)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/ua", nil)
			r.Header.Set("User-Agent", tt.ua)
			s.Handler().ServeHTTP(httptest.NewRecorder(), r)
			if got != tt.want || !utf8.ValidString(got) {
				t.Errorf("User-Agent kept: %d bytes %.40q..., want %d bytes", len(got), got, len(tt.want))
			}
		})
	}
}
