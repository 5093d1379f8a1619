package core_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/internal/password"
	"github.com/tether-id/tether/mail"
	"github.com/tether-id/tether/provider"
)

// mailbox is a Sender that keeps what it is given and fails as told.
type mailbox struct {
	mu   sync.Mutex
	msgs []mail.Message
	fail error // returned by Send while set
}

func (b *mailbox) Send(_ context.Context, m mail.Message) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fail != nil {
		return b.fail
	}
	b.msgs = append(b.msgs, m)
	return nil
}

func (b *mailbox) setFail(err error) { b.mu.Lock(); b.fail = err; b.mu.Unlock() }

// to returns the messages sent to address, oldest first.
func (b *mailbox) to(address string) []mail.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []mail.Message
	for _, m := range b.msgs {
		if strings.EqualFold(m.To, address) {
			out = append(out, m)
		}
	}
	return out
}

// mailEnv is an env whose service sends mail through a mailbox.
type mailEnv struct {
	*env
	box *mailbox
	out []core.MailOutcome
}

func newMailEnv(t testing.TB, configure func(*core.Options)) *mailEnv {
	t.Helper()
	e := &mailEnv{env: newStoreEnv(t), box: &mailbox{}}
	st := e.store
	up := newScripted("https://corp.idp.test")
	e.up["corp"] = up
	opts := core.Options{
		Store: st, Providers: []core.Provider{{ID: "corp", Kind: provider.KindOIDC, Name: "Corp", Enabled: true,
			DirectSignIn: true, LinkByVerifiedEmail: true, Upstream: up}},
		Secret: bytes.Repeat([]byte("k"), 32), EncryptionKey: bytes.Repeat([]byte{1}, 32),
		AccessTTL: time.Hour, RefreshTTL: 24 * time.Hour, FlowTTL: 10 * time.Minute,
		BindBrowser: true, PasswordSignUp: true,
		Password: password.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		Now:      e.clock,
		Logger:   slog.New(slog.DiscardHandler),
		Mail: core.MailOptions{
			Enabled: true,
			Site:    mail.Site{PublicURL: "https://tether.test", Now: e.clock},
			Link: func(kind core.LinkKind, userID, secret string) string {
				return "https://tether.test/" + string(kind) + "?" + url.Values{"id": {userID}, "secret": {secret}}.Encode()
			},
		},
	}
	if configure != nil {
		configure(&opts)
	}
	svc, err := core.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	t.Cleanup(e.svc.Wait)
	return e
}

// deliver sends what is due, as the worker would.
func (e *mailEnv) deliver(t testing.TB) {
	t.Helper()
	e.svc.Wait() // background requests first
	_, err := e.svc.DeliverDue(context.Background(), core.MailWorkerOptions{Sender: e.box, Lease: time.Minute,
		Observe: func(_ string, o core.MailOutcome) { e.out = append(e.out, o) }})
	if err != nil {
		t.Fatal(err)
	}
}

// lastLink delivers the queue and returns the account id and secret of
// the newest link sent to address, with its kind.
func (e *mailEnv) lastLink(t testing.TB, address string) (kind core.LinkKind, userID, secret string) {
	t.Helper()
	e.deliver(t)
	msgs := e.box.to(address)
	if len(msgs) == 0 {
		t.Fatalf("no mail to %s", address)
	}
	u, err := url.Parse(msgs[len(msgs)-1].Link)
	if err != nil || u.Query().Get("secret") == "" {
		t.Fatalf("mail to %s has no link: %+v", address, msgs[len(msgs)-1])
	}
	return core.LinkKind(strings.TrimPrefix(u.Path, "/")), u.Query().Get("id"), u.Query().Get("secret")
}

var client = core.Client{IP: "192.0.2.10", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"}

func (e *mailEnv) signUp(t testing.TB, address string) core.User {
	t.Helper()
	u, err := e.svc.SignUp(context.Background(), core.NewUser{Email: address, Password: "password123", Language: "zh-CN"}, client)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestVerifyEmail(t *testing.T) {
	ctx := context.Background()
	e := newMailEnv(t, nil)
	u := e.signUp(t, "ada@example.test")
	kind, id, secret := e.lastLink(t, "ada@example.test")
	msg := e.box.to("ada@example.test")[0]
	if kind != core.LinkVerifyEmail || id != u.ID || msg.Kind != mail.KindVerifyEmail || msg.Lang != "zh-CN" {
		t.Fatalf("sign-up mail: kind %s id %s, message %s in %s", kind, id, msg.Kind, msg.Lang)
	}
	// The page checks without using.
	if _, _, err := e.svc.CheckLink(ctx, core.LinkVerifyEmail, id, secret); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		name       string
		kind       core.LinkKind
		id, secret string
		want       *core.Error
	}{
		{"another account's id", core.LinkVerifyEmail, "someone-else", secret, core.ErrLinkNotFound},
		{"another kind", core.LinkResetPassword, id, secret, core.ErrLinkNotFound},
		{"a made-up secret", core.LinkVerifyEmail, id, "made-up", core.ErrLinkNotFound},
		{"no secret", core.LinkVerifyEmail, id, "", core.ErrLinkNotFound},
	} {
		if _, _, err := e.svc.CheckLink(ctx, bad.kind, bad.id, bad.secret); !isReason(err, bad.want) {
			t.Errorf("%s: %v, want %v", bad.name, err, bad.want)
		}
	}
	got, err := e.svc.VerifyEmail(ctx, id, secret, client)
	if err != nil || !got.EmailVerified {
		t.Fatalf("VerifyEmail = %+v, %v", got, err)
	}
	// Single use.
	if _, err := e.svc.VerifyEmail(ctx, id, secret, client); !isReason(err, core.ErrLinkUsed) {
		t.Fatalf("second use: %v", err)
	}
	events, _ := e.svc.Events(ctx, core.EventQuery{UserID: u.ID})
	if !hasEvent(events, core.EventEmailVerified) || !hasEvent(events, core.EventVerifyEmailSent) || !hasEvent(events, core.EventEmailLinkFailed) {
		t.Errorf("events %+v", events)
	}
	// Verified: no more links.
	if err := e.svc.ResendVerification(ctx, u.ID, "en", client); err != nil {
		t.Fatal(err)
	}
	e.deliver(t)
	if n := len(e.box.to("ada@example.test")); n != 1 {
		t.Errorf("%d messages after resending to a verified address", n)
	}
}

func TestVerifyEmailLinkRules(t *testing.T) {
	ctx := context.Background()
	e := newMailEnv(t, nil)
	u := e.signUp(t, "bo@example.test")
	_, id, first := e.lastLink(t, "bo@example.test")

	// A newer link replaces the older one.
	if err := e.svc.ResendVerification(ctx, u.ID, "", client); err != nil {
		t.Fatal(err)
	}
	_, _, second := e.lastLink(t, "bo@example.test")
	if _, err := e.svc.VerifyEmail(ctx, id, first, client); !isReason(err, core.ErrLinkNotFound) {
		t.Errorf("replaced link: %v", err)
	}
	// It expires.
	e.advance(core.DefaultVerifyTTL)
	if _, err := e.svc.VerifyEmail(ctx, id, second, client); !isReason(err, core.ErrLinkExpired) {
		t.Errorf("expired link: %v", err)
	}
	// It is bound to the address it went to.
	if err := e.svc.ResendVerification(ctx, u.ID, "", client); err != nil {
		t.Fatal(err)
	}
	_, _, third := e.lastLink(t, "bo@example.test")
	if _, err := e.svc.UpdateUser(ctx, u.ID, func(x *core.User) error { x.Email = "bo2@example.test"; return nil }, core.AdminCLI); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.VerifyEmail(ctx, id, third, client); !isReason(err, core.ErrLinkOtherAddress) {
		t.Errorf("link for the old address: %v", err)
	}
	got, _ := e.svc.User(ctx, u.ID)
	if got.EmailVerified {
		t.Error("the new address became verified by the old address's link")
	}
}

func isReason(err error, want *core.Error) bool {
	var ce *core.Error
	return errors.As(err, &ce) && ce.Code == want.Code && ce.Reason == want.Reason
}

func hasEvent(events []core.Event, kind core.EventKind) bool {
	for _, ev := range events {
		if ev.Kind == kind {
			return true
		}
	}
	return false
}

func TestRequireVerifiedEmail(t *testing.T) {
	ctx := context.Background()
	e := newMailEnv(t, func(o *core.Options) { o.Mail.RequireVerified = true })
	u := e.signUp(t, "cy@example.test")
	if _, _, err := e.svc.SignIn(ctx, "cy@example.test", "wrong password", client); !errors.Is(err, core.ErrWrongPassword) {
		t.Fatalf("wrong password: %v (the password comes first)", err)
	}
	if _, _, err := e.svc.SignIn(ctx, "cy@example.test", "password123", client); core.ErrorCode(err) != core.CodeEmailUnverified {
		t.Fatalf("unverified: %v", err)
	}
	// The resend by address answers the same for any address.
	for _, a := range []string{"cy@example.test", "nobody@example.test"} {
		if err := e.svc.ResendVerificationTo(ctx, a, "", client); err != nil {
			t.Fatalf("resend to %s: %v", a, err)
		}
	}
	_, id, secret := e.lastLink(t, "cy@example.test")
	if n := len(e.box.to("cy@example.test")); n != 2 {
		t.Errorf("%d messages, want the sign-up's and the resent one", n)
	}
	if len(e.box.to("nobody@example.test")) != 0 {
		t.Error("mail to an address without an account")
	}
	if _, err := e.svc.VerifyEmail(ctx, id, secret, client); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.SignIn(ctx, "cy@example.test", "password123", client); err != nil {
		t.Fatalf("verified: %v", err)
	}
	_ = u
}

func TestPasswordReset(t *testing.T) {
	ctx := context.Background()
	e := newMailEnv(t, nil)
	u := e.signUp(t, "di@example.test")
	e.deliver(t)
	// Two sessions, which the reset ends.
	_, pair1, err := e.svc.SignIn(ctx, "di@example.test", "password123", client)
	if err != nil {
		t.Fatal(err)
	}
	_, pair2, _ := e.svc.SignIn(ctx, "di@example.test", "password123", client)

	if err := e.svc.RequestPasswordReset(ctx, "DI@example.test", "en", client); err != nil {
		t.Fatal(err)
	}
	kind, id, secret := e.lastLink(t, "di@example.test")
	if kind != core.LinkResetPassword {
		t.Fatalf("kind %s", kind)
	}
	if m := e.box.to("di@example.test"); m[len(m)-1].Lang != "zh-CN" {
		t.Errorf("reset mail in %s, want the account's language", m[len(m)-1].Lang)
	}
	if _, err := e.svc.ResetPassword(ctx, id, secret, "short", client); core.ErrorCode(err) != core.CodeInvalid {
		t.Fatalf("short password: %v", err)
	}
	got, err := e.svc.ResetPassword(ctx, id, secret, "new password 1", client)
	if err != nil || !got.EmailVerified {
		t.Fatalf("ResetPassword = %+v, %v", got, err)
	}
	for _, p := range []core.TokenPair{pair1, pair2} {
		if _, err := e.svc.Refresh(ctx, p.RefreshToken, client); err == nil {
			t.Error("a session survived the reset")
		}
	}
	if _, _, err := e.svc.SignIn(ctx, "di@example.test", "new password 1", client); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ResetPassword(ctx, id, secret, "new password 2", client); !isReason(err, core.ErrLinkUsed) {
		t.Errorf("reused link: %v", err)
	}

	// A link dies when the password changes another way, and when it
	// expires.
	if err := e.svc.RequestPasswordReset(ctx, "di@example.test", "", client); err != nil {
		t.Fatal(err)
	}
	_, _, secret = e.lastLink(t, "di@example.test")
	if err := e.svc.SetPassword(ctx, u.ID, "admin set this", core.AdminCLI); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ResetPassword(ctx, id, secret, "new password 3", client); !isReason(err, core.ErrLinkPasswordChanged) {
		t.Errorf("link after a password change: %v", err)
	}
	if err := e.svc.RequestPasswordReset(ctx, "di@example.test", "", client); err != nil {
		t.Fatal(err)
	}
	_, _, secret = e.lastLink(t, "di@example.test")
	e.advance(core.DefaultResetTTL + time.Second)
	if _, err := e.svc.ResetPassword(ctx, id, secret, "new password 3", client); !isReason(err, core.ErrLinkExpired) {
		t.Errorf("expired link: %v", err)
	}
}

// TestPasswordResetWho: links go only to addresses their account owns,
// of accounts that may sign in; the answer never says which.
func TestPasswordResetWho(t *testing.T) {
	ctx := context.Background()
	e := newMailEnv(t, nil)
	// A passwordless account whose provider did not verify its address:
	// whoever reads that mailbox may not be its owner.
	if _, err := e.signIn(t, "corp", provider.Identity{Subject: "s1", Email: "unowned@example.test", EmailVerified: false}); err != nil {
		t.Fatal(err)
	}
	// A verified passwordless one may set a password this way.
	if _, err := e.signIn(t, "corp", provider.Identity{Subject: "s2", Email: "owned@example.test", EmailVerified: true}); err != nil {
		t.Fatal(err)
	}
	banned := e.passwordUser(t, "banned@example.test", true)
	if _, err := e.svc.UpdateUser(ctx, banned.ID, func(u *core.User) error { u.Status = core.StatusManualBanned; return nil }, core.AdminCLI); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"unowned@example.test", "owned@example.test", "banned@example.test", "nobody@example.test"} {
		if err := e.svc.RequestPasswordReset(ctx, a, "", client); err != nil {
			t.Fatalf("%s: %v", a, err)
		}
	}
	e.deliver(t)
	for a, want := range map[string]int{"unowned@example.test": 0, "owned@example.test": 1, "banned@example.test": 0, "nobody@example.test": 0} {
		if got := len(e.box.to(a)); got != want {
			t.Errorf("%s: %d messages, want %d", a, got, want)
		}
	}
	for _, bad := range []string{"", "not an address", "A <a@example.test>"} {
		if err := e.svc.RequestPasswordReset(ctx, bad, "", client); core.ErrorCode(err) != core.CodeInvalid {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestMailDisabled(t *testing.T) {
	ctx := context.Background()
	e := newMailEnv(t, func(o *core.Options) { o.Mail = core.MailOptions{} })
	u := e.signUp(t, "ed@example.test") // sign-up works
	if c, _ := e.svc.MailCounts(ctx); c.Queued != 0 {
		t.Errorf("%d messages queued without mail", c.Queued)
	}
	for name, err := range map[string]error{
		"reset":  e.svc.RequestPasswordReset(ctx, "ed@example.test", "", client),
		"resend": e.svc.ResendVerification(ctx, u.ID, "", client),
		"change": e.svc.RequestEmailChange(ctx, u.ID, "new@example.test", "", core.Proof{Password: "password123"}, client),
	} {
		if !errors.Is(err, core.ErrMailDisabled) {
			t.Errorf("%s without mail: %v", name, err)
		}
	}
	if err := e.svc.DeleteAccount(ctx, core.DeleteRequest{UserID: u.ID, Proof: core.Proof{Password: "password123"}}, client); err != nil {
		t.Errorf("deletion without mail: %v", err)
	}
}

func TestEmailChange(t *testing.T) {
	ctx := context.Background()
	e := newMailEnv(t, nil)
	u := e.signUp(t, "fay@example.test")
	e.passwordUser(t, "taken@example.test", false) // a password account owns its address
	proof := core.Proof{Password: "password123"}

	for _, tc := range []struct {
		address string
		proof   core.Proof
		code    core.Code
	}{
		{"taken@example.test", proof, core.CodeEmailTaken},
		{"TAKEN@example.test", proof, core.CodeEmailTaken},
		{"fay@example.test", proof, core.CodeInvalid},
		{"x@" + core.PlaceholderEmailDomain, proof, core.CodeInvalid},
		{"not an address", proof, core.CodeInvalid},
		{"new@example.test", core.Proof{Password: "wrong password"}, core.CodeWrongPassword},
		{"new@example.test", core.Proof{}, core.CodeInvalid},
	} {
		err := e.svc.RequestEmailChange(ctx, u.ID, tc.address, "", tc.proof, client)
		if core.ErrorCode(err) != tc.code {
			t.Errorf("change to %q: %v, want %s", tc.address, err, tc.code)
		}
	}
	if err := e.svc.RequestEmailChange(ctx, u.ID, "New@example.test", "", proof, client); err != nil {
		t.Fatal(err)
	}
	kind, id, secret := e.lastLink(t, "New@example.test")
	if kind != core.LinkChangeEmail {
		t.Fatalf("kind %s", kind)
	}
	if got, _ := e.svc.User(ctx, u.ID); got.Email != "fay@example.test" {
		t.Fatalf("the address changed before the link was followed: %s", got.Email)
	}
	got, err := e.svc.ConfirmEmailChange(ctx, id, secret, client)
	if err != nil || got.Email != "New@example.test" || !got.EmailVerified {
		t.Fatalf("ConfirmEmailChange = %+v, %v", got, err)
	}
	e.deliver(t)
	old := e.box.to("fay@example.test")
	if n := old[len(old)-1]; n.Kind != mail.KindEmailChanged || n.Link != "" || !strings.Contains(n.Text, "N***@example.test") {
		t.Errorf("notice to the old address: %+v", n)
	}
	if _, err := e.svc.ConfirmEmailChange(ctx, id, secret, client); !isReason(err, core.ErrLinkUsed) {
		t.Errorf("reused change link: %v", err)
	}

	// A change link dies when the address changes another way first.
	if err := e.svc.RequestEmailChange(ctx, u.ID, "third@example.test", "", proof, client); err != nil {
		t.Fatal(err)
	}
	_, _, secret = e.lastLink(t, "third@example.test")
	if _, err := e.svc.UpdateUser(ctx, u.ID, func(x *core.User) error { x.Email = "admin-set@example.test"; return nil }, core.AdminCLI); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ConfirmEmailChange(ctx, id, secret, client); !isReason(err, core.ErrLinkOtherAddress) {
		t.Errorf("change link after another change: %v", err)
	}

	// An address taken between asking and confirming is refused then.
	if err := e.svc.RequestEmailChange(ctx, u.ID, "race@example.test", "", core.Proof{Password: "password123"}, client); err != nil {
		t.Fatal(err)
	}
	_, _, secret = e.lastLink(t, "race@example.test")
	e.passwordUser(t, "race@example.test", false)
	if _, err := e.svc.ConfirmEmailChange(ctx, id, secret, client); !errors.Is(err, core.ErrEmailTaken) {
		t.Errorf("change to an address taken meanwhile: %v", err)
	}
}

func TestDeleteAccount(t *testing.T) {
	ctx := context.Background()
	e := newMailEnv(t, nil)
	u := e.signUp(t, "gus@example.test")
	_, pair, err := e.svc.SignIn(ctx, "gus@example.test", "password123", client)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DeleteAccount(ctx, core.DeleteRequest{UserID: u.ID, Proof: core.Proof{Password: "wrong password"}}, client); !errors.Is(err, core.ErrWrongPassword) {
		t.Fatalf("wrong password: %v", err)
	}
	if err := e.svc.DeleteAccount(ctx, core.DeleteRequest{UserID: u.ID, Proof: core.Proof{Password: "password123"}}, client); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.User(ctx, u.ID); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("the account is still there: %v", err)
	}
	if _, err := e.svc.Refresh(ctx, pair.RefreshToken, client); err == nil {
		t.Error("a session outlived its account")
	}
	if _, err := e.svc.Authenticate(ctx, pair.AccessToken); err == nil {
		t.Error("an access token of a deleted account authenticates")
	}
	events, _ := e.svc.Events(ctx, core.EventQuery{UserID: u.ID})
	if !hasEvent(events, core.EventAccountDeleted) {
		t.Errorf("no account_deleted event in %+v", events)
	}
	for _, ev := range events {
		if ev.IP != "" || ev.UserAgent != "" {
			t.Errorf("event %s keeps %q %q", ev.Kind, ev.IP, ev.UserAgent)
		}
	}
	e.deliver(t)
	msgs := e.box.to("gus@example.test")
	if last := msgs[len(msgs)-1]; last.Kind != mail.KindAccountDeleted {
		t.Errorf("last mail %s, want the deletion notice", last.Kind)
	}
	// The address is free again.
	e.signUp(t, "gus@example.test")
}

// TestDeletePasswordless: a passwordless account proves itself with a
// recent sign-in, and only its own.
func TestDeletePasswordless(t *testing.T) {
	ctx := context.Background()
	e := newMailEnv(t, nil)
	res, err := e.signIn(t, "corp", provider.Identity{Subject: "h", Email: "hal@example.test", EmailVerified: true})
	if err != nil {
		t.Fatal(err)
	}
	ses, err := e.svc.SessionIDOf(ctx, res.Tokens.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	other := e.signUp(t, "other@example.test")
	_, otherPair, _ := e.svc.SignIn(ctx, "other@example.test", "password123", client)
	otherSes, _ := e.svc.SessionIDOf(ctx, otherPair.RefreshToken)

	del := func(p core.Proof) error {
		return e.svc.DeleteAccount(ctx, core.DeleteRequest{UserID: res.User.ID, Proof: p}, client)
	}
	if err := del(core.Proof{}); !errors.Is(err, core.ErrReauthRequired) {
		t.Errorf("no session: %v", err)
	}
	if err := del(core.Proof{SessionID: otherSes}); !errors.Is(err, core.ErrReauthRequired) {
		t.Errorf("another account's session: %v", err)
	}
	e.advance(core.DefaultReauthMaxAge + time.Second)
	if e.svc.SignedInRecently(ctx, res.User.ID, ses) {
		t.Error("an old sign-in counts as recent")
	}
	if err := del(core.Proof{SessionID: ses}); !errors.Is(err, core.ErrReauthRequired) {
		t.Errorf("an old sign-in: %v", err)
	}
	res2, err := e.signIn(t, "corp", provider.Identity{Subject: "h", Email: "hal@example.test", EmailVerified: true})
	if err != nil {
		t.Fatal(err)
	}
	fresh, _ := e.svc.SessionIDOf(ctx, res2.Tokens.RefreshToken)
	if err := del(core.Proof{SessionID: fresh}); err != nil {
		t.Fatal(err)
	}
	// The identity is free to sign up anew.
	again, err := e.signIn(t, "corp", provider.Identity{Subject: "h", Email: "hal@example.test", EmailVerified: true})
	if err != nil || !again.Created || again.User.ID == res.User.ID {
		t.Errorf("sign-in after deletion: %+v, %v", again.User, err)
	}
	if _, err := e.svc.User(ctx, other.ID); err != nil {
		t.Error("another account went too")
	}
	// An admin needs no proof.
	if err := e.svc.DeleteAccount(ctx, core.DeleteRequest{UserID: other.ID, Admin: true}, core.Client{}); err != nil {
		t.Fatal(err)
	}
}

func TestRevokeOtherSessions(t *testing.T) {
	ctx := context.Background()
	e := newMailEnv(t, nil)
	u := e.signUp(t, "ivy@example.test")
	var pairs []core.TokenPair
	for range 3 {
		_, p, err := e.svc.SignIn(ctx, "ivy@example.test", "password123", client)
		if err != nil {
			t.Fatal(err)
		}
		pairs = append(pairs, p)
	}
	keep, _ := e.svc.SessionIDOf(ctx, pairs[1].RefreshToken)
	other, _ := e.svc.SessionIDOf(ctx, pairs[0].RefreshToken)
	// Apps this device signed in to stay; another device's app goes.
	app := func(id, parent string) {
		t.Helper()
		now := e.clock()
		ses := core.Session{ID: id, UserID: u.ID, ClientID: "grafana", Parent: parent, Method: core.MethodPassword,
			CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(time.Hour)}
		rt := core.RefreshToken{Hash: core.Hash(id), ChainID: id, UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := e.store.CreateSession(ctx, ses, rt); err != nil {
			t.Fatal(err)
		}
	}
	app("app-here", keep)
	app("app-there", other)
	n, err := e.svc.RevokeOtherSessions(ctx, u.ID, keep, client)
	if err != nil || n != 3 {
		t.Fatalf("RevokeOtherSessions = %d, %v; want 3", n, err)
	}
	live, _ := e.svc.Sessions(ctx, u.ID)
	var ids []string
	for _, s := range live {
		ids = append(ids, s.ID)
	}
	slices.Sort(ids)
	if want := []string{"app-here", keep}; !slices.Equal(ids, slices.Sorted(slices.Values(want))) {
		t.Fatalf("live sessions %v, want %v", ids, want)
	}
	if _, err := e.svc.Refresh(ctx, pairs[1].RefreshToken, client); err != nil {
		t.Errorf("the kept session: %v", err)
	}
}

// TestMailQueueRetries: temporary failures retry with a capped backoff
// and the same Message-ID and Date; a permanent one ends the message; a
// message retried for a day is given up; the stored message never holds
// the link in clear.
func TestMailQueueRetries(t *testing.T) {
	ctx := context.Background()
	e := newMailEnv(t, nil)
	e.box.setFail(&mail.Error{Op: "dial", Err: errors.New("connection refused")})
	e.signUp(t, "jo@example.test")
	var waits []time.Duration
	for range 8 {
		e.deliver(t)
		at, ok, err := e.store.NextMailAt(ctx)
		if err != nil || !ok {
			t.Fatalf("NextMailAt: %v %v", ok, err)
		}
		waits = append(waits, at.Sub(e.clock()))
		e.advance(at.Sub(e.clock()))
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second, 30 * time.Second}
	for i := range want {
		if waits[i] != want[i] {
			t.Errorf("wait after attempt %d: %s, want %s (all: %v)", i+1, waits[i], want[i], waits)
		}
	}
	// The queued row is sealed: neither the link nor the address in clear.
	rows, err := e.store.ClaimMail(ctx, e.clock(), e.clock().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(rows.Message, []byte("jo@example.test")) || bytes.Contains(rows.Message, []byte("secret=")) {
		t.Error("the queued message is readable in the database")
	}
	rows.LeaseUntil = time.Time{}
	if err := e.store.UpdateMail(ctx, rows); err != nil {
		t.Fatal(err)
	}
	e.box.setFail(nil)
	e.deliver(t)
	sent := e.box.to("jo@example.test")
	if len(sent) != 1 || sent[0].ID == "" || !sent[0].Date.Equal(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)) {
		t.Fatalf("sent %+v", sent)
	}
	if c, _ := e.svc.MailCounts(ctx); c != (core.MailCounts{Sent: 1}) {
		t.Errorf("counts %+v", c)
	}

	// Permanent: failed at once, body gone.
	e.box.setFail(&mail.Error{Op: "rcpt", Code: 550, Permanent: true, Err: errors.New("no such user")})
	e.signUp(t, "ka@example.test")
	e.deliver(t)
	if c, _ := e.svc.MailCounts(ctx); c.Failed != 1 || c.Queued != 0 {
		t.Errorf("after a permanent error: %+v", c)
	}
	// Given up after a day of temporary errors.
	e.box.setFail(&mail.Error{Op: "dial", Err: errors.New("connection refused")})
	e.signUp(t, "lu@example.test")
	e.deliver(t)
	e.advance(24 * time.Hour)
	e.deliver(t)
	if c, _ := e.svc.MailCounts(ctx); c.Failed != 2 || c.Queued != 0 {
		t.Errorf("after a day of retries: %+v", c)
	}
	if e.out[len(e.out)-1] != core.MailOutcomeFailed {
		t.Errorf("outcomes %v", e.out)
	}
	// Purge keeps done rows for the retention, then drops them.
	e.advance(core.DefaultMailRetention + time.Hour)
	p, err := e.svc.Purge(ctx)
	if err != nil || p.Mail != 3 || p.EmailLinks == 0 {
		t.Errorf("Purge = %+v, %v", p, err)
	}
}

// TestMailWorker runs the worker goroutine: it is woken by a queued
// message, and at its end a send in progress is given back, due.
func TestMailWorker(t *testing.T) {
	e := newMailEnv(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.svc.RunMailWorker(ctx, core.MailWorkerOptions{Sender: e.box, Lease: time.Minute, Poll: time.Hour})
	}()
	e.signUp(t, "mo@example.test")
	deadline := time.Now().Add(10 * time.Second)
	for len(e.box.to("mo@example.test")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the worker was not woken by the queued message")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done

	// A send cut short by the end of the worker is released.
	block := make(chan struct{})
	stuck := mail.SenderFunc(func(ctx context.Context, m mail.Message) error {
		close(block)
		<-ctx.Done()
		return ctx.Err()
	})
	ctx, cancel = context.WithCancel(context.Background())
	done = make(chan struct{})
	go func() {
		defer close(done)
		e.svc.RunMailWorker(ctx, core.MailWorkerOptions{Sender: stuck, Lease: time.Minute, Poll: time.Hour})
	}()
	e.signUp(t, "nia@example.test")
	<-block
	cancel()
	<-done
	e.deliver(t)
	if len(e.box.to("nia@example.test")) != 1 {
		t.Error("the interrupted message was not due again at once")
	}
}

// TestSuccessor: a Service built at a configuration reload has its own
// options but takes over the mail worker's wake-up and the background
// work of the one it replaces. Wait on the first Service waits for the
// reset the successor left to the background; and the worker, which runs
// on the first Service with an hour between looks, sends a message the
// successor queued only if the successor woke it.
func TestSuccessor(t *testing.T) {
	var opts core.Options
	e := newMailEnv(t, func(o *core.Options) { opts = *o })
	olga := e.signUp(t, "olga@example.test")
	e.deliver(t)
	opts.PasswordSignUp = false
	next, err := e.svc.Successor(opts)
	if err != nil {
		t.Fatal(err)
	}
	if next.PasswordSignUpEnabled() || !e.svc.PasswordSignUpEnabled() {
		t.Fatal("the successor does not have its own options")
	}
	ctx := context.Background()
	if err := next.RequestPasswordReset(ctx, olga.Email, "en", client); err != nil {
		t.Fatal(err)
	}
	e.svc.Wait()
	if c, err := e.svc.MailCounts(ctx); err != nil || c.Queued != 1 {
		t.Fatalf("after Wait on the first service: %+v, %v; want the successor's reset queued", c, err)
	}

	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.svc.RunMailWorker(wctx, core.MailWorkerOptions{Sender: e.box, Lease: time.Minute, Poll: time.Hour})
	}()
	defer func() { cancel(); <-done }()
	waitFor := func(n int, what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for len(e.box.to(olga.Email)) < n {
			if time.Now().After(deadline) {
				t.Fatal(what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor(2, "the worker's first look did not send the reset")
	if err := next.ResendVerification(ctx, olga.ID, "en", client); err != nil {
		t.Fatal(err)
	}
	waitFor(3, "the worker was not woken by the message its successor queued")
}
