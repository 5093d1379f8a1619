// Package api holds what the HTTP surfaces agree on: the callback paths
// registered at each provider and the OpenAPI document of both surfaces.
package api

import (
	"strings"

	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/provider"
)

// CloudreveCode is the Cloudreve integer for a provider kind: 0 Logto,
// 1 QQ, 2 generic OIDC.
func CloudreveCode(kind string) int {
	switch kind {
	case provider.KindLogto:
		return 0
	case provider.KindQQ:
		return 1
	}
	return 2
}

// CloudreveKind is the inverse of CloudreveCode; ok is false for other
// numbers.
func CloudreveKind(code int) (kind string, ok bool) {
	switch code {
	case 0:
		return provider.KindLogto, true
	case 1:
		return provider.KindQQ, true
	case 2:
		return provider.KindOIDC, true
	}
	return "", false
}

// CallbackPath is the path of the redirect URI that the Cloudreve surface
// and tether's pages register for a provider: /login/qq for the first QQ
// provider (Cloudreve's legacy URL), /callback/openid/<code> for the
// first provider of the other kinds, and /callback/openid/<id> for any
// further provider. first says whether the provider is the first
// configured one of its kind.
func CallbackPath(id, kind string, first bool) string {
	switch {
	case !first:
		return "/callback/openid/" + id
	case kind == provider.KindQQ:
		return "/login/qq"
	case kind == provider.KindLogto:
		return "/callback/openid/0"
	}
	return "/callback/openid/2"
}

// VersiaCallbackPath is the redirect URI path of the Versia surface.
func VersiaCallbackPath(id string) string { return "/oauth/sso/" + id + "/callback" }

// Callbacks knows every provider's redirect URIs. It is computed once at
// start-up from the configured providers, in config order: "first of its
// kind" means first configured, not first enabled, so that turning a
// provider off never moves another provider's registered redirect URI.
type Callbacks struct {
	public    string
	cloudreve string            // the Cloudreve frontend's base URL; public when it has none of its own
	paths     map[string]string // provider id → CallbackPath
	owners    map[string]string // CallbackPath → provider id
}

// NewCallbacks computes the redirect URIs of providers under publicURL.
// cloudreveFrontend is the Cloudreve web app's own base URL
// (cloudreve.frontend_url), "" when it is served by tether's public URL:
// flows that the Cloudreve API prepares then send the provider back to
// the app's own callback pages, at the same paths, which post the finish
// call to tether.
func NewCallbacks(publicURL, cloudreveFrontend string, providers []core.Provider) *Callbacks {
	c := &Callbacks{
		public:    strings.TrimRight(publicURL, "/"),
		cloudreve: strings.TrimRight(cloudreveFrontend, "/"),
		paths:     map[string]string{},
		owners:    map[string]string{},
	}
	if c.cloudreve == "" {
		c.cloudreve = c.public
	}
	seen := map[string]bool{}
	for _, p := range providers {
		path := CallbackPath(p.ID, p.Kind, !seen[p.Kind])
		seen[p.Kind] = true
		c.paths[p.ID], c.owners[path] = path, p.ID
	}
	return c
}

// URL is the redirect URI of tether's own pages for the provider with
// id: <public_url> and its CallbackPath.
func (c *Callbacks) URL(id string) string { return c.public + c.paths[id] }

// CloudreveURL is the redirect URI of flows the Cloudreve API prepares:
// URL, or the same path under the Cloudreve frontend's own URL when it
// has one.
func (c *Callbacks) CloudreveURL(id string) string { return c.cloudreve + c.paths[id] }

// SeparateCloudreveFrontend reports whether the Cloudreve frontend has
// its own URL, so that a provider must have both URL and CloudreveURL
// registered.
func (c *Callbacks) SeparateCloudreveFrontend() bool { return c.cloudreve != c.public }

// VersiaURL is the redirect URI that the Versia surface uses for the
// provider with id.
func (c *Callbacks) VersiaURL(id string) string { return c.public + VersiaCallbackPath(id) }

// Owner returns the id of the provider whose redirect URI (URL) has path.
func (c *Callbacks) Owner(path string) (id string, ok bool) {
	id, ok = c.owners[path]
	return id, ok
}
