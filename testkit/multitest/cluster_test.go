package multitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"

	"github.com/tether-id/tether/config"
	"github.com/tether-id/tether/testkit/pgtest"
	"github.com/tether-id/tether/testkit/testpeer"
	"github.com/tether-id/tether/testkit/tethertest"
)

// cluster is two tether instances on one PostgreSQL database, with the
// same secrets (tethertest's fixed ones) and the same configuration,
// behind a round-robin load balancer whose URL is their public_url, and a
// real OpenID Provider that knows that public URL's callback. Tests reach
// each instance directly to choose which one serves a request, or go
// through the balancer.
type cluster struct {
	A, B *tethertest.Server
	LB   *balancer
	OP   *testpeer.OP
	// DSN is the database both instances use.
	DSN string
}

// newCluster starts a cluster on a fresh PostgreSQL schema. Without
// PostgreSQL the test is skipped, or failed under CI=true.
func newCluster(t *testing.T) *cluster {
	t.Helper()
	dsn := pgtest.URL(t)
	lb := newBalancer(t)
	// Both instances have lb.URL as public URL, so both send the same
	// redirect URI and one registration at the OP serves them all.
	op := testpeer.Zitadel(t, tethertest.OIDCCallbackURL(lb.URL))
	start := func() *tethertest.Server {
		return tethertest.Start(t, tethertest.Options{Database: dsn, Configure: func(c *config.Config) {
			c.PublicURL = lb.URL
			c.Providers = []config.Provider{tethertest.OIDCProvider("corp", op)}
		}})
	}
	c := &cluster{A: start(), B: start(), LB: lb, OP: op, DSN: dsn}
	lb.route(c.A.URL, c.B.URL)
	return c
}

// balancer is a round-robin reverse proxy: request n goes to backend
// n mod len(backends), whatever its cookies say (no sticky sessions).
type balancer struct {
	URL      string
	mu       sync.Mutex
	n        int // requests so far
	backends []*url.URL
	hits     []int
}

func newBalancer(t *testing.T) *balancer {
	b := &balancer{}
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		b.mu.Lock()
		i := b.n % len(b.backends)
		b.n++
		b.hits[i]++
		target := b.backends[i]
		b.mu.Unlock()
		r.SetURL(target)
		r.Out.Host = r.In.Host // the instances see the public host, as behind a real balancer
	}}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	b.URL = srv.URL
	return b
}

func (b *balancer) route(backends ...string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.backends, b.hits = nil, make([]int, len(backends))
	for _, s := range backends {
		u, err := url.Parse(s)
		if err != nil {
			panic(err)
		}
		b.backends = append(b.backends, u)
	}
}

// Hits returns how many requests each backend got.
func (b *balancer) Hits() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]int(nil), b.hits...)
}

// post sends a JSON body and decodes the Cloudreve envelope, returning
// errors instead of failing the test, so goroutines may call it.
func post(hc *http.Client, method, u string, body any) (tethertest.Envelope, error) {
	var env tethertest.Envelope
	b, err := json.Marshal(body)
	if err != nil {
		return env, err
	}
	req, err := http.NewRequest(method, u, bytes.NewReader(b))
	if err != nil {
		return env, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return env, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return env, err
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return env, fmt.Errorf("%s %s: HTTP %d, not an envelope: %s", method, u, resp.StatusCode, raw)
	}
	env.Raw, env.Status = raw, resp.StatusCode
	return env, nil
}

// finishBody is what Cloudreve's callback page posts for the OP's redirect.
func finishBody(back *url.URL) map[string]any {
	q := back.Query()
	body := map[string]any{"code": q.Get("code"), "session_id": q.Get("state"), "provider_id": tethertest.OIDCCode}
	if iss := q.Get("iss"); iss != "" {
		body["iss"] = iss
	}
	return body
}
