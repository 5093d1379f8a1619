package core

import (
	"crypto/subtle"
	"net/url"
	"slices"
	"strings"

	"github.com/tether-id/tether/provider"
)

// App is a client of tether's OpenID Provider: an app that signs its
// users in through tether (SPEC §8, config `clients:`).
type App struct {
	ID   string // client_id
	Name string // shown on the sign-in and consent pages
	// Secret authenticates a confidential client; "" makes a public
	// client, which must use PKCE.
	Secret                 string
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	// Consent asks the person, once per set of scopes.
	Consent bool
	// IDTokenAlg signs the app's ID tokens: RS256, ES256 or EdDSA.
	IDTokenAlg string
	// Providers are the upstream providers offered to the app's users;
	// empty offers every enabled one.
	Providers []string
}

// Public reports whether the app has no secret (a single-page or native
// app), so it authenticates with PKCE alone.
func (a App) Public() bool { return a.Secret == "" }

// CheckSecret compares secret with the app's in constant time.
func (a App) CheckSecret(secret string) bool {
	return !a.Public() && subtle.ConstantTimeCompare([]byte(secret), []byte(a.Secret)) == 1
}

// AllowsRedirect reports whether uri is one of the app's redirect URIs:
// an exact match, except that a public client's loopback redirect URI may
// name any port (RFC 8252 §7.3), as a native app listens where it can.
func (a App) AllowsRedirect(uri string) bool {
	if slices.Contains(a.RedirectURIs, uri) {
		return true
	}
	if !a.Public() {
		return false
	}
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "http" || !provider.IsLoopback(u.Hostname()) || u.Hostname() == "localhost" {
		return false
	}
	for _, r := range a.RedirectURIs {
		ru, err := url.Parse(r)
		if err == nil && ru.Scheme == "http" && ru.Hostname() == u.Hostname() && ru.Path == u.Path && ru.RawQuery == u.RawQuery {
			return true
		}
	}
	return false
}

// AllowsPostLogoutRedirect reports whether uri is one of the app's
// post-logout redirect URIs, matched exactly.
func (a App) AllowsPostLogoutRedirect(uri string) bool {
	return slices.Contains(a.PostLogoutRedirectURIs, uri)
}

// Offers reports whether the app's sign-in page offers the provider.
func (a App) Offers(providerID string) bool {
	return len(a.Providers) == 0 || slices.Contains(a.Providers, providerID)
}

// The scopes tether's OpenID Provider knows. Others an app asks for are
// ignored (RFC 6749 §3.3 lets the server grant fewer).
const (
	ScopeOpenID        = "openid"
	ScopeProfile       = "profile"
	ScopeEmail         = "email"
	ScopeOfflineAccess = "offline_access"
)

// KnownScopes are the scopes discovery lists.
var KnownScopes = []string{ScopeOpenID, ScopeProfile, ScopeEmail, ScopeOfflineAccess}

// ParseScopes splits a scope parameter and keeps the known scopes, in
// KnownScopes order, without duplicates.
func ParseScopes(s string) []string {
	fields := strings.Fields(s)
	var out []string
	for _, k := range KnownScopes {
		if slices.Contains(fields, k) {
			out = append(out, k)
		}
	}
	return out
}

// covers reports whether granted holds every scope of asked.
func covers(granted, asked []string) bool {
	for _, s := range asked {
		if !slices.Contains(granted, s) {
			return false
		}
	}
	return true
}

// Apps returns the configured apps, in config order.
func (s *Service) Apps() []App { return s.opts.Apps }

// App returns the app with client id; ok is false if there is none.
func (s *Service) App(id string) (App, bool) {
	for _, a := range s.opts.Apps {
		if a.ID == id {
			return a, true
		}
	}
	return App{}, false
}

// Issuer is the issuer of tether's OpenID Provider: the public URL.
func (s *Service) Issuer() string { return s.opts.Issuer }
