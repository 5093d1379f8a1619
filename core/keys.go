package core

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// SigningAlgs are the algorithms tether's OpenID Provider signs with. A
// current key of each is always published, so an app may choose any.
var SigningAlgs = []string{"RS256", "ES256", "EdDSA"}

// keyRefresh is how often an instance reloads the signing keys, to see
// what another instance rotated.
const keyRefresh = time.Minute

// keyring holds the signing keys every instance shares through the
// store, opened and ready to sign. Readers take the current state
// without a lock; loads and rotations take turns.
type keyring struct {
	mu    sync.Mutex
	state atomic.Pointer[keyState]
}

type keyState struct {
	loaded  time.Time
	current map[string]*liveKey // by alg: the key that signs
	byID    map[string]*liveKey // every published key
	jwks    []byte              // the JWKS document
}

// liveKey is a SigningKey opened: its private key and, per token type
// ("JWT", "at+jwt"), a ready go-jose signer.
type liveKey struct {
	SigningKey
	public  jose.JSONWebKey
	signers map[string]jose.Signer
}

// keys returns the signing keys, loading them when they are stale and
// making the first key of an algorithm that has none.
func (s *Service) keys(ctx context.Context) (*keyState, error) {
	now := s.now()
	if st := s.keyring.state.Load(); st != nil && now.Sub(st.loaded) < keyRefresh {
		return st, nil
	}
	s.keyring.mu.Lock()
	defer s.keyring.mu.Unlock()
	if st := s.keyring.state.Load(); st != nil && now.Sub(st.loaded) < keyRefresh {
		return st, nil
	}
	return s.loadKeys(ctx, false, false)
}

// loadKeys reads the keys from the store. The caller holds keyring.mu.
// It makes the first key of an algorithm that has none; with rotate,
// also a new key for every algorithm whose key is older than
// signing_keys.rotate_every, or for every algorithm when force.
func (s *Service) loadKeys(ctx context.Context, rotate, force bool) (*keyState, error) {
	for range 3 {
		now := s.now()
		stored, err := s.store.ListSigningKeys(ctx, now)
		if err != nil {
			return nil, internal(err)
		}
		st, err := s.openKeys(stored, now)
		if err != nil {
			return nil, err
		}
		changed := false
		for _, alg := range SigningAlgs {
			cur := st.current[alg]
			if cur != nil && !force && !(rotate && now.Sub(cur.CreatedAt) >= s.opts.KeyRotation) {
				continue
			}
			replaces := ""
			if cur != nil {
				replaces = cur.ID
			}
			next, err := s.newSigningKey(alg, now)
			if err != nil {
				return nil, err
			}
			// A retired key stays published while tokens it signed live.
			err = s.store.RotateSigningKey(ctx, next, replaces, now.Add(s.opts.AccessTTL+time.Minute))
			changed = true // by this instance, or by another one first
			if errors.Is(err, ErrKeyRotated) {
				continue
			}
			if err != nil {
				return nil, internal(err)
			}
			s.log.InfoContext(ctx, "signing key made", "kid", next.ID, "alg", alg, "replaces", replaces)
		}
		if !changed {
			s.keyring.state.Store(st)
			return st, nil
		}
		rotate, force = false, false // done: read what is there now
	}
	return nil, Errorf(CodeInternal, "signing keys keep changing")
}

// RotateKeys makes a new signing key for every algorithm whose key is
// older than signing_keys.rotate_every, or for every algorithm when
// force (`tether keys rotate`). Instances may run it at once: one of them
// rotates each key. It returns the keys then published.
func (s *Service) RotateKeys(ctx context.Context, force bool) ([]SigningKey, error) {
	s.keyring.mu.Lock()
	defer s.keyring.mu.Unlock()
	st, err := s.loadKeys(ctx, true, force)
	if err != nil {
		return nil, err
	}
	var out []SigningKey
	for _, k := range st.byID {
		out = append(out, k.SigningKey)
	}
	slices.SortFunc(out, func(a, b SigningKey) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out, nil
}

// openKeys opens the stored keys and builds the JWKS.
func (s *Service) openKeys(stored []SigningKey, now time.Time) (*keyState, error) {
	st := &keyState{loaded: now, current: map[string]*liveKey{}, byID: map[string]*liveKey{}}
	var set jose.JSONWebKeySet
	for _, k := range stored {
		der, err := s.box.Open(k.Private, keyAD(k.ID))
		if err != nil {
			return nil, Wrap(CodeInternal, err, "Cannot open a signing key (is encryption_key the one it was sealed with?)")
		}
		priv, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return nil, internal(err)
		}
		signer, ok := priv.(crypto.Signer)
		if !ok {
			return nil, Errorf(CodeInternal, "signing key %s is not a signer", k.ID)
		}
		lk := &liveKey{SigningKey: k, signers: map[string]jose.Signer{}}
		lk.public = jose.JSONWebKey{Key: signer.Public(), KeyID: k.ID, Algorithm: k.Alg, Use: "sig"}
		for _, typ := range []string{"JWT", "at+jwt"} {
			js, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(k.Alg), Key: jose.JSONWebKey{Key: signer, KeyID: k.ID}},
				(&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
			if err != nil {
				return nil, internal(err)
			}
			lk.signers[typ] = js
		}
		st.byID[k.ID] = lk
		if k.RetiredAt.IsZero() {
			st.current[k.Alg] = lk
		}
		set.Keys = append(set.Keys, lk.public)
	}
	var err error
	if st.jwks, err = json.Marshal(set); err != nil {
		return nil, internal(err)
	}
	return st, nil
}

// newSigningKey makes a key for alg, its private half sealed.
func (s *Service) newSigningKey(alg string, now time.Time) (SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case "RS256":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "EdDSA":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		return SigningKey{}, Errorf(CodeInternal, "unknown signing algorithm %q", alg)
	}
	if err != nil {
		return SigningKey{}, internal(err)
	}
	k := SigningKey{ID: randomToken(12), Alg: alg, CreatedAt: now}
	pub, err := json.Marshal(jose.JSONWebKey{Key: priv.Public(), KeyID: k.ID, Algorithm: alg, Use: "sig"})
	if err != nil {
		return SigningKey{}, internal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return SigningKey{}, internal(err)
	}
	if k.Private, err = s.box.Seal(der, keyAD(k.ID)); err != nil {
		return SigningKey{}, internal(err)
	}
	k.Public = pub
	return k, nil
}

// keyAD binds a sealed private key to its kid.
func keyAD(kid string) []byte { return []byte("tether signing key\x00" + kid) }

// JWKS returns the public keys as a JSON Web Key Set: the current key of
// each algorithm and the retired keys whose tokens may still be alive.
func (s *Service) JWKS(ctx context.Context) ([]byte, error) {
	st, err := s.keys(ctx)
	if err != nil {
		return nil, err
	}
	return st.jwks, nil
}

// sign signs claims as a compact JWS of type typ ("JWT" for ID tokens,
// "at+jwt" for access tokens) with the current key of alg.
func (s *Service) sign(ctx context.Context, alg, typ string, claims any) (string, error) {
	st, err := s.keys(ctx)
	if err != nil {
		return "", err
	}
	k := st.current[alg]
	if k == nil {
		return "", Errorf(CodeTokenSigning, "no %s signing key", alg)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", Wrap(CodeTokenSigning, err, "Cannot sign token")
	}
	jws, err := k.signers[typ].Sign(payload)
	if err != nil {
		return "", Wrap(CodeTokenSigning, err, "Cannot sign token")
	}
	return jws.CompactSerialize()
}

// verify checks a token tether signed: a known key, the expected type,
// and a valid signature; it returns the payload. A token signed with a key
// this instance has not loaded yet (another instance rotated) makes it
// reload the keys once.
func (s *Service) verify(ctx context.Context, token, typ string) ([]byte, error) {
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil || len(jws.Signatures) != 1 {
		return nil, ErrInvalidToken
	}
	h := jws.Signatures[0].Header
	if t, _ := h.ExtraHeaders[jose.HeaderType].(string); t != typ {
		return nil, ErrInvalidToken
	}
	st, err := s.keys(ctx)
	if err != nil {
		return nil, err
	}
	k := st.byID[h.KeyID]
	if k == nil && s.now().Sub(st.loaded) > 5*time.Second {
		// Perhaps another instance rotated; look once, but not for
		// every made-up kid.
		s.keyring.mu.Lock()
		st, err = s.loadKeys(ctx, false, false)
		s.keyring.mu.Unlock()
		if err != nil {
			return nil, err
		}
		k = st.byID[h.KeyID]
	}
	if k == nil {
		return nil, ErrInvalidToken
	}
	if h.Algorithm != k.Alg {
		return nil, ErrInvalidToken
	}
	payload, err := jws.Verify(k.public)
	if err != nil {
		return nil, ErrInvalidToken
	}
	return payload, nil
}

// String describes a signing key for logs and `tether keys list`.
func (k SigningKey) String() string {
	state := "current"
	if !k.RetiredAt.IsZero() {
		state = fmt.Sprintf("retired %s, published until %s", k.RetiredAt.Format(time.RFC3339), k.ExpiresAt.Format(time.RFC3339))
	}
	return fmt.Sprintf("%s %s made %s (%s)", k.ID, k.Alg, k.CreatedAt.Format(time.RFC3339), state)
}
