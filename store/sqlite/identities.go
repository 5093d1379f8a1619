package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/tether-id/tether/core"
)

const identityColumns = `provider_id, issuer, subject, user_id, email, email_verified, name, avatar, claims, tokens, linked_at, last_sign_in_at`

func scanIdentity(row scanner) (core.Identity, error) {
	var id core.Identity
	var claims sql.NullString
	err := row.Scan(&id.ProviderID, &id.Issuer, &id.Subject, &id.UserID, &id.Email, &id.EmailVerified,
		&id.Name, &id.Avatar, &claims, &id.Tokens, nullTime{&id.LinkedAt}, nullTime{&id.LastSignInAt})
	if err != nil {
		return core.Identity{}, err
	}
	if claims.Valid {
		id.Claims = json.RawMessage(claims.String)
	}
	if len(id.Tokens) == 0 {
		id.Tokens = nil
	}
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
// first) or the user already has this provider (ErrProviderLinked). It
// runs inside a write transaction, so the conflicting row cannot vanish
// before it is named.
func insertIdentity(ctx context.Context, tx *sql.Tx, id core.Identity) error {
	res, err := tx.ExecContext(ctx, `INSERT INTO identities (`+identityColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		id.ProviderID, id.Issuer, id.Subject, id.UserID, id.Email, id.EmailVerified, id.Name, id.Avatar,
		claimsArg(id.Claims), tokensArg(id.Tokens), timeArg(id.LinkedAt), timeArg(id.LastSignInAt))
	if isForeignKey(err) {
		return core.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("sqlite: link identity: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err
	}
	var taken bool
	err = tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM identities WHERE provider_id = ? AND issuer = ? AND subject = ?)`,
		id.ProviderID, id.Issuer, id.Subject).Scan(&taken)
	if err != nil {
		return fmt.Errorf("sqlite: link identity: %w", err)
	}
	if taken {
		return core.ErrIdentityTaken
	}
	return core.ErrProviderLinked
}

// CreateUserWithIdentity links id to u whatever id.UserID says.
func (s *Store) CreateUserWithIdentity(ctx context.Context, u core.User, id core.Identity) error {
	id.UserID = u.ID
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := insertUser(ctx, tx, u); err != nil {
			return err
		}
		return insertIdentity(ctx, tx, id)
	})
}

func (s *Store) LinkIdentity(ctx context.Context, id core.Identity) error {
	return s.inTx(ctx, func(tx *sql.Tx) error { return insertIdentity(ctx, tx, id) })
}

func (s *Store) GetIdentity(ctx context.Context, key core.IdentityKey) (core.Identity, error) {
	id, err := scanIdentity(s.read.QueryRowContext(ctx, `SELECT `+identityColumns+` FROM identities
		WHERE provider_id = ? AND issuer = ? AND subject = ?`, key.ProviderID, key.Issuer, key.Subject))
	if err != nil {
		return core.Identity{}, notFound(err, core.ErrNotFound)
	}
	return id, nil
}

func listIdentities(ctx context.Context, q querier, userID string) ([]core.Identity, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+identityColumns+` FROM identities WHERE user_id = ? ORDER BY linked_at, rowid`, userID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list identities: %w", err)
	}
	defer rows.Close()
	var out []core.Identity
	for rows.Next() {
		id, err := scanIdentity(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list identities: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

func (s *Store) ListIdentities(ctx context.Context, userID string) ([]core.Identity, error) {
	return listIdentities(ctx, s.read, userID)
}

// UpdateIdentity never changes UserID or LinkedAt: an identity moves to
// another account only by unlink and link.
func (s *Store) UpdateIdentity(ctx context.Context, id core.Identity) error {
	res, err := s.db.ExecContext(ctx, `UPDATE identities SET email = ?, email_verified = ?, name = ?, avatar = ?,
		claims = ?, tokens = ?, last_sign_in_at = ? WHERE provider_id = ? AND issuer = ? AND subject = ?`,
		id.Email, id.EmailVerified, id.Name, id.Avatar, claimsArg(id.Claims), tokensArg(id.Tokens),
		timeArg(id.LastSignInAt), id.ProviderID, id.Issuer, id.Subject)
	if err != nil {
		return fmt.Errorf("sqlite: update identity: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: update identity: %w", err)
	} else if n == 0 {
		return core.ErrNotFound
	}
	return nil
}

// UnlinkIdentity calls guard inside the write transaction, which no other
// write can interleave with; a nil guard allows every unlink.
func (s *Store) UnlinkIdentity(ctx context.Context, userID, providerID string, guard func(core.User, []core.Identity) error) (core.Identity, error) {
	var removed core.Identity
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		u, err := getUser(ctx, tx, userID)
		if err == core.ErrNotFound {
			return core.ErrIdentityNotLinked
		} else if err != nil {
			return err
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
		_, err = tx.ExecContext(ctx, `DELETE FROM identities WHERE provider_id = ? AND issuer = ? AND subject = ?`,
			removed.ProviderID, removed.Issuer, removed.Subject)
		if err != nil {
			return fmt.Errorf("sqlite: unlink identity: %w", err)
		}
		return nil
	})
	if err != nil {
		return core.Identity{}, err
	}
	return removed, nil
}
