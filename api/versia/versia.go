// Package versia serves the Versia Server SSO API over tether's core:
// /api/v1/sso (list, link, get, unlink), the browser callback
// /oauth/sso/{issuer}/callback and the sso part of /api/v2/instance.
//
// Versia calls a configured provider's string id its "issuer"; here it is
// the tether provider id. Errors are JSON {"error": msg, "details"?: ...}
// with an HTTP status; core error codes become statuses in one table,
// codes below. The callback never answers with JSON: every outcome is a
// redirect to the public URL carrying Versia's oidc_account_* keys.
package versia

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tether-id/tether/api"

	"github.com/tether-id/tether/api/httpx"
	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/internal/ratelimit"
	"github.com/tether-id/tether/metrics"
	"github.com/tether-id/tether/provider"
)

// outcome is how one core code shows on this surface: the HTTP status of
// the JSON routes and the short title the callback redirect carries in
// oidc_account_linking_error.
type outcome struct {
	status int
	title  string
}

// codes maps each core code to its status and callback title (SPEC §5).
var codes = map[core.Code]outcome{
	core.CodeInvalid:           {http.StatusUnprocessableEntity, "Account linking error"},
	core.CodeUnauthenticated:   {http.StatusUnauthorized, "Account linking error"},
	core.CodeInvalidCredential: {http.StatusUnauthorized, "Account linking error"},
	core.CodeTokenReused:       {http.StatusUnauthorized, "Account linking error"},
	core.CodeWrongPassword:     {http.StatusUnauthorized, "Account linking error"},
	core.CodeForbidden:         {http.StatusForbidden, "Account linking error"},
	core.CodeBanned:            {http.StatusForbidden, "Account linking error"},
	core.CodeInactive:          {http.StatusForbidden, "Account linking error"},
	core.CodeNotFound:          {http.StatusNotFound, "Account linking error"},
	core.CodeDisabled:          {http.StatusNotFound, "Account linking error"},
	core.CodeIdentityNotLinked: {http.StatusNotFound, "Account linking error"},
	core.CodeFlowNotFound:      {http.StatusBadRequest, "Linking session invalid"},
	core.CodeIdentityTaken:     {http.StatusConflict, "Account already linked"},
	core.CodeProviderLinked:    {http.StatusConflict, "Provider already linked"},
	core.CodeEmailTaken:        {http.StatusConflict, "Account linking error"},
	core.CodeLastSignInMethod:  {http.StatusConflict, "Account linking error"},
	core.CodeRateLimited:       {http.StatusTooManyRequests, "Too many requests"},
	core.CodeUpstream:          {http.StatusBadGateway, "Provider error"},
	core.CodeInternal:          {http.StatusInternalServerError, "Account linking error"},
	core.CodeTokenSigning:      {http.StatusInternalServerError, "Account linking error"},
	core.CodeLinkInvalid:       {http.StatusBadRequest, "Account linking error"},
	core.CodeEmailUnverified:   {http.StatusForbidden, "Account linking error"},
	core.CodeReauthRequired:    {http.StatusUnauthorized, "Account linking error"},
}

// outcomeOf returns how err shows. A failure that comes from a provider
// (discovery, a rejected authorization) is the provider's fault whatever
// the core classified it as, so a JSON route answers 502 for it rather
// than a 401 that would send the client to sign in again.
func outcomeOf(err error) outcome {
	code := core.ErrorCode(err)
	var pe *provider.Error
	if errors.As(err, &pe) && code == core.CodeInvalidCredential {
		code = core.CodeUpstream
	}
	if o, ok := codes[code]; ok {
		return o
	}
	return codes[core.CodeInternal]
}

// The messages Versia Server answers with, word for word.
var (
	errAuthRequired = core.Errorf(core.CodeUnauthenticated, "This route requires authentication.")
	errNotLinked    = core.Errorf(core.CodeIdentityNotLinked, "Account not found or is not linked to this issuer")
)

func errIssuerNotFound(id string) *core.Error {
	return core.Errorf(core.CodeNotFound, "Issuer with ID %s not found in instance's OpenID configuration", id)
}

// detailed adds Versia's optional "details" to an error.
type detailed struct {
	err     error
	details any
}

func (d *detailed) Error() string { return d.err.Error() }
func (d *detailed) Unwrap() error { return d.err }

func withDetails(err error, details any) error { return &detailed{err: err, details: details} }

// Options configure the surface.
type Options struct {
	// PublicURL is the external base URL; the redirects after the
	// callback go there unless FrontendURL is set.
	PublicURL string
	// FrontendURL is the Versia web app's own base URL
	// (versia.frontend_url), when it is not served from PublicURL: the
	// callback then lands on <FrontendURL>/ with the oidc_account_*
	// parameters.
	FrontendURL string
	// Callbacks are the providers' redirect URIs.
	Callbacks *api.Callbacks
	// Binder sets and reads the browser-binding cookie; required.
	Binder *httpx.Binder
	// Limiter limits POST /api/v1/sso and the callback per client IP; nil
	// disables. It is the Cloudreve surface's limiter, so one client has
	// one budget across both surfaces.
	Limiter *ratelimit.Limiter
	// Now is the clock of the limiter, for the reset time of a 429.
	Now func() time.Time
	// Metrics counts the outcomes of links, unlinks and flows, and the
	// requests the limiter refused; nil counts nothing.
	Metrics *metrics.Surface
	Logger  *slog.Logger
}

// Handler serves the Versia routes.
type Handler struct {
	svc  *core.Service
	opts Options
	log  *slog.Logger
}

// New returns the Versia surface over svc.
func New(svc *core.Service, opts Options) *Handler {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.PublicURL = strings.TrimRight(opts.PublicURL, "/")
	opts.FrontendURL = strings.TrimRight(opts.FrontendURL, "/")
	if opts.FrontendURL == "" {
		opts.FrontendURL = opts.PublicURL
	}
	return &Handler{svc: svc, opts: opts, log: opts.Logger}
}

// Register adds the routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/sso", h.authed(h.list))
	mux.HandleFunc("POST /api/v1/sso", h.limit(h.authed(h.link)))
	mux.HandleFunc("GET /api/v1/sso/{issuer}", h.authed(h.get))
	mux.HandleFunc("DELETE /api/v1/sso/{issuer}", h.authed(h.unlink))
	mux.HandleFunc("GET /oauth/sso/{issuer}/callback", h.callback)
	mux.HandleFunc("GET /api/v2/instance", h.instance)
}

// errorBody is Versia's error shape.
type errorBody struct {
	Error   string `json:"error"`
	Details any    `json:"details,omitempty"`
}

// fail answers err as JSON with its status, and logs it under the
// request's correlation id: client errors at info, server errors at error
// with the cause (which never reaches the client).
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	o := outcomeOf(err)
	body := errorBody{Error: sentence(core.ErrorMessage(err))}
	var d *detailed
	if errors.As(err, &d) {
		body.Details = d.details
	}
	level := slog.LevelInfo
	if o.status >= 500 {
		level = slog.LevelError
	}
	h.log.Log(r.Context(), level, "request failed", "correlation_id", httpx.RequestID(r.Context()),
		"status", o.status, "method", r.Method, "path", r.URL.Path, "err", err.Error())
	writeJSON(w, o.status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	// HTML escaping stays on: messages repeat what callers sent, and
	// "<", ">" and "&" are written as \u003c, \u003e and \u0026 so that a
	// client that shows a body as HTML runs nothing. Authorize URLs then
	// carry "\u0026", which decodes to the same "&".
	_ = json.NewEncoder(w).Encode(v)
}

// authed requires a bearer access token of an active user holding the
// oauth permission. Authentication is checked first, as Versia Server
// does since 0.8: a missing, invalid or expired token is 401; a banned or
// inactive account is 403 with its reason; a missing permission is 403
// "Missing permissions".
func (h *Handler) authed(next func(http.ResponseWriter, *http.Request, core.User)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, err := h.svc.Authenticate(r.Context(), httpx.Bearer(r))
		switch core.ErrorCode(err) {
		case "":
		case core.CodeUnauthenticated, core.CodeInvalidCredential:
			h.fail(w, r, errAuthRequired)
			return
		default:
			h.fail(w, r, err)
			return
		}
		if !u.Can(core.PermissionOAuth) {
			h.fail(w, r, withDetails(core.Errorf(core.CodeForbidden, "Missing permissions"), "Missing: "+core.PermissionOAuth))
			return
		}
		next(w, r, u)
	}
}

// limitDetails is the "details" of a 429, in the shape Versia Server's
// rate limiter gives.
type limitDetails struct {
	Limit     int    `json:"limit"`
	Remaining int    `json:"remaining"`
	Reset     string `json:"reset"`     // RFC 3339: when the next request is allowed
	ResetInMs int64  `json:"resetInMs"` // the same, as a delay
}

// allow takes one request from the client's budget. Over the limit it
// reports the error to show and sets Retry-After.
func (h *Handler) allow(w http.ResponseWriter, r *http.Request) error {
	if h.opts.Limiter == nil {
		return nil
	}
	ok, wait := h.opts.Limiter.Allow(httpx.Client(r).IP)
	if ok {
		return nil
	}
	h.opts.Metrics.Limited(r, httpx.LimitAddress)
	secs := int64((wait + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	return withDetails(core.Errorf(core.CodeRateLimited, "Too many requests"), limitDetails{
		Limit:     h.opts.Limiter.Limit(),
		Reset:     h.opts.Now().Add(wait).UTC().Format(time.RFC3339),
		ResetInMs: wait.Milliseconds(),
	})
}

// limit wraps a JSON route with the per-IP limit: 429 over it.
func (h *Handler) limit(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h.allow(w, r); err != nil {
			h.fail(w, r, err)
			return
		}
		next(w, r)
	}
}
