package ratelimit

import (
	"sync"
	"time"
)

// QuotaOptions configure a Quota.
type QuotaOptions struct {
	// Burst is how many events a key may have at once; at least 1.
	Burst int
	// Window is how long an exhausted key takes to earn its whole burst
	// back: one event per Window/Burst after the burst.
	Window time.Duration
	// MaxKeys bounds the number of keys tracked; 0 means DefaultMaxKeys.
	MaxKeys int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Quota limits events per key (an email address) over a window longer
// than Limiter's minute: tether uses it for the messages anyone can have
// sent to an address (password reset, verification, change of address),
// so that nobody can flood a mailbox through tether. It is the same token
// bucket as Limiter, written as GCRA, and answers the same for any key,
// whether or not an account has it.
//
// Keys are held as their SHA-256; a key idle for Window is forgotten,
// its budget full again.
type Quota struct {
	burst    int
	interval time.Duration // one event's worth of time
	window   time.Duration
	now      func() time.Time

	mu   sync.Mutex
	full *table[time.Time] // per key, when its bucket is full again
}

// NewQuota returns a Quota.
func NewQuota(opts QuotaOptions) *Quota {
	opts.Burst = max(opts.Burst, 1)
	if opts.Window <= 0 {
		opts.Window = time.Minute
	}
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = DefaultMaxKeys
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Quota{
		burst: opts.Burst, interval: opts.Window / time.Duration(opts.Burst), window: opts.Window, now: opts.Now,
		full: newTable[time.Time](opts.MaxKeys),
	}
}

// Allow takes one event from key's budget. When the budget is spent it
// reports false and how long until the next event is allowed.
func (q *Quota) Allow(key string) (bool, time.Duration) {
	key = digest(key)
	now := q.now()
	q.mu.Lock()
	defer q.mu.Unlock()
	q.full.sweep(now, q.window)
	e := q.full.touch(key, now)
	full := e.v
	if full.Before(now) {
		full = now
	}
	if wait := full.Add(q.interval).Sub(now) - q.window; wait > 0 {
		return false, wait
	}
	e.v = full.Add(q.interval)
	return true, 0
}
