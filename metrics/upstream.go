package metrics

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tether-id/tether/provider"
)

// Upstream returns next (http.DefaultTransport when nil) counting and
// timing each request it sends for provider, by the endpoint the
// provider package named on the request's context (provider.WithEndpoint;
// "other" when it named none). The provider packages stay free of
// metrics: they only say which endpoint they call.
func (m *Metrics) Upstream(providerID string, next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	curry := prometheus.Labels{"provider": providerID}
	return &upstream{
		next:     next,
		requests: m.upstream.MustCurryWith(curry),
		latency:  m.upstreamLatency.MustCurryWith(curry),
	}
}

// UpstreamClient returns a client like c (a default one when nil) whose
// requests are counted as Upstream counts them. The transport underneath
// is c's, so every provider's client shares its connections.
func (m *Metrics) UpstreamClient(providerID string, c *http.Client) *http.Client {
	if c == nil {
		c = &http.Client{}
	}
	out := *c
	out.Transport = m.Upstream(providerID, c.Transport)
	return &out
}

type upstream struct {
	next     http.RoundTripper
	requests *prometheus.CounterVec // endpoint, outcome
	latency  prometheus.ObserverVec // endpoint
}

func (u *upstream) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := u.next.RoundTrip(r)
	ep := endpoint(provider.EndpointOf(r.Context()))
	u.latency.WithLabelValues(ep).Observe(time.Since(start).Seconds())
	u.requests.WithLabelValues(ep, outcome(resp, err)).Inc()
	return resp, err
}

// CloseIdleConnections passes http.Client.CloseIdleConnections on.
func (u *upstream) CloseIdleConnections() {
	if c, ok := u.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// endpoint is e as a label: one of provider.Endpoints, else "other".
func endpoint(e provider.Endpoint) string {
	switch e {
	case provider.EndpointDiscovery, provider.EndpointJWKS, provider.EndpointToken, provider.EndpointUserinfo,
		provider.EndpointMe, provider.EndpointGetUserInfo:
		return string(e)
	}
	return "other"
}

// outcome is a request's outcome label: ok for an answer below 400, 4xx
// or 5xx by its status, else how it failed.
func outcome(resp *http.Response, err error) string {
	var ne net.Error
	switch {
	case err == nil && resp.StatusCode >= 500:
		return "5xx"
	case err == nil && resp.StatusCode >= 400:
		return "4xx"
	case err == nil:
		return "ok"
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "error"
}
