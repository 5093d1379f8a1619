package main

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/tether-id/tether/store/sqlstore"
)

// backup writes an online copy of a SQLite database (sqlstore.Backup):
// tether may go on serving from it meanwhile.
func (e *env) backup(args []string) error {
	fset := e.flags("backup")
	var c configFlags
	c.add(fset)
	var to string
	var force bool
	fset.StringVar(&to, "to", "", "the backup `FILE` to write (an SQLite database)")
	fset.BoolVar(&force, "force", false, "replace the file --to names if it exists")
	if err := fset.Parse(args); err != nil {
		return err
	}
	if to == "" || fset.NArg() > 0 {
		fmt.Fprintln(e.stderr, "usage: tether backup (--config FILE | --dev) --to BACKUP [--force]")
		return errUsage
	}
	cfg, err := e.loadConfig(c)
	if err != nil {
		return err
	}
	info, err := sqlstore.Backup(e.ctx, cfg.Database, to, force)
	switch {
	case errors.Is(err, sqlstore.ErrNotSQLite):
		return notSQLite("backup", cfg.Database)
	case errors.Is(err, fs.ErrExist):
		return fmt.Errorf("backup: %s exists; name another file, or add --force to replace it", to)
	case err != nil:
		return err
	}
	fmt.Fprintf(e.stdout, "backed up %s to %s: %s\n", cfg.Database, info.Path, backupSummary(info))
	fmt.Fprintln(e.stdout, "keep encryption_key and secret_key with it: without the encryption key, the sealed upstream tokens and the OpenID Provider's signing keys in it cannot be read")
	return nil
}

// restore replaces a SQLite database with a backup (sqlstore.Restore),
// with every tether on it stopped.
func (e *env) restore(args []string) error {
	fset := e.flags("restore")
	var c configFlags
	c.add(fset)
	var from string
	keep := true
	fset.StringVar(&from, "from", "", "the backup `FILE` to restore (written by tether backup)")
	fset.BoolVar(&keep, "keep", true, "keep the replaced database as <db>.before-restore-<time>; --keep=false deletes it")
	if err := fset.Parse(args); err != nil {
		return err
	}
	if from == "" || fset.NArg() > 0 {
		fmt.Fprintln(e.stderr, "usage: tether restore (--config FILE | --dev) --from BACKUP [--keep=false]")
		return errUsage
	}
	cfg, err := e.loadConfig(c)
	if err != nil {
		return err
	}
	res, err := sqlstore.Restore(e.ctx, cfg.Database, from, sqlstore.RestoreOptions{Discard: !keep})
	if errors.Is(err, sqlstore.ErrNotSQLite) {
		return notSQLite("restore", cfg.Database)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "restored %s into %s: %s\n", from, res.Path, backupSummary(res.Backup))
	if res.Version != res.Backup.Version {
		fmt.Fprintf(e.stdout, "migrated from schema version %d to %d\n", res.Backup.Version, res.Version)
	}
	if res.Kept != "" {
		fmt.Fprintf(e.stdout, "the database it replaced is kept as %s; delete it once the restored one serves\n", res.Kept)
	}
	return nil
}

func backupSummary(info sqlstore.BackupInfo) string {
	return fmt.Sprintf("schema version %d, %d accounts, %d identities, %d sessions, %d bytes; integrity checked",
		info.Version, info.Users, info.Identities, info.Sessions, info.Size)
}

// notSQLite is the error of backup and restore on PostgreSQL, whose own
// tools do this.
func notSQLite(cmd, database string) error {
	if strings.HasPrefix(database, "postgres") {
		return fmt.Errorf("%s: the database is PostgreSQL: use its own tools, pg_dump to back it up and pg_restore to restore it "+
			"(tether %s copies SQLite files only); docs/operations.md#backup-and-restore has the commands, and what to keep with every backup",
			cmd, cmd)
	}
	return fmt.Errorf("%s: the database is not an SQLite file; see docs/operations.md#backup-and-restore", cmd)
}
