package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// A dialect is what differs between the databases, as named values and
// hooks; every query and every rule is written once, in the files named
// after the tables. sqlite.go and postgres.go each define one dialect and
// how to open a connection.
type dialect struct {
	name string
	id   dialectID

	// timeArg encodes a time for a query; the zero time is NULL.
	timeArg func(time.Time) any
	// stringsArg encodes a list of strings for a text[] (PostgreSQL) or
	// JSON text (SQLite) column; stringsScanner decodes one.
	stringsArg     func([]string) (any, error)
	stringsScanner func(dst *[]string) sql.Scanner

	// isUnique reports whether err violates the unique index named
	// <table>_<column>; isForeignKey whether it violates a foreign key.
	isUnique     func(err error, table, column string) bool
	isForeignKey func(err error) bool

	// update runs fn in one write transaction: SQLite's single writer
	// batches concurrent calls into one commit, PostgreSQL retries a
	// transaction the server aborted to break a deadlock.
	update func(ctx context.Context, fn func(*queries) error) error

	// lock takes a transaction-scoped lock of class on key, shared by
	// every instance on the database (PostgreSQL's advisory locks). With
	// wait false it gives up at once and reports false. SQLite needs no
	// locks: its writer is alone, so lock always succeeds.
	lock func(ctx context.Context, q querier, class lockClass, key string, wait bool) (bool, error)

	// migrationsTable creates the table that records applied migrations.
	migrationsTable string
	// tableExists reports whether a table exists in the store's schema.
	tableExists func(ctx context.Context, q querier, name string) (bool, error)

	// opTimeout bounds each call whose context has no deadline, so that a
	// stuck database fails requests instead of piling them up; 0 is none.
	opTimeout time.Duration
}

type dialectID int

const (
	postgresID dialectID = iota
	sqliteID
	dialects
)

// lockClass names what a lock protects.
type lockClass int32

const (
	// lockMigrate: one instance migrates at a time.
	lockMigrate lockClass = 0x7e7e0001 + iota
	// lockPurge: one instance purges at a time; the others skip it.
	lockPurge
	// lockUserTokens: the rotations and revocations of one user's refresh
	// tokens run one after the other, on any instance, so a replay's
	// revocation cannot miss a token a racing rotation adds, and
	// revocations cannot deadlock on each other's row locks.
	lockUserTokens
)

// A query is one SQL statement, written once in PostgreSQL's form ($1
// placeholders) with a few macros, and rendered for every dialect when
// the package loads:
//
//	{{rowid}}        insertion order for ties: seq (PostgreSQL), rowid (SQLite)
//	{{for_update}}   lock the selected row for the transaction: FOR NO KEY UPDATE,
//	                 nothing on SQLite, whose writer holds the database
//	{{skip_locked}}  FOR UPDATE SKIP LOCKED in a purge's subquery, nothing on SQLite
type query [dialects]string

var placeholder = regexp.MustCompile(`\$(\d+)`)

// sqlText renders text for every dialect.
func sqlText(text string) query {
	var q query
	q[postgresID] = strings.NewReplacer(
		"{{rowid}}", "seq",
		"{{for_update}}", "FOR NO KEY UPDATE",
		"{{skip_locked}}", "FOR UPDATE SKIP LOCKED",
	).Replace(text)
	lite := strings.NewReplacer(
		"{{rowid}}", "rowid",
		"{{for_update}}", "",
		"{{skip_locked}}", "",
	).Replace(text)
	q[sqliteID] = placeholder.ReplaceAllString(lite, "?$1") // SQLite's ?NNN
	for _, s := range q {
		if strings.Contains(s, "{{") {
			panic("sqlstore: unknown macro in " + text)
		}
	}
	return q
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// queries runs the domain's statements on one querier: the read pool, or
// a write transaction. Its methods implement core.Queries.
type queries struct {
	d  *dialect
	db querier
	tx bool // inside a write transaction
}

// exec, queryRow and query run one of the store's statements, prepared
// once when the querier can (see stmtcache.go).
func (q *queries) exec(ctx context.Context, sq query, args ...any) (sql.Result, error) {
	if p, ok := q.db.(preparer); ok {
		return p.execPrepared(ctx, sq[q.d.id], args...)
	}
	return q.db.ExecContext(ctx, sq[q.d.id], args...)
}

func (q *queries) queryRow(ctx context.Context, sq query, args ...any) *sql.Row {
	if p, ok := q.db.(preparer); ok {
		return p.queryRowPrepared(ctx, sq[q.d.id], args...)
	}
	return q.db.QueryRowContext(ctx, sq[q.d.id], args...)
}

func (q *queries) query(ctx context.Context, sq query, args ...any) (*sql.Rows, error) {
	if p, ok := q.db.(preparer); ok {
		return p.queryPrepared(ctx, sq[q.d.id], args...)
	}
	return q.db.QueryContext(ctx, sq[q.d.id], args...)
}

// affected returns how many rows res changed.
func affected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

type scanner interface{ Scan(dest ...any) error }

// collect scans every row with scan.
func collect[T any](rows *sql.Rows, err error, scan func(scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// timeFormat is how SQLite keeps times: fixed width, so they compare as
// strings.
const timeFormat = "2006-01-02T15:04:05.000000Z"

// timeCol decodes a time column of either dialect: timestamptz arrives as
// a time.Time, SQLite's text in timeFormat; NULL is the zero time.
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*c.t = time.Time{}
	case time.Time:
		*c.t = v.UTC()
	case string:
		t, err := time.Parse(timeFormat, v)
		if err != nil {
			return err
		}
		*c.t = t
	case []byte:
		return c.Scan(string(v))
	default:
		return fmt.Errorf("sqlstore: a time column holds %T", v)
	}
	return nil
}

// stored returns t as the database keeps it (UTC, microseconds), so a
// value a method returns without reading it back equals what a later
// read returns.
func stored(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// nullBytes stores an empty value as NULL.
func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// withTimeout gives ctx the dialect's operation timeout unless it has a
// deadline already.
func (d *dialect) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if d.opTimeout == 0 {
		return ctx, func() {}
	}
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d.opTimeout)
}
