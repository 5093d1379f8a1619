package web

import (
	"maps"
	"net/http"
	"net/url"
	"slices"

	"github.com/tether-id/tether/api/httpx"
	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/op"
)

// The pages of tether's OpenID Provider: signing in to an app, consent,
// signing out, and the account page's "Apps with access". Handler is the
// op.Browser of package op, which speaks the protocol.

var _ op.Browser = (*Handler)(nil)

// Session returns the browser's tether session for an app's
// authorization request: single sign-on across apps.
func (h *Handler) Session(w http.ResponseWriter, r *http.Request) *core.BrowserSession {
	st := h.begin(w, r)
	if !st.signedIn || st.refresh == "" {
		return nil
	}
	b, err := h.svc.BrowserSession(r.Context(), st.refresh, st.user)
	if err != nil {
		if core.ErrorCode(err) == core.CodeInternal {
			h.log.ErrorContext(r.Context(), "web: reading the session for an app", "err", err)
		}
		return nil
	}
	return b
}

// SignIn sends the browser to the sign-in page for app, or straight to
// the upstream provider the app named (idp_hint).
func (h *Handler) SignIn(w http.ResponseWriter, r *http.Request, app core.App, req core.AuthRequest, next string, force bool) {
	if req.IDPHint != "" {
		if p, ok := h.svc.Provider(req.IDPHint); ok && p.Enabled {
			authURL, err := h.svc.Prepare(r.Context(), core.PrepareRequest{
				ProviderID:    p.ID,
				Purpose:       core.PurposeSignIn,
				RedirectURI:   h.opts.Callbacks.URL(p.ID),
				Hint:          emailHint(req.LoginHint),
				ReturnTo:      next,
				BrowserSecret: h.opts.Binder.Secret(w, r),
			})
			if err == nil {
				h.opts.Metrics.FlowStarted(p.ID, core.PurposeSignIn)
				h.redirect(w, r, authURL)
				return
			}
			h.log.WarnContext(r.Context(), "web: idp_hint sign-in could not start", "provider", p.ID, "err", err)
		}
	}
	q := url.Values{"redirect": {next}, "app": {app.ID}}
	if force {
		q.Set("force", "1")
	}
	if hint := emailHint(req.LoginHint); hint != "" {
		q.Set("login_hint", hint)
	}
	h.redirect(w, r, "/login?"+q.Encode())
}

// emailHint is a login_hint when it is an email address, else "".
func emailHint(hint string) string {
	if e, err := core.ParseEmail("login_hint", hint); err == nil {
		return e
	}
	return ""
}

// appContext is the app a sign-in page is for, from its "app" parameter,
// with the page's return path: an app's sign-in always returns to the
// authorization endpoint.
func (h *Handler) appContext(appID, ret string) (core.App, bool) {
	app, ok := h.svc.App(appID)
	if !ok || len(ret) < len(op.PathAuthorize) || ret[:len(op.PathAuthorize)] != op.PathAuthorize {
		return core.App{}, false
	}
	return app, true
}

// scopeKeys are the texts the consent page shows for each scope.
var scopeKeys = map[string]string{
	core.ScopeOpenID:        "scope_openid",
	core.ScopeProfile:       "scope_profile",
	core.ScopeEmail:         "scope_email",
	core.ScopeOfflineAccess: "scope_offline_access",
}

// Consent shows the consent page. Its form has no form-action policy:
// the answer's redirect goes to the app's redirect URI, on the app's
// origin, and browsers apply form-action to the redirects after a form
// too (see securityHeaders).
func (h *Handler) Consent(w http.ResponseWriter, r *http.Request, app core.App, scopes []string, form url.Values) {
	st := h.begin(w, r)
	v := &view{Title: st.t("title_consent", app.Name), App: app.Name, Back: r.URL.RequestURI()}
	if st.signedIn {
		v.User = h.accountViewOf(st.lang, st.user)
	}
	for _, s := range scopes {
		if k, ok := scopeKeys[s]; ok {
			v.Scopes = append(v.Scopes, st.t(k))
		}
	}
	v.Hidden = hiddenFields(form)
	h.render(w, r, st, http.StatusOK, pageConsent, v)
}

// CheckForm checks a form of the app pages (consent, sign-out).
func (h *Handler) CheckForm(r *http.Request, userID string) error {
	return h.checkCSRF(r, userID)
}

// ConfirmSignOut asks before signing out of tether on an app's behalf.
// As on the consent page, the form's redirect leaves tether (to the
// app's post_logout_redirect_uri), so the page has no form-action policy.
func (h *Handler) ConfirmSignOut(w http.ResponseWriter, r *http.Request, app *core.App, form url.Values) {
	st := h.begin(w, r)
	// The language switch comes back to this question, not to the
	// account page; without confirm=yes the request only asks again.
	again := url.Values{}
	for k, vs := range form {
		if k != "confirm" {
			again[k] = vs
		}
	}
	v := &view{Title: st.t("title_sign_out"), Back: op.PathLogout + "?" + again.Encode()}
	if app != nil {
		v.App = app.Name
		v.Message = st.t("sign_out_app", app.Name)
	} else {
		v.Message = st.t("sign_out_lead")
	}
	if st.signedIn {
		v.User = h.accountViewOf(st.lang, st.user)
	}
	v.Hidden = hiddenFields(form)
	h.render(w, r, st, http.StatusOK, pageSignOut, v)
}

// SignOut ends the browser's tether session.
func (h *Handler) SignOut(w http.ResponseWriter, r *http.Request) {
	st := h.begin(w, r)
	if st.refresh != "" {
		if err := h.svc.SignOut(r.Context(), st.refresh, httpx.Client(r)); err != nil && core.ErrorCode(err) == core.CodeInternal {
			h.log.WarnContext(r.Context(), "web: signing out for an app", "err", err)
		}
	}
	h.clearSession(w, st)
	h.csrfSecret(w, r, st, true)
}

// SignedOut shows the sign-in page with the signed-out notice.
func (h *Handler) SignedOut(w http.ResponseWriter, r *http.Request) {
	h.redirect(w, r, "/login?signed_out=1")
}

// Problem shows why an app's request cannot go on.
func (h *Handler) Problem(w http.ResponseWriter, r *http.Request, err error) {
	st := h.begin(w, r)
	p := problemFor(err, "")
	switch {
	case core.ErrorReason(err) == core.ErrUnknownClient.Reason:
		p = problem{Key: "err_unknown_app", Status: http.StatusBadRequest}
	case core.ErrorReason(err) == core.ErrRedirectURI.Reason:
		p = problem{Key: "err_app_redirect", Status: http.StatusBadRequest}
	case core.ErrorCode(err) == core.CodeFlowNotFound:
		p = problem{Key: "err_app_request_expired", Status: http.StatusBadRequest}
	case core.ErrorCode(err) == core.CodeInvalid && p.Key == "err_invalid":
		p.Detail = core.ErrorMessage(err)
	}
	h.renderProblem(w, r, st, "title_app_error", p, nil)
}

// appViews are the apps a person allowed, for the account page.
func (h *Handler) appViews(r *http.Request, st *requestState) ([]appView, error) {
	apps, err := h.svc.AppsWithAccess(r.Context(), st.user.ID)
	if err != nil {
		return nil, err
	}
	var out []appView
	for _, a := range apps {
		v := appView{ID: a.App.ID, Name: a.App.Name, LastUsed: st.lang.date(a.LastUsed),
			Icon: providerViewOf(core.Provider{ID: a.App.ID, Name: a.App.Name})}
		for _, s := range a.Scopes {
			if k, ok := scopeKeys[s]; ok && s != core.ScopeOpenID {
				v.Scopes = append(v.Scopes, st.t(k))
			}
		}
		out = append(out, v)
	}
	return out, nil
}

// POST /account/apps/{client}/revoke: take an app's access away.
func (h *Handler) revokeApp(w http.ResponseWriter, r *http.Request) {
	st := h.begin(w, r)
	if !h.parseForm(w, r, st) || !h.requireSession(w, r, st) {
		return
	}
	err := h.checkCSRF(r, st.user.ID)
	if err == nil {
		err = h.svc.RevokeApp(r.Context(), st.user.ID, r.PathValue("client"), httpx.Client(r))
	}
	if err != nil {
		p := problemFor(err, "")
		h.accountPage(w, r, st, &p)
		return
	}
	h.redirect(w, r, "/account?revoked="+url.QueryEscape(r.PathValue("client")))
}

// hiddenFields turns form values into the hidden inputs of a page's form.
func hiddenFields(form url.Values) []hiddenField {
	var out []hiddenField
	for _, k := range slices.Sorted(maps.Keys(form)) {
		for _, v := range form[k] {
			out = append(out, hiddenField{Name: k, Value: v})
		}
	}
	return out
}

type hiddenField struct{ Name, Value string }

type appView struct {
	ID, Name string
	// Icon is the app's initial on a coloured disc, as a provider
	// without an icon has.
	Icon     providerView
	Scopes   []string
	LastUsed string
}
