package core

import (
	"context"
	"time"
)

// Store persists the domain. Implementations live in store/sqlite and
// store/postgres; store/storetest is the conformance suite both must pass.
//
// Several tether instances may share one store, so every rule that concerns
// more than one row is enforced by the database, never by a read followed
// by a write in Go: email uniqueness (case-insensitive, via EmailKey), one
// identity per (provider, issuer, subject), one identity per (user,
// provider), single-use flows and refresh tokens.
type Store interface {
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
	// UpdateIdentity saves profile fields, claims, tokens and
	// LastSignInAt of an existing identity (matched by key).
	UpdateIdentity(ctx context.Context, id Identity) error
	// UnlinkIdentity removes the user's identity of providerID. Inside the
	// same transaction it calls guard with the user and all their
	// identities (the one to remove included) so a rule such as "keep one
	// way to sign in" holds even when two unlinks race. ErrIdentityNotLinked
	// when there is nothing to remove.
	UnlinkIdentity(ctx context.Context, userID, providerID string, guard func(User, []Identity) error) (Identity, error)

	// CreateFlow stores a new flow.
	CreateFlow(ctx context.Context, f Flow) error
	// ConsumeFlow removes and returns the flow in one step, so exactly one
	// caller wins however many race. ErrFlowNotFound when it is missing,
	// already consumed or expired at now.
	ConsumeFlow(ctx context.Context, id string, now time.Time) (Flow, error)
	// PurgeFlows deletes flows that expired before now and returns how many.
	PurgeFlows(ctx context.Context, now time.Time) (int, error)

	// CreateRefreshToken stores the first token of a new chain.
	CreateRefreshToken(ctx context.Context, t RefreshToken) error
	// RotateRefreshToken marks the token with hash used and stores the
	// token that next(old) returns, in one transaction. A token that was
	// already used is a replay: the whole chain is revoked (and stays
	// revoked) and ErrTokenReused returned with the replayed token, so the
	// theft can be recorded against its user. Unknown, expired or revoked
	// tokens give ErrInvalidToken.
	RotateRefreshToken(ctx context.Context, hash string, now time.Time, next func(old RefreshToken) RefreshToken) (RefreshToken, error)
	// RevokeRefreshChain revokes every token of the chain the token with
	// hash belongs to and returns that token. ErrInvalidToken if unknown.
	RevokeRefreshChain(ctx context.Context, hash string, now time.Time) (RefreshToken, error)
	// RevokeUserRefreshTokens revokes every chain of the user (ban,
	// password change).
	RevokeUserRefreshTokens(ctx context.Context, userID string, now time.Time) error
	// PurgeRefreshTokens deletes tokens that expired, or were revoked,
	// before now and returns how many.
	PurgeRefreshTokens(ctx context.Context, now time.Time) (int, error)

	// RecordEvent appends an audit event.
	RecordEvent(ctx context.Context, e Event) error
	// ListEvents returns the events of q.UserID, newest first, of the kinds
	// in q.Kinds (all kinds when empty), at most q.Limit.
	ListEvents(ctx context.Context, q EventQuery) ([]Event, error)

	// Ping checks the database is reachable (readiness).
	Ping(ctx context.Context) error
	Close() error
}
