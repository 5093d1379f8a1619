package op_test

import (
	"testing"
	"time"

	"github.com/tether-id/tether/api"
	"github.com/tether-id/tether/config"
	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/testkit/rp"
	"github.com/tether-id/tether/testkit/testclock"
	"github.com/tether-id/tether/testkit/testpeer"
	"github.com/tether-id/tether/testkit/tethertest"
)

// TestRecheckOnAppRefresh: an app's refresh re-checks the upstream
// account behind the sign-in that authorized it, as tether's own
// refreshes do: once the grant is revoked at the provider, the app's
// refresh fails with invalid_grant and its session is dead.
func TestRecheckOnAppRefresh(t *testing.T) {
	t.Parallel()
	clk := testclock.Running() // panva keeps real time; tether's runs ahead
	var logto *testpeer.OP
	e := newEnv(t, withClock(clk), func(o *tethertest.Options) {
		o.Providers = func(publicURL string) []config.Provider {
			logto = testpeer.Panva(t, testpeer.PanvaOptions{Logto: true, RedirectURIs: []string{publicURL + api.CallbackPath("logto", config.KindLogto, true)}})
			p := config.Provider{ID: "logto", Kind: config.KindLogto, Name: "Logto", Enabled: true, DirectSignIn: true,
				Issuer: logto.Issuer, ClientID: logto.ClientID, ClientSecret: logto.ClientSecret, RecheckEvery: config.Duration(time.Hour)}
			return []config.Provider{p}
		}
	})
	b := e.Browser(t)
	cfg := e.rpConfig(firstParty, b, tethertest.Upstream(t, "logto", logto, testpeer.Alice))
	cfg.Now = clk.Now
	c := rp.New(t, cfg)
	tok := rp.MustLogin(t, c, nil)

	ctx := t.Context()
	st := e.App.Store
	rt, err := st.GetRefreshToken(ctx, core.Hash(tok.RefreshToken))
	if err != nil {
		t.Fatal(err)
	}
	app, err := st.GetSession(ctx, rt.ChainID)
	if err != nil || app.Parent == "" || app.Identity.ProviderID != "logto" {
		t.Fatalf("the app's session %+v (%v) names no parent session or identity", app, err)
	}
	parent, err := st.GetSession(ctx, app.Parent)
	if err != nil {
		t.Fatal(err)
	}
	upstream, err := e.App.Service.UpstreamTokens(parent)
	if err != nil || upstream.RefreshToken == "" {
		t.Fatalf("the sign-in kept no upstream refresh token: %+v %v", upstream, err)
	}

	// After recheck_every the app's refresh re-checks, and the provider
	// still vouches: the parent's CheckedAt moves.
	clk.Advance(2 * time.Hour)
	tok = rp.MustRefresh(t, c, tok)
	if p, _ := st.GetSession(ctx, app.Parent); !p.CheckedAt.After(parent.CheckedAt) {
		t.Errorf("the app's refresh did not re-check: CheckedAt %v", p.CheckedAt)
	}
	// The provider revokes the grant; the next due refresh fails.
	parent, _ = st.GetSession(ctx, app.Parent)
	upstream, err = e.App.Service.UpstreamTokens(parent)
	if err != nil {
		t.Fatal(err)
	}
	logto.Revoke(t, upstream.RefreshToken)
	clk.Advance(2 * time.Hour)
	if _, err := c.Refresh(ctx, tok); rp.ErrorCode(err) != "invalid_grant" {
		t.Fatalf("refresh after the upstream grant was revoked: %v, want invalid_grant", err)
	}
	if _, err := c.UserInfo(ctx, tok); rp.ErrorCode(err) != "invalid_token" {
		t.Errorf("userinfo after the upstream grant was revoked: %v", err)
	}
}
