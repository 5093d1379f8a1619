package core_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/internal/password"
	"github.com/tether-id/tether/provider"
	"github.com/tether-id/tether/store/sqlstore"
)

// scripted implements provider.Provider for policy tests: each code maps
// to the identity (or error) the provider would verify. The protocol side
// is tested against real OpenID providers in provider/oidc and the API
// surfaces; here only what the core decides matters.
type scripted struct {
	issuer string
	mu     sync.Mutex
	codes  map[string]provider.Identity
	errs   map[string]error
	seen   map[string]provider.AuthRequest // by state
}

func newScripted(issuer string) *scripted {
	return &scripted{issuer: issuer, codes: map[string]provider.Identity{}, errs: map[string]error{}, seen: map[string]provider.AuthRequest{}}
}

func (p *scripted) AuthURL(_ context.Context, r provider.AuthRequest) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen[r.State] = r
	return p.issuer + "/auth?" + url.Values{"state": {r.State}, "redirect_uri": {r.RedirectURI}}.Encode(), nil
}

func (p *scripted) Exchange(_ context.Context, r provider.AuthRequest, cb provider.Callback) (provider.Identity, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	started, ok := p.seen[r.State]
	if !ok || started.Nonce != r.Nonce || started.CodeVerifier != r.CodeVerifier || started.RedirectURI != r.RedirectURI {
		return provider.Identity{}, provider.Errorf("nonce_mismatch", "flow parameters changed between prepare and finish")
	}
	if err := p.errs[cb.Code]; err != nil {
		return provider.Identity{}, err
	}
	id, ok := p.codes[cb.Code]
	if !ok {
		return provider.Identity{}, provider.Errorf("token_exchange", "unknown code")
	}
	id.Issuer = p.issuer
	return id, nil
}

// code registers an identity and returns the code that yields it.
func (p *scripted) code(id provider.Identity) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := fmt.Sprintf("code-%d", len(p.codes)+len(p.errs))
	p.codes[c] = id
	return c
}

type env struct {
	svc   *core.Service
	store *sqlstore.Store
	up    map[string]*scripted
	now   time.Time
	mu    sync.Mutex
}

func (e *env) clock() time.Time { e.mu.Lock(); defer e.mu.Unlock(); return e.now }
func (e *env) advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = e.now.Add(d)
}

// newStoreEnv is an env on a fresh, migrated SQLite database, at a
// frozen time, without a Service yet.
func newStoreEnv(t testing.TB) *env {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &env{store: st, up: map[string]*scripted{}, now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

// newEnv builds a Service on a fresh SQLite database with providers
// "logto" (logto kind), "corp" (oidc, link_by_verified_email), "closed"
// (oidc, no direct sign-in) and "off" (disabled).
func newEnv(t testing.TB, tweak ...func(*core.Options)) *env {
	t.Helper()
	e := newStoreEnv(t)
	st := e.store
	var providers []core.Provider
	for _, p := range []core.Provider{
		{ID: "logto", Kind: provider.KindLogto, Name: "Logto", Enabled: true, DirectSignIn: true},
		{ID: "corp", Kind: provider.KindOIDC, Name: "Corp", Enabled: true, DirectSignIn: true, LinkByVerifiedEmail: true},
		{ID: "closed", Kind: provider.KindOIDC, Name: "Closed", Enabled: true},
		{ID: "off", Kind: provider.KindOIDC, Name: "Off", Enabled: false, DirectSignIn: true},
	} {
		up := newScripted("https://" + p.ID + ".idp.test")
		e.up[p.ID] = up
		p.Upstream = up
		providers = append(providers, p)
	}
	opts := core.Options{
		Store: st, Providers: providers,
		Secret: bytes.Repeat([]byte("k"), 32), EncryptionKey: bytes.Repeat([]byte{1}, 32),
		AccessTTL: time.Hour, RefreshTTL: 24 * time.Hour, FlowTTL: 10 * time.Minute,
		BindBrowser: true, PasswordSignUp: true,
		Password: password.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		Now:      e.clock,
	}
	for _, f := range tweak {
		f(&opts)
	}
	var err error
	e.svc, err = core.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

const browser = "browser-secret-0123456789abcdef0123456789"

// signIn runs a whole upstream sign-in: prepare, then finish with code.
func (e *env) signIn(t testing.TB, providerID string, id provider.Identity) (core.FinishResult, error) {
	t.Helper()
	state := e.prepare(t, core.PrepareRequest{ProviderID: providerID, Purpose: core.PurposeSignIn})
	return e.finish(state, providerID, e.up[providerID].code(id), "")
}

func (e *env) prepare(t testing.TB, r core.PrepareRequest) string {
	t.Helper()
	if r.BrowserSecret == "" {
		r.BrowserSecret = browser
	}
	r.RedirectURI = "https://tether.test/callback/" + r.ProviderID
	u, err := e.svc.Prepare(context.Background(), r)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	pu, _ := url.Parse(u)
	return pu.Query().Get("state")
}

func (e *env) finish(state, providerID, code, userID string) (core.FinishResult, error) {
	return e.svc.Finish(context.Background(), core.FinishRequest{
		FlowID: state, ProviderID: providerID, BrowserSecret: browser, UserID: userID,
		Callback: provider.Callback{Code: code},
	})
}

func (e *env) link(t testing.TB, userID, providerID string, id provider.Identity) error {
	t.Helper()
	state := e.prepare(t, core.PrepareRequest{ProviderID: providerID, Purpose: core.PurposeLink, UserID: userID})
	_, err := e.finish(state, providerID, e.up[providerID].code(id), userID)
	return err
}

func (e *env) passwordUser(t testing.TB, email string, verified bool) core.User {
	t.Helper()
	u, err := e.svc.CreateUser(context.Background(), core.NewUser{Email: email, Password: "password123", EmailVerified: verified}, core.AdminCLI)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func wantCode(t testing.TB, err error, code core.Code) {
	t.Helper()
	if got := core.ErrorCode(err); got != code {
		t.Fatalf("error %v has code %q, want %q", err, got, code)
	}
}

func TestSignInPolicy(t *testing.T) {
	alice := provider.Identity{Subject: "alice", Email: "alice@example.com", EmailVerified: true, Name: "Alice"}
	tests := []struct {
		name     string
		setup    func(t *testing.T, e *env)
		provider string
		identity provider.Identity
		wantErr  core.Code
		check    func(t *testing.T, e *env, r core.FinishResult)
	}{
		{
			name: "unknown identity creates a passwordless account", provider: "logto", identity: alice,
			check: func(t *testing.T, e *env, r core.FinishResult) {
				if !r.Created || r.User.Email != "alice@example.com" || !r.User.EmailVerified || !r.User.Passwordless() || r.User.Nickname != "Alice" {
					t.Errorf("user = %+v created=%v", r.User, r.Created)
				}
				if r.Tokens.AccessToken == "" || r.Tokens.RefreshToken == "" {
					t.Error("no session")
				}
			},
		},
		{
			name: "untrusted profile fields are cleaned", provider: "logto",
			identity: provider.Identity{Subject: "x", Name: strings.Repeat("n", 500), Avatar: "javascript:alert(1)", Claims: []byte(`{"a":`)},
			check: func(t *testing.T, e *env, r core.FinishResult) {
				if len([]rune(r.Identity.Name)) != 200 || r.Identity.Avatar != "" || r.User.Avatar != "" || string(r.Identity.Claims) != "{}" {
					t.Errorf("identity = %+v", r.Identity)
				}
			},
		},
		{
			name: "no email gives a placeholder", provider: "logto", identity: provider.Identity{Subject: "anon"},
			check: func(t *testing.T, e *env, r core.FinishResult) {
				if !r.Created || r.User.EmailVerified || len(r.User.Email) < 40 || r.User.Email[len(r.User.Email)-len("@openid.unmanaged"):] != "@openid.unmanaged" {
					t.Errorf("user = %+v", r.User)
				}
			},
		},
		{
			name: "invalid email gives a placeholder", provider: "logto", identity: provider.Identity{Subject: "odd", Email: "not an email", EmailVerified: true},
			check: func(t *testing.T, e *env, r core.FinishResult) {
				if r.User.EmailVerified || r.User.Email == "not an email" {
					t.Errorf("user = %+v", r.User)
				}
			},
		},
		{
			name:     "email taken without email linking",
			setup:    func(t *testing.T, e *env) { e.passwordUser(t, "ALICE@example.com", true) },
			provider: "logto", identity: alice, wantErr: core.CodeEmailTaken,
		},
		{
			name:     "verified emails on both sides link when enabled",
			setup:    func(t *testing.T, e *env) { e.passwordUser(t, "Alice@Example.com", true) },
			provider: "corp", identity: alice,
			check: func(t *testing.T, e *env, r core.FinishResult) {
				if r.Created || r.User.Email != "Alice@Example.com" || r.User.Passwordless() {
					t.Errorf("not linked to the existing account: %+v created=%v", r.User, r.Created)
				}
			},
		},
		{
			name:     "unverified local email never links",
			setup:    func(t *testing.T, e *env) { e.passwordUser(t, "alice@example.com", false) },
			provider: "corp", identity: alice, wantErr: core.CodeEmailTaken,
		},
		{
			name:     "unverified upstream email never links",
			setup:    func(t *testing.T, e *env) { e.passwordUser(t, "alice@example.com", true) },
			provider: "corp", identity: provider.Identity{Subject: "alice", Email: "alice@example.com", EmailVerified: false},
			wantErr: core.CodeEmailTaken,
		},
		{
			name: "verified email link refused when the account has another identity of the provider",
			setup: func(t *testing.T, e *env) {
				u := e.passwordUser(t, "alice@example.com", true)
				if err := e.link(t, u.ID, "corp", provider.Identity{Subject: "alice-old"}); err != nil {
					t.Fatal(err)
				}
			},
			provider: "corp", identity: alice, wantErr: core.CodeEmailTaken,
		},
		{
			name: "no direct sign-in: unknown identity is not linked", provider: "closed", identity: alice, wantErr: core.CodeIdentityNotLinked,
		},
		{
			name: "known identity signs in to its account",
			setup: func(t *testing.T, e *env) {
				if _, err := e.signIn(t, "logto", alice); err != nil {
					t.Fatal(err)
				}
			},
			provider: "logto", identity: provider.Identity{Subject: "alice", Email: "new@example.com", Name: "Alice Renamed"},
			check: func(t *testing.T, e *env, r core.FinishResult) {
				if r.Created || r.User.Email != "alice@example.com" || r.Identity.Name != "Alice Renamed" {
					t.Errorf("user = %+v identity = %+v", r.User, r.Identity)
				}
			},
		},
		{
			name: "banned account refused", provider: "logto", identity: alice, wantErr: core.CodeBanned,
			setup: func(t *testing.T, e *env) { e.withStatus(t, alice, core.StatusManualBanned) },
		},
		{
			name: "inactive account refused", provider: "logto", identity: alice, wantErr: core.CodeInactive,
			setup: func(t *testing.T, e *env) { e.withStatus(t, alice, core.StatusInactive) },
		},
		{
			name: "same subject at another provider is another identity", provider: "corp", identity: provider.Identity{Subject: "alice"},
			setup: func(t *testing.T, e *env) {
				if _, err := e.signIn(t, "logto", alice); err != nil {
					t.Fatal(err)
				}
			},
			check: func(t *testing.T, e *env, r core.FinishResult) {
				if !r.Created {
					t.Error("subject matched across providers")
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if tt.setup != nil {
				tt.setup(t, e)
			}
			r, err := e.signIn(t, tt.provider, tt.identity)
			if tt.wantErr != "" {
				wantCode(t, err, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, e, r)
			}
			u, err := e.svc.Authenticate(context.Background(), r.Tokens.AccessToken)
			if err != nil || u.ID != r.User.ID {
				t.Errorf("access token does not authenticate the user: %v", err)
			}
		})
	}
}

// withStatus signs id in once (creating its account) and sets the status.
func (e *env) withStatus(t *testing.T, id provider.Identity, s core.Status) {
	r, err := e.signIn(t, "logto", id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.UpdateUser(context.Background(), r.User.ID, func(u *core.User) error { u.Status = s; return nil }, core.AdminCLI); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Refresh(context.Background(), r.Tokens.RefreshToken, core.Client{}); core.ErrorCode(err) != core.CodeInvalidCredential {
		t.Errorf("refresh after status %s: %v, want the chain revoked", s, err)
	}
	t.Cleanup(func() {
		// The refused sign-in is in the account's login activity.
		activity, err := e.svc.LoginActivity(context.Background(), r.User.ID, 10)
		if err != nil || len(activity) != 2 || activity[0].Success || activity[0].Detail == "" {
			t.Errorf("login activity after a refused sign-in: %+v, %v", activity, err)
		}
	})
}

func TestLinkPolicy(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	u := e.passwordUser(t, "u@example.com", false)
	other := e.passwordUser(t, "o@example.com", false)

	if err := e.link(t, u.ID, "logto", provider.Identity{Subject: "s1", Email: "x@example.com"}); err != nil {
		t.Fatalf("link: %v", err)
	}
	// Linking again the same identity is a no-op success (double click)...
	state := e.prepare(t, core.PrepareRequest{ProviderID: "corp", Purpose: core.PurposeLink, UserID: u.ID})
	if _, err := e.finish(state, "corp", e.up["corp"].code(provider.Identity{Subject: "c1"}), u.ID); err != nil {
		t.Fatal(err)
	}
	// ...but prepare refuses a second identity of a linked provider early,
	_, err := e.svc.Prepare(ctx, core.PrepareRequest{ProviderID: "logto", Purpose: core.PurposeLink, UserID: u.ID, BrowserSecret: browser})
	wantCode(t, err, core.CodeProviderLinked)
	// and finish refuses it when it was linked in between (40066).
	state = e.prepare(t, core.PrepareRequest{ProviderID: "closed", Purpose: core.PurposeLink, UserID: other.ID})
	if err := e.link(t, other.ID, "closed", provider.Identity{Subject: "k1"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.finish(state, "closed", e.up["closed"].code(provider.Identity{Subject: "k2"}), other.ID)
	wantCode(t, err, core.CodeProviderLinked)
	// An identity linked elsewhere cannot be linked (40067).
	err = e.link(t, other.ID, "logto", provider.Identity{Subject: "s1"})
	wantCode(t, err, core.CodeIdentityTaken)
	// Anonymous link and link to a disabled provider are refused.
	_, err = e.svc.Prepare(ctx, core.PrepareRequest{ProviderID: "corp", Purpose: core.PurposeLink, BrowserSecret: browser})
	wantCode(t, err, core.CodeUnauthenticated)
	_, err = e.svc.Prepare(ctx, core.PrepareRequest{ProviderID: "off", Purpose: core.PurposeSignIn, BrowserSecret: browser})
	wantCode(t, err, core.CodeDisabled)
	_, err = e.svc.Prepare(ctx, core.PrepareRequest{ProviderID: "nope", Purpose: core.PurposeSignIn, BrowserSecret: browser})
	wantCode(t, err, core.CodeDisabled)

	ids, err := e.svc.Identities(ctx, u.ID)
	if err != nil || len(ids) != 2 || ids[0].ProviderID != "logto" || ids[1].ProviderID != "corp" {
		t.Fatalf("identities = %+v, %v", ids, err)
	}
	// The linked identity signs in to u.
	r, err := e.signIn(t, "logto", provider.Identity{Subject: "s1"})
	if err != nil || r.User.ID != u.ID {
		t.Fatalf("sign in through linked identity: %+v %v", r.User, err)
	}
}

func TestUnlinkGuard(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	r, err := e.signIn(t, "logto", provider.Identity{Subject: "p1"})
	if err != nil {
		t.Fatal(err)
	}
	u := r.User
	wantCode(t, e.svc.Unlink(ctx, u.ID, "logto", core.Client{}), core.CodeLastSignInMethod)
	wantCode(t, e.svc.Unlink(ctx, u.ID, "corp", core.Client{}), core.CodeIdentityNotLinked)

	// An identity of a disabled provider is no way to sign in.
	off := core.Identity{IdentityKey: core.IdentityKey{ProviderID: "off", Issuer: "https://off.idp.test", Subject: "x"}, UserID: u.ID, LinkedAt: e.clock(), LastSignInAt: e.clock()}
	if err := e.store.LinkIdentity(ctx, off); err != nil {
		t.Fatal(err)
	}
	wantCode(t, e.svc.Unlink(ctx, u.ID, "logto", core.Client{}), core.CodeLastSignInMethod)

	if err := e.link(t, u.ID, "corp", provider.Identity{Subject: "p2"}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Unlink(ctx, u.ID, "logto", core.Client{}); err != nil {
		t.Fatalf("unlink with another identity left: %v", err)
	}
	wantCode(t, e.svc.Unlink(ctx, u.ID, "corp", core.Client{}), core.CodeLastSignInMethod)

	if err := e.svc.SetPassword(ctx, u.ID, "a new password", core.AdminCLI); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Unlink(ctx, u.ID, "corp", core.Client{}); err != nil {
		t.Fatalf("unlink with a password: %v", err)
	}
}

func TestFlowRules(t *testing.T) {
	ctx := context.Background()
	id := provider.Identity{Subject: "f1"}
	tests := []struct {
		name string
		run  func(t *testing.T, e *env) error
		want core.Code
	}{
		{"replayed state", func(t *testing.T, e *env) error {
			state := e.prepare(t, core.PrepareRequest{ProviderID: "logto", Purpose: core.PurposeSignIn})
			if _, err := e.finish(state, "logto", e.up["logto"].code(id), ""); err != nil {
				t.Fatal(err)
			}
			_, err := e.finish(state, "logto", e.up["logto"].code(id), "")
			return err
		}, core.CodeFlowNotFound},
		{"unknown state", func(t *testing.T, e *env) error {
			_, err := e.finish("00000000-0000-4000-8000-000000000000", "logto", "c", "")
			return err
		}, core.CodeFlowNotFound},
		{"another browser", func(t *testing.T, e *env) error {
			state := e.prepare(t, core.PrepareRequest{ProviderID: "logto", Purpose: core.PurposeSignIn})
			_, err := e.svc.Finish(ctx, core.FinishRequest{FlowID: state, ProviderID: "logto", BrowserSecret: "other-browser", Callback: provider.Callback{Code: e.up["logto"].code(id)}})
			return err
		}, core.CodeFlowNotFound},
		{"no browser cookie", func(t *testing.T, e *env) error {
			state := e.prepare(t, core.PrepareRequest{ProviderID: "logto", Purpose: core.PurposeSignIn})
			_, err := e.svc.Finish(ctx, core.FinishRequest{FlowID: state, ProviderID: "logto", Callback: provider.Callback{Code: e.up["logto"].code(id)}})
			return err
		}, core.CodeFlowNotFound},
		{"another provider", func(t *testing.T, e *env) error {
			state := e.prepare(t, core.PrepareRequest{ProviderID: "logto", Purpose: core.PurposeSignIn})
			_, err := e.finish(state, "corp", e.up["corp"].code(id), "")
			return err
		}, core.CodeFlowNotFound},
		{"link finished by another user", func(t *testing.T, e *env) error {
			a, b := e.passwordUser(t, "a@example.com", false), e.passwordUser(t, "b@example.com", false)
			state := e.prepare(t, core.PrepareRequest{ProviderID: "logto", Purpose: core.PurposeLink, UserID: a.ID})
			_, err := e.finish(state, "logto", e.up["logto"].code(id), b.ID)
			return err
		}, core.CodeFlowNotFound},
		{"sign-in flow where only links finish", func(t *testing.T, e *env) error {
			state := e.prepare(t, core.PrepareRequest{ProviderID: "logto", Purpose: core.PurposeSignIn})
			_, err := e.svc.Finish(ctx, core.FinishRequest{FlowID: state, ProviderID: "logto", BrowserSecret: browser, Purpose: core.PurposeLink, Callback: provider.Callback{Code: e.up["logto"].code(id)}})
			if err == nil {
				return nil
			}
			// Refused before the exchange: no account was created.
			if users, lerr := e.store.ListUsers(ctx); lerr != nil || len(users) != 0 {
				t.Fatalf("users after refused finish: %v, %v", users, lerr)
			}
			return err
		}, core.CodeFlowNotFound},
		{"expired flow", func(t *testing.T, e *env) error {
			state := e.prepare(t, core.PrepareRequest{ProviderID: "logto", Purpose: core.PurposeSignIn})
			e.advance(10*time.Minute + time.Second)
			_, err := e.finish(state, "logto", e.up["logto"].code(id), "")
			return err
		}, core.CodeFlowNotFound},
		{"upstream rejects", func(t *testing.T, e *env) error {
			state := e.prepare(t, core.PrepareRequest{ProviderID: "logto", Purpose: core.PurposeSignIn})
			_, err := e.finish(state, "logto", "no-such-code", "")
			return err
		}, core.CodeInvalidCredential},
		{"upstream unreachable", func(t *testing.T, e *env) error {
			state := e.prepare(t, core.PrepareRequest{ProviderID: "logto", Purpose: core.PurposeSignIn})
			e.up["logto"].errs["down"] = &provider.Error{Reason: "token_exchange", Message: "try again later", Unavailable: true}
			_, err := e.finish(state, "logto", "down", "")
			return err
		}, core.CodeUpstream},
		{"provider disabled after prepare", func(t *testing.T, e *env) error {
			_, err := e.finish("x", "off", "c", "")
			return err
		}, core.CodeFlowNotFound},
		{"empty code", func(t *testing.T, e *env) error {
			state := e.prepare(t, core.PrepareRequest{ProviderID: "logto", Purpose: core.PurposeSignIn})
			_, err := e.finish(state, "logto", "", "")
			return err
		}, core.CodeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			wantCode(t, tt.run(t, e), tt.want)
		})
	}
}

func TestFlowsArePurged(t *testing.T) {
	e := newEnv(t)
	e.prepare(t, core.PrepareRequest{ProviderID: "logto", Purpose: core.PurposeSignIn})
	e.prepare(t, core.PrepareRequest{ProviderID: "logto", Purpose: core.PurposeSignIn})
	if p, err := e.svc.Purge(context.Background()); err != nil || p.Flows != 0 {
		t.Fatalf("purged %d live flows, %v", p.Flows, err)
	}
	e.advance(11 * time.Minute)
	if p, err := e.svc.Purge(context.Background()); err != nil || p.Flows != 2 {
		t.Fatalf("purged %d expired flows, want 2 (%v)", p.Flows, err)
	}
}

func TestUpstreamTokensSealed(t *testing.T) {
	e := newEnv(t)
	r, err := e.signIn(t, "logto", provider.Identity{Subject: "t1", Tokens: provider.Tokens{AccessToken: "upstream-access-XYZ", RefreshToken: "upstream-refresh-XYZ"}})
	if err != nil {
		t.Fatal(err)
	}
	sessions, err := e.svc.Sessions(context.Background(), r.User.ID)
	if err != nil || len(sessions) != 1 {
		t.Fatalf("sessions: %+v, %v", sessions, err)
	}
	stored := sessions[0]
	if stored.Identity != r.Identity.IdentityKey || stored.Method != core.MethodOpenID {
		t.Fatalf("session %+v does not name the identity %+v", stored, r.Identity.IdentityKey)
	}
	if bytes.Contains(stored.UpstreamTokens, []byte("XYZ")) || len(stored.UpstreamTokens) == 0 {
		t.Fatalf("tokens stored in clear or not at all: %q", stored.UpstreamTokens)
	}
	toks, err := e.svc.UpstreamTokens(stored)
	if err != nil || toks.RefreshToken != "upstream-refresh-XYZ" {
		t.Fatalf("UpstreamTokens = %+v, %v", toks, err)
	}
	moved := stored
	moved.ID = "someone-else"
	if _, err := e.svc.UpstreamTokens(moved); err == nil {
		t.Fatal("sealed tokens opened under another session")
	}
}

func TestConcurrentFirstSignIns(t *testing.T) {
	e := newEnv(t)
	const n = 20
	states := make([]string, n)
	codes := make([]string, n)
	for i := range n {
		states[i] = e.prepare(t, core.PrepareRequest{ProviderID: "logto", Purpose: core.PurposeSignIn})
		codes[i] = e.up["logto"].code(provider.Identity{Subject: "race", Email: "race@example.com", EmailVerified: true})
	}
	users := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r, err := e.finish(states[i], "logto", codes[i], "")
			users[i], errs[i] = r.User.ID, err
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("sign-in %d: %v", i, errs[i])
		}
		if users[i] != users[0] {
			t.Fatalf("sign-in %d got user %s, sign-in 0 got %s", i, users[i], users[0])
		}
	}
	all, err := e.store.ListUsers(context.Background())
	if err != nil || len(all) != 1 {
		t.Fatalf("%d users exist (%v), want 1", len(all), err)
	}
}

func TestPasswordSessions(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	c := core.Client{IP: "192.0.2.1", UserAgent: "test"}
	_, err := e.svc.SignUp(ctx, core.NewUser{Email: "p@example.com", Password: "short"}, c)
	wantCode(t, err, core.CodeInvalid)
	u, err := e.svc.SignUp(ctx, core.NewUser{Email: "p@example.com", Password: "long enough", EmailVerified: true, Permissions: []string{"admin"}}, c)
	if err != nil {
		t.Fatal(err)
	}
	if u.EmailVerified || len(u.Permissions) != 1 || u.Permissions[0] != core.PermissionOAuth {
		t.Fatalf("sign-up let the caller choose verification or permissions: %+v", u)
	}
	_, err = e.svc.SignUp(ctx, core.NewUser{Email: "P@EXAMPLE.COM", Password: "long enough"}, c)
	wantCode(t, err, core.CodeEmailTaken)

	_, _, err = e.svc.SignIn(ctx, "p@example.com", "wrong password", c)
	wantCode(t, err, core.CodeWrongPassword)
	_, _, err = e.svc.SignIn(ctx, "nobody@example.com", "long enough", c)
	wantCode(t, err, core.CodeWrongPassword)
	_, p1, err := e.svc.SignIn(ctx, "P@example.com", "long enough", c)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := e.svc.Refresh(ctx, p1.RefreshToken, c)
	if err != nil {
		t.Fatal(err)
	}
	if p2.RefreshToken == p1.RefreshToken || p2.AccessToken == "" {
		t.Fatal("refresh did not rotate")
	}
	// An unknown token is invalid, not a theft.
	_, err = e.svc.Refresh(ctx, "never-issued", c)
	wantCode(t, err, core.CodeInvalidCredential)
	// Reusing p1 is theft: refused, and p2 dies with it.
	_, err = e.svc.Refresh(ctx, p1.RefreshToken, c)
	wantCode(t, err, core.CodeTokenReused)
	_, err = e.svc.Refresh(ctx, p2.RefreshToken, c)
	wantCode(t, err, core.CodeInvalidCredential)
	reuses, err := e.svc.Events(ctx, core.EventQuery{UserID: u.ID, Kinds: []core.EventKind{core.EventRefreshReused}})
	if err != nil || len(reuses) != 1 {
		t.Fatalf("reuse events = %d (%v), want exactly 1", len(reuses), err)
	}

	_, p3, _ := e.svc.SignIn(ctx, "p@example.com", "long enough", c)
	if err := e.svc.SignOut(ctx, p3.RefreshToken, c); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Refresh(ctx, p3.RefreshToken, c)
	wantCode(t, err, core.CodeInvalidCredential)
	// A revoked (or unknown) token is not a replay: no theft is reported.
	if errors.Is(err, core.ErrTokenReused) && core.ErrorMessage(err) == core.ErrTokenReused.Message {
		t.Errorf("refresh after sign-out reported as reuse: %v", err)
	}
	_, err = e.svc.Refresh(ctx, "unknown", c)
	if core.ErrorMessage(err) != core.ErrInvalidToken.Message {
		t.Errorf("refresh of an unknown token: %v, want %v", err, core.ErrInvalidToken)
	}
	for user, want := range map[string]int{u.ID: 1, "": 0} {
		reuses, err := e.svc.Events(ctx, core.EventQuery{UserID: user, Kinds: []core.EventKind{core.EventRefreshReused}})
		if err != nil || len(reuses) != want {
			t.Errorf("refresh_reused events of user %q: %+v (%v), want %d (the replay of p1 only)", user, reuses, err, want)
		}
	}

	activity, err := e.svc.LoginActivity(ctx, u.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	var ok, failed int
	for _, a := range activity {
		if a.Success {
			ok++
		} else {
			failed++
		}
	}
	if ok != 2 || failed != 1 {
		t.Fatalf("login activity: %d ok, %d failed; want 2 and 1 (%+v)", ok, failed, activity)
	}
}
