package cloudreve_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/tether-id/tether/config"
	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/internal/jwt"
	"github.com/tether-id/tether/testkit/tethertest"
)

// Local accounts and sessions (issue 3): sign-up, password sign-in,
// refresh rotation, sign-out, access token expiry and the sign-in history,
// each through the HTTP API and checked against the OpenAPI document.

type cloudreveUser struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Nickname  string    `json:"nickname"`
	Status    string    `json:"status"`
	Avatar    string    `json:"avatar"`
	CreatedAt time.Time `json:"created_at"`
	Anonymous bool      `json:"anonymous"`
	Group     struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"group"`
	Language string `json:"language"`
}

func (c *client) passwordSignIn(email, password string) tethertest.Envelope {
	c.t.Helper()
	return c.call("POST", "/api/v4/session/token", map[string]string{"email": email, "password": password}, "")
}

func (c *client) refresh(token string) tethertest.Envelope {
	c.t.Helper()
	return c.call("POST", "/api/v4/session/token/refresh", map[string]string{"refresh_token": token}, "")
}

func TestSignUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.client(t)
	var u cloudreveUser
	ok(t, c.call("POST", "/api/v4/user", map[string]any{"email": "Mallory@Example.test", "password": "correct horse", "language": "en-US"}, ""), &u)
	if u.ID == "" || u.Email != "Mallory@Example.test" || u.Nickname != "Mallory" || u.Status != "active" || u.Avatar != "" ||
		u.Anonymous || u.Group.ID == "" || u.Language != "en-US" || u.CreatedAt.IsZero() {
		t.Errorf("sign-up answered %+v", u)
	}
	var l tethertest.Login
	ok(t, c.passwordSignIn("mallory@example.test", "correct horse"), &l)
	if l.User.ID != u.ID {
		t.Errorf("signed in to %s, want %s", l.User.ID, u.ID)
	}
	// Eight characters, not eight bytes.
	ok(t, c.call("POST", "/api/v4/user", map[string]any{"email": "unicode@example.test", "password": "密码密码密码密码"}, ""), nil)

	want(t, c.call("POST", "/api/v4/user", map[string]any{"email": "MALLORY@example.TEST", "password": "another password"}, ""), 40032, "")
	for _, tc := range []struct {
		body map[string]any
		msg  string
	}{
		{map[string]any{"email": "not-an-email", "password": "long enough"}, "Email is not a valid email address"},
		{map[string]any{"email": "Mallory <m@example.test>", "password": "long enough"}, "Email is not a valid email address"},
		{map[string]any{"email": "", "password": "long enough"}, "Email cannot be empty"},
		{map[string]any{"password": "long enough"}, "Email cannot be empty"},
		{map[string]any{"email": "short@example.test", "password": "short"}, "Password must be 8 to 128 characters"},
		{map[string]any{"email": "long@example.test", "password": strings.Repeat("x", 129)}, "Password must be 8 to 128 characters"},
		{map[string]any{"email": "none@example.test"}, "Password cannot be empty"},
		{map[string]any{"email": "none@example.test", "password": 12345678}, "Password must be a string"},
	} {
		want(t, c.callInvalid("POST", "/api/v4/user", tc.body, ""), 40001, tc.msg)
	}
	// A rule only the server checks.
	want(t, c.call("POST", "/api/v4/user", map[string]any{"email": "lang@example.test", "password": "long enough", "language": "en US!"}, ""), 40001, "Language is not a valid language tag")
}

func TestSignUpDisabled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{configure: func(c *config.Config) { c.Registration.Password = false }})
	c := e.client(t)
	want(t, c.call("POST", "/api/v4/user", map[string]any{"email": "nina@example.test", "password": "long enough"}, ""), 40019, "Registration is disabled")
	var lc loginConfig
	ok(t, c.call("GET", "/api/v4/site/config/login", nil, ""), &lc)
	if lc.RegisterEnabled {
		t.Error("register_enabled with registration off")
	}
}

func TestPasswordSignIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.client(t)
	owner := e.srv.CreateUser(t, "oscar@example.test", "oscar-password", false)
	var l tethertest.Login
	ok(t, c.passwordSignIn("OSCAR@example.test", "oscar-password"), &l)
	if l.User.ID != owner.ID || l.Token.AccessToken == "" || l.Token.RefreshToken == "" {
		t.Errorf("sign-in answered %+v", l)
	}
	ok(t, c.call("GET", "/api/v4/user/setting", nil, l.Token.AccessToken), nil)

	// Wrong password, unknown email and an account without a password
	// get the same answer.
	upstream := c.signIn(oidcUpstream, 0)
	wrong := c.passwordSignIn("oscar@example.test", "not-oscars-password")
	want(t, wrong, 40069, "")
	for _, env := range []tethertest.Envelope{
		c.passwordSignIn("nobody@example.test", "not-oscars-password"),
		c.passwordSignIn(upstream.User.Email, "any-password"),
	} {
		want(t, env, 40069, "")
		if env.Msg != wrong.Msg {
			t.Errorf("msg %q, want the wrong password's %q", env.Msg, wrong.Msg)
		}
	}
	want(t, c.callInvalid("POST", "/api/v4/session/token", map[string]string{"email": "oscar@example.test", "password": ""}, ""), 40001, "Password cannot be empty")
	want(t, c.callInvalid("POST", "/api/v4/session/token", map[string]string{"password": "oscar-password"}, ""), 40001, "Email cannot be empty")

	for _, tc := range []struct {
		status core.Status
		code   int
	}{{core.StatusManualBanned, 40017}, {core.StatusSysBanned, 40017}, {core.StatusInactive, 40018}} {
		setStatus(t, e, owner.ID, tc.status)
		want(t, c.passwordSignIn("oscar@example.test", "oscar-password"), tc.code, "")
		// A wrong password still says only that.
		want(t, c.passwordSignIn("oscar@example.test", "not-oscars-password"), 40069, "")
	}
}

func TestRefreshRotation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.client(t)
	e.srv.CreateUser(t, "pat@example.test", "pat-password", false)
	var l, other tethertest.Login
	ok(t, c.passwordSignIn("pat@example.test", "pat-password"), &l)
	ok(t, c.passwordSignIn("pat@example.test", "pat-password"), &other) // another device

	var p1, p2 tethertest.Tokens
	ok(t, c.refresh(l.Token.RefreshToken), &p1)
	if p1.RefreshToken == l.Token.RefreshToken || p1.AccessToken == "" || !p1.RefreshExpires.After(p1.AccessExpires) {
		t.Errorf("refresh answered %+v", p1)
	}
	ok(t, c.call("GET", "/api/v4/user/setting", nil, p1.AccessToken), nil)
	ok(t, c.refresh(p1.RefreshToken), &p2)

	// The first token again: theft is assumed, the whole chain goes.
	want(t, c.refresh(l.Token.RefreshToken), 40020, "already used")
	want(t, c.refresh(p2.RefreshToken), 40020, "Invalid or expired")
	// The other device's session is another chain.
	ok(t, c.refresh(other.Token.RefreshToken), nil)
	want(t, c.refresh("not-a-refresh-token"), 40020, "Invalid or expired")
}

func TestSignOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.client(t)
	e.srv.CreateUser(t, "quinn@example.test", "quinn-password", false)
	var l tethertest.Login
	var p tethertest.Tokens
	ok(t, c.passwordSignIn("quinn@example.test", "quinn-password"), &l)
	ok(t, c.refresh(l.Token.RefreshToken), &p)
	env := c.call("DELETE", "/api/v4/session/token", map[string]string{"refresh_token": p.RefreshToken}, "")
	if got := string(bytes.TrimSpace(env.Raw)); got != `{"code":0,"msg":""}` {
		t.Errorf("sign-out answered %s", got)
	}
	// Signed out is not stolen: the answer says the token is invalid, not
	// reused.
	want(t, c.refresh(p.RefreshToken), 40020, "Invalid or expired")
	want(t, c.refresh(l.Token.RefreshToken), 40020, "already used")
	want(t, c.call("DELETE", "/api/v4/session/token", map[string]string{"refresh_token": "not-a-refresh-token"}, ""), 40020, "")
	// Access tokens are stateless: they last until they expire.
	ok(t, c.call("GET", "/api/v4/user/setting", nil, p.AccessToken), nil)
}

func TestTokenExpiry(t *testing.T) {
	t.Parallel()
	clk := newClock()
	e := newEnv(t, envOptions{now: clk.Now})
	c := e.client(t)
	e.srv.CreateUser(t, "rita@example.test", "rita-password", false)
	accessTTL, refreshTTL := e.srv.Config.Tokens.AccessTTL.D(), e.srv.Config.Tokens.RefreshTTL.D()
	var l tethertest.Login
	ok(t, c.passwordSignIn("rita@example.test", "rita-password"), &l)
	if d := l.Token.AccessExpires.Sub(clk.Now()); d > accessTTL || d < accessTTL-time.Second {
		t.Errorf("access_expires %s is %s after now, want %s", l.Token.AccessExpires, d, accessTTL)
	}
	if d := l.Token.RefreshExpires.Sub(clk.Now()); d > refreshTTL || d < refreshTTL-time.Second {
		t.Errorf("refresh_expires %s is %s after now, want %s", l.Token.RefreshExpires, d, refreshTTL)
	}
	ok(t, c.call("GET", "/api/v4/user/setting", nil, l.Token.AccessToken), nil)

	// Past expiry and the leeway allowed for clock differences between
	// instances.
	clk.Advance(accessTTL + jwt.Leeway + time.Second)
	want(t, c.call("GET", "/api/v4/user/setting", nil, l.Token.AccessToken), 40020, "")
	want(t, c.call("DELETE", openid+"/2", nil, l.Token.AccessToken), 40020, "")
	want(t, c.call("PUT", openid, map[string]any{"provider": 2, "linking": true}, l.Token.AccessToken), 401, "")
	var p tethertest.Tokens
	ok(t, c.refresh(l.Token.RefreshToken), &p)
	ok(t, c.call("GET", "/api/v4/user/setting", nil, p.AccessToken), nil)

	clk.Advance(refreshTTL + time.Second)
	want(t, c.refresh(p.RefreshToken), 40020, "")
}

// TestLoginActivity: the sign-in history records real attempts, failures
// included, newest first, with what the User-Agent tells.
func TestLoginActivity(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	desktop, phone := e.client(t), e.client(t)
	desktop.ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
	phone.ua = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
	e.srv.CreateUser(t, "sam@example.test", "sam-password", false)

	want(t, desktop.passwordSignIn("sam@example.test", "wrong-password"), 40069, "")
	want(t, desktop.passwordSignIn("someone-else@example.test", "wrong-password"), 40069, "")
	ok(t, desktop.passwordSignIn("sam@example.test", "sam-password"), nil)
	var l tethertest.Login
	ok(t, phone.passwordSignIn("sam@example.test", "sam-password"), &l)
	// Refreshing is not signing in.
	ok(t, phone.refresh(l.Token.RefreshToken), nil)

	s := phone.settings(l.Token.AccessToken)
	type entry struct {
		browser, os, device string
		success             bool
	}
	wantEntries := []entry{{"Safari", "iOS", "Mobile", true}, {"Firefox", "Windows", "Desktop", true}, {"Firefox", "Windows", "Desktop", false}}
	if len(s.LoginActivity) != len(wantEntries) {
		t.Fatalf("login_activity %+v, want %d entries", s.LoginActivity, len(wantEntries))
	}
	for i, a := range s.LoginActivity {
		if got := (entry{a.Browser, a.OS, a.Device, a.Success}); got != wantEntries[i] || a.LoginWith != "" || a.IP != "127.0.0.1" {
			t.Errorf("login_activity[%d] = %+v, want %+v with login_with \"\"", i, a, wantEntries[i])
		}
		if i > 0 && a.CreatedAt.After(s.LoginActivity[i-1].CreatedAt) {
			t.Errorf("login_activity is not newest first: %+v", s.LoginActivity)
		}
	}
	if s.Passwordless || len(s.OpenID) != 0 {
		t.Errorf("settings %+v, want a password account without identities", s)
	}
}
