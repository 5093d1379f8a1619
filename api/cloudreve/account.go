package cloudreve

import (
	"net/http"
	"net/url"
	"time"

	"github.com/google/uuid"

	"github.com/tether-id/tether/api"
	"github.com/tether-id/tether/api/httpx"
	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/metrics"
)

// user is Cloudreve's User object.
type user struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Nickname  string    `json:"nickname"`
	Status    string    `json:"status"`
	Avatar    string    `json:"avatar"`
	CreatedAt time.Time `json:"created_at"`
	Anonymous bool      `json:"anonymous"`
	Group     group     `json:"group"`
	Language  string    `json:"language"`
}

type group struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// defaultGroup stands in for Cloudreve's user groups, which tether does
// not have: every account is in one group.
var defaultGroup = group{ID: "default", Name: "User"}

func toUser(u core.User) user {
	// Cloudreve's avatar field says where the picture is ("file",
	// "gravatar" or ""), not its URL; clients then load
	// /api/v4/user/avatar/{id}, where tether serves its copy of the
	// upstream picture.
	avatar := ""
	if webURL(u.Avatar) {
		avatar = "file"
	}
	return user{ID: u.ID, Email: u.Email, Nickname: u.Nickname, Status: string(u.Status), Avatar: avatar,
		CreatedAt: u.CreatedAt, Group: defaultGroup, Language: u.Language}
}

// token is Cloudreve's Token object.
type token struct {
	AccessToken    string    `json:"access_token"`
	RefreshToken   string    `json:"refresh_token"`
	AccessExpires  time.Time `json:"access_expires"`
	RefreshExpires time.Time `json:"refresh_expires"`
}

func toToken(p core.TokenPair) token {
	return token{AccessToken: p.AccessToken, RefreshToken: p.RefreshToken, AccessExpires: p.AccessExpires, RefreshExpires: p.RefreshExpires}
}

type loginResponse struct {
	User  user  `json:"user"`
	Token token `json:"token"`
}

// POST /api/v4/user {email, password, language?}
func (h *Handler) signUp(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Email    string `json:"email"`
		Password string `json:"password"`
		Language string `json:"language"`
	}
	if err := httpx.DecodeJSON(r, &body); err != nil {
		h.fail(w, r, err)
		return
	}
	u, err := h.svc.SignUp(r.Context(), core.NewUser{Email: body.Email, Password: body.Password, Language: body.Language}, httpx.Client(r))
	h.opts.Metrics.SignUp(metrics.Password, err)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.ok(w, toUser(u))
}

// POST /api/v4/session/token {email, password}
func (h *Handler) signIn(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if err := httpx.DecodeJSON(r, &body); err != nil {
		h.fail(w, r, err)
		return
	}
	u, pair, err := httpx.SignIn(r.Context(), h.svc, h.opts.Accounts, body.Email, body.Password, httpx.Client(r))
	h.opts.Metrics.SignIn(metrics.Password, err)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.ok(w, loginResponse{User: toUser(u), Token: toToken(pair)})
}

type refreshBody struct {
	RefreshToken string `json:"refresh_token"`
}

// POST /api/v4/session/token/refresh {refresh_token}
func (h *Handler) refresh(w http.ResponseWriter, r *http.Request) {
	var body refreshBody
	if err := httpx.DecodeJSON(r, &body); err != nil {
		h.fail(w, r, err)
		return
	}
	pair, err := h.svc.Refresh(r.Context(), body.RefreshToken, httpx.Client(r))
	h.opts.Metrics.Refresh(err)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.ok(w, toToken(pair))
}

// DELETE /api/v4/session/token {refresh_token} → no data, or the
// provider's end-session URL.
func (h *Handler) signOut(w http.ResponseWriter, r *http.Request) {
	var body refreshBody
	if err := httpx.DecodeJSON(r, &body); err != nil {
		h.fail(w, r, err)
		return
	}
	// For a session that came from a provider with an end-session
	// endpoint, data is the URL that signs the person out there too, as
	// Cloudreve answers for its OpenID sessions.
	logout, err := h.svc.SignOutWithProvider(r.Context(), body.RefreshToken, httpx.Client(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if logout == "" {
		h.ok(w, nil)
		return
	}
	h.ok(w, logout)
}

type openID struct {
	Provider int       `json:"provider"`
	LinkedAt time.Time `json:"linked_at"`
	// ProviderKey is additive: the string id, which tells apart several
	// providers of one kind.
	ProviderKey string `json:"provider_key"`
}

type loginActivity struct {
	CreatedAt      time.Time `json:"created_at"`
	IP             string    `json:"ip"`
	Browser        string    `json:"browser"`
	Device         string    `json:"device"`
	OS             string    `json:"os"`
	LoginWith      string    `json:"login_with"`
	OpenIDProvider int       `json:"open_id_provider"`
	Success        bool      `json:"success"`
	WebDAV         bool      `json:"webdav"`
}

type settings struct {
	OpenID        []openID        `json:"open_id"`
	Passwordless  bool            `json:"passwordless"`
	TwoFAEnabled  bool            `json:"two_fa_enabled"`
	Passkeys      []struct{}      `json:"passkeys"`
	LoginActivity []loginActivity `json:"login_activity"`
}

// GET /api/v4/user/setting
func (h *Handler) settings(w http.ResponseWriter, r *http.Request, u core.User) {
	ids, err := h.svc.Identities(r.Context(), u.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	events, err := h.svc.LoginActivity(r.Context(), u.ID, 50)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := settings{OpenID: []openID{}, Passwordless: u.Passwordless(), Passkeys: []struct{}{}, LoginActivity: []loginActivity{}}
	for _, id := range ids {
		out.OpenID = append(out.OpenID, openID{Provider: h.providerCode(id.ProviderID), LinkedAt: id.LinkedAt, ProviderKey: id.ProviderID})
	}
	for _, e := range events {
		ua := httpx.ParseUserAgent(e.UserAgent)
		a := loginActivity{CreatedAt: e.At, IP: e.IP, Browser: ua.Browser, Device: ua.Device, OS: ua.OS, Success: e.Success}
		if e.Method == core.MethodOpenID {
			a.LoginWith = "openid"
			a.OpenIDProvider = h.providerCode(e.ProviderID)
		}
		out.LoginActivity = append(out.LoginActivity, a)
	}
	h.ok(w, out)
}

// providerCode is the Cloudreve integer of a provider id; identities of
// providers no longer configured report their stored kind as OIDC.
func (h *Handler) providerCode(id string) int {
	if p, ok := h.svc.Provider(id); ok {
		return api.CloudreveCode(p.Kind)
	}
	return 2
}

// GET /api/v4/user/avatar/{id}: Cloudreve clients load avatars here.
// tether answers with its own copy of the upstream picture, never a
// redirect to wherever the provider pointed (an open redirect on
// tether's origin); the bytes are an image sniffed at fetch time, served
// with nosniff and a policy that runs nothing.
func (h *Handler) avatar(w http.ResponseWriter, r *http.Request) {
	a, err := h.svc.Avatar(r.Context(), r.PathValue("id"))
	if err != nil {
		if core.ErrorCode(err) == core.CodeInternal {
			h.log.ErrorContext(r.Context(), "avatar", "err", err)
		}
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", a.Type)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	hd.Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(a.Data)
}

func webURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func newCorrelationID() string { return uuid.NewString() }
