package op

import (
	"net/http"
	"net/url"

	"github.com/tether-id/tether/api/httpx"
	"github.com/tether-id/tether/core"
)

// GET, POST /oauth2/logout: RP-Initiated Logout 1.0. An app sends the
// person here to end their tether session (single sign-on). With an ID
// token of the signed-in person (id_token_hint) it happens at once;
// otherwise the person confirms first, so that no page can sign anyone out
// behind their back. post_logout_redirect_uri must be registered for the
// app, else nothing is redirected anywhere.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	q, ok := h.params(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	var hint *core.IDTokenHint
	if t := q.Get("id_token_hint"); t != "" {
		hh, err := h.svc.CheckIDTokenHint(ctx, t)
		if err != nil {
			h.opts.Browser.Problem(w, r, core.Invalid("id_token_hint", "The id_token_hint is not an ID token tether issued"))
			return
		}
		hint = &hh
	}
	clientID := q.Get("client_id")
	switch {
	case hint != nil && clientID != "" && clientID != hint.ClientID:
		h.opts.Browser.Problem(w, r, core.Invalid("client_id", "client_id is not the id_token_hint's client"))
		return
	case hint != nil:
		clientID = hint.ClientID
	}
	var app *core.App
	if clientID != "" {
		a, ok := h.svc.App(clientID)
		if !ok {
			h.opts.Browser.Problem(w, r, core.ErrUnknownClient)
			return
		}
		app = &a
	}
	back := q.Get("post_logout_redirect_uri")
	if back != "" && (app == nil || !app.AllowsPostLogoutRedirect(back)) {
		h.opts.Browser.Problem(w, r, core.Invalid("post_logout_redirect_uri", "The post_logout_redirect_uri is not registered for this client"))
		return
	}

	b := h.opts.Browser.Session(w, r)
	if b != nil {
		confirmed := r.Method == http.MethodPost && q.Get("confirm") == "yes"
		if confirmed {
			if err := h.opts.Browser.CheckForm(r, b.User.ID); err != nil {
				h.opts.Browser.Problem(w, r, err)
				return
			}
		}
		if !confirmed && (hint == nil || hint.UserID != b.User.ID) {
			form := url.Values{}
			for _, k := range []string{"id_token_hint", "client_id", "post_logout_redirect_uri", "state", "ui_locales"} {
				if v := q.Get(k); v != "" {
					form.Set(k, v)
				}
			}
			form.Set("confirm", "yes")
			h.opts.Browser.ConfirmSignOut(w, r, app, form)
			return
		}
		h.opts.Browser.SignOut(w, r)
		ev := core.Event{UserID: b.User.ID, Kind: core.EventAppSignOut, Success: true}
		if app != nil {
			ev.ClientID = app.ID
		}
		h.svc.RecordEvent(ctx, ev, httpx.Client(r))
	}
	if back == "" {
		h.opts.Browser.SignedOut(w, r)
		return
	}
	u, _ := url.Parse(back) // registered, so it parses
	if s := q.Get("state"); s != "" {
		v := u.Query()
		v.Set("state", s)
		u.RawQuery = v.Encode()
	}
	h.redirect(w, r, u.String())
}
