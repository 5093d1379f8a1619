package oidc

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tether-id/tether/provider"
)

// keyRefetchInterval is the least time between two JWKS fetches caused by
// an unknown kid: enough for a key rotation to be picked up at once, while
// tokens naming random kids cannot turn tether into a load generator
// against the OP.
const keyRefetchInterval = 10 * time.Second

// keySet is the usable part of the OP's JWKS: public signing keys of types
// tether can verify. Other entries (encryption keys, symmetric keys, kinds
// go-jose does not know) are skipped rather than failing the whole set.
type keySet struct {
	keys    []jose.JSONWebKey
	skipped int
}

// fetchKeys fetches the JWKS named by the (cached) discovery document.
func (p *Provider) fetchKeys(ctx context.Context) (*keySet, error) {
	d, err := p.disco.get(ctx)
	if err != nil {
		return nil, err
	}
	return p.fetchKeysFrom(ctx, d.JWKSURI)
}

func (p *Provider) fetchKeysFrom(ctx context.Context, jwksURI string) (*keySet, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	ctx = provider.WithEndpoint(ctx, provider.EndpointJWKS)
	if err := p.getJSON(ctx, "jwks", jwksURI, "", &doc); err != nil {
		return nil, err
	}
	if doc.Keys == nil {
		return nil, provider.Errorf("jwks", "the provider's JWKS has no keys member")
	}
	set := &keySet{}
	for _, raw := range doc.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil || !k.Valid() || (k.Use != "" && k.Use != "sig") {
			set.skipped++
			continue
		}
		// A JWKS should hold public keys only; if an OP leaks a private
		// one, use its public half. Symmetric keys have none and are
		// dropped: HMAC is only ever keyed with the client secret.
		k = k.Public()
		if k.Key == nil {
			set.skipped++
			continue
		}
		set.keys = append(set.keys, k)
	}
	return set, nil
}

// match returns the keys that may have signed a token with kid and alg.
// Without a kid every key of the right type is a candidate, so an OP with
// a single key need not name it.
func (s *keySet) match(kid, alg string) []jose.JSONWebKey {
	var out []jose.JSONWebKey
	for _, k := range s.keys {
		if kid != "" && k.KeyID != kid {
			continue
		}
		if k.Algorithm != "" && k.Algorithm != alg {
			continue
		}
		if keyFits(k.Key, alg) {
			out = append(out, k)
		}
	}
	return out
}

// keyFits reports whether a public key can verify signatures made with alg.
func keyFits(key any, alg string) bool {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return k.Curve == elliptic.P256()
		case "ES384":
			return k.Curve == elliptic.P384()
		case "ES512":
			return k.Curve == elliptic.P521()
		}
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

// verificationKeys returns the keys to try on a token signed with alg,
// naming kid. HMAC tokens are keyed with the client secret (the caller has
// checked the allow-list). An unknown kid makes one JWKS refetch, at most
// every keyRefetchInterval, to pick up a key rotation.
func (p *Provider) verificationKeys(ctx context.Context, kid, alg string) ([]any, error) {
	if isHMAC(alg) {
		return []any{[]byte(p.cfg.ClientSecret)}, nil
	}
	set, err := p.keys.get(ctx)
	if err != nil {
		return nil, err
	}
	keys := set.match(kid, alg)
	if len(keys) == 0 {
		if !p.refetch.AllowN(p.cfg.Now(), 1) {
			return nil, provider.Errorf("unknown_key", "the ID token names key %q (%s), which the provider's JWKS does not have (JWKS refetched less than %s ago)", kid, alg, keyRefetchInterval)
		}
		if set, err = p.keys.refresh(ctx); err != nil {
			return nil, err
		}
		keys = set.match(kid, alg)
	}
	if len(keys) == 0 {
		return nil, provider.Errorf("unknown_key", "the ID token names key %q (%s), which the provider's JWKS does not have", kid, alg)
	}
	out := make([]any, len(keys))
	for i, k := range keys {
		out[i] = k.Key
	}
	return out, nil
}
