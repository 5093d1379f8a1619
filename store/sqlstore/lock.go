package sqlstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Every tether process that opens a SQLite database (serve, dev, and
// each admin command while it runs) holds a shared advisory lock on the
// file <db>.lock beside it, from Open until Close; tether restore takes
// the same lock exclusively, without waiting, and so refuses to swap the
// database under a process that has it open, and a process cannot open
// it while a restore runs.
//
// The lock is an flock(2) lock (LockFileEx on Windows) on a file of its
// own, not on the database: the kernel drops it when the process ends,
// however it ends, so a crashed server leaves no stale lock behind, as a
// pid file would; and SQLite's own POSIX locks on the database file are
// not disturbed (closing any descriptor of the database file would drop
// those).

// errLocked is lockFile's answer when another holder's lock conflicts.
var errLocked = errors.New("locked")

// ErrInUse is Restore's error when a tether process has the database
// open.
var ErrInUse = errors.New("the database is in use")

// lockPath is the lock file of the SQLite database at path.
func lockPath(path string) string { return path + ".lock" }

// lockDatabase takes the lock of the database at path, shared or
// exclusive, without waiting; closing the file releases it.
func lockDatabase(path string, exclusive bool) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	f, err := os.OpenFile(lockPath(path), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: lock: %w", err)
	}
	if err := lockFile(f, exclusive); err != nil {
		f.Close()
		if errors.Is(err, errLocked) {
			return nil, errLocked
		}
		return nil, fmt.Errorf("sqlite: lock %s: %w", lockPath(path), err)
	}
	return f, nil
}
