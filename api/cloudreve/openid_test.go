package cloudreve_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/testkit/testpeer"
	"github.com/tether-id/tether/testkit/tethertest"
)

type loginConfig struct {
	RegisterEnabled bool   `json:"register_enabled"`
	QQEnabled       bool   `json:"qq_enabled"`
	SSOEnabled      bool   `json:"sso_enabled"`
	SSODisplayName  string `json:"sso_display_name"`
	SSOIcon         string `json:"sso_icon"`
	OIDCEnabled     bool   `json:"oidc_enabled"`
	OIDCDisplayName string `json:"oidc_display_name"`
	OIDCIcon        string `json:"oidc_icon"`
	Providers       []struct {
		ID   string `json:"id"`
		Kind string `json:"kind"`
		Code int    `json:"code"`
		Name string `json:"name"`
		Icon string `json:"icon"`
	} `json:"providers"`
}

// TestSequence is the Cloudreve client's whole story with each kind of
// provider, against real ones: the zitadel OP (generic OIDC, code 2),
// panva configured like Logto (code 0) and the QQ Connect fake (code 1).
// Sign in (a new account), sign in again (the same account), settings,
// prepare, link to a password account, unlink, and the last identity of a
// passwordless account that cannot go.
func TestSequence(t *testing.T) {
	t.Parallel()
	for _, u := range []upstream{oidcUpstream, logtoUpstream, qqUpstream} {
		t.Run(u.name, func(t *testing.T) {
			t.Parallel()
			testSequence(t, newEnv(t, envOptions{logto: u.logto}), u)
		})
	}
}

func testSequence(t *testing.T, e *env, u upstream) {
	c := e.client(t)
	code := strconv.Itoa(u.code)
	providerKey := map[int]string{0: "logto", 1: "qq", 2: "corp"}[u.code]

	// The site offers the provider under the name and icon configured.
	var lc loginConfig
	ok(t, c.call("GET", "/api/v4/site/config/login", nil, ""), &lc)
	switch u.code {
	case 0:
		if !lc.SSOEnabled || lc.SSODisplayName != logtoName || lc.SSOIcon != logtoIcon {
			t.Errorf("login config %+v, want sso_* from the logto provider", lc)
		}
	case 1:
		if !lc.QQEnabled {
			t.Errorf("login config %+v, want qq_enabled", lc)
		}
	case 2:
		if !lc.OIDCEnabled || lc.OIDCDisplayName != corpName || lc.OIDCIcon != corpIcon {
			t.Errorf("login config %+v, want oidc_* from the corp provider", lc)
		}
	}

	wantName, wantIcon := map[int]string{0: logtoName, 1: qqName, 2: corpName}[u.code], map[int]string{0: logtoIcon, 1: qqIcon, 2: corpIcon}[u.code]
	listed := false
	for _, p := range lc.Providers {
		if p.ID == providerKey {
			listed = p.Code == u.code && p.Kind == u.name && p.Name == wantName && p.Icon == wantIcon
		}
	}
	if !listed {
		t.Errorf("login config providers %+v lack {%s %s %d %q %q}", lc.Providers, providerKey, u.name, u.code, wantName, wantIcon)
	}

	// 1. Sign in: a new passwordless account. The hint reaches Logto
	// only, as login_hint.
	authURL := c.prepare(map[string]any{"provider": u.code, "hint": testpeer.Alice.Email}, "")
	q := authURL.Query()
	if !u.logto && (q.Has("login_hint") || strings.Contains(authURL.RawQuery, "alice")) {
		t.Errorf("the hint reached a %s provider: %s", u.name, authURL)
	}
	if got := q.Get("redirect_uri"); got != e.srv.URL+u.path {
		t.Errorf("redirect_uri %q, want %q", got, e.srv.URL+u.path)
	}
	if id, err := uuid.Parse(q.Get("state")); err != nil || id.Version() != 4 {
		t.Errorf("state %q is not a UUID v4", q.Get("state"))
	}
	if u.code != 1 && (q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("nonce") == "") {
		t.Errorf("authorize URL %s lacks PKCE S256 or a nonce", authURL)
	}
	if u.logto {
		if q.Get("prompt") != "consent" || q.Get("login_hint") != testpeer.Alice.Email || !strings.Contains(q.Get("scope"), "offline_access") {
			t.Errorf("Logto authorize URL %s: want prompt=consent, login_hint from hint, offline_access", authURL)
		}
	}
	cb := e.callback(t, u.login(t, e, authURL, 0), u.path)
	if cb.state != q.Get("state") {
		t.Errorf("callback state %q, want %q", cb.state, q.Get("state"))
	}
	if u.logto {
		// What reached the OP, as it parsed it.
		got := e.logto.LastAuthorization(t)
		if got.Get("login_hint") != testpeer.Alice.Email || got.Get("prompt") != "consent" {
			t.Errorf("Logto received login_hint=%q prompt=%q", got.Get("login_hint"), got.Get("prompt"))
		}
	}
	var first tethertest.Login
	var firstUser struct {
		User cloudreveUser `json:"user"`
	}
	signedIn := c.finish(cb, u.code, "")
	ok(t, signedIn, &first)
	signedIn.Decode(t, &firstUser)
	if first.User.Status != "active" || first.Token.AccessToken == "" || first.Token.RefreshToken == "" ||
		!first.Token.AccessExpires.After(time.Now()) || !first.Token.RefreshExpires.After(first.Token.AccessExpires) {
		t.Errorf("sign-in answered %+v", first)
	}
	if want := u.email(0); want != "" && first.User.Email != want {
		t.Errorf("new account's email %q, want %q", first.User.Email, want)
	} else if want == "" && !strings.HasSuffix(first.User.Email, "@openid.unmanaged") {
		t.Errorf("new account's email %q, want the placeholder <uuid>@openid.unmanaged", first.User.Email)
	}
	if u.logto {
		if alg := idTokenAlg(t, e, first.User.ID); alg != "ES384" {
			t.Errorf("Logto's ID token was signed with %q, want ES384", alg)
		}
	}
	if want := u.picture(e, 0); want != "" {
		testAvatar(t, e, c, firstUser.User, want)
	} else if firstUser.User.Avatar != "" {
		t.Errorf("user avatar %q for an account without a picture", firstUser.User.Avatar)
	}

	// 2. Sign in again: the same account. tether's own callback pages
	// forward RFC 9207's iss, which panva sends; a good one passes.
	authURL = c.prepare(map[string]any{"provider": u.code}, "")
	cb = e.callback(t, u.login(t, e, authURL, 0), u.path)
	finish := map[string]any{"code": cb.code, "session_id": cb.state, "provider_id": u.code}
	if u.logto {
		if cb.iss != e.logto.Issuer {
			t.Errorf("panva sent iss %q, want %q", cb.iss, e.logto.Issuer)
		}
		finish["iss"] = cb.iss
	}
	var second tethertest.Login
	ok(t, c.call("POST", "/api/v4/session/openid", finish, ""), &second)
	if second.User.ID != first.User.ID || second.Token.RefreshToken == first.Token.RefreshToken {
		t.Errorf("second sign-in: user %s (want %s), refresh token reused: %v", second.User.ID, first.User.ID, second.Token.RefreshToken == first.Token.RefreshToken)
	}

	// 3. Settings: the linked identity and both sign-ins.
	s := c.settings(second.Token.AccessToken)
	if len(s.OpenID) != 1 || s.OpenID[0].Provider != u.code || s.OpenID[0].ProviderKey != providerKey || s.OpenID[0].LinkedAt.IsZero() {
		t.Errorf("open_id %+v, want one of provider %d (%s)", s.OpenID, u.code, providerKey)
	}
	if !s.Passwordless {
		t.Error("an account made by an upstream sign-in is not passwordless")
	}
	if len(s.LoginActivity) != 2 {
		t.Errorf("login_activity has %d entries, want 2: %+v", len(s.LoginActivity), s.LoginActivity)
	}
	for _, a := range s.LoginActivity {
		if a.LoginWith != "openid" || a.OpenIDProvider != u.code || !a.Success || a.IP != "127.0.0.1" ||
			a.Browser != "Chrome" || a.OS != "Linux" || a.Device != "Desktop" || a.CreatedAt.IsZero() {
			t.Errorf("login_activity entry %+v", a)
		}
	}

	// 4. What the login page learns about that account: only this kind.
	p := c.prepareLogin(first.User.Email)
	if wantP := (prepareLogin{SSOEnabled: u.code == 0, QQEnabled: u.code == 1, OIDCEnabled: u.code == 2}); p != wantP {
		t.Errorf("prepare for %s: %+v, want %+v", first.User.Email, p, wantP)
	}

	// 5. Link account 1 to a password account.
	carol := e.srv.CreateUser(t, "carol@example.test", "carol-password", true)
	var session tethertest.Login
	ok(t, c.call("POST", "/api/v4/session/token", map[string]string{"email": "carol@example.test", "password": "carol-password"}, ""), &session)
	bearer := session.Token.AccessToken
	authURL = c.prepare(map[string]any{"provider": u.code, "linking": true}, bearer)
	cb = e.callback(t, u.login(t, e, authURL, 1), u.path)
	env := c.finish(cb, u.code, bearer)
	if got := string(bytes.TrimSpace(env.Raw)); got != `{"code":0,"msg":""}` {
		t.Errorf("link answered %s, want {\"code\":0,\"msg\":\"\"} without data", got)
	}
	s = c.settings(bearer)
	if len(s.OpenID) != 1 || s.OpenID[0].Provider != u.code || s.Passwordless {
		t.Errorf("after linking: open_id %+v passwordless %v", s.OpenID, s.Passwordless)
	}
	if p := c.prepareLogin("CAROL@example.test"); !p.PasswordEnabled || p.QQEnabled != (u.code == 1) || p.OIDCEnabled != (u.code == 2) || p.SSOEnabled != (u.code == 0) {
		t.Errorf("prepare for carol after linking: %+v", p)
	}
	// The linked identity now signs in to carol's account.
	if l := c.signIn(u, 1); l.User.ID != carol.ID {
		t.Errorf("the linked identity signed in to %s, want carol (%s)", l.User.ID, carol.ID)
	}

	// 6. Unlink, then there is nothing left to unlink.
	ok(t, c.call("DELETE", "/api/v4/session/openid/"+code, nil, bearer), nil)
	if s := c.settings(bearer); len(s.OpenID) != 0 {
		t.Errorf("after unlinking: open_id %+v", s.OpenID)
	}
	want(t, c.call("DELETE", "/api/v4/session/openid/"+code, nil, bearer), 40068, "")

	// 7. The passwordless account keeps its only identity.
	want(t, c.call("DELETE", "/api/v4/session/openid/"+code, nil, second.Token.AccessToken), 40084, "")
	if s := c.settings(second.Token.AccessToken); len(s.OpenID) != 1 {
		t.Errorf("40084 but the identity is gone: %+v", s.OpenID)
	}
}

// idTokenAlg returns the "alg" of the ID token stored (sealed) with the
// user's latest session.
func idTokenAlg(t *testing.T, e *env, userID string) string {
	t.Helper()
	sessions, err := e.srv.App.Service.Sessions(t.Context(), userID)
	if err != nil || len(sessions) == 0 {
		t.Fatalf("sessions of %s: %v %v", userID, sessions, err)
	}
	toks, err := e.srv.App.Service.UpstreamTokens(sessions[0])
	if err != nil {
		t.Fatal(err)
	}
	header, _, _ := strings.Cut(toks.IDToken, ".")
	b, err := base64.RawURLEncoding.DecodeString(header)
	if err != nil {
		t.Fatalf("ID token header %q: %v", header, err)
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h.Alg
}

// testAvatar checks that the account's User says it has a picture, and
// that the avatar route serves tether's own copy of the picture and never
// redirects anywhere: not to the provider's URL, not to a script.
func testAvatar(t *testing.T, e *env, c *client, u cloudreveUser, picture string) {
	t.Helper()
	if u.Avatar != "file" {
		t.Errorf("user avatar %q, want \"file\" for an account with a picture", u.Avatar)
	}
	get := func(id string) exchange {
		t.Helper()
		x := c.send("GET", "/api/v4/user/avatar/"+id, nil, "", true)
		if x.resp.StatusCode/100 == 3 {
			t.Errorf("avatar: HTTP %d to %q, a redirect", x.resp.StatusCode, x.resp.Header.Get("Location"))
		}
		return x
	}
	get(u.ID) // the provider's picture URL is not a public https address here: 404, not a redirect
	if x := get(uuid.NewString()); x.resp.StatusCode != http.StatusNotFound {
		t.Errorf("avatar of an unknown account: HTTP %d", x.resp.StatusCode)
	}
	setAvatar := func(a string) {
		if _, err := e.srv.App.Service.UpdateUser(t.Context(), u.ID, func(x *core.User) error { x.Avatar = a; return nil }, core.AdminCLI); err != nil {
			t.Fatal(err)
		}
	}
	defer setAvatar(picture)
	setAvatar(e.pictures.URL + "/face.png")
	x := get(u.ID)
	h := x.resp.Header
	if x.resp.StatusCode != http.StatusOK || h.Get("Content-Type") != "image/png" || !bytes.Equal(x.body, pngFace) ||
		h.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(h.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("avatar from a picture tether keeps: HTTP %d %v, %d bytes", x.resp.StatusCode, h, len(x.body))
	}
	for _, bad := range []string{e.pictures.URL + "/face.svg", "javascript:alert(1)", e.pictures.URL + "/elsewhere"} {
		setAvatar(bad)
		if x := get(u.ID); x.resp.StatusCode != http.StatusNotFound {
			t.Errorf("avatar with picture %s: HTTP %d, want 404", bad, x.resp.StatusCode)
		}
	}
}
