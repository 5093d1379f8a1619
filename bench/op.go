package bench

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// OP is the OpenID Provider of the benchmarks: in-process (httptest), as
// cheap as an OP can be while tether's full validation still passes, so
// that what a benchmark measures is tether. It behaves like an OP with a
// person already signed in and no consent screen (Dex's mock connector
// with skipApprovalScreen): /authorize answers at once with a 302 to the
// redirect URI carrying a fresh single-use code, state and iss.
//
//   - discovery (/.well-known/openid-configuration) without a userinfo
//     endpoint, so a sign-in is prepare, authorize, finish plus the
//     back-channel token call;
//   - /jwks with one ES256 key;
//   - /authorize: response_type code, the registered client and redirect
//     URI, openid scope, state, nonce and an S256 code challenge
//     required; the signed-in person is the one the browser's
//     OPUserCookie names (a browser without it gets login_required);
//   - /token: client_secret_basic, the code once, the same redirect URI,
//     the PKCE verifier checked; an ES256 ID token with iss, sub, aud,
//     exp, iat, nonce, email, email_verified and name.
type OP struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	RedirectURI  string

	srv    *httptest.Server
	signer jose.Signer
	disco  []byte
	jwks   []byte

	mu    sync.Mutex
	codes map[string]grant

	// Counters of answered requests, for checks.
	Authorized atomic.Int64
	Redeemed   atomic.Int64
}

// OPUserCookie is the OP's session cookie: its value is the subject of
// the person signed in at the OP in that browser. A benchmark client sets
// it in its jar (SetUser) to sign in as someone.
const OPUserCookie = "bench_op_user"

// codeTTL is how long an authorization code stays good. Long: the finish
// benchmarks redeem codes made before the clock starts.
const codeTTL = 30 * time.Minute

type grant struct {
	subject     string
	redirectURI string
	challenge   string
	nonce       string
	expires     time.Time
}

// NewOP starts an OP whose one client has redirectURI registered. It
// stops when tb ends.
func NewOP(tb testing.TB, redirectURI string) *OP {
	tb.Helper()
	op, err := StartOP(redirectURI)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(op.Close)
	return op
}

// StartOP starts an OP whose one client has redirectURI registered; Close
// stops it.
func StartOP(redirectURI string) (*OP, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	const kid = "bench-es256"
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, err
	}
	op := &OP{
		ClientID:     "tether-bench",
		ClientSecret: "tether-bench-secret-0123456789abcdef",
		RedirectURI:  redirectURI,
		signer:       signer,
		codes:        map[string]grant{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", op.serve(func() []byte { return op.disco }))
	mux.HandleFunc("GET /jwks", op.serve(func() []byte { return op.jwks }))
	mux.HandleFunc("GET /authorize", op.authorize)
	mux.HandleFunc("POST /token", op.token)
	op.srv = httptest.NewServer(mux)
	op.Issuer = op.srv.URL

	pub := jose.JSONWebKey{Key: &key.PublicKey, KeyID: kid, Algorithm: "ES256", Use: "sig"}
	if op.jwks, err = json.Marshal(map[string]any{"keys": []jose.JSONWebKey{pub}}); err != nil {
		op.srv.Close()
		return nil, err
	}
	op.disco, err = json.Marshal(map[string]any{
		"issuer":                                         op.Issuer,
		"authorization_endpoint":                         op.Issuer + "/authorize",
		"token_endpoint":                                 op.Issuer + "/token",
		"jwks_uri":                                       op.Issuer + "/jwks",
		"response_types_supported":                       []string{"code"},
		"subject_types_supported":                        []string{"public"},
		"id_token_signing_alg_values_supported":          []string{"ES256"},
		"token_endpoint_auth_methods_supported":          []string{"client_secret_basic"},
		"code_challenge_methods_supported":               []string{"S256"},
		"grant_types_supported":                          []string{"authorization_code"},
		"scopes_supported":                               []string{"openid", "profile", "email"},
		"claims_supported":                               []string{"iss", "sub", "aud", "exp", "iat", "nonce", "email", "email_verified", "name"},
		"authorization_response_iss_parameter_supported": true,
	})
	if err != nil {
		op.srv.Close()
		return nil, err
	}
	return op, nil
}

// Close stops the OP.
func (op *OP) Close() { op.srv.Close() }

// SetUser signs subject in at the OP in the browser whose jar is jar.
func (op *OP) SetUser(jar http.CookieJar, subject string) {
	u, _ := url.Parse(op.Issuer)
	jar.SetCookies(u, []*http.Cookie{{Name: OPUserCookie, Value: subject, Path: "/"}})
}

// Profile is what the OP says about subject, besides the subject: the
// same every time, so a returning person brings no new profile.
func Profile(subject string) (email, name string) {
	return subject + "@bench.test", "Bench " + subject
}

// StoredClaims is the JSON tether keeps on the identity of subject after
// a sign-in through op (the ID token's claims without those of the one
// sign-in: exp, iat, nonce), so that seeded identities look returned.
func StoredClaims(issuer, clientID, subject string) string {
	email, name := Profile(subject)
	b, _ := json.Marshal(map[string]any{
		"aud": clientID, "email": email, "email_verified": true, "iss": issuer, "name": name, "sub": subject,
	})
	return string(b)
}

func (op *OP) serve(body func() []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body())
	}
}

// authorize answers like an OP with a signed-in person and nothing to ask.
func (op *OP) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != op.ClientID || q.Get("redirect_uri") != op.RedirectURI {
		// Never redirect to an unregistered URI.
		http.Error(w, "unknown client or redirect_uri", http.StatusBadRequest)
		return
	}
	back, _ := url.Parse(op.RedirectURI)
	answer := func(params url.Values) {
		params.Set("state", q.Get("state"))
		params.Set("iss", op.Issuer)
		back.RawQuery = params.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
	}
	fail := func(code, why string) { answer(url.Values{"error": {code}, "error_description": {why}}) }
	switch {
	case q.Get("response_type") != "code":
		fail("unsupported_response_type", "only code")
		return
	case !slices.Contains(strings.Fields(q.Get("scope")), "openid"):
		fail("invalid_scope", "openid is required")
		return
	case q.Get("state") == "" || q.Get("nonce") == "":
		fail("invalid_request", "state and nonce are required")
		return
	case q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43:
		fail("invalid_request", "an S256 code challenge is required")
		return
	}
	user, err := r.Cookie(OPUserCookie)
	if err != nil || user.Value == "" {
		fail("login_required", "nobody is signed in")
		return
	}
	code := rand.Text() + rand.Text()
	op.mu.Lock()
	op.codes[code] = grant{
		subject: user.Value, redirectURI: op.RedirectURI, challenge: q.Get("code_challenge"), nonce: q.Get("nonce"),
		expires: time.Now().Add(codeTTL),
	}
	op.mu.Unlock()
	op.Authorized.Add(1)
	answer(url.Values{"code": {code}})
}

// token redeems a code once (RFC 6749 §4.1.3, RFC 7636 §4.6).
func (op *OP) token(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, code, why string) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": why})
	}
	id, secret, ok := r.BasicAuth()
	if ok {
		// RFC 6749 §2.3.1: form-encoded before Basic.
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	}
	if !ok || id != op.ClientID || subtle.ConstantTimeCompare([]byte(secret), []byte(op.ClientSecret)) != 1 {
		w.Header().Set("WWW-Authenticate", `Basic realm="bench"`)
		fail(http.StatusUnauthorized, "invalid_client", "client_secret_basic required")
		return
	}
	if err := r.ParseForm(); err != nil {
		fail(http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	if r.PostForm.Get("grant_type") != "authorization_code" {
		fail(http.StatusBadRequest, "unsupported_grant_type", "only authorization_code")
		return
	}
	code := r.PostForm.Get("code")
	op.mu.Lock()
	g, found := op.codes[code]
	delete(op.codes, code) // single use, whatever follows
	op.mu.Unlock()
	now := time.Now()
	switch {
	case !found || now.After(g.expires):
		fail(http.StatusBadRequest, "invalid_grant", "unknown, used or expired code")
		return
	case r.PostForm.Get("redirect_uri") != g.redirectURI:
		fail(http.StatusBadRequest, "invalid_grant", "redirect_uri differs from the authorization request's")
		return
	}
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(g.challenge)) != 1 {
		fail(http.StatusBadRequest, "invalid_grant", "PKCE verification failed")
		return
	}
	email, name := Profile(g.subject)
	claims, err := json.Marshal(map[string]any{
		"iss": op.Issuer, "sub": g.subject, "aud": op.ClientID,
		"exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(), "nonce": g.nonce,
		"email": email, "email_verified": true, "name": name,
	})
	if err != nil {
		fail(http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	jws, err := op.signer.Sign(claims)
	if err != nil {
		fail(http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	idToken, err := jws.CompactSerialize()
	if err != nil {
		fail(http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	op.Redeemed.Add(1)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": rand.Text(), "token_type": "Bearer", "expires_in": 300, "id_token": idToken,
	})
}
