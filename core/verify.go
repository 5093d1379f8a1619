package core

import (
	"context"
	"errors"
)

// Verification of an account's address. A password sign-up is sent a
// link at once; any account whose address is not verified can ask for
// another (the newest link replaces the older ones). Following the link
// marks the address verified, without signing in: the link itself is the
// proof. The link is single use, expires (MailOptions.VerifyTTL) and is
// bound to the address it was sent to, so it dies when the account's
// address changes.

// verificationMail builds the link and message that verify u's address,
// and returns the writes that store them with their event, or reports
// ok=false when no mail goes out (mail off, or an address tether does not
// write to).
func (s *Service) verificationMail(u User, lang string, c Client) (EmailLink, func(ctx context.Context, q Queries) error, bool, error) {
	if !s.opts.Mail.Enabled || !Mailable(u.Email) {
		return EmailLink{}, nil, false, nil
	}
	l, link := s.newLink(LinkVerifyEmail, u, u.Email, "", s.opts.Mail.VerifyTTL)
	msg, err := s.opts.Mail.Site.VerifyEmail(mailLang(u, lang), u.Email, link, s.opts.Mail.VerifyTTL)
	if err != nil {
		return EmailLink{}, nil, false, internal(err)
	}
	write := func(ctx context.Context, q Queries) error {
		if err := q.CreateEmailLink(ctx, l); err != nil {
			return err
		}
		if err := s.queueMail(ctx, q, msg); err != nil {
			return err
		}
		return q.RecordEvent(ctx, s.event(Event{UserID: u.ID, Kind: EventVerifyEmailSent, Success: true}, c))
	}
	return l, write, true, nil
}

// ResendVerification sends the signed-in account userID a new link to
// verify its address. An address that is verified already gets nothing
// and no error.
func (s *Service) ResendVerification(ctx context.Context, userID, lang string, c Client) error {
	if !s.opts.Mail.Enabled {
		return ErrMailDisabled
	}
	u, err := s.store.GetUser(ctx, userID)
	if err != nil {
		return internal(err)
	}
	if u.EmailVerified {
		return nil
	}
	if !Mailable(u.Email) {
		return Invalid("email", "The account has no email address")
	}
	_, write, _, err := s.verificationMail(u, lang, c)
	if err != nil {
		return err
	}
	if err := s.store.Update(ctx, func(q Queries) error { return write(ctx, q) }); err != nil {
		return internal(err)
	}
	s.wakeMail()
	return nil
}

// ResendVerificationTo sends a new verification link to address, for a
// person whose password sign-in was refused because the address is not
// verified. The answer is the same whether or not such an account
// exists, and so is its timing: the lookup and the sending happen after
// the answer (background).
func (s *Service) ResendVerificationTo(ctx context.Context, address, lang string, c Client) error {
	if !s.opts.Mail.Enabled {
		return ErrMailDisabled
	}
	address, err := ParseEmail("email", address)
	if err != nil {
		return err
	}
	s.background(ctx, func(ctx context.Context) {
		u, err := s.store.GetUserByEmail(ctx, address)
		if err != nil || u.EmailVerified || u.Passwordless() || u.CheckCanSignIn() != nil {
			if err != nil && !errors.Is(err, ErrNotFound) {
				s.log.ErrorContext(ctx, "resend verification: reading the account", "err", err)
			}
			return // nothing to verify for a password sign-in
		}
		if err := s.ResendVerification(ctx, u.ID, lang, c); err != nil {
			s.log.ErrorContext(ctx, "resend verification", "user", u.ID, "err", err)
		}
	})
	return nil
}

// VerifyEmail follows a verification link: the account userID's address
// becomes verified. It needs no session. A used, expired or replaced
// link, or one sent to an address the account no longer has, is refused
// (CodeLinkInvalid, with a Reason).
func (s *Service) VerifyEmail(ctx context.Context, userID, secret string, c Client) (User, error) {
	l, _, err := s.checkLink(ctx, LinkVerifyEmail, userID, secret)
	if err != nil {
		return User{}, s.linkFailed(ctx, l, err, c)
	}
	var u User
	err = s.store.Update(ctx, func(q Queries) error {
		var err error
		if u, err = s.useLink(ctx, q, l, func(u *User) error { u.EmailVerified = true; return nil }); err != nil {
			return err
		}
		return q.RecordEvent(ctx, s.event(Event{UserID: u.ID, Kind: EventEmailVerified, Success: true}, c))
	})
	if ErrorCode(err) == CodeLinkInvalid {
		return User{}, s.linkFailed(ctx, l, err, c)
	}
	if err != nil {
		return User{}, internal(err)
	}
	return u, nil
}
