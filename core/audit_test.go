package core_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/provider"
)

// auditEnv is a mailEnv with an app of tether's OpenID Provider and a
// provider, corp, that re-checks accounts every hour.
type auditEnv struct {
	*mailEnv
	up  *refreshing
	app core.App
	n   int // makes every row's addresses and subjects its own
}

const (
	appBack     = "https://app.example.test/callback"
	appVerifier = "a-verifier-of-forty-three-characters-or-more-0123456789"
)

func newAuditEnv(t *testing.T) *auditEnv {
	a := &auditEnv{app: core.App{ID: "app", Name: "App", Secret: "app-secret-0123456789", RedirectURIs: []string{appBack}, Consent: true, IDTokenAlg: "ES256"}}
	a.mailEnv = newMailEnv(t, func(o *core.Options) {
		a.up = &refreshing{scripted: o.Providers[0].Upstream.(*scripted)}
		a.up.set(func(prev provider.Identity) (provider.Identity, error) { return prev, nil })
		o.Providers[0].Upstream, o.Providers[0].RecheckEvery = a.up, time.Hour
		o.Issuer, o.Apps = "https://tether.test", []core.App{a.app}
	})
	return a
}

// address returns a new address for a row.
func (a *auditEnv) address() string {
	a.n++
	return "person" + string(rune('a'+a.n%26)) + time.Duration(a.n).String() + "@example.test"
}

// identity returns a new upstream identity with a verified address.
func (a *auditEnv) identity() provider.Identity {
	email := a.address()
	return provider.Identity{Subject: "sub-" + email, Email: email, EmailVerified: true, Name: "Person",
		Tokens: provider.Tokens{AccessToken: "at", RefreshToken: "rt", IDToken: "id"}}
}

// upstream runs an upstream sign-in (userID "") or link through corp.
func (a *auditEnv) upstream(t *testing.T, userID string, id provider.Identity) (core.FinishResult, error) {
	t.Helper()
	r := core.PrepareRequest{ProviderID: "corp", Purpose: core.PurposeSignIn}
	if userID != "" {
		r.Purpose, r.UserID = core.PurposeLink, userID
	}
	state := a.prepare(t, r)
	return a.svc.Finish(context.Background(), core.FinishRequest{FlowID: state, ProviderID: "corp", BrowserSecret: browser, UserID: userID,
		Callback: provider.Callback{Code: a.up.code(id)}, Client: client})
}

// openID signs a new passwordless account up through corp.
func (a *auditEnv) openID(t *testing.T) core.FinishResult {
	t.Helper()
	res, err := a.upstream(t, "", a.identity())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// user makes a password account with a verified address, as an admin.
func (a *auditEnv) user(t *testing.T) core.User {
	t.Helper()
	u, err := a.svc.CreateUser(context.Background(), core.NewUser{Email: a.address(), Password: "password123", EmailVerified: true}, core.AdminCLI)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// signIn signs u in with its password and returns the refresh token.
func (a *auditEnv) signIn(t *testing.T, u core.User) string {
	t.Helper()
	_, pair, err := a.svc.SignIn(context.Background(), u.Email, "password123", client)
	if err != nil {
		t.Fatal(err)
	}
	return pair.RefreshToken
}

// set applies an admin change to u.
func (a *auditEnv) set(t *testing.T, u core.User, change func(*core.User)) {
	t.Helper()
	if _, err := a.svc.UpdateUser(context.Background(), u.ID, func(x *core.User) error { change(x); return nil }, core.AdminCLI); err != nil {
		t.Fatal(err)
	}
}

// authorize signs u in and asks the app's authorization with answer; it
// returns the code, "" when there is none.
func (a *auditEnv) authorize(t *testing.T, u core.User, answer core.ConsentAnswer) string {
	t.Helper()
	ctx := context.Background()
	b, err := a.svc.BrowserSession(ctx, a.signIn(t, u), u)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(appVerifier))
	req, app, err := a.svc.ParseAuthRequest(url.Values{"client_id": {a.app.ID}, "redirect_uri": {appBack}, "response_type": {"code"},
		"scope": {"openid email offline_access"}, "nonce": {"n"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.svc.Authorize(ctx, req, app, b, answer, client)
	if err != nil || res.Step != core.StepRedirect {
		t.Fatalf("Authorize: %+v, %v", res, err)
	}
	loc, _ := url.Parse(res.Location)
	return loc.Query().Get("code")
}

// appTokens signs u in to the app and returns its tokens.
func (a *auditEnv) appTokens(t *testing.T, u core.User) core.AppTokens {
	t.Helper()
	tok, err := a.svc.ExchangeCode(context.Background(), a.app, a.authorize(t, u, core.ConsentApproved), appBack, appVerifier, client)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// auditCase performs one action through the service and names the event
// it must leave: the account's newest event of the kind (or the newest
// event of the kind at all, for an event tied to no account).
type auditCase struct {
	name string
	do   func(t *testing.T, a *auditEnv) (userID string)
	want core.Event // Kind, Actor, Success, Detail, Method, ProviderID, ClientID
	// bare: the event keeps no IP address or user agent (the admin CLI
	// has none; a deletion keeps none).
	bare bool
}

var ctxb = context.Background()

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var auditCases = []auditCase{
	// Sign-up and sign-in.
	{"password sign-up", func(t *testing.T, a *auditEnv) string { return a.signUp(t, a.address()).ID },
		core.Event{Kind: core.EventSignUp, Actor: core.ActorUser, Success: true, Method: core.MethodPassword}, false},
	{"upstream sign-up", func(t *testing.T, a *auditEnv) string { return a.openID(t).User.ID },
		core.Event{Kind: core.EventSignUp, Actor: core.ActorUser, Success: true, Method: core.MethodOpenID, ProviderID: "corp"}, false},
	{"password sign-in", func(t *testing.T, a *auditEnv) string { u := a.user(t); a.signIn(t, u); return u.ID },
		core.Event{Kind: core.EventSignIn, Actor: core.ActorUser, Success: true, Method: core.MethodPassword}, false},
	{"upstream sign-in", func(t *testing.T, a *auditEnv) string { return a.openID(t).User.ID },
		core.Event{Kind: core.EventSignIn, Actor: core.ActorUser, Success: true, Method: core.MethodOpenID, ProviderID: "corp"}, false},
	{"wrong password", func(t *testing.T, a *auditEnv) string {
		u := a.user(t)
		_, _, err := a.svc.SignIn(ctxb, u.Email, "not the password", client)
		wantCode(t, err, core.CodeWrongPassword)
		return u.ID
	}, core.Event{Kind: core.EventSignInFailed, Actor: core.ActorUser, Method: core.MethodPassword, Detail: "wrong_password"}, false},
	{"unknown address", func(t *testing.T, a *auditEnv) string {
		_, _, err := a.svc.SignIn(ctxb, "nobody@example.test", "password123", client)
		wantCode(t, err, core.CodeWrongPassword)
		return ""
	}, core.Event{Kind: core.EventSignInFailed, Actor: core.ActorUser, Method: core.MethodPassword, Detail: "wrong_password"}, false},
	{"banned upstream sign-in", func(t *testing.T, a *auditEnv) string {
		id := a.identity()
		res, err := a.upstream(t, "", id)
		must(t, err)
		a.set(t, res.User, func(u *core.User) { u.Status = core.StatusManualBanned })
		_, err = a.upstream(t, "", id)
		wantCode(t, err, core.CodeBanned)
		return res.User.ID
	}, core.Event{Kind: core.EventSignInFailed, Actor: core.ActorUser, Method: core.MethodOpenID, ProviderID: "corp", Detail: "banned"}, false},

	// Linked identities.
	{"link", func(t *testing.T, a *auditEnv) string {
		u := a.user(t)
		_, err := a.upstream(t, u.ID, a.identity())
		must(t, err)
		return u.ID
	}, core.Event{Kind: core.EventLink, Actor: core.ActorUser, Success: true, Method: core.MethodOpenID, ProviderID: "corp"}, false},
	{"link by verified email", func(t *testing.T, a *auditEnv) string {
		u := a.user(t)
		_, err := a.upstream(t, "", provider.Identity{Subject: "sub-" + u.Email, Email: u.Email, EmailVerified: true})
		must(t, err)
		return u.ID
	}, core.Event{Kind: core.EventLink, Actor: core.ActorUser, Success: true, Method: core.MethodOpenID, ProviderID: "corp", Detail: "verified_email"}, false},
	{"link of another's identity", func(t *testing.T, a *auditEnv) string {
		u := a.user(t)
		id := a.identity()
		_, err := a.upstream(t, "", id)
		must(t, err)
		_, err = a.upstream(t, u.ID, id)
		wantCode(t, err, core.CodeIdentityTaken)
		return u.ID
	}, core.Event{Kind: core.EventLinkFailed, Actor: core.ActorUser, Method: core.MethodOpenID, ProviderID: "corp", Detail: "identity_taken"}, false},
	{"unlink", func(t *testing.T, a *auditEnv) string {
		u := a.user(t)
		_, err := a.upstream(t, u.ID, a.identity())
		must(t, err)
		must(t, a.svc.Unlink(ctxb, u.ID, "corp", client))
		return u.ID
	}, core.Event{Kind: core.EventUnlink, Actor: core.ActorUser, Success: true, Method: core.MethodOpenID, ProviderID: "corp"}, false},
	{"unlink of the last way in", func(t *testing.T, a *auditEnv) string {
		u := a.openID(t).User
		wantCode(t, a.svc.Unlink(ctxb, u.ID, "corp", client), core.CodeLastSignInMethod)
		return u.ID
	}, core.Event{Kind: core.EventUnlinkFailed, Actor: core.ActorUser, Method: core.MethodOpenID, ProviderID: "corp", Detail: "last_sign_in_method"}, false},
	{"unlink of nothing", func(t *testing.T, a *auditEnv) string {
		u := a.user(t)
		wantCode(t, a.svc.Unlink(ctxb, u.ID, "not-a-provider", client), core.CodeIdentityNotLinked)
		return u.ID
	}, core.Event{Kind: core.EventUnlinkFailed, Actor: core.ActorUser, Method: core.MethodOpenID, Detail: "identity_not_linked"}, false},

	// Sessions.
	{"refresh", func(t *testing.T, a *auditEnv) string {
		u := a.user(t)
		_, err := a.svc.Refresh(ctxb, a.signIn(t, u), client)
		must(t, err)
		return u.ID
	}, core.Event{Kind: core.EventRefresh, Actor: core.ActorUser, Success: true}, false},
	{"refresh of a banned account", func(t *testing.T, a *auditEnv) string {
		u := a.user(t)
		refresh := a.signIn(t, u)
		// Banned in the database behind tether's back, so the session
		// is still live: the refresh ends it.
		_, err := a.store.UpdateUser(ctxb, u.ID, func(x *core.User) error { x.Status = core.StatusSysBanned; return nil })
		must(t, err)
		_, err = a.svc.Refresh(ctxb, refresh, client)
		wantCode(t, err, core.CodeBanned)
		return u.ID
	}, core.Event{Kind: core.EventRefresh, Actor: core.ActorUser, Detail: "banned"}, false},
	{"refresh token reused", func(t *testing.T, a *auditEnv) string {
		u := a.user(t)
		refresh := a.signIn(t, u)
		_, err := a.svc.Refresh(ctxb, refresh, client)
		must(t, err)
		_, err = a.svc.Refresh(ctxb, refresh, client)
		wantCode(t, err, core.CodeTokenReused)
		return u.ID
	}, core.Event{Kind: core.EventRefreshReused, Actor: core.ActorUser, Detail: "token_reused"}, false},
	{"sign-out", func(t *testing.T, a *auditEnv) string {
		u := a.user(t)
		must(t, a.svc.SignOut(ctxb, a.signIn(t, u), client))
		return u.ID
	}, core.Event{Kind: core.EventSignOut, Actor: core.ActorUser, Success: true}, false},
	{"device signed out", func(t *testing.T, a *auditEnv) string {
		u := a.user(t)
		id, err := a.svc.SessionIDOf(ctxb, a.signIn(t, u))
		must(t, err)
		must(t, a.svc.RevokeSession(ctxb, u.ID, id, client))
		return u.ID
	}, core.Event{Kind: core.EventSignOut, Actor: core.ActorUser, Success: true}, false},
	{"other devices signed out", func(t *testing.T, a *auditEnv) string {
		u := a.user(t)
		a.signIn(t, u)
		keep, err := a.svc.SessionIDOf(ctxb, a.signIn(t, u))
		must(t, err)
		n, err := a.svc.RevokeOtherSessions(ctxb, u.ID, keep, client)
		if err != nil || n != 1 {
			t.Fatalf("RevokeOtherSessions = %d, %v", n, err)
		}
		return u.ID
	}, core.Event{Kind: core.EventOtherSessionsRevoked, Actor: core.ActorUser, Success: true}, false},
	{"upstream account gone", func(t *testing.T, a *auditEnv) string {
		res := a.openID(t)
		a.up.set(func(provider.Identity) (provider.Identity, error) {
			return provider.Identity{}, &provider.Error{Reason: "refresh", Message: "invalid_grant", Revoked: true}
		})
		defer a.up.set(func(prev provider.Identity) (provider.Identity, error) { return prev, nil })
		a.advance(2 * time.Hour)
		_, err := a.svc.Refresh(ctxb, res.Tokens.RefreshToken, client)
		wantCode(t, err, core.CodeInvalidCredential)
		return res.User.ID
	}, core.Event{Kind: core.EventUpstreamRevoked, Actor: core.ActorSystem, Method: core.MethodOpenID, ProviderID: "corp", Detail: "upstream_revoked"}, false},

	// The address and the password.
	{"verification sent", func(t *testing.T, a *auditEnv) string { return a.signUp(t, a.address()).ID },
		core.Event{Kind: core.EventVerifyEmailSent, Actor: core.ActorUser, Success: true}, false},
	{"address verified by its link", func(t *testing.T, a *auditEnv) string {
		address := a.address()
		a.signUp(t, address)
		_, id, secret := a.lastLink(t, address)
		_, err := a.svc.VerifyEmail(ctxb, id, secret, client)
		must(t, err)
		return id
	}, core.Event{Kind: core.EventEmailVerified, Actor: core.ActorUser, Success: true}, false},
	{"address verified by an admin", func(t *testing.T, a *auditEnv) string {
		u := a.signUp(t, a.address())
		a.set(t, u, func(x *core.User) { x.EmailVerified = true })
		return u.ID
	}, core.Event{Kind: core.EventEmailVerified, Actor: core.ActorAdminCLI, Success: true}, true},
	{"address unverified by an admin", func(t *testing.T, a *auditEnv) string {
		u := a.user(t)
		a.set(t, u, func(x *core.User) { x.EmailVerified = false })
		return u.ID
	}, core.Event{Kind: core.EventEmailUnverified, Actor: core.ActorAdminCLI, Success: true}, true},
	{"used link", func(t *testing.T, a *auditEnv) string {
		address := a.address()
		a.signUp(t, address)
		_, id, secret := a.lastLink(t, address)
		_, err := a.svc.VerifyEmail(ctxb, id, secret, client)
		must(t, err)
		_, err = a.svc.VerifyEmail(ctxb, id, secret, client)
		wantCode(t, err, core.CodeLinkInvalid)
		return id
	}, core.Event{Kind: core.EventEmailLinkFailed, Actor: core.ActorUser, Detail: "verify_email:used"}, false},
	{"reset asked", func(t *testing.T, a *auditEnv) string {
		u := a.user(t)
		must(t, a.svc.RequestPasswordReset(ctxb, u.Email, "", client))
		a.svc.Wait()
		return u.ID
	}, core.Event{Kind: core.EventPasswordResetRequest, Actor: core.ActorUser, Success: true}, false},
	{"reset asked for an unknown address", func(t *testing.T, a *auditEnv) string {
		must(t, a.svc.RequestPasswordReset(ctxb, "unknown@example.test", "", client))
		a.svc.Wait()
		return ""
	}, core.Event{Kind: core.EventPasswordResetRequest, Actor: core.ActorUser, Detail: "unknown_address"}, false},
	{"password reset", func(t *testing.T, a *auditEnv) string {
		u := a.user(t)
		must(t, a.svc.RequestPasswordReset(ctxb, u.Email, "", client))
		_, id, secret := a.lastLink(t, u.Email)
		_, err := a.svc.ResetPassword(ctxb, id, secret, "a new password", client)
		must(t, err)
		return u.ID
	}, core.Event{Kind: core.EventPasswordReset, Actor: core.ActorUser, Success: true, Method: core.MethodPassword}, false},
	{"password set by an admin", func(t *testing.T, a *auditEnv) string {
		u := a.user(t)
		must(t, a.svc.SetPassword(ctxb, u.ID, "set by an admin", core.AdminCLI))
		return u.ID
	}, core.Event{Kind: core.EventPasswordChanged, Actor: core.ActorAdminCLI, Success: true}, true},
	{"address change asked", func(t *testing.T, a *auditEnv) string {
		u := a.user(t)
		must(t, a.svc.RequestEmailChange(ctxb, u.ID, a.address(), "", core.Proof{Password: "password123"}, client))
		return u.ID
	}, core.Event{Kind: core.EventEmailChangeRequested, Actor: core.ActorUser, Success: true}, false},
	{"address changed by its link", func(t *testing.T, a *auditEnv) string {
		u := a.user(t)
		next := a.address()
		must(t, a.svc.RequestEmailChange(ctxb, u.ID, next, "", core.Proof{Password: "password123"}, client))
		_, id, secret := a.lastLink(t, next)
		_, err := a.svc.ConfirmEmailChange(ctxb, id, secret, client)
		must(t, err)
		return u.ID
	}, core.Event{Kind: core.EventEmailChanged, Actor: core.ActorUser, Success: true}, false},
	{"address changed by an admin", func(t *testing.T, a *auditEnv) string {
		u := a.user(t)
		a.set(t, u, func(x *core.User) { x.Email = "moved-" + x.Email })
		return u.ID
	}, core.Event{Kind: core.EventEmailChanged, Actor: core.ActorAdminCLI, Success: true}, true},

	// The account, by an admin.
	{"account made by an admin", func(t *testing.T, a *auditEnv) string { return a.user(t).ID },
		core.Event{Kind: core.EventAccountCreated, Actor: core.ActorAdminCLI, Success: true}, true},
	{"ban", func(t *testing.T, a *auditEnv) string {
		u := a.user(t)
		a.set(t, u, func(x *core.User) { x.Status = core.StatusManualBanned })
		return u.ID
	}, core.Event{Kind: core.EventBan, Actor: core.ActorAdminCLI, Success: true, Detail: "manual_banned"}, true},
	{"unban", func(t *testing.T, a *auditEnv) string {
		u := a.user(t)
		a.set(t, u, func(x *core.User) { x.Status = core.StatusSysBanned })
		a.set(t, u, func(x *core.User) { x.Status = core.StatusActive })
		return u.ID
	}, core.Event{Kind: core.EventUnban, Actor: core.ActorAdminCLI, Success: true, Detail: "active"}, true},
	{"deactivate", func(t *testing.T, a *auditEnv) string {
		u := a.user(t)
		a.set(t, u, func(x *core.User) { x.Status = core.StatusInactive })
		return u.ID
	}, core.Event{Kind: core.EventDeactivate, Actor: core.ActorAdminCLI, Success: true}, true},
	{"activate", func(t *testing.T, a *auditEnv) string {
		u := a.user(t)
		a.set(t, u, func(x *core.User) { x.Status = core.StatusInactive })
		a.set(t, u, func(x *core.User) { x.Status = core.StatusActive })
		return u.ID
	}, core.Event{Kind: core.EventActivate, Actor: core.ActorAdminCLI, Success: true}, true},
	{"grant", func(t *testing.T, a *auditEnv) string {
		u := a.user(t)
		a.set(t, u, func(x *core.User) { x.Permissions = append(x.Permissions, "admin") })
		return u.ID
	}, core.Event{Kind: core.EventGrant, Actor: core.ActorAdminCLI, Success: true, Detail: "admin"}, true},
	{"revoke", func(t *testing.T, a *auditEnv) string {
		u := a.user(t)
		// In place, as tether user set --revoke does.
		a.set(t, u, func(x *core.User) {
			x.Permissions = slices.DeleteFunc(x.Permissions, func(p string) bool { return p == core.PermissionOAuth })
		})
		return u.ID
	}, core.Event{Kind: core.EventRevoke, Actor: core.ActorAdminCLI, Success: true, Detail: core.PermissionOAuth}, true},
	{"profile", func(t *testing.T, a *auditEnv) string {
		u := a.user(t)
		a.set(t, u, func(x *core.User) { x.Nickname, x.Language = "Someone else", "fr" })
		return u.ID
	}, core.Event{Kind: core.EventProfileChanged, Actor: core.ActorAdminCLI, Success: true, Detail: "nickname,language"}, true},
	{"account deleted by its owner", func(t *testing.T, a *auditEnv) string {
		u := a.user(t)
		must(t, a.svc.DeleteAccount(ctxb, core.DeleteRequest{UserID: u.ID, Proof: core.Proof{Password: "password123"}}, client))
		return u.ID
	}, core.Event{Kind: core.EventAccountDeleted, Actor: core.ActorUser, Success: true}, true},
	{"account deleted by an admin", func(t *testing.T, a *auditEnv) string {
		u := a.user(t)
		must(t, a.svc.DeleteAccount(ctxb, core.DeleteRequest{UserID: u.ID, Admin: true}, core.AdminCLI))
		return u.ID
	}, core.Event{Kind: core.EventAccountDeleted, Actor: core.ActorAdminCLI, Success: true}, true},

	// Apps of tether's OpenID Provider.
	{"app authorized", func(t *testing.T, a *auditEnv) string {
		u := a.user(t)
		a.authorize(t, u, core.ConsentApproved)
		return u.ID
	}, core.Event{Kind: core.EventAppAuthorize, Actor: core.ActorUser, Success: true, ClientID: "app"}, false},
	{"consent given", func(t *testing.T, a *auditEnv) string {
		u := a.user(t)
		a.authorize(t, u, core.ConsentApproved)
		return u.ID
	}, core.Event{Kind: core.EventAppConsent, Actor: core.ActorUser, Success: true, ClientID: "app", Detail: "openid email offline_access"}, false},
	{"consent refused", func(t *testing.T, a *auditEnv) string {
		u := a.user(t)
		if code := a.authorize(t, u, core.ConsentDenied); code != "" {
			t.Fatal("a code without consent")
		}
		return u.ID
	}, core.Event{Kind: core.EventAppConsent, Actor: core.ActorUser, ClientID: "app", Detail: "access_denied"}, false},
	{"app signed in", func(t *testing.T, a *auditEnv) string { u := a.user(t); a.appTokens(t, u); return u.ID },
		core.Event{Kind: core.EventAppSignIn, Actor: core.ActorUser, Success: true, Method: core.MethodPassword, ClientID: "app"}, false},
	{"code of another redirect URI", func(t *testing.T, a *auditEnv) string {
		u := a.user(t)
		_, err := a.svc.ExchangeCode(ctxb, a.app, a.authorize(t, u, core.ConsentApproved), appBack+"/other", appVerifier, client)
		wantCode(t, err, core.CodeInvalidGrant)
		return u.ID
	}, core.Event{Kind: core.EventAppSignIn, Actor: core.ActorUser, ClientID: "app", Detail: "invalid_grant"}, false},
	{"code reused", func(t *testing.T, a *auditEnv) string {
		u := a.user(t)
		code := a.authorize(t, u, core.ConsentApproved)
		_, err := a.svc.ExchangeCode(ctxb, a.app, code, appBack, appVerifier, client)
		must(t, err)
		_, err = a.svc.ExchangeCode(ctxb, a.app, code, appBack, appVerifier, client)
		wantCode(t, err, core.CodeTokenReused)
		return u.ID
	}, core.Event{Kind: core.EventAppReused, Actor: core.ActorUser, ClientID: "app", Detail: "code_reused"}, false},
	{"app refresh", func(t *testing.T, a *auditEnv) string {
		u := a.user(t)
		_, err := a.svc.RefreshApp(ctxb, a.app, a.appTokens(t, u).RefreshToken, "", client)
		must(t, err)
		return u.ID
	}, core.Event{Kind: core.EventAppRefresh, Actor: core.ActorUser, Success: true, ClientID: "app"}, false},
	{"app refresh token reused", func(t *testing.T, a *auditEnv) string {
		u := a.user(t)
		refresh := a.appTokens(t, u).RefreshToken
		_, err := a.svc.RefreshApp(ctxb, a.app, refresh, "", client)
		must(t, err)
		_, err = a.svc.RefreshApp(ctxb, a.app, refresh, "", client)
		wantCode(t, err, core.CodeInvalidGrant)
		return u.ID
	}, core.Event{Kind: core.EventAppReused, Actor: core.ActorUser, ClientID: "app", Detail: "token_reused"}, false},
	{"app revoked its token", func(t *testing.T, a *auditEnv) string {
		u := a.user(t)
		must(t, a.svc.RevokeToken(ctxb, a.app, a.appTokens(t, u).RefreshToken, client))
		return u.ID
	}, core.Event{Kind: core.EventAppTokenRevoked, Actor: core.ActorUser, Success: true, ClientID: "app", Detail: "refresh_token"}, false},
	{"app's access revoked", func(t *testing.T, a *auditEnv) string {
		u := a.user(t)
		a.appTokens(t, u)
		must(t, a.svc.RevokeApp(ctxb, u.ID, "app", client))
		return u.ID
	}, core.Event{Kind: core.EventAppRevoked, Actor: core.ActorUser, Success: true, ClientID: "app"}, false},
	{"signed out through an app", func(t *testing.T, a *auditEnv) string {
		// As op's end-session endpoint records it (op/logout.go; its
		// HTTP path is checked in op's TestCodeFlow).
		u := a.user(t)
		a.svc.RecordEvent(ctxb, core.Event{UserID: u.ID, Kind: core.EventAppSignOut, ClientID: "app", Success: true}, client)
		return u.ID
	}, core.Event{Kind: core.EventAppSignOut, Actor: core.ActorUser, Success: true, ClientID: "app"}, false},
}

// TestAuditTrail performs every action that changes an account, or is
// refused, through the service on a real SQLite store, and checks the
// event it leaves: kind, account, actor, outcome, detail, and who made
// the request. Every kind tether records has a row.
func TestAuditTrail(t *testing.T) {
	a := newAuditEnv(t)
	covered := map[core.EventKind]bool{}
	for _, tc := range auditCases {
		covered[tc.want.Kind] = true
		t.Run(tc.name, func(t *testing.T) {
			user := tc.do(t, a)
			q := core.AuditQuery{UserID: user, Kinds: []core.EventKind{tc.want.Kind}, Limit: 1}
			events, err := a.svc.AuditEvents(ctxb, q)
			must(t, err)
			if len(events) != 1 {
				t.Fatalf("no %s event of %q", tc.want.Kind, user)
			}
			got := events[0]
			want := tc.want
			want.UserID, want.IP, want.UserAgent = user, client.IP, client.UserAgent
			if tc.bare {
				want.IP, want.UserAgent = "", ""
			}
			want.ID, want.At, want.Cursor = got.ID, got.At, got.Cursor
			if got != want {
				t.Errorf("event:\n got %+v\nwant %+v", got, want)
			}
		})
	}
	for _, k := range core.EventKinds() {
		if !covered[k] {
			t.Errorf("no row records an event of kind %s", k)
		}
	}
}

// TestAdminChangeEvents: one admin change that changes several things
// records one event for each, in its transaction, and a change that
// changes nothing records none.
func TestAdminChangeEvents(t *testing.T) {
	a := newAuditEnv(t)
	u := a.user(t)
	before, err := a.svc.AuditEvents(ctxb, core.AuditQuery{UserID: u.ID})
	must(t, err)
	a.set(t, u, func(x *core.User) {
		x.Status = core.StatusManualBanned
		x.Permissions = []string{"admin", "audit"}
		x.EmailVerified = false
	})
	a.set(t, u, func(*core.User) {}) // nothing
	events, err := a.svc.AuditEvents(ctxb, core.AuditQuery{UserID: u.ID})
	must(t, err)
	var got []string
	for _, e := range events[:len(events)-len(before)] {
		got = append(got, string(e.Kind)+":"+e.Detail)
	}
	slices.Sort(got)
	want := []string{"ban:manual_banned", "email_unverified:", "grant:admin", "grant:audit", "revoke:oauth"}
	if !slices.Equal(got, want) {
		t.Fatalf("events of one change: %v, want %v", got, want)
	}
	// A change the store refuses records nothing.
	other := a.user(t)
	_, err = a.svc.UpdateUser(ctxb, u.ID, func(x *core.User) error { x.Email = other.Email; return nil }, core.AdminCLI)
	wantCode(t, err, core.CodeEmailTaken)
	after, err := a.svc.AuditEvents(ctxb, core.AuditQuery{UserID: u.ID})
	must(t, err)
	if len(after) != len(events) {
		t.Fatalf("a refused change recorded %+v", after[:len(after)-len(events)])
	}
}
