// Package metrics counts what happened in tether, for Prometheus:
// sign-ins, sign-ups, links, unlinks and refreshes by surface, provider
// and result; reused tokens; flows started and expired; requests a rate
// limit refused; requests to the upstream providers by endpoint and
// outcome, with their latency; and the use of the database's connection
// pools. The HTTP requests themselves are package server's
// (tether_http_*), the apps' sign-ins at the OpenID Provider package
// op's (tether_op_*), the mail queue's package app's (tether_mail_*).
//
// The outcomes are counted by the surfaces (api/cloudreve, api/versia,
// web, op), each through its Surface, with one call right where a core
// call returns, before the surface turns the answer into its wire format
// (and, for a rate limit's refusal, where it sets Retry-After). The
// surface label is only known there, and the core's answer already
// carries everything else: a core.Error's Code is the result, a
// FinishResult says whether a finish signed in, linked or created the
// account. So the core knows nothing of metrics and needs no observer
// that would have to be told the surface.
//
// Every label is bounded: surfaces and limits are constants, providers
// are configured ids (any other id is counted as ""), results are "ok"
// or a core.Code, routes are ServeMux patterns, never paths. Counting
// costs a label lookup on a pre-curried vector and no allocation.
package metrics

import (
	"errors"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tether-id/tether/api/httpx"
	"github.com/tether-id/tether/core"
)

// The surfaces, as the surface label names them.
const (
	Cloudreve = "cloudreve"
	Versia    = "versia"
	Web       = "web"
	OP        = "op"
)

// Password is the provider label of password sign-ins and sign-ups.
const Password = "password"

// OK is the result label of a success; a failure's is its core.Code.
const OK = "ok"

// The token label of tether_token_reuse_total.
const (
	RefreshToken      = "refresh_token"
	AuthorizationCode = "authorization_code"
)

// Options configure Metrics.
type Options struct {
	// Providers are the configured provider ids. Their successful
	// sign-ins are exported at zero from the start, so that the first
	// one shows in a rate.
	Providers []string
	// Known reports whether id is a configured provider: the only ids
	// that become provider labels (any other, such as one read from a
	// request path, is counted as ""). A tether that reloads its
	// configuration asks the running one. nil: the ids in Providers.
	Known func(id string) bool
}

// Metrics holds tether's outcome metrics; each surface counts through its
// own Surface. It is a prometheus.Collector: register it once per
// instance.
type Metrics struct {
	known func(id string) bool

	signIns      *prometheus.CounterVec // surface, provider, result
	signUps      *prometheus.CounterVec // surface, provider, result
	links        *prometheus.CounterVec // surface, provider, result
	unlinks      *prometheus.CounterVec // surface, provider, result
	refreshes    *prometheus.CounterVec // surface, result
	reuse        *prometheus.CounterVec // surface, token
	flowsStarted *prometheus.CounterVec // surface, provider, purpose
	flowsExpired prometheus.Counter
	limited      *prometheus.CounterVec // route, limiter

	upstream        *prometheus.CounterVec   // provider, endpoint, outcome
	upstreamLatency *prometheus.HistogramVec // provider, endpoint

	all []prometheus.Collector
}

// Describe and Collect make Metrics a prometheus.Collector of all its
// vectors.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.all {
		c.Describe(ch)
	}
}

func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.all {
		c.Collect(ch)
	}
}

// New returns the metrics, ready to count and to register.
func New(opts Options) *Metrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	if opts.Known == nil {
		ids := make(map[string]bool, len(opts.Providers))
		for _, id := range opts.Providers {
			ids[id] = true
		}
		opts.Known = func(id string) bool { return ids[id] }
	}
	m := &Metrics{
		known: opts.Known,
		signIns: counter("tether_signins_total",
			"Sign-ins by surface (cloudreve, versia, web), provider (its id, or password) and result (ok, or the core error code). First sign-ins that create the account are included.",
			"surface", "provider", "result"),
		signUps: counter("tether_signups_total",
			"Accounts created, by surface, provider (password: the sign-up form; a provider id: a first sign-in) and result (ok, or the error code of a refused sign-up form).",
			"surface", "provider", "result"),
		links: counter("tether_links_total",
			"Finished links of an upstream identity to a signed-in account, by surface, provider and result.",
			"surface", "provider", "result"),
		unlinks: counter("tether_unlinks_total",
			"Unlinks of an upstream identity, by surface, provider and result (last_sign_in_method: refused, it was the account's only way in).",
			"surface", "provider", "result"),
		refreshes: counter("tether_refreshes_total",
			"Refresh-token rotations of tether's own sessions, by surface and result (token_reused: a used token came back and its session was revoked). The OpenID Provider's are tether_op_token_requests_total{grant_type=\"refresh_token\"}.",
			"surface", "result"),
		reuse: counter("tether_token_reuse_total",
			"Used tokens presented again, each of which revoked what it had started: refresh_token (of a session of tether's, or of an app's at the OpenID Provider) or authorization_code (an app's). A sign of theft.",
			"surface", "token"),
		flowsStarted: counter("tether_flows_started_total",
			"Upstream flows started (a person sent to the provider), by surface, provider and purpose (sign_in or link).",
			"surface", "provider", "purpose"),
		flowsExpired: prometheus.NewCounter(prometheus.CounterOpts{Name: "tether_flows_expired_total",
			Help: "Upstream flows that expired unused, counted by the instance that purged them."}),
		limited: counter("tether_rate_limited_total",
			"Requests refused by a rate limit, by route (the ServeMux pattern) and limiter: address (per client address), account (wrong passwords per email) or mail (messages per address).",
			"route", "limiter"),
		upstream: counter("tether_upstream_requests_total",
			"HTTP requests to upstream providers, by provider, endpoint (discovery, jwks, token, userinfo; QQ's token, me, get_user_info) and outcome (ok for 1xx-3xx, 4xx, 5xx, timeout, canceled, error for any other failure to get an answer).",
			"provider", "endpoint", "outcome"),
		upstreamLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tether_upstream_request_duration_seconds",
			Help:    "Time from sending a request to an upstream provider to its answer's headers (or the failure), by provider and endpoint.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15},
		}, []string{"provider", "endpoint"}),
	}
	m.all = []prometheus.Collector{m.signIns, m.signUps, m.links, m.unlinks, m.refreshes, m.reuse, m.flowsStarted,
		m.flowsExpired, m.limited, m.upstream, m.upstreamLatency}
	for _, surface := range []string{Cloudreve, Web} {
		m.signIns.WithLabelValues(surface, Password, OK)
		m.refreshes.WithLabelValues(surface, OK)
		for _, id := range opts.Providers {
			m.signIns.WithLabelValues(surface, id, OK)
		}
	}
	return m
}

// provider returns id as a label: "" unless it is a configured provider.
func (m *Metrics) provider(id string) string {
	if id == Password || m.known(id) {
		return id
	}
	return ""
}

// FlowsExpired counts n flows that expired unused; the janitor calls it
// with what each purge deleted. Counting at the purge counts every
// expired flow once across instances, whether or not someone came back
// to it (such a late finish is a sign-in or link whose result is
// flow_not_found).
func (m *Metrics) FlowsExpired(n int) {
	if m != nil && n > 0 {
		m.flowsExpired.Add(float64(n))
	}
}

// Surface returns what the surface name (Cloudreve, Versia, Web or OP)
// counts with: the vectors curried with its label, so counting looks up
// only the labels that vary.
func (m *Metrics) Surface(name string) *Surface {
	curry := prometheus.Labels{"surface": name}
	return &Surface{
		m:            m,
		signIns:      m.signIns.MustCurryWith(curry),
		signUps:      m.signUps.MustCurryWith(curry),
		links:        m.links.MustCurryWith(curry),
		unlinks:      m.unlinks.MustCurryWith(curry),
		refreshes:    m.refreshes.MustCurryWith(curry),
		reuse:        m.reuse.MustCurryWith(curry),
		flowsStarted: m.flowsStarted.MustCurryWith(curry),
	}
}

// Surface counts the outcomes of one surface. A nil *Surface counts
// nothing, so a surface built without metrics (in its own tests) needs no
// care.
type Surface struct {
	m            *Metrics
	signIns      *prometheus.CounterVec
	signUps      *prometheus.CounterVec
	links        *prometheus.CounterVec
	unlinks      *prometheus.CounterVec
	refreshes    *prometheus.CounterVec
	reuse        *prometheus.CounterVec
	flowsStarted *prometheus.CounterVec
}

// result is the result label of err: OK, or its core code (CodeInternal
// for an error that is not a *core.Error), a bounded set. It reads the
// error as core.ErrorCode does, but with errors.AsType, which allocates
// nothing.
func result(err error) string {
	if err == nil {
		return OK
	}
	if e, ok := errors.AsType[*core.Error](err); ok {
		return string(e.Code)
	}
	return string(core.CodeInternal)
}

// SignIn counts a password sign-in (provider Password) or another
// sign-in that is not a Finish, with its error.
func (s *Surface) SignIn(provider string, err error) {
	if s == nil {
		return
	}
	s.signIns.WithLabelValues(s.m.provider(provider), result(err)).Inc()
}

// SignUp counts a sign-up through the form (provider Password), with its
// error.
func (s *Surface) SignUp(provider string, err error) {
	if s == nil {
		return
	}
	s.signUps.WithLabelValues(s.m.provider(provider), result(err)).Inc()
}

// Finish counts what core.Service.Finish did for a callback addressed to
// provider: a sign-in (and a sign-up, when it created the account) or a
// link, by res.Purpose. A finish whose flow was never found has no
// purpose and counts as a sign-in.
func (s *Surface) Finish(provider string, res core.FinishResult, err error) {
	if s == nil {
		return
	}
	provider, r := s.m.provider(provider), result(err)
	if res.Purpose == core.PurposeLink {
		s.links.WithLabelValues(provider, r).Inc()
		return
	}
	s.signIns.WithLabelValues(provider, r).Inc()
	if err == nil && res.Created {
		s.signUps.WithLabelValues(provider, OK).Inc()
	}
}

// Unlink counts an unlink of provider's identity, with its error.
func (s *Surface) Unlink(provider string, err error) {
	if s == nil {
		return
	}
	s.unlinks.WithLabelValues(s.m.provider(provider), result(err)).Inc()
}

// Refresh counts a refresh of one of tether's sessions, with its error,
// and the reuse it may have detected.
func (s *Surface) Refresh(err error) {
	if s == nil {
		return
	}
	s.refreshes.WithLabelValues(result(err)).Inc()
	s.Reused(err)
}

// Reused counts the reuse err reports, if it reports one: a used refresh
// token (core.ErrTokenReused, or an app's core.ErrAppTokenReused) or
// authorization code (core.ErrCodeReused) that came back.
func (s *Surface) Reused(err error) {
	e, ok := errors.AsType[*core.Error](err)
	switch {
	case s == nil || !ok:
	case e.Code == core.CodeTokenReused && e.Reason == core.ErrCodeReused.Reason:
		s.reuse.WithLabelValues(AuthorizationCode).Inc()
	case e.Code == core.CodeTokenReused || e.Reason == core.ErrAppTokenReused.Reason:
		s.reuse.WithLabelValues(RefreshToken).Inc()
	}
}

// FlowStarted counts a flow of provider that core.Service.Prepare
// started.
func (s *Surface) FlowStarted(provider string, purpose core.Purpose) {
	if s == nil {
		return
	}
	s.flowsStarted.WithLabelValues(s.m.provider(provider), string(purpose)).Inc()
}

// Refused counts r as refused by a rate limit when err is a
// httpx.LimitError, and reports whether it was. Surfaces call it where
// they set Retry-After.
func (s *Surface) Refused(r *http.Request, err error) bool {
	limit := httpx.Limit(err)
	if limit == "" {
		return false
	}
	s.Limited(r, limit)
	return true
}

// Limited counts r as refused by the limit (httpx.LimitAddress,
// LimitAccount or LimitMail), labelled with the ServeMux pattern that
// matched it.
func (s *Surface) Limited(r *http.Request, limit string) {
	if s == nil {
		return
	}
	route := r.Pattern
	if route == "" {
		route = "unmatched"
	}
	s.m.limited.WithLabelValues(route, limit).Inc()
}
