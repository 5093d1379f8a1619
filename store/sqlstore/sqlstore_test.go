package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/store/storetest"
	"github.com/tether-id/tether/testkit/pgtest"
)

// databases are the DSNs every dialect test runs on: a SQLite file, the
// in-memory SQLite, and a fresh PostgreSQL schema (skipped, or failed
// under CI=true, without the server scripts/test provisions).
var databases = []struct {
	name string
	dsn  func(t testing.TB) string
}{
	{"sqlite", func(t testing.TB) string { return "sqlite://" + filepath.Join(t.TempDir(), "tether.db") }},
	{"sqlite-memory", func(testing.TB) string { return Memory }},
	{"postgres", func(t testing.TB) string { return pgtest.URL(t) }},
}

// openDSN opens a store on dsn, closed when t ends.
func openDSN(t testing.TB, dsn string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// migrated opens and migrates a store on dsn.
func migrated(t testing.TB, dsn string) *Store {
	t.Helper()
	s := openDSN(t, dsn)
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// eachDatabase runs fn once per database, as a subtest.
func eachDatabase(t *testing.T, fn func(t *testing.T, dsn func(testing.TB) string)) {
	for _, db := range databases {
		t.Run(db.name, func(t *testing.T) { fn(t, db.dsn) })
	}
}

func TestConformance(t *testing.T) {
	eachDatabase(t, func(t *testing.T, dsn func(testing.TB) string) {
		storetest.Run(t, func(t *testing.T) core.Store { return migrated(t, dsn(t)) })
	})
}

func TestMigrate(t *testing.T) {
	eachDatabase(t, func(t *testing.T, dsn func(testing.TB) string) {
		ctx := context.Background()
		s := openDSN(t, dsn(t))
		if v, err := s.Version(ctx); err != nil || v != 0 {
			t.Fatalf("Version before Migrate = %d, %v; want 0", v, err)
		}
		for range 2 { // idempotent
			if err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if v, err := s.Version(ctx); err != nil || v != s.LatestVersion() || v < 2 {
				t.Fatalf("Version after Migrate = %d, %v; want %d", v, err, s.LatestVersion())
			}
		}
		var applied int
		if err := s.db.QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&applied); err != nil || applied != s.LatestVersion() {
			t.Fatalf("schema_migrations has %d rows (%v), want %d", applied, err, s.LatestVersion())
		}
		// A database from a newer tether is left alone.
		if _, err := s.db.Exec(sqlText(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, '0999_future.sql', $1)`)[s.d.id], s.d.timeArg(time.Now())); err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(ctx); err == nil || !strings.Contains(err.Error(), "newer") {
			t.Fatalf("Migrate of a newer schema: %v", err)
		}
	})
}

// TestMigrateConcurrently starts several instances on one fresh database
// at once, as a deployment does: one migrates, the others find the work
// done.
func TestMigrateConcurrently(t *testing.T) {
	for _, db := range databases {
		if db.name == "sqlite-memory" {
			continue // private to its store
		}
		t.Run(db.name, func(t *testing.T) {
			ctx := context.Background()
			dsn := db.dsn(t)
			const instances = 6
			stores := make([]*Store, instances)
			for i := range stores {
				stores[i] = openDSN(t, dsn)
			}
			var wg sync.WaitGroup
			errs := make([]error, instances)
			start := make(chan struct{})
			for i, s := range stores {
				wg.Go(func() {
					<-start
					errs[i] = s.Migrate(ctx)
				})
			}
			close(start)
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("instance %d: Migrate: %v", i, err)
				}
			}
			var rows int
			if err := stores[0].db.QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&rows); err != nil || rows != stores[0].LatestVersion() {
				t.Fatalf("schema_migrations has %d rows (%v), want %d", rows, err, stores[0].LatestVersion())
			}
		})
	}
}

// TestMigrateKeepsSessions upgrades a version 1 database that has
// sessions in flight: every refresh-token chain becomes a session, and the
// tokens go on rotating; a replay still revokes.
func TestMigrateKeepsSessions(t *testing.T) {
	eachDatabase(t, func(t *testing.T, dsn func(testing.TB) string) {
		ctx := context.Background()
		s := openDSN(t, dsn(t))
		v1 := s.migrations
		s.migrations = v1[:1]
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC().Truncate(time.Second)
		perms, _ := s.d.stringsArg([]string{"oauth"})
		for _, st := range []struct {
			q    string
			args []any
		}{
			{`INSERT INTO users (id, email, email_key, email_verified, nickname, avatar, password_hash, status, permissions, language, created_at)
				VALUES ('u1', 'a@x.io', 'a@x.io', true, 'a', '', '', 'active', $1, '', $2)`, []any{perms, s.d.timeArg(now)}},
			{`INSERT INTO refresh_tokens (hash, chain_id, user_id, created_at, expires_at, used_at, revoked_at)
				VALUES ('h1', 'c1', 'u1', $1, $2, $3, NULL)`, []any{s.d.timeArg(now), s.d.timeArg(now.Add(time.Hour)), s.d.timeArg(now)}},
			{`INSERT INTO refresh_tokens (hash, chain_id, user_id, created_at, expires_at, used_at, revoked_at)
				VALUES ('h2', 'c1', 'u1', $1, $2, NULL, NULL)`, []any{s.d.timeArg(now), s.d.timeArg(now.Add(2 * time.Hour))}},
			{`INSERT INTO identities (provider_id, issuer, subject, user_id, email, email_verified, name, avatar, claims, tokens, linked_at)
				VALUES ('p', 'https://iss', 's', 'u1', '', false, '', '', NULL, $1, $2)`, []any{[]byte{1, 2}, s.d.timeArg(now)}},
		} {
			if _, err := s.db.ExecContext(ctx, sqlText(st.q)[s.d.id], st.args...); err != nil {
				t.Fatal(err)
			}
		}
		s.migrations = v1
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		ses, err := s.GetSession(ctx, "c1")
		if err != nil {
			t.Fatal(err)
		}
		if ses.UserID != "u1" || !ses.ExpiresAt.Equal(now.Add(2*time.Hour)) || !ses.RevokedAt.IsZero() {
			t.Fatalf("session made from chain c1: %+v", ses)
		}
		next := func(core.RefreshToken) core.RefreshToken {
			return core.RefreshToken{Hash: "h3", CreatedAt: now, ExpiresAt: now.Add(3 * time.Hour)}
		}
		if _, err := s.RotateRefreshToken(ctx, "h2", now, next); err != nil {
			t.Fatalf("rotating a token from before the upgrade: %v", err)
		}
		if _, err := s.RotateRefreshToken(ctx, "h1", now, next); !errors.Is(err, core.ErrTokenReused) {
			t.Fatalf("replaying a token used before the upgrade: %v", err)
		}
		if _, err := s.GetIdentity(ctx, core.IdentityKey{ProviderID: "p", Issuer: "https://iss", Subject: "s"}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestPurgeInstances runs purges from two stores on one database at once,
// with small batches: every expired row is deleted, and counted, exactly
// once.
func TestPurgeInstances(t *testing.T) {
	defer func(n int) { purgeBatch = n }(purgeBatch)
	purgeBatch = 7
	for _, db := range databases {
		if db.name == "sqlite-memory" {
			continue
		}
		t.Run(db.name, func(t *testing.T) {
			ctx := context.Background()
			dsn := db.dsn(t)
			a := migrated(t, dsn)
			b := openDSN(t, dsn)
			now := time.Now()
			const expired = 150
			for i := range expired + 5 {
				exp := now.Add(-time.Duration(i+1) * time.Second)
				if i >= expired {
					exp = now.Add(time.Hour)
				}
				if err := a.CreateFlow(ctx, core.Flow{ID: fmt.Sprint(i), CreatedAt: now, ExpiresAt: exp}); err != nil {
					t.Fatal(err)
				}
			}
			var wg sync.WaitGroup
			counts := make([]int, 4)
			start := make(chan struct{})
			for i := range counts {
				s := []*Store{a, b}[i%2]
				wg.Go(func() {
					<-start
					var err error
					if counts[i], err = s.PurgeFlows(ctx, now); err != nil {
						t.Error(err)
					}
				})
			}
			close(start)
			wg.Wait()
			total := 0
			for _, n := range counts {
				total += n
			}
			if total != expired {
				t.Fatalf("purges deleted %v, %d in total, want %d", counts, total, expired)
			}
			var left int
			if err := a.db.QueryRow(`SELECT COUNT(*) FROM flows`).Scan(&left); err != nil || left != 5 {
				t.Fatalf("%d flows left (%v), want 5", left, err)
			}
		})
	}
}

// TestPurgeStepsAside: while another instance holds the purge lock, a
// PostgreSQL purge returns at once with nothing done instead of queueing.
func TestPurgeStepsAside(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a hang fails instead of blocking
	defer cancel()
	s := migrated(t, pgtest.URL(t))
	now := time.Now()
	if err := s.CreateFlow(ctx, core.Flow{ID: "old", CreatedAt: now, ExpiresAt: now.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	other, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := s.d.lock(ctx, other, lockPurge, purgeFlows[postgresID], true); err != nil || !ok {
		t.Fatal(ok, err)
	}
	n, err := s.PurgeFlows(ctx, now)
	if err != nil || n != 0 {
		t.Fatalf("PurgeFlows while another instance purges = %d, %v; want 0", n, err)
	}
	if err := other.Rollback(); err != nil {
		t.Fatal(err)
	}
	if n, err = s.PurgeFlows(ctx, now); err != nil || n != 1 {
		t.Fatalf("PurgeFlows = %d, %v; want 1", n, err)
	}
}

// TestUniqueInDatabase checks that the rules hold against SQL that
// bypasses the Go code.
func TestUniqueInDatabase(t *testing.T) {
	eachDatabase(t, func(t *testing.T, dsn func(testing.TB) string) {
		s := migrated(t, dsn(t))
		perms, _ := s.d.stringsArg(nil)
		at := s.d.timeArg(time.Now())
		user := func(id, email, key string, verified bool, password string) error {
			_, err := s.db.Exec(sqlText(`INSERT INTO users (id, email, email_key, email_verified, nickname, avatar, password_hash, status, permissions, language, created_at)
				VALUES ($1, $2, $3, $4, '', '', $5, 'active', $6, '', $7)`)[s.d.id], id, email, key, verified, password, perms, at)
			return err
		}
		identity := func(provider, subject, userID string) error {
			_, err := s.db.Exec(sqlText(`INSERT INTO identities (provider_id, issuer, subject, user_id, email, email_verified, name, avatar, linked_at)
				VALUES ($1, 'iss', $2, $3, '', false, '', '', $4)`)[s.d.id], provider, subject, userID, at)
			return err
		}
		steps := []struct {
			name string
			err  error
			ok   bool
		}{
			{"first owner", user("u1", "A@x.io", "a@x.io", true, ""), true},
			{"second verified", user("u2", "a@X.io", "a@x.io", true, ""), false},
			{"second with password", user("u2", "a@X.io", "a@x.io", false, "h"), false},
			{"unverified passwordless", user("u2", "a@X.io", "a@x.io", false, ""), true},
			{"other email", user("u3", "b@x.io", "b@x.io", false, "h"), true},
			{"identity", identity("logto", "s1", "u1"), true},
			{"same identity elsewhere", identity("logto", "s1", "u3"), false},
			{"second identity of a provider", identity("logto", "s2", "u1"), false},
			{"unknown user", identity("logto", "s2", "nobody"), false},
			{"another user", identity("logto", "s2", "u3"), true},
		}
		for _, st := range steps {
			if (st.err == nil) != st.ok {
				t.Errorf("%s: error %v, want ok=%v", st.name, st.err, st.ok)
			}
		}
	})
}

func TestOpenBadDSN(t *testing.T) {
	for _, dsn := range []string{"postgres://user:s3cret@host:notaport/db", "mysql://user:s3cret@host/db", "sqlite:x.db"} {
		_, err := Open(context.Background(), dsn)
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open(%q) = %v", dsn, err)
		}
	}
}

func TestParseSQLiteDSN(t *testing.T) {
	tests := []struct {
		dsn, path string
		ok        bool
	}{
		{"sqlite:///var/lib/tether/tether.db", "/var/lib/tether/tether.db", true},
		{"sqlite://tether.db", "tether.db", true},
		{"sqlite://data/tether.db", "data/tether.db", true},
		{"sqlite://./tether.db", "./tether.db", true},
		{"sqlite::memory:", "", true},
		{"sqlite://", "", false},
		{"sqlite:///", "", false},
		{"sqlite:tether.db", "", false},
		{"sqlite:///x.db?_pragma=foreign_keys(0)", "", false},
		{"postgres://localhost/tether", "", false},
		{"/var/lib/tether.db", "", false},
	}
	for _, tt := range tests {
		path, err := ParseSQLiteDSN(tt.dsn)
		if (err == nil) != tt.ok || path != tt.path {
			t.Errorf("ParseSQLiteDSN(%q) = %q, %v; want %q, ok=%v", tt.dsn, path, err, tt.path, tt.ok)
		}
	}
}

func TestReadMigrations(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := []struct {
		name     string
		fsys     fstest.MapFS
		versions []int
		err      string
	}{
		{"empty", fstest.MapFS{}, nil, ""},
		{"sorted by number", fstest.MapFS{"0002_b.sql": file("B"), "0001_a.sql": file("A"), "0010_j.sql~": file("not .sql")}, []int{1, 2}, ""},
		{"gap", fstest.MapFS{"0001_a.sql": file(""), "0003_c.sql": file("")}, nil, "expected version 2"},
		{"duplicate", fstest.MapFS{"0001_a.sql": file(""), "0001_b.sql": file("")}, nil, "expected version 2"},
		{"starts at 2", fstest.MapFS{"0002_a.sql": file("")}, nil, "expected version 1"},
		{"bad name", fstest.MapFS{"init.sql": file("")}, nil, "positive version number"},
		{"zero", fstest.MapFS{"0000_init.sql": file("")}, nil, "positive version number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := readMigrations(tt.fsys)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, m := range ms {
				got = append(got, m.version)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.versions) {
				t.Fatalf("versions = %v, want %v", got, tt.versions)
			}
		})
	}
	// Both dialects have the same versions, so a schema change is never
	// made on one database only.
	lite, err := loadMigrations(sqliteDialect())
	if err != nil {
		t.Fatal(err)
	}
	pg, err := loadMigrations(postgresDialect())
	if err != nil {
		t.Fatal(err)
	}
	if len(lite) != len(pg) {
		t.Fatalf("SQLite has %d migrations, PostgreSQL %d", len(lite), len(pg))
	}
	for i := range lite {
		if lite[i].name != pg[i].name {
			t.Errorf("migration %d is %s on SQLite, %s on PostgreSQL", i+1, lite[i].name, pg[i].name)
		}
	}
}

// TestSQLiteSettings checks the connection settings openSQLite promises.
func TestSQLiteSettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tether.db")
	s := migrated(t, "sqlite://"+path)
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("database file mode %v, want 0600", mode)
	}
	for _, db := range []struct {
		name string
		q    querier
	}{{"writer", s.db}, {"reader", s.read.db}} {
		for pragma, want := range map[string]string{
			"journal_mode": "wal",
			"foreign_keys": "1",
			"busy_timeout": fmt.Sprint(busyTimeout.Milliseconds()),
		} {
			var got string
			if err := db.q.QueryRowContext(context.Background(), "PRAGMA "+pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("%s: PRAGMA %s = %s, want %s", db.name, pragma, got, want)
			}
		}
	}
	if _, err := s.read.db.ExecContext(context.Background(), `DELETE FROM users`); err == nil {
		t.Error("the read pool accepted a write")
	}
}

// TestSQLiteTwoStoresOneFile opens the file twice, as the CLI does next
// to a running server: writes from both neither fail with SQLITE_BUSY nor
// get lost.
func TestSQLiteTwoStoresOneFile(t *testing.T) {
	ctx := context.Background()
	dsn := "sqlite://" + filepath.Join(t.TempDir(), "tether.db")
	a := migrated(t, dsn)
	b := openDSN(t, dsn)
	u := core.User{ID: "u", Email: "u@x.io", Status: core.StatusActive, CreatedAt: time.Now()}
	if err := a.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		s := []*Store{a, b}[i%2]
		wg.Go(func() {
			_, err := s.UpdateUser(ctx, u.ID, func(u *core.User) error {
				u.Permissions = append(u.Permissions, fmt.Sprint(i))
				return nil
			})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := b.GetUser(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Permissions) != n {
		t.Fatalf("%d permissions after %d updates through two stores", len(got.Permissions), n)
	}
}

// TestGroupCommit: SQLite's concurrent writers share commits, and each
// still gets its own result: a failing transaction in a batch is rolled
// back alone, a panicking one panics in its caller, and the batch's
// others commit.
func TestGroupCommit(t *testing.T) {
	s := migrated(t, "sqlite://"+filepath.Join(t.TempDir(), "tether.db"))
	ctx := context.Background()
	var jobs atomic.Int64
	// Hold the writer with one slow job so the next ones queue up and
	// meet in one batch.
	hold := make(chan struct{})
	started := make(chan struct{})
	go s.Update(ctx, func(core.Queries) error { close(started); <-hold; return nil })
	<-started
	const n = 24
	var wg sync.WaitGroup
	errs := make([]error, n)
	users := make([]core.User, n)
	for i := range n {
		users[i] = core.User{ID: fmt.Sprint("u", i), Email: fmt.Sprintf("u%d@x.io", i), Status: core.StatusActive, CreatedAt: time.Now()}
		wg.Go(func() {
			defer func() {
				if v := recover(); v != nil {
					errs[i] = fmt.Errorf("panicked: %v", v)
				}
			}()
			errs[i] = s.Update(ctx, func(q core.Queries) error {
				jobs.Add(1)
				if err := q.CreateUser(ctx, users[i]); err != nil {
					return err
				}
				switch i % 6 {
				case 1:
					return errors.New("no thanks")
				case 2:
					panic("boom")
				}
				return nil
			})
		})
	}
	// Let the queue fill (every job blocks on the writer), then release
	// the writer.
	time.Sleep(200 * time.Millisecond)
	before := s.gc.batches.Load()
	close(hold)
	wg.Wait()
	if got := s.gc.batches.Load() - before; got > n/4 {
		t.Errorf("%d waiting transactions took %d commits; want them to share a few", n, got)
	}
	for i, err := range errs {
		_, gerr := s.GetUser(ctx, users[i].ID)
		switch i % 6 {
		case 1:
			if err == nil || err.Error() != "no thanks" {
				t.Errorf("job %d: %v, want its own error", i, err)
			}
			if !errors.Is(gerr, core.ErrNotFound) {
				t.Errorf("job %d: its user exists after its transaction failed", i)
			}
		case 2:
			if err == nil || !strings.Contains(err.Error(), "panicked: boom") {
				t.Errorf("job %d: %v, want a panic in the caller", i, err)
			}
			if !errors.Is(gerr, core.ErrNotFound) {
				t.Errorf("job %d: its user exists after it panicked", i)
			}
		default:
			if err != nil || gerr != nil {
				t.Errorf("job %d: %v, user %v", i, err, gerr)
			}
		}
	}
	if jobs.Load() != n {
		t.Fatalf("%d jobs ran, want %d", jobs.Load(), n)
	}
}

// TestPreparedStatements: on SQLite the store's statements are prepared
// once and then reused, on the writer (after the batch that first ran
// them) and on the read pool; a prepared statement still reports the
// errors the store maps (a taken email), and still works after the
// schema changes under it.
func TestPreparedStatements(t *testing.T) {
	for name, dsn := range map[string]string{"file": "sqlite://" + filepath.Join(t.TempDir(), "tether.db"), "memory": Memory} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := migrated(t, dsn)
			user := func(i int) core.User {
				return core.User{ID: fmt.Sprint("u", i), Email: fmt.Sprintf("u%d@x.io", i), EmailVerified: true, Status: core.StatusActive, CreatedAt: time.Now()}
			}
			if err := s.CreateUser(ctx, user(0)); err != nil {
				t.Fatal(err)
			}
			// The writer prepares after the batch, before it takes the next.
			if err := s.Update(ctx, func(core.Queries) error { return nil }); err != nil {
				t.Fatal(err)
			}
			insert := insertUser[sqliteID]
			if s.gc.stmts.get(insert) == nil {
				t.Fatal("the writer did not prepare a statement it ran")
			}
			// Now through the prepared statement.
			if err := s.CreateUser(ctx, user(1)); err != nil {
				t.Fatal(err)
			}
			dup := user(2)
			dup.Email = "U1@x.io"
			if err := s.CreateUser(ctx, dup); !errors.Is(err, core.ErrEmailTaken) {
				t.Fatalf("a taken email through a prepared statement: %v, want ErrEmailTaken", err)
			}
			for range 2 {
				if u, err := s.GetUser(ctx, "u1"); err != nil || u.Email != "u1@x.io" {
					t.Fatalf("GetUser: %+v, %v", u, err)
				}
			}
			if s.read.db.(preparedDB).stmts.get(selectUser[sqliteID]) == nil {
				t.Fatal("the read pool did not keep a statement it ran")
			}
			// SQLite prepares a statement again when the schema changed.
			if err := s.Update(ctx, func(q core.Queries) error {
				_, err := q.(*queries).db.ExecContext(ctx, `CREATE INDEX users_nickname ON users (nickname)`)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if err := s.CreateUser(ctx, user(3)); err != nil {
				t.Fatal(err)
			}
			if u, err := s.GetUser(ctx, "u3"); err != nil || u.ID != "u3" {
				t.Fatalf("GetUser after a schema change: %+v, %v", u, err)
			}
		})
	}
}

// TestMigrateKeepsEvents upgrades a version 5 database with events: they
// keep their order in the trail, get the actor their kind implies, and
// the events recorded afterwards follow them.
func TestMigrateKeepsEvents(t *testing.T) {
	eachDatabase(t, func(t *testing.T, dsn func(testing.TB) string) {
		ctx := context.Background()
		s := openDSN(t, dsn(t))
		all := s.migrations
		s.migrations = all[:5]
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		old := []struct{ id, kind, detail, wantActor, wantDetail string }{
			{"e1", "sign_in", "", "user", ""},
			{"e2", "upstream_revoked", "upstream_revoked", "system", "upstream_revoked"},
			{"e3", "account_deleted", "admin", "admin:cli", ""},
			{"e4", "account_deleted", "self", "user", ""},
			{"e5", "sign_in_failed", "wrong_password", "user", "wrong_password"},
		}
		for i, e := range old {
			// Recorded with times out of order: the trail keeps the order of the rows.
			if _, err := s.db.ExecContext(ctx, sqlText(`INSERT INTO events (id, user_id, kind, method, provider_id, success, ip, user_agent, detail, at, client_id)
				VALUES ($1, 'u1', $2, '', '', true, '192.0.2.1', 'curl', $3, $4, '')`)[s.d.id], e.id, e.kind, e.detail, s.d.timeArg(at.Add(-time.Duration(i)*time.Minute))); err != nil {
				t.Fatal(err)
			}
		}
		s.migrations = all
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(s.RecordEvent(ctx, core.Event{ID: "e6", UserID: "u1", Kind: core.EventSignOut, Actor: core.ActorUser, At: at}))
		var got []core.Event
		var after core.EventCursor
		for len(got) < 6 {
			page, next, err := s.FollowEvents(ctx, core.AuditQuery{}, after)
			must(err)
			got, after = append(got, page...), next
			if len(page) == 0 {
				time.Sleep(5 * time.Millisecond)
			}
		}
		if len(got) != 6 {
			t.Fatalf("%d events", len(got))
		}
		for i, e := range old {
			if g := got[i]; g.ID != e.id || string(g.Actor) != e.wantActor || g.Detail != e.wantDetail || g.IP != "192.0.2.1" {
				t.Errorf("event %d: %+v, want %s with actor %s and detail %q", i, g, e.id, e.wantActor, e.wantDetail)
			}
		}
		if got[5].ID != "e6" {
			t.Errorf("the new event: %+v", got[5])
		}
	})
}

// TestFollowCommitOrder: on PostgreSQL, the transaction that recorded an
// event first may commit last. A follower must not hand out a cursor
// past an event that has yet to commit: while the older transaction
// runs it sees neither event, though the younger one has committed (it is
// in AuditEvents), then both, in order.
func TestFollowCommitOrder(t *testing.T) {
	s := migrated(t, pgtest.URL(t))
	ctx := context.Background()
	ea := core.Event{ID: "first", UserID: "u", Kind: core.EventSignIn, Actor: core.ActorUser, At: time.Now()}
	eb := core.Event{ID: "second", UserID: "u", Kind: core.EventSignIn, Actor: core.ActorUser, At: time.Now()}
	recorded, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	var once, releaseOnce sync.Once
	let := func() { releaseOnce.Do(func() { close(release) }) }
	defer let()
	go func() {
		done <- s.Update(ctx, func(q core.Queries) error {
			if err := q.RecordEvent(ctx, ea); err != nil {
				return err
			}
			once.Do(func() { close(recorded) })
			<-release
			return nil
		})
	}()
	<-recorded
	if err := s.RecordEvent(ctx, eb); err != nil {
		t.Fatal(err)
	}
	committed, err := s.AuditEvents(ctx, core.AuditQuery{})
	if err != nil || len(committed) != 1 || committed[0].ID != eb.ID {
		t.Fatalf("AuditEvents while the first transaction runs: %+v, %v", committed, err)
	}
	got, c, err := s.FollowEvents(ctx, core.AuditQuery{}, "")
	if err != nil || len(got) != 0 {
		t.Fatalf("FollowEvents while the first transaction runs: %+v, %v", got, err)
	}
	let()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for len(got) < 2 {
		page, next, err := s.FollowEvents(ctx, core.AuditQuery{}, c)
		if err != nil {
			t.Fatal(err)
		}
		got, c = append(got, page...), next
		if len(page) == 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	if len(got) != 2 || got[0].ID != ea.ID || got[1].ID != eb.ID {
		t.Fatalf("FollowEvents after both committed: %+v", got)
	}
}

// TestStats: each pool is named and reported with its limit, and a
// write transaction in progress shows as a connection in use on the pool
// that runs it, and no longer once it ended.
func TestStats(t *testing.T) {
	want := map[string]map[string]int{ // pool → max open connections
		"sqlite":        {"write": 1, "read": max(4, runtime.GOMAXPROCS(0))},
		"sqlite-memory": {"main": 1},
		"postgres":      {"main": -1}, // pgx's pool_max_conns default, whatever it is
	}
	for _, db := range databases {
		t.Run(db.name, func(t *testing.T) {
			s := migrated(t, db.dsn(t))
			ctx := context.Background()
			if _, err := s.GetUser(ctx, "nobody"); !errors.Is(err, core.ErrNotFound) {
				t.Fatalf("GetUser: %v", err)
			}
			stats := s.Stats()
			if len(stats) != len(want[db.name]) {
				t.Fatalf("pools %v, want %v", keys(stats), want[db.name])
			}
			for pool, limit := range want[db.name] {
				st, ok := stats[pool]
				switch {
				case !ok:
					t.Fatalf("no pool %q in %v", pool, keys(stats))
				case limit > 0 && st.MaxOpenConnections != limit:
					t.Errorf("%s: max open %d, want %d", pool, st.MaxOpenConnections, limit)
				case st.MaxOpenConnections <= 0:
					t.Errorf("%s: max open %d, want a limit", pool, st.MaxOpenConnections)
				case st.OpenConnections < 1:
					t.Errorf("%s: %d open connections after a read", pool, st.OpenConnections)
				}
			}
			writer := "main"
			if db.name == "sqlite" {
				writer = "write"
			}
			inside := 0
			if err := s.Update(ctx, func(core.Queries) error {
				inside = s.Stats()[writer].InUse
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if inside < 1 {
				t.Errorf("%s: %d connections in use inside a write transaction", writer, inside)
			}
			if n := s.Stats()[writer].InUse; n != 0 {
				t.Errorf("%s: %d connections in use after the transaction", writer, n)
			}
		})
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestPurgeSessionsAfterTokens: a dead session outlives its refresh
// tokens by one step, so that another instance's session purge never
// deletes tokens by cascade under a token purge that would then not
// count them (TestPurgeByTwoInstances in testkit/multitest saw it).
func TestPurgeSessionsAfterTokens(t *testing.T) {
	eachDatabase(t, func(t *testing.T, dsn func(testing.TB) string) {
		ctx := context.Background()
		s := migrated(t, dsn(t))
		now := time.Now()
		u := core.User{ID: "u1", Email: "purge@example.test", Status: core.StatusActive, CreatedAt: now}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		ses := core.Session{ID: "dead", UserID: u.ID, Method: core.MethodPassword, CreatedAt: now.Add(-time.Hour), LastUsedAt: now.Add(-time.Hour), ExpiresAt: now.Add(-time.Minute)}
		rt := core.RefreshToken{Hash: "h", ChainID: ses.ID, UserID: u.ID, CreatedAt: ses.CreatedAt, ExpiresAt: ses.ExpiresAt}
		if err := s.CreateSession(ctx, ses, rt); err != nil {
			t.Fatal(err)
		}
		// Another instance's session step, before any token step.
		if n, err := s.purge(ctx, purgeSessions, now); err != nil || n != 0 {
			t.Fatalf("the session step alone purged %d (%v), want 0: the session still has a token", n, err)
		}
		if n, err := s.PurgeRefreshTokens(ctx, now); err != nil || n != 1 {
			t.Fatalf("PurgeRefreshTokens = %d, %v; want the one token counted", n, err)
		}
		if _, err := s.GetSession(ctx, ses.ID); !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("the dead session is still there after its token: %v", err)
		}
	})
}
