package op

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/tether-id/tether/api/httpx"
	"github.com/tether-id/tether/core"
)

// GET, POST /oauth2/authorize: an app's authorization request, or its
// continuation from tether's sign-in or consent page (continueParam).
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request) {
	q, ok := h.params(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	var req core.AuthRequest
	var app core.App
	var err error
	answer := core.ConsentNotAsked
	sealed := q.Get(continueParam)
	if sealed != "" {
		if req, app, err = h.svc.OpenAuthRequest(sealed); err != nil {
			h.opts.Browser.Problem(w, r, err)
			return
		}
	} else {
		req, app, err = h.svc.ParseAuthRequest(q)
		if core.ShownNotSent(err) {
			h.log.InfoContext(ctx, "op: authorization request refused", "client_id", req.ClientID, "err", err)
			h.opts.Browser.Problem(w, r, err)
			return
		}
		if err != nil {
			h.metrics.authorizations.WithLabelValues(app.ID, core.OAuthError(err)).Inc()
			h.redirect(w, r, h.svc.AuthorizeError(req, err).Location)
			return
		}
		if sealed, err = h.svc.SealAuthRequest(req); err != nil {
			h.opts.Browser.Problem(w, r, err)
			return
		}
	}
	b := h.opts.Browser.Session(w, r)
	if r.Method == http.MethodPost && q.Has("consent") {
		// The consent page's answer, by the person who saw it.
		userID := ""
		if b != nil {
			userID = b.User.ID
		}
		if err := h.opts.Browser.CheckForm(r, userID); err != nil {
			h.opts.Browser.Problem(w, r, err)
			return
		}
		label := "deny"
		answer = core.ConsentDenied
		if q.Get("consent") == "approve" {
			answer, label = core.ConsentApproved, "approve"
		}
		h.metrics.consents.WithLabelValues(app.ID, label).Inc()
	}
	res, err := h.svc.Authorize(ctx, req, app, b, answer, httpx.Client(r))
	if err != nil {
		h.log.ErrorContext(ctx, "op: authorize", "client_id", app.ID, "err", err)
		h.redirect(w, r, h.svc.AuthorizeError(req, err).Location)
		return
	}
	next := PathAuthorize + "?" + url.Values{continueParam: {sealed}}.Encode()
	switch res.Step {
	case core.StepLogin:
		h.metrics.authorizations.WithLabelValues(app.ID, "login").Inc()
		h.opts.Browser.SignIn(w, r, app, req, next, b != nil)
	case core.StepConsent:
		h.metrics.authorizations.WithLabelValues(app.ID, "consent").Inc()
		h.opts.Browser.Consent(w, r, app, res.Scopes, url.Values{continueParam: {sealed}})
	default:
		h.redirected(w, r, app, res)
	}
}

// Resume finishes the authorization request that next (a continuation
// URL of the authorization endpoint, as the sign-in page got it) holds,
// for the browser session b that a sign-in has just started, when it
// needs nothing more of the person: the browser goes straight back to
// the app with its code, spared the round trip through the endpoint.
// false, with nothing written, when next is not such a URL or the
// request needs a page (consent; those are drawn for the cookies the
// browser will send, so the browser goes to next as before).
func (h *Handler) Resume(w http.ResponseWriter, r *http.Request, next string, b *core.BrowserSession) bool {
	rest, ok := strings.CutPrefix(next, PathAuthorize+"?")
	if !ok || b == nil {
		return false
	}
	q, err := url.ParseQuery(rest)
	if err != nil || len(q) != 1 || q.Get(continueParam) == "" {
		return false
	}
	req, app, err := h.svc.OpenAuthRequest(q.Get(continueParam))
	if err != nil {
		return false // the endpoint will say why
	}
	res, err := h.svc.Authorize(r.Context(), req, app, b, core.ConsentNotAsked, httpx.Client(r))
	if err != nil || res.Step != core.StepRedirect {
		return false
	}
	h.redirected(w, r, app, res)
	return true
}

// redirected sends the browser back to the app with the outcome of its
// authorization request: the code, or the error.
func (h *Handler) redirected(w http.ResponseWriter, r *http.Request, app core.App, res core.AuthorizeResult) {
	o := "code"
	if u, err := url.Parse(res.Location); err == nil && u.Query().Has("error") {
		o = u.Query().Get("error")
	}
	h.metrics.authorizations.WithLabelValues(app.ID, o).Inc()
	h.redirect(w, r, res.Location)
}

// params reads the parameters of a GET (query) or POST (form body)
// request; false means an error was answered.
func (h *Handler) params(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	if r.Method != http.MethodPost {
		return r.URL.Query(), true
	}
	r.Body = http.MaxBytesReader(w, r.Body, httpx.MaxBody)
	if err := r.ParseForm(); err != nil {
		h.opts.Browser.Problem(w, r, core.Invalid("", "The form is not valid"))
		return nil, false
	}
	return r.PostForm, true
}

// redirect sends the browser on with 303 See Other, so that a POST
// becomes a GET at the app.
func (h *Handler) redirect(w http.ResponseWriter, r *http.Request, to string) {
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, to, http.StatusSeeOther)
}
