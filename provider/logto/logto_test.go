package logto_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/tether-id/tether/provider"
	"github.com/tether-id/tether/provider/logto"
	"github.com/tether-id/tether/testkit/testpeer"
)

func newAuthRequest(redirectURI, hint string) provider.AuthRequest {
	return provider.AuthRequest{
		State:        rand.Text(),
		Nonce:        rand.Text(),
		CodeVerifier: rand.Text() + rand.Text(),
		RedirectURI:  redirectURI,
		LoginHint:    hint,
	}
}

func TestNewRequiresOIDCIssuer(t *testing.T) {
	for _, issuer := range []string{"https://tenant.logto.app", "https://tenant.logto.app/", "https://tenant.logto.app/oidc/"} {
		_, err := logto.New(logto.Config{ID: "logto", Issuer: issuer, ClientID: "c", ClientSecret: "s"})
		if err == nil || !strings.Contains(err.Error(), `"`+issuer+`"`) {
			t.Errorf("New with issuer %q: error %v, want one naming the issuer", issuer, err)
		}
	}
	if _, err := logto.New(logto.Config{ID: "logto", Issuer: "https://tenant.logto.app/oidc", ClientID: "c", ClientSecret: "s"}); err != nil {
		t.Errorf("New with a /oidc issuer: %v", err)
	}
}

// TestAuthURL checks the exact parameter set of Logto's authorization
// request: the flow's own, Logto's conventions, the configured extras, the
// hint, and nothing else.
func TestAuthURL(t *testing.T) {
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	issuer := srv.URL + "/oidc"
	mux.HandleFunc("GET /oidc/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{
			"issuer":                 issuer,
			"authorization_endpoint": issuer + "/auth",
			"token_endpoint":         issuer + "/token",
			"jwks_uri":               issuer + "/jwks",
		})
	})
	p, err := logto.New(logto.Config{
		ID: "logto", Issuer: issuer, ClientID: "app", ClientSecret: "secret",
		DirectSignIn: "social:github", FirstScreen: "register",
		Resources: []string{"https://api.example.test", "https://other.example.test"},
	})
	if err != nil {
		t.Fatal(err)
	}
	req := newAuthRequest("https://tether.example/callback/openid/0", "alice@example.test")
	raw, err := p.AuthURL(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Scheme + "://" + u.Host + u.Path; got != issuer+"/auth" {
		t.Errorf("endpoint %s, want %s/auth", got, issuer)
	}
	sum := sha256Challenge(req.CodeVerifier)
	want := url.Values{
		"response_type":         {"code"},
		"client_id":             {"app"},
		"redirect_uri":          {req.RedirectURI},
		"scope":                 {"openid offline_access profile email"},
		"state":                 {req.State},
		"nonce":                 {req.Nonce},
		"code_challenge":        {sum},
		"code_challenge_method": {"S256"},
		"prompt":                {"consent"},
		"login_hint":            {"alice@example.test"},
		"direct_sign_in":        {"social:github"},
		"first_screen":          {"register"},
		"resource":              {"https://api.example.test", "https://other.example.test"},
	}
	got := u.Query()
	for k, v := range want {
		if !slices.Equal(got[k], v) {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected parameter %s=%q", k, got[k])
		}
	}
}

// TestSignIn signs in through panva's oidc-provider set up like Logto.
func TestSignIn(t *testing.T) {
	t.Parallel()
	op := testpeer.Panva(t, testpeer.PanvaOptions{Logto: true})
	p, err := logto.New(logto.Config{
		ID: "logto", Issuer: op.Issuer, ClientID: op.ClientID, ClientSecret: op.ClientSecret,
		DirectSignIn: "social:github", FirstScreen: "sign_in",
		Resources: []string{"https://api.example.test"},
	})
	if err != nil {
		t.Fatal(err)
	}

	for _, user := range []testpeer.User{testpeer.Alice, testpeer.Bob} {
		t.Run(user.Login, func(t *testing.T) {
			req := newAuthRequest(op.RedirectURI(), user.Login)
			authURL, err := p.AuthURL(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			browser := op.Browser(t)
			back := browser.Login(authURL, user)

			// What reached the OP, as it parsed it.
			seen := op.LastAuthorization(t)
			for k, v := range map[string]string{
				"prompt": "consent", "login_hint": user.Login, "first_screen": "sign_in",
				"direct_sign_in": "social:github", "resource": "https://api.example.test",
				"scope": "openid offline_access profile email", "code_challenge_method": "S256",
			} {
				if seen.Get(k) != v {
					t.Errorf("the OP saw %s=%q, want %q", k, seen.Get(k), v)
				}
			}
			// The hint pre-filled the login page; a consent page followed.
			if len(browser.Pages) != 2 {
				t.Fatalf("saw %d pages, want login and consent", len(browser.Pages))
			}
			if !strings.Contains(browser.Pages[0].Body, `name="login" placeholder="Enter any login"  value="`+user.Login+`"`) {
				t.Errorf("login page not pre-filled with %q:\n%s", user.Login, browser.Pages[0].Body)
			}
			if !strings.Contains(browser.Pages[1].Body, `name="prompt" value="consent"`) {
				t.Errorf("second page is not the consent page:\n%s", browser.Pages[1].Body)
			}

			state, cb, err := provider.ParseCallback(back.Query())
			if err != nil || state != req.State {
				t.Fatalf("ParseCallback(%s) = %q, %v", back, state, err)
			}
			if cb.Iss != op.Issuer {
				t.Errorf("callback iss %q, want %q", cb.Iss, op.Issuer)
			}
			id, err := p.Exchange(t.Context(), req, cb)
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			if id.Issuer != op.Issuer || id.Subject != user.Subject || id.Email != user.Email ||
				id.EmailVerified != user.EmailVerified || id.Name != user.Name {
				t.Errorf("identity %+v does not match %+v", id, user)
			}
			if alg := headerAlg(t, id.Tokens.IDToken); alg != "ES384" {
				t.Errorf("ID token alg %q, want ES384", alg)
			}
			if id.Tokens.RefreshToken == "" {
				t.Error("no refresh token, though offline_access was asked with prompt=consent")
			}
		})
	}
}

// TestES384NotAllowed shows the allow-list is enforced on a real OP: with
// ES384 left out, Logto's ID tokens are refused.
func TestES384NotAllowed(t *testing.T) {
	t.Parallel()
	op := testpeer.Panva(t, testpeer.PanvaOptions{Logto: true})
	p, err := logto.New(logto.Config{
		ID: "logto", Issuer: op.Issuer, ClientID: op.ClientID, ClientSecret: op.ClientSecret,
		IDTokenAlgs: []string{"RS256", "ES256"},
	})
	if err != nil {
		t.Fatal(err)
	}
	req := newAuthRequest(op.RedirectURI(), "")
	authURL, err := p.AuthURL(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	_, cb, err := provider.ParseCallback(op.Login(t, authURL, testpeer.Alice).Query())
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Exchange(t.Context(), req, cb)
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Reason != "unsupported_alg" {
		t.Fatalf("Exchange error %v, want unsupported_alg", err)
	}
}

func headerAlg(t *testing.T, jwt string) string {
	t.Helper()
	h, err := base64.RawURLEncoding.DecodeString(strings.Split(jwt, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ Alg string }
	if err := json.Unmarshal(h, &v); err != nil {
		t.Fatal(err)
	}
	return v.Alg
}

func sha256Challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
