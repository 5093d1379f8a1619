package oidc_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tether-id/tether/testkit/testclock"
)

// craftedOP is an OP whose answers each test writes: discovery, JWKS,
// token and userinfo over real HTTP, with ID tokens signed by go-jose with
// whatever header, claims and key a case needs. A real OP cannot be made
// to send a wrong audience or an expired token; this one can, which is
// what the negative cases need.
type craftedOP struct {
	srv    *httptest.Server
	issuer string
	clock  *testclock.Clock

	mu            sync.Mutex
	discovery     map[string]any
	discoveryGate chan struct{} // when set, discovery waits for it to close
	keys          []jose.JSONWebKey
	idToken       string
	tokenReply    func(w http.ResponseWriter) // replaces the token answer
	userinfo      map[string]any              // nil: userinfo from the ID token's claims
	hits          map[string]int
	tokenAuth     string     // Authorization header of the last token request
	tokenForm     url.Values // body of the last token request
}

const (
	craftedClient = "crafted-client"
	craftedSecret = "crafted-client-secret-0123456789abcdef-0123456789abcdef-01234567"
	craftedAccess = "crafted-access-token"
)

func newCraftedOP(t *testing.T, c *testclock.Clock) *craftedOP {
	t.Helper()
	op := &craftedOP{clock: c, hits: map[string]int{}}
	mux := http.NewServeMux()
	op.srv = httptest.NewServer(mux)
	t.Cleanup(op.srv.Close)
	op.issuer = op.srv.URL
	op.discovery = map[string]any{
		"issuer":                                op.issuer,
		"authorization_endpoint":                op.issuer + "/auth",
		"token_endpoint":                        op.issuer + "/token",
		"userinfo_endpoint":                     op.issuer + "/userinfo",
		"jwks_uri":                              op.issuer + "/jwks",
		"end_session_endpoint":                  op.issuer + "/logout",
		"id_token_signing_alg_values_supported": []string{"RS256", "PS256", "ES256", "ES384", "ES512", "EdDSA"},
		"code_challenge_methods_supported":      []string{"S256"},
	}
	k := testKeys()
	op.keys = []jose.JSONWebKey{k.rsa.public(), k.es256.public(), k.es384.public(), k.es512.public(), k.ed.public()}

	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		op.mu.Lock()
		op.hits["discovery"]++
		gate := op.discoveryGate
		op.mu.Unlock()
		if gate != nil {
			<-gate
		}
		op.mu.Lock()
		defer op.mu.Unlock()
		writeJSON(w, http.StatusOK, op.discovery)
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		op.mu.Lock()
		defer op.mu.Unlock()
		op.hits["jwks"]++
		writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: op.keys})
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		op.mu.Lock()
		defer op.mu.Unlock()
		op.hits["token"]++
		op.tokenAuth, op.tokenForm = r.Header.Get("Authorization"), r.PostForm
		if op.tokenReply != nil {
			op.tokenReply(w)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"access_token": craftedAccess, "token_type": "Bearer", "expires_in": 3600,
			"refresh_token": "crafted-refresh-token", "id_token": op.idToken,
		})
	})
	mux.HandleFunc("/broken", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("GET /userinfo", func(w http.ResponseWriter, r *http.Request) {
		op.mu.Lock()
		defer op.mu.Unlock()
		op.hits["userinfo"]++
		if r.Header.Get("Authorization") != "Bearer "+craftedAccess {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "invalid_token"})
			return
		}
		info := op.userinfo
		if info == nil {
			info = map[string]any{"sub": "user-1"}
		}
		writeJSON(w, http.StatusOK, info)
	})
	return op
}

func (op *craftedOP) set(f func(op *craftedOP)) {
	op.mu.Lock()
	defer op.mu.Unlock()
	f(op)
}

func (op *craftedOP) hitCount(name string) int {
	op.mu.Lock()
	defer op.mu.Unlock()
	return op.hits[name]
}

// claims are valid ID token claims for nonce, at the OP's clock.
func (op *craftedOP) claims(nonce string) map[string]any {
	now := op.clock.Now()
	return map[string]any{
		"iss": op.issuer, "sub": "user-1", "aud": craftedClient,
		"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "nonce": nonce,
		"email": "one@example.test", "email_verified": true, "name": "User One",
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// signingKey is a private key with its kid.
type signingKey struct {
	kid string
	key any
}

func (k signingKey) public() jose.JSONWebKey {
	jwk := jose.JSONWebKey{Key: k.key, KeyID: k.kid, Use: "sig"}
	return jwk.Public()
}

// sign returns a compact JWS of claims; kid "" leaves the header's kid out.
func sign(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// unsigned returns an "alg":"none" token, which go-jose will not make.
func unsigned(t *testing.T, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc(payload) + "."
}

type keys struct {
	rsa, rsa2, rsaOther signingKey
	es256, es384, es512 signingKey
	ed                  signingKey
}

// testKeys are made once per test binary: RSA generation is slow.
var testKeys = sync.OnceValue(func() keys {
	rsaKey := func() *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		return k
	}
	ecKey := func(c elliptic.Curve) *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return keys{
		rsa:      signingKey{"rsa-1", rsaKey()},
		rsa2:     signingKey{"rsa-2", rsaKey()},
		rsaOther: signingKey{"rsa-1", rsaKey()}, // same kid, other key
		es256:    signingKey{"es256-1", ecKey(elliptic.P256())},
		es384:    signingKey{"es384-1", ecKey(elliptic.P384())},
		es512:    signingKey{"es512-1", ecKey(elliptic.P521())},
		ed:       signingKey{"ed-1", ed},
	}
})

// newClock is the clock shared by the OP and the provider, on a whole
// second so that JWT times (whole seconds) compare exactly.
func newClock() *testclock.Clock { return testclock.New(time.Now().Truncate(time.Second)) }

// challenge is RFC 7636's S256 challenge, computed independently.
func challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
