package avatar

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// pictures are small genuine images of each accepted type, and bodies
// that are not.
func pictures(t testing.TB) map[string][]byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	img.Set(1, 1, color.RGBA{R: 200, A: 255})
	var p, j, g bytes.Buffer
	if err := png.Encode(&p, img); err != nil {
		t.Fatal(err)
	}
	if err := jpeg.Encode(&j, img, nil); err != nil {
		t.Fatal(err)
	}
	if err := gif.Encode(&g, img, nil); err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{
		"image/png":  p.Bytes(),
		"image/jpeg": j.Bytes(),
		"image/gif":  g.Bytes(),
		"image/webp": []byte("RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00/\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00"),
	}
}

// site is a test server with a route per case; hits counts requests.
type site struct {
	*httptest.Server
	hits atomic.Int64
}

func newSite(t *testing.T, tls bool, routes map[string]http.HandlerFunc) *site {
	t.Helper()
	s := &site{}
	mux := http.NewServeMux()
	for p, h := range routes {
		mux.HandleFunc(p, h)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		mux.ServeHTTP(w, r)
	})
	if tls {
		s.Server = httptest.NewTLSServer(h)
	} else {
		s.Server = httptest.NewServer(h)
	}
	t.Cleanup(s.Close)
	return s
}

func serve(body []byte, contentType string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.Write(body)
	}
}

// testFetcher may reach the test servers: loopback allowed, their CA
// trusted.
func testFetcher(s *site) *Fetcher {
	return New(Options{AllowLoopback: true, RootCAs: s.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs, Timeout: 2 * time.Second})
}

func TestFetch(t *testing.T) {
	pics := pictures(t)
	big := append(bytes.Clone(pics["image/png"]), make([]byte, MaxSize)...)
	exact := append(bytes.Clone(pics["image/png"]), make([]byte, MaxSize-len(pics["image/png"]))...)
	routes := map[string]http.HandlerFunc{
		"/png":  serve(pics["image/png"], "image/png"),
		"/jpeg": serve(pics["image/jpeg"], "image/jpeg"),
		"/gif":  serve(pics["image/gif"], "image/gif"),
		"/webp": serve(pics["image/webp"], "image/webp"),
		// The server's word does not count: the bytes do.
		"/png-as-svg":   serve(pics["image/png"], "image/svg+xml"),
		"/svg-as-png":   serve([]byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`), "image/png"),
		"/svg-with-xml": serve([]byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>`), "image/svg+xml"),
		"/html":         serve([]byte(`<html><script>alert(1)</script></html>`), "image/png"),
		"/empty":        serve(nil, "image/png"),
		"/exactly-1mib": serve(exact, "image/png"),
		"/too-large": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			w.Write(big)
		},
		"/too-large-chunked": func(w http.ResponseWriter, r *http.Request) {
			w.Write(big[:1000])
			w.(http.Flusher).Flush()
			w.Write(big[1000:])
		},
		"/missing": func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) },
		"/slow": func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		},
	}
	for i := 1; i <= MaxRedirects+1; i++ {
		routes[fmt.Sprintf("/hop/%d", i)] = func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, fmt.Sprintf("/hop/%d", i-1), http.StatusFound)
		}
	}
	routes["/hop/0"] = serve(pics["image/gif"], "image/gif")
	routes["/to-private"] = func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://10.1.2.3/a.png", http.StatusFound)
	}
	routes["/to-metadata"] = func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://169.254.169.254/latest/meta-data/", http.StatusFound)
	}
	routes["/to-http"] = func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://example.com/a.png", http.StatusFound)
	}
	s := newSite(t, true, routes)
	f := testFetcher(s)

	tests := []struct {
		path     string
		wantType string // "" means refused
		wantErr  error
	}{
		{"/png", "image/png", nil},
		{"/jpeg", "image/jpeg", nil},
		{"/gif", "image/gif", nil},
		{"/webp", "image/webp", nil},
		{"/png-as-svg", "image/png", nil},
		{"/svg-as-png", "", ErrNotImage},
		{"/svg-with-xml", "", ErrNotImage},
		{"/html", "", ErrNotImage},
		{"/empty", "", ErrNotImage},
		{"/exactly-1mib", "image/png", nil},
		{"/too-large", "", ErrTooLarge},
		{"/too-large-chunked", "", ErrTooLarge},
		{"/missing", "", ErrStatus},
		{fmt.Sprintf("/hop/%d", MaxRedirects), "image/gif", nil},
		{fmt.Sprintf("/hop/%d", MaxRedirects+1), "", ErrRedirects},
		{"/to-private", "", ErrAddress},
		{"/to-metadata", "", ErrAddress},
		{"/to-http", "", ErrURL},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			img, err := f.Fetch(context.Background(), s.URL+tt.path)
			if tt.wantType == "" {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || img.Type != tt.wantType || len(img.Data) == 0 {
				t.Fatalf("got %s (%d bytes), %v; want %s", img.Type, len(img.Data), err, tt.wantType)
			}
		})
	}
	t.Run("timeout", func(t *testing.T) {
		quick := New(Options{AllowLoopback: true, RootCAs: f.opts.RootCAs, Timeout: 200 * time.Millisecond})
		start := time.Now()
		if _, err := quick.Fetch(context.Background(), s.URL+"/slow"); err == nil || time.Since(start) > 5*time.Second {
			t.Fatalf("slow server: err %v after %v", err, time.Since(start))
		}
	})
}

// TestDefaultRefusesLocal: the production settings connect to no
// loopback, private or otherwise non-public address, whether the URL
// names it or a name resolves to it; they send nothing there.
func TestDefaultRefusesLocal(t *testing.T) {
	s := newSite(t, true, map[string]http.HandlerFunc{"/png": serve(pictures(t)["image/png"], "image/png")})
	plain := newSite(t, false, map[string]http.HandlerFunc{"/png": serve(pictures(t)["image/png"], "image/png")})
	port := s.URL[strings.LastIndex(s.URL, ":"):]
	// Trusting the test CA makes sure the only thing refused is the address.
	def := New(Options{RootCAs: s.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs, Timeout: 2 * time.Second})
	for _, tt := range []struct {
		url  string
		want error
	}{
		{s.URL + "/png", ErrAddress},                               // https://127.0.0.1:port
		{"https://localhost" + port + "/png", ErrAddress},          // a name for loopback
		{"https://[::ffff:127.0.0.1]" + port + "/png", ErrAddress}, // IPv4-mapped loopback
		{"https://10.0.0.1/a.png", ErrAddress},
		{"https://192.168.1.1/a.png", ErrAddress},
		{"https://169.254.169.254/latest/meta-data/", ErrAddress},
		{"https://100.64.0.1/a.png", ErrAddress},
		{"https://[fd00::1]/a.png", ErrAddress},
		{"https://[::ffff:10.0.0.1]/a.png", ErrAddress},
		{"https://0.0.0.0/a.png", ErrAddress},
		{plain.URL + "/png", ErrURL}, // http, even to loopback
		{"http://example.com/a.png", ErrURL},
		{"ftp://example.com/a.png", ErrURL},
		{"https://user:pass@example.com/a.png", ErrURL},
		{"data:image/png;base64,AAAA", ErrURL},
		{"/relative.png", ErrURL},
		{"https://example.com/" + strings.Repeat("a", maxURL), ErrURL},
	} {
		if _, err := def.Fetch(context.Background(), tt.url); !errors.Is(err, tt.want) {
			t.Errorf("%.60s: err %v, want %v", tt.url, err, tt.want)
		}
	}
	if n := s.hits.Load() + plain.hits.Load(); n != 0 {
		t.Errorf("the local servers got %d requests", n)
	}
	if _, err := Fetch(context.Background(), s.URL+"/png"); !errors.Is(err, ErrAddress) {
		t.Errorf("package Fetch: err %v, want %v", err, ErrAddress)
	}
}

func TestPublic(t *testing.T) {
	for _, ip := range []string{
		"1.1.1.1", "8.8.8.8", "93.184.216.34", "100.63.255.255", "100.128.0.0", "172.32.0.1", "192.0.3.1",
		"2606:4700:4700::1111", "2a00:1450:4001:80b::200e", "::ffff:8.8.8.8",
	} {
		if !Public(ip) {
			t.Errorf("Public(%s) = false", ip)
		}
	}
	for _, ip := range []string{
		"127.0.0.1", "127.1.2.3", "10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.0.1", "169.254.169.254",
		"100.64.0.1", "100.127.255.255", "0.0.0.0", "0.1.2.3", "224.0.0.1", "239.255.255.250", "255.255.255.255",
		"192.0.0.8", "192.0.2.1", "198.18.0.1", "198.51.100.1", "203.0.113.1", "240.0.0.1",
		"::", "::1", "fe80::1", "fe80::1%eth0", "fc00::1", "fd12:3456::1", "ff02::1", "fec0::1",
		"::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.1.1", "::127.0.0.1", "64:ff9b::a00:1", "64:ff9b::808:808",
		"2001::1", "2001:db8::1", "2002:a00:1::1", "3fff::1", "100::1",
		"", "localhost", "example.com", "1.2.3", "300.1.1.1",
	} {
		if Public(ip) {
			t.Errorf("Public(%q) = true", ip)
		}
	}
}
