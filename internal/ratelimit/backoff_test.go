package ratelimit

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// try makes one attempt for key with outcome o, and reports whether it
// was allowed and the wait if not.
func try(b *Backoff, key string, o Outcome) (bool, time.Duration) {
	ok, wait := b.Allow(key)
	if ok {
		b.Record(key, o)
	}
	return ok, wait
}

// TestBackoff: five failures are free; then each failure locks the key
// out for twice as long as the last, up to the cap; a success forgives.
func TestBackoff(t *testing.T) {
	c := newClock()
	b := NewBackoff(BackoffOptions{Now: c.now})
	const key = "alice@example.test"
	for i := range DefaultFreeFailures {
		if ok, _ := try(b, key, Failed); !ok {
			t.Fatalf("failure %d refused", i+1)
		}
	}
	for _, lock := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 15 * time.Minute, 15 * time.Minute} {
		ok, wait := try(b, key, Failed)
		if ok || wait != lock {
			t.Fatalf("during the lock-out: allowed %v, wait %v; want refused for %v", ok, wait, lock)
		}
		c.advance(lock - time.Second)
		if ok, wait := try(b, key, Failed); ok || wait != time.Second {
			t.Fatalf("a second before the end of a %v lock-out: allowed %v, wait %v", lock, ok, wait)
		}
		c.advance(time.Second)
		if ok, _ := try(b, key, Failed); !ok {
			t.Fatalf("refused after the %v lock-out ended", lock)
		}
	}
	// Other keys are untouched.
	if ok, _ := try(b, "bob@example.test", Failed); !ok {
		t.Fatal("another key locked out")
	}
	// A success after a lock-out forgives every failure.
	c.advance(15 * time.Minute)
	if ok, _ := try(b, key, Succeeded); !ok {
		t.Fatal("refused after the lock-out")
	}
	for i := range DefaultFreeFailures {
		if ok, _ := try(b, key, Failed); !ok {
			t.Fatalf("failure %d after a success refused", i+1)
		}
	}
	if ok, wait := try(b, key, Failed); ok || wait != time.Minute {
		t.Fatalf("after five new failures: allowed %v, wait %v", ok, wait)
	}
}

// TestBackoffVoid: attempts that never checked a password neither count
// nor forgive.
func TestBackoffVoid(t *testing.T) {
	c := newClock()
	b := NewBackoff(BackoffOptions{Free: 2, Now: c.now})
	try(b, "k", Failed)
	for range 10 {
		if ok, _ := try(b, "k", Void); !ok {
			t.Fatal("void attempt refused")
		}
	}
	try(b, "k", Failed)
	if ok, _ := try(b, "k", Void); ok {
		t.Fatal("not locked after two failures around void attempts")
	}
}

// TestBackoffConcurrent: attempts running at once count before they
// fail, so a burst of parallel guesses gets the free failures and no
// more; after the lock-out, one attempt runs at a time.
func TestBackoffConcurrent(t *testing.T) {
	c := newClock()
	b := NewBackoff(BackoffOptions{Now: c.now})
	var mu sync.Mutex
	allowed := 0
	var wg sync.WaitGroup
	start := make(chan struct{})
	var held []func()
	for range 50 {
		wg.Go(func() {
			<-start
			if ok, _ := b.Allow("k"); ok {
				mu.Lock()
				allowed++
				held = append(held, func() { b.Record("k", Failed) })
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	if allowed != DefaultFreeFailures {
		t.Fatalf("%d of 50 parallel attempts allowed, want %d", allowed, DefaultFreeFailures)
	}
	for _, f := range held {
		f()
	}
	c.advance(time.Minute)
	if ok, _ := b.Allow("k"); !ok {
		t.Fatal("refused after the lock-out")
	}
	if ok, wait := b.Allow("k"); ok || wait != busyWait {
		t.Fatalf("second attempt while the first runs: allowed %v, wait %v", ok, wait)
	}
}

// TestBackoffForgets: failures are forgotten after a long quiet, and the
// table stays bounded under a flood of distinct keys, however long.
func TestBackoffForgets(t *testing.T) {
	c := newClock()
	b := NewBackoff(BackoffOptions{MaxKeys: 100, Now: c.now})
	for range DefaultFreeFailures {
		try(b, "k", Failed)
	}
	c.advance(2*DefaultMaxLockout + time.Second)
	try(b, "other", Failed)
	if n := b.tracked(); n != 1 {
		t.Fatalf("%d keys tracked after the quiet, want 1", n)
	}
	if ok, _ := try(b, "k", Failed); !ok {
		t.Fatal("failures not forgotten after the quiet")
	}
	long := strings.Repeat("x", 60<<10)
	for i := range 10_000 {
		try(b, fmt.Sprintf("%d%s@example.test", i, long[:i%len(long)]), Failed)
		if n := b.tracked(); n > 100 {
			t.Fatalf("%d keys tracked, bound 100", n)
		}
	}
}
