package oidc

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/tether-id/tether/provider"
)

// Check reports on the provider's setup for "tether doctor". It fetches
// discovery and the JWKS afresh, bypassing (and not touching) the caches.
func (p *Provider) Check(ctx context.Context) []provider.Check {
	var checks []provider.Check
	add := func(name string, ok bool, format string, args ...any) {
		checks = append(checks, provider.Check{Name: name, OK: ok, Info: fmt.Sprintf(format, args...), Key: checkKeys[name]})
	}

	durl := discoveryURL(p.cfg.Issuer)
	d, err := p.fetchRawDiscovery(ctx)
	if err != nil {
		add("discovery", false, "%s: %v", durl, err)
		return checks
	}
	add("discovery", true, "%s", durl)
	if d.Issuer != p.cfg.Issuer {
		add("issuer", false, "discovery names %q, the configuration %q; they must match exactly (a trailing slash matters)", d.Issuer, p.cfg.Issuer)
		return checks
	}
	add("issuer", true, "%s", d.Issuer)
	if err := p.checkDiscovery(d); err != nil {
		add("endpoints", false, "%v", err)
		return checks
	}
	add("endpoints", true, "authorization %s, token %s, userinfo %s", d.AuthorizationEndpoint, d.TokenEndpoint, orNone(d.UserinfoEndpoint))

	method, err := p.authMethod(d)
	if err != nil {
		add("token endpoint auth", false, "%v", err)
	} else {
		add("token endpoint auth", true, "%s", method)
	}

	switch {
	case len(d.CodeChallengeMethods) == 0:
		add("pkce", true, "S256 not advertised; tether sends it anyway")
	case slices.Contains(d.CodeChallengeMethods, "S256"):
		add("pkce", true, "S256")
	default:
		add("pkce", false, "the provider advertises %v, not S256, which tether always uses", d.CodeChallengeMethods)
	}

	set, err := p.fetchKeysFrom(ctx, d.JWKSURI)
	if err != nil {
		add("jwks", false, "%s: %v", d.JWKSURI, err)
	} else {
		add("jwks", len(set.keys) > 0, "%s: %d usable signing keys, %d skipped", d.JWKSURI, len(set.keys), set.skipped)
	}

	// Algorithms: those both advertised and allowed. An OP that lists
	// none is judged by its keys alone.
	var usable []string
	for _, alg := range p.cfg.IDTokenAlgs {
		advertised := len(d.IDTokenSigningAlgs) == 0 || slices.Contains(d.IDTokenSigningAlgs, alg)
		hasKey := isHMAC(alg) || (set != nil && len(set.match("", alg)) > 0)
		if advertised && hasKey {
			usable = append(usable, alg)
		}
	}
	if len(usable) == 0 {
		add("algorithms", false, "no ID token algorithm is advertised (%v), allowed (%v) and backed by a key", d.IDTokenSigningAlgs, p.cfg.IDTokenAlgs)
	} else {
		add("algorithms", true, "%s", strings.Join(usable, ", "))
	}
	return checks
}

// checkKeys are the configuration keys of Check's checks. Discovery,
// the issuer and the endpoints and keys its document names all follow
// from the issuer.
var checkKeys = map[string]string{
	"discovery":           "issuer",
	"issuer":              "issuer",
	"endpoints":           "issuer",
	"token endpoint auth": "token_endpoint_auth",
	"jwks":                "issuer",
	"algorithms":          "id_token_algs",
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
