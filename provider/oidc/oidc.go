// Package oidc signs people in with a generic OpenID Connect provider (OP)
// through the authorization code flow, following SPEC §3.1: lazy, cached
// discovery; PKCE S256, state and nonce on every request; RFC 9207 "iss"
// on the callback; full ID token validation; userinfo merged into the
// claims. Logto (package provider/logto) is a configuration of it.
//
// Every failure of AuthURL and Exchange is a *provider.Error whose Reason
// is one of:
//
//	discovery, discovery_issuer_mismatch, jwks            the OP's documents
//	authorization_error                                    the callback carries an OAuth error
//	callback_iss_mismatch, callback_iss_missing            RFC 9207
//	bad_callback, bad_request                              malformed input from tether's side
//	token_auth_unsupported, token_exchange, id_token_missing
//	id_token_malformed, unsupported_alg, unknown_key, bad_signature
//	iss_mismatch, aud_mismatch, azp_missing, azp_mismatch
//	expired, issued_in_future, not_yet_valid
//	nonce_missing, nonce_mismatch
//	userinfo, userinfo_sub_mismatch, missing_subject
//
// Unavailable is set when the OP could not be reached or answered 5xx.
package oidc

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"

	"golang.org/x/time/rate"

	"github.com/tether-id/tether/provider"
)

// Provider is one configured OpenID Connect provider. It is safe for
// concurrent use.
type Provider struct {
	cfg     Config
	disco   *cache[*discovery]
	keys    *cache[*keySet]
	refetch *rate.Limiter // JWKS refetches on an unknown kid
}

var (
	_ provider.Provider     = (*Provider)(nil)
	_ provider.Checker      = (*Provider)(nil)
	_ provider.Refresher    = (*Provider)(nil)
	_ provider.EndSessioner = (*Provider)(nil)
)

// New checks cfg and returns the provider. It does not contact the OP:
// discovery happens on first use, so a provider may be built before its
// OP listens (tether dev mounts its demo OP on the server being built).
func New(cfg Config) (*Provider, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	p := &Provider{
		cfg:     cfg,
		refetch: rate.NewLimiter(rate.Every(keyRefetchInterval), 1),
	}
	p.disco = newCache(cfg.DiscoveryTTL, cfg.Now, p.fetchDiscovery)
	p.keys = newCache(cfg.DiscoveryTTL, cfg.Now, p.fetchKeys)
	p.disco.refreshed = p.logRefresh("discovery")
	p.keys.refreshed = p.logRefresh("jwks")
	return p, nil
}

func (p *Provider) logRefresh(what string) func(error) {
	return func(err error) {
		if err != nil {
			p.cfg.Logger.Warn("oidc: background refresh failed; still using the cached copy",
				"provider", p.cfg.ID, "issuer", p.cfg.Issuer, "document", what, "err", err)
		}
	}
}

// Issuer returns the configured issuer.
func (p *Provider) Issuer() string { return p.cfg.Issuer }

// AuthURL returns the OP's authorization URL for req.
func (p *Provider) AuthURL(ctx context.Context, req provider.AuthRequest) (string, error) {
	if err := checkAuthRequest(req); err != nil {
		return "", err
	}
	d, err := p.disco.get(ctx)
	if err != nil {
		return "", err
	}
	u, err := url.Parse(d.AuthorizationEndpoint)
	if err != nil {
		return "", &provider.Error{Reason: "discovery", Message: "invalid authorization endpoint", Err: err}
	}
	q := u.Query()
	for k, vs := range p.cfg.ExtraAuthParams {
		q[k] = vs
	}
	q.Set("response_type", "code")
	q.Set("client_id", p.cfg.ClientID)
	q.Set("redirect_uri", req.RedirectURI)
	q.Set("scope", strings.Join(p.cfg.Scopes, " "))
	q.Set("state", req.State)
	q.Set("nonce", req.Nonce)
	q.Set("code_challenge", challengeS256(req.CodeVerifier))
	q.Set("code_challenge_method", "S256")
	if p.cfg.SendLoginHint && req.LoginHint != "" {
		q.Set("login_hint", req.LoginHint)
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Exchange checks the callback, redeems the code, verifies the ID token,
// fetches userinfo and returns the identity.
func (p *Provider) Exchange(ctx context.Context, req provider.AuthRequest, cb provider.Callback) (provider.Identity, error) {
	// RFC 9207: a present iss must be ours, on errors too.
	if cb.Iss != "" && cb.Iss != p.cfg.Issuer {
		return provider.Identity{}, provider.Errorf("callback_iss_mismatch", "the sign-in answer comes from issuer %q, not %q", cb.Iss, p.cfg.Issuer)
	}
	if cb.Error != "" {
		return provider.Identity{}, provider.Errorf("authorization_error", "the provider did not sign you in (%s)", describe(cb.Error, cb.ErrorDescription))
	}
	if err := checkAuthRequest(req); err != nil {
		return provider.Identity{}, err
	}
	if cb.Code == "" {
		return provider.Identity{}, provider.Errorf("bad_callback", "the sign-in answer has no code")
	}
	d, err := p.disco.get(ctx)
	if err != nil {
		return provider.Identity{}, err
	}
	if cb.Iss == "" && d.IssParameterSupported && !cb.Relayed {
		return provider.Identity{}, provider.Errorf("callback_iss_missing", "the sign-in answer has no issuer, which this provider always sends")
	}

	tok, err := p.redeem(ctx, d, req, cb.Code)
	if err != nil {
		return provider.Identity{}, err
	}
	claims, err := p.verifyIDToken(ctx, tok.IDToken, req.Nonce)
	if err != nil {
		return provider.Identity{}, err
	}
	if d.UserinfoEndpoint != "" {
		info, err := p.userinfo(ctx, d, tok.AccessToken, claims["sub"])
		if err != nil {
			return provider.Identity{}, err
		}
		claims = mergeClaims(claims, info)
	}

	return p.identity(claims, provider.Tokens{
		AccessToken:  tok.AccessToken,
		RefreshToken: tok.RefreshToken,
		IDToken:      tok.IDToken,
		Expiry:       tok.expiry(p.cfg.Now()),
	})
}

// userinfo fetches the claims of accessToken, which must be about sub.
func (p *Provider) userinfo(ctx context.Context, d *discovery, accessToken string, sub any) (map[string]any, error) {
	var info map[string]any
	ctx = provider.WithEndpoint(ctx, provider.EndpointUserinfo)
	if err := p.getJSON(ctx, "userinfo", d.UserinfoEndpoint, accessToken, &info); err != nil {
		return nil, err
	}
	if info == nil {
		return nil, provider.Errorf("userinfo", "the provider's userinfo answer is not a JSON object")
	}
	if got, _ := info["sub"].(string); got != sub {
		return nil, provider.Errorf("userinfo_sub_mismatch", "the provider's userinfo is about subject %q, not %q", info["sub"], sub)
	}
	return info, nil
}

// identity maps merged claims to the identity, without the claims that
// change at every sign-in.
func (p *Provider) identity(claims map[string]any, tokens provider.Tokens) (provider.Identity, error) {
	for k := range perSignIn {
		delete(claims, k)
	}
	raw, err := json.Marshal(claims)
	if err != nil {
		return provider.Identity{}, &provider.Error{Reason: "id_token_malformed", Message: "the claims could not be encoded", Err: err}
	}
	c := p.cfg.Claims
	id := provider.Identity{
		Issuer:        p.cfg.Issuer,
		Subject:       stringClaim(claims, c.Subject),
		Email:         stringClaim(claims, c.Email),
		EmailVerified: boolClaim(claims, c.EmailVerified),
		Name:          stringClaim(claims, c.Name),
		Avatar:        stringClaim(claims, c.Avatar),
		Claims:        raw,
		Tokens:        tokens,
	}
	if id.Subject == "" {
		return provider.Identity{}, provider.Errorf("missing_subject", "the claims have no subject at %q", c.Subject)
	}
	return id, nil
}

// EndSessionURL returns the URL of the OP's end_session_endpoint that
// signs the person out there too (OpenID Connect RP-Initiated Logout 1.0
// §2), or "" when discovery names none. It carries client_id always
// (so an OP that cannot read an old or missing hint still knows the
// client, and post_logout_redirect_uri may be checked), id_token_hint
// when the session kept an ID token, and post_logout_redirect_uri when one
// is configured.
func (p *Provider) EndSessionURL(ctx context.Context, r provider.EndSessionRequest) (string, error) {
	d, err := p.disco.get(ctx)
	if err != nil || d.EndSessionEndpoint == "" {
		return "", err
	}
	u, err := url.Parse(d.EndSessionEndpoint)
	if err != nil {
		return "", &provider.Error{Reason: "discovery", Message: "invalid end_session_endpoint", Err: err}
	}
	q := u.Query()
	q.Set("client_id", p.cfg.ClientID)
	if r.IDTokenHint != "" {
		q.Set("id_token_hint", r.IDTokenHint)
	}
	if r.PostLogoutRedirectURI != "" {
		q.Set("post_logout_redirect_uri", r.PostLogoutRedirectURI)
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// challengeS256 is RFC 7636's S256 code challenge for verifier.
func challengeS256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// maxLoginHint bounds the caller's hint; an email address fits in 254.
const maxLoginHint = 256

// checkAuthRequest rejects what the core should never produce: a flow
// without state, nonce or a valid PKCE verifier (RFC 7636 §4.1).
func checkAuthRequest(req provider.AuthRequest) error {
	bad := func(format string, args ...any) error { return provider.Errorf("bad_request", format, args...) }
	switch {
	case req.State == "":
		return bad("the sign-in has no state")
	case req.Nonce == "":
		return bad("the sign-in has no nonce")
	case len(req.CodeVerifier) < 43 || len(req.CodeVerifier) > 128:
		return bad("the PKCE verifier must be 43 to 128 characters long")
	case strings.IndexFunc(req.CodeVerifier, notUnreserved) >= 0:
		return bad("the PKCE verifier holds characters RFC 7636 does not allow")
	case req.RedirectURI == "":
		return bad("the sign-in has no redirect URI")
	case len(req.LoginHint) > maxLoginHint || strings.IndexFunc(req.LoginHint, notPrintable) >= 0:
		return bad("the login hint is too long or holds control characters")
	}
	return nil
}

func notUnreserved(r rune) bool {
	return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '.' || r == '_' || r == '~')
}

func notPrintable(r rune) bool { return r < 0x20 || (r >= 0x7f && r <= 0x9f) || r == 0xfffd }
