package oidc_test

import (
	"errors"
	"log/slog"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tether-id/tether/provider"
	"github.com/tether-id/tether/provider/oidc"
	"github.com/tether-id/tether/testkit/testclock"
	"github.com/tether-id/tether/testkit/testenv"
)

func newCraftedProvider(t *testing.T, op *craftedOP, c *testclock.Clock, tweak ...func(*oidc.Config)) *oidc.Provider {
	t.Helper()
	cfg := oidc.Config{
		ID: "crafted", Issuer: op.issuer, ClientID: craftedClient, ClientSecret: craftedSecret,
		Now: c.Now, HTTPClient: op.srv.Client(),
	}
	for _, f := range tweak {
		f(&cfg)
	}
	p, err := oidc.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// exchange runs one Exchange whose ID token is signed with key under kid.
func exchange(t *testing.T, p *oidc.Provider, op *craftedOP, key any, kid string) error {
	t.Helper()
	req := newAuthRequest("https://rp.example/callback")
	token := sign(t, jose.RS256, key, kid, op.claims(req.Nonce))
	op.set(func(op *craftedOP) { op.idToken = token })
	_, err := p.Exchange(t.Context(), req, provider.Callback{Code: "c", Iss: op.issuer})
	return err
}

func wantReason(t *testing.T, err error, reason string) {
	t.Helper()
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Reason != reason {
		t.Fatalf("error %v, want reason %s", err, reason)
	}
}

func TestKeyRotation(t *testing.T) {
	t.Parallel()
	k := testKeys()
	c := newClock()
	op := newCraftedOP(t, c)
	p := newCraftedProvider(t, op, c)

	if err := exchange(t, p, op, k.rsa.key, k.rsa.kid); err != nil {
		t.Fatal(err)
	}
	// The OP rotates to a new key after tether cached the old JWKS.
	op.set(func(op *craftedOP) { op.keys = []jose.JSONWebKey{k.rsa2.public()} })
	if err := exchange(t, p, op, k.rsa2.key, k.rsa2.kid); err != nil {
		t.Fatalf("token with the rotated-in key: %v", err)
	}
	if n := op.hitCount("jwks"); n != 2 {
		t.Errorf("JWKS fetched %d times, want 2 (cache, then one refetch on the new kid)", n)
	}
	// The retired key is gone from the refreshed set.
	wantReason(t, exchange(t, p, op, k.rsa.key, k.rsa.kid), "unknown_key")
}

func TestKeyRefetchRateLimit(t *testing.T) {
	t.Parallel()
	k := testKeys()
	c := newClock()
	op := newCraftedOP(t, c)
	p := newCraftedProvider(t, op, c)

	if err := exchange(t, p, op, k.rsa.key, k.rsa.kid); err != nil {
		t.Fatal(err)
	}
	wantReason(t, exchange(t, p, op, k.rsa2.key, "ghost"), "unknown_key")
	if n := op.hitCount("jwks"); n != 2 {
		t.Fatalf("JWKS fetched %d times, want 2 (one refetch for the unknown kid)", n)
	}
	// The key appears now, but another refetch so soon is refused.
	op.set(func(op *craftedOP) {
		op.keys = append(op.keys, signingKey{"ghost", k.rsa2.key}.public())
	})
	for range 3 {
		wantReason(t, exchange(t, p, op, k.rsa2.key, "ghost"), "unknown_key")
	}
	if n := op.hitCount("jwks"); n != 2 {
		t.Fatalf("JWKS fetched %d times within the refetch interval, want still 2", n)
	}
	c.Advance(oidc.KeyRefetchInterval)
	if err := exchange(t, p, op, k.rsa2.key, "ghost"); err != nil {
		t.Fatalf("after the refetch interval: %v", err)
	}
	if n := op.hitCount("jwks"); n != 3 {
		t.Errorf("JWKS fetched %d times, want 3", n)
	}
}

func authEndpoint(t *testing.T, p *oidc.Provider) string {
	t.Helper()
	raw, err := p.AuthURL(t.Context(), newAuthRequest("https://rp.example/callback"))
	if err != nil {
		t.Fatalf("AuthURL: %v", err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Path
}

// TestDiscoveryCache: fresh copies are used as is, stale ones are served
// while one background fetch replaces them, and a failed refresh keeps the
// stale copy and is retried only after a pause.
func TestDiscoveryCache(t *testing.T) {
	t.Parallel()
	c := newClock()
	op := newCraftedOP(t, c)
	var logs testenv.SyncBuffer
	p := newCraftedProvider(t, op, c, func(cfg *oidc.Config) {
		cfg.DiscoveryTTL = 10 * time.Minute
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	if n := op.hitCount("discovery"); n != 0 {
		t.Fatalf("New fetched discovery %d times; it must be lazy", n)
	}

	step := func(advance time.Duration, wantPath string, wantHits int) {
		t.Helper()
		c.Advance(advance)
		if got := authEndpoint(t, p); got != wantPath {
			t.Errorf("authorization endpoint %s, want %s", got, wantPath)
		}
		oidc.WaitBackground(p)
		if n := op.hitCount("discovery"); n != wantHits {
			t.Errorf("discovery fetched %d times, want %d", n, wantHits)
		}
	}
	step(0, "/auth", 1)
	op.set(func(op *craftedOP) { op.discovery["authorization_endpoint"] = op.issuer + "/auth-v2" })
	step(5*time.Minute, "/auth", 1)    // fresh
	step(6*time.Minute, "/auth", 2)    // stale: served, refreshed behind
	step(0, "/auth-v2", 2)             // the refreshed copy
	step(9*time.Minute, "/auth-v2", 2) // fresh again
	op.set(func(op *craftedOP) { op.discovery["issuer"] = "https://evil.example" })
	step(2*time.Minute, "/auth-v2", 3) // stale, refresh fails: keep the copy
	step(time.Second, "/auth-v2", 3)   // failure remembered: no new fetch
	step(5*time.Second, "/auth-v2", 4) // retried
	if !strings.Contains(logs.String(), "background refresh failed") {
		t.Errorf("failed refresh not logged; log:\n%s", logs.String())
	}
}

// TestDiscoveryFailureRemembered: without any copy, a failure is returned
// to every caller for a few seconds before the OP is asked again.
func TestDiscoveryFailureRemembered(t *testing.T) {
	t.Parallel()
	c := newClock()
	op := newCraftedOP(t, c)
	op.set(func(op *craftedOP) { op.discovery["issuer"] = op.issuer + "/" })
	p := newCraftedProvider(t, op, c)
	for range 3 {
		_, err := p.AuthURL(t.Context(), newAuthRequest("https://rp.example/callback"))
		wantReason(t, err, "discovery_issuer_mismatch")
	}
	if n := op.hitCount("discovery"); n != 1 {
		t.Errorf("discovery fetched %d times, want 1", n)
	}
	op.set(func(op *craftedOP) { op.discovery["issuer"] = op.issuer })
	c.Advance(6 * time.Second)
	if got := authEndpoint(t, p); got != "/auth" {
		t.Errorf("after the pause: endpoint %s", got)
	}
}

// TestDiscoveryFetchesMerged: callers arriving while discovery is being
// fetched wait for that one fetch.
func TestDiscoveryFetchesMerged(t *testing.T) {
	t.Parallel()
	c := newClock()
	op := newCraftedOP(t, c)
	gate := make(chan struct{})
	op.set(func(op *craftedOP) { op.discoveryGate = gate })
	p := newCraftedProvider(t, op, c)

	const callers = 8
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			_, err := p.AuthURL(t.Context(), newAuthRequest("https://rp.example/callback"))
			errs <- err
		})
	}
	for oidc.DiscoveryWaiters(p) < callers { // all of them are blocked on the fetch
		runtime.Gosched()
	}
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := op.hitCount("discovery"); n != 1 {
		t.Errorf("%d concurrent callers made %d discovery fetches, want 1", callers, n)
	}
}

func TestEndSessionURL(t *testing.T) {
	t.Parallel()
	c := newClock()
	op := newCraftedOP(t, c)
	p := newCraftedProvider(t, op, c)
	got, err := p.EndSessionURL(t.Context(), provider.EndSessionRequest{IDTokenHint: "a.b.c", PostLogoutRedirectURI: "https://rp.example/bye?x=1"})
	want := op.issuer + "/logout?client_id=" + url.QueryEscape(craftedClient) + "&id_token_hint=a.b.c&post_logout_redirect_uri=" + url.QueryEscape("https://rp.example/bye?x=1")
	if err != nil || got != want {
		t.Errorf("EndSessionURL = %q, %v; want %s", got, err, want)
	}
	got, err = p.EndSessionURL(t.Context(), provider.EndSessionRequest{})
	if want := op.issuer + "/logout?client_id=" + url.QueryEscape(craftedClient); err != nil || got != want {
		t.Errorf("EndSessionURL without hint = %q, %v; want %s", got, err, want)
	}

	op2 := newCraftedOP(t, c)
	op2.set(func(op *craftedOP) { delete(op.discovery, "end_session_endpoint") })
	got, err = newCraftedProvider(t, op2, c).EndSessionURL(t.Context(), provider.EndSessionRequest{IDTokenHint: "a.b.c"})
	if err != nil || got != "" {
		t.Errorf("EndSessionURL without one = %q, %v; want empty", got, err)
	}
}
