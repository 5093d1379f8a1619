package ratelimit

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"
)

// clock is a frozen clock the tests move.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newClock() *clock { return &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func TestAllow(t *testing.T) {
	c := newClock()
	l := New(Options{PerMinute: 3, Now: c.now})
	for i := range 3 {
		if ok, _ := l.Allow("1.2.3.4"); !ok {
			t.Fatalf("request %d refused within burst", i)
		}
	}
	ok, wait := l.Allow("1.2.3.4")
	if ok || wait != 20*time.Second {
		t.Fatalf("4th request: ok=%v wait=%v, want refused with a 20s wait", ok, wait)
	}
	if ok, _ := l.Allow("5.6.7.8"); !ok {
		t.Fatal("other key limited")
	}
	c.advance(20 * time.Second)
	if ok, _ := l.Allow("1.2.3.4"); !ok {
		t.Fatal("not refilled after 20s")
	}
	if ok, _ := l.Allow("1.2.3.4"); ok {
		t.Fatal("refilled more than one token in 20s")
	}
	// Idle for a minute, a client's bucket is full: it is forgotten, and
	// forgetting it changes nothing.
	c.advance(61 * time.Second)
	l.Allow("9.9.9.9")
	if n := l.tracked(); n != 1 {
		t.Fatalf("%d clients tracked after a minute idle, want 1", n)
	}
	for i := range 3 {
		if ok, _ := l.Allow("1.2.3.4"); !ok {
			t.Fatalf("request %d after the sweep refused", i)
		}
	}
}

// TestKey: IPv4 whole, IPv6 by prefix, IPv4-mapped IPv6 as IPv4.
func TestKey(t *testing.T) {
	tests := []struct {
		prefix   int
		ip, want string
	}{
		{0, "192.0.2.1", "192.0.2.1"},
		{0, "::ffff:192.0.2.1", "192.0.2.1"},
		{0, "2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{0, "2001:db8:1:2::ffff", "2001:db8:1:2::/64"},
		{0, "fe80::1%eth0", "fe80::/64"},
		{56, "2001:db8:1:2ff:3:4:5:6", "2001:db8:1:200::/56"},
		{128, "2001:db8::1", "2001:db8::1/128"},
		{0, "not an address", "not an address"},
	}
	for _, tt := range tests {
		l := New(Options{PerMinute: 1, IPv6Prefix: tt.prefix})
		if got := l.Key(tt.ip); got != tt.want {
			t.Errorf("/%d Key(%q) = %q, want %q", tt.prefix, tt.ip, got, tt.want)
		}
	}
}

// TestIPv6Block: every address of a /64 draws on one budget, so walking
// through a /64 gets no request more than one address would.
func TestIPv6Block(t *testing.T) {
	c := newClock()
	l := New(Options{PerMinute: 2, Now: c.now})
	for i, ip := range []string{"2001:db8:a:b::1", "2001:db8:a:b::2", "2001:db8:a:b:ffff::3"} {
		ok, _ := l.Allow(ip)
		if want := i < 2; ok != want {
			t.Fatalf("request %d from %s: allowed %v, want %v", i, ip, ok, want)
		}
	}
	if ok, _ := l.Allow("2001:db8:a:c::1"); !ok {
		t.Fatal("the next /64 shares the budget")
	}
	// An IPv4 client is the same client written IPv4-mapped.
	l.Allow("192.0.2.7")
	l.Allow("::ffff:192.0.2.7")
	if ok, _ := l.Allow("192.0.2.7"); ok {
		t.Fatal("IPv4-mapped address counted apart from its IPv4 form")
	}
}

// TestBounded: a flood of distinct addresses, faster than anything goes
// idle, leaves the limiter holding at most MaxKeys clients and its heap
// bounded; the most recent clients are the ones kept.
func TestBounded(t *testing.T) {
	c := newClock()
	const maxKeys = 1000
	l := New(Options{PerMinute: 60, MaxKeys: maxKeys, Now: c.now})
	base := netip.MustParseAddr("2001:db8::")
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	block := func(i int) string { // a new /64 for each i
		b := base.As16()
		b[4], b[5], b[6] = byte(i>>16), byte(i>>8), byte(i)
		return netip.AddrFrom16(b).String()
	}
	const flood = 200_000
	for i := range flood {
		l.Allow(block(i))
		if n := l.tracked(); n > maxKeys {
			t.Fatalf("%d clients tracked, bound %d", n, maxKeys)
		}
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > maxKeys*1024 {
		t.Errorf("heap grew by %d bytes for %d tracked clients", grew, maxKeys)
	}
	// The latest client is still tracked: it used its budget.
	for range 59 {
		l.Allow(block(flood - 1))
	}
	if ok, _ := l.Allow(block(flood - 1)); ok {
		t.Fatal("the most recent client was evicted")
	}
}

// TestDefaultBound: the default bound applies when none is configured.
func TestDefaultBound(t *testing.T) {
	l := New(Options{PerMinute: 60})
	for i := range DefaultMaxKeys + 10 {
		l.Allow(fmt.Sprintf("10.%d.%d.%d", i>>16&0xff, i>>8&0xff, i&0xff))
	}
	if n := l.tracked(); n != DefaultMaxKeys {
		t.Fatalf("%d clients tracked, want %d", n, DefaultMaxKeys)
	}
}

// BenchmarkAllow is the cost the per-address limit adds to a request.
func BenchmarkAllow(b *testing.B) {
	l := New(Options{PerMinute: 1 << 30})
	ips := make([]string, 4096)
	for i := range ips {
		ips[i] = fmt.Sprintf("2001:db8:%x::1", i)
	}
	for i := 0; b.Loop(); i++ {
		l.Allow(ips[i%len(ips)])
	}
}

// BenchmarkBackoff is the cost the per-account limit adds to a password
// sign-in (which spends tens of milliseconds in argon2id).
func BenchmarkBackoff(b *testing.B) {
	bo := NewBackoff(BackoffOptions{})
	keys := make([]string, 4096)
	for i := range keys {
		keys[i] = fmt.Sprintf("someone.%d@example.com", i)
	}
	for i := 0; b.Loop(); i++ {
		k := keys[i%len(keys)]
		if ok, _ := bo.Allow(k); ok {
			bo.Record(k, Succeeded)
		}
	}
}
