package postgres

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/store/storetest"
	"github.com/tether-id/tether/testkit/pgtest"
)

// openURL opens a store on dsn, closed when t ends.
func openURL(t *testing.T, dsn string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// open returns a migrated store on a fresh schema.
func open(t *testing.T) *Store {
	t.Helper()
	s := openURL(t, pgtest.URL(t))
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) core.Store { return open(t) })
}

// TestMigrateConcurrently starts several instances on one fresh schema at
// once, as a deployment does: the advisory lock lets one migrate and the
// others find the work done.
func TestMigrateConcurrently(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.URL(t)
	const instances = 8
	stores := make([]*Store, instances)
	for i := range stores {
		stores[i] = openURL(t, dsn)
	}
	if v, err := stores[0].Version(ctx); err != nil || v != 0 {
		t.Fatalf("Version before Migrate = %d, %v; want 0", v, err)
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
	s := stores[0]
	if err := s.Migrate(ctx); err != nil { // and once more, later
		t.Fatal(err)
	}
	if v, err := s.Version(ctx); err != nil || v != s.LatestVersion() || v < 1 {
		t.Fatalf("Version = %d, %v; want %d", v, err, s.LatestVersion())
	}
	var rows int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&rows); err != nil || rows != s.LatestVersion() {
		t.Fatalf("schema_migrations has %d rows (%v), want %d", rows, err, s.LatestVersion())
	}

	// A schema from a newer tether is left alone.
	if _, err := s.pool.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES (999, '0999_future.sql')`); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Migrate of a newer schema: %v", err)
	}
}

// TestPurgeInstances runs purges from several instances at once, with
// small batches: every expired row is deleted, and counted, exactly once.
func TestPurgeInstances(t *testing.T) {
	defer func(n int) { purgeBatch = n }(purgeBatch)
	purgeBatch = 7
	ctx := context.Background()
	dsn := pgtest.URL(t)
	a := openURL(t, dsn)
	if err := a.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	b := openURL(t, dsn)
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
			counts[i], err = s.PurgeFlows(ctx, now)
			if err != nil {
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
	if err := a.pool.QueryRow(ctx, `SELECT count(*) FROM flows`).Scan(&left); err != nil || left != 5 {
		t.Fatalf("%d flows left (%v), want 5", left, err)
	}
}

// TestPurgeStepsAside: while another instance holds the purge lock, a
// purge returns at once with nothing done instead of queueing.
func TestPurgeStepsAside(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a hang fails instead of blocking
	defer cancel()
	s := open(t)
	now := time.Now()
	if err := s.CreateFlow(ctx, core.Flow{ID: "old", CreatedAt: now, ExpiresAt: now.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRefreshToken(ctx, core.RefreshToken{Hash: "h", ChainID: "c", UserID: "nobody", CreatedAt: now, ExpiresAt: now}); err != core.ErrNotFound {
		t.Fatalf("CreateRefreshToken for an unknown user: %v, want ErrNotFound", err)
	}

	other, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))`, lockPurgeFlows); err != nil {
		t.Fatal(err)
	}
	n, err := s.PurgeFlows(ctx, now)
	if err != nil || n != 0 {
		t.Fatalf("PurgeFlows while another instance purges = %d, %v; want 0", n, err)
	}
	if err := other.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	n, err = s.PurgeFlows(ctx, now)
	if err != nil || n != 1 {
		t.Fatalf("PurgeFlows = %d, %v; want 1", n, err)
	}
}

// TestUniqueInDatabase checks the rules hold against SQL that bypasses
// the Go code.
func TestUniqueInDatabase(t *testing.T) {
	s := open(t)
	const user = `INSERT INTO users (id, email, email_key, email_verified, nickname, avatar, password_hash, status, permissions, language, created_at)
		VALUES ('%s', '%s', '%s', false, '', '', '', 'active', '{}', '', now())`
	const identity = `INSERT INTO identities (provider_id, issuer, subject, user_id, email, email_verified, name, avatar, linked_at)
		VALUES ('%s', 'iss', '%s', '%s', '', false, '', '', now())`
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
		if _, err := s.pool.Exec(context.Background(), step.sql); (err == nil) != step.ok {
			t.Errorf("%s: error %v, want ok=%v", step.sql, err, step.ok)
		}
	}
}

func TestOpenBadURL(t *testing.T) {
	_, err := Open(context.Background(), "postgres://user:s3cret@host:notaport/db")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("Open of a bad URL: %v", err)
	}
}

var _ pgx.Tx // the tests use pgx through s.pool

func BenchmarkStore(b *testing.B) {
	s, err := Open(context.Background(), pgtest.URL(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	storetest.Benchmark(b, s)
}
