// Package logto signs people in with Logto, whose OIDC core is panva's
// oidc-provider: it is package oidc with Logto's conventions fixed (SPEC
// §3.1). The issuer is https://<tenant>.logto.app/oidc; ID tokens are
// ES384 (allowed by oidc's default list); every request carries
// prompt=consent, without which Logto drops offline_access and issues no
// refresh token; the caller's hint is sent as login_hint; and the optional
// direct_sign_in, first_screen and resource parameters come from the
// configuration only. Nothing else a caller says reaches Logto.
package logto

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tether-id/tether/provider/oidc"
)

// DefaultScopes are Logto's SDK defaults: refresh tokens and the profile
// with email.
var DefaultScopes = []string{"openid", "offline_access", "profile", "email"}

// Config configures one Logto application (a "traditional web" app).
type Config struct {
	ID string
	// Issuer must end in /oidc, as Logto's do.
	Issuer       string
	ClientID     string
	ClientSecret string
	// Scopes default to DefaultScopes.
	Scopes []string
	Claims oidc.Claims
	// IDTokenAlgs overrides oidc's default allow-list, which has ES384.
	IDTokenAlgs []string

	// DirectSignIn is Logto's direct_sign_in authorize parameter
	// ("social:<connector target>" or "sso:<connector id>"), which skips
	// Logto's own sign-in page. It is unrelated to tether's direct
	// sign-in policy (creating accounts for unknown identities).
	DirectSignIn string
	// FirstScreen is Logto's first_screen parameter (sign_in, register,
	// reset_password, single_sign_on, identifier:sign_in, ...).
	FirstScreen string
	// Resources are API resource indicators (RFC 8707), each sent as a
	// resource parameter.
	Resources []string

	// TokenEndpointAuth forces client_secret_basic or client_secret_post.
	TokenEndpointAuth string

	ClockSkew    time.Duration
	DiscoveryTTL time.Duration
	HTTPClient   *http.Client
	Now          func() time.Time
	Logger       *slog.Logger
}

// New checks cfg and returns the provider. Like oidc.New, it does not
// contact Logto.
func New(cfg Config) (*oidc.Provider, error) {
	if err := CheckIssuer(cfg.Issuer); err != nil {
		return nil, fmt.Errorf("logto provider %s: issuer: %w", cfg.ID, err)
	}
	scopes := cfg.Scopes
	if len(scopes) == 0 {
		scopes = DefaultScopes
	}
	extra := url.Values{"prompt": {"consent"}}
	if cfg.DirectSignIn != "" {
		extra.Set("direct_sign_in", cfg.DirectSignIn)
	}
	if cfg.FirstScreen != "" {
		extra.Set("first_screen", cfg.FirstScreen)
	}
	for _, r := range cfg.Resources {
		if err := CheckResource(r); err != nil {
			return nil, fmt.Errorf("logto provider %s: resource: %w", cfg.ID, err)
		}
		extra.Add("resource", r)
	}
	return oidc.New(oidc.Config{
		ID:                cfg.ID,
		Issuer:            cfg.Issuer,
		ClientID:          cfg.ClientID,
		ClientSecret:      cfg.ClientSecret,
		Scopes:            scopes,
		Claims:            cfg.Claims,
		IDTokenAlgs:       cfg.IDTokenAlgs,
		ClockSkew:         cfg.ClockSkew,
		DiscoveryTTL:      cfg.DiscoveryTTL,
		TokenEndpointAuth: cfg.TokenEndpointAuth,
		ExtraAuthParams:   extra,
		SendLoginHint:     true,
		HTTPClient:        cfg.HTTPClient,
		Now:               cfg.Now,
		Logger:            cfg.Logger,
	})
}

// CheckIssuer is the rule for a Logto issuer: an OpenID Connect issuer
// (oidc.CheckIssuer) whose path ends in /oidc, as Logto's always does.
func CheckIssuer(s string) error {
	if err := oidc.CheckIssuer(s); err != nil {
		return err
	}
	if !strings.HasSuffix(s, "/oidc") {
		return fmt.Errorf("a Logto issuer ends in /oidc (https://<tenant>.logto.app/oidc), got %q", s)
	}
	return nil
}

// CheckResource is the rule for a resource indicator (RFC 8707): an
// absolute URI without fragment.
func CheckResource(s string) error {
	if u, err := url.Parse(s); err != nil || !u.IsAbs() || u.Fragment != "" {
		return fmt.Errorf("want an absolute URI without fragment, got %q", s)
	}
	return nil
}
