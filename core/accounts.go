package core

import (
	"context"
	"errors"
	"slices"
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
// verified, so verified-email linking never applies to them until the
// link mailed to the address is followed (or an admin marks the email
// verified).
func (s *Service) SignUp(ctx context.Context, n NewUser, c Client) (User, error) {
	if !s.opts.PasswordSignUp {
		return User{}, ErrSignUpDisabled
	}
	if n.Password == "" {
		return User{}, Invalid("password", "Password cannot be empty")
	}
	n.EmailVerified, n.Status, n.Permissions = false, StatusActive, nil
	u, err := s.newUser(n)
	if err != nil {
		return User{}, err
	}
	// The link to verify the address goes out with the account, in the
	// same transaction (verify.go).
	_, sendVerification, mailed, err := s.verificationMail(u, u.Language, c)
	if err != nil {
		return User{}, err
	}
	err = s.store.Update(ctx, func(q Queries) error {
		if err := q.CreateUser(ctx, u); err != nil {
			return err
		}
		if mailed {
			if err := sendVerification(ctx, q); err != nil {
				return err
			}
		}
		return q.RecordEvent(ctx, s.event(Event{UserID: u.ID, Kind: EventSignUp, Method: MethodPassword, Success: true}, c))
	})
	if err != nil {
		return User{}, internal(err)
	}
	if mailed {
		s.wakeMail()
	}
	return u, nil
}

// CreateUser validates n and stores the account (the admin CLI), with
// its account_created event; c says who acted (AdminCLI).
func (s *Service) CreateUser(ctx context.Context, n NewUser, c Client) (User, error) {
	u, err := s.newUser(n)
	if err != nil {
		return User{}, err
	}
	if err := s.checkEmailFree(ctx, u); err != nil {
		return User{}, err
	}
	err = s.store.Update(ctx, func(q Queries) error {
		if err := q.CreateUser(ctx, u); err != nil {
			return err
		}
		return q.RecordEvent(ctx, s.event(Event{UserID: u.ID, Kind: EventAccountCreated, Success: true}, c))
	})
	if err != nil {
		return User{}, internal(err)
	}
	return u, nil
}

// checkEmailFree refuses a new account whose email another account owns.
// An account owns its address when it verified it or signs in with it (a
// password); the database enforces that between owners. A new account
// that would not own its address (passwordless, unverified) is still
// refused an owned one, so that it neither shadows nor confuses the
// owner; it is allowed one nobody owns, which it then blocks for nobody.
func (s *Service) checkEmailFree(ctx context.Context, u User) error {
	if u.EmailVerified || !u.Passwordless() {
		return nil // an owner: the unique index decides
	}
	other, err := s.store.GetUserByEmail(ctx, u.Email)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil
	case err != nil:
		return internal(err)
	case other.EmailVerified || !other.Passwordless():
		return ErrEmailTaken
	}
	return nil
}

// newUser validates n and builds the account, its password hashed.
func (s *Service) newUser(n NewUser) (User, error) {
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
		s.opts.Password.CheckDummy(pw)
	}
	fail := func(err error) (User, TokenPair, error) {
		s.record(ctx, Event{UserID: u.ID, Kind: EventSignInFailed, Method: MethodPassword, Detail: string(ErrorCode(err))}, c)
		return User{}, TokenPair{}, err
	}
	if !ok {
		return fail(ErrWrongPassword)
	}
	if err := u.CheckCanSignIn(); err != nil {
		return fail(err)
	}
	if s.opts.Mail.RequireVerified && !u.EmailVerified {
		return fail(ErrEmailUnverified) // after the password: it tells nothing to a guesser
	}
	rehash := ""
	if s.opts.Password.NeedsRehash(u.PasswordHash) {
		rehash, _ = s.opts.Password.Hash(pw)
	}
	ses, pair, first, err := s.newSession(u, sessionStart{method: MethodPassword, client: c})
	if err != nil {
		return User{}, TokenPair{}, err
	}
	err = s.store.Update(ctx, func(q Queries) error {
		if rehash != "" {
			_, err := q.UpdateUser(ctx, u.ID, func(x *User) error {
				if x.PasswordHash == u.PasswordHash { // unless it changed meanwhile
					x.PasswordHash = rehash
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		if err := q.CreateSession(ctx, ses, first); err != nil {
			return err
		}
		return q.RecordEvent(ctx, s.event(Event{UserID: u.ID, Kind: EventSignIn, Method: MethodPassword, Success: true}, c))
	})
	if err != nil {
		return User{}, TokenPair{}, internal(err)
	}
	return u, pair, nil
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
	return s.activeUser(ctx, id)
}

// activeUser returns the account a valid credential names if it may
// still sign in; an account deleted since is ErrInvalidToken.
func (s *Service) activeUser(ctx context.Context, id string) (User, error) {
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

// UpdateUser applies an admin change, c being who made it (AdminCLI).
// Banning or deactivating an account, or changing its password, revokes
// its refresh tokens. Each thing the change changed is an audit event in
// the same transaction (changeEvents). A new address must be valid and
// not another account's.
func (s *Service) UpdateUser(ctx context.Context, id string, change func(*User) error, c Client) (User, error) {
	var u User
	err := s.store.Update(ctx, func(q Queries) error {
		var before User
		var err error
		u, err = q.UpdateUser(ctx, id, func(u *User) error {
			before = *u
			before.Permissions = slices.Clone(u.Permissions) // change may edit the slice in place
			if err := change(u); err != nil {
				return err
			}
			if !u.Status.Valid() {
				return Invalid("status", "Unknown status %q", u.Status)
			}
			u.Permissions = NormalizePermissions(u.Permissions)
			if u.Email != before.Email {
				if u.Email, err = ParseEmail("email", u.Email); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if EmailKey(u.Email) != EmailKey(before.Email) {
			if err := addressFree(ctx, q, u.ID, u.Email); err != nil {
				return err
			}
		}
		if u.Status != StatusActive || u.PasswordHash != before.PasswordHash {
			if err := q.RevokeUserRefreshTokens(ctx, id, s.now()); err != nil {
				return err
			}
		}
		for _, e := range changeEvents(before, u) {
			if err := q.RecordEvent(ctx, s.event(e, c)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return User{}, internal(err)
	}
	return u, nil
}

// changeEvents are the audit events of an admin's change from before to
// after: one per thing changed, none for what stayed.
func changeEvents(before, after User) []Event {
	var out []Event
	add := func(kind EventKind, detail string) {
		out = append(out, Event{UserID: after.ID, Kind: kind, Success: true, Detail: detail})
	}
	banned := func(s Status) bool { return s == StatusManualBanned || s == StatusSysBanned }
	if before.Status != after.Status {
		switch {
		case banned(after.Status):
			add(EventBan, string(after.Status))
		case banned(before.Status):
			add(EventUnban, string(after.Status))
		case after.Status == StatusInactive:
			add(EventDeactivate, "")
		default:
			add(EventActivate, "")
		}
	}
	for _, p := range after.Permissions {
		if !before.Can(p) {
			add(EventGrant, p)
		}
	}
	for _, p := range before.Permissions {
		if !after.Can(p) {
			add(EventRevoke, p)
		}
	}
	if before.PasswordHash != after.PasswordHash {
		add(EventPasswordChanged, "")
	}
	if before.Email != after.Email {
		add(EventEmailChanged, "")
	}
	if before.EmailVerified != after.EmailVerified {
		if after.EmailVerified {
			add(EventEmailVerified, "")
		} else {
			add(EventEmailUnverified, "")
		}
	}
	var fields []string
	if before.Nickname != after.Nickname {
		fields = append(fields, "nickname")
	}
	if before.Avatar != after.Avatar {
		fields = append(fields, "avatar")
	}
	if before.Language != after.Language {
		fields = append(fields, "language")
	}
	if fields != nil {
		add(EventProfileChanged, strings.Join(fields, ","))
	}
	return out
}

// SetPassword validates and hashes pw and stores it, revoking sessions;
// c is who did it (AdminCLI).
func (s *Service) SetPassword(ctx context.Context, id, pw string, c Client) error {
	h, err := s.hashPassword(pw)
	if err != nil {
		return err
	}
	_, err = s.UpdateUser(ctx, id, func(u *User) error { u.PasswordHash = h; return nil }, c)
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
