package app_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tether-id/tether/config"
	"github.com/tether-id/tether/testkit/tethertest"
)

// TestCORS: the CORS answers of every API path a frontend calls, for a
// listed origin, another origin, and no origin; credentials only where
// the flow-binding cookie is set or read. (The browser's side is tested
// in web/frontends_browser_test.go.)
func TestCORS(t *testing.T) {
	t.Parallel()
	const frontend = "https://cloud.example.com"
	srv := tethertest.Start(t, tethertest.Options{Configure: func(c *config.Config) {
		c.CORS.AllowedOrigins = []string{"https://CLOUD.example.com:443/"} // normalised
	}})
	do := func(method, path, origin string, h http.Header) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		for k, v := range h {
			req.Header[k] = v
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	preflight := func(path, method, origin string) *http.Response {
		t.Helper()
		return do(http.MethodOptions, path, origin, http.Header{
			"Access-Control-Request-Method":  {method},
			"Access-Control-Request-Headers": {"authorization,content-type"},
		})
	}

	for _, tc := range []struct {
		path, method string
		credentials  bool
	}{
		{"/api/v4/session/openid", "PUT", true},  // prepare
		{"/api/v4/session/openid", "POST", true}, // finish
		{"/api/v4/session/token/refresh", "POST", false},
		{"/api/v4/session/token", "DELETE", false},
		{"/api/v4/user/setting", "GET", false},
		{"/api/v4/session/openid/2", "DELETE", false},
		{"/api/v1/sso", "POST", true}, // Versia's link prepares a flow
		{"/api/v1/sso", "GET", false},
		{"/api/v1/sso/corp", "DELETE", false},
		{"/api/v2/instance", "GET", false},
		// The OpenID Provider's endpoints a single-page app calls.
		{"/oauth2/token", "POST", false},
		{"/oauth2/userinfo", "GET", false},
		{"/oauth2/userinfo", "POST", false},
		{"/oauth2/revoke", "POST", false},
		{"/oauth2/jwks", "GET", false},
	} {
		name := tc.method + " " + tc.path
		p := preflight(tc.path, tc.method, frontend)
		h := p.Header
		if p.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != frontend ||
			!strings.Contains(h.Get("Access-Control-Allow-Methods"), tc.method) || strings.Contains(h.Get("Access-Control-Allow-Methods"), "*") ||
			h.Get("Access-Control-Allow-Headers") != "Authorization, Content-Type" || h.Get("Access-Control-Max-Age") != "600" ||
			!strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") {
			t.Errorf("%s: preflight %d %v", name, p.StatusCode, h)
		}
		if got := h.Get("Access-Control-Allow-Credentials") == "true"; got != tc.credentials {
			t.Errorf("%s: preflight credentials %v, want %v", name, got, tc.credentials)
		}
		r := do(tc.method, tc.path, frontend, nil)
		if r.Header.Get("Access-Control-Allow-Origin") != frontend || (r.Header.Get("Access-Control-Allow-Credentials") == "true") != tc.credentials ||
			r.Header.Get("Access-Control-Expose-Headers") != "X-Correlation-Id, Retry-After" || !strings.Contains(strings.Join(r.Header.Values("Vary"), ","), "Origin") {
			t.Errorf("%s: response headers %v", name, r.Header)
		}
		// Another origin, and the same host over http: nothing.
		for _, other := range []string{"https://evil.example.net", "http://cloud.example.com"} {
			for _, resp := range []*http.Response{preflight(tc.path, tc.method, other), do(tc.method, tc.path, other, nil)} {
				for k := range resp.Header {
					if strings.HasPrefix(k, "Access-Control-") {
						t.Errorf("%s from %s: %s: %v", name, other, k, resp.Header[k])
					}
				}
			}
		}
	}
	// A method the rule does not list: no CORS answer.
	if p := preflight("/api/v4/user/setting", "PATCH", frontend); p.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("PATCH preflight allowed: %v", p.Header)
	}
	// Pages are not an API: no CORS at all.
	if p := preflight("/login", "POST", frontend); p.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("/login preflight allowed: %v", p.Header)
	}
	// The OpenAPI document is public: any origin, no credentials.
	r := do("GET", "/api/openapi.json", "https://docs.example.org", nil)
	if r.Header.Get("Access-Control-Allow-Origin") != "*" || r.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("openapi.json: %v", r.Header)
	}
}

// TestCORSConfig: origins are exact.
func TestCORSConfig(t *testing.T) {
	for _, bad := range []string{"*", "https://cloud.example.com/app", "cloud.example.com", "https://cloud.example.com?x=1", "ftp://x.example"} {
		_, err := config.Parse([]byte("cors: {allowed_origins: ['"+bad+"']}"), nil, config.Options{Dev: true})
		if err == nil || !strings.Contains(err.Error(), "cors.allowed_origins[0]") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	c, err := config.Parse([]byte("cors: {allowed_origins: ['https://Cloud.Example.com/']}\ncloudreve: {frontend_url: 'https://cloud.example.com/'}\nversia: {frontend_url: 'https://social.example.com/app/'}"), nil, config.Options{Dev: true})
	if err != nil {
		t.Fatal(err)
	}
	if c.CORS.AllowedOrigins[0] != "https://cloud.example.com" || c.Cloudreve.FrontendURL != "https://cloud.example.com" || c.Versia.FrontendURL != "https://social.example.com/app" {
		t.Errorf("normalised: %+v %+v %+v", c.CORS, c.Cloudreve, c.Versia)
	}
	if _, err := config.Parse([]byte("cloudreve: {frontend_url: 'https://x.example/?a=1'}"), nil, config.Options{Dev: true}); err == nil || !strings.Contains(err.Error(), "cloudreve.frontend_url") {
		t.Errorf("frontend_url with a query: %v", err)
	}
}
