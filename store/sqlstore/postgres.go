package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// pgOpTimeout bounds each PostgreSQL call whose context has no deadline.
const pgOpTimeout = 15 * time.Second

// pgConnectTimeout bounds opening one connection when the URL does not say
// (connect_timeout=).
const pgConnectTimeout = 10 * time.Second

// openPostgres connects a pgx pool and uses it through database/sql.
// Transactions run at READ COMMITTED. Tables live in the current schema
// of the connection (the first of its search_path), and the advisory
// locks are per schema, so one database can hold several independent
// tether schemas. pgx prepares and caches each statement per connection.
func openPostgres(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: invalid database URL: %w", err) // pgx masks the password
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = pgConnectTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	// database/sql pools the connections it takes from pgx's pool. It
	// must not try to open more than pgx's pool holds: a caller would
	// then wait inside pgx for a connection that database/sql keeps idle
	// for itself, and never get it.
	db.SetMaxOpenConns(int(cfg.MaxConns))
	db.SetMaxIdleConns(int(cfg.MaxConns))
	d := postgresDialect()
	d.update = func(ctx context.Context, fn func(*queries) error) error { return pgUpdate(ctx, d, db, fn) }
	closeAll := func() error {
		err := db.Close()
		pool.Close()
		return err
	}
	s, err := newStore(d, db, db, db.PingContext, closeAll)
	if err != nil {
		closeAll()
		return nil, err
	}
	s.pools = map[string]*sql.DB{"main": db}
	if err := s.Ping(ctx); err != nil {
		closeAll()
		return nil, err
	}
	return s, nil
}

// pgRetries is how many times a transaction is tried when PostgreSQL
// aborts it to break a deadlock or a serialization conflict.
const pgRetries = 3

func pgUpdate(ctx context.Context, d *dialect, db *sql.DB, fn func(*queries) error) error {
	var err error
	for range pgRetries {
		if err = pgTx(ctx, d, db, fn); !retryable(err) {
			return err
		}
	}
	return err
}

func pgTx(ctx context.Context, d *dialect, db *sql.DB, fn func(*queries) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("postgres: begin: %w", err)
	}
	if err := fn(&queries{d: d, db: tx, tx: true}); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("postgres: commit: %w", err)
	}
	return nil
}

// retryable reports whether PostgreSQL aborted the transaction to break a
// deadlock or a serialization conflict; trying again may succeed.
func retryable(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && (e.Code == "40P01" || e.Code == "40001")
}

func postgresDialect() *dialect {
	return &dialect{
		name: "postgres",
		id:   postgresID,
		timeArg: func(t time.Time) any {
			if t.IsZero() {
				return nil
			}
			return t.UTC()
		},
		stringsArg: func(ss []string) (any, error) {
			if ss == nil {
				ss = []string{}
			}
			return ss, nil
		},
		stringsScanner: func(dst *[]string) sql.Scanner { return pgStrings{dst} },
		isUnique: func(err error, table, column string) bool {
			var e *pgconn.PgError
			return errors.As(err, &e) && e.Code == "23505" && e.ConstraintName == table+"_"+column
		},
		isForeignKey: func(err error) bool {
			var e *pgconn.PgError
			return errors.As(err, &e) && e.Code == "23503"
		},
		lock: func(ctx context.Context, q querier, class lockClass, key string, wait bool) (bool, error) {
			// The second key hashes the schema too, so that schemas in
			// one database do not block each other.
			const second = `hashtext(coalesce(current_schema(), '') || ':' || $2)`
			if wait {
				_, err := q.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, `+second+`)`, int32(class), key)
				if err != nil {
					return false, fmt.Errorf("postgres: lock: %w", err)
				}
				return true, nil
			}
			var locked bool
			if err := q.QueryRowContext(ctx, `SELECT pg_try_advisory_xact_lock($1, `+second+`)`, int32(class), key).Scan(&locked); err != nil {
				return false, fmt.Errorf("postgres: lock: %w", err)
			}
			return locked, nil
		},
		migrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer PRIMARY KEY,
			name       text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`,
		tableExists: func(ctx context.Context, q querier, name string) (bool, error) {
			var ok bool
			err := q.QueryRowContext(ctx, `SELECT to_regclass($1) IS NOT NULL`, name).Scan(&ok)
			return ok, err
		},
		opTimeout: pgOpTimeout,
	}
}

// pgTypes holds pgx's type maps, which parse arrays but are not safe for
// concurrent use.
var pgTypes = sync.Pool{New: func() any { return pgtype.NewMap() }}

// pgStrings decodes a text[] column; an empty array is nil.
type pgStrings struct{ dst *[]string }

func (p pgStrings) Scan(v any) error {
	m := pgTypes.Get().(*pgtype.Map)
	defer pgTypes.Put(m)
	var out []string
	if err := m.SQLScanner(&out).Scan(v); err != nil {
		return err
	}
	if len(out) == 0 {
		out = nil
	}
	*p.dst = out
	return nil
}
