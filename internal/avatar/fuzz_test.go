package avatar

import (
	"errors"
	"net/http"
	"net/url"
	"testing"
)

// FuzzDecode: whatever a server sends, Decode accepts only the four
// picture types, as sniffed, and at most MaxSize bytes.
func FuzzDecode(f *testing.F) {
	for _, b := range pictures(f) {
		f.Add(b)
	}
	f.Add([]byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`))
	f.Add([]byte("\x89PNG\r\n\x1a\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrNotImage) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		switch img.Type {
		case "image/png", "image/jpeg", "image/gif", "image/webp":
		default:
			t.Fatalf("accepted type %q", img.Type)
		}
		if img.Type != http.DetectContentType(data) || len(img.Data) > MaxSize {
			t.Fatalf("accepted %q, %d bytes", img.Type, len(img.Data))
		}
	})
}

// FuzzCheckURL: the production settings accept only https URLs with a
// host and no credentials; the test settings add plain http to a
// loopback host, nothing else.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"https://cdn.example.com/a.png", "http://cdn.example.com/a.png", "https://user@cdn.example.com/",
		"http://127.0.0.1:8080/a.png", "http://localhost/a.png", "http://[::1]/", "https://[::ffff:127.0.0.1]/",
		"javascript:alert(1)", "//cdn.example.com/a.png", "https:///a.png", "HTTPS://CDN.EXAMPLE.COM/A.PNG",
	} {
		f.Add(s)
	}
	prod, test := New(Options{}), New(Options{AllowLoopback: true})
	f.Fuzz(func(t *testing.T, raw string) {
		if u, err := prod.checkURL(raw); err == nil {
			if u.Scheme != "https" || u.Hostname() == "" || u.User != nil {
				t.Fatalf("production accepted %q", raw)
			}
		} else if !errors.Is(err, ErrURL) {
			t.Fatalf("unexpected error %v", err)
		}
		if u, err := test.checkURL(raw); err == nil {
			if u.Hostname() == "" || u.User != nil || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopbackHost(u.Hostname()))) {
				t.Fatalf("test settings accepted %q", raw)
			}
			if _, err := url.Parse(u.String()); err != nil {
				t.Fatalf("accepted %q, which does not print back to a URL: %v", raw, err)
			}
		}
	})
}
