// Package op is tether's OpenID Provider surface (SPEC §8): discovery,
// the JWKS, and the authorization, token, userinfo, revocation,
// introspection and end-session endpoints, for the apps of the config's
// `clients:`. It speaks the protocol (OpenID Connect Core 1.0, RFC 6749,
// RFC 7636, RFC 7009, RFC 7662, RFC 9068, RFC 9207, RP-Initiated Logout
// 1.0) and leaves the rules to core.Service and the pages a person sees
// (sign-in, consent, sign-out) to tether's web pages, through Browser.
//
// Errors become OAuth errors in one place, core.OAuthError: at the
// authorization endpoint they go back to the app's redirect URI once the
// client and the redirect URI are known good, and are shown on a page
// before; elsewhere they are JSON with the status RFC 6749 §5.2 and RFC
// 6750 §3 name.
package op

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tether-id/tether/api/httpx"
	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/internal/ratelimit"
	"github.com/tether-id/tether/metrics"
)

// Paths of the endpoints (SPEC §8). The issuer is public_url itself.
const (
	PathDiscovery  = "/.well-known/openid-configuration"
	PathJWKS       = "/oauth2/jwks"
	PathAuthorize  = "/oauth2/authorize"
	PathToken      = "/oauth2/token"
	PathUserInfo   = "/oauth2/userinfo"
	PathRevoke     = "/oauth2/revoke"
	PathIntrospect = "/oauth2/introspect"
	PathLogout     = "/oauth2/logout"
)

// continueParam carries a sealed core.AuthRequest back to the
// authorization endpoint from the sign-in and consent pages. It is not an
// OAuth parameter, so it cannot be mistaken for one.
const continueParam = "tether_request"

// Browser is what the endpoints a person's browser visits need of
// tether's pages: the person's tether session (single sign-on across
// apps) and the pages for signing in, consenting and signing out. Package
// web implements it.
type Browser interface {
	// Session returns the browser's tether session, or nil when it is
	// signed out. It may refresh the session's cookies on w.
	Session(w http.ResponseWriter, r *http.Request) *core.BrowserSession
	// SignIn sends the browser to the sign-in page for app (the upstream
	// provider req.IDPHint names, straight away), from where it comes
	// back to next. force shows the sign-in form even to a signed-in
	// browser (prompt=login, max_age).
	SignIn(w http.ResponseWriter, r *http.Request, app core.App, req core.AuthRequest, next string, force bool)
	// Consent shows the consent page: app asks for scopes. Its form posts
	// to the authorization endpoint with the continue parameter and
	// consent=approve or consent=deny.
	Consent(w http.ResponseWriter, r *http.Request, app core.App, scopes []string, form url.Values)
	// CheckForm checks the CSRF token of a form the pages made for the
	// signed-in user (userID; "" for none).
	CheckForm(r *http.Request, userID string) error
	// ConfirmSignOut asks the person whether to sign out of tether; the
	// form posts form back to the end-session endpoint with confirm=yes.
	ConfirmSignOut(w http.ResponseWriter, r *http.Request, app *core.App, form url.Values)
	// SignOut ends the browser's tether session.
	SignOut(w http.ResponseWriter, r *http.Request)
	// SignedOut shows that the person is signed out, when no app asked to
	// get them back.
	SignedOut(w http.ResponseWriter, r *http.Request)
	// Problem shows an error on a page: nothing may go to an app whose
	// redirect URI is not known good.
	Problem(w http.ResponseWriter, r *http.Request, err error)
}

// Options configure the surface.
type Options struct {
	// Issuer is public_url, exactly.
	Issuer  string
	Browser Browser
	// Limiter limits the token, revocation and introspection endpoints
	// per client address; nil disables.
	Limiter *ratelimit.Limiter
	// Metrics count what apps do; nil makes new ones on Registry.
	Metrics *Metrics
	// Registry receives the metrics when Metrics is nil; nil keeps them
	// unregistered.
	Registry prometheus.Registerer
	// Outcomes counts, in the metrics every surface shares (package
	// metrics), the reused tokens this surface detects and the requests
	// the limiter refused; nil counts nothing.
	Outcomes *metrics.Surface
	Logger   *slog.Logger
}

// Handler serves the OpenID Provider.
type Handler struct {
	svc       *core.Service
	opts      Options
	log       *slog.Logger
	discovery []byte
	metrics   *Metrics
}

// New returns the OpenID Provider over svc.
func New(svc *core.Service, opts Options) (*Handler, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(opts.Registry)
	}
	h := &Handler{svc: svc, opts: opts, log: opts.Logger, metrics: opts.Metrics}
	var err error
	if h.discovery, err = json.Marshal(discovery(opts.Issuer)); err != nil {
		return nil, err
	}
	return h, nil
}

// Register adds the endpoints to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET "+PathDiscovery, h.serveDiscovery)
	mux.HandleFunc("GET "+PathJWKS, h.jwks)
	mux.HandleFunc("GET "+PathAuthorize, h.authorize)
	mux.HandleFunc("POST "+PathAuthorize, h.authorize)
	mux.HandleFunc("POST "+PathToken, h.limited(h.token))
	mux.HandleFunc("GET "+PathUserInfo, h.userinfo)
	mux.HandleFunc("POST "+PathUserInfo, h.userinfo)
	mux.HandleFunc("POST "+PathRevoke, h.limited(h.revoke))
	mux.HandleFunc("POST "+PathIntrospect, h.limited(h.introspect))
	mux.HandleFunc("GET "+PathLogout, h.logout)
	mux.HandleFunc("POST "+PathLogout, h.logout)
}

// discovery is the OpenID Connect Discovery 1.0 / RFC 8414 document.
func discovery(issuer string) map[string]any {
	return map[string]any{
		"issuer":                                issuer,
		"authorization_endpoint":                issuer + PathAuthorize,
		"token_endpoint":                        issuer + PathToken,
		"userinfo_endpoint":                     issuer + PathUserInfo,
		"jwks_uri":                              issuer + PathJWKS,
		"revocation_endpoint":                   issuer + PathRevoke,
		"introspection_endpoint":                issuer + PathIntrospect,
		"end_session_endpoint":                  issuer + PathLogout,
		"response_types_supported":              []string{"code"},
		"response_modes_supported":              []string{"query"},
		"grant_types_supported":                 []string{"authorization_code", "refresh_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": core.SigningAlgs,
		"scopes_supported":                      core.KnownScopes,
		"claims_supported": []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "azp", "amr", "sid",
			"email", "email_verified", "name", "picture", "locale"},
		"token_endpoint_auth_methods_supported":          []string{"client_secret_basic", "client_secret_post", "none"},
		"revocation_endpoint_auth_methods_supported":     []string{"client_secret_basic", "client_secret_post", "none"},
		"introspection_endpoint_auth_methods_supported":  []string{"client_secret_basic", "client_secret_post"},
		"code_challenge_methods_supported":               []string{"S256"},
		"prompt_values_supported":                        []string{"none", "login", "consent"},
		"authorization_response_iss_parameter_supported": true,
		"request_parameter_supported":                    false,
		"request_uri_parameter_supported":                false,
		"claims_parameter_supported":                     false,
		"ui_locales_supported":                           []string{"en", "zh-CN"},
	}
}

func (h *Handler) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(h.discovery)
}

func (h *Handler) jwks(w http.ResponseWriter, r *http.Request) {
	doc, err := h.svc.JWKS(r.Context())
	if err != nil {
		h.log.ErrorContext(r.Context(), "op: jwks", "err", err)
		writeError(w, http.StatusInternalServerError, "server_error", "The keys are not available", "")
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	// Apps cache the keys; a new kid makes them fetch again.
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(doc)
}

// limited refuses a request over the per-address limit: a 429 with
// OAuth's temporarily_unavailable.
func (h *Handler) limited(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if h.opts.Limiter != nil {
			if ok, wait := h.opts.Limiter.Allow(httpx.Client(r).IP); !ok {
				h.opts.Outcomes.Limited(r, httpx.LimitAddress)
				w.Header().Set("Retry-After", strconv.Itoa(max(1, int((wait+time.Second-1)/time.Second))))
				writeError(w, http.StatusTooManyRequests, "temporarily_unavailable", "Too many requests", "")
				return
			}
		}
		next(w, r)
	}
}

// writeJSON answers v with Cache-Control: no-store, as every answer that
// carries tokens or claims must (RFC 6749 §5.1).
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers an OAuth error (RFC 6749 §5.2). wwwAuth, when set,
// is the WWW-Authenticate challenge.
func writeError(w http.ResponseWriter, status int, code, description, wwwAuth string) {
	if wwwAuth != "" {
		w.Header().Set("WWW-Authenticate", wwwAuth)
	}
	body := map[string]string{"error": code}
	if description != "" {
		body["error_description"] = description
	}
	writeJSON(w, status, body)
}

// fail answers a core error at the token, revocation and introspection
// endpoints: invalid_client is 401 with a Basic challenge, server errors
// are 500 and logged, the rest 400.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := core.OAuthError(err)
	switch code {
	case "invalid_client":
		writeError(w, http.StatusUnauthorized, code, core.ErrorMessage(err), `Basic realm="tether", charset="UTF-8"`)
	case "server_error":
		h.log.ErrorContext(r.Context(), "op: request failed", "path", r.URL.Path, "correlation_id", httpx.RequestID(r.Context()), "err", err)
		writeError(w, http.StatusInternalServerError, code, "Internal error", "")
	case "temporarily_unavailable":
		writeError(w, http.StatusServiceUnavailable, code, core.ErrorMessage(err), "")
	default:
		writeError(w, http.StatusBadRequest, code, core.ErrorMessage(err), "")
	}
}
