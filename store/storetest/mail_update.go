package storetest

import (
	"context"
	"time"

	"github.com/tether-id/tether/core"
)

// inUpdate's wrappers of core.MailQueries (see update.go).

func (s inUpdate) CreateEmailLink(ctx context.Context, l core.EmailLink) error {
	return tx0(s, ctx, func(q core.Queries) error { return q.CreateEmailLink(ctx, l) })
}
func (s inUpdate) GetEmailLink(ctx context.Context, hash string) (core.EmailLink, error) {
	return tx(s, ctx, func(q core.Queries) (core.EmailLink, error) { return q.GetEmailLink(ctx, hash) })
}
func (s inUpdate) ConsumeEmailLink(ctx context.Context, hash string, now time.Time) (core.EmailLink, error) {
	return tx(s, ctx, func(q core.Queries) (core.EmailLink, error) { return q.ConsumeEmailLink(ctx, hash, now) })
}
func (s inUpdate) PurgeEmailLinks(ctx context.Context, now time.Time) (int, error) {
	return tx(s, ctx, func(q core.Queries) (int, error) { return q.PurgeEmailLinks(ctx, now) })
}
func (s inUpdate) EnqueueMail(ctx context.Context, m core.QueuedMail) error {
	return tx0(s, ctx, func(q core.Queries) error { return q.EnqueueMail(ctx, m) })
}
func (s inUpdate) ClaimMail(ctx context.Context, now, leaseUntil time.Time) (core.QueuedMail, error) {
	return tx(s, ctx, func(q core.Queries) (core.QueuedMail, error) { return q.ClaimMail(ctx, now, leaseUntil) })
}
func (s inUpdate) UpdateMail(ctx context.Context, m core.QueuedMail) error {
	return tx0(s, ctx, func(q core.Queries) error { return q.UpdateMail(ctx, m) })
}
func (s inUpdate) GetMail(ctx context.Context, id string) (core.QueuedMail, error) {
	return tx(s, ctx, func(q core.Queries) (core.QueuedMail, error) { return q.GetMail(ctx, id) })
}
func (s inUpdate) NextMailAt(ctx context.Context) (time.Time, bool, error) {
	var ok bool
	at, err := tx(s, ctx, func(q core.Queries) (time.Time, error) {
		at, found, err := q.NextMailAt(ctx)
		ok = found
		return at, err
	})
	return at, ok, err
}
func (s inUpdate) CountMail(ctx context.Context) (core.MailCounts, error) {
	return tx(s, ctx, func(q core.Queries) (core.MailCounts, error) { return q.CountMail(ctx) })
}
func (s inUpdate) PurgeMail(ctx context.Context, before time.Time) (int, error) {
	return tx(s, ctx, func(q core.Queries) (int, error) { return q.PurgeMail(ctx, before) })
}
func (s inUpdate) DeleteUser(ctx context.Context, id string) error {
	return tx0(s, ctx, func(q core.Queries) error { return q.DeleteUser(ctx, id) })
}
