package core

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/tether-id/tether/internal/jwt"
	"github.com/tether-id/tether/internal/password"
	"github.com/tether-id/tether/internal/seal"
	"github.com/tether-id/tether/provider"
)

// Provider is a configured upstream provider as the core sees it: policy
// from the config plus the protocol implementation.
type Provider struct {
	ID      string
	Kind    string // provider.KindOIDC, KindLogto or KindQQ
	Name    string
	Icon    string
	Enabled bool
	// DirectSignIn creates a passwordless account for an unknown identity.
	DirectSignIn bool
	// LinkByVerifiedEmail links an unknown identity to the local account
	// with the same email, when both emails are verified.
	LinkByVerifiedEmail bool
	// RecheckEvery is how long a session that came from this provider
	// goes between checks of its upstream account: a refresh after that
	// re-checks it (recheck) when Upstream is a provider.Refresher. Zero
	// never re-checks.
	RecheckEvery time.Duration
	// PostLogoutRedirectURI is where the provider sends the browser back
	// after a sign-out there (SignOutURL); "" lets it show its own page.
	PostLogoutRedirectURI string
	Upstream              provider.Provider
}

// Options configure a Service.
type Options struct {
	Store     Store
	Providers []Provider
	// Secret signs access tokens (at least 32 bytes).
	Secret []byte
	// EncryptionKey seals upstream tokens at rest (32 bytes).
	EncryptionKey []byte

	AccessTTL  time.Duration
	RefreshTTL time.Duration
	FlowTTL    time.Duration
	// EventRetention is how long audit events are kept; 0 keeps them.
	EventRetention time.Duration

	// Issuer is the issuer of tether's OpenID Provider: public_url.
	Issuer string
	// Apps are the clients of tether's OpenID Provider.
	Apps []App
	// KeyRotation is how long a signing key signs before a new one
	// replaces it (signing_keys.rotate_every).
	KeyRotation time.Duration
	// AccessTokenAlg signs apps' access tokens; default ES256.
	AccessTokenAlg string
	// Pictures fetches upstream pictures to keep; nil keeps none.
	Pictures       PictureFetcher
	BindBrowser    bool
	PasswordSignUp bool
	// Password sets the argon2id cost; zero means password.Default.
	Password password.Params
	// Mail configures verification, reset, change of address and the
	// mail queue (mail.go).
	Mail MailOptions

	Now    func() time.Time
	Logger *slog.Logger
}

// Service applies tether's rules: sign-up, sign-in, sessions, upstream
// flows, linking and unlinking. It knows nothing of HTTP or SQL; the API
// surfaces call it and the Store persists for it.
type Service struct {
	store     Store
	providers []Provider
	byID      map[string]*Provider
	tokens    *jwt.Signer
	keyring   keyring
	box       *seal.Box
	opts      Options
	now       func() time.Time
	log       *slog.Logger

	// mailWake wakes this instance's mail worker; bg counts background
	// work (mail.go, mailqueue.go). A Successor shares both.
	mailWake chan struct{}
	bg       *sync.WaitGroup
}

// New returns a Service.
func New(opts Options) (*Service, error) {
	if opts.Store == nil {
		return nil, errors.New("core: no store")
	}
	tokens, err := jwt.NewSigner(opts.Secret)
	if err != nil {
		return nil, err
	}
	box, err := seal.New(opts.EncryptionKey)
	if err != nil {
		return nil, err
	}
	if opts.AccessTTL <= 0 || opts.RefreshTTL <= 0 || opts.FlowTTL <= 0 {
		return nil, errors.New("core: token and flow lifetimes must be positive")
	}
	if opts.KeyRotation <= 0 {
		opts.KeyRotation = 720 * time.Hour
	}
	if opts.AccessTokenAlg == "" {
		opts.AccessTokenAlg = "ES256"
	}
	if opts.Password == (password.Params{}) {
		opts.Password = password.Default
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	opts.Mail.defaults()
	if opts.Mail.Enabled && opts.Mail.Link == nil {
		return nil, errors.New("core: mail is enabled but no link builder is set")
	}
	s := &Service{
		store:     opts.Store,
		providers: opts.Providers,
		byID:      map[string]*Provider{},
		tokens:    tokens,
		box:       box,
		opts:      opts,
		// Microseconds: what every store keeps, so a time the service
		// returns equals the one read back later.
		now: func() time.Time { return opts.Now().UTC().Truncate(time.Microsecond) },
		log: opts.Logger,

		mailWake: make(chan struct{}, 1),
		bg:       new(sync.WaitGroup),
	}
	for i := range s.providers {
		p := &s.providers[i]
		if _, dup := s.byID[p.ID]; dup {
			return nil, errors.New("core: duplicate provider id " + p.ID)
		}
		if p.Upstream == nil {
			return nil, errors.New("core: provider " + p.ID + " has no upstream")
		}
		s.byID[p.ID] = p
	}
	return s, nil
}

// Successor returns a Service built from opts that takes over from s
// when the configuration is reloaded. The two belong to one process: the
// mail worker that runs on s wakes for the mail the successor queues,
// and Wait on either waits for the background work of both. s goes on
// serving the requests that already hold it; nothing needs closing.
func (s *Service) Successor(opts Options) (*Service, error) {
	n, err := New(opts)
	if err != nil {
		return nil, err
	}
	n.mailWake, n.bg = s.mailWake, s.bg
	return n, nil
}

// Providers returns every configured provider, enabled or not, in config
// order.
func (s *Service) Providers() []Provider { return s.providers }

// Provider returns the provider with id; ok is false if there is none.
func (s *Service) Provider(id string) (Provider, bool) {
	p, ok := s.byID[id]
	if !ok {
		return Provider{}, false
	}
	return *p, true
}

// FirstEnabled returns the first enabled provider of kind, which is what
// Cloudreve's integer provider codes name.
func (s *Service) FirstEnabled(kind string) (Provider, bool) {
	for _, p := range s.providers {
		if p.Kind == kind && p.Enabled {
			return p, true
		}
	}
	return Provider{}, false
}

// PasswordSignUpEnabled reports whether local sign-up is open.
func (s *Service) PasswordSignUpEnabled() bool { return s.opts.PasswordSignUp }

// event completes an audit event: an id, the time, and who made the
// request: its address, user agent and actor (the client's, unless the
// event names its own). Events of a change are recorded in the change's
// transaction.
func (s *Service) event(e Event, c Client) Event {
	e.ID = uuid.NewString()
	if e.At.IsZero() {
		e.At = s.now()
	}
	e.IP, e.UserAgent = c.IP, c.UserAgent
	e.Actor = cmp.Or(e.Actor, c.Actor, ActorUser)
	return e
}

// record stores an audit event on its own, for failures that change
// nothing else. A failure to record is logged, not returned: audit must
// not turn a good answer into an error.
func (s *Service) record(ctx context.Context, e Event, c Client) {
	e = s.event(e, c)
	if err := s.store.RecordEvent(context.WithoutCancel(ctx), e); err != nil {
		s.log.ErrorContext(ctx, "audit event not recorded", "kind", e.Kind, "user", e.UserID, "err", err)
	}
}

// randomToken returns n random bytes, base64url without padding.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Hash returns the hex SHA-256 of a secret, the form in which tether
// stores refresh tokens and browser-binding secrets.
func Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// NewBrowserSecret returns a value for the browser-binding cookie.
func NewBrowserSecret() string { return randomToken(32) }

// internal wraps a storage or other unexpected error; *Error values and
// nil pass through.
func internal(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return Wrap(CodeInternal, err, "Database error")
}

// Purged counts what Purge deleted.
type Purged struct{ Flows, RefreshTokens, Events, Grants, EmailLinks, Mail int }

// Purge deletes expired flows, dead refresh tokens and sessions, expired
// email links, sent and failed mail older than its retention, and audit
// events older than theirs. Every instance may run it;
// stores make concurrent purges cheap.
func (s *Service) Purge(ctx context.Context) (Purged, error) {
	var p Purged
	var err error
	now := s.now()
	if p.Flows, err = s.store.PurgeFlows(ctx, now); err != nil {
		return p, internal(err)
	}
	if p.RefreshTokens, err = s.store.PurgeRefreshTokens(ctx, now); err != nil {
		return p, internal(err)
	}
	if p.Grants, err = s.store.PurgeGrants(ctx, now); err != nil {
		return p, internal(err)
	}
	if p.EmailLinks, err = s.store.PurgeEmailLinks(ctx, now); err != nil {
		return p, internal(err)
	}
	if p.Mail, err = s.store.PurgeMail(ctx, now.Add(-s.opts.Mail.Retention)); err != nil {
		return p, internal(err)
	}
	if s.opts.EventRetention > 0 {
		if p.Events, err = s.store.PurgeEvents(ctx, now.Add(-s.opts.EventRetention)); err != nil {
			return p, internal(err)
		}
	}
	return p, nil
}

// RecordEvent records an audit event on its own, for a surface that saw
// something worth keeping without changing anything else (an app's
// sign-out). A failure to record is logged, not returned.
func (s *Service) RecordEvent(ctx context.Context, e Event, c Client) { s.record(ctx, e, c) }
