package metrics_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tether-id/tether/api/httpx"
	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/metrics"
	"github.com/tether-id/tether/provider"
)

// newRegistered returns metrics registered with reg, as app does.
func newRegistered(reg *prometheus.Registry, opts metrics.Options) *metrics.Metrics {
	m := metrics.New(opts)
	reg.MustRegister(m)
	return m
}

// samples gathers reg into "name{k="v",...} value" lines, for the
// families whose name starts with prefix.
func samples(t *testing.T, reg *prometheus.Registry, prefix string) map[string]float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		if !strings.HasPrefix(f.GetName(), prefix) {
			continue
		}
		for _, m := range f.GetMetric() {
			var kv []string
			for _, l := range m.GetLabel() {
				kv = append(kv, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(kv)
			key := f.GetName() + "{" + strings.Join(kv, ",") + "}"
			switch {
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[key] = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				out[key+"_count"] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

// TestSurface: what each call counts, under which labels. Pre-declared
// series (sign-ins that succeed) start at zero; an unconfigured provider
// id never becomes a label; a nil Surface counts nothing.
func TestSurface(t *testing.T) {
	req := func(pattern string) *http.Request {
		r := httptest.NewRequest("POST", "/api/v4/session/token", nil)
		r.Pattern = pattern
		return r
	}
	tests := []struct {
		name string
		do   func(s *metrics.Surface)
		want string // the one sample that moved to 1; "" for none
	}{
		{"password sign-in", func(s *metrics.Surface) { s.SignIn(metrics.Password, nil) },
			"tether_signins_total{provider=password,result=ok,surface=web}"},
		{"wrong password", func(s *metrics.Surface) { s.SignIn(metrics.Password, core.ErrWrongPassword) },
			"tether_signins_total{provider=password,result=wrong_password,surface=web}"},
		{"an error that is not the core's", func(s *metrics.Surface) { s.SignIn(metrics.Password, errors.New("disk on fire")) },
			"tether_signins_total{provider=password,result=internal,surface=web}"},
		{"sign-up refused", func(s *metrics.Surface) { s.SignUp(metrics.Password, core.ErrEmailTaken) },
			"tether_signups_total{provider=password,result=email_taken,surface=web}"},
		{"finish of a link", func(s *metrics.Surface) {
			s.Finish("corp", core.FinishResult{Purpose: core.PurposeLink}, core.ErrIdentityTaken)
		}, "tether_links_total{provider=corp,result=identity_taken,surface=web}"},
		{"finish of an unknown flow", func(s *metrics.Surface) { s.Finish("corp", core.FinishResult{}, core.ErrFlowNotFound) },
			"tether_signins_total{provider=corp,result=flow_not_found,surface=web}"},
		{"unlink of a provider nobody configured", func(s *metrics.Surface) { s.Unlink("../../etc", core.ErrIdentityNotLinked) },
			"tether_unlinks_total{provider=,result=identity_not_linked,surface=web}"},
		{"flow started", func(s *metrics.Surface) { s.FlowStarted("corp", core.PurposeLink) },
			"tether_flows_started_total{provider=corp,purpose=link,surface=web}"},
		{"authorization code used twice", func(s *metrics.Surface) { s.Reused(core.ErrCodeReused) },
			"tether_token_reuse_total{surface=web,token=authorization_code}"},
		{"an app's refresh token used twice", func(s *metrics.Surface) { s.Reused(core.ErrAppTokenReused) },
			"tether_token_reuse_total{surface=web,token=refresh_token}"},
		{"an unusable token is no reuse", func(s *metrics.Surface) { s.Reused(core.ErrInvalidGrant) }, ""},
		{"per-address limit", func(s *metrics.Surface) { s.Limited(req("POST /api/v4/session/token"), httpx.LimitAddress) },
			"tether_rate_limited_total{limiter=address,route=POST /api/v4/session/token}"},
		{"mail limit, from its error", func(s *metrics.Surface) {
			if !s.Refused(req("POST /api/v4/user/reset"), httpx.RateLimited(httpx.LimitMail, time.Second, "slow down")) {
				t.Error("Refused: false for a LimitError")
			}
		}, "tether_rate_limited_total{limiter=mail,route=POST /api/v4/user/reset}"},
		{"a request no pattern matched", func(s *metrics.Surface) { s.Limited(req(""), httpx.LimitAccount) },
			"tether_rate_limited_total{limiter=account,route=unmatched}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			m := newRegistered(reg, metrics.Options{Providers: []string{"corp"}})
			before := samples(t, reg, "tether_")
			tt.do(m.Surface(metrics.Web))
			after := samples(t, reg, "tether_")
			for k, v := range after {
				want := before[k]
				if k == tt.want {
					want++
				}
				if v != want {
					t.Errorf("%s = %g, want %g", k, v, want)
				}
			}
			if _, ok := after[tt.want]; !ok && tt.want != "" {
				t.Errorf("no sample %s; have %v", tt.want, after)
			}
		})
	}

	t.Run("pre-declared", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		newRegistered(reg, metrics.Options{Providers: []string{"corp"}})
		got := samples(t, reg, "tether_")
		for _, k := range []string{
			"tether_signins_total{provider=corp,result=ok,surface=cloudreve}",
			"tether_signins_total{provider=password,result=ok,surface=web}",
			"tether_refreshes_total{result=ok,surface=cloudreve}",
		} {
			if v, ok := got[k]; !ok || v != 0 {
				t.Errorf("%s = %g (present %v), want 0 from the start", k, v, ok)
			}
		}
	})

	t.Run("nil", func(t *testing.T) {
		var s *metrics.Surface
		s.SignIn("corp", nil)
		s.Finish("corp", core.FinishResult{Created: true}, nil)
		s.Refresh(core.ErrTokenReused)
		s.Limited(req("x"), httpx.LimitAddress)
		if s.Refused(req("x"), errors.New("not a limit")) {
			t.Error("Refused: true for an error that is no limit's")
		}
		var m *metrics.Metrics
		m.FlowsExpired(3)
	})
}

// TestSurfaceAllocations: counting a sign-in, a finish or a refresh
// allocates nothing once its series exists, so it costs a request no
// garbage.
func TestSurfaceAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	s := metrics.New(metrics.Options{Providers: []string{"corp"}}).Surface(metrics.Cloudreve)
	res := core.FinishResult{Purpose: core.PurposeSignIn}
	r := httptest.NewRequest("POST", "/", nil)
	r.Pattern = "POST /"
	for name, f := range map[string]func(){
		"SignIn":  func() { s.SignIn(metrics.Password, core.ErrWrongPassword) },
		"Finish":  func() { s.Finish("corp", res, nil) },
		"Refresh": func() { s.Refresh(core.ErrTokenReused) },
		"Limited": func() { s.Limited(r, httpx.LimitAddress) },
	} {
		f() // the series exists from here on
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %g allocations per call, want 0", name, n)
		}
	}
}

func BenchmarkSurface(b *testing.B) {
	s := metrics.New(metrics.Options{Providers: []string{"corp"}}).Surface(metrics.Cloudreve)
	res := core.FinishResult{Purpose: core.PurposeSignIn}
	b.ReportAllocs()
	for b.Loop() {
		s.Finish("corp", res, nil)
	}
}

// TestUpstream: each request through the transport counts under the
// endpoint its context names and its outcome, and is timed.
func TestUpstream(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		case "/missing":
			http.NotFound(w, r)
		case "/broken":
			http.Error(w, "oops", http.StatusBadGateway)
		case "/moved":
			http.Redirect(w, r, "/", http.StatusFound)
		}
	}))
	t.Cleanup(srv.Close)
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	refused := "http://" + closed.Addr().String()
	closed.Close()

	tests := []struct {
		name     string
		url      string
		endpoint provider.Endpoint
		ctx      func(context.Context) (context.Context, context.CancelFunc)
		want     string // endpoint,outcome
	}{
		{"ok", srv.URL + "/", provider.EndpointToken, nil, "token,ok"},
		{"a redirect is an answer", srv.URL + "/moved", provider.EndpointDiscovery, nil, "discovery,ok"},
		{"4xx", srv.URL + "/missing", provider.EndpointJWKS, nil, "jwks,4xx"},
		{"5xx", srv.URL + "/broken", provider.EndpointUserinfo, nil, "userinfo,5xx"},
		{"QQ's endpoint", srv.URL + "/", provider.EndpointGetUserInfo, nil, "get_user_info,ok"},
		{"untagged", srv.URL + "/", "", nil, "other,ok"},
		{"refused", refused, provider.EndpointMe, nil, "me,error"},
		{"timeout", srv.URL + "/slow", provider.EndpointToken, func(ctx context.Context) (context.Context, context.CancelFunc) {
			return context.WithTimeout(ctx, 50*time.Millisecond)
		}, "token,timeout"},
		{"canceled", srv.URL + "/slow", provider.EndpointToken, func(ctx context.Context) (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(ctx)
			time.AfterFunc(50*time.Millisecond, cancel)
			return ctx, cancel
		}, "token,canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			m := newRegistered(reg, metrics.Options{})
			c := m.UpstreamClient("corp", &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }})
			ctx := context.Background()
			if tt.endpoint != "" {
				ctx = provider.WithEndpoint(ctx, tt.endpoint)
			}
			if tt.ctx != nil {
				var cancel context.CancelFunc
				ctx, cancel = tt.ctx(ctx)
				defer cancel()
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, tt.url, nil)
			if resp, err := c.Do(req); err == nil {
				resp.Body.Close()
			}
			got := samples(t, reg, "tether_upstream_")
			ep, outcome, _ := strings.Cut(tt.want, ",")
			key := "tether_upstream_requests_total{endpoint=" + ep + ",outcome=" + outcome + ",provider=corp}"
			if got[key] != 1 {
				t.Errorf("%s = %g, want 1; have %v", key, got[key], got)
			}
			var requests, timed float64
			for k, v := range got {
				switch {
				case strings.HasPrefix(k, "tether_upstream_requests_total"):
					requests += v
				case strings.HasPrefix(k, "tether_upstream_request_duration_seconds{endpoint="+ep+",provider=corp}"):
					timed += v
				}
			}
			if requests != 1 || timed != 1 {
				t.Errorf("%g requests counted, %g timed; want 1 and 1", requests, timed)
			}
		})
	}
}
