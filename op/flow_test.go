package op_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/op"
	"github.com/tether-id/tether/testkit/rp"
	"github.com/tether-id/tether/testkit/testpeer"
	"github.com/tether-id/tether/testkit/tethertest"
)

// TestCodeFlow signs in to each kind of app with each relying-party
// library: go-oidc with x/oauth2 (plus the checks they leave out) and
// panva's certified openid-client. The code flow with PKCE, the ID token
// against the JWKS, userinfo, a refresh, revocation, introspection and
// the logout URL.
func TestCodeFlow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	libraries := []struct {
		name string
		open func(t *testing.T, cfg rp.Config) rp.Client
	}{
		{"go-oidc", func(t *testing.T, cfg rp.Config) rp.Client { return rp.New(t, cfg) }},
		{"openid-client", func(t *testing.T, cfg rp.Config) rp.Client { return rp.Node(t, cfg) }},
	}
	for _, lib := range libraries {
		for _, app := range []string{webApp, firstParty, spa} {
			t.Run(lib.name+"/"+app, func(t *testing.T) {
				b := e.Browser(t)
				c := lib.open(t, e.rpConfig(app, b, signIn()...))
				tok := rp.MustLogin(t, c, nil)
				if tok.Claims["sub"] == "" || tok.Claims["email"] != email || tok.Claims["email_verified"] != true {
					t.Errorf("ID token claims %v", tok.Claims)
				}
				if tok.RefreshToken == "" {
					t.Fatal("no refresh token with offline_access")
				}
				info := rp.MustUserInfo(t, c, tok)
				if info["sub"] != tok.Claims["sub"] || info["email"] != email {
					t.Errorf("userinfo %v", info)
				}
				next := rp.MustRefresh(t, c, tok)
				if next.RefreshToken == tok.RefreshToken || next.AccessToken == tok.AccessToken {
					t.Error("refresh did not rotate")
				}
				if app != spa {
					if in := rp.MustIntrospect(t, c, next.AccessToken, "access_token"); !in.Active {
						t.Errorf("introspection of a live token: %+v", in)
					}
				}
				rp.MustRevoke(t, c, next.RefreshToken, "refresh_token")
				if app != spa {
					if in := rp.MustIntrospect(t, c, next.AccessToken, "access_token"); in.Active {
						t.Error("an access token of a revoked session is active")
					}
				}
				if _, err := c.UserInfo(t.Context(), next); err == nil {
					t.Error("userinfo answered for an access token of a revoked session")
				}
				logout := rp.MustLogoutURL(t, c, rp.LogoutRequest{IDTokenHint: next.IDToken, PostLogoutRedirectURI: webOut, State: "bye"})
				if app == webApp {
					p, err := b.Visit(logout)
					if err != nil || p.Status/100 != 3 || p.Location != webOut+"?state=bye" {
						t.Fatalf("logout: %v HTTP %d → %s", err, p.Status, p.Location)
					}
					// The audit trail has the sign-out through the app.
					u, err := e.App.Service.UserByEmail(t.Context(), email)
					if err != nil {
						t.Fatal(err)
					}
					events, err := e.App.Service.AuditEvents(t.Context(), core.AuditQuery{UserID: u.ID, Kinds: []core.EventKind{core.EventAppSignOut}})
					if err != nil || len(events) == 0 || events[0].ClientID != webApp || events[0].Actor != core.ActorUser || !events[0].Success {
						t.Errorf("app_sign_out events: %+v, %v", events, err)
					}
				}
			})
		}
	}
}

// TestUpstreamSignIn: a person signs in to an app with an upstream
// provider; the app sees the tether account, the same one a password
// sign-in of the linked account gives.
func TestUpstreamSignIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.Browser(t)
	c := rp.New(t, e.rpConfig(firstParty, b, tethertest.Upstream(t, "corp", e.op, testpeer.Alice)))
	tok := rp.MustLogin(t, c, nil)
	if tok.Claims["amr"] == nil || !slices.Contains(tok.Claims["amr"].([]any), "fed") {
		t.Errorf("amr %v, want fed", tok.Claims["amr"])
	}
	// With idp_hint, the app goes straight to the provider.
	b2 := e.Browser(t)
	c2 := rp.New(t, e.rpConfig(firstParty, b2))
	req, err := c2.AuthRequest(t.Context(), url.Values{"idp_hint": {"corp"}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := b2.Visit(req.URL)
	if err != nil || p.Status/100 != 3 {
		t.Fatalf("authorize with idp_hint: %v HTTP %d", err, p.Status)
	}
	back := e.op.Login(t, p.Location, testpeer.Alice)
	p, err = b2.Visit(back.String())
	if err != nil || p.Status/100 != 3 {
		t.Fatalf("callback: %v HTTP %d %s", err, p.Status, p.Body)
	}
	loc, _ := url.Parse(p.Location)
	tok2, err := c2.Callback(t.Context(), req, loc)
	if err != nil {
		t.Fatal(err)
	}
	if tok2.Claims["sub"] != tok.Claims["sub"] {
		t.Errorf("the same upstream person is %v and %v", tok.Claims["sub"], tok2.Claims["sub"])
	}
}

// TestSignInReturnsToApp: the answer that ends a sign-in made for an app
// (the provider's callback, the password form) sends the browser straight
// back to the app with its code when the app needs nothing more of the
// person; when it still needs consent, back to the authorization
// endpoint, which shows the consent page.
func TestSignInReturnsToApp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tt := range []struct {
		name, app, back string
		upstream        bool
	}{
		{"callback", firstParty, firstPartyBack, true},
		{"password", firstParty, firstPartyBack, false},
		{"callback, consent to give", webApp, "", true},
		{"password, consent to give", webApp, "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := e.Browser(t)
			c := rp.New(t, e.rpConfig(tt.app, b))
			q := url.Values{}
			if tt.upstream {
				q.Set("idp_hint", "corp")
			}
			req, err := c.AuthRequest(t.Context(), q)
			if err != nil {
				t.Fatal(err)
			}
			p, err := b.Visit(req.URL)
			if err != nil {
				t.Fatal(err)
			}
			var resp *http.Response
			if tt.upstream {
				back := e.op.Login(t, p.Location, testpeer.Alice)
				resp, err = b.Client.Client.Get(back.String())
			} else {
				form, ok := b.Form("/login")
				if !ok {
					t.Fatalf("no sign-in form:\n%s", p.Body)
				}
				form.Set("email", email)
				form.Set("password", password)
				hreq, _ := http.NewRequest("POST", e.URL+"/login", strings.NewReader(form.Encode()))
				hreq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				hreq.Header.Set("Origin", e.URL)
				resp, err = b.Client.Client.Do(hreq)
			}
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			loc := resp.Header.Get("Location")
			if resp.StatusCode/100 != 3 {
				t.Fatalf("the sign-in answered HTTP %d, want a redirect", resp.StatusCode)
			}
			if tt.back == "" {
				if !strings.HasPrefix(loc, op.PathAuthorize+"?") && !strings.HasPrefix(loc, e.URL+op.PathAuthorize+"?") {
					t.Fatalf("sent to %s, want the authorization endpoint (consent)", loc)
				}
				p, err := b.Visit(resolveURL(e.URL, loc))
				if err != nil || !strings.Contains(p.Body, `name="consent"`) {
					t.Fatalf("the endpoint did not ask for consent: %v\n%s", err, p.Body)
				}
				return
			}
			if !strings.HasPrefix(loc, tt.back+"?") {
				t.Fatalf("sent to %s, want straight back to the app at %s", loc, tt.back)
			}
			u, _ := url.Parse(loc)
			if _, err := c.Callback(t.Context(), req, u); err != nil {
				t.Fatalf("the app could not redeem its code: %v", err)
			}
		})
	}
}

// resolveURL makes a Location absolute against base.
func resolveURL(base, loc string) string {
	if strings.HasPrefix(loc, "/") {
		return base + loc
	}
	return loc
}
