package core

import (
	"context"
	"errors"
)

// Change of address. The signed-in owner asks for a new address, proving
// again who they are (Proof); a link goes to the new address, and the
// change happens only when it is followed, so nobody can give an account
// an address they cannot read. The new address must be free: no other
// account owns it (verified, or signs in with it); this is checked when
// asking, and the database's unique index settles it again when the
// link is followed. The link is single use, expires
// (MailOptions.ChangeTTL) and is bound to the account's old address, so
// it dies when the address changes another way. Following it makes the
// new address the account's, verified, and tells the old address
// (mail.Site.EmailChanged), if the account owned it.

// RequestEmailChange mails a link that makes newAddress the address of
// the account userID.
func (s *Service) RequestEmailChange(ctx context.Context, userID, newAddress, lang string, p Proof, c Client) error {
	if !s.opts.Mail.Enabled {
		return ErrMailDisabled
	}
	u, err := s.store.GetUser(ctx, userID)
	if err != nil {
		return internal(err)
	}
	if err := u.CheckCanSignIn(); err != nil {
		return err
	}
	address, err := ParseEmail("email", newAddress)
	if err != nil {
		return err
	}
	if !Mailable(address) {
		return Invalid("email", "Email is not a valid email address")
	}
	if EmailKey(address) == EmailKey(u.Email) {
		return Invalid("email", "Email is already the account's address")
	}
	if err := s.reauth(ctx, u, p); err != nil {
		return err
	}
	if err := addressFree(ctx, s.store, u.ID, address); err != nil {
		return err
	}
	l, link := s.newLink(LinkChangeEmail, u, address, EmailKey(u.Email), s.opts.Mail.ChangeTTL)
	msg, err := s.opts.Mail.Site.ConfirmEmailChange(mailLang(u, lang), address, link, s.opts.Mail.ChangeTTL)
	if err != nil {
		return internal(err)
	}
	err = s.store.Update(ctx, func(q Queries) error {
		if err := q.CreateEmailLink(ctx, l); err != nil {
			return err
		}
		if err := s.queueMail(ctx, q, msg); err != nil {
			return err
		}
		return q.RecordEvent(ctx, s.event(Event{UserID: u.ID, Kind: EventEmailChangeRequested, Success: true}, c))
	})
	if err != nil {
		return internal(err)
	}
	s.wakeMail()
	return nil
}

// addressFree refuses an address that another account owns. q is the
// store, or the transaction that gives the account the address.
func addressFree(ctx context.Context, q Queries, userID, address string) error {
	other, err := q.GetUserByEmail(ctx, address)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil
	case err != nil:
		return internal(err)
	case other.ID != userID && ownsAddress(other):
		return ErrEmailTaken
	}
	return nil
}

// ConfirmEmailChange follows a change link: the account userID's address
// becomes the one the link was sent to, verified. It needs no session:
// the link is the proof, and the change was asked for by a signed-in,
// re-authenticated owner.
func (s *Service) ConfirmEmailChange(ctx context.Context, userID, secret string, c Client) (User, error) {
	l, before, err := s.checkLink(ctx, LinkChangeEmail, userID, secret)
	if err != nil {
		return User{}, s.linkFailed(ctx, l, err, c)
	}
	if err := addressFree(ctx, s.store, userID, l.Email); err != nil {
		return User{}, err
	}
	var notice *mailMessage
	if s.opts.Mail.Enabled && ownsAddress(before) && Mailable(before.Email) {
		msg, err := s.opts.Mail.Site.EmailChanged(mailLang(before, ""), before.Email, l.Email)
		if err != nil {
			return User{}, internal(err)
		}
		notice = &msg
	}
	var u User
	err = s.store.Update(ctx, func(q Queries) error {
		var err error
		u, err = s.useLink(ctx, q, l, func(u *User) error {
			u.Email, u.EmailVerified = l.Email, true
			return nil
		})
		if err != nil {
			return err
		}
		if notice != nil {
			if err := s.queueMail(ctx, q, *notice); err != nil {
				return err
			}
		}
		return q.RecordEvent(ctx, s.event(Event{UserID: u.ID, Kind: EventEmailChanged, Success: true}, c))
	})
	if ErrorCode(err) == CodeLinkInvalid {
		return User{}, s.linkFailed(ctx, l, err, c)
	}
	if err != nil {
		return User{}, internal(err)
	}
	s.wakeMail()
	return u, nil
}
