package oidc

import (
	"context"
	"sync"
	"time"
)

// fetchTimeout bounds one fetch of a cached document. The fetch runs
// detached from the request that started it, since other requests may be
// waiting on it too.
const fetchTimeout = 30 * time.Second

// cache holds one remote document (discovery or JWKS).
//
//   - A fresh value is returned without a request.
//   - A stale value is still returned, and one background fetch replaces it
//     (stale-while-revalidate), so a slow OP never slows sign-ins that
//     could be served from the copy.
//   - Without a value, callers wait for the fetch; concurrent callers share
//     one fetch.
//   - A failed fetch is remembered for retryAfter, so a broken OP is not
//     asked again on every request.
type cache[T any] struct {
	ttl        time.Duration
	retryAfter time.Duration
	now        func() time.Time
	fetch      func(context.Context) (T, error)
	// refreshed is called with the outcome of every background fetch
	// (one replacing a stale value), whose caller is no longer there.
	refreshed func(error)

	mu      sync.Mutex
	val     T
	ok      bool      // val holds a fetched value
	expires time.Time // when val goes stale, or when err may be retried
	err     error     // last failure while !ok
	flight  *flight[T]
	waiting int            // callers blocked on flight, for tests
	bg      sync.WaitGroup // running fetches, for tests
}

type flight[T any] struct {
	done chan struct{}
	val  T
	err  error
}

func newCache[T any](ttl time.Duration, now func() time.Time, fetch func(context.Context) (T, error)) *cache[T] {
	return &cache[T]{ttl: ttl, retryAfter: min(ttl, 5*time.Second), now: now, fetch: fetch}
}

// get returns the cached value, fetching it when there is none.
func (c *cache[T]) get(ctx context.Context) (T, error) {
	c.mu.Lock()
	now := c.now()
	if c.ok {
		if now.After(c.expires) && c.flight == nil {
			c.start(ctx, true)
		}
		v := c.val
		c.mu.Unlock()
		return v, nil
	}
	if c.err != nil && now.Before(c.expires) {
		err := c.err
		c.mu.Unlock()
		var zero T
		return zero, err
	}
	f := c.flight
	if f == nil {
		f = c.start(ctx, false)
	}
	return c.wait(ctx, f)
}

// refresh fetches a new value now and waits for it, joining a fetch that
// is already under way. Callers limit how often they call it.
func (c *cache[T]) refresh(ctx context.Context) (T, error) {
	c.mu.Lock()
	f := c.flight
	if f == nil {
		f = c.start(ctx, false)
	}
	return c.wait(ctx, f)
}

// wait is called with c.mu held and releases it.
func (c *cache[T]) wait(ctx context.Context, f *flight[T]) (T, error) {
	c.waiting++
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.waiting--
		c.mu.Unlock()
	}()
	select {
	case <-f.done:
		return f.val, f.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// start begins a fetch; c.mu is held.
func (c *cache[T]) start(ctx context.Context, background bool) *flight[T] {
	f := &flight[T]{done: make(chan struct{})}
	c.flight = f
	c.bg.Add(1)
	ctx = context.WithoutCancel(ctx)
	go func() {
		defer c.bg.Done()
		fctx, cancel := context.WithTimeout(ctx, fetchTimeout)
		v, err := c.fetch(fctx)
		cancel()

		c.mu.Lock()
		now := c.now()
		switch {
		case err == nil:
			c.val, c.ok, c.err, c.expires = v, true, nil, now.Add(c.ttl)
		case c.ok:
			// Keep serving the stale copy; try again later.
			c.expires = now.Add(c.retryAfter)
		default:
			c.err, c.expires = err, now.Add(c.retryAfter)
		}
		c.flight = nil
		f.val, f.err = v, err
		c.mu.Unlock()
		close(f.done)
		if background && c.refreshed != nil {
			c.refreshed(err)
		}
	}()
	return f
}
