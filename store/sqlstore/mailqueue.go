package sqlstore

import (
	"context"
	"time"

	"github.com/tether-id/tether/core"
)

const mailColumns = `id, kind, state, message, attempts, next_attempt_at, lease_until, last_error, created_at, finished_at`

var (
	insertMail = sqlText(`INSERT INTO mail_queue (` + mailColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`)
	selectMail = sqlText(`SELECT ` + mailColumns + ` FROM mail_queue WHERE id = $1`)
	// A claim picks the row due the longest whose lease has lapsed. On
	// PostgreSQL the subquery locks the row it picks and skips rows other
	// claims hold, so racing claims on several instances get different
	// rows without waiting for each other; SQLite's one writer claims one
	// at a time. The outer condition repeats the inner one: a row whose
	// lease another instance took between the two is left alone.
	claimMail = sqlText(`UPDATE mail_queue SET lease_until = $2, attempts = attempts + 1
		WHERE id = (SELECT id FROM mail_queue
			WHERE state = 'queued' AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until <= $1)
			ORDER BY next_attempt_at, {{rowid}} LIMIT 1 {{skip_locked}})
		AND state = 'queued' AND (lease_until IS NULL OR lease_until <= $1)
		RETURNING ` + mailColumns)
	updateMail = sqlText(`UPDATE mail_queue SET state = $2, message = $3, next_attempt_at = $4, lease_until = $5,
		last_error = $6, finished_at = $7 WHERE id = $1`)
	selectNextMail = sqlText(`SELECT next_attempt_at, lease_until FROM mail_queue WHERE state = 'queued'
		ORDER BY CASE WHEN lease_until IS NOT NULL AND lease_until > next_attempt_at THEN lease_until ELSE next_attempt_at END
		LIMIT 1`)
	countMail = sqlText(`SELECT state, COUNT(*) FROM mail_queue GROUP BY state`)
	purgeMail = sqlText(`DELETE FROM mail_queue WHERE id IN (
		SELECT id FROM mail_queue WHERE state <> 'queued' AND finished_at < $1 LIMIT $2 {{skip_locked}})`)
)

func scanMail(row scanner) (core.QueuedMail, error) {
	var m core.QueuedMail
	err := row.Scan(&m.ID, &m.Kind, &m.State, &m.Message, &m.Attempts, timeCol{&m.NextAttemptAt}, timeCol{&m.LeaseUntil},
		&m.LastError, timeCol{&m.CreatedAt}, timeCol{&m.FinishedAt})
	if len(m.Message) == 0 {
		m.Message = nil
	}
	return m, err
}

func (q *queries) EnqueueMail(ctx context.Context, m core.QueuedMail) error {
	_, err := q.exec(ctx, insertMail, m.ID, m.Kind, string(m.State), nullBytes(m.Message), m.Attempts,
		q.d.timeArg(m.NextAttemptAt), q.d.timeArg(m.LeaseUntil), m.LastError, q.d.timeArg(m.CreatedAt), q.d.timeArg(m.FinishedAt))
	return q.errorf(err, "enqueue mail")
}

func (q *queries) ClaimMail(ctx context.Context, now, leaseUntil time.Time) (core.QueuedMail, error) {
	m, err := scanMail(q.queryRow(ctx, claimMail, q.d.timeArg(now), q.d.timeArg(leaseUntil)))
	return m, q.notFound(err, core.ErrNotFound, "claim mail")
}

func (q *queries) UpdateMail(ctx context.Context, m core.QueuedMail) error {
	n, err := affected(q.exec(ctx, updateMail, m.ID, string(m.State), nullBytes(m.Message), q.d.timeArg(m.NextAttemptAt),
		q.d.timeArg(m.LeaseUntil), m.LastError, q.d.timeArg(m.FinishedAt)))
	if err == nil && n == 0 {
		return core.ErrNotFound
	}
	return q.errorf(err, "update mail")
}

func (q *queries) GetMail(ctx context.Context, id string) (core.QueuedMail, error) {
	m, err := scanMail(q.queryRow(ctx, selectMail, id))
	return m, q.notFound(err, core.ErrNotFound, "get mail")
}

func (q *queries) NextMailAt(ctx context.Context) (time.Time, bool, error) {
	var next, lease time.Time
	err := q.queryRow(ctx, selectNextMail).Scan(timeCol{&next}, timeCol{&lease})
	if isNoRows(err) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, q.errorf(err, "next mail")
	}
	if lease.After(next) {
		next = lease
	}
	return next, true, nil
}

func (q *queries) CountMail(ctx context.Context) (core.MailCounts, error) {
	rows, err := q.query(ctx, countMail)
	type count struct {
		state core.MailState
		n     int
	}
	counts, err := collect(rows, err, func(row scanner) (count, error) {
		var c count
		err := row.Scan(&c.state, &c.n)
		return c, err
	})
	var out core.MailCounts
	for _, c := range counts {
		switch c.state {
		case core.MailQueued:
			out.Queued = c.n
		case core.MailSent:
			out.Sent = c.n
		case core.MailFailed:
			out.Failed = c.n
		}
	}
	return out, q.errorf(err, "count mail")
}

func (q *queries) PurgeMail(ctx context.Context, before time.Time) (int, error) {
	return q.purgeAll(ctx, purgeMail, before)
}

// The Store's own: reads on the read pool, each write its own
// transaction.

func (s *Store) EnqueueMail(ctx context.Context, m core.QueuedMail) error {
	return s.update(ctx, func(q *queries) error { return q.EnqueueMail(ctx, m) })
}

func (s *Store) ClaimMail(ctx context.Context, now, leaseUntil time.Time) (core.QueuedMail, error) {
	return writing(s, ctx, func(ctx context.Context, q *queries) (core.QueuedMail, error) {
		return q.ClaimMail(ctx, now, leaseUntil)
	})
}

func (s *Store) UpdateMail(ctx context.Context, m core.QueuedMail) error {
	return s.update(ctx, func(q *queries) error { return q.UpdateMail(ctx, m) })
}

func (s *Store) GetMail(ctx context.Context, id string) (core.QueuedMail, error) {
	return reading(s, ctx, func(ctx context.Context, q *queries) (core.QueuedMail, error) { return q.GetMail(ctx, id) })
}

func (s *Store) NextMailAt(ctx context.Context) (time.Time, bool, error) {
	type next struct {
		at time.Time
		ok bool
	}
	n, err := reading(s, ctx, func(ctx context.Context, q *queries) (next, error) {
		at, ok, err := q.NextMailAt(ctx)
		return next{at, ok}, err
	})
	return n.at, n.ok, err
}

func (s *Store) CountMail(ctx context.Context) (core.MailCounts, error) {
	return reading(s, ctx, func(ctx context.Context, q *queries) (core.MailCounts, error) { return q.CountMail(ctx) })
}

func (s *Store) PurgeMail(ctx context.Context, before time.Time) (int, error) {
	return s.purge(ctx, purgeMail, before)
}
