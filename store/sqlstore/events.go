package sqlstore

import (
	"context"
	"crypto/rand"
	"strconv"
	"strings"
	"time"

	"github.com/tether-id/tether/core"
)

const eventColumns = `id, user_id, kind, method, provider_id, client_id, success, ip, user_agent, detail, at`

var (
	insertEvent = sqlText(`INSERT INTO events (` + eventColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`)
	purgeEvents = sqlText(`DELETE FROM events WHERE id IN (
		SELECT id FROM events WHERE at < $1 LIMIT $2 {{skip_locked}})`)
)

// RecordEvent gives an event without an ID a random one.
func (q *queries) RecordEvent(ctx context.Context, e core.Event) error {
	if e.ID == "" {
		e.ID = strings.ToLower(rand.Text())
	}
	_, err := q.exec(ctx, insertEvent, e.ID, e.UserID, string(e.Kind), string(e.Method), e.ProviderID, e.ClientID, e.Success,
		e.IP, e.UserAgent, e.Detail, q.d.timeArg(e.At))
	return q.errorf(err, "record event")
}

// ListEvents returns every matching event when q.Limit <= 0.
func (q *queries) ListEvents(ctx context.Context, eq core.EventQuery) ([]core.Event, error) {
	var b strings.Builder
	b.WriteString(`SELECT ` + eventColumns + ` FROM events WHERE user_id = $1`)
	args := []any{eq.UserID}
	if len(eq.Kinds) > 0 {
		b.WriteString(` AND kind IN (`)
		for i, k := range eq.Kinds {
			if i > 0 {
				b.WriteString(`, `)
			}
			args = append(args, string(k))
			b.WriteString(`$` + strconv.Itoa(len(args)))
		}
		b.WriteString(`)`)
	}
	b.WriteString(` ORDER BY at DESC, {{rowid}} DESC`)
	if eq.Limit > 0 {
		args = append(args, eq.Limit)
		b.WriteString(` LIMIT $` + strconv.Itoa(len(args)))
	}
	rows, err := q.query(ctx, sqlText(b.String()), args...)
	events, err := collect(rows, err, func(row scanner) (core.Event, error) {
		var e core.Event
		err := row.Scan(&e.ID, &e.UserID, &e.Kind, &e.Method, &e.ProviderID, &e.ClientID, &e.Success, &e.IP, &e.UserAgent, &e.Detail, timeCol{&e.At})
		return e, err
	})
	return events, q.errorf(err, "list events")
}

func (q *queries) PurgeEvents(ctx context.Context, before time.Time) (int, error) {
	return q.purgeAll(ctx, purgeEvents, before)
}
