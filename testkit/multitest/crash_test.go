package multitest

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for the checks
	"go.yaml.in/yaml/v3"

	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/store/sqlstore"
	"github.com/tether-id/tether/testkit/pgtest"
	"github.com/tether-id/tether/testkit/testenv"
	"github.com/tether-id/tether/testkit/testpeer"
	"github.com/tether-id/tether/testkit/tethertest"
)

// raceEnabled is set by race_test.go when the tests run with -race.
var raceEnabled bool

// crashPublicURL is the public URL of the tether processes. Nothing needs
// to answer there: the browsers stop at the OP's redirect to it and relay
// the code themselves, as Cloudreve's callback page does.
const crashPublicURL = "http://tether.test"

// TestCrash runs tether as a separate process (`tether serve`) under a
// concurrent load of sign-ups, password sign-ins, refreshes, sign-outs and
// upstream sign-ins through a real OP, kills it with SIGKILL in the middle
// of it, and then checks the database: every acknowledged sign-up is
// there, no passwordless account lacks its identity, no identity is
// duplicated, every refresh chain is whole, every token a client holds is
// in the state the client expects, migrations are at the latest version;
// and a restarted process serves and shuts down cleanly.
func TestCrash(t *testing.T) {
	bin := buildTether(t)
	op := testpeer.Zitadel(t, tethertest.OIDCCallbackURL(crashPublicURL))
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		crashTest(t, bin, op, "sqlite://"+filepath.Join(t.TempDir(), "tether.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		crashTest(t, bin, op, pgtest.URL(t))
	})
}

func crashTest(t *testing.T, bin string, op *testpeer.OP, dsn string) {
	config := writeConfig(t, dsn, op)
	first := startTether(t, bin, config)

	l := newLedger()
	began := time.Now()
	ctx, stopLoad := context.WithCancel(context.Background())
	defer stopLoad()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() { accountWorker(ctx, t, first.URL, w, l) })
	}
	for range 2 {
		wg.Go(func() { upstreamWorker(ctx, t, first.URL, op, l) })
	}

	// Kill once every kind of operation has succeeded a few times, with
	// all workers still busy.
	deadline := time.Now().Add(2 * time.Minute)
	for !l.busyEnough() {
		if time.Now().After(deadline) || t.Failed() {
			stopLoad()
			wg.Wait()
			t.Fatalf("the load did not get going: %s", l)
		}
		time.Sleep(10 * time.Millisecond)
	}
	first.kill(t)
	wg.Wait()
	t.Logf("killed %v into the load, after %s", time.Since(began).Round(time.Millisecond), l)

	checkDatabase(t, dsn, l)

	second := startTether(t, bin, config)
	checkServes(t, second, op, l)
	second.stop(t)
}

// writeConfig writes the configuration of the tether processes.
func writeConfig(t *testing.T, dsn string, op *testpeer.OP) string {
	t.Helper()
	cfg := map[string]any{
		"listen":     "127.0.0.1:0",
		"public_url": crashPublicURL,
		// A name that needs no DNS, over plain http: a test, not a site.
		"allow_insecure_public_url": true,
		"database":                  dsn,
		"secret_key":                tethertest.SecretKey,
		"encryption_key":            tethertest.EncryptionKey,
		"log":                       map[string]any{"level": "info", "format": "json"},
		"rate_limit":                map[string]any{"enabled": false},
		"providers": []map[string]any{{
			"id": "corp", "kind": "oidc", "name": "Corp",
			"issuer": op.Issuer, "client_id": op.ClientID, "client_secret": op.ClientSecret,
		}},
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "tether.yaml")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// buildTether builds cmd/tether into a temporary folder, with -race when
// the tests have it, and returns the binary's path.
func buildTether(t *testing.T) string {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		testenv.Missing(t, "the go command, to build tether")
	}
	bin := filepath.Join(t.TempDir(), "tether")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	out, err := exec.Command(goCmd, append(args, "github.com/tether-id/tether/cmd/tether")...).CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// process is a running `tether serve`.
type process struct {
	URL    string
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr strings.Builder
	exited chan struct{} // closed when stderr is drained and the process reaped
	state  *os.ProcessState
}

// startTether starts `tether serve --config config` and waits until it
// listens. The process is killed when the test ends, if still running.
func startTether(t *testing.T, bin, config string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin, "serve", "--config", config), exited: make(chan struct{})}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TETHER_") { // the config file says it all
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	pipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.stderr.WriteString(line + "\n")
			p.mu.Unlock()
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "tether listening" {
				listening <- rec.Addr
			}
		}
		_, _ = io.Copy(io.Discard, pipe)
		_ = p.cmd.Wait()
		p.state = p.cmd.ProcessState
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("tether's log:\n%s", p.log())
		}
	})
	select {
	case addr := <-listening:
		p.URL = "http://" + addr
	case <-p.exited:
		t.Fatalf("tether exited before listening (%v):\n%s", p.state, p.log())
	case <-time.After(2 * time.Minute):
		t.Fatalf("tether did not listen within 2 minutes:\n%s", p.log())
	}
	return p
}

func (p *process) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// kill sends SIGKILL and checks that is what ended the process (it did not
// exit on its own before), and that it reported no data race.
func (p *process) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill: %v", err)
	}
	<-p.exited
	if ws, ok := p.state.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("tether ended with %v, not by our SIGKILL:\n%s", p.state, p.log())
	}
	p.checkLog(t)
}

// stop sends SIGTERM and expects a graceful shutdown: exit status 0.
func (p *process) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("tether did not stop within 30s of SIGTERM")
	}
	if !p.state.Success() {
		t.Errorf("tether stopped with %v after SIGTERM, want exit status 0", p.state)
	}
	p.checkLog(t)
}

func (p *process) checkLog(t *testing.T) {
	t.Helper()
	log := p.log()
	for _, bad := range []string{"DATA RACE", "panic:"} {
		if strings.Contains(log, bad) {
			t.Errorf("tether's log reports %q:\n%s", bad, log)
		}
	}
}

// ledger is what the clients were told: it is the truth the database must
// agree with after the crash.
type ledger struct {
	mu sync.Mutex
	// accounts maps the email of every acknowledged sign-up to its id.
	accounts map[string]string
	// sessions are the clients' refresh-token chains, each with the last
	// token the client was given.
	sessions []*session
	// upstream maps an upstream subject to the accounts its acknowledged
	// sign-ins went to.
	upstream map[string]map[string]bool
	// counts of acknowledged operations, by kind.
	counts map[string]int
}

// session is one client's refresh-token chain.
type session struct {
	token string
	// pending is the operation sent with token whose answer has not come:
	// "refresh" or "sign-out"; "" when none.
	pending   string
	signedOut bool
}

const accountPassword = "crash-test-password"

func newLedger() *ledger {
	return &ledger{accounts: map[string]string{}, upstream: map[string]map[string]bool{}, counts: map[string]int{}}
}

func (l *ledger) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprint(l.counts)
}

func (l *ledger) busyEnough() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, kind := range []string{"sign-up", "sign-in", "refresh", "sign-out", "upstream"} {
		if l.counts[kind] < 3 {
			return false
		}
	}
	return true
}

func (l *ledger) do(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f()
}

// call sends one Cloudreve request. ok is false when the load must stop:
// the server is gone (the transport failed, as expected after the kill),
// or it answered with an error, which fails the test.
func call(ctx context.Context, t *testing.T, hc *http.Client, method, u string, body any) (tethertest.Envelope, bool) {
	if ctx.Err() != nil {
		return tethertest.Envelope{}, false
	}
	env, err := post(hc, method, u, body)
	if err != nil {
		return env, false
	}
	if env.Code != 0 {
		t.Errorf("%s %s: %s", method, u, env.Raw)
		return env, false
	}
	return env, true
}

func decode[T any](t *testing.T, env tethertest.Envelope) T {
	var v T
	if err := json.Unmarshal(env.Data, &v); err != nil {
		t.Errorf("decode %s: %v", env.Data, err)
	}
	return v
}

// accountWorker signs up new accounts, signs in with their password,
// refreshes twice and signs out of every other session, until the server
// stops answering.
func accountWorker(ctx context.Context, t *testing.T, base string, w int, l *ledger) {
	hc := &http.Client{Timeout: 30 * time.Second}
	for i := 0; ; i++ {
		email := fmt.Sprintf("w%d-%d@example.test", w, i)
		env, ok := call(ctx, t, hc, "POST", base+"/api/v4/user", map[string]string{"email": email, "password": accountPassword})
		if !ok {
			return
		}
		u := decode[struct{ ID string }](t, env)
		l.do(func() { l.accounts[email] = u.ID; l.counts["sign-up"]++ })

		env, ok = call(ctx, t, hc, "POST", base+"/api/v4/session/token", map[string]string{"email": email, "password": accountPassword})
		if !ok {
			return
		}
		s := &session{token: decode[tethertest.Login](t, env).Token.RefreshToken}
		l.do(func() { l.sessions = append(l.sessions, s); l.counts["sign-in"]++ })
		if !useSession(ctx, t, hc, base, s, i%2 == 0, l) {
			return
		}
	}
}

// useSession refreshes s twice, then signs out when signOut is set.
func useSession(ctx context.Context, t *testing.T, hc *http.Client, base string, s *session, signOut bool, l *ledger) bool {
	for range 2 {
		l.do(func() { s.pending = "refresh" })
		env, ok := call(ctx, t, hc, "POST", base+"/api/v4/session/token/refresh", map[string]string{"refresh_token": s.token})
		if !ok {
			return false
		}
		next := decode[tethertest.Tokens](t, env).RefreshToken
		l.do(func() { s.token, s.pending = next, ""; l.counts["refresh"]++ })
	}
	if !signOut {
		return true
	}
	l.do(func() { s.pending = "sign-out" })
	if _, ok := call(ctx, t, hc, "DELETE", base+"/api/v4/session/token", map[string]string{"refresh_token": s.token}); !ok {
		return false
	}
	l.do(func() { s.signedOut, s.pending = true, ""; l.counts["sign-out"]++ })
	return true
}

// upstreamWorker signs in through the OP, as Alice and Bob in turn, each
// time in a new browser: prepare, the OP's login pages, finish; then it
// refreshes the session.
func upstreamWorker(ctx context.Context, t *testing.T, base string, op *testpeer.OP, l *ledger) {
	for i := 0; ; i++ {
		// Both workers start with Alice: her first sign-in races.
		user := []testpeer.User{testpeer.Alice, testpeer.Bob}[i%2]
		jar, _ := cookiejar.New(nil)
		hc := &http.Client{Jar: jar, Timeout: 30 * time.Second}
		env, ok := call(ctx, t, hc, "PUT", base+"/api/v4/session/openid", map[string]any{"provider": tethertest.OIDCCode})
		if !ok {
			return
		}
		// The OP runs in this process and is not killed: Login fails the
		// test only if the OP itself misbehaves.
		back := op.Login(t, decode[string](t, env), user)
		env, ok = call(ctx, t, hc, "POST", base+"/api/v4/session/openid", finishBody(back))
		if !ok {
			return
		}
		login := decode[tethertest.Login](t, env)
		s := &session{token: login.Token.RefreshToken}
		l.do(func() {
			if l.upstream[user.Subject] == nil {
				l.upstream[user.Subject] = map[string]bool{}
			}
			l.upstream[user.Subject][login.User.ID] = true
			l.sessions = append(l.sessions, s)
			l.counts["upstream"]++
		})
		if !useSession(ctx, t, hc, base, s, false, l) {
			return
		}
	}
}

// checkDatabase compares the database with the ledger and checks the
// invariants that hold whatever the clients saw.
func checkDatabase(t *testing.T, dsn string, l *ledger) {
	t.Helper()
	ctx := context.Background()

	st, err := sqlstore.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("open the database after the crash: %v", err)
	}
	if v, err := st.Version(ctx); err != nil || v != st.LatestVersion() {
		t.Errorf("schema version %d (%v), want the latest, %d", v, err, st.LatestVersion())
	}
	st.Close()

	db := openSQL(t, dsn)
	if strings.HasPrefix(dsn, "sqlite:") {
		var res string
		if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&res); err != nil || res != "ok" {
			t.Errorf("integrity_check: %q, %v", res, err)
		}
	}

	// Invariants, each a query that must return no rows.
	for _, c := range []struct{ what, query string }{
		{"passwordless accounts without an identity", `SELECT id FROM users u WHERE password_hash = ''
			AND NOT EXISTS (SELECT 1 FROM identities i WHERE i.user_id = u.id)`},
		{"upstream identities linked twice", `SELECT provider_id, issuer, subject FROM identities
			GROUP BY provider_id, issuer, subject HAVING count(*) > 1`},
		{"accounts with two identities of one provider", `SELECT user_id, provider_id FROM identities
			GROUP BY user_id, provider_id HAVING count(*) > 1`},
		{"identities of no account", `SELECT i.subject FROM identities i LEFT JOIN users u ON u.id = i.user_id WHERE u.id IS NULL`},
		{"refresh tokens of no account", `SELECT t.hash FROM refresh_tokens t LEFT JOIN users u ON u.id = t.user_id WHERE u.id IS NULL`},
		{"emails taken twice", `SELECT email_key FROM users GROUP BY email_key HAVING count(*) > 1`},
		// A chain is whole when it is revoked as a whole, or when all its
		// tokens but one (the live one) were used: each rotation marks one
		// token used and adds its successor in one transaction.
		{"broken refresh chains", `SELECT chain_id FROM refresh_tokens GROUP BY chain_id HAVING
			count(DISTINCT user_id) <> 1 OR NOT (
				sum(CASE WHEN revoked_at IS NOT NULL THEN 1 ELSE 0 END) = count(*) OR (
					sum(CASE WHEN revoked_at IS NOT NULL THEN 1 ELSE 0 END) = 0 AND
					sum(CASE WHEN used_at IS NULL THEN 1 ELSE 0 END) = 1))`},
	} {
		if rows := queryStrings(t, db, c.query); len(rows) > 0 {
			t.Errorf("%s: %v", c.what, rows)
		}
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	for email, id := range l.accounts {
		var got, hash string
		err := db.QueryRow(rebind(dsn, `SELECT id, password_hash FROM users WHERE email = ?`), email).Scan(&got, &hash)
		if err != nil || got != id || hash == "" {
			t.Errorf("acknowledged sign-up %s (%s): found %q with password %v (%v)", email, id, got, hash != "", err)
		}
	}
	for subject, users := range l.upstream {
		if len(users) != 1 {
			t.Errorf("sign-ins of upstream subject %s went to %d accounts: %v", subject, len(users), users)
		}
		for id := range users {
			var n int
			if err := db.QueryRow(rebind(dsn, `SELECT count(*) FROM identities WHERE subject = ? AND user_id = ?`), subject, id).Scan(&n); err != nil || n != 1 {
				t.Errorf("identity of %s on account %s: %d rows (%v), want 1", subject, id, n, err)
			}
		}
	}
	for _, s := range l.sessions {
		var used, revoked sql.NullString
		err := db.QueryRow(rebind(dsn, `SELECT used_at, revoked_at FROM refresh_tokens WHERE hash = ?`), core.Hash(s.token)).Scan(&used, &revoked)
		if errors.Is(err, sql.ErrNoRows) && (s.signedOut || s.pending == "sign-out") {
			continue // revoked, and purged since by the janitor
		}
		if err != nil {
			t.Errorf("a refresh token a client holds is gone: %v", err)
			continue
		}
		live := !used.Valid && !revoked.Valid
		var ok bool
		switch {
		case s.signedOut:
			ok = revoked.Valid
		case s.pending == "refresh": // answered or not, before the kill
			ok = live || used.Valid
		case s.pending == "sign-out":
			ok = live || revoked.Valid
		default:
			ok = live
		}
		if !ok {
			t.Errorf("refresh token (signed out %v, pending %q): used %v, revoked %v", s.signedOut, s.pending, used.Valid, revoked.Valid)
		}
	}
}

func openSQL(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	driver, source := "pgx", dsn
	if strings.HasPrefix(dsn, "sqlite:") {
		path, err := sqlstore.ParseSQLiteDSN(dsn)
		if err != nil {
			t.Fatal(err)
		}
		driver, source = "sqlite", path
	}
	db, err := sql.Open(driver, source)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// rebind turns ? placeholders into PostgreSQL's $n.
func rebind(dsn, query string) string {
	if strings.HasPrefix(dsn, "sqlite:") {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// queryStrings returns each row's columns joined by "/".
func queryStrings(t *testing.T, db *sql.DB, query string) []string {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var parts []string
		for _, v := range vals {
			parts = append(parts, v.String)
		}
		out = append(out, strings.Join(parts, "/"))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkServes uses the restarted server: it is ready, an acknowledged
// account signs in, a session that was idle at the crash refreshes, and
// an upstream sign-in reaches the account it reached before.
func checkServes(t *testing.T, p *process, op *testpeer.OP, l *ledger) {
	t.Helper()
	resp, err := http.Get(p.URL + "/readyz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz after restart: %v %v", resp, err)
	}
	resp.Body.Close()

	l.mu.Lock()
	var email, token string
	for e := range l.accounts {
		email = e
		break
	}
	for _, s := range l.sessions {
		if s.pending == "" && !s.signedOut {
			token = s.token
			break
		}
	}
	aliceAccounts := l.upstream[testpeer.Alice.Subject]
	l.mu.Unlock()

	c := (&tethertest.Server{URL: p.URL}).Client(t)
	c.SignIn(email, accountPassword)
	if token == "" {
		t.Fatal("no idle session in the ledger")
	}
	if env := c.Cloudreve("POST", "/api/v4/session/token/refresh", map[string]string{"refresh_token": token}, ""); env.Code != 0 {
		t.Errorf("refresh after restart: %s", env.Raw)
	}
	env := c.FinishOpenID("", tethertest.OIDCCode, op.Login(t, c.PrepareOpenID(tethertest.OIDCCode), testpeer.Alice))
	if env.Code != 0 {
		t.Fatalf("upstream sign-in after restart: %s", env.Raw)
	}
	var login tethertest.Login
	env.Decode(t, &login)
	if len(aliceAccounts) > 0 && !aliceAccounts[login.User.ID] {
		t.Errorf("Alice signed in to %s after the restart, before to %v", login.User.ID, aliceAccounts)
	}
}
