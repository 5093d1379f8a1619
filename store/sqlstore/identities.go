package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/tether-id/tether/core"
)

const identityColumns = `provider_id, issuer, subject, user_id, email, email_verified, name, avatar, claims, linked_at, last_sign_in_at`

var (
	insertIdentity = sqlText(`INSERT INTO identities (` + identityColumns + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING`)
	selectIdentityConflict = sqlText(`SELECT
		EXISTS (SELECT 1 FROM identities WHERE provider_id = $1 AND issuer = $2 AND subject = $3),
		EXISTS (SELECT 1 FROM identities WHERE user_id = $4 AND provider_id = $1)`)
	selectIdentity = sqlText(`SELECT ` + identityColumns + ` FROM identities
		WHERE provider_id = $1 AND issuer = $2 AND subject = $3`)
	selectIdentities = sqlText(`SELECT ` + identityColumns + ` FROM identities WHERE user_id = $1 ORDER BY linked_at, {{rowid}}`)
	updateIdentity   = sqlText(`UPDATE identities SET email = $4, email_verified = $5, name = $6, avatar = $7,
		claims = $8, last_sign_in_at = $9 WHERE provider_id = $1 AND issuer = $2 AND subject = $3`)
	touchIdentity = sqlText(`UPDATE identities SET last_sign_in_at = $5
		WHERE provider_id = $1 AND issuer = $2 AND subject = $3 AND user_id = $4`)
	deleteIdentity = sqlText(`DELETE FROM identities WHERE provider_id = $1 AND issuer = $2 AND subject = $3`)
)

func scanIdentity(row scanner) (core.Identity, error) {
	var id core.Identity
	var claims sql.NullString
	err := row.Scan(&id.ProviderID, &id.Issuer, &id.Subject, &id.UserID, &id.Email, &id.EmailVerified,
		&id.Name, &id.Avatar, &claims, timeCol{&id.LinkedAt}, timeCol{&id.LastSignInAt})
	if claims.Valid {
		id.Claims = json.RawMessage(claims.String)
	}
	return id, err
}

// claimsArg stores empty claims as NULL.
func claimsArg(c json.RawMessage) any {
	if len(c) == 0 {
		return nil
	}
	return string(c)
}

// insertIdentity links id unless a uniqueness rule forbids it, and then
// says which: the identity belongs to someone (ErrIdentityTaken, checked
// first) or the user already has this provider (ErrProviderLinked). ON
// CONFLICT DO NOTHING waits for a racing insert of the same key to commit
// or roll back (PostgreSQL), and leaves the transaction usable for the
// check.
func (q *queries) insertIdentity(ctx context.Context, id core.Identity) error {
	for range 3 {
		n, err := affected(q.exec(ctx, insertIdentity, id.ProviderID, id.Issuer, id.Subject, id.UserID, id.Email, id.EmailVerified,
			id.Name, id.Avatar, claimsArg(id.Claims), q.d.timeArg(id.LinkedAt), q.d.timeArg(id.LastSignInAt)))
		if q.d.isForeignKey(err) {
			return core.ErrNotFound
		}
		if err != nil || n == 1 {
			return q.errorf(err, "link identity")
		}
		var taken, linked bool
		err = q.queryRow(ctx, selectIdentityConflict, id.ProviderID, id.Issuer, id.Subject, id.UserID).Scan(&taken, &linked)
		switch {
		case err != nil:
			return q.errorf(err, "link identity")
		case taken:
			return core.ErrIdentityTaken
		case linked:
			return core.ErrProviderLinked
		}
		// The conflicting row was unlinked in between (PostgreSQL, READ
		// COMMITTED): try again.
	}
	return errors.New("link identity: the conflicting identity keeps changing")
}

// CreateUserWithIdentity links id to u whatever id.UserID says.
func (q *queries) CreateUserWithIdentity(ctx context.Context, u core.User, id core.Identity) error {
	if err := q.CreateUser(ctx, u); err != nil {
		return err
	}
	id.UserID = u.ID
	return q.insertIdentity(ctx, id)
}

func (q *queries) LinkIdentity(ctx context.Context, id core.Identity) error {
	return q.insertIdentity(ctx, id)
}

func (q *queries) GetIdentity(ctx context.Context, key core.IdentityKey) (core.Identity, error) {
	id, err := scanIdentity(q.queryRow(ctx, selectIdentity, key.ProviderID, key.Issuer, key.Subject))
	return id, q.notFound(err, core.ErrNotFound, "get identity")
}

func (q *queries) ListIdentities(ctx context.Context, userID string) ([]core.Identity, error) {
	rows, err := q.query(ctx, selectIdentities, userID)
	ids, err := collect(rows, err, scanIdentity)
	return ids, q.errorf(err, "list identities")
}

// UpdateIdentity never changes UserID or LinkedAt: an identity moves to
// another account only by unlink and link.
func (q *queries) UpdateIdentity(ctx context.Context, id core.Identity) error {
	n, err := affected(q.exec(ctx, updateIdentity, id.ProviderID, id.Issuer, id.Subject, id.Email, id.EmailVerified,
		id.Name, id.Avatar, claimsArg(id.Claims), q.d.timeArg(id.LastSignInAt)))
	if err == nil && n == 0 {
		return core.ErrNotFound
	}
	return q.errorf(err, "update identity")
}

func (q *queries) TouchIdentity(ctx context.Context, key core.IdentityKey, userID string, at time.Time) error {
	n, err := affected(q.exec(ctx, touchIdentity, key.ProviderID, key.Issuer, key.Subject, userID, q.d.timeArg(at)))
	if err == nil && n == 0 {
		return core.ErrNotFound
	}
	return q.errorf(err, "touch identity")
}

// UnlinkIdentity locks the user's row before it reads the identities and
// calls guard, so two unlinks of one account, on any instance, run one
// after the other and the second guard sees what the first left. A nil
// guard allows every unlink.
func (q *queries) UnlinkIdentity(ctx context.Context, userID, providerID string, guard func(core.User, []core.Identity) error) (core.Identity, error) {
	u, err := q.lockUser(ctx, userID)
	if err != nil {
		return core.Identity{}, q.notFound(err, core.ErrIdentityNotLinked, "unlink identity")
	}
	ids, err := q.ListIdentities(ctx, userID)
	if err != nil {
		return core.Identity{}, err
	}
	var removed core.Identity
	found := false
	for _, id := range ids {
		if id.ProviderID == providerID {
			removed, found = id, true
		}
	}
	if !found {
		return core.Identity{}, core.ErrIdentityNotLinked
	}
	if guard != nil {
		if err := guard(u, ids); err != nil {
			return core.Identity{}, err
		}
	}
	_, err = q.exec(ctx, deleteIdentity, removed.ProviderID, removed.Issuer, removed.Subject)
	return removed, q.errorf(err, "unlink identity")
}
