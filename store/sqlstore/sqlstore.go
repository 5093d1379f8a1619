// Package sqlstore is tether's core.Store on SQL databases: SQLite, built
// in (the pure Go driver modernc.org/sqlite), for one instance; and
// PostgreSQL (github.com/jackc/pgx/v5) for several instances sharing one
// database.
//
// Each query is written once, in the file of its table (users.go,
// identities.go, flows.go, sessions.go, events.go), and each database is
// a dialect (dialect.go): placeholders, type codecs, error classes,
// locks, and how a write transaction runs. SQLite's dialect funnels every
// write through one goroutine that batches concurrent transactions into
// one commit (group commit); PostgreSQL's takes advisory locks where
// instances must take turns and retries a transaction the server aborted
// to break a deadlock.
//
// Every rule that concerns more than one row is settled by the database,
// so instances need not talk to each other: unique indexes for emails and
// identities, DELETE … RETURNING to consume a flow, UPDATE … WHERE
// used_at IS NULL to rotate a refresh token, a row lock on the user around
// UpdateUser and UnlinkIdentity.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tether-id/tether/core"
)

// Store is a core.Store on one database.
type Store struct {
	d    *dialect
	db   *sql.DB         // the writer (SQLite) or the pool (PostgreSQL)
	read *queries        // reads outside a transaction: SQLite's read pool
	gc   *groupCommitter // SQLite's writer; nil on PostgreSQL
	// pools are the connection pools by name, for Stats.
	pools map[string]*sql.DB

	writes atomic.Int64 // write transactions asked for
	close  func() error
	ping   func(context.Context) error

	migrations []migration
}

var _ core.Store = (*Store)(nil)

// Open opens the database that dsn names, without migrating it (see
// Migrate):
//
//	sqlite:///var/lib/tether/tether.db   SQLite, absolute path
//	sqlite://data/tether.db              SQLite, path relative to the working directory
//	sqlite::memory:                      a private in-memory SQLite database (Memory)
//	postgres://user:pass@host:5432/db    PostgreSQL (also postgresql://); pgxpool
//	                                     parameters such as pool_max_conns apply, and
//	                                     ?search_path=name keeps the tables in that schema
func Open(ctx context.Context, dsn string) (*Store, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		return openSQLite(ctx, dsn)
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return openPostgres(ctx, dsn)
	}
	return nil, fmt.Errorf("database: unsupported DSN %q (want sqlite:// or postgres://)", redact(dsn))
}

func newStore(d *dialect, db *sql.DB, read querier, ping func(context.Context) error, close func() error) (*Store, error) {
	ms, err := loadMigrations(d)
	if err != nil {
		return nil, err
	}
	return &Store{d: d, db: db, read: &queries{d: d, db: read}, ping: ping, close: close, migrations: ms}, nil
}

// WriteTransactions returns how many write transactions this store was
// asked for: every Update, and every write called on the Store itself.
// Tests use it to hold a request to its one write.
func (s *Store) WriteTransactions() int64 { return s.writes.Load() }

// Stats returns the use of each connection pool, by name: "write" and
// "read" on SQLite (the writer's one connection and the read pool),
// "main" on PostgreSQL and on SQLite in memory (where reads share the
// writer). The metrics read it at each scrape.
func (s *Store) Stats() map[string]sql.DBStats {
	out := make(map[string]sql.DBStats, len(s.pools))
	for name, db := range s.pools {
		out[name] = db.Stats()
	}
	return out
}

// Dialect is the database's name: "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.d.name }

// Close closes the database.
func (s *Store) Close() error { return s.close() }

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.d.withTimeout(ctx)
	defer cancel()
	if err := s.ping(ctx); err != nil {
		return fmt.Errorf("%s: %w", s.d.name, err)
	}
	return nil
}

// Update runs fn in one write transaction (see core.Store).
func (s *Store) Update(ctx context.Context, fn func(core.Queries) error) error {
	return s.update(ctx, func(q *queries) error { return fn(q) })
}

func (s *Store) update(ctx context.Context, fn func(*queries) error) error {
	s.writes.Add(1)
	ctx, cancel := s.d.withTimeout(ctx)
	defer cancel()
	return s.d.update(ctx, fn)
}

// reading runs a read on the read pool with the operation timeout.
func reading[T any](s *Store, ctx context.Context, fn func(context.Context, *queries) (T, error)) (T, error) {
	ctx, cancel := s.d.withTimeout(ctx)
	defer cancel()
	return fn(ctx, s.read)
}

// writing runs one write as its own transaction and returns its result.
func writing[T any](s *Store, ctx context.Context, fn func(context.Context, *queries) (T, error)) (T, error) {
	var out T
	err := s.update(ctx, func(q *queries) error {
		var err error
		out, err = fn(ctx, q)
		return err
	})
	return out, err
}

// The Store's own Queries: reads on the read pool, each write in its own
// transaction.

func (s *Store) CreateUser(ctx context.Context, u core.User) error {
	return s.update(ctx, func(q *queries) error { return q.CreateUser(ctx, u) })
}

func (s *Store) CreateUserWithIdentity(ctx context.Context, u core.User, id core.Identity) error {
	return s.update(ctx, func(q *queries) error { return q.CreateUserWithIdentity(ctx, u, id) })
}

func (s *Store) GetUser(ctx context.Context, id string) (core.User, error) {
	return reading(s, ctx, func(ctx context.Context, q *queries) (core.User, error) { return q.GetUser(ctx, id) })
}

func (s *Store) GetUserByEmail(ctx context.Context, email string) (core.User, error) {
	return reading(s, ctx, func(ctx context.Context, q *queries) (core.User, error) { return q.GetUserByEmail(ctx, email) })
}

func (s *Store) ListUsers(ctx context.Context) ([]core.User, error) {
	return reading(s, ctx, func(ctx context.Context, q *queries) ([]core.User, error) { return q.ListUsers(ctx) })
}

func (s *Store) UpdateUser(ctx context.Context, id string, update func(*core.User) error) (core.User, error) {
	return writing(s, ctx, func(ctx context.Context, q *queries) (core.User, error) { return q.UpdateUser(ctx, id, update) })
}

func (s *Store) LinkIdentity(ctx context.Context, id core.Identity) error {
	return s.update(ctx, func(q *queries) error { return q.LinkIdentity(ctx, id) })
}

func (s *Store) GetIdentity(ctx context.Context, key core.IdentityKey) (core.Identity, error) {
	return reading(s, ctx, func(ctx context.Context, q *queries) (core.Identity, error) { return q.GetIdentity(ctx, key) })
}

func (s *Store) ListIdentities(ctx context.Context, userID string) ([]core.Identity, error) {
	return reading(s, ctx, func(ctx context.Context, q *queries) ([]core.Identity, error) { return q.ListIdentities(ctx, userID) })
}

func (s *Store) UpdateIdentity(ctx context.Context, id core.Identity) error {
	return s.update(ctx, func(q *queries) error { return q.UpdateIdentity(ctx, id) })
}

func (s *Store) TouchIdentity(ctx context.Context, key core.IdentityKey, userID string, at time.Time) error {
	return s.update(ctx, func(q *queries) error { return q.TouchIdentity(ctx, key, userID, at) })
}

func (s *Store) UnlinkIdentity(ctx context.Context, userID, providerID string, guard func(core.User, []core.Identity) error) (core.Identity, error) {
	return writing(s, ctx, func(ctx context.Context, q *queries) (core.Identity, error) {
		return q.UnlinkIdentity(ctx, userID, providerID, guard)
	})
}

func (s *Store) CreateFlow(ctx context.Context, f core.Flow) error {
	return s.update(ctx, func(q *queries) error { return q.CreateFlow(ctx, f) })
}

func (s *Store) GetFlow(ctx context.Context, id string, now time.Time) (core.Flow, error) {
	return reading(s, ctx, func(ctx context.Context, q *queries) (core.Flow, error) { return q.GetFlow(ctx, id, now) })
}

func (s *Store) ConsumeFlow(ctx context.Context, id string, now time.Time) (core.Flow, error) {
	return writing(s, ctx, func(ctx context.Context, q *queries) (core.Flow, error) { return q.ConsumeFlow(ctx, id, now) })
}

func (s *Store) PurgeFlows(ctx context.Context, now time.Time) (int, error) {
	return s.purge(ctx, purgeFlows, now)
}

func (s *Store) CreateSession(ctx context.Context, ses core.Session, first core.RefreshToken) error {
	return s.update(ctx, func(q *queries) error { return q.CreateSession(ctx, ses, first) })
}

func (s *Store) GetSession(ctx context.Context, id string) (core.Session, error) {
	return reading(s, ctx, func(ctx context.Context, q *queries) (core.Session, error) { return q.GetSession(ctx, id) })
}

func (s *Store) ListSessions(ctx context.Context, userID string, now time.Time) ([]core.Session, error) {
	return reading(s, ctx, func(ctx context.Context, q *queries) ([]core.Session, error) { return q.ListSessions(ctx, userID, now) })
}

func (s *Store) UpdateSession(ctx context.Context, ses core.Session) error {
	return s.update(ctx, func(q *queries) error { return q.UpdateSession(ctx, ses) })
}

func (s *Store) GetRefreshToken(ctx context.Context, hash string) (core.RefreshToken, error) {
	return reading(s, ctx, func(ctx context.Context, q *queries) (core.RefreshToken, error) { return q.GetRefreshToken(ctx, hash) })
}

// RotateRefreshToken commits the revocation of a replayed token's chain
// before it reports ErrTokenReused.
func (s *Store) RotateRefreshToken(ctx context.Context, hash string, now time.Time, next func(old core.RefreshToken) core.RefreshToken) (core.RefreshToken, error) {
	var out core.RefreshToken
	var reused error
	err := s.update(ctx, func(q *queries) error {
		var err error
		out, err = q.RotateRefreshToken(ctx, hash, now, next)
		if errors.Is(err, core.ErrTokenReused) {
			reused = err
			return nil
		}
		return err
	})
	if err == nil && reused != nil {
		err = reused
	}
	return out, err
}

func (s *Store) RevokeRefreshChain(ctx context.Context, hash string, now time.Time) (core.RefreshToken, error) {
	return writing(s, ctx, func(ctx context.Context, q *queries) (core.RefreshToken, error) {
		return q.RevokeRefreshChain(ctx, hash, now)
	})
}

func (s *Store) RevokeSession(ctx context.Context, userID, id string, now time.Time) error {
	return s.update(ctx, func(q *queries) error { return q.RevokeSession(ctx, userID, id, now) })
}

func (s *Store) RevokeUserRefreshTokens(ctx context.Context, userID string, now time.Time) error {
	return s.update(ctx, func(q *queries) error { return q.RevokeUserRefreshTokens(ctx, userID, now) })
}

func (s *Store) PurgeRefreshTokens(ctx context.Context, now time.Time) (int, error) {
	n, err := s.purge(ctx, purgeRefreshTokens, now)
	if err != nil {
		return n, err
	}
	_, err = s.purge(ctx, purgeSessions, now)
	return n, err
}

func (s *Store) ListSigningKeys(ctx context.Context, now time.Time) ([]core.SigningKey, error) {
	return reading(s, ctx, func(ctx context.Context, q *queries) ([]core.SigningKey, error) { return q.ListSigningKeys(ctx, now) })
}

func (s *Store) RotateSigningKey(ctx context.Context, next core.SigningKey, replaces string, keepUntil time.Time) error {
	return s.update(ctx, func(q *queries) error { return q.RotateSigningKey(ctx, next, replaces, keepUntil) })
}

func (s *Store) CreateAuthCode(ctx context.Context, c core.AuthCode) error {
	return s.update(ctx, func(q *queries) error { return q.CreateAuthCode(ctx, c) })
}

// UseAuthCode commits the revocation that a replayed code causes before
// it reports ErrCodeReused.
func (s *Store) UseAuthCode(ctx context.Context, hash string, now time.Time) (core.AuthCode, error) {
	var out core.AuthCode
	var reused error
	err := s.update(ctx, func(q *queries) error {
		var err error
		out, err = q.UseAuthCode(ctx, hash, now)
		if errors.Is(err, core.ErrCodeReused) {
			reused = err
			return nil
		}
		return err
	})
	if err == nil && reused != nil {
		err = reused
	}
	return out, err
}

func (s *Store) GetConsent(ctx context.Context, userID, clientID string) (core.Consent, error) {
	return reading(s, ctx, func(ctx context.Context, q *queries) (core.Consent, error) {
		return q.GetConsent(ctx, userID, clientID)
	})
}

func (s *Store) SaveConsent(ctx context.Context, c core.Consent) error {
	return s.update(ctx, func(q *queries) error { return q.SaveConsent(ctx, c) })
}

func (s *Store) ListConsents(ctx context.Context, userID string) ([]core.Consent, error) {
	return reading(s, ctx, func(ctx context.Context, q *queries) ([]core.Consent, error) { return q.ListConsents(ctx, userID) })
}

func (s *Store) DeleteConsent(ctx context.Context, userID, clientID string) error {
	return s.update(ctx, func(q *queries) error { return q.DeleteConsent(ctx, userID, clientID) })
}

func (s *Store) RevokeClientSessions(ctx context.Context, userID, clientID string, now time.Time) error {
	return s.update(ctx, func(q *queries) error { return q.RevokeClientSessions(ctx, userID, clientID, now) })
}

func (s *Store) RevokeAccessToken(ctx context.Context, id string, expires time.Time) error {
	return s.update(ctx, func(q *queries) error { return q.RevokeAccessToken(ctx, id, expires) })
}

func (s *Store) CheckAccessToken(ctx context.Context, session, id string, now time.Time) error {
	_, err := reading(s, ctx, func(ctx context.Context, q *queries) (struct{}, error) {
		return struct{}{}, q.CheckAccessToken(ctx, session, id, now)
	})
	return err
}

func (s *Store) PurgeGrants(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for _, del := range []query{purgeCodes, purgeRevokedTokens, purgeSigningKeys} {
		n, err := s.purge(ctx, del, now)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func (s *Store) GetAvatar(ctx context.Context, userID string) (core.Avatar, error) {
	return reading(s, ctx, func(ctx context.Context, q *queries) (core.Avatar, error) { return q.GetAvatar(ctx, userID) })
}

func (s *Store) SaveAvatar(ctx context.Context, a core.Avatar) error {
	return s.update(ctx, func(q *queries) error { return q.SaveAvatar(ctx, a) })
}

func (s *Store) RecordEvent(ctx context.Context, e core.Event) error {
	return s.update(ctx, func(q *queries) error { return q.RecordEvent(ctx, e) })
}

func (s *Store) ListEvents(ctx context.Context, eq core.EventQuery) ([]core.Event, error) {
	return reading(s, ctx, func(ctx context.Context, q *queries) ([]core.Event, error) { return q.ListEvents(ctx, eq) })
}

func (s *Store) AuditEvents(ctx context.Context, aq core.AuditQuery) ([]core.Event, error) {
	return reading(s, ctx, func(ctx context.Context, q *queries) ([]core.Event, error) { return q.AuditEvents(ctx, aq) })
}

func (s *Store) FollowEvents(ctx context.Context, aq core.AuditQuery, after core.EventCursor) ([]core.Event, core.EventCursor, error) {
	ctx, cancel := s.d.withTimeout(ctx)
	defer cancel()
	return s.read.FollowEvents(ctx, aq, after)
}

func (s *Store) EventsEnd(ctx context.Context) (core.EventCursor, error) {
	return reading(s, ctx, func(ctx context.Context, q *queries) (core.EventCursor, error) { return q.EventsEnd(ctx) })
}

func (s *Store) PurgeEvents(ctx context.Context, before time.Time) (int, error) {
	return s.purge(ctx, purgeEvents, before)
}

// purgeBatch is how many rows one purge transaction deletes, so a large
// purge holds the write lock briefly and lets requests through between
// batches.
var purgeBatch = 1000

// purge deletes with del in batches of purgeBatch rows, each batch its
// own transaction, until a batch comes back short. Each batch first
// tries the purge lock without waiting: when another instance holds it,
// that instance is purging and this one stops, so instances neither wait
// for each other nor scan the same rows.
func (s *Store) purge(ctx context.Context, del query, now time.Time) (int, error) {
	total := 0
	for {
		var n int64
		locked := false
		err := s.update(ctx, func(q *queries) error {
			var err error
			if locked, err = s.d.lock(ctx, q.db, lockPurge, del[postgresID], false); err != nil || !locked {
				return err
			}
			n, err = q.purgeBatch(ctx, del, now, purgeBatch)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("%s: purge: %w", s.d.name, err)
		}
		total += int(n)
		if !locked || n < int64(purgeBatch) {
			return total, nil
		}
	}
}

// purgeBatch runs one batch of a purge: del has the time as $1 and the
// batch size as $2.
func (q *queries) purgeBatch(ctx context.Context, del query, now time.Time, limit int) (int64, error) {
	return affected(q.exec(ctx, del, q.d.timeArg(now), limit))
}

// purgeAll deletes every row del selects, in batches, inside q's
// transaction.
func (q *queries) purgeAll(ctx context.Context, del query, now time.Time) (int, error) {
	total := 0
	for {
		n, err := q.purgeBatch(ctx, del, now, purgeBatch)
		if err != nil {
			return total, fmt.Errorf("%s: purge: %w", q.d.name, err)
		}
		total += int(n)
		if n < int64(purgeBatch) {
			return total, nil
		}
	}
}

// errorf wraps err with the dialect and what failed, leaving core errors
// and nil alone.
func (q *queries) errorf(err error, what string) error {
	if err == nil {
		return nil
	}
	var ce *core.Error
	if errors.As(err, &ce) {
		return err
	}
	return fmt.Errorf("%s: %s: %w", q.d.name, what, err)
}

// notFound turns sql.ErrNoRows into sentinel and wraps other errors.
func (q *queries) notFound(err error, sentinel error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return sentinel
	}
	return q.errorf(err, what)
}

// redact hides a password in a database URL.
func redact(dsn string) string {
	if i := strings.Index(dsn, "://"); i >= 0 {
		if j := strings.LastIndex(dsn, "@"); j > i {
			if k := strings.Index(dsn[i+3:j], ":"); k >= 0 {
				return dsn[:i+3+k+1] + "xxxxx" + dsn[j:]
			}
		}
	}
	return dsn
}

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
