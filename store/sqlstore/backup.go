package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Backup and restore of a SQLite database, for tether backup and tether
// restore. They are operator tools, like Migrate, and not part of
// core.Store: the core never needs them. PostgreSQL has pg_dump and
// pg_restore, which do this better than tether could.

// ErrNotSQLite is the error of Backup and Restore for a database that is
// not a SQLite file (PostgreSQL, or the in-memory database).
var ErrNotSQLite = errors.New("not a SQLite database file")

// BackupInfo describes a backup file that VerifyBackup found good.
type BackupInfo struct {
	Path    string
	Size    int64
	Version int // schema version
	// What it holds: accounts, linked upstream identities, sessions.
	Users, Identities, Sessions int
}

// Backup writes a copy of the SQLite database that dsn names to the file
// to, while tether may be serving from it. The copy is one read
// transaction's snapshot (SQLite's VACUUM INTO, on a read-only connection
// of its own), so it holds every transaction committed before it began
// and nothing of one that was not; in WAL mode it does not hold up the
// server's writes. The copy is written under a temporary name in to's
// folder, synced and checked (VerifyBackup) before it takes its name,
// so a file named to is always a whole, good backup. An existing file
// named to is an error unless overwrite is set.
func Backup(ctx context.Context, dsn, to string, overwrite bool) (BackupInfo, error) {
	path, err := sqliteFile(dsn)
	if err != nil {
		return BackupInfo{}, err
	}
	if _, err := os.Stat(path); err != nil {
		return BackupInfo{}, fmt.Errorf("sqlite: no database to back up: %w", err)
	}
	if _, err := os.Lstat(to); err == nil && !overwrite {
		return BackupInfo{}, fmt.Errorf("%s: %w", to, fs.ErrExist)
	}
	if same, _ := sameFile(path, to); same {
		return BackupInfo{}, fmt.Errorf("backup: %s is the database itself", to)
	}
	// A shared lock, so that no restore swaps the database meanwhile.
	lock, err := lockDatabase(path, false)
	if errors.Is(err, errLocked) {
		return BackupInfo{}, fmt.Errorf("sqlite: %s is being restored; back it up when the restore is done", path)
	} else if err != nil {
		return BackupInfo{}, err
	}
	defer lock.Close()

	tmp, err := os.CreateTemp(filepath.Dir(to), "."+filepath.Base(to)+".tmp-*")
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	tmpName := tmp.Name()
	tmp.Close() // VACUUM INTO wants a missing or empty file
	done := false
	defer func() {
		if !done {
			os.Remove(tmpName)
		}
	}()
	if err := vacuumInto(ctx, path, tmpName); err != nil {
		return BackupInfo{}, fmt.Errorf("sqlite: back up %s: %w", path, err)
	}
	if err := syncFile(tmpName); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	info, err := VerifyBackup(ctx, tmpName)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup: the copy failed its check: %w", err)
	}
	if err := publish(tmpName, to, overwrite); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	done = true
	info.Path = to
	return info, nil
}

// vacuumInto copies the database at from into the empty file to, as
// one read transaction.
func vacuumInto(ctx context.Context, from, to string) error {
	db, err := openReadOnly(from)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, `VACUUM INTO ?`, to)
	return err
}

// openReadOnly opens the SQLite file at path read-only, on one
// connection, without creating it.
func openReadOnly(path string) (*sql.DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	// A file: URI takes every character of the path literally.
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // file:///C:/...
	}
	u := url.URL{Scheme: "file", Path: p}
	db, err := sql.Open("sqlite", u.String()+fmt.Sprintf("?mode=ro&_pragma=busy_timeout(%d)", busyTimeout.Milliseconds()))
	if err != nil {
		return nil, err
	}
	oneConnection(db)
	return db, nil
}

// VerifyBackup checks that the file at path is a tether SQLite database
// that this tether can use: SQLite's integrity_check and
// foreign_key_check pass, and its migrations are this tether's, none
// newer. It changes nothing.
func VerifyBackup(ctx context.Context, path string) (BackupInfo, error) {
	st, err := os.Stat(path)
	if err != nil {
		return BackupInfo{}, err
	}
	if !st.Mode().IsRegular() {
		return BackupInfo{}, fmt.Errorf("%s is not a file", path)
	}
	db, err := openReadOnly(path)
	if err != nil {
		return BackupInfo{}, err
	}
	defer db.Close()
	notDB := func(err error) error {
		return fmt.Errorf("%s is damaged, or not an SQLite database: %w", path, err)
	}
	// One read transaction: every check sees the same snapshot.
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return BackupInfo{}, notDB(err)
	}
	defer tx.Rollback()

	problems, err := strings1(ctx, tx, `PRAGMA integrity_check(20)`)
	if err != nil {
		return BackupInfo{}, notDB(err)
	}
	if len(problems) != 1 || problems[0] != "ok" {
		return BackupInfo{}, fmt.Errorf("%s is damaged: SQLite's integrity check says: %s", path, strings.Join(problems, "; "))
	}
	d := sqliteDialect()
	exists, err := d.tableExists(ctx, tx, "schema_migrations")
	if err != nil {
		return BackupInfo{}, notDB(err)
	}
	if !exists {
		return BackupInfo{}, fmt.Errorf("%s is not a tether database (it has no schema_migrations table)", path)
	}
	version, err := checkMigrations(ctx, tx)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("%s: %w", path, err)
	}
	if fks, err := strings1(ctx, tx, `SELECT "table" || ' row ' || rowid || ' refers to a missing row of ' || parent FROM pragma_foreign_key_check LIMIT 5`); err != nil {
		return BackupInfo{}, notDB(err)
	} else if len(fks) > 0 {
		return BackupInfo{}, fmt.Errorf("%s is inconsistent: %s", path, strings.Join(fks, "; "))
	}

	info := BackupInfo{Path: path, Size: st.Size(), Version: version}
	for _, c := range []struct {
		table string
		n     *int
	}{{"users", &info.Users}, {"identities", &info.Identities}, {"sessions", &info.Sessions}} {
		if ok, err := d.tableExists(ctx, tx, c.table); err != nil || !ok {
			continue
		}
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM `+c.table).Scan(c.n); err != nil {
			return BackupInfo{}, notDB(err)
		}
	}
	return info, nil
}

// checkMigrations returns the schema version the schema_migrations table
// of a SQLite database records, after checking that each migration it
// records is this tether's, by version and file name.
func checkMigrations(ctx context.Context, q querier) (int, error) {
	ours, err := loadMigrations(sqliteDialect())
	if err != nil {
		return 0, err
	}
	rows, err := q.QueryContext(ctx, `SELECT version, name FROM schema_migrations ORDER BY version`)
	if err != nil {
		return 0, fmt.Errorf("not a tether database: %w", err)
	}
	defer rows.Close()
	version := 0
	for rows.Next() {
		var v int
		var name string
		if err := rows.Scan(&v, &name); err != nil {
			return 0, fmt.Errorf("not a tether database: %w", err)
		}
		switch {
		case v != version+1:
			return 0, fmt.Errorf("not a tether database: schema_migrations skips from version %d to %d", version, v)
		case v <= len(ours) && name != ours[v-1].name:
			return 0, fmt.Errorf("not a tether database: its migration %d is %q, tether's is %q", v, name, ours[v-1].name)
		}
		version = v
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("not a tether database: %w", err)
	}
	switch {
	case version == 0:
		return 0, errors.New("not a tether database: no migration was ever applied to it")
	case version > len(ours):
		return version, &NewerSchemaError{Version: version, Latest: len(ours)}
	}
	return version, nil
}

// NewerSchemaError is VerifyBackup's error for a database made by a newer
// tether, whose schema this one does not know.
type NewerSchemaError struct{ Version, Latest int }

func (e *NewerSchemaError) Error() string {
	return fmt.Sprintf("its schema is version %d, newer than this tether knows (%d): use the tether release that wrote it, or a newer one", e.Version, e.Latest)
}

// strings1 returns the first column of every row of query.
func strings1(ctx context.Context, q querier, query string) ([]string, error) {
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// RestoreOptions change what Restore does with the database it replaces.
type RestoreOptions struct {
	// Discard deletes the database being replaced; by default it is kept
	// beside it as <db>.before-restore-<time> (with its -wal file).
	Discard bool
	// Now names the kept file; zero means time.Now().
	Now time.Time
}

// RestoreResult says what Restore did.
type RestoreResult struct {
	Backup BackupInfo
	// Path is the database restored into.
	Path string
	// Kept is where the replaced database went; "" when there was none,
	// or it was discarded.
	Kept string
	// Version is the schema version after Restore migrated the restored
	// database forward (the backup's own when it was the latest).
	Version int
}

// Restore replaces the SQLite database that dsn names with a copy of the
// backup file from, which it checks first (VerifyBackup). It refuses,
// with ErrInUse, while any tether process has the database open: a
// server, or a command. The replaced database is kept (see
// RestoreOptions) with its WAL, so nothing committed to it is lost; its
// -shm file is removed, since it describes a WAL that is no longer
// beside the database. The restored database is then migrated to this
// tether's schema. No tether can open the database while Restore runs.
func Restore(ctx context.Context, dsn, from string, opts RestoreOptions) (RestoreResult, error) {
	path, err := sqliteFile(dsn)
	if err != nil {
		return RestoreResult{}, err
	}
	if same, _ := sameFile(path, from); same {
		return RestoreResult{}, fmt.Errorf("restore: %s is the database itself", from)
	}
	info, err := VerifyBackup(ctx, from)
	if err != nil {
		return RestoreResult{}, err
	}
	lock, err := lockDatabase(path, true)
	if errors.Is(err, errLocked) {
		return RestoreResult{}, fmt.Errorf("sqlite: %s: %w: a tether process has it open (tether serve or dev, or a command); stop it, then restore", path, ErrInUse)
	} else if err != nil {
		return RestoreResult{}, err
	}
	defer lock.Close()

	// Copy the backup next to the database first, so that the swap below
	// is two renames in one folder.
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".restore-*")
	if err != nil {
		return RestoreResult{}, fmt.Errorf("restore: %w", err)
	}
	tmpName := tmp.Name()
	tmp.Close()
	defer os.Remove(tmpName) // gone after the rename, unless something failed
	if err := vacuumInto(ctx, from, tmpName); err != nil {
		return RestoreResult{}, fmt.Errorf("sqlite: copy %s: %w", from, err)
	}
	if err := syncFile(tmpName); err != nil {
		return RestoreResult{}, fmt.Errorf("restore: %w", err)
	}

	res := RestoreResult{Backup: info, Path: path}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if res.Kept, err = setAside(path, opts); err != nil {
		return RestoreResult{}, fmt.Errorf("restore: %w", err)
	}
	if err := os.Rename(tmpName, path); err != nil {
		if res.Kept != "" {
			// Put the old one back rather than leave no database.
			os.Rename(res.Kept+"-wal", path+"-wal")
			os.Rename(res.Kept, path)
		}
		return RestoreResult{}, fmt.Errorf("restore: %w", err)
	}
	syncDir(filepath.Dir(path))

	s, err := openSQLiteFile(ctx, path) // under the exclusive lock held above
	if err != nil {
		return res, fmt.Errorf("restore: open the restored database: %w", err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		return res, fmt.Errorf("restore: the backup is restored but not migrated: %w", err)
	}
	if res.Version, err = s.Version(ctx); err != nil {
		return res, err
	}
	return res, nil
}

// setAside moves the database at path and its -wal file out of the way,
// to <path>.before-restore-<time>[-wal] (or deletes them with
// opts.Discard), and deletes its -shm file. It returns the kept name, or
// "" when nothing was kept.
func setAside(path string, opts RestoreOptions) (string, error) {
	_, dbErr := os.Lstat(path)
	_, walErr := os.Lstat(path + "-wal")
	exists := dbErr == nil || walErr == nil
	if err := os.Remove(path + "-shm"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	if !exists {
		return "", nil
	}
	if opts.Discard {
		for _, p := range []string{path, path + "-wal"} {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return "", err
			}
		}
		return "", nil
	}
	kept := path + ".before-restore-" + opts.Now.UTC().Format("20060102T150405Z")
	for i := 2; ; i++ {
		_, err1 := os.Lstat(kept)
		_, err2 := os.Lstat(kept + "-wal")
		if errors.Is(err1, fs.ErrNotExist) && errors.Is(err2, fs.ErrNotExist) {
			break
		}
		kept = fmt.Sprintf("%s.before-restore-%s-%d", path, opts.Now.UTC().Format("20060102T150405Z"), i)
	}
	if dbErr == nil {
		if err := os.Rename(path, kept); err != nil {
			return "", err
		}
	}
	if walErr == nil {
		if err := os.Rename(path+"-wal", kept+"-wal"); err != nil {
			return "", err
		}
	}
	return kept, nil
}

// sqliteFile is the file path of a sqlite: DSN, or ErrNotSQLite.
func sqliteFile(dsn string) (string, error) {
	if !strings.HasPrefix(dsn, "sqlite:") {
		return "", fmt.Errorf("%s: %w", redact(dsn), ErrNotSQLite)
	}
	path, err := ParseSQLiteDSN(dsn)
	if err != nil {
		return "", err
	}
	if path == "" {
		return "", fmt.Errorf("%s: %w (it is in memory)", dsn, ErrNotSQLite)
	}
	return path, nil
}

// publish gives the finished file tmp the name to: atomically, and
// without replacing an existing file unless overwrite is set.
func publish(tmp, to string, overwrite bool) error {
	if overwrite {
		if err := os.Rename(tmp, to); err != nil {
			return err
		}
		syncDir(filepath.Dir(to))
		return nil
	}
	// A hard link fails if to exists, where a rename would replace it.
	if err := os.Link(tmp, to); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s: %w", to, fs.ErrExist)
		}
		// A file system without hard links: check, then rename.
		if _, err := os.Lstat(to); err == nil {
			return fmt.Errorf("%s: %w", to, fs.ErrExist)
		}
		if err := os.Rename(tmp, to); err != nil {
			return err
		}
		syncDir(filepath.Dir(to))
		return nil
	}
	syncDir(filepath.Dir(to))
	return os.Remove(tmp)
}

// sameFile reports whether a and b name the same existing file.
func sameFile(a, b string) (bool, error) {
	sa, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	sb, err := os.Stat(b)
	if err != nil {
		return false, err
	}
	return os.SameFile(sa, sb), nil
}

// syncFile flushes the file at path to stable storage. It must not be
// called on a database that SQLite has open in this process: closing the
// descriptor would drop SQLite's POSIX locks on it.
func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	return errors.Join(err, f.Close())
}

// syncDir makes a rename in dir durable, where the system can sync a
// folder (Windows cannot).
func syncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		_ = f.Sync()
		f.Close()
	}
}
