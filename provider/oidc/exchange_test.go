package oidc_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tether-id/tether/provider"
	"github.com/tether-id/tether/provider/oidc"
)

// exchangeCase is one Exchange against the crafted OP.
type exchangeCase struct {
	name   string
	cfg    func(c *oidc.Config)
	op     func(op *craftedOP) // runs with op.mu held
	claims func(c map[string]any, op *craftedOP)
	// token signs the ID token; default RS256 with the JWKS's RSA key.
	token func(t *testing.T, claims map[string]any) string
	cb    func(cb *provider.Callback, op *craftedOP)
	// reason is the expected *provider.Error reason; "" means success.
	reason      string
	unavailable bool
	check       func(t *testing.T, id provider.Identity, op *craftedOP)
	subject     string // expected subject on success; default user-1
}

func (tc exchangeCase) run(t *testing.T) {
	c := newClock()
	op := newCraftedOP(t, c)
	if tc.op != nil {
		op.set(tc.op)
	}
	req := newAuthRequest("https://rp.example/callback")
	claims := op.claims(req.Nonce)
	if tc.claims != nil {
		tc.claims(claims, op)
	}
	var token string
	if tc.token != nil {
		token = tc.token(t, claims)
	} else {
		k := testKeys().rsa
		token = sign(t, jose.RS256, k.key, k.kid, claims)
	}
	op.set(func(op *craftedOP) { op.idToken = token })

	cfg := oidc.Config{
		ID: "crafted", Issuer: op.issuer, ClientID: craftedClient, ClientSecret: craftedSecret,
		Now: c.Now, HTTPClient: op.srv.Client(),
	}
	if tc.cfg != nil {
		tc.cfg(&cfg)
	}
	p, err := oidc.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cb := provider.Callback{Code: "crafted-code", Iss: op.issuer}
	if tc.cb != nil {
		tc.cb(&cb, op)
	}
	id, err := p.Exchange(t.Context(), req, cb)
	if tc.reason == "" {
		if err != nil {
			t.Fatalf("Exchange: %v", err)
		}
		want := tc.subject
		if want == "" {
			want = "user-1"
		}
		if id.Subject != want || id.Issuer != op.issuer {
			t.Errorf("identity %+v, want subject %s of %s", id, want, op.issuer)
		}
		if tc.check != nil {
			tc.check(t, id, op)
		}
		return
	}
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("Exchange error %v, want a *provider.Error with reason %s", err, tc.reason)
	}
	if pe.Reason != tc.reason || pe.Unavailable != tc.unavailable {
		t.Fatalf("Exchange error %v (reason %s, unavailable %v), want reason %s, unavailable %v",
			err, pe.Reason, pe.Unavailable, tc.reason, tc.unavailable)
	}
	if id.Subject != "" || id.Claims != nil {
		t.Errorf("Exchange failed but returned identity %+v", id)
	}
}

// TestExchangeRejects is the negative matrix: one case per rule, each
// failing with its own reason.
func TestExchangeRejects(t *testing.T) {
	t.Parallel()
	k := testKeys()
	tests := []exchangeCase{
		{name: "wrong iss", reason: "iss_mismatch",
			claims: func(c map[string]any, _ *craftedOP) { c["iss"] = "https://evil.example" }},
		{name: "iss with extra trailing slash", reason: "iss_mismatch",
			claims: func(c map[string]any, op *craftedOP) { c["iss"] = op.issuer + "/" }},
		{name: "wrong aud", reason: "aud_mismatch",
			claims: func(c map[string]any, _ *craftedOP) { c["aud"] = "other-client" }},
		{name: "aud missing", reason: "aud_mismatch",
			claims: func(c map[string]any, _ *craftedOP) { delete(c, "aud") }},
		{name: "several aud without azp", reason: "azp_missing",
			claims: func(c map[string]any, _ *craftedOP) { c["aud"] = []string{craftedClient, "other-client"} }},
		{name: "azp mismatch", reason: "azp_mismatch",
			claims: func(c map[string]any, _ *craftedOP) { c["azp"] = "other-client" }},
		{name: "azp mismatch with several aud", reason: "azp_mismatch",
			claims: func(c map[string]any, _ *craftedOP) {
				c["aud"] = []string{craftedClient, "other-client"}
				c["azp"] = "other-client"
			}},
		{name: "bad signature", reason: "bad_signature",
			token: func(t *testing.T, c map[string]any) string {
				return sign(t, jose.RS256, k.rsaOther.key, k.rsaOther.kid, c)
			}},
		{name: "tampered payload", reason: "bad_signature",
			token: func(t *testing.T, c map[string]any) string {
				good := strings.Split(sign(t, jose.RS256, k.rsa.key, k.rsa.kid, c), ".")
				c["sub"] = "admin"
				forged, _ := json.Marshal(c)
				return good[0] + "." + base64.RawURLEncoding.EncodeToString(forged) + "." + good[2]
			}},
		{name: "alg none", reason: "unsupported_alg",
			token: func(t *testing.T, c map[string]any) string { return unsigned(t, c) }},
		{name: "HS256 with the client secret, not allowed", reason: "unsupported_alg",
			token: func(t *testing.T, c map[string]any) string { return sign(t, jose.HS256, []byte(craftedSecret), "", c) }},
		{name: "HS256 allowed but keyed otherwise", reason: "bad_signature",
			cfg: func(c *oidc.Config) { c.IDTokenAlgs = []string{"RS256", "HS256"} },
			token: func(t *testing.T, c map[string]any) string {
				return sign(t, jose.HS256, []byte(strings.Repeat("x", 64)), "", c)
			}},
		{name: "RS256 not in a narrowed allow-list", reason: "unsupported_alg",
			cfg: func(c *oidc.Config) { c.IDTokenAlgs = []string{"ES256"} }},
		{name: "expired", reason: "expired",
			claims: func(c map[string]any, op *craftedOP) {
				c["iat"] = op.clock.Now().Add(-2 * time.Hour).Unix()
				c["exp"] = op.clock.Now().Add(-time.Hour).Unix()
			}},
		{name: "expired beyond the configured skew", reason: "expired",
			cfg:    func(c *oidc.Config) { c.ClockSkew = 10 * time.Second },
			claims: func(c map[string]any, op *craftedOP) { c["exp"] = op.clock.Now().Add(-time.Minute).Unix() }},
		{name: "exp missing", reason: "id_token_malformed",
			claims: func(c map[string]any, _ *craftedOP) { delete(c, "exp") }},
		{name: "exp not a number", reason: "id_token_malformed",
			claims: func(c map[string]any, _ *craftedOP) { c["exp"] = "tomorrow" }},
		{name: "iat in the future", reason: "issued_in_future",
			claims: func(c map[string]any, op *craftedOP) { c["iat"] = op.clock.Now().Add(10 * time.Minute).Unix() }},
		{name: "iat missing", reason: "id_token_malformed",
			claims: func(c map[string]any, _ *craftedOP) { delete(c, "iat") }},
		{name: "nbf in the future", reason: "not_yet_valid",
			claims: func(c map[string]any, op *craftedOP) { c["nbf"] = op.clock.Now().Add(10 * time.Minute).Unix() }},
		{name: "missing nonce", reason: "nonce_missing",
			claims: func(c map[string]any, _ *craftedOP) { delete(c, "nonce") }},
		{name: "wrong nonce", reason: "nonce_mismatch",
			claims: func(c map[string]any, _ *craftedOP) { c["nonce"] = "another-flows-nonce" }},
		{name: "sub missing", reason: "id_token_malformed",
			claims: func(c map[string]any, _ *craftedOP) { delete(c, "sub") }},
		{name: "unknown kid", reason: "unknown_key",
			token: func(t *testing.T, c map[string]any) string { return sign(t, jose.RS256, k.rsa2.key, k.rsa2.kid, c) }},
		{name: "key type does not fit alg", reason: "unknown_key",
			token: func(t *testing.T, c map[string]any) string { return sign(t, jose.RS256, k.rsa.key, k.es384.kid, c) }},
		{name: "encrypted ID token", reason: "id_token_malformed",
			token: func(t *testing.T, c map[string]any) string { return "a.b.c.d.e" }},
		{name: "garbage ID token", reason: "id_token_malformed",
			token: func(t *testing.T, c map[string]any) string { return "not-a-jwt" }},
		{name: "userinfo sub mismatch", reason: "userinfo_sub_mismatch",
			op: func(op *craftedOP) { op.userinfo = map[string]any{"sub": "user-2", "email": "two@example.test"} }},
		{name: "userinfo without sub", reason: "userinfo_sub_mismatch",
			op: func(op *craftedOP) { op.userinfo = map[string]any{"email": "two@example.test"} }},
		{name: "userinfo 5xx", reason: "userinfo", unavailable: true,
			op: func(op *craftedOP) { op.discovery["userinfo_endpoint"] = op.issuer + "/broken" }},
		{name: "discovery issuer mismatch", reason: "discovery_issuer_mismatch",
			op: func(op *craftedOP) { op.discovery["issuer"] = op.issuer + "/" }},
		{name: "discovery unreachable", reason: "discovery", unavailable: true,
			cfg: func(c *oidc.Config) { c.Issuer = "http://127.0.0.1:1" },
			cb:  func(cb *provider.Callback, _ *craftedOP) { cb.Iss = "" }},
		{name: "JWKS 5xx", reason: "jwks", unavailable: true,
			op: func(op *craftedOP) { op.discovery["jwks_uri"] = op.issuer + "/broken" }},
		{name: "discovery without token endpoint", reason: "discovery",
			op: func(op *craftedOP) { delete(op.discovery, "token_endpoint") }},
		{name: "wrong callback iss", reason: "callback_iss_mismatch",
			cb: func(cb *provider.Callback, _ *craftedOP) { cb.Iss = "https://evil.example" }},
		{name: "wrong callback iss on a relayed callback", reason: "callback_iss_mismatch",
			cb: func(cb *provider.Callback, _ *craftedOP) { cb.Iss, cb.Relayed = "https://evil.example", true }},
		{name: "missing callback iss when advertised", reason: "callback_iss_missing",
			op: func(op *craftedOP) { op.discovery["authorization_response_iss_parameter_supported"] = true },
			cb: func(cb *provider.Callback, _ *craftedOP) { cb.Iss = "" }},
		{name: "OP error in the callback", reason: "authorization_error",
			cb: func(cb *provider.Callback, _ *craftedOP) {
				*cb = provider.Callback{Error: "access_denied", ErrorDescription: "The user cancelled", Iss: cb.Iss}
			}},
		{name: "callback without code", reason: "bad_callback",
			cb: func(cb *provider.Callback, _ *craftedOP) { cb.Code = "" }},
		{name: "token endpoint error", reason: "token_exchange",
			op: func(op *craftedOP) {
				op.tokenReply = func(w http.ResponseWriter) {
					writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_grant", "error_description": "code expired"})
				}
			}},
		{name: "token endpoint error with status 200", reason: "token_exchange",
			op: func(op *craftedOP) {
				op.tokenReply = func(w http.ResponseWriter) { writeJSON(w, http.StatusOK, map[string]any{"error": "invalid_grant"}) }
			}},
		{name: "token endpoint 5xx", reason: "token_exchange", unavailable: true,
			op: func(op *craftedOP) {
				op.tokenReply = func(w http.ResponseWriter) { http.Error(w, "upstream down", http.StatusBadGateway) }
			}},
		{name: "token endpoint unreachable", reason: "token_exchange", unavailable: true,
			op: func(op *craftedOP) { op.discovery["token_endpoint"] = "http://127.0.0.1:1/token" }},
		{name: "token answer not JSON", reason: "token_exchange",
			op: func(op *craftedOP) {
				op.tokenReply = func(w http.ResponseWriter) { w.Write([]byte("access_token=x&expires_in=1")) }
			}},
		{name: "token answer without ID token", reason: "id_token_missing",
			op: func(op *craftedOP) {
				op.tokenReply = func(w http.ResponseWriter) {
					writeJSON(w, http.StatusOK, map[string]any{"access_token": craftedAccess, "token_type": "Bearer"})
				}
			}},
		{name: "no supported token endpoint auth", reason: "token_auth_unsupported",
			op: func(op *craftedOP) {
				op.discovery["token_endpoint_auth_methods_supported"] = []string{"private_key_jwt"}
			}},
		{name: "custom subject path missing", reason: "missing_subject",
			cfg: func(c *oidc.Config) { c.Claims.Subject = "data.user.id" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t)
		})
	}
}

// TestExchangeAccepts covers what must work: each signature kind, skew,
// relayed callbacks, token endpoint auth choice and claim merging.
func TestExchangeAccepts(t *testing.T) {
	t.Parallel()
	k := testKeys()
	signWith := func(alg jose.SignatureAlgorithm, key signingKey) func(*testing.T, map[string]any) string {
		return func(t *testing.T, c map[string]any) string { return sign(t, alg, key.key, key.kid, c) }
	}
	tests := []exchangeCase{
		{name: "RS256"},
		{name: "PS256", token: signWith(jose.PS256, k.rsa)},
		{name: "ES256", token: signWith(jose.ES256, k.es256)},
		{name: "ES384", token: signWith(jose.ES384, k.es384)},
		{name: "ES512", token: signWith(jose.ES512, k.es512)},
		{name: "EdDSA", token: signWith(jose.EdDSA, k.ed)},
		{name: "kid absent with a single key",
			op: func(op *craftedOP) { op.keys = op.keys[:1] },
			token: func(t *testing.T, c map[string]any) string {
				return sign(t, jose.RS256, k.rsa.key, "", c)
			}},
		{name: "kid absent among several keys",
			token: func(t *testing.T, c map[string]any) string { return sign(t, jose.ES384, k.es384.key, "", c) }},
		{name: "HS256 with the client secret when listed",
			cfg: func(c *oidc.Config) { c.IDTokenAlgs = []string{"RS256", "HS256"} },
			token: func(t *testing.T, c map[string]any) string {
				return sign(t, jose.HS256, []byte(craftedSecret), "", c)
			}},
		{name: "expired within the skew",
			claims: func(c map[string]any, op *craftedOP) { c["exp"] = op.clock.Now().Add(-time.Minute).Unix() }},
		{name: "iat ahead within the skew",
			claims: func(c map[string]any, op *craftedOP) { c["iat"] = op.clock.Now().Add(time.Minute).Unix() }},
		{name: "several aud with azp",
			claims: func(c map[string]any, _ *craftedOP) {
				c["aud"] = []string{"other-client", craftedClient}
				c["azp"] = craftedClient
			}},
		{name: "single aud in an array with azp",
			claims: func(c map[string]any, _ *craftedOP) {
				c["aud"] = []string{craftedClient}
				c["azp"] = craftedClient
			}},
		{name: "missing callback iss when not advertised",
			cb: func(cb *provider.Callback, _ *craftedOP) { cb.Iss = "" }},
		{name: "missing callback iss when advertised but relayed",
			op: func(op *craftedOP) { op.discovery["authorization_response_iss_parameter_supported"] = true },
			cb: func(cb *provider.Callback, _ *craftedOP) { cb.Iss, cb.Relayed = "", true }},
		{name: "client_secret_basic by default",
			check: func(t *testing.T, _ provider.Identity, op *craftedOP) {
				op.mu.Lock()
				defer op.mu.Unlock()
				if !strings.HasPrefix(op.tokenAuth, "Basic ") || op.tokenForm.Has("client_secret") {
					t.Errorf("token request: Authorization %q, form %v; want Basic only", op.tokenAuth, op.tokenForm)
				}
			}},
		{name: "client_secret_post when the only method",
			op: func(op *craftedOP) {
				op.discovery["token_endpoint_auth_methods_supported"] = []string{"private_key_jwt", "client_secret_post"}
			},
			check: func(t *testing.T, _ provider.Identity, op *craftedOP) {
				op.mu.Lock()
				defer op.mu.Unlock()
				if op.tokenAuth != "" || op.tokenForm.Get("client_id") != craftedClient || op.tokenForm.Get("client_secret") != craftedSecret {
					t.Errorf("token request: Authorization %q, form %v; want the secret in the form", op.tokenAuth, op.tokenForm)
				}
			}},
		{name: "token request carries code, verifier and redirect",
			check: func(t *testing.T, _ provider.Identity, op *craftedOP) {
				op.mu.Lock()
				defer op.mu.Unlock()
				f := op.tokenForm
				if f.Get("grant_type") != "authorization_code" || f.Get("code") != "crafted-code" ||
					len(f.Get("code_verifier")) != 52 || f.Get("redirect_uri") != "https://rp.example/callback" {
					t.Errorf("token request form %v", f)
				}
			}},
		{name: "userinfo fills and overrides profile claims",
			claims: func(c map[string]any, _ *craftedOP) { delete(c, "name") },
			op: func(op *craftedOP) {
				op.userinfo = map[string]any{
					"sub": "user-1", "email": "new@example.test", "email_verified": false,
					"name": "From Userinfo", "picture": "https://example.test/p.png",
					"iss": "https://ignored.example", "aud": "ignored",
				}
			},
			check: func(t *testing.T, id provider.Identity, op *craftedOP) {
				if id.Email != "new@example.test" || id.EmailVerified || id.Name != "From Userinfo" || id.Avatar != "https://example.test/p.png" {
					t.Errorf("identity %+v does not carry userinfo's profile", id)
				}
				var c map[string]any
				json.Unmarshal(id.Claims, &c)
				if c["iss"] != op.issuer || c["aud"] != craftedClient || c["sub"] != "user-1" {
					t.Errorf("userinfo replaced ID token claims: %s", id.Claims)
				}
			}},
		{name: "no userinfo endpoint",
			op: func(op *craftedOP) { delete(op.discovery, "userinfo_endpoint") },
			check: func(t *testing.T, id provider.Identity, op *craftedOP) {
				if op.hitCount("userinfo") != 0 || id.Email != "one@example.test" || !id.EmailVerified || id.Name != "User One" {
					t.Errorf("identity %+v from ID token only, userinfo hits %d", id, op.hitCount("userinfo"))
				}
			}},
		{name: "claims at nested and dotted paths",
			cfg: func(c *oidc.Config) {
				c.Claims = oidc.Claims{Email: "data.user.mail", EmailVerified: "data.user.verified", Name: "https://example.test/display.name", Avatar: "data.avatar.url"}
			},
			op: func(op *craftedOP) {
				op.userinfo = map[string]any{
					"sub":                               "user-1",
					"data":                              map[string]any{"user": map[string]any{"mail": "nested@example.test", "verified": "true"}, "avatar": map[string]any{"url": "https://example.test/a.png"}},
					"https://example.test/display.name": "Dotted Name",
				}
			},
			check: func(t *testing.T, id provider.Identity, _ *craftedOP) {
				if id.Email != "nested@example.test" || !id.EmailVerified || id.Name != "Dotted Name" || id.Avatar != "https://example.test/a.png" {
					t.Errorf("identity %+v from custom claim paths", id)
				}
			}},
		{name: "numeric subject at a custom path", subject: "12345678901234567",
			cfg:    func(c *oidc.Config) { c.Claims.Subject = "uid" },
			claims: func(c map[string]any, _ *craftedOP) { c["uid"] = 12345678901234567 }},
		{name: "tokens and expiry",
			check: func(t *testing.T, id provider.Identity, op *craftedOP) {
				want := op.clock.Now().Add(time.Hour)
				if id.Tokens.AccessToken != craftedAccess || id.Tokens.RefreshToken != "crafted-refresh-token" ||
					id.Tokens.IDToken == "" || !id.Tokens.Expiry.Equal(want) {
					t.Errorf("tokens %+v, want expiry %s", id.Tokens, want)
				}
			}},
		{name: "expires_in as a string",
			op: func(op *craftedOP) {
				op.tokenReply = func(w http.ResponseWriter) {
					writeJSON(w, http.StatusOK, map[string]any{"access_token": craftedAccess, "expires_in": "60", "id_token": op.idToken})
				}
			},
			check: func(t *testing.T, id provider.Identity, op *craftedOP) {
				if want := op.clock.Now().Add(time.Minute); !id.Tokens.Expiry.Equal(want) {
					t.Errorf("expiry %s, want %s", id.Tokens.Expiry, want)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t)
		})
	}
}
