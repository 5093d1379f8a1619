package core

import (
	"context"
	"time"
)

// LinkKind says what an email link does when it is followed.
type LinkKind string

const (
	// LinkVerifyEmail proves that the account's address is its owner's.
	LinkVerifyEmail LinkKind = "verify_email"
	// LinkResetPassword lets the account's address choose a new password.
	LinkResetPassword LinkKind = "reset_password"
	// LinkChangeEmail, sent to a new address, makes it the account's.
	LinkChangeEmail LinkKind = "change_email"
)

// EmailLink is the stored half of a link sent by mail. The link carries a
// random secret; only its SHA-256 (Hash) is kept. A link is single use,
// expires, and is bound to the address it was sent to and to Binding,
// whatever else must not have changed when it is followed (see the
// kinds).
type EmailLink struct {
	Hash   string
	UserID string
	Kind   LinkKind
	// Email is the address the link was sent to: the account's address
	// for verification and reset, the new address for a change.
	Email string
	// Binding is what must still hold when the link is used: a
	// fingerprint of the password hash for a reset (so a link dies once
	// the password changed by any means), the old address's EmailKey for
	// a change; "" for verification.
	Binding   string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero until used
}

// MailState is where a queued message is.
type MailState string

const (
	MailQueued MailState = "queued"
	MailSent   MailState = "sent"
	MailFailed MailState = "failed" // a permanent error, or retried too long
)

// QueuedMail is one message in the outgoing queue: the built message
// (its Message-ID and Date fixed, so every attempt sends the same one),
// sealed because it may carry a live link, and its delivery state.
type QueuedMail struct {
	ID    string
	Kind  string // mail.Kind*, for logs and metrics
	State MailState
	// Message is the sealed JSON of the mail.Message; nil once the row
	// is done (sent or failed).
	Message  []byte
	Attempts int
	// NextAttemptAt is when the message is due (again).
	NextAttemptAt time.Time
	// LeaseUntil is when the claim of the worker sending it lapses; zero
	// when no worker holds it.
	LeaseUntil time.Time
	LastError  string
	CreatedAt  time.Time
	FinishedAt time.Time // zero while queued
}

// MailCounts are the queue's rows by state.
type MailCounts struct{ Queued, Sent, Failed int }

// MailQueries are the Queries of email links, the mail queue and account
// deletion.
type MailQueries interface {
	// CreateEmailLink stores a new link and drops the user's other
	// unused links of the same kind: only the newest link of each kind
	// works. ErrNotFound if the user is gone.
	CreateEmailLink(ctx context.Context, l EmailLink) error
	// GetEmailLink returns the link with hash, used, expired or not,
	// without changing anything. ErrNotFound if unknown.
	GetEmailLink(ctx context.Context, hash string) (EmailLink, error)
	// ConsumeEmailLink marks the link with hash used and returns it, in
	// one step, so exactly one caller wins however many race.
	// ErrNotFound if unknown, ErrLinkUsed if used already, ErrLinkExpired
	// if it expired at now.
	ConsumeEmailLink(ctx context.Context, hash string, now time.Time) (EmailLink, error)
	// PurgeEmailLinks deletes links that expired before now, used or not,
	// and returns how many.
	PurgeEmailLinks(ctx context.Context, now time.Time) (int, error)

	// EnqueueMail adds m to the queue.
	EnqueueMail(ctx context.Context, m QueuedMail) error
	// ClaimMail takes the queued message that has been due the longest at
	// now and whose lease, if any, has lapsed: it leases it until
	// leaseUntil, counts an attempt and returns it. Claims racing on any
	// instance get different messages. ErrNotFound when none is due.
	ClaimMail(ctx context.Context, now, leaseUntil time.Time) (QueuedMail, error)
	// UpdateMail saves what an attempt changed: State, Message,
	// NextAttemptAt, LeaseUntil, LastError and FinishedAt. ErrNotFound
	// when the row is gone.
	UpdateMail(ctx context.Context, m QueuedMail) error
	// GetMail returns the row with id; ErrNotFound if there is none.
	GetMail(ctx context.Context, id string) (QueuedMail, error)
	// NextMailAt returns when the next queued message is due (the later
	// of its NextAttemptAt and LeaseUntil); ok is false when the queue is
	// empty.
	NextMailAt(ctx context.Context) (at time.Time, ok bool, err error)
	// CountMail counts the queue's rows by state.
	CountMail(ctx context.Context) (MailCounts, error)
	// PurgeMail deletes sent and failed rows that finished before before,
	// and returns how many.
	PurgeMail(ctx context.Context, before time.Time) (int, error)

	// DeleteUser deletes the account with id and everything that belongs
	// to it: its identities, sessions and refresh tokens, email links and
	// flows (and, through ON DELETE CASCADE, any table that references
	// users). Its audit events stay, with their IP address and user agent
	// emptied. ErrNotFound if there is no such account.
	DeleteUser(ctx context.Context, id string) error
}
