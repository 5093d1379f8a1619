package sqlstore

import (
	"context"
	"time"

	"github.com/tether-id/tether/core"
)

const linkColumns = `hash, user_id, kind, email, binding, created_at, expires_at, used_at`

var (
	insertLink = sqlText(`INSERT INTO email_links (` + linkColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`)
	// Only the newest unused link of a kind works: a new one replaces
	// the others.
	dropUnusedLinks = sqlText(`DELETE FROM email_links WHERE user_id = $1 AND kind = $2 AND used_at IS NULL`)
	selectLink      = sqlText(`SELECT ` + linkColumns + ` FROM email_links WHERE hash = $1`)
	useLink         = sqlText(`UPDATE email_links SET used_at = $2
		WHERE hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING ` + linkColumns)
	purgeLinks = sqlText(`DELETE FROM email_links WHERE hash IN (
		SELECT hash FROM email_links WHERE expires_at < $1 LIMIT $2 {{skip_locked}})`)
)

func scanLink(row scanner) (core.EmailLink, error) {
	var l core.EmailLink
	err := row.Scan(&l.Hash, &l.UserID, &l.Kind, &l.Email, &l.Binding, timeCol{&l.CreatedAt}, timeCol{&l.ExpiresAt}, timeCol{&l.UsedAt})
	return l, err
}

func (q *queries) CreateEmailLink(ctx context.Context, l core.EmailLink) error {
	if _, err := q.exec(ctx, dropUnusedLinks, l.UserID, string(l.Kind)); err != nil {
		return q.errorf(err, "create email link")
	}
	_, err := q.exec(ctx, insertLink, l.Hash, l.UserID, string(l.Kind), l.Email, l.Binding,
		q.d.timeArg(l.CreatedAt), q.d.timeArg(l.ExpiresAt), q.d.timeArg(l.UsedAt))
	if q.d.isForeignKey(err) {
		return core.ErrNotFound
	}
	return q.errorf(err, "create email link")
}

func (q *queries) GetEmailLink(ctx context.Context, hash string) (core.EmailLink, error) {
	l, err := scanLink(q.queryRow(ctx, selectLink, hash))
	return l, q.notFound(err, core.ErrNotFound, "get email link")
}

// ConsumeEmailLink marks the link used with one conditional UPDATE: of
// callers racing on any instance, the first wins and the others find it
// used.
func (q *queries) ConsumeEmailLink(ctx context.Context, hash string, now time.Time) (core.EmailLink, error) {
	l, err := scanLink(q.queryRow(ctx, useLink, hash, q.d.timeArg(now)))
	if err == nil {
		return l, nil
	}
	if !isNoRows(err) {
		return core.EmailLink{}, q.errorf(err, "consume email link")
	}
	// Not usable: find out why.
	l, err = q.GetEmailLink(ctx, hash)
	switch {
	case err != nil:
		return core.EmailLink{}, err
	case !l.UsedAt.IsZero():
		return core.EmailLink{}, core.ErrLinkUsed
	default:
		return core.EmailLink{}, core.ErrLinkExpired
	}
}

func (q *queries) PurgeEmailLinks(ctx context.Context, now time.Time) (int, error) {
	return q.purgeAll(ctx, purgeLinks, now)
}

// The Store's own: reads on the read pool, each write its own
// transaction.

func (s *Store) CreateEmailLink(ctx context.Context, l core.EmailLink) error {
	return s.update(ctx, func(q *queries) error { return q.CreateEmailLink(ctx, l) })
}

func (s *Store) GetEmailLink(ctx context.Context, hash string) (core.EmailLink, error) {
	return reading(s, ctx, func(ctx context.Context, q *queries) (core.EmailLink, error) { return q.GetEmailLink(ctx, hash) })
}

func (s *Store) ConsumeEmailLink(ctx context.Context, hash string, now time.Time) (core.EmailLink, error) {
	return writing(s, ctx, func(ctx context.Context, q *queries) (core.EmailLink, error) {
		return q.ConsumeEmailLink(ctx, hash, now)
	})
}

func (s *Store) PurgeEmailLinks(ctx context.Context, now time.Time) (int, error) {
	return s.purge(ctx, purgeLinks, now)
}
