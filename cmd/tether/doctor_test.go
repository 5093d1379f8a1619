package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tether-id/tether/testkit/testenv"
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

// runDoctor runs tether doctor in-process, reaching the providers with
// upstream (nil: app's client).
func runDoctor(t *testing.T, upstream *http.Client, environ []string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb testenv.SyncBuffer
	e := &env{ctx: context.Background(), stdin: strings.NewReader(""), stdout: &out, stderr: &errb, environ: environ, upstream: upstream}
	code := e.exit(e.dispatch(append([]string{"doctor"}, args...)))
	return code, out.String(), errb.String()
}

// TestDoctorExitCodes runs doctor over configurations, good and broken,
// and checks its exit status (0: good, warnings included; 1: a check
// failed, the configuration does not load, or the database does not
// answer; 2: bad flags) and that what it prints names what to fix: the
// redirect URIs to register, the failing check, and the configuration key.
func TestDoctorExitCodes(t *testing.T) {
	zitadel := testpeer.Zitadel(t)
	good := "  - { id: corp, kind: oidc, issuer: '" + zitadel.Issuer + "', client_id: " + zitadel.ClientID + ", client_secret: " + zitadel.ClientSecret + " }\n"
	withIssuer := func(id, issuer, extra string) string {
		return "  - { id: " + id + ", kind: oidc, issuer: '" + issuer + "', client_id: c, client_secret: s" + extra + " }\n"
	}
	unreachable := "http://" + freePort(t) // nothing listens there any more

	// An OP whose discovery names another issuer.
	mux := http.NewServeMux()
	other := httptest.NewServer(mux)
	t.Cleanup(other.Close)
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{
			"issuer": "https://sso.example.com", "authorization_endpoint": other.URL + "/auth",
			"token_endpoint": other.URL + "/token", "jwks_uri": other.URL + "/jwks",
		})
	})
	// An https OP whose discovery names a plain-http token endpoint.
	tlsMux := http.NewServeMux()
	tlsOP := httptest.NewTLSServer(tlsMux)
	t.Cleanup(tlsOP.Close)
	tlsMux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{
			"issuer": tlsOP.URL, "authorization_endpoint": tlsOP.URL + "/auth",
			"token_endpoint": "http://sso.example.com/token", "jwks_uri": tlsOP.URL + "/jwks",
		})
	})

	grafana := "clients:\n  - id: grafana\n    secret: grafana-secret-0123456789\n    redirect_uris: [%s]\n"
	client := func(uri string) string { return fmt.Sprintf(grafana, uri) }
	for _, tt := range []struct {
		name     string
		config   string
		environ  []string
		args     []string
		code     int
		want     []string // on stdout
		wantErr  []string // on stderr
		wantNone []string // on neither
	}{
		{name: "good", config: "providers:\n" + good + client("https://grafana.example.com/login/generic_oauth"), code: 0,
			want: []string{
				"✓ database reachable",
				`provider "corp" (oidc, enabled, Cloudreve code 2)`,
				"http://127.0.0.1:5212/callback/openid/2   (Cloudreve clients, tether's pages)",
				"http://127.0.0.1:5212/oauth/sso/corp/callback   (Versia clients)",
				"✓ discovery: " + strings.TrimSuffix(zitadel.Issuer, "/") + "/.well-known/openid-configuration",
				"✓ issuer: " + zitadel.Issuer, "✓ jwks:", "✓ algorithms: RS256",
				`client "grafana" (grafana, confidential, asks for consent)`,
				"redirect URIs registered (the app must send one of these exactly):\n      https://grafana.example.com/login/generic_oauth\n",
				"✓ redirect URI https://grafana.example.com/login/generic_oauth: https",
			},
			wantNone: []string{"✗", "check(s) failed"}},
		{name: "warnings only", config: client("http://127.0.0.1:8080/cb"), code: 0,
			want: []string{"! redirect URI http://127.0.0.1:8080/cb: plain http on loopback"}},
		{name: "relative redirect URI", config: client("/login/generic_oauth"), code: 1,
			wantErr: []string{`clients[0].redirect_uris[0]: want an absolute URI, got "/login/generic_oauth"`}},
		{name: "http redirect URI outside loopback", config: client("http://grafana.example.com/cb"), code: 1,
			wantErr: []string{`clients[0].redirect_uris[0]: must use https (http only on loopback hosts), got "http://grafana.example.com/cb"`}},
		{name: "redirect URI with a fragment", config: client("'https://grafana.example.com/cb#top'"), code: 1,
			wantErr: []string{`clients[0].redirect_uris[0]: must not have a fragment`}},
		{name: "post-logout redirect URI", config: client("https://grafana.example.com/cb") + "    post_logout_redirect_uris: [http://grafana.example.com/bye]\n", code: 1,
			wantErr: []string{`clients[0].post_logout_redirect_uris[0]: must use https`}},
		{name: "relative public_url", environ: []string{"TETHER_PUBLIC_URL=/login"}, code: 1,
			wantErr: []string{`public_url: want an absolute http(s) URL without query, got "/login"`}},
		{name: "http public_url outside loopback", environ: []string{"TETHER_PUBLIC_URL=http://login.example.com"}, code: 1,
			wantErr: []string{`public_url: must be https`}},
		{name: "public_url with a fragment", environ: []string{"TETHER_PUBLIC_URL=https://login.example.com/#x"}, code: 1,
			wantErr: []string{`public_url: want an absolute http(s) URL without query, got "https://login.example.com/#x"`}},
		{name: "misspelt provider key", config: "providers:\n  - { id: corp, kind: oidc, isuer: 'https://sso.example.com', client_id: c, client_secret: s }\n", code: 1,
			wantErr: []string{`providers[0].isuer: unknown key (did you mean "issuer"?)`}},
		{name: "issuer unreachable", config: "providers:\n" + withIssuer("corp", unreachable, ""), code: 1,
			want:    []string{"✗ discovery: " + unreachable + "/.well-known/openid-configuration", "(config: providers[0].issuer)"},
			wantErr: []string{"1 check(s) failed"}},
		{name: "discovery names another issuer", config: "providers:\n" + good + withIssuer("partner", other.URL, ""), code: 1,
			want: []string{`✗ issuer: discovery names "https://sso.example.com", the configuration "` + other.URL + `"; they must match exactly (a trailing slash matters) (config: providers[1].issuer)`,
				"http://127.0.0.1:5212/callback/openid/partner   (Cloudreve clients, tether's pages)"},
			wantErr: []string{"1 check(s) failed"}},
		{name: "http endpoint from an https issuer", config: "providers:\n" + withIssuer("corp", tlsOP.URL, ""), code: 1,
			want:    []string{`✗ endpoints: `, `plain-http token_endpoint "http://sso.example.com/token"`, "(config: providers[0].issuer)"},
			wantErr: []string{"1 check(s) failed"}},
		{name: "broken provider, disabled", config: "providers:\n" + withIssuer("corp", unreachable, ", enabled: false"), code: 0,
			want: []string{`provider "corp" (oidc, disabled,`, "✗ discovery: "}},
		{name: "database unreachable", environ: []string{"TETHER_DATABASE=postgres://tether@" + strings.TrimPrefix(unreachable, "http://") + "/tether?connect_timeout=5"}, code: 1,
			wantErr: []string{"postgres:"}},
		{name: "bad flag", args: []string{"--verbose"}, code: 2,
			wantErr: []string{"flag provided but not defined: -verbose", "Usage of tether doctor:"}, wantNone: []string{"tether: flag provided"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--config", writeConfig(t, tt.config)}, tt.args...)
			code, out, errOut := runDoctor(t, tlsOP.Client(), tt.environ, args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d", code, tt.code)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q", w)
				}
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q", w)
				}
			}
			for _, w := range tt.wantNone {
				if strings.Contains(out+errOut, w) {
					t.Errorf("output has %q", w)
				}
			}
			if t.Failed() {
				t.Logf("stdout:\n%s\nstderr:\n%s", out, errOut)
			}
		})
	}
}
