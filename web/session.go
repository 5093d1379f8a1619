package web

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/tether-id/tether/api/httpx"
	"github.com/tether-id/tether/core"
)

// A browser session is the Cloudreve token pair in two cookies, both
// HttpOnly (no script can read them), SameSite=Lax (not sent on
// cross-site POSTs) and Secure when the public URL is https, in which case
// their names carry the __Host- prefix (no Domain, Path=/, Secure: a
// sibling subdomain cannot plant or shadow them). The access token is
// checked on every request; when it has expired the refresh token is
// exchanged for a new pair server-side, and the new pair replaces the
// cookies in the same response. Sign-out revokes the refresh chain.
const (
	accessCookieName  = "tether_access"
	refreshCookieName = "tether_refresh"
)

// requestState is what one request learnt about its browser.
type requestState struct {
	lang *language
	user core.User
	// signedIn is true when user is set from a valid session.
	signedIn bool
	// expired is true when the browser sent a session that could not be
	// used any more (expired, revoked, account banned).
	expired bool
	// refresh is the refresh token the browser holds after this request
	// (the new one when the request refreshed the session).
	refresh string
	csrf    string
}

// begin reads the request's language and session.
func (h *Handler) begin(w http.ResponseWriter, r *http.Request) *requestState {
	st := &requestState{lang: negotiate(r)}
	h.readSession(w, r, st)
	return st
}

// readSession authenticates the access cookie, refreshing the pair when
// the access token is missing or expired and a refresh cookie is there.
// A session that cannot be used any more (revoked, banned account) is
// cleared from the browser.
func (h *Handler) readSession(w http.ResponseWriter, r *http.Request, st *requestState) {
	ctx := r.Context()
	drop := func() {
		h.clearSession(w, st)
		st.expired = true
	}
	access := h.readCookie(r, accessCookieName)
	st.refresh = h.readCookie(r, refreshCookieName)
	if access == "" && st.refresh == "" {
		return
	}
	if access != "" {
		u, err := h.svc.Authenticate(ctx, access)
		if err == nil {
			st.user, st.signedIn = u, true
			return
		}
		switch core.ErrorCode(err) {
		case core.CodeBanned, core.CodeInactive:
			drop()
			return
		case core.CodeInternal:
			h.log.ErrorContext(ctx, "web: reading session", "err", err)
			return
		}
	}
	if st.refresh == "" {
		drop()
		return
	}
	pair, err := h.refresher.refresh(ctx, st.refresh, func(ctx context.Context) (core.TokenPair, error) {
		pair, err := h.svc.Refresh(ctx, st.refresh, httpx.Client(r))
		h.opts.Metrics.Refresh(err)
		return pair, err
	})
	if err != nil {
		if core.ErrorCode(err) == core.CodeInternal {
			h.log.ErrorContext(ctx, "web: refreshing session", "err", err)
			return
		}
		drop()
		return
	}
	u, err := h.svc.Authenticate(ctx, pair.AccessToken)
	if err != nil {
		drop()
		return
	}
	h.setSession(w, st, pair)
	st.user, st.signedIn = u, true
}

// startSession stores a new pair after a sign-in. A session the browser
// held before (another account, or the same one) is revoked: one browser,
// one session. The CSRF cookie is replaced.
func (h *Handler) startSession(w http.ResponseWriter, r *http.Request, st *requestState, pair core.TokenPair, u core.User) {
	if st.refresh != "" && st.refresh != pair.RefreshToken {
		if err := h.svc.SignOut(context.WithoutCancel(r.Context()), st.refresh, httpx.Client(r)); err != nil && core.ErrorCode(err) == core.CodeInternal {
			h.log.WarnContext(r.Context(), "web: revoking the previous session", "err", err)
		}
	}
	h.setSession(w, st, pair)
	st.user, st.signedIn = u, true
	h.csrfSecret(w, r, st, true)
}

// signedIn starts the session of a sign-in and sends the browser on to
// next: when next continues an app's authorization request that needs
// nothing more of the person, straight back to the app (Options.Resume),
// else there by a redirect.
func (h *Handler) signedIn(w http.ResponseWriter, r *http.Request, st *requestState, pair core.TokenPair, u core.User, next string) {
	h.startSession(w, r, st, pair, u)
	if h.opts.Resume != nil {
		if b, err := h.svc.BrowserSession(r.Context(), pair.RefreshToken, u); err == nil && h.opts.Resume(w, r, next, b) {
			return
		}
	}
	h.redirect(w, r, next)
}

func (h *Handler) setSession(w http.ResponseWriter, st *requestState, pair core.TokenPair) {
	now := h.now()
	http.SetCookie(w, h.cookie(accessCookieName, pair.AccessToken, pair.AccessExpires.Sub(now)))
	http.SetCookie(w, h.cookie(refreshCookieName, pair.RefreshToken, pair.RefreshExpires.Sub(now)))
	st.refresh = pair.RefreshToken
}

func (h *Handler) clearSession(w http.ResponseWriter, st *requestState) {
	http.SetCookie(w, h.cookie(accessCookieName, "", -1))
	http.SetCookie(w, h.cookie(refreshCookieName, "", -1))
	st.user, st.signedIn, st.refresh = core.User{}, false, ""
}

// cookieName is name with the __Host- prefix when cookies are Secure.
func (h *Handler) cookieName(name string) string {
	if h.secure {
		return "__Host-" + name
	}
	return name
}

func (h *Handler) readCookie(r *http.Request, name string) string {
	if c, err := r.Cookie(h.cookieName(name)); err == nil {
		return c.Value
	}
	return ""
}

// cookie builds one of the pages' cookies: a session cookie for maxAge 0,
// deleted for a negative maxAge, else kept that long.
func (h *Handler) cookie(name, value string, maxAge time.Duration) *http.Cookie {
	c := &http.Cookie{
		Name:     h.cookieName(name),
		Value:    value,
		Path:     "/",
		HttpOnly: true,
		Secure:   h.secure,
		SameSite: http.SameSiteLaxMode,
	}
	switch {
	case maxAge < 0:
		c.MaxAge = -1
	case maxAge > 0:
		c.MaxAge = max(1, int(maxAge/time.Second))
	}
	return c
}

// Refresher makes concurrent refreshes of one refresh token share one
// exchange. A browser can send two requests at once with the same expired
// access token (two tabs); refreshing twice would present a used refresh
// token and, by design, revoke the whole chain. The first request
// refreshes, the others wait for it, and for a short grace period later
// requests carrying the old token get the same new pair. Each instance
// coalesces its own requests; a load balancer with sticky sessions keeps
// a browser on one instance.
//
// Only successes are remembered: a failed refresh (a made-up or dead
// cookie, which anyone can send to any page) is forgotten as soon as its
// waiters have their answer, so junk cookies cost no memory. Remembered
// pairs are swept by a timer that runs only while there are some, not by
// each request.
//
// A process has one: the pages built from each reloaded configuration
// share it (Options.Refresher), so that a refresh answered just before a
// reload still answers the browser's other tabs just after it.
type Refresher struct {
	mu    sync.Mutex
	calls map[string]*refreshCall
	now   func() time.Time
	sweep *time.Timer // armed while calls holds finished entries
}

// NewRefresher returns an empty Refresher on the clock now (nil:
// time.Now), which must be the service's.
func NewRefresher(now func() time.Time) *Refresher {
	if now == nil {
		now = time.Now
	}
	return &Refresher{calls: map[string]*refreshCall{}, now: now}
}

type refreshCall struct {
	done chan struct{}
	pair core.TokenPair
	err  error
	at   time.Time
}

// refreshGrace is how long a finished refresh is answered from memory.
const refreshGrace = 30 * time.Second

func (f *Refresher) refresh(ctx context.Context, token string, exchange func(context.Context) (core.TokenPair, error)) (core.TokenPair, error) {
	key := core.Hash(token)
	f.mu.Lock()
	c, ok := f.calls[key]
	if ok {
		select {
		case <-c.done:
			if f.now().Sub(c.at) > refreshGrace {
				delete(f.calls, key)
				ok = false
			}
		default:
		}
	}
	if !ok {
		c = &refreshCall{done: make(chan struct{})}
		f.calls[key] = c
	}
	f.mu.Unlock()
	if ok {
		select {
		case <-c.done:
			return c.pair, c.err
		case <-ctx.Done():
			return core.TokenPair{}, ctx.Err()
		}
	}
	// Not cancelled with the request: a rotation that happened must be
	// remembered, or the browser's next request would be a reuse.
	c.pair, c.err = exchange(context.WithoutCancel(ctx))
	f.mu.Lock()
	c.at = f.now()
	if c.err != nil {
		delete(f.calls, key) // waiters hold c; nobody else needs it
	} else if f.sweep == nil {
		f.sweep = time.AfterFunc(refreshGrace, f.sweepOld)
	}
	f.mu.Unlock()
	close(c.done)
	return c.pair, c.err
}

// sweepOld forgets finished refreshes older than the grace period, and
// arms itself again while any remain.
func (f *Refresher) sweepOld() {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	for k, c := range f.calls {
		select {
		case <-c.done:
			if now.Sub(c.at) > refreshGrace {
				delete(f.calls, k)
			}
		default:
		}
	}
	if len(f.calls) > 0 {
		f.sweep.Reset(refreshGrace)
	} else {
		f.sweep = nil
	}
}

// size is how many refreshes the refresher remembers, for tests.
func (f *Refresher) size() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}
