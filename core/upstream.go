package core

import (
	"cmp"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/tether-id/tether/provider"
)

// PrepareRequest starts a sign-in or link with an upstream provider.
type PrepareRequest struct {
	ProviderID string
	Purpose    Purpose
	// UserID is the signed-in caller. Required to link; ignored for
	// sign-in, whose flows are bound to no account.
	UserID string
	// RedirectURI is the callback URL of the surface that prepares; each
	// provider has its own, which is what defends against mix-up when a
	// client relays only the code.
	RedirectURI string
	// Hint is the caller's login hint (an email); only Logto uses it.
	Hint string
	// ReturnTo is where tether's pages go afterwards (already checked
	// against the allow-list by the caller).
	ReturnTo string
	// BrowserSecret is the browser-binding cookie's value; required when
	// flows are bound to the browser.
	BrowserSecret string
}

// Prepare creates a flow and returns the provider's authorization URL.
func (s *Service) Prepare(ctx context.Context, r PrepareRequest) (string, error) {
	p, err := s.enabledProvider(r.ProviderID)
	if err != nil {
		return "", err
	}
	switch r.Purpose {
	case PurposeSignIn:
		r.UserID = ""
	case PurposeLink:
		if r.UserID == "" {
			return "", ErrUnauthenticated
		}
		if err := s.checkCanLink(ctx, r.UserID, p.ID); err != nil {
			return "", err
		}
	default:
		return "", Errorf(CodeInternal, "unknown flow purpose %q", r.Purpose)
	}
	now := s.now()
	f := Flow{
		ID:           uuid.NewString(), // v4, from crypto/rand
		ProviderID:   p.ID,
		Purpose:      r.Purpose,
		UserID:       r.UserID,
		CodeVerifier: randomToken(32),
		Nonce:        randomToken(24),
		RedirectURI:  r.RedirectURI,
		ReturnTo:     r.ReturnTo,
		CreatedAt:    now,
		ExpiresAt:    now.Add(s.opts.FlowTTL),
	}
	if s.opts.BindBrowser {
		if r.BrowserSecret == "" {
			return "", Errorf(CodeInternal, "browser binding is on but no browser secret was given")
		}
		f.BrowserHash = Hash(r.BrowserSecret)
	}
	authURL, err := p.Upstream.AuthURL(ctx, provider.AuthRequest{
		State: f.ID, Nonce: f.Nonce, CodeVerifier: f.CodeVerifier, RedirectURI: f.RedirectURI, LoginHint: r.Hint,
	})
	if err != nil {
		return "", upstreamError(err)
	}
	if err := s.store.CreateFlow(ctx, f); err != nil {
		return "", internal(err)
	}
	return authURL, nil
}

// checkCanLink refuses early what finishing would refuse anyway, so a
// person is not sent through an upstream login for nothing.
func (s *Service) checkCanLink(ctx context.Context, userID, providerID string) error {
	u, err := s.store.GetUser(ctx, userID)
	if errors.Is(err, ErrNotFound) {
		return ErrInvalidToken
	}
	if err != nil {
		return internal(err)
	}
	if err := u.CheckCanSignIn(); err != nil {
		return err
	}
	ids, err := s.store.ListIdentities(ctx, userID)
	if err != nil {
		return internal(err)
	}
	for _, id := range ids {
		if id.ProviderID == providerID {
			return ErrProviderLinked
		}
	}
	return nil
}

func (s *Service) enabledProvider(id string) (*Provider, error) {
	p, ok := s.byID[id]
	if !ok || !p.Enabled {
		return nil, ErrProviderDisabled
	}
	return p, nil
}

// FinishRequest carries a callback back to the flow it belongs to.
type FinishRequest struct {
	FlowID string // the OAuth state
	// ProviderID is the provider the callback was addressed to (the path
	// of the redirect URI); it must be the flow's.
	ProviderID    string
	Callback      provider.Callback
	BrowserSecret string
	// UserID is the caller's account when the request was authenticated;
	// a link flow must then have been started by the same account.
	UserID string
	// Purpose, when set, is the only purpose this callback finishes: the
	// Versia callback only links, so a sign-in flow arriving there is
	// refused before any upstream exchange or sign-in happens.
	Purpose Purpose
	Client  Client
}

// FinishResult is what a finished flow did.
type FinishResult struct {
	Purpose  Purpose
	User     User
	Identity Identity
	// Tokens is set for sign-ins.
	Tokens TokenPair
	// Created is true when the sign-in created the account.
	Created  bool
	ReturnTo string
}

// Finish consumes the flow, completes the upstream exchange and applies
// the sign-in or linking policy (SPEC §3.2, §3.3).
func (s *Service) Finish(ctx context.Context, r FinishRequest) (FinishResult, error) {
	if r.FlowID == "" {
		return FinishResult{}, Invalid("session_id", "SessionID cannot be empty")
	}
	// Consume first: whatever happens next, this state cannot be used
	// again, so a replay or a race gets ErrFlowNotFound.
	f, err := s.store.ConsumeFlow(ctx, r.FlowID, s.now())
	if err != nil {
		return FinishResult{}, internal(err)
	}
	res := FinishResult{Purpose: f.Purpose, ReturnTo: f.ReturnTo}
	fail := func(err error) (FinishResult, error) {
		kind := EventSignInFailed
		if f.Purpose == PurposeLink {
			kind = EventLinkFailed
		}
		// A refused sign-in of a known account (banned, say) counts in that
		// account's history; res.User is set when the account was found.
		s.record(ctx, Event{UserID: cmp.Or(f.UserID, res.User.ID), Kind: kind, Method: MethodOpenID, ProviderID: f.ProviderID,
			IP: r.Client.IP, UserAgent: r.Client.UserAgent, Detail: string(ErrorCode(err))})
		return FinishResult{Purpose: f.Purpose, ReturnTo: f.ReturnTo}, err
	}
	switch {
	case f.ProviderID != r.ProviderID:
		return fail(ErrFlowOtherProvider)
	case f.BrowserHash != "" && subtle.ConstantTimeCompare([]byte(Hash(r.BrowserSecret)), []byte(f.BrowserHash)) != 1:
		return fail(ErrFlowOtherBrowser)
	case f.Purpose == PurposeLink && r.UserID != "" && r.UserID != f.UserID:
		return fail(ErrFlowOtherAccount)
	case r.Purpose != "" && r.Purpose != f.Purpose:
		return fail(ErrFlowWrongPurpose)
	}
	p, err := s.enabledProvider(f.ProviderID)
	if err != nil {
		return fail(err)
	}
	if r.Callback.Code == "" && r.Callback.Error == "" {
		return fail(Invalid("code", "Code cannot be empty"))
	}
	up, err := p.Upstream.Exchange(ctx, provider.AuthRequest{
		State: f.ID, Nonce: f.Nonce, CodeVerifier: f.CodeVerifier, RedirectURI: f.RedirectURI,
	}, r.Callback)
	if err != nil {
		s.log.WarnContext(ctx, "upstream sign-in failed", "provider", p.ID, "err", err)
		return fail(upstreamError(err))
	}
	id, err := s.identity(p, up)
	if err != nil {
		return fail(err)
	}
	if f.Purpose == PurposeLink {
		res.User, res.Identity, err = s.link(ctx, f.UserID, id)
		if err != nil {
			return fail(err)
		}
		s.record(ctx, Event{UserID: res.User.ID, Kind: EventLink, Method: MethodOpenID, ProviderID: p.ID, Success: true, IP: r.Client.IP, UserAgent: r.Client.UserAgent})
		return res, nil
	}
	res.User, res.Identity, res.Created, err = s.signInUpstream(ctx, p, id, up)
	if err != nil {
		return fail(err)
	}
	if res.Tokens, err = s.startSession(ctx, res.User); err != nil {
		return fail(err)
	}
	if res.Created {
		s.record(ctx, Event{UserID: res.User.ID, Kind: EventSignUp, Method: MethodOpenID, ProviderID: p.ID, Success: true, IP: r.Client.IP, UserAgent: r.Client.UserAgent})
	}
	s.record(ctx, Event{UserID: res.User.ID, Kind: EventSignIn, Method: MethodOpenID, ProviderID: p.ID, Success: true, IP: r.Client.IP, UserAgent: r.Client.UserAgent})
	return res, nil
}

// identity turns a verified upstream identity into the stored form, with
// its tokens sealed and bound to the identity's key.
func (s *Service) identity(p *Provider, up provider.Identity) (Identity, error) {
	if up.Subject == "" || up.Issuer == "" {
		return Identity{}, Errorf(CodeInvalidCredential, "The provider returned no subject")
	}
	if len(up.Subject) > maxSubject {
		return Identity{}, Errorf(CodeInvalidCredential, "The provider returned an overlong subject")
	}
	now := s.now()
	id := Identity{
		IdentityKey:   IdentityKey{ProviderID: p.ID, Issuer: up.Issuer, Subject: up.Subject},
		Email:         clip(strings.TrimSpace(up.Email), 254),
		EmailVerified: up.EmailVerified,
		Name:          clip(strings.TrimSpace(up.Name), 200),
		Avatar:        webURL(up.Avatar),
		Claims:        up.Claims,
		LinkedAt:      now,
		LastSignInAt:  now,
	}
	if len(id.Claims) == 0 || len(id.Claims) > maxClaims || !json.Valid(id.Claims) {
		id.Claims = json.RawMessage("{}")
	}
	if up.Tokens != (provider.Tokens{}) {
		b, err := json.Marshal(up.Tokens)
		if err != nil {
			return Identity{}, internal(err)
		}
		if id.Tokens, err = s.box.Seal(b, tokenAD(id.IdentityKey)); err != nil {
			return Identity{}, internal(err)
		}
	}
	return id, nil
}

// Limits on what an upstream may make tether store. Profile fields come
// from another party and end up in pages and API responses.
const (
	maxSubject = 255
	maxClaims  = 64 << 10
)

// clip shortens s to at most n runes.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// webURL returns s if it is an absolute http(s) URL of sane length, else
// "": an avatar is later put in <img src> and in redirects.
func webURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || len(s) > 2048 || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return s
}

func tokenAD(k IdentityKey) []byte {
	return []byte(k.ProviderID + "\x00" + k.Issuer + "\x00" + k.Subject)
}

// UpstreamTokens opens the sealed upstream tokens of an identity.
func (s *Service) UpstreamTokens(id Identity) (provider.Tokens, error) {
	var t provider.Tokens
	if len(id.Tokens) == 0 {
		return t, nil
	}
	b, err := s.box.Open(id.Tokens, tokenAD(id.IdentityKey))
	if err != nil {
		return t, internal(err)
	}
	return t, json.Unmarshal(b, &t)
}

// link attaches id to the account that started the flow.
func (s *Service) link(ctx context.Context, userID string, id Identity) (User, Identity, error) {
	u, err := s.store.GetUser(ctx, userID)
	if errors.Is(err, ErrNotFound) {
		return User{}, Identity{}, ErrInvalidToken
	}
	if err != nil {
		return User{}, Identity{}, internal(err)
	}
	if err := u.CheckCanSignIn(); err != nil {
		return User{}, Identity{}, err
	}
	existing, err := s.store.GetIdentity(ctx, id.IdentityKey)
	switch {
	case err == nil && existing.UserID == u.ID:
		// Linked already (a double click): refresh the profile, succeed.
		id.UserID, id.LinkedAt = u.ID, existing.LinkedAt
		if len(id.Tokens) == 0 {
			id.Tokens = existing.Tokens
		}
		return u, id, internal(s.store.UpdateIdentity(ctx, id))
	case err == nil:
		return User{}, Identity{}, ErrIdentityTaken
	case !errors.Is(err, ErrNotFound):
		return User{}, Identity{}, internal(err)
	}
	id.UserID = u.ID
	if err := s.store.LinkIdentity(ctx, id); err != nil {
		return User{}, Identity{}, internal(err)
	}
	return u, id, nil
}

// signInUpstream finds or makes the account for a verified identity.
func (s *Service) signInUpstream(ctx context.Context, p *Provider, id Identity, up provider.Identity) (User, Identity, bool, error) {
	u, linked, err := s.signInKnown(ctx, id)
	if err == nil || !errors.Is(err, ErrNotFound) {
		return u, linked, false, err
	}

	// Unknown identity. Link by email only when the provider allows it and
	// both sides have verified the address; never by an unverified email.
	if p.LinkByVerifiedEmail && id.EmailVerified && id.Email != "" {
		owner, err := s.store.GetUserByEmail(ctx, id.Email)
		switch {
		case err == nil && owner.EmailVerified:
			if err := owner.CheckCanSignIn(); err != nil {
				return owner, Identity{}, false, err
			}
			id.UserID = owner.ID
			err := s.store.LinkIdentity(ctx, id)
			if errors.Is(err, ErrIdentityTaken) {
				u, linked, err := s.signInKnown(ctx, id) // lost a race to ourselves
				return u, linked, false, err
			}
			if errors.Is(err, ErrProviderLinked) {
				// The account already has another identity of this
				// provider; linking this one silently would be wrong.
				return User{}, Identity{}, false, ErrEmailTaken
			}
			if err != nil {
				return User{}, Identity{}, false, internal(err)
			}
			s.log.InfoContext(ctx, "identity linked by verified email", "user", owner.ID, "provider", p.ID)
			return owner, id, false, nil
		case err != nil && !errors.Is(err, ErrNotFound):
			return User{}, Identity{}, false, internal(err)
		}
	}

	if !p.DirectSignIn {
		return User{}, Identity{}, false, ErrIdentityNotLinked
	}
	u = s.newUpstreamUser(id)
	id.UserID = u.ID
	err = s.store.CreateUserWithIdentity(ctx, u, id)
	if errors.Is(err, ErrIdentityTaken) || errors.Is(err, ErrEmailTaken) {
		// Another request may have just created this very identity (two
		// first sign-ins at once); if so, sign in to that account.
		if u, linked, kerr := s.signInKnown(ctx, id); kerr == nil || !errors.Is(kerr, ErrNotFound) {
			return u, linked, false, kerr
		}
		return User{}, Identity{}, false, err
	}
	if err != nil {
		return User{}, Identity{}, false, internal(err)
	}
	return u, id, true, nil
}

// signInKnown signs in through an already linked identity, refreshing its
// stored profile and tokens. ErrNotFound when the identity is unknown.
func (s *Service) signInKnown(ctx context.Context, id Identity) (User, Identity, error) {
	existing, err := s.store.GetIdentity(ctx, id.IdentityKey)
	if err != nil {
		return User{}, Identity{}, err
	}
	u, err := s.store.GetUser(ctx, existing.UserID)
	if err != nil {
		return User{}, Identity{}, internal(err)
	}
	if err := u.CheckCanSignIn(); err != nil {
		return u, Identity{}, err // the account, for the failure's audit event
	}
	id.UserID, id.LinkedAt = u.ID, existing.LinkedAt
	if len(id.Tokens) == 0 {
		id.Tokens = existing.Tokens
	}
	if err := s.store.UpdateIdentity(ctx, id); err != nil {
		return User{}, Identity{}, internal(err)
	}
	return u, id, nil
}

// newUpstreamUser builds the passwordless account for an unknown identity:
// its email if it has a valid one (verified or not, as the provider says),
// else a placeholder nobody can receive mail at.
func (s *Service) newUpstreamUser(id Identity) User {
	u := User{
		ID:          uuid.NewString(),
		Nickname:    id.Name,
		Avatar:      id.Avatar,
		Status:      StatusActive,
		Permissions: DefaultPermissions(),
		CreatedAt:   s.now(),
	}
	if email, err := ParseEmail("email", id.Email); err == nil {
		u.Email, u.EmailVerified = email, id.EmailVerified
	} else {
		u.Email = uuid.NewString() + "@" + PlaceholderEmailDomain
	}
	if u.Nickname == "" {
		u.Nickname, _, _ = strings.Cut(u.Email, "@")
	}
	return u
}

// upstreamError turns a provider failure into a core error: unreachable
// providers are CodeUpstream, rejections CodeInvalidCredential.
func upstreamError(err error) error {
	var pe *provider.Error
	if errors.As(err, &pe) {
		code := CodeInvalidCredential
		if pe.Unavailable {
			code = CodeUpstream
		}
		msg := pe.Message
		if msg == "" {
			msg = "The sign-in provider rejected the sign-in"
		}
		return &Error{Code: code, Message: msg, Err: err}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return Wrap(CodeUpstream, err, "The sign-in provider did not answer in time")
	}
	return Wrap(CodeInvalidCredential, err, "The sign-in provider rejected the sign-in")
}

// Unlink removes the user's identity of providerID, unless it is the last
// way the account can sign in: a passwordless account must keep at least
// one identity of an enabled provider.
func (s *Service) Unlink(ctx context.Context, userID, providerID string, c Client) error {
	removed, err := s.store.UnlinkIdentity(ctx, userID, providerID, func(u User, ids []Identity) error {
		if !u.Passwordless() {
			return nil
		}
		for _, id := range ids {
			if p, ok := s.byID[id.ProviderID]; ok && p.Enabled && id.ProviderID != providerID {
				return nil
			}
		}
		return ErrLastSignInMethod
	})
	if err != nil {
		return internal(err)
	}
	s.record(ctx, Event{UserID: userID, Kind: EventUnlink, Method: MethodOpenID, ProviderID: removed.ProviderID, Success: true, IP: c.IP, UserAgent: c.UserAgent})
	return nil
}

// Identities returns the user's linked identities, oldest first.
func (s *Service) Identities(ctx context.Context, userID string) ([]Identity, error) {
	ids, err := s.store.ListIdentities(ctx, userID)
	return ids, internal(err)
}

// Purge deletes expired flows and dead refresh tokens. Every instance may
// run it; stores make concurrent purges cheap.
func (s *Service) Purge(ctx context.Context) (flows, tokens int, err error) {
	now := s.now()
	if flows, err = s.store.PurgeFlows(ctx, now); err != nil {
		return 0, 0, internal(err)
	}
	tokens, err = s.store.PurgeRefreshTokens(ctx, now)
	return flows, tokens, internal(err)
}
