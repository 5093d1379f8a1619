package op

import (
	"net/http"

	"github.com/tether-id/tether/api/httpx"
	"github.com/tether-id/tether/core"
)

// GET, POST /oauth2/userinfo (OpenID Connect Core §5.3): the access token
// in the Authorization header, or in a POST form (RFC 6750 §2.2); never in
// the query, where logs would keep it.
func (h *Handler) userinfo(w http.ResponseWriter, r *http.Request) {
	token := httpx.Bearer(r)
	if token == "" && r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, httpx.MaxBody)
		if err := r.ParseForm(); err == nil {
			token = r.PostForm.Get("access_token")
		}
	}
	if token == "" {
		writeError(w, http.StatusUnauthorized, "invalid_request", "An access token is required", `Bearer realm="tether"`)
		return
	}
	claims, err := h.svc.UserInfo(r.Context(), token)
	switch core.ErrorCode(err) {
	case "":
		writeJSON(w, http.StatusOK, claims)
	case core.CodeInternal:
		h.fail(w, r, err)
	default:
		writeError(w, http.StatusUnauthorized, "invalid_token", "The access token is invalid, expired or revoked",
			`Bearer realm="tether", error="invalid_token", error_description="The access token is invalid, expired or revoked"`)
	}
}
