package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Memory is the DSN of a private in-memory SQLite database, gone when the
// store closes. Handy for tests and experiments.
const Memory = "sqlite::memory:"

// busyTimeout is how long a SQLite statement waits for another process's
// lock (the tether CLI next to a running server) before SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// openSQLite opens a SQLite database in WAL mode, so readers never wait
// for the writer. Every write goes through one connection, owned by the
// group committer, and every write transaction starts with BEGIN
// IMMEDIATE: a transaction never has to upgrade a read lock to a write
// lock, which is what deadlocks SQLite writers. busy_timeout covers other
// processes on the same file. Foreign keys are on. The process holds a
// shared lock on <db>.lock while the store is open, which keeps tether
// restore from replacing the file under it (lock.go).
func openSQLite(ctx context.Context, dsn string) (*Store, error) {
	path, err := ParseSQLiteDSN(dsn)
	if err != nil {
		return nil, err
	}
	var lock *os.File
	if path != "" {
		// Shared with every other tether process on the file; only a
		// restore conflicts (lock.go).
		if lock, err = lockDatabase(path, false); errors.Is(err, errLocked) {
			return nil, fmt.Errorf("sqlite: %s is being restored (tether restore holds %s); start tether again when it is done", path, lockPath(path))
		} else if err != nil {
			return nil, err
		}
	}
	s, err := openSQLiteFile(ctx, path)
	if err != nil {
		if lock != nil {
			lock.Close()
		}
		return nil, err
	}
	if lock != nil {
		closeDB := s.close
		s.close = func() error { return errors.Join(closeDB(), lock.Close()) }
	}
	return s, nil
}

// openSQLiteFile opens the database at path ("" for the in-memory one),
// taking no lock: openSQLite's caller, or Restore, holds it.
func openSQLiteFile(ctx context.Context, path string) (*Store, error) {
	var err error
	common := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)&_txlock=immediate", busyTimeout.Milliseconds())
	var writer, reader *sql.DB
	if path == "" {
		// One connection holds the whole database; readers share it.
		if writer, err = sql.Open("sqlite", ":memory:?"+common+writerPragmas); err != nil {
			return nil, fmt.Errorf("sqlite: %w", err)
		}
		oneConnection(writer)
		reader = writer
	} else {
		if err := createFile(path); err != nil {
			return nil, err
		}
		if writer, err = sql.Open("sqlite", path+"?"+common+"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"+writerPragmas); err != nil {
			return nil, fmt.Errorf("sqlite: %w", err)
		}
		oneConnection(writer)
		// The writer connects first so WAL mode is on before readers open.
		if err := writer.PingContext(ctx); err != nil {
			writer.Close()
			return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
		}
		if reader, err = sql.Open("sqlite", path+"?"+common+"&_pragma=query_only(1)"); err != nil {
			writer.Close()
			return nil, fmt.Errorf("sqlite: %w", err)
		}
		readers := max(4, runtime.GOMAXPROCS(0))
		reader.SetMaxOpenConns(readers)
		reader.SetMaxIdleConns(readers)
	}
	d := sqliteDialect()
	gc := newGroupCommitter(d, writer)
	d.update = gc.update
	reads := preparedDB{reader, newStmtCache(reader)}
	closeAll := func() error {
		gc.stop()
		reads.stmts.close()
		var err error
		if reader != writer {
			err = reader.Close()
		}
		return errors.Join(writer.Close(), err)
	}
	ping := func(ctx context.Context) error {
		if err := writer.PingContext(ctx); err != nil {
			return err
		}
		return reader.PingContext(ctx)
	}
	s, err := newStore(d, writer, reads, ping, closeAll)
	if err != nil {
		closeAll()
		return nil, err
	}
	s.gc = gc
	s.pools = map[string]*sql.DB{"write": writer, "read": reader}
	if reader == writer {
		s.pools = map[string]*sql.DB{"main": writer}
	}
	if err := s.Ping(ctx); err != nil {
		closeAll()
		return nil, err
	}
	return s, nil
}

// writerPragmas tune the writer connection. temp_store(MEMORY) keeps
// the statement journals of the group committer's savepoints (a copy of
// each page a job changes, so that a failing job can be rolled back
// alone) in memory: as files, each batch opened, wrote and deleted one.
const writerPragmas = "&_pragma=temp_store(2)"

func oneConnection(db *sql.DB) {
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
}

// ParseSQLiteDSN returns the file path a sqlite: DSN names, or "" for the
// in-memory database. See Open for the forms.
func ParseSQLiteDSN(dsn string) (string, error) {
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

func sqliteDialect() *dialect {
	return &dialect{
		name: "sqlite",
		id:   sqliteID,
		timeArg: func(t time.Time) any {
			if t.IsZero() {
				return nil
			}
			return t.UTC().Format(timeFormat)
		},
		stringsArg: func(ss []string) (any, error) {
			if ss == nil {
				ss = []string{}
			}
			b, err := json.Marshal(ss)
			return string(b), err
		},
		stringsScanner: func(dst *[]string) sql.Scanner { return jsonStrings{dst} },
		isUnique: func(err error, table, column string) bool {
			var e *sqlite.Error
			if !errors.As(err, &e) {
				return false
			}
			c := e.Code()
			return (c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY) &&
				strings.Contains(e.Error(), table+"."+column)
		},
		isForeignKey: func(err error) bool {
			var e *sqlite.Error
			return errors.As(err, &e) && e.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
		},
		lock: func(context.Context, querier, lockClass, string, bool) (bool, error) { return true, nil },
		migrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			name       TEXT NOT NULL,
			applied_at TEXT NOT NULL
		) STRICT`,
		tableExists: func(ctx context.Context, q querier, name string) (bool, error) {
			var n int
			err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = ?`, name).Scan(&n)
			return n > 0, err
		},
	}
}

// jsonStrings decodes a JSON array of strings; an empty array is nil.
type jsonStrings struct{ dst *[]string }

func (j jsonStrings) Scan(v any) error {
	var b []byte
	switch v := v.(type) {
	case string:
		b = []byte(v)
	case []byte:
		b = v
	case nil:
		*j.dst = nil
		return nil
	default:
		return fmt.Errorf("sqlite: a JSON column holds %T", v)
	}
	var out []string
	if err := json.Unmarshal(b, &out); err != nil {
		return err
	}
	if len(out) == 0 {
		out = nil
	}
	*j.dst = out
	return nil
}
