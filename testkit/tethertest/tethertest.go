// Package tethertest starts a complete tether, built by package app exactly
// as `tether serve` builds it, on a random loopback port for end-to-end
// tests, and gives tests an HTTP client with a cookie jar that speaks the
// Cloudreve envelope.
package tethertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-id/tether/app"
	"github.com/tether-id/tether/config"
	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/mail"
)

// Secrets used by test servers; two servers given the same values share
// sessions, as instances behind one load balancer do.
const (
	SecretKey     = "tethertest-secret-key-0123456789abcdef"
	EncryptionKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
)

// Options describe the server to start.
type Options struct {
	// Providers returns the providers given the server's public URL (the
	// peers need the callback URLs before the server starts).
	Providers func(publicURL string) []config.Provider
	// Database defaults to a fresh SQLite file in a temp dir.
	Database string
	// Configure may change anything else before the app is built.
	Configure func(*config.Config)
	Now       func() time.Time
	// Logger defaults to one that writes to the test log only on failure.
	Logger *slog.Logger
	// PublicMetrics serves /metrics beside the API, as tether dev does.
	PublicMetrics bool
	// Pictures fetches upstream pictures; nil is production's, which
	// reaches public https addresses only (none in tests).
	Pictures core.PictureFetcher
	// HTTPClient talks to the upstream providers; nil: app's default.
	HTTPClient *http.Client
	// MailSender sends mail when the configuration has no smtp block
	// (mail.Outbox, as tether dev does); nil: no mail without smtp.
	MailSender mail.Sender
}

// Server is a running tether.
type Server struct {
	URL    string
	App    *app.App
	Config *config.Config
	HTTP   *httptest.Server

	closeOnce sync.Once
}

// Start builds and starts a server; it stops when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	hs := httptest.NewUnstartedServer(nil)
	publicURL := "http://" + hs.Listener.Addr().String()
	cfg := config.Defaults()
	cfg.PublicURL = publicURL
	cfg.Listen = hs.Listener.Addr().String()
	cfg.SecretKey, cfg.EncryptionKey = SecretKey, EncryptionKey
	cfg.Database = opts.Database
	if cfg.Database == "" {
		cfg.Database = "sqlite://" + filepath.Join(t.TempDir(), "tether.db")
	}
	cfg.RateLimit.Enabled = false
	if opts.Providers != nil {
		cfg.Providers = opts.Providers(publicURL)
	}
	if opts.Configure != nil {
		opts.Configure(&cfg)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	a, err := app.New(context.Background(), &cfg, app.Options{Logger: log, Now: opts.Now, PublicMetrics: opts.PublicMetrics, HTTPClient: opts.HTTPClient, Pictures: opts.Pictures,
		MailSender: opts.MailSender})
	if err != nil {
		hs.Close()
		t.Fatalf("tethertest: build app: %v", err)
	}
	hs.Config.Handler = a.Handler()
	hs.Start()
	a.StartMail() // as Serve does; a no-op without a mail server
	s := &Server{URL: publicURL, App: a, Config: &cfg, HTTP: hs}
	t.Cleanup(s.Close)
	return s
}

// Close stops the server and closes its app (its mail worker and store),
// as a stopping tether does; a test may call it early to restart tether
// on the same database. Closing twice does nothing.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.HTTP.Close()
		s.App.Close()
	})
}

// Reload applies a configuration made by configure from a copy of the
// running one (s.Config), as SIGHUP does with a file read again, and
// makes it s.Config when it applies. The error is Reload's: the running
// configuration then stays.
func (s *Server) Reload(configure func(*config.Config)) (app.Reloaded, error) {
	next := *s.Config
	next.Providers = slices.Clone(next.Providers)
	next.Clients = slices.Clone(next.Clients)
	next.CORS.AllowedOrigins = slices.Clone(next.CORS.AllowedOrigins)
	next.Web.RedirectAllowList = slices.Clone(next.Web.RedirectAllowList)
	next.RateLimit.TrustedProxies = slices.Clone(next.RateLimit.TrustedProxies)
	configure(&next)
	r, err := s.App.Reload(&next)
	if err == nil {
		s.Config = &next
	}
	return r, err
}

// testWriter sends log lines to t.Log, so they show only for failures.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Client is a browser-like HTTP client: it keeps cookies and does not
// follow redirects (tests look at each hop).
type Client struct {
	*http.Client
	t    testing.TB
	base string
}

// Client returns a new client with an empty cookie jar.
func (s *Server) Client(t testing.TB) *Client {
	jar, _ := cookiejar.New(nil)
	return &Client{
		Client: &http.Client{
			Jar:           jar,
			Timeout:       30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		t: t, base: s.URL,
	}
}

// URL returns the absolute URL of path on the client's server.
func (c *Client) URL(path string) string { return c.base + path }

// Envelope is a decoded Cloudreve response.
type Envelope struct {
	Code          int             `json:"code"`
	Data          json.RawMessage `json:"data"`
	Msg           string          `json:"msg"`
	Error         string          `json:"error"`
	CorrelationID string          `json:"correlation_id"`
	// Raw is the whole body as received.
	Raw []byte `json:"-"`
	// Status is the HTTP status (always 200 for Cloudreve).
	Status int `json:"-"`
}

// Decode unmarshals Data into v, failing the test on error.
func (e Envelope) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(e.Data, v); err != nil {
		t.Fatalf("decode data %s: %v", e.Data, err)
	}
}

// Do sends a request with an optional JSON body and bearer token and
// returns the response with its body read.
func (c *Client) Do(method, path string, body any, bearer string) (*http.Response, []byte) {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	u := path
	if strings.HasPrefix(path, "/") {
		u = c.base + path
	}
	req, err := http.NewRequest(method, u, r)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.Client.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp, b
}

// Cloudreve sends a Cloudreve API request and decodes the envelope.
func (c *Client) Cloudreve(method, path string, body any, bearer string) Envelope {
	c.t.Helper()
	resp, b := c.Do(method, path, body, bearer)
	var e Envelope
	if err := json.Unmarshal(b, &e); err != nil {
		c.t.Fatalf("%s %s: body is not an envelope: %v\n%s", method, path, err, b)
	}
	e.Raw, e.Status = b, resp.StatusCode
	return e
}

// Tokens is the Cloudreve token pair.
type Tokens struct {
	AccessToken    string    `json:"access_token"`
	RefreshToken   string    `json:"refresh_token"`
	AccessExpires  time.Time `json:"access_expires"`
	RefreshExpires time.Time `json:"refresh_expires"`
}

// Login is Cloudreve's {user, token}.
type Login struct {
	User struct {
		ID       string `json:"id"`
		Email    string `json:"email"`
		Nickname string `json:"nickname"`
		Status   string `json:"status"`
	} `json:"user"`
	Token Tokens `json:"token"`
}

// CreateUser makes an account with a password through the service.
func (s *Server) CreateUser(t testing.TB, email, password string, verified bool) core.User {
	t.Helper()
	u, err := s.App.Service.CreateUser(context.Background(), core.NewUser{Email: email, Password: password, EmailVerified: verified}, core.AdminCLI)
	if err != nil {
		t.Fatalf("create user %s: %v", email, err)
	}
	return u
}

// SignIn signs in with a password through the Cloudreve API.
func (c *Client) SignIn(email, password string) Login {
	c.t.Helper()
	env := c.Cloudreve("POST", "/api/v4/session/token", map[string]string{"email": email, "password": password}, "")
	if env.Code != 0 {
		c.t.Fatalf("sign in %s: %s", email, env.Raw)
	}
	var l Login
	env.Decode(c.t, &l)
	return l
}

// WriteArtifact saves data under the test output folder (TETHERTEST_OUTPUT,
// default ./testoutput) and returns its path.
func WriteArtifact(t testing.TB, name string, data []byte) string {
	t.Helper()
	dir := os.Getenv("TETHERTEST_OUTPUT")
	if dir == "" {
		dir = "testoutput"
	}
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// String is for error messages.
func (e Envelope) String() string {
	return fmt.Sprintf("code=%d msg=%q data=%s", e.Code, e.Msg, e.Data)
}
