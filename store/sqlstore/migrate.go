package sqlstore

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The schema of each dialect, one file per version. DDL is where the
// databases differ most (types, STRICT tables, identity columns), so each
// dialect has its own files; the loop that applies them is below, once.
//
//go:embed migrations
var migrationFiles embed.FS

// migration is one schema change, applied once and recorded in
// schema_migrations.
type migration struct {
	version int
	name    string // file name, for messages
	sql     string
}

func loadMigrations(d *dialect) ([]migration, error) {
	sub, err := fs.Sub(migrationFiles, "migrations/"+d.name)
	if err != nil {
		return nil, err
	}
	return readMigrations(sub)
}

// readMigrations returns the migrations in the root of fsys, sorted by
// version. Files are named NNNN_description.sql; versions start at 1 and
// have no gaps, so a missing file cannot be silently skipped.
func readMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, name := range names {
		prefix, _, ok := strings.Cut(path.Base(name), "_")
		v, err := strconv.Atoi(prefix)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive version number and an underscore", name)
		}
		text, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: name, sql: string(text)})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: expected version %d (versions start at 1, without gaps or duplicates)", m.name, i+1)
		}
	}
	return out, nil
}

// LatestVersion is the schema version Migrate brings the database to.
func (s *Store) LatestVersion() int { return len(s.migrations) }

// Migrate applies the migrations the database lacks, all in one
// transaction under the migration lock: when several instances start at
// once, one migrates and the others wait, then find nothing to do.
// Running it again does nothing. It fails, changing nothing, when the
// database was migrated by a newer tether.
func (s *Store) Migrate(ctx context.Context) error {
	err := s.d.update(ctx, func(q *queries) error {
		if _, err := s.d.lock(ctx, q.db, lockMigrate, "", true); err != nil {
			return err
		}
		if _, err := q.db.ExecContext(ctx, s.d.migrationsTable); err != nil {
			return err
		}
		current, err := q.version(ctx)
		if err != nil {
			return err
		}
		if latest := s.LatestVersion(); current > latest {
			return fmt.Errorf("database schema is version %d, newer than this tether knows (%d); upgrade tether", current, latest)
		}
		for _, m := range s.migrations[current:] {
			if _, err := q.db.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			if _, err := q.exec(ctx, insertMigration, m.version, m.name, s.d.timeArg(time.Now())); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: migrate: %w", s.d.name, err)
	}
	return nil
}

var (
	insertMigration = sqlText(`INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`)
	selectVersion   = sqlText(`SELECT COALESCE(MAX(version), 0) FROM schema_migrations`)
)

// Version returns the schema version of the database: 0 before the first
// Migrate.
func (s *Store) Version(ctx context.Context) (int, error) {
	v, err := reading(s, ctx, func(ctx context.Context, q *queries) (int, error) { return q.version(ctx) })
	if err != nil {
		return 0, fmt.Errorf("%s: version: %w", s.d.name, err)
	}
	return v, nil
}

func (q *queries) version(ctx context.Context) (int, error) {
	exists, err := q.d.tableExists(ctx, q.db, "schema_migrations")
	if err != nil || !exists {
		return 0, err
	}
	var v int
	err = q.queryRow(ctx, selectVersion).Scan(&v)
	return v, err
}
