// Package testpeer runs real OpenID Providers for tests, from any
// package's tests: zitadel/oidc's example OP in-process (pure Go, always
// available) and panva's oidc-provider under node (plain, or configured
// like Logto), plus a cookie-jar "browser" that signs in through their
// real HTML login and consent pages.
package testpeer

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// OP is a running OpenID Provider with one confidential client registered.
type OP struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	// RedirectURIs are the client's registered redirect URIs; the first
	// is the default for tests.
	RedirectURIs []string
	// PostLogoutRedirectURIs are registered for RP-initiated logout
	// (panva only; zitadel's example OP registers none).
	PostLogoutRedirectURIs []string

	origin string // scheme://host:port of the OP
	panva  bool
}

// RedirectURI returns the client's first registered redirect URI.
func (op *OP) RedirectURI() string { return op.RedirectURIs[0] }

// User is an account both OPs know.
type User struct {
	Login    string
	Password string
	Subject  string
	Email    string
	// EmailVerified is the OP's email_verified claim.
	EmailVerified bool
	Name          string
	// Picture is panva's picture claim; zitadel's example OP has none.
	Picture string
}

// The accounts of both OPs. panva accepts any other login name too (it
// becomes the subject) and ignores passwords; zitadel checks them.
var (
	Alice = User{Login: "alice", Password: "alice-password", Subject: "alice",
		Email: "alice@example.test", EmailVerified: true, Name: "Alice Liddell",
		Picture: "https://example.test/alice.png"}
	Bob = User{Login: "bob", Password: "bob-password", Subject: "bob",
		Email: "bob@example.test", EmailVerified: false, Name: "Bob Builder"}
)

// defaultRedirectURI is registered when a test names none. Nothing listens
// there: the browser stops at the redirect to it.
const defaultRedirectURI = "http://rp.test/callback"

// DefaultPostLogoutRedirectURI is panva's post-logout redirect URI when a
// test names none. Nothing listens there.
const DefaultPostLogoutRedirectURI = "http://rp.test/logged-out"

// Client credentials registered on every OP.
const (
	ClientID     = "tether-test"
	ClientSecret = "tether-test-secret-0123456789abcdef-0123456789abcdef-0123456789"
)

// Browser is a cookie-jar HTTP client that walks an OP's login pages the
// way a person would, without running scripts. It keeps its cookies
// between logins, like a real browser (so a second login may skip the
// password page).
type Browser struct {
	t      testing.TB
	op     *OP
	client *http.Client
	// Pages are the HTML pages seen, in order, across all logins.
	Pages []Page
}

// Page is one HTML page the browser was shown.
type Page struct {
	URL  *url.URL
	Body string
}

// Browser returns a browser with an empty cookie jar.
func (op *OP) Browser(t testing.TB) *Browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Browser{t: t, op: op, client: &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// Login signs user in, in a fresh browser, starting at authURL, and
// returns the redirect back to the relying party without following it.
func (op *OP) Login(t testing.TB, authURL string, user User) *url.URL {
	t.Helper()
	return op.Browser(t).Login(authURL, user)
}

// UserAgent returns a login driver for relying-party harnesses (it has
// testkit/rp's UserAgent type): each call signs user in at authURL and
// returns the redirect back, as Login does. Its logins share one new
// browser, so the OP's session carries from one to the next, as in a
// person's browser.
func (op *OP) UserAgent(t testing.TB, user User) func(authURL string) (*url.URL, error) {
	return op.Browser(t).UserAgent(user)
}

// UserAgent returns a login driver that signs user in with this browser:
// see OP.UserAgent. It fails the test, rather than returning an error,
// when the OP's pages do not lead back to the relying party.
func (b *Browser) UserAgent(user User) func(authURL string) (*url.URL, error) {
	return func(authURL string) (*url.URL, error) {
		b.t.Helper()
		return b.Login(authURL, user), nil
	}
}

// maxSteps bounds one login's requests, so a redirect loop fails the test.
const maxSteps = 20

// Login starts at authURL, follows the OP's redirects, fills the login
// form with user's credentials, accepts any consent page, and returns the
// first redirect that leaves the OP: the callback to the relying party,
// carrying a code or an error.
func (b *Browser) Login(authURL string, user User) *url.URL {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, authURL, nil)
	if err != nil {
		b.t.Fatalf("login: %v", err)
	}
	passwordPages := 0
	for range maxSteps {
		resp, err := b.client.Do(req)
		if err != nil {
			b.t.Fatalf("login: %s %s: %v", req.Method, req.URL, err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			b.t.Fatalf("login: reading %s: %v", req.URL, err)
		}
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			loc, err := req.URL.Parse(resp.Header.Get("Location"))
			if err != nil {
				b.t.Fatalf("login: %s redirects to invalid %q", req.URL, resp.Header.Get("Location"))
			}
			if loc.Scheme+"://"+loc.Host != b.op.origin {
				return loc
			}
			req, _ = http.NewRequest(http.MethodGet, loc.String(), nil)
		case resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html"):
			b.Pages = append(b.Pages, Page{URL: req.URL, Body: string(body)})
			f, ok := parseForm(string(body))
			if !ok {
				b.t.Fatalf("login: no form on %s:\n%s", req.URL, body)
			}
			if f.hasPassword {
				if passwordPages++; passwordPages > 1 {
					b.t.Fatalf("login: the OP showed its login page again (wrong credentials for %q?):\n%s", user.Login, body)
				}
				f.fill(user)
			}
			req = b.submit("login", req, f)
		default:
			b.t.Fatalf("login: %s %s: HTTP %d:\n%s", req.Method, req.URL, resp.StatusCode, body)
		}
	}
	b.t.Fatalf("login: no redirect to the relying party after %d requests", maxSteps)
	return nil
}

// LastPage returns the last HTML page seen, "" if none.
func (b *Browser) LastPage() string {
	if len(b.Pages) == 0 {
		return ""
	}
	return b.Pages[len(b.Pages)-1].Body
}

var (
	formRe  = regexp.MustCompile(`(?is)<form\b([^>]*)>(.*?)</form>`)
	inputRe = regexp.MustCompile(`(?is)<input\b([^>]*)>`)
	attrRe  = regexp.MustCompile(`(?is)([a-z_:-]+)\s*=\s*"([^"]*)"`)
)

// form is the first form of a page: enough HTML for the OPs' plain pages.
type form struct {
	action        string
	values        url.Values
	hasPassword   bool
	passwordField string
	userField     string
}

func parseForm(page string) (form, bool) {
	m := formRe.FindStringSubmatch(page)
	if m == nil {
		return form{}, false
	}
	f := form{action: attrs(m[1])["action"], values: url.Values{}}
	for _, in := range inputRe.FindAllStringSubmatch(m[2], -1) {
		a := attrs(in[1])
		name := a["name"]
		if name == "" {
			continue
		}
		switch {
		case strings.EqualFold(a["type"], "password"):
			f.hasPassword, f.passwordField = true, name
		case name == "login" || name == "username" || name == "email":
			f.userField = name
		}
		f.values.Set(name, a["value"])
	}
	return f, true
}

func (f *form) fill(u User) {
	if f.userField != "" {
		f.values.Set(f.userField, u.Login)
	}
	f.values.Set(f.passwordField, u.Password)
}

func attrs(s string) map[string]string {
	out := map[string]string{}
	for _, m := range attrRe.FindAllStringSubmatch(s, -1) {
		out[strings.ToLower(m[1])] = html.UnescapeString(m[2])
	}
	return out
}

// LastAuthorization returns the parameters of the last authorization
// request the OP accepted, as the OP parsed them (panva only): proof of
// what reached the OP, such as login_hint or Logto's extra parameters.
func (op *OP) LastAuthorization(t testing.TB) url.Values {
	t.Helper()
	if !op.panva {
		t.Fatal("LastAuthorization: only the panva OP records authorization requests")
	}
	resp, err := http.Get(op.origin + "/__test/last-authorization")
	if err != nil {
		t.Fatalf("LastAuthorization: %v", err)
	}
	defer resp.Body.Close()
	var params map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&params); err != nil {
		t.Fatalf("LastAuthorization: %v", err)
	}
	out := url.Values{}
	for k, v := range params {
		switch v := v.(type) {
		case []any:
			for _, x := range v {
				out.Add(k, fmt.Sprint(x))
			}
		default:
			out.Set(k, fmt.Sprint(v))
		}
	}
	return out
}

// Logout sends the browser to an OP's end-session URL (OpenID Connect
// RP-Initiated Logout 1.0), confirms the sign-out on the OP's page as a
// person would, and returns where the OP sent the browser afterwards: the
// post_logout_redirect_uri when the request named one (the first redirect
// that leaves the OP), else the URL of the OP's own "signed out" page.
func (b *Browser) Logout(endSessionURL string) *url.URL {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, endSessionURL, nil)
	if err != nil {
		b.t.Fatalf("logout: %v", err)
	}
	for range maxSteps {
		resp, err := b.client.Do(req)
		if err != nil {
			b.t.Fatalf("logout: %s %s: %v", req.Method, req.URL, err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			loc, err := req.URL.Parse(resp.Header.Get("Location"))
			if err != nil {
				b.t.Fatalf("logout: %s redirects to invalid %q", req.URL, resp.Header.Get("Location"))
			}
			if loc.Scheme+"://"+loc.Host != b.op.origin {
				return loc
			}
			req, _ = http.NewRequest(http.MethodGet, loc.String(), nil)
		case resp.StatusCode == http.StatusOK:
			b.Pages = append(b.Pages, Page{URL: req.URL, Body: string(body)})
			f, ok := parseForm(string(body))
			if !ok {
				return req.URL // the OP's own "signed out" page
			}
			// panva's confirmation: the button that says yes sits
			// outside the form (form="op.logoutForm").
			f.values.Set("logout", "yes")
			req = b.submit("logout", req, f)
		default:
			b.t.Fatalf("logout: %s %s: HTTP %d:\n%s", req.Method, req.URL, resp.StatusCode, body)
		}
	}
	b.t.Fatalf("logout: no end after %d requests", maxSteps)
	return nil
}

// submit returns the POST that sends form f of the page req fetched.
func (b *Browser) submit(step string, req *http.Request, f form) *http.Request {
	action, err := req.URL.Parse(f.action)
	if err != nil {
		b.t.Fatalf("%s: form action %q: %v", step, f.action, err)
	}
	post, _ := http.NewRequest(http.MethodPost, action.String(), strings.NewReader(f.values.Encode()))
	post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return post
}

// Revoke revokes token (a refresh or an access token) at the OP's
// revocation endpoint (RFC 7009), as the OP's admin or the person would
// when withdrawing the app's access. panva then revokes the whole grant.
func (op *OP) Revoke(t testing.TB, token string) {
	t.Helper()
	endpoint := op.discovery(t)["revocation_endpoint"]
	ep, _ := endpoint.(string)
	if ep == "" {
		t.Fatal("Revoke: the OP has no revocation_endpoint")
	}
	req, _ := http.NewRequest(http.MethodPost, ep, strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(op.ClientID), url.QueryEscape(op.ClientSecret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("Revoke: HTTP %d: %s", resp.StatusCode, b)
	}
}

// SetProfile changes the claims of panva's account login from now on, as
// if the person edited their profile at the provider (panva only).
func (op *OP) SetProfile(t testing.TB, login string, claims map[string]any) {
	t.Helper()
	if !op.panva {
		t.Fatal("SetProfile: only the panva OP has editable profiles")
	}
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(op.origin+"/__test/profile/"+url.PathEscape(login), "application/json", strings.NewReader(string(b)))
	if err != nil {
		t.Fatalf("SetProfile: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("SetProfile: HTTP %d", resp.StatusCode)
	}
}

// discovery fetches the OP's discovery document.
func (op *OP) discovery(t testing.TB) map[string]any {
	t.Helper()
	resp, err := http.Get(strings.TrimSuffix(op.Issuer, "/") + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	defer resp.Body.Close()
	var d map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatalf("discovery: %v", err)
	}
	return d
}
