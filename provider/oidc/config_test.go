package oidc_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/tether-id/tether/provider"
	"github.com/tether-id/tether/provider/oidc"
	"github.com/tether-id/tether/testkit/testpeer"
)

func TestNewRejects(t *testing.T) {
	valid := oidc.Config{ID: "corp", Issuer: "https://sso.example/", ClientID: "c", ClientSecret: craftedSecret}
	if _, err := oidc.New(valid); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	tests := []struct {
		name   string
		tweak  func(c *oidc.Config)
		inText string
	}{
		{"no issuer", func(c *oidc.Config) { c.Issuer = "" }, "issuer: required"},
		{"relative issuer", func(c *oidc.Config) { c.Issuer = "sso.example" }, "absolute URL"},
		{"http issuer on a network host", func(c *oidc.Config) { c.Issuer = "http://sso.example/" }, "must use https"},
		{"issuer with query", func(c *oidc.Config) { c.Issuer = "https://sso.example/?tenant=1" }, "without query"},
		{"no client id", func(c *oidc.Config) { c.ClientID = "" }, "client_id"},
		{"no client secret", func(c *oidc.Config) { c.ClientSecret = "" }, "client_secret"},
		{"scopes without openid", func(c *oidc.Config) { c.Scopes = []string{"profile"} }, "openid"},
		{"alg none", func(c *oidc.Config) { c.IDTokenAlgs = []string{"RS256", "none"} }, `"none"`},
		{"unknown alg", func(c *oidc.Config) { c.IDTokenAlgs = []string{"RS257"} }, "RS257"},
		{"HS512 with a short secret", func(c *oidc.Config) { c.IDTokenAlgs, c.ClientSecret = []string{"HS512"}, strings.Repeat("s", 40) }, "64 bytes"},
		{"reserved extra parameter", func(c *oidc.Config) { c.ExtraAuthParams = url.Values{"state": {"x"}} }, `"state"`},
		{"login_hint as extra parameter", func(c *oidc.Config) { c.ExtraAuthParams = url.Values{"login_hint": {"x"}} }, "login_hint"},
		{"unknown token auth", func(c *oidc.Config) { c.TokenEndpointAuth = "private_key_jwt" }, "private_key_jwt"},
		{"negative skew", func(c *oidc.Config) { c.ClockSkew = -1 }, "skew"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.tweak(&cfg)
			_, err := oidc.New(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.inText) || !strings.Contains(err.Error(), "corp") {
				t.Errorf("New: error %v, want one naming the provider and containing %q", err, tt.inText)
			}
		})
	}
}

// TestInsecureIssuer: tether dev's demo OP may sit on a plain-http public
// URL; only Insecure lets such an issuer through.
func TestInsecureIssuer(t *testing.T) {
	cfg := oidc.Config{ID: "demo", Issuer: "http://192.0.2.7:5212/demo", ClientID: "c", ClientSecret: craftedSecret, Insecure: true}
	if _, err := oidc.New(cfg); err != nil {
		t.Fatalf("Insecure: %v", err)
	}
	if err := oidc.CheckIssuer(cfg.Issuer); err == nil {
		t.Fatal("CheckIssuer accepted an http issuer on a network host")
	}
	for _, ok := range []string{"https://sso.example/", "http://127.0.0.1:9/x", "http://localhost/", "http://[::1]:8080"} {
		if err := oidc.CheckIssuer(ok); err != nil {
			t.Errorf("CheckIssuer(%q): %v", ok, err)
		}
	}
}

func TestAuthURL(t *testing.T) {
	t.Parallel()
	c := newClock()
	op := newCraftedOP(t, c)
	op.set(func(op *craftedOP) { op.discovery["authorization_endpoint"] = op.issuer + "/auth?tenant=t1" })
	req := newAuthRequest("https://rp.example/callback")
	req.LoginHint = "alice@example.test"

	tests := []struct {
		name  string
		tweak func(*oidc.Config)
		scope string     // default openid profile email
		extra url.Values // parameters beyond the flow's own
	}{
		{name: "defaults, hint not sent", extra: url.Values{"tenant": {"t1"}}},
		{name: "hint sent when asked",
			tweak: func(c *oidc.Config) { c.SendLoginHint = true },
			extra: url.Values{"tenant": {"t1"}, "login_hint": {"alice@example.test"}}},
		{name: "fixed extra parameters and scopes",
			tweak: func(c *oidc.Config) {
				c.ExtraAuthParams = url.Values{"prompt": {"login"}, "resource": {"a", "b"}}
				c.Scopes = []string{"openid", "groups"}
			},
			scope: "openid groups",
			extra: url.Values{"tenant": {"t1"}, "prompt": {"login"}, "resource": {"a", "b"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tweaks []func(*oidc.Config)
			if tt.tweak != nil {
				tweaks = append(tweaks, tt.tweak)
			}
			p := newCraftedProvider(t, op, c, tweaks...)
			raw, err := p.AuthURL(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse(raw)
			scope := tt.scope
			if scope == "" {
				scope = "openid profile email"
			}
			want := url.Values{
				"response_type": {"code"}, "client_id": {craftedClient}, "redirect_uri": {req.RedirectURI},
				"scope": {scope}, "state": {req.State}, "nonce": {req.Nonce},
				"code_challenge": {challenge(req.CodeVerifier)}, "code_challenge_method": {"S256"},
			}
			for k, v := range tt.extra {
				want[k] = v
			}
			got := u.Query()
			for k := range mergeKeys(want, got) {
				if !slices.Equal(got[k], want[k]) {
					t.Errorf("%s = %q, want %q", k, got[k], want[k])
				}
			}
		})
	}
}

func TestAuthURLRejectsBadFlows(t *testing.T) {
	t.Parallel()
	c := newClock()
	op := newCraftedOP(t, c)
	p := newCraftedProvider(t, op, c, func(c *oidc.Config) { c.SendLoginHint = true })
	tests := map[string]func(r *provider.AuthRequest){
		"no state":             func(r *provider.AuthRequest) { r.State = "" },
		"no nonce":             func(r *provider.AuthRequest) { r.Nonce = "" },
		"short verifier":       func(r *provider.AuthRequest) { r.CodeVerifier = "short" },
		"verifier with spaces": func(r *provider.AuthRequest) { r.CodeVerifier = strings.Repeat("a b", 20) },
		"no redirect":          func(r *provider.AuthRequest) { r.RedirectURI = "" },
		"hint with newline":    func(r *provider.AuthRequest) { r.LoginHint = "alice\nbob" },
		"overlong hint":        func(r *provider.AuthRequest) { r.LoginHint = strings.Repeat("a", 300) },
	}
	for name, tweak := range tests {
		t.Run(name, func(t *testing.T) {
			req := newAuthRequest("https://rp.example/callback")
			tweak(&req)
			_, err := p.AuthURL(t.Context(), req)
			wantReason(t, err, "bad_request")
		})
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	// keys are the configuration keys a failing check names: the issuer
	// for what its discovery document says.
	keys := map[string]string{"discovery": "issuer", "issuer": "issuer", "endpoints": "issuer", "jwks": "issuer",
		"token endpoint auth": "token_endpoint_auth", "pkce": "", "algorithms": "id_token_algs"}
	names := func(checks []provider.Check) (all []string, failed []string) {
		for _, c := range checks {
			all = append(all, c.Name)
			if !c.OK {
				failed = append(failed, c.Name+": "+c.Info)
			}
			if want, ok := keys[c.Name]; !ok || c.Key != want {
				t.Errorf("check %q names the key %q, want %q", c.Name, c.Key, want)
			}
		}
		return
	}
	t.Run("zitadel", func(t *testing.T) {
		op := testpeer.Zitadel(t)
		p, err := oidc.New(oidc.Config{Issuer: op.Issuer, ClientID: op.ClientID, ClientSecret: op.ClientSecret})
		if err != nil {
			t.Fatal(err)
		}
		all, failed := names(p.Check(t.Context()))
		want := []string{"discovery", "issuer", "endpoints", "token endpoint auth", "pkce", "jwks", "algorithms"}
		if !slices.Equal(all, want) || failed != nil {
			t.Errorf("checks %v, failed %v; want %v all passing", all, failed, want)
		}
	})
	t.Run("issuer without its trailing slash", func(t *testing.T) {
		op := testpeer.Zitadel(t)
		p, err := oidc.New(oidc.Config{Issuer: strings.TrimSuffix(op.Issuer, "/"), ClientID: op.ClientID, ClientSecret: op.ClientSecret})
		if err != nil {
			t.Fatal(err)
		}
		_, failed := names(p.Check(t.Context()))
		if len(failed) != 1 || !strings.HasPrefix(failed[0], "issuer: ") {
			t.Errorf("failed checks %v, want the issuer check", failed)
		}
	})
	t.Run("no allowed algorithm", func(t *testing.T) {
		c := newClock()
		op := newCraftedOP(t, c)
		p := newCraftedProvider(t, op, c, func(c *oidc.Config) { c.IDTokenAlgs = []string{"PS512"} })
		_, failed := names(p.Check(t.Context()))
		if len(failed) != 1 || !strings.HasPrefix(failed[0], "algorithms: ") {
			t.Errorf("failed checks %v, want the algorithms check", failed)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		p, err := oidc.New(oidc.Config{Issuer: "http://127.0.0.1:1", ClientID: "c", ClientSecret: "s"})
		if err != nil {
			t.Fatal(err)
		}
		all, failed := names(p.Check(t.Context()))
		if !slices.Equal(all, []string{"discovery"}) || len(failed) != 1 {
			t.Errorf("checks %v, failed %v; want discovery failing", all, failed)
		}
	})
}

func mergeKeys(a, b url.Values) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

// TestPlainHTTPEndpoints: a discovery document that names a plain-http
// endpoint on a network host is refused, with the endpoint's name, even
// when the issuer itself is acceptable; loopback hosts and Insecure (the
// demo OP of tether dev) may use http.
func TestPlainHTTPEndpoints(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint", "end_session_endpoint"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := newClock()
			op := newCraftedOP(t, c)
			op.set(func(op *craftedOP) { op.discovery[name] = "http://sso.example.com/" + name })
			req := newAuthRequest("https://rp.example/callback")
			_, err := newCraftedProvider(t, op, c).AuthURL(t.Context(), req)
			wantReason(t, err, "discovery")
			if !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "http://sso.example.com/"+name) {
				t.Errorf("error %q does not name the endpoint", err)
			}
			insecure := newCraftedProvider(t, op, c, func(c *oidc.Config) { c.Insecure = true })
			if _, err := insecure.AuthURL(t.Context(), req); err != nil {
				t.Errorf("Insecure: %v", err)
			}
			op.set(func(op *craftedOP) { op.discovery[name] = "http://localhost:1/" + name })
			if _, err := newCraftedProvider(t, op, c).AuthURL(t.Context(), req); err != nil {
				t.Errorf("loopback http: %v", err)
			}
		})
	}
}
