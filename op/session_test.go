package op_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/testkit/rp"
	"github.com/tether-id/tether/testkit/testclock"
	"github.com/tether-id/tether/testkit/tethertest"
)

// noSteps is a user agent that may show no page: the request must go
// straight back to the app.
var noSteps []tethertest.Step

// TestSingleSignOn: one tether session serves every app; prompt=none
// answers without a page when it can, and with the right error when not.
func TestSingleSignOn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.Browser(t)
	web := rp.New(t, e.rpConfig(webApp, b, signIn()...))
	a := rp.MustLogin(t, web, nil)

	// The first-party app asks no consent: the same browser gets in
	// without any page, prompt=none included.
	fp := rp.New(t, e.rpConfig(firstParty, b, noSteps...))
	fpTok := rp.MustLogin(t, fp, url.Values{"prompt": {"none"}})
	if fpTok.Claims["sub"] != a.Claims["sub"] {
		t.Errorf("sub %v in one app, %v in another", a.Claims["sub"], fpTok.Claims["sub"])
	}
	if fpTok.Claims["auth_time"] != a.Claims["auth_time"] {
		t.Errorf("auth_time changed without a new sign-in: %v, %v", a.Claims["auth_time"], fpTok.Claims["auth_time"])
	}
	// The consenting app remembers the consent: no page again...
	again := rp.New(t, e.rpConfig(webApp, b, noSteps...))
	rp.MustLogin(t, again, url.Values{"prompt": {"none"}})
	// ...but an app the person never allowed must ask, and prompt=none
	// then says so.
	spa := rp.New(t, e.rpConfig(spa, b, noSteps...))
	e.wantRedirectError(t, b, e.authorizeURL(t, spa, url.Values{"prompt": {"none"}}), "consent_required")
	// prompt=consent shows the page again.
	withConsent := rp.New(t, e.rpConfig(webApp, b, tethertest.Consent("approve")))
	if _, err := withConsent.Login(t.Context(), url.Values{"prompt": {"consent"}}); err != nil {
		t.Fatalf("prompt=consent: %v", err)
	}
}

// TestConsent: the consent page's answers.
func TestConsent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.signedIn(t)
	c := rp.New(t, e.rpConfig(webApp, b, tethertest.Consent("deny")))
	_, err := c.Login(t.Context(), nil)
	if rp.ErrorCode(err) != "access_denied" {
		t.Fatalf("denied consent: %v, want access_denied", err)
	}
	// Nothing was remembered: the page comes again, and then it is.
	c = rp.New(t, e.rpConfig(webApp, b, tethertest.Consent("approve")))
	rp.MustLogin(t, c, nil)
	ada, err := e.App.Service.UserByEmail(t.Context(), email)
	if err != nil {
		t.Fatal(err)
	}
	apps, err := e.App.Service.AppsWithAccess(t.Context(), ada.ID)
	if err != nil || len(apps) != 1 || apps[0].App.ID != webApp {
		t.Fatalf("apps with access: %+v %v", apps, err)
	}
	// A consent form posted for another account does not count.
	other := e.Browser(t)
	e.CreateUser(t, "eve@example.test", password, true)
	if _, err := other.Visit(e.URL + "/login"); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Submit("/login", url.Values{"email": {"eve@example.test"}, "password": {password}}); err != nil {
		t.Fatal(err)
	}
	req := e.authorizeURL(t, c, nil)
	p, err := b.Visit(req.URL) // Ada's consent page? She consented: straight through.
	if err != nil || p.Status/100 != 3 {
		t.Fatalf("remembered consent: HTTP %d %v", p.Status, err)
	}
	p, err = other.Visit(req.URL)
	if err != nil || p.Status != http.StatusOK {
		t.Fatalf("Eve's consent page: HTTP %d %v", p.Status, err)
	}
	form, _ := other.Form("/oauth2/authorize")
	form.Set("csrf", "forged")
	form.Set("consent", "approve")
	resp, err := other.PostForm(e.URL+"/oauth2/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 == 3 && strings.Contains(resp.Header.Get("Location"), "code=") {
		t.Fatal("a consent form with a forged token gave a code")
	}
}

// TestReauthentication: prompt=login and max_age send a signed-in person
// through the sign-in page again, and auth_time moves.
func TestReauthentication(t *testing.T) {
	t.Parallel()
	clock := testclock.Running()
	e := newEnv(t, withClock(clock))
	b := e.Browser(t)
	fp := rp.New(t, e.rpConfig(firstParty, b, tethertest.Password(email, password)))
	first := rp.MustLogin(t, fp, nil)
	clock.Advance(10 * time.Second)
	silent := rp.New(t, e.rpConfig(firstParty, b, noSteps...))
	if tok := rp.MustLogin(t, silent, nil); tok.Claims["auth_time"] != first.Claims["auth_time"] {
		t.Fatal("auth_time moved without a sign-in")
	}
	for _, params := range []url.Values{{"prompt": {"login"}}, {"max_age": {"5"}}} {
		clock.Advance(10 * time.Second)
		if _, err := silent.Login(t.Context(), params); err == nil {
			t.Fatalf("%v: no sign-in page for a signed-in browser", params)
		}
		tok := rp.MustLogin(t, fp, params)
		if tok.Claims["auth_time"].(float64) <= first.Claims["auth_time"].(float64) {
			t.Errorf("%v: auth_time %v did not move past %v", params, tok.Claims["auth_time"], first.Claims["auth_time"])
		}
		first = tok
	}
	// max_age that the session meets needs no page.
	rp.MustLogin(t, silent, url.Values{"max_age": {"3600"}})
}

// TestAccountChangesEndAppSessions: a ban or a new password ends the
// apps' sessions too: their refresh tokens and access tokens stop working.
func TestAccountChangesEndAppSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, change := range []struct {
		name string
		do   func(u core.User) error
	}{
		{"ban", func(u core.User) error {
			_, err := e.App.Service.UpdateUser(context.Background(), u.ID, func(u *core.User) error { u.Status = core.StatusManualBanned; return nil }, core.AdminCLI)
			return err
		}},
		{"new password", func(u core.User) error {
			return e.App.Service.SetPassword(context.Background(), u.ID, "another password 123", core.AdminCLI)
		}},
	} {
		t.Run(change.name, func(t *testing.T) {
			mail := strings.ReplaceAll(change.name, " ", "-") + "@example.test"
			u := e.CreateUser(t, mail, password, true)
			b := e.Browser(t)
			c := rp.New(t, e.rpConfig(firstParty, b, tethertest.Password(mail, password)))
			tok := rp.MustLogin(t, c, nil)
			if err := change.do(u); err != nil {
				t.Fatal(err)
			}
			if _, err := c.UserInfo(t.Context(), tok); rp.ErrorCode(err) != "invalid_token" {
				t.Errorf("userinfo after %s: %v", change.name, err)
			}
			if _, err := c.Refresh(t.Context(), tok); rp.ErrorCode(err) != "invalid_grant" {
				t.Errorf("refresh after %s: %v", change.name, err)
			}
		})
	}
}

// TestRevokeApp: the account page lists the app (and names it on the
// device it was signed in to from); revoking the app kills its tokens and
// forgets the consent.
func TestRevokeApp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.Browser(t)
	c := rp.New(t, e.rpConfig(webApp, b, signIn()...))
	tok := rp.MustLogin(t, c, nil)
	if _, err := b.Visit(e.URL + "/account"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.Last.Body, "Web App") {
		t.Fatalf("the account page does not list the app:\n%s", b.Last.Body)
	}
	if !strings.Contains(b.Last.Body, "signed in to Web App from here") {
		t.Errorf("the device does not name the app signed in to from it:\n%s", b.Last.Body)
	}
	if n := strings.Count(b.Last.Body, `name="session"`); n != 1 {
		t.Errorf("the devices list has %d devices, want 1: the app's session is the app's, not a device", n)
	}
	if _, err := b.Submit("/account/apps/"+webApp+"/revoke", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Refresh(t.Context(), tok); rp.ErrorCode(err) != "invalid_grant" {
		t.Errorf("refresh after the app was revoked: %v", err)
	}
	if _, err := c.UserInfo(t.Context(), tok); rp.ErrorCode(err) != "invalid_token" {
		t.Errorf("userinfo after the app was revoked: %v", err)
	}
	silent := rp.New(t, e.rpConfig(webApp, b, noSteps...))
	e.wantRedirectError(t, b, e.authorizeURL(t, silent, url.Values{"prompt": {"none"}}), "consent_required")
}

// TestKeyRotation: tokens signed before a rotation still verify until
// they expire; new tokens carry the new kid; the retired key leaves the
// JWKS once its tokens are dead.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	clock := testclock.Running()
	e := newEnv(t, withClock(clock))
	b := e.Browser(t)
	cfg := e.rpConfig(firstParty, b, tethertest.Password(email, password))
	cfg.Now = clock.Now
	c := rp.New(t, cfg)
	before := rp.MustLogin(t, c, nil)
	oldKid := kid(t, before.IDToken)
	if _, err := e.App.Service.RotateKeys(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	after := rp.MustLogin(t, rp.New(t, cfg), url.Values{"prompt": {"login"}})
	if kid(t, after.IDToken) == oldKid {
		t.Fatal("a token signed after the rotation carries the old kid")
	}
	// A fresh RP (empty key cache) still verifies the old token, and the
	// old access token still works.
	if _, err := rp.New(t, cfg).VerifyIDToken(t.Context(), before.IDToken, rp.Expect{Nonce: before.Claims["nonce"].(string), AccessToken: before.AccessToken}); err != nil {
		t.Fatalf("the ID token signed before the rotation: %v", err)
	}
	rp.MustUserInfo(t, c, before)
	if !jwksHas(t, e, oldKid) {
		t.Fatal("the retired key left the JWKS while its tokens live")
	}
	// After the access TTL the old tokens are dead and the key goes.
	clock.Advance(e.Config.Tokens.AccessTTL.D() + 2*time.Minute)
	if _, err := e.App.Service.Purge(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.App.Service.RotateKeys(t.Context(), false); err != nil { // reloads
		t.Fatal(err)
	}
	if jwksHas(t, e, oldKid) {
		t.Fatal("the retired key is still published after its tokens expired")
	}
}

// kid is the kid of a JWS's protected header.
func kid(t *testing.T, jws string) string {
	t.Helper()
	h, _, _ := strings.Cut(jws, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	var header struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(b, &header); err != nil {
		t.Fatal(err)
	}
	return header.Kid
}

func jwksHas(t *testing.T, e *env, kid string) bool {
	t.Helper()
	resp, err := http.Get(e.URL + "/oauth2/jwks")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	for _, k := range set.Keys {
		if k.Kid == kid {
			return true
		}
	}
	return false
}

// TestMetrics: apps' sign-ins, consents, refreshes and revocations are
// counted.
func TestMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *tethertest.Options) { o.PublicMetrics = true })
	b := e.Browser(t)
	c := rp.New(t, e.rpConfig(webApp, b, signIn()...))
	tok := rp.MustLogin(t, c, nil)
	tok = rp.MustRefresh(t, c, tok)
	rp.MustRevoke(t, c, tok.RefreshToken, "refresh_token")
	resp, err := http.Get(e.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`tether_op_authorizations_total{client="webapp",outcome="login"} 1`,
		`tether_op_authorizations_total{client="webapp",outcome="consent"} 1`,
		`tether_op_authorizations_total{client="webapp",outcome="code"} 1`,
		`tether_op_consents_total{answer="approve",client="webapp"} 1`,
		`tether_op_token_requests_total{client="webapp",grant_type="authorization_code",outcome="ok"} 1`,
		`tether_op_token_requests_total{client="webapp",grant_type="refresh_token",outcome="ok"} 1`,
		`tether_op_revocations_total{client="webapp",outcome="ok"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
