package oidc_test

import (
	"crypto/rand"
	"encoding/json"
	"testing"

	"github.com/tether-id/tether/provider"
	"github.com/tether-id/tether/provider/oidc"
	"github.com/tether-id/tether/testkit/testpeer"
)

// newAuthRequest returns a flow's values as the core makes them: random
// state and nonce, a 52-character PKCE verifier.
func newAuthRequest(redirectURI string) provider.AuthRequest {
	return provider.AuthRequest{
		State:        rand.Text(),
		Nonce:        rand.Text(),
		CodeVerifier: rand.Text() + rand.Text(),
		RedirectURI:  redirectURI,
	}
}

// signIn runs one whole sign-in of user against op through p: AuthURL,
// the OP's real login pages, ParseCallback, Exchange.
func signIn(t *testing.T, p provider.Provider, op *testpeer.OP, user testpeer.User) provider.Identity {
	t.Helper()
	req := newAuthRequest(op.RedirectURI())
	authURL, err := p.AuthURL(t.Context(), req)
	if err != nil {
		t.Fatalf("AuthURL: %v", err)
	}
	back := op.Login(t, authURL, user)
	state, cb, err := provider.ParseCallback(back.Query())
	if err != nil {
		t.Fatalf("ParseCallback(%s): %v", back, err)
	}
	if state != req.State {
		t.Fatalf("callback state %q, want %q", state, req.State)
	}
	id, err := p.Exchange(t.Context(), req, cb)
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	return id
}

func TestZitadelSignIn(t *testing.T) {
	t.Parallel()
	op := testpeer.Zitadel(t)
	p, err := oidc.New(oidc.Config{ID: "corp", Issuer: op.Issuer, ClientID: op.ClientID, ClientSecret: op.ClientSecret})
	if err != nil {
		t.Fatal(err)
	}
	for _, user := range []testpeer.User{testpeer.Alice, testpeer.Bob} {
		t.Run(user.Login, func(t *testing.T) {
			id := signIn(t, p, op, user)
			checkIdentity(t, id, op.Issuer, user, "")
		})
	}
}

// checkIdentity compares id with what the OP knows of user.
func checkIdentity(t *testing.T, id provider.Identity, issuer string, user testpeer.User, picture string) {
	t.Helper()
	if id.Issuer != issuer || id.Subject != user.Subject || id.Email != user.Email ||
		id.EmailVerified != user.EmailVerified || id.Name != user.Name || id.Avatar != picture {
		t.Errorf("identity = %+v\nwant issuer %q, subject %q, email %q (verified %v), name %q, avatar %q",
			id, issuer, user.Subject, user.Email, user.EmailVerified, user.Name, picture)
	}
	if id.Tokens.AccessToken == "" || id.Tokens.IDToken == "" || id.Tokens.Expiry.IsZero() {
		t.Errorf("tokens = %+v, want access token, ID token and expiry", id.Tokens)
	}
	var claims map[string]any
	if err := json.Unmarshal(id.Claims, &claims); err != nil {
		t.Fatalf("claims %s: %v", id.Claims, err)
	}
	if claims["sub"] != user.Subject || claims["email"] != user.Email {
		t.Errorf("raw claims %s lack sub %q or email %q", id.Claims, user.Subject, user.Email)
	}
}

func TestPanvaSignIn(t *testing.T) {
	t.Parallel()
	for _, method := range []string{"client_secret_basic", "client_secret_post"} {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			op := testpeer.Panva(t, testpeer.PanvaOptions{AuthMethod: method})
			p, err := oidc.New(oidc.Config{
				ID: "corp", Issuer: op.Issuer, ClientID: op.ClientID, ClientSecret: op.ClientSecret,
				// panva advertises both methods; the client is registered
				// for one, as an admin would configure it.
				TokenEndpointAuth: method,
			})
			if err != nil {
				t.Fatal(err)
			}
			checkIdentity(t, signIn(t, p, op, testpeer.Alice), op.Issuer, testpeer.Alice, testpeer.Alice.Picture)
			checkIdentity(t, signIn(t, p, op, testpeer.Bob), op.Issuer, testpeer.Bob, "")
		})
	}
}
