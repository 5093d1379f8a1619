package core_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/internal/password"
	"github.com/tether-id/tether/provider"
)

// refreshing is a scripted provider that also re-checks accounts: answer
// says what the next re-checks find. The protocol side (invalid_grant,
// 401, timeouts) is tested in provider/oidc and provider/qq, and against
// panva's OP in api/cloudreve; here only what the core does with each
// outcome matters.
type refreshing struct {
	*scripted
	mu     sync.Mutex
	answer func(prev provider.Identity) (provider.Identity, error)
	calls  []provider.Identity
}

func (p *refreshing) Refresh(ctx context.Context, prev provider.Identity) (provider.Identity, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, prev)
	return p.answer(prev)
}

func (p *refreshing) set(answer func(prev provider.Identity) (provider.Identity, error)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.answer = answer
}

func (p *refreshing) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.calls)
}

// newRecheckEnv is newEnv with one provider, "corp", that re-checks
// every hour.
func newRecheckEnv(t *testing.T) (*env, *refreshing) {
	t.Helper()
	e := newStoreEnv(t)
	st := e.store
	up := &refreshing{scripted: newScripted("https://corp.idp.test")}
	up.set(func(prev provider.Identity) (provider.Identity, error) { return prev, nil })
	e.up["corp"] = up.scripted
	var err error
	e.svc, err = core.New(core.Options{
		Store: st,
		Providers: []core.Provider{{ID: "corp", Kind: provider.KindOIDC, Name: "Corp", Enabled: true, DirectSignIn: true,
			RecheckEvery: time.Hour, Upstream: up}},
		Secret: bytes.Repeat([]byte("k"), 32), EncryptionKey: bytes.Repeat([]byte{1}, 32),
		AccessTTL: time.Hour, RefreshTTL: 24 * time.Hour, FlowTTL: 10 * time.Minute,
		BindBrowser: true, PasswordSignUp: true,
		Password: password.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		Now:      e.clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	return e, up
}

func (e *env) session(t *testing.T, refresh string) core.Session {
	t.Helper()
	rt, err := e.store.GetRefreshToken(context.Background(), core.Hash(refresh))
	if err != nil {
		t.Fatal(err)
	}
	ses, err := e.store.GetSession(context.Background(), rt.ChainID)
	if err != nil {
		t.Fatal(err)
	}
	return ses
}

func TestRecheck(t *testing.T) {
	ctx := context.Background()
	c := core.Client{IP: "192.0.2.1", UserAgent: "test"}
	signIn := func(t *testing.T, e *env) (core.FinishResult, string) {
		t.Helper()
		res, err := e.signIn(t, "corp", provider.Identity{Subject: "ada", Email: "ada@example.com", Name: "Ada",
			Tokens: provider.Tokens{AccessToken: "at-1", RefreshToken: "rt-1", IDToken: "id-1"}})
		if err != nil {
			t.Fatal(err)
		}
		return res, res.Tokens.RefreshToken
	}

	t.Run("not due: no upstream call", func(t *testing.T) {
		e, up := newRecheckEnv(t)
		_, refresh := signIn(t, e)
		e.advance(59 * time.Minute)
		if _, err := e.svc.Refresh(ctx, refresh, c); err != nil {
			t.Fatal(err)
		}
		if up.count() != 0 {
			t.Errorf("%d re-checks before recheck_every", up.count())
		}
	})

	t.Run("vouched: new tokens, CheckedAt and profile commit with the rotation", func(t *testing.T) {
		e, up := newRecheckEnv(t)
		res, refresh := signIn(t, e)
		up.set(func(prev provider.Identity) (provider.Identity, error) {
			if prev.Tokens.RefreshToken != "rt-1" || prev.Subject != "ada" || prev.Name != "Ada" {
				t.Errorf("the provider was handed %+v", prev)
			}
			prev.Name, prev.Tokens = "Ada Lovelace", provider.Tokens{AccessToken: "at-2", RefreshToken: "rt-2", IDToken: "id-2"}
			return prev, nil
		})
		e.advance(time.Hour)
		pair, err := e.svc.Refresh(ctx, refresh, c)
		if err != nil {
			t.Fatal(err)
		}
		ses := e.session(t, pair.RefreshToken)
		if !ses.CheckedAt.Equal(e.clock()) {
			t.Errorf("CheckedAt = %v, want %v", ses.CheckedAt, e.clock())
		}
		if tok, err := e.svc.UpstreamTokens(ses); err != nil || tok.RefreshToken != "rt-2" || tok.IDToken != "id-2" {
			t.Errorf("upstream tokens = %+v, %v", tok, err)
		}
		id, err := e.store.GetIdentity(ctx, res.Identity.IdentityKey)
		if err != nil || id.Name != "Ada Lovelace" || !id.LastSignInAt.Equal(res.Identity.LastSignInAt) || !id.LinkedAt.Equal(res.Identity.LinkedAt) {
			t.Errorf("identity = %+v, %v", id, err)
		}
		// Checked: the next refresh within the hour does not ask again.
		e.advance(time.Minute)
		if _, err := e.svc.Refresh(ctx, pair.RefreshToken, c); err != nil || up.count() != 1 {
			t.Errorf("refresh after the check: %v, %d re-checks", err, up.count())
		}
	})

	t.Run("revoked: the refresh fails, the chain is dead, the event is recorded", func(t *testing.T) {
		e, up := newRecheckEnv(t)
		res, refresh := signIn(t, e)
		up.set(func(provider.Identity) (provider.Identity, error) {
			return provider.Identity{}, &provider.Error{Reason: "refresh", Message: "invalid_grant", Revoked: true}
		})
		e.advance(2 * time.Hour)
		_, err := e.svc.Refresh(ctx, refresh, c)
		if !errors.Is(err, core.ErrUpstreamRevoked) || core.ErrorCode(err) != core.CodeInvalidCredential {
			t.Fatalf("refresh = %v, want ErrUpstreamRevoked", err)
		}
		if ses := e.session(t, refresh); ses.RevokedAt.IsZero() {
			t.Error("the session is not revoked")
		}
		up.set(func(prev provider.Identity) (provider.Identity, error) { return prev, nil })
		if _, err := e.svc.Refresh(ctx, refresh, c); !errors.Is(err, core.ErrInvalidToken) {
			t.Errorf("refresh of the dead chain = %v, want ErrInvalidToken", err)
		}
		if up.count() != 1 {
			t.Errorf("%d re-checks, want 1: a dead chain is not re-checked", up.count())
		}
		events, err := e.store.ListEvents(ctx, core.EventQuery{UserID: res.User.ID, Kinds: []core.EventKind{core.EventUpstreamRevoked}})
		if err != nil || len(events) != 1 || events[0].ProviderID != "corp" || events[0].IP != c.IP {
			t.Errorf("events = %+v, %v", events, err)
		}
	})

	for _, tc := range []struct {
		name string
		err  error
	}{
		{"unavailable", &provider.Error{Reason: "token_exchange", Message: "down", Unavailable: true}},
		{"timed out", context.DeadlineExceeded},
		{"not checkable", provider.Errorf("no_credentials", "no refresh token")},
	} {
		t.Run(tc.name+": the session goes on and the next refresh asks again", func(t *testing.T) {
			e, up := newRecheckEnv(t)
			_, refresh := signIn(t, e)
			up.set(func(provider.Identity) (provider.Identity, error) { return provider.Identity{}, tc.err })
			e.advance(2 * time.Hour)
			pair, err := e.svc.Refresh(ctx, refresh, c)
			if err != nil {
				t.Fatalf("refresh with the provider %s: %v", tc.name, err)
			}
			signedIn := e.clock().Add(-2 * time.Hour)
			if ses := e.session(t, pair.RefreshToken); !ses.CheckedAt.Equal(signedIn) || !ses.RevokedAt.IsZero() {
				t.Errorf("session = %+v; CheckedAt must stay %v", ses, signedIn)
			}
			up.set(func(prev provider.Identity) (provider.Identity, error) { return prev, nil })
			pair, err = e.svc.Refresh(ctx, pair.RefreshToken, c)
			if err != nil || up.count() != 2 {
				t.Fatalf("next refresh: %v after %d re-checks", err, up.count())
			}
			if ses := e.session(t, pair.RefreshToken); !ses.CheckedAt.Equal(e.clock()) {
				t.Errorf("CheckedAt = %v after the provider came back", ses.CheckedAt)
			}
		})
	}

	t.Run("password sessions and replays are never re-checked", func(t *testing.T) {
		e, up := newRecheckEnv(t)
		e.passwordUser(t, "bob@example.com", true)
		_, pair, err := e.svc.SignIn(ctx, "bob@example.com", "password123", c)
		if err != nil {
			t.Fatal(err)
		}
		_, refresh := signIn(t, e)
		e.advance(2 * time.Hour)
		if _, err := e.svc.Refresh(ctx, pair.RefreshToken, c); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Refresh(ctx, refresh, c); err != nil || up.count() != 1 {
			t.Fatalf("refresh: %v, %d re-checks", err, up.count())
		}
		if _, err := e.svc.Refresh(ctx, refresh, c); !errors.Is(err, core.ErrTokenReused) || up.count() != 1 {
			t.Errorf("replay: %v, %d re-checks", err, up.count())
		}
	})

	t.Run("an unlinked identity is not re-checked", func(t *testing.T) {
		e, up := newRecheckEnv(t)
		res, refresh := signIn(t, e)
		if _, err := e.store.UnlinkIdentity(ctx, res.User.ID, "corp", func(core.User, []core.Identity) error { return nil }); err != nil {
			t.Fatal(err)
		}
		e.advance(2 * time.Hour)
		if _, err := e.svc.Refresh(ctx, refresh, c); err != nil || up.count() != 0 {
			t.Errorf("refresh: %v, %d re-checks", err, up.count())
		}
	})
}
