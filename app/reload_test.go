package app_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tether-id/tether/config"
	"github.com/tether-id/tether/testkit/mailtest"
	"github.com/tether-id/tether/testkit/rp"
	"github.com/tether-id/tether/testkit/testenv"
	"github.com/tether-id/tether/testkit/testpeer"
	"github.com/tether-id/tether/testkit/tethertest"
)

const (
	reloadEmail    = "ada@example.test"
	reloadPassword = "correct horse battery"
	oldOrigin      = "https://old.example"
	newOrigin      = "https://new.example"
)

// client is an app of tether's OpenID Provider in the reload tests: a
// first-party confidential client (no consent page).
func client(id string) config.Client {
	return config.Client{ID: id, Name: id, Secret: id + "-secret-0123456789", RedirectURIs: []string{"http://127.0.0.1:9/" + id}, IDTokenAlg: "ES256"}
}

// rpFor signs in to app id through srv with browser b and a password.
func rpFor(t *testing.T, srv *tethertest.Server, id string, b *tethertest.Browser) rp.Client {
	c := client(id)
	return rp.New(t, rp.Config{Issuer: srv.URL, ClientID: id, ClientSecret: c.Secret, RedirectURL: c.RedirectURIs[0],
		Scopes: []string{"openid", "email", "offline_access"}, UserAgent: b.UserAgent(tethertest.Password(reloadEmail, reloadPassword))})
}

// loginConfig reads Cloudreve's site login configuration with an Origin
// header, and returns the ids of the providers listed and the CORS
// origin allowed.
func loginConfig(t *testing.T, c *tethertest.Client, origin string) (ids []string, allowed string) {
	t.Helper()
	req, _ := http.NewRequest("GET", c.URL("/api/v4/site/config/login"), nil)
	req.Header.Set("Origin", origin)
	resp, err := c.Client.Do(req)
	if err != nil {
		t.Error(err)
		return nil, ""
	}
	defer resp.Body.Close()
	var env struct {
		Data struct {
			Providers []struct{ ID string } `json:"providers"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Error(err)
	}
	for _, p := range env.Data.Providers {
		ids = append(ids, p.ID)
	}
	return ids, resp.Header.Get("Access-Control-Allow-Origin")
}

// counter reads one series of the Prometheus text /metrics serves.
func counter(t *testing.T, srv *tethertest.Server, series string) int {
	t.Helper()
	m := regexp.MustCompile(regexp.QuoteMeta(series) + ` (\d+)`).FindStringSubmatch(metrics(t, srv))
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestReload: a reload that replaces a provider and a client and changes
// the CORS origins takes effect at once, all of it: the new provider is
// listed to Cloudreve and on the sign-in page and signs people in, the
// new client signs its users in, the new origin gets CORS headers, and
// the old ones are gone. What was issued before it stays valid: a
// Cloudreve session, an app's tokens, a browser's session at tether. The
// metrics count on across it.
func TestReload(t *testing.T) {
	t.Parallel()
	var first, second *testpeer.OP
	var logs testenv.SyncBuffer
	srv := tethertest.Start(t, tethertest.Options{
		PublicMetrics: true,
		Logger:        slog.New(slog.NewTextHandler(&logs, nil)),
		Providers: func(publicURL string) []config.Provider {
			first = testpeer.Zitadel(t, tethertest.OIDCCallbackURL(publicURL))
			second = testpeer.Zitadel(t, tethertest.OIDCCallbackURL(publicURL))
			return []config.Provider{tethertest.OIDCProvider("first", first)}
		},
		Configure: func(c *config.Config) {
			c.Clients = []config.Client{client("keep"), client("gone")}
			c.CORS.AllowedOrigins = []string{oldOrigin}
		},
	})
	srv.CreateUser(t, reloadEmail, reloadPassword, true)

	// Before: a Cloudreve session, an app's tokens, a browser signed in
	// at tether, an upstream sign-in through the first provider.
	c := srv.Client(t)
	session := c.SignIn(reloadEmail, reloadPassword)
	b := srv.Browser(t)
	keep := rpFor(t, srv, "keep", b)
	keepTokens := rp.MustLogin(t, keep, nil)
	if env := c.FinishOpenID("", tethertest.OIDCCode, first.Login(t, c.PrepareOpenID(tethertest.OIDCCode), testpeer.Alice)); env.Code != 0 {
		t.Fatalf("upstream sign-in before the reload: %s", env.Raw)
	}
	if ids, allowed := loginConfig(t, c, oldOrigin); !slices.Equal(ids, []string{"first"}) || allowed != oldOrigin {
		t.Fatalf("before the reload: providers %v, CORS %q", ids, allowed)
	}
	const listed = `tether_http_requests_total{route="GET /api/v4/site/config/login",status="200"}`
	const exchanged = `tether_op_token_requests_total{client="keep",grant_type="authorization_code",outcome="ok"}`
	before := counter(t, srv, listed)
	if before == 0 || counter(t, srv, exchanged) != 1 {
		t.Fatalf("metrics before the reload:\n%s", grep(metrics(t, srv), "tether_"))
	}

	r, err := srv.Reload(func(c *config.Config) {
		c.Providers = []config.Provider{tethertest.OIDCProvider("second", second)}
		c.Clients = []config.Client{client("keep"), client("fresh")}
		c.CORS.AllowedOrigins = []string{newOrigin}
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.Changed, ","); got != "cors,providers,clients" || len(r.Restart) != 0 {
		t.Errorf("Reloaded %+v", r)
	}
	if !strings.Contains(logs.String(), `msg="configuration reloaded" changed=cors,providers,clients`) {
		t.Errorf("log:\n%s", logs.String())
	}

	// The providers: Cloudreve's list, the sign-in page, a sign-in.
	if ids, allowed := loginConfig(t, c, newOrigin); !slices.Equal(ids, []string{"second"}) || allowed != newOrigin {
		t.Errorf("after the reload: providers %v, CORS %q for the new origin", ids, allowed)
	}
	if _, allowed := loginConfig(t, c, oldOrigin); allowed != "" {
		t.Errorf("the old origin still gets CORS headers: %q", allowed)
	}
	page, err := srv.Browser(t).Visit(srv.URL + "/login")
	if err != nil || !strings.Contains(page.Body, `value="second"`) || strings.Contains(page.Body, `value="first"`) {
		t.Errorf("sign-in page after the reload (%v):\n%s", err, page.Body)
	}
	authURL := c.PrepareOpenID(tethertest.OIDCCode)
	if !strings.HasPrefix(authURL, second.Issuer) {
		t.Fatalf("Cloudreve's OIDC code goes to %s, not to the new provider %s", authURL, second.Issuer)
	}
	if env := c.FinishOpenID("", tethertest.OIDCCode, second.Login(t, authURL, testpeer.Bob)); env.Code != 0 {
		t.Fatalf("upstream sign-in through the new provider: %s", env.Raw)
	}

	// The clients: the new one signs in, the removed one is unknown.
	fresh := rp.MustLogin(t, rpFor(t, srv, "fresh", srv.Browser(t)), nil)
	if fresh.Claims["email"] != reloadEmail {
		t.Errorf("the new client's ID token: %v", fresh.Claims)
	}
	gone := client("gone")
	q := url.Values{"client_id": {"gone"}, "redirect_uri": gone.RedirectURIs, "response_type": {"code"}, "scope": {"openid"}}
	if p, err := srv.Browser(t).Visit(srv.URL + "/oauth2/authorize?" + q.Encode()); err != nil || p.Status != http.StatusBadRequest {
		t.Errorf("the removed client's authorization request: %v HTTP %d %s", err, p.Status, p.Location)
	}

	// What was issued before still works.
	if env := c.Cloudreve("GET", "/api/v4/user/setting", nil, session.Token.AccessToken); env.Code != 0 {
		t.Errorf("an access token from before the reload: %s", env.Raw)
	}
	if env := c.Cloudreve("POST", "/api/v4/session/token/refresh", map[string]string{"refresh_token": session.Token.RefreshToken}, ""); env.Code != 0 {
		t.Errorf("a refresh token from before the reload: %s", env.Raw)
	}
	if info := rp.MustUserInfo(t, keep, keepTokens); info["email"] != reloadEmail {
		t.Errorf("userinfo with an app's access token from before the reload: %v", info)
	}
	rp.MustRefresh(t, keep, keepTokens)
	if p, err := b.Visit(srv.URL + "/account"); err != nil || p.Status != http.StatusOK || !strings.Contains(p.Body, reloadEmail) {
		t.Errorf("the browser's tether session after the reload: %v HTTP %d → %s", err, p.Status, p.Location)
	}

	// The counts went on.
	if after := counter(t, srv, listed); after < before+2 {
		t.Errorf("%s: %d before the reload and 2 requests later %d", listed, before, after)
	}
	if n := counter(t, srv, exchanged); n != 1 {
		t.Errorf("%s = %d after the reload, want 1", exchanged, n)
	}
	if n := counter(t, srv, `tether_op_token_requests_total{client="fresh",grant_type="authorization_code",outcome="ok"}`); n != 1 {
		t.Errorf("the new client's token request was counted %d times", n)
	}
}

// TestReloadRateLimits: a reload keeps a limiter whose settings did not
// change, with what it counted, and replaces one whose settings did.
func TestReloadRateLimits(t *testing.T) {
	t.Parallel()
	srv := tethertest.Start(t, tethertest.Options{Configure: func(c *config.Config) {
		c.RateLimit.Enabled = true
		c.RateLimit.PerIPPerMinute = 3
		c.RateLimit.PerAccountFailures = 1
	}})
	srv.CreateUser(t, reloadEmail, reloadPassword, true)
	c := srv.Client(t)
	prepare := func() int {
		t.Helper()
		return c.Cloudreve("GET", "/api/v4/session/prepare?email=x%40example.test", nil, "").Code
	}
	for i := range 3 {
		if code := prepare(); code != 0 {
			t.Fatalf("request %d: code %d", i+1, code)
		}
	}
	if code := prepare(); code != 429 {
		t.Fatalf("the fourth request within the minute: code %d, want 429", code)
	}

	// Unrelated change: the limiter keeps counting.
	if r, err := srv.Reload(func(c *config.Config) { c.CORS.AllowedOrigins = []string{newOrigin} }); err != nil || !slices.Equal(r.Changed, []string{"cors"}) {
		t.Fatalf("Reload = %+v, %v", r, err)
	}
	if code := prepare(); code != 429 {
		t.Fatalf("after a reload that left rate_limit alone: code %d, want 429", code)
	}

	// A wrong password locks the account out (one free failure).
	signIn := func(password string) int {
		t.Helper()
		return c.Cloudreve("POST", "/api/v4/session/token", map[string]string{"email": reloadEmail, "password": password}, "").Code
	}
	// A new per-address limit: a new limiter. The per-account one, whose
	// settings are the same, keeps its count.
	if r, err := srv.Reload(func(c *config.Config) { c.RateLimit.PerIPPerMinute = 1000 }); err != nil || !slices.Equal(r.Changed, []string{"rate_limit"}) {
		t.Fatalf("Reload = %+v, %v", r, err)
	}
	if code := prepare(); code != 0 {
		t.Fatalf("after raising the limit: code %d", code)
	}
	if code := signIn("wrong"); code != 40069 {
		t.Fatalf("wrong password: code %d", code)
	}
	if code := signIn("wrong"); code != 429 {
		t.Fatalf("second wrong password: code %d, want the lock-out", code)
	}
	if _, err := srv.Reload(func(c *config.Config) { c.RateLimit.PerIPPerMinute = 999 }); err != nil {
		t.Fatal(err)
	}
	if code := signIn(reloadPassword); code != 429 {
		t.Errorf("the account's lock-out was forgotten by a reload of the per-address limit: code %d", code)
	}
	if _, err := srv.Reload(func(c *config.Config) { c.RateLimit.PerAccountFailures = 5 }); err != nil {
		t.Fatal(err)
	}
	if code := signIn(reloadPassword); code != 0 {
		t.Errorf("after a new per-account limit: code %d", code)
	}
}

// gate holds the first POST it sees once armed (a token request to an
// upstream provider) until released: a slow upstream.
type gate struct {
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (g *gate) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && g.armed.CompareAndSwap(true, false) {
		close(g.entered)
		<-g.release
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestReloadInFlight: a sign-in waiting on a slow provider when a reload
// removes that provider finishes on the configuration it started with,
// while requests after the reload see the new one.
func TestReloadInFlight(t *testing.T) {
	t.Parallel()
	g := &gate{entered: make(chan struct{}), release: make(chan struct{})}
	var op *testpeer.OP
	srv := tethertest.Start(t, tethertest.Options{
		HTTPClient: &http.Client{Transport: g},
		Providers: func(publicURL string) []config.Provider {
			op = testpeer.Zitadel(t, tethertest.OIDCCallbackURL(publicURL))
			return []config.Provider{tethertest.OIDCProvider("corp", op)}
		},
		Configure: func(c *config.Config) { c.CORS.AllowedOrigins = []string{oldOrigin} },
	})
	c := srv.Client(t)
	back := op.Login(t, c.PrepareOpenID(tethertest.OIDCCode), testpeer.Alice)
	q := back.Query()
	body := fmt.Sprintf(`{"code":%q,"session_id":%q,"provider_id":2}`, q.Get("code"), q.Get("state"))
	req, _ := http.NewRequest("POST", srv.URL+"/api/v4/session/openid", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", oldOrigin)
	type answer struct {
		env    tethertest.Envelope
		origin string
		err    error
	}
	done := make(chan answer, 1)
	g.armed.Store(true)
	go func() {
		resp, err := c.Client.Do(req)
		if err != nil {
			done <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		var a answer
		a.err = json.NewDecoder(resp.Body).Decode(&a.env)
		a.origin = resp.Header.Get("Access-Control-Allow-Origin")
		done <- a
	}()
	<-g.entered // the finish waits on the provider's token endpoint

	if _, err := srv.Reload(func(c *config.Config) {
		c.Providers = nil
		c.CORS.AllowedOrigins = []string{newOrigin}
	}); err != nil {
		t.Fatal(err)
	}
	if ids, _ := loginConfig(t, c, newOrigin); len(ids) != 0 {
		t.Errorf("providers after the reload: %v", ids)
	}
	if env := c.Cloudreve("PUT", "/api/v4/session/openid", map[string]any{"provider": tethertest.OIDCCode}, ""); env.Code != 40019 {
		t.Errorf("prepare with the provider removed: %s", env.Raw)
	}
	close(g.release)
	a := <-done
	if a.err != nil || a.env.Code != 0 || a.origin != oldOrigin {
		t.Fatalf("the sign-in in flight during the reload: %v %+v, CORS %q", a.err, a.env, a.origin)
	}
	var login tethertest.Login
	a.env.Decode(t, &login)
	if env := c.Cloudreve("GET", "/api/v4/user/setting", nil, login.Token.AccessToken); env.Code != 0 {
		t.Errorf("the session it started: %s", env.Raw)
	}
}

// TestReloadConcurrent: while configurations A and B replace each other,
// every answer is all A or all B: a request whose answer lists A's
// provider has A's CORS origin allowed, and one that lists B's has not.
// Run with -race, it also checks that a swap races with nothing.
func TestReloadConcurrent(t *testing.T) {
	t.Parallel()
	set := func(name string) func(c *config.Config) {
		return func(c *config.Config) {
			c.Providers = []config.Provider{{ID: name, Kind: config.KindOIDC, Name: name, Enabled: true,
				Issuer: "https://" + name + ".example", ClientID: "x", ClientSecret: "y"}}
			c.CORS.AllowedOrigins = []string{"https://" + name + ".example"}
		}
	}
	srv := tethertest.Start(t, tethertest.Options{Configure: set("a")})
	stop := make(chan struct{})
	var wg, started sync.WaitGroup
	defer wg.Wait() // before the test ends, even when it fails
	var once sync.Once
	defer once.Do(func() { close(stop) })
	var answers atomic.Int64
	for range 4 {
		wg.Add(1)
		started.Add(1)
		go func() {
			defer wg.Done()
			c := srv.Client(t)
			for i := 0; ; i++ {
				ids, allowed := loginConfig(t, c, "https://a.example")
				answers.Add(1)
				if i == 0 {
					started.Done()
				}
				if a := slices.Equal(ids, []string{"a"}); a != (allowed == "https://a.example") || (!a && !slices.Equal(ids, []string{"b"})) {
					t.Errorf("an answer mixes two configurations: providers %v, CORS %q", ids, allowed)
					return
				}
				select {
				case <-stop:
					return
				default:
				}
			}
		}()
	}
	started.Wait()
	c := srv.Client(t)
	for i := range 20 {
		name := []string{"b", "a"}[i%2]
		if _, err := srv.Reload(set(name)); err != nil {
			t.Fatal(err)
		}
		if ids, _ := loginConfig(t, c, "https://a.example"); !slices.Equal(ids, []string{name}) {
			t.Fatalf("after reload %d: providers %v, want %s", i, ids, name)
		}
	}
	once.Do(func() { close(stop) })
	wg.Wait()
	t.Logf("%d answers during 20 reloads", answers.Load())
}

// TestReloadRestartAndRefused: keys that cannot change at run time keep
// their running values and are reported while the rest applies (tokens
// signed before still verify, since secret_key stays); a configuration
// that cannot be built changes nothing, and the log names the key.
func TestReloadRestartAndRefused(t *testing.T) {
	t.Parallel()
	var logs testenv.SyncBuffer
	srv := tethertest.Start(t, tethertest.Options{
		Logger:    slog.New(slog.NewTextHandler(&logs, nil)),
		Configure: func(c *config.Config) { c.CORS.AllowedOrigins = []string{oldOrigin} },
	})
	srv.CreateUser(t, reloadEmail, reloadPassword, true)
	c := srv.Client(t)
	session := c.SignIn(reloadEmail, reloadPassword)
	r, err := srv.Reload(func(c *config.Config) {
		c.Listen = "127.0.0.1:1"
		c.SecretKey = strings.Repeat("s", 40)
		c.Database = "sqlite://elsewhere.db"
		c.CORS.AllowedOrigins = []string{newOrigin}
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.Restart, ","); got != "listen,database,secret_key" || !slices.Equal(r.Changed, []string{"cors"}) {
		t.Errorf("Reloaded %+v", r)
	}
	if !strings.Contains(logs.String(), `keys=listen,database,secret_key`) || !strings.Contains(logs.String(), "need a restart") {
		t.Errorf("log:\n%s", logs.String())
	}
	if _, allowed := loginConfig(t, c, newOrigin); allowed != newOrigin {
		t.Errorf("the rest did not apply: CORS %q", allowed)
	}
	if env := c.Cloudreve("GET", "/api/v4/user/setting", nil, session.Token.AccessToken); env.Code != 0 {
		t.Errorf("an access token signed before: %s", env.Raw)
	}

	for _, tc := range []struct {
		name      string
		configure func(c *config.Config)
		key       string
	}{
		{"origin", func(c *config.Config) { c.CORS.AllowedOrigins = []string{"https://a.example/path"} }, "cors.allowed_origins"},
		{"provider", func(c *config.Config) {
			c.Providers = []config.Provider{{ID: "x", Kind: "saml", Enabled: true}}
		}, "providers[0] (x)"},
	} {
		mark := len(logs.String())
		if _, err := srv.Reload(tc.configure); err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: Reload error %v, want one naming %s", tc.name, err, tc.key)
		}
		if l := logs.String()[mark:]; !strings.Contains(l, "configuration not reloaded") || !strings.Contains(l, tc.key) {
			t.Errorf("%s: log:\n%s", tc.name, l)
		}
		if _, allowed := loginConfig(t, c, newOrigin); allowed != newOrigin {
			t.Errorf("%s: the running configuration did not stay: CORS %q", tc.name, allowed)
		}
	}
}

// TestReloadMail: a reload that adds an smtp block starts the mail
// worker, one that changes it starts it again with the new sender, and
// one that leaves it alone keeps it sending.
func TestReloadMail(t *testing.T) {
	t.Parallel()
	mp := mailtest.Shared(t)
	srv := tethertest.Start(t, tethertest.Options{})
	address := mailtest.Recipient(t)
	srv.CreateUser(t, address, reloadPassword, true)
	c := srv.Client(t)
	reset := func() tethertest.Envelope {
		t.Helper()
		return c.Cloudreve("POST", "/api/v4/user/reset", map[string]string{"email": address}, "")
	}
	if env := reset(); env.Code != 40019 {
		t.Fatalf("reset without mail: %s", env.Raw)
	}
	steps := []struct {
		name      string
		configure func(c *config.Config)
		from      string
	}{
		{"smtp added", func(c *config.Config) { c.SMTP = tethertest.SMTP(mp) }, "no-reply@example.test"},
		{"smtp.from changed", func(c *config.Config) { c.SMTP.From = "tether <reload@example.test>" }, "reload@example.test"},
		{"smtp unchanged", func(c *config.Config) { c.Registration.Password = false }, "reload@example.test"},
	}
	for _, s := range steps {
		if _, err := srv.Reload(s.configure); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if env := reset(); env.Code != 0 {
			t.Fatalf("%s: reset: %s", s.name, env.Raw)
		}
		msg, _ := tethertest.TakeMail(t, mp, address)
		if msg.From == nil || msg.From.Address != s.from {
			t.Errorf("%s: the message is from %+v, want %s", s.name, msg.From, s.from)
		}
	}
}
