package multitest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tether-id/tether/api/httpx"
	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/testkit/testpeer"
	"github.com/tether-id/tether/testkit/tethertest"
)

// TestFlowFinishesOnOtherInstance: a sign-in prepared on A finishes on B;
// replaying that finish on A fails with 40023; B checks the browser
// binding that A recorded.
func TestFlowFinishesOnOtherInstance(t *testing.T) {
	t.Parallel()
	c := newCluster(t)

	browser := c.A.Client(t)
	back := c.OP.Login(t, browser.PrepareOpenID(tethertest.OIDCCode), testpeer.Alice)

	// A set the binding cookie for 127.0.0.1. Cookies are scoped by host,
	// not by port (RFC 6265 §8.5), so the jar also sends it to B on
	// another port of 127.0.0.1: just what a browser does behind a load
	// balancer, where A and B share one host name.
	bURL, _ := url.Parse(c.B.URL)
	if !hasCookie(browser.Jar.Cookies(bURL), httpx.BrowserCookie) {
		t.Fatalf("the jar would not send %s, set by A, to B", httpx.BrowserCookie)
	}
	env := browser.FinishOpenID(c.B.URL, tethertest.OIDCCode, back)
	if env.Code != 0 {
		t.Fatalf("finish on B of a flow prepared on A: %s", env.Raw)
	}
	var login tethertest.Login
	env.Decode(t, &login)
	if login.User.Email != testpeer.Alice.Email || login.Token.AccessToken == "" {
		t.Fatalf("finish on B signed in %+v, want %s with tokens", login, testpeer.Alice.Email)
	}
	// The session B issued is good on A.
	if env := browser.Cloudreve("GET", c.A.URL+"/api/v4/user/setting", nil, login.Token.AccessToken); env.Code != 0 {
		t.Fatalf("settings on A with B's access token: %s", env.Raw)
	}

	if env := browser.FinishOpenID(c.A.URL, tethertest.OIDCCode, back); env.Code != 40023 {
		t.Fatalf("replay on A of the finish done on B: code %d, want 40023: %s", env.Code, env.Raw)
	}

	// A flow prepared on A, finished on B by a browser that lacks A's
	// cookie (the callback URL leaked): B refuses it.
	back = c.OP.Login(t, c.A.Client(t).PrepareOpenID(tethertest.OIDCCode), testpeer.Alice)
	if env := c.B.Client(t).FinishOpenID("", tethertest.OIDCCode, back); env.Code != 40023 {
		t.Fatalf("finish on B from another browser: code %d, want 40023: %s", env.Code, env.Raw)
	}
}

func hasCookie(cs []*http.Cookie, name string) bool {
	for _, c := range cs {
		if c.Name == name && c.Value != "" {
			return true
		}
	}
	return false
}

// TestRefreshOnOtherInstance: a refresh token from A refreshes on B, and
// reuse detection sees rotations made by the other instance.
func TestRefreshOnOtherInstance(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	c.A.CreateUser(t, "carol@example.test", "carol-password", true)
	onA, onB := c.A.Client(t), c.B.Client(t)

	first := onA.SignIn("carol@example.test", "carol-password").Token
	env := onB.Cloudreve("POST", "/api/v4/session/token/refresh", map[string]string{"refresh_token": first.RefreshToken}, "")
	if env.Code != 0 {
		t.Fatalf("refresh on B of A's token: %s", env.Raw)
	}
	var second tethertest.Tokens
	env.Decode(t, &second)
	if second.RefreshToken == "" || second.RefreshToken == first.RefreshToken {
		t.Fatalf("refresh on B returned %+v, want a new refresh token", second)
	}
	if env := onA.Cloudreve("GET", "/api/v4/user/setting", nil, second.AccessToken); env.Code != 0 {
		t.Fatalf("settings on A with B's access token: %s", env.Raw)
	}

	// A replays the token that B rotated: reuse, the chain is revoked, and
	// B no longer accepts the token it issued.
	if env := onA.Cloudreve("POST", "/api/v4/session/token/refresh", map[string]string{"refresh_token": first.RefreshToken}, ""); env.Code != 40020 {
		t.Fatalf("replay on A of a token rotated on B: code %d, want 40020: %s", env.Code, env.Raw)
	}
	if env := onB.Cloudreve("POST", "/api/v4/session/token/refresh", map[string]string{"refresh_token": second.RefreshToken}, ""); env.Code != 40020 {
		t.Fatalf("refresh on B after the chain was revoked on A: code %d, want 40020: %s", env.Code, env.Raw)
	}
}

// TestConcurrentRefresh: one refresh token sent 20 times at once, half to
// A and half to B: exactly one refresh succeeds. To the others the token
// is already used, a replay (40020), which revokes the chain, the
// winner's new token included.
func TestConcurrentRefresh(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	c.A.CreateUser(t, "frank@example.test", "frank-password", true)
	tok := c.A.Client(t).SignIn("frank@example.test", "frank-password").Token.RefreshToken

	const n = 20
	clients := []*tethertest.Client{c.A.Client(t), c.B.Client(t)}
	servers := []*tethertest.Server{c.A, c.B}
	envs := make([]tethertest.Envelope, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			envs[i], errs[i] = post(clients[i%2].Client, "POST", servers[i%2].URL+"/api/v4/session/token/refresh", map[string]string{"refresh_token": tok})
		})
	}
	close(start)
	wg.Wait()
	var won []tethertest.Tokens
	for i, env := range envs {
		switch {
		case errs[i] != nil:
			t.Errorf("refresh %d: %v", i, errs[i])
		case env.Code == 0:
			var next tethertest.Tokens
			env.Decode(t, &next)
			won = append(won, next)
		case env.Code != 40020:
			t.Errorf("refresh %d: code %d, want 0 or 40020: %s", i, env.Code, env.Raw)
		}
	}
	if len(won) != 1 {
		t.Fatalf("%d of %d concurrent refreshes succeeded, want 1", len(won), n)
	}
	env := clients[0].Cloudreve("POST", "/api/v4/session/token/refresh", map[string]string{"refresh_token": won[0].RefreshToken}, "")
	if env.Code != 40020 {
		t.Fatalf("the winner's token after the replays: code %d, want 40020", env.Code)
	}
}

// TestSignOutDuringRefresh: a sign-out on A racing a refresh of the same
// session on B. Whichever goes first, the session is over: the sign-out
// succeeds, and a token the refresh may have issued is refused.
func TestSignOutDuringRefresh(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	c.A.CreateUser(t, "grace@example.test", "grace-password", true)
	onA, onB := c.A.Client(t), c.B.Client(t)
	for range 8 {
		tok := onA.SignIn("grace@example.test", "grace-password").Token.RefreshToken
		body := map[string]string{"refresh_token": tok}
		var out, refresh tethertest.Envelope
		var outErr, refreshErr error
		var wg sync.WaitGroup
		wg.Go(func() { out, outErr = post(onA.Client, "DELETE", c.A.URL+"/api/v4/session/token", body) })
		wg.Go(func() { refresh, refreshErr = post(onB.Client, "POST", c.B.URL+"/api/v4/session/token/refresh", body) })
		wg.Wait()
		if outErr != nil || out.Code != 0 {
			t.Fatalf("sign-out on A: %v %s", outErr, out.Raw)
		}
		if refreshErr != nil {
			t.Fatal(refreshErr)
		}
		if refresh.Code != 0 {
			continue // the sign-out came first
		}
		var next tethertest.Tokens
		refresh.Decode(t, &next)
		if env := onB.Cloudreve("POST", "/api/v4/session/token/refresh", map[string]string{"refresh_token": next.RefreshToken}, ""); env.Code != 40020 {
			t.Fatalf("a token issued by a refresh that raced the sign-out still refreshes: code %d", env.Code)
		}
	}
}

// TestConcurrentFirstSignIn: 50 first sign-ins of one new upstream
// subject, finished at once, half on A and half on B, create exactly one
// account and one identity, and every one of them signs in to it.
func TestConcurrentFirstSignIn(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	servers := []*tethertest.Server{c.A, c.B}
	const n = 50

	// Off the clock: 50 browsers each prepare on one instance and log in
	// at the OP as the same person.
	type attempt struct {
		browser *tethertest.Client
		back    *url.URL
		finish  *tethertest.Server
	}
	attempts := make([]attempt, n)
	for i := range attempts {
		b := servers[i%2].Client(t)
		attempts[i] = attempt{
			browser: b,
			back:    c.OP.Login(t, b.PrepareOpenID(tethertest.OIDCCode), testpeer.Bob),
			finish:  servers[(i+1)%2], // the other instance
		}
	}

	envs := make([]tethertest.Envelope, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, a := range attempts {
		wg.Go(func() {
			<-start
			envs[i], errs[i] = post(a.browser.Client, "POST", a.finish.URL+"/api/v4/session/openid", finishBody(a.back))
		})
	}
	close(start)
	wg.Wait()

	userIDs := map[string]int{}
	for i, env := range envs {
		if errs[i] != nil || env.Code != 0 {
			t.Errorf("finish %d: %v %s", i, errs[i], env.Raw)
			continue
		}
		var login tethertest.Login
		env.Decode(t, &login)
		userIDs[login.User.ID]++
	}
	if len(userIDs) != 1 {
		t.Errorf("the sign-ins went to accounts %v, want one", userIDs)
	}

	ctx := context.Background()
	st := c.A.App.Store
	users, err := st.ListUsers(ctx)
	if err != nil || len(users) != 1 {
		t.Fatalf("%d accounts (%v), want 1: %+v", len(users), err, users)
	}
	ids, err := st.ListIdentities(ctx, users[0].ID)
	if err != nil || len(ids) != 1 || ids[0].Subject != testpeer.Bob.Subject {
		t.Fatalf("identities %+v (%v), want Bob's one", ids, err)
	}
	if got := countRows(t, c.DSN, "identities"); got != 1 {
		t.Fatalf("%d identities in the database, want 1", got)
	}
	signUps, err := st.ListEvents(ctx, core.EventQuery{UserID: users[0].ID, Kinds: []core.EventKind{core.EventSignUp}, Limit: 100})
	if err != nil || len(signUps) != 1 {
		t.Errorf("%d sign-up events (%v), want 1", len(signUps), err)
	}
	signIns, err := st.ListEvents(ctx, core.EventQuery{UserID: users[0].ID, Kinds: []core.EventKind{core.EventSignIn}, Limit: 100})
	if err != nil || len(signIns) != n {
		t.Errorf("%d sign-in events (%v), want %d", len(signIns), err, n)
	}
}

// TestThroughLoadBalancer: a person uses tether through a round-robin
// balancer without sticky sessions, so consecutive requests land on
// alternate instances: sign-up, sign-in, refresh, an upstream sign-in
// (prepare and finish on different instances), sign-out.
func TestThroughLoadBalancer(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	lb := (&tethertest.Server{URL: c.LB.URL}).Client(t)

	if env := lb.Cloudreve("POST", "/api/v4/user", map[string]string{"email": "dave@example.test", "password": "dave-password"}, ""); env.Code != 0 {
		t.Fatalf("sign-up: %s", env.Raw)
	}
	tokens := lb.SignIn("dave@example.test", "dave-password").Token
	for range 3 {
		env := lb.Cloudreve("POST", "/api/v4/session/token/refresh", map[string]string{"refresh_token": tokens.RefreshToken}, "")
		if env.Code != 0 {
			t.Fatalf("refresh: %s", env.Raw)
		}
		env.Decode(t, &tokens)
	}
	back := c.OP.Login(t, lb.PrepareOpenID(tethertest.OIDCCode), testpeer.Alice)
	if env := lb.FinishOpenID("", tethertest.OIDCCode, back); env.Code != 0 {
		t.Fatalf("upstream sign-in: %s", env.Raw)
	}
	if env := lb.Cloudreve("DELETE", "/api/v4/session/token", map[string]string{"refresh_token": tokens.RefreshToken}, ""); env.Code != 0 {
		t.Fatalf("sign-out: %s", env.Raw)
	}
	if env := lb.Cloudreve("POST", "/api/v4/session/token/refresh", map[string]string{"refresh_token": tokens.RefreshToken}, ""); env.Code != 40020 {
		t.Fatalf("refresh after sign-out: code %d, want 40020", env.Code)
	}
	if hits := c.LB.Hits(); hits[0] < 4 || hits[1] < 4 {
		t.Fatalf("requests per instance %v, want both used", hits)
	}
}

// TestPurgeByTwoInstances: both instances purge at once; every expired
// flow and dead refresh token is deleted, and counted, exactly once, and
// live ones stay. (store/postgres tests the same for flows with small
// batches; this covers refresh tokens and the service's Purge too.)
func TestPurgeByTwoInstances(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	ctx := context.Background()
	st := c.A.App.Store
	u := c.A.CreateUser(t, "erin@example.test", "erin-password", true)
	now := time.Now()
	const dead, live = 120, 5
	for i := range dead + live {
		exp := now.Add(-time.Duration(i+1) * time.Second)
		if i >= dead {
			exp = now.Add(time.Hour)
		}
		if err := st.CreateFlow(ctx, core.Flow{ID: fmt.Sprint("flow-", i), ProviderID: "corp", Purpose: core.PurposeSignIn, CreatedAt: now.Add(-time.Hour), ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
		rt := core.RefreshToken{Hash: fmt.Sprint("hash-", i), ChainID: fmt.Sprint("chain-", i), UserID: u.ID, CreatedAt: now.Add(-time.Hour), ExpiresAt: exp}
		if i%2 == 0 && i < dead {
			// Dead by revocation rather than by expiry.
			rt.ExpiresAt, rt.RevokedAt = now.Add(time.Hour), now.Add(-time.Minute)
		}
		ses := core.Session{ID: rt.ChainID, UserID: u.ID, Method: core.MethodPassword, CreatedAt: rt.CreatedAt, LastUsedAt: rt.CreatedAt, ExpiresAt: rt.ExpiresAt}
		ses.RevokedAt = rt.RevokedAt // a session ends with its only token
		if err := st.CreateSession(ctx, ses, rt); err != nil {
			t.Fatal(err)
		}
	}

	services := []*core.Service{c.A.App.Service, c.B.App.Service}
	flows, tokens := make([]int, 6), make([]int, 6)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range flows {
		wg.Go(func() {
			<-start
			var err error
			p, err := services[i%2].Purge(ctx)
			if err != nil {
				t.Error(err)
			}
			flows[i], tokens[i] = p.Flows, p.RefreshTokens
		})
	}
	close(start)
	wg.Wait()
	if sum(flows) != dead || sum(tokens) != dead {
		t.Fatalf("purges deleted flows %v and tokens %v, want %d of each in total", flows, tokens, dead)
	}
	if f, r := countRows(t, c.DSN, "flows"), countRows(t, c.DSN, "refresh_tokens"); f != live || r != live {
		t.Fatalf("%d flows and %d refresh tokens left, want %d of each", f, r, live)
	}
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

// countRows counts a table's rows in the PostgreSQL schema dsn selects.
func countRows(t *testing.T, dsn, table string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{table}.Sanitize()).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
