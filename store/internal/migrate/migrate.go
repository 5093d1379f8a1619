// Package migrate reads the versioned SQL migrations a store embeds. Each
// store applies them itself, in its own transaction and locking style; this
// package only fixes the file naming rule so both stores follow it.
package migrate

import (
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Migration is one schema change, applied once and recorded by Version.
type Migration struct {
	Version int
	Name    string // file name, for messages
	SQL     string
}

// Load returns the migrations in the root of fsys, sorted by version. Files
// are named NNNN_description.sql; versions start at 1 and have no gaps, so a
// missing file cannot be silently skipped.
func Load(fsys fs.FS) ([]Migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, name := range names {
		prefix, _, ok := strings.Cut(path.Base(name), "_")
		v, err := strconv.Atoi(prefix)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive version number and an underscore", name)
		}
		sql, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: name, SQL: string(sql)})
	}
	slices.SortFunc(out, func(a, b Migration) int { return a.Version - b.Version })
	for i, m := range out {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migration %s: expected version %d (versions start at 1, without gaps or duplicates)", m.Name, i+1)
		}
	}
	return out, nil
}

// Latest returns the highest version in ms, 0 when there is none.
func Latest(ms []Migration) int {
	if len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].Version
}
