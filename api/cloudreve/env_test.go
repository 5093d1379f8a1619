package cloudreve_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/google/uuid"

	"github.com/tether-id/tether/config"
	"github.com/tether-id/tether/internal/avatar"
	"github.com/tether-id/tether/provider/qq/qqtest"
	"github.com/tether-id/tether/testkit/apitest"
	"github.com/tether-id/tether/testkit/testclock"
	"github.com/tether-id/tether/testkit/testenv"
	"github.com/tether-id/tether/testkit/testpeer"
	"github.com/tether-id/tether/testkit/tethertest"
)

// The providers every test server has. corp is the Cloudreve "OIDC"
// provider (code 2); partner is a second OIDC provider on the same OP,
// reachable only through provider_key, that creates no accounts; qq is
// code 1. logto (code 0) is panva in Logto mode when a test asks for it,
// else a disabled Logto provider stands in, so code 0 is "not enabled".
const (
	corpName    = "Corp SSO"
	corpIcon    = "mdi:domain"
	logtoName   = "Logto"
	logtoIcon   = "https://example.test/logto.svg"
	qqName      = "QQ"
	qqIcon      = "mdi:qqchat"
	qqAppID     = "101474821"
	qqAppKey    = "qq-app-key-0123456789"
	browserUA   = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
	partnerPath = "/callback/openid/partner"
)

type envOptions struct {
	// logto starts panva in Logto mode (node; skipped locally without it).
	logto bool
	// debug turns on the "error" field of failures.
	debug bool
	// now is the server's clock.
	now func() time.Time
	// configure changes the config after the providers are set.
	configure func(*config.Config)
	// httpClient talks to the providers; nil: the app's default.
	httpClient *http.Client
}

// env is a running tether with real upstream providers and the OpenAPI
// document it serves.
type env struct {
	srv     *tethertest.Server
	zitadel *testpeer.OP
	logto   *testpeer.OP
	qq      *qqtest.Server
	// qqUsers are two QQ accounts; the first signs in by default.
	qqUsers []qqtest.User
	router  routers.Router
	debug   bool
	// pictures serves upstream pictures over https on loopback, which
	// the server's fetcher is allowed to reach: /face.png, an SVG at
	// /face.svg, and a redirect to evil.example at /elsewhere.
	pictures *httptest.Server
}

// pngFace is a 1×1 PNG.
var pngFace = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82")

func pictureServer(t *testing.T) *httptest.Server {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/face.png":
			w.Header().Set("Content-Type", "image/png")
			_, _ = w.Write(pngFace)
		case "/face.svg":
			w.Header().Set("Content-Type", "image/svg+xml")
			_, _ = io.WriteString(w, `<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`)
		case "/elsewhere":
			http.Redirect(w, r, "https://evil.example/x.png", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func newEnv(t *testing.T, opts envOptions) *env {
	t.Helper()
	e := &env{debug: opts.debug, pictures: pictureServer(t)}
	roots := x509.NewCertPool()
	roots.AddCert(e.pictures.Certificate())
	fetcher := avatar.New(avatar.Options{AllowLoopback: true, RootCAs: roots})
	if opts.logto {
		// panva needs the server's redirect URI, so it starts inside
		// Providers below; a missing node skips (or fails, under CI)
		// before anything starts.
		testenv.Need(t, testenv.NodeModules)
	}
	e.srv = tethertest.Start(t, tethertest.Options{
		Now:        opts.now,
		HTTPClient: opts.httpClient,
		Pictures: func(ctx context.Context, u string) (string, []byte, error) {
			img, err := fetcher.Fetch(ctx, u)
			return img.Type, img.Data, err
		},
		Providers: func(public string) []config.Provider {
			e.zitadel = testpeer.Zitadel(t, public+"/callback/openid/2", public+partnerPath)
			e.qq = qqtest.NewServer(t, qqAppID, qqAppKey)
			e.qq.RegisterRedirectURI(public + "/login/qq")
			e.qqUsers = []qqtest.User{e.qq.User(), e.qq.AddUser("大企鹅")}
			qe := e.qq.Endpoints()
			ps := []config.Provider{
				{ID: "corp", Kind: config.KindOIDC, Name: corpName, Icon: corpIcon, Enabled: true, DirectSignIn: true,
					Issuer: e.zitadel.Issuer, ClientID: e.zitadel.ClientID, ClientSecret: e.zitadel.ClientSecret},
				{ID: "partner", Kind: config.KindOIDC, Name: "Partner", Enabled: true, DirectSignIn: false,
					Issuer: e.zitadel.Issuer, ClientID: e.zitadel.ClientID, ClientSecret: e.zitadel.ClientSecret},
				{ID: "qq", Kind: config.KindQQ, Name: qqName, Icon: qqIcon, Enabled: true, DirectSignIn: true,
					ClientID: qqAppID, ClientSecret: qqAppKey, Key: "openid",
					Endpoints: config.Endpoints{Authorize: qe.Authorize, Token: qe.Token, Me: qe.Me, UserInfo: qe.UserInfo}},
			}
			if opts.logto {
				e.logto = testpeer.Panva(t, testpeer.PanvaOptions{Logto: true, RedirectURIs: []string{public + "/callback/openid/0"}})
				ps = append(ps, config.Provider{ID: "logto", Kind: config.KindLogto, Name: logtoName, Icon: logtoIcon,
					Enabled: true, DirectSignIn: true,
					Issuer: e.logto.Issuer, ClientID: e.logto.ClientID, ClientSecret: e.logto.ClientSecret})
			} else {
				ps = append(ps, config.Provider{ID: "logto-off", Kind: config.KindLogto, Name: "Logto (off)", Enabled: false,
					Issuer: "https://logto.invalid/oidc", ClientID: "x", ClientSecret: "y"})
			}
			return ps
		},
		Configure: func(c *config.Config) {
			c.Debug = opts.debug
			if opts.configure != nil {
				opts.configure(c)
			}
		},
	})
	e.router = apitest.Router(t, e.srv.URL)
	return e
}

// client is a browser-like Cloudreve client (one cookie jar) that checks
// every request it sends and every response it receives against the
// OpenAPI document, and the envelope rules of every answer: HTTP 200, and
// on failure a UUID correlation_id that matches the X-Correlation-Id
// header and an "error" field exactly when the server is in debug mode.
type client struct {
	t  *testing.T
	e  *env
	c  *tethertest.Client
	ua string
	// header is the last response's header.
	header http.Header
}

func (e *env) client(t *testing.T) *client {
	return &client{t: t, e: e, c: e.srv.Client(t), ua: browserUA}
}

// rawBody is sent as is, for malformed JSON.
type rawBody string

// call sends a request the document allows and returns the envelope.
func (c *client) call(method, path string, body any, bearer string) tethertest.Envelope {
	c.t.Helper()
	return c.envelope(c.send(method, path, body, bearer, true))
}

// callInvalid sends a request the document forbids (a bad body, a
// missing token) and returns the envelope; the test fails if the
// document would allow the request, so the document is as strict as the
// server.
func (c *client) callInvalid(method, path string, body any, bearer string) tethertest.Envelope {
	c.t.Helper()
	return c.envelope(c.send(method, path, body, bearer, false))
}

type exchange struct {
	method, path string
	resp         *http.Response
	body         []byte
}

func (c *client) send(method, path string, body any, bearer string, wantValid bool) exchange {
	c.t.Helper()
	var b []byte
	switch v := body.(type) {
	case nil:
	case rawBody:
		b = []byte(v)
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			c.t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, c.e.srv.URL+path, bytes.NewReader(b))
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	req.Header.Set("User-Agent", c.ua)

	route, params, err := c.e.router.FindRoute(req)
	if err != nil {
		c.t.Fatalf("%s %s is not in the OpenAPI document: %v", method, path, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: apitest.Options}
	verr := openapi3filter.ValidateRequest(context.Background(), in)
	switch {
	case wantValid && verr != nil:
		c.t.Errorf("%s %s: the request does not match the OpenAPI document: %v", method, path, verr)
	case !wantValid && verr == nil:
		c.t.Errorf("%s %s: the OpenAPI document allows this request, which the test sends as one it forbids: %s", method, path, b)
	}
	req.Body = io.NopCloser(bytes.NewReader(b))

	resp, err := c.c.Client.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	c.header = resp.Header
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	rin := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header, Options: apitest.Options,
	}
	rin.SetBodyBytes(got)
	if err := openapi3filter.ValidateResponse(context.Background(), rin); err != nil {
		c.t.Errorf("%s %s: the response does not match the OpenAPI document: %v\n%s", method, path, err, got)
	}
	return exchange{method: method, path: path, resp: resp, body: got}
}

// envelope decodes a Cloudreve answer and checks the rules every answer
// follows.
func (c *client) envelope(x exchange) tethertest.Envelope {
	c.t.Helper()
	var env tethertest.Envelope
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(x.body, &env); err != nil {
		c.t.Fatalf("%s %s: not an envelope: %v\n%s", x.method, x.path, err, x.body)
	}
	if err := json.Unmarshal(x.body, &keys); err != nil {
		c.t.Fatal(err)
	}
	env.Raw, env.Status = x.body, x.resp.StatusCode
	if x.resp.StatusCode != http.StatusOK {
		c.t.Errorf("%s %s: HTTP %d, want 200 always", x.method, x.path, x.resp.StatusCode)
	}
	_, hasError := keys["error"]
	_, hasCorrelation := keys["correlation_id"]
	if env.Code == 0 {
		if hasError || hasCorrelation {
			c.t.Errorf("%s %s: success with error or correlation_id: %s", x.method, x.path, x.body)
		}
		return env
	}
	if _, err := uuid.Parse(env.CorrelationID); err != nil {
		c.t.Errorf("%s %s: failure without a UUID correlation_id: %s", x.method, x.path, x.body)
	}
	if h := x.resp.Header.Get("X-Correlation-Id"); h != env.CorrelationID {
		c.t.Errorf("%s %s: correlation_id %q, X-Correlation-Id header %q", x.method, x.path, env.CorrelationID, h)
	}
	if hasError != c.e.debug {
		c.t.Errorf("%s %s: \"error\" present=%v with debug=%v: %s", x.method, x.path, hasError, c.e.debug, x.body)
	}
	if env.Msg == "" {
		c.t.Errorf("%s %s: failure without msg: %s", x.method, x.path, x.body)
	}
	return env
}

// want fails the test unless env has code (and, when given, a msg
// containing msg).
func want(t testing.TB, env tethertest.Envelope, code int, msg string) {
	t.Helper()
	if env.Code != code || !strings.Contains(env.Msg, msg) {
		t.Errorf("got %s, want code %d with msg containing %q", env.Raw, code, msg)
	}
}

// ok fails the test now unless env is a success, and decodes its data
// into v (when v is not nil).
func ok(t testing.TB, env tethertest.Envelope, v any) {
	t.Helper()
	if env.Code != 0 {
		t.Fatalf("want success, got %s", env.Raw)
	}
	if v != nil {
		env.Decode(t, v)
	}
}

func newClock() *testclock.Clock { return testclock.New(time.Now()) }
