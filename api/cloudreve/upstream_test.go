package cloudreve_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tether-id/tether/config"
	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/testkit/testclock"
	"github.com/tether-id/tether/testkit/testpeer"
	"github.com/tether-id/tether/testkit/tethertest"
)

// signOut is DELETE /session/token; it returns the sign-out URL of the
// provider, "" when the answer has no data.
func (c *client) signOut(refresh string) string {
	c.t.Helper()
	env := c.call("DELETE", "/api/v4/session/token", map[string]string{"refresh_token": refresh}, "")
	if env.Code != 0 {
		c.t.Fatalf("sign-out: %s", env.Raw)
	}
	if len(env.Data) == 0 {
		if got := string(bytes.TrimSpace(env.Raw)); got != `{"code":0,"msg":""}` {
			c.t.Errorf("sign-out without data answered %s", got)
		}
		return ""
	}
	var u string
	env.Decode(c.t, &u)
	return u
}

// logtoSignIn signs Alice in through panva (as Logto) in browser b, so
// that the OP's own session lives in b's cookies.
func (c *client) logtoSignIn(b *testpeer.Browser) tethertest.Login {
	c.t.Helper()
	authURL := c.prepare(map[string]any{"provider": logtoUpstream.code}, "")
	cb := c.e.callback(c.t, b.Login(authURL.String(), testpeer.Alice), logtoUpstream.path)
	var l tethertest.Login
	ok(c.t, c.finish(cb, logtoUpstream.code, ""), &l)
	return l
}

// TestSignOutAtProvider: a session that came from panva (as Logto, which
// advertises end_session_endpoint) signs out with data = the URL that
// ends the person's session at the OP too; following it ends that
// session (the next sign-in there asks for the password again) and comes
// back to the configured post_logout_redirect_uri. Sessions from QQ,
// which has no such endpoint, and password sessions answer no data.
func TestSignOutAtProvider(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{logto: true})
	c := e.client(t)

	// Without post_logout_redirect_uri configured the OP shows its own
	// page at the end.
	b := e.logto.Browser(t)
	l := c.logtoSignIn(b)
	bare := c.signOut(l.Token.RefreshToken)
	u, err := url.Parse(bare)
	if err != nil || u.Scheme+"://"+u.Host+u.Path != e.logto.Issuer+"/session/end" {
		t.Fatalf("sign-out data %q: want the OP's end_session_endpoint %s/session/end", bare, e.logto.Issuer)
	}
	q := u.Query()
	if q.Get("client_id") != e.logto.ClientID || strings.Count(q.Get("id_token_hint"), ".") != 2 || q.Has("post_logout_redirect_uri") {
		t.Errorf("sign-out URL parameters %v", q)
	}
	if end := b.Logout(bare); !strings.HasPrefix(end.String(), e.logto.Issuer) {
		t.Errorf("without post_logout_redirect_uri the OP ended at %s", end)
	}
	want(t, c.refresh(l.Token.RefreshToken), 40020, "")

	// With it (one panva registers): the OP comes back there.
	back := testpeer.DefaultPostLogoutRedirectURI
	e2 := newEnv(t, envOptions{logto: true, configure: func(c *config.Config) {
		c.Provider("logto").PostLogoutRedirectURI = back
	}})
	c2 := e2.client(t)
	b2 := e2.logto.Browser(t)
	l2 := c2.logtoSignIn(b2)
	signedIn := len(b2.Pages)
	data := c2.signOut(l2.Token.RefreshToken)
	if got, _ := url.Parse(data); got == nil || got.Query().Get("post_logout_redirect_uri") != back {
		t.Fatalf("sign-out data %q, want post_logout_redirect_uri=%s", data, back)
	}
	if end := b2.Logout(data); end.String() != back {
		t.Errorf("the OP sent the browser to %s after signing out, want %s", end, back)
	}
	// The OP's session is gone: signing in again shows its login page.
	c2.logtoSignIn(b2)
	asked := false
	for _, p := range b2.Pages[signedIn:] {
		asked = asked || strings.Contains(p.Body, `type="password"`)
	}
	if !asked {
		t.Error("after signing out at the OP, the next sign-in did not ask for the password")
	}

	// QQ has no end-session endpoint; password sessions have no provider.
	ql := c.signIn(qqUpstream, 0)
	if got := c.signOut(ql.Token.RefreshToken); got != "" {
		t.Errorf("QQ sign-out answered %q", got)
	}
	e.srv.CreateUser(t, "pat@example.test", "pat-password", false)
	var pl tethertest.Login
	ok(t, c.passwordSignIn("pat@example.test", "pat-password"), &pl)
	if got := c.signOut(pl.Token.RefreshToken); got != "" {
		t.Errorf("password sign-out answered %q", got)
	}
}

// flaky is a transport that can be made to fail as an unreachable
// provider does, for the whole app's calls upstream.
type flaky struct {
	down atomic.Bool
	base http.RoundTripper
}

func (f *flaky) RoundTrip(r *http.Request) (*http.Response, error) {
	if f.down.Load() {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	}
	return f.base.RoundTrip(r)
}

// TestRecheck: a Cloudreve refresh after providers[].recheck_every
// re-checks the upstream account at panva (as Logto, whose sign-ins
// carry a refresh token): a profile edited there arrives; an OP that
// cannot be reached signs nobody out and the next refresh checks again;
// a grant revoked there (its refresh token revoked at the revocation
// endpoint) makes the next refresh fail with 40020, kills the chain and
// leaves an upstream_revoked event.
func TestRecheck(t *testing.T) {
	t.Parallel()
	clk := testclock.Running() // panva keeps real time; tether's runs ahead
	net := &flaky{base: http.DefaultTransport}
	e := newEnv(t, envOptions{logto: true, now: clk.Now,
		httpClient: &http.Client{Transport: net, Timeout: 10 * time.Second},
		configure: func(c *config.Config) {
			c.Provider("logto").RecheckEvery = config.Duration(time.Hour)
		}})
	c := e.client(t)
	ctx := context.Background()
	st, svc := e.srv.App.Store, e.srv.App.Service
	session := func(refresh string) core.Session {
		t.Helper()
		rt, err := st.GetRefreshToken(ctx, core.Hash(refresh))
		if err != nil {
			t.Fatal(err)
		}
		ses, err := st.GetSession(ctx, rt.ChainID)
		if err != nil {
			t.Fatal(err)
		}
		return ses
	}

	l := c.logtoSignIn(e.logto.Browser(t))
	ses := session(l.Token.RefreshToken)
	tokens, err := svc.UpstreamTokens(ses)
	if err != nil || tokens.RefreshToken == "" {
		t.Fatalf("the sign-in kept no upstream refresh token: %+v, %v", tokens, err)
	}
	signedIn := ses.CheckedAt

	// Within recheck_every: no check.
	clk.Advance(30 * time.Minute)
	var p tethertest.Tokens
	ok(t, c.refresh(l.Token.RefreshToken), &p)
	if got := session(p.RefreshToken); !got.CheckedAt.Equal(signedIn) {
		t.Errorf("checked before recheck_every: CheckedAt %v", got.CheckedAt)
	}

	// The person renames themselves at the provider; the next check
	// brings the new name.
	e.logto.SetProfile(t, testpeer.Alice.Login, map[string]any{"name": "Alice Pleasance Liddell"})
	clk.Advance(time.Hour)
	ok(t, c.refresh(p.RefreshToken), &p)
	ses = session(p.RefreshToken)
	if ses.CheckedAt.Equal(signedIn) {
		t.Error("the refresh after recheck_every did not re-check")
	}
	id, err := st.GetIdentity(ctx, ses.Identity)
	if err != nil || id.Name != "Alice Pleasance Liddell" {
		t.Errorf("identity after the re-check: %+v, %v", id, err)
	}
	checked := ses.CheckedAt

	// The provider is unreachable: the refresh still works, CheckedAt
	// stays, and once it is back the next refresh checks.
	clk.Advance(2 * time.Hour)
	net.down.Store(true)
	ok(t, c.refresh(p.RefreshToken), &p)
	if got := session(p.RefreshToken); !got.CheckedAt.Equal(checked) || !got.RevokedAt.IsZero() {
		t.Errorf("after a failed check: CheckedAt %v (want %v), revoked %v", got.CheckedAt, checked, got.RevokedAt)
	}
	net.down.Store(false)
	ok(t, c.refresh(p.RefreshToken), &p)
	if got := session(p.RefreshToken); !got.CheckedAt.After(checked) {
		t.Errorf("the provider came back but CheckedAt stayed %v", got.CheckedAt)
	}

	// The grant is revoked at the provider.
	tokens, err = svc.UpstreamTokens(session(p.RefreshToken))
	if err != nil {
		t.Fatal(err)
	}
	e.logto.Revoke(t, tokens.RefreshToken)
	clk.Advance(2 * time.Hour)
	want(t, c.refresh(p.RefreshToken), 40020, "no longer accepts")
	if got := session(p.RefreshToken); got.RevokedAt.IsZero() {
		t.Error("the session is not revoked")
	}
	want(t, c.refresh(p.RefreshToken), 40020, "Invalid or expired")
	events, err := svc.Events(ctx, core.EventQuery{UserID: l.User.ID, Kinds: []core.EventKind{core.EventUpstreamRevoked}})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ev := range events {
		found = found || (ev.Kind == core.EventUpstreamRevoked && ev.ProviderID == "logto")
	}
	if !found {
		t.Errorf("no upstream_revoked event among %+v", events)
	}
}
