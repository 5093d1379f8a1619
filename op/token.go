package op

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/tether-id/tether/api/httpx"
	"github.com/tether-id/tether/core"
)

// POST /oauth2/token: redeem a code, or refresh (RFC 6749 §4.1.3, §6).
func (h *Handler) token(w http.ResponseWriter, r *http.Request) {
	form, ok := h.form(w, r)
	if !ok {
		return
	}
	app, err := h.client(r, form, true)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var t core.AppTokens
	switch form.Get("grant_type") {
	case "authorization_code":
		t, err = h.svc.ExchangeCode(r.Context(), app, form.Get("code"), form.Get("redirect_uri"), form.Get("code_verifier"), httpx.Client(r))
	case "refresh_token":
		t, err = h.svc.RefreshApp(r.Context(), app, form.Get("refresh_token"), form.Get("scope"), httpx.Client(r))
	case "":
		err = core.Invalid("grant_type", "grant_type is required")
	default:
		writeError(w, http.StatusBadRequest, "unsupported_grant_type", "Only authorization_code and refresh_token are supported", "")
		return
	}
	h.metrics.tokens.WithLabelValues(app.ID, form.Get("grant_type"), outcome(err)).Inc()
	h.opts.Outcomes.Reused(err)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	body := map[string]any{
		"access_token": t.AccessToken,
		"token_type":   "Bearer",
		"expires_in":   t.ExpiresIn,
		"id_token":     t.IDToken,
		"scope":        strings.Join(t.Scopes, " "),
	}
	if t.RefreshToken != "" {
		body["refresh_token"] = t.RefreshToken
	}
	writeJSON(w, http.StatusOK, body)
}

// POST /oauth2/revoke (RFC 7009).
func (h *Handler) revoke(w http.ResponseWriter, r *http.Request) {
	form, ok := h.form(w, r)
	if !ok {
		return
	}
	app, err := h.client(r, form, true)
	if err == nil {
		if form.Get("token") == "" {
			err = core.Invalid("token", "token is required")
		} else {
			err = h.svc.RevokeToken(r.Context(), app, form.Get("token"), httpx.Client(r))
		}
		h.metrics.revocations.WithLabelValues(app.ID, outcome(err)).Inc()
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// POST /oauth2/introspect (RFC 7662): for confidential clients, about
// their own tokens.
func (h *Handler) introspect(w http.ResponseWriter, r *http.Request) {
	form, ok := h.form(w, r)
	if !ok {
		return
	}
	app, err := h.client(r, form, false)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if form.Get("token") == "" {
		h.fail(w, r, core.Invalid("token", "token is required"))
		return
	}
	info, err := h.svc.Introspect(r.Context(), app, form.Get("token"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// form reads an application/x-www-form-urlencoded body, the only kind
// these endpoints take; false means an error was answered.
func (h *Handler) form(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(ct), "application/x-www-form-urlencoded") {
		writeError(w, http.StatusBadRequest, "invalid_request", "The body must be application/x-www-form-urlencoded", "")
		return nil, false
	}
	r.Body = http.MaxBytesReader(w, r.Body, httpx.MaxBody)
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "The body is not a valid form", "")
		return nil, false
	}
	for _, p := range []string{"grant_type", "code", "redirect_uri", "code_verifier", "refresh_token", "token", "client_id", "client_secret", "scope"} {
		if len(r.PostForm[p]) > 1 {
			writeError(w, http.StatusBadRequest, "invalid_request", p+" is repeated", "")
			return nil, false
		}
	}
	return r.PostForm, true
}

// client authenticates the app making a back-channel request (RFC 6749
// §2.3): client_secret_basic, client_secret_post, or — where public is
// allowed — none, for a public client, which proves itself with PKCE.
// One method per request; a confidential client must use its secret.
func (h *Handler) client(r *http.Request, form url.Values, public bool) (core.App, error) {
	id, secret, basic := r.BasicAuth()
	if basic {
		// The parts are form-urlencoded before they are joined (RFC 6749
		// §2.3.1), and clients do encode them.
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil || form.Has("client_secret") || form.Has("client_id") && form.Get("client_id") != id {
			return core.App{}, core.ErrInvalidClient
		}
	} else {
		id, secret = form.Get("client_id"), form.Get("client_secret")
	}
	app, ok := h.svc.App(id)
	switch {
	case !ok:
		return core.App{}, core.ErrInvalidClient
	case app.Public():
		if secret != "" || basic || !public {
			return core.App{}, core.ErrInvalidClient
		}
	case !app.CheckSecret(secret):
		return core.App{}, core.ErrInvalidClient
	}
	return app, nil
}
