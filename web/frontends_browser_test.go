package web_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tether-id/tether/config"
	"github.com/tether-id/tether/testkit/testpeer"
	"github.com/tether-id/tether/testkit/tethertest"
)

// frontendPage is a small web app on its own origin that uses tether the
// way Cloudreve's and Versia's frontends do: its sign-in button calls
// prepare cross-origin (with credentials, for the flow-binding cookie)
// and sends the browser to the provider; its callback page
// (/callback/openid/2) posts the finish call cross-origin and reads
// /user/setting with the access token; its link button starts a Versia
// link; its home page shows the oidc_account_* outcome of that link.
const frontendPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Cloud</title>
<style>
body { font: 16px/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 40rem; padding: 0 1rem; color: #1d2330; }
header { display: flex; justify-content: space-between; align-items: baseline; border-bottom: 2px solid #5d34f2; margin-bottom: 1rem; }
code { background: #eef; padding: 0 .25rem; }
button { font: inherit; padding: .5rem 1rem; margin: .25rem .5rem .25rem 0; border-radius: .5rem; border: 1px solid #5d34f2; background: #5d34f2; color: #fff; }
#out { white-space: pre-wrap; border: 1px solid #ccd; border-radius: .5rem; padding: 1rem; min-height: 3rem; background: #f7f7fb; }
</style></head>
<body>
<header><h1>Cloud</h1><span>a frontend on its own origin</span></header>
<p>This page: <code id="self"></code><br>tether: <code id="tether"></code></p>
<p><button id="signin">Sign in with Zitadel</button><button id="link">Link Partner (Versia)</button></p>
<div id="out">Ready.</div>
<script>
const tether = "TETHER_URL";
document.getElementById("self").textContent = location.origin;
document.getElementById("tether").textContent = tether;
function out(text) {
  document.getElementById("out").textContent = text;
  document.body.dataset.done = "1";
}
async function call(method, path, body, opts) {
  opts = opts || {};
  const headers = {};
  if (body) headers["Content-Type"] = "application/json";
  if (opts.token) headers["Authorization"] = "Bearer " + opts.token;
  const r = await fetch(tether + path, {
    method, headers, body: body ? JSON.stringify(body) : undefined,
    credentials: opts.cookies ? "include" : "omit",
  });
  return r.json();
}
document.getElementById("signin").onclick = async () => {
  try {
    const e = await call("PUT", "/api/v4/session/openid", {provider: 2}, {cookies: true});
    if (e.code !== 0) return out("prepare failed: " + JSON.stringify(e));
    location.href = e.data;
  } catch (err) { out("The browser refused the call to tether: " + err); }
};
document.getElementById("link").onclick = async () => {
  try {
    const e = await call("POST", "/api/v1/sso", {issuer: "partner"}, {cookies: true, token: sessionStorage.getItem("access")});
    if (!e.link) return out("link failed: " + JSON.stringify(e));
    location.href = e.link;
  } catch (err) { out("The browser refused the call to tether: " + err); }
};
const q = new URLSearchParams(location.search);
if (location.pathname === "/callback/openid/2") {
  (async () => {
    const e = await call("POST", "/api/v4/session/openid",
      {code: q.get("code"), session_id: q.get("state"), provider_id: 2}, {cookies: true});
    if (e.code !== 0) return out("finish failed: " + JSON.stringify(e));
    sessionStorage.setItem("access", e.data.token.access_token);
    history.replaceState(null, "", "/");
    const s = await call("GET", "/api/v4/user/setting", null, {token: e.data.token.access_token});
    out("Signed in as " + e.data.user.email + "\nlinked providers: " + s.data.open_id.map(o => o.provider_key).join(", "));
  })().catch(err => out("The browser refused the call to tether: " + err));
} else if (q.has("oidc_account_linked") || q.has("oidc_account_linking_error")) {
  (async () => {
    const s = await call("GET", "/api/v4/user/setting", null, {token: sessionStorage.getItem("access")});
    out((q.get("oidc_account_linked") === "true" ? "Linked." : "Not linked: " + q.get("oidc_account_linking_error_message")) +
      "\nlinked providers: " + s.data.open_id.map(o => o.provider_key).join(", "));
  })().catch(err => out("The browser refused the call to tether: " + err));
}
</script>
</body></html>
`

// serveFrontend serves frontendPage, pointed at tether, on every path.
func serveFrontend(tether *string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/favicon.ico" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(strings.ReplaceAll(frontendPage, "TETHER_URL", *tether)))
	})
}

// TestBrowserFrontendOnItsOwnOrigin: tether on one origin
// (http://127.0.0.1:A), a Cloudreve/Versia-style frontend on another
// (http://127.0.0.1:B, the same site, as cloud.example.com is beside
// id.example.com), listed in cors.allowed_origins and set as both
// surfaces' frontend_url. In headless Chromium the frontend prepares a
// sign-in cross-origin, the browser goes through zitadel's real login
// page, lands on the frontend's own callback page, which finishes the
// sign-in cross-origin (the flow-binding cookie goes along) and reads
// /user/setting; then a Versia link lands back on the frontend with
// oidc_account_linked. The same page on an origin not listed
// (http://localhost:C) is refused by the browser.
func TestBrowserFrontendOnItsOwnOrigin(t *testing.T) {
	var tetherURL string
	front := httptest.NewUnstartedServer(serveFrontend(&tetherURL))
	frontURL := "http://" + front.Listener.Addr().String()
	var zit *testpeer.OP
	srv := tethertest.Start(t, tethertest.Options{
		Providers: func(pub string) []config.Provider {
			zit = testpeer.Zitadel(t, frontURL+"/callback/openid/2", pub+"/callback/openid/2", pub+"/oauth/sso/partner/callback")
			return []config.Provider{
				{ID: "zitadel", Kind: config.KindOIDC, Name: "Zitadel", Enabled: true, DirectSignIn: true,
					Issuer: zit.Issuer, ClientID: zit.ClientID, ClientSecret: zit.ClientSecret},
				{ID: "partner", Kind: config.KindOIDC, Name: "Partner", Enabled: true,
					Issuer: zit.Issuer, ClientID: zit.ClientID, ClientSecret: zit.ClientSecret},
			}
		},
		Configure: func(c *config.Config) {
			c.CORS.AllowedOrigins = []string{frontURL}
			c.Cloudreve.FrontendURL = frontURL
			c.Versia.FrontendURL = frontURL
		},
	})
	tetherURL = srv.URL
	front.Start()
	t.Cleanup(front.Close)
	// A third origin, not listed: the same page from another host name.
	stranger := httptest.NewServer(serveFrontend(&tetherURL))
	t.Cleanup(stranger.Close)
	strangerURL := strings.Replace(stranger.URL, "127.0.0.1", "localhost", 1)

	tb := (&env{srv: &tethertest.Server{URL: frontURL}}).tab(t, "")
	done := func() string {
		t.Helper()
		tb.do(chromedp.WaitVisible(chromedp.CSS(`body[data-done]`)))
		return run(tb, chromedp.Text(chromedp.ID("out")))
	}

	tb.open("/")
	tb.shoot("frontend-start")
	tb.press(`#signin`)
	if loc := tb.location(); !strings.HasPrefix(loc, strings.TrimSuffix(zit.Issuer, "/")) {
		t.Fatalf("prepare did not send the browser to the provider: at %s\n%s", loc, tb.text())
	}
	tb.opLogin(testpeer.Alice)
	got := done()
	if !strings.Contains(got, "Signed in as "+testpeer.Alice.Email) || !strings.Contains(got, "zitadel") {
		t.Fatalf("the frontend's callback page shows:\n%s", got)
	}
	tb.wantPath("/")
	tb.shoot("frontend-signed-in")

	tb.press(`#link`)
	tb.opLogin(testpeer.Alice)
	got = done()
	if loc := tb.location(); !strings.HasPrefix(loc, frontURL+"/?oidc_account_linked=true") {
		t.Errorf("the Versia link landed on %s, want %s/?oidc_account_linked=true", loc, frontURL)
	}
	if !strings.Contains(got, "Linked.") || !strings.Contains(got, "partner") {
		t.Errorf("after the Versia link the frontend shows:\n%s", got)
	}
	tb.shoot("frontend-versia-linked")

	// Not listed: the browser keeps tether's answer from the page.
	tb.do(chromedp.Navigate(strangerURL+"/"), chromedp.WaitReady(chromedp.CSS("body")))
	tb.do(chromedp.Click(chromedp.ID("signin")))
	got = done()
	if !strings.Contains(got, "The browser refused the call to tether") || !strings.HasPrefix(tb.location(), strangerURL) {
		t.Errorf("an origin not listed: at %s the page shows:\n%s", tb.location(), got)
	}
	tb.shoot("frontend-origin-refused")
}

// TestBrowserSignOutAtProvider: after signing in with panva (as Logto,
// which offers RP-initiated logout), the account page offers signing out
// at Logto too, in English and Chinese; pressing it signs out of tether,
// goes through panva's own confirmation, and comes back to tether's
// sign-in page (providers[].post_logout_redirect_uri); the next sign-in
// with Logto asks for the password again. A password session offers no
// such button.
func TestBrowserSignOutAtProvider(t *testing.T) {
	var op *testpeer.OP
	srv := tethertest.Start(t, tethertest.Options{
		Providers: func(pub string) []config.Provider {
			op = testpeer.Panva(t, testpeer.PanvaOptions{Logto: true, RedirectURIs: []string{pub + "/callback/openid/0"},
				PostLogoutRedirectURIs: []string{pub + "/login?signed_out=1"}})
			return []config.Provider{{ID: "logto", Kind: config.KindLogto, Name: "Logto", Icon: logtoIcon, Enabled: true,
				DirectSignIn: true, Issuer: op.Issuer, ClientID: op.ClientID, ClientSecret: op.ClientSecret,
				PostLogoutRedirectURI: pub + "/login?signed_out=1"}}
		},
	})
	e := &env{srv: srv}
	en := func(key string, args ...any) string { return msg(t, "en", key, args...) }
	zh := func(key string, args ...any) string { return msg(t, "zh-CN", key, args...) }

	tb := e.tab(t, "")
	tb.open("/login")
	tb.press(`button[value=logto]`)
	tb.opLogin(testpeer.Alice)
	tb.wantPath("/account")
	tb.want(en("sign_out"), en("sign_out_provider", "Logto"), en("sign_out_provider_note", "Logto"))
	tb.shoot("account-sign-out-provider")

	// The same page in Chinese, in its own browser.
	tz := e.tab(t, "zh-CN,zh;q=0.9")
	tz.open("/login")
	tz.press(`button[value=logto]`)
	tz.opLogin(testpeer.Alice)
	tz.wantPath("/account")
	tz.want(zh("sign_out"), zh("sign_out_provider", "Logto"), zh("sign_out_provider_note", "Logto"))
	tz.shoot("zh-account-sign-out-provider")

	tb.press(`button[name=upstream]`)
	if loc := tb.location(); !strings.HasPrefix(loc, op.Issuer+"/session/end") {
		t.Fatalf("not at the provider's end-session page: %s\n%s", loc, tb.text())
	}
	tb.press(`button[name=logout]`) // panva's "Yes, sign me out"
	tb.wantPath("/login?signed_out=1")
	tb.want(en("notice_signed_out"))
	tb.shoot("login-signed-out-at-provider")

	// Logto's session is over: signing in with it asks for the password.
	tb.press(`button[value=logto]`)
	tb.do(chromedp.WaitVisible(chromedp.CSS(`input[type=password]`)))

	// A password session has no provider to sign out of.
	tp := e.tab(t, "")
	tp.open("/signup")
	tp.fill("#email", "pat@example.test")
	tp.fill("#password", "correct horse battery")
	tp.fill("#password_again", "correct horse battery")
	tp.press(`form[action="/signup"] button[type=submit]`)
	tp.wantPath("/account")
	if n := run(tp, chromedp.Evaluate[int](`document.querySelectorAll("button[name=upstream]").length`)); n != 0 {
		t.Error("a password session offers signing out at a provider")
	}
}
