// Package ratelimit holds tether's two limiters, both kept in memory per
// instance: Limiter, which limits requests per client address block, and
// Backoff, which locks out an account's password sign-in after repeated
// failures. With several instances behind a load balancer, each instance
// applies the limits on its own, so a client may get up to one budget per
// instance.
//
// Each limiter tracks at most MaxKeys keys; past the bound the least
// recently used key is forgotten. Forgetting is harmless for a key that
// has been idle long enough (its budget is full again); under a flood of
// distinct keys it may hand an evicted key a fresh budget early, which
// is the price of bounded memory.
package ratelimit

import (
	"net/netip"
	"sync"
	"time"
)

// DefaultMaxKeys bounds each limiter's table when its options leave it
// zero: a key costs about 170 bytes, so a full table holds some 17 MB.
const DefaultMaxKeys = 100_000

// DefaultIPv6Prefix is how many leading bits of an IPv6 address make a
// client: a /64 is what one subscriber or one host usually gets, so
// counting whole addresses would give anyone with a /64 a fresh budget
// for every request.
const DefaultIPv6Prefix = 64

// Options configure a Limiter.
type Options struct {
	// PerMinute is how many requests a client may make per minute, with a
	// burst of the same size.
	PerMinute int
	// IPv6Prefix is the length of the IPv6 prefix that counts as one
	// client; 0 means DefaultIPv6Prefix. IPv4 addresses, and IPv4-mapped
	// IPv6 ones, always count whole.
	IPv6Prefix int
	// MaxKeys bounds the number of clients tracked; 0 means
	// DefaultMaxKeys.
	MaxKeys int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Limiter allows PerMinute requests per client per minute. It is a token
// bucket written as GCRA: each client holds only the time at which its
// bucket will be full again, so a client idle for a minute can be
// forgotten without changing any answer.
type Limiter struct {
	perMinute int
	interval  time.Duration // one token's worth of time
	v6bits    int
	now       func() time.Time

	mu sync.Mutex
	// full is, per client, when its bucket is full again.
	full *table[time.Time]
}

// New returns a Limiter.
func New(opts Options) *Limiter {
	if opts.PerMinute < 1 {
		opts.PerMinute = 1
	}
	if opts.IPv6Prefix <= 0 || opts.IPv6Prefix > 128 {
		opts.IPv6Prefix = DefaultIPv6Prefix
	}
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = DefaultMaxKeys
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Limiter{
		perMinute: opts.PerMinute,
		interval:  time.Minute / time.Duration(opts.PerMinute),
		v6bits:    opts.IPv6Prefix,
		now:       opts.Now,
		full:      newTable[time.Time](opts.MaxKeys),
	}
}

// Allow takes one request from the budget of the client at ip. When the
// budget is spent it reports false and how long until the next request
// is allowed.
func (l *Limiter) Allow(ip string) (bool, time.Duration) {
	key := l.Key(ip)
	now := l.now()
	window := time.Duration(l.perMinute) * l.interval // an empty bucket refills in this
	l.mu.Lock()
	defer l.mu.Unlock()
	l.full.sweep(now, window)
	e := l.full.touch(key, now)
	full := e.v
	if full.Before(now) {
		full = now
	}
	// The bucket holds perMinute tokens: a request is allowed while the
	// bucket would still be full again within window after taking one.
	if wait := full.Add(l.interval).Sub(now) - window; wait > 0 {
		return false, wait
	}
	e.v = full.Add(l.interval)
	return true, 0
}

// Key returns the key under which requests from ip are counted: an IPv4
// address whole (also when written IPv4-mapped, ::ffff:a.b.c.d), an IPv6
// address by its prefix (its /64 by default), and anything that is not
// an address as it is.
func (l *Limiter) Key(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	p, err := a.Prefix(l.v6bits)
	if err != nil {
		return a.String()
	}
	return p.String()
}

// Limit returns the configured requests per minute.
func (l *Limiter) Limit() int { return l.perMinute }

// tracked is how many clients the limiter remembers, for tests.
func (l *Limiter) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.full.len()
}
