package oidc_test

import (
	"testing"

	"github.com/tether-id/tether/provider"
	"github.com/tether-id/tether/provider/oidc"
	"github.com/tether-id/tether/testkit/testpeer"
)

// BenchmarkExchange measures Exchange (code redemption, ID token
// verification with a cached JWKS, userinfo) against the in-process
// zitadel OP. Each code comes from a real login, done off the clock.
func BenchmarkExchange(b *testing.B) {
	op := testpeer.Zitadel(b)
	p, err := oidc.New(oidc.Config{Issuer: op.Issuer, ClientID: op.ClientID, ClientSecret: op.ClientSecret})
	if err != nil {
		b.Fatal(err)
	}
	login := func() (provider.AuthRequest, provider.Callback) {
		req := newAuthRequest(op.RedirectURI())
		authURL, err := p.AuthURL(b.Context(), req)
		if err != nil {
			b.Fatal(err)
		}
		_, cb, err := provider.ParseCallback(op.Login(b, authURL, testpeer.Alice).Query())
		if err != nil {
			b.Fatal(err)
		}
		return req, cb
	}
	// Warm the discovery and JWKS caches.
	req, cb := login()
	if _, err := p.Exchange(b.Context(), req, cb); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		req, cb := login()
		b.StartTimer()
		if _, err := p.Exchange(b.Context(), req, cb); err != nil {
			b.Fatal(err)
		}
	}
}
