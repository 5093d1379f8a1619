package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime/debug"
	"sync/atomic"
)

// maxBatch bounds how many transactions share one SQLite commit.
const maxBatch = 64

// A groupCommitter is SQLite's only writer. SQLite allows one writer at a
// time, so callers that each took the write lock in turn would queue,
// each paying for its own BEGIN and COMMIT. Instead every write
// transaction is a job sent to one goroutine, which takes whatever jobs
// are waiting (up to maxBatch), runs each inside a savepoint of one
// transaction and commits them together. A job that fails is rolled back
// to its savepoint and gets its own error; the others commit. While a
// batch commits, the next one gathers, so the busier the server, the
// more work each commit carries.
type groupCommitter struct {
	d     *dialect
	db    *sql.DB    // the writer connection
	stmts *stmtCache // its prepared statements
	jobs  chan *job
	quit  chan struct{}
	done  chan struct{}

	batches atomic.Int64 // commits made, for tests and metrics
}

type job struct {
	ctx    context.Context
	fn     func(*queries) error
	result chan error
}

// errClosed answers writes after Close.
var errClosed = errors.New("sqlite: store is closed")

func newGroupCommitter(d *dialect, db *sql.DB) *groupCommitter {
	g := &groupCommitter{d: d, db: db, stmts: newStmtCache(db), jobs: make(chan *job), quit: make(chan struct{}), done: make(chan struct{})}
	go g.run()
	return g
}

// update queues fn and waits for its outcome. Once queued, a job is
// waited for even if ctx ends: returning early could report a failure
// for a transaction that then commits. A job whose ctx has ended when its
// turn comes is skipped.
func (g *groupCommitter) update(ctx context.Context, fn func(*queries) error) error {
	j := &job{ctx: ctx, fn: fn, result: make(chan error, 1)}
	select {
	case g.jobs <- j:
	case <-ctx.Done():
		return ctx.Err()
	case <-g.quit:
		return errClosed
	}
	err := <-j.result
	var p *panicked
	if errors.As(err, &p) {
		panic(fmt.Sprintf("%v\n\nrecovered in the SQLite writer:\n%s", p.value, p.stack))
	}
	return err
}

// stop ends the writer after the batch in progress.
func (g *groupCommitter) stop() {
	select {
	case <-g.quit:
	default:
		close(g.quit)
	}
	<-g.done
}

func (g *groupCommitter) run() {
	defer close(g.done)
	defer g.stmts.close()
	batch := make([]*job, 0, maxBatch)
	for {
		select {
		case j := <-g.jobs:
			batch = append(batch[:0], j)
		case <-g.quit:
			return
		}
	gather:
		for len(batch) < maxBatch {
			select {
			case j := <-g.jobs:
				batch = append(batch, j)
			default:
				break gather
			}
		}
		g.commit(batch)
		g.batches.Add(1)
		// The connection is free: prepare the statements the batch ran
		// unprepared, for the batches to come.
		g.stmts.prepareWanted(context.Background())
	}
}

// commit runs batch in one transaction and tells each job its outcome.
func (g *groupCommitter) commit(batch []*job) {
	results := make([]error, len(batch))
	defer func() {
		for i, j := range batch {
			j.result <- results[i]
		}
	}()
	fail := func(err error) {
		for i := range results {
			if results[i] == nil {
				results[i] = err
			}
		}
	}
	ctx := context.Background()
	tx, err := g.db.BeginTx(ctx, nil)
	if err != nil {
		fail(fmt.Errorf("sqlite: begin: %w", err))
		return
	}
	// Statements run with their caller's context values but never its
	// cancellation: SQLite rolls back the whole transaction when a
	// statement inside it is interrupted, which would undo the others'
	// work.
	u := uncancelable{tx, g.stmts}
	q := &queries{d: g.d, db: u, tx: true}
	single := len(batch) == 1
	committed := 0
	for i, j := range batch {
		if err := j.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		if !single {
			if _, err := u.execPrepared(ctx, "SAVEPOINT job"); err != nil {
				tx.Rollback()
				fail(fmt.Errorf("sqlite: savepoint: %w", err))
				return
			}
		}
		results[i] = call(j, q)
		if single {
			break
		}
		if results[i] != nil {
			if _, err := u.execPrepared(ctx, "ROLLBACK TO job"); err != nil {
				// The transaction itself failed (disk full, I/O): none of
				// the batch can commit.
				tx.Rollback()
				fail(fmt.Errorf("sqlite: rollback to savepoint: %w", err))
				return
			}
		} else {
			committed++
		}
		if _, err := u.execPrepared(ctx, "RELEASE job"); err != nil {
			tx.Rollback()
			fail(fmt.Errorf("sqlite: release savepoint: %w", err))
			return
		}
	}
	if single && results[0] == nil {
		committed = 1
	}
	if committed == 0 {
		tx.Rollback()
		return
	}
	if err := tx.Commit(); err != nil {
		fail(fmt.Errorf("sqlite: commit: %w", err))
	}
}

// call runs one job's fn, turning a panic into an error that update
// raises again in the caller's goroutine.
func call(j *job, q *queries) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &panicked{value: v, stack: debug.Stack()}
		}
	}()
	return j.fn(q)
}

type panicked struct {
	value any
	stack []byte
}

func (p *panicked) Error() string { return fmt.Sprint("panic: ", p.value) }

// uncancelable runs statements on a transaction without their context's
// cancellation; the store's statements run prepared when stmts has them.
type uncancelable struct {
	tx    *sql.Tx
	stmts *stmtCache
}

func (u uncancelable) stmt(ctx context.Context, text string) *sql.Stmt {
	s := u.stmts.get(text)
	if s == nil {
		u.stmts.want(text)
		return nil
	}
	return u.tx.StmtContext(ctx, s)
}

func (u uncancelable) execPrepared(ctx context.Context, text string, args ...any) (sql.Result, error) {
	ctx = context.WithoutCancel(ctx)
	if s := u.stmt(ctx, text); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return u.tx.ExecContext(ctx, text, args...)
}

func (u uncancelable) queryPrepared(ctx context.Context, text string, args ...any) (*sql.Rows, error) {
	ctx = context.WithoutCancel(ctx)
	if s := u.stmt(ctx, text); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return u.tx.QueryContext(ctx, text, args...)
}

func (u uncancelable) queryRowPrepared(ctx context.Context, text string, args ...any) *sql.Row {
	ctx = context.WithoutCancel(ctx)
	if s := u.stmt(ctx, text); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return u.tx.QueryRowContext(ctx, text, args...)
}

func (u uncancelable) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return u.tx.ExecContext(context.WithoutCancel(ctx), query, args...)
}

func (u uncancelable) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return u.tx.QueryContext(context.WithoutCancel(ctx), query, args...)
}

func (u uncancelable) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return u.tx.QueryRowContext(context.WithoutCancel(ctx), query, args...)
}
