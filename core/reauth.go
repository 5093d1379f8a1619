package core

import (
	"context"

	"github.com/tether-id/tether/internal/password"
)

// Proof is how a signed-in person shows, again, that they are the
// account's owner before a change that a stolen session must not be able
// to make (deleting the account, changing its address): the password for
// an account that has one; for a passwordless account, the session the
// request came with, which must have begun (the person signed in) within
// MailOptions.ReauthMaxAge.
type Proof struct {
	Password  string
	SessionID string
}

// reauth checks p for u.
func (s *Service) reauth(ctx context.Context, u User, p Proof) error {
	if !u.Passwordless() {
		if p.Password == "" {
			return Invalid("password", "Password cannot be empty")
		}
		ok, err := password.Check(u.PasswordHash, p.Password)
		if err != nil {
			s.log.ErrorContext(ctx, "stored password hash unreadable", "user", u.ID, "err", err)
		}
		if !ok {
			return ErrWrongPassword
		}
		return nil
	}
	if p.SessionID == "" {
		return ErrReauthRequired
	}
	ses, err := s.store.GetSession(ctx, p.SessionID)
	switch {
	case errorsIsNotFound(err):
		return ErrReauthRequired
	case err != nil:
		return internal(err)
	case ses.UserID != u.ID || !ses.RevokedAt.IsZero() || s.now().Sub(ses.CreatedAt) > s.opts.Mail.ReauthMaxAge:
		return ErrReauthRequired
	}
	return nil
}

// SignedInRecently reports whether the session sessionID of the account
// userID began within ReauthMaxAge, so a page can say beforehand whether
// a passwordless account must sign in again.
func (s *Service) SignedInRecently(ctx context.Context, userID, sessionID string) bool {
	ses, err := s.store.GetSession(ctx, sessionID)
	return err == nil && ses.UserID == userID && ses.RevokedAt.IsZero() && s.now().Sub(ses.CreatedAt) <= s.opts.Mail.ReauthMaxAge
}
