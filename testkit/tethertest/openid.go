package tethertest

import (
	"net/url"

	"github.com/tether-id/tether/api"
	"github.com/tether-id/tether/config"
	"github.com/tether-id/tether/provider"
	"github.com/tether-id/tether/testkit/testpeer"
)

// OIDCCode is the Cloudreve integer of the generic OIDC kind, the
// provider that OIDCProvider configures.
const OIDCCode = 2

// OIDCProvider configures op as a generic OIDC provider with the given id:
// enabled, creating an account for an unknown identity. As the only OIDC
// provider of a server it answers to Cloudreve code OIDCCode.
func OIDCProvider(id string, op *testpeer.OP) config.Provider {
	return config.Provider{
		ID: id, Kind: config.KindOIDC, Name: id, Enabled: true, DirectSignIn: true,
		Issuer: op.Issuer, ClientID: op.ClientID, ClientSecret: op.ClientSecret,
	}
}

// OIDCCallbackURL is the redirect URI that a server with publicURL sends
// to its first OIDC provider: what the OP must have registered.
func OIDCCallbackURL(publicURL string) string {
	return publicURL + api.CallbackPath("", provider.KindOIDC, true)
}

// PrepareOpenID starts an upstream sign-in with PUT /api/v4/session/openid
// (which also sets the browser-binding cookie in the jar) and returns the
// authorization URL, failing the test on any error.
func (c *Client) PrepareOpenID(code int) string {
	c.t.Helper()
	env := c.Cloudreve("PUT", "/api/v4/session/openid", map[string]any{"provider": code}, "")
	var authURL string
	if env.Code == 0 {
		env.Decode(c.t, &authURL)
	}
	if authURL == "" {
		c.t.Fatalf("prepare sign-in: %s", env.Raw)
	}
	return authURL
}

// FinishOpenID relays the OP's redirect back to the relying party (its
// code, state and iss) to POST /api/v4/session/openid, as Cloudreve's
// callback page does, and returns the envelope. base is the server to
// send it to: "" for this client's own, or another server's URL (the
// cookie jar decides which cookies go along).
func (c *Client) FinishOpenID(base string, code int, back *url.URL) Envelope {
	c.t.Helper()
	q := back.Query()
	body := map[string]any{"code": q.Get("code"), "session_id": q.Get("state"), "provider_id": code}
	if iss := q.Get("iss"); iss != "" {
		body["iss"] = iss
	}
	if base == "" {
		base = c.base
	}
	return c.Cloudreve("POST", base+"/api/v4/session/openid", body, "")
}
