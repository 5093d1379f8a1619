package sqlstore

import (
	"context"
	"encoding/json"
	"time"

	"github.com/tether-id/tether/core"
)

const keyColumns = `id, alg, public_jwk, private_key, created_at, retired_at, expires_at`

var (
	selectSigningKeys = sqlText(`SELECT ` + keyColumns + ` FROM signing_keys
		WHERE expires_at IS NULL OR expires_at > $1 ORDER BY created_at DESC, {{rowid}} DESC`)
	retireSigningKey = sqlText(`UPDATE signing_keys SET retired_at = $2, expires_at = $3 WHERE id = $1 AND retired_at IS NULL`)
	insertSigningKey = sqlText(`INSERT INTO signing_keys (` + keyColumns + `) VALUES ($1, $2, $3, $4, $5, NULL, NULL)`)

	codeColumns = `hash, client_id, redirect_uri, user_id, scopes, nonce, code_challenge, auth_time, amr, created_at, expires_at, used_at, session_id, browser`
	insertCode  = sqlText(`INSERT INTO auth_codes (` + codeColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`)
	useCode     = sqlText(`UPDATE auth_codes SET used_at = $2 WHERE hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING ` + codeColumns)
	selectCode  = sqlText(`SELECT ` + codeColumns + ` FROM auth_codes WHERE hash = $1`)

	selectConsent  = sqlText(`SELECT user_id, client_id, scopes, granted_at FROM consents WHERE user_id = $1 AND client_id = $2`)
	selectConsents = sqlText(`SELECT user_id, client_id, scopes, granted_at FROM consents WHERE user_id = $1 ORDER BY granted_at DESC, client_id`)
	upsertConsent  = sqlText(`INSERT INTO consents (user_id, client_id, scopes, granted_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at`)
	deleteConsent = sqlText(`DELETE FROM consents WHERE user_id = $1 AND client_id = $2`)

	revokeClientTokens = sqlText(`UPDATE refresh_tokens SET revoked_at = $3 WHERE revoked_at IS NULL AND chain_id IN (
		SELECT id FROM sessions WHERE user_id = $1 AND client_id = $2)`)
	revokeClientSessions = sqlText(`UPDATE sessions SET revoked_at = $3 WHERE user_id = $1 AND client_id = $2 AND revoked_at IS NULL`)

	insertRevokedToken = sqlText(`INSERT INTO revoked_tokens (id, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING`)
	// One query answers an access token's check: its session is live and
	// its id is not revoked.
	checkAccessToken = sqlText(`SELECT
		EXISTS (SELECT 1 FROM sessions WHERE id = $1 AND revoked_at IS NULL AND expires_at > $3),
		EXISTS (SELECT 1 FROM revoked_tokens WHERE id = $2)`)

	purgeCodes         = sqlText(`DELETE FROM auth_codes WHERE hash IN (SELECT hash FROM auth_codes WHERE expires_at < $1 LIMIT $2 {{skip_locked}})`)
	purgeRevokedTokens = sqlText(`DELETE FROM revoked_tokens WHERE id IN (SELECT id FROM revoked_tokens WHERE expires_at < $1 LIMIT $2 {{skip_locked}})`)
	purgeSigningKeys   = sqlText(`DELETE FROM signing_keys WHERE id IN (SELECT id FROM signing_keys WHERE expires_at < $1 LIMIT $2 {{skip_locked}})`)
)

func scanSigningKey(row scanner) (core.SigningKey, error) {
	var k core.SigningKey
	var pub string
	err := row.Scan(&k.ID, &k.Alg, &pub, &k.Private, timeCol{&k.CreatedAt}, timeCol{&k.RetiredAt}, timeCol{&k.ExpiresAt})
	k.Public = json.RawMessage(pub)
	return k, err
}

func (q *queries) ListSigningKeys(ctx context.Context, now time.Time) ([]core.SigningKey, error) {
	rows, err := q.query(ctx, selectSigningKeys, q.d.timeArg(now))
	keys, err := collect(rows, err, scanSigningKey)
	return keys, q.errorf(err, "list signing keys")
}

// RotateSigningKey relies on the unique index on the current key of each
// algorithm: of instances rotating at once, one inserts its key and the
// others fail on the index or find the old key retired.
func (q *queries) RotateSigningKey(ctx context.Context, next core.SigningKey, replaces string, keepUntil time.Time) error {
	if replaces != "" {
		n, err := affected(q.exec(ctx, retireSigningKey, replaces, q.d.timeArg(next.CreatedAt), q.d.timeArg(keepUntil)))
		if err != nil {
			return q.errorf(err, "retire signing key")
		}
		if n == 0 {
			return core.ErrKeyRotated
		}
	}
	_, err := q.exec(ctx, insertSigningKey, next.ID, next.Alg, string(next.Public), next.Private, q.d.timeArg(next.CreatedAt))
	if q.d.isUnique(err, "signing_keys", "current") || q.d.isUnique(err, "signing_keys", "alg") {
		return core.ErrKeyRotated
	}
	return q.errorf(err, "store signing key")
}

func (q *queries) scanCode(row scanner) (core.AuthCode, error) {
	var c core.AuthCode
	err := row.Scan(&c.Hash, &c.ClientID, &c.RedirectURI, &c.UserID, q.d.stringsScanner(&c.Scopes), &c.Nonce, &c.CodeChallenge,
		timeCol{&c.AuthTime}, &c.AMR, timeCol{&c.CreatedAt}, timeCol{&c.ExpiresAt}, timeCol{&c.UsedAt}, &c.SessionID, &c.Browser)
	return c, err
}

func (q *queries) CreateAuthCode(ctx context.Context, c core.AuthCode) error {
	scopes, err := q.d.stringsArg(c.Scopes)
	if err != nil {
		return err
	}
	_, err = q.exec(ctx, insertCode, c.Hash, c.ClientID, c.RedirectURI, c.UserID, scopes, c.Nonce, c.CodeChallenge,
		q.d.timeArg(c.AuthTime), c.AMR, q.d.timeArg(c.CreatedAt), q.d.timeArg(c.ExpiresAt), q.d.timeArg(c.UsedAt), c.SessionID, c.Browser)
	if q.d.isForeignKey(err) {
		return core.ErrNotFound
	}
	return q.errorf(err, "create auth code")
}

// UseAuthCode marks the code used with one conditional UPDATE: of
// exchanges racing on any instance, one gets the code; the others find
// it used, which is a replay.
func (q *queries) UseAuthCode(ctx context.Context, hash string, now time.Time) (core.AuthCode, error) {
	c, err := q.scanCode(q.queryRow(ctx, useCode, hash, q.d.timeArg(now)))
	if err == nil {
		c.UsedAt = time.Time{} // as it was before this use
		return c, nil
	}
	if !isNoRows(err) {
		return core.AuthCode{}, q.errorf(err, "use auth code")
	}
	c, err = q.scanCode(q.queryRow(ctx, selectCode, hash))
	if err != nil {
		return core.AuthCode{}, q.notFound(err, core.ErrInvalidGrant, "use auth code")
	}
	if c.UsedAt.IsZero() {
		return core.AuthCode{}, core.ErrInvalidGrant // expired
	}
	// A replay: whatever the first use started ends here.
	if _, err := q.d.lock(ctx, q.db, lockUserTokens, c.UserID, true); err != nil {
		return core.AuthCode{}, err
	}
	if err := q.revokeChain(ctx, c.SessionID, now); err != nil {
		return core.AuthCode{}, err
	}
	return c, core.ErrCodeReused
}

func (q *queries) scanConsent(row scanner) (core.Consent, error) {
	var c core.Consent
	err := row.Scan(&c.UserID, &c.ClientID, q.d.stringsScanner(&c.Scopes), timeCol{&c.GrantedAt})
	return c, err
}

func (q *queries) GetConsent(ctx context.Context, userID, clientID string) (core.Consent, error) {
	c, err := q.scanConsent(q.queryRow(ctx, selectConsent, userID, clientID))
	return c, q.notFound(err, core.ErrNotFound, "get consent")
}

func (q *queries) SaveConsent(ctx context.Context, c core.Consent) error {
	scopes, err := q.d.stringsArg(c.Scopes)
	if err != nil {
		return err
	}
	_, err = q.exec(ctx, upsertConsent, c.UserID, c.ClientID, scopes, q.d.timeArg(c.GrantedAt))
	if q.d.isForeignKey(err) {
		return core.ErrNotFound
	}
	return q.errorf(err, "save consent")
}

func (q *queries) ListConsents(ctx context.Context, userID string) ([]core.Consent, error) {
	rows, err := q.query(ctx, selectConsents, userID)
	cs, err := collect(rows, err, q.scanConsent)
	return cs, q.errorf(err, "list consents")
}

func (q *queries) DeleteConsent(ctx context.Context, userID, clientID string) error {
	_, err := q.exec(ctx, deleteConsent, userID, clientID)
	return q.errorf(err, "delete consent")
}

func (q *queries) RevokeClientSessions(ctx context.Context, userID, clientID string, now time.Time) error {
	if _, err := q.d.lock(ctx, q.db, lockUserTokens, userID, true); err != nil {
		return err
	}
	if _, err := q.exec(ctx, revokeClientTokens, userID, clientID, q.d.timeArg(now)); err != nil {
		return q.errorf(err, "revoke app tokens")
	}
	_, err := q.exec(ctx, revokeClientSessions, userID, clientID, q.d.timeArg(now))
	return q.errorf(err, "revoke app sessions")
}

func (q *queries) RevokeAccessToken(ctx context.Context, id string, expires time.Time) error {
	_, err := q.exec(ctx, insertRevokedToken, id, q.d.timeArg(expires))
	return q.errorf(err, "revoke access token")
}

func (q *queries) CheckAccessToken(ctx context.Context, session, id string, now time.Time) error {
	var live, revoked bool
	if err := q.queryRow(ctx, checkAccessToken, session, id, q.d.timeArg(now)).Scan(&live, &revoked); err != nil {
		return q.errorf(err, "check access token")
	}
	if !live || revoked {
		return core.ErrInvalidToken
	}
	return nil
}

func (q *queries) PurgeGrants(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for _, del := range []query{purgeCodes, purgeRevokedTokens, purgeSigningKeys} {
		n, err := q.purgeAll(ctx, del, now)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
