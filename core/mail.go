package core

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/tether-id/tether/mail"
)

// MailOptions configure what tether does by mail: verification, password
// reset, change of address, the notices, and the rules that need mail.
type MailOptions struct {
	// Enabled says a sender is configured (an SMTP server, or the outbox
	// of tether dev). Without one nothing is queued, and the flows that
	// need mail (reset, resend, change of address) answer ErrMailDisabled;
	// sign-up still works, its address unverified.
	Enabled bool
	// Site writes the messages: product name and public URL.
	Site mail.Site
	// Link returns the URL of tether's page for a link of kind, for the
	// account userID, carrying secret. Required when Enabled.
	Link func(kind LinkKind, userID, secret string) string
	// How long each kind of link works; zero means the default
	// (DefaultVerifyTTL, DefaultResetTTL, DefaultChangeTTL).
	VerifyTTL, ResetTTL, ChangeTTL time.Duration
	// RequireVerified refuses password sign-in to accounts whose address
	// is not verified, after the password check (ErrEmailUnverified).
	RequireVerified bool
	// ReauthMaxAge is how recent the sign-in of a passwordless account
	// must be for it to delete itself or change its address (accounts
	// with a password type it again instead); zero means
	// DefaultReauthMaxAge.
	ReauthMaxAge time.Duration
	// Retention is how long sent and failed messages stay in the queue
	// (without their body); zero means DefaultMailRetention.
	Retention time.Duration
}

// Defaults of MailOptions.
const (
	DefaultVerifyTTL     = 24 * time.Hour
	DefaultResetTTL      = time.Hour
	DefaultChangeTTL     = 24 * time.Hour
	DefaultReauthMaxAge  = 10 * time.Minute
	DefaultMailRetention = 7 * 24 * time.Hour
)

func (o *MailOptions) defaults() {
	o.VerifyTTL = cmp.Or(o.VerifyTTL, DefaultVerifyTTL)
	o.ResetTTL = cmp.Or(o.ResetTTL, DefaultResetTTL)
	o.ChangeTTL = cmp.Or(o.ChangeTTL, DefaultChangeTTL)
	o.ReauthMaxAge = cmp.Or(o.ReauthMaxAge, DefaultReauthMaxAge)
	o.Retention = cmp.Or(o.Retention, DefaultMailRetention)
}

// MailEnabled reports whether tether can send mail: the flows that need
// it are offered only then.
func (s *Service) MailEnabled() bool { return s.opts.Mail.Enabled }

// RequireVerifiedEmail reports whether password sign-in needs a verified
// address.
func (s *Service) RequireVerifiedEmail() bool { return s.opts.Mail.RequireVerified }

// ReauthMaxAge is how recent a passwordless account's sign-in must be to
// delete it or change its address.
func (s *Service) ReauthMaxAge() time.Duration { return s.opts.Mail.ReauthMaxAge }

// LinkTTL is how long links of kind work, for pages that say so.
func (s *Service) LinkTTL(kind LinkKind) time.Duration {
	switch kind {
	case LinkResetPassword:
		return s.opts.Mail.ResetTTL
	case LinkChangeEmail:
		return s.opts.Mail.ChangeTTL
	}
	return s.opts.Mail.VerifyTTL
}

// Mailable reports whether tether writes to address at all: not the
// placeholder of accounts whose provider gave no address.
func Mailable(address string) bool {
	return address != "" && !strings.HasSuffix(EmailKey(address), "@"+PlaceholderEmailDomain)
}

// ownsAddress reports whether u owns its address by the rule the database
// enforces (verified, or signs in with it): only such an address gets
// notices and reset links. An unverified address of a passwordless
// account came from a provider that did not check it; its mailbox may be
// anyone's.
func ownsAddress(u User) bool { return u.EmailVerified || !u.Passwordless() }

// mailLang is the language of mail to u: the account's, else fallback
// (the language of the request).
func mailLang(u User, fallback string) string { return cmp.Or(u.Language, fallback) }

// newLink makes a link of kind for u, to address, bound to binding, valid
// for ttl. It returns the stored half and the URL that goes in the mail.
func (s *Service) newLink(kind LinkKind, u User, address, binding string, ttl time.Duration) (EmailLink, string) {
	secret := randomToken(32)
	now := s.now()
	l := EmailLink{Hash: Hash(secret), UserID: u.ID, Kind: kind, Email: address, Binding: binding, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	return l, s.opts.Mail.Link(kind, u.ID, secret)
}

// passwordBinding is the fingerprint of a password hash that a reset link
// carries: once the password changes by any means (a reset, an admin, a
// rehash at sign-in), the link no longer matches.
func (s *Service) passwordBinding(passwordHash string) string {
	m := hmac.New(sha256.New, s.opts.Secret)
	m.Write([]byte("tether reset link binding\x00"))
	m.Write([]byte(passwordHash))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// checkLink reads the link for secret and checks that it is a live link
// of kind for the account userID: unknown, another kind or account,
// used and expired links are refused, and so is a link sent to an address
// the account no longer has. It changes nothing: the pages call it to
// decide whether to show a form at all, and the commits check again.
func (s *Service) checkLink(ctx context.Context, kind LinkKind, userID, secret string) (EmailLink, User, error) {
	if secret == "" || userID == "" {
		return EmailLink{}, User{}, ErrLinkNotFound
	}
	l, err := s.store.GetEmailLink(ctx, Hash(secret))
	switch {
	case errorsIsNotFound(err), err == nil && (l.Kind != kind || l.UserID != userID):
		return EmailLink{}, User{}, ErrLinkNotFound
	case err != nil:
		return EmailLink{}, User{}, internal(err)
	case !l.UsedAt.IsZero():
		return l, User{}, ErrLinkUsed
	case !s.now().Before(l.ExpiresAt):
		return l, User{}, ErrLinkExpired
	}
	u, err := s.store.GetUser(ctx, l.UserID)
	if errorsIsNotFound(err) {
		return EmailLink{}, User{}, ErrLinkNotFound
	}
	if err != nil {
		return EmailLink{}, User{}, internal(err)
	}
	return l, u, linkStillBinds(l, u, s)
}

// linkStillBinds checks what a link is bound to against the account as it
// is now.
func linkStillBinds(l EmailLink, u User, s *Service) error {
	switch l.Kind {
	case LinkVerifyEmail:
		if EmailKey(u.Email) != EmailKey(l.Email) {
			return ErrLinkOtherAddress
		}
	case LinkResetPassword:
		if EmailKey(u.Email) != EmailKey(l.Email) {
			return ErrLinkOtherAddress
		}
		if s.passwordBinding(u.PasswordHash) != l.Binding {
			return ErrLinkPasswordChanged
		}
	case LinkChangeEmail:
		if EmailKey(u.Email) != l.Binding {
			return ErrLinkOtherAddress
		}
	}
	return nil
}

// CheckLink tells a page whether the link of kind for the account
// userID with secret can still be used, and for which address, without
// using it.
func (s *Service) CheckLink(ctx context.Context, kind LinkKind, userID, secret string) (EmailLink, User, error) {
	return s.checkLink(ctx, kind, userID, secret)
}

// useLink consumes the link inside q's transaction, after checking it
// again against the account as the transaction sees it (locked), and
// returns the account for change to update.
func (s *Service) useLink(ctx context.Context, q Queries, l EmailLink, change func(*User) error) (User, error) {
	if _, err := q.ConsumeEmailLink(ctx, l.Hash, s.now()); err != nil {
		if errorsIsNotFound(err) {
			return User{}, ErrLinkNotFound
		}
		return User{}, err
	}
	return q.UpdateUser(ctx, l.UserID, func(u *User) error {
		if err := linkStillBinds(l, *u, s); err != nil {
			return err
		}
		return change(u)
	})
}

// linkFailed records a refused link of a known account.
func (s *Service) linkFailed(ctx context.Context, l EmailLink, err error, c Client) error {
	if l.UserID != "" {
		s.record(ctx, Event{UserID: l.UserID, Kind: EventEmailLinkFailed, Detail: string(l.Kind) + ":" + ErrorReason(err)}, c)
	}
	return err
}

func errorsIsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// mailMessage is a built message waiting for its transaction.
type mailMessage = mail.Message
