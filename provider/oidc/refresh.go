package oidc

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/tether-id/tether/provider"
)

// Refresh checks that the account of prev is still in good standing at
// the OP, as Dex's OIDC connector does on refresh (provider.Refresher):
//
//   - With a refresh token, it redeems it (grant_type=refresh_token). An
//     invalid_grant answer means the grant is gone (revoked, expired, the
//     account disabled or deleted): Revoked. A new ID token is verified
//     as OpenID Connect Core §12.2 asks and must name the same subject.
//   - Without one, a still-valid access token is checked at userinfo.
//   - Either way userinfo, when the OP has it, refreshes the profile; a
//     401 there means the access token was refused: Revoked.
//
// Errors of any other kind (an unreachable OP, invalid_client, an answer
// that cannot be read) never say Revoked, so they sign nobody out.
func (p *Provider) Refresh(ctx context.Context, prev provider.Identity) (provider.Identity, error) {
	d, err := p.disco.get(ctx)
	if err != nil {
		return provider.Identity{}, err
	}
	var claims map[string]any
	if len(prev.Claims) > 0 {
		if err := decodeJSON(prev.Claims, &claims); err != nil {
			return provider.Identity{}, &provider.Error{Reason: "refresh", Message: "the stored claims cannot be read", Err: err}
		}
	}
	if claims == nil {
		claims = map[string]any{}
	}
	sub := claims["sub"]
	if sub == nil {
		// Claims are stored without the subject only when they were too
		// large to keep; the ID token still says who it was.
		sub = unverifiedClaims(prev.Tokens.IDToken)["sub"]
	}
	tokens := prev.Tokens
	now := p.cfg.Now()
	checked := false
	switch {
	case tokens.RefreshToken != "":
		tok, err := p.tokenCall(ctx, d, "refresh", "the provider refused the refresh token", url.Values{
			"grant_type":    {"refresh_token"},
			"refresh_token": {tokens.RefreshToken},
		})
		if err != nil {
			return provider.Identity{}, refreshError(err)
		}
		tokens.AccessToken, tokens.Expiry = tok.AccessToken, tok.expiry(now)
		if tok.RefreshToken != "" { // rotated
			tokens.RefreshToken = tok.RefreshToken
		}
		if tok.IDToken != "" {
			idc, err := p.verifyRefreshedIDToken(ctx, tok.IDToken, prev.Tokens.IDToken)
			if err != nil {
				return provider.Identity{}, err
			}
			if sub != nil && idc["sub"] != sub {
				return provider.Identity{}, &provider.Error{Reason: "subject_changed", Revoked: true,
					Message: "the provider's refreshed ID token is about another subject"}
			}
			sub = idc["sub"]
			tokens.IDToken = tok.IDToken
			for k, v := range idc {
				claims[k] = v
			}
		}
		checked = true
	case tokens.AccessToken != "" && (tokens.Expiry.IsZero() || now.Before(tokens.Expiry)):
		// The access token itself is checked at userinfo below.
	default:
		return provider.Identity{}, provider.Errorf("no_credentials",
			"the sign-in left no refresh token and its access token has expired, so the account cannot be checked")
	}
	if d.UserinfoEndpoint != "" && sub != nil {
		info, err := p.userinfo(ctx, d, tokens.AccessToken, sub)
		switch {
		case isStatus(err, http.StatusUnauthorized):
			return provider.Identity{}, revoked(err, "the provider no longer accepts the access token")
		case err != nil:
			var pe *provider.Error
			if errors.As(err, &pe) && pe.Reason == "userinfo_sub_mismatch" {
				pe.Revoked = true
			}
			return provider.Identity{}, err
		}
		claims = mergeClaims(claims, info)
		checked = true
	}
	if !checked {
		return provider.Identity{}, provider.Errorf("no_userinfo",
			"the provider has no userinfo endpoint and the sign-in left no refresh token, so the account cannot be checked")
	}
	id, err := p.identity(claims, tokens)
	if err != nil {
		return provider.Identity{}, err
	}
	if id.Subject != prev.Subject {
		return provider.Identity{}, &provider.Error{Reason: "subject_changed", Revoked: true,
			Message: "the provider now answers for another subject"}
	}
	return id, nil
}

// refreshError marks the token endpoint's invalid_grant (RFC 6749 §5.2:
// the refresh token is invalid, expired or revoked) as Revoked.
func refreshError(err error) error {
	var oe *oauthError
	if errors.As(err, &oe) && oe.Code == "invalid_grant" {
		return revoked(err, "the provider no longer accepts the refresh token")
	}
	return err
}

func revoked(err error, message string) error {
	var pe *provider.Error
	if errors.As(err, &pe) {
		c := *pe
		c.Revoked, c.Unavailable, c.Message = true, false, message
		return &c
	}
	return &provider.Error{Reason: "refresh", Revoked: true, Message: message, Err: err}
}

func isStatus(err error, status int) bool {
	var he *httpError
	return errors.As(err, &he) && he.Status == status
}
