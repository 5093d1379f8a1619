package cloudreve_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/tether-id/tether/testkit/testpeer"
	"github.com/tether-id/tether/testkit/tethertest"
)

// What a Cloudreve client does, step by step (the seed and SPEC §4):
// PUT /session/openid, send the browser to the URL, let the provider
// redirect to the callback page, which posts code, state and the provider
// code from its path to POST /session/openid.

// prepare asks for a sign-in or link and returns the authorize URL.
func (c *client) prepare(body map[string]any, bearer string) *url.URL {
	c.t.Helper()
	var s string
	ok(c.t, c.call("PUT", "/api/v4/session/openid", body, bearer), &s)
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() {
		c.t.Fatalf("authorize URL %q: %v", s, err)
	}
	return u
}

// callback is what the provider sent to tether's callback page.
type callback struct{ code, state, iss string }

// callback checks that the provider sent the browser back to tether's
// callback page at path, with a code, and returns its parameters.
func (e *env) callback(t testing.TB, back *url.URL, path string) callback {
	t.Helper()
	if back.Scheme+"://"+back.Host != e.srv.URL || back.Path != path {
		t.Fatalf("provider redirected to %s, want %s%s", back, e.srv.URL, path)
	}
	q := back.Query()
	if q.Get("error") != "" || q.Get("code") == "" {
		t.Fatalf("provider redirected without a code: %s", back)
	}
	return callback{code: q.Get("code"), state: q.Get("state"), iss: q.Get("iss")}
}

// finish posts what Cloudreve's callback page posts.
func (c *client) finish(cb callback, provider int, bearer string) tethertest.Envelope {
	c.t.Helper()
	return c.call("POST", "/api/v4/session/openid", map[string]any{
		"code": cb.code, "session_id": cb.state, "provider_id": provider,
	}, bearer)
}

// settings is GET /user/setting's data.
type settings struct {
	OpenID []struct {
		Provider    int       `json:"provider"`
		LinkedAt    time.Time `json:"linked_at"`
		ProviderKey string    `json:"provider_key"`
	} `json:"open_id"`
	Passwordless  bool `json:"passwordless"`
	LoginActivity []struct {
		CreatedAt      time.Time `json:"created_at"`
		IP             string    `json:"ip"`
		Browser        string    `json:"browser"`
		Device         string    `json:"device"`
		OS             string    `json:"os"`
		LoginWith      string    `json:"login_with"`
		OpenIDProvider int       `json:"open_id_provider"`
		Success        bool      `json:"success"`
	} `json:"login_activity"`
}

func (c *client) settings(bearer string) settings {
	c.t.Helper()
	var s settings
	ok(c.t, c.call("GET", "/api/v4/user/setting", nil, bearer), &s)
	return s
}

// prepareLogin is GET /session/prepare's data.
type prepareLogin struct {
	PasswordEnabled bool `json:"password_enabled"`
	WebAuthnEnabled bool `json:"webauthn_enabled"`
	SSOEnabled      bool `json:"sso_enabled"`
	QQEnabled       bool `json:"qq_enabled"`
	OIDCEnabled     bool `json:"oidc_enabled"`
}

func (c *client) prepareLogin(email string) prepareLogin {
	c.t.Helper()
	var p prepareLogin
	ok(c.t, c.call("GET", "/api/v4/session/prepare?email="+url.QueryEscape(email), nil, ""), &p)
	return p
}

// upstream is one provider kind as a Cloudreve client meets it.
type upstream struct {
	name string
	code int    // Cloudreve's provider integer
	path string // the callback page's path
	// login signs account n (0 or 1) in at the provider, starting at
	// authURL, and returns where the provider sends the browser back.
	login func(t *testing.T, e *env, authURL *url.URL, n int) *url.URL
	// email is the email tether should give account n's new account;
	// "" means the placeholder (QQ has no email).
	email func(n int) string
	// picture is account n's picture URL, "" if it has none.
	picture func(e *env, n int) string
	// logto is the panva OP in Logto mode.
	logto bool
}

var (
	oidcUpstream = upstream{
		name: "oidc", code: 2, path: "/callback/openid/2",
		login: func(t *testing.T, e *env, authURL *url.URL, n int) *url.URL {
			return e.zitadel.Login(t, authURL.String(), []testpeer.User{testpeer.Alice, testpeer.Bob}[n])
		},
		email:   func(n int) string { return []testpeer.User{testpeer.Alice, testpeer.Bob}[n].Email },
		picture: func(*env, int) string { return "" }, // the zitadel example OP has none
	}
	logtoUpstream = upstream{
		name: "logto", code: 0, path: "/callback/openid/0", logto: true,
		login: func(t *testing.T, e *env, authURL *url.URL, n int) *url.URL {
			return e.logto.Login(t, authURL.String(), []testpeer.User{testpeer.Alice, testpeer.Bob}[n])
		},
		email:   func(n int) string { return []testpeer.User{testpeer.Alice, testpeer.Bob}[n].Email },
		picture: func(_ *env, n int) string { return []testpeer.User{testpeer.Alice, testpeer.Bob}[n].Picture },
	}
	qqUpstream = upstream{
		name: "qq", code: 1, path: "/login/qq",
		login: func(t *testing.T, e *env, authURL *url.URL, n int) *url.URL {
			t.Helper()
			e.qq.SignInAs(e.qqUsers[n])
			back, err := e.qq.Authorize(authURL.String())
			if err != nil {
				t.Fatal(err)
			}
			return back
		},
		email:   func(int) string { return "" },
		picture: func(e *env, n int) string { return e.qqUsers[n].FigureQQ2 },
	}
)

// signIn does the whole sequence for account n and returns the session.
func (c *client) signIn(u upstream, n int) tethertest.Login {
	c.t.Helper()
	t := c.t
	authURL := c.prepare(map[string]any{"provider": u.code}, "")
	cb := c.e.callback(t, u.login(t, c.e, authURL, n), u.path)
	var l tethertest.Login
	ok(t, c.finish(cb, u.code, ""), &l)
	return l
}
