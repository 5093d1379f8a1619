package op_test

import (
	"net/url"
	"testing"

	"github.com/tether-id/tether/config"
	"github.com/tether-id/tether/testkit/rp"
	"github.com/tether-id/tether/testkit/testclock"
	"github.com/tether-id/tether/testkit/testpeer"
	"github.com/tether-id/tether/testkit/tethertest"
)

// The apps of the tests, registered at every test server.
const (
	// webApp is a confidential client that asks for consent, RS256.
	webApp    = "webapp"
	webSecret = "webapp-secret-0123456789"
	webBack   = "http://127.0.0.1:9/callback"
	webOut    = "http://127.0.0.1:9/signed-out"
	// firstParty is a confidential client that asks no consent, ES256.
	firstParty       = "firstparty"
	firstPartySecret = "firstparty-secret-0123456789"
	firstPartyBack   = "http://127.0.0.1:9/fp/callback"
	// spa is a public client (PKCE only), EdDSA.
	spa     = "spa"
	spaBack = "http://127.0.0.1:9/spa/callback"

	email    = "ada@example.test"
	password = "correct horse battery"
)

// env is a tether with the three apps, a password account, and the
// zitadel OP as upstream provider "corp".
type env struct {
	*tethertest.Server
	op *testpeer.OP
}

// envOption changes the test server before it starts.
type envOption func(*tethertest.Options)

// withClock runs the server on clock.
func withClock(clock *testclock.Clock) envOption {
	return func(o *tethertest.Options) { o.Now = clock.Now }
}

// withConfig changes the configuration.
func withConfig(f func(*config.Config)) envOption {
	return func(o *tethertest.Options) {
		prev := o.Configure
		o.Configure = func(c *config.Config) { prev(c); f(c) }
	}
}

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	e := &env{}
	o := tethertest.Options{
		Providers: func(publicURL string) []config.Provider {
			e.op = testpeer.Zitadel(t, tethertest.OIDCCallbackURL(publicURL))
			return []config.Provider{tethertest.OIDCProvider("corp", e.op)}
		},
		Configure: func(c *config.Config) {
			c.Clients = []config.Client{
				{ID: webApp, Name: "Web App", Secret: webSecret, RedirectURIs: []string{webBack}, PostLogoutRedirectURIs: []string{webOut}, Consent: true, IDTokenAlg: "RS256"},
				{ID: firstParty, Name: "First Party", Secret: firstPartySecret, RedirectURIs: []string{firstPartyBack}, IDTokenAlg: "ES256"},
				{ID: spa, Name: "Single Page", RedirectURIs: []string{spaBack}, Consent: true, IDTokenAlg: "EdDSA"},
			}
		},
	}
	for _, opt := range opts {
		opt(&o)
	}
	e.Server = tethertest.Start(t, o)
	e.CreateUser(t, email, password, true)
	return e
}

// rpConfig is the RP side of app id, signing in through b with steps.
func (e *env) rpConfig(id string, b *tethertest.Browser, steps ...tethertest.Step) rp.Config {
	c := rp.Config{Issuer: e.URL, ClientID: id, Scopes: []string{"openid", "email", "profile", "offline_access"}, UserAgent: b.UserAgent(steps...)}
	switch id {
	case webApp:
		c.ClientSecret, c.RedirectURL = webSecret, webBack
	case firstParty:
		c.ClientSecret, c.RedirectURL = firstPartySecret, firstPartyBack
	case spa:
		c.RedirectURL = spaBack
	}
	return c
}

// signIn is the password sign-in with consent given.
func signIn() []tethertest.Step {
	return []tethertest.Step{tethertest.Password(email, password), tethertest.Consent("approve")}
}

func mustQuery(t *testing.T, u *url.URL) url.Values {
	t.Helper()
	if u == nil {
		t.Fatal("no URL")
	}
	return u.Query()
}
