package versia

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/tether-id/tether/api/httpx"
	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/provider"
)

// GET /oauth/sso/{issuer}/callback: where the provider sends the browser
// back. It finishes the link flow the state names and redirects (302) to
// the frontend (versia.frontend_url, else the public URL) with
// ?oidc_account_linked=true, or with
// oidc_account_linking_error (a short title) and
// oidc_account_linking_error_message (what happened) for every failure, so
// the person always lands on the frontend, never on a bare error page.
//
// This surface only links: a sign-in flow arriving here is refused before
// the upstream exchange (core.FinishRequest.Purpose), so it neither signs
// anyone in nor creates an account.
func (h *Handler) callback(w http.ResponseWriter, r *http.Request) {
	// The query carries a code: keep it out of caches and Referer headers.
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	if err := h.allow(w, r); err != nil {
		h.linkFailed(w, r, err, provider.Callback{})
		return
	}
	issuer := r.PathValue("issuer")
	p, ok := h.svc.Provider(issuer)
	if !ok {
		h.linkFailed(w, r, errIssuerNotFound(issuer), provider.Callback{})
		return
	}
	// tether sees the real query here, so the full RFC 9207 rule applies:
	// an OP that advertises the iss parameter must send it.
	state, cb, err := provider.ParseCallback(r.URL.Query())
	if err != nil {
		msg := "The provider's answer is malformed"
		var pe *provider.Error
		if errors.As(err, &pe) {
			msg += ": " + pe.Message
		}
		h.linkFailed(w, r, core.Wrap(core.CodeInvalid, err, msg), provider.Callback{})
		return
	}
	res, err := h.svc.Finish(r.Context(), core.FinishRequest{
		FlowID:        state,
		ProviderID:    p.ID,
		Callback:      cb,
		BrowserSecret: h.opts.Binder.Read(r),
		Purpose:       core.PurposeLink,
		Client:        httpx.Client(r),
	})
	h.opts.Metrics.Finish(p.ID, res, err)
	if err != nil {
		h.linkFailed(w, r, err, cb)
		return
	}
	h.redirectHome(w, url.Values{"oidc_account_linked": {"true"}})
}

// linkFailed redirects with Versia's two error keys. cb is the callback
// as parsed, when it was: an error the provider itself returned gets its
// own title.
func (h *Handler) linkFailed(w http.ResponseWriter, r *http.Request, err error, cb provider.Callback) {
	o := outcomeOf(err)
	title := o.title
	if cb.Error != "" && (o.status == http.StatusUnauthorized || o.status == http.StatusBadGateway) {
		title = "Provider error"
		if cb.Error == "access_denied" {
			title = "Access denied"
		}
	}
	level := slog.LevelInfo
	if o.status >= 500 && o.status != http.StatusBadGateway {
		level = slog.LevelError
	}
	h.log.Log(r.Context(), level, "link failed", "correlation_id", httpx.RequestID(r.Context()),
		"path", r.URL.Path, "err", err.Error())
	h.redirectHome(w, url.Values{
		"oidc_account_linking_error":         {title},
		"oidc_account_linking_error_message": {sentence(core.ErrorMessage(err))},
	})
}

// redirectHome answers 302 to the frontend's home with q, without a body:
// <versia.frontend_url>/, or tether's own landing page at the public URL.
func (h *Handler) redirectHome(w http.ResponseWriter, q url.Values) {
	w.Header().Set("Location", h.opts.FrontendURL+"/?"+q.Encode())
	w.WriteHeader(http.StatusFound)
}

// sentence capitalises a message that a provider wrote in lower case
// ("the provider did not sign you in") for showing on its own.
func sentence(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 || !unicode.IsLower(r) {
		return s
	}
	return strings.ToUpper(string(r)) + s[n:]
}
