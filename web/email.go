package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/tether-id/tether/api/httpx"
	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/internal/ratelimit"
)

// The pages of the email flows: forgotten password, the pages that links
// in mail open (verify an address, choose a new password, confirm a new
// address), the account page's verification, change of address, devices
// and deletion. A link never does anything on GET: mail scanners and
// browsers fetch links ahead of the person, so the page shows what the
// link will do and a button that posts it.

// registerEmail adds the routes; Register calls it.
func (h *Handler) registerEmail(mux *http.ServeMux) {
	mux.HandleFunc("GET /login/forgot", h.forgotPage)
	mux.HandleFunc("POST /login/forgot", h.limited(h.forgot))
	mux.HandleFunc("POST /login/resend", h.limited(h.resendTo))
	mux.HandleFunc("GET "+resetPath, h.resetPage)
	mux.HandleFunc("POST "+resetPath, h.limited(h.reset))
	mux.HandleFunc("GET "+verifyPath, h.verifyPage)
	mux.HandleFunc("POST "+verifyPath, h.limited(h.verify))
	mux.HandleFunc("GET "+changePath, h.changePage)
	mux.HandleFunc("POST "+changePath, h.limited(h.confirmChange))
	mux.HandleFunc("POST /account/email/resend", h.limited(h.resend))
	mux.HandleFunc("POST /account/email", h.limited(h.requestChange))
	mux.HandleFunc("POST /account/reauth", h.reauth)
	mux.HandleFunc("GET /account/delete", h.deletePage)
	mux.HandleFunc("POST /account/delete", h.limited(h.deleteAccount))
	mux.HandleFunc("POST /account/sessions/revoke", h.revokeDevice)
	mux.HandleFunc("POST /account/sessions/revoke-others", h.revokeOthers)
}

// Page names of the email flows.
const (
	pageForgot  = "forgot"
	pageReset   = "reset"
	pageConfirm = "confirm"
	pageSent    = "sent"
	pageDelete  = "delete"
)

// mailOff shows that the site sends no mail, for the pages that need it.
func (h *Handler) mailOff(w http.ResponseWriter, r *http.Request, st *requestState) {
	h.renderProblem(w, r, st, "title_error", problemFor(core.ErrMailDisabled, ""), h.loginActions(st))
}

func (h *Handler) forgotView(st *requestState, email string) *view {
	return &view{Title: st.t("title_forgot"), Email: email, formAction: true, Back: "/login/forgot"}
}

// GET /login/forgot
func (h *Handler) forgotPage(w http.ResponseWriter, r *http.Request) {
	st := h.begin(w, r)
	if !h.svc.MailEnabled() {
		h.mailOff(w, r, st)
		return
	}
	h.render(w, r, st, http.StatusOK, pageForgot, h.forgotView(st, r.URL.Query().Get("email")))
}

// POST /login/forgot: the answer is the same page whether or not an
// account has the address (the core looks it up after answering).
func (h *Handler) forgot(w http.ResponseWriter, r *http.Request) {
	st := h.begin(w, r)
	if !h.parseForm(w, r, st) {
		return
	}
	v := h.forgotView(st, r.PostFormValue("email"))
	if !h.svc.MailEnabled() {
		h.mailOff(w, r, st)
		return
	}
	err := h.checkCSRF(r, "", st.user.ID)
	address := ""
	if err == nil {
		address, err = core.ParseEmail("email", v.Email)
	}
	if err == nil {
		err = httpx.AllowMail(h.opts.MailQuota, address)
	}
	if err == nil {
		err = h.svc.RequestPasswordReset(r.Context(), address, st.lang.Tag, httpx.Client(r))
	}
	if err != nil {
		h.refused(w, r, err)
		h.renderFormProblem(w, r, st, pageForgot, v, problemFor(err, ""))
		return
	}
	h.renderSent(w, r, st, st.t("title_forgot_sent"), st.t("forgot_sent", address, h.duration(st, h.svc.LinkTTL(core.LinkResetPassword))), "")
}

// duration writes d as the pages say lifetimes: "1 hour", "24 hours",
// "30 minutes".
func (h *Handler) duration(st *requestState, d time.Duration) string {
	if d >= time.Hour && d%time.Hour == 0 {
		if d == time.Hour {
			return st.t("one_hour")
		}
		return st.t("hours", int(d/time.Hour))
	}
	return st.t("minutes", int(d.Round(time.Minute)/time.Minute))
}

// renderSent shows that a message is on its way, with a form to ask for
// another verification link when resend names an address.
func (h *Handler) renderSent(w http.ResponseWriter, r *http.Request, st *requestState, title, message, resend string) {
	v := &view{Title: title, Message: message, formAction: true, Mail: &mailView{ResendEmail: resend}}
	v.Actions = h.loginActions(st)
	h.render(w, r, st, http.StatusOK, pageSent, v)
}

// POST /login/resend: a new verification link for a password sign-in
// that was refused because the address is not verified. The same answer
// for every address.
func (h *Handler) resendTo(w http.ResponseWriter, r *http.Request) {
	st := h.begin(w, r)
	if !h.parseForm(w, r, st) {
		return
	}
	if !h.svc.MailEnabled() {
		h.mailOff(w, r, st)
		return
	}
	err := h.checkCSRF(r, "", st.user.ID)
	address := ""
	if err == nil {
		address, err = core.ParseEmail("email", r.PostFormValue("email"))
	}
	if err == nil {
		err = httpx.AllowMail(h.opts.MailQuota, address)
	}
	if err == nil {
		err = h.svc.ResendVerificationTo(r.Context(), address, st.lang.Tag, httpx.Client(r))
	}
	if err != nil {
		h.refused(w, r, err)
		h.renderProblem(w, r, st, "title_error", problemFor(err, ""), h.loginActions(st))
		return
	}
	h.renderSent(w, r, st, st.t("title_verify_sent"), st.t("verify_sent_to", address), "")
}

// linkParams reads a link's account id and secret from the query (GET)
// or the form (POST).
func linkParams(r *http.Request, param string) (id, secret string) {
	if r.Method == http.MethodPost {
		return r.PostFormValue("id"), r.PostFormValue(param)
	}
	q := r.URL.Query()
	return q.Get("id"), q.Get(param)
}

// renderLinkProblem shows why a link cannot be used, with a way on.
func (h *Handler) renderLinkProblem(w http.ResponseWriter, r *http.Request, st *requestState, kind core.LinkKind, err error) {
	if core.ErrorCode(err) != core.CodeLinkInvalid {
		h.renderProblem(w, r, st, "title_error", problemFor(err, ""), h.loginActions(st))
		return
	}
	actions := h.loginActions(st)
	switch kind {
	case core.LinkResetPassword:
		if h.svc.MailEnabled() {
			actions = append([]actionView{{Href: "/login/forgot", Text: st.t("action_new_reset_link"), Primary: true}}, actions...)
			actions[1].Primary = false
		}
	}
	h.renderProblem(w, r, st, "title_link_invalid", problemFor(err, ""), actions)
}

// confirmLink shows the page of a link that does something with one
// press (verify an address, confirm a new one).
func (h *Handler) confirmLink(w http.ResponseWriter, r *http.Request, kind core.LinkKind, action, titleKey, textKey, buttonKey string) {
	st := h.begin(w, r)
	id, secret := linkParams(r, "sign")
	l, _, err := h.svc.CheckLink(r.Context(), kind, id, secret)
	if err != nil {
		h.renderLinkProblem(w, r, st, kind, err)
		return
	}
	v := &view{Title: st.t(titleKey), formAction: true, Back: "/", Mail: &mailView{Link: &linkView{
		Action: action, ID: id, Param: "sign", Secret: secret, Address: l.Email,
		Text: st.t(textKey), Button: st.t(buttonKey),
	}}}
	h.render(w, r, st, http.StatusOK, pageConfirm, v)
}

// GET /session/activate?id=&sign=: the verification link's page.
func (h *Handler) verifyPage(w http.ResponseWriter, r *http.Request) {
	h.confirmLink(w, r, core.LinkVerifyEmail, verifyPath, "title_verify", "verify_text", "verify_button")
}

// GET /session/activate_email?id=&sign=: the change link's page.
func (h *Handler) changePage(w http.ResponseWriter, r *http.Request) {
	h.confirmLink(w, r, core.LinkChangeEmail, changePath, "title_change_confirm", "change_confirm_text", "change_confirm_button")
}

// POST /session/activate
func (h *Handler) verify(w http.ResponseWriter, r *http.Request) {
	st, ok := h.anyoneForm(w, r)
	if !ok {
		return
	}
	id, secret := linkParams(r, "sign")
	u, err := h.svc.VerifyEmail(r.Context(), id, secret, httpx.Client(r))
	if err != nil {
		h.renderLinkProblem(w, r, st, core.LinkVerifyEmail, err)
		return
	}
	if st.signedIn && st.user.ID == u.ID {
		h.redirect(w, r, "/account?verified=1")
		return
	}
	v := &view{Title: st.t("title_verified"), Message: st.t("verified_text", u.Email), formAction: true, Actions: h.loginActions(st)}
	h.render(w, r, st, http.StatusOK, pageMessage, v)
}

// POST /session/activate_email
func (h *Handler) confirmChange(w http.ResponseWriter, r *http.Request) {
	st, ok := h.anyoneForm(w, r)
	if !ok {
		return
	}
	id, secret := linkParams(r, "sign")
	u, err := h.svc.ConfirmEmailChange(r.Context(), id, secret, httpx.Client(r))
	if err != nil {
		h.renderLinkProblem(w, r, st, core.LinkChangeEmail, err)
		return
	}
	v := &view{Title: st.t("title_changed"), Message: st.t("changed_text", u.Email), formAction: true, Actions: h.loginActions(st)}
	h.render(w, r, st, http.StatusOK, pageMessage, v)
}

func (h *Handler) resetView(st *requestState, id, secret, address string) *view {
	return &view{Title: st.t("title_reset"), MinLen: core.MinPasswordLen, formAction: true, Back: "/", Mail: &mailView{Link: &linkView{
		Action: resetPath, ID: id, Param: "secret", Secret: secret, Address: address,
	}}}
}

// GET /session/reset?id=&secret=: the reset link's page, a new-password
// form.
func (h *Handler) resetPage(w http.ResponseWriter, r *http.Request) {
	st := h.begin(w, r)
	id, secret := linkParams(r, "secret")
	l, _, err := h.svc.CheckLink(r.Context(), core.LinkResetPassword, id, secret)
	if err != nil {
		h.renderLinkProblem(w, r, st, core.LinkResetPassword, err)
		return
	}
	h.render(w, r, st, http.StatusOK, pageReset, h.resetView(st, id, secret, l.Email))
}

// POST /session/reset: sets the new password, which signs out every
// session of the account, this browser's too; then the sign-in page.
func (h *Handler) reset(w http.ResponseWriter, r *http.Request) {
	st, ok := h.anyoneForm(w, r)
	if !ok {
		return
	}
	id, secret := linkParams(r, "secret")
	l, _, err := h.svc.CheckLink(r.Context(), core.LinkResetPassword, id, secret)
	if err != nil {
		h.renderLinkProblem(w, r, st, core.LinkResetPassword, err)
		return
	}
	v := h.resetView(st, id, secret, l.Email)
	pw := r.PostFormValue("password")
	if pw != r.PostFormValue("password_again") {
		h.renderFormProblem(w, r, st, pageReset, v, problem{Key: "err_password_mismatch", Status: http.StatusBadRequest})
		return
	}
	u, err := h.svc.ResetPassword(r.Context(), id, secret, pw, httpx.Client(r))
	if err != nil {
		if core.ErrorCode(err) == core.CodeLinkInvalid {
			h.renderLinkProblem(w, r, st, core.LinkResetPassword, err)
			return
		}
		h.renderFormProblem(w, r, st, pageReset, v, problemFor(err, ""))
		return
	}
	if st.signedIn {
		h.clearSession(w, st)
		h.csrfSecret(w, r, st, true)
	}
	h.redirect(w, r, "/login?reset=1&email="+url.QueryEscape(u.Email))
}

// POST /account/email/resend: a new verification link to the account's
// own address.
func (h *Handler) resend(w http.ResponseWriter, r *http.Request) {
	st := h.begin(w, r)
	if !h.parseForm(w, r, st) || !h.requireSession(w, r, st) {
		return
	}
	err := h.checkCSRF(r, st.user.ID)
	if err == nil && !st.user.EmailVerified {
		err = httpx.AllowMail(h.opts.MailQuota, st.user.Email)
	}
	if err == nil {
		err = h.svc.ResendVerification(r.Context(), st.user.ID, st.lang.Tag, httpx.Client(r))
	}
	if err != nil {
		h.refused(w, r, err)
		p := problemFor(err, "")
		h.accountPage(w, r, st, &p)
		return
	}
	h.redirect(w, r, "/account?verification_sent=1")
}

// proof is what the signed-in person gave to confirm a sensitive change:
// the password from the form, and the session of this browser.
func (h *Handler) proof(r *http.Request, st *requestState) core.Proof {
	id, _ := h.svc.SessionIDOf(r.Context(), st.refresh)
	return core.Proof{Password: r.PostFormValue("password"), SessionID: id}
}

// guardPassword runs a change that checks the account's password behind
// the per-account limit of wrong passwords that sign-in uses, so the
// forms that ask for the password again are no way around it.
func (h *Handler) guardPassword(st *requestState, r *http.Request, change func() error) error {
	b := h.opts.Accounts
	key := core.EmailKey(st.user.Email)
	if b == nil || st.user.Passwordless() || r.PostFormValue("password") == "" {
		return change()
	}
	if ok, wait := b.Allow(key); !ok {
		return httpx.RateLimited(httpx.LimitAccount, wait, "Too many failed sign-in attempts, try again in %ds", httpx.Seconds(wait))
	}
	err := change()
	switch core.ErrorCode(err) {
	case core.CodeWrongPassword:
		b.Record(key, ratelimit.Failed)
	case "":
		b.Record(key, ratelimit.Succeeded)
	default:
		b.Record(key, ratelimit.Void)
	}
	return err
}

// POST /account/email: ask for a new address; a link goes to it.
func (h *Handler) requestChange(w http.ResponseWriter, r *http.Request) {
	st := h.begin(w, r)
	if !h.parseForm(w, r, st) || !h.requireSession(w, r, st) {
		return
	}
	address := r.PostFormValue("email")
	err := h.checkCSRF(r, st.user.ID)
	if err == nil {
		err = h.guardPassword(st, r, func() error {
			if err := httpx.AllowMail(h.opts.MailQuota, address); err != nil {
				return err
			}
			return h.svc.RequestEmailChange(r.Context(), st.user.ID, address, st.lang.Tag, h.proof(r, st), httpx.Client(r))
		})
	}
	if err != nil {
		h.refused(w, r, err)
		p := reauthProblem(err)
		if p.Key == "err_email_taken" {
			p.Key = "err_email_taken_change"
		}
		h.accountPageWith(w, r, st, &p, address)
		return
	}
	h.redirect(w, r, "/account?change_sent=1")
}

// POST /account/reauth: sign out and sign in again, then come back (back
// is one of the pages that ask for a recent sign-in).
func (h *Handler) reauth(w http.ResponseWriter, r *http.Request) {
	st, ok := h.accountForm(w, r)
	if !ok {
		return
	}
	back := "/account"
	if b := r.PostFormValue("back"); b == "/account/delete" || b == "/account#address" {
		back = b
	}
	if err := h.svc.SignOut(r.Context(), st.refresh, httpx.Client(r)); err != nil && core.ErrorCode(err) == core.CodeInternal {
		h.renderProblem(w, r, st, "title_error", problemFor(err, ""), nil)
		return
	}
	h.clearSession(w, st)
	h.csrfSecret(w, r, st, true)
	h.redirect(w, r, "/login?reauth=1&redirect="+url.QueryEscape(back))
}

func (h *Handler) deleteView(r *http.Request, st *requestState) *view {
	v := &view{Title: st.t("title_delete"), Email: st.user.Email, formAction: true, Back: "/account/delete"}
	current, _ := h.svc.SessionIDOf(r.Context(), st.refresh)
	v.Mail = &mailView{
		HasPass:       !st.user.Passwordless(),
		Recent:        st.user.Passwordless() && h.svc.SignedInRecently(r.Context(), st.user.ID, current),
		ReauthMinutes: int(h.svc.ReauthMaxAge().Minutes()),
	}
	return v
}

// GET /account/delete: what deletion does, and the password (or, for a
// passwordless account, a recent sign-in) to confirm it.
func (h *Handler) deletePage(w http.ResponseWriter, r *http.Request) {
	st := h.begin(w, r)
	if !h.requireSession(w, r, st) {
		return
	}
	h.render(w, r, st, http.StatusOK, pageDelete, h.deleteView(r, st))
}

// POST /account/delete
func (h *Handler) deleteAccount(w http.ResponseWriter, r *http.Request) {
	st := h.begin(w, r)
	if !h.parseForm(w, r, st) || !h.requireSession(w, r, st) {
		return
	}
	err := h.checkCSRF(r, st.user.ID)
	if err == nil {
		err = h.guardPassword(st, r, func() error {
			return h.svc.DeleteAccount(r.Context(), core.DeleteRequest{UserID: st.user.ID, Proof: h.proof(r, st)}, httpx.Client(r))
		})
	}
	if err != nil {
		h.refused(w, r, err)
		h.renderFormProblem(w, r, st, pageDelete, h.deleteView(r, st), reauthProblem(err))
		return
	}
	email := st.user.Email
	h.clearSession(w, st)
	h.csrfSecret(w, r, st, true)
	msg := st.t("deleted_text")
	if h.svc.MailEnabled() && core.Mailable(email) {
		msg = st.t("deleted_text_mail", email)
	}
	v := &view{Title: st.t("title_deleted"), Message: msg, formAction: true,
		Actions: []actionView{{Href: "/login", Text: st.t("action_home"), Primary: true}}}
	h.render(w, r, st, http.StatusOK, pageMessage, v)
}

// POST /account/sessions/revoke: sign one device out; this one is a
// sign-out.
func (h *Handler) revokeDevice(w http.ResponseWriter, r *http.Request) {
	st, ok := h.accountForm(w, r)
	if !ok {
		return
	}
	id := r.PostFormValue("session")
	current, _ := h.svc.SessionIDOf(r.Context(), st.refresh)
	if id == current {
		h.logout(w, r)
		return
	}
	err := h.svc.RevokeSession(r.Context(), st.user.ID, id, httpx.Client(r))
	if err != nil && !errors.Is(err, core.ErrNotFound) {
		p := problemFor(err, "")
		h.accountPage(w, r, st, &p)
		return
	}
	h.redirect(w, r, "/account?device_signed_out=1")
}

// POST /account/sessions/revoke-others: sign out every device but this
// one.
func (h *Handler) revokeOthers(w http.ResponseWriter, r *http.Request) {
	st, ok := h.accountForm(w, r)
	if !ok {
		return
	}
	current, _ := h.svc.SessionIDOf(r.Context(), st.refresh)
	n, err := h.svc.RevokeOtherSessions(r.Context(), st.user.ID, current, httpx.Client(r))
	if err != nil {
		p := problemFor(err, "")
		h.accountPage(w, r, st, &p)
		return
	}
	h.redirect(w, r, "/account?others_signed_out="+strconv.Itoa(n))
}

// reauthProblem is problemFor on a form that asks only for the password
// (the address is known): a wrong one is said so.
func reauthProblem(err error) problem {
	p := problemFor(err, "")
	if core.ErrorCode(err) == core.CodeWrongPassword {
		p.Key = "err_password_wrong"
	}
	return p
}
