package core

import (
	"context"
	"slices"
	"time"
)

// The audit trail. Every change to an account is an Event, recorded in
// the transaction of the change itself, so the trail holds exactly what
// happened: a change that rolled back left no event, and no event lacks
// its change. Refusals that change nothing (a wrong password, a refused
// unlink) are recorded on their own. An event keeps no personal data but
// the request's IP address and user agent (capped by the surfaces), and
// the events of a deleted account lose even those.
//
// The kinds are listed here, once, in EventKinds; docs/operations.md
// describes each one for operators.

// EventKind names an audit event.
type EventKind string

// Sign-in, sessions and linked identities.
const (
	// EventSignUp: an account was made by its owner, with a password
	// (Method password) or by a first upstream sign-in (openid).
	EventSignUp EventKind = "sign_up"
	// EventSignIn and EventSignInFailed: a password or upstream sign-in
	// to tether. A failure's Detail is the error code; its UserID is ""
	// when the attempt named no account.
	EventSignIn       EventKind = "sign_in"
	EventSignInFailed EventKind = "sign_in_failed"
	// EventLink: an upstream identity was linked to the account, by its
	// owner (a link flow), or at a sign-in by verified email (Detail
	// "verified_email"). EventLinkFailed: a link flow failed (Detail, the
	// code).
	EventLink       EventKind = "link"
	EventLinkFailed EventKind = "link_failed"
	// EventUnlink: an identity was unlinked. EventUnlinkFailed: an
	// unlink was refused (Detail, the code: last_sign_in_method,
	// identity_not_linked, forbidden, banned, ...).
	EventUnlink       EventKind = "unlink"
	EventUnlinkFailed EventKind = "unlink_failed"
	// EventRefresh: a refresh token was rotated; a failed one (Detail
	// banned or inactive) ended the session of an account that may no
	// longer sign in. EventRefreshReused: a used refresh token came back,
	// and its session was revoked.
	EventRefresh       EventKind = "token_refresh"
	EventRefreshReused EventKind = "token_reuse"
	// EventSignOut: a session was signed out (the device itself, or from
	// the account's list of devices). EventOtherSessionsRevoked: every
	// other device was.
	EventSignOut              EventKind = "sign_out"
	EventOtherSessionsRevoked EventKind = "other_sessions_revoked"
	// EventUpstreamRevoked: a refresh re-checked the session's upstream
	// account and the provider said the grant or the account is gone, so
	// the session was revoked (Actor system).
	EventUpstreamRevoked EventKind = "upstream_revoked"
)

// The account's address and password: the email flows, and the admin.
const (
	EventVerifyEmailSent EventKind = "verify_email_sent"
	// EventEmailVerified: the address was verified by its link, or
	// marked verified by an admin. EventEmailUnverified: an admin marked
	// it unverified.
	EventEmailVerified   EventKind = "email_verified"
	EventEmailUnverified EventKind = "email_unverified"
	// EventPasswordResetRequest: a reset link was asked for; a failure's
	// Detail says why none went out (unknown_address, ...).
	EventPasswordResetRequest EventKind = "password_reset_requested"
	EventPasswordReset        EventKind = "password_reset"
	// EventPasswordChanged: an admin set the password.
	EventPasswordChanged EventKind = "password_changed"
	// EventEmailChangeRequested and EventEmailChanged: the owner asked
	// for a new address and followed the link sent to it, or an admin
	// changed the address.
	EventEmailChangeRequested EventKind = "email_change_requested"
	EventEmailChanged         EventKind = "email_changed"
	// EventEmailLinkFailed: a mailed link was refused (Detail
	// "<link kind>:<reason>", such as reset_password:expired).
	EventEmailLinkFailed EventKind = "email_link_failed"
)

// The account itself: what admins do, and deletion.
const (
	// EventAccountCreated: an admin made the account (sign-ups are
	// EventSignUp).
	EventAccountCreated EventKind = "account_created"
	// EventBan: the status became manual_banned or sys_banned (Detail).
	// EventUnban: a banned account became active or inactive (Detail).
	// EventDeactivate and EventActivate: active to inactive and back.
	EventBan        EventKind = "ban"
	EventUnban      EventKind = "unban"
	EventDeactivate EventKind = "deactivate"
	EventActivate   EventKind = "activate"
	// EventGrant and EventRevoke: a permission (Detail) was granted or
	// revoked, one event each.
	EventGrant  EventKind = "grant"
	EventRevoke EventKind = "revoke"
	// EventProfileChanged: profile fields changed; Detail names them
	// (nickname, avatar, language), never their values.
	EventProfileChanged EventKind = "profile_changed"
	// EventAccountDeleted: the account was deleted by its owner or an
	// admin. It keeps no IP address or user agent, nor do the account's
	// earlier events.
	EventAccountDeleted EventKind = "account_deleted"
)

// Events of tether's OpenID Provider: an app got a code for a person
// (app_authorize), redeemed it (app_sign_in; a refused one names why in
// Detail), refreshed its tokens (app_token_refresh) or replayed a code or
// a refresh token (app_token_reuse); a person consented or refused
// (app_consent), revoked an app's access (app_revoked) or signed out
// through an app (app_sign_out); an app revoked a token
// (app_token_revoked).
const (
	EventAppAuthorize    EventKind = "app_authorize"
	EventAppSignIn       EventKind = "app_sign_in"
	EventAppRefresh      EventKind = "app_token_refresh"
	EventAppReused       EventKind = "app_token_reuse"
	EventAppConsent      EventKind = "app_consent"
	EventAppRevoked      EventKind = "app_revoked"
	EventAppTokenRevoked EventKind = "app_token_revoked"
	EventAppSignOut      EventKind = "app_sign_out"
)

// eventKinds is every kind, in the order of the documentation.
var eventKinds = []EventKind{
	EventSignUp, EventSignIn, EventSignInFailed, EventLink, EventLinkFailed, EventUnlink, EventUnlinkFailed,
	EventRefresh, EventRefreshReused, EventSignOut, EventOtherSessionsRevoked, EventUpstreamRevoked,
	EventVerifyEmailSent, EventEmailVerified, EventEmailUnverified, EventPasswordResetRequest, EventPasswordReset,
	EventPasswordChanged, EventEmailChangeRequested, EventEmailChanged, EventEmailLinkFailed,
	EventAccountCreated, EventBan, EventUnban, EventDeactivate, EventActivate, EventGrant, EventRevoke,
	EventProfileChanged, EventAccountDeleted,
	EventAppAuthorize, EventAppConsent, EventAppSignIn, EventAppRefresh, EventAppReused, EventAppTokenRevoked,
	EventAppRevoked, EventAppSignOut,
}

// EventKinds returns every kind of audit event tether records.
func EventKinds() []EventKind { return slices.Clone(eventKinds) }

// Known reports whether tether records events of kind k.
func (k EventKind) Known() bool { return slices.Contains(eventKinds, k) }

// Actor says who made a change: the person (or whoever holds their
// credentials), an admin, or tether on its own.
type Actor string

const (
	// ActorUser is someone at one of tether's surfaces or at an app: the
	// account's owner, or someone trying to be.
	ActorUser Actor = "user"
	// ActorAdminCLI is an operator running tether's admin commands
	// (tether user ...).
	ActorAdminCLI Actor = "admin:cli"
	// ActorSystem is tether itself, deciding on what it learnt (an
	// upstream re-check).
	ActorSystem Actor = "system"
)

// AdminCLI is the Client of the admin commands: no address, no user
// agent, and ActorAdminCLI.
var AdminCLI = Client{Actor: ActorAdminCLI}

// Event is one audit record.
type Event struct {
	ID         string
	UserID     string // "" when the event could not be tied to an account
	Kind       EventKind
	Actor      Actor
	Method     Method
	ProviderID string
	ClientID   string // the app, for events of tether's OpenID Provider
	Success    bool
	IP         string
	UserAgent  string
	Detail     string // the error code on failures; see the kinds
	At         time.Time
	// Cursor is the event's place in the trail, set by the store when it
	// reads the event (FollowEvents resumes after it); "" on an event to
	// record.
	Cursor EventCursor
}

// EventQuery selects one account's audit events.
type EventQuery struct {
	UserID string
	Kinds  []EventKind
	Limit  int
}

// AuditQuery selects audit events across accounts (tether events).
type AuditQuery struct {
	// UserID keeps one account's events; "" keeps every event, those
	// tied to no account included.
	UserID string
	// Kinds keeps events of these kinds; all kinds when empty.
	Kinds []EventKind
	// Since keeps events at or after it; zero keeps all.
	Since time.Time
	// Limit is how many events at most; <= 0 is no limit.
	Limit int
}

// EventCursor is a place in the audit trail, in the order events were
// committed, so that a reader that follows the trail from one misses
// nothing and repeats nothing, however many instances write. Its form is
// the store's; "" is the start of the trail.
type EventCursor string

// AuditEvents returns the newest q.Limit events q selects, newest first,
// with every event committed so far in view.
func (s *Service) AuditEvents(ctx context.Context, q AuditQuery) ([]Event, error) {
	events, err := s.store.AuditEvents(ctx, q)
	return events, internal(err)
}

// FollowEvents returns the events q selects that come after the cursor
// after, oldest first, and where to continue (see Store.FollowEvents).
func (s *Service) FollowEvents(ctx context.Context, q AuditQuery, after EventCursor) ([]Event, EventCursor, error) {
	events, next, err := s.store.FollowEvents(ctx, q, after)
	return events, next, internal(err)
}

// EventsEnd returns the cursor after every event committed so far: what
// a reader that wants only new events follows from.
func (s *Service) EventsEnd(ctx context.Context) (EventCursor, error) {
	c, err := s.store.EventsEnd(ctx)
	return c, internal(err)
}
