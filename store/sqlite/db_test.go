package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-id/tether/core"
)

func TestMigrate(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "dir", "tether.db")
	s, err := Open(ctx, "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.Version(ctx); err != nil || v != 0 {
		t.Fatalf("Version before Migrate = %d, %v; want 0", v, err)
	}
	for range 2 { // idempotent
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if v, err := s.Version(ctx); err != nil || v != s.LatestVersion() || v < 1 {
			t.Fatalf("Version after Migrate = %d, %v; want %d", v, err, s.LatestVersion())
		}
	}
	var applied int
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&applied); err != nil || applied != s.LatestVersion() {
		t.Fatalf("schema_migrations has %d rows (%v), want %d", applied, err, s.LatestVersion())
	}

	// A database from a newer tether is left alone.
	if _, err := s.db.Exec(`INSERT INTO schema_migrations VALUES (999, '0999_future.sql', '')`); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Migrate of a newer schema: %v", err)
	}
}

// TestSettings checks the connection settings the package doc promises.
func TestSettings(t *testing.T) {
	s := open(t)
	info, err := os.Stat(s.path(t))
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("database file mode %v, want 0600", mode)
	}
	for _, db := range []struct {
		name string
		q    querier
	}{{"writer", s.db}, {"reader", s.read}} {
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
	if _, err := s.read.Exec(`DELETE FROM users`); err == nil {
		t.Error("the read pool accepted a write")
	}
}

func (s *Store) path(t *testing.T) string {
	var seq int
	var name, file string
	if err := s.db.QueryRow(`PRAGMA database_list`).Scan(&seq, &name, &file); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestUniqueInDatabase checks the rules hold against SQL that bypasses
// the Go code.
func TestUniqueInDatabase(t *testing.T) {
	s := open(t)
	exec := func(q string) error { _, err := s.db.Exec(q); return err }
	const user = `INSERT INTO users VALUES ('%s', '%s', '%s', 0, '', '', '', 'active', '[]', '', '2026-01-01T00:00:00.000000Z')`
	const identity = `INSERT INTO identities VALUES ('%s', 'iss', '%s', '%s', '', 0, '', '', NULL, NULL, '2026-01-01T00:00:00.000000Z', NULL)`
	steps := []struct {
		sql string
		ok  bool
	}{
		{fmt.Sprintf(user, "u1", "A@x.io", "a@x.io"), true},
		{fmt.Sprintf(user, "u2", "a@X.io", "a@x.io"), false}, // email_key
		{fmt.Sprintf(user, "u2", "b@x.io", "b@x.io"), true},
		{fmt.Sprintf(identity, "logto", "s1", "u1"), true},
		{fmt.Sprintf(identity, "logto", "s1", "u2"), false},     // (provider, issuer, subject)
		{fmt.Sprintf(identity, "logto", "s2", "u1"), false},     // (user, provider)
		{fmt.Sprintf(identity, "logto", "s2", "nobody"), false}, // foreign key
		{fmt.Sprintf(identity, "logto", "s2", "u2"), true},
	}
	for _, step := range steps {
		if err := exec(step.sql); (err == nil) != step.ok {
			t.Errorf("%s: error %v, want ok=%v", step.sql, err, step.ok)
		}
	}
}

// TestTwoStoresOneFile opens the file twice, as the CLI does next to a
// running server: writes from both neither fail with SQLITE_BUSY nor get
// lost.
func TestTwoStoresOneFile(t *testing.T) {
	ctx := context.Background()
	a := open(t)
	b, err := Open(ctx, "sqlite://"+a.path(t))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
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

// TestPurgeBatches purges more rows than one batch, from two goroutines.
func TestPurgeBatches(t *testing.T) {
	defer func(n int) { purgeBatch = n }(purgeBatch)
	purgeBatch = 7
	ctx := context.Background()
	s := open(t)
	now := time.Now()
	const expired = 100
	for i := range expired + 3 {
		exp := now.Add(-time.Duration(i+1) * time.Second)
		if i >= expired {
			exp = now.Add(time.Hour)
		}
		f := core.Flow{ID: fmt.Sprint(i), CreatedAt: now, ExpiresAt: exp}
		if err := s.CreateFlow(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	counts := make([]int, 2)
	for i := range counts {
		wg.Go(func() {
			var err error
			counts[i], err = s.PurgeFlows(ctx, now)
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if counts[0]+counts[1] != expired {
		t.Fatalf("purged %v, want %d in total", counts, expired)
	}
	var left int
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM flows`).Scan(&left); err != nil || left != 3 {
		t.Fatalf("%d flows left (%v), want 3", left, err)
	}
}
