package rp

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash"
	"slices"
	"strings"
	"time"
)

// checkClaims applies the ID token rules of OpenID Connect Core §3.1.3.7
// and §12.2 that go-oidc leaves to its caller, to claims whose signature,
// iss, aud and exp go-oidc already checked. alg is the token's header alg.
func checkClaims(claims map[string]any, alg, clientID string, now time.Time, skew time.Duration, want Expect) error {
	sub, _ := claims["sub"].(string)
	if sub == "" {
		return checkErr("sub", "the ID token has no sub")
	}

	// nonce: what was sent, or nothing when nothing was; on refresh, the
	// original's if any.
	nonce, hasNonce := claims["nonce"]
	switch {
	case want.Previous != nil:
		if hasNonce && nonce != want.Previous["nonce"] {
			return checkErr("nonce", "the refreshed ID token's nonce %v is not the original's %v", nonce, want.Previous["nonce"])
		}
	case want.Nonce == "":
		if hasNonce {
			return checkErr("nonce", "the ID token has a nonce but none was sent")
		}
	default:
		s, _ := nonce.(string)
		if subtle.ConstantTimeCompare([]byte(s), []byte(want.Nonce)) != 1 {
			return checkErr("nonce", "the ID token's nonce %q is not the one sent", s)
		}
	}

	aud := audiences(claims["aud"])
	azp, hasAzp := claims["azp"]
	if hasAzp && azp != clientID {
		return checkErr("azp", "the ID token's azp %v is not the client %q", azp, clientID)
	}
	if len(aud) > 1 && !hasAzp {
		return checkErr("azp", "the ID token has several audiences %v but no azp", aud)
	}

	iat, ok := numericDate(claims, "iat")
	if !ok {
		return checkErr("iat", "the ID token has no numeric iat")
	}
	// A token endpoint hands out fresh ID tokens: one issued long ago, or
	// in the future, is not one the OP just made.
	if d := now.Sub(iat); d > skew || d < -skew {
		return checkErr("iat", "the ID token was issued at %s, more than %s from now (%s)",
			iat.UTC().Format(time.RFC3339), skew, now.UTC().Format(time.RFC3339))
	}

	if ath, ok := claims["at_hash"]; ok && want.AccessToken != "" {
		s, _ := ath.(string)
		h, err := halfHash(alg, want.AccessToken)
		if err != nil {
			return checkErr("at_hash", "%v", err)
		}
		if subtle.ConstantTimeCompare([]byte(s), []byte(h)) != 1 {
			return checkErr("at_hash", "the ID token's at_hash %q does not match the access token (%q)", s, h)
		}
	}

	authTime, hasAuthTime := numericDate(claims, "auth_time")
	if _, present := claims["auth_time"]; present && !hasAuthTime {
		return checkErr("auth_time", "the ID token's auth_time %v is not a number", claims["auth_time"])
	}
	if want.MaxAge != nil {
		if !hasAuthTime {
			return checkErr("auth_time", "max_age was sent but the ID token has no auth_time")
		}
		if limit := authTime.Add(time.Duration(*want.MaxAge)*time.Second + skew); now.After(limit) {
			return checkErr("auth_time", "the person signed in at %s, longer ago than max_age=%d",
				authTime.UTC().Format(time.RFC3339), *want.MaxAge)
		}
	}
	if hasAuthTime && authTime.After(now.Add(skew)) {
		return checkErr("auth_time", "the ID token's auth_time %s is in the future", authTime.UTC().Format(time.RFC3339))
	}

	if p := want.Previous; p != nil {
		if sub != p["sub"] {
			return checkErr("refresh", "the refreshed ID token's sub %q is not the original's %v", sub, p["sub"])
		}
		if pa := audiences(p["aud"]); !sameSet(aud, pa) {
			return checkErr("refresh", "the refreshed ID token's aud %v is not the original's %v", aud, pa)
		}
		if pazp, ok := p["azp"]; ok && azp != pazp {
			return checkErr("refresh", "the refreshed ID token's azp %v is not the original's %v", azp, pazp)
		}
		if pt, ok := numericDate(p, "auth_time"); ok && hasAuthTime && !pt.Equal(authTime) {
			return checkErr("refresh", "the refreshed ID token's auth_time %s is not the original authentication's %s",
				authTime.UTC().Format(time.RFC3339), pt.UTC().Format(time.RFC3339))
		}
		if pt, ok := numericDate(p, "iat"); ok && iat.Before(pt) {
			return checkErr("refresh", "the refreshed ID token's iat %s is before the original's %s",
				iat.UTC().Format(time.RFC3339), pt.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

// halfHash is the left half of the hash of token that at_hash (and
// c_hash) carry, base64url-encoded: OpenID Connect Core §3.1.3.6. The hash
// is the one of the JWS algorithm; for EdDSA, OpenID's registry says
// SHA-512 (Ed25519, the only curve OPs use).
func halfHash(alg, token string) (string, error) {
	var h hash.Hash
	switch alg {
	case "RS256", "PS256", "ES256", "HS256", "ES256K":
		h = sha256.New()
	case "RS384", "PS384", "ES384", "HS384":
		h = sha512.New384()
	case "RS512", "PS512", "ES512", "HS512", "EdDSA", "Ed25519":
		h = sha512.New()
	default:
		return "", fmt.Errorf("cannot check at_hash for an ID token signed with %q", alg)
	}
	h.Write([]byte(token))
	sum := h.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2]), nil
}

// headerAlg reads the alg of a compact JWS.
func headerAlg(raw string) (string, error) {
	head, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return "", fmt.Errorf("rp: ID token header: %w", err)
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return "", fmt.Errorf("rp: ID token header: %w", err)
	}
	return h.Alg, nil
}

// audiences reads aud, a string or a list of strings.
func audiences(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case []string:
		return v
	}
	return nil
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// numericDate reads a NumericDate claim (seconds since the epoch, JSON
// number as decoded into any).
func numericDate(claims map[string]any, name string) (time.Time, bool) {
	var f float64
	switch v := claims[name].(type) {
	case float64:
		f = v
	case json.Number:
		var err error
		if f, err = v.Float64(); err != nil {
			return time.Time{}, false
		}
	case int64:
		f = float64(v)
	case int:
		f = float64(v)
	default:
		return time.Time{}, false
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)), true
}
