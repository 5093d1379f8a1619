// Package avatar fetches the picture an upstream provider names for a
// person (the "picture" claim, QQ's figureurl) so that tether can keep a
// copy instead of sending browsers to whatever URL the provider gave.
//
// The URL comes from outside, so the fetch is guarded as a server-side
// request to an untrusted address must be:
//
//   - https only, without credentials in the URL;
//   - public addresses only: the check runs when a connection is dialed,
//     on the address the name resolved to, so a name that resolves to a
//     private address (DNS rebinding) and a redirect to one are refused
//     like a literal private address; no proxy from the environment is
//     used, since it would hide the real destination;
//   - at most MaxRedirects redirects, each checked again;
//   - at most MaxSize bytes: a larger picture is refused, not cut;
//   - only PNG, JPEG, GIF and WebP, as sniffed from the bytes themselves
//     (never SVG, which can carry script), whatever the server says;
//   - a deadline on the whole fetch and on each step of it.
package avatar

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"
)

// Image is a fetched picture: its sniffed media type and its bytes.
type Image struct {
	Type string
	Data []byte
}

// Limits.
const (
	// MaxSize is the largest picture accepted, in bytes.
	MaxSize = 1 << 20
	// MaxRedirects is how many redirects one fetch follows.
	MaxRedirects = 3
	// maxURL bounds the length of a URL.
	maxURL = 2048
	// DefaultTimeout bounds a whole fetch.
	DefaultTimeout = 10 * time.Second
)

// Errors a fetch may wrap, for callers that tell them apart.
var (
	ErrURL       = errors.New("avatar: not an https URL without credentials")
	ErrAddress   = errors.New("avatar: not a public address")
	ErrRedirects = errors.New("avatar: too many redirects")
	ErrStatus    = errors.New("avatar: the server did not answer 200 OK")
	ErrTooLarge  = errors.New("avatar: the picture is larger than 1 MiB")
	ErrNotImage  = errors.New("avatar: not a PNG, JPEG, GIF or WebP picture")
)

// Options configure a Fetcher. The zero value is what production uses.
type Options struct {
	// AllowLoopback lets tests fetch from a server on this machine: it
	// allows loopback addresses, and plain http to a loopback host. Never
	// set it outside tests.
	AllowLoopback bool
	// RootCAs are the certificate authorities trusted; nil means the
	// system's. Tests give their httptest server's.
	RootCAs *x509.CertPool
	// Timeout bounds a whole fetch, redirects included; 0 means
	// DefaultTimeout.
	Timeout time.Duration
}

// Fetcher fetches pictures; it is safe for concurrent use, and keeps
// connections to the hosts it fetched from for reuse.
type Fetcher struct {
	opts   Options
	client *http.Client
}

// New returns a Fetcher.
func New(opts Options) *Fetcher {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	f := &Fetcher{opts: opts}
	dialer := &net.Dialer{
		Timeout: 5 * time.Second,
		// Control sees the address actually dialed, after resolution:
		// the one place a check cannot be talked around.
		Control: func(network, address string, _ syscall.RawConn) error {
			return f.checkDial(address)
		},
	}
	f.client = &http.Client{
		Timeout: opts.Timeout,
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           dialer.DialContext,
			TLSClientConfig:       &tls.Config{RootCAs: opts.RootCAs, MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: 5 * time.Second,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          10,
			IdleConnTimeout:       90 * time.Second,
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > MaxRedirects {
				return ErrRedirects
			}
			_, err := f.checkURL(req.URL.String())
			return err
		},
	}
	return f
}

var production = New(Options{})

// Fetch fetches the picture at rawURL with the production settings.
func Fetch(ctx context.Context, rawURL string) (Image, error) {
	return production.Fetch(ctx, rawURL)
}

// Fetch fetches the picture at rawURL.
func (f *Fetcher) Fetch(ctx context.Context, rawURL string) (Image, error) {
	u, err := f.checkURL(rawURL)
	if err != nil {
		return Image{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Image{}, fmt.Errorf("%w: %v", ErrURL, err)
	}
	req.Header.Set("Accept", "image/png, image/jpeg, image/gif, image/webp")
	req.Header.Set("User-Agent", "tether-avatar/1")
	resp, err := f.client.Do(req)
	if err != nil {
		return Image{}, err // wraps ErrURL, ErrAddress or ErrRedirects when one of them is why
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Image{}, fmt.Errorf("%w: HTTP %d", ErrStatus, resp.StatusCode)
	}
	if resp.ContentLength > MaxSize {
		return Image{}, ErrTooLarge
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxSize+1))
	if err != nil {
		return Image{}, fmt.Errorf("avatar: reading the picture: %w", err)
	}
	return Decode(data)
}

// Decode checks a downloaded body: at most MaxSize bytes, and one of the
// accepted picture types, sniffed from the bytes (http.DetectContentType).
func Decode(data []byte) (Image, error) {
	if len(data) > MaxSize {
		return Image{}, ErrTooLarge
	}
	switch t := http.DetectContentType(data); t {
	case "image/png", "image/jpeg", "image/gif", "image/webp":
		return Image{Type: t, Data: data}, nil
	default:
		return Image{}, fmt.Errorf("%w (sniffed %s)", ErrNotImage, t)
	}
}

// checkURL parses rawURL and checks its form: https (or, for tests,
// http to a loopback host), a host, no user info.
func (f *Fetcher) checkURL(rawURL string) (*url.URL, error) {
	if len(rawURL) > maxURL {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrURL, maxURL)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrURL, err)
	}
	if u.Host == "" || u.User != nil || u.Hostname() == "" {
		return nil, fmt.Errorf("%w: %q", ErrURL, u.Redacted())
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && f.opts.AllowLoopback && isLoopbackHost(u.Hostname()):
	default:
		return nil, fmt.Errorf("%w: %q", ErrURL, u.Redacted())
	}
	return u, nil
}

// checkDial is the dialer's check of the resolved address.
func (f *Fetcher) checkDial(address string) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrAddress, address)
	}
	if !Public(host) && !(f.opts.AllowLoopback && isLoopbackHost(host)) {
		return fmt.Errorf("%w: %s", ErrAddress, host)
	}
	return nil
}
