package op_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/testkit/rp"
	"github.com/tether-id/tether/testkit/testclock"
	"github.com/tether-id/tether/testkit/tethertest"
)

// authorizeURL is an authorization request of app id with params over
// the defaults (code, openid email, PKCE, state, nonce).
func (e *env) authorizeURL(t *testing.T, c *rp.RP, params url.Values) *rp.AuthRequest {
	t.Helper()
	req, err := c.AuthRequest(t.Context(), params)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// signedIn is a browser signed in to tether with the password.
func (e *env) signedIn(t *testing.T) *tethertest.Browser {
	t.Helper()
	b := e.Browser(t)
	if _, err := b.Visit(e.URL + "/login"); err != nil {
		t.Fatal(err)
	}
	p, err := b.Submit("/login", url.Values{"email": {email}, "password": {password}})
	if err != nil || p.Status != http.StatusOK || !strings.Contains(p.URL.Path, "/account") {
		t.Fatalf("sign-in: %v HTTP %d at %v", err, p.Status, p.URL)
	}
	return b
}

// post sends a form to a back-channel endpoint with Basic client
// authentication (none when id is "") and returns the status, the
// WWW-Authenticate header and the decoded JSON body.
func (e *env) post(t *testing.T, path, id, secret string, form url.Values) (int, string, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &body); err != nil {
			t.Fatalf("%s: not JSON: %s", path, b)
		}
	}
	if resp.StatusCode != http.StatusOK && resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("%s: an error answer without Cache-Control: no-store", path)
	}
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body
}

// wantRedirectError checks that visiting the request redirects to the
// app's redirect URI with error, the state and tether's issuer.
func (e *env) wantRedirectError(t *testing.T, b *tethertest.Browser, req *rp.AuthRequest, want string) {
	t.Helper()
	p, err := b.Visit(req.URL)
	if err != nil || p.Status/100 != 3 {
		t.Fatalf("HTTP %d (%v), want a redirect with error=%s:\n%s", p.Status, err, want, p.Body)
	}
	loc, _ := url.Parse(p.Location)
	q := loc.Query()
	if loc.Scheme+"://"+loc.Host+loc.Path != req.RedirectURI || q.Get("error") != want || q.Get("state") != req.State || q.Get("iss") != e.URL {
		t.Fatalf("redirect %s, want %s?error=%s with the state and iss", p.Location, req.RedirectURI, want)
	}
}

// wantErrorPage checks that visiting rawURL shows an error page and sends
// the browser nowhere.
func wantErrorPage(t *testing.T, b *tethertest.Browser, rawURL string) {
	t.Helper()
	p, err := b.Visit(rawURL)
	if err != nil || p.Status != http.StatusBadRequest || p.Location != "" || !strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("HTTP %d (%v) Location %q, want an error page and no redirect", p.Status, err, p.Location)
	}
}

// TestRefused is the negative matrix of SPEC §8: each request is refused
// the right way.
func TestRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	web := rp.New(t, e.rpConfig(webApp, e.Browser(t)))
	pub := rp.New(t, e.rpConfig(spa, e.Browser(t)))

	t.Run("unknown client", func(t *testing.T) {
		req := e.authorizeURL(t, web, url.Values{"client_id": {"nobody"}})
		wantErrorPage(t, e.Browser(t), req.URL)
	})
	t.Run("redirect URI not registered", func(t *testing.T) {
		for _, bad := range []string{
			"https://evil.example/callback",
			webBack + "/",                  // near miss: trailing slash
			webBack + "?x=1",               // near miss: query
			"http://127.0.0.1:10/callback", // another port: only public clients may
			"HTTP://127.0.0.1:9/callback",
			"",
		} {
			req := e.authorizeURL(t, web, url.Values{"redirect_uri": {bad}})
			wantErrorPage(t, e.Browser(t), req.URL)
		}
	})
	t.Run("response_type token or id_token", func(t *testing.T) {
		for _, rt := range []string{"token", "id_token", "code id_token", "code token"} {
			e.wantRedirectError(t, e.Browser(t), e.authorizeURL(t, web, url.Values{"response_type": {rt}}), "unsupported_response_type")
		}
	})
	t.Run("PKCE plain", func(t *testing.T) {
		req := e.authorizeURL(t, web, url.Values{"code_challenge_method": {"plain"}})
		e.wantRedirectError(t, e.Browser(t), req, "invalid_request")
	})
	t.Run("public client without PKCE", func(t *testing.T) {
		req := e.authorizeURL(t, pub, url.Values{"code_challenge": nil, "code_challenge_method": nil})
		e.wantRedirectError(t, e.Browser(t), req, "invalid_request")
	})
	t.Run("prompt=none without a session", func(t *testing.T) {
		e.wantRedirectError(t, e.Browser(t), e.authorizeURL(t, web, url.Values{"prompt": {"none"}}), "login_required")
	})
	t.Run("post_logout_redirect_uri not registered", func(t *testing.T) {
		b := e.signedIn(t)
		for _, q := range []url.Values{
			{"client_id": {webApp}, "post_logout_redirect_uri": {"https://evil.example/"}},
			{"client_id": {webApp}, "post_logout_redirect_uri": {webOut + "/"}},
			{"post_logout_redirect_uri": {webOut}}, // no client named
			{"client_id": {firstParty}, "post_logout_redirect_uri": {webOut}},
		} {
			wantErrorPage(t, b, e.URL+"/oauth2/logout?"+q.Encode())
		}
	})
}

// code runs an authorization of c for a signed-in browser (consenting)
// and returns the request and the code.
func (e *env) code(t *testing.T, c *rp.RP, b *tethertest.Browser, params url.Values) (*rp.AuthRequest, string) {
	t.Helper()
	req := e.authorizeURL(t, c, params)
	back, err := b.UserAgent(tethertest.Password(email, password), tethertest.Consent("approve"))(req.URL)
	if err != nil {
		t.Fatal(err)
	}
	code, err := c.ParseCallback(req, back)
	if err != nil {
		t.Fatal(err)
	}
	return req, code
}

// TestRefusedAtTokenEndpoint is the token endpoint's part of the matrix.
func TestRefusedAtTokenEndpoint(t *testing.T) {
	t.Parallel()
	clock := testclock.Running()
	e := newEnv(t, withClock(clock))
	web := rp.New(t, e.rpConfig(webApp, e.Browser(t)))
	fp := rp.New(t, e.rpConfig(firstParty, e.Browser(t)))
	b := e.signedIn(t)
	redeem := func(id, secret string, req *rp.AuthRequest, code string, change url.Values) (int, string, map[string]any) {
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {req.RedirectURI}, "code_verifier": {req.CodeVerifier}}
		for k, v := range change {
			form[k] = v
		}
		return e.post(t, "/oauth2/token", id, secret, form)
	}
	wantGrantError := func(t *testing.T, status int, body map[string]any) {
		t.Helper()
		if status != http.StatusBadRequest || body["error"] != "invalid_grant" {
			t.Fatalf("HTTP %d %v, want 400 invalid_grant", status, body)
		}
	}

	t.Run("wrong code_verifier", func(t *testing.T) {
		req, code := e.code(t, web, b, nil)
		status, _, body := redeem(webApp, webSecret, req, code, url.Values{"code_verifier": {strings.Repeat("x", 50)}})
		wantGrantError(t, status, body)
		// The code is used up by the attempt.
		status, _, body = redeem(webApp, webSecret, req, code, nil)
		wantGrantError(t, status, body)
	})
	t.Run("code replay revokes its tokens", func(t *testing.T) {
		req, code := e.code(t, web, b, nil)
		tok, err := web.Exchange(t.Context(), req, code)
		if err != nil {
			t.Fatal(err)
		}
		status, _, body := redeem(webApp, webSecret, req, code, nil)
		wantGrantError(t, status, body)
		if _, err := web.UserInfo(t.Context(), tok); rp.ErrorCode(err) != "invalid_token" {
			t.Errorf("userinfo with an access token of a replayed code: %v", err)
		}
		if _, err := web.Refresh(t.Context(), tok); rp.ErrorCode(err) != "invalid_grant" {
			t.Errorf("refresh token of a replayed code: %v", err)
		}
	})
	t.Run("code of another client or redirect URI", func(t *testing.T) {
		req, code := e.code(t, web, b, nil)
		status, _, body := redeem(firstParty, firstPartySecret, req, code, nil)
		wantGrantError(t, status, body)
		req, code = e.code(t, web, b, nil)
		status, _, body = redeem(webApp, webSecret, req, code, url.Values{"redirect_uri": {webOut}})
		wantGrantError(t, status, body)
	})
	t.Run("expired code", func(t *testing.T) {
		req, code := e.code(t, web, b, nil)
		clock.Advance(core.CodeTTL + time.Second)
		status, _, body := redeem(webApp, webSecret, req, code, nil)
		wantGrantError(t, status, body)
	})
	t.Run("wrong client secret", func(t *testing.T) {
		req, code := e.code(t, web, b, nil)
		for _, auth := range [][2]string{{webApp, "wrong-secret-0123456789"}, {webApp, ""}, {"nobody", "x"}} {
			status, challenge, body := redeem(auth[0], auth[1], req, code, nil)
			if status != http.StatusUnauthorized || body["error"] != "invalid_client" || !strings.HasPrefix(challenge, "Basic") {
				t.Errorf("%v: HTTP %d %v %q, want 401 invalid_client with a Basic challenge", auth, status, body, challenge)
			}
		}
		// The secret in the body is client_secret_post; both at once is refused.
		status, _, body := e.post(t, "/oauth2/token", "", "", url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"client_id": {webApp}, "client_secret": {"wrong-secret-0123456789"}})
		if status != http.StatusUnauthorized || body["error"] != "invalid_client" {
			t.Errorf("client_secret_post with a wrong secret: HTTP %d %v", status, body)
		}
		// The code survived the failed client authentications.
		tok, err := web.Exchange(t.Context(), req, code)
		if err != nil || tok.AccessToken == "" {
			t.Fatalf("the code after refused client authentications: %v", err)
		}
	})
	t.Run("refresh token of another client", func(t *testing.T) {
		req, code := e.code(t, web, b, url.Values{"scope": {"openid offline_access"}})
		tok, err := web.Exchange(t.Context(), req, code)
		if err != nil {
			t.Fatal(err)
		}
		status, _, body := e.post(t, "/oauth2/token", firstParty, firstPartySecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
		wantGrantError(t, status, body)
		if _, err := web.Refresh(t.Context(), tok); err != nil {
			t.Errorf("the app's own refresh after another client tried it: %v", err)
		}
		_ = fp
	})
	t.Run("refresh token reuse revokes the chain", func(t *testing.T) {
		req, code := e.code(t, web, b, url.Values{"scope": {"openid offline_access"}})
		tok, err := web.Exchange(t.Context(), req, code)
		if err != nil {
			t.Fatal(err)
		}
		next, err := web.Refresh(t.Context(), tok)
		if err != nil {
			t.Fatal(err)
		}
		status, _, body := e.post(t, "/oauth2/token", webApp, webSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
		wantGrantError(t, status, body)
		if _, err := web.Refresh(t.Context(), next); rp.ErrorCode(err) != "invalid_grant" {
			t.Errorf("the newest refresh token after a reuse: %v", err)
		}
		if _, err := web.UserInfo(t.Context(), next); rp.ErrorCode(err) != "invalid_token" {
			t.Errorf("an access token of the revoked chain: %v", err)
		}
	})
	t.Run("access token after revocation", func(t *testing.T) {
		req, code := e.code(t, web, b, url.Values{"scope": {"openid email offline_access"}})
		tok, err := web.Exchange(t.Context(), req, code)
		if err != nil {
			t.Fatal(err)
		}
		if err := web.Revoke(t.Context(), tok.AccessToken, "access_token"); err != nil {
			t.Fatal(err)
		}
		_, err = web.UserInfo(t.Context(), tok)
		var he *rp.HTTPError
		if !errors.As(err, &he) || he.Status != http.StatusUnauthorized || !strings.Contains(he.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("userinfo after revocation: %v", err)
		}
		if in, err := web.Introspect(t.Context(), tok.AccessToken, "access_token"); err != nil || in.Active {
			t.Errorf("introspection after revocation: %+v %v", in, err)
		}
		// Revoking the access token leaves the refresh token.
		if _, err := web.Refresh(t.Context(), tok); err != nil {
			t.Errorf("refresh after the access token's revocation: %v", err)
		}
	})
	t.Run("unsupported grant", func(t *testing.T) {
		status, _, body := e.post(t, "/oauth2/token", webApp, webSecret, url.Values{"grant_type": {"password"}, "username": {email}, "password": {password}})
		if status != http.StatusBadRequest || body["error"] != "unsupported_grant_type" {
			t.Errorf("password grant: HTTP %d %v", status, body)
		}
	})
}
