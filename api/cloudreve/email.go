package cloudreve

import (
	"net/http"

	"github.com/tether-id/tether/api/httpx"
	"github.com/tether-id/tether/core"
)

// The Cloudreve routes of the email flows: ask for a password reset, set
// the new password with the link's secret, and activate (verify) an
// account with the link's signature. The links in the mail open tether's
// own pages, which take the same parameters as these routes, so a
// Cloudreve frontend can drive either. Without a mail server the request
// route answers 40019; the routes that use a link work whenever a link
// exists.

// registerEmail adds the routes; Register calls it.
func (h *Handler) registerEmail(mux Mux) {
	mux.Handle("POST /api/v4/user/reset", h.limit(h.requestReset))
	mux.Handle("PATCH /api/v4/user/reset/{id}", h.limit(h.reset))
	mux.Handle("GET /api/v4/user/activate/{id}", h.limit(h.activate))
}

// POST /api/v4/user/reset {email, language?}: mails a reset link if an
// account owns the address. The answer is the same either way.
func (h *Handler) requestReset(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Email    string `json:"email"`
		Language string `json:"language"`
	}
	if err := httpx.DecodeJSON(r, &body); err != nil {
		h.fail(w, r, err)
		return
	}
	if !h.svc.MailEnabled() {
		h.fail(w, r, core.ErrMailDisabled)
		return
	}
	address, err := core.ParseEmail("email", body.Email)
	if err == nil {
		err = httpx.AllowMail(h.opts.MailQuota, address)
	}
	if err == nil {
		err = h.svc.RequestPasswordReset(r.Context(), address, body.Language, httpx.Client(r))
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.ok(w, nil)
}

// PATCH /api/v4/user/reset/{id} {password, secret}: sets the new
// password and signs every session of the account out. Answers the User.
func (h *Handler) reset(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Password string `json:"password"`
		Secret   string `json:"secret"`
	}
	if err := httpx.DecodeJSON(r, &body); err != nil {
		h.fail(w, r, err)
		return
	}
	if body.Secret == "" {
		h.fail(w, r, core.Invalid("secret", "Secret cannot be empty"))
		return
	}
	u, err := h.svc.ResetPassword(r.Context(), r.PathValue("id"), body.Secret, body.Password, httpx.Client(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.ok(w, toUser(u))
}

// GET /api/v4/user/activate/{id}?sign=: verifies the account's address.
// Answers the User.
func (h *Handler) activate(w http.ResponseWriter, r *http.Request) {
	sign := r.URL.Query().Get("sign")
	if sign == "" {
		h.fail(w, r, core.Invalid("sign", "Sign cannot be empty"))
		return
	}
	u, err := h.svc.VerifyEmail(r.Context(), r.PathValue("id"), sign, httpx.Client(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.ok(w, toUser(u))
}
