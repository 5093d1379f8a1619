package tethertest

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/tether-id/tether/testkit/testpeer"
)

// Browser drives tether's own pages as a person without scripts would:
// it keeps cookies, follows redirects while they stay on tether, reads
// the forms of the last page and submits them with their hidden fields
// and the same-origin headers a browser sends. For end-to-end tests of
// the OpenID Provider (an app's sign-in through tether) without Chromium.
type Browser struct {
	*Client
	// Header is added to every request (Accept-Language, ...).
	Header http.Header
	// Last is the last HTML page read.
	Last Page
}

// Page is an answer: a page, or a redirect that leaves tether.
type Page struct {
	Status   int
	URL      *url.URL // where it was fetched
	Location string   // of a redirect
	Header   http.Header
	Body     string
}

// Browser returns a browser with an empty cookie jar.
func (s *Server) Browser(t testing.TB) *Browser {
	return &Browser{Client: s.Client(t), Header: http.Header{}}
}

func (b *Browser) do(req *http.Request) (Page, error) {
	for k, v := range b.Header {
		req.Header[k] = v
	}
	resp, err := b.Client.Client.Do(req)
	if err != nil {
		return Page{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return Page{}, err
	}
	p := Page{Status: resp.StatusCode, URL: req.URL, Location: resp.Header.Get("Location"), Header: resp.Header, Body: string(body)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		b.Last = p
	}
	return p, nil
}

// resolve makes target absolute against the page it came from.
func resolve(from *url.URL, target string) string {
	u, err := from.Parse(target)
	if err != nil {
		return target
	}
	return u.String()
}

// Visit gets rawURL and follows redirects while they stay on tether. It
// returns the first answer that is not such a redirect.
func (b *Browser) Visit(rawURL string) (Page, error) {
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		return Page{}, err
	}
	p, err := b.do(req)
	if err != nil {
		return p, err
	}
	return b.follow(p)
}

func (b *Browser) follow(p Page) (Page, error) {
	for i := 0; p.Status/100 == 3 && i < 20; i++ {
		next := resolve(p.URL, p.Location)
		if !strings.HasPrefix(next, b.base+"/") {
			return p, nil
		}
		req, _ := http.NewRequest(http.MethodGet, next, nil)
		var err error
		if p, err = b.do(req); err != nil {
			return p, err
		}
	}
	return p, nil
}

var (
	formRe   = regexp.MustCompile(`(?s)<form\b([^>]*)>(.*?)</form>`)
	actionRe = regexp.MustCompile(`\baction="([^"]*)"`)
	inputRe  = regexp.MustCompile(`<input\b[^>]*>`)
	attrRe   = regexp.MustCompile(`\b(type|name|value)="([^"]*)"`)
)

// Form returns the hidden fields of the last page's form with action,
// and whether there is one.
func (b *Browser) Form(action string) (url.Values, bool) {
	for _, m := range formRe.FindAllStringSubmatch(b.Last.Body, -1) {
		a := actionRe.FindStringSubmatch(m[1])
		if a == nil || html.UnescapeString(a[1]) != action {
			continue
		}
		fields := url.Values{}
		for _, in := range inputRe.FindAllString(m[2], -1) {
			attrs := map[string]string{}
			for _, kv := range attrRe.FindAllStringSubmatch(in, -1) {
				attrs[kv[1]] = html.UnescapeString(kv[2])
			}
			if attrs["type"] == "hidden" && attrs["name"] != "" {
				fields.Add(attrs["name"], attrs["value"])
			}
		}
		return fields, true
	}
	return nil, false
}

// Submit posts the last page's form with action, its hidden fields and
// fields, and follows redirects while they stay on tether.
func (b *Browser) Submit(action string, fields url.Values) (Page, error) {
	form, ok := b.Form(action)
	if !ok {
		return Page{}, fmt.Errorf("the page %s has no form with action %s:\n%s", b.Last.URL, action, b.Last.Body)
	}
	for k, vs := range fields {
		form[k] = vs
	}
	req, err := http.NewRequest(http.MethodPost, resolve(b.Last.URL, action), strings.NewReader(form.Encode()))
	if err != nil {
		return Page{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	p, err := b.do(req)
	if err != nil {
		return p, err
	}
	return b.follow(p)
}

// A Step is what the person does on one of tether's pages while an app
// signs them in: UserAgent calls each step on the page it fits.
type Step struct {
	// Page is the form action that tells the page: "/login" for the
	// sign-in page, "/oauth2/authorize" for the consent page,
	// "/oauth2/logout" for the sign-out confirmation.
	Page string
	Do   func(b *Browser) (Page, error)
}

// Password signs in with an email and a password on the sign-in page.
func Password(email, password string) Step {
	return Step{Page: "/login", Do: func(b *Browser) (Page, error) {
		return b.Submit("/login", url.Values{"email": {email}, "password": {password}})
	}}
}

// Upstream signs in through provider's button on the sign-in page, as
// person at op, and comes back to tether's callback.
func Upstream(t testing.TB, providerID string, op *testpeer.OP, person testpeer.User) Step {
	return Step{Page: "/login/provider", Do: func(b *Browser) (Page, error) {
		p, err := b.Submit("/login/provider", url.Values{"provider": {providerID}})
		if err != nil || p.Status/100 != 3 {
			return p, err
		}
		back := op.Login(t, p.Location, person)
		return b.Visit(back.String())
	}}
}

// Consent answers the consent page: "approve" or "deny".
func Consent(answer string) Step {
	return Step{Page: "/oauth2/authorize", Do: func(b *Browser) (Page, error) {
		return b.Submit("/oauth2/authorize", url.Values{"consent": {answer}})
	}}
}

// UserAgent returns an app's user agent (testkit/rp.UserAgent): it visits
// the authorization URL, takes whichever step fits each page tether
// shows, and returns the redirect that leaves tether (to the app). A
// page no step fits is an error.
func (b *Browser) UserAgent(steps ...Step) func(string) (*url.URL, error) {
	return func(authURL string) (*url.URL, error) {
		p, err := b.Visit(authURL)
		for i := 0; err == nil && i < 10; i++ {
			if p.Status/100 == 3 {
				return url.Parse(resolve(p.URL, p.Location))
			}
			var step *Step
			for j := range steps {
				if _, ok := b.Form(steps[j].Page); ok {
					step = &steps[j]
					break
				}
			}
			if step == nil {
				return nil, fmt.Errorf("HTTP %d at %s, and no step for this page:\n%s", p.Status, p.URL, p.Body)
			}
			p, err = step.Do(b)
		}
		if err == nil {
			err = fmt.Errorf("no redirect back to the app after 10 pages")
		}
		return nil, err
	}
}
