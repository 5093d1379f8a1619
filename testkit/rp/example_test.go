package rp_test

import (
	"net/url"
	"testing"

	"github.com/tether-id/tether/testkit/rp"
	"github.com/tether-id/tether/testkit/testpeer"
)

// Pointing the RPs at an OP takes its issuer, a client registered there
// and a UserAgent for its login pages. This test function shows the
// shape; it is not run.
func Example() {
	var t *testing.T // the test's
	op := testpeer.Panva(t, testpeer.PanvaOptions{})
	cfg := rp.Config{
		Issuer: op.Issuer, ClientID: op.ClientID, ClientSecret: op.ClientSecret,
		RedirectURL: op.RedirectURI(), Scopes: []string{"openid", "email", "offline_access"},
		// Any func(authURL string) (*url.URL, error) that returns the
		// redirect back to RedirectURL, unfollowed.
		UserAgent: op.UserAgent(t, testpeer.Alice),
	}
	for _, c := range []rp.Client{rp.New(t, cfg), rp.Node(t, cfg)} {
		tok := rp.MustLogin(t, c, url.Values{"prompt": {"consent"}})
		_ = rp.MustUserInfo(t, c, tok)
		tok = rp.MustRefresh(t, c, tok)
		rp.MustRevoke(t, c, tok.AccessToken, "access_token")
		if rp.MustIntrospect(t, c, tok.AccessToken, "").Active {
			t.Error("a revoked token is active")
		}
		// A negative test looks at the error instead.
		req, _ := c.AuthRequest(t.Context(), nil)
		back := op.Login(t, req.URL, testpeer.Alice)
		req.Nonce = "tampered"
		if _, err := c.Callback(t.Context(), req, back); err == nil {
			t.Error("a tampered nonce was accepted")
		}
	}
}
