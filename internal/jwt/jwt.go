// Package jwt issues and verifies tether's access tokens: compact JWS,
// HS256, with the claims Cloudreve clients expect (token_type "access",
// sub = user id, exp, nbf, iat). Access tokens are stateless; they stay
// valid until they expire, which is why they are kept short.
package jwt

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"hash"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
)

// TypeAccess is the token_type claim of access tokens.
const TypeAccess = "access"

// Leeway tolerates clock differences between instances.
const Leeway = 30 * time.Second

// ErrInvalid is returned for any token that does not verify.
var ErrInvalid = errors.New("jwt: invalid token")

// Signer signs and verifies access tokens with a key derived from the
// service secret, so the raw secret is never a JWT key.
type Signer struct {
	key  []byte
	macs sync.Pool // of HMAC-SHA256 keyed with key
}

// NewSigner derives the HS256 key from secret.
func NewSigner(secret []byte) (*Signer, error) {
	if len(secret) < 32 {
		return nil, errors.New("jwt: secret shorter than 32 bytes")
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("tether access token v1"))
	key := mac.Sum(nil)
	s := &Signer{key: key}
	s.macs.New = func() any { return hmac.New(sha256.New, key) }
	return s, nil
}

type claims struct {
	josejwt.Claims
	TokenType string `json:"token_type"`
}

// payload is what Issue signs: the claims of claims, flat.
type payload struct {
	ID        string `json:"jti"`
	Subject   string `json:"sub"`
	IssuedAt  int64  `json:"iat"`
	NotBefore int64  `json:"nbf"`
	Expiry    int64  `json:"exp"`
	TokenType string `json:"token_type"`
}

// header is every access token's protected header, encoded.
var header = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

// Issue returns an access token for userID valid from now for ttl.
//
// The compact JWS is put together here rather than by go-jose's builder,
// which encodes the claims, decodes them into a map and encodes them
// again (a sign-in's largest allocation); Verify still parses with
// go-jose, and tests check that each accepts the other's tokens.
func (s *Signer) Issue(userID string, now time.Time, ttl time.Duration) (string, time.Time, error) {
	exp := now.Add(ttl)
	claims, err := json.Marshal(payload{
		// A random id: two tokens issued in the same second differ.
		ID:        rand.Text(),
		Subject:   userID,
		IssuedAt:  now.Unix(),
		NotBefore: now.Unix(),
		Expiry:    exp.Unix(),
		TokenType: TypeAccess,
	})
	if err != nil {
		return "", time.Time{}, err
	}
	enc := base64.RawURLEncoding
	signed := len(header) + 1 + enc.EncodedLen(len(claims))
	tok := make([]byte, 0, signed+1+enc.EncodedLen(sha256.Size))
	tok = append(tok, header...)
	tok = append(tok, '.')
	tok = enc.AppendEncode(tok, claims)
	mac := s.macs.Get().(hash.Hash)
	mac.Reset()
	mac.Write(tok)
	var sum [sha256.Size]byte
	tok = append(tok, '.')
	tok = enc.AppendEncode(tok, mac.Sum(sum[:0]))
	s.macs.Put(mac)
	return string(tok), exp, nil
}

// Verify checks signature, algorithm, type and lifetime, and returns the
// user id.
func (s *Signer) Verify(token string, now time.Time) (string, error) {
	parsed, err := josejwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		return "", ErrInvalid
	}
	var c claims
	if err := parsed.Claims(s.key, &c); err != nil {
		return "", ErrInvalid
	}
	if c.TokenType != TypeAccess || c.Subject == "" || c.Expiry == nil {
		return "", ErrInvalid
	}
	if err := c.ValidateWithLeeway(josejwt.Expected{Time: now}, Leeway); err != nil {
		return "", ErrInvalid
	}
	return c.Subject, nil
}
