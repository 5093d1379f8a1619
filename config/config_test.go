package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tether-id/tether/testkit/mailtest"
)

const (
	secret = "0123456789abcdef0123456789abcdef"
	encKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
)

const full = `
public_url: https://files.example.com/
listen: 0.0.0.0:5212
database: sqlite:///var/lib/tether/tether.db
secret_key: "` + secret + `"
encryption_key: "` + encKey + `"
tokens: { access_ttl: 30m, refresh_ttl: 72h }
registration: { password: false }
flows: { ttl: 5m, bind_browser: false }
rate_limit: { enabled: true, per_ip_per_minute: 10, trusted_proxies: [10.0.0.0/8, 127.0.0.1] }
providers:
  - id: logto
    kind: logto
    name: Logto
    icon: https://example.com/logto.svg
    issuer: https://tenant.logto.app/oidc
    client_id: abc
    client_secret: s3cret
    scopes: [openid, offline_access, profile, email]
    direct_sign_in: true
    link_by_verified_email: true
    claims: { subject: sub, email: email, name: name, avatar: picture }
    logto: { direct_sign_in: "social:google", first_screen: sign_in, resource: [https://api.example.com] }
  - id: qq
    kind: qq
    name: QQ
    client_id: 101
    client_secret: k
    key: unionid
    endpoints:
      authorize: https://graph.qq.com/oauth2.0/authorize
  - { id: corp, kind: oidc, name: Corp SSO, issuer: https://sso.corp/, client_id: x, client_secret: y, enabled: false }
`

func TestParseFull(t *testing.T) {
	c, err := Parse([]byte(full), nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.PublicURL != "https://files.example.com" {
		t.Errorf("public_url = %q, want trailing slash removed", c.PublicURL)
	}
	if c.Tokens.AccessTTL.D() != 30*time.Minute || c.Tokens.RefreshTTL.D() != 72*time.Hour || c.Flows.TTL.D() != 5*time.Minute {
		t.Errorf("durations = %v %v %v", c.Tokens.AccessTTL, c.Tokens.RefreshTTL, c.Flows.TTL)
	}
	if c.Registration.Password || c.Flows.BindBrowser || c.RateLimit.PerIPPerMinute != 10 || len(c.RateLimit.TrustedProxies) != 2 {
		t.Errorf("unexpected %+v %+v %+v", c.Registration, c.Flows, c.RateLimit)
	}
	if len(c.Providers) != 3 {
		t.Fatalf("providers = %d", len(c.Providers))
	}
	l, q, corp := c.Providers[0], c.Providers[1], c.Providers[2]
	if !l.Enabled || !l.DirectSignIn || !l.LinkByVerifiedEmail || l.Logto.DirectSignIn != "social:google" || l.Claims.Avatar != "picture" || len(l.Scopes) != 4 {
		t.Errorf("logto = %+v", l)
	}
	if q.ClientID != "101" || q.Key != "unionid" || q.Endpoints.Authorize == "" || !q.DirectSignIn {
		t.Errorf("qq = %+v", q)
	}
	if corp.Enabled || corp.Issuer != "https://sso.corp/" {
		t.Errorf("corp = %+v (issuer must keep its trailing slash)", corp)
	}
	if c.Provider("corp") != &c.Providers[2] || c.Provider("nope") != nil {
		t.Error("Provider lookup")
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse([]byte("public_url: https://x.example\nsecret_key: "+secret+"\nencryption_key: "+encKey+"\n"), nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:5212" || c.Tokens.AccessTTL.D() != time.Hour || c.Tokens.RefreshTTL.D() != 336*time.Hour ||
		!c.Registration.Password || c.Flows.TTL.D() != 10*time.Minute || !c.Flows.BindBrowser ||
		!c.RateLimit.Enabled || c.RateLimit.PerIPPerMinute != 60 || !c.AutoMigrate || c.Database != "sqlite://tether.db" {
		t.Errorf("defaults: %+v", c)
	}
}

func TestHardeningKeys(t *testing.T) {
	c, err := Parse([]byte(`
public_url: https://x.example
secret_key: "`+secret+`"
encryption_key: "`+encKey+`"
metrics: { listen: "127.0.0.1:9090" }
rate_limit: { ipv6_prefix: 56, per_account_failures: 3, per_account_lockout: 30s, per_account_max_lockout: 1h, max_keys: 5000 }
`), nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := c.RateLimit
	if c.Metrics.Listen != "127.0.0.1:9090" || r.IPv6Prefix != 56 || r.PerAccountFailures != 3 ||
		r.PerAccountLockout.D() != 30*time.Second || r.PerAccountMaxLockout.D() != time.Hour || r.MaxKeys != 5000 {
		t.Errorf("keys not read: %+v %+v", c.Metrics, r)
	}
	d, err := Parse([]byte("public_url: https://x.example\nsecret_key: "+secret+"\nencryption_key: "+encKey+"\n"), nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r = d.RateLimit
	if d.Metrics.Listen != "" || d.AllowInsecurePublicURL || r.IPv6Prefix != 64 || r.PerAccountFailures != 5 ||
		r.PerAccountLockout.D() != time.Minute || r.PerAccountMaxLockout.D() != 15*time.Minute || r.MaxKeys != 100_000 {
		t.Errorf("defaults: %+v %+v", d.Metrics, r)
	}
}

// TestInsecurePublicURL: serve takes an http public_url only for a
// loopback host or when told to; dev takes any.
func TestInsecurePublicURL(t *testing.T) {
	keys := "secret_key: " + secret + "\nencryption_key: " + encKey + "\n"
	for _, tt := range []struct {
		yaml string
		dev  bool
	}{
		{"public_url: http://127.0.0.1:5212\n" + keys, false},
		{"public_url: http://localhost:5212\n" + keys, false},
		{"public_url: http://[::1]:5212\n" + keys, false},
		{"public_url: http://files.example.com\nallow_insecure_public_url: true\n" + keys, false},
		{"public_url: http://files.example.com\n", true},
	} {
		if _, err := Parse([]byte(tt.yaml), nil, Options{Dev: tt.dev}); err != nil {
			t.Errorf("%q (dev %v): %v", tt.yaml, tt.dev, err)
		}
	}
}

func TestDevNeedsNoSecrets(t *testing.T) {
	c, err := Parse(nil, []string{"TETHER_LISTEN=127.0.0.1:6000"}, Options{Dev: true})
	if err != nil {
		t.Fatal(err)
	}
	if c.PublicURL != "http://127.0.0.1:6000" {
		t.Errorf("dev public_url = %q", c.PublicURL)
	}
}

func TestErrorsNameTheKey(t *testing.T) {
	base := "public_url: https://x.example\nsecret_key: " + secret + "\nencryption_key: " + encKey + "\n"
	prov := "providers:\n  - { id: corp, kind: oidc, issuer: https://sso.corp, client_id: x, client_secret: y"
	tests := []struct {
		name string
		yaml string
		env  []string
		dev  bool
		want []string
	}{
		{"unknown top-level key", base + "listn: 1.2.3.4:5\n", nil, false, []string{`listn: unknown key (did you mean "listen"?)`}},
		{"unknown nested key", base + "tokens: { acess_ttl: 1h }\n", nil, false, []string{`tokens.acess_ttl: unknown key (did you mean "access_ttl"?)`}},
		{"unknown provider key", base + prov + ", client_secre: z }\n", nil, false, []string{`providers[0].client_secre: unknown key`}},
		{"bad duration", base + "tokens: { access_ttl: 1x }\n", nil, false, []string{`tokens.access_ttl: invalid duration "1x"`}},
		{"bad bool", base + "flows: { bind_browser: maybe }\n", nil, false, []string{`flows.bind_browser: invalid boolean "maybe"`}},
		{"bad int", base + "rate_limit: { per_ip_per_minute: lots }\n", nil, false, []string{`rate_limit.per_ip_per_minute: invalid integer`}},
		{"missing secret outside dev", "public_url: https://x.example\nencryption_key: " + encKey + "\n", nil, false, []string{"secret_key: required"}},
		{"short secret", "public_url: https://x.example\nsecret_key: short\nencryption_key: " + encKey + "\n", nil, false, []string{"secret_key: too short"}},
		{"missing encryption key", "public_url: https://x.example\nsecret_key: " + secret + "\n", nil, false, []string{"encryption_key: required"}},
		{"bad encryption key", "public_url: https://x.example\nsecret_key: " + secret + "\nencryption_key: c2hvcnQ=\n", nil, false, []string{"encryption_key: decodes to 5 bytes"}},
		{"missing public_url", "secret_key: " + secret + "\nencryption_key: " + encKey + "\n", nil, false, []string{"public_url: required"}},
		{"bad public_url", "public_url: ftp://x\nsecret_key: " + secret + "\nencryption_key: " + encKey + "\n", nil, false, []string{"public_url: want an absolute http(s) URL"}},
		{"bad listen", base + "listen: nowhere\n", nil, false, []string{"listen: want host:port"}},
		{"bad database", base + "database: mysql://x\n", nil, false, []string{"database: want sqlite"}},
		{"refresh shorter than access", base + "tokens: { access_ttl: 2h, refresh_ttl: 1h }\n", nil, false, []string{"tokens.refresh_ttl: must be longer"}},
		{"bad proxy", base + "rate_limit: { trusted_proxies: [10.0.0.0/33] }\n", nil, false, []string{"rate_limit.trusted_proxies[0]: want a CIDR"}},
		{"allow-list with userinfo", base + "web: { redirect_allow_list: [\"https://user@files.example.com\"] }\n", nil, false, []string{"web.redirect_allow_list[0]: want an absolute http(s) URL"}},
		{"bad kind", base + "providers:\n  - { id: x, kind: saml, client_id: a, client_secret: b }\n", nil, false, []string{"providers[0].kind: want logto, qq or oidc"}},
		{"bad id", base + "providers:\n  - { id: Bad/Id, kind: qq, client_id: a, client_secret: b }\n", nil, false, []string{"providers[0].id: want lower-case"}},
		{"duplicate id", base + prov + " }\n  - { id: corp, kind: qq, client_id: a, client_secret: b }\n", nil, false, []string{`providers[1].id: duplicate provider id "corp"`}},
		{"numeric id", base + "providers:\n  - { id: \"2\", kind: qq, client_id: a, client_secret: b }\n", nil, false, []string{"providers[0].id: must not be a number"}},
		{"reserved id", base + "providers:\n  - { id: password, kind: qq, client_id: a, client_secret: b }\n", nil, false, []string{"providers[0].id: \"password\" is reserved"}},
		{"bad token auth", base + prov + ", token_endpoint_auth: private_key_jwt }\n", nil, false, []string{"providers[0].token_endpoint_auth: want client_secret_basic or client_secret_post"}},
		{"missing issuer", base + "providers:\n  - { id: c, kind: oidc, client_id: a, client_secret: b }\n", nil, false, []string{"providers[0].issuer: required"}},
		{"http issuer", base + "providers:\n  - { id: c, kind: oidc, issuer: http://sso.corp, client_id: a, client_secret: b }\n", nil, false, []string{"providers[0].issuer: must use https"}},
		{"logto issuer", base + "providers:\n  - { id: l, kind: logto, issuer: https://t.logto.app, client_id: a, client_secret: b }\n", nil, false, []string{"providers[0].issuer: a Logto issuer ends in /oidc"}},
		{"missing client secret", base + "providers:\n  - { id: c, kind: oidc, issuer: https://sso.corp, client_id: a }\n", nil, false, []string{"providers[0].client_secret: required"}},
		{"qq bad key", base + "providers:\n  - { id: qq, kind: qq, client_id: a, client_secret: b, key: email }\n", nil, false, []string{"providers[0].key: want unionid or openid"}},
		{"qq issuer", base + "providers:\n  - { id: qq, kind: qq, issuer: https://x, client_id: a, client_secret: b }\n", nil, false, []string{"providers[0].issuer: not used by kind qq"}},
		{"alg none", base + prov + ", id_token_algs: [none] }\n", nil, false, []string{`providers[0].id_token_algs[0]: unsupported algorithm "none"`}},
		{"logto block on oidc", base + prov + ", logto: { first_screen: x } }\n", nil, false, []string{"providers[0].logto: only used by kind logto"}},
		{"smtp without host", base + "smtp: { from: a@example.com }\n", nil, false, []string{"smtp.host: required when the smtp block is used"}},
		{"smtp host with port", base + "smtp: { host: \"smtp.example.com:587\", from: a@example.com }\n", nil, false, []string{"smtp.host: want the host alone"}},
		{"smtp host as URL", base + "smtp: { host: \"smtp://smtp.example.com\", from: a@example.com }\n", nil, false, []string{"smtp.host: want a host name"}},
		{"smtp bad port", base + "smtp: { host: smtp.example.com, port: 70000, from: a@example.com }\n", nil, false, []string{"smtp.port: want 1 to 65535, got 70000"}},
		{"smtp bad tls", base + "smtp: { host: smtp.example.com, tls: ssl, from: a@example.com }\n", nil, false, []string{`smtp.tls: want starttls, implicit or none, got "ssl"`}},
		{"smtp no from", base + "smtp: { host: smtp.example.com }\n", nil, false, []string{"smtp.from: required"}},
		{"smtp bad from", base + "smtp: { host: smtp.example.com, from: tether }\n", nil, false, []string{"smtp.from: not an email address"}},
		{"smtp user without password", base + "smtp: { host: smtp.example.com, from: a@example.com, username: u }\n", nil, false, []string{"smtp.password: required with smtp.username"}},
		{"smtp password without user", base + "smtp: { host: smtp.example.com, from: a@example.com, password: p }\n", nil, false, []string{"smtp.username: required with smtp.password"}},
		{"smtp plaintext to remote", base + "smtp: { host: smtp.example.com, from: a@example.com, tls: none }\n", nil, false, []string{"smtp.tls: none sends mail in plain text"}},
		{"smtp password in plaintext", base + "smtp: { host: relay.internal, from: a@example.com, tls: none, allow_plaintext: true, username: u, password: p }\n", nil, false, []string{"smtp.password: would cross the network in plain text"}},
		{"smtp allow_plaintext with tls", base + "smtp: { host: smtp.example.com, from: a@example.com, allow_plaintext: true }\n", nil, false, []string{"smtp.allow_plaintext: only used with tls: none"}},
		{"smtp ca file not PEM", base + "smtp: { host: smtp.example.com, from: a@example.com, ca_file: config.go }\n", nil, false, []string{"smtp.ca_file: config.go holds no PEM certificate"}},
		{"smtp missing ca file", base + "smtp: { host: smtp.example.com, from: a@example.com, ca_file: /nonexistent/ca.pem }\n", nil, false, []string{"smtp.ca_file: open /nonexistent/ca.pem"}},
		{"smtp unknown key", base + "smtp: { host: smtp.example.com, from: a@example.com, starttls: true }\n", nil, false, []string{"smtp.starttls: unknown key"}},
		{"smtp negative timeout", base + "smtp: { host: smtp.example.com, from: a@example.com, timeout: -1s }\n", nil, false, []string{"smtp.timeout: must be positive"}},
		{"smtp bad env port", base + "smtp: { host: smtp.example.com, from: a@example.com }\n", []string{"TETHER_SMTP_PORT=submission"}, false, []string{`TETHER_SMTP_PORT (smtp.port): invalid integer "submission"`}},
		{"smtp both password and file", base + "smtp: { host: smtp.example.com, from: a@example.com, username: u, password: p, password_file: config.go }\n", nil, false, []string{"smtp.password_file: both smtp.password and smtp.password_file are set"}},
		{"unknown env", base, []string{"TETHER_LISTN=1.2.3.4:5"}, false, []string{"TETHER_LISTN: unknown environment variable (did you mean TETHER_LISTEN?)"}},
		{"bad env duration", base, []string{"TETHER_TOKENS_ACCESS_TTL=soon"}, false, []string{`TETHER_TOKENS_ACCESS_TTL (tokens.access_ttl): invalid duration "soon"`}},
		{"env for unknown provider", base + prov + " }\n", []string{"TETHER_PROVIDERS_NOPE_CLIENT_SECRET=x"}, false, []string{"TETHER_PROVIDERS_NOPE_CLIENT_SECRET: unknown environment variable"}},
		{"not yaml", "a: [", nil, false, []string{"not valid YAML"}},
		{"list where mapping", base + "tokens: [1, 2]\n", nil, false, []string{"tokens: expected a mapping"}},
		{"duplicate key", base + "listen: a:1\nlisten: b:2\n", nil, false, []string{"listen: key appears twice"}},
		{"http public_url", "public_url: http://files.example.com\nsecret_key: " + secret + "\nencryption_key: " + encKey + "\n", nil, false, []string{`public_url: must be https`}},
		{"http public_url on a LAN address", "public_url: http://192.168.1.10:5212\nsecret_key: " + secret + "\nencryption_key: " + encKey + "\n", nil, false, []string{`public_url: must be https`}},
		{"bad allow_insecure_public_url", base + "allow_insecure_public_url: perhaps\n", nil, false, []string{`allow_insecure_public_url: invalid boolean "perhaps"`}},
		{"bad metrics listen", base + "metrics: { listen: 9090 }\n", nil, false, []string{`metrics.listen: want host:port, got "9090"`}},
		{"unknown metrics key", base + "metrics: { addr: 127.0.0.1:9090 }\n", nil, false, []string{`metrics.addr: unknown key`}},
		{"bad ipv6 prefix", base + "rate_limit: { ipv6_prefix: 129 }\n", nil, false, []string{"rate_limit.ipv6_prefix: want a prefix length from 1 to 128, got 129"}},
		{"zero ipv6 prefix", base + "rate_limit: { ipv6_prefix: 0 }\n", nil, false, []string{"rate_limit.ipv6_prefix: want a prefix length"}},
		{"negative account failures", base + "rate_limit: { per_account_failures: -1 }\n", nil, false, []string{"rate_limit.per_account_failures: must be 0 (off) or more"}},
		{"bad account lockout", base + "rate_limit: { per_account_lockout: 0s }\n", nil, false, []string{"rate_limit.per_account_lockout: must be positive"}},
		{"max lockout below lockout", base + "rate_limit: { per_account_lockout: 10m, per_account_max_lockout: 5m }\n", nil, false, []string{"rate_limit.per_account_max_lockout: must be at least rate_limit.per_account_lockout (10m0s)"}},
		{"bad max keys", base + "rate_limit: { max_keys: 0 }\n", nil, false, []string{"rate_limit.max_keys: must be at least 1, got 0"}},
		{"bad env ipv6 prefix", base, []string{"TETHER_RATE_LIMIT_IPV6_PREFIX=sixty-four"}, false, []string{`TETHER_RATE_LIMIT_IPV6_PREFIX (rate_limit.ipv6_prefix): invalid integer`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), tt.env, Options{Dev: tt.dev})
			if err == nil {
				t.Fatal("Parse succeeded, want error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\n does not contain %q", err, w)
				}
			}
		})
	}
}

func TestEnvOverrides(t *testing.T) {
	env := []string{
		"TETHER_DATABASE=postgres://u:p@db/tether",
		"TETHER_TOKENS_ACCESS_TTL=15m",
		"TETHER_RATE_LIMIT_TRUSTED_PROXIES=10.0.0.0/8,192.168.0.0/16",
		"TETHER_PROVIDERS_LOGTO_CLIENT_SECRET=from-env",
		"TETHER_PROVIDERS_1_KEY=openid",
		"TETHER_FLOWS_BIND_BROWSER=false",
		"HOME=/root",
	}
	c, err := Parse([]byte(full), env, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Database != "postgres://u:p@db/tether" || c.Tokens.AccessTTL.D() != 15*time.Minute || len(c.RateLimit.TrustedProxies) != 2 ||
		c.Providers[0].ClientSecret != "from-env" || c.Providers[1].Key != "openid" || c.Flows.BindBrowser {
		t.Errorf("env not applied: %+v", c)
	}
}

func TestSecretFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	y := "public_url: https://x.example\nsecret_key_file: " + write("secret", secret+"\n") +
		"\nencryption_key_file: " + write("enc", encKey) +
		"\nproviders:\n  - { id: qq, kind: qq, client_id: a, client_secret_file: " + write("qq", "appkey\n") + " }\n"
	c, err := Parse([]byte(y), nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.SecretKey != secret || c.EncryptionKey != encKey || c.Providers[0].ClientSecret != "appkey" {
		t.Errorf("files not read: %q %q %q", c.SecretKey, c.EncryptionKey, c.Providers[0].ClientSecret)
	}
	for name, tc := range map[string]struct{ yaml, want string }{
		"missing file": {"public_url: https://x.example\nencryption_key: " + encKey + "\nsecret_key_file: /nonexistent/secret\n", "secret_key_file: open /nonexistent/secret"},
		"both set":     {"public_url: https://x.example\nencryption_key: " + encKey + "\nsecret_key: " + secret + "\nsecret_key_file: " + write("s2", secret) + "\n", "secret_key_file: both secret_key and secret_key_file are set"},
		"empty file":   {"public_url: https://x.example\nsecret_key: " + secret + "\nencryption_key_file: " + write("empty", "\n") + "\n", "encryption_key_file: file"},
		"provider":     {"public_url: https://x.example\nsecret_key: " + secret + "\nencryption_key: " + encKey + "\nproviders:\n  - { id: qq, kind: qq, client_id: a, client_secret_file: /nonexistent }\n", "providers[0].client_secret_file: open /nonexistent"},
	} {
		if _, err := Parse([]byte(tc.yaml), nil, Options{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", name, err, tc.want)
		}
	}
}

func TestSMTP(t *testing.T) {
	base := "public_url: https://x.example\nsecret_key: " + secret + "\nencryption_key: " + encKey + "\n"
	dir := t.TempDir()
	pw := filepath.Join(dir, "smtp_password")
	if err := os.WriteFile(pw, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ca := mailtest.NewCert(t).CertFile
	tests := []struct {
		name string
		yaml string
		env  []string
		want SMTP
	}{
		{"absent", "", nil, SMTP{}},
		{"private CA", "smtp: { host: smtp.example.com, from: a@x.example, ca_file: " + ca + " }\n", nil,
			SMTP{Host: "smtp.example.com", Port: 587, TLS: "starttls", From: "a@x.example", CAFile: ca, Timeout: Duration(time.Minute)}},
		{"starttls by default", "smtp: { host: smtp.example.com, from: \"tether <no-reply@x.example>\", username: u, password: p }\n", nil,
			SMTP{Host: "smtp.example.com", Port: 587, TLS: "starttls", From: "tether <no-reply@x.example>", Username: "u", Password: "p", Timeout: Duration(time.Minute)}},
		{"implicit", "smtp: { host: smtp.example.com, tls: implicit, from: a@x.example, timeout: 20s }\n", nil,
			SMTP{Host: "smtp.example.com", Port: 465, TLS: "implicit", From: "a@x.example", Timeout: Duration(20 * time.Second)}},
		{"none to loopback", "smtp: { host: 127.0.0.1, tls: none, port: 1025, from: a@x.example, username: u, password: p }\n", nil,
			SMTP{Host: "127.0.0.1", Port: 1025, TLS: "none", From: "a@x.example", Username: "u", Password: "p", Timeout: Duration(time.Minute)}},
		{"none to a relay, accepted", "smtp: { host: relay.internal, tls: none, allow_plaintext: true, from: a@x.example }\n", nil,
			SMTP{Host: "relay.internal", Port: 25, TLS: "none", AllowPlaintext: true, From: "a@x.example", Timeout: Duration(time.Minute)}},
		{"password file", "smtp: { host: smtp.example.com, from: a@x.example, username: u, password_file: " + pw + " }\n", nil,
			SMTP{Host: "smtp.example.com", Port: 587, TLS: "starttls", From: "a@x.example", Username: "u", Password: "from-file", PasswordFile: pw, Timeout: Duration(time.Minute)}},
		{"all from the environment", "", []string{
			"TETHER_SMTP_HOST=smtp.example.com", "TETHER_SMTP_PORT=2525", "TETHER_SMTP_FROM=a@x.example",
			"TETHER_SMTP_USERNAME=u", "TETHER_SMTP_PASSWORD=env", "TETHER_SMTP_TLS=implicit", "TETHER_SMTP_TIMEOUT=5s",
		}, SMTP{Host: "smtp.example.com", Port: 2525, TLS: "implicit", From: "a@x.example", Username: "u", Password: "env", Timeout: Duration(5 * time.Second)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(base+tc.yaml), tc.env, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if c.SMTP != tc.want {
				t.Errorf("smtp =\n %+v\nwant\n %+v", c.SMTP, tc.want)
			}
			if c.SMTP.Enabled() != (tc.want.Host != "") {
				t.Errorf("Enabled() = %v", c.SMTP.Enabled())
			}
		})
	}
}

// TestChanged names the top-level keys whose values differ, a secret and
// its file as one key, and nothing for a file that names the same secret
// from another path.
func TestChanged(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := write("a", secret+"\n")
	b := write("b", secret)
	c := write("c", strings.Repeat("x", 32))
	base := "public_url: https://x.example\nencryption_key: " + encKey + "\n"
	load := func(extra string) *Config {
		t.Helper()
		cfg, err := Parse([]byte(base+extra), nil, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	from := load("secret_key_file: " + a + "\n")
	tests := []struct {
		extra string
		want  string
	}{
		{"secret_key_file: " + a + "\n", ""},
		{"secret_key_file: " + b + "\n", ""},
		{"secret_key: " + secret + "\n", ""},
		{"secret_key_file: " + c + "\n", "secret_key"},
		{"secret_key_file: " + a + "\nlisten: 127.0.0.1:1\ncors: { allowed_origins: [https://a.example] }\n", "listen,cors"},
		{"secret_key_file: " + a + "\nproviders: [{ id: corp, kind: oidc, issuer: https://sso.example, client_id: x, client_secret: y }]\nrate_limit: { per_ip_per_minute: 1 }\n", "rate_limit,providers"},
	}
	for _, tt := range tests {
		if got := strings.Join(Changed(from, load(tt.extra)), ","); got != tt.want {
			t.Errorf("%q: Changed = %q, want %q", tt.extra, got, tt.want)
		}
	}
}
