// Package cloudreve serves the Cloudreve v4 API (under /api/v4) over
// tether's core: the OpenID routes of the seed document, local accounts
// and sessions. Responses are always HTTP 200 with the envelope
// {code, data?, msg, error?, correlation_id?}; core error codes become
// Cloudreve numbers in one table, codes below.
package cloudreve

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/tether-id/tether/api"

	"github.com/tether-id/tether/api/httpx"
	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/internal/ratelimit"
	"github.com/tether-id/tether/metrics"
)

// codes maps each core code to its Cloudreve number (SPEC §4).
var codes = map[core.Code]int{
	core.CodeInvalid:           40001,
	core.CodeUnauthenticated:   401,
	core.CodeForbidden:         403,
	core.CodeNotFound:          404,
	core.CodeBanned:            40017,
	core.CodeInactive:          40018,
	core.CodeDisabled:          40019,
	core.CodeInvalidCredential: 40020,
	core.CodeTokenReused:       40020,
	core.CodeUpstream:          40020,
	core.CodeFlowNotFound:      40023,
	core.CodeEmailTaken:        40032,
	core.CodeProviderLinked:    40066,
	core.CodeIdentityTaken:     40067,
	core.CodeIdentityNotLinked: 40068,
	core.CodeWrongPassword:     40069,
	core.CodeLastSignInMethod:  40084,
	core.CodeRateLimited:       429,
	core.CodeInternal:          50001,
	core.CodeTokenSigning:      50002,
	core.CodeLinkInvalid:       40030, // Cloudreve's "temporary link expired"
	core.CodeEmailUnverified:   40018, // Cloudreve's "not activated"
	core.CodeReauthRequired:    401,
}

// Code returns the Cloudreve number for err (0 for nil).
func Code(err error) int {
	if err == nil {
		return 0
	}
	if n, ok := codes[core.ErrorCode(err)]; ok {
		return n
	}
	return 50001
}

// Options configure the surface.
type Options struct {
	// PublicURL is the external base URL.
	PublicURL string
	// Callbacks are the providers' redirect URIs.
	Callbacks *api.Callbacks
	// Debug adds the internal error text to failures, like Cloudreve's
	// non-release mode. Never in production: it can show internals.
	Debug bool
	// Binder sets and reads the browser-binding cookie; required.
	Binder *httpx.Binder
	// Limiter limits the sign-in and session routes per client address;
	// nil disables.
	Limiter *ratelimit.Limiter
	// Accounts locks out password sign-in per email after repeated
	// failures; nil disables.
	Accounts *ratelimit.Backoff
	// MailQuota limits the messages anyone can have sent to one address
	// (reset, verification, change of address); nil disables. Shared by
	// every surface.
	MailQuota *ratelimit.Quota
	// Metrics counts the outcomes of sign-ins, links, unlinks, refreshes
	// and flows, and the requests a rate limit refused; nil counts
	// nothing.
	Metrics *metrics.Surface
	Logger  *slog.Logger
}

// Handler serves the Cloudreve routes.
type Handler struct {
	svc  *core.Service
	opts Options
	log  *slog.Logger
}

// New returns the Cloudreve surface over svc.
func New(svc *core.Service, opts Options) *Handler {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Handler{svc: svc, opts: opts, log: opts.Logger}
}

// Mux is where Register adds routes; *http.ServeMux is one. It is an
// interface so that a test can list the routes and check that the OpenAPI
// document describes each.
type Mux interface {
	Handle(pattern string, handler http.Handler)
}

// Register adds the routes to mux.
func (h *Handler) Register(mux Mux) {
	limited := h.limit
	mux.Handle("POST /api/v4/user", limited(h.signUp))
	mux.Handle("POST /api/v4/session/token", limited(h.signIn))
	mux.Handle("POST /api/v4/session/token/refresh", limited(h.refresh))
	mux.Handle("DELETE /api/v4/session/token", limited(h.signOut))
	mux.Handle("GET /api/v4/user/setting", h.authed(h.settings))
	mux.Handle("GET /api/v4/user/avatar/{id}", http.HandlerFunc(h.avatar))
	mux.Handle("PUT /api/v4/session/openid", limited(h.prepare))
	mux.Handle("POST /api/v4/session/openid", limited(h.finish))
	mux.Handle("DELETE /api/v4/session/openid/{provider_id}", h.authed(h.unlink))
	mux.Handle("GET /api/v4/session/prepare", limited(h.prepareLogin))
	mux.Handle("GET /api/v4/site/config/login", http.HandlerFunc(h.loginConfig))
	h.registerEmail(mux)
	// Anything else under /api/v4 answers in the envelope, not with a
	// bare 404 page.
	mux.Handle("/api/v4/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, core.Errorf(core.CodeNotFound, "Not found"))
	}))
}

// envelope is Cloudreve's response body. Field order follows Cloudreve.
type envelope struct {
	Code          int    `json:"code"`
	Data          any    `json:"data,omitempty"`
	Msg           string `json:"msg"`
	Error         string `json:"error,omitempty"`
	CorrelationID string `json:"correlation_id,omitempty"`
}

func (h *Handler) ok(w http.ResponseWriter, data any) {
	write(w, envelope{Data: data})
}

// fail writes err in the envelope with a correlation id, and logs it under
// the same id: client errors at info, server errors at error with cause.
// A rate-limited request also gets Retry-After, as a courtesy, and is
// counted by route and limit.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if wait, ok := httpx.RetryAfter(err); ok {
		w.Header().Set("Retry-After", strconv.Itoa(httpx.Seconds(wait)))
		h.opts.Metrics.Refused(r, err)
	}
	id := httpx.RequestID(r.Context())
	if id == "" {
		id = newCorrelationID()
	}
	env := envelope{Code: Code(err), Msg: core.ErrorMessage(err), CorrelationID: id}
	if h.opts.Debug {
		env.Error = err.Error()
	}
	level := slog.LevelInfo
	if env.Code >= 50000 {
		level = slog.LevelError
	}
	h.log.Log(r.Context(), level, "request failed", "correlation_id", id, "code", env.Code,
		"method", r.Method, "path", r.URL.Path, "err", err.Error())
	write(w, env)
}

func write(w http.ResponseWriter, env envelope) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	// HTML escaping stays on: messages repeat what callers sent, and
	// "<", ">" and "&" are written as \u003c, \u003e and \u0026 so that a
	// client that shows a body as HTML runs nothing. Authorize URLs then
	// carry "\u0026", which decodes to the same "&".
	_ = json.NewEncoder(w).Encode(env)
}

// limit wraps a route with the per-IP limit; over the limit the answer
// is code 429 in the envelope.
func (h *Handler) limit(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := httpx.AllowIP(h.opts.Limiter, r); err != nil {
			h.fail(w, r, err)
			return
		}
		next(w, r)
	})
}

// authed requires a valid bearer token: missing → 401, invalid or
// expired → 40020, banned or inactive → 40017/40018.
func (h *Handler) authed(next func(http.ResponseWriter, *http.Request, core.User)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok := httpx.Bearer(r)
		if tok == "" {
			h.fail(w, r, core.ErrUnauthenticated)
			return
		}
		u, err := h.svc.Authenticate(r.Context(), tok)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		next(w, r, u)
	}
}

// optionalUser returns the bearer's user, or ok=false when there is no
// usable token. Routes with optional auth ignore a stale token instead of
// failing, so an expired session never blocks signing in again.
func (h *Handler) optionalUser(r *http.Request) (core.User, bool) {
	tok := httpx.Bearer(r)
	if tok == "" {
		return core.User{}, false
	}
	u, err := h.svc.Authenticate(r.Context(), tok)
	return u, err == nil
}
