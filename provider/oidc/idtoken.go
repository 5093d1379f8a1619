package oidc

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tether-id/tether/provider"
)

// verifyIDToken checks an ID token as OpenID Connect Core §3.1.3.7 asks
// and returns its claims: signature by an allowed algorithm with a key of
// the OP's JWKS (or the client secret for an explicitly allowed HMAC),
// iss, aud, azp, exp, iat, nbf and nonce. go-oidc's verifier checks
// neither azp nor iat and leaves nonce to the caller, so the checks are
// all here, in one place.
func (p *Provider) verifyIDToken(ctx context.Context, raw, nonce string) (map[string]any, error) {
	return p.verifyJWT(ctx, raw, func(claims map[string]any) error { return checkNonce(claims, nonce) })
}

// verifyRefreshedIDToken checks an ID token from a refresh as OpenID
// Connect Core §12.2 asks: every check of verifyIDToken, except that it
// SHOULD NOT carry a nonce, and one it carries must be the one of the
// original ID token (prev, which tether verified at the sign-in).
func (p *Provider) verifyRefreshedIDToken(ctx context.Context, raw, prev string) (map[string]any, error) {
	return p.verifyJWT(ctx, raw, func(claims map[string]any) error {
		if _, ok := claims["nonce"]; !ok {
			return nil
		}
		return checkNonce(claims, stringClaim(unverifiedClaims(prev), "nonce"))
	})
}

// unverifiedClaims reads the payload of a JWT tether verified earlier;
// nil when it cannot.
func unverifiedClaims(raw string) map[string]any {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil
	}
	var claims map[string]any
	if decodeJSON(b, &claims) != nil {
		return nil
	}
	return claims
}

// verifyJWT verifies the signature and the claims of an ID token, the
// nonce by checkNonce.
func (p *Provider) verifyJWT(ctx context.Context, raw string, nonce func(map[string]any) error) (map[string]any, error) {
	parts := strings.Split(raw, ".")
	switch len(parts) {
	case 3:
	case 5:
		return nil, provider.Errorf("id_token_malformed", "the ID token is encrypted, which tether does not support")
	default:
		return nil, provider.Errorf("id_token_malformed", "the ID token is not a compact JWS")
	}
	var header struct {
		Alg string `json:"alg"`
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || json.Unmarshal(hb, &header) != nil {
		return nil, &provider.Error{Reason: "id_token_malformed", Message: "the ID token's header is invalid", Err: err}
	}
	if !slices.Contains(p.cfg.IDTokenAlgs, header.Alg) {
		return nil, provider.Errorf("unsupported_alg", "the ID token is signed with %q, which is not in the allowed algorithms %v", header.Alg, p.cfg.IDTokenAlgs)
	}
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(header.Alg)})
	if err != nil {
		return nil, &provider.Error{Reason: "id_token_malformed", Message: "the ID token could not be parsed", Err: err}
	}
	keys, err := p.verificationKeys(ctx, jws.Signatures[0].Header.KeyID, header.Alg)
	if err != nil {
		return nil, err
	}
	var payload []byte
	var verr error
	for _, k := range keys {
		if payload, verr = jws.Verify(k); verr == nil {
			break
		}
	}
	if verr != nil {
		return nil, &provider.Error{Reason: "bad_signature", Message: "the ID token's signature does not verify", Err: verr}
	}
	var claims map[string]any
	if err := decodeJSON(payload, &claims); err != nil || claims == nil {
		return nil, &provider.Error{Reason: "id_token_malformed", Message: "the ID token's claims are not a JSON object", Err: err}
	}
	if err := p.checkIDTokenClaims(claims); err != nil {
		return nil, err
	}
	if err := nonce(claims); err != nil {
		return nil, err
	}
	return claims, nil
}

// checkIDTokenClaims checks the verified claims of an ID token but its
// nonce.
func (p *Provider) checkIDTokenClaims(claims map[string]any) error {
	if iss, _ := claims["iss"].(string); iss != p.cfg.Issuer {
		return provider.Errorf("iss_mismatch", "the ID token's issuer %q is not %q", claims["iss"], p.cfg.Issuer)
	}
	if sub, _ := claims["sub"].(string); sub == "" {
		return provider.Errorf("id_token_malformed", "the ID token has no subject")
	}

	aud, ok := audiences(claims["aud"])
	if !ok || !slices.Contains(aud, p.cfg.ClientID) {
		return provider.Errorf("aud_mismatch", "the ID token's audience %v does not include client %q", claims["aud"], p.cfg.ClientID)
	}
	azp, hasAzp := claims["azp"]
	if hasAzp && azp != p.cfg.ClientID {
		return provider.Errorf("azp_mismatch", "the ID token's authorized party %v is not client %q", azp, p.cfg.ClientID)
	}
	if len(aud) > 1 && !hasAzp {
		return provider.Errorf("azp_missing", "the ID token has several audiences %v but no authorized party", aud)
	}

	now := p.cfg.Now()
	skew := p.cfg.ClockSkew
	exp, err := numericDate(claims, "exp", true)
	if err != nil {
		return err
	}
	if now.After(exp.Add(skew)) {
		return provider.Errorf("expired", "the ID token expired at %s", exp.UTC().Format(time.RFC3339))
	}
	iat, err := numericDate(claims, "iat", true)
	if err != nil {
		return err
	}
	if iat.After(now.Add(skew)) {
		return provider.Errorf("issued_in_future", "the ID token claims to be issued at %s, in the future", iat.UTC().Format(time.RFC3339))
	}
	nbf, err := numericDate(claims, "nbf", false)
	if err != nil {
		return err
	}
	if !nbf.IsZero() && nbf.After(now.Add(skew)) {
		return provider.Errorf("not_yet_valid", "the ID token is not valid before %s", nbf.UTC().Format(time.RFC3339))
	}
	return nil
}

// checkNonce checks that the ID token carries nonce.
func checkNonce(claims map[string]any, nonce string) error {
	got, _ := claims["nonce"].(string)
	if got == "" {
		return provider.Errorf("nonce_missing", "the ID token has no nonce")
	}
	if nonce == "" || subtle.ConstantTimeCompare([]byte(got), []byte(nonce)) != 1 {
		return provider.Errorf("nonce_mismatch", "the ID token's nonce is not the one this sign-in sent")
	}
	return nil
}

// audiences reads "aud", a string or an array of strings.
func audiences(v any) ([]string, bool) {
	switch v := v.(type) {
	case string:
		return []string{v}, true
	case []any:
		out := make([]string, 0, len(v))
		for _, a := range v {
			s, ok := a.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	return nil, false
}

// numericDate reads a NumericDate claim (seconds since the epoch, maybe
// fractional). An absent optional claim is the zero time.
func numericDate(claims map[string]any, name string, required bool) (time.Time, error) {
	v, ok := claims[name]
	if !ok {
		if required {
			return time.Time{}, provider.Errorf("id_token_malformed", "the ID token has no %s", name)
		}
		return time.Time{}, nil
	}
	n, ok := v.(json.Number)
	var f float64
	var err error
	if ok {
		f, err = n.Float64()
	} else {
		err = errors.New("not a number")
	}
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1<<40 {
		return time.Time{}, &provider.Error{Reason: "id_token_malformed", Message: fmt.Sprintf("the ID token's %s is not a valid date", name), Err: err}
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), nil
}
