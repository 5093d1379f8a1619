package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tether-id/tether/core"
)

// purgeBatch is how many rows one purge transaction deletes, so a large
// purge holds locks briefly and lets other work through between batches.
var purgeBatch = 1000

const flowColumns = `id, provider_id, purpose, user_id, code_verifier, nonce, redirect_uri, return_to, browser_hash, created_at, expires_at`

func (s *Store) CreateFlow(ctx context.Context, f core.Flow) error {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	_, err := s.pool.Exec(ctx, `INSERT INTO flows (`+flowColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		f.ID, f.ProviderID, string(f.Purpose), f.UserID, f.CodeVerifier, f.Nonce, f.RedirectURI, f.ReturnTo, f.BrowserHash,
		timeArg(f.CreatedAt), timeArg(f.ExpiresAt))
	if err != nil {
		return fmt.Errorf("postgres: create flow: %w", err)
	}
	return nil
}

// ConsumeFlow deletes the flow and returns what it deleted, in one
// statement: of callers racing on any instance, only one gets the row. An
// expired flow is deleted too, and reported missing.
func (s *Store) ConsumeFlow(ctx context.Context, id string, now time.Time) (core.Flow, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	var f core.Flow
	var created, expires pgtype.Timestamptz
	err := s.pool.QueryRow(ctx, `DELETE FROM flows WHERE id = $1 RETURNING `+flowColumns, id).Scan(
		&f.ID, &f.ProviderID, &f.Purpose, &f.UserID, &f.CodeVerifier, &f.Nonce, &f.RedirectURI, &f.ReturnTo,
		&f.BrowserHash, &created, &expires)
	if err != nil {
		return core.Flow{}, noRows(err, core.ErrFlowNotFound, "consume flow")
	}
	f.CreatedAt, f.ExpiresAt = fromTS(created), fromTS(expires)
	if !now.Before(f.ExpiresAt) {
		return core.Flow{}, core.ErrFlowNotFound
	}
	return f, nil
}

// PurgeFlows deletes expired flows unless another instance is purging
// them right now; then it returns 0 and leaves the work to that one.
func (s *Store) PurgeFlows(ctx context.Context, now time.Time) (int, error) {
	return s.purge(ctx, lockPurgeFlows, `DELETE FROM flows WHERE id IN (
		SELECT id FROM flows WHERE expires_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`, now)
}

// purge deletes in batches of purgeBatch rows, one transaction each, with
// now as $1 and the batch size as $2. Each batch first takes the advisory
// lock of its kind without waiting: when another instance holds it, that
// instance is purging and this one stops, so instances neither wait on
// each other nor scan the same rows. SKIP LOCKED passes over rows that
// a request holds (a flow being consumed).
func (s *Store) purge(ctx context.Context, kind int32, query string, now time.Time) (int, error) {
	total := 0
	for {
		var n int64
		locked := false
		err := s.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
			err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1, hashtext(coalesce(current_schema(), '')))`, kind).Scan(&locked)
			if err != nil || !locked {
				return err
			}
			tag, err := tx.Exec(ctx, query, timeArg(now), purgeBatch)
			n = tag.RowsAffected()
			return err
		})
		if err != nil {
			return total, fmt.Errorf("postgres: purge: %w", err)
		}
		total += int(n)
		if !locked || n < int64(purgeBatch) {
			return total, nil
		}
	}
}
