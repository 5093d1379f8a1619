package web_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/tether-id/tether/config"
	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/testkit/testclock"
	"github.com/tether-id/tether/testkit/testpeer"
	"github.com/tether-id/tether/testkit/tethertest"
)

// env is a running tether with real OpenID Providers: the in-process
// zitadel OP behind two providers ("zitadel", the first OIDC provider,
// callback /callback/openid/2, creating accounts; "strict", callback
// /callback/openid/strict, which does not), and panva's oidc-provider in
// Logto mode ("logto", callback /callback/openid/0) when asked for.
type env struct {
	srv   *tethertest.Server
	zit   *testpeer.OP
	panva *testpeer.OP
	clock *testclock.Clock
}

type envOptions struct {
	panva     bool
	configure func(*config.Config)
}

// logtoIcon is a data: icon, as a provider's icon may be.
const logtoIcon = "data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciIHZpZXdCb3g9IjAgMCAzMiAzMiI+PHJlY3Qgd2lkdGg9IjMyIiBoZWlnaHQ9IjMyIiByeD0iOCIgZmlsbD0iIzVkMzRmMiIvPjxjaXJjbGUgY3g9IjE2IiBjeT0iMTYiIHI9IjciIGZpbGw9IiNmZmYiLz48L3N2Zz4="

func startEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	e := &env{clock: testclock.Running()}
	e.srv = tethertest.Start(t, tethertest.Options{
		Now: e.clock.Now,
		Providers: func(pub string) []config.Provider {
			e.zit = testpeer.Zitadel(t, pub+"/callback/openid/2", pub+"/callback/openid/strict")
			ps := []config.Provider{
				{ID: "zitadel", Kind: config.KindOIDC, Name: "Zitadel", Icon: "mdi:account-key", Enabled: true,
					Issuer: e.zit.Issuer, ClientID: e.zit.ClientID, ClientSecret: e.zit.ClientSecret, DirectSignIn: true},
				{ID: "strict", Kind: config.KindOIDC, Name: "Strict SSO", Enabled: true,
					Issuer: e.zit.Issuer, ClientID: e.zit.ClientID, ClientSecret: e.zit.ClientSecret, DirectSignIn: false},
			}
			if o.panva {
				e.panva = testpeer.Panva(t, testpeer.PanvaOptions{Logto: true, RedirectURIs: []string{pub + "/callback/openid/0"}})
				ps = append([]config.Provider{{ID: "logto", Kind: config.KindLogto, Name: "Logto", Icon: logtoIcon, Enabled: true,
					Issuer: e.panva.Issuer, ClientID: e.panva.ClientID, ClientSecret: e.panva.ClientSecret, DirectSignIn: true}}, ps...)
			}
			return ps
		},
		Configure: o.configure,
	})
	return e
}

func (e *env) svc() *core.Service { return e.srv.App.Service }

// user is a cookie-jar browser without scripts that reads tether's forms.
type user struct {
	t    *testing.T
	c    *tethertest.Client
	base string
	// header is added to every request (Accept-Language...).
	header http.Header
	// body is the last page read.
	body string
}

func (e *env) user(t *testing.T) *user {
	return &user{t: t, c: e.srv.Client(t), base: e.srv.URL, header: http.Header{}}
}

type page struct {
	status int
	header http.Header
	body   string
	loc    string
}

func (u *user) do(req *http.Request) page {
	u.t.Helper()
	for k, v := range u.header {
		req.Header[k] = v
	}
	resp, err := u.c.Client.Do(req)
	if err != nil {
		u.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	p := page{status: resp.StatusCode, header: resp.Header, body: string(b), loc: resp.Header.Get("Location")}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		u.body = p.body
	}
	return p
}

func (u *user) url(path string) string {
	if strings.HasPrefix(path, "/") {
		return u.base + path
	}
	return path
}

// get fetches a page without following redirects.
func (u *user) get(path string) page {
	u.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u.url(path), nil)
	return u.do(req)
}

// follow fetches a page and follows tether's redirects.
func (u *user) follow(path string) page {
	u.t.Helper()
	p := u.get(path)
	for i := 0; p.status/100 == 3 && strings.HasPrefix(u.url(p.loc), u.base) && i < 10; i++ {
		p = u.get(p.loc)
	}
	return p
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]*)"`)

// csrf is the form token of the last page.
func (u *user) csrf() string {
	u.t.Helper()
	m := csrfRe.FindStringSubmatch(u.body)
	if m == nil {
		u.t.Fatalf("no CSRF token on the last page:\n%s", u.body)
	}
	return html.UnescapeString(m[1])
}

// post sends a form as a same-origin browser would: with the last page's
// token unless form has one, and Origin and Sec-Fetch-Site headers.
func (u *user) post(path string, form url.Values) page {
	u.t.Helper()
	if !form.Has("csrf") {
		form.Set("csrf", u.csrf())
	}
	return u.postRaw(path, form, http.Header{"Origin": {u.base}, "Sec-Fetch-Site": {"same-origin"}})
}

func (u *user) postRaw(path string, form url.Values, h http.Header) page {
	u.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u.url(path), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range h {
		req.Header[k] = v
	}
	return u.do(req)
}

// signUp creates a password account through the sign-up page.
func (u *user) signUp(email, password string) {
	u.t.Helper()
	u.get("/signup")
	p := u.post("/signup", url.Values{"email": {email}, "password": {password}, "password_again": {password}})
	if p.status != http.StatusSeeOther || p.loc != "/account" {
		u.t.Fatalf("sign-up: %d %s\n%s", p.status, p.loc, p.body)
	}
}

// signIn signs in with a password through the sign-in page.
func (u *user) signIn(email, password string) {
	u.t.Helper()
	u.get("/login")
	p := u.post("/login", url.Values{"email": {email}, "password": {password}})
	if p.status != http.StatusSeeOther {
		u.t.Fatalf("sign-in: %d %s\n%s", p.status, p.loc, p.body)
	}
}

// startProvider presses a provider button on the sign-in page (or, with
// link, on the account page) and returns the authorization URL.
func (u *user) startProvider(id string, link bool) string {
	u.t.Helper()
	path, from := "/login/provider", "/login"
	if link {
		path, from = "/account/link", "/account"
	}
	u.get(from)
	p := u.post(path, url.Values{"provider": {id}})
	if p.status != http.StatusSeeOther || strings.HasPrefix(p.loc, "/") {
		u.t.Fatalf("start %s: %d %s\n%s", id, p.status, p.loc, p.body)
	}
	return p.loc
}

// upstream signs person in at the OP and returns the callback URL.
func upstream(t *testing.T, op *testpeer.OP, authURL string, person testpeer.User) string {
	t.Helper()
	return op.Login(t, authURL, person).String()
}

// text is the visible text of an HTML page, roughly: tags removed,
// entities decoded, spaces collapsed.
func text(body string) string {
	body = regexp.MustCompile(`(?s)<head>.*</head>`).ReplaceAllString(body, " ")
	body = regexp.MustCompile(`<[^>]*>`).ReplaceAllString(body, " ")
	return strings.Join(strings.Fields(html.UnescapeString(body)), " ")
}

func ctx(t *testing.T) context.Context { return t.Context() }
