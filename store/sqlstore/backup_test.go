package sqlstore

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tether-id/tether/core"
)

// sqliteDSN is a fresh SQLite file's DSN and path.
func sqliteDSN(t testing.TB) (dsn, path string) {
	path = filepath.Join(t.TempDir(), "tether.db")
	return "sqlite://" + path, path
}

// addAccount writes an account with one session and its first refresh
// token in one transaction, as a sign-up that signs in does.
func addAccount(ctx context.Context, s *Store, n int) error {
	return s.Update(ctx, func(q core.Queries) error { return writeAccount(ctx, q, n) })
}

func writeAccount(ctx context.Context, q core.Queries, n int) error {
	now := time.Now().UTC()
	u := core.User{ID: fmt.Sprintf("u%d", n), Email: fmt.Sprintf("u%d@example.test", n), Status: core.StatusActive, CreatedAt: now}
	ses := core.Session{ID: fmt.Sprintf("s%d", n), UserID: u.ID, Method: core.MethodPassword,
		CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(time.Hour)}
	tok := core.RefreshToken{Hash: fmt.Sprintf("h%d", n), ChainID: ses.ID, UserID: u.ID, CreatedAt: now, ExpiresAt: ses.ExpiresAt}
	if err := q.CreateUser(ctx, u); err != nil {
		return err
	}
	return q.CreateSession(ctx, ses, tok)
}

// count returns SELECT count(*) FROM table in the SQLite file at path.
func count(t *testing.T, path, table string) int {
	t.Helper()
	db, err := openReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestBackupUnderWrites backs up a database while transactions of three
// rows each commit as fast as they can: the copy passes its checks, holds
// whole transactions only (every account has its session and token), and
// restores into a fresh database that a store opens and reads.
func TestBackupUnderWrites(t *testing.T) {
	ctx := context.Background()
	dsn, _ := sqliteDSN(t)
	s := migrated(t, dsn)

	var wg sync.WaitGroup
	stop := make(chan struct{})
	written := make(chan int, 1)
	wg.Go(func() {
		n := 0
		defer func() { written <- n }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := addAccount(ctx, s, n); err != nil {
				t.Error(err)
				return
			}
			n++
		}
	})
	for n := 0; n < 3; n++ { // several backups, each while the writes go on
		for {
			users, err := s.ListUsers(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(users) > (n+1)*20 || t.Failed() {
				break
			}
			time.Sleep(time.Millisecond)
		}
		to := filepath.Join(t.TempDir(), "backup.db")
		info, err := Backup(ctx, dsn, to, false)
		if err != nil {
			t.Fatal(err)
		}
		if info.Path != to || info.Version != s.LatestVersion() || info.Users == 0 || info.Users != info.Sessions {
			t.Errorf("backup %d: %+v; want schema %d and one session per account", n, info, s.LatestVersion())
		}
		if st, err := os.Stat(to); err != nil || st.Mode().Perm() != 0o600 || st.Size() != info.Size {
			t.Errorf("backup file: %v, %v; want mode 0600 (it holds password hashes)", st.Mode(), err)
		}
		for _, q := range []string{
			`users u WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = u.id)`,
			`sessions s WHERE NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.chain_id = s.id)`,
		} {
			if n := count(t, to, q); n != 0 {
				t.Errorf("backup holds half a transaction: %d rows of %s", n, q)
			}
		}
		leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(to), ".*"))
		if len(leftovers) > 0 {
			t.Errorf("temporary files left beside the backup: %v", leftovers)
		}
		if n == 2 {
			// The last one restores into a fresh database.
			dsn2, path2 := sqliteDSN(t)
			res, err := Restore(ctx, dsn2, to, RestoreOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Kept != "" || res.Path != path2 || res.Version != s.LatestVersion() || res.Backup.Users != info.Users {
				t.Errorf("restore into a new file: %+v", res)
			}
			r := openDSN(t, dsn2)
			users, err := r.ListUsers(ctx)
			if err != nil || len(users) != info.Users {
				t.Errorf("restored database: %d accounts (%v), backup %d", len(users), err, info.Users)
			}
			for _, u := range users {
				if ss, err := r.ListSessions(ctx, u.ID, time.Now()); err != nil || len(ss) != 1 {
					t.Errorf("restored account %s: %d sessions (%v)", u.ID, len(ss), err)
				}
			}
		}
	}
	close(stop)
	wg.Wait()
	if n := <-written; n < 60 {
		t.Errorf("only %d transactions were written during the backups", n)
	}
}

// TestBackupRefusesToOverwrite: an existing file is kept unless overwrite
// is asked for, and then replaced by a good backup.
func TestBackupRefusesToOverwrite(t *testing.T) {
	ctx := context.Background()
	dsn, path := sqliteDSN(t)
	s := migrated(t, dsn)
	to := filepath.Join(t.TempDir(), "backup.db")
	if err := os.WriteFile(to, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Backup(ctx, dsn, to, false); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("backup over an existing file: %v; want fs.ErrExist", err)
	}
	if b, _ := os.ReadFile(to); string(b) != "precious" {
		t.Fatalf("the existing file was changed: %q", b)
	}
	if err := addAccount(ctx, s, 1); err != nil {
		t.Fatal(err)
	}
	info, err := Backup(ctx, dsn, to, true)
	if err != nil || info.Users != 1 {
		t.Fatalf("backup with overwrite: %+v, %v", info, err)
	}
	if _, err := Backup(ctx, dsn, path, true); err == nil || !strings.Contains(err.Error(), "is the database itself") {
		t.Fatalf("backup onto the database: %v", err)
	}
	if _, err := Backup(ctx, "sqlite://"+filepath.Join(t.TempDir(), "none.db"), filepath.Join(t.TempDir(), "b.db"), false); err == nil || !strings.Contains(err.Error(), "no database to back up") {
		t.Fatalf("backup of a missing database: %v", err)
	}
}

// TestBackupClosedDatabase backs up a database no process has open: a
// WAL database without its -wal and -shm files, which a read-only
// connection must still read.
func TestBackupClosedDatabase(t *testing.T) {
	ctx := context.Background()
	dsn, path := sqliteDSN(t)
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := addAccount(ctx, s, 1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, f := range []string{path + "-wal", path + "-shm"} {
		if _, err := os.Stat(f); err == nil {
			t.Fatalf("%s is left after Close", f)
		}
	}
	info, err := Backup(ctx, dsn, filepath.Join(t.TempDir(), "b.db"), false)
	if err != nil || info.Users != 1 {
		t.Fatalf("backup of a closed database: %+v, %v", info, err)
	}
}

// TestBackupNotSQLite: PostgreSQL and the in-memory database have no file
// to copy or replace.
func TestBackupNotSQLite(t *testing.T) {
	ctx := context.Background()
	for _, dsn := range []string{"postgres://tether:secret@db.internal/tether", Memory} {
		if _, err := Backup(ctx, dsn, filepath.Join(t.TempDir(), "b.db"), false); !errors.Is(err, ErrNotSQLite) || strings.Contains(err.Error(), "secret") {
			t.Errorf("Backup(%s): %v; want ErrNotSQLite, without the password", dsn, err)
		}
		if _, err := Restore(ctx, dsn, filepath.Join(t.TempDir(), "b.db"), RestoreOptions{}); !errors.Is(err, ErrNotSQLite) {
			t.Errorf("Restore(%s): %v; want ErrNotSQLite", dsn, err)
		}
	}
}

// TestRestoreKeepsReplaced: restoring over a database keeps that database,
// with its WAL, as <db>.before-restore-<time>, where a store opens it
// with everything it had; --discard-like Discard deletes it.
func TestRestoreKeepsReplaced(t *testing.T) {
	ctx := context.Background()
	dsn, path := sqliteDSN(t)
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := addAccount(ctx, s, 1); err != nil {
		t.Fatal(err)
	}
	to := filepath.Join(t.TempDir(), "b.db")
	if _, err := Backup(ctx, dsn, to, false); err != nil {
		t.Fatal(err)
	}
	if err := addAccount(ctx, s, 2); err != nil {
		t.Fatal(err)
	}
	// Leave the database as a crash would: its last commits in the WAL.
	// (Closing would checkpoint them into the file.) The store's files
	// are copied as they are, and the copy restored over.
	crashed := filepath.Join(t.TempDir(), "crashed.db")
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(path + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(crashed+suffix, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	res, err := Restore(ctx, "sqlite://"+crashed, to, RestoreOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if want := crashed + ".before-restore-20300102T030405Z"; res.Kept != want {
		t.Fatalf("kept %q, want %q", res.Kept, want)
	}
	if _, err := os.Stat(crashed + "-shm"); err == nil {
		t.Error("the replaced database's -shm file is left beside the restored one")
	}
	if n := count(t, crashed, "users"); n != 1 {
		t.Errorf("restored database: %d accounts, want the backup's 1", n)
	}
	if n := count(t, res.Kept, "users"); n != 2 {
		t.Errorf("kept database: %d accounts, want 2 (with the commits in its WAL)", n)
	}

	// A second restore in the same second keeps the first one's file too.
	res2, err := Restore(ctx, "sqlite://"+crashed, to, RestoreOptions{Now: now})
	if err != nil || res2.Kept == res.Kept || !strings.HasPrefix(res2.Kept, res.Kept) {
		t.Fatalf("second restore: kept %q (%v); first kept %q", res2.Kept, err, res.Kept)
	}
	res3, err := Restore(ctx, "sqlite://"+crashed, to, RestoreOptions{Discard: true})
	if err != nil || res3.Kept != "" {
		t.Fatalf("restore with Discard: %+v, %v", res3, err)
	}
	kept, _ := filepath.Glob(crashed + ".before-restore-*Z")
	kept2, _ := filepath.Glob(crashed + ".before-restore-*Z-2")
	if len(kept) != 1 || len(kept2) != 1 {
		kept = append(kept, kept2...)
		t.Errorf("files kept after three restores, one discarding: %v", kept)
	}
}

// TestRestoreRefusedWhileOpen: Restore refuses while a store has the
// database open, and a store cannot open it while a restore holds it.
func TestRestoreRefusedWhileOpen(t *testing.T) {
	ctx := context.Background()
	dsn, path := sqliteDSN(t)
	s := migrated(t, dsn)
	to := filepath.Join(t.TempDir(), "b.db")
	if _, err := Backup(ctx, dsn, to, false); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(ctx, dsn, to, RestoreOptions{}); !errors.Is(err, ErrInUse) {
		t.Fatalf("restore while a store has the database open: %v; want ErrInUse", err)
	}
	if kept, _ := filepath.Glob(path + ".before-restore-*"); len(kept) > 0 {
		t.Fatalf("a refused restore moved the database: %v", kept)
	}
	s.Close()
	if _, err := Restore(ctx, dsn, to, RestoreOptions{}); err != nil {
		t.Fatalf("restore once the store is closed: %v", err)
	}

	lock, err := lockDatabase(path, true) // as a restore in progress does
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, dsn); err == nil || !strings.Contains(err.Error(), "is being restored") {
		t.Fatalf("open during a restore: %v", err)
	}
	if _, err := Backup(ctx, dsn, filepath.Join(t.TempDir(), "b2.db"), false); err == nil || !strings.Contains(err.Error(), "is being restored") {
		t.Fatalf("backup during a restore: %v", err)
	}
	lock.Close()
	openDSN(t, dsn)
}

// TestRestoreLockDiesWithProcess: a process that has the database open
// holds Restore off until it ends, and ending by SIGKILL leaves no stale
// lock behind.
func TestRestoreLockDiesWithProcess(t *testing.T) {
	if os.Getenv("SQLSTORE_HOLD") != "" {
		return // the helper of this test is TestHelperHoldDatabase
	}
	ctx := context.Background()
	dsn, _ := sqliteDSN(t)
	migrated(t, dsn).Close()
	to := filepath.Join(t.TempDir(), "b.db")
	if _, err := Backup(ctx, dsn, to, false); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldDatabase$")
	cmd.Env = append(os.Environ(), "SQLSTORE_HOLD="+dsn)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	for sc.Scan() && sc.Text() != "open" {
	}
	if _, err := Restore(ctx, dsn, to, RestoreOptions{}); !errors.Is(err, ErrInUse) {
		t.Fatalf("restore while another process has the database open: %v; want ErrInUse", err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if _, err := Restore(ctx, dsn, to, RestoreOptions{}); err != nil {
		t.Fatalf("restore after the process was killed: %v", err)
	}
}

// TestHelperHoldDatabase is TestRestoreLockDiesWithProcess's other
// process: it opens the database, says so, and waits to be killed.
func TestHelperHoldDatabase(t *testing.T) {
	dsn := os.Getenv("SQLSTORE_HOLD")
	if dsn == "" {
		t.Skip("the helper process of TestRestoreLockDiesWithProcess")
	}
	if _, err := Open(context.Background(), dsn); err != nil {
		t.Fatal(err)
	}
	fmt.Println("open")
	select {}
}

// TestRestoreMigratesForward restores a backup of the first schema and
// migrates it to this tether's, keeping its data.
func TestRestoreMigratesForward(t *testing.T) {
	ctx := context.Background()
	dsn, path := sqliteDSN(t)
	s := openDSN(t, dsn)
	all := s.migrations
	s.migrations = all[:1]
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Version 1's tables: an account and a refresh token, whose chain
	// version 2 turns into a session.
	execSQL(t, path, `INSERT INTO users (id, email, email_key, email_verified, nickname, avatar, password_hash, status, permissions, language, created_at)
			VALUES ('u1', 'a@x.io', 'a@x.io', 1, 'a', '', '', 'active', '[]', '', '2030-01-01T00:00:00.000000Z');
		INSERT INTO refresh_tokens (hash, chain_id, user_id, created_at, expires_at, used_at, revoked_at)
			VALUES ('h1', 'c1', 'u1', '2030-01-01T00:00:00.000000Z', '2999-01-01T00:00:00.000000Z', NULL, NULL)`)
	to := filepath.Join(t.TempDir(), "old.db")
	info, err := Backup(ctx, dsn, to, false)
	if err != nil || info.Version != 1 || info.Users != 1 {
		t.Fatalf("backup of a version 1 database: %+v, %v", info, err)
	}
	dsn2, _ := sqliteDSN(t)
	res, err := Restore(ctx, dsn2, to, RestoreOptions{})
	if err != nil || res.Backup.Version != 1 || res.Version != len(all) {
		t.Fatalf("restore: %+v, %v; want version 1 migrated to %d", res, err, len(all))
	}
	r := openDSN(t, dsn2)
	if _, err := r.GetUser(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	if ses, err := r.GetSession(ctx, "c1"); err != nil || ses.UserID != "u1" {
		t.Fatalf("the chain's session after the migration: %+v, %v", ses, err)
	}
}

// TestVerifyBackupRefuses: files that are not a good tether database are
// refused, by VerifyBackup and so by Restore, which then changes nothing.
func TestVerifyBackupRefuses(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	{
		dsn, _ := sqliteDSN(t)
		s := migrated(t, dsn)
		err := s.Update(ctx, func(q core.Queries) error {
			for i := range 500 {
				if err := writeAccount(ctx, q, i); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Backup(ctx, dsn, good, false); err != nil {
			t.Fatal(err)
		}
	}
	latest := len(mustMigrations(t))
	// variant copies good and changes the copy with SQL (or, with sql
	// empty, with damage).
	variant := func(name, sql string, damage func([]byte)) string {
		b, err := os.ReadFile(good)
		if err != nil {
			t.Fatal(err)
		}
		if damage != nil {
			damage(b)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if sql != "" {
			execSQL(t, p, sql)
		}
		return p
	}
	other := filepath.Join(dir, "other.db")
	execSQL(t, other, `CREATE TABLE notes (body TEXT)`)
	text := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(text, []byte(strings.Repeat("not a database\n", 400)), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		name, path, want string
	}{
		{"text file", text, "is damaged, or not an SQLite database: file is not a database"},
		{"empty file", filepath.Join(dir, "empty.db"), "not a tether database"},
		{"another program's database", other, "not a tether database (it has no schema_migrations table)"},
		{"another program's migrations", variant("renamed.db", `UPDATE schema_migrations SET name = '0001_create_posts.sql' WHERE version = 1`, nil),
			`its migration 1 is "0001_create_posts.sql"`},
		{"newer schema", variant("newer.db", fmt.Sprintf(`INSERT INTO schema_migrations VALUES (%d, '%04d_future.sql', '2030-01-01T00:00:00.000000Z')`, latest+1, latest+1), nil),
			fmt.Sprintf("its schema is version %d, newer than this tether knows (%d)", latest+1, latest)},
		{"half a transaction", variant("orphans.db", `PRAGMA foreign_keys = OFF; DELETE FROM users WHERE id = 'u7'`, nil), "is inconsistent: "},
		{"damaged pages", variant("noise.db", "", func(b []byte) {
			// Overwrite pages in the middle of the file (B-tree pages
			// of the tables and indexes) with noise.
			for i := len(b) / 3; i < len(b)/3+8192; i++ {
				b[i] = byte(i * 7)
			}
		}), "noise.db is damaged"},
		{"missing", filepath.Join(dir, "missing.db"), "no such file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "empty file" {
				if err := os.WriteFile(tt.path, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := VerifyBackup(ctx, tt.path)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("VerifyBackup: %v; want %q", err, tt.want)
			}
			if tt.name == "newer schema" {
				var newer *NewerSchemaError
				if !errors.As(err, &newer) || newer.Version != latest+1 {
					t.Errorf("error %T, want *NewerSchemaError", err)
				}
			}
			dsn, path := sqliteDSN(t)
			s := migrated(t, dsn)
			if err := addAccount(ctx, s, 1); err != nil {
				t.Fatal(err)
			}
			s.Close()
			if _, err := Restore(ctx, dsn, tt.path, RestoreOptions{}); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Restore: %v; want %q", err, tt.want)
			}
			if files, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*")); len(files) != 2 { // the database and its lock file
				t.Errorf("files after a refused restore: %v", files)
			}
			if n := count(t, path, "users"); n != 1 {
				t.Errorf("the database has %d accounts after a refused restore, want its 1", n)
			}
		})
	}
}

func mustMigrations(t *testing.T) []migration {
	t.Helper()
	ms, err := loadMigrations(sqliteDialect())
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// execSQL runs statements on the SQLite file at path, creating it.
func execSQL(t *testing.T, path, statements string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	oneConnection(db)
	if _, err := db.Exec(statements); err != nil {
		t.Fatalf("%s: %v", statements, err)
	}
}
