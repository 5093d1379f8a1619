package bench

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"
)

// An app signing its users in through tether's OpenID Provider (SPEC §8),
// the downstream half of the benchmarks: a confidential client whose ID
// tokens tether signs with Alg.
type App struct {
	ID, Secret, Alg string
}

// The apps of the measured tether: one per ID-token algorithm the
// benchmark compares (RSA signing is what costs Dex most).
var (
	AppRS256 = App{ID: "bench-rs256", Secret: "bench-rs256-secret-0123456789", Alg: "RS256"}
	AppES256 = App{ID: "bench-es256", Secret: "bench-es256-secret-0123456789", Alg: "ES256"}
)

// AppRedirectURI is where tether sends the browser back with the code.
// Nothing answers there: the browser stops at the redirect and hands the
// code to the app's back end, which redeems it.
const AppRedirectURI = PublicURL + "/app/callback"

// AppConfig is TetherConfig with the apps as clients of tether's OpenID
// Provider: first-party (no consent page), the bench OP as their
// provider.
func AppConfig(dsn string, op *OP, apps ...App) map[string]any {
	cfg := TetherConfig(dsn, op)
	var clients []map[string]any
	for _, a := range apps {
		clients = append(clients, map[string]any{
			"id": a.ID, "name": a.ID, "secret": a.Secret, "id_token_alg": a.Alg,
			"redirect_uris": []string{AppRedirectURI}, "consent": false,
		})
	}
	cfg["clients"] = clients
	return cfg
}

// AppTokens is what the app's token request got.
type AppTokens struct {
	IDToken     string `json:"id_token"`
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
}

// AppSignIn is one whole sign-in of a signed-out browser into app
// through tether, from start to end, the way a browser and the app's back
// end do it (every redirect followed by hand, none skipped):
//
//  1. GET  tether /oauth2/authorize (code flow, PKCE S256, nonce,
//     idp_hint naming the bench OP) → 302 to the OP;
//  2. GET  the OP's /authorize → 302 to tether's callback page;
//  3. GET  tether's callback → the upstream sign-in is finished (tether
//     redeems the OP's code, validates its ID token, one write), a tether
//     session starts, and the app's request resumes (op.Handler.Resume):
//     the code, one write, 303 to the app's redirect URI;
//  4. POST tether /oauth2/token (client_secret_basic, the verifier) → the
//     app's ID token and access token, signed, one write.
//
// The browser's tether cookies are dropped first, so that every sign-in
// goes upstream; the person is subject at the OP. It returns the tokens
// and how long step 3 (the upstream finish) took, the figure comparable
// with BrokeredSignIn's finish latency.
func (br *Browser) AppSignIn(base string, op *OP, app App, subject string) (AppTokens, time.Duration, error) {
	br.Jar, _ = cookiejar.New(nil)
	br.Client.Jar = br.Jar
	op.SetUser(br.Jar, subject)

	verifier := random()
	sum := sha256.Sum256([]byte(verifier))
	state, nonce := random(), random()
	q := url.Values{
		"response_type": {"code"}, "client_id": {app.ID}, "redirect_uri": {AppRedirectURI},
		"scope": {"openid profile email"}, "state": {state}, "nonce": {nonce},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
		"idp_hint": {ProviderID},
	}
	loc, err := br.redirect(base, "GET", base+"/oauth2/authorize?"+q.Encode())
	if err != nil {
		return AppTokens{}, 0, fmt.Errorf("authorize: %w", err)
	}
	if !strings.HasPrefix(loc, op.Issuer+"/") {
		return AppTokens{}, 0, fmt.Errorf("authorize: sent to %s, not to the OP", loc)
	}
	if loc, err = br.redirect(base, "GET", loc); err != nil {
		return AppTokens{}, 0, fmt.Errorf("the OP: %w", err)
	}
	start := time.Now()
	if loc, err = br.redirect(base, "GET", loc); err != nil {
		return AppTokens{}, 0, fmt.Errorf("callback: %w", err)
	}
	finish := time.Since(start)
	if !strings.HasPrefix(loc, AppRedirectURI+"?") {
		return AppTokens{}, 0, fmt.Errorf("callback: sent to %s, not back to the app", loc)
	}
	back, err := url.Parse(loc)
	if err != nil || !strings.HasPrefix(loc, AppRedirectURI+"?") {
		return AppTokens{}, 0, fmt.Errorf("callback: sent to %s, not to the app", loc)
	}
	if e := back.Query().Get("error"); e != "" {
		return AppTokens{}, 0, fmt.Errorf("authorize: %s: %s", e, back.Query().Get("error_description"))
	}
	if back.Query().Get("state") != state {
		return AppTokens{}, 0, fmt.Errorf("authorize: state %q, want %q", back.Query().Get("state"), state)
	}
	tok, err := br.token(base, app, url.Values{
		"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")},
		"redirect_uri": {AppRedirectURI}, "code_verifier": {verifier},
	})
	return tok, finish, err
}

// redirect sends one request of the browser and returns where its 302 or
// 303 sends the browser next, as an absolute URL; tether's public URL
// (nothing listens there) is replaced with base, where tether runs.
func (br *Browser) redirect(base, method, u string) (string, error) {
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		return "", err
	}
	resp, err := br.Client.Do(req)
	if err != nil {
		return "", err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		return "", fmt.Errorf("%s %s: HTTP %d, want a redirect: %.300s", method, u, resp.StatusCode, body)
	}
	loc, err := resp.Location()
	if err != nil {
		return "", err
	}
	next := loc.String()
	if rest, ok := strings.CutPrefix(next, PublicURL+"/"); ok && !strings.HasPrefix(next, AppRedirectURI) {
		next = base + "/" + rest
	}
	return next, nil
}

// token sends the app back end's token request (client_secret_basic).
func (br *Browser) token(base string, app App, form url.Values) (AppTokens, error) {
	req, err := http.NewRequest("POST", base+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		return AppTokens{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(app.ID), url.QueryEscape(app.Secret))
	resp, err := br.Client.Do(req)
	if err != nil {
		return AppTokens{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return AppTokens{}, err
	}
	var tok AppTokens
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &tok) != nil || tok.IDToken == "" {
		return AppTokens{}, fmt.Errorf("token: HTTP %d: %.300s", resp.StatusCode, raw)
	}
	// The app would verify the ID token; the benchmark leaves that to its
	// test (TestAppSignIn) and only checks that the algorithm is the app's,
	// so that its own CPU stays out of the figures.
	if alg := headerAlg(tok.IDToken); alg != app.Alg {
		return AppTokens{}, fmt.Errorf("token: ID token signed with %q, want %q", alg, app.Alg)
	}
	return tok, nil
}

// headerAlg returns the alg of a compact JWS's header.
func headerAlg(jws string) string {
	h, _, _ := strings.Cut(jws, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return ""
	}
	var hdr struct{ Alg string }
	_ = json.Unmarshal(b, &hdr)
	return hdr.Alg
}

// random returns 32 random bytes in base64url: 43 characters, as long
// as a PKCE verifier must be at least.
func random() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// BareApp does what AppSignIn does, against the bare server at base: the
// same four requests, with the same methods and query and body sizes,
// each answered with nothing. It returns how long the third (the
// callback's twin) took.
func (br *Browser) BareApp(base string) (time.Duration, error) {
	var d time.Duration
	for i, r := range bareApp {
		start := time.Now()
		var body io.Reader
		if r.body != "" {
			body = strings.NewReader(r.body)
		}
		req, err := http.NewRequest(r.method, base+r.path, body)
		if err != nil {
			return 0, err
		}
		if r.body != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(AppES256.ID, AppES256.Secret)
		}
		resp, err := br.Client.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("bare %s %s: HTTP %d", r.method, r.path, resp.StatusCode)
		}
		if i == 2 {
			d = time.Since(start)
		}
	}
	return d, nil
}

// bareApp are the four requests of an app's sign-in, with the sizes of
// the real ones.
var bareApp = func() []struct{ method, path, body string } {
	authorize := url.Values{
		"response_type": {"code"}, "client_id": {AppES256.ID}, "redirect_uri": {AppRedirectURI},
		"scope": {"openid profile email"}, "state": {random()}, "nonce": {random()},
		"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"},
		"idp_hint": {ProviderID},
	}.Encode()
	callback := url.Values{"code": {strings.Repeat("B", 43)}, "state": {"6f1c2b1e-8a4e-4f61-9d55-3e9b1f0f7c21"}, "iss": {"http://127.0.0.1:40000"}}.Encode()
	token := url.Values{"grant_type": {"authorization_code"}, "code": {strings.Repeat("C", 43)}, "redirect_uri": {AppRedirectURI}, "code_verifier": {random()}}.Encode()
	return []struct{ method, path, body string }{
		{"GET", "/oauth2/authorize?" + authorize, ""},
		{"GET", "/authorize?" + bareQuery, ""},
		{"GET", "/callback/openid/2?" + callback, ""},
		{"POST", "/oauth2/token", token},
	}
}()
