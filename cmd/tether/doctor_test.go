package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tether-id/tether/testkit/testpeer"
)

// TestDoctorFrontends: with a Cloudreve frontend on its own origin,
// doctor lists both redirect URIs of each provider, says both need
// registering, and warns when the frontend's origin is not allowed by
// CORS.
func TestDoctorFrontends(t *testing.T) {
	op := testpeer.Zitadel(t)
	provider := "providers:\n  - { id: corp, kind: oidc, issuer: '" + op.Issuer + "', client_id: " + op.ClientID + ", client_secret: " + op.ClientSecret + " }\n"
	for _, tc := range []struct {
		name, extra string
		want        []string
	}{
		{"one origin", "", []string{
			"http://127.0.0.1:5212/callback/openid/2   (Cloudreve clients, tether's pages)",
			"http://127.0.0.1:5212/oauth/sso/corp/callback   (Versia clients)",
		}},
		{"frontend listed", "cloudreve: { frontend_url: 'https://cloud.example.com/' }\ncors: { allowed_origins: [https://cloud.example.com] }\n", []string{
			"✓ Cloudreve frontend https://cloud.example.com: its origin is in cors.allowed_origins",
			"every provider needs both redirect URIs below registered",
			"http://127.0.0.1:5212/callback/openid/2   (tether's pages)",
			"https://cloud.example.com/callback/openid/2   (Cloudreve clients: the frontend's callback page)",
		}},
		{"frontend not listed", "cloudreve: { frontend_url: 'https://cloud.example.com' }\nversia: { frontend_url: 'https://social.example.com' }\n", []string{
			"! Cloudreve frontend https://cloud.example.com: add https://cloud.example.com to cors.allowed_origins",
			"! Versia frontend https://social.example.com: add https://social.example.com to cors.allowed_origins",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := tether(t, "", nil, "doctor", "--config", writeConfig(t, tc.extra+provider))
			if code != 0 {
				t.Fatalf("doctor exited %d:\n%s\n%s", code, out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("doctor does not say %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestDoctorClients: doctor prints, for each client, what to enter in the
// app and a line per redirect URI, warning about the weaker kinds and
// about public clients; warnings do not fail the run.
func TestDoctorClients(t *testing.T) {
	cfg := writeConfig(t, `clients:
  - id: grafana
    name: Grafana
    secret: grafana-secret-0123456789
    redirect_uris: [https://grafana.example.com/login/generic_oauth]
    post_logout_redirect_uris: [https://grafana.example.com/login]
    consent: false
  - id: cli
    name: Command line
    redirect_uris: [http://127.0.0.1/callback, com.example.cli:/callback, http://localhost:8400/cb]
    consent: false
    id_token_alg: EdDSA
`)
	code, out, stderr := tether(t, "", nil, "doctor", "--config", cfg)
	if code != 0 {
		t.Fatalf("doctor: exit %d\n%s%s", code, out, stderr)
	}
	grafana, cli, ok := strings.Cut(out[strings.Index(out, `client "grafana"`):], `client "cli"`)
	if !ok {
		t.Fatalf("doctor output:\n%s", out)
	}
	for _, tt := range []struct {
		section, in, want string
	}{
		{"all", out, "issuer:        http://127.0.0.1:5212\n"},
		{"all", out, "discovery URL: http://127.0.0.1:5212/.well-known/openid-configuration"},
		{"all", out, "! the issuer is plain http"},
		{"all", out, "✓ signing keys: none yet"},
		{"grafana", grafana, `client "grafana" (Grafana, confidential, no consent step)`},
		{"grafana", grafana, "client id:           grafana"},
		{"grafana", grafana, "client secret:       set: the value of clients[0].secret"},
		{"grafana", grafana, "scopes:              openid profile email"},
		{"grafana", grafana, "ID token algorithm:  RS256"},
		{"grafana", grafana, "      https://grafana.example.com/login/generic_oauth\n"},
		{"grafana", grafana, "post-logout redirect URIs:\n      https://grafana.example.com/login\n"},
		{"grafana", grafana, "✓ redirect URI https://grafana.example.com/login/generic_oauth: https"},
		{"grafana", grafana, "✓ post-logout redirect URI https://grafana.example.com/login: https"},
		{"cli", cli, "(Command line, public, no consent step)"},
		{"cli", cli, "client secret:       none (public client)"},
		{"cli", cli, "ID token algorithm:  EdDSA"},
		{"cli", cli, "post-logout redirect URIs: none"},
		{"cli", cli, "! redirect URI http://127.0.0.1/callback: plain http on loopback, for a native app or a test; any port matches"},
		{"cli", cli, "! redirect URI com.example.cli:/callback: a private-use scheme (com.example.cli:)"},
		{"cli", cli, "! redirect URI http://localhost:8400/cb: plain http on loopback, for a native app or a test; as a localhost URI its port must match exactly"},
		{"cli", cli, "! public client: anyone can use its client id"},
		{"cli", cli, "! public client without consent"},
	} {
		if !strings.Contains(tt.in, tt.want) {
			t.Errorf("%s: doctor output lacks %q:\n%s", tt.section, tt.want, tt.in)
		}
	}
	if strings.Contains(grafana, "!") {
		t.Errorf("warnings for a confidential https client:\n%s", grafana)
	}
	if strings.Contains(out, "grafana-secret-0123456789") {
		t.Error("doctor printed a client secret")
	}

	// After a rotation doctor counts the keys.
	tether(t, "", nil, "keys", "rotate", "--config", cfg)
	if _, out, _ := tether(t, "", nil, "doctor", "--config", cfg); !strings.Contains(out, "✓ signing keys: RS256, ES256, EdDSA current, 0 retired") {
		t.Errorf("doctor after a rotation:\n%s", out)
	}
}

// TestDoctorNoClients: without clients: one line, no failure.
func TestDoctorNoClients(t *testing.T) {
	code, out, stderr := tether(t, "", nil, "doctor", "--config", writeConfig(t, ""))
	if code != 0 || !strings.Contains(out, "no clients configured") || strings.Contains(out, "signing keys") {
		t.Fatalf("doctor: exit %d\n%s%s", code, out, stderr)
	}
}

// TestCheckAppURI: each kind of redirect URI gets its mark; config.Load
// refuses the failing ones before doctor runs, so they are checked here.
func TestCheckAppURI(t *testing.T) {
	for _, tt := range []struct {
		uri    string
		public bool
		mark   string
		want   string
	}{
		{"https://app.example.com/cb", false, "✓", "https"},
		{"http://127.0.0.1:8080/cb", false, "!", "the port must match exactly"},
		{"http://127.0.0.1/cb", true, "!", "any port matches"},
		{"http://[::1]/cb", true, "!", "any port matches"},
		{"http://localhost/cb", true, "!", "as a localhost URI its port must match exactly"},
		{"com.example.app:/cb", true, "!", "a private-use scheme (com.example.app:)"},
		{"http://app.example.com/cb", false, "✗", "must use https"},
		{"https://app.example.com/cb#frag", false, "✗", "must not have a fragment"},
		{"/cb", false, "✗", "want an absolute URI"},
		{"https://user@app.example.com/cb", false, "✗", "must not carry user info"},
		{"myapp:/cb", true, "✗", "private-use scheme such as"},
	} {
		var mark, line string
		checkAppURI(func(m, format string, args ...any) { mark, line = m, fmt.Sprintf(format, args...) }, "redirect URI", tt.uri, tt.public)
		if mark != tt.mark || !strings.Contains(line, tt.want) {
			t.Errorf("%s (public %v): %s %s; want %s and %q", tt.uri, tt.public, mark, line, tt.mark, tt.want)
		}
	}
}
