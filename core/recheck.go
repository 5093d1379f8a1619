package core

import (
	"context"
	"errors"
	"time"

	"github.com/tether-id/tether/provider"
)

// recheckTimeout bounds the upstream call of one re-check: a refresh
// waits for it, and an upstream that does not answer in time is merely
// unavailable.
const recheckTimeout = 5 * time.Second

// upstreamCheck is what re-checking a session's upstream account found.
// The zero value found nothing to write.
type upstreamCheck struct {
	// checked is true when the provider vouched for the account again:
	// the session then takes tokens and at as its UpstreamTokens and
	// CheckedAt.
	checked bool
	tokens  []byte // sealed for the session
	at      time.Time
	// identity is the identity with its profile as the provider gave it
	// now; nil when nothing changed.
	identity *Identity
}

// recheck re-checks the upstream account behind ses, as Dex does when a
// refresh token is used: if ses came from an upstream sign-in, its
// provider is a provider.Refresher with RecheckEvery set, and
// RecheckEvery has passed since ses.CheckedAt, the provider refreshes the
// sealed upstream tokens (or checks a still-valid access token) and
// answers with the current profile.
//
//   - The provider says the grant or the account is gone: the session
//     (its whole refresh chain) is revoked with an EventUpstreamRevoked
//     in one write, and the error is ErrUpstreamRevoked, which the caller
//     answers as its surface's failed refresh (Cloudreve 40020, the web
//     pages' sign-in page, the OpenID Provider's invalid_grant).
//   - The provider cannot be reached, times out (recheckTimeout) or
//     cannot be asked (no usable token): nothing happens, the refresh
//     goes on, and the next refresh tries again since CheckedAt did not
//     move. A timeout is not a revocation.
//   - The provider vouches for the account: the returned check carries
//     the session's new sealed tokens and CheckedAt, and the identity if
//     its profile changed, for save.
//
// The upstream call happens here, before the caller's write
// transaction, never inside Store.Update; the caller then saves what was
// found in the same transaction as its rotation. Refresh does so for
// tether's own sessions; the OpenID Provider's refresh_token grant does
// the same:
//
//	chk, err := s.recheck(ctx, ses, c)
//	if err != nil {
//		return err // ErrUpstreamRevoked: revoked and recorded already
//	}
//	err = s.store.Update(ctx, func(q Queries) error {
//		// ... rotate the refresh token ...
//		ses.LastUsedAt = now
//		return chk.save(ctx, q, ses) // when chk.changed(), or to save ses anyway
//	})
//
// Call it only for a refresh token that is unused, unexpired and
// unrevoked (a replay must revoke, not reach the provider), of an
// account that may sign in.
func (s *Service) recheck(ctx context.Context, ses Session, c Client) (upstreamCheck, error) {
	var chk upstreamCheck
	p, ok := s.byID[ses.Identity.ProviderID]
	if !ok || len(ses.UpstreamTokens) == 0 || p.RecheckEvery <= 0 {
		return chk, nil
	}
	r, ok := p.Upstream.(provider.Refresher)
	now := s.now()
	if !ok || now.Before(ses.CheckedAt.Add(p.RecheckEvery)) {
		return chk, nil
	}
	log := s.log.With("user", ses.UserID, "session", ses.ID, "provider", p.ID)
	stored, err := s.store.GetIdentity(ctx, ses.Identity)
	switch {
	case errors.Is(err, ErrNotFound) || (err == nil && stored.UserID != ses.UserID):
		// Unlinked since: the account no longer answers for the
		// session, and there is no profile to keep up to date.
		return chk, nil
	case err != nil:
		return chk, internal(err)
	}
	tokens, err := s.UpstreamTokens(ses)
	if err != nil {
		log.WarnContext(ctx, "upstream tokens of a session cannot be opened; not re-checked", "err", err)
		return chk, nil
	}
	cctx, cancel := context.WithTimeout(ctx, recheckTimeout)
	up, err := r.Refresh(cctx, provider.Identity{
		Issuer: stored.Issuer, Subject: stored.Subject, Email: stored.Email, EmailVerified: stored.EmailVerified,
		Name: stored.Name, Avatar: stored.Avatar, Claims: stored.Claims, Tokens: tokens,
	})
	cancel()
	switch {
	case provider.IsRevoked(err):
		log.InfoContext(ctx, "upstream account no longer accepted; session revoked", "err", err)
		return chk, s.revokeForUpstream(ctx, ses, c, now)
	case err != nil:
		log.WarnContext(ctx, "upstream account not re-checked; the session goes on", "unavailable", provider.IsUnavailable(err), "err", err)
		return chk, nil
	}
	fresh, err := s.identity(p, up, now)
	if err != nil || fresh.IdentityKey != stored.IdentityKey {
		log.WarnContext(ctx, "upstream re-check answered an unusable identity; the session goes on", "err", err)
		return chk, nil
	}
	if chk.tokens, err = s.sealUpstream(ses.ID, up.Tokens); err != nil {
		return upstreamCheck{}, err
	}
	chk.checked, chk.at = true, now
	fresh.UserID, fresh.LinkedAt, fresh.LastSignInAt = stored.UserID, stored.LinkedAt, stored.LastSignInAt
	if !sameProfile(stored, fresh) {
		chk.identity = &fresh
	}
	return chk, nil
}

// changed reports whether save has anything of the check's to write.
func (chk upstreamCheck) changed() bool { return chk.checked }

// save writes ses, with what the check found, in the caller's
// transaction: the session (its new sealed upstream tokens and CheckedAt
// when checked, with LastUsedAt, LastIP and UserAgent as the caller set
// them) and the identity's new profile. An identity unlinked meanwhile is
// left alone.
func (chk upstreamCheck) save(ctx context.Context, q Queries, ses Session) error {
	if chk.checked {
		ses.UpstreamTokens, ses.CheckedAt = chk.tokens, chk.at
	}
	if err := q.UpdateSession(ctx, ses); err != nil {
		return err
	}
	if chk.identity == nil {
		return nil
	}
	if err := q.UpdateIdentity(ctx, *chk.identity); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return nil
}

// revokeForUpstream revokes ses because its provider no longer accepts
// the account, records why, and returns ErrUpstreamRevoked.
func (s *Service) revokeForUpstream(ctx context.Context, ses Session, c Client, now time.Time) error {
	err := s.store.Update(context.WithoutCancel(ctx), func(q Queries) error {
		if err := q.RevokeSession(ctx, ses.UserID, ses.ID, now); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		return q.RecordEvent(ctx, s.event(Event{UserID: ses.UserID, Kind: EventUpstreamRevoked, Actor: ActorSystem, Method: MethodOpenID,
			ProviderID: ses.Identity.ProviderID, Detail: ErrUpstreamRevoked.Reason}, c))
	})
	if err != nil {
		return internal(err)
	}
	return ErrUpstreamRevoked
}
