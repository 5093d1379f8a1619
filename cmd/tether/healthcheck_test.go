package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHealthcheck: exit 0 when the URL answers 200, 1 for any other
// answer (redirects are not followed), no answer, or a server that does
// not answer in time; the default URL is /healthz at TETHER_LISTEN, which
// a real `tether serve` answers.
func TestHealthcheck(t *testing.T) {
	stall := make(chan struct{})
	t.Cleanup(func() { close(stall) })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.Write([]byte("ok"))
		case "/down":
			http.Error(w, "not ready", http.StatusServiceUnavailable)
		case "/moved":
			http.Redirect(w, r, "/ok", http.StatusFound)
		case "/stall":
			select {
			case <-stall:
			case <-r.Context().Done():
			}
		}
	}))
	t.Cleanup(srv.Close)
	closed := freePort(t) // nothing listens there any more

	base, _ := serve(t, writeConfig(t, ""))
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(base, "http://"))

	for _, tt := range []struct {
		name    string
		environ []string
		args    []string
		code    int
		out     string // on stdout when healthy, stderr otherwise
	}{
		{"200", nil, []string{"--url", srv.URL + "/ok"}, 0, srv.URL + "/ok: 200 OK"},
		{"503", nil, []string{"--url", srv.URL + "/down"}, 1, "answered 503 Service Unavailable"},
		{"redirect", nil, []string{"--url", srv.URL + "/moved"}, 1, "answered 302 Found"},
		{"no server", nil, []string{"--url", "http://" + closed + "/healthz"}, 1, "connection refused"},
		{"too slow", nil, []string{"--url", srv.URL + "/stall", "--timeout", "100ms"}, 1, "context deadline exceeded"},
		{"not a URL", nil, []string{"--url", "::"}, 1, "healthcheck: parse"},
		{"tether at TETHER_LISTEN", []string{"TETHER_LISTEN=0.0.0.0:" + port}, nil, 0, "http://127.0.0.1:" + port + "/healthz: 200 OK"},
		{"tether, --url", nil, []string{"--url", base + "/healthz"}, 0, "200 OK"},
		{"bad TETHER_LISTEN", []string{"TETHER_LISTEN=5212"}, nil, 1, `TETHER_LISTEN: want host:port, got "5212"`},
		{"extra argument", nil, []string{"now"}, 2, "usage: tether healthcheck"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := tether(t, "", tt.environ, append([]string{"healthcheck"}, tt.args...)...)
			got := out
			if tt.code != 0 {
				got = errOut
			}
			if code != tt.code || !strings.Contains(got, tt.out) {
				t.Errorf("exit %d, want %d and %q\nstdout: %s\nstderr: %s", code, tt.code, tt.out, out, errOut)
			}
		})
	}
}

func TestHealthURL(t *testing.T) {
	for _, tt := range []struct{ environ, want string }{
		{"", "http://127.0.0.1:5212/healthz"},
		{"TETHER_LISTEN=0.0.0.0:8080", "http://127.0.0.1:8080/healthz"},
		{"TETHER_LISTEN=:8080", "http://127.0.0.1:8080/healthz"},
		{"TETHER_LISTEN=[::]:8080", "http://[::1]:8080/healthz"},
		{"TETHER_LISTEN=10.0.0.5:5212", "http://10.0.0.5:5212/healthz"},
		{"TETHER_LISTEN=", "http://127.0.0.1:5212/healthz"},
	} {
		got, err := healthURL([]string{"PATH=/bin", tt.environ})
		if err != nil || got != tt.want {
			t.Errorf("%q: %q, %v; want %q", tt.environ, got, err, tt.want)
		}
	}
}
