// Package rp holds two relying parties for tests that sign in through an
// OpenID Provider: New, built on github.com/coreos/go-oidc/v3 and
// golang.org/x/oauth2, and Node, panva's openid-client (a certified RP)
// under node. Both are generic over the OP: give them an issuer, a
// registered client and a UserAgent that drives the OP's login pages.
//
// They exist so that tether's OpenID Provider (SPEC §8) is proved by
// clients that other people wrote, not by code that shares tether's
// assumptions. The Go RP adds the checks of OpenID Connect Core §3.1.3.7
// that go-oidc leaves to its caller (nonce, azp, iat, at_hash, auth_time,
// RFC 9207 iss, userinfo sub, refresh continuity); the node RP adds none,
// so what it accepts, openid-client accepts.
//
// Both RPs return their errors, so negative tests can look at them:
// ErrorCode reads the OAuth error code of any of them.
package rp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"golang.org/x/oauth2"
)

// UserAgent plays the person's browser: it opens authURL, signs in at the
// OP however that OP asks, and returns the redirect back to the relying
// party (the URL under the redirect URI, carrying a code or an error)
// without following it. testpeer.OP.UserAgent and
// testpeer.Browser.UserAgent drive the test peers.
type UserAgent func(authURL string) (*url.URL, error)

// Token endpoint authentication methods.
const (
	ClientSecretBasic = "client_secret_basic"
	ClientSecretPost  = "client_secret_post"
	AuthNone          = "none"
)

// Config describes the client at one OP. Both RPs take it.
type Config struct {
	// Issuer is the OP's issuer, compared exactly (a trailing slash counts).
	Issuer       string
	ClientID     string
	ClientSecret string // "" is a public client: AuthMethod none
	// AuthMethod is how the client authenticates at the token,
	// revocation and introspection endpoints. Empty: none for a public
	// client, else client_secret_basic unless discovery lists only
	// client_secret_post.
	AuthMethod  string
	RedirectURL string
	// Scopes default to openid.
	Scopes []string
	// HTTPClient is the Go RP's client for every request to the OP;
	// default: a client with a 30 s timeout. The node RP uses node's.
	HTTPClient *http.Client
	// UserAgent drives the OP's login for Login. Without it Login fails.
	UserAgent UserAgent
	// ClockSkew is the Go RP's leeway for iat and auth_time (go-oidc
	// checks exp against Now without one) and openid-client's clock
	// tolerance; default 2 min.
	ClockSkew time.Duration
	// Now is the Go RP's clock; default time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if len(c.Scopes) == 0 {
		c.Scopes = []string{"openid"}
	}
	if c.ClockSkew == 0 {
		c.ClockSkew = 2 * time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	return c
}

// authMethod resolves Config.AuthMethod against the OP's discovery.
func (c Config) authMethod(supported []string) string {
	switch {
	case c.AuthMethod != "":
		return c.AuthMethod
	case c.ClientSecret == "":
		return AuthNone
	case len(supported) > 0 && !contains(supported, ClientSecretBasic) && contains(supported, ClientSecretPost):
		return ClientSecretPost
	default:
		return ClientSecretBasic
	}
}

// Client is what both RPs do, so one table-driven test can run against
// each.
type Client interface {
	// Discovery returns the OP's discovery document.
	Discovery(ctx context.Context) (map[string]any, error)
	// AuthRequest builds an authorization request: see AuthRequest.
	AuthRequest(ctx context.Context, params url.Values) (*AuthRequest, error)
	// Callback checks the redirect back from the OP, redeems its code and
	// verifies the ID token.
	Callback(ctx context.Context, req *AuthRequest, callback *url.URL) (*Tokens, error)
	// Login runs AuthRequest, the UserAgent and Callback.
	Login(ctx context.Context, params url.Values) (*Tokens, error)
	// UserInfo fetches userinfo with the access token; its sub must
	// equal the ID token's.
	UserInfo(ctx context.Context, tokens *Tokens) (map[string]any, error)
	// Refresh redeems tokens' refresh token.
	Refresh(ctx context.Context, tokens *Tokens) (*Tokens, error)
	// Revoke revokes token (RFC 7009); hint is "", access_token or
	// refresh_token.
	Revoke(ctx context.Context, token, hint string) error
	// Introspect introspects token (RFC 7662).
	Introspect(ctx context.Context, token, hint string) (*Introspection, error)
	// LogoutURL builds an RP-initiated logout request.
	LogoutURL(ctx context.Context, req LogoutRequest) (string, error)
}

// AuthRequest is one authorization request and what its callback must
// match. Tests may change the fields before Callback to prove that the
// OP's answer is checked against them (a tampered Nonce must be refused).
type AuthRequest struct {
	// URL is the authorization URL to open.
	URL string
	// State, Nonce and CodeVerifier are the values sent ("" when the
	// request was built without them).
	State        string
	Nonce        string
	CodeVerifier string
	// RedirectURI is the redirect_uri sent; the callback must be under it.
	RedirectURI string
	// Scope is the scope sent.
	Scope string
	// MaxAge is the max_age sent, nil when none was: auth_time is then
	// required in the ID token.
	MaxAge *int
}

// Params are the authorization request's query parameters.
func (r *AuthRequest) Params() url.Values {
	u, err := url.Parse(r.URL)
	if err != nil {
		return nil
	}
	return u.Query()
}

// buildParams merges a test's params into the defaults: a name with
// values replaces the default, a name with none (url.Values{"nonce": nil})
// removes it.
func buildParams(defaults, params url.Values) url.Values {
	q := url.Values{}
	for k, v := range defaults {
		q[k] = v
	}
	for k, v := range params {
		if len(v) == 0 {
			delete(q, k)
		} else {
			q[k] = v
		}
	}
	return q
}

// maxAge reads max_age from an authorization request's parameters.
func maxAge(q url.Values) (*int, error) {
	if !q.Has("max_age") {
		return nil, nil
	}
	n, err := strconv.Atoi(q.Get("max_age"))
	if err != nil {
		return nil, fmt.Errorf("rp: max_age %q is not an integer", q.Get("max_age"))
	}
	return &n, nil
}

// Tokens is a token endpoint answer after the RP checked it.
type Tokens struct {
	AccessToken  string
	TokenType    string
	RefreshToken string // the new one, or the one refreshed when none came back
	IDToken      string // raw, as received
	Scope        string
	ExpiresIn    int64 // seconds; 0 when absent
	// Claims are the verified ID token's claims; nil without an ID token.
	Claims map[string]any
	// Response is the token endpoint's whole JSON answer.
	Response map[string]any
	// OAuth2 is the x/oauth2 token (Go RP only).
	OAuth2 *oauth2.Token
}

// Subject is the ID token's sub, "" without one.
func (t *Tokens) Subject() string {
	s, _ := t.Claims["sub"].(string)
	return s
}

// Introspection is an RFC 7662 answer.
type Introspection struct {
	Active bool
	// Claims are the whole answer, active included.
	Claims map[string]any
}

// LogoutRequest is an RP-Initiated Logout 1.0 request. client_id is always
// added.
type LogoutRequest struct {
	IDTokenHint           string
	PostLogoutRedirectURI string
	State                 string
	// Params are added to the request (ui_locales, logout_hint, ...).
	Params url.Values
}

func (r LogoutRequest) values() url.Values {
	q := url.Values{}
	for k, v := range r.Params {
		q[k] = v
	}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("id_token_hint", r.IDTokenHint)
	set("post_logout_redirect_uri", r.PostLogoutRedirectURI)
	set("state", r.State)
	return q
}

// AuthError is an error the OP sent back to the redirect URI (RFC 6749
// §4.1.2.1).
type AuthError struct {
	Code        string // the error parameter, such as access_denied
	Description string
	URI         string
}

func (e *AuthError) Error() string {
	if e.Description == "" {
		return "rp: the OP answered " + e.Code
	}
	return fmt.Sprintf("rp: the OP answered %s: %s", e.Code, e.Description)
}

// CheckError is a check of the RP's own that the OP's answer failed.
type CheckError struct {
	// Check names it: callback_url, state, iss, code, nonce, sub, azp,
	// iat, at_hash, auth_time, refresh (ID token continuity), userinfo_sub.
	Check  string
	Detail string
}

func (e *CheckError) Error() string { return "rp: " + e.Check + ": " + e.Detail }

func checkErr(check, format string, args ...any) error {
	return &CheckError{Check: check, Detail: fmt.Sprintf(format, args...)}
}

// HTTPError is a non-success answer of the userinfo, revocation or
// introspection endpoint.
type HTTPError struct {
	Endpoint    string
	Status      int
	Header      http.Header
	Body        []byte
	Code        string // the error member of a JSON body or of WWW-Authenticate
	Description string
}

func (e *HTTPError) Error() string {
	s := fmt.Sprintf("rp: %s answered HTTP %d", e.Endpoint, e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Description != "" {
		s += ": " + e.Description
	}
	return s
}

// ErrorCode returns the OAuth error code carried by err: the error of a
// token endpoint answer (*oauth2.RetrieveError), of a redirect
// (*AuthError), of another endpoint (*HTTPError) or of openid-client
// (*NodeError). A failed check of the RP's own gives its Check name. It is
// "" for nil or any other error.
func ErrorCode(err error) string {
	var (
		re *oauth2.RetrieveError
		ae *AuthError
		he *HTTPError
		ne *NodeError
		ce *CheckError
	)
	switch {
	case err == nil:
		return ""
	case errors.As(err, &re):
		return re.ErrorCode
	case errors.As(err, &ae):
		return ae.Code
	case errors.As(err, &he):
		return he.Code
	case errors.As(err, &ne):
		return ne.OAuthError
	case errors.As(err, &ce):
		return ce.Check
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
