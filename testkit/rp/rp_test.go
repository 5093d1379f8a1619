package rp_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/tether-id/tether/testkit/rp"
	"github.com/tether-id/tether/testkit/testpeer"
)

// kinds are the two relying parties; every test against a real OP runs
// with each.
var kinds = []struct {
	name string
	new  func(testing.TB, rp.Config) rp.Client
}{
	{"go-oidc", func(t testing.TB, c rp.Config) rp.Client { return rp.New(t, c) }},
	{"openid-client", func(t testing.TB, c rp.Config) rp.Client { return rp.Node(t, c) }},
}

// peerConfig is the client registered at op, signing in as user in one
// browser.
func peerConfig(t testing.TB, op *testpeer.OP, b *testpeer.Browser, user testpeer.User, scopes ...string) rp.Config {
	return rp.Config{
		Issuer: op.Issuer, ClientID: op.ClientID, ClientSecret: op.ClientSecret,
		RedirectURL: op.RedirectURI(), Scopes: scopes, UserAgent: b.UserAgent(user),
	}
}

// traits are where the peers differ in what fullFlow may ask of them.
type traits struct {
	// introspectRefresh: the OP introspects refresh tokens (zitadel's
	// example storage knows access tokens only).
	introspectRefresh bool
	// revokedUserinfo is the error code of userinfo's refusal of a
	// revoked access token; "" accepts any refusal (zitadel answers 403
	// without WWW-Authenticate).
	revokedUserinfo string
}

// fullFlow signs in with PKCE, checks the ID token and userinfo, refreshes,
// revokes the access token and sees introspection call it inactive, and
// builds a logout URL. It returns the tokens and the logout URL.
func fullFlow(t *testing.T, c rp.Client, user testpeer.User, params url.Values, op traits) (*rp.Tokens, string) {
	t.Helper()
	tok := rp.MustLogin(t, c, params)
	if tok.Subject() != user.Subject {
		t.Errorf("sub = %q, want %q", tok.Subject(), user.Subject)
	}
	if tok.IDToken == "" || tok.AccessToken == "" || !strings.EqualFold(tok.TokenType, "bearer") {
		t.Errorf("tokens: id_token %t, access_token %t, token_type %q", tok.IDToken != "", tok.AccessToken != "", tok.TokenType)
	}
	if tok.Claims["nonce"] == nil || tok.Response["access_token"] != tok.AccessToken {
		t.Errorf("claims %v / response %v", tok.Claims, tok.Response)
	}

	info := rp.MustUserInfo(t, c, tok)
	if info["sub"] != user.Subject || info["email"] != user.Email {
		t.Errorf("userinfo = %v, want sub %q and email %q", info, user.Subject, user.Email)
	}

	if tok.RefreshToken == "" {
		t.Fatalf("no refresh token; response %v", tok.Response)
	}
	if op.introspectRefresh {
		if in := rp.MustIntrospect(t, c, tok.RefreshToken, "refresh_token"); !in.Active {
			t.Errorf("introspection of the refresh token: %v, want active", in.Claims)
		}
	}
	next := rp.MustRefresh(t, c, tok)
	if next.AccessToken == "" || next.AccessToken == tok.AccessToken {
		t.Errorf("refresh gave access token %q, want a new one", next.AccessToken)
	}
	if next.Subject() != user.Subject {
		t.Errorf("refreshed sub = %q", next.Subject())
	}

	if in := rp.MustIntrospect(t, c, next.AccessToken, "access_token"); !in.Active || in.Claims["sub"] != user.Subject {
		t.Errorf("introspection before revocation: %v, want active for %q", in.Claims, user.Subject)
	}
	rp.MustRevoke(t, c, next.AccessToken, "access_token")
	if in := rp.MustIntrospect(t, c, next.AccessToken, "access_token"); in.Active {
		t.Errorf("introspection after revocation: %v, want inactive", in.Claims)
	}
	if _, err := c.UserInfo(t.Context(), next); err == nil {
		t.Errorf("userinfo with a revoked access token succeeded")
	} else if code := rp.ErrorCode(err); op.revokedUserinfo != "" && code != op.revokedUserinfo {
		t.Errorf("userinfo with a revoked access token: %v (code %q), want %s", err, code, op.revokedUserinfo)
	}

	logout := rp.MustLogoutURL(t, c, rp.LogoutRequest{
		IDTokenHint: next.IDToken, PostLogoutRedirectURI: "http://rp.test/logged-out", State: "bye",
	})
	u, err := url.Parse(logout)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if q.Get("id_token_hint") != next.IDToken || q.Get("state") != "bye" || q.Get("client_id") == "" ||
		q.Get("post_logout_redirect_uri") != "http://rp.test/logged-out" {
		t.Errorf("logout URL %s", logout)
	}
	return next, logout
}

func TestPanva(t *testing.T) {
	t.Parallel()
	op := testpeer.Panva(t, testpeer.PanvaOptions{})
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			b := op.Browser(t)
			c := k.new(t, peerConfig(t, op, b, testpeer.Alice, "openid", "email", "profile", "offline_access"))
			// panva issues refresh tokens for offline_access only with
			// prompt=consent (OpenID Connect Core §11).
			tok, logout := fullFlow(t, c, testpeer.Alice, url.Values{"prompt": {"consent"}},
				traits{introspectRefresh: true, revokedUserinfo: "invalid_token"})
			if tok.Claims["email"] != testpeer.Alice.Email {
				t.Errorf("panva puts email in the ID token; claims %v", tok.Claims)
			}
			// The OP accepts the logout request and sends the browser back
			// with the state.
			back := b.Login(logout, testpeer.Alice)
			if back.Scheme+"://"+back.Host+back.Path != "http://rp.test/logged-out" || back.Query().Get("state") != "bye" {
				t.Errorf("logout came back as %s", back)
			}
		})
	}
}

// TestPanvaLogto signs in at panva configured like Logto: an issuer with
// a path and ES384 ID tokens.
func TestPanvaLogto(t *testing.T) {
	t.Parallel()
	op := testpeer.Panva(t, testpeer.PanvaOptions{Logto: true})
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			c := k.new(t, peerConfig(t, op, op.Browser(t), testpeer.Alice, "openid", "email", "offline_access"))
			tok := rp.MustLogin(t, c, url.Values{"prompt": {"consent"}})
			if alg := jwtAlg(t, tok.IDToken); alg != "ES384" {
				t.Errorf("ID token alg %s, want ES384", alg)
			}
			if info := rp.MustUserInfo(t, c, tok); info["email"] != testpeer.Alice.Email {
				t.Errorf("userinfo %v", info)
			}
			if next := rp.MustRefresh(t, c, tok); next.Subject() != testpeer.Alice.Subject {
				t.Errorf("refreshed sub %q", next.Subject())
			}
		})
	}
}

// jwtAlg reads the alg of a compact JWS.
func jwtAlg(t *testing.T, raw string) string {
	t.Helper()
	head, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		t.Fatal(err)
	}
	var h struct{ Alg string }
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h.Alg
}

func TestZitadel(t *testing.T) {
	t.Parallel()
	op := testpeer.Zitadel(t)
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			c := k.new(t, peerConfig(t, op, op.Browser(t), testpeer.Alice, "openid", "email", "profile", "offline_access"))
			tok, _ := fullFlow(t, c, testpeer.Alice, nil, traits{})
			if tok.Claims["at_hash"] == nil {
				t.Errorf("zitadel's ID token has at_hash, which the RP checked; claims %v", tok.Claims)
			}
		})
	}
}

// TestPublicClient signs in as a client without a secret (token endpoint
// auth none), which must use PKCE.
func TestPublicClient(t *testing.T) {
	t.Parallel()
	op := testpeer.Panva(t, testpeer.PanvaOptions{AuthMethod: rp.AuthNone})
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			cfg := peerConfig(t, op, op.Browser(t), testpeer.Bob, "openid", "email", "offline_access")
			if cfg.ClientSecret != "" {
				t.Fatalf("public client has secret %q", cfg.ClientSecret)
			}
			c := k.new(t, cfg)
			tok := rp.MustLogin(t, c, url.Values{"prompt": {"consent"}})
			if tok.Subject() != testpeer.Bob.Subject {
				t.Errorf("sub = %q", tok.Subject())
			}
			next := rp.MustRefresh(t, c, tok)
			rp.MustRevoke(t, c, next.RefreshToken, "refresh_token")
			if _, err := c.Refresh(t.Context(), next); rp.ErrorCode(err) != "invalid_grant" {
				t.Errorf("refresh with a revoked refresh token: %v, want invalid_grant", err)
			}
			// Without PKCE the OP refuses a public client, and the RP
			// surfaces the OP's error.
			_, err := c.Login(t.Context(), url.Values{"code_challenge": nil, "code_challenge_method": nil})
			if rp.ErrorCode(err) != "invalid_request" {
				t.Errorf("login without PKCE: %v, want invalid_request", err)
			}
		})
	}
}

// TestRefusals proves that each RP refuses a callback or ID token that
// does not match what it sent, with a real OP.
func TestRefusals(t *testing.T) {
	t.Parallel()
	op := testpeer.Panva(t, testpeer.PanvaOptions{})
	cases := []struct {
		name string
		// tamper changes the request or the callback after the login.
		tamper func(req *rp.AuthRequest, back url.Values)
		// goCheck is the Go RP's CheckError.Check; nodeCode is
		// openid-client's error code.
		goCheck, nodeCode string
	}{
		{"nonce", func(req *rp.AuthRequest, _ url.Values) { req.Nonce = "tampered" },
			"nonce", "OAUTH_JWT_CLAIM_COMPARISON_FAILED"},
		{"wrong iss", func(_ *rp.AuthRequest, q url.Values) { q.Set("iss", "http://127.0.0.1:1/evil") },
			"iss", "OAUTH_INVALID_RESPONSE"},
		{"missing iss", func(_ *rp.AuthRequest, q url.Values) { q.Del("iss") },
			"iss", "OAUTH_INVALID_RESPONSE"},
		{"state", func(_ *rp.AuthRequest, q url.Values) { q.Set("state", "forged") },
			"state", "OAUTH_INVALID_RESPONSE"},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			c := k.new(t, peerConfig(t, op, op.Browser(t), testpeer.Alice, "openid"))
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					req, err := c.AuthRequest(t.Context(), nil)
					if err != nil {
						t.Fatal(err)
					}
					back := op.Login(t, req.URL, testpeer.Alice)
					q := back.Query()
					tc.tamper(req, q)
					back.RawQuery = q.Encode()
					_, err = c.Callback(t.Context(), req, back)
					checkRefusal(t, err, tc.goCheck, tc.nodeCode)
				})
			}
		})
	}
}

// checkRefusal checks err is the Go RP's failed check goCheck or
// openid-client's error nodeCode; both "" means any error.
func checkRefusal(t *testing.T, err error, goCheck, nodeCode string) {
	t.Helper()
	var ce *rp.CheckError
	var ne *rp.NodeError
	switch {
	case err == nil:
		t.Errorf("accepted, want a refusal")
	case errors.As(err, &ce):
		if goCheck != "" && ce.Check != goCheck {
			t.Errorf("refused by check %q (%v), want %q", ce.Check, err, goCheck)
		}
	case errors.As(err, &ne):
		if nodeCode != "" && ne.Code != nodeCode {
			t.Errorf("refused with %q (%v), want %q", ne.Code, err, nodeCode)
		}
	default:
		t.Errorf("refused with %T %v, want a CheckError or NodeError", err, err)
	}
}

// TestCodeReplay redeems a code twice: the second exchange is an
// invalid_grant, an *oauth2.RetrieveError from the Go RP.
func TestCodeReplay(t *testing.T) {
	t.Parallel()
	op := testpeer.Zitadel(t)
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			c := k.new(t, peerConfig(t, op, op.Browser(t), testpeer.Bob, "openid"))
			req, err := c.AuthRequest(t.Context(), url.Values{"login_hint": {"bob"}})
			if err != nil {
				t.Fatal(err)
			}
			back := op.Login(t, req.URL, testpeer.Bob)
			if _, err := c.Callback(t.Context(), req, back); err != nil {
				t.Fatal(err)
			}
			_, err = c.Callback(t.Context(), req, back)
			if rp.ErrorCode(err) != "invalid_grant" {
				t.Errorf("second redemption: %v, want invalid_grant", err)
			}
			var re *oauth2.RetrieveError
			if k.name == "go-oidc" && !errors.As(err, &re) {
				t.Errorf("second redemption: %T, want *oauth2.RetrieveError", err)
			}
		})
	}
}

// TestMaxAge sends max_age: the OP must answer with auth_time, which each
// RP requires.
func TestMaxAge(t *testing.T) {
	t.Parallel()
	op := testpeer.Panva(t, testpeer.PanvaOptions{})
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			c := k.new(t, peerConfig(t, op, op.Browser(t), testpeer.Alice, "openid"))
			tok := rp.MustLogin(t, c, url.Values{"max_age": {"300"}, "login_hint": {"alice"}})
			if tok.Claims["auth_time"] == nil {
				t.Errorf("no auth_time in %v", tok.Claims)
			}
			got := op.LastAuthorization(t)
			if got.Get("max_age") != "300" || got.Get("login_hint") != "alice" {
				t.Errorf("the OP saw %v", got)
			}
		})
	}
}

// TestAtHashFromRealOP checks an ID token from zitadel (which sends
// at_hash) against another sign-in's access token: the Go RP refuses it.
func TestAtHashFromRealOP(t *testing.T) {
	t.Parallel()
	op := testpeer.Zitadel(t)
	c := rp.New(t, peerConfig(t, op, op.Browser(t), testpeer.Alice, "openid"))
	first := rp.MustLogin(t, c, nil)
	second := rp.MustLogin(t, c, nil)
	nonce, _ := first.Claims["nonce"].(string)
	if _, err := c.VerifyIDToken(t.Context(), first.IDToken, rp.Expect{Nonce: nonce, AccessToken: first.AccessToken}); err != nil {
		t.Fatalf("the ID token with its own access token: %v", err)
	}
	_, err := c.VerifyIDToken(t.Context(), first.IDToken, rp.Expect{Nonce: nonce, AccessToken: second.AccessToken})
	checkRefusal(t, err, "at_hash", "")
}

// TestDiscoveryIssuerMismatch: the Go RP compares issuers exactly, as
// tether's spec does. openid-client compares them as WHATWG URLs, for
// which http://host and http://host/ are the same; a different path is
// not.
func TestDiscoveryIssuerMismatch(t *testing.T) {
	t.Parallel()
	op := testpeer.Zitadel(t)
	noSlash := strings.TrimSuffix(op.Issuer, "/")
	if _, err := rp.Discover(t.Context(), rp.Config{Issuer: noSlash, ClientID: op.ClientID}); err == nil {
		t.Errorf("discovery with the issuer %q accepted", noSlash)
	}
	n := rp.StartNode(t, rp.Config{Issuer: op.Issuer + "other", ClientID: op.ClientID, RedirectURL: op.RedirectURI()})
	if _, err := n.Discovery(t.Context()); err == nil {
		t.Errorf("openid-client accepted the issuer %q", op.Issuer+"other")
	}
}
