package oidc

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tether-id/tether/provider"
)

// tokenResponse is the token endpoint's answer (RFC 6749 §5.1, OIDC Core
// §3.1.3.3) or its error (RFC 6749 §5.2).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	// ExpiresIn is a number, or a string holding one from some OPs;
	// kept raw so that an odd value only loses the expiry.
	ExpiresIn        json.RawMessage `json:"expires_in"`
	Error            string          `json:"error"`
	ErrorDescription string          `json:"error_description"`
}

// authMethod picks how to authenticate to the token endpoint: the
// configured method, else client_secret_basic when the OP supports it or
// says nothing (RFC 8414's default), else client_secret_post.
func (p *Provider) authMethod(d *discovery) (string, error) {
	if p.cfg.TokenEndpointAuth != "" {
		return p.cfg.TokenEndpointAuth, nil
	}
	m := d.TokenEndpointAuthMethods
	switch {
	case len(m) == 0 || slices.Contains(m, authBasic):
		return authBasic, nil
	case slices.Contains(m, authPost):
		return authPost, nil
	}
	return "", provider.Errorf("token_auth_unsupported", "the provider supports neither %s nor %s for its token endpoint (it offers %v)", authBasic, authPost, m)
}

// redeem exchanges the authorization code for tokens.
func (p *Provider) redeem(ctx context.Context, d *discovery, req provider.AuthRequest, code string) (*tokenResponse, error) {
	tok, err := p.tokenCall(ctx, d, "token_exchange", "the provider refused the sign-in code", url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {req.RedirectURI},
		"code_verifier": {req.CodeVerifier},
	})
	if err != nil {
		return nil, err
	}
	if tok.IDToken == "" {
		return nil, provider.Errorf("id_token_missing", "the provider's token answer has no ID token (is openid among the scopes?)")
	}
	return tok, nil
}

// oauthError is an error answer of the token endpoint (RFC 6749 §5.2).
type oauthError struct {
	Status      int
	Code        string // invalid_grant, invalid_client...
	Description string
}

func (e *oauthError) Error() string {
	return fmt.Sprintf("token endpoint: HTTP %d: %s", e.Status, describe(e.Code, e.Description))
}

// tokenCall posts a grant to the token endpoint, authenticated as the
// client, and returns an answer with an access token. An OAuth error
// answer is a *provider.Error (reason, refused and the OP's words)
// wrapping an *oauthError.
func (p *Provider) tokenCall(ctx context.Context, d *discovery, reason, refused string, form url.Values) (*tokenResponse, error) {
	method, err := p.authMethod(d)
	if err != nil {
		return nil, err
	}
	if method == authPost {
		form.Set("client_id", p.cfg.ClientID)
		form.Set("client_secret", p.cfg.ClientSecret)
	}
	hreq, err := http.NewRequestWithContext(provider.WithEndpoint(ctx, provider.EndpointToken), http.MethodPost, d.TokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, &provider.Error{Reason: reason, Message: "invalid token endpoint", Err: err}
	}
	hreq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hreq.Header.Set("Accept", "application/json")
	if method == authBasic {
		// RFC 6749 §2.3.1: id and secret are form-encoded before Basic.
		hreq.SetBasicAuth(url.QueryEscape(p.cfg.ClientID), url.QueryEscape(p.cfg.ClientSecret))
	}
	body, resp, err := p.do(hreq, reason)
	if err != nil {
		return nil, err
	}

	var tok tokenResponse
	jsonErr := decodeJSON(body, &tok)
	if resp.StatusCode != http.StatusOK || tok.Error != "" {
		if resp.StatusCode >= 500 || jsonErr != nil || tok.Error == "" {
			return nil, statusError(reason, resp, body)
		}
		return nil, &provider.Error{
			Reason:  reason,
			Message: fmt.Sprintf("%s (%s)", refused, describe(tok.Error, tok.ErrorDescription)),
			Err:     &oauthError{Status: resp.StatusCode, Code: tok.Error, Description: tok.ErrorDescription},
		}
	}
	if jsonErr != nil {
		return nil, &provider.Error{Reason: reason, Message: "the provider's token answer is not valid JSON", Err: jsonErr}
	}
	if tok.AccessToken == "" {
		return nil, provider.Errorf(reason, "the provider's token answer has no access token")
	}
	return &tok, nil
}

// expiry turns expires_in into a time; zero when absent or invalid.
func (t *tokenResponse) expiry(now time.Time) time.Time {
	raw := strings.Trim(string(t.ExpiresIn), `"`)
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n <= 0 || n > 10*365*24*3600 {
		return time.Time{}
	}
	return now.Add(time.Duration(n) * time.Second)
}

// describe formats an OAuth error code and description for a message,
// printable and bounded since both come from the OP.
func describe(code, description string) string {
	s := snippet([]byte(code))
	if description != "" {
		s += ": " + snippet([]byte(description))
	}
	return s
}
