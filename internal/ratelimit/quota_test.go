package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

func TestQuota(t *testing.T) {
	c := newClock()
	q := NewQuota(QuotaOptions{Burst: 3, Window: 15 * time.Minute, Now: c.now})
	for i := range 3 {
		if ok, _ := q.Allow("a@example.test"); !ok {
			t.Fatalf("event %d of the burst refused", i+1)
		}
	}
	ok, wait := q.Allow("a@example.test")
	if ok || wait != 5*time.Minute {
		t.Fatalf("after the burst: %v, wait %s; want refused for 5m", ok, wait)
	}
	if ok, _ := q.Allow("b@example.test"); !ok {
		t.Fatal("another key shares the budget")
	}
	c.advance(5 * time.Minute)
	if ok, _ := q.Allow("a@example.test"); !ok {
		t.Fatal("one more event not allowed after Window/Burst")
	}
	if ok, _ := q.Allow("a@example.test"); ok {
		t.Fatal("two events allowed after Window/Burst")
	}
	c.advance(15 * time.Minute)
	for i := range 3 {
		if ok, _ := q.Allow("a@example.test"); !ok {
			t.Fatalf("event %d of a refilled burst refused", i+1)
		}
	}
}

func TestQuotaBounded(t *testing.T) {
	c := newClock()
	q := NewQuota(QuotaOptions{Burst: 1, Window: time.Hour, MaxKeys: 10, Now: c.now})
	for i := range 100 {
		q.Allow(fmt.Sprintf("k%d@example.test", i))
	}
	q.mu.Lock()
	n := q.full.len()
	q.mu.Unlock()
	if n != 10 {
		t.Fatalf("%d keys tracked, want 10", n)
	}
	c.advance(time.Hour + time.Second)
	q.Allow("fresh@example.test")
	q.mu.Lock()
	n = q.full.len()
	q.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d keys tracked after the window, want 1 (idle keys forgotten)", n)
	}
}
