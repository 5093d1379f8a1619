// Package config loads tether's YAML configuration (SPEC §1), applies
// TETHER_* environment overrides and *_file secrets, fills defaults and
// validates. Every error names the offending key, and unknown keys are
// errors, because a misspelt security setting that is silently ignored is
// worse than a refusal to start.
package config

import (
	"time"
)

// Config is the whole configuration. The yaml tags are the key names.
type Config struct {
	// PublicURL is the external base URL; every callback URL derives from it.
	PublicURL string `yaml:"public_url"`
	Listen    string `yaml:"listen"`
	// PIDFile is where `tether serve` writes its process id while it
	// runs, for `tether reload --config` (the --pid-file flag overrides
	// it). Empty: none.
	PIDFile string `yaml:"pid_file"`
	// Database is sqlite:///abs/path.db, sqlite://relative.db or postgres://...
	Database string `yaml:"database"`
	// AutoMigrate applies pending migrations when serve starts.
	AutoMigrate bool `yaml:"auto_migrate"`

	SecretKey         string `yaml:"secret_key" secret:"true"`
	SecretKeyFile     string `yaml:"secret_key_file"`
	EncryptionKey     string `yaml:"encryption_key" secret:"true"`
	EncryptionKeyFile string `yaml:"encryption_key_file"`

	// AllowInsecurePublicURL lets `tether serve` run with an http
	// public_url on a host other than loopback. Cookies then lose their
	// Secure flag, so anyone on the network path can read sessions; it
	// exists for a TLS-terminating setup that cannot say https yet, and is
	// off by default.
	AllowInsecurePublicURL bool `yaml:"allow_insecure_public_url"`

	// Debug adds the internal "error" field to Cloudreve error responses.
	Debug   bool    `yaml:"debug"`
	Log     Log     `yaml:"log"`
	Metrics Metrics `yaml:"metrics"`

	Tokens       Tokens       `yaml:"tokens"`
	Registration Registration `yaml:"registration"`
	Flows        Flows        `yaml:"flows"`
	RateLimit    RateLimit    `yaml:"rate_limit"`
	Events       Events       `yaml:"events"`
	Account      Account      `yaml:"account"`
	Web          Web          `yaml:"web"`
	CORS         CORS         `yaml:"cors"`
	Cloudreve    Frontend     `yaml:"cloudreve"`
	Versia       Frontend     `yaml:"versia"`
	SMTP         SMTP         `yaml:"smtp"`
	Providers    []Provider   `yaml:"providers"`

	// Clients are the apps that sign their users in through tether, its
	// OpenID Provider (SPEC §8).
	Clients     []Client    `yaml:"clients"`
	SigningKeys SigningKeys `yaml:"signing_keys"`
}

// Client is an app that signs its users in through tether.
type Client struct {
	// ID is the client_id.
	ID string `yaml:"id"`
	// Name is shown on the sign-in and consent pages.
	Name       string `yaml:"name"`
	Secret     string `yaml:"secret" secret:"true"`
	SecretFile string `yaml:"secret_file"`
	// RedirectURIs are matched exactly (loopback ports excepted for
	// public clients, RFC 8252).
	RedirectURIs           []string `yaml:"redirect_uris"`
	PostLogoutRedirectURIs []string `yaml:"post_logout_redirect_uris"`
	// Consent asks the person once per set of scopes; false for
	// first-party apps.
	Consent bool `yaml:"consent"`
	// IDTokenAlg signs this client's ID tokens: RS256, ES256 or EdDSA.
	IDTokenAlg string `yaml:"id_token_alg"`
	// Providers are the upstream providers offered to this client's
	// users; empty offers every enabled one.
	Providers []string `yaml:"providers"`
}

// SigningKeys configures the keys that sign the OpenID Provider's tokens.
type SigningKeys struct {
	// RotateEvery is how long a key signs before a new one replaces it.
	RotateEvery Duration `yaml:"rotate_every"`
	// AccessTokenAlg signs access tokens (RFC 9068 JWTs): ES256 by
	// default, which is fast to sign and which every JOSE library
	// verifies; RS256 for APIs that know nothing else.
	AccessTokenAlg string `yaml:"access_token_alg"`
}

// Log configures log/slog output.
type Log struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // json | text
}

// Tokens sets session lifetimes.
type Tokens struct {
	AccessTTL  Duration `yaml:"access_ttl"`
	RefreshTTL Duration `yaml:"refresh_ttl"`
}

// Registration controls local sign-up.
type Registration struct {
	Password bool `yaml:"password"`
	// RequireVerifiedEmail refuses password sign-in to an account whose
	// address is not verified (after the password check). It needs a mail
	// server, or nobody could verify.
	RequireVerifiedEmail bool `yaml:"require_verified_email"`
}

// Account sets the lifetimes of the links tether mails (verification,
// password reset, change of address) and how recent a sign-in must be
// for a passwordless account to delete itself or change its address.
type Account struct {
	VerifyEmailTTL   Duration `yaml:"verify_email_ttl"`
	ResetPasswordTTL Duration `yaml:"reset_password_ttl"`
	ChangeEmailTTL   Duration `yaml:"change_email_ttl"`
	ReauthMaxAge     Duration `yaml:"reauth_max_age"`
}

// Flows controls upstream sign-in attempts.
type Flows struct {
	TTL Duration `yaml:"ttl"`
	// BindBrowser ties a flow to the browser that started it with an
	// HttpOnly SameSite=Lax cookie.
	BindBrowser bool `yaml:"bind_browser"`
}

// Metrics configures the Prometheus endpoint.
type Metrics struct {
	// Listen is the host:port of a listener that serves only /metrics.
	// Empty: `tether serve` serves no /metrics at all (it never goes on
	// the public listener), and `tether dev` serves it on its one
	// listener.
	Listen string `yaml:"listen"`
}

// RateLimit limits requests per client address on the sign-in and
// session routes, and failed password sign-ins per account. Both are
// kept in memory, per instance.
type RateLimit struct {
	Enabled        bool `yaml:"enabled"`
	PerIPPerMinute int  `yaml:"per_ip_per_minute"`
	// IPv6Prefix is how many leading bits of an IPv6 address count as
	// one client (64: a /64, what one subscriber usually has). IPv4
	// addresses count whole.
	IPv6Prefix int `yaml:"ipv6_prefix"`
	// TrustedProxies are CIDRs (or single IPs) whose X-Forwarded-For is
	// believed.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// PerAccountFailures is how many wrong passwords in a row an email
	// may get before its password sign-in is locked out; 0 turns the
	// per-account limit off.
	PerAccountFailures int `yaml:"per_account_failures"`
	// PerAccountLockout is the first lock-out; each further failure
	// doubles it, up to PerAccountMaxLockout.
	PerAccountLockout    Duration `yaml:"per_account_lockout"`
	PerAccountMaxLockout Duration `yaml:"per_account_max_lockout"`
	// MaxKeys bounds how many addresses, and how many emails, each
	// limiter remembers; past it the least recently seen is forgotten.
	MaxKeys int `yaml:"max_keys"`
	// MailPerAddress is how many messages that anyone can ask for
	// (password reset, a new verification link, a change of address) go
	// to one address in a burst; after it one more per
	// MailWindow/MailPerAddress. 0 turns the limit off.
	MailPerAddress int      `yaml:"mail_per_address"`
	MailWindow     Duration `yaml:"mail_window"`
}

// Events configures the audit log.
type Events struct {
	// Retention is how long audit events are kept; 0 keeps them forever.
	Retention Duration `yaml:"retention"`
}

// Web configures tether's own pages.
type Web struct {
	// RedirectAllowList are origins (scheme://host[:port]) or URL prefixes
	// that the pages may send a person to after sign-in; anything else
	// falls back to the account page, so there is no open redirect.
	RedirectAllowList []string `yaml:"redirect_allow_list"`
}

// CORS lets web frontends on other origins call tether's APIs from
// scripts (docs/deployment.md).
type CORS struct {
	// AllowedOrigins are exact origins (https://cloud.example.com): no
	// wildcard, no path. Others get no CORS headers at all.
	AllowedOrigins []string `yaml:"allowed_origins"`
}

// Frontend is a surface's web app when it is served from its own URL
// rather than from tether's public_url.
type Frontend struct {
	// FrontendURL is the app's base URL. Cloudreve's: flows prepared
	// through the Cloudreve API send the provider back to its callback
	// pages (<frontend_url>/callback/openid/<n>, <frontend_url>/login/qq).
	// Versia's: the callback redirect lands on <frontend_url>/ with the
	// oidc_account_* parameters. Empty: public_url.
	FrontendURL string `yaml:"frontend_url"`
}

// SMTP is the mail server tether sends its email through (verification,
// password reset, change of address). Without a host there is none; the
// block is then left empty, and `tether dev` keeps mail in its outbox.
type SMTP struct {
	Host string `yaml:"host"`
	// Port defaults by TLS mode: 587 starttls, 465 implicit, 25 none.
	Port int `yaml:"port"`
	// Username and Password authenticate (AUTH PLAIN or LOGIN), only over
	// TLS or to a loopback host.
	Username     string `yaml:"username"`
	Password     string `yaml:"password" secret:"true"`
	PasswordFile string `yaml:"password_file"`
	// From is the sender, "tether <no-reply@example.com>"; its address is
	// also the envelope sender.
	From string `yaml:"from"`
	// TLS is starttls (default), implicit or none.
	TLS string `yaml:"tls"`
	// CAFile is a PEM file of CA certificates to trust besides the
	// system's, for a server with a certificate from a private CA.
	CAFile string `yaml:"ca_file"`
	// AllowPlaintext permits tls: none to a host other than loopback.
	AllowPlaintext bool `yaml:"allow_plaintext"`
	// Timeout bounds one message's whole SMTP conversation.
	Timeout Duration `yaml:"timeout"`
}

// Enabled reports whether a mail server is configured.
func (s SMTP) Enabled() bool { return s.Host != "" }

// Provider is one upstream identity provider.
type Provider struct {
	// ID is the stable string id: storage key and Versia path segment.
	ID   string `yaml:"id"`
	Kind string `yaml:"kind"` // logto | qq | oidc
	Name string `yaml:"name"`
	Icon string `yaml:"icon"`
	// Enabled providers are offered and accepted; a disabled one keeps its
	// linked identities but cannot be used to sign in or link.
	Enabled bool `yaml:"enabled"`

	Issuer           string   `yaml:"issuer"`
	ClientID         string   `yaml:"client_id"`
	ClientSecret     string   `yaml:"client_secret" secret:"true"`
	ClientSecretFile string   `yaml:"client_secret_file"`
	Scopes           []string `yaml:"scopes"`

	// DirectSignIn creates a passwordless account for an unknown identity.
	DirectSignIn bool `yaml:"direct_sign_in"`
	// LinkByVerifiedEmail links an unknown identity to the account with the
	// same email when both sides are verified.
	LinkByVerifiedEmail bool `yaml:"link_by_verified_email"`

	Claims      Claims   `yaml:"claims"`
	IDTokenAlgs []string `yaml:"id_token_algs"`
	// TokenEndpointAuth forces client_secret_basic or client_secret_post
	// when the OP advertises both but the client is registered for one.
	TokenEndpointAuth string `yaml:"token_endpoint_auth"`

	// Key (qq) is the identity key: unionid or openid.
	Key       string    `yaml:"key"`
	Endpoints Endpoints `yaml:"endpoints"`

	Logto Logto `yaml:"logto"`

	// RecheckEvery is how long a session that came from this provider
	// goes before a refresh re-checks the upstream account (refreshing
	// its tokens, or asking userinfo): an account disabled or a grant
	// revoked at the provider then ends the session. 0 never re-checks.
	RecheckEvery Duration `yaml:"recheck_every"`
	// PostLogoutRedirectURI is where the provider sends the browser back
	// after a sign-out there (RP-Initiated Logout); it must be
	// registered at the provider. Empty: the provider shows its own page.
	PostLogoutRedirectURI string `yaml:"post_logout_redirect_uri"`

	// Insecure lets an OIDC provider's issuer be plain http on a network
	// host. It is not a key: only `tether dev` sets it, for its demo OP
	// on a plain-http public URL.
	Insecure bool `yaml:"-"`
}

// Claims are JSON paths into the merged upstream claims.
type Claims struct {
	Subject       string `yaml:"subject"`
	Email         string `yaml:"email"`
	EmailVerified string `yaml:"email_verified"`
	Name          string `yaml:"name"`
	Avatar        string `yaml:"avatar"`
}

// Endpoints override QQ Connect's endpoints (tests point them at a fake).
type Endpoints struct {
	Authorize string `yaml:"authorize"`
	Token     string `yaml:"token"`
	Me        string `yaml:"me"`
	UserInfo  string `yaml:"user_info"`
}

// Logto holds Logto's own authorization parameters. Note that the
// provider-level direct_sign_in is tether's account-creation switch, while
// logto.direct_sign_in is Logto's parameter ("social:google").
type Logto struct {
	DirectSignIn string   `yaml:"direct_sign_in"`
	FirstScreen  string   `yaml:"first_screen"`
	Resource     []string `yaml:"resource"`
}

// Duration is a time.Duration written as "10m", "1h30m", "336h".
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// Defaults returns the configuration used for keys the file leaves out.
func Defaults() Config {
	return Config{
		Listen:       "127.0.0.1:5212",
		Database:     "sqlite://tether.db",
		AutoMigrate:  true,
		Log:          Log{Level: "info", Format: "json"},
		Tokens:       Tokens{AccessTTL: Duration(time.Hour), RefreshTTL: Duration(336 * time.Hour)},
		Registration: Registration{Password: true},
		Flows:        Flows{TTL: Duration(10 * time.Minute), BindBrowser: true},
		RateLimit: RateLimit{
			Enabled: true, PerIPPerMinute: 60, IPv6Prefix: 64,
			PerAccountFailures: 5, PerAccountLockout: Duration(time.Minute), PerAccountMaxLockout: Duration(15 * time.Minute),
			MaxKeys:        100_000,
			MailPerAddress: 3, MailWindow: Duration(15 * time.Minute),
		},
		Account: Account{
			VerifyEmailTTL: Duration(24 * time.Hour), ResetPasswordTTL: Duration(time.Hour),
			ChangeEmailTTL: Duration(24 * time.Hour), ReauthMaxAge: Duration(10 * time.Minute),
		},
		Events:      Events{Retention: Duration(90 * 24 * time.Hour)},
		SigningKeys: SigningKeys{RotateEvery: Duration(720 * time.Hour), AccessTokenAlg: "ES256"},
	}
}

// defaults fills a client entry before its keys are decoded.
func (c *Client) defaults() {
	c.Consent = true
	c.IDTokenAlg = "RS256"
}

// defaults fills a provider entry before its keys are decoded.
func (p *Provider) defaults() {
	p.Enabled = true
	p.DirectSignIn = true
	p.RecheckEvery = Duration(time.Hour)
}

// Provider kinds.
const (
	KindOIDC  = "oidc"
	KindLogto = "logto"
	KindQQ    = "qq"
)
