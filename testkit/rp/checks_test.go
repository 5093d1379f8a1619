package rp_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tether-id/tether/testkit/rp"
)

// craftedOP answers discovery, JWKS, token and userinfo like an OP, with
// ID tokens signed here whose claims each case bends. A real OP cannot be
// made to send a wrong nonce or at_hash; this one can, which is what
// proving the RPs' checks needs. It has no login: its UserAgent answers
// the authorization request directly.
type craftedOP struct {
	issuer string

	mu     sync.Mutex
	nonce  string // of the last authorization request
	issued int
	// mutate bends the next ID token's claims; grant is the grant type.
	mutate func(grant string, claims map[string]any)
	// wrongKey signs with a key that is not in the JWKS.
	wrongKey bool
	// lastClaims are the claims of the last ID token issued.
	lastClaims map[string]any
}

const (
	craftedClient  = "crafted-client"
	craftedSecret  = "crafted-secret"
	craftedSubject = "crafted-user"
	craftedRedir   = "http://rp.test/crafted/callback"
)

var craftedKeys = sync.OnceValue(func() [2]*rsa.PrivateKey {
	var keys [2]*rsa.PrivateKey
	for i := range keys {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		keys[i] = k
	}
	return keys
})

func newCraftedOP(t testing.TB) *craftedOP {
	op := &craftedOP{}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	op.issuer = srv.URL
	keys := craftedKeys()

	reply := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		reply(w, map[string]any{
			"issuer":                                         op.issuer,
			"authorization_endpoint":                         op.issuer + "/auth",
			"token_endpoint":                                 op.issuer + "/token",
			"userinfo_endpoint":                              op.issuer + "/userinfo",
			"jwks_uri":                                       op.issuer + "/jwks",
			"response_types_supported":                       []string{"code"},
			"subject_types_supported":                        []string{"public"},
			"id_token_signing_alg_values_supported":          []string{"RS256"},
			"token_endpoint_auth_methods_supported":          []string{"client_secret_basic"},
			"code_challenge_methods_supported":               []string{"S256"},
			"authorization_response_iss_parameter_supported": true,
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		reply(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: &keys[0].PublicKey, KeyID: "k0", Algorithm: "RS256", Use: "sig"},
		}})
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		// RFC 6749 §2.3.1: both halves of Basic credentials are
		// form-encoded; openid-client encodes even "-" (as %2D).
		id, secret, _ := r.BasicAuth()
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
		if id != craftedClient || secret != craftedSecret {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_client"}`)
			return
		}
		grant := r.PostFormValue("grant_type")
		op.mu.Lock()
		defer op.mu.Unlock()
		op.issued++
		access := fmt.Sprintf("crafted-access-%d", op.issued)
		now := time.Now().Unix()
		claims := map[string]any{
			"iss": op.issuer, "sub": craftedSubject, "aud": craftedClient,
			"exp": now + 300, "iat": now, "auth_time": now - 10,
			"nonce": op.nonce, "at_hash": atHash(access),
		}
		if grant == "refresh_token" && op.lastClaims != nil {
			claims["auth_time"] = op.lastClaims["auth_time"]
		}
		if op.mutate != nil {
			op.mutate(grant, claims)
		}
		op.lastClaims = maps.Clone(claims)
		key := keys[0]
		if op.wrongKey {
			key = keys[1]
		}
		reply(w, map[string]any{
			"access_token": access, "token_type": "Bearer", "expires_in": 300,
			"refresh_token": "crafted-refresh", "id_token": sign(key, claims),
		})
	})
	mux.HandleFunc("GET /userinfo", func(w http.ResponseWriter, r *http.Request) {
		reply(w, map[string]any{"sub": craftedSubject})
	})
	return op
}

func (op *craftedOP) set(mutate func(grant string, claims map[string]any), wrongKey bool) {
	op.mu.Lock()
	defer op.mu.Unlock()
	op.mutate, op.wrongKey = mutate, wrongKey
}

// userAgent answers the authorization request at once with a code, the
// state and iss.
func (op *craftedOP) userAgent(authURL string) (*url.URL, error) {
	u, err := url.Parse(authURL)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	op.mu.Lock()
	op.nonce = q.Get("nonce")
	op.mu.Unlock()
	back, err := url.Parse(q.Get("redirect_uri"))
	if err != nil {
		return nil, err
	}
	back.RawQuery = url.Values{"code": {"crafted-code"}, "state": {q.Get("state")}, "iss": {op.issuer}}.Encode()
	return back, nil
}

func (op *craftedOP) config() rp.Config {
	return rp.Config{
		Issuer: op.issuer, ClientID: craftedClient, ClientSecret: craftedSecret,
		RedirectURL: craftedRedir, UserAgent: op.userAgent,
	}
}

func sign(key *rsa.PrivateKey, claims map[string]any) string {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: "k0"}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		panic(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		panic(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		panic(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		panic(err)
	}
	return raw
}

// atHash is RS256's at_hash of token.
func atHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// refused checks err against a case: goCheck is the Go RP's CheckError
// ("" accepted, "go-oidc" refused by the library itself); nodeRefuses
// whether openid-client refuses.
func refused(t *testing.T, kind string, err error, goCheck string, nodeRefuses bool) {
	t.Helper()
	var ce *rp.CheckError
	switch kind {
	case "go-oidc":
		switch {
		case goCheck == "" && err != nil:
			t.Errorf("refused: %v", err)
		case goCheck == "":
		case err == nil:
			t.Errorf("accepted, want refused by %s", goCheck)
		case goCheck == "go-oidc" && errors.As(err, &ce):
			t.Errorf("refused by the RP's own check %v, want go-oidc's", err)
		case goCheck != "go-oidc" && (!errors.As(err, &ce) || ce.Check != goCheck):
			t.Errorf("refused with %v, want check %q", err, goCheck)
		}
	default:
		switch {
		case !nodeRefuses && err != nil:
			t.Errorf("openid-client refused: %v", err)
		case nodeRefuses && err == nil:
			t.Errorf("openid-client accepted, want a refusal")
		}
	}
}

// TestIDTokenChecks bends one claim at a time and shows which RP refuses
// the ID token: the Go RP refuses every bent token, by go-oidc or by the
// checks it adds; the node column records what openid-client alone
// refuses, so a case where it accepts is a check only the Go RP makes.
func TestIDTokenChecks(t *testing.T) {
	t.Parallel()
	now := time.Now().Unix()
	set := func(k string, v any) func(string, map[string]any) {
		return func(_ string, c map[string]any) { c[k] = v }
	}
	del := func(k string) func(string, map[string]any) {
		return func(_ string, c map[string]any) { delete(c, k) }
	}
	cases := []struct {
		name        string
		params      url.Values
		mutate      func(string, map[string]any)
		wrongKey    bool
		goCheck     string
		nodeRefuses bool
	}{
		{name: "valid"},
		{name: "several audiences with azp", mutate: func(_ string, c map[string]any) {
			c["aud"], c["azp"] = []string{craftedClient, "other"}, craftedClient
		}},
		{name: "nonce differs", mutate: set("nonce", "other"), goCheck: "nonce", nodeRefuses: true},
		{name: "nonce missing", mutate: del("nonce"), goCheck: "nonce", nodeRefuses: true},
		{name: "nonce when none was sent", params: url.Values{"nonce": nil}, mutate: set("nonce", "other"), goCheck: "nonce", nodeRefuses: true},
		{name: "several audiences, no azp", mutate: set("aud", []string{craftedClient, "other"}), goCheck: "azp", nodeRefuses: true},
		{name: "azp of another client", mutate: set("azp", "other"), goCheck: "azp"},
		{name: "iat in the future", mutate: func(_ string, c map[string]any) {
			c["iat"], c["exp"] = now+600, now+1200
		}, goCheck: "iat"},
		{name: "iat an hour ago", mutate: set("iat", now-3600), goCheck: "iat"},
		{name: "no iat", mutate: del("iat"), goCheck: "iat", nodeRefuses: true},
		{name: "at_hash of another token", mutate: set("at_hash", atHash("another")), goCheck: "at_hash"},
		{name: "max_age without auth_time", params: url.Values{"max_age": {"60"}}, mutate: del("auth_time"), goCheck: "auth_time", nodeRefuses: true},
		{name: "max_age exceeded", params: url.Values{"max_age": {"60"}}, mutate: set("auth_time", now-3600), goCheck: "auth_time", nodeRefuses: true},
		{name: "max_age met", params: url.Values{"max_age": {"60"}}},
		{name: "no sub", mutate: del("sub"), goCheck: "sub", nodeRefuses: true},
		{name: "expired", mutate: set("exp", now-600), goCheck: "go-oidc", nodeRefuses: true},
		{name: "another issuer", mutate: set("iss", "http://127.0.0.1:1"), goCheck: "go-oidc", nodeRefuses: true},
		{name: "another audience", mutate: set("aud", "other"), goCheck: "go-oidc", nodeRefuses: true},
		{name: "signed by a key not in the JWKS", wrongKey: true, goCheck: "go-oidc", nodeRefuses: true},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			op := newCraftedOP(t)
			c := k.new(t, op.config())
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					op.set(tc.mutate, tc.wrongKey)
					tok, err := c.Login(t.Context(), tc.params)
					refused(t, k.name, err, tc.goCheck, tc.nodeRefuses)
					if err == nil && tok.Subject() != craftedSubject {
						t.Errorf("sub = %q", tok.Subject())
					}
				})
			}
		})
	}
}

// TestRefreshChecks bends the ID token of a refresh answer (OpenID
// Connect Core §12.2).
func TestRefreshChecks(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		mutate      func(prev map[string]any, c map[string]any)
		goCheck     string
		nodeRefuses bool
	}{
		{name: "valid", mutate: func(map[string]any, map[string]any) {}},
		{name: "another sub", mutate: func(_, c map[string]any) { c["sub"] = "someone-else" }, goCheck: "refresh", nodeRefuses: true},
		{name: "another auth_time", mutate: func(p, c map[string]any) { c["auth_time"] = p["auth_time"].(int64) - 100 }, goCheck: "refresh"},
		{name: "iat before the original's", mutate: func(p, c map[string]any) { c["iat"] = p["iat"].(int64) - 60 }, goCheck: "refresh"},
		{name: "another nonce", mutate: func(_, c map[string]any) { c["nonce"] = "other" }, goCheck: "nonce"},
		{name: "at_hash of another token", mutate: func(_, c map[string]any) { c["at_hash"] = atHash("another") }, goCheck: "at_hash"},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			op := newCraftedOP(t)
			c := k.new(t, op.config())
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					op.set(nil, false)
					tok := rp.MustLogin(t, c, nil)
					op.mu.Lock()
					prev := op.lastClaims
					op.mu.Unlock()
					op.set(func(grant string, claims map[string]any) {
						if grant == "refresh_token" {
							tc.mutate(prev, claims)
						}
					}, false)
					next, err := c.Refresh(t.Context(), tok)
					refused(t, k.name, err, tc.goCheck, tc.nodeRefuses)
					if err == nil && next.AccessToken == tok.AccessToken {
						t.Errorf("refresh kept the access token")
					}
				})
			}
		})
	}
}

// TestCallbackChecks covers the Go RP's callback checks that a real OP
// cannot be made to fail.
func TestCallbackChecks(t *testing.T) {
	t.Parallel()
	op := newCraftedOP(t)
	c := rp.New(t, op.config())
	cases := []struct {
		name  string
		bend  func(u *url.URL)
		check string
		code  string // ErrorCode
	}{
		{"valid", func(*url.URL) {}, "", ""},
		{"another path", func(u *url.URL) { u.Path = "/elsewhere" }, "callback_url", "callback_url"},
		{"another host", func(u *url.URL) { u.Host = "evil.test" }, "callback_url", "callback_url"},
		{"no code", func(u *url.URL) { q := u.Query(); q.Del("code"); u.RawQuery = q.Encode() }, "code", "code"},
		{"OP error", func(u *url.URL) {
			q := u.Query()
			q.Del("code")
			q.Set("error", "access_denied")
			q.Set("error_description", "the person said no")
			u.RawQuery = q.Encode()
		}, "", "access_denied"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := c.AuthRequest(t.Context(), nil)
			if err != nil {
				t.Fatal(err)
			}
			back, err := op.userAgent(req.URL)
			if err != nil {
				t.Fatal(err)
			}
			tc.bend(back)
			_, err = c.Callback(t.Context(), req, back)
			if got := rp.ErrorCode(err); got != tc.code {
				t.Errorf("ErrorCode = %q (%v), want %q", got, err, tc.code)
			}
			var ae *rp.AuthError
			if tc.code == "access_denied" && (!errors.As(err, &ae) || ae.Description != "the person said no") {
				t.Errorf("%#v, want an *AuthError with the description", err)
			}
		})
	}
}

// TestAuthRequestParams: params add, replace and remove parameters, and
// the request records what was sent.
func TestAuthRequestParams(t *testing.T) {
	t.Parallel()
	op := newCraftedOP(t)
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			c := k.new(t, op.config())
			req, err := c.AuthRequest(t.Context(), url.Values{
				"prompt": {"login"}, "max_age": {"0"}, "login_hint": {"alice"}, "scope": {"openid email"},
				"nonce": nil, "custom": {"a", "b"},
			})
			if err != nil {
				t.Fatal(err)
			}
			q := req.Params()
			for k, want := range map[string]string{
				"response_type": "code", "client_id": craftedClient, "redirect_uri": craftedRedir,
				"prompt": "login", "max_age": "0", "login_hint": "alice", "scope": "openid email",
				"code_challenge_method": "S256", "state": req.State,
			} {
				if q.Get(k) != want {
					t.Errorf("%s = %q, want %q (%s)", k, q.Get(k), want, req.URL)
				}
			}
			if q.Has("nonce") || req.Nonce != "" {
				t.Errorf("nonce sent: %s", req.URL)
			}
			if len(q["custom"]) != 2 || req.MaxAge == nil || *req.MaxAge != 0 || req.Scope != "openid email" {
				t.Errorf("custom %v, MaxAge %v, Scope %q", q["custom"], req.MaxAge, req.Scope)
			}
			if sum := sha256.Sum256([]byte(req.CodeVerifier)); q.Get("code_challenge") != base64.RawURLEncoding.EncodeToString(sum[:]) {
				t.Errorf("code_challenge %q does not match the verifier", q.Get("code_challenge"))
			}
			if req.State == "" || len(req.State) < 16 {
				t.Errorf("state %q", req.State)
			}
		})
	}
}
