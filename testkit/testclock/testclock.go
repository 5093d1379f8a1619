// Package testclock is the one controllable clock of tether's tests. The
// server, the providers and the test peers all take a func() time.Time,
// so a test hands them Clock.Now and moves time with Advance instead of
// sleeping.
package testclock

import (
	"sync"
	"time"
)

// Clock is a time source that tests move forward. A frozen clock (New)
// stands still between Advance calls, so times it hands out can be
// compared exactly; a running clock (Running) follows real time plus
// what Advance added, for tests where a browser or a peer also waits in
// real time.
type Clock struct {
	mu      sync.Mutex
	now     time.Time // the frozen time; unused when running
	offset  time.Duration
	running bool
}

// New returns a frozen clock that reads start until Advance moves it.
func New(start time.Time) *Clock { return &Clock{now: start} }

// Running returns a clock that follows real time.
func Running() *Clock { return &Clock{running: true} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		return time.Now().Add(c.offset)
	}
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
	c.now = c.now.Add(d)
}
