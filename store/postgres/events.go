package postgres

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tether-id/tether/core"
)

const eventColumns = `id, user_id, kind, method, provider_id, success, ip, user_agent, detail, at`

// RecordEvent gives an event without an ID a random one.
func (s *Store) RecordEvent(ctx context.Context, e core.Event) error {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	if e.ID == "" {
		e.ID = strings.ToLower(rand.Text())
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO events (`+eventColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		e.ID, e.UserID, string(e.Kind), string(e.Method), e.ProviderID, e.Success, e.IP, e.UserAgent, e.Detail, timeArg(e.At))
	if err != nil {
		return fmt.Errorf("postgres: record event: %w", err)
	}
	return nil
}

// ListEvents returns every event of the user when limit <= 0.
func (s *Store) ListEvents(ctx context.Context, q core.EventQuery) ([]core.Event, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	var lim any // NULL: no limit
	if q.Limit > 0 {
		lim = q.Limit
	}
	var kinds []string // NULL: every kind
	for _, k := range q.Kinds {
		kinds = append(kinds, string(k))
	}
	rows, err := s.pool.Query(ctx, `SELECT `+eventColumns+` FROM events WHERE user_id = $1
		AND ($3::text[] IS NULL OR kind = ANY($3))
		ORDER BY at DESC, seq DESC LIMIT $2`, q.UserID, lim, kinds)
	if err != nil {
		return nil, fmt.Errorf("postgres: list events: %w", err)
	}
	evs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (core.Event, error) {
		var e core.Event
		var at pgtype.Timestamptz
		err := row.Scan(&e.ID, &e.UserID, &e.Kind, &e.Method, &e.ProviderID, &e.Success, &e.IP, &e.UserAgent, &e.Detail, &at)
		e.At = fromTS(at)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list events: %w", err)
	}
	return evs, nil
}
