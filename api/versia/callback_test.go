package versia_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tether-id/tether/api/httpx"
	"github.com/tether-id/tether/config"
	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/testkit/testpeer"
	"github.com/tether-id/tether/testkit/tethertest"
)

// opEnv starts a tether whose one provider, "peer", is the OP that start
// returns, registered with tether's Versia callback.
func opEnv(t *testing.T, start func(t *testing.T, redirectURI string) *testpeer.OP) (*env, *testpeer.OP) {
	t.Helper()
	var op *testpeer.OP
	e := newEnv(t, envOptions{providers: func(publicURL string) []config.Provider {
		op = start(t, publicURL+"/oauth/sso/peer/callback")
		p := fromOP("peer", "Peer", op)
		p.Icon = "https://cdn.example.test/peer.svg"
		return []config.Provider{p}
	}})
	return e, op
}

func zitadel(t *testing.T, redirectURI string) *testpeer.OP { return testpeer.Zitadel(t, redirectURI) }

func panva(t *testing.T, redirectURI string) *testpeer.OP {
	return testpeer.Panva(t, testpeer.PanvaOptions{RedirectURIs: []string{redirectURI}})
}

func TestLinkThroughZitadel(t *testing.T) {
	e, op := opEnv(t, zitadel)
	linkUnlink(t, e, op)
}

func TestLinkThroughPanva(t *testing.T) {
	e, op := opEnv(t, panva)
	linkUnlink(t, e, op)

	t.Run("cancelled at the provider", func(t *testing.T) {
		e.CreateUser(t, "cancel@example.test", password, false)
		browser := e.Client(t)
		token := browser.SignIn("cancel@example.test", password).Token.AccessToken
		cb := cancelAtPanva(t, e.startLink(browser, token, "peer"), e.URL)
		if cb.Query().Get("error") != "access_denied" {
			t.Fatalf("panva's answer to a cancelled login: %s", cb)
		}
		o := e.follow(browser, cb.String())
		if o.Error != "Access denied" || !strings.HasPrefix(o.ErrorMessage, "The provider did not sign you in (access_denied") {
			t.Fatalf("cancelled: %+v", o)
		}
		wantError(t, e.Do(browser, call{method: "GET", path: "/api/v1/sso", bearer: token}), http.StatusOK, `[]`)
	})
}

// linkUnlink is the whole story through a real OP: sign in locally with a
// password, ask for a link, sign in at the OP in the browser, come back
// through the callback with the browser's cookie, then list, get, unlink.
func linkUnlink(t *testing.T, e *env, op *testpeer.OP) {
	t.Helper()
	e.CreateUser(t, "linker@example.test", password, false)
	browser := e.Client(t)
	login := browser.SignIn("linker@example.test", password)
	token := login.Token.AccessToken

	link := e.startLink(browser, token, "peer")
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if !strings.HasPrefix(link, strings.TrimSuffix(op.Issuer, "/")) || q.Get("client_id") != op.ClientID ||
		q.Get("redirect_uri") != e.URL+"/oauth/sso/peer/callback" || q.Get("response_type") != "code" ||
		q.Get("code_challenge_method") != "S256" || q.Get("nonce") == "" || !strings.Contains(q.Get("scope"), "openid") {
		t.Fatalf("link %s", link)
	}
	if _, err := uuid.Parse(q.Get("state")); err != nil {
		t.Fatalf("state %q is not a UUID: %v", q.Get("state"), err)
	}
	if !hasBrowserCookie(browser, e.URL) {
		t.Fatal("POST /api/v1/sso set no browser-binding cookie")
	}

	cb := op.Browser(t).Login(link, testpeer.Alice)
	if !strings.HasPrefix(cb.String(), e.URL+"/oauth/sso/peer/callback?") || cb.Query().Get("code") == "" {
		t.Fatalf("the OP redirected to %s", cb)
	}
	if o := e.follow(browser, cb.String()); !o.Linked {
		t.Fatalf("link failed: %+v", o)
	}
	id, err := e.App.Store.GetIdentity(context.Background(), core.IdentityKey{ProviderID: "peer", Issuer: op.Issuer, Subject: testpeer.Alice.Subject})
	if err != nil || id.UserID != login.User.ID {
		t.Fatalf("identity after link: %+v, %v", id, err)
	}

	peer := `{"id":"peer","name":"Peer","icon":"https://cdn.example.test/peer.svg"}`
	wantError(t, e.Do(browser, call{method: "GET", path: "/api/v1/sso", bearer: token}), http.StatusOK, "["+peer+"]")
	wantError(t, e.Do(browser, call{method: "GET", path: "/api/v1/sso/peer", bearer: token}), http.StatusOK, peer)

	// The flow was used up: the same callback again is refused.
	if o := e.follow(browser, cb.String()); o.Error != "Linking session invalid" {
		t.Fatalf("replayed callback: %+v", o)
	}

	r := e.Do(browser, call{method: "DELETE", path: "/api/v1/sso/peer", bearer: token})
	if r.StatusCode != http.StatusNoContent || len(r.Body) != 0 {
		t.Fatalf("DELETE: HTTP %d %q, want 204 and no body", r.StatusCode, r.Body)
	}
	wantError(t, e.Do(browser, call{method: "GET", path: "/api/v1/sso", bearer: token}), http.StatusOK, `[]`)
	wantError(t, e.Do(browser, call{method: "GET", path: "/api/v1/sso/peer", bearer: token}), http.StatusNotFound, notLinked)
}

// TestLinkFailures drives failing links through the zitadel OP. The steps
// run in order: later ones rely on who linked what before.
func TestLinkFailures(t *testing.T) {
	e, op := opEnv(t, zitadel)
	ctx := context.Background()
	signIn := func(email string) (*tethertest.Client, string, string) {
		e.CreateUser(t, email, password, false)
		b := e.Client(t)
		l := b.SignIn(email, password)
		return b, l.Token.AccessToken, l.User.ID
	}
	want := func(t *testing.T, o outcome, title, message string) {
		t.Helper()
		if o.Error != title || o.ErrorMessage != message {
			t.Fatalf("got %q / %q, want %q / %q", o.Error, o.ErrorMessage, title, message)
		}
	}
	carol, carolToken, _ := signIn("carol@example.test")

	t.Run("provider already linked", func(t *testing.T) {
		// Two links started together; the first one wins.
		first := e.startLink(carol, carolToken, "peer")
		second := e.startLink(carol, carolToken, "peer")
		if o := e.follow(carol, op.Browser(t).Login(first, testpeer.Alice).String()); !o.Linked {
			t.Fatalf("first link: %+v", o)
		}
		want(t, e.follow(carol, op.Browser(t).Login(second, testpeer.Bob).String()),
			"Provider already linked", "An identity of this provider is already linked; unlink it first")
		// Asking again now is refused before the OP is involved.
		r := e.Do(carol, call{method: "POST", path: "/api/v1/sso", bearer: carolToken, body: map[string]string{"issuer": "peer"}})
		wantError(t, r, http.StatusConflict, `{"error":"An identity of this provider is already linked; unlink it first"}`)
	})

	t.Run("identity linked to another account", func(t *testing.T) {
		dave, daveToken, _ := signIn("dave@example.test")
		o := e.follow(dave, op.Browser(t).Login(e.startLink(dave, daveToken, "peer"), testpeer.Alice).String())
		want(t, o, "Account already linked", "This identity is already linked to another account")
		id, err := e.App.Store.GetIdentity(ctx, core.IdentityKey{ProviderID: "peer", Issuer: op.Issuer, Subject: testpeer.Alice.Subject})
		if err != nil || id.UserID == "" {
			t.Fatal(err)
		}
		if owner, _ := e.App.Store.GetUserByEmail(ctx, "carol@example.test"); id.UserID != owner.ID {
			t.Fatalf("Alice moved to %s", id.UserID)
		}
	})

	erin, erinToken, erinID := signIn("erin@example.test")
	t.Run("another browser", func(t *testing.T) {
		cb := op.Browser(t).Login(e.startLink(erin, erinToken, "peer"), testpeer.Bob)
		want(t, e.follow(e.Client(t), cb.String()), "Linking session invalid", "This sign-in was started in another browser")
		// The attempt used the flow up: the right browser is too late now.
		want(t, e.follow(erin, cb.String()), "Linking session invalid", "Sign-in session not found, expired or already used")
	})

	t.Run("expired flow", func(t *testing.T) {
		link := e.startLink(erin, erinToken, "peer")
		e.clock.Advance(10*time.Minute + time.Second) // flows.ttl is 10m
		cb := op.Browser(t).Login(link, testpeer.Bob)
		want(t, e.follow(erin, cb.String()), "Linking session invalid", "Sign-in session not found, expired or already used")
	})

	t.Run("error from the provider", func(t *testing.T) {
		// What an OP sends when the person refuses: the flow's state,
		// error=access_denied and, per RFC 9207, its issuer.
		state := mustQuery(t, e.startLink(erin, erinToken, "peer")).Get("state")
		q := url.Values{"state": {state}, "error": {"access_denied"}, "error_description": {"the user said no"}, "iss": {op.Issuer}}
		want(t, e.follow(erin, "/oauth/sso/peer/callback?"+q.Encode()), "Access denied", "The provider did not sign you in (access_denied: the user said no)")
	})

	t.Run("callback from another issuer", func(t *testing.T) {
		state := mustQuery(t, e.startLink(erin, erinToken, "peer")).Get("state")
		q := url.Values{"state": {state}, "code": {"c"}, "iss": {"https://evil.example.test"}}
		o := e.follow(erin, "/oauth/sso/peer/callback?"+q.Encode())
		if o.Error != "Provider error" || !strings.Contains(o.ErrorMessage, "https://evil.example.test") {
			t.Fatalf("mix-up: %+v", o)
		}
	})

	t.Run("sign-in flow", func(t *testing.T) {
		// A Cloudreve sign-in started in this browser, its state sent to
		// the Versia callback: refused without signing anyone in.
		browser := e.Client(t)
		env := browser.Cloudreve("PUT", "/api/v4/session/openid", map[string]any{"provider": 2, "provider_key": "peer"}, "")
		var authURL string
		if env.Code != 0 {
			t.Fatalf("Cloudreve prepare: %s", env)
		}
		env.Decode(t, &authURL)
		before, _ := e.App.Store.ListUsers(ctx)
		q := url.Values{"state": {mustQuery(t, authURL).Get("state")}, "code": {"c"}, "iss": {op.Issuer}}
		want(t, e.follow(browser, "/oauth/sso/peer/callback?"+q.Encode()), "Linking session invalid", "This sign-in session cannot be finished here")
		after, _ := e.App.Store.ListUsers(ctx)
		if len(after) != len(before) {
			t.Fatalf("%d accounts before, %d after", len(before), len(after))
		}
	})

	// The failures that reached a flow were recorded for its account:
	// another browser, the provider's error, the mix-up (an expired or
	// used-up flow is gone before it can be tied to anyone).
	events, err := e.App.Service.Events(ctx, core.EventQuery{UserID: erinID, Kinds: []core.EventKind{core.EventLinkFailed}})
	if err != nil || len(events) != 3 {
		t.Fatalf("link_failed events of erin: %d, %v", len(events), err)
	}
	wantError(t, e.Do(erin, call{method: "GET", path: "/api/v1/sso", bearer: erinToken}), http.StatusOK, `[]`)
}

func mustQuery(t testing.TB, rawURL string) url.Values {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

func hasBrowserCookie(c *tethertest.Client, base string) bool {
	u, _ := url.Parse(base)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == httpx.BrowserCookie && len(ck.Value) >= 32 {
			return true
		}
	}
	return false
}

var abortLink = regexp.MustCompile(`href="([^"]*/abort)"`)

// cancelAtPanva opens authURL in a fresh browser and, instead of signing
// in, follows the login page's cancel link; it returns the OP's redirect
// back to the relying party at rpBase.
func cancelAtPanva(t *testing.T, authURL, rpBase string) *url.URL {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	next := authURL
	for range 10 {
		resp, err := c.Get(next)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(loc.String(), rpBase) {
				return loc
			}
			next = loc.String()
		case resp.StatusCode == http.StatusOK:
			m := abortLink.FindSubmatch(body)
			if m == nil {
				t.Fatalf("no cancel link on %s:\n%s", resp.Request.URL, body)
			}
			abort, err := resp.Request.URL.Parse(string(m[1]))
			if err != nil {
				t.Fatal(err)
			}
			next = abort.String()
		default:
			t.Fatalf("%s: HTTP %d\n%s", next, resp.StatusCode, body)
		}
	}
	t.Fatal("panva did not redirect back after the cancel")
	return nil
}
