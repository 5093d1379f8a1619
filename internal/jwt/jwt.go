// Package jwt issues and verifies tether's access tokens: compact JWS,
// HS256, with the claims Cloudreve clients expect (token_type "access",
// sub = user id, exp, nbf, iat). Access tokens are stateless; they stay
// valid until they expire, which is why they are kept short.
package jwt

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
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
	key    []byte
	signer jose.Signer
}

// NewSigner derives the HS256 key from secret.
func NewSigner(secret []byte) (*Signer, error) {
	if len(secret) < 32 {
		return nil, errors.New("jwt: secret shorter than 32 bytes")
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("tether access token v1"))
	key := mac.Sum(nil)
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, err
	}
	return &Signer{key: key, signer: sig}, nil
}

type claims struct {
	josejwt.Claims
	TokenType string `json:"token_type"`
}

// Issue returns an access token for userID valid from now for ttl.
func (s *Signer) Issue(userID string, now time.Time, ttl time.Duration) (string, time.Time, error) {
	exp := now.Add(ttl)
	c := claims{
		Claims: josejwt.Claims{
			// A random id: two tokens issued in the same second differ.
			ID:        rand.Text(),
			Subject:   userID,
			IssuedAt:  josejwt.NewNumericDate(now),
			NotBefore: josejwt.NewNumericDate(now),
			Expiry:    josejwt.NewNumericDate(exp),
		},
		TokenType: TypeAccess,
	}
	tok, err := josejwt.Signed(s.signer).Claims(c).Serialize()
	return tok, exp, err
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
