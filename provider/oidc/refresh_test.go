package oidc_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tether-id/tether/provider"
)

// TestRefresh: a re-check tells a gone grant (Revoked) from an OP that
// is down (Unavailable) and from a check that could not be made
// (neither), and brings back the current profile.
func TestRefresh(t *testing.T) {
	t.Parallel()
	k := testKeys()
	refreshed := func(op *craftedOP, tweak func(map[string]any)) string {
		c := op.claims("")
		delete(c, "nonce") // OpenID Connect Core §12.2: SHOULD NOT carry one
		if tweak != nil {
			tweak(c)
		}
		return sign(t, jose.RS256, k.rsa.key, k.rsa.kid, c)
	}
	oauthErr := func(status int, code string) func(w http.ResponseWriter) {
		return func(w http.ResponseWriter) { writeJSON(w, status, map[string]any{"error": code}) }
	}
	tests := []struct {
		name     string
		prev     func(p *provider.Identity)
		op       func(op *craftedOP)
		down     bool
		reason   string // "" for success
		revoked  bool
		unavail  bool
		noTokens bool // the OP was not called at all
		check    func(t *testing.T, op *craftedOP, id provider.Identity)
	}{
		{
			name: "refresh token redeemed, profile updated",
			op: func(op *craftedOP) {
				op.idToken = refreshed(op, nil)
				op.userinfo = map[string]any{"sub": "user-1", "name": "User One Renamed", "email": "new@example.test"}
			},
			check: func(t *testing.T, op *craftedOP, id provider.Identity) {
				if id.Name != "User One Renamed" || id.Email != "new@example.test" || id.Subject != "user-1" {
					t.Errorf("identity = %+v", id)
				}
				if id.Tokens.RefreshToken != "crafted-refresh-token" || id.Tokens.AccessToken != craftedAccess || id.Tokens.IDToken == "" {
					t.Errorf("tokens = %+v", id.Tokens)
				}
				if f := op.tokenForm; f.Get("grant_type") != "refresh_token" || f.Get("refresh_token") != "old-refresh" {
					t.Errorf("token request = %v", f)
				}
				var claims map[string]any
				if err := json.Unmarshal(id.Claims, &claims); err != nil || claims["iat"] != nil || claims["name"] != "User One Renamed" {
					t.Errorf("claims = %s (%v)", id.Claims, err)
				}
			},
		},
		{
			name: "a refresh without an ID token keeps the old one",
			op:   func(op *craftedOP) { op.idToken = "" },
			check: func(t *testing.T, op *craftedOP, id provider.Identity) {
				if id.Tokens.IDToken != "old.id.token" {
					t.Errorf("ID token lost: %+v", id.Tokens)
				}
			},
		},
		{name: "invalid_grant", op: func(op *craftedOP) { op.tokenReply = oauthErr(400, "invalid_grant") }, reason: "refresh", revoked: true},
		{name: "invalid_client is not a revocation", op: func(op *craftedOP) { op.tokenReply = oauthErr(401, "invalid_client") }, reason: "refresh"},
		{name: "a 503 is no revocation", op: func(op *craftedOP) {
			op.tokenReply = func(w http.ResponseWriter) { http.Error(w, "down", http.StatusServiceUnavailable) }
		}, reason: "refresh", unavail: true},
		{name: "unreachable", down: true, reason: "discovery", unavail: true},
		{name: "refreshed ID token of another subject", op: func(op *craftedOP) {
			op.idToken = refreshed(op, func(c map[string]any) { c["sub"] = "user-2" })
		}, reason: "subject_changed", revoked: true},
		{name: "refreshed ID token with another nonce", op: func(op *craftedOP) {
			op.idToken = refreshed(op, func(c map[string]any) { c["nonce"] = "other" })
		}, reason: "nonce_mismatch"},
		{name: "refreshed ID token with the original nonce", op: func(op *craftedOP) {
			op.idToken = refreshed(op, func(c map[string]any) { c["nonce"] = "n-1" })
		}},
		{name: "userinfo about another subject", op: func(op *craftedOP) {
			op.idToken = refreshed(op, nil)
			op.userinfo = map[string]any{"sub": "user-2"}
		}, reason: "userinfo_sub_mismatch", revoked: true},
		{
			name: "no refresh token: the access token at userinfo",
			prev: func(p *provider.Identity) { p.Tokens.RefreshToken = "" },
			op:   func(op *craftedOP) { op.userinfo = map[string]any{"sub": "user-1", "name": "Via Userinfo"} },
			check: func(t *testing.T, op *craftedOP, id provider.Identity) {
				if id.Name != "Via Userinfo" || op.hitCount("token") != 0 {
					t.Errorf("identity %+v after %d token calls", id, op.hitCount("token"))
				}
			},
		},
		{
			name:    "no refresh token: an access token userinfo refuses",
			prev:    func(p *provider.Identity) { p.Tokens.RefreshToken, p.Tokens.AccessToken = "", "revoked-access" },
			reason:  "userinfo",
			revoked: true,
		},
		{
			name:     "no refresh token and an expired access token",
			prev:     func(p *provider.Identity) { p.Tokens.RefreshToken, p.Tokens.Expiry = "", time.Now().Add(-time.Hour) },
			reason:   "no_credentials",
			noTokens: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newClock()
			op := newCraftedOP(t, c)
			p := newCraftedProvider(t, op, c)
			original := op.claims("n-1")
			prevClaims, _ := json.Marshal(map[string]any{"sub": "user-1", "name": "User One"})
			prev := provider.Identity{
				Issuer: op.issuer, Subject: "user-1", Name: "User One", Claims: prevClaims,
				Tokens: provider.Tokens{AccessToken: craftedAccess, RefreshToken: "old-refresh",
					IDToken: sign(t, jose.RS256, k.rsa.key, k.rsa.kid, original), Expiry: c.Now().Add(time.Hour)},
			}
			if tc.name == "a refresh without an ID token keeps the old one" {
				prev.Tokens.IDToken = "old.id.token"
			}
			if tc.prev != nil {
				tc.prev(&prev)
			}
			op.set(func(op *craftedOP) {
				op.idToken = refreshed(op, nil)
				if tc.op != nil {
					tc.op(op)
				}
			})
			if tc.down {
				op.srv.Close()
			}
			id, err := p.Refresh(t.Context(), prev)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("Refresh: %v", err)
				}
				if tc.check != nil {
					tc.check(t, op, id)
				}
				return
			}
			wantReason(t, err, tc.reason)
			if got := provider.IsRevoked(err); got != tc.revoked {
				t.Errorf("IsRevoked(%v) = %v, want %v", err, got, tc.revoked)
			}
			if got := provider.IsUnavailable(err); got != tc.unavail {
				t.Errorf("IsUnavailable(%v) = %v, want %v", err, got, tc.unavail)
			}
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.Message == "" {
				t.Errorf("error %v has no message", err)
			}
			if tc.noTokens && (op.hitCount("token") != 0 || op.hitCount("userinfo") != 0) {
				t.Error("the OP was called")
			}
		})
	}
}
