package bench

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite"

	"github.com/tether-id/tether/store/sqlstore"
)

// Seed describes accounts to put straight into a database, each a
// passwordless user with one identity of the bench OP, as a first
// sign-in through tether would have left them (see SeedDatabase).
type Seed struct {
	// N accounts, numbered 0 to N-1: subject SeedSubject(i).
	N int
	// Issuer and ClientID are the OP's (its ID tokens' iss and aud).
	Issuer, ClientID string
	// ProviderID is the OP's id in tether's configuration.
	ProviderID string
	// Batch is how many accounts one transaction inserts (default
	// 100 000).
	Batch int
}

// SeedSubject is the upstream subject of seeded account i.
func SeedSubject(i int) string { return fmt.Sprintf("seed-%07d", i) }

// SeedDatabase migrates the database dsn names (as tether would) and
// inserts s.N users and s.N identities with SQL that generates the rows
// inside the database (a recursive CTE on SQLite, generate_series on
// PostgreSQL), s.Batch accounts per transaction: a million accounts take
// seconds, not the hours that sign-ins through HTTP would. Each identity
// holds the claims a sign-in through the OP stores (StoredClaims), so a
// seeded person who signs in is a returning one whose profile did not
// change. The database must not hold seeded rows yet.
func SeedDatabase(ctx context.Context, dsn string, s Seed) error {
	if s.Batch <= 0 {
		s.Batch = 100_000
	}
	st, err := sqlstore.Open(ctx, dsn)
	if err != nil {
		return err
	}
	err = st.Migrate(ctx)
	dialect := st.Dialect()
	st.Close()
	if err != nil {
		return err
	}
	var db *sql.DB
	var users, identities string
	switch dialect {
	case "sqlite":
		path, err := sqlstore.ParseSQLiteDSN(dsn)
		if err != nil || path == "" {
			return fmt.Errorf("seed: %s: want a SQLite file", dsn)
		}
		// synchronous(OFF): a seed that a crash interrupts is redone.
		db, err = sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(OFF)&_txlock=immediate")
		if err != nil {
			return err
		}
		users, identities = sqliteSeedUsers, sqliteSeedIdentities
	case "postgres":
		if db, err = sql.Open("pgx", dsn); err != nil {
			return err
		}
		users, identities = pgSeedUsers, pgSeedIdentities
	default:
		return fmt.Errorf("seed: unknown dialect %q", dialect)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)

	now := time.Now().UTC().Add(-24 * time.Hour)
	at := any(now)
	if dialect == "sqlite" {
		at = now.Format("2006-01-02T15:04:05.000000Z") // the store's time format
	}
	for lo := 0; lo < s.N; lo += s.Batch {
		hi := min(lo+s.Batch, s.N)
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("seed: %w", err)
		}
		if _, err := tx.ExecContext(ctx, users, lo, hi, at); err != nil {
			tx.Rollback()
			return fmt.Errorf("seed users %d-%d: %w", lo, hi, err)
		}
		if _, err := tx.ExecContext(ctx, identities, lo, hi, at, s.ProviderID, s.Issuer, s.ClientID); err != nil {
			tx.Rollback()
			return fmt.Errorf("seed identities %d-%d: %w", lo, hi, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("seed: commit: %w", err)
		}
	}
	switch dialect {
	case "sqlite":
		_, err = db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	case "postgres":
		// What autovacuum would soon do after such an insert; without it
		// the planner works from an empty table's statistics.
		_, err = db.ExecContext(ctx, "ANALYZE users, identities")
	}
	return err
}

// The seeding statements: $1 and $2 the range of account numbers [lo,
// hi), $3 the creation time; for identities $4 the provider id, $5 the
// issuer, $6 the client id. Users' ids have the form of a UUID; emails
// are verified, as the OP says (Profile).
var (
	sqliteSeedUsers = seedSQL(`WITH RECURSIVE seq(n) AS (SELECT ?1 UNION ALL SELECT n + 1 FROM seq WHERE n + 1 < ?2)
		INSERT INTO users (id, email, email_key, email_verified, nickname, avatar, password_hash, status, permissions, language, created_at)
		SELECT {{id}}, {{email}}, {{email}}, 1, {{name}}, '', '', 'active', '["oauth"]', '', ?3 FROM seq`, "sqlite")
	sqliteSeedIdentities = seedSQL(`WITH RECURSIVE seq(n) AS (SELECT ?1 UNION ALL SELECT n + 1 FROM seq WHERE n + 1 < ?2)
		INSERT INTO identities (provider_id, issuer, subject, user_id, email, email_verified, name, avatar, claims, linked_at, last_sign_in_at)
		SELECT ?4, ?5, {{sub}}, {{id}}, {{email}}, 1, {{name}}, '',
			json_object('aud', ?6, 'email', {{email}}, 'email_verified', json('true'), 'iss', ?5, 'name', {{name}}, 'sub', {{sub}}),
			?3, ?3 FROM seq`, "sqlite")
	pgSeedUsers = seedSQL(`INSERT INTO users (id, email, email_key, email_verified, nickname, avatar, password_hash, status, permissions, language, created_at)
		SELECT {{id}}, {{email}}, {{email}}, true, {{name}}, '', '', 'active', ARRAY['oauth'], '', $3
		FROM generate_series($1::bigint, $2::bigint - 1) AS n`, "postgres")
	pgSeedIdentities = seedSQL(`INSERT INTO identities (provider_id, issuer, subject, user_id, email, email_verified, name, avatar, claims, linked_at, last_sign_in_at)
		SELECT $4, $5, {{sub}}, {{id}}, {{email}}, true, {{name}}, '',
			jsonb_build_object('aud', $6::text, 'email', {{email}}, 'email_verified', true, 'iss', $5::text, 'name', {{name}}, 'sub', {{sub}}),
			$3, $3
		FROM generate_series($1::bigint, $2::bigint - 1) AS n`, "postgres")
)

// seedSQL expands the macros for the number n of the account: {{sub}}
// is SeedSubject(n), {{id}} its user id, {{email}} and {{name}} its
// Profile.
func seedSQL(text, dialect string) string {
	sub, id := `printf('seed-%07d', n)`, `printf('00000000-0000-4000-8000-%012d', n)`
	if dialect == "postgres" {
		sub, id = `'seed-' || lpad(n::text, 7, '0')`, `'00000000-0000-4000-8000-' || lpad(n::text, 12, '0')`
	}
	return strings.NewReplacer(
		"{{sub}}", sub, "{{id}}", id,
		"{{email}}", "("+sub+" || '@bench.test')",
		"{{name}}", "('Bench ' || "+sub+")",
	).Replace(text)
}
