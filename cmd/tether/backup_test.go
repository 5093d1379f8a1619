package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/store/sqlstore"
	"github.com/tether-id/tether/testkit/testenv"
	"github.com/tether-id/tether/testkit/testpeer"
	"github.com/tether-id/tether/testkit/tethertest"
)

// backupPublicURL is the public URL of the servers of the backup tests.
// Nothing answers there: the browsers stop at the OP's redirect to it and
// relay the code themselves, as Cloudreve's callback page does.
const backupPublicURL = "http://tether.test"

// backupConfig writes the configuration of a tether on the SQLite file
// db with op as its provider "corp" (when not nil), and returns its path.
func backupConfig(t *testing.T, db string, op *testpeer.OP) string {
	t.Helper()
	y := "public_url: " + backupPublicURL + "\nallow_insecure_public_url: true\nlisten: 127.0.0.1:0\n" +
		"database: sqlite://" + db + "\nsecret_key: " + testSecret + "\nencryption_key: " + testEncKey + "\n" +
		"rate_limit: { enabled: false }\n"
	if op != nil {
		y += "providers:\n  - { id: corp, kind: oidc, name: Corp, issuer: '" + op.Issuer + "', client_id: " + op.ClientID + ", client_secret: " + op.ClientSecret + " }\n"
	}
	p := filepath.Join(t.TempDir(), "tether.yaml")
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// serve runs `tether serve --config cfg` in this process until stop is
// called (or the test ends), and returns its base URL.
func serve(t *testing.T, cfg string) (base string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	stderr := new(testenv.SyncBuffer)
	e := &env{ctx: ctx, stdin: strings.NewReader(""), stdout: io.Discard, stderr: stderr,
		listening: func(a, _ string) { addrc <- a }}
	done := make(chan int, 1)
	go func() { done <- e.exit(e.dispatch([]string{"serve", "--config", cfg})) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("serve exited with %d:\n%s", code, stderr.String())
			}
		})
	}
	t.Cleanup(stop)
	select {
	case a := <-addrc:
		return "http://" + a, stop
	case code := <-done:
		t.Fatalf("serve exited with %d before listening:\n%s", code, stderr.String())
	}
	return "", nil
}

// loadLedger is what the clients of the load were told.
type loadLedger struct {
	mu sync.Mutex
	// tokens maps the hash of every refresh token handed out to the token.
	tokens map[string]string
	// accounts maps the email of every acknowledged sign-up to its id.
	accounts map[string]string
	ops      int
}

const loadPassword = "backup-test-password"

func (l *loadLedger) token(tok string) {
	l.mu.Lock()
	l.tokens[core.Hash(tok)] = tok
	l.ops++
	l.mu.Unlock()
}

func (l *loadLedger) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ops
}

// cloudreve sends one Cloudreve request from a load worker: errors are
// returned, not fatal, since workers are not the test's goroutine.
func cloudreve(hc *http.Client, method, u string, body any) (tethertest.Envelope, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(method, u, bytes.NewReader(b))
	if err != nil {
		return tethertest.Envelope{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return tethertest.Envelope{}, err
	}
	defer resp.Body.Close()
	var env tethertest.Envelope
	raw, err := io.ReadAll(resp.Body)
	if err == nil {
		err = json.Unmarshal(raw, &env)
	}
	env.Raw = raw
	if err == nil && env.Code != 0 {
		err = fmt.Errorf("%s %s: %s", method, u, raw)
	}
	return env, err
}

func decodeData[T any](env tethertest.Envelope) T {
	var v T
	_ = json.Unmarshal(env.Data, &v)
	return v
}

// TestBackupUnderLoad takes a backup with `tether backup` while a `tether
// serve` on SQLite signs people up, in (with passwords and through a real
// OpenID Provider), refreshes and signs out; restores it with `tether
// restore` into a fresh database for a second server; and checks that the
// backup holds no half transaction and that the second server serves
// everything in it: each password account signs in to its own id, each
// upstream identity to its account, each live session refreshes with the
// token the backup knew, and each revoked one does not.
func TestBackupUnderLoad(t *testing.T) {
	op := testpeer.Zitadel(t, backupPublicURL+"/callback/openid/2")
	dir := t.TempDir()
	cfgA := backupConfig(t, filepath.Join(dir, "a", "tether.db"), op)
	baseA, stopA := serve(t, cfgA)

	l := &loadLedger{tokens: map[string]string{}, accounts: map[string]string{}}
	var wg sync.WaitGroup
	stopLoad := make(chan struct{})
	stopped := func() bool {
		select {
		case <-stopLoad:
			return true
		default:
			return false
		}
	}
	for w := range 3 {
		wg.Go(func() {
			hc := &http.Client{Timeout: 30 * time.Second}
			for i := 0; !stopped(); i++ {
				email := fmt.Sprintf("w%d-%d@example.test", w, i)
				env, err := cloudreve(hc, "POST", baseA+"/api/v4/user", map[string]string{"email": email, "password": loadPassword})
				if err != nil {
					t.Error(err)
					return
				}
				l.mu.Lock()
				l.accounts[email] = decodeData[struct{ ID string }](env).ID
				l.mu.Unlock()
				env, err = cloudreve(hc, "POST", baseA+"/api/v4/session/token", map[string]string{"email": email, "password": loadPassword})
				if err != nil {
					t.Error(err)
					return
				}
				tok := decodeData[tethertest.Login](env).Token.RefreshToken
				l.token(tok)
				for range 2 {
					env, err = cloudreve(hc, "POST", baseA+"/api/v4/session/token/refresh", map[string]string{"refresh_token": tok})
					if err != nil {
						t.Error(err)
						return
					}
					tok = decodeData[tethertest.Tokens](env).RefreshToken
					l.token(tok)
				}
				if i%3 == 0 {
					if _, err := cloudreve(hc, "DELETE", baseA+"/api/v4/session/token", map[string]string{"refresh_token": tok}); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Go(func() {
		for i := 0; !stopped(); i++ {
			person := []testpeer.User{testpeer.Alice, testpeer.Bob}[i%2]
			jar, _ := cookiejar.New(nil)
			hc := &http.Client{Jar: jar, Timeout: 30 * time.Second}
			env, err := cloudreve(hc, "PUT", baseA+"/api/v4/session/openid", map[string]any{"provider": tethertest.OIDCCode})
			if err != nil {
				t.Error(err)
				return
			}
			back := op.Login(t, decodeData[string](env), person)
			env, err = cloudreve(hc, "POST", baseA+"/api/v4/session/openid", finishBody(back))
			if err != nil {
				t.Error(err)
				return
			}
			tok := decodeData[tethertest.Login](env).Token.RefreshToken
			l.token(tok)
			env, err = cloudreve(hc, "POST", baseA+"/api/v4/session/token/refresh", map[string]string{"refresh_token": tok})
			if err != nil {
				t.Error(err)
				return
			}
			l.token(decodeData[tethertest.Tokens](env).RefreshToken)
		}
	})
	waitOps := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Minute); l.count() < n; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) || t.Failed() {
				close(stopLoad)
				wg.Wait()
				t.Fatalf("the load did not get going: %d operations", l.count())
			}
		}
	}

	waitOps(60)
	backup := filepath.Join(dir, "backups", "tether-backup.db")
	if err := os.MkdirAll(filepath.Dir(backup), 0o700); err != nil {
		t.Fatal(err)
	}
	before := l.count()
	code, out, errOut := tether(t, "", nil, "backup", "--config", cfgA, "--to", backup)
	if code != 0 || !strings.Contains(out, "backed up sqlite://") || !strings.Contains(out, "integrity checked") || !strings.Contains(out, "keep encryption_key and secret_key") {
		t.Fatalf("tether backup: exit %d\n%s%s", code, out, errOut)
	}
	waitOps(l.count() + 30) // the server serves on
	close(stopLoad)
	wg.Wait()
	stopA()
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("backup taken after %d operations, the load stopped after %d: %s", before, l.count(), strings.TrimSpace(out))

	// The backup: whole transactions only.
	bdb, err := sql.Open("sqlite", "file:"+backup+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	for _, c := range []struct{ what, query string }{
		{"sessions without a refresh token", `SELECT id FROM sessions s WHERE NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.chain_id = s.id)`},
		{"accounts without a sign-up event", `SELECT id FROM users u WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.user_id = u.id AND e.kind = 'sign_up')`},
		{"passwordless accounts without an identity", `SELECT id FROM users u WHERE password_hash = '' AND NOT EXISTS (SELECT 1 FROM identities i WHERE i.user_id = u.id)`},
		// Each rotation marks one token used and adds its successor in
		// one transaction: a chain is revoked as a whole, or has one live
		// token.
		{"broken refresh chains", `SELECT chain_id FROM refresh_tokens GROUP BY chain_id HAVING NOT (
			sum(revoked_at IS NOT NULL) = count(*) OR (sum(revoked_at IS NOT NULL) = 0 AND sum(used_at IS NULL) = 1))`},
	} {
		if rows := column(t, bdb, c.query); len(rows) > 0 {
			t.Errorf("backup: %s: %v", c.what, rows)
		}
	}

	// Restore it into a fresh database, for a new server.
	cfgB := backupConfig(t, filepath.Join(dir, "b", "tether.db"), op)
	code, out, errOut = tether(t, "", nil, "restore", "--config", cfgB, "--from", backup)
	if code != 0 || !strings.Contains(out, "restored "+backup) || strings.Contains(out, "kept as") {
		t.Fatalf("tether restore: exit %d\n%s%s", code, out, errOut)
	}
	baseB, _ := serve(t, cfgB)
	b := (&tethertest.Server{URL: baseB}).Client(t)

	// Every password account signs in, to the id it had.
	accounts := map[string]string{}
	rows := column(t, bdb, `SELECT email || ' ' || id FROM users WHERE password_hash <> ''`)
	for _, r := range rows {
		email, id, _ := strings.Cut(r, " ")
		accounts[email] = id
		if got := b.SignIn(email, loadPassword).User.ID; got != id {
			t.Errorf("%s signed in to %s, in the backup %s", email, got, id)
		}
	}
	if len(accounts) < 10 {
		t.Fatalf("the backup holds %d password accounts", len(accounts))
	}
	l.mu.Lock()
	for email, id := range accounts {
		if l.accounts[email] != id {
			t.Errorf("backup account %s (%s) was never acknowledged as %q", email, id, l.accounts[email])
		}
	}
	l.mu.Unlock()

	// Every upstream identity signs in to its account.
	identities := column(t, bdb, `SELECT subject || ' ' || user_id FROM identities WHERE provider_id = 'corp'`)
	if len(identities) != 2 {
		t.Fatalf("identities in the backup: %v, want Alice's and Bob's", identities)
	}
	for _, r := range identities {
		subject, id, _ := strings.Cut(r, " ")
		person := map[string]testpeer.User{testpeer.Alice.Subject: testpeer.Alice, testpeer.Bob.Subject: testpeer.Bob}[subject]
		c := (&tethertest.Server{URL: baseB}).Client(t)
		env := c.FinishOpenID("", tethertest.OIDCCode, op.Login(t, c.PrepareOpenID(tethertest.OIDCCode), person))
		var login tethertest.Login
		if env.Code == 0 {
			env.Decode(t, &login)
		}
		if login.User.ID != id {
			t.Errorf("%s signed in upstream to %q (%s), in the backup %s", subject, login.User.ID, env.Raw, id)
		}
	}

	// Every session live in the backup refreshes with its live token;
	// every revoked one is refused.
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000000Z")
	live := column(t, bdb, `SELECT r.hash FROM refresh_tokens r JOIN sessions s ON s.id = r.chain_id
		WHERE r.used_at IS NULL AND r.revoked_at IS NULL AND s.revoked_at IS NULL AND s.expires_at > '`+now+`'`)
	revoked := column(t, bdb, `SELECT hash FROM refresh_tokens WHERE revoked_at IS NOT NULL`)
	if len(live) < 10 || len(revoked) == 0 {
		t.Fatalf("the backup holds %d live sessions and %d revoked tokens", len(live), len(revoked))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, hashes := range []struct {
		list []string
		ok   bool
	}{{live, true}, {revoked, false}} {
		for _, h := range hashes.list {
			tok, ok := l.tokens[h]
			if !ok {
				t.Errorf("the backup holds a refresh token no client was given: %s", h)
				continue
			}
			env := b.Cloudreve("POST", "/api/v4/session/token/refresh", map[string]string{"refresh_token": tok}, "")
			if (env.Code == 0) != hashes.ok {
				t.Errorf("refresh with a token the backup holds (live: %v): %s", hashes.ok, env.Raw)
			}
		}
	}
	if n := len(column(t, bdb, `SELECT id FROM users`)); n > len(l.accounts)+2 {
		t.Errorf("the backup holds %d accounts, but the load made only %d and two upstream ones", n, len(l.accounts))
	}
}

// finishBody is the finish call's body for the OP's redirect back.
func finishBody(back *url.URL) map[string]any {
	q := back.Query()
	return map[string]any{"code": q.Get("code"), "session_id": q.Get("state"), "provider_id": tethertest.OIDCCode, "iss": q.Get("iss")}
}

// column returns the first column of each row of query.
func column(t *testing.T, db *sql.DB, query string) []string {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBackupRestoreRefusals: the cases where backup and restore refuse,
// each with exit status 1 (2 for usage) and a message that says what to
// do, changing nothing.
func TestBackupRestoreRefusals(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "tether.db")
	cfg := backupConfig(t, db, nil)
	if code, _, errOut := tether(t, "", nil, "migrate", "--config", cfg); code != 0 {
		t.Fatal(errOut)
	}
	good := filepath.Join(dir, "good.db")
	if code, _, errOut := tether(t, "", nil, "backup", "--config", cfg, "--to", good); code != 0 {
		t.Fatal(errOut)
	}
	latest := func() int {
		s, err := sqlstore.Open(context.Background(), sqlstore.Memory)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		return s.LatestVersion()
	}()
	newer := copyFile(t, good, filepath.Join(dir, "newer.db"))
	sqlExec(t, newer, fmt.Sprintf(`INSERT INTO schema_migrations VALUES (%d, '%04d_future.sql', '2030-01-01T00:00:00.000000Z')`, latest+1, latest+1))
	other := filepath.Join(dir, "other.db")
	sqlExec(t, other, `CREATE TABLE photos (id INTEGER PRIMARY KEY, path TEXT)`)
	corrupt := filepath.Join(dir, "corrupt.db")
	b, _ := os.ReadFile(good)
	copy(b[len(b)/2:], bytes.Repeat([]byte{0xA5}, 4096))
	copy(b[:16], "SQLite format 2\x00")
	os.WriteFile(corrupt, b, 0o600)
	existing := filepath.Join(dir, "existing.db")
	os.WriteFile(existing, []byte("keep me"), 0o600)
	pg := writeConfig(t, "")
	pgEnv := []string{"TETHER_DATABASE=postgres://tether:hunter2@db.internal:5432/tether"}

	for _, tt := range []struct {
		name    string
		environ []string
		args    []string
		code    int
		want    []string
	}{
		{"backup over an existing file", nil, []string{"backup", "--config", cfg, "--to", existing}, 1,
			[]string{existing + " exists; name another file, or add --force to replace it"}},
		{"backup without --to", nil, []string{"backup", "--config", cfg}, 2, []string{"usage: tether backup"}},
		{"backup without --config", nil, []string{"backup", "--to", filepath.Join(dir, "x.db")}, 1, []string{"--config FILE is required"}},
		{"backup of PostgreSQL", pgEnv, []string{"backup", "--config", pg, "--to", filepath.Join(dir, "pg.db")}, 1,
			[]string{"the database is PostgreSQL", "pg_dump", "pg_restore", "docs/operations.md#backup-and-restore"}},
		{"restore to PostgreSQL", pgEnv, []string{"restore", "--config", pg, "--from", good}, 1,
			[]string{"the database is PostgreSQL", "pg_dump", "pg_restore", "docs/operations.md#backup-and-restore"}},
		{"restore without --from", nil, []string{"restore", "--config", cfg}, 2, []string{"usage: tether restore"}},
		{"restore of a newer schema", nil, []string{"restore", "--config", cfg, "--from", newer}, 1,
			[]string{fmt.Sprintf("its schema is version %d, newer than this tether knows (%d)", latest+1, latest)}},
		{"restore of another program's database", nil, []string{"restore", "--config", cfg, "--from", other}, 1,
			[]string{"is not a tether database"}},
		{"restore of a corrupt file", nil, []string{"restore", "--config", cfg, "--from", corrupt}, 1,
			[]string{"corrupt.db is damaged, or not an SQLite database"}},
		{"restore of a text file", nil, []string{"restore", "--config", cfg, "--from", cfg}, 1,
			[]string{"is damaged, or not an SQLite database"}},
		{"restore of a missing file", nil, []string{"restore", "--config", cfg, "--from", filepath.Join(dir, "nothing.db")}, 1,
			[]string{"no such file"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := tether(t, "", tt.environ, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\n%s%s", code, tt.code, out, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			if strings.Contains(errOut, "hunter2") {
				t.Errorf("the database password is in the message:\n%s", errOut)
			}
		})
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep me" {
		t.Errorf("a refused backup changed %s: %q", existing, b)
	}
	if kept, _ := filepath.Glob(db + ".before-restore-*"); len(kept) > 0 {
		t.Errorf("a refused restore moved the database: %v", kept)
	}
	// --force replaces the existing file with a backup.
	if code, out, errOut := tether(t, "", nil, "backup", "--config", cfg, "--to", existing, "--force"); code != 0 || !strings.Contains(out, "schema version") {
		t.Fatalf("backup --force: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := sqlstore.VerifyBackup(context.Background(), existing); err != nil {
		t.Fatalf("the forced backup: %v", err)
	}
}

// TestRestoreRefusedWhileServing: restore refuses while `tether serve`
// runs on the database, which goes on serving; once it has stopped the
// restore goes through, keeps the replaced database, and a server starts
// on the restored one.
func TestRestoreRefusedWhileServing(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "tether.db")
	cfg := backupConfig(t, db, nil)
	base, stop := serve(t, cfg)
	c := (&tethertest.Server{URL: base}).Client(t)
	if env := c.Cloudreve("POST", "/api/v4/user", map[string]string{"email": "before@example.test", "password": loadPassword}, ""); env.Code != 0 {
		t.Fatal(env.Raw)
	}
	backup := filepath.Join(dir, "backup.db")
	if code, out, errOut := tether(t, "", nil, "backup", "--config", cfg, "--to", backup); code != 0 {
		t.Fatalf("backup while serving: exit %d\n%s%s", code, out, errOut)
	}
	if env := c.Cloudreve("POST", "/api/v4/user", map[string]string{"email": "after@example.test", "password": loadPassword}, ""); env.Code != 0 {
		t.Fatal(env.Raw)
	}

	code, out, errOut := tether(t, "", nil, "restore", "--config", cfg, "--from", backup)
	if code != 1 || !strings.Contains(errOut, "the database is in use: a tether process has it open") || !strings.Contains(errOut, "stop it, then restore") {
		t.Fatalf("restore while serving: exit %d\n%s%s", code, out, errOut)
	}
	c.SignIn("after@example.test", loadPassword) // still serving, from the same database
	if kept, _ := filepath.Glob(db + ".before-restore-*"); len(kept) > 0 {
		t.Fatalf("a refused restore moved the database: %v", kept)
	}

	stop()
	code, out, errOut = tether(t, "", nil, "restore", "--config", cfg, "--from", backup)
	if code != 0 || !strings.Contains(out, "the database it replaced is kept as "+db+".before-restore-") {
		t.Fatalf("restore after the server stopped: exit %d\n%s%s", code, out, errOut)
	}
	base, _ = serve(t, cfg)
	c = (&tethertest.Server{URL: base}).Client(t)
	c.SignIn("before@example.test", loadPassword)
	if env := c.Cloudreve("POST", "/api/v4/session/token", map[string]string{"email": "after@example.test", "password": loadPassword}, ""); env.Code != 40069 {
		t.Errorf("an account made after the backup signs in after the restore: %s", env.Raw)
	}
}

// TestBackupDev: --dev backs up and restores tether dev's database.
func TestBackupDev(t *testing.T) {
	data := t.TempDir()
	if code, _, errOut := tether(t, "", nil, "user", "add", "--dev", "--data", data, "--email", "dev@example.test"); code != 0 {
		t.Fatal(errOut)
	}
	backup := filepath.Join(t.TempDir(), "dev.db")
	code, out, errOut := tether(t, "", nil, "backup", "--dev", "--data", data, "--to", backup)
	if code != 0 || !strings.Contains(out, "1 accounts") {
		t.Fatalf("backup --dev: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = tether(t, "", nil, "restore", "--dev", "--data", data, "--from", backup, "--keep=false")
	if code != 0 || strings.Contains(out, "kept as") {
		t.Fatalf("restore --dev --keep=false: exit %d\n%s%s", code, out, errOut)
	}
	if kept, _ := filepath.Glob(filepath.Join(data, "*.before-restore-*")); len(kept) > 0 {
		t.Errorf("--keep=false kept %v", kept)
	}
	if _, out, _ := tether(t, "", nil, "user", "list", "--dev", "--data", data); !strings.Contains(out, "dev@example.test") {
		t.Errorf("user list after the restore:\n%s", out)
	}
}

func copyFile(t *testing.T, from, to string) string {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return to
}

// sqlExec runs statements on the SQLite file at path, creating it.
func sqlExec(t *testing.T, path, statements string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(statements); err != nil {
		t.Fatalf("%s: %v", statements, err)
	}
}
