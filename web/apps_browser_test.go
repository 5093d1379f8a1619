package web_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"html/template"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/tether-id/tether/config"
	"github.com/tether-id/tether/testkit/testpeer"
)

// TestBrowserApps signs a person in to two apps through tether, as its
// OpenID Provider, in real Chromium, once in English and once in
// Chinese. App A and app B are relying parties on origins of their own
// (other loopback addresses, so that no cookie is shared with tether or
// with each other) that run the code flow with PKCE server-side with
// x/oauth2 and go-oidc. App A's person signs in at tether's sign-in page
// for the app, with an upstream provider (panva's oidc-provider, with its
// own login and consent pages), and allows app A on tether's consent
// page. App B then signs the same person in without a login form (single
// sign-on), after its own consent. App A signs out through tether's
// end-session endpoint with id_token_hint, which ends tether's session:
// its next prompt=none request gets login_required. On the way, the new
// pages are saved as screenshots: the sign-in page for an app, the
// consent page, the sign-out confirmation (without id_token_hint), the
// account page's apps, and the error page of an unknown app.
func TestBrowserApps(t *testing.T) {
	for _, tc := range []struct {
		lang, acceptLanguage, prefix string
	}{
		{"en", "", ""},
		{"zh-CN", "zh-CN,zh;q=0.9", "zh-"},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			tr := func(key string, args ...any) string { return msg(t, tc.lang, key, args...) }
			appA := newTestApp(t, "App A", "app-a", "127.0.0.2", "RS256")
			appB := newTestApp(t, "App B", "app-b", "127.0.0.3", "ES256")
			e := startEnv(t, envOptions{panva: true, configure: func(c *config.Config) {
				a := appA.client()
				a.Providers = []string{"logto", "zitadel"} // not "strict"
				c.Clients = []config.Client{a, appB.client()}
			}})
			appA.start(e.srv.URL)
			appB.start(e.srv.URL)
			tb := e.tab(t, tc.acceptLanguage)
			trail := tb.trail()
			tetherPage := func(where string) {
				t.Helper()
				if tc.lang == "zh-CN" {
					tb.noEnglish(where)
				}
			}

			// App A: tether's sign-in page for the app, offering only the
			// providers the app's users may use.
			tb.visit(appA.url + "/")
			tb.want("Not signed in to App A")
			tb.press(`#signin`)
			tb.wantPath("/login?")
			tb.want(tr("title_login_app", "App A"), tr("login_lead_app", "App A"), tr("continue_with", "Logto"), tr("continue_with", "Zitadel"))
			if strings.Contains(tb.text(), "Strict SSO") {
				t.Error("app A's sign-in page offers a provider the app does not")
			}
			tetherPage("sign-in page for an app")
			tb.shoot(tc.prefix + "op-login-app")

			// Upstream at panva, then tether's consent page.
			tb.press(`button[value=logto]`)
			if strings.HasPrefix(tb.location(), tb.base) {
				t.Fatalf("still on tether: %s\n%s", tb.location(), tb.text())
			}
			tb.opLogin(testpeer.Alice)
			tb.wantPath("/oauth2/authorize")
			tb.want(tr("title_consent", "App A"), tr("consent_lead", "App A"), tr("scope_openid"), tr("scope_profile"), tr("scope_email"),
				tr("consent_as", testpeer.Alice.Email), tr("consent_allow"), tr("consent_deny"))
			tetherPage("consent")
			tb.shoot(tc.prefix + "op-consent")
			tb.press(`button[value=approve]`)
			subA := appA.wantSignedIn(tb, testpeer.Alice)

			// App B: single sign-on. Tether shows its consent page and no
			// sign-in page on the way.
			tb.visit(appB.url + "/")
			tb.want("Not signed in to App B")
			mark := trail.mark()
			tb.press(`#signin`)
			tb.wantPath("/oauth2/authorize")
			for _, u := range trail.since(mark) {
				if strings.HasPrefix(u, tb.base+"/login") {
					t.Errorf("app B's sign-in went through tether's sign-in page: %s", u)
				}
			}
			if n := run(tb, chromedp.Evaluate[int](`document.querySelectorAll("input[type=password]").length`)); n != 0 {
				t.Error("app B's consent page has a password field")
			}
			tb.want(tr("title_consent", "App B"))
			tb.press(`button[value=approve]`)
			if subB := appB.wantSignedIn(tb, testpeer.Alice); subB != subA {
				t.Errorf("apps A and B see different people: %q and %q", subA, subB)
			}

			// The account page lists both apps.
			tb.open("/account")
			tb.want(tr("apps_title"), "App A", "App B", tr("scope_email"), tr("revoke_app"))
			tetherPage("account with apps")
			tb.shoot(tc.prefix + "op-account-apps")

			// A sign-out request without id_token_hint asks first; staying
			// signed in keeps the session.
			tb.open("/oauth2/logout?" + url.Values{"client_id": {appA.id}, "post_logout_redirect_uri": {appA.url + "/signed-out"}}.Encode())
			tb.want(tr("title_sign_out"), tr("sign_out_app", "App A"), tr("signed_in_as", testpeer.Alice.Email), tr("sign_out"), tr("stay_signed_in"))
			tetherPage("sign-out confirmation")
			tb.shoot(tc.prefix + "op-signout-confirm")
			// The language switch keeps the question.
			other := map[string]string{"en": "zh-CN", "zh-CN": "en"}[tc.lang]
			tb.press(`button[name=lang][value="` + other + `"]`)
			tb.wantPath("/oauth2/logout?")
			tb.want(msg(t, other, "sign_out_app", "App A"))
			tb.press(`button[name=lang][value="` + tc.lang + `"]`)
			tb.want(tr("sign_out_app", "App A"))
			tb.press(`main a.button`)
			tb.wantPath("/account")

			// An unknown app gets an error page, and no redirect.
			tb.open("/oauth2/authorize?" + url.Values{"client_id": {"not-registered"}, "redirect_uri": {"https://app.example.test/callback"},
				"response_type": {"code"}, "scope": {"openid"}, "state": {"s"}}.Encode())
			tb.wantPath("/oauth2/authorize")
			tb.want(tr("title_app_error"), tr("err_unknown_app"))
			tetherPage("unknown app")
			tb.shoot(tc.prefix + "op-app-error")

			// App A signs out through tether with id_token_hint: no
			// question, back at its registered post-logout URI.
			tb.visit(appA.url + "/")
			tb.press(`#signout`)
			if loc := tb.location(); !strings.HasPrefix(loc, appA.url+"/signed-out") {
				t.Fatalf("after signing out at tether: at %s\n%s", loc, tb.text())
			}
			tb.want("Signed out of App A")

			// tether's session is over: prompt=none gets login_required.
			tb.visit(appA.url + "/signin?prompt=none")
			if loc := tb.location(); !strings.HasPrefix(loc, appA.url+"/") {
				t.Fatalf("prompt=none: at %s\n%s", loc, tb.text())
			}
			tb.want("Not signed in to App A", "login_required")
			tb.open("/account")
			tb.wantPath("/login")
		})
	}
}

// visit opens an absolute URL: another origin than tether's.
func (tb *tab) visit(u string) {
	tb.t.Helper()
	tb.do(chromedp.Navigate(u), chromedp.WaitReady(chromedp.CSS("body")))
}

// noEnglish fails for a tether page that is not all Chinese.
func (tb *tab) noEnglish(where string) {
	tb.t.Helper()
	if got := run(tb, chromedp.Evaluate[string](`document.documentElement.lang`)); got != "zh-CN" {
		tb.t.Errorf("%s: lang %q", where, got)
	}
	page := tb.text()
	for _, s := range englishTexts(tb.t) {
		if strings.Contains(page, s) {
			tb.t.Errorf("%s: English text %q on the Chinese page:\n%s", where, s, page)
		}
	}
}

// trail records the URLs of the documents a tab loads, redirects
// included, so a test can tell which pages a navigation went through.
type trail struct {
	mu   sync.Mutex
	urls []string
}

func (tb *tab) trail() *trail {
	tr := &trail{}
	err := chromedp.Listen(tb.ctx, func(ev any) {
		if r, ok := ev.(*network.EventRequestWillBeSent); ok && r.Type == network.ResourceTypeDocument {
			tr.mu.Lock()
			tr.urls = append(tr.urls, r.Request.URL)
			tr.mu.Unlock()
		}
	})
	if err != nil {
		tb.t.Fatal(err)
	}
	return tr
}

func (tr *trail) mark() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(tr.urls)
}

func (tr *trail) since(i int) []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), tr.urls[i:]...)
}

// testApp is an app that signs its users in through tether, on an
// origin of its own, the way a web app with a server does: the code flow
// with PKCE (x/oauth2), the ID token verified with go-oidc (signature by
// the JWKS, issuer, audience, expiry, nonce, at_hash), RFC 9207's iss
// checked, and RP-initiated logout with id_token_hint. Its page says who
// is signed in.
type testApp struct {
	t       *testing.T
	name    string
	id      string
	secret  string
	alg     string
	url     string
	srv     *httptest.Server
	issuer  string
	oauth   oauth2.Config
	idToken *oidc.IDTokenVerifier
	logout  string // tether's end_session_endpoint

	mu       sync.Mutex
	pending  map[string]pendingSignIn // by state
	sessions map[string]appSession    // by cookie
}

type pendingSignIn struct{ nonce, verifier string }

type appSession struct {
	claims  idClaims
	idToken string // raw, for id_token_hint
	logout  string // the state of a sign-out under way
}

type idClaims struct {
	Subject       string `json:"sub"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	Name          string `json:"name"`
	Nonce         string `json:"nonce"`
}

// newTestApp reserves the app's address on host (a loopback address of
// its own), so that tether can register its redirect URIs before either
// starts.
func newTestApp(t *testing.T, name, id, host, alg string) *testApp {
	t.Helper()
	ln, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Fatalf("app %s needs loopback address %s: %v", name, host, err)
	}
	a := &testApp{t: t, name: name, id: id, secret: id + "-secret-0123456789", alg: alg, url: "http://" + ln.Addr().String(),
		pending: map[string]pendingSignIn{}, sessions: map[string]appSession{}}
	a.srv = httptest.NewUnstartedServer(a.handler())
	a.srv.Listener.Close()
	a.srv.Listener = ln
	t.Cleanup(a.srv.Close)
	return a
}

// client is the app's registration at tether.
func (a *testApp) client() config.Client {
	return config.Client{ID: a.id, Name: a.name, Secret: a.secret, Consent: true, IDTokenAlg: a.alg,
		RedirectURIs: []string{a.url + "/callback"}, PostLogoutRedirectURIs: []string{a.url + "/signed-out"}}
}

// start discovers tether at issuer and starts serving.
func (a *testApp) start(issuer string) {
	a.t.Helper()
	ctx := context.WithoutCancel(a.t.Context()) // the key set fetches with it later
	p, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		a.t.Fatalf("app %s: discovery: %v", a.name, err)
	}
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := p.Claims(&meta); err != nil || meta.EndSession == "" {
		a.t.Fatalf("app %s: no end_session_endpoint (%v)", a.name, err)
	}
	a.issuer, a.logout = issuer, meta.EndSession
	a.oauth = oauth2.Config{ClientID: a.id, ClientSecret: a.secret, Endpoint: p.Endpoint(), RedirectURL: a.url + "/callback",
		Scopes: []string{oidc.ScopeOpenID, "profile", "email"}}
	a.idToken = p.Verifier(&oidc.Config{ClientID: a.id, SupportedSigningAlgs: []string{a.alg}})
	a.srv.Start()
}

func (a *testApp) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		ses, _ := a.session(r)
		a.page(w, ses, r.URL.Query().Get("error"))
	})
	mux.HandleFunc("GET /signin", func(w http.ResponseWriter, r *http.Request) {
		state, p := random(), pendingSignIn{nonce: random(), verifier: oauth2.GenerateVerifier()}
		a.mu.Lock()
		a.pending[state] = p
		a.mu.Unlock()
		http.SetCookie(w, &http.Cookie{Name: "app_state", Value: state, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
		opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(p.verifier), oidc.Nonce(p.nonce)}
		if pr := r.URL.Query().Get("prompt"); pr != "" {
			opts = append(opts, oauth2.SetAuthURLParam("prompt", pr))
		}
		http.Redirect(w, r, a.oauth.AuthCodeURL(state, opts...), http.StatusFound)
	})
	mux.HandleFunc("GET /callback", a.callback)
	mux.HandleFunc("GET /signout", func(w http.ResponseWriter, r *http.Request) {
		ses, cookie := a.session(r)
		if ses == nil {
			http.Error(w, "not signed in", http.StatusBadRequest)
			return
		}
		ses.logout = random()
		a.mu.Lock()
		a.sessions[cookie] = *ses
		a.mu.Unlock()
		q := url.Values{"id_token_hint": {ses.idToken}, "post_logout_redirect_uri": {a.url + "/signed-out"}, "state": {ses.logout}}
		http.Redirect(w, r, a.logout+"?"+q.Encode(), http.StatusFound)
	})
	mux.HandleFunc("GET /signed-out", func(w http.ResponseWriter, r *http.Request) {
		ses, cookie := a.session(r)
		if ses == nil || ses.logout == "" || r.URL.Query().Get("state") != ses.logout {
			http.Error(w, "a sign-out this app did not start", http.StatusBadRequest)
			return
		}
		a.mu.Lock()
		delete(a.sessions, cookie)
		a.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		appPage.Execute(w, map[string]any{"Name": a.name, "SignedOut": true})
	})
	return mux
}

// callback finishes a sign-in: state bound to this browser, iss (RFC
// 9207), the code redeemed with the PKCE verifier, the ID token verified.
func (a *testApp) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	c, err := r.Cookie("app_state")
	if err != nil || c.Value != q.Get("state") {
		http.Error(w, "state is not this browser's", http.StatusBadRequest)
		return
	}
	a.mu.Lock()
	p, ok := a.pending[c.Value]
	delete(a.pending, c.Value)
	a.mu.Unlock()
	if !ok {
		http.Error(w, "unknown state", http.StatusBadRequest)
		return
	}
	if q.Get("iss") != a.issuer {
		http.Error(w, "iss is not tether's: "+q.Get("iss"), http.StatusBadRequest)
		return
	}
	if e := q.Get("error"); e != "" {
		http.Redirect(w, r, "/?"+url.Values{"error": {e}}.Encode(), http.StatusFound)
		return
	}
	tok, err := a.oauth.Exchange(r.Context(), q.Get("code"), oauth2.VerifierOption(p.verifier))
	if err != nil {
		http.Error(w, "code exchange: "+err.Error(), http.StatusBadGateway)
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := a.idToken.Verify(r.Context(), raw)
	if err == nil {
		err = idt.VerifyAccessToken(tok.AccessToken)
	}
	var claims idClaims
	if err == nil {
		err = idt.Claims(&claims)
	}
	if err != nil || claims.Nonce != p.nonce {
		http.Error(w, "ID token refused: "+errString(err), http.StatusBadGateway)
		return
	}
	cookie := random()
	a.mu.Lock()
	a.sessions[cookie] = appSession{claims: claims, idToken: raw}
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: "app_session", Value: cookie, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/", http.StatusFound)
}

func (a *testApp) session(r *http.Request) (*appSession, string) {
	c, err := r.Cookie("app_session")
	if err != nil {
		return nil, ""
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	ses, ok := a.sessions[c.Value]
	if !ok {
		return nil, ""
	}
	return &ses, c.Value
}

func (a *testApp) page(w http.ResponseWriter, ses *appSession, errCode string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	v := map[string]any{"Name": a.name, "Error": errCode}
	if ses != nil {
		v["Claims"] = ses.claims
	}
	appPage.Execute(w, v)
}

// wantSignedIn checks that the tab is on the app's page, signed in as
// person, and returns the subject of the ID token.
func (a *testApp) wantSignedIn(tb *tab, person testpeer.User) string {
	tb.t.Helper()
	if loc := tb.location(); !strings.HasPrefix(loc, a.url+"/") {
		tb.t.Fatalf("not back at %s: at %s\n%s", a.name, loc, tb.text())
	}
	tb.want("Signed in to "+a.name+" as "+person.Email, "email_verified: true", "name: "+person.Name)
	return run(tb, chromedp.Evaluate[string](`document.getElementById("sub").textContent`))
}

var appPage = template.Must(template.New("app").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Name}}</title></head>
<body>
<h1>{{.Name}}</h1>
{{- if .SignedOut}}
<p>Signed out of {{.Name}}.</p>
<p><a id="home" href="/">Home</a></p>
{{- else if .Claims}}
<p>Signed in to {{.Name}} as {{.Claims.Email}}.</p>
<ul>
<li>sub: <code id="sub">{{.Claims.Subject}}</code></li>
<li>email_verified: {{.Claims.EmailVerified}}</li>
<li>name: {{.Claims.Name}}</li>
</ul>
<p><a id="signout" href="/signout">Sign out</a></p>
{{- else}}
<p>Not signed in to {{.Name}}.</p>
{{- with .Error}}<p>The sign-in came back with <code id="error">{{.}}</code>.</p>{{end}}
<p><a id="signin" href="/signin">Sign in with tether</a></p>
{{- end}}
</body></html>
`))

func random() string {
	b := make([]byte, 18)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func errString(err error) string {
	if err == nil {
		return "nonce"
	}
	return err.Error()
}
