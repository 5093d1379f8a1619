package sqlstore

import (
	"context"

	"github.com/tether-id/tether/core"
)

var (
	selectAvatar = sqlText(`SELECT user_id, source, type, data, fetched_at FROM avatars WHERE user_id = $1`)
	upsertAvatar = sqlText(`INSERT INTO avatars (user_id, source, type, data, fetched_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (user_id) DO UPDATE SET source = excluded.source, type = excluded.type, data = excluded.data, fetched_at = excluded.fetched_at`)
)

func (q *queries) GetAvatar(ctx context.Context, userID string) (core.Avatar, error) {
	var a core.Avatar
	err := q.queryRow(ctx, selectAvatar, userID).Scan(&a.UserID, &a.Source, &a.Type, &a.Data, timeCol{&a.FetchedAt})
	if len(a.Data) == 0 {
		a.Data = nil
	}
	return a, q.notFound(err, core.ErrNotFound, "get avatar")
}

func (q *queries) SaveAvatar(ctx context.Context, a core.Avatar) error {
	_, err := q.exec(ctx, upsertAvatar, a.UserID, a.Source, a.Type, nullBytes(a.Data), q.d.timeArg(a.FetchedAt))
	if q.d.isForeignKey(err) {
		return core.ErrNotFound
	}
	return q.errorf(err, "save avatar")
}
