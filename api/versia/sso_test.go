package versia_test

import (
	"bytes"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/tether-id/tether/config"
	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/internal/jwt"
)

// The providers of the route tests: corp (enabled, with an icon), plain
// (enabled, no icon) and off (disabled). Nothing listens at their
// issuers: preparing a link fails at discovery (502).
var routeProviders = fixed(
	config.Provider{ID: "corp", Name: "Corp SSO", Icon: "https://cdn.example.test/corp.svg", Enabled: true},
	config.Provider{ID: "plain", Name: "Plain", Enabled: true},
	config.Provider{ID: "off", Name: "Off", Icon: "https://cdn.example.test/off.svg", Enabled: false},
)

const (
	authRequired   = `{"error":"This route requires authentication."}`
	missingOAuth   = `{"error":"Missing permissions","details":"Missing: oauth"}`
	issuerNotFound = `{"error":"Issuer with ID nope not found in instance's OpenID configuration"}`
	notLinked      = `{"error":"Account not found or is not linked to this issuer"}`
)

func TestInstance(t *testing.T) {
	e := newEnv(t, envOptions{providers: routeProviders})
	for _, bearer := range []string{"", "not-a-token"} {
		r := e.Do(e.Client(t), call{method: "GET", path: "/api/v2/instance", bearer: bearer})
		// Public: a token, good or bad, changes nothing.
		wantError(t, r, http.StatusOK, `{"sso":{"forced":false,"providers":[
			{"id":"corp","name":"Corp SSO","icon":"https://cdn.example.test/corp.svg"},
			{"id":"plain","name":"Plain","icon":""}]}}`)
	}
}

func TestInstanceWithoutProviders(t *testing.T) {
	e := newEnv(t, envOptions{})
	wantError(t, e.Do(e.Client(t), call{method: "GET", path: "/api/v2/instance"}), http.StatusOK, `{"sso":{"forced":false,"providers":[]}}`)
}

// TestAuthentication runs every authenticated route with every kind of
// bad caller.
func TestAuthentication(t *testing.T) {
	e := newEnv(t, envOptions{providers: routeProviders})
	routes := []call{
		{method: "GET", path: "/api/v1/sso"},
		{method: "POST", path: "/api/v1/sso", body: map[string]string{"issuer": "corp"}},
		{method: "GET", path: "/api/v1/sso/corp"},
		{method: "DELETE", path: "/api/v1/sso/corp"},
	}
	// Expired: issued an access lifetime (1h) plus the verifier's leeway
	// and a second ago.
	_, oldToken := e.user("old@example.test")
	e.clock.Advance(time.Hour + jwt.Leeway + time.Second)
	banned, bannedToken := e.user("banned@example.test")
	e.update(banned.ID, func(u *core.User) { u.Status = core.StatusManualBanned })
	inactive, inactiveToken := e.user("inactive@example.test")
	e.update(inactive.ID, func(u *core.User) { u.Status = core.StatusInactive })
	revoked, revokedToken := e.user("revoked@example.test")
	e.update(revoked.ID, func(u *core.User) { u.Permissions = nil })

	callers := []struct {
		name    string
		bearer  string
		noToken bool
		status  int
		body    string
	}{
		{"no token", "", true, http.StatusUnauthorized, authRequired},
		{"garbage token", "not-a-token", false, http.StatusUnauthorized, authRequired},
		{"expired token", oldToken, false, http.StatusUnauthorized, authRequired},
		{"banned", bannedToken, false, http.StatusForbidden, `{"error":"This account has been banned"}`},
		{"inactive", inactiveToken, false, http.StatusForbidden, `{"error":"This account is not activated"}`},
		{"without oauth", revokedToken, false, http.StatusForbidden, missingOAuth},
	}
	for _, c := range callers {
		for _, route := range routes {
			t.Run(c.name+"/"+route.method+" "+route.path, func(t *testing.T) {
				route.bearer, route.invalid = c.bearer, c.noToken
				wantError(t, e.Do(e.Client(t), route), c.status, c.body)
			})
		}
	}
}

func TestListAndGet(t *testing.T) {
	e := newEnv(t, envOptions{providers: routeProviders})
	u, token := e.user("list@example.test")
	_, other := e.user("other@example.test")
	c := e.Client(t)

	wantError(t, e.Do(c, call{method: "GET", path: "/api/v1/sso", bearer: token}), http.StatusOK, `[]`)

	e.linkDirectly(u.ID, "plain", "p-1")
	e.linkDirectly(u.ID, "off", "o-1")
	e.linkDirectly(u.ID, "gone", "g-1") // a provider removed from the config
	e.linkDirectly(u.ID, "corp", "c-1")

	// Link order; the disabled provider is still linked and listed; the
	// removed one is dropped; icons are omitted when unset.
	wantError(t, e.Do(c, call{method: "GET", path: "/api/v1/sso", bearer: token}), http.StatusOK, `[
		{"id":"plain","name":"Plain"},
		{"id":"off","name":"Off","icon":"https://cdn.example.test/off.svg"},
		{"id":"corp","name":"Corp SSO","icon":"https://cdn.example.test/corp.svg"}]`)
	wantError(t, e.Do(c, call{method: "GET", path: "/api/v1/sso", bearer: other}), http.StatusOK, `[]`)

	tests := []struct {
		path   string
		bearer string
		status int
		body   string
	}{
		{"/api/v1/sso/corp", token, http.StatusOK, `{"id":"corp","name":"Corp SSO","icon":"https://cdn.example.test/corp.svg"}`},
		{"/api/v1/sso/plain", token, http.StatusOK, `{"id":"plain","name":"Plain"}`},
		{"/api/v1/sso/off", token, http.StatusOK, `{"id":"off","name":"Off","icon":"https://cdn.example.test/off.svg"}`},
		{"/api/v1/sso/corp", other, http.StatusNotFound, notLinked},
		{"/api/v1/sso/nope", token, http.StatusNotFound, issuerNotFound},
		{"/api/v1/sso/gone", token, http.StatusNotFound, `{"error":"Issuer with ID gone not found in instance's OpenID configuration"}`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			wantError(t, e.Do(c, call{method: "GET", path: tt.path, bearer: tt.bearer}), tt.status, tt.body)
		})
	}
}

func TestUnlink(t *testing.T) {
	e := newEnv(t, envOptions{providers: routeProviders})
	c := e.Client(t)
	u, token := e.user("unlink@example.test")
	e.linkDirectly(u.ID, "corp", "c-1")
	e.linkDirectly(u.ID, "off", "o-1")

	// A passwordless account whose only identity of an enabled provider
	// is corp: removing the password keeps the access token valid.
	lone, loneToken := e.user("lone@example.test")
	e.linkDirectly(lone.ID, "corp", "c-2")
	e.linkDirectly(lone.ID, "off", "o-2")
	e.update(lone.ID, func(u *core.User) { u.PasswordHash = "" })

	tests := []struct {
		name   string
		path   string
		bearer string
		status int
		body   string
	}{
		{"unknown issuer", "/api/v1/sso/nope", token, http.StatusNotFound, issuerNotFound},
		{"not linked", "/api/v1/sso/plain", token, http.StatusNotFound, notLinked},
		{"linked", "/api/v1/sso/corp", token, http.StatusNoContent, ""},
		{"again", "/api/v1/sso/corp", token, http.StatusNotFound, notLinked},
		{"disabled provider", "/api/v1/sso/off", token, http.StatusNoContent, ""},
		{"last way to sign in", "/api/v1/sso/corp", loneToken, http.StatusConflict, `{"error":"This account has no other way to sign in"}`},
		// An identity of a disabled provider is no way to sign in: it
		// can go.
		{"passwordless, disabled provider", "/api/v1/sso/off", loneToken, http.StatusNoContent, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.Do(c, call{method: "DELETE", path: tt.path, bearer: tt.bearer})
			if tt.status == http.StatusNoContent {
				if r.StatusCode != tt.status || len(r.Body) != 0 {
					t.Fatalf("HTTP %d %q, want 204 and no body", r.StatusCode, r.Body)
				}
				return
			}
			wantError(t, r, tt.status, tt.body)
		})
	}
	wantError(t, e.Do(c, call{method: "GET", path: "/api/v1/sso", bearer: token}), http.StatusOK, `[]`)
	wantError(t, e.Do(c, call{method: "GET", path: "/api/v1/sso", bearer: loneToken}), http.StatusOK, `[{"id":"corp","name":"Corp SSO","icon":"https://cdn.example.test/corp.svg"}]`)
}

// TestLinkRequest covers the body of POST /api/v1/sso and the answers
// that come before any provider is contacted.
func TestLinkRequest(t *testing.T) {
	e := newEnv(t, envOptions{providers: routeProviders})
	u, token := e.user("post@example.test")
	e.linkDirectly(u.ID, "plain", "p-1")
	required := `{"error":"Validation error: Required at \"issuer\"","details":{"issuer":"Required"}}`
	tests := []struct {
		name        string
		body        any
		contentType string
		invalid     bool
		status      int
		want        string
	}{
		{"no issuer", map[string]any{}, "", true, 422, required},
		{"null issuer", map[string]any{"issuer": nil}, "", true, 422, required},
		{"empty issuer", map[string]any{"issuer": ""}, "", true, 422, required},
		{"number", map[string]any{"issuer": 7}, "", true, 422, `{"error":"Validation error: Expected string, received number at \"issuer\"","details":{"issuer":"Expected string, received number"}}`},
		{"object", map[string]any{"issuer": map[string]string{"id": "corp"}}, "", true, 422, `{"error":"Validation error: Expected string, received object at \"issuer\"","details":{"issuer":"Expected string, received object"}}`},
		{"not JSON", "issuer=corp", "application/json", true, 422, `{"error":"Validation error: the request body is not a JSON object"}`},
		{"JSON array", "[]", "application/json", true, 422, `{"error":"Validation error: the request body is not a JSON object"}`},
		// The document's checker reads only the first value, so it takes
		// these two for valid bodies; tether refuses them.
		{"stray brace after the object", `{"issuer":"corp"}}`, "application/json", false, 422, `{"error":"Validation error: the request body is not a JSON object"}`},
		{"two objects", `{"issuer":"corp"} {}`, "application/json", false, 422, `{"error":"Validation error: the request body is not a JSON object"}`},
		{"empty form", url.Values{}, "", true, 422, required},
		{"empty multipart", url.Values{"other": {"x"}}, "multipart/form-data", true, 422, required},
		{"repeated form field", url.Values{"issuer": {"corp", "plain"}}, "", false, 422, `{"error":"Validation error: Expected string, received array at \"issuer\"","details":{"issuer":"Expected string, received array"}}`},
		{"unknown issuer", map[string]string{"issuer": "nope"}, "", false, 404, issuerNotFound},
		{"unknown issuer, form", url.Values{"issuer": {"nope"}}, "", false, 404, issuerNotFound},
		{"unknown issuer, multipart", url.Values{"issuer": {"nope"}}, "multipart/form-data", false, 404, issuerNotFound},
		{"disabled provider", map[string]string{"issuer": "off"}, "", false, 404, `{"error":"Issuer with ID off not found in instance's OpenID configuration","details":"This sign-in provider is not enabled"}`},
		{"provider already linked", map[string]string{"issuer": "plain"}, "", false, 409, `{"error":"An identity of this provider is already linked; unlink it first"}`},
		// Nothing answers at corp's issuer: the provider is at fault.
		{"provider unreachable", map[string]string{"issuer": "corp"}, "", false, 502, `{"error":"The provider could not be reached"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.Do(e.Client(t), call{method: "POST", path: "/api/v1/sso", bearer: token, body: tt.body, contentType: tt.contentType, invalid: tt.invalid})
			wantError(t, r, tt.status, tt.want)
		})
	}
}

// TestMarkupEscaped: an error message that repeats the caller's words
// keeps them, but with <, > and & written as \u003c, \u003e and \u0026,
// so that no client that shows the body as HTML runs them.
func TestMarkupEscaped(t *testing.T) {
	e := newEnv(t, envOptions{providers: routeProviders})
	_, token := e.user("markup@example.test")
	r := e.Do(e.Client(t), call{method: "POST", path: "/api/v1/sso", bearer: token, body: map[string]string{"issuer": "<script>&"}})
	wantError(t, r, 404, `{"error":"Issuer with ID <script>& not found in instance's OpenID configuration"}`)
	if bytes.ContainsAny(r.Body, "<>&") || !bytes.Contains(r.Body, []byte(`\u003cscript\u003e\u0026`)) {
		t.Errorf("body %s: markup not escaped", r.Body)
	}
}

// TestRateLimit: POST /api/v1/sso and the callback share the per-IP
// budget with the Cloudreve sign-in routes; over it, the API answers 429
// with details and Retry-After, the callback redirects with the same
// error, and the budget refills with time.
func TestRateLimit(t *testing.T) {
	e := newEnv(t, envOptions{providers: routeProviders, configure: func(c *config.Config) {
		c.RateLimit.Enabled, c.RateLimit.PerIPPerMinute = true, 2
	}})
	_, token := e.user("limited@example.test")
	c := e.Client(t)
	post := call{method: "POST", path: "/api/v1/sso", bearer: token, body: map[string]string{"issuer": "nope"}}
	for range 2 {
		wantError(t, e.Do(c, post), http.StatusNotFound, issuerNotFound)
	}
	r := e.Do(c, post)
	if r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third POST: HTTP %d %s, want 429", r.StatusCode, r.Body)
	}
	var body struct {
		Error   string
		Details struct {
			Limit, Remaining int
			Reset            time.Time
			ResetInMs        int64
		}
	}
	r.JSON(t, &body)
	retry, err := strconv.Atoi(r.Header.Get("Retry-After"))
	// One request per 30s refills: the next is due in (0, 30s].
	if body.Error != "Too many requests" || body.Details.Limit != 2 || body.Details.Remaining != 0 ||
		err != nil || retry < 1 || retry > 30 ||
		body.Details.ResetInMs <= 0 || body.Details.ResetInMs > 30_000 ||
		body.Details.Reset.Sub(e.clock.Now().Add(time.Duration(body.Details.ResetInMs)*time.Millisecond)).Abs() > time.Second {
		t.Fatalf("429: Retry-After %q, body %s", r.Header.Get("Retry-After"), r.Body)
	}

	o := e.follow(c, "/oauth/sso/corp/callback?state=s&code=c")
	if o.Error != "Too many requests" || o.ErrorMessage != "Too many requests" {
		t.Fatalf("limited callback: %+v", o)
	}

	e.clock.Advance(time.Minute)
	wantError(t, e.Do(c, post), http.StatusNotFound, issuerNotFound)
}

// TestCallbackWithoutFlow covers callbacks that fail before any flow is
// found: every one is a redirect home with both error keys.
func TestCallbackWithoutFlow(t *testing.T) {
	e := newEnv(t, envOptions{providers: routeProviders})
	tests := []struct {
		name, path, title, message string
	}{
		{"unknown issuer", "/oauth/sso/nope/callback?state=s&code=c", "Account linking error", "Issuer with ID nope not found in instance's OpenID configuration"},
		{"no state", "/oauth/sso/corp/callback?code=c", "Account linking error", "The provider's answer is malformed: the callback has no state"},
		{"code and error", "/oauth/sso/corp/callback?state=s&code=c&error=access_denied", "Account linking error", "The provider's answer is malformed: the callback has both a code and an error"},
		{"repeated state", "/oauth/sso/corp/callback?state=s&state=t&code=c", "Account linking error", `The provider's answer is malformed: the callback repeats the "state" parameter`},
		{"unknown state", "/oauth/sso/corp/callback?state=00000000-0000-4000-8000-000000000000&code=c", "Linking session invalid", "Sign-in session not found, expired or already used"},
		{"unknown state, provider error", "/oauth/sso/corp/callback?state=s&error=access_denied", "Linking session invalid", "Sign-in session not found, expired or already used"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := e.follow(e.Client(t), tt.path)
			if o.Error != tt.title || o.ErrorMessage != tt.message {
				t.Fatalf("got %q / %q, want %q / %q", o.Error, o.ErrorMessage, tt.title, tt.message)
			}
		})
	}
}
