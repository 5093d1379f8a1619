package cloudreve_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tether-id/tether/api/httpx"
	"github.com/tether-id/tether/config"
	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/testkit/testclock"
	"github.com/tether-id/tether/testkit/testpeer"
	"github.com/tether-id/tether/testkit/tethertest"
)

// Each Cloudreve error code of the OpenID routes, provoked the way a
// client would meet it. The client checks on every failure that the
// answer is HTTP 200 with a UUID correlation_id, and "error" only in
// debug mode.

const openid = "/api/v4/session/openid"

// startOIDC prepares a sign-in (or link, with bearer) with the corp
// provider and signs account n in at the OP; it returns the callback.
func (c *client) startOIDC(n int, bearer string) callback {
	c.t.Helper()
	body := map[string]any{"provider": 2}
	if bearer != "" {
		body["linking"] = true
	}
	authURL := c.prepare(body, bearer)
	return c.e.callback(c.t, oidcUpstream.login(c.t, c.e, authURL, n), oidcUpstream.path)
}

// startPartner is startOIDC with the second OIDC provider, reached
// through provider_key.
func (c *client) startPartner(n int, bearer string) callback {
	c.t.Helper()
	body := map[string]any{"provider_key": "partner"}
	if bearer != "" {
		body["linking"] = true
	}
	authURL := c.prepare(body, bearer)
	return c.e.callback(c.t, oidcUpstream.login(c.t, c.e, authURL, n), partnerPath)
}

func (c *client) finishPartner(cb callback, bearer string) tethertest.Envelope {
	c.t.Helper()
	return c.call("POST", openid, map[string]any{"code": cb.code, "session_id": cb.state, "provider_key": "partner"}, bearer)
}

// passwordAccount creates an account with a password and signs it in.
func (c *client) passwordAccount(email string) (core.User, string) {
	c.t.Helper()
	u := c.e.srv.CreateUser(c.t, email, "password-"+email, true)
	var l tethertest.Login
	ok(c.t, c.call("POST", "/api/v4/session/token", map[string]string{"email": email, "password": "password-" + email}, ""), &l)
	return u, l.Token.AccessToken
}

func TestBadParameters(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.client(t)
	_, bearer := c.passwordAccount("dave@example.test")
	session := uuid.NewString()
	for _, tc := range []struct {
		name, method, path string
		body               any
		bearer             string
		msg                string
		// documented: the OpenAPI document allows the request; the rule
		// is one only the server can check.
		documented bool
	}{
		{"prepare not JSON", "PUT", openid, rawBody("{"), "", "Request body is not valid JSON", false},
		// The document's checker reads only the first JSON value, so it
		// takes the next three for valid bodies; tether refuses them.
		{"prepare two objects", "PUT", openid, rawBody(`{"provider":2} {}`), "", "Request body is not valid JSON", true},
		{"prepare stray brace", "PUT", openid, rawBody(`{"provider":2}}`), "", "Request body is not valid JSON", true},
		{"sign-in stray bracket", "POST", "/api/v4/session/token", rawBody(`{"email":"a@example.test","password":"whatever1"}]`), "", "Request body is not valid JSON", true},
		{"prepare without body", "PUT", openid, nil, "", "Request body cannot be empty", false},
		{"prepare without provider", "PUT", openid, map[string]any{"linking": false}, "", "Provider cannot be empty", false},
		{"prepare provider null", "PUT", openid, map[string]any{"provider": nil}, "", "Provider cannot be empty", false},
		{"prepare provider string", "PUT", openid, map[string]any{"provider": "2"}, "", "Provider must be a number", false},
		{"prepare provider fraction", "PUT", openid, map[string]any{"provider": 1.5}, "", "Provider must be a number", false},
		{"prepare provider out of range", "PUT", openid, map[string]any{"provider": 7}, "", "Provider must be one of 0, 1, 2", false},
		{"prepare linking string", "PUT", openid, map[string]any{"provider": 2, "linking": "yes"}, "", "Linking must be true or false", false},
		{"prepare hint not an email", "PUT", openid, map[string]any{"provider": 2, "hint": "alice"}, "", "Hint is not a valid email address", false},
		{"prepare hint with a name", "PUT", openid, map[string]any{"provider": 2, "hint": "Alice <alice@example.test>"}, "", "Hint is not a valid email address", false},
		{"prepare provider and key disagree", "PUT", openid, map[string]any{"provider": 1, "provider_key": "corp"}, "", "Provider does not match provider_key", true},
		{"finish not JSON", "POST", openid, rawBody(`{"code":`), "", "Request body is not valid JSON", false},
		{"finish without code", "POST", openid, map[string]any{"session_id": session, "provider_id": 2}, "", "Code cannot be empty", false},
		{"finish empty code", "POST", openid, map[string]any{"code": "", "session_id": session, "provider_id": 2}, "", "Code cannot be empty", false},
		{"finish without session_id", "POST", openid, map[string]any{"code": "c", "provider_id": 2}, "", "SessionID cannot be empty", false},
		{"finish session_id number", "POST", openid, map[string]any{"code": "c", "session_id": 5, "provider_id": 2}, "", "SessionID must be a string", false},
		{"finish without provider_id", "POST", openid, map[string]any{"code": "c", "session_id": session}, "", "ProviderID cannot be empty", false},
		{"finish provider_id string", "POST", openid, map[string]any{"code": "c", "session_id": session, "provider_id": "2"}, "", "ProviderID must be a number", false},
		{"finish provider_id out of range", "POST", openid, map[string]any{"code": "c", "session_id": session, "provider_id": 9}, "", "ProviderID must be one of 0, 1, 2", false},
		{"finish provider_id and key disagree", "POST", openid, map[string]any{"code": "c", "session_id": session, "provider_id": 1, "provider_key": "corp"}, "", "ProviderID does not match provider_key", true},
		{"unlink provider out of range", "DELETE", openid + "/7", nil, bearer, "ProviderID must be one of 0, 1, 2", false},
		{"prepare login without email", "GET", "/api/v4/session/prepare", nil, "", "Email cannot be empty", false},
		{"refresh without token", "POST", "/api/v4/session/token/refresh", map[string]any{}, "", "RefreshToken cannot be empty", false},
		{"refresh token number", "POST", "/api/v4/session/token/refresh", map[string]any{"refresh_token": 1}, "", "RefreshToken must be a string", false},
		{"sign out without token", "DELETE", "/api/v4/session/token", map[string]any{}, "", "RefreshToken cannot be empty", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.client(t)
			var env tethertest.Envelope
			if tc.documented {
				env = c.call(tc.method, tc.path, tc.body, tc.bearer)
			} else {
				env = c.callInvalid(tc.method, tc.path, tc.body, tc.bearer)
			}
			want(t, env, 40001, tc.msg)
		})
	}
}

// TestLoginRequired: 401 when linking without a usable token, and on the
// routes that require one when there is none.
func TestLoginRequired(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.client(t)
	want(t, c.call("PUT", openid, map[string]any{"provider": 2, "linking": true}, ""), 401, "Login required")
	want(t, c.call("PUT", openid, map[string]any{"provider": 2, "linking": true}, "not-a-token"), 401, "Login required")
	want(t, c.callInvalid("GET", "/api/v4/user/setting", nil, ""), 401, "Login required")
	want(t, c.callInvalid("DELETE", openid+"/2", nil, ""), 401, "Login required")
	// A sign-in ignores a stale token rather than failing.
	c.prepare(map[string]any{"provider": 2}, "not-a-token")
}

// TestNotEnabled: 40019 for a provider that is unknown, disabled or of a
// kind the site does not have.
func TestNotEnabled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{configure: func(c *config.Config) {
		// No QQ at all: code 1 names nothing.
		c.Providers = slicesDelete(c.Providers, "qq")
	}})
	c := e.client(t)
	for _, body := range []map[string]any{
		{"provider": 0}, // the only Logto provider is disabled
		{"provider": 1}, // no QQ provider
		{"provider_key": "logto-off"},
		{"provider": 0, "provider_key": "logto-off"},
		{"provider_key": "nope"},
		{"provider_key": "qq"},
	} {
		want(t, c.call("PUT", openid, body, ""), 40019, "not enabled")
	}
	for _, body := range []map[string]any{
		{"code": "c", "session_id": uuid.NewString(), "provider_id": 0},
		{"code": "c", "session_id": uuid.NewString(), "provider_id": 1},
		{"code": "c", "session_id": uuid.NewString(), "provider_key": "logto-off"},
		{"code": "c", "session_id": uuid.NewString(), "provider_key": "nope"},
	} {
		want(t, c.call("POST", openid, body, ""), 40019, "not enabled")
	}
	var lc loginConfig
	ok(t, c.call("GET", "/api/v4/site/config/login", nil, ""), &lc)
	if lc.SSOEnabled || lc.QQEnabled || !lc.OIDCEnabled || len(lc.Providers) != 2 {
		t.Errorf("login config %+v: want only the two OIDC providers", lc)
	}
}

func slicesDelete(ps []config.Provider, id string) []config.Provider {
	var out []config.Provider
	for _, p := range ps {
		if p.ID != id {
			out = append(out, p)
		}
	}
	return out
}

// TestInvalidCredential: 40020 when the provider rejects the code, when a
// forwarded iss is wrong, when the provider cannot be reached, and for a
// bad token on routes that require one.
func TestInvalidCredential(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{configure: func(c *config.Config) {
		c.Providers = append(c.Providers, config.Provider{ID: "down", Kind: config.KindOIDC, Enabled: true, DirectSignIn: true,
			Issuer: "http://127.0.0.1:1/", ClientID: "x", ClientSecret: "y"})
	}})
	c := e.client(t)

	t.Run("code of another flow", func(t *testing.T) {
		c := e.client(t)
		used := c.startOIDC(0, "")
		ok(t, c.finish(used, 2, ""), nil)
		fresh := c.startOIDC(0, "")
		want(t, c.finish(callback{code: used.code, state: fresh.state}, 2, ""), 40020, "")
	})
	t.Run("made-up code", func(t *testing.T) {
		c := e.client(t)
		cb := c.startOIDC(0, "")
		want(t, c.finish(callback{code: "not-a-code", state: cb.state}, 2, ""), 40020, "")
	})
	t.Run("wrong iss forwarded", func(t *testing.T) {
		c := e.client(t)
		cb := c.startOIDC(0, "")
		want(t, c.call("POST", openid, map[string]any{"code": cb.code, "session_id": cb.state, "provider_id": 2, "iss": "https://evil.example/"}, ""), 40020, "")
	})
	t.Run("QQ rejects the code", func(t *testing.T) {
		c := e.client(t)
		authURL := c.prepare(map[string]any{"provider": 1}, "")
		cb := e.callback(t, qqUpstream.login(t, e, authURL, 0), "/login/qq")
		want(t, c.finish(callback{code: "0123456789ABCDEF0123456789ABCDEF", state: cb.state}, 1, ""), 40020, "")
	})
	t.Run("provider unreachable", func(t *testing.T) {
		c := e.client(t)
		want(t, c.call("PUT", openid, map[string]any{"provider_key": "down"}, ""), 40020, "")
	})
	t.Run("bad bearer", func(t *testing.T) {
		_, good := c.passwordAccount("erin@example.test")
		forged := good[:len(good)-4] + flip(good[len(good)-4:])
		for _, tok := range []string{"not-a-token", forged} {
			want(t, c.call("GET", "/api/v4/user/setting", nil, tok), 40020, "")
			want(t, c.call("DELETE", openid+"/2", nil, tok), 40020, "")
		}
	})
}

// flip changes every character of s, keeping it base64url.
func flip(s string) string {
	b := []byte(s)
	for i := range b {
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
	}
	return string(b)
}

// TestSessionNotFound: 40023 for every way a finish can name a sign-in
// session that is not there for it.
func TestSessionNotFound(t *testing.T) {
	t.Parallel()
	clk := newClock()
	e := newEnv(t, envOptions{now: clk.Now})

	t.Run("unknown", func(t *testing.T) {
		c := e.client(t)
		want(t, c.finish(callback{code: "c", state: uuid.NewString()}, 2, ""), 40023, "")
	})
	t.Run("used", func(t *testing.T) {
		c := e.client(t)
		cb := c.startOIDC(0, "")
		ok(t, c.finish(cb, 2, ""), nil)
		want(t, c.finish(cb, 2, ""), 40023, "")
	})
	t.Run("expired", func(t *testing.T) {
		c := e.client(t)
		cb := c.startOIDC(0, "")
		clk.Advance(e.srv.Config.Flows.TTL.D() + time.Second)
		want(t, c.finish(cb, 2, ""), 40023, "")
	})
	t.Run("another provider", func(t *testing.T) {
		c := e.client(t)
		cb := c.startOIDC(0, "")
		want(t, c.finish(cb, 1, ""), 40023, "another provider")
		// The attempt used the session up.
		want(t, c.finish(cb, 2, ""), 40023, "")
		cb = c.startOIDC(0, "")
		want(t, c.finishPartner(cb, ""), 40023, "another provider")
	})
	t.Run("another browser", func(t *testing.T) {
		c := e.client(t)
		cb := c.startOIDC(0, "")
		want(t, e.client(t).finish(cb, 2, ""), 40023, "another browser")
		// The session is gone for the right browser too: one attempt only.
		want(t, c.finish(cb, 2, ""), 40023, "")
	})
	// A browser-binding cookie that tether did not issue is no cookie:
	// prepare binds the flow to a secret of its own, so whoever chose
	// the planted value cannot finish the flow with it.
	t.Run("planted cookie", func(t *testing.T) {
		base, _ := url.Parse(e.srv.URL)
		planted := &http.Cookie{Name: httpx.BrowserCookie, Value: strings.Repeat("A", 43), Path: "/"}
		victim, attacker := e.client(t), e.client(t)
		victim.c.Jar.SetCookies(base, []*http.Cookie{planted})
		attacker.c.Jar.SetCookies(base, []*http.Cookie{planted})
		cb := victim.startOIDC(0, "")
		var issued string
		for _, ck := range victim.c.Jar.Cookies(base) {
			if ck.Name == httpx.BrowserCookie {
				issued = ck.Value
			}
		}
		if issued == planted.Value || issued == "" {
			t.Fatalf("prepare kept the planted cookie %q", issued)
		}
		want(t, attacker.finish(cb, 2, ""), 40023, "another browser")
	})
	t.Run("link finished by another account", func(t *testing.T) {
		c := e.client(t)
		_, frank := c.passwordAccount("frank@example.test")
		_, grace := c.passwordAccount("grace@example.test")
		cb := c.startOIDC(1, frank)
		want(t, c.finish(cb, 2, grace), 40023, "another account")
		if s := c.settings(frank); len(s.OpenID) != 0 {
			t.Errorf("frank got an identity: %+v", s.OpenID)
		}
	})
}

// TestEmailTaken: 40032 when a sign-in would create an account whose
// email (compared ignoring case) belongs to another account.
func TestEmailTaken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	owner := e.srv.CreateUser(t, strings.ToUpper(testpeer.Alice.Email), "alice-local-password", false)
	c := e.client(t)
	want(t, c.finish(c.startOIDC(0, ""), 2, ""), 40032, "")
	ids, err := e.srv.App.Service.Identities(context.Background(), owner.ID)
	if err != nil || len(ids) != 0 {
		t.Errorf("the owner's identities after 40032: %v %v", ids, err)
	}
}

// TestAlreadyLinked: 40066 when the account already has an identity of
// the provider, at prepare and, for two links started together, at finish.
func TestAlreadyLinked(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.client(t)
	_, bearer := c.passwordAccount("heidi@example.test")
	first := c.startOIDC(0, bearer)
	second := c.startOIDC(1, bearer)
	ok(t, c.finish(first, 2, bearer), nil)
	want(t, c.finish(second, 2, bearer), 40066, "")
	want(t, c.call("PUT", openid, map[string]any{"provider": 2, "linking": true}, bearer), 40066, "")
	// Another provider of the same kind is another provider.
	ok(t, c.finishPartner(c.startPartner(1, bearer), bearer), nil)
	if s := c.settings(bearer); len(s.OpenID) != 2 {
		t.Errorf("open_id %+v, want corp and partner", s.OpenID)
	}
}

// TestLinkedElsewhere: 40067 when the identity belongs to another account.
func TestLinkedElsewhere(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.client(t)
	alice := c.signIn(oidcUpstream, 0)
	_, bearer := c.passwordAccount("ivan@example.test")
	want(t, c.finish(c.startOIDC(0, bearer), 2, bearer), 40067, "")
	// Alice still signs in to her own account.
	if again := c.signIn(oidcUpstream, 0); again.User.ID != alice.User.ID {
		t.Errorf("alice signed in to %s, want %s", again.User.ID, alice.User.ID)
	}
}

// TestNotLinked: 40068 for an unknown identity when the provider does not
// create accounts, through the Cloudreve code and through provider_key;
// once linked, the identity signs in.
func TestNotLinked(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{configure: func(c *config.Config) { c.Providers[0].DirectSignIn = false }})
	c := e.client(t)
	want(t, c.finish(c.startOIDC(0, ""), 2, ""), 40068, "")
	want(t, c.finishPartner(c.startPartner(0, ""), ""), 40068, "")

	judy, bearer := c.passwordAccount("judy@example.test")
	ok(t, c.finishPartner(c.startPartner(0, bearer), bearer), nil)
	var l tethertest.Login
	ok(t, c.finishPartner(c.startPartner(0, ""), ""), &l)
	if l.User.ID != judy.ID {
		t.Errorf("the linked identity signed in to %s, want judy (%s)", l.User.ID, judy.ID)
	}
	// Unlinking by string id; then there is nothing to unlink.
	ok(t, c.call("DELETE", openid+"/partner", nil, bearer), nil)
	want(t, c.call("DELETE", openid+"/partner", nil, bearer), 40068, "")
	want(t, c.call("DELETE", openid+"/2", nil, bearer), 40068, "")
	want(t, c.call("DELETE", openid+"/1", nil, bearer), 40068, "")
}

// TestUnlink: the Cloudreve integer unlinks the identity of the provider
// that integer names (the first enabled of its kind) even when the account
// linked another provider of that kind first; a passwordless account keeps
// its last identity (40084).
func TestUnlink(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.client(t)
	_, bearer := c.passwordAccount("ken@example.test")
	ok(t, c.finishPartner(c.startPartner(0, bearer), bearer), nil)
	ok(t, c.finish(c.startOIDC(1, bearer), 2, bearer), nil)
	ok(t, c.call("DELETE", openid+"/2", nil, bearer), nil)
	if s := c.settings(bearer); len(s.OpenID) != 1 || s.OpenID[0].ProviderKey != "partner" {
		t.Errorf("after DELETE /2: open_id %+v, want partner left", s.OpenID)
	}

	// A passwordless account with two identities may drop one, not both.
	l := c.signIn(qqUpstream, 0)
	ok(t, c.finish(c.startOIDC(1, l.Token.AccessToken), 2, l.Token.AccessToken), nil)
	ok(t, c.call("DELETE", openid+"/1", nil, l.Token.AccessToken), nil)
	want(t, c.call("DELETE", openid+"/corp", nil, l.Token.AccessToken), 40084, "")
	want(t, c.call("DELETE", openid+"/2", nil, l.Token.AccessToken), 40084, "")
	if s := c.settings(l.Token.AccessToken); len(s.OpenID) != 1 || s.OpenID[0].Provider != 2 {
		t.Errorf("open_id %+v, want the OIDC identity left", s.OpenID)
	}
}

// TestBannedAndInactive: 40017 and 40018 for accounts an admin banned or
// deactivated (core.Service.UpdateUser, as `tether user set` does): at
// upstream sign-in, with the tokens they still hold, and when linking.
func TestBannedAndInactive(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.client(t)
	l := c.signIn(oidcUpstream, 0)
	for _, tc := range []struct {
		status core.Status
		code   int
	}{{core.StatusManualBanned, 40017}, {core.StatusSysBanned, 40017}, {core.StatusInactive, 40018}} {
		t.Run(string(tc.status), func(t *testing.T) {
			c := e.client(t)
			setStatus(t, e, l.User.ID, tc.status)
			defer setStatus(t, e, l.User.ID, core.StatusActive)
			want(t, c.finish(c.startOIDC(0, ""), 2, ""), tc.code, "")
			want(t, c.call("GET", "/api/v4/user/setting", nil, l.Token.AccessToken), tc.code, "")
			want(t, c.call("DELETE", openid+"/2", nil, l.Token.AccessToken), tc.code, "")
			want(t, c.call("PUT", openid, map[string]any{"provider_key": "partner", "linking": true}, l.Token.AccessToken), tc.code, "")
			// The change revoked the account's refresh tokens.
			want(t, c.call("POST", "/api/v4/session/token/refresh", map[string]string{"refresh_token": l.Token.RefreshToken}, ""), 40020, "")
		})
	}
	// Active again: the identity signs in.
	if again := c.signIn(oidcUpstream, 0); again.User.ID != l.User.ID {
		t.Errorf("signed in to %s, want %s", again.User.ID, l.User.ID)
	}
}

func setStatus(t *testing.T, e *env, id string, s core.Status) {
	t.Helper()
	if _, err := e.srv.App.Service.UpdateUser(context.Background(), id, func(u *core.User) error { u.Status = s; return nil }, core.AdminCLI); err != nil {
		t.Fatal(err)
	}
}

// TestRateLimited: 429 once an address has used its requests for the
// minute, on every limited route (sign-in, sign-up, the session routes,
// prepare); other routes still answer.
func TestRateLimited(t *testing.T) {
	t.Parallel()
	const perMinute = 3
	e := newEnv(t, envOptions{configure: func(c *config.Config) {
		c.RateLimit.Enabled, c.RateLimit.PerIPPerMinute = true, perMinute
	}})
	c := e.client(t)
	for range perMinute {
		c.prepare(map[string]any{"provider": 2}, "")
	}
	for _, r := range []struct {
		method, path string
		body         any
	}{
		{"PUT", openid, map[string]any{"provider": 2}},
		{"POST", openid, map[string]any{"code": "c", "session_id": uuid.NewString(), "provider_id": 2}},
		{"POST", "/api/v4/session/token", map[string]any{"email": "a@example.test", "password": "whatever1"}},
		{"POST", "/api/v4/user", map[string]any{"email": "new@example.test", "password": "long-enough"}},
		{"POST", "/api/v4/session/token/refresh", map[string]any{"refresh_token": "unknown"}},
		{"DELETE", "/api/v4/session/token", map[string]any{"refresh_token": "unknown"}},
		{"GET", "/api/v4/session/prepare?email=a@example.test", nil},
	} {
		want(t, c.call(r.method, r.path, r.body, ""), 429, "")
		if s, err := strconv.Atoi(c.header.Get("Retry-After")); err != nil || s < 1 {
			t.Errorf("%s %s: Retry-After %q", r.method, r.path, c.header.Get("Retry-After"))
		}
	}
	ok(t, c.call("GET", "/api/v4/site/config/login", nil, ""), nil)
	want(t, c.callInvalid("GET", "/api/v4/user/setting", nil, ""), 401, "")
}

// TestAccountLockout: after the free wrong passwords, an email's
// password sign-in is refused for a lock-out that doubles with each
// further failure; the right password during a lock-out is refused too,
// and a success after it starts the count again. An email that no
// account has gets exactly the same answers, so the limit tells nothing
// about which accounts exist.
func TestAccountLockout(t *testing.T) {
	t.Parallel()
	clock := testclock.New(time.Now())
	e := newEnv(t, envOptions{now: clock.Now, configure: func(c *config.Config) {
		c.RateLimit.Enabled, c.RateLimit.PerIPPerMinute = true, 1000
		c.RateLimit.PerAccountFailures = 3
	}})
	c := e.client(t)
	c.passwordAccount("known@example.test")
	answers := func(email string) []string {
		var out []string
		attempt := func(password string) {
			env := c.call("POST", "/api/v4/session/token", map[string]string{"email": email, "password": password}, "")
			out = append(out, fmt.Sprintf("%d %q", env.Code, c.header.Get("Retry-After")))
		}
		for range 3 {
			attempt("wrong-password")
		}
		attempt("password-" + email) // locked out, right password or not
		clock.Advance(time.Minute)
		attempt("wrong-password")
		attempt("wrong-password") // locked out for twice as long
		clock.Advance(2 * time.Minute)
		return out
	}
	expected := []string{`40069 ""`, `40069 ""`, `40069 ""`, `429 "60"`, `40069 ""`, `429 "120"`}
	for _, email := range []string{"known@example.test", "unknown@example.test"} {
		if got := answers(email); !slices.Equal(got, expected) {
			t.Errorf("%s: answers %q, want %q", email, got, expected)
		}
	}
	// After the lock-out the right password signs in.
	ok(t, c.call("POST", "/api/v4/session/token", map[string]string{"email": "known@example.test", "password": "password-known@example.test"}, ""), nil)
	// The email is compared as the core compares it.
	for range 3 {
		want(t, c.call("POST", "/api/v4/session/token", map[string]string{"email": "Other@Example.test", "password": "wrong-password"}, ""), 40069, "")
	}
	env := c.call("POST", "/api/v4/session/token", map[string]string{"email": " other@example.TEST", "password": "wrong-password"}, "")
	want(t, env, 429, "Too many failed sign-in attempts, try again in 60s")
}

// TestDebug: with debug on, failures carry the internal error text.
func TestDebug(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{debug: true})
	c := e.client(t)
	env := c.finish(callback{code: "c", state: uuid.NewString()}, 2, "")
	want(t, env, 40023, "")
	if !strings.Contains(env.Error, string(core.CodeFlowNotFound)) {
		t.Errorf("error %q, want the internal error", env.Error)
	}
	env = c.callInvalid("PUT", openid, map[string]any{"provider": "x"}, "")
	want(t, env, 40001, "Provider must be a number")
}

// TestJSONEscapesMarkup: every answer is written with <, > and & escaped
// (\u003c, \u003e, \u0026), so that a body shown as HTML runs nothing;
// the authorize URL decodes to the same string.
func TestJSONEscapesMarkup(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.client(t)
	env := c.call("PUT", openid, map[string]any{"provider": 2}, "")
	var authURL string
	ok(t, env, &authURL)
	if !strings.Contains(authURL, "&state=") {
		t.Fatalf("authorize URL %q has no &state=", authURL)
	}
	if bytes.ContainsAny(env.Raw, "<>&") || !bytes.Contains(env.Raw, []byte(`\u0026state=`)) {
		t.Errorf("body %s: & not written as \\u0026", env.Raw)
	}
}

// TestOAuthPermission: an account whose oauth permission was revoked
// neither links nor unlinks through the Cloudreve API (403, Cloudreve's
// code for a missing permission), whether the link started before or
// after; it still signs in.
func TestOAuthPermission(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.client(t)
	u, bearer := c.passwordAccount("oscar@example.test")
	ok(t, c.finishPartner(c.startPartner(0, bearer), bearer), nil) // linked while allowed
	started := c.startOIDC(0, bearer)
	if _, err := e.srv.App.Service.UpdateUser(t.Context(), u.ID, func(x *core.User) error { x.Permissions = nil; return nil }, core.AdminCLI); err != nil {
		t.Fatal(err)
	}
	want(t, c.finish(started, 2, bearer), 403, "Missing permissions")
	want(t, c.call("PUT", openid, map[string]any{"provider": 2, "linking": true}, bearer), 403, "Missing permissions")
	want(t, c.call("DELETE", openid+"/partner", nil, bearer), 403, "Missing permissions")
	if s := c.settings(bearer); len(s.OpenID) != 1 {
		t.Errorf("open_id %+v, want the partner identity still there", s.OpenID)
	}
	var l tethertest.Login
	ok(t, c.finishPartner(c.startPartner(0, ""), ""), &l) // the identity signs in
	if l.User.ID != u.ID {
		t.Errorf("signed in to %s, want %s", l.User.ID, u.ID)
	}
}
