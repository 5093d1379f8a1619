package core

import (
	"bytes"
	"cmp"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"strings"
	"time"
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
	// flows are bound to the browser, and for links (see Finish).
	BrowserSecret string
}

// Prepare creates a flow and returns the provider's authorization URL.
// It reads what it checks on the read pool and writes once: the flow.
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
	// A link flow is bound to the browser that started it whatever
	// flows.bind_browser says: finished in another browser, it would
	// link that browser's upstream account to the starter's account.
	if s.opts.BindBrowser || r.Purpose == PurposeLink {
		if r.BrowserSecret == "" && s.opts.BindBrowser {
			return "", Errorf(CodeInternal, "browser binding is on but no browser secret was given")
		}
		if r.BrowserSecret != "" {
			f.BrowserHash = Hash(r.BrowserSecret)
		}
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
	if _, err := s.linkingUser(ctx, userID); err != nil {
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

// linkingUser returns the account with id if it may link or unlink
// identities: it exists, may sign in, and holds the oauth permission,
// which governs linking on every surface.
func (s *Service) linkingUser(ctx context.Context, id string) (User, error) {
	u, err := s.activeUser(ctx, id)
	if err != nil {
		return User{}, err
	}
	if !u.Can(PermissionOAuth) {
		return User{}, ErrMissingOAuth
	}
	return u, nil
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

// Finish completes the upstream exchange and applies the sign-in or
// linking policy (SPEC §3.2, §3.3).
//
// It reads the flow, checks it, talks to the provider and reads what the
// policy needs, all before writing anything; then one transaction
// consumes the flow and writes the outcome (the identity, the account,
// the session, the events). Of finishes racing on one flow, the first to
// commit wins and the others find the flow gone. A failure consumes the
// flow too, with its event: a state is good for one attempt.
func (s *Service) Finish(ctx context.Context, r FinishRequest) (FinishResult, error) {
	if r.FlowID == "" {
		return FinishResult{}, Invalid("session_id", "SessionID cannot be empty")
	}
	now := s.now()
	f, err := s.store.GetFlow(ctx, r.FlowID, now)
	if err != nil {
		return FinishResult{}, internal(err)
	}
	fin := &finish{s: s, ctx: ctx, r: r, f: f, now: now}
	res, err := fin.run()
	if err != nil {
		return fin.fail(err)
	}
	return res, nil
}

// finish is one Finish call in progress.
type finish struct {
	s   *Service
	ctx context.Context
	r   FinishRequest
	f   Flow
	now time.Time
	p   *Provider
	up  provider.Identity
	// user is the account the failure's event belongs to, once known.
	user User
}

func (fin *finish) run() (FinishResult, error) {
	s, f, r := fin.s, fin.f, fin.r
	if err := fin.check(); err != nil {
		return FinishResult{}, err
	}
	p, err := s.enabledProvider(f.ProviderID)
	if err != nil {
		return FinishResult{}, err
	}
	fin.p = p
	if r.Callback.Code == "" && r.Callback.Error == "" {
		return FinishResult{}, Invalid("code", "Code cannot be empty")
	}
	up, err := p.Upstream.Exchange(fin.ctx, provider.AuthRequest{
		State: f.ID, Nonce: f.Nonce, CodeVerifier: f.CodeVerifier, RedirectURI: f.RedirectURI,
	}, r.Callback)
	if err != nil {
		s.log.WarnContext(fin.ctx, "upstream sign-in failed", "provider", p.ID, "err", err)
		return FinishResult{}, upstreamError(err)
	}
	fin.up = up
	id, err := s.identity(p, up, fin.now)
	if err != nil {
		return FinishResult{}, err
	}
	if f.Purpose == PurposeLink {
		return fin.link(id)
	}
	return fin.signIn(id)
}

// check applies the flow's bindings: its provider, its browser, its
// account and its purpose.
func (fin *finish) check() error {
	f, r := fin.f, fin.r
	browserOK := f.BrowserHash != "" && subtle.ConstantTimeCompare([]byte(Hash(r.BrowserSecret)), []byte(f.BrowserHash)) == 1
	switch {
	case f.ProviderID != r.ProviderID:
		return ErrFlowOtherProvider
	case f.Purpose == PurposeLink && r.UserID != "" && r.UserID != f.UserID:
		return ErrFlowOtherAccount
	case f.Purpose == PurposeLink && !browserOK && (fin.s.opts.BindBrowser || r.UserID != f.UserID):
		// A link is finished by the browser that started it or, where
		// flows are not bound to browsers, with the linking account's
		// own credentials: never by a stranger, whose upstream account
		// would land on the starter's account.
		return ErrFlowOtherBrowser
	case f.Purpose == PurposeSignIn && f.BrowserHash != "" && !browserOK:
		return ErrFlowOtherBrowser
	case r.Purpose != "" && r.Purpose != f.Purpose:
		return ErrFlowWrongPurpose
	}
	return nil
}

// commit consumes the flow and runs write in the same transaction. A
// flow another finish consumed first gives ErrFlowNotFound.
func (fin *finish) commit(write func(q Queries) error) error {
	return fin.s.store.Update(fin.ctx, func(q Queries) error {
		if _, err := q.ConsumeFlow(fin.ctx, fin.f.ID, fin.now); err != nil {
			return err
		}
		return write(q)
	})
}

// fail consumes the flow and records the failure, in one write, and
// returns err. When the flow was already gone (a racing finish took it),
// that finish owns the outcome and the answer is ErrFlowNotFound.
func (fin *finish) fail(err error) (FinishResult, error) {
	s, f := fin.s, fin.f
	out := FinishResult{Purpose: f.Purpose, ReturnTo: f.ReturnTo}
	if errors.Is(err, ErrFlowNotFound) && ErrorReason(err) == "" {
		return out, ErrFlowNotFound
	}
	kind := EventSignInFailed
	if f.Purpose == PurposeLink {
		kind = EventLinkFailed
	}
	// A refused sign-in of a known account (banned, say) counts in that
	// account's history.
	e := s.event(Event{UserID: cmp.Or(f.UserID, fin.user.ID), Kind: kind, Method: MethodOpenID, ProviderID: f.ProviderID,
		Detail: string(ErrorCode(err))}, fin.r.Client)
	werr := s.store.Update(context.WithoutCancel(fin.ctx), func(q Queries) error {
		if _, err := q.ConsumeFlow(fin.ctx, f.ID, fin.now); err != nil && !errors.Is(err, ErrFlowNotFound) {
			return err
		}
		return q.RecordEvent(fin.ctx, e)
	})
	if werr != nil {
		s.log.ErrorContext(fin.ctx, "failed sign-in not recorded", "flow", f.ID, "err", werr)
	}
	return out, err
}

// identity turns a verified upstream identity into the stored form.
func (s *Service) identity(p *Provider, up provider.Identity, now time.Time) (Identity, error) {
	if up.Subject == "" || up.Issuer == "" {
		return Identity{}, Errorf(CodeInvalidCredential, "The provider returned no subject")
	}
	if len(up.Subject) > maxSubject {
		return Identity{}, Errorf(CodeInvalidCredential, "The provider returned an overlong subject")
	}
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

// sameProfile reports whether a sign-in brought nothing new for a stored
// identity: then only its LastSignInAt changes.
func sameProfile(stored, fresh Identity) bool {
	return stored.Email == fresh.Email && stored.EmailVerified == fresh.EmailVerified &&
		stored.Name == fresh.Name && stored.Avatar == fresh.Avatar && sameJSON(stored.Claims, fresh.Claims)
}

// sameJSON compares two JSON documents. Stores may keep JSON as written
// (SQLite) or reformat it (PostgreSQL's jsonb), so equal bytes are the
// quick answer and equal values the sure one.
func sameJSON(a, b json.RawMessage) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// link attaches id to the account that started the flow.
func (fin *finish) link(id Identity) (FinishResult, error) {
	s, ctx := fin.s, fin.ctx
	u, err := s.linkingUser(ctx, fin.f.UserID)
	if err != nil {
		return FinishResult{}, err
	}
	fin.user = u
	existing, err := s.store.GetIdentity(ctx, id.IdentityKey)
	switch {
	case err == nil && existing.UserID != u.ID:
		return FinishResult{}, ErrIdentityTaken
	case err != nil && !errors.Is(err, ErrNotFound):
		return FinishResult{}, internal(err)
	}
	relink := err == nil // linked already (a double click): refresh the profile, succeed
	id.UserID = u.ID
	if relink {
		id.LinkedAt = existing.LinkedAt
	}
	err = fin.commit(func(q Queries) error {
		var err error
		if relink {
			err = q.UpdateIdentity(ctx, id)
		} else {
			err = q.LinkIdentity(ctx, id)
		}
		if err != nil {
			return err
		}
		return q.RecordEvent(ctx, s.event(Event{UserID: u.ID, Kind: EventLink, Method: MethodOpenID, ProviderID: id.ProviderID, Success: true}, fin.r.Client))
	})
	if err != nil {
		return FinishResult{}, internal(err)
	}
	return FinishResult{Purpose: PurposeLink, User: u, Identity: id, ReturnTo: fin.f.ReturnTo}, nil
}

// signIn finds or makes the account for a verified identity and starts a
// session. Two first sign-ins of one identity may race; the loser's
// transaction fails on the unique identity and it tries once more, now
// as a returning identity.
func (fin *finish) signIn(id Identity) (FinishResult, error) {
	res, err := fin.signInOnce(id)
	if errors.Is(err, ErrIdentityTaken) || errors.Is(err, ErrEmailTaken) {
		if _, gerr := fin.s.store.GetIdentity(fin.ctx, id.IdentityKey); gerr == nil {
			return fin.signInOnce(id)
		}
	}
	return res, err
}

func (fin *finish) signInOnce(id Identity) (FinishResult, error) {
	s, ctx, p := fin.s, fin.ctx, fin.p
	existing, err := s.store.GetIdentity(ctx, id.IdentityKey)
	if err == nil {
		return fin.signInKnown(existing, id)
	}
	if !errors.Is(err, ErrNotFound) {
		return FinishResult{}, internal(err)
	}

	// Unknown identity. Link by email only when the provider allows it and
	// both sides have verified the address; never by an unverified email.
	if p.LinkByVerifiedEmail && id.EmailVerified && id.Email != "" {
		owner, err := s.store.GetUserByEmail(ctx, id.Email)
		switch {
		case err == nil && owner.EmailVerified:
			fin.user = owner
			if err := owner.CheckCanSignIn(); err != nil {
				return FinishResult{}, err
			}
			id.UserID = owner.ID
			res, err := fin.startSession(owner, id, false, func(q Queries) error {
				err := q.LinkIdentity(ctx, id)
				if errors.Is(err, ErrProviderLinked) {
					// The account already has another identity of this
					// provider; linking this one silently would be wrong.
					return ErrEmailTaken
				}
				if err != nil {
					return err
				}
				return q.RecordEvent(ctx, s.event(Event{UserID: owner.ID, Kind: EventLink, Method: MethodOpenID, ProviderID: id.ProviderID,
					Success: true, Detail: "verified_email"}, fin.r.Client))
			})
			if err == nil {
				s.log.InfoContext(ctx, "identity linked by verified email", "user", owner.ID, "provider", p.ID)
			}
			return res, err
		case err != nil && !errors.Is(err, ErrNotFound):
			return FinishResult{}, internal(err)
		}
	}

	if !p.DirectSignIn {
		return FinishResult{}, ErrIdentityNotLinked
	}
	u := s.newUpstreamUser(id)
	if err := s.checkEmailFree(ctx, u); err != nil {
		return FinishResult{}, err
	}
	id.UserID = u.ID
	return fin.startSession(u, id, true, func(q Queries) error { return q.CreateUserWithIdentity(ctx, u, id) })
}

// signInKnown signs in through an already linked identity. The identity
// row is written only when the profile changed; otherwise only its
// LastSignInAt moves, on the condition that it still belongs to the
// account (a sign-in racing an unlink fails instead of signing in
// through an identity that is gone).
func (fin *finish) signInKnown(existing, id Identity) (FinishResult, error) {
	s, ctx := fin.s, fin.ctx
	u, err := s.store.GetUser(ctx, existing.UserID)
	if err != nil {
		return FinishResult{}, internal(err)
	}
	fin.user = u
	if err := u.CheckCanSignIn(); err != nil {
		return FinishResult{}, err
	}
	id.UserID, id.LinkedAt = u.ID, existing.LinkedAt
	return fin.startSession(u, id, false, func(q Queries) error {
		var err error
		if sameProfile(existing, id) {
			err = q.TouchIdentity(ctx, id.IdentityKey, u.ID, id.LastSignInAt)
		} else {
			err = q.UpdateIdentity(ctx, id)
		}
		if errors.Is(err, ErrNotFound) {
			return ErrIdentityNotLinked
		}
		return err
	})
}

// startSession commits a sign-in: the flow consumed, write (the identity
// and, for a new account, the account), the session and the events, in
// one transaction.
func (fin *finish) startSession(u User, id Identity, created bool, write func(q Queries) error) (FinishResult, error) {
	s, ctx, c := fin.s, fin.ctx, fin.r.Client
	ses, pair, first, err := s.newSession(u, sessionStart{method: MethodOpenID, identity: id.IdentityKey, upstream: fin.up.Tokens, client: c})
	if err != nil {
		return FinishResult{}, err
	}
	err = fin.commit(func(q Queries) error {
		if err := write(q); err != nil {
			return err
		}
		if err := q.CreateSession(ctx, ses, first); err != nil {
			return err
		}
		if created {
			if err := q.RecordEvent(ctx, s.event(Event{UserID: u.ID, Kind: EventSignUp, Method: MethodOpenID, ProviderID: id.ProviderID, Success: true}, c)); err != nil {
				return err
			}
		}
		return q.RecordEvent(ctx, s.event(Event{UserID: u.ID, Kind: EventSignIn, Method: MethodOpenID, ProviderID: id.ProviderID, Success: true}, c))
	})
	if err != nil {
		return FinishResult{}, internal(err)
	}
	if created {
		s.keepPictureLater(u)
	}
	return FinishResult{Purpose: PurposeSignIn, User: u, Identity: id, Tokens: pair, Created: created, ReturnTo: fin.f.ReturnTo}, nil
}

// newUpstreamUser builds the passwordless account for an unknown identity:
// its email if it has a valid one, verified or not as the provider says
// (an unverified one blocks nobody, see Store), else a placeholder nobody
// can receive mail at.
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
// one identity of an enabled provider. A refusal of an account that
// exists is an unlink_failed event.
func (s *Service) Unlink(ctx context.Context, userID, providerID string, c Client) error {
	err := s.unlink(ctx, userID, providerID, c)
	if code := ErrorCode(err); code != "" && code != CodeInternal && !errors.Is(err, ErrInvalidToken) {
		e := Event{UserID: userID, Kind: EventUnlinkFailed, Method: MethodOpenID, Detail: string(code)}
		if _, ok := s.byID[providerID]; ok {
			e.ProviderID = providerID // a configured one: the request's may be anything
		}
		s.record(ctx, e, c)
	}
	return err
}

func (s *Service) unlink(ctx context.Context, userID, providerID string, c Client) error {
	if _, err := s.linkingUser(ctx, userID); err != nil {
		return err
	}
	return internal(s.store.Update(ctx, func(q Queries) error {
		removed, err := q.UnlinkIdentity(ctx, userID, providerID, func(u User, ids []Identity) error {
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
			return err
		}
		return q.RecordEvent(ctx, s.event(Event{UserID: userID, Kind: EventUnlink, Method: MethodOpenID, ProviderID: removed.ProviderID, Success: true}, c))
	}))
}

// Identities returns the user's linked identities, oldest first.
func (s *Service) Identities(ctx context.Context, userID string) ([]Identity, error) {
	ids, err := s.store.ListIdentities(ctx, userID)
	return ids, internal(err)
}
