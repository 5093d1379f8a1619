// Package httpx holds what tether's HTTP surfaces share: the request's
// client and correlation id (set once by the server's middleware), bearer
// tokens, the browser-binding cookie and strict JSON bodies. Each surface
// still writes its own wire format.
package httpx

import (
	"context"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/tether-id/tether/core"
)

type ctxKey int

const (
	clientKey ctxKey = iota
	requestIDKey
)

// WithClient records who made the request; the server's middleware calls
// it after resolving X-Forwarded-For against the trusted proxies.
func WithClient(ctx context.Context, c core.Client) context.Context {
	return context.WithValue(ctx, clientKey, c)
}

// Client returns the request's client as the server resolved it, or the
// direct peer when no middleware ran (tests of a lone handler).
func Client(r *http.Request) core.Client {
	if c, ok := r.Context().Value(clientKey).(core.Client); ok {
		return c
	}
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i > 0 {
		host = strings.Trim(host[:i], "[]")
	}
	return core.Client{IP: host, UserAgent: UserAgent(r)}
}

// MaxUserAgent bounds the User-Agent kept for a request. Audit events
// store it, and a client may send up to the server's header limit; 256
// bytes name any real browser.
const MaxUserAgent = 256

// UserAgent returns r's User-Agent cut to at most MaxUserAgent bytes,
// never in the middle of a UTF-8 sequence.
func UserAgent(r *http.Request) string {
	ua := r.UserAgent()
	if len(ua) <= MaxUserAgent {
		return ua
	}
	i := MaxUserAgent
	for i > 0 && !utf8.RuneStart(ua[i]) {
		i--
	}
	return ua[:i]
}

// WithRequestID records the request's correlation id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// RequestID returns the correlation id the server gave the request, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// Bearer returns the token of an "Authorization: Bearer <token>" header,
// or "" when there is none.
func Bearer(r *http.Request) string {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}
