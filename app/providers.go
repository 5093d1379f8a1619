package app

import (
	"fmt"
	"net/http"
	"reflect"

	"github.com/tether-id/tether/config"
	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/provider"
	"github.com/tether-id/tether/provider/logto"
	"github.com/tether-id/tether/provider/oidc"
	"github.com/tether-id/tether/provider/qq"
)

// Providers builds every configured provider. Nothing here touches the
// network: discovery happens on first use, so tether starts (and
// reloads) even while a provider is down (and dev mode can point at its
// own demo OP).
func Providers(cfg *config.Config, client *http.Client) ([]core.Provider, error) {
	out, _, err := providers(cfg, func(string) *http.Client { return client }, nil)
	return out, err
}

// upstreamOf is a provider's protocol implementation with the settings
// it was built from.
type upstreamOf struct {
	cfg config.Provider
	up  provider.Provider
}

// providers builds every configured provider, each talking through the
// client that clientFor gives for its id (a served tether's counts each
// provider's requests), keeping from prev (the running configuration's,
// by id) the upstream of each whose settings did not change, with its
// discovery and JWKS caches.
func providers(cfg *config.Config, clientFor func(id string) *http.Client, prev map[string]upstreamOf) ([]core.Provider, map[string]upstreamOf, error) {
	out := make([]core.Provider, 0, len(cfg.Providers))
	ups := make(map[string]upstreamOf, len(cfg.Providers))
	for i, pc := range cfg.Providers {
		u, ok := prev[pc.ID]
		if !ok || !reflect.DeepEqual(u.cfg, pc) {
			up, err := upstream(pc, clientFor(pc.ID))
			if err != nil {
				return nil, nil, fmt.Errorf("providers[%d] (%s): %w", i, pc.ID, err)
			}
			u = upstreamOf{cfg: pc, up: up}
		}
		ups[pc.ID] = u
		out = append(out, core.Provider{
			ID: pc.ID, Kind: pc.Kind, Name: pc.Name, Icon: pc.Icon, Enabled: pc.Enabled,
			DirectSignIn: pc.DirectSignIn, LinkByVerifiedEmail: pc.LinkByVerifiedEmail,
			RecheckEvery: pc.RecheckEvery.D(), PostLogoutRedirectURI: pc.PostLogoutRedirectURI,
			Upstream: u.up,
		})
	}
	return out, ups, nil
}

func claims(c config.Claims) oidc.Claims {
	return oidc.Claims{Subject: c.Subject, Email: c.Email, EmailVerified: c.EmailVerified, Name: c.Name, Avatar: c.Avatar}
}

func upstream(pc config.Provider, client *http.Client) (provider.Provider, error) {
	switch pc.Kind {
	case config.KindOIDC:
		return oidc.New(oidc.Config{
			ID: pc.ID, Issuer: pc.Issuer, ClientID: pc.ClientID, ClientSecret: pc.ClientSecret,
			Scopes: pc.Scopes, Claims: claims(pc.Claims), IDTokenAlgs: pc.IDTokenAlgs,
			TokenEndpointAuth: pc.TokenEndpointAuth, Insecure: pc.Insecure, HTTPClient: client,
		})
	case config.KindLogto:
		return logto.New(logto.Config{
			ID: pc.ID, Issuer: pc.Issuer, ClientID: pc.ClientID, ClientSecret: pc.ClientSecret,
			Scopes: pc.Scopes, Claims: claims(pc.Claims), IDTokenAlgs: pc.IDTokenAlgs,
			TokenEndpointAuth: pc.TokenEndpointAuth,
			DirectSignIn:      pc.Logto.DirectSignIn, FirstScreen: pc.Logto.FirstScreen, Resources: pc.Logto.Resource,
			HTTPClient: client,
		})
	case config.KindQQ:
		return qq.New(qq.Config{
			ID: pc.ID, AppID: pc.ClientID, AppKey: pc.ClientSecret, Key: pc.Key, Scopes: pc.Scopes,
			Endpoints:  qq.Endpoints{Authorize: pc.Endpoints.Authorize, Token: pc.Endpoints.Token, Me: pc.Endpoints.Me, UserInfo: pc.Endpoints.UserInfo},
			HTTPClient: client,
		})
	}
	return nil, fmt.Errorf("unknown kind %q", pc.Kind)
}

// Apps turns the config's clients into the apps of tether's OpenID
// Provider.
func Apps(clients []config.Client) []core.App {
	out := make([]core.App, 0, len(clients))
	for _, c := range clients {
		out = append(out, core.App{
			ID: c.ID, Name: c.Name, Secret: c.Secret, RedirectURIs: c.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
			Consent: c.Consent, IDTokenAlg: c.IDTokenAlg, Providers: c.Providers,
		})
	}
	return out
}
