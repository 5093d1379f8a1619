package web

import (
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/tether-id/tether/api/httpx"
	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/metrics"
)

// t is the request language's text for key; a missing key shows as the
// key itself (the catalog test keeps that from happening).
func (st *requestState) t(key string, args ...any) string {
	s, err := st.lang.T(key, args...)
	if err != nil {
		return key
	}
	return s
}

func (h *Handler) problemView(r *http.Request, st *requestState, p problem, withReference bool) *problemView {
	v := &problemView{Text: st.t(p.Key, p.Args...), Detail: p.Detail}
	if withReference {
		v.Reference = httpx.RequestID(r.Context())
	}
	return v
}

// renderProblem shows a full page for a failure.
func (h *Handler) renderProblem(w http.ResponseWriter, r *http.Request, st *requestState, titleKey string, p problem, actions []actionView) {
	v := &view{Title: st.t(titleKey), Error: h.problemView(r, st, p, true), Actions: actions, formAction: true}
	if len(v.Actions) == 0 {
		v.Actions = []actionView{{Href: "/", Text: st.t("action_home"), Primary: true}}
	}
	h.render(w, r, st, p.Status, pageMessage, v)
}

// parseForm reads a bounded form body; false means a page was written.
func (h *Handler) parseForm(w http.ResponseWriter, r *http.Request, st *requestState) bool {
	r.Body = http.MaxBytesReader(w, r.Body, httpx.MaxBody)
	if err := r.ParseForm(); err != nil {
		h.renderProblem(w, r, st, "title_error", problem{Key: "err_invalid", Status: http.StatusBadRequest}, nil)
		return false
	}
	return true
}

// requireSession sends a signed-out browser to the sign-in page; false
// means a redirect was written.
func (h *Handler) requireSession(w http.ResponseWriter, r *http.Request, st *requestState) bool {
	if st.signedIn {
		return true
	}
	to := "/login"
	if st.expired {
		to += "?expired=1"
	}
	h.redirect(w, r, to)
	return false
}

// GET / is the account page for a signed-in browser and the sign-in page
// otherwise, except when it is the landing of the Versia callback
// redirect, which carries the result in its query.
func (h *Handler) root(w http.ResponseWriter, r *http.Request) {
	st := h.begin(w, r)
	q := r.URL.Query()
	if q.Has("oidc_account_linked") || q.Has("oidc_account_linking_error") || q.Has("oidc_account_linking_error_message") {
		h.versiaLanding(w, r, st, q)
		return
	}
	if st.signedIn {
		h.redirect(w, r, "/account")
		return
	}
	h.redirect(w, r, "/login")
}

// versiaLanding shows the result of a link made through the Versia
// surface. The error texts come from the query, so anyone can put any
// words there: they are shown quoted, shortened, below tether's own
// heading, never as tether's voice.
func (h *Handler) versiaLanding(w http.ResponseWriter, r *http.Request, st *requestState, q url.Values) {
	v := &view{formAction: true, Actions: []actionView{{Href: "/account", Text: st.t("action_account"), Primary: true}}}
	status := http.StatusOK
	errText, errMsg := q.Get("oidc_account_linking_error"), q.Get("oidc_account_linking_error_message")
	if q.Get("oidc_account_linked") == "true" && errText == "" && errMsg == "" {
		v.Title, v.Notice = st.t("title_linked"), st.t("versia_linked")
	} else {
		v.Title = st.t("title_link_failed")
		v.Error = &problemView{Text: st.t("versia_link_failed")}
		for _, s := range []string{errText, errMsg} {
			if s != "" {
				v.Quote = append(v.Quote, truncate(s, 200))
			}
		}
		status = http.StatusBadRequest
	}
	h.render(w, r, st, status, pageMessage, v)
}

func (h *Handler) loginView(r *http.Request, st *requestState, ret string) *view {
	v := &view{
		Title:     st.t("title_login"),
		Redirect:  ret,
		Providers: h.enabledProviders(),
		SignUp:    h.svc.PasswordSignUpEnabled(),
	}
	back := url.Values{}
	if ret != "" {
		back.Set("redirect", ret)
	}
	// Signing in for an app: the page names it and offers its providers.
	appID := r.FormValue("app")
	if app, ok := h.appContext(appID, ret); ok {
		v.App, v.AppID, v.Title = app.Name, app.ID, st.t("title_login_app", app.Name)
		v.Providers = slices.DeleteFunc(v.Providers, func(p providerView) bool { return !app.Offers(p.ID) })
		v.Force = r.FormValue("force") == "1"
		back.Set("app", app.ID)
		if v.Force {
			back.Set("force", "1")
		}
	}
	v.Back = "/login"
	if len(back) > 0 {
		v.Back += "?" + back.Encode()
	}
	v.Mail = &mailView{Forgot: h.svc.MailEnabled()}
	q := r.URL.Query()
	switch {
	case r.Method != http.MethodGet:
	case q.Has("reset"):
		v.Notice, v.Email = st.t("notice_password_reset"), q.Get("email")
	case q.Has("reauth"):
		v.Notice = st.t("notice_reauth")
	case q.Has("signed_out"):
		v.Notice = st.t("notice_signed_out")
	case q.Has("expired") || st.expired:
		v.Notice = st.t("notice_session_expired")
	}
	return v
}

// GET /login?redirect=...
func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	st := h.begin(w, r)
	ret, _ := h.allow.Check(r.URL.Query().Get("redirect"))
	v := h.loginView(r, st, ret)
	if st.signedIn && !v.Force {
		h.redirect(w, r, orDefault(ret, "/account"))
		return
	}
	if hint := emailHint(r.URL.Query().Get("login_hint")); hint != "" {
		v.Email = hint
	}
	h.render(w, r, st, http.StatusOK, pageLogin, v)
}

// POST /login: email and password.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	st := h.begin(w, r)
	if !h.parseForm(w, r, st) {
		return
	}
	ret, _ := h.allow.Check(r.PostFormValue("redirect"))
	v := h.loginView(r, st, ret)
	v.Email = r.PostFormValue("email")
	if err := h.checkCSRF(r, "", st.user.ID); err != nil {
		h.renderFormProblem(w, r, st, pageLogin, v, problemFor(err, ""))
		return
	}
	u, pair, err := httpx.SignIn(r.Context(), h.svc, h.opts.Accounts, v.Email, r.PostFormValue("password"), httpx.Client(r))
	h.opts.Metrics.SignIn(metrics.Password, err)
	if err != nil {
		h.refused(w, r, err)
		if core.ErrorCode(err) == core.CodeEmailUnverified && h.svc.MailEnabled() {
			v.Mail.ResendEmail = v.Email // offer a new link
		}
		h.renderFormProblem(w, r, st, pageLogin, v, problemFor(err, ""))
		return
	}
	h.signedIn(w, r, st, pair, u, orDefault(ret, "/account"))
}

// renderFormProblem shows a form page again with the error above it.
func (h *Handler) renderFormProblem(w http.ResponseWriter, r *http.Request, st *requestState, page string, v *view, p problem) {
	v.Error = h.problemView(r, st, p, p.Status >= 500)
	h.render(w, r, st, p.Status, page, v)
}

// POST /login/provider: start a sign-in at the provider of the pressed
// button.
func (h *Handler) startSignIn(w http.ResponseWriter, r *http.Request) {
	st := h.begin(w, r)
	if !h.parseForm(w, r, st) {
		return
	}
	ret, _ := h.allow.Check(r.PostFormValue("redirect"))
	v := h.loginView(r, st, ret)
	if err := h.checkCSRF(r, "", st.user.ID); err != nil {
		h.renderFormProblem(w, r, st, pageLogin, v, problemFor(err, ""))
		return
	}
	p, ok := h.svc.Provider(r.PostFormValue("provider"))
	if app, isApp := h.appContext(r.PostFormValue("app"), ret); isApp && ok && !app.Offers(p.ID) {
		ok = false // not offered to this app's users
	}
	if !ok || !p.Enabled {
		h.renderFormProblem(w, r, st, pageLogin, v, problemFor(core.ErrProviderDisabled, ""))
		return
	}
	authURL, err := h.svc.Prepare(r.Context(), core.PrepareRequest{
		ProviderID:    p.ID,
		Purpose:       core.PurposeSignIn,
		RedirectURI:   h.opts.Callbacks.URL(p.ID),
		ReturnTo:      ret,
		BrowserSecret: h.opts.Binder.Secret(w, r),
	})
	if err != nil {
		h.renderFormProblem(w, r, st, pageLogin, v, problemFor(err, p.Name))
		return
	}
	h.opts.Metrics.FlowStarted(p.ID, core.PurposeSignIn)
	h.redirect(w, r, authURL)
}

func (h *Handler) signUpView(st *requestState, ret string) *view {
	v := &view{Title: st.t("title_signup"), Redirect: ret, MinLen: core.MinPasswordLen, formAction: true}
	v.Back = "/signup"
	if ret != "" {
		v.Back += "?redirect=" + url.QueryEscape(ret)
	}
	return v
}

// GET /signup
func (h *Handler) signUpPage(w http.ResponseWriter, r *http.Request) {
	st := h.begin(w, r)
	ret, _ := h.allow.Check(r.URL.Query().Get("redirect"))
	if st.signedIn {
		h.redirect(w, r, orDefault(ret, "/account"))
		return
	}
	if !h.svc.PasswordSignUpEnabled() {
		h.renderProblem(w, r, st, "title_signup", problem{Key: "err_signup_disabled", Status: http.StatusNotFound},
			[]actionView{{Href: "/login", Text: st.t("action_login"), Primary: true}})
		return
	}
	h.render(w, r, st, http.StatusOK, pageSignUp, h.signUpView(st, ret))
}

// POST /signup: create a password account and sign it in.
func (h *Handler) signUp(w http.ResponseWriter, r *http.Request) {
	st := h.begin(w, r)
	if !h.parseForm(w, r, st) {
		return
	}
	ret, _ := h.allow.Check(r.PostFormValue("redirect"))
	v := h.signUpView(st, ret)
	v.Email = r.PostFormValue("email")
	if err := h.checkCSRF(r, ""); err != nil {
		h.renderFormProblem(w, r, st, pageSignUp, v, problemFor(err, ""))
		return
	}
	pw := r.PostFormValue("password")
	if pw != r.PostFormValue("password_again") {
		h.renderFormProblem(w, r, st, pageSignUp, v, problem{Key: "err_password_mismatch", Status: http.StatusBadRequest})
		return
	}
	client := httpx.Client(r)
	created, err := h.svc.SignUp(r.Context(), core.NewUser{Email: v.Email, Password: pw, Language: st.lang.Tag}, client)
	h.opts.Metrics.SignUp(metrics.Password, err)
	if err != nil {
		p := problemFor(err, "")
		if p.Key == "err_email_taken" {
			p.Key = "err_email_taken_signup"
		}
		h.renderFormProblem(w, r, st, pageSignUp, v, p)
		return
	}
	if h.svc.RequireVerifiedEmail() {
		// No sign-in before the address is verified: say where the link went.
		h.renderSent(w, r, st, st.t("title_signup_sent"), st.t("signup_sent", created.Email, h.duration(st, h.svc.LinkTTL(core.LinkVerifyEmail))), created.Email)
		return
	}
	u, pair, err := h.svc.SignIn(r.Context(), v.Email, pw, client)
	h.opts.Metrics.SignIn(metrics.Password, err)
	if err != nil {
		h.renderFormProblem(w, r, st, pageSignUp, v, problemFor(err, ""))
		return
	}
	h.signedIn(w, r, st, pair, u, orDefault(ret, "/account"))
}

// accountPage renders the account page, with p above it when not nil.
func (h *Handler) accountPage(w http.ResponseWriter, r *http.Request, st *requestState, p *problem) {
	h.accountPageWith(w, r, st, p, "")
}

// accountPageWith renders the account page with changeTo in the form of
// a new address (after a refused change).
func (h *Handler) accountPageWith(w http.ResponseWriter, r *http.Request, st *requestState, p *problem, changeTo string) {
	ids, err := h.svc.Identities(r.Context(), st.user.ID)
	if err != nil {
		h.renderProblem(w, r, st, "title_error", problemFor(err, ""), nil)
		return
	}
	v := &view{
		Title:        st.t("title_account"),
		User:         h.accountViewOf(st.lang, st.user),
		Identities:   h.identityViews(st.lang, st.user, ids),
		Passwordless: st.user.Passwordless(),
		Back:         "/account",
	}
	linked := map[string]bool{}
	for _, id := range ids {
		linked[id.ProviderID] = true
	}
	for _, pv := range h.enabledProviders() {
		if !linked[pv.ID] {
			v.Linkable = append(v.Linkable, pv)
		}
	}
	v.SignOutAt = h.signOutProvider(r, st)
	q := r.URL.Query()
	if pr, ok := h.svc.Provider(q.Get("linked")); ok && linked[pr.ID] && r.Method == http.MethodGet {
		v.Notice = st.t("notice_linked", pr.Name)
	}
	if v.Apps, err = h.appViews(r, st); err != nil {
		h.renderProblem(w, r, st, "title_error", problemFor(err, ""), nil)
		return
	}
	if app, ok := h.svc.App(q.Get("revoked")); ok && r.Method == http.MethodGet {
		v.Notice = st.t("notice_app_revoked", app.Name)
	}
	if pr, ok := h.svc.Provider(q.Get("unlinked")); ok && !linked[pr.ID] && r.Method == http.MethodGet {
		v.Notice = st.t("notice_unlinked", pr.Name)
	}
	if n := accountNotice(r, st); n != "" {
		v.Notice = n
	}
	if err := h.accountMail(r.Context(), st, v); err != nil {
		h.renderProblem(w, r, st, "title_error", problemFor(err, ""), nil)
		return
	}
	v.Mail.ChangeTo = changeTo
	status := http.StatusOK
	if p != nil {
		v.Error = h.problemView(r, st, *p, p.Status >= 500)
		status = p.Status
	}
	h.render(w, r, st, status, pageAccount, v)
}

// anyoneForm begins a form that a signed-out browser may post too (a
// mailed link's page, the language switch): the CSRF token must be right,
// else the answer is written and ok is false.
func (h *Handler) anyoneForm(w http.ResponseWriter, r *http.Request) (st *requestState, ok bool) {
	st = h.begin(w, r)
	if !h.parseForm(w, r, st) {
		return st, false
	}
	if err := h.checkCSRF(r, "", st.user.ID); err != nil {
		h.renderProblem(w, r, st, "title_error", problemFor(err, ""), nil)
		return st, false
	}
	return st, true
}

// accountForm begins a form the account page posts: the session must be
// signed in and the CSRF token right, else the answer is written (the
// sign-in page, or the account page with the problem) and ok is false.
func (h *Handler) accountForm(w http.ResponseWriter, r *http.Request) (st *requestState, ok bool) {
	st = h.begin(w, r)
	if !h.parseForm(w, r, st) || !h.requireSession(w, r, st) {
		return st, false
	}
	if err := h.checkCSRF(r, st.user.ID); err != nil {
		p := problemFor(err, "")
		h.accountPage(w, r, st, &p)
		return st, false
	}
	return st, true
}

// GET /account
func (h *Handler) account(w http.ResponseWriter, r *http.Request) {
	st := h.begin(w, r)
	if !h.requireSession(w, r, st) {
		return
	}
	h.accountPage(w, r, st, nil)
}

// POST /account/link: start linking the provider of the pressed button.
func (h *Handler) startLink(w http.ResponseWriter, r *http.Request) {
	st, ok := h.accountForm(w, r)
	if !ok {
		return
	}
	p, ok := h.svc.Provider(r.PostFormValue("provider"))
	if !ok || !p.Enabled {
		pr := problemFor(core.ErrProviderDisabled, "")
		h.accountPage(w, r, st, &pr)
		return
	}
	authURL, err := h.svc.Prepare(r.Context(), core.PrepareRequest{
		ProviderID:    p.ID,
		Purpose:       core.PurposeLink,
		UserID:        st.user.ID,
		RedirectURI:   h.opts.Callbacks.URL(p.ID),
		BrowserSecret: h.opts.Binder.Secret(w, r),
	})
	if err != nil {
		pr := problemFor(err, p.Name)
		h.accountPage(w, r, st, &pr)
		return
	}
	h.opts.Metrics.FlowStarted(p.ID, core.PurposeLink)
	h.redirect(w, r, authURL)
}

// linkedIdentity returns the user's identity of the provider in the path.
func (h *Handler) linkedIdentity(r *http.Request, st *requestState) (identityView, bool, error) {
	ids, err := h.svc.Identities(r.Context(), st.user.ID)
	if err != nil {
		return identityView{}, false, err
	}
	views := h.identityViews(st.lang, st.user, ids)
	i := slices.IndexFunc(ids, func(id core.Identity) bool { return id.ProviderID == r.PathValue("provider") })
	if i < 0 {
		return identityView{}, false, nil
	}
	return views[i], true, nil
}

// GET /account/unlink/{provider}: the confirmation step. When unlinking
// would leave the account without a way to sign in, the page says so and
// offers linking another provider instead.
func (h *Handler) unlinkPage(w http.ResponseWriter, r *http.Request) {
	st := h.begin(w, r)
	if !h.requireSession(w, r, st) {
		return
	}
	id, ok, err := h.linkedIdentity(r, st)
	if err != nil {
		h.renderProblem(w, r, st, "title_error", problemFor(err, ""), nil)
		return
	}
	if !ok {
		h.redirect(w, r, "/account")
		return
	}
	v := &view{Title: st.t("title_unlink", id.Provider.Name), Unlink: &id, Guard: id.Only, formAction: true}
	h.render(w, r, st, http.StatusOK, pageUnlink, v)
}

// POST /account/unlink/{provider}
func (h *Handler) unlink(w http.ResponseWriter, r *http.Request) {
	st := h.begin(w, r)
	if !h.parseForm(w, r, st) || !h.requireSession(w, r, st) {
		return
	}
	providerID := r.PathValue("provider")
	name := providerID
	if p, ok := h.svc.Provider(providerID); ok {
		name = p.Name
	}
	err := h.checkCSRF(r, st.user.ID)
	if err == nil {
		err = h.svc.Unlink(r.Context(), st.user.ID, providerID, httpx.Client(r))
		h.opts.Metrics.Unlink(providerID, err)
	}
	if err != nil {
		p := problemFor(err, name)
		h.accountPage(w, r, st, &p)
		return
	}
	h.redirect(w, r, "/account?unlinked="+url.QueryEscape(providerID))
}

// POST /logout: revoke the session's refresh chain and forget the pair.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	st := h.begin(w, r)
	if !h.parseForm(w, r, st) {
		return
	}
	if !st.signedIn {
		h.redirect(w, r, "/login")
		return
	}
	if err := h.checkCSRF(r, st.user.ID); err != nil {
		p := problemFor(err, "")
		h.accountPage(w, r, st, &p)
		return
	}
	// "Sign out here and at <provider>": the provider's end-session URL
	// (docs/web.md), after tether's own sign-out.
	atProvider, err := h.svc.SignOutWithProvider(r.Context(), st.refresh, httpx.Client(r))
	if err != nil && core.ErrorCode(err) == core.CodeInternal {
		h.renderProblem(w, r, st, "title_error", problemFor(err, ""), nil)
		return
	}
	h.clearSession(w, st)
	h.csrfSecret(w, r, st, true)
	if r.PostFormValue("upstream") != "" && atProvider != "" {
		h.redirect(w, r, atProvider)
		return
	}
	h.redirect(w, r, "/login?signed_out=1")
}

// signOutProvider is the name of the provider the browser's session came
// from, when that provider can sign the person out too (SignOutURL); ""
// otherwise, or when it cannot be told now.
func (h *Handler) signOutProvider(r *http.Request, st *requestState) string {
	if st.refresh == "" {
		return ""
	}
	ses, err := h.svc.SessionOf(r.Context(), st.refresh)
	if err != nil || ses.Identity.ProviderID == "" {
		return ""
	}
	u, err := h.svc.SignOutURL(r.Context(), ses)
	if err != nil || u == "" {
		return ""
	}
	p, _ := h.svc.Provider(ses.Identity.ProviderID)
	return p.Name
}

// POST /language: the language switch. The choice is kept in a cookie
// for a year; back is where the switch was pressed (a same-origin path).
func (h *Handler) setLanguage(w http.ResponseWriter, r *http.Request) {
	_, ok := h.anyoneForm(w, r)
	if !ok {
		return
	}
	if l, ok := languageByTag(r.PostFormValue("lang")); ok {
		http.SetCookie(w, &http.Cookie{
			Name: langCookie, Value: l.Tag, Path: "/", MaxAge: int(365 * 24 * time.Hour / time.Second),
			HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteLaxMode,
		})
	}
	back, ok := relativePath(r.PostFormValue("back"))
	if !ok {
		back = "/"
	}
	if _, ok := h.allow.Check(back); !ok {
		back = "/"
	}
	h.redirect(w, r, back)
}

// orDefault returns a unless it is empty, else b.
func orDefault(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
