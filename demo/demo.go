// Package demo is the OpenID Provider that `tether dev` mounts on its own
// server, so that a newcomer can sign in, link and unlink with nothing else
// running.
//
// It is a real OP, built on zitadel/oidc's op package, and holds itself to the
// rules tether enforces on upstream providers: discovery whose issuer is the
// configured one exactly, a JWKS, the authorization code flow with PKCE S256
// required, the nonce echoed in the ID token, userinfo, refresh tokens for
// offline_access, client_secret_basic and client_secret_post, end_session, and
// RFC 9207's iss parameter on every authorization response.
//
// Everything lives in memory and the signing key is generated at start:
// restarting the process invalidates every code and token. Subjects are the
// usernames, so an identity linked to a demo user survives restarts. It is a
// demo: every password is shown on its sign-in page.
package demo

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Lifetimes. They are generous because a demo is driven by hand.
const (
	authRequestTTL  = 10 * time.Minute
	accessTokenTTL  = time.Hour
	refreshTokenTTL = 14 * 24 * time.Hour
	idTokenTTL      = time.Hour
)

// Config configures an OP with a single confidential client.
type Config struct {
	// Issuer is the OP's issuer URL without a trailing slash, for example
	// "http://127.0.0.1:5212/demo". Its path is where Handler is mounted.
	Issuer string

	// ClientID and ClientSecret identify the one client, which may
	// authenticate with client_secret_basic or client_secret_post.
	ClientID     string
	ClientSecret string

	// RedirectURIs are the client's callback URLs. An authorization request's
	// redirect_uri must equal one of them exactly.
	RedirectURIs []string

	// PostLogoutRedirectURIs are where end_session may send the browser
	// afterwards. Without a registered one it shows its own signed-out page.
	PostLogoutRedirectURIs []string

	// Users may sign in. Nil means DefaultUsers(Issuer).
	Users []User

	// Logger records sign-ins; nil means slog.Default(). The op package logs
	// protocol errors through slog.Default() whatever this is.
	Logger *slog.Logger
}

// User is a demo account.
type User struct {
	// Username is what the sign-in form takes, and it is also the subject
	// (sub), so identities stay the same across restarts.
	Username string
	Password string

	Name          string
	Email         string
	EmailVerified bool
	// Picture is the URL of the user's avatar; empty for none.
	Picture string
}

// DemoPassword is the password of every default user.
const DemoPassword = "demo"

// DefaultUsers are the accounts of a demo OP at issuer: alice has a verified
// email, bob's email is unverified (so tether never links by it), and carol is
// verified but has no picture. Their avatars are served by the OP itself.
func DefaultUsers(issuer string) []User {
	return []User{
		{
			Username: "alice", Password: DemoPassword, Name: "Alice Demo",
			Email: "alice@demo.tether.test", EmailVerified: true,
			Picture: issuer + "/avatars/alice.svg",
		},
		{
			Username: "bob", Password: DemoPassword, Name: "Bob Demo",
			Email: "bob@demo.tether.test", EmailVerified: false,
			Picture: issuer + "/avatars/bob.svg",
		},
		{
			Username: "carol", Password: DemoPassword, Name: "Carol Demo",
			Email: "carol@demo.tether.test", EmailVerified: true,
		},
	}
}

// OP is a running demo OpenID Provider.
type OP struct {
	issuer   string
	prefix   string // the issuer's path: "" or "/demo"
	store    *storage
	provider *op.Provider
	log      *slog.Logger
	handler  http.Handler
}

// New checks cfg, generates a signing key and builds the OP.
func New(cfg Config) (*OP, error) {
	u, err := checkConfig(&cfg)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	if cfg.Users == nil {
		cfg.Users = DefaultUsers(cfg.Issuer)
	}
	if err := checkUsers(cfg.Users); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	o := &OP{issuer: cfg.Issuer, prefix: u.Path, log: cfg.Logger}
	o.store, err = newStorage(cfg, o.prefix+"/login")
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}

	var cryptoKey [32]byte
	rand.Read(cryptoKey[:])
	opts := []op.Option{}
	if u.Scheme == "http" {
		opts = append(opts, op.WithAllowInsecure())
	}
	o.provider, err = op.NewProvider(&op.Config{
		CryptoKey:                cryptoKey,
		DefaultLogoutRedirectURI: o.issuer + "/signed-out",
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true,
		SupportedScopes:          supportedScopes,
		SupportedClaims:          supportedClaims,
	}, o.store, op.StaticIssuer(o.issuer), opts...)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	o.handler = o.routes()
	return o, nil
}

// Handler serves the OP. Its routes are the full paths under the issuer's
// path, so mount it at that path without stripping anything:
//
//	mux.Handle("/demo/", op.Handler()) // Issuer "http://127.0.0.1:5212/demo"
//
// With an issuer that has no path, mount it at "/".
func (o *OP) Handler() http.Handler { return o.handler }

func (o *OP) routes() http.Handler {
	p := o.prefix
	protocol := http.StripPrefix(p, o.provider)
	withIss := o.addIss(protocol)

	mux := http.NewServeMux()
	mux.HandleFunc("GET "+p+oidc.DiscoveryEndpoint, o.discovery)
	mux.Handle(p+"/authorize", withIss)
	mux.Handle(p+"/authorize/callback", withIss)
	for _, path := range []string{"/oauth/token", "/oauth/introspect", "/userinfo", "/keys", "/revoke", "/end_session"} {
		mux.Handle(p+path, protocol)
	}
	mux.HandleFunc("GET "+p+"/login", o.loginPage)
	mux.HandleFunc("POST "+p+"/login", o.login)
	mux.HandleFunc("GET "+p+"/signed-out", o.signedOut)
	mux.HandleFunc("GET "+p+"/avatars/{file}", o.avatar)
	return mux
}

var (
	supportedScopes = []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopeOfflineAccess}
	supportedClaims = []string{
		"sub", "aud", "exp", "iat", "iss", "auth_time", "nonce", "amr", "azp", "at_hash", "c_hash",
		"name", "preferred_username", "picture", "email", "email_verified",
	}
	// pathPattern keeps the issuer's path to characters that need no escaping
	// and mean nothing to ServeMux patterns.
	pathPattern = regexp.MustCompile(`^(/[A-Za-z0-9._~-]+)*$`)
)

func checkConfig(cfg *Config) (*url.URL, error) {
	u, err := url.Parse(cfg.Issuer)
	switch {
	case cfg.Issuer == "":
		return nil, errors.New("issuer is required")
	case err != nil:
		return nil, fmt.Errorf("issuer: %w", err)
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return nil, fmt.Errorf("issuer %q: want an absolute http or https URL", cfg.Issuer)
	case u.User != nil, u.RawQuery != "", u.Fragment != "", u.ForceQuery:
		return nil, fmt.Errorf("issuer %q: no user info, query or fragment allowed", cfg.Issuer)
	case !pathPattern.MatchString(u.Path) || u.RawPath != "":
		return nil, fmt.Errorf("issuer %q: the path must be empty or plain segments without a trailing slash", cfg.Issuer)
	case cfg.ClientID == "" || cfg.ClientSecret == "":
		return nil, errors.New("client id and secret are required")
	case len(cfg.RedirectURIs) == 0:
		return nil, errors.New("at least one redirect URI is required")
	}
	for _, list := range [][]string{cfg.RedirectURIs, cfg.PostLogoutRedirectURIs} {
		for _, raw := range list {
			r, err := url.Parse(raw)
			if err != nil || (r.Scheme != "http" && r.Scheme != "https") || r.Host == "" || r.Fragment != "" {
				return nil, fmt.Errorf("redirect URI %q: want an absolute http or https URL without a fragment", raw)
			}
		}
	}
	return u, nil
}

func checkUsers(users []User) error {
	seen := make(map[string]bool, len(users))
	for _, u := range users {
		if u.Username == "" {
			return errors.New("a user has no username")
		}
		if seen[u.Username] {
			return fmt.Errorf("user %q is listed twice", u.Username)
		}
		seen[u.Username] = true
	}
	return nil
}
