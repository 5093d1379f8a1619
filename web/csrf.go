package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
)

// CSRF protection has two layers, both required on every POST:
//
//   - The browser must say the request is same-origin: Sec-Fetch-Site, or
//     failing that the Origin header (net/http's CrossOriginProtection).
//   - The form must carry a token that is an HMAC, under a key derived
//     from the secret key, of the browser's CSRF cookie and the signed-in
//     account (empty when signed out). A token from another browser or for
//     another account does not verify, and the cookie is replaced whenever
//     someone signs in or out, so a token planted before a sign-in is
//     useless after it.

// errCSRF is shown as "this form has expired".
var errCSRF = errors.New("web: cross-site request or missing or bad form token")

// csrfCookieName is the cookie's base name; see Handler.cookieName.
const csrfCookieName = "tether_csrf"

// newCSRFSecret returns a value for the CSRF cookie.
func newCSRFSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// csrfToken returns the form token for the browser secret and account.
func (h *Handler) csrfToken(secret, userID string) string {
	m := hmac.New(sha256.New, h.csrfKey)
	m.Write([]byte(secret))
	m.Write([]byte{0})
	m.Write([]byte(userID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrfSecret returns the request's CSRF cookie, setting a new one when
// there is none (or when rotate is true, after a sign-in or sign-out).
// The value is remembered for the rest of the request, so every form on
// the page gets a token for the cookie the browser will hold.
func (h *Handler) csrfSecret(w http.ResponseWriter, r *http.Request, st *requestState, rotate bool) string {
	if st.csrf != "" && !rotate {
		return st.csrf
	}
	if !rotate {
		if c, err := r.Cookie(h.cookieName(csrfCookieName)); err == nil && len(c.Value) >= 32 {
			st.csrf = c.Value
			return st.csrf
		}
	}
	st.csrf = newCSRFSecret()
	http.SetCookie(w, h.cookie(csrfCookieName, st.csrf, 0))
	return st.csrf
}

// checkCSRF verifies a POST: same-origin according to the browser, and a
// form token for this browser and one of the given accounts ("" is the
// signed-out scope).
func (h *Handler) checkCSRF(r *http.Request, userIDs ...string) error {
	if err := h.origins.Check(r); err != nil {
		return errCSRF
	}
	c, err := r.Cookie(h.cookieName(csrfCookieName))
	if err != nil || c.Value == "" {
		return errCSRF
	}
	got := r.PostFormValue("csrf")
	if got == "" {
		return errCSRF
	}
	for _, id := range userIDs {
		if hmac.Equal([]byte(got), []byte(h.csrfToken(c.Value, id))) {
			return nil
		}
	}
	return errCSRF
}
