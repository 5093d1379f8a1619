package core

import (
	"context"
	"time"
)

// Store persists the domain. store/sqlstore implements it on SQLite and
// PostgreSQL; store/storetest is the conformance suite every
// implementation must pass.
//
// A Store is itself Queries: each call on it runs on its own (a read on
// the read pool, a write in its own transaction). Update runs several
// calls in one write transaction, so that one request's writes (a
// finished sign-in consumes its flow, refreshes the identity, starts a
// session and records the event) commit together or not at all, in one
// commit.
//
// Several tether instances may share one store, so every rule that
// concerns more than one row is enforced by the database, never by a
// read followed by a write in Go: email uniqueness (case-insensitive,
// via EmailKey), one identity per (provider, issuer, subject), one
// identity per (user, provider), single-use flows and refresh tokens.
type Store interface {
	Queries
	// Update runs fn in one write transaction and commits it when fn
	// returns nil; any error rolls back everything fn did. fn must use
	// only the Queries it is given (calling the Store from inside fn may
	// deadlock), must not wait on anything outside the database, and may
	// run more than once (a store retries a transaction the database
	// aborted to break a deadlock), so it must have no other effects.
	// Concurrent Updates may share one commit (SQLite's single writer
	// batches them), each with its own result.
	Update(ctx context.Context, fn func(q Queries) error) error
	// AuditEvents returns the newest q.Limit events that q selects
	// across accounts, newest first (by time, then by the order they
	// were recorded), with Cursor set. It sees every committed event.
	AuditEvents(ctx context.Context, q AuditQuery) ([]Event, error)
	// FollowEvents returns the events q selects that come after the
	// cursor after ("" is the start of the trail), in the order they
	// were committed, at most q.Limit (all when <= 0), with Cursor set;
	// and the cursor to follow from next: the last event's when q.Limit
	// cut the list short, else one past every event it looked at, so
	// that a reader skips what q did not select only once. It returns
	// only events whose place is settled: where writers commit out of
	// order (several connections to PostgreSQL), an event waits until
	// every transaction that began before it has ended, so that no
	// event ever appears behind a cursor already handed out. Polling
	// FollowEvents with the cursor it returns misses no event and
	// repeats none, whoever writes. A cursor that is not one of this
	// store's is CodeInvalid (field "after").
	FollowEvents(ctx context.Context, q AuditQuery, after EventCursor) ([]Event, EventCursor, error)
	// EventsEnd returns the cursor after every settled event: following
	// from it gives every event committed from then on.
	EventsEnd(ctx context.Context) (EventCursor, error)

	// Ping checks the database is reachable (readiness).
	Ping(ctx context.Context) error
	Close() error
}

// Queries are the reads and writes of the domain, in or out of a
// transaction (see Store).
type Queries interface {
	// CreateUser inserts u. ErrEmailTaken if another account has the email.
	CreateUser(ctx context.Context, u User) error
	// CreateUserWithIdentity inserts u and links id to it in one
	// transaction: either both exist afterwards or neither.
	// ErrEmailTaken or ErrIdentityTaken on conflict.
	CreateUserWithIdentity(ctx context.Context, u User, id Identity) error
	// GetUser returns ErrNotFound for an unknown id.
	GetUser(ctx context.Context, id string) (User, error)
	// GetUserByEmail matches case-insensitively; ErrNotFound if none.
	GetUserByEmail(ctx context.Context, email string) (User, error)
	// ListUsers returns accounts oldest first.
	ListUsers(ctx context.Context) ([]User, error)
	// UpdateUser loads the user, applies update and saves the result in one
	// transaction. update may return an error to abort. ErrEmailTaken if
	// the new email belongs to another account.
	UpdateUser(ctx context.Context, id string, update func(*User) error) (User, error)

	// LinkIdentity attaches id to an existing user. ErrIdentityTaken if the
	// identity belongs to any user, ErrProviderLinked if the user already
	// has an identity of that provider, ErrNotFound if the user is gone.
	LinkIdentity(ctx context.Context, id Identity) error
	// GetIdentity returns ErrNotFound when the identity is not linked.
	GetIdentity(ctx context.Context, key IdentityKey) (Identity, error)
	// ListIdentities returns the user's identities, oldest link first.
	ListIdentities(ctx context.Context, userID string) ([]Identity, error)
	// UpdateIdentity saves profile fields, claims and LastSignInAt of an
	// existing identity (matched by key). ErrNotFound when it is gone.
	UpdateIdentity(ctx context.Context, id Identity) error
	// TouchIdentity sets LastSignInAt of the identity with key, only if
	// it still belongs to userID: a sign-in that raced an unlink finds
	// ErrNotFound instead of signing in through an identity that is gone.
	TouchIdentity(ctx context.Context, key IdentityKey, userID string, at time.Time) error
	// UnlinkIdentity removes the user's identity of providerID. Inside the
	// same transaction it calls guard with the user and all their
	// identities (the one to remove included) so a rule such as "keep one
	// way to sign in" holds even when two unlinks race. ErrIdentityNotLinked
	// when there is nothing to remove.
	UnlinkIdentity(ctx context.Context, userID, providerID string, guard func(User, []Identity) error) (Identity, error)

	// CreateFlow stores a new flow.
	CreateFlow(ctx context.Context, f Flow) error
	// GetFlow returns the flow without consuming it: a finish reads its
	// flow, talks to the provider, and consumes the flow in the same
	// transaction as everything else it writes. ErrFlowNotFound when it
	// is missing or expired at now.
	GetFlow(ctx context.Context, id string, now time.Time) (Flow, error)
	// ConsumeFlow removes and returns the flow in one step, so exactly one
	// caller wins however many race. ErrFlowNotFound when it is missing,
	// already consumed or expired at now.
	ConsumeFlow(ctx context.Context, id string, now time.Time) (Flow, error)
	// PurgeFlows deletes flows that expired before now and returns how many.
	PurgeFlows(ctx context.Context, now time.Time) (int, error)

	// CreateSession stores a new session and the first refresh token of
	// its chain (first.ChainID is s.ID), or none when first is zero (an
	// app's session without offline access). ErrNotFound if the user is
	// gone.
	CreateSession(ctx context.Context, s Session, first RefreshToken) error
	// GetSession returns ErrNotFound for an unknown id.
	GetSession(ctx context.Context, id string) (Session, error)
	// ListSessions returns the user's sessions that are neither revoked
	// nor expired at now, most recently used first.
	ListSessions(ctx context.Context, userID string, now time.Time) ([]Session, error)
	// UpdateSession saves the fields a session changes after it began:
	// LastUsedAt, LastIP, UserAgent, UpstreamTokens and CheckedAt.
	// ErrNotFound when it is gone.
	UpdateSession(ctx context.Context, s Session) error

	// GetRefreshToken returns the token with hash, used or not, without
	// changing anything. ErrInvalidToken if unknown.
	GetRefreshToken(ctx context.Context, hash string) (RefreshToken, error)
	// RotateRefreshToken marks the token with hash used and stores the
	// token that next(old) returns, in one transaction, and returns that
	// new token. The session's LastUsedAt becomes now and its ExpiresAt
	// the new token's. A token that was
	// already used is a replay: the whole chain is revoked and
	// ErrTokenReused returned with the replayed token, so the caller can
	// tell whose session it was. Called on the Store, the revocation is
	// committed; inside Update it is part of the transaction, which the
	// caller must then commit. Unknown, expired or revoked tokens give
	// ErrInvalidToken.
	RotateRefreshToken(ctx context.Context, hash string, now time.Time, next func(old RefreshToken) RefreshToken) (RefreshToken, error)
	// RevokeRefreshChain revokes the session the token with hash belongs
	// to, and every token of its chain, and returns that token.
	// ErrInvalidToken if unknown.
	RevokeRefreshChain(ctx context.Context, hash string, now time.Time) (RefreshToken, error)
	// RevokeSession revokes the user's session with id and its chain.
	// ErrNotFound if the user has no such session.
	RevokeSession(ctx context.Context, userID, id string, now time.Time) error
	// RevokeUserRefreshTokens revokes every session of the user (ban,
	// password change).
	RevokeUserRefreshTokens(ctx context.Context, userID string, now time.Time) error
	// PurgeRefreshTokens deletes tokens that expired, or were revoked,
	// before now, and sessions left with no token, and returns how many
	// tokens went.
	PurgeRefreshTokens(ctx context.Context, now time.Time) (int, error)

	// ListSigningKeys returns the signing keys that have not expired at
	// now, newest first.
	ListSigningKeys(ctx context.Context, now time.Time) ([]SigningKey, error)
	// RotateSigningKey makes next the current key of its algorithm. When
	// replaces is not "", that key must still be current: it is retired
	// at next.CreatedAt and published until keepUntil. ErrKeyRotated when
	// another instance rotated first (replaces is not current any more,
	// or another current key exists).
	RotateSigningKey(ctx context.Context, next SigningKey, replaces string, keepUntil time.Time) error

	// CreateAuthCode stores a new code.
	CreateAuthCode(ctx context.Context, c AuthCode) error
	// UseAuthCode marks the code with hash used at now and returns it.
	// ErrInvalidGrant when it is unknown or expired. A code used before
	// is a replay: the session its first use started is revoked, and
	// ErrCodeReused returned with the code (inside Update, the caller
	// must commit the revocation).
	UseAuthCode(ctx context.Context, hash string, now time.Time) (AuthCode, error)

	// GetConsent returns ErrNotFound when the person has not consented.
	GetConsent(ctx context.Context, userID, clientID string) (Consent, error)
	// SaveConsent records c, replacing the person's earlier consent to
	// the same app.
	SaveConsent(ctx context.Context, c Consent) error
	// ListConsents returns the apps the person allowed, most recent first.
	ListConsents(ctx context.Context, userID string) ([]Consent, error)
	// DeleteConsent forgets the person's consent to the app (nothing to
	// forget is not an error).
	DeleteConsent(ctx context.Context, userID, clientID string) error
	// RevokeClientSessions revokes the person's sessions of the app.
	RevokeClientSessions(ctx context.Context, userID, clientID string, now time.Time) error

	// RevokeAccessToken lists an access token's id as revoked until it
	// expires.
	RevokeAccessToken(ctx context.Context, id string, expires time.Time) error
	// CheckAccessToken answers whether an access token of session (its
	// sid) with id (its jti) may still be used at now: ErrInvalidToken
	// when it was revoked or its session was revoked or is gone.
	CheckAccessToken(ctx context.Context, session, id string, now time.Time) error
	// PurgeGrants deletes codes, revoked token ids and signing keys that
	// expired before now and returns how many rows went.
	PurgeGrants(ctx context.Context, now time.Time) (int, error)

	// GetAvatar returns the account's kept picture; ErrNotFound if none.
	GetAvatar(ctx context.Context, userID string) (Avatar, error)
	// SaveAvatar keeps a picture (or a failed fetch), replacing the
	// account's earlier one. ErrNotFound if the account is gone.
	SaveAvatar(ctx context.Context, a Avatar) error

	// RecordEvent appends an audit event.
	RecordEvent(ctx context.Context, e Event) error
	// ListEvents returns the events of q.UserID, newest first, of the kinds
	// in q.Kinds (all kinds when empty), at most q.Limit, with Cursor set.
	ListEvents(ctx context.Context, q EventQuery) ([]Event, error)
	// PurgeEvents deletes events older than before and returns how many.
	PurgeEvents(ctx context.Context, before time.Time) (int, error)

	// Email links, the mail queue and account deletion (mailmodel.go).
	MailQueries
}
