package web_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/tether-id/tether/api"
	"github.com/tether-id/tether/app"
	"github.com/tether-id/tether/config"
	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/demo"
	"github.com/tether-id/tether/testkit/testenv"
	"github.com/tether-id/tether/testkit/testpeer"
	"github.com/tether-id/tether/testkit/tethertest"
)

// One Chromium per test binary; each test gets its own tab in its own
// browser context (an incognito-like profile: no shared cookies).
var chrome struct {
	once   sync.Once
	ctx    context.Context
	cancel func()
	dir    string
	err    error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if chrome.cancel != nil {
		chrome.cancel()
	}
	if chrome.dir != "" {
		os.RemoveAll(chrome.dir)
	}
	os.Exit(code)
}

func browser(t *testing.T) context.Context {
	t.Helper()
	exe := testenv.Need(t, testenv.Chromium)
	chrome.once.Do(func() {
		dir, err := os.MkdirTemp("", "tether-chromium-")
		if err != nil {
			chrome.err = err
			return
		}
		chrome.dir = dir
		opts := append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(exe),
			chromedp.Headless,
			chromedp.NoSandbox,
			chromedp.DisableGPU,
			chromedp.Flag("disable-dev-shm-usage", true),
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true),
			chromedp.NoFirstRun,
			chromedp.UserDataDir(dir),
			chromedp.WindowSize(desktopWidth, desktopHeight),
		)
		alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, cancelCtx := chromedp.NewContext(alloc)
		chrome.ctx, chrome.cancel = ctx, func() { cancelCtx(); cancelAlloc() }
		chrome.err = chromedp.Do(ctx) // starts the browser
	})
	if chrome.err != nil {
		t.Fatalf("starting chromium %s: %v", exe, chrome.err)
	}
	return chrome.ctx
}

const (
	desktopWidth, desktopHeight = 1280, 800
	phoneWidth, phoneHeight     = 390, 844
)

// tab is one browser tab on a tether.
type tab struct {
	t    *testing.T
	ctx  context.Context
	base string

	mu      sync.Mutex
	console []chromedp.ConsoleMessage
}

func (e *env) tab(t *testing.T, acceptLanguage string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser(t), chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("new tab: %v", err)
	}
	tb := &tab{t: t, base: e.srv.URL}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			tb.mu.Lock()
			tb.console = append(tb.console, m)
			tb.mu.Unlock()
		}
	}()
	headers := network.Headers{"Accept-Language": "en-US,en;q=0.9"}
	if acceptLanguage != "" {
		headers["Accept-Language"] = acceptLanguage
	}
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: headers}); err != nil {
		t.Fatal(err)
	}
	// A safety net against a hung browser, not a measurement.
	tctx, tcancel := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(tcancel)
	tb.ctx = tctx
	t.Cleanup(tb.checkConsole)
	return tb
}

// checkConsole fails the test for any problem the browser reported on
// tether's pages: a blocked resource (CSP), a failed load, a script error.
func (tb *tab) checkConsole() {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for _, m := range tb.console {
		if !strings.HasPrefix(m.URL, tb.base) && !strings.Contains(m.Text, tb.base) {
			continue // the OPs' pages are not ours to judge
		}
		// An error page is loaded with its error status; the browser
		// notes that, and it is what the page means to do.
		if strings.HasPrefix(m.Text, "Failed to load resource: the server responded with a status of 4") && !strings.Contains(m.URL, "/assets/") {
			continue
		}
		if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning || m.IsException() {
			tb.t.Errorf("browser console on tether's pages: %s (%s)", m, m.URL)
		}
	}
}

func (tb *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, actions...); err != nil {
		tb.t.Fatalf("browser: %v", err)
	}
}

func run[T any](tb *tab, a chromedp.Action[T]) T {
	tb.t.Helper()
	v, err := chromedp.Run(tb.ctx, a)
	if err != nil {
		tb.t.Fatalf("browser: %v", err)
	}
	return v
}

func (tb *tab) open(path string) {
	tb.t.Helper()
	tb.do(chromedp.Navigate(tb.base+path), chromedp.WaitReady(chromedp.CSS("body")))
}

// press clicks an element that navigates, and waits for the new page.
func (tb *tab) press(sel string) {
	tb.t.Helper()
	if _, err := chromedp.RunResponse(tb.ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		tb.t.Fatalf("click %s: %v", sel, err)
	}
	tb.do(chromedp.WaitReady(chromedp.CSS("body")))
}

func (tb *tab) fill(sel, value string) {
	tb.t.Helper()
	tb.do(chromedp.SetValue(chromedp.CSS(sel), value))
}

func (tb *tab) location() string { return run(tb, chromedp.Location()) }

func (tb *tab) text() string {
	return run(tb, chromedp.Evaluate[string](`document.body.innerText`))
}

// want checks that the page shows every string.
func (tb *tab) want(ss ...string) {
	tb.t.Helper()
	got := tb.text()
	for _, s := range ss {
		if !strings.Contains(got, s) {
			tb.t.Errorf("%s does not show %q; it shows:\n%s", tb.location(), s, got)
		}
	}
}

func (tb *tab) wantPath(prefix string) {
	tb.t.Helper()
	if loc := tb.location(); !strings.HasPrefix(loc, tb.base+prefix) {
		tb.t.Fatalf("at %s, want %s%s; the page shows:\n%s", loc, tb.base, prefix, tb.text())
	}
}

// shoot saves the page at desktop and phone width under
// $TETHERTEST_OUTPUT/web/, after checking what a person would notice
// first: nothing wider than the screen, no broken image.
func (tb *tab) shoot(name string) {
	tb.t.Helper()
	for _, s := range []struct {
		suffix string
		w, h   int64
		opts   []chromedp.EmulateViewportOption
	}{
		{"desktop", desktopWidth, desktopHeight, nil},
		{"phone", phoneWidth, phoneHeight, []chromedp.EmulateViewportOption{chromedp.EmulateMobile}},
	} {
		tb.do(chromedp.EmulateViewport(s.w, s.h, s.opts...))
		if over := run(tb, chromedp.Evaluate[int](`document.documentElement.scrollWidth - document.documentElement.clientWidth`)); over > 0 {
			tb.t.Errorf("%s at %dpx: the page is %dpx wider than the screen", name, s.w, over)
		}
		broken := run(tb, chromedp.Evaluate[[]string](`[...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)`))
		if len(broken) > 0 {
			tb.t.Errorf("%s: broken images %v", name, broken)
		}
		png := run(tb, chromedp.FullScreenshot(100))
		tethertest.WriteArtifact(tb.t, fmt.Sprintf("web/%s-%s.png", name, s.suffix), png)
	}
	tb.do(chromedp.EmulateViewport(desktopWidth, desktopHeight))
}

// opLogin signs in on an OP's own login page (zitadel's or panva's) and
// accepts panva's consent page, until the browser is back on tether.
func (tb *tab) opLogin(u testpeer.User) {
	tb.t.Helper()
	tb.do(chromedp.WaitVisible(chromedp.CSS(`input[type=password]`)))
	tb.fill(`input[name=login], input[name=username]`, u.Login)
	tb.fill(`input[type=password]`, u.Password)
	tb.press(`form:has(input[type=password]) [type=submit]`)
	for range 5 {
		if strings.HasPrefix(tb.location(), tb.base) {
			return
		}
		tb.press(`form [type=submit]`) // panva's consent page
	}
	tb.t.Fatalf("not back on tether after signing in at the OP: %s\n%s", tb.location(), tb.text())
}

// focusOrder tabs through the page from the top and returns a line per
// focused element, failing for any without a visible focus outline.
func (tb *tab) focusOrder(n int) []string {
	tb.t.Helper()
	tb.do(chromedp.Evaluate[chromedp.Void](`document.activeElement && document.activeElement.blur(); window.getSelection().removeAllRanges()`))
	var out []string
	for range n {
		tb.do(chromedp.KeyEvent("\t"))
		d := run(tb, chromedp.Evaluate[[]string](`(() => {
			const e = document.activeElement, s = getComputedStyle(e), c = e.cloneNode(true);
			c.querySelectorAll("[aria-hidden=true]").forEach(h => h.remove());
			return [e.tagName.toLowerCase(), e.name || e.id || "", c.textContent || e.value || "", s.outlineStyle, s.outlineWidth];
		})()`))
		if d[3] == "none" || d[4] == "0px" {
			tb.t.Errorf("focused %v has no visible outline", d)
		}
		out = append(out, strings.Join(strings.Fields(d[0]+" "+d[1]+" "+d[2]), " "))
	}
	return out
}

func TestBrowserPasswordAndKeyboard(t *testing.T) {
	e := startEnv(t, envOptions{})
	tb := e.tab(t, "")
	en := func(key string, args ...any) string { return msg(t, "en", key, args...) }

	tb.open("/")
	tb.wantPath("/login")
	tb.want(en("title_login"), en("continue_with", "Zitadel"), en("continue_with", "Strict SSO"), en("create_account"))
	tb.shoot("login")

	tb.press(`a[href^="/signup"]`)
	tb.wantPath("/signup")
	tb.shoot("signup")
	tb.fill("#email", "ada@example.test")
	tb.fill("#password", "correct horse battery")
	tb.fill("#password_again", "correct horse battery!")
	tb.press(`form[action="/signup"] button[type=submit]`)
	tb.want(en("err_password_mismatch"))
	tb.shoot("signup-error")
	tb.fill("#password", "correct horse battery")
	tb.fill("#password_again", "correct horse battery")
	tb.press(`form[action="/signup"] button[type=submit]`)
	tb.wantPath("/account")
	tb.want(en("title_account"), "ada@example.test", en("password_set"), en("linked_none"), en("link_with", "Zitadel"))
	tb.shoot("account-password")

	tb.press(`form[action="/logout"] button`)
	tb.wantPath("/login")
	tb.want(en("notice_signed_out"))
	tb.shoot("login-signed-out")

	tb.fill("#email", "ada@example.test")
	tb.fill("#password", "not the password")
	tb.press(`form[action="/login"] button[type=submit]`)
	tb.want(en("err_wrong_password"))
	tb.shoot("login-error")

	// Keyboard only: the focus order follows the page, every stop shows
	// its focus, and typing plus Enter signs in.
	tb.open("/login")
	order := tb.focusOrder(9)
	want := []string{"a tether", "button lang English", "button lang 简体中文",
		"button provider " + en("continue_with", "Zitadel"), "button provider " + en("continue_with", "Strict SSO"),
		"input email", "input password", "button " + en("sign_in"), "a " + en("create_account")}
	for i := range want {
		if i >= len(order) || order[i] != want[i] {
			t.Errorf("focus stop %d: %q, want %q (order %q)", i, order[min(i, len(order)-1)], want[i], order)
		}
	}
	tb.do(chromedp.Focus(chromedp.CSS("#email")), chromedp.KeyEvent("ada@example.test\tcorrect horse battery"))
	if _, err := chromedp.RunResponse(tb.ctx, chromedp.KeyEvent("\r")); err != nil {
		t.Fatal(err)
	}
	tb.do(chromedp.WaitReady(chromedp.CSS("body")))
	tb.wantPath("/account")
	tb.want("ada@example.test")
}

// TestBrowserMessages: the pages that only say something.
func TestBrowserMessages(t *testing.T) {
	e := startEnv(t, envOptions{})
	tb := e.tab(t, "")
	en := func(key string, args ...any) string { return msg(t, "en", key, args...) }

	tb.open("/?oidc_account_linked=true")
	tb.want(en("title_linked"), en("versia_linked"), en("action_account"))
	tb.shoot("versia-linked")
	tb.open("/?oidc_account_linking_error=Account+already+linked&oidc_account_linking_error_message=" +
		"This+account+has+already+been+linked+to+this+OpenID+Connect+provider.")
	tb.want(en("title_link_failed"), en("versia_link_failed"), "Account already linked")
	tb.shoot("versia-error")
	tb.press(`a[href="/account"]`)
	tb.wantPath("/login")

	tb.open("/callback/openid/1?code=x&state=y")
	tb.want(en("title_not_found"), en("err_unknown_callback"))
	tb.shoot("callback-unknown")

	tb.open("/login")
	state := tb.pressToProvider(`button[value=zitadel]`)
	tb.open("/callback/openid/2?error=access_denied&state=" + state)
	tb.want(en("title_signin_failed"), en("callback_signin", "Zitadel"), en("err_cancelled"), en("action_login_again"))
	tb.shoot("callback-cancelled")
}

// TestBrowserExpiredFlow: a sign-in finished after the flow's lifetime
// ends on a page that says so.
func TestBrowserExpiredFlow(t *testing.T) {
	e := startEnv(t, envOptions{})
	tb := e.tab(t, "")
	tb.open("/login")
	tb.press(`button[value=zitadel]`)
	e.clock.Advance(e.srv.Config.Flows.TTL.D() + time.Minute)
	tb.opLogin(testpeer.Alice)
	tb.wantPath("/callback/openid/2")
	tb.want(msg(t, "en", "title_callback_failed"), msg(t, "en", "err_flow_expired"), msg(t, "en", "action_login_again"))
	tb.shoot("callback-expired")
	tb.press(`main a.button`)
	tb.wantPath("/login")
}

// TestBrowserProviders signs in through panva's oidc-provider (as Logto)
// on its real login and consent pages, links zitadel from the account
// page, unlinks it, and meets the last-method guard before and after.
func TestBrowserProviders(t *testing.T) {
	e := startEnv(t, envOptions{panva: true})
	tb := e.tab(t, "")
	en := func(key string, args ...any) string { return msg(t, "en", key, args...) }

	tb.open("/login")
	tb.want(en("continue_with", "Logto"), en("continue_with", "Zitadel"))
	tb.shoot("login-three-providers")
	tb.press(`button[value=logto]`)
	if strings.HasPrefix(tb.location(), tb.base) {
		t.Fatalf("still on tether: %s\n%s", tb.location(), tb.text())
	}
	tb.opLogin(testpeer.Alice)
	tb.wantPath("/account")
	tb.want(testpeer.Alice.Email, "Logto", testpeer.Alice.Name, en("password_none"), en("guard_note"))
	tb.shoot("account-logto")

	// Before: the confirmation step explains the guard and offers no
	// unlink button.
	tb.press(`a[href="/account/unlink/logto"]`)
	tb.want(en("title_unlink", "Logto"), en("guard_title"), en("guard_explain", "Logto"))
	if n := run(tb, chromedp.Evaluate[int](`document.querySelectorAll("button.danger").length`)); n != 0 {
		t.Error("the guard page offers an unlink button")
	}
	tb.shoot("unlink-guard")
	tb.press(`a[href="/account#link"]`)

	// Link zitadel.
	tb.press(`form[action="/account/link"] button[value=zitadel]`)
	tb.opLogin(testpeer.Alice)
	tb.wantPath("/account?linked=zitadel")
	tb.want(en("notice_linked", "Zitadel"), "Zitadel", "Logto")
	if strings.Contains(tb.text(), en("guard_note")) {
		t.Error("the guard note is still shown with two linked accounts")
	}
	tb.shoot("account-two-linked")

	// Unlink it again, through the confirmation step.
	tb.press(`a[href="/account/unlink/zitadel"]`)
	tb.want(en("title_unlink", "Zitadel"), en("unlink_explain", "Zitadel"))
	tb.shoot("unlink-confirm")
	tb.press(`button.danger`)
	tb.wantPath("/account?unlinked=zitadel")
	tb.want(en("notice_unlinked", "Zitadel"), en("guard_note"))

	// After: link zitadel, open the confirmation for Logto, lose zitadel
	// meanwhile (another tab, an admin), then confirm: refused, and said.
	tb.press(`form[action="/account/link"] button[value=zitadel]`)
	tb.opLogin(testpeer.Alice)
	tb.press(`a[href="/account/unlink/logto"]`)
	id := accountID(t, e, testpeer.Alice.Email)
	if err := e.svc().Unlink(ctx(t), id, "zitadel", core.Client{}); err != nil {
		t.Fatal(err)
	}
	tb.press(`button.danger`)
	tb.want(en("err_last_sign_in_method_named", "Logto"), "Logto")
	tb.shoot("unlink-refused")

	tb.press(`form[action="/logout"] button`)
	tb.wantPath("/login")
}

// TestBrowserChinese renders every page in Simplified Chinese, chosen by
// Accept-Language, checks that no English text of the pages is left, and
// switches back to English with the switch.
func TestBrowserChinese(t *testing.T) {
	e := startEnv(t, envOptions{})
	tb := e.tab(t, "zh-CN,zh;q=0.9")
	zh := func(key string, args ...any) string { return msg(t, "zh-CN", key, args...) }
	english := englishTexts(t)
	noEnglish := func(where string) {
		t.Helper()
		if got := run(tb, chromedp.Evaluate[string](`document.documentElement.lang`)); got != "zh-CN" {
			t.Errorf("%s: lang %q", where, got)
		}
		page := tb.text()
		for _, s := range english {
			if strings.Contains(page, s) {
				t.Errorf("%s: English text %q on the Chinese page:\n%s", where, s, page)
			}
		}
	}

	tb.open("/login")
	tb.want(zh("title_login"), zh("continue_with", "Zitadel"), zh("create_account"))
	noEnglish("login")
	tb.shoot("zh-login")

	tb.press(`a[href^="/signup"]`)
	noEnglish("signup")
	tb.shoot("zh-signup")
	tb.fill("#email", "li@example.test")
	tb.fill("#password", "short")
	tb.fill("#password_again", "short")
	tb.do(chromedp.Evaluate[chromedp.Void](`document.querySelectorAll("input").forEach(i => i.removeAttribute("minlength"))`))
	tb.press(`form[action="/signup"] button[type=submit]`)
	tb.want(zh("err_password_length", 8, 128))
	noEnglish("signup error")
	tb.shoot("zh-signup-error")
	tb.fill("#password", "正确的马电池钉书针")
	tb.fill("#password_again", "正确的马电池钉书针")
	tb.press(`form[action="/signup"] button[type=submit]`)
	tb.wantPath("/account")
	tb.want(zh("title_account"), "li@example.test", zh("linked_none"), zh("link_with", "Zitadel"))
	noEnglish("account")
	tb.shoot("zh-account")

	tb.press(`form[action="/account/link"] button[value=zitadel]`)
	tb.opLogin(testpeer.Bob)
	tb.want(zh("notice_linked", "Zitadel"), strings.TrimSpace(zh("linked_on", "")))
	noEnglish("account linked")
	tb.shoot("zh-account-linked")
	tb.press(`a[href="/account/unlink/zitadel"]`)
	tb.want(zh("title_unlink", "Zitadel"), zh("unlink_explain", "Zitadel"))
	noEnglish("unlink")
	tb.shoot("zh-unlink-confirm")

	tb.open("/?oidc_account_linking_error=x")
	tb.want(zh("title_link_failed"), zh("quote_caption"))
	noEnglish("versia landing")
	tb.shoot("zh-versia-error")

	tb.open("/callback/openid/2?code=x&state=expired-or-unknown")
	tb.want(zh("err_flow_expired"))
	noEnglish("callback error")
	tb.shoot("zh-callback-error")

	// The switch: English, kept across pages, whatever the browser asks.
	tb.press(`button[name=lang][value=en]`)
	tb.wantPath("/account")
	tb.want(msg(t, "en", "title_account"))
	tb.open("/signup")
	tb.wantPath("/account") // signed in
	tb.want(msg(t, "en", "title_account"))
}

// englishTexts are the English texts of the catalog that the Chinese
// catalog does not share, cut at their format verbs: none may appear on
// a Chinese page.
func englishTexts(t *testing.T) []string {
	var out []string
	msg(t, "en", "app_name")
	msg(t, "zh-CN", "app_name")
	for k, v := range catalogs["en"] {
		if k == "date_format" || catalogs["zh-CN"][k] == v {
			continue
		}
		for part := range strings.SplitSeq(v, "%") {
			part = strings.TrimSpace(strings.TrimLeft(part, "sd[]0123456789"))
			if len(part) >= 6 {
				out = append(out, part)
			}
		}
	}
	return out
}

// pressToProvider presses a button that starts a flow and returns the
// state of the authorization request the browser was sent to.
func (tb *tab) pressToProvider(sel string) string {
	tb.t.Helper()
	ctx, cancel := context.WithCancel(tb.ctx)
	defer cancel()
	requests := chromedp.Events(ctx, network.RequestWillBeSent)
	tb.press(sel)
	for ev, err := range requests {
		if err != nil {
			tb.t.Fatalf("no authorization request: %v", err)
		}
		if u, err := url.Parse(ev.Request.URL); err == nil && u.Query().Get("state") != "" && u.Query().Get("code_challenge") != "" {
			return u.Query().Get("state")
		}
	}
	tb.t.Fatal("no authorization request")
	return ""
}

// TestBrowserDemo: the demo provider of `tether dev`, mounted on the same
// server, signs in through these pages: the URL `tether dev` prints,
// the demo's button, one of its users.
func TestBrowserDemo(t *testing.T) {
	hs := httptest.NewUnstartedServer(nil)
	pub := "http://" + hs.Listener.Addr().String()
	op, err := demo.New(demo.Config{
		Issuer: pub + "/demo", ClientID: "tether-dev", ClientSecret: "demo-secret-0123456789",
		RedirectURIs: []string{pub + api.CallbackPath("demo", config.KindOIDC, true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Defaults()
	cfg.PublicURL, cfg.Database = pub, "sqlite://"+filepath.Join(t.TempDir(), "t.db")
	cfg.SecretKey, cfg.EncryptionKey = tethertest.SecretKey, tethertest.EncryptionKey
	cfg.Providers = []config.Provider{{ID: "demo", Kind: config.KindOIDC, Name: "Demo provider", Enabled: true,
		Issuer: pub + "/demo", ClientID: "tether-dev", ClientSecret: "demo-secret-0123456789", DirectSignIn: true}}
	a, err := app.New(context.Background(), &cfg, app.Options{
		Logger: slog.New(slog.DiscardHandler),
		Mount:  func(mux *http.ServeMux) { mux.Handle("/demo/", op.Handler()) },
	})
	if err != nil {
		t.Fatal(err)
	}
	hs.Config.Handler = a.Handler()
	hs.Start()
	t.Cleanup(func() { hs.Close(); a.Close() })

	e := &env{srv: &tethertest.Server{URL: pub, App: a, Config: &cfg}}
	tb := e.tab(t, "")
	tb.open("/login")
	tb.press(`button[value=demo]`)
	tb.wantPath("/demo/")
	tb.press(`button[name=as][value=alice]`)
	tb.wantPath("/account")
	tb.want("Demo provider", "Alice Demo", msg(t, "en", "guard_note"))
	tb.shoot("account-demo")
}
