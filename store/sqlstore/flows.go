package sqlstore

import (
	"context"
	"time"

	"github.com/tether-id/tether/core"
)

const flowColumns = `id, provider_id, purpose, user_id, code_verifier, nonce, redirect_uri, return_to, browser_hash, created_at, expires_at`

var (
	insertFlow  = sqlText(`INSERT INTO flows (` + flowColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`)
	selectFlow  = sqlText(`SELECT ` + flowColumns + ` FROM flows WHERE id = $1`)
	consumeFlow = sqlText(`DELETE FROM flows WHERE id = $1 RETURNING ` + flowColumns)
	purgeFlows  = sqlText(`DELETE FROM flows WHERE id IN (
		SELECT id FROM flows WHERE expires_at < $1 LIMIT $2 {{skip_locked}})`)
)

func scanFlow(row scanner) (core.Flow, error) {
	var f core.Flow
	err := row.Scan(&f.ID, &f.ProviderID, &f.Purpose, &f.UserID, &f.CodeVerifier, &f.Nonce, &f.RedirectURI, &f.ReturnTo,
		&f.BrowserHash, timeCol{&f.CreatedAt}, timeCol{&f.ExpiresAt})
	return f, err
}

func (q *queries) CreateFlow(ctx context.Context, f core.Flow) error {
	_, err := q.exec(ctx, insertFlow, f.ID, f.ProviderID, string(f.Purpose), f.UserID, f.CodeVerifier, f.Nonce, f.RedirectURI,
		f.ReturnTo, f.BrowserHash, q.d.timeArg(f.CreatedAt), q.d.timeArg(f.ExpiresAt))
	return q.errorf(err, "create flow")
}

func (q *queries) GetFlow(ctx context.Context, id string, now time.Time) (core.Flow, error) {
	f, err := scanFlow(q.queryRow(ctx, selectFlow, id))
	if err != nil {
		return core.Flow{}, q.notFound(err, core.ErrFlowNotFound, "get flow")
	}
	if !now.Before(f.ExpiresAt) {
		return core.Flow{}, core.ErrFlowNotFound
	}
	return f, nil
}

// ConsumeFlow deletes the flow and returns what it deleted, in one
// statement: of callers racing on any instance, only one gets the row. An
// expired flow is deleted too, and reported missing.
func (q *queries) ConsumeFlow(ctx context.Context, id string, now time.Time) (core.Flow, error) {
	f, err := scanFlow(q.queryRow(ctx, consumeFlow, id))
	if err != nil {
		return core.Flow{}, q.notFound(err, core.ErrFlowNotFound, "consume flow")
	}
	if !now.Before(f.ExpiresAt) {
		return core.Flow{}, core.ErrFlowNotFound
	}
	return f, nil
}

func (q *queries) PurgeFlows(ctx context.Context, now time.Time) (int, error) {
	return q.purgeAll(ctx, purgeFlows, now)
}
