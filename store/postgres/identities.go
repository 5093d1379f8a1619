package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tether-id/tether/core"
)

const identityColumns = `provider_id, issuer, subject, user_id, email, email_verified, name, avatar, claims, tokens, linked_at, last_sign_in_at`

func scanIdentity(row pgx.Row) (core.Identity, error) {
	var id core.Identity
	var claims []byte
	var linked, lastSignIn pgtype.Timestamptz
	err := row.Scan(&id.ProviderID, &id.Issuer, &id.Subject, &id.UserID, &id.Email, &id.EmailVerified,
		&id.Name, &id.Avatar, &claims, &id.Tokens, &linked, &lastSignIn)
	if err != nil {
		return core.Identity{}, err
	}
	if len(claims) > 0 {
		id.Claims = json.RawMessage(claims)
	}
	if len(id.Tokens) == 0 {
		id.Tokens = nil
	}
	id.LinkedAt, id.LastSignInAt = fromTS(linked), fromTS(lastSignIn)
	return id, nil
}

// claimsArg and tokensArg store empty values as NULL.
func claimsArg(c json.RawMessage) any {
	if len(c) == 0 {
		return nil
	}
	return string(c)
}

func tokensArg(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// insertIdentity links id unless a uniqueness rule forbids it, and then
// says which: the identity belongs to someone (ErrIdentityTaken, checked
// first) or the user already has this provider (ErrProviderLinked).
// ON CONFLICT DO NOTHING waits for a racing insert of the same key to
// commit or roll back, and leaves the transaction usable for the check.
func insertIdentity(ctx context.Context, q querier, id core.Identity) error {
	for range 3 {
		tag, err := q.Exec(ctx, `INSERT INTO identities (`+identityColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING`,
			id.ProviderID, id.Issuer, id.Subject, id.UserID, id.Email, id.EmailVerified, id.Name, id.Avatar,
			claimsArg(id.Claims), tokensArg(id.Tokens), timeArg(id.LinkedAt), timeArg(id.LastSignInAt))
		if violates(err, foreignKeyViolation, "") {
			return core.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("postgres: link identity: %w", err)
		}
		if tag.RowsAffected() == 1 {
			return nil
		}
		var taken, linked bool
		err = q.QueryRow(ctx, `SELECT
			EXISTS (SELECT 1 FROM identities WHERE provider_id = $1 AND issuer = $2 AND subject = $3),
			EXISTS (SELECT 1 FROM identities WHERE user_id = $4 AND provider_id = $1)`,
			id.ProviderID, id.Issuer, id.Subject, id.UserID).Scan(&taken, &linked)
		if err != nil {
			return fmt.Errorf("postgres: link identity: %w", err)
		}
		switch {
		case taken:
			return core.ErrIdentityTaken
		case linked:
			return core.ErrProviderLinked
		}
		// The conflicting row was unlinked in between: try again.
	}
	return fmt.Errorf("postgres: link identity: conflicting identity keeps changing")
}

// CreateUserWithIdentity links id to u whatever id.UserID says.
func (s *Store) CreateUserWithIdentity(ctx context.Context, u core.User, id core.Identity) error {
	id.UserID = u.ID
	return s.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if err := insertUser(ctx, tx, u); err != nil {
			return err
		}
		return insertIdentity(ctx, tx, id)
	})
}

func (s *Store) LinkIdentity(ctx context.Context, id core.Identity) error {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	return insertIdentity(ctx, s.pool, id)
}

func (s *Store) GetIdentity(ctx context.Context, key core.IdentityKey) (core.Identity, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	id, err := scanIdentity(s.pool.QueryRow(ctx, `SELECT `+identityColumns+` FROM identities
		WHERE provider_id = $1 AND issuer = $2 AND subject = $3`, key.ProviderID, key.Issuer, key.Subject))
	if err != nil {
		return core.Identity{}, noRows(err, core.ErrNotFound, "get identity")
	}
	return id, nil
}

func listIdentities(ctx context.Context, q querier, userID string) ([]core.Identity, error) {
	rows, err := q.Query(ctx, `SELECT `+identityColumns+` FROM identities WHERE user_id = $1 ORDER BY linked_at, seq`, userID)
	if err != nil {
		return nil, fmt.Errorf("postgres: list identities: %w", err)
	}
	ids, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (core.Identity, error) { return scanIdentity(row) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list identities: %w", err)
	}
	return ids, nil
}

func (s *Store) ListIdentities(ctx context.Context, userID string) ([]core.Identity, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	return listIdentities(ctx, s.pool, userID)
}

// UpdateIdentity never changes UserID or LinkedAt: an identity moves to
// another account only by unlink and link.
func (s *Store) UpdateIdentity(ctx context.Context, id core.Identity) error {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `UPDATE identities SET email = $4, email_verified = $5, name = $6, avatar = $7,
		claims = $8, tokens = $9, last_sign_in_at = $10 WHERE provider_id = $1 AND issuer = $2 AND subject = $3`,
		id.ProviderID, id.Issuer, id.Subject, id.Email, id.EmailVerified, id.Name, id.Avatar,
		claimsArg(id.Claims), tokensArg(id.Tokens), timeArg(id.LastSignInAt))
	if err != nil {
		return fmt.Errorf("postgres: update identity: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return core.ErrNotFound
	}
	return nil
}

// UnlinkIdentity locks the user's row before it reads the identities and
// calls guard, so two unlinks of one account, on any instance, run one
// after the other and the second guard sees what the first left. A nil
// guard allows every unlink.
func (s *Store) UnlinkIdentity(ctx context.Context, userID, providerID string, guard func(core.User, []core.Identity) error) (core.Identity, error) {
	var removed core.Identity
	err := s.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		u, err := scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1 FOR NO KEY UPDATE`, userID))
		if err != nil {
			return noRows(err, core.ErrIdentityNotLinked, "unlink identity")
		}
		ids, err := listIdentities(ctx, tx, userID)
		if err != nil {
			return err
		}
		found := false
		for _, id := range ids {
			if id.ProviderID == providerID {
				removed, found = id, true
			}
		}
		if !found {
			return core.ErrIdentityNotLinked
		}
		if guard != nil {
			if err := guard(u, ids); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `DELETE FROM identities WHERE provider_id = $1 AND issuer = $2 AND subject = $3`,
			removed.ProviderID, removed.Issuer, removed.Subject)
		if err != nil {
			return fmt.Errorf("postgres: unlink identity: %w", err)
		}
		return nil
	})
	if err != nil {
		return core.Identity{}, err
	}
	return removed, nil
}
