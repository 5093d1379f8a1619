package demo_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/tether-id/tether/demo"
)

const (
	clientID     = "tether"
	clientSecret = "s3cret-for-tests"
)

// env is a demo OP mounted under prefix on an httptest server, next to the
// paths of a pretend relying party, the way `tether dev` mounts it.
type env struct {
	base, issuer string
	redirectURI  string
	logoutURI    string
	provider     *oidc.Provider
	ctx          context.Context
}

func start(t *testing.T, prefix string) *env {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	e := &env{
		base:        base,
		issuer:      base + prefix,
		redirectURI: base + "/rp/callback",
		logoutURI:   base + "/rp/signed-out",
	}
	o, err := demo.New(demo.Config{
		Issuer:                 e.issuer,
		ClientID:               clientID,
		ClientSecret:           clientSecret,
		RedirectURIs:           []string{e.redirectURI},
		PostLogoutRedirectURIs: []string{e.logoutURI},
		Logger:                 slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(prefix+"/", o.Handler())
	mux.HandleFunc("/rp/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "the relying party is not reached in these tests", http.StatusTeapot)
	})
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(srv.Close)

	e.ctx = oidc.ClientContext(t.Context(), srv.Client())
	e.provider, err = oidc.NewProvider(e.ctx, e.issuer) // checks the issuer exactly
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) oauth(style oauth2.AuthStyle, scopes ...string) *oauth2.Config {
	ep := e.provider.Endpoint()
	ep.AuthStyle = style
	return &oauth2.Config{
		ClientID:     clientID,
		ClientSecret: clientSecret,
		Endpoint:     ep,
		RedirectURL:  e.redirectURI,
		Scopes:       scopes,
	}
}

// browser is a cookie-jar client that stops at the relying party's redirect
// URIs, as a browser would hand the response over to the relying party.
func (e *env) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Jar: jar,
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if strings.HasPrefix(req.URL.String(), e.base+"/rp/") {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
}

// attempt is one authorization request with its secrets.
type attempt struct {
	url, state, nonce, verifier string
}

func (e *env) newAttempt(cfg *oauth2.Config, opts ...oauth2.AuthCodeOption) attempt {
	a := attempt{state: oauth2.GenerateVerifier(), nonce: oauth2.GenerateVerifier(), verifier: oauth2.GenerateVerifier()}
	opts = append([]oauth2.AuthCodeOption{oidc.Nonce(a.nonce), oauth2.S256ChallengeOption(a.verifier)}, opts...)
	a.url = cfg.AuthCodeURL(a.state, opts...)
	return a
}

// loginPage is the demo's sign-in page as fetched by a browser.
type loginPage struct {
	url  *url.URL
	body string
}

var (
	idField     = regexp.MustCompile(`name="id" value="([^"]+)"`)
	actionField = regexp.MustCompile(`<form[^>]* action="([^"]+)"`)
)

func (p loginPage) id(t *testing.T) string {
	t.Helper()
	m := idField.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no request id on the sign-in page:\n%s", p.body)
	}
	return m[1]
}

// submit posts form with the page's request id to the page's form action.
func (p loginPage) submit(t *testing.T, b *http.Client, form url.Values) *http.Response {
	t.Helper()
	m := actionField.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no form on the sign-in page:\n%s", p.body)
	}
	action, err := p.url.Parse(m[1])
	if err != nil {
		t.Fatal(err)
	}
	form.Set("id", p.id(t))
	resp, err := b.PostForm(action.String(), form)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// openLogin follows the authorization URL to the sign-in page.
func openLogin(t *testing.T, b *http.Client, authURL string) loginPage {
	t.Helper()
	resp, err := b.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("authorize: got %s %q, want the sign-in page:\n%s", resp.Status, resp.Header.Get("Location"), body)
	}
	return loginPage{url: resp.Request.URL, body: body}
}

// callback checks that resp is the redirect to the relying party and returns
// its parameters.
func (e *env) callback(t *testing.T, resp *http.Response) url.Values {
	t.Helper()
	defer resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("got %s, want a redirect to the relying party: %v", resp.Status, err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != e.redirectURI {
		t.Fatalf("redirected to %s, want %s", loc, e.redirectURI)
	}
	q := loc.Query()
	if q.Get("iss") != e.issuer {
		t.Errorf("callback iss = %q, want %q (RFC 9207)", q.Get("iss"), e.issuer)
	}
	return q
}

// signIn runs the browser part of a flow and returns the callback parameters.
func (e *env) signIn(t *testing.T, a attempt, form url.Values) url.Values {
	t.Helper()
	b := e.browser()
	q := e.callback(t, openLogin(t, b, a.url).submit(t, b, form))
	if q.Get("state") != a.state {
		t.Fatalf("callback state = %q, want %q", q.Get("state"), a.state)
	}
	if q.Get("error") != "" {
		t.Fatalf("callback error %q: %s", q.Get("error"), q.Get("error_description"))
	}
	return q
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (e *env) verify(t *testing.T, tok *oauth2.Token) *oidc.IDToken {
	t.Helper()
	raw, ok := tok.Extra("id_token").(string)
	if !ok {
		t.Fatal("token response has no id_token")
	}
	idt, err := e.provider.Verifier(&oidc.Config{ClientID: clientID}).Verify(e.ctx, raw)
	if err != nil {
		t.Fatalf("verifying the ID token: %v", err)
	}
	return idt
}

func oauthErrorCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

func TestDiscovery(t *testing.T) {
	for _, prefix := range []string{"", "/demo", "/tenants/demo"} {
		t.Run("prefix="+prefix, func(t *testing.T) {
			e := start(t, prefix) // go-oidc checked the issuer
			var doc map[string]any
			resp, err := http.Get(e.issuer + "/.well-known/openid-configuration")
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(readBody(t, resp)), &doc); err != nil {
				t.Fatal(err)
			}
			if doc["issuer"] != e.issuer {
				t.Errorf("issuer = %v, want exactly %q", doc["issuer"], e.issuer)
			}
			for _, key := range []string{"authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri", "end_session_endpoint", "revocation_endpoint"} {
				if s, _ := doc[key].(string); !strings.HasPrefix(s, e.issuer+"/") {
					t.Errorf("%s = %v, want a URL under %s", key, doc[key], e.issuer)
				}
			}
			for _, key := range []string{"device_authorization_endpoint", "check_session_iframe"} {
				if v, ok := doc[key]; ok {
					t.Errorf("%s = %v advertised, but the demo does not support it", key, v)
				}
			}
			want := map[string][]any{
				"code_challenge_methods_supported":      {"S256"},
				"response_types_supported":              {"code"},
				"response_modes_supported":              {"query"},
				"grant_types_supported":                 {"authorization_code", "refresh_token"},
				"token_endpoint_auth_methods_supported": {"client_secret_basic", "client_secret_post"},
				"id_token_signing_alg_values_supported": {"RS256"},
			}
			for key, w := range want {
				if got, _ := doc[key].([]any); !slices.Equal(got, w) {
					t.Errorf("%s = %v, want %v", key, doc[key], w)
				}
			}
			if doc["authorization_response_iss_parameter_supported"] != true {
				t.Errorf("authorization_response_iss_parameter_supported = %v, want true", doc["authorization_response_iss_parameter_supported"])
			}

			var jwks struct {
				Keys []struct{ Kid, Alg, Use, Kty string }
			}
			resp, err = http.Get(doc["jwks_uri"].(string))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(readBody(t, resp)), &jwks); err != nil {
				t.Fatal(err)
			}
			if len(jwks.Keys) != 1 || jwks.Keys[0].Kid == "" || jwks.Keys[0].Alg != "RS256" || jwks.Keys[0].Use != "sig" || jwks.Keys[0].Kty != "RSA" {
				t.Errorf("JWKS = %+v, want one RS256 signing key with a kid", jwks.Keys)
			}

			if prefix != "" {
				resp, err := http.Get(e.base + "/.well-known/openid-configuration")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusNotFound {
					t.Errorf("discovery outside the prefix: got %s, want 404", resp.Status)
				}
			}
		})
	}
}

func TestSignIn(t *testing.T) {
	e := start(t, "/demo")
	tests := []struct {
		name  string
		form  url.Values
		style oauth2.AuthStyle

		user, email, displayName string
		verified, picture        bool
	}{
		{
			name: "alice with one click, client_secret_basic", form: url.Values{"as": {"alice"}}, style: oauth2.AuthStyleInHeader,
			user: "alice", email: "alice@demo.tether.test", displayName: "Alice Demo", verified: true, picture: true,
		},
		{
			name: "bob with a password, client_secret_post", form: url.Values{"username": {"bob"}, "password": {"demo"}}, style: oauth2.AuthStyleInParams,
			user: "bob", email: "bob@demo.tether.test", displayName: "Bob Demo", verified: false, picture: true,
		},
		{
			name: "carol with one click, no picture", form: url.Values{"as": {"carol"}}, style: oauth2.AuthStyleInHeader,
			user: "carol", email: "carol@demo.tether.test", displayName: "Carol Demo", verified: true, picture: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := e.oauth(tt.style, oidc.ScopeOpenID, "profile", "email")
			a := e.newAttempt(cfg)
			q := e.signIn(t, a, tt.form)

			tok, err := cfg.Exchange(e.ctx, q.Get("code"), oauth2.VerifierOption(a.verifier))
			if err != nil {
				t.Fatalf("exchanging the code: %v", err)
			}
			if tok.RefreshToken != "" {
				t.Error("got a refresh token without offline_access")
			}
			idt := e.verify(t, tok)
			if idt.Nonce != a.nonce {
				t.Errorf("ID token nonce = %q, want %q", idt.Nonce, a.nonce)
			}
			if idt.Subject != tt.user {
				t.Errorf("ID token sub = %q, want %q", idt.Subject, tt.user)
			}
			if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
				t.Errorf("at_hash: %v", err)
			}

			info, err := e.provider.UserInfo(e.ctx, oauth2.StaticTokenSource(tok))
			if err != nil {
				t.Fatalf("userinfo: %v", err)
			}
			if info.Subject != tt.user {
				t.Errorf("userinfo sub = %q, want %q", info.Subject, tt.user)
			}
			var idClaims, uiClaims map[string]any
			if err := idt.Claims(&idClaims); err != nil {
				t.Fatal(err)
			}
			if err := info.Claims(&uiClaims); err != nil {
				t.Fatal(err)
			}
			for source, claims := range map[string]map[string]any{"ID token": idClaims, "userinfo": uiClaims} {
				if claims["email"] != tt.email {
					t.Errorf("%s email = %v, want %q", source, claims["email"], tt.email)
				}
				// Present even when false: an unverified address must say so.
				if v, ok := claims["email_verified"]; !ok || v != tt.verified {
					t.Errorf("%s email_verified = %v (present %v), want %v", source, v, ok, tt.verified)
				}
				if claims["name"] != tt.displayName {
					t.Errorf("%s name = %v, want %q", source, claims["name"], tt.displayName)
				}
				pic, hasPic := claims["picture"].(string)
				if hasPic != tt.picture {
					t.Errorf("%s picture = %v, want one: %v", source, claims["picture"], tt.picture)
				}
				if hasPic && pic != e.issuer+"/avatars/"+tt.user+".svg" {
					t.Errorf("%s picture = %q, want the OP's own avatar", source, pic)
				}
			}
			if pic, ok := uiClaims["picture"].(string); ok {
				resp, err := http.Get(pic)
				if err != nil {
					t.Fatal(err)
				}
				body := readBody(t, resp)
				if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/svg+xml" || !strings.Contains(body, "<svg") {
					t.Errorf("picture: got %s %s", resp.Status, resp.Header.Get("Content-Type"))
				}
			}
		})
	}
}

func TestPKCERequiredAtAuthorize(t *testing.T) {
	e := start(t, "/demo")
	cfg := e.oauth(oauth2.AuthStyleInHeader, oidc.ScopeOpenID)
	tests := []struct {
		name string
		opts []oauth2.AuthCodeOption
	}{
		{"no code_challenge", nil},
		{"plain method", []oauth2.AuthCodeOption{
			oauth2.SetAuthURLParam("code_challenge", oauth2.GenerateVerifier()),
			oauth2.SetAuthURLParam("code_challenge_method", "plain"),
		}},
		{"challenge without a method, which means plain", []oauth2.AuthCodeOption{
			oauth2.SetAuthURLParam("code_challenge", oauth2.GenerateVerifier()),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state := oauth2.GenerateVerifier()
			resp, err := e.browser().Get(cfg.AuthCodeURL(state, append(tt.opts, oidc.Nonce("n"))...))
			if err != nil {
				t.Fatal(err)
			}
			q := e.callback(t, resp)
			if q.Get("error") != "invalid_request" || q.Get("state") != state || q.Has("code") {
				t.Errorf("callback = %v, want error=invalid_request with the state and no code", q)
			}
		})
	}
}

func TestPKCEVerifiedAtToken(t *testing.T) {
	e := start(t, "/demo")
	cfg := e.oauth(oauth2.AuthStyleInHeader, oidc.ScopeOpenID)
	tests := []struct {
		name     string
		opts     []oauth2.AuthCodeOption
		wantCode string
	}{
		{"wrong verifier", []oauth2.AuthCodeOption{oauth2.VerifierOption(oauth2.GenerateVerifier())}, "invalid_grant"},
		{"no verifier", nil, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := e.newAttempt(cfg)
			q := e.signIn(t, a, url.Values{"as": {"alice"}})
			_, err := cfg.Exchange(e.ctx, q.Get("code"), tt.opts...)
			if got := oauthErrorCode(err); got != tt.wantCode {
				t.Fatalf("exchange error = %v, want %s", err, tt.wantCode)
			}
			// The code is single use: the right verifier cannot rescue it.
			_, err = cfg.Exchange(e.ctx, q.Get("code"), oauth2.VerifierOption(a.verifier))
			if got := oauthErrorCode(err); got != "invalid_grant" {
				t.Fatalf("second exchange error = %v, want invalid_grant", err)
			}
		})
	}
}

func TestCodeIsSingleUse(t *testing.T) {
	e := start(t, "/demo")
	cfg := e.oauth(oauth2.AuthStyleInHeader, oidc.ScopeOpenID)
	a := e.newAttempt(cfg)
	q := e.signIn(t, a, url.Values{"as": {"alice"}})
	if _, err := cfg.Exchange(e.ctx, q.Get("code"), oauth2.VerifierOption(a.verifier)); err != nil {
		t.Fatal(err)
	}
	_, err := cfg.Exchange(e.ctx, q.Get("code"), oauth2.VerifierOption(a.verifier))
	if got := oauthErrorCode(err); got != "invalid_grant" {
		t.Fatalf("replayed code: error = %v, want invalid_grant", err)
	}
}

func TestClientAuthentication(t *testing.T) {
	e := start(t, "/demo")
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		cfg := e.oauth(style, oidc.ScopeOpenID)
		a := e.newAttempt(cfg)
		q := e.signIn(t, a, url.Values{"as": {"alice"}})
		cfg.ClientSecret = "wrong"
		_, err := cfg.Exchange(e.ctx, q.Get("code"), oauth2.VerifierOption(a.verifier))
		if err == nil {
			t.Errorf("auth style %d: a wrong client secret was accepted", style)
		}
	}
}

func TestRedirectURIMustMatchExactly(t *testing.T) {
	e := start(t, "/demo")
	for _, redirect := range []string{
		e.base + "/rp/elsewhere",
		e.redirectURI + "/",
		e.redirectURI + "?extra=1",
		"http://attacker.test/rp/callback",
	} {
		t.Run(redirect, func(t *testing.T) {
			cfg := e.oauth(oauth2.AuthStyleInHeader, oidc.ScopeOpenID)
			cfg.RedirectURL = redirect
			a := e.newAttempt(cfg)
			resp, err := e.browser().Get(a.url)
			if err != nil {
				t.Fatal(err)
			}
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Errorf("got %s to %q, want 400 and no redirect", resp.Status, resp.Header.Get("Location"))
			}
			if strings.Contains(body, `name="id"`) {
				t.Error("the sign-in page was shown for an unregistered redirect URI")
			}
		})
	}
	t.Run("unknown client", func(t *testing.T) {
		cfg := e.oauth(oauth2.AuthStyleInHeader, oidc.ScopeOpenID)
		cfg.ClientID = "someone-else"
		resp, err := e.browser().Get(e.newAttempt(cfg).url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Errorf("got %s to %q, want 400 and no redirect", resp.Status, resp.Header.Get("Location"))
		}
	})
}

func TestRefreshWithOfflineAccess(t *testing.T) {
	e := start(t, "/demo")
	cfg := e.oauth(oauth2.AuthStyleInHeader, oidc.ScopeOpenID, oidc.ScopeOfflineAccess, "email")
	a := e.newAttempt(cfg)
	q := e.signIn(t, a, url.Values{"as": {"alice"}})
	first, err := cfg.Exchange(e.ctx, q.Get("code"), oauth2.VerifierOption(a.verifier))
	if err != nil {
		t.Fatal(err)
	}
	if first.RefreshToken == "" {
		t.Fatal("no refresh token with offline_access")
	}

	second, err := cfg.TokenSource(e.ctx, &oauth2.Token{RefreshToken: first.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("refreshing: %v", err)
	}
	if second.AccessToken == "" || second.AccessToken == first.AccessToken {
		t.Error("the refresh gave no new access token")
	}
	if second.RefreshToken == "" || second.RefreshToken == first.RefreshToken {
		t.Error("the refresh token was not rotated")
	}
	if idt := e.verify(t, second); idt.Subject != "alice" {
		t.Errorf("refreshed ID token sub = %q, want alice", idt.Subject)
	}
	info, err := e.provider.UserInfo(e.ctx, oauth2.StaticTokenSource(second))
	if err != nil {
		t.Fatalf("userinfo with the refreshed access token: %v", err)
	}
	if info.Email != "alice@demo.tether.test" {
		t.Errorf("userinfo email = %q", info.Email)
	}

	_, err = cfg.TokenSource(e.ctx, &oauth2.Token{RefreshToken: first.RefreshToken}).Token()
	if got := oauthErrorCode(err); got != "invalid_grant" {
		t.Errorf("reusing the rotated refresh token: error = %v, want invalid_grant", err)
	}
}

func TestAuthorizeErrorsRedirectWithIss(t *testing.T) {
	e := start(t, "/demo")
	tests := []struct {
		name      string
		scopes    []string
		opts      []oauth2.AuthCodeOption
		wantError string
	}{
		{"prompt=none", []string{oidc.ScopeOpenID}, []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("prompt", "none")}, "login_required"},
		{"no openid scope", []string{"email"}, nil, "invalid_scope"},
		{"fragment response mode", []string{oidc.ScopeOpenID}, []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("response_mode", "fragment")}, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := e.newAttempt(e.oauth(oauth2.AuthStyleInHeader, tt.scopes...), tt.opts...)
			resp, err := e.browser().Get(a.url)
			if err != nil {
				t.Fatal(err)
			}
			loc, _ := resp.Location()
			resp.Body.Close()
			if loc == nil {
				t.Fatalf("got %s, want an error redirect", resp.Status)
			}
			// The fragment mode error is sent the way it was asked for.
			q := loc.Query()
			if loc.Fragment != "" {
				q, _ = url.ParseQuery(loc.Fragment)
			}
			if q.Get("error") != tt.wantError || q.Get("state") != a.state {
				t.Errorf("redirect to %s, want error=%s with the state", loc, tt.wantError)
			}
		})
	}
}

func TestLoginPage(t *testing.T) {
	e := start(t, "/demo")
	cfg := e.oauth(oauth2.AuthStyleInHeader, oidc.ScopeOpenID)

	t.Run("content", func(t *testing.T) {
		b := e.browser()
		resp, err := b.Get(e.newAttempt(cfg, oauth2.SetAuthURLParam("login_hint", "bob")).url)
		if err != nil {
			t.Fatal(err)
		}
		body := readBody(t, resp)
		for _, want := range []string{
			"built-in demo provider",
			"Sign in as Alice Demo", "Sign in as Bob Demo", "Sign in as Carol Demo",
			"email not verified",
			"<kbd>demo</kbd>",
			`id="username" name="username" value="bob"`, // login_hint
			`<label for="password">`,
			`action="/demo/login"`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("the page lacks %q", want)
			}
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("Content-Security-Policy = %q", csp)
		}
	})

	t.Run("wrong password, then the right one", func(t *testing.T) {
		a := e.newAttempt(cfg)
		b := e.browser()
		page := openLogin(t, b, a.url)
		resp := page.submit(t, b, url.Values{"username": {"alice"}, "password": {"nope"}})
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `role="alert"`) || !strings.Contains(body, "Wrong username or password") {
			t.Fatalf("got %s, want the page again with an error", resp.Status)
		}
		q := e.callback(t, page.submit(t, b, url.Values{"username": {"alice"}, "password": {"demo"}}))
		if q.Get("code") == "" || q.Get("state") != a.state {
			t.Errorf("callback = %v, want a code", q)
		}
	})

	t.Run("unknown user button", func(t *testing.T) {
		b := e.browser()
		page := openLogin(t, b, e.newAttempt(cfg).url)
		resp := page.submit(t, b, url.Values{"as": {"mallory"}})
		if body := readBody(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(body, `role="alert"`) {
			t.Errorf("got %s, want the page again with an error", resp.Status)
		}
	})

	t.Run("a finished request cannot be signed in again", func(t *testing.T) {
		b := e.browser()
		page := openLogin(t, b, e.newAttempt(cfg).url)
		e.callback(t, page.submit(t, b, url.Values{"as": {"alice"}}))
		resp := page.submit(t, b, url.Values{"as": {"bob"}})
		if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "expired") {
			t.Errorf("got %s, want 400 and the expired page", resp.Status)
		}
	})

	t.Run("unknown request id", func(t *testing.T) {
		for _, req := range []func() (*http.Response, error){
			func() (*http.Response, error) { return http.Get(e.issuer + "/login?id=nope") },
			func() (*http.Response, error) {
				return http.PostForm(e.issuer+"/login", url.Values{"id": {"nope"}, "as": {"alice"}})
			},
		} {
			resp, err := req()
			if err != nil {
				t.Fatal(err)
			}
			if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "expired") {
				t.Errorf("got %s, want 400 and the expired page", resp.Status)
			}
		}
	})

	t.Run("cancel", func(t *testing.T) {
		a := e.newAttempt(cfg)
		b := e.browser()
		page := openLogin(t, b, a.url)
		q := e.callback(t, page.submit(t, b, url.Values{"cancel": {"1"}}))
		if q.Get("error") != "access_denied" || q.Get("state") != a.state || q.Has("code") {
			t.Errorf("callback = %v, want error=access_denied with the state", q)
		}
		resp := page.submit(t, b, url.Values{"as": {"alice"}})
		if readBody(t, resp); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("signing in after cancelling: got %s, want 400", resp.Status)
		}
	})
}

func TestEndSession(t *testing.T) {
	e := start(t, "/demo")
	var endpoints struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := e.provider.Claims(&endpoints); err != nil {
		t.Fatal(err)
	}
	cfg := e.oauth(oauth2.AuthStyleInHeader, oidc.ScopeOpenID, oidc.ScopeOfflineAccess)
	signedIn := func(t *testing.T) *oauth2.Token {
		a := e.newAttempt(cfg)
		q := e.signIn(t, a, url.Values{"as": {"alice"}})
		tok, err := cfg.Exchange(e.ctx, q.Get("code"), oauth2.VerifierOption(a.verifier))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	t.Run("to a registered post_logout_redirect_uri", func(t *testing.T) {
		tok := signedIn(t)
		end := endpoints.EndSession + "?" + url.Values{
			"id_token_hint":            {tok.Extra("id_token").(string)},
			"post_logout_redirect_uri": {e.logoutURI},
			"state":                    {"s1"},
		}.Encode()
		resp, err := e.browser().Get(end)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, err := resp.Location()
		if err != nil || loc.Scheme+"://"+loc.Host+loc.Path != e.logoutURI || loc.Query().Get("state") != "s1" {
			t.Fatalf("got %s to %v, want a redirect to %s with the state", resp.Status, loc, e.logoutURI)
		}
		if _, err := e.provider.UserInfo(e.ctx, oauth2.StaticTokenSource(tok)); err == nil {
			t.Error("the access token still works after end_session")
		}
		_, err = cfg.TokenSource(e.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if err == nil {
			t.Error("the refresh token still works after end_session")
		}
	})

	t.Run("unregistered post_logout_redirect_uri", func(t *testing.T) {
		tok := signedIn(t)
		end := endpoints.EndSession + "?" + url.Values{
			"id_token_hint":            {tok.Extra("id_token").(string)},
			"post_logout_redirect_uri": {"http://attacker.test/"},
		}.Encode()
		resp, err := e.browser().Get(end)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("got %s to %q, want 400", resp.Status, resp.Header.Get("Location"))
		}
	})

	t.Run("to the OP's own page", func(t *testing.T) {
		tok := signedIn(t)
		resp, err := e.browser().Get(endpoints.EndSession + "?id_token_hint=" + url.QueryEscape(tok.Extra("id_token").(string)))
		if err != nil {
			t.Fatal(err)
		}
		if body := readBody(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Signed out") {
			t.Errorf("got %s, want the signed-out page", resp.Status)
		}
	})
}

func TestAvatars(t *testing.T) {
	e := start(t, "/demo")
	for path, want := range map[string]int{
		"/avatars/alice.svg":   http.StatusOK,
		"/avatars/carol.svg":   http.StatusOK, // served, though carol's claims have no picture
		"/avatars/mallory.svg": http.StatusNotFound,
		"/avatars/alice.png":   http.StatusNotFound,
	} {
		resp, err := http.Get(e.issuer + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: got %s, want %d", path, resp.Status, want)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	good := func() demo.Config {
		return demo.Config{
			Issuer: "http://127.0.0.1:5212/demo", ClientID: "c", ClientSecret: "s",
			RedirectURIs: []string{"http://127.0.0.1:5212/callback"},
		}
	}
	if _, err := demo.New(good()); err != nil {
		t.Fatalf("the good config: %v", err)
	}
	tests := []struct {
		name   string
		change func(*demo.Config)
	}{
		{"no issuer", func(c *demo.Config) { c.Issuer = "" }},
		{"relative issuer", func(c *demo.Config) { c.Issuer = "/demo" }},
		{"issuer with a trailing slash", func(c *demo.Config) { c.Issuer += "/" }},
		{"issuer with a query", func(c *demo.Config) { c.Issuer += "?x=1" }},
		{"issuer with a fragment", func(c *demo.Config) { c.Issuer += "#x" }},
		{"issuer with an escaped path", func(c *demo.Config) { c.Issuer = "http://127.0.0.1:5212/de%2Fmo" }},
		{"issuer of another scheme", func(c *demo.Config) { c.Issuer = "ftp://127.0.0.1/demo" }},
		{"no client id", func(c *demo.Config) { c.ClientID = "" }},
		{"no client secret", func(c *demo.Config) { c.ClientSecret = "" }},
		{"no redirect URI", func(c *demo.Config) { c.RedirectURIs = nil }},
		{"relative redirect URI", func(c *demo.Config) { c.RedirectURIs = []string{"/callback"} }},
		{"bad post-logout URI", func(c *demo.Config) { c.PostLogoutRedirectURIs = []string{"app:/x"} }},
		{"user without a name", func(c *demo.Config) { c.Users = []demo.User{{Password: "x"}} }},
		{"user listed twice", func(c *demo.Config) { c.Users = []demo.User{{Username: "a"}, {Username: "a"}} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good()
			tt.change(&cfg)
			if _, err := demo.New(cfg); err == nil {
				t.Error("New accepted it")
			}
		})
	}
}

func TestRevokeAndIntrospect(t *testing.T) {
	e := start(t, "/demo")
	var endpoints struct {
		Revocation    string `json:"revocation_endpoint"`
		Introspection string `json:"introspection_endpoint"`
	}
	if err := e.provider.Claims(&endpoints); err != nil {
		t.Fatal(err)
	}
	cfg := e.oauth(oauth2.AuthStyleInHeader, oidc.ScopeOpenID, oidc.ScopeOfflineAccess, "email")
	a := e.newAttempt(cfg)
	q := e.signIn(t, a, url.Values{"as": {"bob"}})
	tok, err := cfg.Exchange(e.ctx, q.Get("code"), oauth2.VerifierOption(a.verifier))
	if err != nil {
		t.Fatal(err)
	}

	introspect := func(basic bool) (int, map[string]any) {
		form := url.Values{"token": {tok.AccessToken}}
		if !basic {
			form.Set("client_id", clientID)
			form.Set("client_secret", clientSecret)
		}
		req, _ := http.NewRequest(http.MethodPost, endpoints.Introspection, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if basic {
			req.SetBasicAuth(clientID, clientSecret)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		json.Unmarshal([]byte(readBody(t, resp)), &got)
		return resp.StatusCode, got
	}
	if status, got := introspect(true); status != http.StatusOK || got["active"] != true || got["sub"] != "bob" || got["client_id"] != clientID || got["email_verified"] != false {
		t.Errorf("introspection with client_secret_basic: %d %v, want bob's active token", status, got)
	}
	// Discovery advertises client_secret_basic only for introspection.
	if status, got := introspect(false); status == http.StatusOK && got["active"] == true {
		t.Error("introspection accepted client_secret_post, which discovery does not advertise")
	}

	// Revocation with client_secret_post (RFC 7009).
	resp, err := http.PostForm(endpoints.Revocation, url.Values{
		"token": {tok.RefreshToken}, "token_type_hint": {"refresh_token"},
		"client_id": {clientID}, "client_secret": {clientSecret},
	})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revocation: got %s", resp.Status)
	}
	_, err = cfg.TokenSource(e.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if got := oauthErrorCode(err); got != "invalid_grant" {
		t.Errorf("refreshing with a revoked token: error = %v, want invalid_grant", err)
	}
	if _, got := introspect(true); got["active"] == true {
		t.Error("the access token issued with the revoked refresh token is still active")
	}
}
