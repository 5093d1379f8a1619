package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/tether-id/tether/core"
)

// purgeBatch is how many rows one purge statement deletes, so a large
// purge does not hold the write lock for long.
var purgeBatch = 1000

const flowColumns = `id, provider_id, purpose, user_id, code_verifier, nonce, redirect_uri, return_to, browser_hash, created_at, expires_at`

func (s *Store) CreateFlow(ctx context.Context, f core.Flow) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO flows (`+flowColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		f.ID, f.ProviderID, f.Purpose, f.UserID, f.CodeVerifier, f.Nonce, f.RedirectURI, f.ReturnTo, f.BrowserHash,
		timeArg(f.CreatedAt), timeArg(f.ExpiresAt))
	if err != nil {
		return fmt.Errorf("sqlite: create flow: %w", err)
	}
	return nil
}

// ConsumeFlow deletes the flow and returns what it deleted, in one
// statement: of racing callers only one gets the row. An expired flow is
// deleted too, and reported missing.
func (s *Store) ConsumeFlow(ctx context.Context, id string, now time.Time) (core.Flow, error) {
	var f core.Flow
	err := s.db.QueryRowContext(ctx, `DELETE FROM flows WHERE id = ? RETURNING `+flowColumns, id).Scan(
		&f.ID, &f.ProviderID, &f.Purpose, &f.UserID, &f.CodeVerifier, &f.Nonce, &f.RedirectURI, &f.ReturnTo,
		&f.BrowserHash, nullTime{&f.CreatedAt}, nullTime{&f.ExpiresAt})
	if err != nil {
		return core.Flow{}, notFound(err, core.ErrFlowNotFound)
	}
	if !now.Before(f.ExpiresAt) {
		return core.Flow{}, core.ErrFlowNotFound
	}
	return f, nil
}

func (s *Store) PurgeFlows(ctx context.Context, now time.Time) (int, error) {
	return s.purge(ctx, `DELETE FROM flows WHERE rowid IN (SELECT rowid FROM flows WHERE expires_at < ?1 LIMIT ?2)`, now)
}

// purge runs a batched delete, with now as ?1 and the batch size as ?2,
// until a batch comes back short, and returns how many rows went.
func (s *Store) purge(ctx context.Context, query string, now time.Time) (int, error) {
	total := 0
	for {
		res, err := s.db.ExecContext(ctx, query, timeArg(now), purgeBatch)
		if err != nil {
			return total, fmt.Errorf("sqlite: purge: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("sqlite: purge: %w", err)
		}
		total += int(n)
		if n < int64(purgeBatch) {
			return total, nil
		}
	}
}
