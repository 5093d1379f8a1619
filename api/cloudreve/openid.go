package cloudreve

import (
	"net/http"
	"strconv"

	"github.com/tether-id/tether/api"
	"github.com/tether-id/tether/api/httpx"
	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/provider"
)

// resolve finds the provider a request names: provider_key (the additive
// string id) when given, else the first enabled provider of the kind the
// Cloudreve integer names. Unknown or disabled → 40019. field is the
// integer's name in the request ("provider" or "provider_id"), for the
// messages.
func (h *Handler) resolve(code *int, key, field string) (core.Provider, error) {
	title := httpx.FieldTitle(field)
	disabled := core.ErrProviderDisabled
	if key != "" {
		p, ok := h.svc.Provider(key)
		if !ok || !p.Enabled {
			return core.Provider{}, disabled
		}
		if code != nil && api.CloudreveCode(p.Kind) != *code {
			return core.Provider{}, core.Invalid(field, "%s does not match provider_key", title)
		}
		return p, nil
	}
	if code == nil {
		return core.Provider{}, core.Invalid(field, "%s cannot be empty", title)
	}
	kind, ok := api.CloudreveKind(*code)
	if !ok {
		return core.Provider{}, core.Invalid(field, "%s must be one of 0, 1, 2", title)
	}
	p, ok := h.svc.FirstEnabled(kind)
	if !ok {
		return core.Provider{}, disabled
	}
	return p, nil
}

// PUT /api/v4/session/openid {provider, hint?, linking?, provider_key?}
// → data: the authorize URL.
func (h *Handler) prepare(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Provider    *int    `json:"provider"`
		Hint        *string `json:"hint"`
		Linking     *bool   `json:"linking"`
		ProviderKey string  `json:"provider_key"`
	}
	if err := httpx.DecodeJSON(r, &body); err != nil {
		h.fail(w, r, err)
		return
	}
	linking := body.Linking != nil && *body.Linking
	req := core.PrepareRequest{Purpose: core.PurposeSignIn}
	if linking {
		// Linking needs a valid session: a missing or stale token is 401;
		// a banned or inactive account is told so (40017/40018).
		u, err := h.svc.Authenticate(r.Context(), httpx.Bearer(r))
		switch code := core.ErrorCode(err); {
		case code == core.CodeBanned || code == core.CodeInactive:
			h.fail(w, r, err)
			return
		case err != nil:
			h.fail(w, r, core.ErrUnauthenticated)
			return
		}
		req.Purpose, req.UserID = core.PurposeLink, u.ID
	}
	if body.Hint != nil && *body.Hint != "" {
		hint, err := core.ParseEmail("hint", *body.Hint)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		req.Hint = hint
	}
	p, err := h.resolve(body.Provider, body.ProviderKey, "provider")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// The Cloudreve frontend's callback page, which may be on its own
	// origin (cloudreve.frontend_url).
	req.ProviderID, req.RedirectURI = p.ID, h.opts.Callbacks.CloudreveURL(p.ID)
	req.BrowserSecret = h.opts.Binder.Secret(w, r)
	authURL, err := h.svc.Prepare(r.Context(), req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.opts.Metrics.FlowStarted(p.ID, req.Purpose)
	h.ok(w, authURL)
}

// POST /api/v4/session/openid {code, session_id, provider_id, iss?,
// provider_key?} → {user, token} for a sign-in, no data for a link.
func (h *Handler) finish(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Code        string `json:"code"`
		SessionID   string `json:"session_id"`
		ProviderID  *int   `json:"provider_id"`
		Iss         string `json:"iss"`
		ProviderKey string `json:"provider_key"`
	}
	if err := httpx.DecodeJSON(r, &body); err != nil {
		h.fail(w, r, err)
		return
	}
	switch {
	case body.Code == "":
		h.fail(w, r, core.Invalid("code", "Code cannot be empty"))
		return
	case body.SessionID == "":
		h.fail(w, r, core.Invalid("session_id", "SessionID cannot be empty"))
		return
	case body.ProviderID == nil && body.ProviderKey == "":
		h.fail(w, r, core.Invalid("provider_id", "ProviderID cannot be empty"))
		return
	}
	p, err := h.resolve(body.ProviderID, body.ProviderKey, "provider_id")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	req := core.FinishRequest{
		FlowID:     body.SessionID,
		ProviderID: p.ID,
		// The client relays only what its callback page saw; a missing iss
		// is tolerated because the page's path already named the
		// provider (SPEC §3.1), a present one is checked.
		Callback:      provider.Callback{Code: body.Code, Iss: body.Iss, Relayed: true},
		BrowserSecret: h.opts.Binder.Read(r),
		Client:        httpx.Client(r),
	}
	if u, ok := h.optionalUser(r); ok {
		req.UserID = u.ID
	}
	res, err := h.svc.Finish(r.Context(), req)
	h.opts.Metrics.Finish(p.ID, res, err)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if res.Purpose == core.PurposeLink {
		h.ok(w, nil)
		return
	}
	h.ok(w, loginResponse{User: toUser(res.User), Token: toToken(res.Tokens)})
}

// DELETE /api/v4/session/openid/{provider_id}: the Cloudreve integer, or
// a provider's string id (additive).
func (h *Handler) unlink(w http.ResponseWriter, r *http.Request, u core.User) {
	id := r.PathValue("provider_id")
	var err error
	if code, cerr := strconv.Atoi(id); cerr == nil {
		id, err = h.unlinkTarget(r, u, code)
	}
	if err == nil {
		err = h.svc.Unlink(r.Context(), u.ID, id, httpx.Client(r))
	}
	h.opts.Metrics.Unlink(id, err)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.ok(w, nil)
}

// unlinkTarget is the provider id a Cloudreve integer means for u: the
// provider the integer names everywhere else (the first enabled of its
// kind) when u has linked it, else u's oldest identity of that kind (a
// provider since disabled, or a further one, which Cloudreve clients list
// under the same integer).
func (h *Handler) unlinkTarget(r *http.Request, u core.User, code int) (string, error) {
	kind, ok := api.CloudreveKind(code)
	if !ok {
		return "", core.Invalid("provider_id", "ProviderID must be one of 0, 1, 2")
	}
	linked, err := h.svc.Identities(r.Context(), u.ID)
	if err != nil {
		return "", err
	}
	first, _ := h.svc.FirstEnabled(kind)
	target := ""
	for _, id := range linked {
		p, ok := h.svc.Provider(id.ProviderID)
		switch {
		case !ok || p.Kind != kind:
		case p.ID == first.ID:
			return p.ID, nil
		case target == "":
			target = p.ID
		}
	}
	if target == "" {
		return "", core.ErrIdentityNotLinked
	}
	return target, nil
}

// GET /api/v4/session/prepare?email= → which ways this account can sign
// in: each *_enabled is true when the provider kind is enabled on the site
// and linked to the account. An unknown email answers like an account
// with only a password, so the route does not reveal which emails exist.
func (h *Handler) prepareLogin(w http.ResponseWriter, r *http.Request) {
	email := r.URL.Query().Get("email")
	if email == "" {
		h.fail(w, r, core.Invalid("email", "Email cannot be empty"))
		return
	}
	out := struct {
		PasswordEnabled bool `json:"password_enabled"`
		WebAuthnEnabled bool `json:"webauthn_enabled"`
		SSOEnabled      bool `json:"sso_enabled"`
		QQEnabled       bool `json:"qq_enabled"`
		OIDCEnabled     bool `json:"oidc_enabled"`
	}{PasswordEnabled: true}
	password, linked, err := h.svc.SignInMethods(r.Context(), email)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out.PasswordEnabled = password
	for _, p := range linked {
		switch p.Kind {
		case provider.KindLogto:
			out.SSOEnabled = true
		case provider.KindQQ:
			out.QQEnabled = true
		case provider.KindOIDC:
			out.OIDCEnabled = true
		}
	}
	h.ok(w, out)
}

type siteProvider struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
	Code int    `json:"code"`
	Name string `json:"name"`
	Icon string `json:"icon,omitempty"`
}

// GET /api/v4/site/config/login: the site's sign-in switches. Cloudreve
// knows one provider per kind (sso_* is Logto); the additive "providers"
// lists every enabled provider for clients that know string ids.
func (h *Handler) loginConfig(w http.ResponseWriter, r *http.Request) {
	out := struct {
		RegisterEnabled bool           `json:"register_enabled"`
		LoginCaptcha    bool           `json:"login_captcha"`
		Authn           bool           `json:"authn"`
		QQEnabled       bool           `json:"qq_enabled"`
		SSOEnabled      bool           `json:"sso_enabled"`
		SSODisplayName  string         `json:"sso_display_name"`
		SSOIcon         string         `json:"sso_icon"`
		OIDCEnabled     bool           `json:"oidc_enabled"`
		OIDCDisplayName string         `json:"oidc_display_name"`
		OIDCIcon        string         `json:"oidc_icon"`
		Providers       []siteProvider `json:"providers"`
	}{RegisterEnabled: h.svc.PasswordSignUpEnabled(), Providers: []siteProvider{}}
	if p, ok := h.svc.FirstEnabled(provider.KindLogto); ok {
		out.SSOEnabled, out.SSODisplayName, out.SSOIcon = true, p.Name, p.Icon
	}
	if _, ok := h.svc.FirstEnabled(provider.KindQQ); ok {
		out.QQEnabled = true
	}
	if p, ok := h.svc.FirstEnabled(provider.KindOIDC); ok {
		out.OIDCEnabled, out.OIDCDisplayName, out.OIDCIcon = true, p.Name, p.Icon
	}
	for _, p := range h.svc.Providers() {
		if p.Enabled {
			out.Providers = append(out.Providers, siteProvider{ID: p.ID, Kind: p.Kind, Code: api.CloudreveCode(p.Kind), Name: p.Name, Icon: p.Icon})
		}
	}
	h.ok(w, out)
}
