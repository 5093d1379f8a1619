// Package api holds what the HTTP surfaces agree on: the callback paths
// registered at each provider and the OpenAPI document of both surfaces.
package api

import (
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

// ProviderCallbackPath returns CallbackPath for p among all configured
// providers. "First" means first configured of its kind, not first
// enabled, so that turning a provider off never moves another provider's
// registered redirect URI.
func ProviderCallbackPath(all []core.Provider, p core.Provider) string {
	for _, q := range all {
		if q.Kind == p.Kind {
			return CallbackPath(p.ID, p.Kind, q.ID == p.ID)
		}
	}
	return CallbackPath(p.ID, p.Kind, false)
}
