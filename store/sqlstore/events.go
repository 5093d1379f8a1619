package sqlstore

import (
	"context"
	"crypto/rand"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tether-id/tether/core"
)

const eventColumns = `id, user_id, kind, actor, method, provider_id, client_id, success, ip, user_agent, detail, at`

var (
	insertEvent = sqlText(`INSERT INTO events (` + eventColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`)
	purgeEvents = sqlText(`DELETE FROM events WHERE id IN (
		SELECT id FROM events WHERE at < $1 LIMIT $2 {{skip_locked}})`)
)

// RecordEvent gives an event without an ID a random one.
func (q *queries) RecordEvent(ctx context.Context, e core.Event) error {
	if e.ID == "" {
		e.ID = strings.ToLower(rand.Text())
	}
	_, err := q.exec(ctx, insertEvent, e.ID, e.UserID, string(e.Kind), string(e.Actor), string(e.Method), e.ProviderID, e.ClientID, e.Success,
		e.IP, e.UserAgent, e.Detail, q.d.timeArg(e.At))
	return q.errorf(err, "record event")
}

// ListEvents returns every matching event when q.Limit <= 0.
func (q *queries) ListEvents(ctx context.Context, eq core.EventQuery) ([]core.Event, error) {
	var f eventFilter
	f.add(`user_id = $?`, eq.UserID)
	f.kinds(eq.Kinds)
	events, err := q.selectEvents(ctx, f, `at DESC, seq DESC`, eq.Limit)
	return events, q.errorf(err, "list events")
}

func (q *queries) PurgeEvents(ctx context.Context, before time.Time) (int, error) {
	return q.purgeAll(ctx, purgeEvents, before)
}

// The order of the trail. An event's position is (xid, seq) on
// PostgreSQL, where xid is the transaction that recorded it: instances
// commit concurrently, and only the events of transactions older than
// every running one (xid below the snapshot's xmin) are settled; every
// event committed later sorts after them. On SQLite, whose one writer
// commits in seq order, the position is seq alone (xid is 0). See the
// migrations 0006_audit.sql.
type position struct {
	xid uint64
	seq int64
}

// cursor is p as an EventCursor: "seq" on SQLite, "xid:seq" on
// PostgreSQL.
func (d *dialect) cursor(p position) core.EventCursor {
	if d.id == sqliteID {
		return core.EventCursor(strconv.FormatInt(p.seq, 10))
	}
	return core.EventCursor(strconv.FormatUint(p.xid, 10) + ":" + strconv.FormatInt(p.seq, 10))
}

// position parses c, one of this dialect's cursors; "" is the start of
// the trail.
func (d *dialect) position(c core.EventCursor) (position, error) {
	if c == "" {
		return position{}, nil
	}
	bad := core.Invalid("after", "%q is not a cursor of this %s database", string(c), d.name)
	s := string(c)
	var p position
	var err error
	if d.id != sqliteID {
		x, rest, ok := strings.Cut(s, ":")
		if !ok {
			return position{}, bad
		}
		if p.xid, err = strconv.ParseUint(x, 10, 64); err != nil {
			return position{}, bad
		}
		s = rest
	}
	if p.seq, err = strconv.ParseInt(s, 10, 64); err != nil || p.seq < 0 {
		return position{}, bad
	}
	return p, nil
}

var (
	// settledPostgres is the xmin of the statement's snapshot: every
	// transaction with a lower id has ended.
	settledPostgres = `SELECT pg_snapshot_xmin(pg_current_snapshot())::text`
	settledSQLite   = `SELECT COALESCE(MAX(seq), 0) FROM events`
)

// end returns the position after every settled event. It is read before
// the events a follower reads with it (by a statement of its own, whose
// snapshot is older): everything at or before it was settled when it was
// read, so it is all in view of the later statement, and everything
// committed later sorts after it.
func (q *queries) end(ctx context.Context) (position, error) {
	if q.d.id == sqliteID {
		var seq int64
		err := q.db.QueryRowContext(ctx, settledSQLite).Scan(&seq)
		return position{seq: seq}, err
	}
	var text string
	if err := q.db.QueryRowContext(ctx, settledPostgres).Scan(&text); err != nil {
		return position{}, err
	}
	xmin, err := strconv.ParseUint(text, 10, 64)
	if err != nil || xmin == 0 {
		return position{}, fmt.Errorf("snapshot xmin %q", text)
	}
	// Every event of a transaction below xmin, whatever its seq.
	return position{xid: xmin - 1, seq: math.MaxInt64}, nil
}

// compare renders the condition "position op p" and adds its arguments.
func (f *eventFilter) compare(d *dialect, op string, p position) {
	if d.id == sqliteID {
		f.add(`seq `+op+` $?`, p.seq)
		return
	}
	f.add(`(xid, seq) `+op+` (CAST($? AS text)::xid8, $?)`, strconv.FormatUint(p.xid, 10), p.seq)
}

// FollowEvents reads the trail after the cursor, up to the end read
// first (see end).
func (q *queries) FollowEvents(ctx context.Context, aq core.AuditQuery, after core.EventCursor) ([]core.Event, core.EventCursor, error) {
	from, err := q.d.position(after)
	if err != nil {
		return nil, "", err
	}
	to, err := q.end(ctx)
	if err != nil {
		return nil, "", q.errorf(err, "follow events")
	}
	if to.xid < from.xid || to.xid == from.xid && to.seq <= from.seq {
		return nil, q.d.cursor(from), nil // nothing settled since
	}
	f := auditFilter(aq)
	f.compare(q.d, ">", from)
	f.compare(q.d, "<=", to)
	order := `seq`
	if q.d.id != sqliteID {
		order = `xid, seq`
	}
	events, err := q.selectEvents(ctx, f, order, aq.Limit)
	if err != nil {
		return nil, "", q.errorf(err, "follow events")
	}
	next := q.d.cursor(to)
	if aq.Limit > 0 && len(events) == aq.Limit {
		next = events[len(events)-1].Cursor
	}
	return events, next, nil
}

// AuditEvents reads the newest events across accounts.
func (q *queries) AuditEvents(ctx context.Context, aq core.AuditQuery) ([]core.Event, error) {
	events, err := q.selectEvents(ctx, auditFilter(aq), `at DESC, seq DESC`, aq.Limit)
	return events, q.errorf(err, "audit events")
}

// EventsEnd returns the cursor after every settled event.
func (q *queries) EventsEnd(ctx context.Context) (core.EventCursor, error) {
	p, err := q.end(ctx)
	if err != nil {
		return "", q.errorf(err, "events end")
	}
	return q.d.cursor(p), nil
}

// eventFilter is the WHERE clause of an events query, written with "$?"
// for each argument and numbered when the query is built.
type eventFilter struct {
	where []string
	args  []any
}

func (f *eventFilter) add(cond string, args ...any) {
	f.where = append(f.where, cond)
	f.args = append(f.args, args...)
}

func (f *eventFilter) kinds(kinds []core.EventKind) {
	if len(kinds) == 0 {
		return
	}
	marks := make([]string, len(kinds))
	args := make([]any, len(kinds))
	for i, k := range kinds {
		marks[i], args[i] = "$?", string(k)
	}
	f.add(`kind IN (`+strings.Join(marks, ", ")+`)`, args...)
}

func auditFilter(aq core.AuditQuery) eventFilter {
	var f eventFilter
	if aq.UserID != "" {
		f.add(`user_id = $?`, aq.UserID)
	}
	f.kinds(aq.Kinds)
	if !aq.Since.IsZero() {
		f.add(`at >= $?`, aq.Since)
	}
	return f
}

// selectEvents runs one query of events: f, in order, at most limit
// (all when limit <= 0). Its text depends on the filter, so it is not
// prepared (see stmtcache.go).
func (q *queries) selectEvents(ctx context.Context, f eventFilter, order string, limit int) ([]core.Event, error) {
	var b strings.Builder
	b.WriteString(`SELECT ` + eventColumns + `, seq, ` + q.xidColumn() + ` FROM events`)
	args := slices.Clone(f.args)
	n := 0
	for i, cond := range f.where {
		if i == 0 {
			b.WriteString(` WHERE `)
		} else {
			b.WriteString(` AND `)
		}
		for {
			before, after, ok := strings.Cut(cond, "$?")
			b.WriteString(before)
			if !ok {
				break
			}
			n++
			b.WriteString("$" + strconv.Itoa(n))
			cond = after
		}
	}
	for i, a := range args {
		if t, ok := a.(time.Time); ok {
			args[i] = q.d.timeArg(t)
		}
	}
	b.WriteString(` ORDER BY ` + order)
	if limit > 0 {
		args = append(args, limit)
		b.WriteString(` LIMIT $` + strconv.Itoa(len(args)))
	}
	rows, err := q.query(ctx, sqlText(b.String()), args...)
	return collect(rows, err, func(row scanner) (core.Event, error) {
		var e core.Event
		var p position
		var xid string
		err := row.Scan(&e.ID, &e.UserID, &e.Kind, &e.Actor, &e.Method, &e.ProviderID, &e.ClientID, &e.Success, &e.IP, &e.UserAgent, &e.Detail,
			timeCol{&e.At}, &p.seq, &xid)
		if err != nil {
			return e, err
		}
		if p.xid, err = strconv.ParseUint(xid, 10, 64); err != nil {
			return e, fmt.Errorf("event xid %q", xid)
		}
		e.Cursor = q.d.cursor(p)
		return e, nil
	})
}

// xidColumn is the xid of an event as text: '0' on SQLite, which has
// none.
func (q *queries) xidColumn() string {
	if q.d.id == sqliteID {
		return `'0'`
	}
	return `xid::text`
}
