package web_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-id/tether/config"
	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/provider/qq/qqtest"
	"github.com/tether-id/tether/testkit/testclock"
	"github.com/tether-id/tether/testkit/testpeer"
	"github.com/tether-id/tether/testkit/tethertest"
)

var catalogs = map[string]map[string]string{}

// msg is the text of key in lang, formatted, as the pages show it.
func msg(t testing.TB, lang, key string, args ...any) string {
	t.Helper()
	c, ok := catalogs[lang]
	if !ok {
		b, err := os.ReadFile("i18n/" + lang + ".json")
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatal(err)
		}
		catalogs[lang] = c
	}
	s, ok := c[key]
	if !ok {
		t.Fatalf("no %s text for %q", lang, key)
	}
	if len(args) > 0 {
		s = fmt.Sprintf(s, args...)
	}
	return s
}

func wantText(t *testing.T, p page, want ...string) {
	t.Helper()
	got := text(p.body)
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("page (HTTP %d) lacks %q; it says:\n%s", p.status, w, got)
		}
	}
}

func TestPasswordSignUpSignInSignOut(t *testing.T) {
	e := startEnv(t, envOptions{})
	u := e.user(t)

	// Sign-up: mismatched passwords, then a good one.
	u.get("/signup")
	p := u.post("/signup", url.Values{"email": {"ada@example.test"}, "password": {"correct horse"}, "password_again": {"correct hose"}})
	if p.status != http.StatusBadRequest {
		t.Fatalf("mismatch: HTTP %d", p.status)
	}
	wantText(t, p, msg(t, "en", "err_password_mismatch"))
	p = u.post("/signup", url.Values{"email": {"ada@example.test"}, "password": {"short"}, "password_again": {"short"}})
	wantText(t, p, msg(t, "en", "err_password_length", core.MinPasswordLen, core.MaxPasswordLen))
	u.signUp("ada@example.test", "correct horse")
	p = u.follow("/")
	if p.status != http.StatusOK {
		t.Fatalf("account: HTTP %d", p.status)
	}
	wantText(t, p, msg(t, "en", "title_account"), "ada@example.test", msg(t, "en", "password_set"), msg(t, "en", "linked_none"))

	// The same email again.
	v := e.user(t)
	v.get("/signup")
	p = v.post("/signup", url.Values{"email": {"ADA@example.test"}, "password": {"another one"}, "password_again": {"another one"}})
	if p.status != http.StatusConflict {
		t.Fatalf("taken: HTTP %d", p.status)
	}
	wantText(t, p, msg(t, "en", "err_email_taken_signup"))

	// Sign out revokes the refresh chain.
	refresh := cookie(t, u, "tether_refresh")
	u.get("/account")
	p = u.post("/logout", url.Values{})
	if p.status != http.StatusSeeOther || p.loc != "/login?signed_out=1" {
		t.Fatalf("logout: %d %s", p.status, p.loc)
	}
	if _, err := e.svc().Refresh(ctx(t), refresh, core.Client{}); err == nil {
		t.Fatal("the refresh token still works after signing out")
	}
	wantText(t, u.get("/login?signed_out=1"), msg(t, "en", "notice_signed_out"))
	if p := u.get("/account"); p.status != http.StatusSeeOther || !strings.HasPrefix(p.loc, "/login") {
		t.Fatalf("account after sign-out: %d %s", p.status, p.loc)
	}

	// Wrong password, then the right one.
	u.get("/login")
	p = u.post("/login", url.Values{"email": {"ada@example.test"}, "password": {"wrong password"}})
	if p.status != http.StatusUnauthorized {
		t.Fatalf("wrong password: HTTP %d", p.status)
	}
	wantText(t, p, msg(t, "en", "err_wrong_password"))
	if !strings.Contains(p.body, `value="ada@example.test"`) {
		t.Error("the email is not kept after a wrong password")
	}
	u.signIn("ada@example.test", "correct horse")
	wantText(t, u.get("/account"), "ada@example.test")
}

// cookie returns the value of a cookie in u's jar.
func cookie(t *testing.T, u *user, name string) string {
	t.Helper()
	base, _ := url.Parse(u.base)
	for _, c := range u.c.Jar.Cookies(base) {
		if c.Name == name {
			return c.Value
		}
	}
	t.Fatalf("no cookie %s", name)
	return ""
}

func TestSessionCookies(t *testing.T) {
	e := startEnv(t, envOptions{})
	u := e.user(t)
	u.get("/signup")
	p := u.post("/signup", url.Values{"email": {"c@example.test"}, "password": {"correct horse"}, "password_again": {"correct horse"}})
	got := map[string]*http.Cookie{}
	for _, c := range (&http.Response{Header: p.header}).Cookies() {
		got[c.Name] = c
	}
	for _, name := range []string{"tether_access", "tether_refresh", "tether_csrf"} {
		c := got[name]
		if c == nil {
			t.Fatalf("sign-up sets no %s cookie; it sets %v", name, p.header["Set-Cookie"])
		}
		if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure {
			t.Errorf("%s: HttpOnly=%v SameSite=%v Path=%q Secure=%v, want HttpOnly, Lax, /, not Secure on http", name, c.HttpOnly, c.SameSite, c.Path, c.Secure)
		}
	}
	if got["tether_access"].MaxAge <= 0 || got["tether_refresh"].MaxAge <= got["tether_access"].MaxAge {
		t.Errorf("lifetimes: access %d s, refresh %d s", got["tether_access"].MaxAge, got["tether_refresh"].MaxAge)
	}
}

// TestSessionRefresh: an expired access token is replaced server-side
// from the refresh token, once, even when requests race.
func TestSessionRefresh(t *testing.T) {
	e := startEnv(t, envOptions{})
	u := e.user(t)
	u.signUp("r@example.test", "correct horse")
	before := cookie(t, u, "tether_refresh")

	e.clock.Advance(2 * time.Hour) // the access token (1h) has expired
	// Browsers send requests in parallel with the same cookies; all of
	// them must succeed, and the chain must not be taken for stolen.
	var wg sync.WaitGroup
	pages := make([]page, 4)
	for i := range pages {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, u.base+"/account", nil)
			resp, err := u.c.Client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			pages[i] = page{status: resp.StatusCode, header: resp.Header}
		})
	}
	wg.Wait()
	for i, p := range pages {
		if p.status != http.StatusOK {
			t.Fatalf("request %d after expiry: HTTP %d %s", i, p.status, p.header.Get("Location"))
		}
	}
	after := cookie(t, u, "tether_refresh")
	if after == before {
		t.Fatal("the refresh cookie was not rotated")
	}
	if p := u.get("/account"); p.status != http.StatusOK {
		t.Fatalf("after the refresh: HTTP %d", p.status)
	}

	// A revoked session ends: the page says so.
	if err := e.svc().SignOut(ctx(t), after, core.Client{}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Hour)
	p := u.get("/account")
	if p.status != http.StatusSeeOther || p.loc != "/login?expired=1" {
		t.Fatalf("revoked session: %d %s", p.status, p.loc)
	}
	wantText(t, u.get(p.loc), msg(t, "en", "notice_session_expired"))
}

func TestSecurityHeaders(t *testing.T) {
	e := startEnv(t, envOptions{})
	u := e.user(t)
	u.signUp("h@example.test", "correct horse")
	cb := upstream(t, e.zit, u.startProvider("zitadel", true), testpeer.Bob)
	u.follow(cb)
	anon := e.user(t)

	for _, path := range []string{
		"/login", "/signup", "/account", "/account/unlink/zitadel",
		"/?oidc_account_linked=true", "/?oidc_account_linking_error=x",
		"/callback/openid/2?state=nope&code=x", "/callback/openid/1", "/login/qq?state=a",
	} {
		p := u.get(path)
		if path == "/login" || path == "/signup" {
			p = anon.get(path)
		}
		h := p.header
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "style-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe") || strings.Contains(csp, "script-src") {
			t.Errorf("%s: CSP %q allows scripts or unsafe sources", path, csp)
		}
		for k, want := range map[string]string{
			"X-Frame-Options": "DENY", "Referrer-Policy": "same-origin", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
		} {
			if got := h.Get(k); got != want {
				t.Errorf("%s: %s = %q, want %q", path, k, got, want)
			}
		}
		for _, bad := range []string{"<script", " style=", " onclick=", " onload=", "javascript:"} {
			if strings.Contains(strings.ToLower(p.body), bad) {
				t.Errorf("%s: the page holds %q, which the CSP forbids", path, bad)
			}
		}
		if !strings.Contains(p.body, "<html lang=\"en\">") {
			t.Errorf("%s: HTTP %d, not an English page:\n%s", path, p.status, p.body)
		}
	}
}

// TestCSRF: every form refuses posts without this browser's token, and
// cross-site posts even with it.
func TestCSRF(t *testing.T) {
	e := startEnv(t, envOptions{})
	u := e.user(t)
	u.signUp("x@example.test", "correct horse")
	u.get("/account")
	good := u.csrf()
	other := e.user(t)
	other.get("/login")
	foreign := other.csrf()
	anon := anonymousToken(t, u) // a signed-out token for u's browser
	same := http.Header{"Origin": {u.base}, "Sec-Fetch-Site": {"same-origin"}}

	forms := []struct {
		path string
		form url.Values
	}{
		{"/login", url.Values{"email": {"x@example.test"}, "password": {"correct horse"}}},
		{"/signup", url.Values{"email": {"y@example.test"}, "password": {"correct horse"}, "password_again": {"correct horse"}}},
		{"/login/provider", url.Values{"provider": {"zitadel"}}},
		{"/account/link", url.Values{"provider": {"zitadel"}}},
		{"/account/unlink/zitadel", url.Values{}},
		{"/language", url.Values{"lang": {"zh-CN"}, "back": {"/account"}}},
		{"/logout", url.Values{}},
	}
	cases := []struct {
		name   string
		token  string
		header http.Header
	}{
		{"no token", "", same},
		{"token of another browser", foreign, same},
		{"garbage token", "AAAA", same},
		{"cross-site", good, http.Header{"Origin": {"http://evil.example"}, "Sec-Fetch-Site": {"cross-site"}}},
		{"same-site but another origin", good, http.Header{"Sec-Fetch-Site": {"same-site"}}},
		{"foreign Origin without Sec-Fetch-Site", good, http.Header{"Origin": {"http://evil.example"}}},
	}
	for _, f := range forms {
		for _, c := range cases {
			form := url.Values{}
			for k, v := range f.form {
				form[k] = v
			}
			if c.token != "" {
				form.Set("csrf", c.token)
			}
			p := u.postRaw(f.path, form, c.header)
			if p.status != http.StatusForbidden || !strings.Contains(text(p.body), msg(t, "en", "err_csrf")) {
				t.Errorf("%s, %s: HTTP %d %s, want 403 with the expired-form text", f.path, c.name, p.status, p.loc)
			}
		}
	}
	// A signed-out token cannot act for the account.
	for _, path := range []string{"/account/link", "/logout"} {
		p := u.postRaw(path, url.Values{"csrf": {anon}, "provider": {"zitadel"}}, same)
		if p.status != http.StatusForbidden {
			t.Errorf("%s with a signed-out token: HTTP %d", path, p.status)
		}
	}
	// And the account is still signed in: nothing above took effect.
	if p := u.get("/account"); p.status != http.StatusOK {
		t.Fatalf("after the refused posts: HTTP %d", p.status)
	}
	// The good token works.
	if p := u.postRaw("/logout", url.Values{"csrf": {good}}, same); p.status != http.StatusSeeOther {
		t.Fatalf("logout with the right token: HTTP %d\n%s", p.status, p.body)
	}
}

// anonymousToken returns a signed-out form token valid for u's CSRF
// cookie, taken from a page rendered for u's browser without its session.
func anonymousToken(t *testing.T, u *user) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u.base+"/login", nil)
	req.AddCookie(&http.Cookie{Name: "tether_csrf", Value: cookie(t, u, "tether_csrf")})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := csrfRe.FindStringSubmatch(string(b))
	if m == nil {
		t.Fatal("no token on the sign-in page")
	}
	return m[1]
}

// TestNoOpenRedirect: after a password sign-in, the pages go only to
// same-origin paths and allow-listed URLs.
func TestNoOpenRedirect(t *testing.T) {
	e := startEnv(t, envOptions{configure: func(c *config.Config) {
		c.Web.RedirectAllowList = []string{"https://app.example", "https://files.example/drive/"}
	}})
	if _, err := e.svc().CreateUser(ctx(t), core.NewUser{Email: "o@example.test", Password: "correct horse"}, core.AdminCLI); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ redirect, want string }{
		{"/account?tab=1", "/account?tab=1"},
		{"https://app.example/after", "https://app.example/after"},
		{"https://files.example/drive/x", "https://files.example/drive/x"},
		{e.srv.URL + "/account", e.srv.URL + "/account"},
		{"//evil.example", "/account"},
		{"https://evil.example", "/account"},
		{"/\\evil.example", "/account"},
		{"\\\\evil.example", "/account"},
		{"/\t/evil.example", "/account"},
		{"javascript:alert(1)", "/account"},
		{"JaVaScRiPt:alert(1)", "/account"},
		{"data:text/html,hi", "/account"},
		{"https:evil.example", "/account"},
		{"https://app.example@evil.example", "/account"},
		{"https://evil.example/?https://app.example", "/account"},
		{"https://app.example.evil.example/", "/account"},
		{"http://app.example/", "/account"},
		{"https://files.example/drivex", "/account"},
		{"https://files.example/drive/../admin", "/account"},
		{"https://files.example/drive/%2e%2e/admin", "/account"},
		{"evil.example", "/account"},
	} {
		u := e.user(t)
		u.get("/login?redirect=" + url.QueryEscape(c.redirect))
		p := u.post("/login", url.Values{"email": {"o@example.test"}, "password": {"correct horse"}, "redirect": {c.redirect}})
		if p.status != http.StatusSeeOther || p.loc != c.want {
			t.Errorf("redirect=%q: %d to %q, want %q", c.redirect, p.status, p.loc, c.want)
		}
		// Signed in, the sign-in page forwards at once, by the same rule.
		if p := u.get("/login?redirect=" + url.QueryEscape(c.redirect)); p.loc != c.want {
			t.Errorf("signed in, redirect=%q: to %q, want %q", c.redirect, p.loc, c.want)
		}
	}
	// The language switch goes back to same-origin paths only.
	u := e.user(t)
	u.get("/login")
	for _, back := range []string{"//evil.example", "https://evil.example", "/\\evil.example"} {
		u.get("/login")
		if p := u.post("/language", url.Values{"lang": {"en"}, "back": {back}}); p.loc != "/" {
			t.Errorf("language back=%q: to %q", back, p.loc)
		}
	}
}

func TestLanguage(t *testing.T) {
	e := startEnv(t, envOptions{})
	for _, c := range []struct{ accept, lang string }{
		{"", "en"},
		{"zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"},
		{"zh-TW", "zh-CN"},
		{"fr-FR,fr;q=0.9,en;q=0.5,zh;q=0.4", "en"},
		{"fr, zh;q=0.5", "zh-CN"},
		{"de", "en"},
	} {
		u := e.user(t)
		if c.accept != "" {
			u.header.Set("Accept-Language", c.accept)
		}
		p := u.get("/login")
		if !strings.Contains(p.body, `<html lang="`+c.lang+`">`) {
			t.Errorf("Accept-Language %q: not %s", c.accept, c.lang)
		}
		wantText(t, p, msg(t, c.lang, "title_login"), msg(t, c.lang, "login_lead"))
	}

	// The switch wins over Accept-Language and is remembered.
	u := e.user(t)
	u.header.Set("Accept-Language", "en-GB")
	u.get("/signup")
	p := u.post("/language", url.Values{"lang": {"zh-CN"}, "back": {"/signup"}})
	if p.status != http.StatusSeeOther || p.loc != "/signup" {
		t.Fatalf("switch: %d %s", p.status, p.loc)
	}
	wantText(t, u.get("/signup"), msg(t, "zh-CN", "title_signup"), msg(t, "zh-CN", "password_hint", core.MinPasswordLen))
	u.post("/language", url.Values{"lang": {"en"}, "back": {"/signup"}})
	wantText(t, u.get("/signup"), msg(t, "en", "title_signup"))
}

// TestCallbackErrors finishes flows at the real zitadel OP in ways that
// fail, and checks each failure's page.
func TestCallbackErrors(t *testing.T) {
	e := startEnv(t, envOptions{})
	en := func(key string, args ...any) string { return msg(t, "en", key, args...) }

	t.Run("another browser", func(t *testing.T) {
		u, thief := e.user(t), e.user(t)
		cb := upstream(t, e.zit, u.startProvider("zitadel", false), testpeer.Alice)
		p := thief.get(cb)
		if p.status != http.StatusBadRequest {
			t.Fatalf("HTTP %d", p.status)
		}
		wantText(t, p, en("title_signin_failed"), en("callback_signin", "Zitadel"), en("err_flow_other_browser"))
	})
	t.Run("used twice", func(t *testing.T) {
		u := e.user(t)
		cb := upstream(t, e.zit, u.startProvider("zitadel", false), testpeer.Alice)
		if p := u.get(cb); p.status != http.StatusSeeOther || p.loc != "/account" {
			t.Fatalf("first use: %d %s\n%s", p.status, p.loc, p.body)
		}
		wantText(t, u.get(cb), en("title_callback_failed"), en("err_flow_expired"))
	})
	t.Run("another provider's callback", func(t *testing.T) {
		u := e.user(t)
		cb := upstream(t, e.zit, u.startProvider("zitadel", false), testpeer.Alice)
		wrong := strings.Replace(cb, "/callback/openid/2", "/callback/openid/strict", 1)
		wantText(t, u.get(wrong), en("err_flow_other_provider"))
	})
	t.Run("cancelled at the provider", func(t *testing.T) {
		u := e.user(t)
		auth, _ := url.Parse(u.startProvider("zitadel", false))
		p := u.get("/callback/openid/2?error=access_denied&error_description=user+said+no&state=" + auth.Query().Get("state"))
		wantText(t, p, en("title_signin_failed"), en("err_cancelled"))
	})
	t.Run("provider error", func(t *testing.T) {
		u := e.user(t)
		auth, _ := url.Parse(u.startProvider("zitadel", false))
		p := u.get("/callback/openid/2?error=server_error&state=" + auth.Query().Get("state"))
		wantText(t, p, en("err_invalid_credential"), en("details"), "server_error")
	})
	t.Run("malformed", func(t *testing.T) {
		u := e.user(t)
		wantText(t, u.get("/callback/openid/2?code=a&code=b&state=s"), en("err_bad_callback"))
		wantText(t, u.get("/login/qq?code=a"), en("err_unknown_callback")) // no QQ provider here
		p := u.get("/callback/openid/1?code=a&state=s")
		if p.status != http.StatusNotFound {
			t.Errorf("unknown callback: HTTP %d", p.status)
		}
		wantText(t, p, en("title_not_found"), en("err_unknown_callback"))
	})
	t.Run("not linked, no direct sign-in", func(t *testing.T) {
		u := e.user(t)
		cb := upstream(t, e.zit, u.startProvider("strict", false), testpeer.Bob)
		wantText(t, u.get(cb), en("callback_signin", "Strict SSO"), en("err_identity_not_linked"))
	})
	t.Run("email taken", func(t *testing.T) {
		if _, err := e.svc().CreateUser(ctx(t), core.NewUser{Email: testpeer.Bob.Email, Password: "correct horse"}, core.AdminCLI); err != nil {
			t.Fatal(err)
		}
		u := e.user(t)
		p := u.get(upstream(t, e.zit, u.startProvider("zitadel", false), testpeer.Bob))
		if p.status != http.StatusConflict {
			t.Fatalf("HTTP %d", p.status)
		}
		wantText(t, p, en("err_email_taken"))
	})
	t.Run("linking", func(t *testing.T) {
		owner := e.user(t)
		owner.signUp("owner@example.test", "correct horse")
		wantText(t, owner.follow(upstream(t, e.zit, owner.startProvider("zitadel", true), testpeer.Bob)), en("notice_linked", "Zitadel"))

		// Already has this provider: refused before leaving tether.
		owner.get("/account")
		p := owner.post("/account/link", url.Values{"provider": {"zitadel"}})
		if p.status != http.StatusConflict {
			t.Fatalf("second link: HTTP %d %s", p.status, p.loc)
		}
		wantText(t, p, en("err_provider_linked"))

		// Bob's identity is taken by owner.
		other := e.user(t)
		other.signUp("other@example.test", "correct horse")
		p = other.get(upstream(t, e.zit, other.startProvider("zitadel", true), testpeer.Bob))
		wantText(t, p, en("title_link_failed"), en("callback_link", "Zitadel"), en("err_identity_taken"))

		// A link started by one account, finished by another.
		auth := other.startProvider("strict", true)
		other.get("/account")
		other.post("/logout", url.Values{})
		other.signIn("owner@example.test", "correct horse")
		p = other.get(upstream(t, e.zit, auth, testpeer.Alice))
		wantText(t, p, en("err_flow_other_account"))
	})
	t.Run("banned and inactive", func(t *testing.T) {
		for _, status := range []core.Status{core.StatusManualBanned, core.StatusInactive} {
			u := e.user(t)
			u.signUp(string(status)+"@example.test", "correct horse")
			u.follow(upstream(t, e.zit, u.startProvider("strict", true), testpeer.Alice))
			id := accountID(t, e, string(status)+"@example.test")
			if _, err := e.svc().UpdateUser(ctx(t), id, func(x *core.User) error { x.Status = status; return nil }, core.AdminCLI); err != nil {
				t.Fatal(err)
			}
			v := e.user(t)
			p := v.get(upstream(t, e.zit, v.startProvider("strict", false), testpeer.Alice))
			key := "err_banned"
			if status == core.StatusInactive {
				key = "err_inactive"
			}
			wantText(t, p, en(key))
			if _, err := e.svc().UpdateUser(ctx(t), id, func(x *core.User) error { x.Status = core.StatusActive; return nil }, core.AdminCLI); err != nil {
				t.Fatal(err)
			}
			if err := e.svc().Unlink(ctx(t), id, "strict", core.Client{}); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func accountID(t *testing.T, e *env, email string) string {
	t.Helper()
	u, err := e.svc().UserByEmail(ctx(t), email)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// TestUpstreamDown: a provider that cannot be reached is an error on the
// sign-in page, not a redirect into nowhere.
func TestUpstreamDown(t *testing.T) {
	e := startEnv(t, envOptions{configure: func(c *config.Config) {
		c.Providers = append(c.Providers, config.Provider{ID: "down", Kind: config.KindOIDC, Name: "Down", Enabled: true,
			Issuer: "http://127.0.0.1:1/", ClientID: "x", ClientSecret: "y", DirectSignIn: true})
	}})
	u := e.user(t)
	u.get("/login")
	p := u.post("/login/provider", url.Values{"provider": {"down"}})
	if p.status != http.StatusBadGateway {
		t.Fatalf("HTTP %d %s", p.status, p.loc)
	}
	wantText(t, p, msg(t, "en", "title_login"), msg(t, "en", "err_upstream"))
}

// TestVersiaLanding shows the result the Versia callback redirects with;
// its free text is quoted, never taken as tether's own words.
func TestVersiaLanding(t *testing.T) {
	e := startEnv(t, envOptions{})
	u := e.user(t)
	p := u.get("/?oidc_account_linked=true")
	if p.status != http.StatusOK {
		t.Fatalf("HTTP %d", p.status)
	}
	wantText(t, p, msg(t, "en", "title_linked"), msg(t, "en", "versia_linked"), msg(t, "en", "action_account"))
	p = u.get("/?oidc_account_linking_error=Account+already+linked&oidc_account_linking_error_message=" + url.QueryEscape("<b>This account</b> is linked"))
	if p.status != http.StatusBadRequest {
		t.Fatalf("HTTP %d", p.status)
	}
	wantText(t, p, msg(t, "en", "title_link_failed"), msg(t, "en", "quote_caption"), "Account already linked", "<b>This account</b> is linked")
	if strings.Contains(p.body, "<b>This") {
		t.Error("the query's text is not escaped")
	}
	if p := u.get("/"); p.status != http.StatusSeeOther || p.loc != "/login" {
		t.Errorf("/ signed out: %d %s", p.status, p.loc)
	}
}

// TestCallbackIssuer: tether's callback pages see the real query, so an OP
// that advertises RFC 9207 (panva does) must send iss: a callback without
// it, or with another issuer, is refused.
func TestCallbackIssuer(t *testing.T) {
	e := startEnv(t, envOptions{panva: true})
	for _, c := range []struct {
		name string
		edit func(url.Values)
	}{
		{"no iss", func(q url.Values) { q.Del("iss") }},
		{"another issuer", func(q url.Values) { q.Set("iss", e.zit.Issuer) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			u := e.user(t)
			cb, err := url.Parse(upstream(t, e.panva, u.startProvider("logto", false), testpeer.Alice))
			if err != nil {
				t.Fatal(err)
			}
			q := cb.Query()
			if q.Get("iss") != e.panva.Issuer {
				t.Fatalf("panva sent iss %q", q.Get("iss"))
			}
			c.edit(q)
			cb.RawQuery = q.Encode()
			p := u.get(cb.String())
			if p.status != http.StatusBadRequest {
				t.Fatalf("HTTP %d %s", p.status, p.loc)
			}
			wantText(t, p, msg(t, "en", "title_signin_failed"), msg(t, "en", "err_invalid_credential"), "issuer")
		})
	}
	// With iss as sent, the same flow signs in.
	u := e.user(t)
	p := u.get(upstream(t, e.panva, u.startProvider("logto", false), testpeer.Alice))
	if p.status != http.StatusSeeOther || p.loc != "/account" {
		t.Fatalf("with iss: %d %s\n%s", p.status, p.loc, p.body)
	}
}

func TestSignUpDisabled(t *testing.T) {
	e := startEnv(t, envOptions{configure: func(c *config.Config) { c.Registration.Password = false }})
	u := e.user(t)
	if p := u.get("/login"); strings.Contains(p.body, `href="/signup`) {
		t.Error("the sign-in page links to a closed sign-up")
	}
	p := u.get("/signup")
	if p.status != http.StatusNotFound {
		t.Fatalf("GET /signup: HTTP %d", p.status)
	}
	wantText(t, p, msg(t, "en", "err_signup_disabled"))
	u.get("/login")
	p = u.post("/signup", url.Values{"email": {"n@example.test"}, "password": {"correct horse"}, "password_again": {"correct horse"}})
	if p.status != http.StatusNotFound {
		t.Fatalf("POST /signup: HTTP %d", p.status)
	}
	wantText(t, p, msg(t, "en", "err_signup_disabled"))
}

// TestQQCallback: the first QQ provider's redirect URI is Cloudreve's
// legacy /login/qq, served by these pages (with the fake QQ Connect).
func TestQQCallback(t *testing.T) {
	var fake *qqtest.Server
	e := &env{clock: testclock.Running()}
	e.srv = tethertest.Start(t, tethertest.Options{Providers: func(pub string) []config.Provider {
		fake = qqtest.NewServer(t, "101", "qq-app-key")
		fake.RegisterRedirectURI(pub + "/login/qq")
		ep := fake.Endpoints()
		return []config.Provider{{ID: "qq", Kind: config.KindQQ, Name: "QQ", Enabled: true, ClientID: "101", ClientSecret: "qq-app-key",
			Key: "openid", DirectSignIn: true,
			Endpoints: config.Endpoints{Authorize: ep.Authorize, Token: ep.Token, Me: ep.Me, UserInfo: ep.UserInfo}}}
	}})
	fake.SignInAs(fake.AddUser("小明"))
	u := e.user(t)
	auth := u.startProvider("qq", false)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(auth) // the fake authorizes at once
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cb := resp.Header.Get("Location")
	if !strings.HasPrefix(cb, e.srv.URL+"/login/qq?") {
		t.Fatalf("QQ sent the browser to %q", cb)
	}
	p := u.get(cb)
	if p.status != http.StatusSeeOther || p.loc != "/account" {
		t.Fatalf("callback: %d %s\n%s", p.status, p.loc, p.body)
	}
	wantText(t, u.get("/account"), "QQ", "小明", msg(t, "en", "guard_note"))
	// The QQ page's error: a used code.
	wantText(t, u.get(cb), msg(t, "en", "err_flow_expired"))
}

// TestRateLimited: over the per-IP limit, the sign-in routes answer with
// a page that says so.
func TestRateLimited(t *testing.T) {
	e := startEnv(t, envOptions{configure: func(c *config.Config) {
		c.RateLimit.Enabled, c.RateLimit.PerIPPerMinute = true, 2
	}})
	u := e.user(t)
	var p page
	for range 3 {
		u.get("/login")
		p = u.post("/login", url.Values{"email": {"nobody@example.test"}, "password": {"whatever1"}})
	}
	if p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") == "" {
		t.Fatalf("HTTP %d, Retry-After %q", p.status, p.header.Get("Retry-After"))
	}
	wantText(t, p, msg(t, "en", "err_rate_limited"))
}

// TestAccountLockout: wrong passwords for one email lock its password
// sign-in out for a while, on the page as on the Cloudreve API (one
// budget), the same for an email no account has; the lock-out refuses
// even the right password, and ends.
func TestAccountLockout(t *testing.T) {
	e := startEnv(t, envOptions{configure: func(c *config.Config) {
		c.RateLimit.Enabled, c.RateLimit.PerIPPerMinute = true, 1000
		c.RateLimit.PerAccountFailures = 2
	}})
	e.srv.CreateUser(t, "locked@example.test", "right-password", true)
	for _, email := range []string{"locked@example.test", "nobody@example.test"} {
		u := e.user(t)
		u.get("/login")
		for range 2 {
			if p := u.post("/login", url.Values{"email": {email}, "password": {"wrong-password"}}); p.status != http.StatusUnauthorized {
				t.Fatalf("%s: wrong password: HTTP %d", email, p.status)
			}
		}
		p := u.post("/login", url.Values{"email": {strings.ToUpper(email)}, "password": {"right-password"}})
		if p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") != "60" {
			t.Fatalf("%s: third attempt: HTTP %d, Retry-After %q; want 429 and 60", email, p.status, p.header.Get("Retry-After"))
		}
		wantText(t, p, msg(t, "en", "err_rate_limited"))
		if env := e.srv.Client(t).Cloudreve("POST", "/api/v4/session/token", map[string]string{"email": email, "password": "right-password"}, ""); env.Code != 429 {
			t.Fatalf("%s: Cloudreve sign-in during the page's lock-out: %s", email, env.Raw)
		}
	}
	e.clock.Advance(time.Minute)
	u := e.user(t)
	u.signIn("locked@example.test", "right-password")
}
