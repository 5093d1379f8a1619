package web

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tether-id/tether/api/httpx"
	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/store/sqlstore"
)

// TestCatalogsComplete: every language has exactly the keys English has,
// with the same format verbs, and no empty text.
func TestCatalogsComplete(t *testing.T) {
	verbs := regexp.MustCompile(`%(\[\d\])?[sdv]`)
	en := languages[0]
	for _, l := range languages[1:] {
		for k, v := range en.text {
			tr, ok := l.text[k]
			switch {
			case !ok:
				t.Errorf("%s lacks %q", l.Tag, k)
			case strings.TrimSpace(tr) == "":
				t.Errorf("%s: %q is empty", l.Tag, k)
			case len(verbs.FindAllString(tr, -1)) != len(verbs.FindAllString(v, -1)):
				t.Errorf("%s: %q has verbs %v, English %v", l.Tag, k, verbs.FindAllString(tr, -1), verbs.FindAllString(v, -1))
			}
		}
		for k := range l.text {
			if _, ok := en.text[k]; !ok {
				t.Errorf("%s has %q, which English lacks", l.Tag, k)
			}
		}
	}
}

// TestKeysExist: every key the templates and the Go code name is in the
// catalogs, so no page shows a key or fails to render for a lack of one.
func TestKeysExist(t *testing.T) {
	var used []string
	tmplKey := regexp.MustCompile(`\.T "([a-z0-9_]+)"`)
	err := fs.WalkDir(templateFiles, "templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := templateFiles.ReadFile(path)
		for _, m := range tmplKey.FindAllStringSubmatch(string(b), -1) {
			used = append(used, m[1])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	goKey := regexp.MustCompile(`"((?:title|err|notice|action|callback|versia)_[a-z0-9_]+)"`)
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range goKey.FindAllStringSubmatch(string(b), -1) {
			used = append(used, m[1])
		}
	}
	if len(used) < 50 {
		t.Fatalf("found only %d keys; is the pattern right?", len(used))
	}
	for _, l := range languages {
		for _, k := range used {
			if _, ok := l.text[k]; !ok {
				t.Errorf("%s lacks %q, which the code uses", l.Tag, k)
			}
		}
	}
	if _, err := languages[0].T("no_such_key"); err == nil {
		t.Error("a missing key is not an error")
	}
}

func TestAcceptLanguage(t *testing.T) {
	for _, c := range []struct{ header, want string }{
		{"", langEN},
		{"zh-CN", langZH},
		{"zh", langZH},
		{"zh-Hans-CN", langZH},
		{"ZH-tw", langZH},
		{"en-US,en;q=0.9", langEN},
		{"fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5", langEN},
		{"fr, zh;q=0.8, en;q=0.7", langZH},
		{"en;q=0.2, zh;q=0.3", langZH},
		{"zh;q=0, en", langEN},
		{"zh;q=0", langEN},
		{"en;q=0.5, zh;q=0.5", langEN},
		{"zh;q=0.5, en;q=0.5", langZH},
		{"zh;q=abc, en;q=0.1", langEN},
		{"zh;q=2", langEN},
		{"*", langEN},
		{";;;,,,", langEN},
	} {
		if got := fromAcceptLanguage(c.header).Tag; got != c.want {
			t.Errorf("%q: %s, want %s", c.header, got, c.want)
		}
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Accept-Language", "en")
	r.AddCookie(&http.Cookie{Name: langCookie, Value: "zh-CN"})
	if got := negotiate(r).Tag; got != langZH {
		t.Errorf("cookie zh-CN, header en: %s", got)
	}
	r = httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Accept-Language", "zh")
	r.AddCookie(&http.Cookie{Name: langCookie, Value: "klingon"})
	if got := negotiate(r).Tag; got != langZH {
		t.Errorf("unknown cookie, header zh: %s", got)
	}
}

func TestAllowList(t *testing.T) {
	a, err := newAllowList("https://id.example", []string{"https://app.example", "https://files.example:8443/drive/", "http://localhost:3000"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		target string
		ok     bool
	}{
		{"/account", true},
		{"/account?x=1#top", true},
		{"/%2F%2Fevil.example", true}, // a path on this origin
		{"https://id.example/x", true},
		{"https://ID.example/x", true},
		{"https://app.example", true},
		{"https://app.example/any/path?q", true},
		{"https://files.example:8443/drive", true},
		{"https://files.example:8443/drive/a/b", true},
		{"http://localhost:3000/cb", true},
		{"", false},
		{"//evil.example", false},
		{"///evil.example", false},
		{"/\\evil.example", false},
		{"\\/evil.example", false},
		{"/\t/evil.example", false},
		{"/\n/evil.example", false},
		{" /account", false},
		{"https://evil.example", false},
		{"http://id.example/x", false}, // scheme differs
		{"https://id.example.evil/x", false},
		{"https://app.example@evil.example/", false},
		{"https://user@app.example/", false},
		{"https:app.example", false},
		{"https:/app.example", false},
		{"javascript:alert(1)", false},
		{"javascript://app.example/%0aalert(1)", false},
		{"data:text/html;base64,PHNjcmlwdD4=", false},
		{"vbscript:x", false},
		{"ftp://app.example/", false},
		{"app.example", false},
		{"https://files.example:8443/drivex", false},
		{"https://files.example/drive/", false}, // port differs
		{"https://files.example:8443/drive/../admin", false},
		{"https://files.example:8443/drive/%2e%2E/admin", false},
		{"https://files.example:8443/drive/./x", false},
		{"http://localhost:3001/", false},
		{"/" + strings.Repeat("a", maxRedirect), false},
	} {
		got, ok := a.Check(c.target)
		if ok != c.ok {
			t.Errorf("%q: allowed=%v, want %v", c.target, ok, c.ok)
		}
		if ok && (strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\\t\n ")) {
			t.Errorf("%q: unsafe result %q", c.target, got)
		}
	}
	for _, bad := range []string{"evil.example", "javascript:x", "https://u@app.example", "/path"} {
		if _, err := newAllowList("https://id.example", []string{bad}); err == nil {
			t.Errorf("allow-list entry %q accepted", bad)
		}
	}
}

// newTestHandler is a Handler over a real service on SQLite, without
// providers.
func newTestHandler(t *testing.T, publicURL string) *Handler {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	svc, err := core.New(core.Options{
		Store: st, Secret: []byte("0123456789abcdef0123456789abcdef"), EncryptionKey: make([]byte, 32),
		AccessTTL: time.Hour, RefreshTTL: 24 * time.Hour, FlowTTL: time.Minute, PasswordSignUp: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("0123456789abcdef0123456789abcdef")
	h, err := New(svc, Options{PublicURL: publicURL, Secret: secret, Binder: httpx.NewBinder(secret, publicURL, time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// allCodes are the codes of core/errors.go; a new code must be added here
// and given a text in problemKeys.
var allCodes = []core.Code{
	core.CodeInvalid, core.CodeUnauthenticated, core.CodeForbidden, core.CodeNotFound, core.CodeBanned,
	core.CodeInactive, core.CodeDisabled, core.CodeInvalidCredential, core.CodeFlowNotFound, core.CodeEmailTaken,
	core.CodeProviderLinked, core.CodeIdentityTaken, core.CodeIdentityNotLinked, core.CodeWrongPassword,
	core.CodeLastSignInMethod, core.CodeRateLimited, core.CodeInternal, core.CodeTokenSigning, core.CodeUpstream,
	core.CodeInvalidGrant, core.CodeInvalidClient, core.CodeLoginRequired, core.CodeConsentRequired, core.CodeAccessDenied,
	core.CodeLinkInvalid, core.CodeEmailUnverified, core.CodeReauthRequired,
}

// TestEveryProblemRenders shows a page for every core code, and for the
// finer reasons under some codes, in every language: each has its own
// text, translated, and a fitting HTTP status.
func TestEveryProblemRenders(t *testing.T) {
	h := newTestHandler(t, "http://tether.test")
	errs := []error{
		errCSRF,
		errors.New("a database fell over"),
		core.Invalid("email", "Email cannot be empty"),
		core.Invalid("email", "Email is not a valid email address"),
		core.Invalid("password", "Password cannot be empty"),
		core.Invalid("password", "Password must be 8 to 128 characters"),
		core.Invalid("code", "Code cannot be empty"),
		core.ErrSignUpDisabled,
	}
	for _, code := range allCodes {
		errs = append(errs, &core.Error{Code: code, Message: "some message"})
	}
	reasoned := []*core.Error{core.ErrFlowOtherBrowser, core.ErrFlowOtherProvider, core.ErrFlowOtherAccount,
		core.ErrFlowWrongPurpose, core.ErrProviderDisabled, core.ErrSignUpDisabled,
		core.ErrMailDisabled, core.ErrLinkNotFound, core.ErrLinkExpired, core.ErrLinkUsed, core.ErrLinkOtherAddress,
		core.ErrLinkPasswordChanged}
	for _, e := range reasoned {
		errs = append(errs, e)
	}
	errs = append(errs, core.ErrLastSignInMethod)
	for _, code := range allCodes {
		if _, ok := problemKeys[code]; !ok {
			t.Errorf("code %s has no text", code)
		}
	}
	for _, l := range languages {
		seen := map[string]bool{}
		for _, err := range errs {
			for _, name := range []string{"", "Some Provider"} {
				p := problemFor(err, name)
				if p.Status < 400 || p.Status > 599 {
					t.Errorf("%v: status %d", err, p.Status)
				}
				w := httptest.NewRecorder()
				r := httptest.NewRequest(http.MethodGet, "/x", nil)
				h.renderProblem(w, r, &requestState{lang: l}, "title_error", p, nil)
				if w.Code != p.Status {
					t.Errorf("%s %v: HTTP %d, want %d", l.Tag, err, w.Code, p.Status)
				}
				want, terr := l.T(p.Key, p.Args...)
				if terr != nil {
					t.Errorf("%s %v: %v", l.Tag, err, terr)
					continue
				}
				if !strings.Contains(html.UnescapeString(w.Body.String()), want) {
					t.Errorf("%s %v: page lacks %q", l.Tag, err, want)
				}
				// The core's English message is never the text; only a
				// provider's words appear, as a labelled detail.
				if strings.Contains(w.Body.String(), "some message") && p.Detail == "" {
					t.Errorf("%s %v: the core's English message is shown as the text", l.Tag, err)
				}
				seen[p.Key] = true
			}
		}
		if len(seen) < 25 {
			t.Errorf("%s: only %d distinct texts for %d errors", l.Tag, len(seen), len(errs))
		}
	}
	// Every reason refined under one code has its text.
	for _, e := range reasoned {
		key, ok := reasonProblems[e.Reason]
		if got := problemFor(e, "").Key; !ok || got != key {
			t.Errorf("reason %q: key %s, want %s", e.Reason, got, key)
		}
	}
	if got := problemFor(core.ErrFlowNotFound, "").Key; got != "err_flow_expired" {
		t.Errorf("flow not found: key %s", got)
	}
}

// TestSecureCookies: behind an https public URL every cookie is Secure
// and __Host- prefixed.
func TestSecureCookies(t *testing.T) {
	h := newTestHandler(t, "https://tether.example")
	if _, err := h.svc.CreateUser(context.Background(), core.NewUser{Email: "s@example.test", Password: "correct horse"}, core.AdminCLI); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)

	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "https://tether.example/login", nil))
	csrf := w.Result().Cookies()[0]
	token := csrfRe.FindStringSubmatch(w.Body.String())[1]

	r := httptest.NewRequest(http.MethodPost, "https://tether.example/login",
		strings.NewReader("email=s%40example.test&password=correct+horse&csrf="+token))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	r.AddCookie(csrf)
	w = httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("sign-in: HTTP %d\n%s", w.Code, w.Body)
	}
	names := map[string]bool{}
	for _, c := range w.Result().Cookies() {
		names[c.Name] = true
		if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Domain != "" || c.Path != "/" {
			t.Errorf("%s: Secure=%v HttpOnly=%v SameSite=%v Domain=%q Path=%q", c.Name, c.Secure, c.HttpOnly, c.SameSite, c.Domain, c.Path)
		}
	}
	for _, n := range []string{"__Host-tether_access", "__Host-tether_refresh", "__Host-tether_csrf"} {
		if !names[n] {
			t.Errorf("no %s cookie among %v", n, names)
		}
	}
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]*)"`)

// TestRefreshCookieFlood: pages that get a made-up refresh cookie answer
// without remembering anything about it (and, the core's tests show,
// without writing): a flood of junk cookies costs no memory.
func TestRefreshCookieFlood(t *testing.T) {
	h := newTestHandler(t, "http://tether.test")
	for i := range 200 {
		req := httptest.NewRequest(http.MethodGet, "http://tether.test/account", nil)
		req.AddCookie(&http.Cookie{Name: refreshCookieName, Value: fmt.Sprintf("junk-%d-%s", i, strings.Repeat("x", 40))})
		rec := httptest.NewRecorder()
		h.account(rec, req)
		if rec.Code != http.StatusSeeOther {
			t.Fatalf("GET /account with a junk refresh cookie: HTTP %d", rec.Code)
		}
	}
	if n := h.refresher.size(); n != 0 {
		t.Fatalf("the refresher remembers %d junk cookies", n)
	}
}
