package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/tether-id/tether/core"
)

const tokenColumns = `hash, chain_id, user_id, created_at, expires_at, used_at, revoked_at`

func getToken(ctx context.Context, q querier, hash string) (core.RefreshToken, error) {
	var t core.RefreshToken
	err := q.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM refresh_tokens WHERE hash = ?`, hash).Scan(
		&t.Hash, &t.ChainID, &t.UserID, nullTime{&t.CreatedAt}, nullTime{&t.ExpiresAt}, nullTime{&t.UsedAt}, nullTime{&t.RevokedAt})
	if err != nil {
		return core.RefreshToken{}, notFound(err, core.ErrInvalidToken)
	}
	return t, nil
}

func insertToken(ctx context.Context, q querier, t core.RefreshToken) error {
	_, err := q.ExecContext(ctx, `INSERT INTO refresh_tokens (`+tokenColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		t.Hash, t.ChainID, t.UserID, timeArg(t.CreatedAt), timeArg(t.ExpiresAt), timeArg(t.UsedAt), timeArg(t.RevokedAt))
	if isForeignKey(err) {
		return core.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("sqlite: store refresh token: %w", err)
	}
	return nil
}

// CreateRefreshToken returns ErrNotFound when the user does not exist.
func (s *Store) CreateRefreshToken(ctx context.Context, t core.RefreshToken) error {
	return insertToken(ctx, s.db, t)
}

// RotateRefreshToken calls next inside the write transaction. next may
// leave ChainID and UserID empty; they are the old token's.
func (s *Store) RotateRefreshToken(ctx context.Context, hash string, now time.Time, next func(old core.RefreshToken) core.RefreshToken) (core.RefreshToken, error) {
	var out core.RefreshToken
	reused := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		old, err := getToken(ctx, tx, hash)
		if err != nil {
			return err
		}
		if !old.UsedAt.IsZero() {
			// A replay: commit the revocation, then report it.
			reused, out = true, old
			return revokeChain(ctx, tx, old.ChainID, now)
		}
		if !old.RevokedAt.IsZero() || !now.Before(old.ExpiresAt) {
			return core.ErrInvalidToken
		}
		if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET used_at = ? WHERE hash = ?`, timeArg(now), hash); err != nil {
			return fmt.Errorf("sqlite: rotate refresh token: %w", err)
		}
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
		return core.RefreshToken{}, fmt.Errorf("sqlite: rotate refresh token: the new token must have a hash and continue chain %s of user %s", old.ChainID, old.UserID)
	}
	next.UsedAt, next.RevokedAt = time.Time{}, time.Time{}
	return next, nil
}

// revokeChain revokes the chain's tokens that are not revoked yet; a
// revoked token keeps the time it was first revoked.
func revokeChain(ctx context.Context, q querier, chainID string, now time.Time) error {
	_, err := q.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = ? WHERE chain_id = ? AND revoked_at IS NULL`, timeArg(now), chainID)
	if err != nil {
		return fmt.Errorf("sqlite: revoke refresh chain: %w", err)
	}
	return nil
}

func (s *Store) RevokeRefreshChain(ctx context.Context, hash string, now time.Time) (core.RefreshToken, error) {
	var out core.RefreshToken
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		t, err := getToken(ctx, tx, hash)
		if err != nil {
			return err
		}
		if err := revokeChain(ctx, tx, t.ChainID, now); err != nil {
			return err
		}
		out, err = getToken(ctx, tx, hash)
		return err
	})
	return out, err
}

func (s *Store) RevokeUserRefreshTokens(ctx context.Context, userID string, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL`, timeArg(now), userID)
	if err != nil {
		return fmt.Errorf("sqlite: revoke refresh tokens: %w", err)
	}
	return nil
}

// PurgeRefreshTokens keeps used tokens until they expire: a replay of one
// must still be recognised and revoke its chain.
func (s *Store) PurgeRefreshTokens(ctx context.Context, now time.Time) (int, error) {
	return s.purge(ctx, `DELETE FROM refresh_tokens WHERE rowid IN (
		SELECT rowid FROM refresh_tokens WHERE expires_at < ?1
		UNION ALL
		SELECT rowid FROM refresh_tokens WHERE revoked_at < ?1
		LIMIT ?2)`, now)
}
