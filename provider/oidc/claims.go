package oidc

import (
	"encoding/json"
	"maps"
	"strings"
)

// idTokenOnly are claims about the token itself or the authentication,
// which userinfo never replaces: the ID token is authoritative for them.
var idTokenOnly = map[string]bool{
	"iss": true, "sub": true, "aud": true, "azp": true, "exp": true, "iat": true,
	"nbf": true, "nonce": true, "auth_time": true, "acr": true, "amr": true,
	"at_hash": true, "c_hash": true, "s_hash": true, "sid": true, "jti": true,
}

// perSignIn are claims about one authentication rather than the person,
// different at every sign-in; the identity's stored claims leave them
// out, so that a returning person whose profile did not change leaves
// nothing to write.
var perSignIn = map[string]bool{
	"exp": true, "iat": true, "nbf": true, "nonce": true, "auth_time": true, "acr": true, "amr": true,
	"at_hash": true, "c_hash": true, "s_hash": true, "sid": true, "jti": true, "rat": true,
}

// mergeClaims returns the ID token's claims with userinfo's values filling
// and overriding everything but idTokenOnly (SPEC §3.1).
func mergeClaims(idToken, userinfo map[string]any) map[string]any {
	merged := maps.Clone(idToken)
	for k, v := range userinfo {
		if !idTokenOnly[k] {
			merged[k] = v
		}
	}
	return merged
}

// lookup follows a claim path. A claim whose name itself holds dots (such
// as the URL-named claims some OPs add) is found before the path is split,
// at every level.
func lookup(v any, path string) (any, bool) {
	m, ok := v.(map[string]any)
	if !ok || path == "" {
		return nil, false
	}
	if x, ok := m[path]; ok {
		return x, true
	}
	for i := 0; i < len(path); i++ {
		if path[i] != '.' {
			continue
		}
		if x, ok := m[path[:i]]; ok {
			if r, ok := lookup(x, path[i+1:]); ok {
				return r, true
			}
		}
	}
	return nil, false
}

// stringClaim reads a string claim; numbers (some OPs send numeric
// subjects) are kept in their exact JSON form.
func stringClaim(claims map[string]any, path string) string {
	v, _ := lookup(claims, path)
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	}
	return ""
}

// boolClaim reads a boolean claim; "true" as a string counts, since some
// OPs (AWS Cognito among them) send email_verified that way.
func boolClaim(claims map[string]any, path string) bool {
	v, _ := lookup(claims, path)
	switch v := v.(type) {
	case bool:
		return v
	case string:
		return strings.EqualFold(v, "true")
	}
	return false
}
