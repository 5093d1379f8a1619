package oidc

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tether-id/tether/provider"
)

// Config configures one OpenID Connect provider. Zero values take the
// defaults named on each field.
type Config struct {
	// ID is tether's stable id for the provider; it only names the
	// provider in errors and logs here.
	ID string
	// Issuer is compared exactly with the discovery document's and the ID
	// token's "iss": a trailing slash matters.
	Issuer       string
	ClientID     string
	ClientSecret string
	// Scopes default to openid, profile and email; openid is required.
	Scopes []string
	// Claims says where the identity's fields are in the merged claims.
	Claims Claims
	// IDTokenAlgs is the allow-list of ID token signature algorithms.
	// Default: RS256/384/512, PS256/384/512, ES256/384/512 and EdDSA.
	// "none" is never accepted. HS256/384/512, keyed with the client
	// secret, are accepted only when listed here: what discovery
	// advertises never widens the list.
	IDTokenAlgs []string
	// ClockSkew is the tolerance on exp, iat and nbf. Default 2 minutes.
	ClockSkew time.Duration
	// DiscoveryTTL is how long the discovery document and the JWKS are
	// used before being fetched again (in the background, while the old
	// copy still serves). Default 1 hour.
	DiscoveryTTL time.Duration
	// TokenEndpointAuth forces "client_secret_basic" or
	// "client_secret_post". Empty: chosen from discovery's
	// token_endpoint_auth_methods_supported, basic preferred, basic when
	// the OP says nothing.
	TokenEndpointAuth string
	// ExtraAuthParams are fixed parameters added to every authorization
	// request (Logto's prompt, first_screen...). They come from
	// configuration, never from a caller, and may not replace a
	// parameter the flow sets itself.
	ExtraAuthParams url.Values
	// SendLoginHint sends AuthRequest.LoginHint as login_hint.
	SendLoginHint bool
	// Insecure allows an http issuer on any host. Only `tether dev` sets
	// it, for a demo OP on a plain-http public URL; everywhere else an
	// issuer is https, or http on a loopback host (CheckIssuer).
	Insecure bool
	// HTTPClient makes every request to the OP. Default: a client with a
	// 15 second timeout.
	HTTPClient *http.Client
	// Now is the clock, for tests. Default time.Now.
	Now func() time.Time
	// Logger receives background refresh failures. Default slog.Default().
	Logger *slog.Logger
}

// Claims holds JSON paths into the merged claims (ID token and userinfo).
// A path is a claim name, or names joined by dots to reach into nested
// objects ("data.user.email"). Empty fields take the defaults sub, email,
// email_verified, name and picture.
type Claims struct {
	Subject       string
	Email         string
	EmailVerified string
	Name          string
	Avatar        string
}

// DefaultScopes are requested when Config.Scopes is empty.
var DefaultScopes = []string{"openid", "profile", "email"}

// DefaultIDTokenAlgs is the allow-list used when Config.IDTokenAlgs is empty.
var DefaultIDTokenAlgs = []string{
	"RS256", "RS384", "RS512",
	"PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512",
	"EdDSA",
}

const (
	defaultClockSkew    = 2 * time.Minute
	defaultDiscoveryTTL = time.Hour
	defaultHTTPTimeout  = 15 * time.Second

	authBasic = "client_secret_basic"
	authPost  = "client_secret_post"
)

// knownAlgs are the algorithms an allow-list may name.
var knownAlgs = map[string]bool{
	"RS256": true, "RS384": true, "RS512": true,
	"PS256": true, "PS384": true, "PS512": true,
	"ES256": true, "ES384": true, "ES512": true,
	"EdDSA": true,
	"HS256": true, "HS384": true, "HS512": true,
}

// reservedParams are set by the flow itself; ExtraAuthParams may not
// replace them. login_hint has its own switch, SendLoginHint.
var reservedParams = []string{
	"response_type", "client_id", "redirect_uri", "scope", "state", "nonce",
	"code_challenge", "code_challenge_method", "login_hint",
	"request", "request_uri", "response_mode",
}

// withDefaults checks c and fills in its defaults.
func (c Config) withDefaults() (Config, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if err := checkIssuer(c.Issuer, c.Insecure); err != nil {
		bad("issuer: %v", err)
	}
	if c.ClientID == "" {
		bad("client_id is required")
	}
	if c.ClientSecret == "" {
		bad("client_secret is required")
	}

	if len(c.Scopes) == 0 {
		c.Scopes = DefaultScopes
	}
	if !slices.Contains(c.Scopes, "openid") {
		bad("scopes %v must include openid", c.Scopes)
	}
	c.Scopes = slices.Clone(c.Scopes)

	c.Claims = c.Claims.withDefaults()

	if len(c.IDTokenAlgs) == 0 {
		c.IDTokenAlgs = DefaultIDTokenAlgs
	}
	c.IDTokenAlgs = slices.Clone(c.IDTokenAlgs)
	for _, alg := range c.IDTokenAlgs {
		if err := CheckAlg(alg); err != nil {
			bad("id_token_algs: %v", err)
		} else if isHMAC(alg) && len(c.ClientSecret) < hmacKeyLen(alg) {
			bad("id_token_algs: %s needs a client secret of at least %d bytes", alg, hmacKeyLen(alg))
		}
	}

	if c.ClockSkew == 0 {
		c.ClockSkew = defaultClockSkew
	}
	if c.ClockSkew < 0 {
		bad("clock skew must not be negative")
	}
	if c.DiscoveryTTL == 0 {
		c.DiscoveryTTL = defaultDiscoveryTTL
	}
	if c.DiscoveryTTL < 0 {
		bad("discovery TTL must not be negative")
	}
	if err := CheckTokenEndpointAuth(c.TokenEndpointAuth); err != nil {
		bad("token_endpoint_auth: %v", err)
	}

	extra := url.Values{}
	for k, vs := range c.ExtraAuthParams {
		if slices.Contains(reservedParams, k) {
			bad("extra authorization parameter %q would replace one the flow sets", k)
		}
		extra[k] = slices.Clone(vs)
	}
	c.ExtraAuthParams = extra

	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: defaultHTTPTimeout}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if err := errors.Join(errs...); err != nil {
		name := c.ID
		if name == "" {
			name = c.Issuer
		}
		return c, fmt.Errorf("oidc provider %s: %w", name, err)
	}
	return c, nil
}

// CheckIssuer is the rule for an issuer: an absolute URL without query or
// fragment, https, or http on a loopback host (a test or a local OP).
// tether's configuration applies it too, so that a wrong issuer stops
// start-up naming the key.
func CheckIssuer(s string) error { return checkIssuer(s, false) }

func checkIssuer(s string, insecure bool) error {
	if s == "" {
		return errors.New("required")
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("want an absolute URL without query or fragment, got %q", s)
	}
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && (insecure || provider.IsLoopback(u.Hostname())):
		return nil
	case u.Scheme == "http":
		return fmt.Errorf("must use https (http is allowed only for loopback hosts), got %q", s)
	}
	return fmt.Errorf("want an https URL, got %q", s)
}

// CheckAlg is the rule for an ID token algorithm in an allow-list: one
// go-jose verifies, never "none". HMAC ones (keyed with the client
// secret) are allowed only because someone listed them.
func CheckAlg(alg string) error {
	if knownAlgs[alg] {
		return nil
	}
	known := slices.Sorted(maps.Keys(knownAlgs))
	return fmt.Errorf("unsupported algorithm %q; want one of %s", alg, strings.Join(known, ", "))
}

// CheckTokenEndpointAuth is the rule for a forced token endpoint
// authentication method: "" (from discovery), client_secret_basic or
// client_secret_post.
func CheckTokenEndpointAuth(method string) error {
	switch method {
	case "", authBasic, authPost:
		return nil
	}
	return fmt.Errorf("want %s or %s, got %q", authBasic, authPost, method)
}

func (c Claims) withDefaults() Claims {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&c.Subject, "sub")
	def(&c.Email, "email")
	def(&c.EmailVerified, "email_verified")
	def(&c.Name, "name")
	def(&c.Avatar, "picture")
	return c
}

func isHMAC(alg string) bool { return strings.HasPrefix(alg, "HS") }

// hmacKeyLen is the shortest key go-jose accepts for alg: the hash size.
func hmacKeyLen(alg string) int {
	switch jose.SignatureAlgorithm(alg) {
	case jose.HS384:
		return 48
	case jose.HS512:
		return 64
	}
	return 32
}
