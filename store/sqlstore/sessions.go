package sqlstore

import (
	"context"
	"errors"
	"time"

	"github.com/tether-id/tether/core"
)

const sessionColumns = `id, user_id, client_id, scopes, method, provider_id, issuer, subject, upstream_tokens, checked_at,
	created_at, last_used_at, last_ip, user_agent, expires_at, revoked_at, auth_time, amr, nonce, parent_id`

const tokenColumns = `hash, chain_id, user_id, created_at, expires_at, used_at, revoked_at`

var (
	insertSession = sqlText(`INSERT INTO sessions (` + sessionColumns + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)`)
	selectSession  = sqlText(`SELECT ` + sessionColumns + ` FROM sessions WHERE id = $1`)
	selectSessions = sqlText(`SELECT ` + sessionColumns + ` FROM sessions
		WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY last_used_at DESC, {{rowid}} DESC`)
	updateSession = sqlText(`UPDATE sessions SET last_used_at = $2, last_ip = $3, user_agent = $4, upstream_tokens = $5,
		checked_at = $6 WHERE id = $1`)
	useSession         = sqlText(`UPDATE sessions SET last_used_at = $2, expires_at = $3 WHERE id = $1`)
	selectUserSession  = sqlText(`SELECT EXISTS (SELECT 1 FROM sessions WHERE id = $1 AND user_id = $2)`)
	revokeSession      = sqlText(`UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL`)
	revokeUserSessions = sqlText(`UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL`)
	// A dead session goes once its refresh tokens are gone (the step
	// before): deleting one that still had tokens would delete them by
	// cascade, uncounted, under another instance's token purge.
	purgeSessions = sqlText(`DELETE FROM sessions WHERE id IN (
		SELECT id FROM sessions WHERE (expires_at < $1 OR revoked_at < $1)
		AND NOT EXISTS (SELECT 1 FROM refresh_tokens WHERE refresh_tokens.chain_id = sessions.id) LIMIT $2 {{skip_locked}})`)

	insertToken     = sqlText(`INSERT INTO refresh_tokens (` + tokenColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7)`)
	selectToken     = sqlText(`SELECT ` + tokenColumns + ` FROM refresh_tokens WHERE hash = $1`)
	selectTokenUser = sqlText(`SELECT user_id FROM refresh_tokens WHERE hash = $1`)
	useToken        = sqlText(`UPDATE refresh_tokens SET used_at = $2
		WHERE hash = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2 RETURNING ` + tokenColumns)
	revokeChain      = sqlText(`UPDATE refresh_tokens SET revoked_at = $2 WHERE chain_id = $1 AND revoked_at IS NULL`)
	revokeUserTokens = sqlText(`UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL`)
	// Used tokens stay until they expire: a replay of one must still be
	// recognised and revoke its chain.
	purgeRefreshTokens = sqlText(`DELETE FROM refresh_tokens WHERE hash IN (
		SELECT hash FROM refresh_tokens WHERE expires_at < $1 OR revoked_at < $1 LIMIT $2 {{skip_locked}})`)
)

func (q *queries) scanSession(row scanner) (core.Session, error) {
	var s core.Session
	err := row.Scan(&s.ID, &s.UserID, &s.ClientID, q.d.stringsScanner(&s.Scopes), &s.Method,
		&s.Identity.ProviderID, &s.Identity.Issuer, &s.Identity.Subject, &s.UpstreamTokens, timeCol{&s.CheckedAt},
		timeCol{&s.CreatedAt}, timeCol{&s.LastUsedAt}, &s.LastIP, &s.UserAgent, timeCol{&s.ExpiresAt}, timeCol{&s.RevokedAt},
		timeCol{&s.AuthTime}, &s.AMR, &s.Nonce, &s.Parent)
	if len(s.UpstreamTokens) == 0 {
		s.UpstreamTokens = nil
	}
	return s, err
}

func scanToken(row scanner) (core.RefreshToken, error) {
	var t core.RefreshToken
	err := row.Scan(&t.Hash, &t.ChainID, &t.UserID, timeCol{&t.CreatedAt}, timeCol{&t.ExpiresAt}, timeCol{&t.UsedAt}, timeCol{&t.RevokedAt})
	return t, err
}

func (q *queries) CreateSession(ctx context.Context, s core.Session, first core.RefreshToken) error {
	noToken := first == core.RefreshToken{}
	if s.ID == "" || !noToken && (first.ChainID != s.ID || first.UserID != s.UserID || first.Hash == "") {
		return errors.New("create session: the first token must have a hash and belong to the session and its user")
	}
	scopes, err := q.d.stringsArg(s.Scopes)
	if err != nil {
		return err
	}
	_, err = q.exec(ctx, insertSession, s.ID, s.UserID, s.ClientID, scopes, string(s.Method),
		s.Identity.ProviderID, s.Identity.Issuer, s.Identity.Subject, nullBytes(s.UpstreamTokens), q.d.timeArg(s.CheckedAt),
		q.d.timeArg(s.CreatedAt), q.d.timeArg(s.LastUsedAt), s.LastIP, s.UserAgent, q.d.timeArg(s.ExpiresAt), q.d.timeArg(s.RevokedAt),
		q.d.timeArg(s.AuthTime), s.AMR, s.Nonce, s.Parent)
	if q.d.isForeignKey(err) {
		return core.ErrNotFound
	}
	if err != nil || noToken {
		return q.errorf(err, "create session")
	}
	return q.insertToken(ctx, first)
}

func (q *queries) insertToken(ctx context.Context, t core.RefreshToken) error {
	_, err := q.exec(ctx, insertToken, t.Hash, t.ChainID, t.UserID, q.d.timeArg(t.CreatedAt), q.d.timeArg(t.ExpiresAt),
		q.d.timeArg(t.UsedAt), q.d.timeArg(t.RevokedAt))
	if q.d.isForeignKey(err) {
		return core.ErrNotFound
	}
	return q.errorf(err, "store refresh token")
}

func (q *queries) GetSession(ctx context.Context, id string) (core.Session, error) {
	s, err := q.scanSession(q.queryRow(ctx, selectSession, id))
	return s, q.notFound(err, core.ErrNotFound, "get session")
}

func (q *queries) ListSessions(ctx context.Context, userID string, now time.Time) ([]core.Session, error) {
	rows, err := q.query(ctx, selectSessions, userID, q.d.timeArg(now))
	ss, err := collect(rows, err, q.scanSession)
	return ss, q.errorf(err, "list sessions")
}

func (q *queries) UpdateSession(ctx context.Context, s core.Session) error {
	n, err := affected(q.exec(ctx, updateSession, s.ID, q.d.timeArg(s.LastUsedAt), s.LastIP, s.UserAgent,
		nullBytes(s.UpstreamTokens), q.d.timeArg(s.CheckedAt)))
	if err == nil && n == 0 {
		return core.ErrNotFound
	}
	return q.errorf(err, "update session")
}

func (q *queries) GetRefreshToken(ctx context.Context, hash string) (core.RefreshToken, error) {
	t, err := scanToken(q.queryRow(ctx, selectToken, hash))
	return t, q.notFound(err, core.ErrInvalidToken, "get refresh token")
}

// lockTokensOf takes the lock on the refresh tokens of the owner of the
// token with hash (see lockUserTokens); ErrInvalidToken if there is no
// such token. A token's owner never changes, so reading it before the
// lock is safe.
func (q *queries) lockTokensOf(ctx context.Context, hash string) error {
	var userID string
	if err := q.queryRow(ctx, selectTokenUser, hash).Scan(&userID); err != nil {
		return q.notFound(err, core.ErrInvalidToken, "lock refresh tokens")
	}
	_, err := q.d.lock(ctx, q.db, lockUserTokens, userID, true)
	return err
}

// RotateRefreshToken marks the token used with one conditional UPDATE,
// under the owner's token lock: of rotations racing on any instance, the
// first wins; the others then find the token used, which is a replay.
// next runs inside the transaction; it may leave ChainID and UserID
// empty, they are the old token's.
func (q *queries) RotateRefreshToken(ctx context.Context, hash string, now time.Time, next func(old core.RefreshToken) core.RefreshToken) (core.RefreshToken, error) {
	if err := q.lockTokensOf(ctx, hash); err != nil {
		return core.RefreshToken{}, err
	}
	old, err := scanToken(q.queryRow(ctx, useToken, hash, q.d.timeArg(now)))
	if err != nil && !isNoRows(err) {
		return core.RefreshToken{}, q.errorf(err, "rotate refresh token")
	}
	if err != nil {
		// Not rotatable: find out why.
		old, err = q.GetRefreshToken(ctx, hash)
		if err != nil {
			return core.RefreshToken{}, err
		}
		if old.UsedAt.IsZero() {
			return core.RefreshToken{}, core.ErrInvalidToken // revoked or expired
		}
		// A replay: revoke the chain, then report it.
		if err := q.revokeChain(ctx, old.ChainID, now); err != nil {
			return core.RefreshToken{}, err
		}
		old.CreatedAt, old.ExpiresAt = stored(old.CreatedAt), stored(old.ExpiresAt)
		return old, core.ErrTokenReused
	}
	old.UsedAt = time.Time{} // as it was before this rotation
	out, err := core.Successor(old, next(old))
	if err != nil {
		return core.RefreshToken{}, err
	}
	if err := q.insertToken(ctx, out); err != nil {
		return core.RefreshToken{}, err
	}
	if _, err := q.exec(ctx, useSession, out.ChainID, q.d.timeArg(now), q.d.timeArg(out.ExpiresAt)); err != nil {
		return core.RefreshToken{}, q.errorf(err, "rotate refresh token")
	}
	out.CreatedAt, out.ExpiresAt = stored(out.CreatedAt), stored(out.ExpiresAt)
	return out, nil
}

// revokeChain revokes the session and its tokens that are not revoked
// yet; a revoked token keeps the time it was first revoked. The caller
// holds the owner's token lock.
func (q *queries) revokeChain(ctx context.Context, chainID string, now time.Time) error {
	if _, err := q.exec(ctx, revokeChain, chainID, q.d.timeArg(now)); err != nil {
		return q.errorf(err, "revoke refresh chain")
	}
	_, err := q.exec(ctx, revokeSession, chainID, q.d.timeArg(now))
	return q.errorf(err, "revoke session")
}

func (q *queries) RevokeRefreshChain(ctx context.Context, hash string, now time.Time) (core.RefreshToken, error) {
	if err := q.lockTokensOf(ctx, hash); err != nil {
		return core.RefreshToken{}, err
	}
	t, err := q.GetRefreshToken(ctx, hash)
	if err != nil {
		return core.RefreshToken{}, err
	}
	if err := q.revokeChain(ctx, t.ChainID, now); err != nil {
		return core.RefreshToken{}, err
	}
	return q.GetRefreshToken(ctx, hash)
}

func (q *queries) RevokeSession(ctx context.Context, userID, id string, now time.Time) error {
	if _, err := q.d.lock(ctx, q.db, lockUserTokens, userID, true); err != nil {
		return err
	}
	var ok bool
	if err := q.queryRow(ctx, selectUserSession, id, userID).Scan(&ok); err != nil {
		return q.errorf(err, "revoke session")
	}
	if !ok {
		return core.ErrNotFound
	}
	return q.revokeChain(ctx, id, now)
}

func (q *queries) RevokeUserRefreshTokens(ctx context.Context, userID string, now time.Time) error {
	if _, err := q.d.lock(ctx, q.db, lockUserTokens, userID, true); err != nil {
		return err
	}
	if _, err := q.exec(ctx, revokeUserTokens, userID, q.d.timeArg(now)); err != nil {
		return q.errorf(err, "revoke refresh tokens")
	}
	_, err := q.exec(ctx, revokeUserSessions, userID, q.d.timeArg(now))
	return q.errorf(err, "revoke sessions")
}

func (q *queries) PurgeRefreshTokens(ctx context.Context, now time.Time) (int, error) {
	n, err := q.purgeAll(ctx, purgeRefreshTokens, now)
	if err != nil {
		return n, err
	}
	_, err = q.purgeAll(ctx, purgeSessions, now)
	return n, err
}
