package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tether-id/tether/core"
)

const tokenColumns = `hash, chain_id, user_id, created_at, expires_at, used_at, revoked_at`

func scanToken(row pgx.Row) (core.RefreshToken, error) {
	var t core.RefreshToken
	var created, expires, used, revoked pgtype.Timestamptz
	if err := row.Scan(&t.Hash, &t.ChainID, &t.UserID, &created, &expires, &used, &revoked); err != nil {
		return core.RefreshToken{}, err
	}
	t.CreatedAt, t.ExpiresAt, t.UsedAt, t.RevokedAt = fromTS(created), fromTS(expires), fromTS(used), fromTS(revoked)
	return t, nil
}

func insertToken(ctx context.Context, q querier, t core.RefreshToken) error {
	_, err := q.Exec(ctx, `INSERT INTO refresh_tokens (`+tokenColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		t.Hash, t.ChainID, t.UserID, timeArg(t.CreatedAt), timeArg(t.ExpiresAt), timeArg(t.UsedAt), timeArg(t.RevokedAt))
	if violates(err, foreignKeyViolation, "") {
		return core.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("postgres: store refresh token: %w", err)
	}
	return nil
}

// CreateRefreshToken returns ErrNotFound when the user does not exist.
func (s *Store) CreateRefreshToken(ctx context.Context, t core.RefreshToken) error {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	return insertToken(ctx, s.pool, t)
}

// RotateRefreshToken marks the token used with one conditional UPDATE:
// of rotations racing on any instance, the first takes the row lock and
// wins; the others wait for it, then find the token used, which is a
// replay. next runs inside the transaction; it may leave ChainID and
// UserID empty, they are the old token's.
func (s *Store) RotateRefreshToken(ctx context.Context, hash string, now time.Time, next func(old core.RefreshToken) core.RefreshToken) (core.RefreshToken, error) {
	var out core.RefreshToken
	reused := false
	err := s.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		old, err := scanToken(tx.QueryRow(ctx, `UPDATE refresh_tokens SET used_at = $2
			WHERE hash = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2
			RETURNING `+tokenColumns, hash, timeArg(now)))
		if errors.Is(err, pgx.ErrNoRows) {
			// Not rotatable: find out why.
			old, err = scanToken(tx.QueryRow(ctx, `SELECT `+tokenColumns+` FROM refresh_tokens WHERE hash = $1`, hash))
			if err != nil {
				return noRows(err, core.ErrInvalidToken, "rotate refresh token")
			}
			if old.UsedAt.IsZero() {
				return core.ErrInvalidToken // revoked or expired
			}
			// A replay: commit the revocation, then report it.
			reused, out = true, old
			return revokeChain(ctx, tx, old.ChainID, now)
		}
		if err != nil {
			return fmt.Errorf("postgres: rotate refresh token: %w", err)
		}
		old.UsedAt = time.Time{} // as it was before this rotation
		out, err = successor(old, next(old))
		if err != nil {
			return err
		}
		return insertToken(ctx, tx, out)
	})
	if err != nil {
		return core.RefreshToken{}, err
	}
	if reused {
		return out, core.ErrTokenReused
	}
	out.CreatedAt, out.ExpiresAt = stored(out.CreatedAt), stored(out.ExpiresAt)
	return out, nil
}

// successor checks that next, the token that replaces old, continues
// old's chain: a token outside it would escape reuse detection.
func successor(old, next core.RefreshToken) (core.RefreshToken, error) {
	if next.ChainID == "" {
		next.ChainID = old.ChainID
	}
	if next.UserID == "" {
		next.UserID = old.UserID
	}
	if next.Hash == "" || next.ChainID != old.ChainID || next.UserID != old.UserID {
		return core.RefreshToken{}, fmt.Errorf("postgres: rotate refresh token: the new token must have a hash and continue chain %s of user %s", old.ChainID, old.UserID)
	}
	next.UsedAt, next.RevokedAt = time.Time{}, time.Time{}
	return next, nil
}

// revokeChain revokes the chain's tokens that are not revoked yet; a
// revoked token keeps the time it was first revoked. Rows are locked in
// hash order, so two revocations of one chain cannot deadlock.
func revokeChain(ctx context.Context, q querier, chainID string, now time.Time) error {
	_, err := q.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = $2 WHERE hash IN (
		SELECT hash FROM refresh_tokens WHERE chain_id = $1 AND revoked_at IS NULL ORDER BY hash FOR UPDATE)`,
		chainID, timeArg(now))
	if err != nil {
		return fmt.Errorf("postgres: revoke refresh chain: %w", err)
	}
	return nil
}

func (s *Store) RevokeRefreshChain(ctx context.Context, hash string, now time.Time) (core.RefreshToken, error) {
	var out core.RefreshToken
	err := s.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var chainID string
		if err := tx.QueryRow(ctx, `SELECT chain_id FROM refresh_tokens WHERE hash = $1`, hash).Scan(&chainID); err != nil {
			return noRows(err, core.ErrInvalidToken, "revoke refresh chain")
		}
		if err := revokeChain(ctx, tx, chainID, now); err != nil {
			return err
		}
		var err error
		out, err = scanToken(tx.QueryRow(ctx, `SELECT `+tokenColumns+` FROM refresh_tokens WHERE hash = $1`, hash))
		return noRows(err, core.ErrInvalidToken, "revoke refresh chain")
	})
	return out, err
}

func (s *Store) RevokeUserRefreshTokens(ctx context.Context, userID string, now time.Time) error {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	_, err := s.pool.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = $2 WHERE hash IN (
		SELECT hash FROM refresh_tokens WHERE user_id = $1 AND revoked_at IS NULL ORDER BY hash FOR UPDATE)`,
		userID, timeArg(now))
	if err != nil {
		return fmt.Errorf("postgres: revoke refresh tokens: %w", err)
	}
	return nil
}

// PurgeRefreshTokens keeps used tokens until they expire: a replay of one
// must still be recognised and revoke its chain. Like PurgeFlows it steps
// aside when another instance is purging.
func (s *Store) PurgeRefreshTokens(ctx context.Context, now time.Time) (int, error) {
	return s.purge(ctx, lockPurgeRefreshTokens, `DELETE FROM refresh_tokens WHERE hash IN (
		SELECT hash FROM refresh_tokens WHERE expires_at < $1 OR revoked_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`, now)
}
