package qq

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/tether-id/tether/provider"
)

// Check reports the provider's setup for "tether doctor": the config, and
// whether each API endpoint answers in QQ Connect's dialect. The probes
// carry no credentials (no app key, no token), so QQ answers each with one
// of its error bodies, which is what a reachable, correctly addressed
// endpoint does.
func (p *Provider) Check(ctx context.Context) []provider.Check {
	name := "qq"
	if p.id != "" {
		name = "qq " + p.id
	}
	checks := []provider.Check{{
		Name: name + ": config",
		OK:   true,
		Info: fmt.Sprintf("app %s, key %s, scope %s, issuer %s", p.appID, p.key, p.scope, p.issuer),
	}}
	probes := []struct {
		what, key string
		endpoint  *url.URL
		params    url.Values
		parse     func([]byte) error
	}{
		{"token endpoint", "endpoints.token", p.tokenURL, url.Values{"grant_type": {"authorization_code"}, "client_id": {p.appID}, "fmt": {"json"}},
			func(b []byte) error { _, err := parseTokenResponse(b); return err }},
		{"me endpoint", "endpoints.me", p.meURL, url.Values{"fmt": {"json"}},
			func(b []byte) error { _, err := parseMe(b); return err }},
		{"userinfo endpoint", "endpoints.user_info", p.infoURL, url.Values{"oauth_consumer_key": {p.appID}},
			func(b []byte) error { _, err := parseUserInfo(b); return err }},
	}
	for _, pr := range probes {
		c := provider.Check{Name: name + ": " + pr.what, Key: pr.key}
		err := p.call(ctx, pr.endpoint, pr.params, pr.parse)
		var api *APIError
		var down *unavailableError
		switch {
		case errors.As(err, &api):
			c.OK = true
			c.Info = fmt.Sprintf("%s answers like QQ Connect (error %d to a request without credentials)", pr.endpoint.Redacted(), api.Code)
		case errors.As(err, &down):
			c.Info = err.Error()
		case err != nil:
			c.Info = fmt.Sprintf("%s does not answer like QQ Connect: %v", pr.endpoint.Redacted(), err)
		default:
			c.Info = fmt.Sprintf("%s accepted a request without credentials; it is not QQ Connect", pr.endpoint.Redacted())
		}
		checks = append(checks, c)
	}
	return checks
}
