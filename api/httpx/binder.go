package httpx

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"time"
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
// cross-site posts.
type Binder struct {
	name   string
	secure bool
	maxAge int
	key    []byte
}

// NewBinder returns the binder of a tether whose secret key is
// secretKey and whose public URL is publicURL; cookies live a minute
// longer than flows (flowTTL).
func NewBinder(secretKey []byte, publicURL string, flowTTL time.Duration) *Binder {
	m := hmac.New(sha256.New, secretKey)
	m.Write([]byte("tether browser binding v1"))
	b := &Binder{
		name:   BrowserCookie,
		secure: strings.HasPrefix(publicURL, "https://"),
		maxAge: int((flowTTL + time.Minute) / time.Second),
		key:    m.Sum(nil),
	}
	if b.secure {
		b.name = "__Host-" + BrowserCookie
	}
	return b
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
		SameSite: http.SameSiteLaxMode,
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
