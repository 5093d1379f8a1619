package ratelimit

import (
	"testing"
	"time"
)

func TestAllow(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := New(3, func() time.Time { return now })
	for i := range 3 {
		if ok, _ := l.Allow("1.2.3.4"); !ok {
			t.Fatalf("request %d refused within burst", i)
		}
	}
	ok, wait := l.Allow("1.2.3.4")
	if ok || wait <= 0 || wait > 20*time.Second {
		t.Fatalf("4th request: ok=%v wait=%v, want refused with ~20s wait", ok, wait)
	}
	if ok, _ := l.Allow("5.6.7.8"); !ok {
		t.Fatal("other key limited")
	}
	now = now.Add(20 * time.Second)
	if ok, _ := l.Allow("1.2.3.4"); !ok {
		t.Fatal("not refilled after 20s")
	}
	if ok, _ := l.Allow("1.2.3.4"); ok {
		t.Fatal("refilled more than one token in 20s")
	}
	now = now.Add(5 * time.Minute)
	l.Allow("9.9.9.9")
	if _, kept := l.buckets["5.6.7.8"]; kept {
		t.Fatal("idle bucket not swept")
	}
}
