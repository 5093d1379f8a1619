package core_test

import (
	"context"
	"testing"

	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/provider"
)

// TestLinkFlowBinding: a link flow is finished by the browser that
// started it, or with the linking account's own credentials, whatever
// flows.bind_browser says; never by a stranger's browser, which would put
// the stranger's upstream account on the starter's account.
func TestLinkFlowBinding(t *testing.T) {
	for _, bind := range []bool{true, false} {
		e := newEnv(t, func(o *core.Options) { o.BindBrowser = bind })
		starter := e.passwordUser(t, "starter@example.com", false)
		finish := func(browserSecret, userID string) error {
			state := e.prepare(t, core.PrepareRequest{ProviderID: "logto", Purpose: core.PurposeLink, UserID: starter.ID})
			id := provider.Identity{Subject: "victim-" + state}
			_, err := e.svc.Finish(context.Background(), core.FinishRequest{
				FlowID: state, ProviderID: "logto", BrowserSecret: browserSecret, UserID: userID,
				Callback: provider.Callback{Code: e.up["logto"].code(id)},
			})
			return err
		}
		// A victim's browser, signed out or without the cookie.
		wantCode(t, finish("", ""), core.CodeFlowNotFound)
		wantCode(t, finish("victim-browser-secret-0123456789abcdef", ""), core.CodeFlowNotFound)
		// The starter's browser.
		if err := finish(browser, ""); err != nil {
			t.Fatalf("bind_browser=%v: the starting browser: %v", bind, err)
		}
		if err := e.svc.Unlink(context.Background(), starter.ID, "logto", core.Client{}); err != nil {
			t.Fatal(err)
		}
		// The starter's own credentials, from another browser: allowed
		// only where flows are not bound to browsers (native apps).
		err := finish("", starter.ID)
		if bind {
			wantCode(t, err, core.CodeFlowNotFound)
		} else if err != nil {
			t.Fatalf("bind_browser=false: the linking account's credentials: %v", err)
		}
	}
}

// TestOAuthPermission: without the oauth permission an account neither
// links nor unlinks, on any surface (the core refuses), and still signs
// in.
func TestOAuthPermission(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u := e.passwordUser(t, "noauth@example.com", true)
	if err := e.link(t, u.ID, "logto", provider.Identity{Subject: "p1"}); err != nil {
		t.Fatal(err)
	}
	// A link started before the permission went.
	state := e.prepare(t, core.PrepareRequest{ProviderID: "corp", Purpose: core.PurposeLink, UserID: u.ID})
	if _, err := e.svc.UpdateUser(ctx, u.ID, func(x *core.User) error { x.Permissions = nil; return nil }, core.AdminCLI); err != nil {
		t.Fatal(err)
	}
	_, err := e.finish(state, "corp", e.up["corp"].code(provider.Identity{Subject: "p2"}), u.ID)
	wantCode(t, err, core.CodeForbidden)
	_, err = e.svc.Prepare(ctx, core.PrepareRequest{ProviderID: "corp", Purpose: core.PurposeLink, UserID: u.ID, BrowserSecret: browser, RedirectURI: "https://tether.test/cb"})
	wantCode(t, err, core.CodeForbidden)
	wantCode(t, e.svc.Unlink(ctx, u.ID, "logto", core.Client{}), core.CodeForbidden)
	if _, err := e.signIn(t, "logto", provider.Identity{Subject: "p1"}); err != nil {
		t.Fatalf("sign-in without the oauth permission: %v", err)
	}
}

// TestOneWrite: every request writes at most once; a returning person's
// sign-in whose profile did not change writes once, not once per row.
func TestOneWrite(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := provider.Identity{Subject: "w1", Email: "w1@example.com", EmailVerified: true, Name: "W"}
	if _, err := e.signIn(t, "logto", id); err != nil { // creates the account
		t.Fatal(err)
	}
	writes := func(what string, want int64, f func()) {
		t.Helper()
		before := e.store.WriteTransactions()
		f()
		if got := e.store.WriteTransactions() - before; got != want {
			t.Errorf("%s: %d write transactions, want %d", what, got, want)
		}
	}
	var state string
	writes("prepare", 1, func() { state = e.prepare(t, core.PrepareRequest{ProviderID: "logto", Purpose: core.PurposeSignIn}) })
	var res core.FinishResult
	writes("finish of a returning person", 1, func() {
		var err error
		if res, err = e.finish(state, "logto", e.up["logto"].code(id), ""); err != nil {
			t.Fatal(err)
		}
	})
	state2 := e.prepare(t, core.PrepareRequest{ProviderID: "logto", Purpose: core.PurposeSignIn})
	writes("finish of a new person", 1, func() {
		if _, err := e.finish(state2, "logto", e.up["logto"].code(provider.Identity{Subject: "w2"}), ""); err != nil {
			t.Fatal(err)
		}
	})
	writes("refresh", 1, func() {
		if _, err := e.svc.Refresh(ctx, res.Tokens.RefreshToken, core.Client{IP: "192.0.2.1"}); err != nil {
			t.Fatal(err)
		}
	})
	writes("refresh of a made-up token", 0, func() { _, _ = e.svc.Refresh(ctx, "made-up", core.Client{}) })
	writes("sign-out of a made-up token", 0, func() { _ = e.svc.SignOut(ctx, "made-up", core.Client{}) })
	writes("failed finish (replay)", 0, func() { _, _ = e.finish(state, "logto", "x", "") })
	state3 := e.prepare(t, core.PrepareRequest{ProviderID: "logto", Purpose: core.PurposeSignIn})
	// A failure writes once too: the flow is used up, with its event.
	writes("failed finish (upstream rejects)", 1, func() { _, _ = e.finish(state3, "logto", "no-such-code", "") })
	stored, err := e.store.GetIdentity(ctx, res.Identity.IdentityKey)
	if err != nil || !stored.LastSignInAt.Equal(res.Identity.LastSignInAt) {
		t.Errorf("the returning sign-in did not move LastSignInAt: %+v %v", stored, err)
	}
}

// TestUnverifiedUpstreamEmail: an account made from an upstream identity
// whose email the provider did not verify keeps that email, unverified,
// and blocks nobody: the address's owner can still sign up with it, and
// is the one found by email.
func TestUnverifiedUpstreamEmail(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	squat, err := e.signIn(t, "logto", provider.Identity{Subject: "squatter", Email: "owner@example.com", EmailVerified: false})
	if err != nil {
		t.Fatal(err)
	}
	if squat.User.Email != "owner@example.com" || squat.User.EmailVerified {
		t.Fatalf("account from an unverified upstream email: %+v", squat.User)
	}
	owner, err := e.svc.SignUp(ctx, core.NewUser{Email: "Owner@Example.com", Password: "password123"}, core.Client{})
	if err != nil {
		t.Fatalf("the owner's sign-up after an unverified upstream account took the address: %v", err)
	}
	found, err := e.svc.UserByEmail(ctx, "owner@example.com")
	if err != nil || found.ID != owner.ID {
		t.Fatalf("UserByEmail = %s (%v), want the owner %s", found.ID, err, owner.ID)
	}
	// Now that the address has an owner, another unverified upstream
	// account cannot take it (SPEC §3.2: 40032).
	_, err = e.signIn(t, "logto", provider.Identity{Subject: "squatter2", Email: "owner@example.com"})
	wantCode(t, err, core.CodeEmailTaken)
}
