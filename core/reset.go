package core

import (
	"context"
	"errors"
)

// Password reset. Anyone may ask for a reset link for an address; the
// answer is the same whether or not an account has it, and comes before
// the lookup (the rest happens in the background), so neither the answer
// nor its timing tells which addresses have accounts. The link goes only
// to an address its account owns (verified, or a password account's),
// only for an account that may sign in, and never to the placeholder of
// accounts without an address.
//
// A link is single use, expires (MailOptions.ResetTTL), is bound to the
// address it was sent to, and to a fingerprint of the password hash at
// the time: once the password changed by any means (another reset, an
// admin, the account page), older links stop working. A reset revokes
// every session of the account, the apps' sessions through tether
// included, and marks the address verified: the link proved the mailbox.

// RequestPasswordReset mails a reset link to address if an account owns
// it. lang is the request's language, used when the account has none.
func (s *Service) RequestPasswordReset(ctx context.Context, address, lang string, c Client) error {
	if !s.opts.Mail.Enabled {
		return ErrMailDisabled
	}
	address, err := ParseEmail("email", address)
	if err != nil {
		return err
	}
	if err := validLanguage(lang); err != nil {
		return err
	}
	s.background(ctx, func(ctx context.Context) {
		if err := s.sendReset(ctx, address, lang, c); err != nil {
			s.log.ErrorContext(ctx, "password reset request", "err", err)
		}
	})
	return nil
}

// sendReset is the background half of RequestPasswordReset. What it
// found is recorded as an audit event either way.
func (s *Service) sendReset(ctx context.Context, address, lang string, c Client) error {
	u, err := s.store.GetUserByEmail(ctx, address)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	why := ""
	switch {
	case err != nil:
		why = "unknown_address"
	case !ownsAddress(u) || !Mailable(u.Email):
		why = "address_not_owned"
	case u.CheckCanSignIn() != nil:
		why = string(ErrorCode(u.CheckCanSignIn()))
	}
	if why != "" {
		s.record(ctx, Event{UserID: u.ID, Kind: EventPasswordResetRequest, Detail: why}, c)
		return nil
	}
	l, link := s.newLink(LinkResetPassword, u, u.Email, s.passwordBinding(u.PasswordHash), s.opts.Mail.ResetTTL)
	msg, err := s.opts.Mail.Site.ResetPassword(mailLang(u, lang), u.Email, link, s.opts.Mail.ResetTTL)
	if err != nil {
		return err
	}
	err = s.store.Update(ctx, func(q Queries) error {
		if err := q.CreateEmailLink(ctx, l); err != nil {
			return err
		}
		if err := s.queueMail(ctx, q, msg); err != nil {
			return err
		}
		return q.RecordEvent(ctx, s.event(Event{UserID: u.ID, Kind: EventPasswordResetRequest, Success: true}, c))
	})
	if err != nil {
		return err
	}
	s.wakeMail()
	return nil
}

// ResetPassword follows a reset link: the account userID's password
// becomes newPassword and every session of the account is revoked. It
// needs no session. The link is checked before the new password is
// hashed, so a dead link costs no hashing.
func (s *Service) ResetPassword(ctx context.Context, userID, secret, newPassword string, c Client) (User, error) {
	l, u, err := s.checkLink(ctx, LinkResetPassword, userID, secret)
	if err != nil {
		return User{}, s.linkFailed(ctx, l, err, c)
	}
	if newPassword == "" {
		return User{}, Invalid("password", "Password cannot be empty")
	}
	if err := u.CheckCanSignIn(); err != nil {
		return User{}, err
	}
	h, err := s.hashPassword(newPassword)
	if err != nil {
		return User{}, err
	}
	err = s.store.Update(ctx, func(q Queries) error {
		var err error
		u, err = s.useLink(ctx, q, l, func(u *User) error {
			if err := u.CheckCanSignIn(); err != nil {
				return err
			}
			u.PasswordHash, u.EmailVerified = h, true
			return nil
		})
		if err != nil {
			return err
		}
		if err := q.RevokeUserRefreshTokens(ctx, u.ID, s.now()); err != nil {
			return err
		}
		return q.RecordEvent(ctx, s.event(Event{UserID: u.ID, Kind: EventPasswordReset, Method: MethodPassword, Success: true}, c))
	})
	if ErrorCode(err) == CodeLinkInvalid {
		return User{}, s.linkFailed(ctx, l, err, c)
	}
	if err != nil {
		return User{}, internal(err)
	}
	return u, nil
}
