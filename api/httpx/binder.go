package httpx

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/net/publicsuffix"
)

// BrowserCookie is the base name of the cookie that binds flows to a
// browser; under an https public URL it carries the __Host- prefix.
const BrowserCookie = "tether_browser"

// Binder issues and reads the cookie that binds a sign-in flow to the
// browser that started it. The core stores a hash of the secret with the
// flow and finishes the flow only for a browser that shows the same
// secret.
//
// Two things keep another site from choosing a browser's secret (cookie
// fixation), which would let it finish a flow in its own browser after
// luring a victim into starting it, or the other way round:
//
//   - Under an https public URL the cookie is __Host-tether_browser:
//     Secure, Path=/, no Domain, so a sibling subdomain cannot set or
//     shadow it.
//   - The value is a random part and its HMAC under a key derived from
//     the secret key. A value tether did not issue reads as no cookie at
//     all, wherever it came from.
//
// The cookie is HttpOnly and SameSite=Lax: it comes back on the top-level
// redirect from the provider but is never readable by scripts or sent by
// cross-site posts. A frontend on another origin of the same site
// (cloud.example.com beside id.example.com) calls prepare and finish with
// credentials, and Lax cookies go with those same-site requests. Only a
// frontend on another site (cors.allowed_origins naming another
// registrable domain) needs SameSite=None, which the binder then sets
// (with Secure, under https only): the cookie's protection is its signed
// value, its __Host- prefix and the hash the flow keeps, not SameSite.
// Such a deployment also depends on browsers accepting the cookie as a
// third-party one (docs/deployment.md).
type Binder struct {
	name     string
	secure   bool
	sameSite http.SameSite
	maxAge   int
	key      []byte
}

// NewBinder returns the binder of a tether whose secret key is
// secretKey and whose public URL is publicURL; cookies live a minute
// longer than flows (flowTTL). frontends are the origins allowed to call
// prepare and finish from scripts (cors.allowed_origins): when one is on
// another site than publicURL, the cookie is SameSite=None.
func NewBinder(secretKey []byte, publicURL string, flowTTL time.Duration, frontends ...string) *Binder {
	m := hmac.New(sha256.New, secretKey)
	m.Write([]byte("tether browser binding v1"))
	b := &Binder{
		name:     BrowserCookie,
		secure:   strings.HasPrefix(publicURL, "https://"),
		sameSite: http.SameSiteLaxMode,
		maxAge:   int((flowTTL + time.Minute) / time.Second),
		key:      m.Sum(nil),
	}
	if b.secure {
		b.name = "__Host-" + BrowserCookie
		for _, f := range frontends {
			if !SameSite(publicURL, f) {
				// SameSite=None needs Secure, which only https gives.
				b.sameSite = http.SameSiteNoneMode
			}
		}
	}
	return b
}

// SameSite reports whether two URLs are of the same site as browsers
// count it for cookies: the same scheme and the same registrable domain
// (eTLD+1 by the public suffix list; the host itself for an IP address
// or a single label such as localhost). Ports do not matter.
func SameSite(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	if err1 != nil || err2 != nil || ua.Scheme != ub.Scheme {
		return false
	}
	return site(ua.Hostname()) == site(ub.Hostname())
}

func site(host string) string {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if net.ParseIP(host) != nil {
		return host
	}
	if s, err := publicsuffix.EffectiveTLDPlusOne(host); err == nil {
		return s
	}
	return host
}

// CookieName is the cookie's name: BrowserCookie, with the __Host-
// prefix under https.
func (b *Binder) CookieName() string { return b.name }

// Secret returns the browser's binding secret, setting a new cookie when
// the browser has none that tether issued.
func (b *Binder) Secret(w http.ResponseWriter, r *http.Request) string {
	if s := b.Read(r); s != "" {
		return s
	}
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	secret := base64.RawURLEncoding.EncodeToString(raw)
	http.SetCookie(w, &http.Cookie{
		Name:     b.name,
		Value:    secret + "." + b.mac(secret),
		Path:     "/",
		MaxAge:   b.maxAge,
		HttpOnly: true,
		Secure:   b.secure,
		SameSite: b.sameSite,
	})
	return secret
}

// Read returns the browser's binding secret, or "" when the request
// carries no cookie that tether issued. When several cookies have the
// name (one planted for a parent domain beside tether's own), the first
// genuine one counts.
func (b *Binder) Read(r *http.Request) string {
	for _, c := range r.CookiesNamed(b.name) {
		if s, ok := b.verify(c.Value); ok {
			return s
		}
	}
	return ""
}

// secretLen is the length of the random part: 32 bytes, base64url.
var secretLen = base64.RawURLEncoding.EncodedLen(32)

func (b *Binder) verify(value string) (string, bool) {
	secret, mac, ok := strings.Cut(value, ".")
	if !ok || len(secret) != secretLen {
		return "", false
	}
	return secret, hmac.Equal([]byte(mac), []byte(b.mac(secret)))
}

func (b *Binder) mac(secret string) string {
	m := hmac.New(sha256.New, b.key)
	m.Write([]byte(secret))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
