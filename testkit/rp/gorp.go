package rp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// RP is a relying party built on go-oidc and x/oauth2, plus the checks
// those libraries leave to their caller (see VerifyIDToken and Callback).
type RP struct {
	cfg      Config
	client   *http.Client // cfg.HTTPClient, recording token answers
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	oauth    *oauth2.Config
	meta     metadata
	raw      map[string]any
}

// metadata is the part of discovery go-oidc does not read for us.
type metadata struct {
	AuthMethods           []string `json:"token_endpoint_auth_methods_supported"`
	UserinfoEndpoint      string   `json:"userinfo_endpoint"`
	RevocationEndpoint    string   `json:"revocation_endpoint"`
	IntrospectionEndpoint string   `json:"introspection_endpoint"`
	EndSessionEndpoint    string   `json:"end_session_endpoint"`
	IssParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`
}

var _ Client = (*RP)(nil)

// discoveryTimeout bounds New's discovery; a safety net.
const discoveryTimeout = 30 * time.Second

// New discovers cfg.Issuer and returns a Go RP for it, failing the test
// when discovery fails. Use Discover to see that error instead.
func New(t testing.TB, cfg Config) *RP {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), discoveryTimeout)
	defer cancel()
	r, err := Discover(ctx, cfg)
	if err != nil {
		t.Fatalf("rp.New: %v", err)
	}
	return r
}

// Discover fetches the OP's discovery document (go-oidc checks that its
// issuer equals cfg.Issuer exactly) and returns a Go RP for it.
func Discover(ctx context.Context, cfg Config) (*RP, error) {
	cfg = cfg.withDefaults()
	client := *cfg.HTTPClient
	base := client.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	client.Transport = recorder{base}
	r := &RP{cfg: cfg, client: &client}

	p, err := oidc.NewProvider(oidc.ClientContext(ctx, r.client), cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("rp: discovery of %s: %w", cfg.Issuer, err)
	}
	if err := p.Claims(&r.meta); err != nil {
		return nil, fmt.Errorf("rp: discovery of %s: %w", cfg.Issuer, err)
	}
	if err := p.Claims(&r.raw); err != nil {
		return nil, fmt.Errorf("rp: discovery of %s: %w", cfg.Issuer, err)
	}
	r.provider = p
	r.verifier = p.Verifier(&oidc.Config{ClientID: cfg.ClientID, Now: cfg.Now})

	method := cfg.authMethod(r.meta.AuthMethods)
	style := oauth2.AuthStyleInHeader
	switch method {
	case ClientSecretBasic:
	case ClientSecretPost, AuthNone:
		style = oauth2.AuthStyleInParams
	default:
		return nil, fmt.Errorf("rp: unsupported auth method %q", method)
	}
	r.cfg.AuthMethod = method
	endpoint := p.Endpoint()
	endpoint.AuthStyle = style
	secret := cfg.ClientSecret
	if method == AuthNone {
		secret = ""
	}
	r.oauth = &oauth2.Config{
		ClientID: cfg.ClientID, ClientSecret: secret, RedirectURL: cfg.RedirectURL,
		Endpoint: endpoint, Scopes: cfg.Scopes,
	}
	return r, nil
}

// Config returns the RP's configuration with its defaults, AuthMethod
// resolved.
func (r *RP) Config() Config { return r.cfg }

// Discovery returns the OP's discovery document.
func (r *RP) Discovery(context.Context) (map[string]any, error) { return r.raw, nil }

// ctx makes the RP's HTTP client the one go-oidc and x/oauth2 use.
func (r *RP) ctx(ctx context.Context) context.Context {
	return context.WithValue(oidc.ClientContext(ctx, r.client), oauth2.HTTPClient, r.client)
}

// AuthRequest builds an authorization request for the code flow with a
// random state, a random nonce and a PKCE S256 challenge. params adds
// parameters or replaces the defaults (prompt, max_age, login_hint, scope,
// redirect_uri, anything); a name without values removes the default, so
// url.Values{"code_challenge": nil} sends no PKCE. The returned request
// records what was sent.
func (r *RP) AuthRequest(_ context.Context, params url.Values) (*AuthRequest, error) {
	state, nonce, verifier := oauth2.GenerateVerifier(), oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
	u, err := url.Parse(r.oauth.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		return nil, err
	}
	q := buildParams(u.Query(), params)
	age, err := maxAge(q)
	if err != nil {
		return nil, err
	}
	u.RawQuery = q.Encode()
	req := &AuthRequest{
		URL: u.String(), State: q.Get("state"), Nonce: q.Get("nonce"),
		RedirectURI: q.Get("redirect_uri"), Scope: q.Get("scope"), MaxAge: age,
	}
	if q.Has("code_challenge") {
		req.CodeVerifier = verifier
	}
	return req, nil
}

// Login runs one sign-in: the authorization request with params, the
// UserAgent, then Callback.
func (r *RP) Login(ctx context.Context, params url.Values) (*Tokens, error) {
	return login(ctx, r, r.cfg.UserAgent, params)
}

func login(ctx context.Context, c Client, ua UserAgent, params url.Values) (*Tokens, error) {
	if ua == nil {
		return nil, errors.New("rp: Login needs Config.UserAgent")
	}
	req, err := c.AuthRequest(ctx, params)
	if err != nil {
		return nil, err
	}
	back, err := ua(req.URL)
	if err != nil {
		return nil, fmt.Errorf("rp: user agent: %w", err)
	}
	return c.Callback(ctx, req, back)
}

// Callback is ParseCallback then Exchange.
func (r *RP) Callback(ctx context.Context, req *AuthRequest, callback *url.URL) (*Tokens, error) {
	code, err := r.ParseCallback(req, callback)
	if err != nil {
		return nil, err
	}
	return r.Exchange(ctx, req, code)
}

// ParseCallback checks the redirect back from the OP and returns its
// code. In order: the URL must be under the request's redirect URI; RFC
// 9207 iss must equal the issuer when present, and must be present when
// discovery says authorization_response_iss_parameter_supported; state
// must equal the one sent; an error parameter becomes an *AuthError.
// x/oauth2 leaves all of this to its caller.
func (r *RP) ParseCallback(req *AuthRequest, callback *url.URL) (string, error) {
	if callback == nil {
		return "", checkErr("callback_url", "no callback")
	}
	if want, err := url.Parse(req.RedirectURI); err != nil || callback.Scheme != want.Scheme ||
		callback.Host != want.Host || callback.Path != want.Path {
		return "", checkErr("callback_url", "%s is not under the redirect URI %q", redact(callback), req.RedirectURI)
	}
	q := callback.Query()
	switch {
	case q.Has("iss") && q.Get("iss") != r.cfg.Issuer:
		return "", checkErr("iss", "the callback's iss %q is not the issuer %q", q.Get("iss"), r.cfg.Issuer)
	case !q.Has("iss") && r.meta.IssParameterSupported:
		return "", checkErr("iss", "the OP advertises authorization_response_iss_parameter_supported but the callback has no iss")
	}
	if q.Get("state") != req.State {
		return "", checkErr("state", "the callback's state %q is not the one sent", q.Get("state"))
	}
	if e := q.Get("error"); e != "" {
		return "", &AuthError{Code: e, Description: q.Get("error_description"), URI: q.Get("error_uri")}
	}
	code := q.Get("code")
	if code == "" {
		return "", checkErr("code", "the callback has neither code nor error")
	}
	return code, nil
}

// redact drops the query of a callback URL from messages: it may hold a
// code.
func redact(u *url.URL) string {
	c := *u
	c.RawQuery = ""
	return c.String()
}

// Exchange redeems code with the request's PKCE verifier and redirect URI
// and verifies the ID token (VerifyIDToken) against the request's nonce
// and max_age. A token endpoint error is an *oauth2.RetrieveError
// (ErrorCode gives its error code, such as invalid_grant).
func (r *RP) Exchange(ctx context.Context, req *AuthRequest, code string) (*Tokens, error) {
	var opts []oauth2.AuthCodeOption
	if req.RedirectURI != "" {
		opts = append(opts, oauth2.SetAuthURLParam("redirect_uri", req.RedirectURI))
	}
	if req.CodeVerifier != "" {
		opts = append(opts, oauth2.VerifierOption(req.CodeVerifier))
	}
	rec := &recording{}
	ctx = r.ctx(ctx)
	tok, err := r.oauth.Exchange(withRecording(ctx, rec), code, opts...)
	if err != nil {
		return nil, err
	}
	t, err := newTokens(tok, rec)
	if err != nil {
		return nil, err
	}
	if t.IDToken == "" {
		if slices.Contains(strings.Fields(req.Scope), "openid") {
			return nil, checkErr("id_token", "the token answer to an openid request has no ID token")
		}
		return t, nil
	}
	t.Claims, err = r.VerifyIDToken(ctx, t.IDToken, Expect{Nonce: req.Nonce, AccessToken: t.AccessToken, MaxAge: req.MaxAge})
	return t, err
}

// Expect is what VerifyIDToken checks beyond go-oidc.
type Expect struct {
	// Nonce is the nonce sent; "" means the token must carry none.
	Nonce string
	// AccessToken is checked against at_hash when the token has one.
	AccessToken string
	// MaxAge is the max_age sent: auth_time must then be present and
	// recent enough.
	MaxAge *int
	// Previous are the claims of the ID token a refreshed one follows:
	// sub, aud, azp and auth_time must not change, iat must not go back,
	// and Nonce is not used (a nonce, if any, must be Previous's).
	Previous map[string]any
}

// VerifyIDToken verifies raw with go-oidc (signature by a key of the
// OP's JWKS with an advertised algorithm, never none; iss; aud contains
// the client id; exp; nbf) and then checks what go-oidc does not: sub
// present, nonce, azp (present when several audiences, equal to the client
// id when present), iat within ClockSkew of now, at_hash against the
// access token, auth_time when max_age was sent, and the refresh rules of
// OpenID Connect Core §12.2. It returns the claims.
func (r *RP) VerifyIDToken(ctx context.Context, raw string, want Expect) (map[string]any, error) {
	idt, err := r.verifier.Verify(r.ctx(ctx), raw)
	if err != nil {
		return nil, err
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return nil, err
	}
	alg, err := headerAlg(raw)
	if err != nil {
		return nil, err
	}
	if err := checkClaims(claims, alg, r.cfg.ClientID, r.cfg.Now(), r.cfg.ClockSkew, want); err != nil {
		return nil, err
	}
	return claims, nil
}

// UserInfo fetches the userinfo endpoint with tokens' access token (as a
// bearer header). A JSON answer is taken as is; a signed one
// (application/jwt) is verified like an ID token, without exp. Its sub
// must equal the ID token's. A refusal is an *HTTPError carrying the
// WWW-Authenticate error.
func (r *RP) UserInfo(ctx context.Context, tokens *Tokens) (map[string]any, error) {
	if r.meta.UserinfoEndpoint == "" {
		return nil, errors.New("rp: the OP has no userinfo_endpoint")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.meta.UserinfoEndpoint, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tokens.AccessToken)
	resp, body, err := r.do(req, "userinfo")
	if err != nil {
		return nil, err
	}
	var claims map[string]any
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if ct == "application/jwt" {
		v := r.provider.Verifier(&oidc.Config{ClientID: r.cfg.ClientID, SkipExpiryCheck: true})
		idt, err := v.Verify(r.ctx(ctx), strings.TrimSpace(string(body)))
		if err != nil {
			return nil, fmt.Errorf("rp: signed userinfo: %w", err)
		}
		err = idt.Claims(&claims)
		if err != nil {
			return nil, err
		}
	} else if err := json.Unmarshal(body, &claims); err != nil || claims == nil {
		return nil, fmt.Errorf("rp: userinfo is not a JSON object (%s): %.200q", resp.Header.Get("Content-Type"), body)
	}
	sub, _ := claims["sub"].(string)
	switch {
	case sub == "":
		return nil, checkErr("userinfo_sub", "userinfo has no sub")
	case tokens.Claims != nil && sub != tokens.Subject():
		return nil, checkErr("userinfo_sub", "userinfo's sub %q is not the ID token's %q", sub, tokens.Subject())
	}
	return claims, nil
}

// Refresh redeems tokens.RefreshToken with x/oauth2. When the answer
// carries an ID token it is verified with tokens' claims as Expect.Previous
// (same sub, aud, azp, auth_time; iat not earlier); at_hash is checked
// against the new access token. Without a new refresh token or ID token,
// the old ones carry over, as x/oauth2 does; Response shows what came
// back. A token endpoint error is an *oauth2.RetrieveError.
func (r *RP) Refresh(ctx context.Context, tokens *Tokens) (*Tokens, error) {
	if tokens.RefreshToken == "" {
		return nil, errors.New("rp: no refresh token to refresh")
	}
	rec := &recording{}
	ctx = r.ctx(ctx)
	tok, err := r.oauth.TokenSource(withRecording(ctx, rec), &oauth2.Token{RefreshToken: tokens.RefreshToken}).Token()
	if err != nil {
		return nil, err
	}
	t, err := newTokens(tok, rec)
	if err != nil {
		return nil, err
	}
	if t.IDToken == "" {
		t.IDToken, t.Claims = tokens.IDToken, tokens.Claims
		return t, nil
	}
	t.Claims, err = r.VerifyIDToken(ctx, t.IDToken, Expect{AccessToken: t.AccessToken, Previous: tokens.Claims})
	return t, err
}

// Revoke posts token to the revocation endpoint (RFC 7009) with the
// client's authentication. Any 2xx is success; otherwise an *HTTPError.
func (r *RP) Revoke(ctx context.Context, token, hint string) error {
	_, err := r.post(ctx, "revocation", r.meta.RevocationEndpoint, token, hint)
	return err
}

// Introspect posts token to the introspection endpoint (RFC 7662) with
// the client's authentication.
func (r *RP) Introspect(ctx context.Context, token, hint string) (*Introspection, error) {
	body, err := r.post(ctx, "introspection", r.meta.IntrospectionEndpoint, token, hint)
	if err != nil {
		return nil, err
	}
	return parseIntrospection(body)
}

func parseIntrospection(body []byte) (*Introspection, error) {
	var claims map[string]any
	if err := json.Unmarshal(body, &claims); err != nil || claims == nil {
		return nil, fmt.Errorf("rp: introspection answer is not a JSON object: %.200q", body)
	}
	active, ok := claims["active"].(bool)
	if !ok {
		return nil, fmt.Errorf("rp: introspection answer has no boolean active: %.200q", body)
	}
	return &Introspection{Active: active, Claims: claims}, nil
}

// post sends token to an endpoint with the client's authentication, as
// the token endpoint gets it.
func (r *RP) post(ctx context.Context, what, endpoint, token, hint string) ([]byte, error) {
	if endpoint == "" {
		return nil, fmt.Errorf("rp: the OP has no %s_endpoint", what)
	}
	form := url.Values{"token": {token}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	var basic bool
	switch r.cfg.AuthMethod {
	case ClientSecretBasic:
		basic = true
	case ClientSecretPost:
		form.Set("client_id", r.cfg.ClientID)
		form.Set("client_secret", r.cfg.ClientSecret)
	default:
		form.Set("client_id", r.cfg.ClientID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if basic {
		// RFC 6749 §2.3.1: both halves are form-encoded first, as x/oauth2
		// does at the token endpoint.
		req.SetBasicAuth(url.QueryEscape(r.cfg.ClientID), url.QueryEscape(r.cfg.ClientSecret))
	}
	_, body, err := r.do(req, what)
	return body, err
}

// maxBody bounds what the RP reads of an answer.
const maxBody = 1 << 20

// do sends req and returns a 2xx answer, or an *HTTPError.
func (r *RP) do(req *http.Request, what string) (*http.Response, []byte, error) {
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("rp: %s: %w", what, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, nil, fmt.Errorf("rp: %s: %w", what, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, nil, httpError(what, resp, body)
	}
	return resp, body, nil
}

var challengeParam = regexp.MustCompile(`(\w+)="([^"]*)"`)

func httpError(what string, resp *http.Response, body []byte) *HTTPError {
	e := &HTTPError{Endpoint: what, Status: resp.StatusCode, Header: resp.Header, Body: body}
	var oe struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(body, &oe) == nil && oe.Error != "" {
		e.Code, e.Description = oe.Error, oe.Description
	}
	if e.Code == "" {
		for _, m := range challengeParam.FindAllStringSubmatch(resp.Header.Get("WWW-Authenticate"), -1) {
			switch m[1] {
			case "error":
				e.Code = m[2]
			case "error_description":
				e.Description = m[2]
			}
		}
	}
	return e
}

// LogoutURL builds an RP-Initiated Logout 1.0 request to the OP's
// end_session_endpoint, with client_id added.
func (r *RP) LogoutURL(_ context.Context, req LogoutRequest) (string, error) {
	if r.meta.EndSessionEndpoint == "" {
		return "", errors.New("rp: the OP has no end_session_endpoint")
	}
	u, err := url.Parse(r.meta.EndSessionEndpoint)
	if err != nil {
		return "", err
	}
	q := u.Query()
	for k, v := range req.values() {
		q[k] = v
	}
	if !q.Has("client_id") {
		q.Set("client_id", r.cfg.ClientID)
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// newTokens reads x/oauth2's token and the recorded JSON answer.
func newTokens(tok *oauth2.Token, rec *recording) (*Tokens, error) {
	t := &Tokens{
		AccessToken: tok.AccessToken, TokenType: tok.TokenType, RefreshToken: tok.RefreshToken,
		ExpiresIn: tok.ExpiresIn, OAuth2: tok,
	}
	t.IDToken, _ = tok.Extra("id_token").(string)
	t.Scope, _ = tok.Extra("scope").(string)
	if len(rec.body) > 0 {
		if err := json.Unmarshal(rec.body, &t.Response); err != nil {
			return nil, fmt.Errorf("rp: the token answer is not JSON: %w", err)
		}
	}
	return t, nil
}

// recorder keeps a copy of the answer to any request whose context holds
// a *recording, so Tokens.Response can hold the token endpoint's whole
// answer, which x/oauth2 does not expose.
type recorder struct{ base http.RoundTripper }

type recordingKey struct{}

type recording struct{ body []byte }

func withRecording(ctx context.Context, rec *recording) context.Context {
	return context.WithValue(ctx, recordingKey{}, rec)
}

func (rt recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := rt.base.RoundTrip(req)
	rec, ok := req.Context().Value(recordingKey{}).(*recording)
	if err != nil || !ok {
		return resp, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	rec.body = body
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}
