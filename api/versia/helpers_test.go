package versia_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/tether-id/tether/config"
	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/testkit/apitest"
	"github.com/tether-id/tether/testkit/testclock"
	"github.com/tether-id/tether/testkit/testpeer"
	"github.com/tether-id/tether/testkit/tethertest"
)

// newClock is the server's clock (flows, tokens and the rate limiter
// all read it), frozen so that reset times compare exactly.
func newClock() *testclock.Clock { return testclock.New(time.Now().UTC()) }

// env is a running tether plus its served OpenAPI document, through which
// every request of the tests goes: each request is checked against the
// document (valid, or invalid when the test says so) and each response
// must match the documented status, headers and body.
type env struct {
	*tethertest.Server
	t      testing.TB
	clock  *testclock.Clock
	router routers.Router
}

// options of newEnv.
type envOptions struct {
	providers func(publicURL string) []config.Provider
	configure func(*config.Config)
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	c := newClock()
	srv := tethertest.Start(t, tethertest.Options{Providers: o.providers, Configure: o.configure, Now: c.Now})
	e := &env{Server: srv, t: t, clock: c}
	e.router = apitest.Router(t, srv.URL)
	return e
}

// fixed configures the listed providers with an issuer where nothing
// listens (port 1 refuses connections), so preparing a link with them
// fails at discovery; tests that need a real OP start one.
func fixed(ps ...config.Provider) func(string) []config.Provider {
	return func(string) []config.Provider {
		for i := range ps {
			if ps[i].Kind == "" {
				ps[i].Kind = config.KindOIDC
			}
			if ps[i].Issuer == "" {
				ps[i].Issuer = "http://127.0.0.1:1/" + ps[i].ID
			}
			ps[i].ClientID, ps[i].ClientSecret = "c", "s"
		}
		return ps
	}
}

// fromOP is the provider entry for a test OP.
func fromOP(id, name string, op *testpeer.OP) config.Provider {
	return config.Provider{ID: id, Kind: config.KindOIDC, Name: name, Enabled: true, DirectSignIn: true,
		Issuer: op.Issuer, ClientID: op.ClientID, ClientSecret: op.ClientSecret}
}

// call is one request of a test.
type call struct {
	method, path string
	bearer       string
	// body is sent as JSON unless contentType says otherwise: a
	// url.Values is sent urlencoded or (contentType multipart/form-data)
	// as a multipart form; a string is sent as is.
	body        any
	contentType string
	// invalid says the request breaks the document on purpose (no token,
	// a bad body); the check is then that the document rejects it too.
	invalid bool
}

// response is what came back.
type response struct {
	*http.Response
	Body []byte
}

// JSON decodes the body into v.
func (r response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("body %s: %v", r.Body, err)
	}
}

// Do sends c with client (a browser: its cookie jar matters) after
// checking it against the OpenAPI document, and checks the response too.
func (e *env) Do(client *tethertest.Client, c call) response {
	t := e.t
	t.Helper()
	var body []byte
	ct := c.contentType
	switch b := c.body.(type) {
	case nil:
	case string:
		body = []byte(b)
	case url.Values:
		if ct == "multipart/form-data" {
			var buf bytes.Buffer
			mw := multipart.NewWriter(&buf)
			for k, vs := range b {
				for _, v := range vs {
					mw.WriteField(k, v)
				}
			}
			mw.Close()
			body, ct = buf.Bytes(), mw.FormDataContentType()
		} else {
			body = []byte(b.Encode())
			if ct == "" {
				ct = "application/x-www-form-urlencoded"
			}
		}
	default:
		var err error
		if body, err = json.Marshal(b); err != nil {
			t.Fatal(err)
		}
		if ct == "" {
			ct = "application/json"
		}
	}
	target := c.path
	if strings.HasPrefix(target, "/") {
		target = e.URL + target
	}
	newReq := func() *http.Request {
		req, err := http.NewRequest(c.method, target, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		if c.bearer != "" {
			req.Header.Set("Authorization", "Bearer "+c.bearer)
		}
		return req
	}

	req := newReq()
	route, params, err := e.router.FindRoute(req)
	if err != nil {
		t.Fatalf("%s %s is not in the OpenAPI document: %v", c.method, c.path, err)
	}
	in := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: apitest.Options,
	}
	err = openapi3filter.ValidateRequest(context.Background(), in)
	switch {
	case c.invalid && err == nil:
		t.Errorf("%s %s: the OpenAPI document accepts a request the test meant to be invalid", c.method, c.path)
	case !c.invalid && err != nil:
		t.Errorf("%s %s: request does not match the OpenAPI document: %v", c.method, c.path, err)
	}

	resp, err := client.Client.Do(newReq())
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	in.Request = newReq() // the validated one had its body read
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Options: apitest.Options,
	}
	out.SetBodyBytes(b)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Errorf("%s %s: HTTP %d %s does not match the OpenAPI document: %v", c.method, c.path, resp.StatusCode, b, err)
	}
	return response{Response: resp, Body: b}
}

const password = "correct horse battery"

// user creates an account with a password and returns it with an access
// token issued by the service.
func (e *env) user(email string) (core.User, string) {
	e.t.Helper()
	u := e.CreateUser(e.t, email, password, false)
	_, pair, err := e.App.Service.SignIn(context.Background(), email, password, core.Client{})
	if err != nil {
		e.t.Fatal(err)
	}
	return u, pair.AccessToken
}

// update changes an account as an admin would (tether user set).
func (e *env) update(id string, change func(*core.User)) {
	e.t.Helper()
	if _, err := e.App.Service.UpdateUser(context.Background(), id, func(u *core.User) error { change(u); return nil }, core.AdminCLI); err != nil {
		e.t.Fatal(err)
	}
}

// linkDirectly stores an identity for userID, as a finished link would.
func (e *env) linkDirectly(userID, providerID, subject string) {
	e.t.Helper()
	err := e.App.Store.LinkIdentity(context.Background(), core.Identity{
		IdentityKey: core.IdentityKey{ProviderID: providerID, Issuer: "https://" + providerID + ".idp.test/", Subject: subject},
		UserID:      userID, Claims: json.RawMessage("{}"), LinkedAt: e.clock.Now(), LastSignInAt: e.clock.Now(),
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// wantError checks a JSON error answer: status and exact body.
func wantError(t testing.TB, r response, status int, want string) {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("HTTP %d %s, want %d", r.StatusCode, r.Body, status)
	}
	var got, exp any
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatalf("body %q: %v", r.Body, err)
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Fatalf("want %q: %v", want, err)
	}
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(exp)
	if !bytes.Equal(g, w) {
		t.Fatalf("body %s, want %s", g, w)
	}
}

// outcome is where a callback sent the browser.
type outcome struct {
	Linked       bool
	Error        string
	ErrorMessage string
}

// follow requests a callback URL with browser and decodes the redirect
// to the frontend. It fails the test unless the answer is a 302 to the
// public URL's home.
func (e *env) follow(browser *tethertest.Client, callback string) outcome {
	e.t.Helper()
	r := e.Do(browser, call{method: "GET", path: callback})
	if r.StatusCode != http.StatusFound {
		e.t.Fatalf("callback: HTTP %d %s, want 302", r.StatusCode, r.Body)
	}
	if len(r.Body) != 0 {
		e.t.Errorf("callback redirect has a body: %q", r.Body)
	}
	loc, err := url.Parse(r.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), e.URL+"/?") || loc.Path != "/" {
		e.t.Fatalf("callback redirects to %q, want %s/?...", r.Header.Get("Location"), e.URL)
	}
	q := loc.Query()
	o := outcome{Linked: q.Get("oidc_account_linked") == "true", Error: q.Get("oidc_account_linking_error"), ErrorMessage: q.Get("oidc_account_linking_error_message")}
	if o.Linked == (o.Error != "") || (o.Error == "") != (o.ErrorMessage == "") {
		e.t.Fatalf("callback redirect %q: want either oidc_account_linked=true or both error keys", loc)
	}
	return o
}

// startLink posts /api/v1/sso {issuer} from browser and returns the link.
func (e *env) startLink(browser *tethertest.Client, token, issuer string) string {
	e.t.Helper()
	r := e.Do(browser, call{method: "POST", path: "/api/v1/sso", bearer: token, body: map[string]string{"issuer": issuer}})
	if r.StatusCode != http.StatusOK {
		e.t.Fatalf("POST /api/v1/sso: HTTP %d %s", r.StatusCode, r.Body)
	}
	var out struct{ Link string }
	r.JSON(e.t, &out)
	if out.Link == "" {
		e.t.Fatalf("POST /api/v1/sso: no link in %s", r.Body)
	}
	return out.Link
}
