package sqlite

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"

	"github.com/tether-id/tether/core"
)

const eventColumns = `id, user_id, kind, method, provider_id, success, ip, user_agent, detail, at`

// RecordEvent gives an event without an ID a random one.
func (s *Store) RecordEvent(ctx context.Context, e core.Event) error {
	if e.ID == "" {
		e.ID = strings.ToLower(rand.Text())
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO events (`+eventColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.UserID, e.Kind, e.Method, e.ProviderID, e.Success, e.IP, e.UserAgent, e.Detail, timeArg(e.At))
	if err != nil {
		return fmt.Errorf("sqlite: record event: %w", err)
	}
	return nil
}

// ListEvents returns the events of q.UserID of the kinds in q.Kinds (all
// when empty), newest first; every matching event when q.Limit <= 0.
func (s *Store) ListEvents(ctx context.Context, q core.EventQuery) ([]core.Event, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = -1 // no limit
	}
	query := `SELECT ` + eventColumns + ` FROM events WHERE user_id = ?`
	args := []any{q.UserID}
	if len(q.Kinds) > 0 {
		query += ` AND kind IN (?` + strings.Repeat(`, ?`, len(q.Kinds)-1) + `)`
		for _, k := range q.Kinds {
			args = append(args, string(k))
		}
	}
	query += ` ORDER BY at DESC, rowid DESC LIMIT ?`
	rows, err := s.read.QueryContext(ctx, query, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list events: %w", err)
	}
	defer rows.Close()
	var out []core.Event
	for rows.Next() {
		var e core.Event
		err := rows.Scan(&e.ID, &e.UserID, &e.Kind, &e.Method, &e.ProviderID, &e.Success, &e.IP, &e.UserAgent, &e.Detail, nullTime{&e.At})
		if err != nil {
			return nil, fmt.Errorf("sqlite: list events: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
