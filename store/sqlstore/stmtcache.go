package sqlstore

import (
	"context"
	"database/sql"
	"sync"
)

// SQLite's driver parses every statement it runs unless the statement
// was prepared; under load, parsing the store's few dozen statements over
// and over was about a tenth of tether's CPU time. So on SQLite each of
// the store's statements (those of type query, run by queries.exec,
// queryRow and query) is prepared once per connection and kept:
//
//   - on the read pool, by preparedDB: the first call prepares it (on the
//     connection it gets; database/sql prepares it on the others as they
//     are used);
//   - on the writer, whose one connection the group committer holds
//     inside each transaction, a statement met for the first time runs
//     unprepared and is prepared after the batch commits, when the
//     connection is free; later transactions run it through
//     tx.StmtContext, which reuses the connection's prepared statement.
//
// Statements of other texts (migrations, the locks) run as before.
// PostgreSQL's pgx caches prepared statements per connection itself.

// maxStmts bounds the statements a cache keeps; past it, new texts run
// unprepared (the queries of events build their text from the filter).
const maxStmts = 256

// stmtCache holds prepared statements of one *sql.DB by SQL text.
type stmtCache struct {
	db *sql.DB

	mu     sync.RWMutex
	m      map[string]*sql.Stmt
	wanted map[string]bool // texts to prepare when the connection is free
	failed map[string]bool // texts that would not prepare; not tried again
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: map[string]*sql.Stmt{}, wanted: map[string]bool{}, failed: map[string]bool{}}
}

// get returns the prepared statement for text, or nil.
func (c *stmtCache) get(text string) *sql.Stmt {
	c.mu.RLock()
	s := c.m[text]
	c.mu.RUnlock()
	return s
}

// prepare returns the prepared statement for text, preparing it on c.db
// if needed; nil (and no error) when the cache is full. It takes a
// connection of c.db, so it must not run inside a transaction holding
// c.db's only connection.
func (c *stmtCache) prepare(ctx context.Context, text string) (*sql.Stmt, error) {
	c.mu.RLock()
	s, full := c.m[text], len(c.m) >= maxStmts
	c.mu.RUnlock()
	if s != nil || full {
		return s, nil
	}
	s, err := c.db.PrepareContext(ctx, text)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev := c.m[text]; prev != nil {
		s.Close()
		return prev, nil
	}
	c.m[text] = s
	return s, nil
}

// want notes a text run unprepared inside a transaction.
func (c *stmtCache) want(text string) {
	c.mu.Lock()
	if !c.failed[text] && len(c.m)+len(c.wanted) < maxStmts {
		c.wanted[text] = true
	}
	c.mu.Unlock()
}

// prepareWanted prepares the texts noted by want. The connection must be
// free.
func (c *stmtCache) prepareWanted(ctx context.Context) {
	c.mu.Lock()
	if len(c.wanted) == 0 {
		c.mu.Unlock()
		return
	}
	texts := make([]string, 0, len(c.wanted))
	for t := range c.wanted {
		texts = append(texts, t)
	}
	clear(c.wanted)
	c.mu.Unlock()
	for _, t := range texts {
		if _, err := c.prepare(ctx, t); err != nil {
			c.mu.Lock()
			c.failed[t] = true
			c.mu.Unlock()
		}
	}
}

// close closes the prepared statements.
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for t, s := range c.m {
		s.Close()
		delete(c.m, t)
	}
}

// preparer is a querier that runs the store's statements prepared.
type preparer interface {
	execPrepared(ctx context.Context, text string, args ...any) (sql.Result, error)
	queryPrepared(ctx context.Context, text string, args ...any) (*sql.Rows, error)
	queryRowPrepared(ctx context.Context, text string, args ...any) *sql.Row
}

// preparedDB is SQLite's read pool: a querier whose store statements run
// prepared.
type preparedDB struct {
	*sql.DB
	stmts *stmtCache
}

func (p preparedDB) execPrepared(ctx context.Context, text string, args ...any) (sql.Result, error) {
	s, err := p.stmts.prepare(ctx, text)
	if err != nil || s == nil {
		return p.DB.ExecContext(ctx, text, args...)
	}
	return s.ExecContext(ctx, args...)
}

func (p preparedDB) queryPrepared(ctx context.Context, text string, args ...any) (*sql.Rows, error) {
	s, err := p.stmts.prepare(ctx, text)
	if err != nil || s == nil {
		return p.DB.QueryContext(ctx, text, args...)
	}
	return s.QueryContext(ctx, args...)
}

func (p preparedDB) queryRowPrepared(ctx context.Context, text string, args ...any) *sql.Row {
	s, err := p.stmts.prepare(ctx, text)
	if err != nil || s == nil {
		// Unprepared, the call reports the error itself.
		return p.DB.QueryRowContext(ctx, text, args...)
	}
	return s.QueryRowContext(ctx, args...)
}
