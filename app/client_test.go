package app

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
)

// TestUpstreamClientKeepsConnections: the client tether talks to its
// providers with keeps a connection per concurrent sign-in, so a second
// wave of 32 token requests to one provider dials nothing new (with
// http.DefaultTransport's two idle connections per host, it dials 30).
func TestUpstreamClientKeepsConnections(t *testing.T) {
	var dials atomic.Int64
	var inflight sync.WaitGroup
	release := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inflight.Done()
		<-release // hold every request until all 32 are in flight
		io.WriteString(w, `{"access_token":"a","token_type":"Bearer"}`)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dials.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)

	c := upstreamClient()
	const n = 32
	wave := func() {
		inflight.Add(n)
		release = make(chan struct{})
		var done sync.WaitGroup
		for range n {
			done.Go(func() {
				resp, err := c.Post(srv.URL+"/token", "application/x-www-form-urlencoded", nil)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			})
		}
		inflight.Wait()
		close(release)
		done.Wait()
	}
	wave()
	first := dials.Load()
	wave()
	if again := dials.Load() - first; again != 0 {
		t.Errorf("the second wave of %d requests dialled %d new connections, want 0 (the first dialled %d)", n, again, first)
	}
}
