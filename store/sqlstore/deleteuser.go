package sqlstore

import (
	"context"

	"github.com/tether-id/tether/core"
)

var (
	// Deleting the user deletes, by ON DELETE CASCADE, its identities,
	// sessions (and so their sealed upstream tokens), refresh tokens and
	// email links, and the rows of any later table that references users
	// the same way (the OpenID Provider's consents).
	deleteUser = sqlText(`DELETE FROM users WHERE id = $1`)
	// A link flow names its account without a foreign key (flows of a
	// sign-in name none).
	deleteUserFlows = sqlText(`DELETE FROM flows WHERE user_id = $1`)
	// Audit events have no foreign key either, on purpose: they outlive
	// the account, without the personal data they held.
	scrubUserEvents = sqlText(`UPDATE events SET ip = '', user_agent = '' WHERE user_id = $1 AND (ip <> '' OR user_agent <> '')`)
)

// DeleteUser locks the account's row first, so a change of the account
// racing the deletion (on any instance) either commits before it or
// finds the account gone.
func (q *queries) DeleteUser(ctx context.Context, id string) error {
	if _, err := q.lockUser(ctx, id); err != nil {
		return q.notFound(err, core.ErrNotFound, "delete user")
	}
	if _, err := q.exec(ctx, deleteUserFlows, id); err != nil {
		return q.errorf(err, "delete user")
	}
	if _, err := q.exec(ctx, scrubUserEvents, id); err != nil {
		return q.errorf(err, "delete user")
	}
	n, err := affected(q.exec(ctx, deleteUser, id))
	if err == nil && n == 0 {
		return core.ErrNotFound
	}
	return q.errorf(err, "delete user")
}

func (s *Store) DeleteUser(ctx context.Context, id string) error {
	return s.update(ctx, func(q *queries) error { return q.DeleteUser(ctx, id) })
}
