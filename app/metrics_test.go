package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tether-id/tether/config"
	"github.com/tether-id/tether/mail"
	"github.com/tether-id/tether/provider/qq/qqtest"
	"github.com/tether-id/tether/testkit/rp"
	"github.com/tether-id/tether/testkit/testclock"
	"github.com/tether-id/tether/testkit/testpeer"
	"github.com/tether-id/tether/testkit/tethertest"
)

// metricsEnv is a tether with its rate limits on (2 requests a minute
// per address, one free wrong password per email, one message per
// address), every request of its clients from an address of its own
// unless a test names one, mail through tether dev's outbox, and three
// providers: corp, the zitadel OP; qq, the QQ Connect fake; and down, an
// OpenID provider nobody answers for.
type metricsEnv struct {
	srv   *tethertest.Server
	clock *testclock.Clock
	op    *testpeer.OP
	qq    *qqtest.Server
	// qqUsers: the first signs in, the second is linked.
	qqUsers []qqtest.User

	// What the cases hand on to each other.
	corp     tethertest.Login    // Alice's account, made by her first sign-in through corp
	corpBack *url.URL            // the corp callback of that sign-in
	client   *tethertest.Client  // the Cloudreve client that signed her in
	web      *tethertest.Browser // the browser that signed her in on the pages
	tokens   []tethertest.Tokens // refresh tokens, oldest first
	password map[string]string   // password accounts: email → password
}

func newMetricsEnv(t *testing.T) *metricsEnv {
	e := &metricsEnv{clock: testclock.New(time.Now()), password: map[string]string{}}
	e.srv = tethertest.Start(t, tethertest.Options{
		Now:           e.clock.Now,
		PublicMetrics: true,
		MailSender:    mail.NewOutbox(100, nil),
		Providers: func(public string) []config.Provider {
			e.op = testpeer.Zitadel(t, public+"/callback/openid/2", public+"/oauth/sso/corp/callback")
			e.qq = qqtest.NewServer(t, "101474821", "qq-app-key-0123456789")
			e.qq.RegisterRedirectURI(public + "/login/qq")
			e.qqUsers = []qqtest.User{e.qq.User(), e.qq.AddUser("企鹅")}
			qe := e.qq.Endpoints()
			return []config.Provider{
				{ID: "corp", Kind: config.KindOIDC, Name: "Corp", Enabled: true, DirectSignIn: true,
					Issuer: e.op.Issuer, ClientID: e.op.ClientID, ClientSecret: e.op.ClientSecret},
				{ID: "qq", Kind: config.KindQQ, Name: "QQ", Enabled: true, DirectSignIn: true,
					ClientID: "101474821", ClientSecret: "qq-app-key-0123456789", Key: "openid",
					Endpoints: config.Endpoints{Authorize: qe.Authorize, Token: qe.Token, Me: qe.Me, UserInfo: qe.UserInfo}},
				{ID: "down", Kind: config.KindOIDC, Name: "Down", Enabled: true, DirectSignIn: true,
					Issuer: "http://127.0.0.1:1/", ClientID: "x", ClientSecret: "y"},
			}
		},
		Configure: func(c *config.Config) {
			c.RateLimit.Enabled = true
			c.RateLimit.TrustedProxies = []string{"127.0.0.1"}
			c.RateLimit.PerIPPerMinute = 2
			c.RateLimit.PerAccountFailures = 1
			c.RateLimit.MailPerAddress = 1
			c.Clients = []config.Client{{ID: "app", Secret: appSecret, RedirectURIs: []string{appBack}, IDTokenAlg: "ES256"}}
		},
	})
	return e
}

// The app of tether's OpenID Provider, first-party (no consent).
const (
	appSecret = "app-secret-0123456789abcdef"
	appBack   = "http://127.0.0.1:9/callback"
)

// appSignIn signs the password account email in to the app through
// tether's pages, in a new browser, and returns the app and its request
// with the code it got, not yet redeemed.
func (e *metricsEnv) appSignIn(t *testing.T, email, password string) (*rp.RP, *rp.AuthRequest, string) {
	t.Helper()
	ctx := context.Background()
	r := rp.New(t, rp.Config{Issuer: e.srv.URL, ClientID: "app", ClientSecret: appSecret, RedirectURL: appBack,
		Scopes: []string{"openid", "offline_access"}, HTTPClient: &http.Client{Transport: &everywhere}})
	req, err := r.AuthRequest(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	back, err := e.newBrowser(t).UserAgent(tethertest.Password(email, password))(req.URL)
	if err != nil {
		t.Fatal(err)
	}
	code, err := r.ParseCallback(req, back)
	if err != nil {
		t.Fatal(err)
	}
	return r, req, code
}

// exhaust sends requests from address until one is refused with
// Retry-After.
func (e *metricsEnv) exhaust(t *testing.T, method, path, address string) {
	t.Helper()
	for range 10 {
		req, _ := http.NewRequest(method, e.srv.URL+path, nil)
		req.Header.Set("X-Forwarded-For", address)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("Retry-After") != "" {
			return
		}
	}
	t.Fatalf("%s %s: never limited", method, path)
}

// fromEverywhere sends each request from an address of its own, as a
// trusted proxy says in X-Forwarded-For, so that only a request that
// names its address itself spends a shared budget.
type fromEverywhere struct{ n atomic.Uint32 }

func (f *fromEverywhere) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("X-Forwarded-For") == "" {
		r = r.Clone(r.Context())
		n := f.n.Add(1)
		r.Header.Set("X-Forwarded-For", fmt.Sprintf("10.%d.%d.%d", n>>16&255, n>>8&255, n&255))
	}
	return http.DefaultTransport.RoundTrip(r)
}

var everywhere fromEverywhere

func (e *metricsEnv) newClient(t *testing.T) *tethertest.Client {
	c := e.srv.Client(t)
	c.Client.Transport = &everywhere
	return c
}

func (e *metricsEnv) newBrowser(t *testing.T) *tethertest.Browser {
	b := e.srv.Browser(t)
	b.Client.Client.Transport = &everywhere
	return b
}

// cloudreveUpstream signs in (or links, with a bearer) through the
// Cloudreve API: prepare for provider code (and key), log in at the
// provider with login, finish. It returns the finish's envelope and
// where the provider sent the browser back.
func cloudreveUpstream(t *testing.T, c *tethertest.Client, code int, key, bearer string, login func(authURL string) *url.URL) (tethertest.Envelope, *url.URL) {
	t.Helper()
	body := map[string]any{"provider": code}
	if key != "" {
		body["provider_key"] = key
	}
	if bearer != "" {
		body["linking"] = true
	}
	env := c.Cloudreve("PUT", "/api/v4/session/openid", body, bearer)
	var authURL string
	if env.Code != 0 {
		t.Fatalf("prepare: %s", env.Raw)
	}
	env.Decode(t, &authURL)
	back := login(authURL)
	return finish(t, c, back, code, bearer), back
}

// finish posts the callback back as Cloudreve's callback page does.
func finish(t *testing.T, c *tethertest.Client, back *url.URL, code int, bearer string) tethertest.Envelope {
	t.Helper()
	q := back.Query()
	if q.Get("code") == "" {
		t.Fatalf("the provider sent no code: %s", back)
	}
	return c.Cloudreve("POST", "/api/v4/session/openid", map[string]any{
		"code": q.Get("code"), "session_id": q.Get("state"), "provider_id": code,
	}, bearer)
}

func (e *metricsEnv) corpLogin(t *testing.T, who testpeer.User) func(string) *url.URL {
	return func(authURL string) *url.URL { return e.op.Login(t, authURL, who) }
}

func (e *metricsEnv) qqLogin(t *testing.T, who qqtest.User) func(string) *url.URL {
	return func(authURL string) *url.URL {
		t.Helper()
		e.qq.SignInAs(who)
		back, err := e.qq.Authorize(authURL)
		if err != nil {
			t.Fatal(err)
		}
		return back
	}
}

func wantCode(t *testing.T, env tethertest.Envelope, code int) {
	t.Helper()
	if env.Code != code {
		t.Fatalf("code %d, want %d: %s", env.Code, code, env.Raw)
	}
}

// exposition is one scrape of /metrics.
type exposition map[string]*dto.MetricFamily

func scrape(t *testing.T, s *tethertest.Server) exposition {
	t.Helper()
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: HTTP %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// family returns the family a sample name belongs to, and which part of
// it the name is: "" for the sample itself, "_count", "_sum" or
// "_bucket" of a histogram or summary.
func (x exposition) family(name string) (*dto.MetricFamily, string) {
	if f, ok := x[name]; ok {
		return f, ""
	}
	for _, suffix := range []string{"_count", "_sum", "_bucket"} {
		if f, ok := x[strings.TrimSuffix(name, suffix)]; ok && strings.HasSuffix(name, suffix) &&
			(f.GetType() == dto.MetricType_HISTOGRAM || f.GetType() == dto.MetricType_SUMMARY) {
			return f, suffix
		}
	}
	return nil, ""
}

// value is the sample name{labels}, with exactly those labels; 0 when
// there is none.
func (x exposition) value(name string, labels map[string]string) float64 {
	f, part := x.family(name)
	if f == nil {
		return 0
	}
	for _, m := range f.GetMetric() {
		if !sameLabels(m.GetLabel(), labels) {
			continue
		}
		return sample(m, part)
	}
	return 0
}

// total sums every sample of the family name.
func (x exposition) total(name string) float64 {
	var sum float64
	if f := x[name]; f != nil {
		for _, m := range f.GetMetric() {
			sum += sample(m, "")
		}
	}
	return sum
}

func sample(m *dto.Metric, part string) float64 {
	switch {
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetHistogram() != nil && part == "_sum":
		return m.GetHistogram().GetSampleSum()
	case m.GetHistogram() != nil:
		return float64(m.GetHistogram().GetSampleCount())
	}
	return m.GetUntyped().GetValue()
}

func sameLabels(got []*dto.LabelPair, want map[string]string) bool {
	if len(got) != len(want) {
		return false
	}
	for _, l := range got {
		if v, ok := want[l.GetName()]; !ok || v != l.GetValue() {
			return false
		}
	}
	return true
}

// series is a sample a case moves, and by how much.
type series struct {
	name   string
	labels map[string]string
	delta  float64
}

// at is the sample name{k=v,...} moved by one.
func at(name string, kv ...string) series {
	s := series{name: name, labels: map[string]string{}, delta: 1}
	for _, p := range kv {
		k, v, _ := strings.Cut(p, "=")
		s.labels[k] = v
	}
	return s
}

func (s series) by(d float64) series { s.delta = d; return s }

func (s series) String() string {
	var kv []string
	for k, v := range s.labels {
		kv = append(kv, fmt.Sprintf("%s=%q", k, v))
	}
	sort.Strings(kv)
	return s.name + "{" + strings.Join(kv, ",") + "}"
}

// exact are the families whose every change a case must name: a count
// made twice, or under the wrong labels, moves the family's total by
// more than the case wants.
var exact = []string{
	"tether_signins_total", "tether_signups_total", "tether_links_total", "tether_unlinks_total",
	"tether_refreshes_total", "tether_token_reuse_total", "tether_flows_started_total",
	"tether_flows_expired_total", "tether_rate_limited_total",
}

// TestMetrics does, against a running tether, each thing its metrics
// count, and checks that exactly the samples it should moved, by exactly
// as much; then that every metric the Grafana dashboard and the
// Prometheus alerts in docs/ use is among those it serves.
func TestMetrics(t *testing.T) {
	e := newMetricsEnv(t)
	ctx := context.Background()
	const cr, web, vs = "surface=cloudreve", "surface=web", "surface=versia"

	tests := []struct {
		name string
		do   func(t *testing.T)
		want []series
		// later are samples the case moves in the background (a message
		// sent by the mail worker): waited for, up to 15 s.
		later []series
	}{
		{
			name: "password sign-up, and its verification mail",
			do: func(t *testing.T) {
				e.password["pat@example.test"] = "correct horse battery"
				wantCode(t, e.newClient(t).Cloudreve("POST", "/api/v4/user",
					map[string]string{"email": "pat@example.test", "password": "correct horse battery"}, ""), 0)
			},
			want:  []series{at("tether_signups_total", cr, "provider=password", "result=ok")},
			later: []series{at("tether_mail_total", "kind=verify_email", "outcome=sent")},
		},
		{
			name: "refused password sign-up",
			do: func(t *testing.T) {
				wantCode(t, e.newClient(t).Cloudreve("POST", "/api/v4/user",
					map[string]string{"email": "pat@example.test", "password": "another horse battery"}, ""), 40032)
			},
			want: []series{at("tether_signups_total", cr, "provider=password", "result=email_taken")},
		},
		{
			name: "password sign-in",
			do:   func(t *testing.T) { e.newClient(t).SignIn("pat@example.test", "correct horse battery") },
			want: []series{at("tether_signins_total", cr, "provider=password", "result=ok")},
		},
		{
			name: "wrong password",
			do: func(t *testing.T) {
				wantCode(t, e.newClient(t).Cloudreve("POST", "/api/v4/session/token",
					map[string]string{"email": "pat@example.test", "password": "wrong horse battery"}, ""), 40069)
			},
			want: []series{at("tether_signins_total", cr, "provider=password", "result=wrong_password")},
		},
		{
			name: "first sign-in through an OpenID provider creates the account",
			do: func(t *testing.T) {
				e.client = e.newClient(t)
				env, back := cloudreveUpstream(t, e.client, 2, "", "", e.corpLogin(t, testpeer.Alice))
				wantCode(t, env, 0)
				env.Decode(t, &e.corp)
				e.corpBack, e.tokens = back, append(e.tokens, e.corp.Token)
			},
			want: []series{
				at("tether_flows_started_total", cr, "provider=corp", "purpose=sign_in"),
				at("tether_signins_total", cr, "provider=corp", "result=ok"),
				at("tether_signups_total", cr, "provider=corp", "result=ok"),
				at("tether_upstream_requests_total", "provider=corp", "endpoint=token", "outcome=ok"),
				at("tether_upstream_requests_total", "provider=corp", "endpoint=userinfo", "outcome=ok"),
				at("tether_upstream_request_duration_seconds_count", "provider=corp", "endpoint=token"),
			},
		},
		{
			name: "the same callback again",
			do:   func(t *testing.T) { wantCode(t, finish(t, e.newClient(t), e.corpBack, 2, ""), 40023) },
			want: []series{at("tether_signins_total", cr, "provider=corp", "result=flow_not_found")},
		},
		{
			name: "returning sign-in through an OpenID provider on the pages",
			do: func(t *testing.T) {
				e.web = e.newBrowser(t)
				if _, err := e.web.Visit(e.srv.URL + "/login"); err != nil {
					t.Fatal(err)
				}
				p, err := tethertest.Upstream(t, "corp", e.op, testpeer.Alice).Do(e.web)
				if err != nil || p.Status != http.StatusOK || p.URL.Path != "/account" {
					t.Fatalf("HTTP %d at %v: %v\n%s", p.Status, p.URL, err, p.Body)
				}
			},
			want: []series{
				at("tether_flows_started_total", web, "provider=corp", "purpose=sign_in"),
				at("tether_signins_total", web, "provider=corp", "result=ok"),
				at("tether_signups_total", web, "provider=corp", "result=ok").by(0),
			},
		},
		{
			name: "refresh on the pages",
			do: func(t *testing.T) {
				// Without its access cookie the browser's next page
				// refreshes the session.
				u, _ := url.Parse(e.srv.URL + "/")
				e.web.Client.Client.Jar.SetCookies(u, []*http.Cookie{{Name: "tether_access", Path: "/", MaxAge: -1}})
				p, err := e.web.Visit(e.srv.URL + "/account")
				if err != nil || p.Status != http.StatusOK || p.URL.Path != "/account" {
					t.Fatalf("HTTP %d at %v: %v", p.Status, p.URL, err)
				}
			},
			want: []series{at("tether_refreshes_total", web, "result=ok")},
		},
		{
			name: "password sign-in on the pages",
			do: func(t *testing.T) {
				e.srv.CreateUser(t, "wes@example.test", "correct horse battery", true)
				b := e.newBrowser(t)
				if _, err := b.Visit(e.srv.URL + "/login"); err != nil {
					t.Fatal(err)
				}
				p, err := tethertest.Password("wes@example.test", "correct horse battery").Do(b)
				if err != nil || p.URL.Path != "/account" {
					t.Fatalf("HTTP %d at %v: %v", p.Status, p.URL, err)
				}
			},
			want: []series{at("tether_signins_total", web, "provider=password", "result=ok")},
		},
		{
			name: "first sign-in through QQ Connect",
			do: func(t *testing.T) {
				env, _ := cloudreveUpstream(t, e.newClient(t), 1, "", "", e.qqLogin(t, e.qqUsers[0]))
				wantCode(t, env, 0)
			},
			want: []series{
				at("tether_flows_started_total", cr, "provider=qq", "purpose=sign_in"),
				at("tether_signins_total", cr, "provider=qq", "result=ok"),
				at("tether_signups_total", cr, "provider=qq", "result=ok"),
				at("tether_upstream_requests_total", "provider=qq", "endpoint=token", "outcome=ok"),
				at("tether_upstream_requests_total", "provider=qq", "endpoint=me", "outcome=ok"),
				at("tether_upstream_requests_total", "provider=qq", "endpoint=get_user_info", "outcome=ok"),
			},
		},
		{
			name: "QQ Connect failing",
			do: func(t *testing.T) {
				e.qq.ReplyNext(qqtest.Token, qqtest.Reply{Status: http.StatusServiceUnavailable, Body: "down for maintenance"})
				env, _ := cloudreveUpstream(t, e.newClient(t), 1, "", "", e.qqLogin(t, e.qqUsers[0]))
				wantCode(t, env, 40020)
			},
			want: []series{
				at("tether_flows_started_total", cr, "provider=qq", "purpose=sign_in"),
				at("tether_signins_total", cr, "provider=qq", "result=upstream"),
				at("tether_upstream_requests_total", "provider=qq", "endpoint=token", "outcome=5xx"),
				at("tether_upstream_requests_total", "provider=qq", "endpoint=me", "outcome=ok").by(0),
			},
		},
		{
			name: "a provider nobody answers for",
			do: func(t *testing.T) {
				wantCode(t, e.newClient(t).Cloudreve("PUT", "/api/v4/session/openid", map[string]any{"provider": 2, "provider_key": "down"}, ""), 40020)
			},
			want: []series{
				at("tether_upstream_requests_total", "provider=down", "endpoint=discovery", "outcome=error"),
				at("tether_upstream_request_duration_seconds_count", "provider=down", "endpoint=discovery"),
			},
		},
		{
			name: "link QQ Connect",
			do: func(t *testing.T) {
				env, _ := cloudreveUpstream(t, e.client, 1, "", e.corp.Token.AccessToken, e.qqLogin(t, e.qqUsers[1]))
				wantCode(t, env, 0)
			},
			want: []series{
				at("tether_flows_started_total", cr, "provider=qq", "purpose=link"),
				at("tether_links_total", cr, "provider=qq", "result=ok"),
			},
		},
		{
			name: "unlink QQ Connect",
			do: func(t *testing.T) {
				wantCode(t, e.client.Cloudreve("DELETE", "/api/v4/session/openid/qq", nil, e.corp.Token.AccessToken), 0)
			},
			want: []series{at("tether_unlinks_total", cr, "provider=qq", "result=ok")},
		},
		{
			name: "unlink the last way in",
			do: func(t *testing.T) {
				wantCode(t, e.client.Cloudreve("DELETE", "/api/v4/session/openid/corp", nil, e.corp.Token.AccessToken), 40084)
			},
			want: []series{at("tether_unlinks_total", cr, "provider=corp", "result=last_sign_in_method")},
		},
		{
			name: "unlink a provider that does not exist",
			do: func(t *testing.T) {
				wantCode(t, e.client.Cloudreve("DELETE", "/api/v4/session/openid/no-such-provider", nil, e.corp.Token.AccessToken), 40068)
			},
			want: []series{at("tether_unlinks_total", cr, "provider=", "result=identity_not_linked")},
		},
		{
			name: "link on the Versia API",
			do: func(t *testing.T) {
				e.srv.CreateUser(t, "val@example.test", "correct horse battery", true)
				c := e.newClient(t)
				l := c.SignIn("val@example.test", "correct horse battery")
				resp, body := c.Do("POST", "/api/v1/sso", map[string]string{"issuer": "corp"}, l.Token.AccessToken)
				var link struct{ Link string }
				if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &link) != nil {
					t.Fatalf("POST /api/v1/sso: HTTP %d: %s", resp.StatusCode, body)
				}
				back := e.op.Login(t, link.Link, testpeer.Bob)
				resp, _ = c.Do("GET", back.String(), nil, "")
				if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || !strings.Contains(loc, "oidc_account_linked=true") {
					t.Fatalf("callback: HTTP %d to %s", resp.StatusCode, loc)
				}
			},
			want: []series{
				at("tether_signins_total", cr, "provider=password", "result=ok"),
				at("tether_flows_started_total", vs, "provider=corp", "purpose=link"),
				at("tether_links_total", vs, "provider=corp", "result=ok"),
			},
		},
		{
			name: "refresh",
			do: func(t *testing.T) {
				env := e.newClient(t).Cloudreve("POST", "/api/v4/session/token/refresh", map[string]string{"refresh_token": e.corp.Token.RefreshToken}, "")
				wantCode(t, env, 0)
			},
			want: []series{at("tether_refreshes_total", cr, "result=ok")},
		},
		{
			name: "a used refresh token again",
			do: func(t *testing.T) {
				env := e.newClient(t).Cloudreve("POST", "/api/v4/session/token/refresh", map[string]string{"refresh_token": e.corp.Token.RefreshToken}, "")
				wantCode(t, env, 40020)
			},
			want: []series{
				at("tether_refreshes_total", cr, "result=token_reused"),
				at("tether_token_reuse_total", cr, "token=refresh_token"),
			},
		},
		{
			name: "an app's authorization code used twice",
			do: func(t *testing.T) {
				e.srv.CreateUser(t, "oscar@example.test", "correct horse battery", true)
				r, req, code := e.appSignIn(t, "oscar@example.test", "correct horse battery")
				if _, err := r.Exchange(ctx, req, code); err != nil {
					t.Fatal(err)
				}
				if _, err := r.Exchange(ctx, req, code); rp.ErrorCode(err) != "invalid_grant" {
					t.Fatalf("the code again: %v, want invalid_grant", err)
				}
			},
			want: []series{
				at("tether_signins_total", web, "provider=password", "result=ok"),
				at("tether_token_reuse_total", "surface=op", "token=authorization_code"),
			},
		},
		{
			name: "an app's refresh token used twice",
			do: func(t *testing.T) {
				r, req, code := e.appSignIn(t, "oscar@example.test", "correct horse battery")
				tok, err := r.Exchange(ctx, req, code)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := r.Refresh(ctx, tok); err != nil {
					t.Fatal(err)
				}
				if _, err := r.Refresh(ctx, tok); rp.ErrorCode(err) != "invalid_grant" {
					t.Fatalf("the refresh token again: %v, want invalid_grant", err)
				}
			},
			want: []series{
				at("tether_signins_total", web, "provider=password", "result=ok"),
				at("tether_token_reuse_total", "surface=op", "token=refresh_token"),
			},
		},
		{
			name: "per-address limit",
			do: func(t *testing.T) {
				e.exhaust(t, "GET", "/api/v4/session/prepare?email=a@example.test", "198.51.100.7")
			},
			want: []series{at("tether_rate_limited_total", "route=GET /api/v4/session/prepare", "limiter=address")},
		},
		{
			name: "per-address limit on the Versia API",
			do:   func(t *testing.T) { e.exhaust(t, "POST", "/api/v1/sso", "198.51.100.8") },
			want: []series{at("tether_rate_limited_total", "route=POST /api/v1/sso", "limiter=address")},
		},
		{
			name: "per-address limit at the OpenID Provider",
			do:   func(t *testing.T) { e.exhaust(t, "POST", "/oauth2/token", "198.51.100.9") },
			want: []series{at("tether_rate_limited_total", "route=POST /oauth2/token", "limiter=address")},
		},
		{
			name: "per-account limit",
			do: func(t *testing.T) {
				c := e.newClient(t)
				body := map[string]string{"email": "mallory@example.test", "password": "guess one"}
				wantCode(t, c.Cloudreve("POST", "/api/v4/session/token", body, ""), 40069)
				wantCode(t, c.Cloudreve("POST", "/api/v4/session/token", body, ""), 429)
			},
			want: []series{
				at("tether_signins_total", cr, "provider=password", "result=wrong_password"),
				at("tether_signins_total", cr, "provider=password", "result=rate_limited"),
				at("tether_rate_limited_total", "route=POST /api/v4/session/token", "limiter=account"),
			},
		},
		{
			name: "per-address mail limit",
			do: func(t *testing.T) {
				c := e.newClient(t)
				body := map[string]string{"email": "nobody@example.test"}
				wantCode(t, c.Cloudreve("POST", "/api/v4/user/reset", body, ""), 0)
				wantCode(t, c.Cloudreve("POST", "/api/v4/user/reset", body, ""), 429)
			},
			want: []series{at("tether_rate_limited_total", "route=POST /api/v4/user/reset", "limiter=mail")},
		},
		{
			name: "a flow nobody finishes expires",
			do: func(t *testing.T) {
				wantCode(t, e.newClient(t).Cloudreve("PUT", "/api/v4/session/openid", map[string]any{"provider": 2}, ""), 0)
				e.clock.Advance(e.srv.Config.Flows.TTL.D() + time.Minute)
				if p, err := e.srv.App.Purge(ctx); err != nil || p.Flows != 1 {
					t.Fatalf("purge: %+v, %v", p, err)
				}
			},
			want: []series{
				at("tether_flows_started_total", cr, "provider=corp", "purpose=sign_in"),
				at("tether_flows_expired_total"),
			},
		},
	}
	for _, tt := range tests {
		ok := t.Run(tt.name, func(t *testing.T) {
			before := scrape(t, e.srv)
			tt.do(t)
			after := scrape(t, e.srv)
			for _, s := range tt.want {
				if d := after.value(s.name, s.labels) - before.value(s.name, s.labels); d != s.delta {
					t.Errorf("%s moved by %g, want %g", s, d, s.delta)
				}
			}
			for _, fam := range exact {
				var want float64
				for _, s := range tt.want {
					if s.name == fam {
						want += s.delta
					}
				}
				if d := after.total(fam) - before.total(fam); d != want {
					t.Errorf("%s moved by %g in all, want %g:\n%s", fam, d, want, changes(before, after, fam))
				}
			}
			for _, s := range tt.later {
				waitFor(t, 15*time.Second, s.String(), func() bool {
					return scrape(t, e.srv).value(s.name, s.labels)-before.value(s.name, s.labels) == s.delta
				})
			}
		})
		if !ok {
			t.FailNow() // the next cases build on this one
		}
	}
	t.Run("dashboard and alerts", func(t *testing.T) { checkDocs(t, scrape(t, e.srv)) })
}

// changes lists the samples of fam that moved between two scrapes.
func changes(before, after exposition, fam string) string {
	var out []string
	for _, m := range after[fam].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if d := sample(m, "") - before.value(fam, labels); d != 0 {
			out = append(out, fmt.Sprintf("  %s %+g", series{name: fam, labels: labels}, d))
		}
	}
	return strings.Join(out, "\n")
}

// TestMetricsAcrossReload: the counts go on across a reload, and a
// provider that the reload brings is a label of its own at once.
func TestMetricsAcrossReload(t *testing.T) {
	t.Parallel()
	var first, second *testpeer.OP
	srv := tethertest.Start(t, tethertest.Options{
		PublicMetrics: true,
		Providers: func(publicURL string) []config.Provider {
			first = testpeer.Zitadel(t, tethertest.OIDCCallbackURL(publicURL))
			second = testpeer.Zitadel(t, tethertest.OIDCCallbackURL(publicURL))
			return []config.Provider{tethertest.OIDCProvider("first", first)}
		},
	})
	signIn := func(op *testpeer.OP, who testpeer.User) {
		t.Helper()
		c := srv.Client(t)
		if env := c.FinishOpenID("", tethertest.OIDCCode, op.Login(t, c.PrepareOpenID(tethertest.OIDCCode), who)); env.Code != 0 {
			t.Fatalf("sign-in: %s", env.Raw)
		}
	}
	signIn(first, testpeer.Alice)
	if _, err := srv.Reload(func(c *config.Config) {
		c.Providers = []config.Provider{tethertest.OIDCProvider("second", second)}
	}); err != nil {
		t.Fatal(err)
	}
	signIn(second, testpeer.Bob)
	x := scrape(t, srv)
	for _, s := range []series{
		at("tether_signins_total", "surface=cloudreve", "provider=first", "result=ok"),
		at("tether_signins_total", "surface=cloudreve", "provider=second", "result=ok"),
		at("tether_upstream_requests_total", "provider=first", "endpoint=token", "outcome=ok"),
		at("tether_upstream_requests_total", "provider=second", "endpoint=token", "outcome=ok"),
	} {
		if v := x.value(s.name, s.labels); v != 1 {
			t.Errorf("%s = %g, want 1", s, v)
		}
	}
}
