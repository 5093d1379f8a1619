package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tether-id/tether/internal/seal"
	"github.com/tether-id/tether/mail"
	"github.com/tether-id/tether/provider"
	"github.com/tether-id/tether/provider/logto"
	"github.com/tether-id/tether/provider/oidc"
	"github.com/tether-id/tether/provider/qq"
	"github.com/tether-id/tether/server"
)

// Options change how a configuration is checked.
type Options struct {
	// Dev relaxes the rules for `tether dev`: secrets may be absent (the
	// caller generates them) and public_url defaults to the listen address.
	Dev bool
}

// Load reads the YAML file at path (none when path is ""), then applies
// environment overrides from environ (os.Environ() form), *_file secrets,
// defaults and validation.
func Load(path string, environ []string, opts Options) (*Config, error) {
	var data []byte
	if path != "" {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	return Parse(data, environ, opts)
}

// Parse is Load for a file already read.
func Parse(data []byte, environ []string, opts Options) (*Config, error) {
	c := Defaults()
	if len(strings.TrimSpace(string(data))) > 0 {
		var root yaml.Node
		if err := yaml.Unmarshal(data, &root); err != nil {
			return nil, fmt.Errorf("config: not valid YAML: %w", err)
		}
		d := &decoder{}
		d.decode(&root, reflect.ValueOf(&c).Elem(), "")
		if err := errors.Join(d.errs...); err != nil {
			return nil, fmt.Errorf("config:\n%w", err)
		}
	}
	if err := applyEnv(&c, environ); err != nil {
		return nil, fmt.Errorf("config:\n%w", err)
	}
	if err := c.readSecretFiles(); err != nil {
		return nil, fmt.Errorf("config:\n%w", err)
	}
	if err := c.finish(opts); err != nil {
		return nil, fmt.Errorf("config:\n%w", err)
	}
	return &c, nil
}

// readSecretFiles replaces each *_file key by the file's content.
func (c *Config) readSecretFiles() error {
	errs := []error{
		readSecret("secret_key", &c.SecretKey, c.SecretKeyFile),
		readSecret("encryption_key", &c.EncryptionKey, c.EncryptionKeyFile),
		readSecret("smtp.password", &c.SMTP.Password, c.SMTP.PasswordFile),
	}
	for i := range c.Clients {
		cl := &c.Clients[i]
		errs = append(errs, readSecret(fmt.Sprintf("clients[%d].secret", i), &cl.Secret, cl.SecretFile))
	}
	for i := range c.Providers {
		p := &c.Providers[i]
		errs = append(errs, readSecret(fmt.Sprintf("providers[%d].client_secret", i), &p.ClientSecret, p.ClientSecretFile))
	}
	return errors.Join(errs...)
}

// readSecret sets *value from file, if a file is named. Trailing newlines
// are dropped: editors and `echo` add them.
func readSecret(key string, value *string, file string) error {
	if file == "" {
		return nil
	}
	if *value != "" {
		return &KeyError{key + "_file", "both " + key + " and " + key + "_file are set; keep one"}
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return &KeyError{key + "_file", err.Error()}
	}
	if *value = strings.TrimRight(string(b), "\r\n"); *value == "" {
		return &KeyError{key + "_file", "file " + file + " is empty"}
	}
	return nil
}

var providerID = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// finish fills derived defaults and validates.
func (c *Config) finish(opts Options) error {
	var errs []error
	fail := func(key, format string, args ...any) {
		errs = append(errs, &KeyError{key, fmt.Sprintf(format, args...)})
	}

	if _, port, err := net.SplitHostPort(c.Listen); err != nil || port == "" {
		fail("listen", "want host:port, got %q", c.Listen)
	}
	if c.PublicURL == "" && opts.Dev {
		c.PublicURL = "http://" + c.Listen
	}
	if c.PublicURL == "" {
		fail("public_url", "required: the external base URL, e.g. https://files.example.com")
	} else if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		fail("public_url", "want an absolute http(s) URL without query, got %q", c.PublicURL)
	} else {
		c.PublicURL = strings.TrimRight(c.PublicURL, "/")
		// Cookies are Secure only under an https public URL: over plain
		// http anywhere but this machine, sessions would cross the
		// network readable.
		if u.Scheme == "http" && !opts.Dev && !c.AllowInsecurePublicURL && !provider.IsLoopback(u.Hostname()) {
			fail("public_url", "must be https (cookies would not be Secure over plain http), got %q; "+
				"http is allowed for loopback hosts, or with allow_insecure_public_url: true", c.PublicURL)
		}
	}
	if c.Metrics.Listen != "" {
		if _, port, err := net.SplitHostPort(c.Metrics.Listen); err != nil || port == "" {
			fail("metrics.listen", "want host:port, got %q", c.Metrics.Listen)
		}
	}

	switch {
	case strings.HasPrefix(c.Database, "sqlite://"), strings.HasPrefix(c.Database, "postgres://"), strings.HasPrefix(c.Database, "postgresql://"):
	default:
		fail("database", "want sqlite:///path/to.db or postgres://user:pass@host/db, got %q", redactURL(c.Database))
	}

	switch {
	case c.SecretKey == "" && !opts.Dev:
		fail("secret_key", "required (or secret_key_file): at least 32 random characters")
	case c.SecretKey != "" && len(c.SecretKey) < 32:
		fail("secret_key", "too short: %d characters, need at least 32", len(c.SecretKey))
	}
	switch {
	case c.EncryptionKey == "" && !opts.Dev:
		fail("encryption_key", "required (or encryption_key_file): 32 bytes, base64 (openssl rand -base64 32)")
	case c.EncryptionKey != "":
		if _, err := seal.ParseKey(c.EncryptionKey); err != nil {
			fail("encryption_key", "%v; want 32 bytes, base64", err)
		}
	}

	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		fail("log.level", "want debug, info, warn or error, got %q", c.Log.Level)
	}
	if c.Log.Format != "json" && c.Log.Format != "text" {
		fail("log.format", "want json or text, got %q", c.Log.Format)
	}
	if c.Tokens.AccessTTL <= 0 {
		fail("tokens.access_ttl", "must be positive")
	}
	if c.Tokens.RefreshTTL <= c.Tokens.AccessTTL {
		fail("tokens.refresh_ttl", "must be longer than tokens.access_ttl")
	}
	if c.Flows.TTL <= 0 {
		fail("flows.ttl", "must be positive")
	}
	if c.Events.Retention < 0 {
		fail("events.retention", "must not be negative (0 keeps events forever)")
	}
	if c.RateLimit.Enabled && c.RateLimit.PerIPPerMinute < 1 {
		fail("rate_limit.per_ip_per_minute", "must be at least 1")
	}
	if p := c.RateLimit.IPv6Prefix; p < 1 || p > 128 {
		fail("rate_limit.ipv6_prefix", "want a prefix length from 1 to 128, got %d", p)
	}
	if c.RateLimit.PerAccountFailures < 0 {
		fail("rate_limit.per_account_failures", "must be 0 (off) or more, got %d", c.RateLimit.PerAccountFailures)
	}
	if c.RateLimit.PerAccountLockout <= 0 {
		fail("rate_limit.per_account_lockout", "must be positive")
	}
	if c.RateLimit.PerAccountMaxLockout < c.RateLimit.PerAccountLockout {
		fail("rate_limit.per_account_max_lockout", "must be at least rate_limit.per_account_lockout (%s)", c.RateLimit.PerAccountLockout)
	}
	if c.RateLimit.MaxKeys < 1 {
		fail("rate_limit.max_keys", "must be at least 1, got %d", c.RateLimit.MaxKeys)
	}
	for i, p := range c.RateLimit.TrustedProxies {
		if _, err := ParsePrefix(p); err != nil {
			fail(fmt.Sprintf("rate_limit.trusted_proxies[%d]", i), "want a CIDR or an IP address, got %q", p)
		}
	}
	for i, r := range c.Web.RedirectAllowList {
		if u, err := url.Parse(r); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			fail(fmt.Sprintf("web.redirect_allow_list[%d]", i), "want an absolute http(s) URL or origin without user, query or fragment, got %q", r)
		}
	}

	c.finishFrontends(fail)
	c.finishSMTP(fail)
	c.finishAccount(opts, fail)

	ids := map[string]bool{}
	for i := range c.Providers {
		p := &c.Providers[i]
		key := func(k string) string { return fmt.Sprintf("providers[%d].%s", i, k) }
		if !providerID.MatchString(p.ID) {
			fail(key("id"), "want lower-case letters, digits, '-' or '_' (at most 63), got %q", p.ID)
		} else if allDigits(p.ID) {
			fail(key("id"), "must not be a number (numbers are Cloudreve's provider codes in URLs), got %q", p.ID)
		} else if p.ID == "password" {
			fail(key("id"), "\"password\" is reserved (the metrics' provider label of password sign-ins)")
		} else if ids[p.ID] {
			fail(key("id"), "duplicate provider id %q", p.ID)
		}
		ids[p.ID] = true
		if p.Name == "" {
			p.Name = defaultName(p)
		}
		if p.ClientID == "" {
			fail(key("client_id"), "required")
		}
		if p.ClientSecret == "" {
			fail(key("client_secret"), "required (or client_secret_file)")
		}
		if p.RecheckEvery < 0 {
			fail(key("recheck_every"), "must not be negative (0 never re-checks)")
		}
		if u := p.PostLogoutRedirectURI; u != "" && !absoluteHTTP(u) {
			fail(key("post_logout_redirect_uri"), "want an absolute http(s) URL without fragment, got %q", u)
		} else if u != "" && p.Kind == KindQQ {
			fail(key("post_logout_redirect_uri"), "not used by kind qq (QQ Connect has no sign-out endpoint)")
		}
		if p.Icon != "" && !validIcon(p.Icon) {
			fail(key("icon"), "want an http(s) URL, a data: URL or an Iconify name such as mdi:github, got %q", p.Icon)
		}
		// The rules for each kind's values live in its provider
		// package; here they only get the key's name.
		switch p.Kind {
		case KindOIDC, KindLogto:
			checkIssuer := oidc.CheckIssuer
			if p.Kind == KindLogto {
				checkIssuer = logto.CheckIssuer
			}
			if p.Issuer == "" {
				fail(key("issuer"), "required for kind %s", p.Kind)
			} else if err := checkIssuer(p.Issuer); err != nil {
				fail(key("issuer"), "%v", err)
			}
			if p.Key != "" {
				fail(key("key"), "only used by kind qq")
			}
			if p.Endpoints != (Endpoints{}) {
				fail(key("endpoints"), "only used by kind qq (kind %s uses discovery)", p.Kind)
			}
			if err := oidc.CheckTokenEndpointAuth(p.TokenEndpointAuth); err != nil {
				fail(key("token_endpoint_auth"), "%v", err)
			}
			for j, alg := range p.IDTokenAlgs {
				if err := oidc.CheckAlg(alg); err != nil {
					fail(fmt.Sprintf("providers[%d].id_token_algs[%d]", i, j), "%v", err)
				}
			}
		case KindQQ:
			if p.Issuer != "" {
				fail(key("issuer"), "not used by kind qq (QQ Connect is OAuth 2.0, see endpoints)")
			}
			if p.Key == "" {
				p.Key = qq.KeyOpenID
			}
			if err := qq.CheckKey(p.Key); err != nil {
				fail(key("key"), "%v", err)
			}
			for name, u := range map[string]string{"authorize": p.Endpoints.Authorize, "token": p.Endpoints.Token, "me": p.Endpoints.Me, "user_info": p.Endpoints.UserInfo} {
				if u == "" {
					continue
				}
				if err := qq.CheckEndpoint(u); err != nil {
					fail(key("endpoints."+name), "%v", err)
				}
			}
			if len(p.IDTokenAlgs) > 0 {
				fail(key("id_token_algs"), "not used by kind qq (no ID tokens)")
			}
			if p.TokenEndpointAuth != "" {
				fail(key("token_endpoint_auth"), "not used by kind qq")
			}
			if p.Claims != (Claims{}) {
				fail(key("claims"), "not used by kind qq (its fields are fixed)")
			}
		default:
			fail(key("kind"), "want logto, qq or oidc, got %q", p.Kind)
		}
		for j, r := range p.Logto.Resource {
			if err := logto.CheckResource(r); err != nil {
				fail(fmt.Sprintf("providers[%d].logto.resource[%d]", i, j), "%v", err)
			}
		}
		if p.Kind != KindLogto && (p.Logto.DirectSignIn != "" || p.Logto.FirstScreen != "" || len(p.Logto.Resource) > 0) {
			fail(key("logto"), "only used by kind logto")
		}
	}
	c.finishClients(ids, fail)
	slices.SortStableFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

// SigningAlgs are the algorithms tether's OpenID Provider signs with; a
// key of each is always published.
var SigningAlgs = []string{"RS256", "ES256", "EdDSA"}

// finishClients checks the clients of the OpenID Provider and the signing
// keys. providers are the configured provider ids.
func (c *Config) finishClients(providers map[string]bool, fail func(key, format string, args ...any)) {
	if c.SigningKeys.RotateEvery < Duration(time.Hour) {
		fail("signing_keys.rotate_every", "must be at least 1h, got %s", c.SigningKeys.RotateEvery)
	}
	if !slices.Contains(SigningAlgs, c.SigningKeys.AccessTokenAlg) {
		fail("signing_keys.access_token_alg", "want one of %s, got %q", strings.Join(SigningAlgs, ", "), c.SigningKeys.AccessTokenAlg)
	}
	seen := map[string]bool{}
	for i := range c.Clients {
		cl := &c.Clients[i]
		key := func(k string) string { return fmt.Sprintf("clients[%d].%s", i, k) }
		switch {
		case cl.ID == "":
			fail(key("id"), "required: the client_id the app sends")
		case !clientID.MatchString(cl.ID):
			fail(key("id"), "want letters, digits, '.', '-', '_' or ':' (at most 128), got %q", cl.ID)
		case seen[cl.ID]:
			fail(key("id"), "duplicate client id %q", cl.ID)
		}
		seen[cl.ID] = true
		if cl.Name == "" {
			cl.Name = cl.ID
		}
		if cl.Secret != "" && len(cl.Secret) < 16 {
			fail(key("secret"), "too short: %d characters, need at least 16 (or none for a public client)", len(cl.Secret))
		}
		if len(cl.RedirectURIs) == 0 {
			fail(key("redirect_uris"), "at least one is required")
		}
		for j, u := range cl.RedirectURIs {
			if err := CheckRedirectURI(u); err != nil {
				fail(fmt.Sprintf("clients[%d].redirect_uris[%d]", i, j), "%v", err)
			}
		}
		for j, u := range cl.PostLogoutRedirectURIs {
			if err := CheckRedirectURI(u); err != nil {
				fail(fmt.Sprintf("clients[%d].post_logout_redirect_uris[%d]", i, j), "%v", err)
			}
		}
		if !slices.Contains(SigningAlgs, cl.IDTokenAlg) {
			fail(key("id_token_alg"), "want one of %s, got %q", strings.Join(SigningAlgs, ", "), cl.IDTokenAlg)
		}
		for j, p := range cl.Providers {
			if !providers[p] {
				fail(fmt.Sprintf("clients[%d].providers[%d]", i, j), "no provider has id %q", p)
			}
		}
	}
}

var clientID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// CheckRedirectURI is the rule for an app's redirect URI (RFC 6749 §3.1.2,
// RFC 8252, RFC 9700): absolute, no fragment, no user info; https, or
// http on a loopback host; or a private-use scheme of a native app
// ("com.example.app:/callback").
func CheckRedirectURI(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil || !u.IsAbs():
		return fmt.Errorf("want an absolute URI, got %q", s)
	case u.Fragment != "" || strings.Contains(s, "#"):
		return fmt.Errorf("must not have a fragment, got %q", s)
	case u.User != nil:
		return fmt.Errorf("must not carry user info, got %q", s)
	case u.Scheme == "https":
		if u.Host == "" {
			return fmt.Errorf("want a host, got %q", s)
		}
		return nil
	case u.Scheme == "http":
		if !provider.IsLoopback(u.Hostname()) {
			return fmt.Errorf("must use https (http only on loopback hosts), got %q", s)
		}
		return nil
	case strings.Contains(u.Scheme, "."):
		return nil // a native app's private-use scheme (reverse domain name)
	}
	return fmt.Errorf("want https, http on loopback or a private-use scheme such as com.example.app:, got %q", s)
}

// finishFrontends checks the cors block and the surfaces' frontend URLs.
func (c *Config) finishFrontends(fail func(key, format string, args ...any)) {
	seen := map[string]bool{}
	for i, o := range c.CORS.AllowedOrigins {
		key := fmt.Sprintf("cors.allowed_origins[%d]", i)
		norm, err := server.Origin(o)
		switch {
		case o == "*":
			fail(key, "a wildcard is not allowed: list each frontend's origin (https://cloud.example.com)")
		case err != nil:
			fail(key, "%v", err)
		case seen[norm]:
			fail(key, "duplicate origin %q", o)
		default:
			c.CORS.AllowedOrigins[i] = norm
		}
		seen[norm] = true
	}
	for key, f := range map[string]*Frontend{"cloudreve.frontend_url": &c.Cloudreve, "versia.frontend_url": &c.Versia} {
		if f.FrontendURL == "" {
			continue
		}
		if u, err := url.Parse(f.FrontendURL); err != nil || !absoluteHTTP(f.FrontendURL) || u.RawQuery != "" {
			fail(key, "want an absolute http(s) URL without query or fragment, got %q", f.FrontendURL)
			continue
		}
		f.FrontendURL = strings.TrimRight(f.FrontendURL, "/")
	}
}

// finishSMTP fills the smtp block's defaults and validates it. The rules
// live in package mail; here they get the key's name. An smtp block
// without a host is an error unless it is entirely empty, so that a
// half-written block cannot silently turn mail off.
func (c *Config) finishSMTP(fail func(key, format string, args ...any)) {
	s := &c.SMTP
	if !s.Enabled() {
		if *s != (SMTP{}) {
			fail("smtp.host", "required when the smtp block is used")
		}
		return
	}
	if strings.ContainsAny(s.Host, "/@ ") {
		fail("smtp.host", "want a host name or IP address, got %q", s.Host)
	} else if _, _, err := net.SplitHostPort(s.Host); err == nil {
		fail("smtp.host", "want the host alone, got %q (put the port in smtp.port)", s.Host)
	}
	mode, err := mail.ParseTLSMode(s.TLS)
	if err != nil {
		fail("smtp.tls", "%v", err)
	}
	s.TLS = string(mode)
	switch {
	case s.Port == 0:
		s.Port = mail.DefaultPort(mode)
	case s.Port < 1 || s.Port > 65535:
		fail("smtp.port", "want 1 to 65535, got %d", s.Port)
	}
	if _, err := mail.ParseFrom(s.From); err != nil {
		fail("smtp.from", "%v", err)
	}
	if s.Username != "" && s.Password == "" {
		fail("smtp.password", "required with smtp.username (or smtp.password_file)")
	}
	if s.Password != "" && s.Username == "" {
		fail("smtp.username", "required with smtp.password")
	}
	loopback := mail.IsLoopback(s.Host)
	if mode == mail.NoTLS && !loopback {
		if !s.AllowPlaintext {
			fail("smtp.tls", "none sends mail in plain text over the network to %s; use starttls or implicit, or set smtp.allow_plaintext: true for a relay on a trusted network", s.Host)
		}
		if s.Password != "" {
			fail("smtp.password", "would cross the network in plain text with tls: none; use starttls or implicit")
		}
	}
	if s.AllowPlaintext && mode != mail.NoTLS {
		fail("smtp.allow_plaintext", "only used with tls: none")
	}
	if s.CAFile != "" {
		if mode == mail.NoTLS {
			fail("smtp.ca_file", "not used with tls: none")
		} else if _, err := mail.LoadCAFile(s.CAFile); err != nil {
			fail("smtp.ca_file", "%v", err)
		}
	}
	switch {
	case s.Timeout == 0:
		s.Timeout = Duration(time.Minute)
	case s.Timeout < 0:
		fail("smtp.timeout", "must be positive")
	}
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

func defaultName(p *Provider) string {
	switch p.Kind {
	case KindLogto:
		return "Logto"
	case KindQQ:
		return "QQ"
	}
	return p.ID
}

func validIcon(s string) bool {
	if strings.HasPrefix(s, "data:image/") {
		return true
	}
	if u, err := url.Parse(s); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		return true
	}
	// Iconify ids, as the Cloudreve frontend accepts: "prefix:name".
	return regexp.MustCompile(`^[a-z0-9-]+:[a-z0-9-]+$`).MatchString(s)
}

// absoluteHTTP reports whether s is an absolute http(s) URL without user
// info or fragment.
func absoluteHTTP(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil && u.Fragment == ""
}

// ParsePrefix parses a CIDR or a single IP address as a prefix.
func ParsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		u.User = url.User(u.User.Username())
		return u.String()
	}
	return s
}

// Provider returns the provider with id, or nil.
func (c *Config) Provider(id string) *Provider {
	for i := range c.Providers {
		if c.Providers[i].ID == id {
			return &c.Providers[i]
		}
	}
	return nil
}
