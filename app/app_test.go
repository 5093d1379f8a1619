package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tether-id/tether/app"
	"github.com/tether-id/tether/config"
	"github.com/tether-id/tether/testkit/tethertest"
)

// serve runs a's Serve on a loopback listener (and a metrics one) until
// the test ends, and returns their addresses.
func serve(t *testing.T, a *app.App, withMetrics bool) (string, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mln net.Listener
	metricsAddr := ""
	if withMetrics {
		if mln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		metricsAddr = mln.Addr().String()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln, mln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String(), metricsAddr
}

// rawGet sends a GET with one extra header of n bytes and returns the
// status line.
func rawGet(t *testing.T, addr string, n int) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: %s\r\nConnection: close\r\n\r\n", strings.Repeat("a", n))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the answer to %d bytes of headers: %v", n, err)
	}
	return strings.TrimSpace(line)
}

// TestMaxHeaderBytes: headers are bounded to 16 KiB, not net/http's
// 1 MiB, on the API listener and on the metrics one.
func TestMaxHeaderBytes(t *testing.T) {
	srv := tethertest.Start(t, tethertest.Options{})
	addr, metricsAddr := serve(t, srv.App, true)
	for _, a := range []string{addr, metricsAddr} {
		if got := rawGet(t, a, 8<<10); !strings.HasPrefix(got, "HTTP/1.1 200") && !strings.HasPrefix(got, "HTTP/1.1 404") {
			t.Errorf("8 KiB of headers to %s: %s", a, got)
		}
		if got := rawGet(t, a, 64<<10); !strings.HasPrefix(got, "HTTP/1.1 431") {
			t.Errorf("64 KiB of headers to %s: %s, want 431", a, got)
		}
	}
}

// TestMetricsListener: with a metrics listener /metrics is served there
// only; without one, and without PublicMetrics (tether serve), nowhere.
func TestMetricsListener(t *testing.T) {
	srv := tethertest.Start(t, tethertest.Options{})
	addr, metricsAddr := serve(t, srv.App, true)
	status := func(u string) int {
		t.Helper()
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := status("http://" + addr + "/healthz"); s != 200 {
		t.Fatalf("healthz: %d", s)
	}
	if s := status("http://" + addr + "/metrics"); s != 404 {
		t.Errorf("public /metrics: HTTP %d, want 404", s)
	}
	if s := status("http://" + metricsAddr + "/metrics"); s != 200 {
		t.Errorf("/metrics on the metrics listener: HTTP %d", s)
	}
	dev := tethertest.Start(t, tethertest.Options{PublicMetrics: true})
	if s := status(dev.URL + "/metrics"); s != 200 {
		t.Errorf("PublicMetrics: /metrics HTTP %d", s)
	}
	apart := tethertest.Start(t, tethertest.Options{PublicMetrics: true, Configure: func(c *config.Config) { c.Metrics.Listen = "127.0.0.1:0" }})
	if s := status(apart.URL + "/metrics"); s != 404 {
		t.Errorf("PublicMetrics with metrics.listen set: public /metrics HTTP %d, want 404", s)
	}
}

// TestIPv6Prefix: the configured rate limit counts an IPv6 client by its
// prefix (rate_limit.ipv6_prefix), as the server resolves it behind a
// trusted proxy.
func TestIPv6Prefix(t *testing.T) {
	for _, tt := range []struct {
		prefix  int
		limited bool // the third address of one /64 is refused
	}{{64, true}, {128, false}} {
		srv := tethertest.Start(t, tethertest.Options{Configure: func(c *config.Config) {
			c.RateLimit.Enabled, c.RateLimit.PerIPPerMinute, c.RateLimit.IPv6Prefix = true, 2, tt.prefix
			c.RateLimit.TrustedProxies = []string{"127.0.0.1"}
		}})
		code := func(from string) int {
			t.Helper()
			req, _ := http.NewRequest("GET", srv.URL+"/api/v4/session/prepare?email=a@example.test", nil)
			req.Header.Set("X-Forwarded-For", from)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var env struct{ Code int }
			json.NewDecoder(resp.Body).Decode(&env)
			return env.Code
		}
		code("2001:db8:1:2::a")
		code("2001:db8:1:2::b")
		if got := code("2001:db8:1:2:ffff::c") == 429; got != tt.limited {
			t.Errorf("/%d: third address of a /64 limited %v, want %v", tt.prefix, got, tt.limited)
		}
		if c := code("2001:db8:1:3::a"); c != 0 {
			t.Errorf("/%d: the next /64: code %d", tt.prefix, c)
		}
	}
}
