package httpx

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

var testKey = []byte("binder-test-secret-key-0123456789abcdef")

// issue runs Secret on a request carrying cookies and returns the secret
// and the cookie set, if any.
func issue(b *Binder, cookies ...*http.Cookie) (string, *http.Cookie) {
	r := httptest.NewRequest("PUT", "/", nil)
	for _, c := range cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	s := b.Secret(w, r)
	set := w.Result().Cookies()
	if len(set) == 0 {
		return s, nil
	}
	return s, set[0]
}

func read(b *Binder, cookies ...*http.Cookie) string {
	r := httptest.NewRequest("POST", "/", nil)
	for _, c := range cookies {
		r.AddCookie(c)
	}
	return b.Read(r)
}

func TestBinderCookie(t *testing.T) {
	for _, tt := range []struct {
		publicURL, name string
		secure          bool
	}{
		{"https://files.example.com", "__Host-tether_browser", true},
		{"http://127.0.0.1:5212", "tether_browser", false},
	} {
		b := NewBinder(testKey, tt.publicURL, 10*time.Minute)
		secret, c := issue(b)
		if c == nil || c.Name != tt.name || b.CookieName() != tt.name || c.Secure != tt.secure || !c.HttpOnly ||
			c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" || c.MaxAge != 660 {
			t.Fatalf("%s: cookie %+v", tt.publicURL, c)
		}
		if len(secret) < 43 || !strings.HasPrefix(c.Value, secret+".") {
			t.Fatalf("secret %q, cookie value %q", secret, c.Value)
		}
		// The browser comes back with it: same secret, no new cookie.
		if again, set := issue(b, c); again != secret || set != nil {
			t.Errorf("%s: second prepare: secret %q, set %v", tt.publicURL, again, set)
		}
		if got := read(b, c); got != secret {
			t.Errorf("%s: Read = %q, want %q", tt.publicURL, got, secret)
		}
	}
}

// TestBinderRefusesForgery: values tether did not issue read as no
// cookie, and prepare replaces them.
func TestBinderRefusesForgery(t *testing.T) {
	b := NewBinder(testKey, "https://files.example.com", 10*time.Minute)
	_, genuine := issue(b)
	secret, mac, _ := strings.Cut(genuine.Value, ".")
	_, other := issue(NewBinder([]byte("another-secret-key-0123456789abcdef!!"), "https://files.example.com", time.Minute))
	otherSecret, otherMAC, _ := strings.Cut(other.Value, ".")
	for _, tt := range []struct{ name, value string }{
		{"unsigned, as tether used to issue", strings.Repeat("A", 43)},
		{"long unsigned", strings.Repeat("x", 100)},
		{"empty", ""},
		{"secret alone", secret},
		{"secret with a dot", secret + "."},
		{"another key's cookie", other.Value},
		{"secret with another key's MAC", secret + "." + otherMAC},
		{"another secret with this MAC", otherSecret + "." + mac},
		{"MAC cut short", secret + "." + mac[:20]},
		{"extra part", genuine.Value + ".x"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			forged := &http.Cookie{Name: b.CookieName(), Value: tt.value}
			if got := read(b, forged); got != "" {
				t.Fatalf("Read accepted %q as %q", tt.value, got)
			}
			s, set := issue(b, forged)
			if set == nil || set.Value == tt.value || s == "" || s == secret {
				t.Fatalf("Secret kept the forged cookie: secret %q, set %v", s, set)
			}
		})
	}
	// Under https only the __Host- cookie counts: the unprefixed name is
	// what a sibling subdomain can set.
	if got := read(b, &http.Cookie{Name: BrowserCookie, Value: genuine.Value}); got != "" {
		t.Errorf("unprefixed cookie read under https: %q", got)
	}
	// A planted cookie beside the genuine one does not hide it.
	if got := read(b, &http.Cookie{Name: b.CookieName(), Value: strings.Repeat("A", 43)}, genuine); got != secret {
		t.Errorf("with a forged cookie first: Read = %q, want %q", got, secret)
	}
}

// TestBinderFrontends: a frontend on another origin of the same site
// keeps SameSite=Lax (its credentialed calls are same-site); one on
// another site needs SameSite=None, which only https allows.
func TestBinderFrontends(t *testing.T) {
	for _, tt := range []struct {
		publicURL string
		frontends []string
		want      http.SameSite
	}{
		{"https://id.example.com", nil, http.SameSiteLaxMode},
		{"https://id.example.com", []string{"https://cloud.example.com"}, http.SameSiteLaxMode},
		{"https://id.example.com", []string{"https://example.com:8443"}, http.SameSiteLaxMode},
		{"https://id.example.co.uk", []string{"https://cloud.example.co.uk"}, http.SameSiteLaxMode},
		{"https://id.example.com", []string{"https://cloud.example.com", "https://files.example.org"}, http.SameSiteNoneMode},
		{"https://id.example.co.uk", []string{"https://other.co.uk"}, http.SameSiteNoneMode},
		{"https://id.example.com", []string{"http://cloud.example.com"}, http.SameSiteNoneMode}, // schemeful
		{"https://user.github.io", []string{"https://other.github.io"}, http.SameSiteNoneMode},  // a public suffix
		{"http://127.0.0.1:5212", []string{"http://localhost:3000"}, http.SameSiteLaxMode},      // no Secure, no None
	} {
		b := NewBinder(testKey, tt.publicURL, 10*time.Minute, tt.frontends...)
		_, c := issue(b)
		if c.SameSite != tt.want || (tt.want == http.SameSiteNoneMode && !c.Secure) {
			t.Errorf("%s with %v: cookie %+v, want SameSite %v", tt.publicURL, tt.frontends, c, tt.want)
		}
	}
	for _, tt := range []struct {
		a, b string
		same bool
	}{
		{"http://127.0.0.1:5212", "http://127.0.0.1:3000", true},
		{"http://127.0.0.1:5212", "http://localhost:3000", false},
		{"https://a.example.com", "https://b.a.example.com", true},
		{"https://example.com", "https://example.net", false},
	} {
		if got := SameSite(tt.a, tt.b); got != tt.same {
			t.Errorf("SameSite(%s, %s) = %v", tt.a, tt.b, got)
		}
	}
}
