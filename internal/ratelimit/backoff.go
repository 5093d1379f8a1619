package ratelimit

import (
	"crypto/sha256"
	"sync"
	"time"
)

// Defaults of BackoffOptions.
const (
	DefaultFreeFailures = 5
	DefaultLockout      = time.Minute
	DefaultMaxLockout   = 15 * time.Minute
)

// BackoffOptions configure a Backoff.
type BackoffOptions struct {
	// Free is how many failures in a row a key may have before it is
	// locked out; 0 means DefaultFreeFailures.
	Free int
	// Lockout is the first lock-out, after the Free-th failure; each
	// further failure doubles it. 0 means DefaultLockout.
	Lockout time.Duration
	// MaxLockout caps the lock-out; 0 means DefaultMaxLockout.
	MaxLockout time.Duration
	// MaxKeys bounds the number of keys tracked; 0 means
	// DefaultMaxKeys.
	MaxKeys int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Outcome is what became of an attempt Backoff allowed.
type Outcome int

const (
	// Failed counts against the key: a wrong password.
	Failed Outcome = iota
	// Succeeded forgives the key its failures.
	Succeeded
	// Void neither counts nor forgives: the attempt never reached a
	// password check (a malformed request, a database error) or said
	// nothing about it.
	Void
)

// Backoff locks a key (an account's email) out after repeated failures,
// for a time that doubles with each further failure up to a cap; a
// success forgives every failure. It answers the same for any key, so it
// does not tell which accounts exist.
//
// An attempt is counted from the moment it is allowed until its outcome
// is recorded, so that many concurrent attempts cannot all slip through
// before the first failure lands: while a key is within its free
// failures, at most that many attempts run at once, and once it has used
// them, one at a time after each lock-out.
//
// A key quiet for twice MaxLockout is forgotten, failures and all. Keys
// are held as their SHA-256, so a long key (an email is whatever the
// client sent) costs no more memory than a short one.
type Backoff struct {
	free       int
	lockout    time.Duration
	maxLockout time.Duration
	now        func() time.Time

	mu   sync.Mutex
	keys *table[attempts]
}

type attempts struct {
	failures int
	running  int
	until    time.Time // locked out until then
}

// NewBackoff returns a Backoff.
func NewBackoff(opts BackoffOptions) *Backoff {
	if opts.Free <= 0 {
		opts.Free = DefaultFreeFailures
	}
	if opts.Lockout <= 0 {
		opts.Lockout = DefaultLockout
	}
	if opts.MaxLockout <= 0 {
		opts.MaxLockout = DefaultMaxLockout
	}
	opts.MaxLockout = max(opts.MaxLockout, opts.Lockout)
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = DefaultMaxKeys
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Backoff{
		free: opts.Free, lockout: opts.Lockout, maxLockout: opts.MaxLockout, now: opts.Now,
		keys: newTable[attempts](opts.MaxKeys),
	}
}

// busyWait is the wait reported while the one attempt allowed after a
// lock-out is still running.
const busyWait = time.Second

// Allow reports whether key may attempt now, and if not, how long until
// it may. An allowed attempt must be followed by Record.
func (b *Backoff) Allow(key string) (bool, time.Duration) {
	key = digest(key)
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.keys.sweep(now, 2*b.maxLockout)
	e := b.keys.touch(key, now)
	a := &e.v
	switch {
	case now.Before(a.until):
		return false, a.until.Sub(now)
	case a.failures+a.running >= b.free && a.running > 0:
		return false, busyWait
	}
	a.running++
	return true, 0
}

// Record settles an attempt Allow allowed for key.
func (b *Backoff) Record(key string, o Outcome) {
	key = digest(key)
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.keys.get(key)
	if e == nil {
		// Evicted while the attempt ran; a failure still counts.
		if o != Failed {
			return
		}
		e = b.keys.touch(key, now)
	}
	a := &e.v
	if a.running > 0 {
		a.running--
	}
	switch o {
	case Succeeded:
		if a.running == 0 {
			b.keys.remove(e)
		} else {
			a.failures, a.until = 0, time.Time{}
		}
	case Failed:
		a.failures++
		if a.failures >= b.free {
			a.until = now.Add(b.lockFor(a.failures - b.free))
		}
	}
}

func digest(key string) string {
	sum := sha256.Sum256([]byte(key))
	return string(sum[:])
}

// lockFor is the lock-out after n failures beyond the free ones: the
// first lock-out doubled n times, capped.
func (b *Backoff) lockFor(n int) time.Duration {
	d := b.lockout
	for range n {
		if d >= b.maxLockout {
			break
		}
		d *= 2
	}
	return min(d, b.maxLockout)
}

// tracked is how many keys the backoff remembers, for tests.
func (b *Backoff) tracked() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.keys.len()
}
