package core

import (
	"cmp"
	"context"
)

// Account deletion. The owner deletes the account after proving again
// who they are (Proof), or an admin does (tether user delete). One
// transaction removes the account and, by the database's ON DELETE
// CASCADE, its identities, sessions with their sealed upstream tokens,
// refresh tokens, email links and any later table that references
// accounts (the OpenID Provider's consents); link flows go too. The audit
// events stay, emptied of IP addresses and user agents, and an
// account_deleted event (with neither) records the deletion. The account's
// address, if the account owned it, is told (mail.Site.AccountDeleted).

// DeleteRequest names the account to delete and the proof.
type DeleteRequest struct {
	UserID string
	Proof  Proof
	// Admin skips the proof: the admin CLI, which passes AdminCLI as the
	// client.
	Admin bool
}

// DeleteAccount deletes the account.
func (s *Service) DeleteAccount(ctx context.Context, r DeleteRequest, c Client) error {
	u, err := s.store.GetUser(ctx, r.UserID)
	if err != nil {
		return internal(err)
	}
	if !r.Admin {
		if err := u.CheckCanSignIn(); err != nil {
			return err
		}
		if err := s.reauth(ctx, u, r.Proof); err != nil {
			return err
		}
	}
	var notice *mailMessage
	if s.opts.Mail.Enabled && ownsAddress(u) && Mailable(u.Email) {
		msg, err := s.opts.Mail.Site.AccountDeleted(mailLang(u, ""), u.Email)
		if err != nil {
			return internal(err)
		}
		notice = &msg
	}
	err = s.store.Update(ctx, func(q Queries) error {
		if err := q.DeleteUser(ctx, u.ID); err != nil {
			return err
		}
		if notice != nil {
			if err := s.queueMail(ctx, q, *notice); err != nil {
				return err
			}
		}
		// Only the actor of the client: the deletion keeps no personal
		// data of the request.
		return q.RecordEvent(ctx, s.event(Event{UserID: u.ID, Kind: EventAccountDeleted, Success: true}, Client{Actor: c.Actor}))
	})
	if err != nil {
		return internal(err)
	}
	s.log.InfoContext(ctx, "account deleted", "user", u.ID, "by", cmp.Or(c.Actor, ActorUser))
	if notice != nil {
		s.wakeMail()
	}
	return nil
}
