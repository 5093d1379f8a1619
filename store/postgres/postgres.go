// Package postgres is the core.Store for several tether instances sharing
// one PostgreSQL database, on github.com/jackc/pgx/v5.
//
// Every rule that concerns more than one row is settled by the database, so
// instances need not talk to each other: unique indexes for emails
// (email_key) and identities; DELETE … RETURNING to consume a flow; UPDATE
// … WHERE used_at IS NULL to rotate a refresh token; a row lock on the user
// (SELECT … FOR NO KEY UPDATE) around UpdateUser and UnlinkIdentity;
// advisory locks so that migrations run once, purges by one instance at a
// time, and the rotations and revocations of one user's refresh tokens one
// after the other. Transactions run at READ COMMITTED.
//
// Tables live in the current schema of the connection (the first schema of
// search_path, which a postgres:// URL may set with ?search_path=name), and
// the advisory locks are per schema, so one database can hold several
// independent tether schemas.
//
// pgx prepares and caches each statement per connection. Each call that
// has no deadline gets OpTimeout.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/store/internal/migrate"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// OpTimeout bounds each store call whose context has no deadline, so a
// stuck database fails requests instead of piling them up.
const OpTimeout = 15 * time.Second

// connectTimeout bounds opening one connection when the URL does not say
// (connect_timeout=).
const connectTimeout = 10 * time.Second

// Advisory lock classes (the first key). The second key hashes the schema
// name, and for lockRefreshTokens the user id too.
const (
	lockMigrate int32 = 0x7e7e0001 + iota
	lockPurgeFlows
	lockPurgeRefreshTokens
	lockRefreshTokens
)

// Store is a core.Store on a PostgreSQL pool.
type Store struct {
	pool       *pgxpool.Pool
	migrations []migrate.Migration
}

var _ core.Store = (*Store)(nil)

// Open connects to the database that dsn names (postgres:// or
// postgresql:// URL; pgxpool parameters such as pool_max_conns apply). It
// does not migrate; call Migrate.
func Open(ctx context.Context, dsn string) (*Store, error) {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	ms, err := migrate.Load(sub)
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: invalid database URL: %w", err) // pgx masks the password
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{pool: pool, migrations: ms}
	if err := s.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

// Migrate applies the embedded migrations the schema lacks, all in one
// transaction under an advisory lock: when several instances start at
// once, one migrates and the others wait, then find nothing to do. It
// fails, changing nothing, when the schema was migrated by a newer tether.
func (s *Store) Migrate(ctx context.Context) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext(coalesce(current_schema(), '')))`, lockMigrate); err != nil {
			return fmt.Errorf("postgres: migrate: %w", err)
		}
		_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer PRIMARY KEY,
			name       text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`)
		if err != nil {
			return fmt.Errorf("postgres: migrate: %w", err)
		}
		var current int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
			return fmt.Errorf("postgres: migrate: %w", err)
		}
		if latest := migrate.Latest(s.migrations); current > latest {
			return fmt.Errorf("postgres: database schema is version %d, newer than this tether knows (%d); upgrade tether", current, latest)
		}
		for _, m := range s.migrations[current:] {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("postgres: migration %s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
				return fmt.Errorf("postgres: migration %s: %w", m.Name, err)
			}
		}
		return nil
	})
}

// Version returns the schema version: 0 before the first Migrate.
func (s *Store) Version(ctx context.Context) (int, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return 0, fmt.Errorf("postgres: version: %w", err)
	}
	if !exists {
		return 0, nil
	}
	var v int
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("postgres: version: %w", err)
	}
	return v, nil
}

// LatestVersion is the schema version Migrate brings the database to.
func (s *Store) LatestVersion() int { return migrate.Latest(s.migrations) }

// withTimeout gives ctx OpTimeout unless it has a deadline already.
func withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, OpTimeout)
}

// inTx runs fn in a transaction, committed when fn returns nil. fn gets
// ctx with the operation timeout.
func (s *Store) inTx(ctx context.Context, fn func(context.Context, pgx.Tx) error) error {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return fn(ctx, tx) })
}

// querier is what the pool and a transaction share.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Error classes the store turns into domain errors.
const (
	uniqueViolation     = "23505"
	foreignKeyViolation = "23503"
)

// violates reports whether err is a violation of class on constraint (any
// constraint when it is "").
func violates(err error, class, constraint string) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == class && (constraint == "" || e.ConstraintName == constraint)
}

// timeArg encodes t for a query: UTC, or NULL for the zero time.
func timeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

// fromTS decodes a timestamptz: UTC, or the zero time for NULL.
func fromTS(ts pgtype.Timestamptz) time.Time {
	if !ts.Valid {
		return time.Time{}
	}
	return ts.Time.UTC()
}

// stored returns t as the database keeps it, so values a method returns
// without reading them back equal what a later read returns.
func stored(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// noRows turns pgx.ErrNoRows into sentinel and wraps other errors.
func noRows(err error, sentinel error, op string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return sentinel
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}
