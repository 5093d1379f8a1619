package core

import (
	"context"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/tether-id/tether/internal/password"
)

// Password length bounds, in characters. The upper bound keeps hashing
// cost fixed; the lower follows NIST SP 800-63B.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 128
)

// NewUser describes an account to create with a password (sign-up or the
// admin CLI).
type NewUser struct {
	Email         string
	Password      string // "" creates a passwordless account (admin only)
	Nickname      string
	Language      string
	EmailVerified bool
	Status        Status   // default active
	Permissions   []string // default DefaultPermissions()
}

// SignUp creates an account with email and password when password
// registration is enabled. New accounts are active; their email is not
// verified, so verified-email linking never applies to them until an
// admin marks the email verified.
func (s *Service) SignUp(ctx context.Context, n NewUser, c Client) (User, error) {
	if !s.opts.PasswordSignUp {
		return User{}, ErrSignUpDisabled
	}
	if n.Password == "" {
		return User{}, Invalid("password", "Password cannot be empty")
	}
	n.EmailVerified, n.Status, n.Permissions = false, StatusActive, nil
	u, err := s.CreateUser(ctx, n)
	if err != nil {
		return User{}, err
	}
	s.record(ctx, Event{UserID: u.ID, Kind: EventSignUp, Method: MethodPassword, Success: true, IP: c.IP, UserAgent: c.UserAgent})
	return u, nil
}

// CreateUser validates n and stores the account.
func (s *Service) CreateUser(ctx context.Context, n NewUser) (User, error) {
	email, err := ParseEmail("email", n.Email)
	if err != nil {
		return User{}, err
	}
	u := User{
		ID:            uuid.NewString(),
		Email:         email,
		EmailVerified: n.EmailVerified,
		Nickname:      strings.TrimSpace(n.Nickname),
		Status:        n.Status,
		Permissions:   NormalizePermissions(n.Permissions),
		Language:      n.Language,
		CreatedAt:     s.now(),
	}
	if u.Nickname == "" {
		u.Nickname, _, _ = strings.Cut(email, "@")
	}
	if utf8.RuneCountInString(u.Nickname) > 100 {
		return User{}, Invalid("nickname", "Nickname is too long")
	}
	if u.Status == "" {
		u.Status = StatusActive
	} else if !u.Status.Valid() {
		return User{}, Invalid("status", "Unknown status %q", u.Status)
	}
	if n.Permissions == nil {
		u.Permissions = DefaultPermissions()
	}
	if err := validLanguage(u.Language); err != nil {
		return User{}, err
	}
	if n.Password != "" {
		if u.PasswordHash, err = s.hashPassword(n.Password); err != nil {
			return User{}, err
		}
	}
	if err := s.store.CreateUser(ctx, u); err != nil {
		return User{}, internal(err)
	}
	return u, nil
}

func validLanguage(lang string) error {
	if len(lang) > 35 {
		return Invalid("language", "Language is not a valid language tag")
	}
	for _, r := range lang {
		if !(r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return Invalid("language", "Language is not a valid language tag")
		}
	}
	return nil
}

func (s *Service) hashPassword(pw string) (string, error) {
	if n := utf8.RuneCountInString(pw); n < MinPasswordLen || n > MaxPasswordLen {
		return "", Invalid("password", "Password must be %d to %d characters", MinPasswordLen, MaxPasswordLen)
	}
	h, err := s.opts.Password.Hash(pw)
	if err != nil {
		return "", Wrap(CodeInternal, err, "Cannot hash password")
	}
	return h, nil
}

// SignIn checks an email and password and starts a session. A wrong
// password, an unknown email and a passwordless account all give
// ErrWrongPassword after the same amount of work, so the answer reveals
// nothing about which accounts exist. Status is checked only after the
// password, for the same reason.
func (s *Service) SignIn(ctx context.Context, email, pw string, c Client) (User, TokenPair, error) {
	if strings.TrimSpace(email) == "" {
		return User{}, TokenPair{}, Invalid("email", "Email cannot be empty")
	}
	if pw == "" {
		return User{}, TokenPair{}, Invalid("password", "Password cannot be empty")
	}
	u, err := s.store.GetUserByEmail(ctx, email)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return User{}, TokenPair{}, internal(err)
	}
	ok := false
	if err == nil && !u.Passwordless() {
		ok, err = password.Check(u.PasswordHash, pw)
		if err != nil {
			s.log.ErrorContext(ctx, "stored password hash unreadable", "user", u.ID, "err", err)
			ok = false
		}
	} else {
		password.CheckDummy(pw)
	}
	fail := func(err error) (User, TokenPair, error) {
		s.record(ctx, Event{UserID: u.ID, Kind: EventSignInFailed, Method: MethodPassword, IP: c.IP, UserAgent: c.UserAgent, Detail: string(ErrorCode(err))})
		return User{}, TokenPair{}, err
	}
	if !ok {
		return fail(ErrWrongPassword)
	}
	if err := u.CheckCanSignIn(); err != nil {
		return fail(err)
	}
	if s.opts.Password.NeedsRehash(u.PasswordHash) {
		if h, err := s.opts.Password.Hash(pw); err == nil {
			_, _ = s.store.UpdateUser(ctx, u.ID, func(x *User) error { x.PasswordHash = h; return nil })
		}
	}
	pair, err := s.startSession(ctx, u)
	if err != nil {
		return User{}, TokenPair{}, err
	}
	s.record(ctx, Event{UserID: u.ID, Kind: EventSignIn, Method: MethodPassword, Success: true, IP: c.IP, UserAgent: c.UserAgent})
	return u, pair, nil
}

// startSession issues an access token and the first refresh token of a
// new chain.
func (s *Service) startSession(ctx context.Context, u User) (TokenPair, error) {
	now := s.now()
	refresh := randomToken(32)
	rt := RefreshToken{Hash: Hash(refresh), ChainID: uuid.NewString(), UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(s.opts.RefreshTTL)}
	if err := s.store.CreateRefreshToken(ctx, rt); err != nil {
		return TokenPair{}, internal(err)
	}
	return s.pair(u.ID, refresh, rt)
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
// up; presenting it again is treated as theft and revokes the whole chain
// (ErrTokenReused), so both the thief and the victim must sign in again.
func (s *Service) Refresh(ctx context.Context, refresh string, c Client) (TokenPair, error) {
	if refresh == "" {
		return TokenPair{}, Invalid("refresh_token", "RefreshToken cannot be empty")
	}
	now := s.now()
	next := randomToken(32)
	var nextRT RefreshToken
	rotated, err := s.store.RotateRefreshToken(ctx, Hash(refresh), now, func(old RefreshToken) RefreshToken {
		nextRT = RefreshToken{Hash: Hash(next), ChainID: old.ChainID, UserID: old.UserID, CreatedAt: now, ExpiresAt: now.Add(s.opts.RefreshTTL)}
		return nextRT
	})
	if errors.Is(err, ErrTokenReused) {
		s.log.WarnContext(ctx, "refresh token reused; chain revoked", "user", rotated.UserID, "chain", rotated.ChainID)
		s.record(ctx, Event{UserID: rotated.UserID, Kind: EventRefreshReused, IP: c.IP, UserAgent: c.UserAgent, Detail: string(CodeTokenReused)})
		return TokenPair{}, ErrTokenReused
	}
	if err != nil {
		return TokenPair{}, internal(err)
	}
	u, err := s.store.GetUser(ctx, rotated.UserID)
	if err == nil {
		err = u.CheckCanSignIn()
	}
	if err != nil {
		_, _ = s.store.RevokeRefreshChain(ctx, nextRT.Hash, now)
		if errors.Is(err, ErrNotFound) {
			return TokenPair{}, ErrInvalidToken
		}
		return TokenPair{}, internal(err)
	}
	s.record(ctx, Event{UserID: u.ID, Kind: EventRefresh, Success: true, IP: c.IP, UserAgent: c.UserAgent})
	return s.pair(u.ID, next, nextRT)
}

// SignOut revokes the refresh token's chain. Access tokens already issued
// stay valid until they expire.
func (s *Service) SignOut(ctx context.Context, refresh string, c Client) error {
	if refresh == "" {
		return Invalid("refresh_token", "RefreshToken cannot be empty")
	}
	rt, err := s.store.RevokeRefreshChain(ctx, Hash(refresh), s.now())
	if err != nil {
		return internal(err)
	}
	s.record(ctx, Event{UserID: rt.UserID, Kind: EventSignOut, Success: true, IP: c.IP, UserAgent: c.UserAgent})
	return nil
}

// Authenticate checks an access token and returns its active user.
func (s *Service) Authenticate(ctx context.Context, access string) (User, error) {
	if access == "" {
		return User{}, ErrUnauthenticated
	}
	id, err := s.tokens.Verify(access, s.now())
	if err != nil {
		return User{}, ErrInvalidToken
	}
	u, err := s.store.GetUser(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return User{}, ErrInvalidToken
	}
	if err != nil {
		return User{}, internal(err)
	}
	if err := u.CheckCanSignIn(); err != nil {
		return User{}, err
	}
	return u, nil
}

// UpdateUser applies an admin change. Banning or deactivating an account,
// or changing its password, revokes its refresh tokens.
func (s *Service) UpdateUser(ctx context.Context, id string, change func(*User) error) (User, error) {
	var revoke bool
	u, err := s.store.UpdateUser(ctx, id, func(u *User) error {
		before := *u
		if err := change(u); err != nil {
			return err
		}
		if !u.Status.Valid() {
			return Invalid("status", "Unknown status %q", u.Status)
		}
		u.Permissions = NormalizePermissions(u.Permissions)
		revoke = u.Status != StatusActive || u.PasswordHash != before.PasswordHash
		return nil
	})
	if err != nil {
		return User{}, internal(err)
	}
	if revoke {
		if err := s.store.RevokeUserRefreshTokens(ctx, id, s.now()); err != nil {
			return u, internal(err)
		}
	}
	return u, nil
}

// SetPassword validates and hashes pw and stores it, revoking sessions.
func (s *Service) SetPassword(ctx context.Context, id, pw string) error {
	h, err := s.hashPassword(pw)
	if err != nil {
		return err
	}
	_, err = s.UpdateUser(ctx, id, func(u *User) error { u.PasswordHash = h; return nil })
	return err
}

// LoginActivity returns the user's recent sign-in attempts, newest first.
func (s *Service) LoginActivity(ctx context.Context, userID string, limit int) ([]Event, error) {
	return s.Events(ctx, EventQuery{UserID: userID, Kinds: []EventKind{EventSignIn, EventSignInFailed}, Limit: limit})
}

// Events returns audit events, newest first.
func (s *Service) Events(ctx context.Context, q EventQuery) ([]Event, error) {
	events, err := s.store.ListEvents(ctx, q)
	return events, internal(err)
}

// User returns the account with id; ErrNotFound if there is none.
func (s *Service) User(ctx context.Context, id string) (User, error) {
	u, err := s.store.GetUser(ctx, id)
	return u, internal(err)
}

// UserByEmail returns the account with email (case-insensitive);
// ErrNotFound if there is none.
func (s *Service) UserByEmail(ctx context.Context, email string) (User, error) {
	u, err := s.store.GetUserByEmail(ctx, email)
	return u, internal(err)
}

// Users returns every account, oldest first (the admin CLI).
func (s *Service) Users(ctx context.Context) ([]User, error) {
	users, err := s.store.ListUsers(ctx)
	return users, internal(err)
}

// SignInMethods says how the account with email can sign in: with a
// password, and through which enabled providers it has linked. An unknown
// email answers like an account with only a password, so that the answer
// does not reveal which emails have accounts.
func (s *Service) SignInMethods(ctx context.Context, email string) (password bool, providers []Provider, err error) {
	u, err := s.store.GetUserByEmail(ctx, email)
	if errors.Is(err, ErrNotFound) {
		return true, nil, nil
	}
	if err != nil {
		return false, nil, internal(err)
	}
	ids, err := s.store.ListIdentities(ctx, u.ID)
	if err != nil {
		return false, nil, internal(err)
	}
	for _, id := range ids {
		if p, ok := s.byID[id.ProviderID]; ok && p.Enabled {
			providers = append(providers, *p)
		}
	}
	return !u.Passwordless(), providers, nil
}
