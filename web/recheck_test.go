package web_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/tether-id/tether/config"
	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/testkit/testpeer"
)

// TestSessionRecheck: the pages' session refreshes itself when its
// access token expires, and that refresh re-checks the upstream account
// once providers[].recheck_every has passed: while Logto (panva) still
// vouches for it the browser stays signed in; once the grant is revoked
// there, the browser lands on the sign-in page saying the session ended.
func TestSessionRecheck(t *testing.T) {
	e := startEnv(t, envOptions{panva: true, configure: func(c *config.Config) {
		c.Provider("logto").RecheckEvery = config.Duration(time.Hour)
	}})
	u := e.user(t)
	cb := upstream(t, e.panva, u.startProvider("logto", false), testpeer.Alice)
	if p := u.get(cb); p.status != http.StatusSeeOther || p.loc != "/account" {
		t.Fatalf("sign-in: %d %s\n%s", p.status, p.loc, p.body)
	}

	e.clock.Advance(2 * time.Hour) // the access cookie's token expired; a check is due
	if p := u.get("/account"); p.status != http.StatusOK {
		t.Fatalf("account page after a good re-check: %d %s", p.status, p.loc)
	}

	// Revoke the grant at the provider, with the tokens the session keeps.
	ses := sessionOf(t, e, u)
	tokens, err := e.svc().UpstreamTokens(ses)
	if err != nil {
		t.Fatal(err)
	}
	e.panva.Revoke(t, tokens.RefreshToken)
	e.clock.Advance(2 * time.Hour)
	p := u.get("/account")
	if p.status != http.StatusSeeOther || p.loc != "/login?expired=1" {
		t.Fatalf("account page after the grant was revoked: %d %s", p.status, p.loc)
	}
	if after, err := e.srv.App.Store.GetSession(ctx(t), ses.ID); err != nil || after.RevokedAt.IsZero() {
		t.Errorf("session after the revocation: %+v, %v", after, err)
	}
}

// sessionOf is the session of u's refresh cookie.
func sessionOf(t *testing.T, e *env, u *user) core.Session {
	t.Helper()
	base, _ := url.Parse(e.srv.URL)
	for _, c := range u.c.Jar.Cookies(base) {
		if c.Name == "tether_refresh" {
			ses, err := e.svc().SessionOf(ctx(t), c.Value)
			if err != nil {
				t.Fatal(err)
			}
			return ses
		}
	}
	t.Fatal("no refresh cookie")
	return core.Session{}
}
