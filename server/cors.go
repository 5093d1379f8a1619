package server

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// CORSRule says how the requests one ServeMux pattern matches answer
// scripts on other origins. A pattern may name a method ("PUT
// /api/v4/session/openid": a preflight counts as a request of the method
// it asks about) or not ("/api/v4/": a whole subtree); the most specific
// pattern wins, as in ServeMux. Paths no rule matches get no CORS
// headers at all.
type CORSRule struct {
	Pattern string
	// Methods and Headers are what a preflight allows, listed
	// explicitly (never "*", which credentials forbid anyway).
	Methods []string
	Headers []string
	// Expose are response headers scripts may read.
	Expose []string
	// Credentials lets scripts send and receive cookies: only the routes
	// that set or read the flow-binding cookie need it (prepare, finish).
	Credentials bool
	// AnyOrigin answers every origin with "*" and no credentials: for
	// public documents that any site may read (the OpenAPI document).
	AnyOrigin bool
}

// CORSMaxAge is how long a browser may keep a preflight's answer.
const CORSMaxAge = 10 * 60

// CORS answers cross-origin requests from the configured origins
// (cors.allowed_origins), on the paths its rules name. An origin not
// listed gets no CORS headers, so the browser keeps the answer from its
// scripts. Responses of a rule's paths vary by Origin, so a shared cache
// never hands one origin's answer to another.
type CORS struct {
	origins map[string]bool
	match   *http.ServeMux
	rules   map[string]CORSRule
}

// NewCORS returns the middleware for origins (scheme://host[:port],
// exactly) and rules.
func NewCORS(origins []string, rules []CORSRule) (*CORS, error) {
	c := &CORS{origins: map[string]bool{}, match: http.NewServeMux(), rules: map[string]CORSRule{}}
	for _, o := range origins {
		norm, err := Origin(o)
		if err != nil {
			return nil, err
		}
		c.origins[norm] = true
	}
	for _, r := range rules {
		if r.AnyOrigin && r.Credentials {
			return nil, fmt.Errorf("cors: rule %q: credentials with any origin", r.Pattern)
		}
		if _, dup := c.rules[r.Pattern]; dup {
			return nil, fmt.Errorf("cors: two rules for %q", r.Pattern)
		}
		c.rules[r.Pattern] = r
		c.match.Handle(r.Pattern, http.NotFoundHandler())
	}
	return c, nil
}

// Origin returns s as a browser sends it in the Origin header
// (scheme://host[:port], lower case, default port left out), or an error
// when s is not an origin: a path, a query or "*" is refused.
func Origin(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", fmt.Errorf("want an origin such as https://cloud.example.com (scheme, host and port only), got %q", s)
	}
	host := strings.ToLower(u.Host)
	if p := u.Port(); (u.Scheme == "https" && p == "443") || (u.Scheme == "http" && p == "80") {
		host = strings.ToLower(u.Hostname())
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
	}
	return u.Scheme + "://" + host, nil
}

// Wrap returns next behind the middleware. Preflights of a rule's paths
// are answered here (204) and never reach next.
func (c *CORS) Wrap(next http.Handler) http.Handler {
	if len(c.rules) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
		rule, ok := c.rule(r, preflight)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		origin := r.Header.Get("Origin")
		allowed := origin != "" && (rule.AnyOrigin || c.origins[origin])
		if !rule.AnyOrigin {
			h.Add("Vary", "Origin")
		}
		if preflight {
			h.Add("Vary", "Access-Control-Request-Method, Access-Control-Request-Headers")
			if allowed && slices.Contains(rule.Methods, r.Header.Get("Access-Control-Request-Method")) {
				c.allow(h, rule, origin)
				h.Set("Access-Control-Allow-Methods", strings.Join(rule.Methods, ", "))
				if len(rule.Headers) > 0 {
					h.Set("Access-Control-Allow-Headers", strings.Join(rule.Headers, ", "))
				}
				h.Set("Access-Control-Max-Age", strconv.Itoa(CORSMaxAge))
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if allowed {
			c.allow(h, rule, origin)
			if len(rule.Expose) > 0 {
				h.Set("Access-Control-Expose-Headers", strings.Join(rule.Expose, ", "))
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (c *CORS) allow(h http.Header, rule CORSRule, origin string) {
	if rule.AnyOrigin {
		h.Set("Access-Control-Allow-Origin", "*")
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	if rule.Credentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
}

// rule finds the rule of r: for a preflight, of the request it asks
// about.
func (c *CORS) rule(r *http.Request, preflight bool) (CORSRule, bool) {
	if preflight {
		r = r.Clone(r.Context())
		r.Method = r.Header.Get("Access-Control-Request-Method")
	}
	_, pattern := c.match.Handler(r)
	rule, ok := c.rules[pattern]
	return rule, ok
}
