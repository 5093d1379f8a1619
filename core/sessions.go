package core

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/tether-id/tether/provider"
)

// sessionStart is how a session began.
type sessionStart struct {
	method   Method
	identity IdentityKey     // the upstream identity of an openid sign-in
	upstream provider.Tokens // that sign-in's upstream tokens
	client   Client
}

// newSession builds a session, its first refresh token and the pair the
// client gets; the caller stores them (CreateSession) in the same
// transaction as the rest of the sign-in.
func (s *Service) newSession(u User, st sessionStart) (Session, TokenPair, RefreshToken, error) {
	now := s.now()
	ses := Session{
		ID:         uuid.NewString(),
		UserID:     u.ID,
		Method:     st.method,
		Identity:   st.identity,
		CheckedAt:  now,
		CreatedAt:  now,
		LastUsedAt: now,
		LastIP:     st.client.IP,
		UserAgent:  st.client.UserAgent,
		ExpiresAt:  now.Add(s.opts.RefreshTTL),
	}
	var err error
	if ses.UpstreamTokens, err = s.sealUpstream(ses.ID, st.upstream); err != nil {
		return Session{}, TokenPair{}, RefreshToken{}, err
	}
	refresh := randomToken(32)
	first := RefreshToken{Hash: Hash(refresh), ChainID: ses.ID, UserID: u.ID, CreatedAt: now, ExpiresAt: ses.ExpiresAt}
	pair, err := s.pair(u.ID, refresh, first)
	return ses, pair, first, err
}

// sessionAD binds sealed upstream tokens to their session: moved to
// another row, they do not open.
func sessionAD(id string) []byte { return []byte("tether session upstream tokens\x00" + id) }

// sealUpstream seals a session's upstream tokens; nil when there are
// none.
func (s *Service) sealUpstream(sessionID string, t provider.Tokens) ([]byte, error) {
	if t == (provider.Tokens{}) {
		return nil, nil
	}
	b, err := json.Marshal(t)
	if err != nil {
		return nil, internal(err)
	}
	sealed, err := s.box.Seal(b, sessionAD(sessionID))
	return sealed, internal(err)
}

// UpstreamTokens opens the sealed upstream tokens of a session.
func (s *Service) UpstreamTokens(ses Session) (provider.Tokens, error) {
	var t provider.Tokens
	if len(ses.UpstreamTokens) == 0 {
		return t, nil
	}
	b, err := s.box.Open(ses.UpstreamTokens, sessionAD(ses.ID))
	if err != nil {
		return t, internal(err)
	}
	return t, json.Unmarshal(b, &t)
}

// pair completes a token pair with a fresh access token.
func (s *Service) pair(userID, refresh string, rt RefreshToken) (TokenPair, error) {
	access, exp, err := s.tokens.Issue(userID, s.now(), s.opts.AccessTTL)
	if err != nil {
		return TokenPair{}, Wrap(CodeTokenSigning, err, "Cannot sign token")
	}
	return TokenPair{AccessToken: access, RefreshToken: refresh, AccessExpires: exp, RefreshExpires: rt.ExpiresAt}, nil
}

// Refresh exchanges a refresh token for a new pair. The old token is used
// up; presenting it again is treated as theft and revokes the whole
// session (ErrTokenReused), so both the thief and the victim must sign in
// again.
//
// The token, its session and its account are read on the read pool
// first, so that a made-up, expired or revoked token costs no write; a
// rotation, a reuse or a refused account is then one transaction with
// its event. Between the two, a session that came from an upstream
// sign-in has its upstream account re-checked when its provider's
// recheck_every has passed (recheck): a provider that says the account
// is gone ends the session (ErrUpstreamRevoked); what a provider that
// vouches for it says (new tokens, CheckedAt, the profile) commits with
// the rotation.
func (s *Service) Refresh(ctx context.Context, refresh string, c Client) (TokenPair, error) {
	if refresh == "" {
		return TokenPair{}, Invalid("refresh_token", "RefreshToken cannot be empty")
	}
	now := s.now()
	hash := Hash(refresh)
	old, err := s.store.GetRefreshToken(ctx, hash)
	if err != nil {
		return TokenPair{}, internal(err)
	}
	unused := old.UsedAt.IsZero()
	if unused && (!old.RevokedAt.IsZero() || !now.Before(old.ExpiresAt)) {
		return TokenPair{}, ErrInvalidToken
	}
	if unused {
		// A used token goes on to the rotation, which treats it as a
		// replay; an unused one must belong to an account that may still
		// sign in.
		u, err := s.store.GetUser(ctx, old.UserID)
		if err == nil {
			err = u.CheckCanSignIn()
		}
		if err != nil {
			return TokenPair{}, s.endSession(ctx, hash, now, err, Event{UserID: old.UserID, Kind: EventRefresh}, c)
		}
	}
	ses, err := s.store.GetSession(ctx, old.ChainID)
	if err != nil {
		return TokenPair{}, internal(err)
	}
	if ses.ClientID != "" {
		// An app's refresh token is good at tether's OpenID Provider
		// only: here it would buy tether's own, wider tokens.
		return TokenPair{}, ErrInvalidToken
	}
	var chk upstreamCheck
	if unused {
		// Before the write transaction: the provider is called here.
		if chk, err = s.recheck(ctx, ses, c); err != nil {
			return TokenPair{}, err
		}
	}

	next := randomToken(32)
	var rotated RefreshToken
	reused := false
	err = s.store.Update(ctx, func(q Queries) error {
		var err error
		rotated, err = q.RotateRefreshToken(ctx, hash, now, func(RefreshToken) RefreshToken {
			return RefreshToken{Hash: Hash(next), CreatedAt: now, ExpiresAt: now.Add(s.opts.RefreshTTL)}
		})
		if errors.Is(err, ErrTokenReused) {
			// Commit the revocation with its event, then report it.
			reused = true
			return q.RecordEvent(ctx, s.event(Event{UserID: rotated.UserID, Kind: EventRefreshReused, Detail: string(CodeTokenReused)}, c))
		}
		if err != nil {
			return err
		}
		if ses.LastIP != c.IP || ses.UserAgent != c.UserAgent || chk.changed() {
			ses.LastUsedAt, ses.LastIP, ses.UserAgent = now, c.IP, c.UserAgent
			if err := chk.save(ctx, q, ses); err != nil {
				return err
			}
		}
		return q.RecordEvent(ctx, s.event(Event{UserID: rotated.UserID, Kind: EventRefresh, Success: true}, c))
	})
	if err != nil {
		return TokenPair{}, internal(err)
	}
	if reused {
		s.log.WarnContext(ctx, "refresh token reused; session revoked", "user", rotated.UserID, "session", rotated.ChainID)
		return TokenPair{}, ErrTokenReused
	}
	return s.pair(rotated.UserID, next, rotated)
}

// endSession revokes the session of the refresh token with hash because
// its account may not sign in any more (why), with e, the refused
// refresh's event (Detail, why's code), and returns the error to answer
// with. A deleted account (why is ErrNotFound) gets no event: its events
// keep nothing of a request.
func (s *Service) endSession(ctx context.Context, hash string, now time.Time, why error, e Event, c Client) error {
	err := s.store.Update(ctx, func(q Queries) error {
		if _, err := q.RevokeRefreshChain(ctx, hash, now); err != nil || errors.Is(why, ErrNotFound) {
			return err
		}
		e.Detail = string(ErrorCode(why))
		return q.RecordEvent(ctx, s.event(e, c))
	})
	if err != nil && !errors.Is(err, ErrInvalidToken) {
		return internal(err)
	}
	if errors.Is(why, ErrNotFound) {
		return ErrInvalidToken
	}
	return internal(why)
}

// SignOut revokes the refresh token's session. Access tokens already
// issued stay valid until they expire.
func (s *Service) SignOut(ctx context.Context, refresh string, c Client) error {
	_, err := s.signOut(ctx, refresh, c)
	return err
}

// SignOutWithProvider is SignOut that also returns the URL that signs
// the person out at the provider the session came from (SignOutURL): ""
// for a password session, or a provider without an end-session
// endpoint. The sign-out itself never depends on the provider: one that
// cannot be reached only leaves the URL out.
func (s *Service) SignOutWithProvider(ctx context.Context, refresh string, c Client) (string, error) {
	ses, err := s.signOut(ctx, refresh, c)
	if err != nil {
		return "", err
	}
	u, err := s.SignOutURL(ctx, ses)
	if err != nil {
		s.log.WarnContext(ctx, "no sign-out URL of the provider", "provider", ses.Identity.ProviderID, "err", err)
		return "", nil
	}
	return u, nil
}

// signOut revokes the refresh token's session and returns it.
func (s *Service) signOut(ctx context.Context, refresh string, c Client) (Session, error) {
	if refresh == "" {
		return Session{}, Invalid("refresh_token", "RefreshToken cannot be empty")
	}
	hash := Hash(refresh)
	rt, err := s.store.GetRefreshToken(ctx, hash)
	if err != nil {
		return Session{}, internal(err) // unknown: nothing to write
	}
	ses, err := s.store.GetSession(ctx, rt.ChainID)
	if err != nil || ses.ClientID != "" {
		return Session{}, ErrInvalidToken // an app's token is revoked at the OpenID Provider
	}
	return ses, internal(s.store.Update(ctx, func(q Queries) error {
		rt, err := q.RevokeRefreshChain(ctx, hash, s.now())
		if err != nil {
			return err
		}
		return q.RecordEvent(ctx, s.event(Event{UserID: rt.UserID, Kind: EventSignOut, Success: true}, c))
	}))
}

// SessionOf returns the session a refresh token (used or not) belongs
// to; ErrInvalidToken when the token is unknown.
func (s *Service) SessionOf(ctx context.Context, refresh string) (Session, error) {
	rt, err := s.store.GetRefreshToken(ctx, Hash(refresh))
	if err != nil {
		return Session{}, internal(err)
	}
	ses, err := s.store.GetSession(ctx, rt.ChainID)
	return ses, internal(err)
}

// SignOutURL returns where to send the browser so that the provider ses
// came from signs the person out too (OpenID Connect RP-Initiated Logout
// 1.0): the provider's end_session_endpoint with the sign-in's ID token
// as id_token_hint, the client_id, and the provider's
// post_logout_redirect_uri when configured. It is "" for a session that
// came from no provider, or from one without such an endpoint (QQ
// Connect has none).
func (s *Service) SignOutURL(ctx context.Context, ses Session) (string, error) {
	p, ok := s.byID[ses.Identity.ProviderID]
	if !ok {
		return "", nil
	}
	es, ok := p.Upstream.(provider.EndSessioner)
	if !ok {
		return "", nil
	}
	tokens, err := s.UpstreamTokens(ses)
	if err != nil {
		// A hint is only a hint: client_id still names the client.
		s.log.WarnContext(ctx, "upstream tokens of a session cannot be opened; signing out without id_token_hint", "session", ses.ID, "err", err)
	}
	u, err := es.EndSessionURL(ctx, provider.EndSessionRequest{IDTokenHint: tokens.IDToken, PostLogoutRedirectURI: p.PostLogoutRedirectURI})
	if err != nil {
		return "", upstreamError(err)
	}
	return u, nil
}

// Sessions returns the user's live sessions, most recently used first.
func (s *Service) Sessions(ctx context.Context, userID string) ([]Session, error) {
	ss, err := s.store.ListSessions(ctx, userID, s.now())
	return ss, internal(err)
}

// RevokeSession signs the user's session with id out. ErrNotFound if the
// user has no such session.
func (s *Service) RevokeSession(ctx context.Context, userID, id string, c Client) error {
	return internal(s.store.Update(ctx, func(q Queries) error {
		if err := q.RevokeSession(ctx, userID, id, s.now()); err != nil {
			return err
		}
		return q.RecordEvent(ctx, s.event(Event{UserID: userID, Kind: EventSignOut, Success: true}, c))
	}))
}

// BrowserSession describes the tether session that refresh belongs to,
// for tether's OpenID Provider: when and how the person signed in. u is
// the session's user, already authenticated by the caller.
func (s *Service) BrowserSession(ctx context.Context, refresh string, u User) (*BrowserSession, error) {
	rt, err := s.store.GetRefreshToken(ctx, Hash(refresh))
	if err != nil {
		return nil, internal(err)
	}
	ses, err := s.store.GetSession(ctx, rt.ChainID)
	if err != nil {
		return nil, internal(err)
	}
	if ses.UserID != u.ID || ses.ClientID != "" || !ses.RevokedAt.IsZero() {
		return nil, ErrInvalidToken
	}
	amr := AMRPassword
	if ses.Method == MethodOpenID {
		amr = AMRFederated
	}
	return &BrowserSession{User: u, SessionID: ses.ID, AuthTime: ses.CreatedAt, AMR: amr}, nil
}
