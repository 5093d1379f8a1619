package web

import (
	"net/http"
	"net/url"

	"github.com/tether-id/tether/api/httpx"
	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/provider"
)

// callbackProvider is the provider whose registered redirect URI has
// path: /callback/openid/0 and /2 for the first Logto and OIDC
// providers, /login/qq for the first QQ provider, /callback/openid/<id>
// for the others (api.CallbackPath).
func (h *Handler) callbackProvider(path string) (core.Provider, bool) {
	id, ok := h.opts.Callbacks.Owner(path)
	if !ok {
		return core.Provider{}, false
	}
	return h.svc.Provider(id)
}

// GET /callback/openid/{provider} and GET /login/qq: the provider sends
// the browser back here. The flow is finished on the server with the
// real query, so the full RFC 9207 rule applies (an OP that advertises
// the iss parameter must send it), and the provider of the flow must be
// the one whose redirect URI this is.
func (h *Handler) callback(w http.ResponseWriter, r *http.Request) {
	st := h.begin(w, r)
	p, ok := h.callbackProvider(r.URL.Path)
	if !ok {
		h.renderProblem(w, r, st, "title_not_found", problem{Key: "err_unknown_callback", Status: http.StatusNotFound}, h.loginActions(st))
		return
	}
	state, cb, err := provider.ParseCallback(r.URL.Query())
	if err != nil {
		h.log.InfoContext(r.Context(), "web: malformed callback", "provider", p.ID, "err", err)
		h.renderCallbackProblem(w, r, st, p, "", problem{Key: "err_bad_callback", Status: http.StatusBadRequest})
		return
	}
	req := core.FinishRequest{
		FlowID:        state,
		ProviderID:    p.ID,
		Callback:      cb, // Relayed false: tether sees the whole answer
		BrowserSecret: h.opts.Binder.Read(r),
		Client:        httpx.Client(r),
	}
	if st.signedIn {
		req.UserID = st.user.ID
	}
	res, err := h.svc.Finish(r.Context(), req)
	h.opts.Metrics.Finish(p.ID, res, err)
	if err != nil {
		pr := problemFor(err, p.Name)
		code := core.ErrorCode(err)
		if cb.Error == "access_denied" && (code == core.CodeInvalidCredential || code == core.CodeUpstream) {
			pr = problem{Key: "err_cancelled", Status: http.StatusBadRequest}
		}
		h.renderCallbackProblem(w, r, st, p, res.Purpose, pr)
		return
	}
	if res.Purpose == core.PurposeLink {
		to, ok := h.allow.Check(res.ReturnTo)
		if !ok {
			to = "/account?linked=" + url.QueryEscape(p.ID)
		}
		h.redirect(w, r, to)
		return
	}
	to, ok := h.allow.Check(res.ReturnTo)
	if !ok {
		to = "/account"
	}
	h.signedIn(w, r, st, res.Tokens, res.User, to)
}

// renderCallbackProblem shows why a sign-in or link did not happen, with
// the way back: the sign-in page, or the account page for a link. The
// purpose is "" when the flow could not be found. The language switch
// goes back to the way back, not to the callback: its flow is used up.
func (h *Handler) renderCallbackProblem(w http.ResponseWriter, r *http.Request, st *requestState, p core.Provider, purpose core.Purpose, pr problem) {
	title, context := "title_callback_failed", "callback_unknown"
	actions := h.loginActions(st)
	switch purpose {
	case core.PurposeSignIn:
		title, context = "title_signin_failed", "callback_signin"
	case core.PurposeLink:
		title, context = "title_link_failed", "callback_link"
		actions = []actionView{{Href: "/account", Text: st.t("action_account"), Primary: true}}
	}
	v := &view{
		Title:      st.t(title),
		Message:    st.t(context, p.Name),
		Error:      h.problemView(r, st, pr, true),
		Actions:    actions,
		Back:       actions[0].Href,
		formAction: true,
	}
	h.render(w, r, st, pr.Status, pageMessage, v)
}

// loginActions is the way back for a failed sign-in: the account page
// when the browser is signed in after all, else the sign-in page.
func (h *Handler) loginActions(st *requestState) []actionView {
	if st.signedIn {
		return []actionView{{Href: "/account", Text: st.t("action_account"), Primary: true}}
	}
	return []actionView{{Href: "/login", Text: st.t("action_login_again"), Primary: true}}
}
