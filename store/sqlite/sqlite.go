// Package sqlite is the default core.Store: one SQLite file, through the
// pure Go driver modernc.org/sqlite (no CGO).
//
// The database runs in WAL mode, so readers never wait for the writer.
// Every write goes through a pool of exactly one connection and every write
// transaction starts with BEGIN IMMEDIATE: writers of this process queue in
// Go instead of failing with SQLITE_BUSY, and a transaction never has to
// upgrade a read lock to a write lock, which is what deadlocks SQLite
// writers. busy_timeout covers other processes on the same file (the
// tether CLI next to a running server). Foreign keys are on.
//
// SQLite suits one tether instance; several instances share PostgreSQL
// (store/postgres).
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/store/internal/migrate"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Memory is the DSN of a private in-memory database, gone when the store
// closes. Handy for tests and experiments.
const Memory = "sqlite::memory:"

// busyTimeout is how long a statement waits for another process's lock
// before it fails with SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// Store is a core.Store on one SQLite database.
type Store struct {
	db   *sql.DB // every write; one connection, BEGIN IMMEDIATE
	read *sql.DB // reads beside the writer (WAL); the same pool as db in memory

	migrations []migrate.Migration
}

var _ core.Store = (*Store)(nil)

// Open opens the database that dsn names, creating the file (mode 0600) and
// its folder when missing. It does not migrate; call Migrate.
//
//	sqlite:///var/lib/tether/tether.db   absolute path
//	sqlite://data/tether.db              path relative to the working directory
//	sqlite::memory:                      private in-memory database (Memory)
func Open(ctx context.Context, dsn string) (*Store, error) {
	path, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	ms, err := loadMigrations()
	if err != nil {
		return nil, err
	}
	s := &Store{migrations: ms}

	const pragmas = "_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)"
	common := fmt.Sprintf(pragmas, busyTimeout.Milliseconds())
	if path == "" {
		// One connection holds the whole database; readers share it.
		s.db, err = sql.Open("sqlite", ":memory:?"+common+"&_txlock=immediate")
		if err != nil {
			return nil, fmt.Errorf("sqlite: %w", err)
		}
		s.db.SetMaxOpenConns(1)
		s.db.SetMaxIdleConns(1)
		s.db.SetConnMaxLifetime(0)
		s.db.SetConnMaxIdleTime(0)
		s.read = s.db
	} else {
		if err := createFile(path); err != nil {
			return nil, err
		}
		s.db, err = sql.Open("sqlite", path+"?"+common+"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate")
		if err != nil {
			return nil, fmt.Errorf("sqlite: %w", err)
		}
		s.db.SetMaxOpenConns(1)
		s.db.SetMaxIdleConns(1)
		s.db.SetConnMaxLifetime(0)
		s.db.SetConnMaxIdleTime(0)
		// The writer connects first so WAL mode is on before readers open.
		if err := s.db.PingContext(ctx); err != nil {
			s.db.Close()
			return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
		}
		s.read, err = sql.Open("sqlite", path+"?"+common+"&_pragma=query_only(1)")
		if err != nil {
			s.db.Close()
			return nil, fmt.Errorf("sqlite: %w", err)
		}
		readers := max(4, runtime.GOMAXPROCS(0))
		s.read.SetMaxOpenConns(readers)
		s.read.SetMaxIdleConns(readers)
	}
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// ParseDSN returns the file path dsn names, or "" for the in-memory
// database. See Open for the forms.
func ParseDSN(dsn string) (string, error) {
	bad := func(why string) error {
		return fmt.Errorf("sqlite: bad database %q: %s (want sqlite:///abs/path.db, sqlite://relative/path.db or %s)", dsn, why, Memory)
	}
	rest, ok := strings.CutPrefix(dsn, "sqlite:")
	switch {
	case !ok:
		return "", bad("not a sqlite: URL")
	case rest == ":memory:":
		return "", nil
	case !strings.HasPrefix(rest, "//"):
		return "", bad("missing //")
	}
	path := rest[2:]
	switch {
	case path == "" || path == "/":
		return "", bad("no file name")
	case strings.ContainsAny(path, "?#"):
		// The driver reads parameters after '?'; tether sets them itself.
		return "", bad("'?' and '#' are not allowed")
	}
	return path, nil
}

// createFile makes sure path exists, readable by its owner only: it holds
// password hashes and sealed upstream tokens. SQLite gives the -wal and
// -shm files the same mode.
func createFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	return f.Close()
}

// Close closes the database.
func (s *Store) Close() error {
	var err error
	if s.read != s.db {
		err = s.read.Close()
	}
	return errors.Join(s.db.Close(), err)
}

// Ping checks both pools can reach the database.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	if err := s.read.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	return nil
}

// Migrate applies the embedded migrations the database lacks, each
// recorded in schema_migrations. Running it again does nothing. It fails,
// changing nothing, when the database was migrated by a newer tether.
func (s *Store) Migrate(ctx context.Context) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			name       TEXT NOT NULL,
			applied_at TEXT NOT NULL
		) STRICT`)
		if err != nil {
			return fmt.Errorf("sqlite: migrate: %w", err)
		}
		var current int
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
			return fmt.Errorf("sqlite: migrate: %w", err)
		}
		if latest := migrate.Latest(s.migrations); current > latest {
			return fmt.Errorf("sqlite: database schema is version %d, newer than this tether knows (%d); upgrade tether", current, latest)
		}
		for _, m := range s.migrations[current:] {
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return fmt.Errorf("sqlite: migration %s: %w", m.Name, err)
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.Version, m.Name, timeArg(time.Now()))
			if err != nil {
				return fmt.Errorf("sqlite: migration %s: %w", m.Name, err)
			}
		}
		return nil
	})
}

// Version returns the schema version of the database: 0 before the first
// Migrate.
func (s *Store) Version(ctx context.Context) (int, error) {
	var v int
	err := s.read.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	if err != nil && strings.Contains(err.Error(), "no such table") {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("sqlite: %w", err)
	}
	return v, nil
}

// LatestVersion is the schema version Migrate brings the database to.
func (s *Store) LatestVersion() int { return migrate.Latest(s.migrations) }

// inTx runs fn in a write transaction (BEGIN IMMEDIATE on the writer) and
// commits when fn returns nil.
func (s *Store) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

type scanner interface{ Scan(dest ...any) error }

// isUnique reports whether err is a violation of the uniqueness of
// columns, as SQLite names them in its message ("users.email_key").
func isUnique(err error, columns string) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	c := e.Code()
	return (c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY) &&
		strings.Contains(e.Error(), columns)
}

func isForeignKey(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

// timeFormat is fixed-width so stored times compare as strings.
const timeFormat = "2006-01-02T15:04:05.000000Z"

// timeArg encodes t for a query: UTC text, or NULL for the zero time.
func timeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(timeFormat)
}

// stored returns t as the database keeps it, so values a method returns
// without reading them back equal what a later read returns.
func stored(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// nullTime decodes a time column.
type nullTime struct{ t *time.Time }

func (n nullTime) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*n.t = time.Time{}
		return nil
	case string:
		t, err := time.Parse(timeFormat, v)
		if err != nil {
			return err
		}
		*n.t = t
		return nil
	}
	return fmt.Errorf("sqlite: time column holds %T", v)
}

func loadMigrations() ([]migrate.Migration, error) {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	return migrate.Load(sub)
}

// notFound turns sql.ErrNoRows into sentinel.
func notFound(err error, sentinel error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return sentinel
	}
	return err
}
