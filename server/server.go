// Package server assembles tether's HTTP server: one ServeMux on which the
// surfaces register their routes, wrapped in the middleware every request
// goes through (panic recovery, correlation id, client address, access
// log, metrics, CORS), plus /healthz and /readyz; /metrics is on the mux only
// when asked for, else on a handler of its own (MetricsHandler).
package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tether-id/tether/api/httpx"
	"github.com/tether-id/tether/core"
)

// Options configure a Server.
type Options struct {
	Logger *slog.Logger
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// Ready reports whether the instance can serve (the database answers).
	Ready func(context.Context) error
	// Metrics count the requests; nil makes new ones on Registry.
	Metrics *Metrics
	// Registry receives the HTTP metrics when Metrics is nil; nil makes
	// a new one.
	Registry *prometheus.Registry
	// PublicMetrics serves /metrics on Mux, beside the API. Off, the
	// metrics are served only by MetricsHandler, which the app puts on a
	// listener of its own (metrics.listen), so that the public listener
	// does not show them.
	PublicMetrics bool
	// CORS answers cross-origin requests on the paths of its rules; nil
	// answers none.
	CORS *CORS
}

// Metrics are the registry that /metrics serves and the HTTP metrics
// registered on it. A process has one: every Server built from a
// reloaded configuration shares it, so that counts go on across reloads
// and nothing is registered twice (which panics).
type Metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewMetrics registers the HTTP metrics on reg; nil makes a new registry
// with the Go runtime and process collectors.
func NewMetrics(reg *prometheus.Registry) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	m := &Metrics{
		registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tether_http_requests_total", Help: "HTTP requests by route pattern and status.",
		}, []string{"route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tether_http_request_duration_seconds", Help: "HTTP request latency by route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// Registry returns the registry, for other collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// Handler serves GET /metrics and nothing else, for a listener of its
// own.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.handler())
	return mux
}

func (m *Metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// Server is the HTTP entry point.
type Server struct {
	Mux     *http.ServeMux
	opts    Options
	log     *slog.Logger
	metrics *Metrics
}

// New returns a Server with health, readiness and metrics routes.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(opts.Registry)
	}
	s := &Server{
		Mux:     http.NewServeMux(),
		opts:    opts,
		log:     opts.Logger,
		metrics: opts.Metrics,
	}
	s.Mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	s.Mux.HandleFunc("GET /readyz", s.ready)
	if opts.PublicMetrics {
		s.Mux.Handle("GET /metrics", s.metrics.handler())
	}
	return s
}

// MetricsHandler serves GET /metrics and nothing else, for a listener of
// its own.
func (s *Server) MetricsHandler() http.Handler { return s.metrics.Handler() }

// Registry returns the metrics registry, for other collectors.
func (s *Server) Registry() *prometheus.Registry { return s.metrics.registry }

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if s.opts.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.opts.Ready(ctx); err != nil {
			s.log.WarnContext(r.Context(), "not ready", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready\n"))
			return
		}
	}
	_, _ = w.Write([]byte("ready\n"))
}

// Handler returns the mux wrapped in the middleware.
func (s *Server) Handler() http.Handler {
	var mux http.Handler = s.Mux
	if s.opts.CORS != nil {
		mux = s.opts.CORS.Wrap(mux)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := uuid.NewString()
		client := s.client(r)
		ctx := httpx.WithClient(httpx.WithRequestID(r.Context(), id), client)
		r = r.WithContext(ctx)
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		rec.Header().Set("X-Correlation-Id", id)
		rec.Header().Set("X-Content-Type-Options", "nosniff")
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.ErrorContext(ctx, "panic serving request", "correlation_id", id, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if !rec.wrote {
					http.Error(rec, "internal error", http.StatusInternalServerError)
				}
			}
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			elapsed := time.Since(start)
			s.metrics.requests.WithLabelValues(route, strconv.Itoa(rec.status)).Inc()
			s.metrics.duration.WithLabelValues(route).Observe(elapsed.Seconds())
			// The query string is never logged: it carries codes and states.
			s.log.LogAttrs(ctx, slog.LevelInfo, "request",
				slog.String("correlation_id", id), slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.Int("status", rec.status), slog.Duration("duration", elapsed), slog.String("ip", client.IP))
		}()
		mux.ServeHTTP(rec, r)
	})
}

// client resolves the request's client address: the TCP peer, or, when
// the peer is a trusted proxy, the right-most X-Forwarded-For address that
// is not itself a trusted proxy.
func (s *Server) client(r *http.Request) core.Client {
	c := core.Client{UserAgent: httpx.UserAgent(r)}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	c.IP = host
	peer, err := netip.ParseAddr(host)
	if err != nil || !s.trusted(peer) {
		return c
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		c.IP = a.Unmap().String()
		if !s.trusted(a) {
			break
		}
	}
	return c
}

func (s *Server) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range s.opts.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

type recorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
