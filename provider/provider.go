// Package provider defines what tether needs from an upstream identity
// provider. Each kind is one subpackage (oidc, logto, qq) implementing
// Provider, like Dex's connectors; the core never sees protocol details.
package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Kinds of provider, as written in the config's "kind" key.
const (
	KindOIDC  = "oidc"
	KindLogto = "logto"
	KindQQ    = "qq"
)

// Provider is one configured upstream provider.
type Provider interface {
	// AuthURL returns the URL that starts the upstream login for req.
	AuthURL(ctx context.Context, req AuthRequest) (string, error)
	// Exchange finishes the login: it checks the callback, redeems the
	// code and returns the verified identity. Any failure is an error the
	// core reports as an upstream or credential error; it never panics on
	// malformed upstream answers.
	Exchange(ctx context.Context, req AuthRequest, cb Callback) (Identity, error)
}

// AuthRequest carries what one flow fixed when it started; the same values
// are given to Exchange.
type AuthRequest struct {
	State        string // the flow id
	Nonce        string // OIDC nonce; ignored by plain OAuth 2.0 providers
	CodeVerifier string // PKCE verifier; the S256 challenge is derived from it
	RedirectURI  string
	// LoginHint is the caller's hint (Cloudreve "hint"); only Logto sends
	// it upstream, as login_hint. Nothing else a caller says passes through.
	LoginHint string
}

// Callback is what came back from the provider.
type Callback struct {
	Code string
	// Iss is the RFC 9207 "iss" parameter, "" when absent.
	Iss string
	// Relayed is true when the code reached tether through a client that
	// forwards only the code (the Cloudreve finish call). A missing Iss is
	// then tolerated even when the provider advertises RFC 9207, because
	// the flow's provider was already matched against the callback path.
	// A present Iss is always checked.
	Relayed bool
	// Error and ErrorDescription carry an OAuth error response.
	Error            string
	ErrorDescription string
}

// Identity is a verified upstream account.
type Identity struct {
	Issuer        string // the provider's issuer exactly as configured
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
	Avatar        string
	// Claims are the raw claims the subject and profile came from, without
	// those that change at every sign-in (iat, exp, nonce, auth_time...).
	Claims json.RawMessage
	Tokens Tokens
}

// Tokens are the upstream tokens, stored sealed.
type Tokens struct {
	AccessToken  string    `json:"access_token,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	IDToken      string    `json:"id_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
}

// Refresher is implemented by providers that can check, long after a
// sign-in, that the upstream account behind it is still in good standing,
// as Dex's RefreshConnector does. A session keeps the sign-in's tokens
// (sealed); when it is refreshed and the provider's recheck_every has
// passed, the core hands them back here.
type Refresher interface {
	// Refresh checks the account of prev, an identity this provider
	// returned earlier (Subject, Claims as stored, Tokens as the session
	// keeps them), and returns it as the provider sees it now, with the
	// tokens to keep from now on. It uses the refresh token when there is
	// one, else a still-valid access token (userinfo, QQ's
	// get_user_info); it never shows a page to anyone.
	//
	// A failure is a *Error: Revoked when the provider says the grant or
	// the account is gone (invalid_grant, a rejected access token, another
	// subject), Unavailable when the provider could not be reached or
	// failed (a timeout is not a revocation), neither when the check could
	// not be made (no usable token, an answer tether cannot read).
	Refresh(ctx context.Context, prev Identity) (Identity, error)
}

// EndSessioner is implemented by providers that can end the person's
// session at the provider itself (OpenID Connect RP-Initiated Logout
// 1.0): tether's sign-out then offers the URL to send the browser to.
type EndSessioner interface {
	// EndSessionURL returns that URL for r, or "" when the provider has
	// no end_session_endpoint.
	EndSessionURL(ctx context.Context, r EndSessionRequest) (string, error)
}

// EndSessionRequest is what a sign-out at the provider carries.
type EndSessionRequest struct {
	// IDTokenHint is the ID token of the sign-in being ended, "" when the
	// session has none.
	IDTokenHint string
	// PostLogoutRedirectURI is where the provider sends the browser
	// afterwards; it must be registered there. "" lets the provider
	// show its own page.
	PostLogoutRedirectURI string
}

// Checker is implemented by providers that can check their own setup for
// "tether doctor": discovery reachable, issuer matching, keys parsing.
type Checker interface {
	Check(ctx context.Context) []Check
}

// Check is one line of a doctor report.
type Check struct {
	Name string
	OK   bool
	Info string
	// Key is the provider's configuration key that the check is about
	// ("issuer", "endpoints.token"), which doctor names when it fails;
	// "" when the fix is the provider's alone.
	Key string
}

// Error reports why an upstream sign-in failed. The core turns every
// Exchange error into an "invalid credential" or "upstream" error for the
// surfaces; Reason lets tests and logs tell failures apart.
type Error struct {
	// Reason is a stable lower_snake word: "iss_mismatch",
	// "nonce_mismatch", "bad_signature", "token_exchange", "discovery"...
	Reason string
	// Message is safe to show to the person signing in.
	Message string
	// Unavailable is true when the provider could not be reached or
	// answered 5xx, as opposed to rejecting the sign-in.
	Unavailable bool
	// Revoked is true, on a Refresher's error, when the provider said
	// the grant or the account is gone: the session must end.
	Revoked bool
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Reason + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Reason + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with reason and a formatted message.
func Errorf(reason, format string, args ...any) *Error {
	return &Error{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// IsRevoked reports whether err is a provider's word that the grant or
// the account behind a session is gone (Error.Revoked).
func IsRevoked(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Revoked
}

// IsUnavailable reports whether err says the provider could not be
// reached or failed (Error.Unavailable), or the call ran out of time.
func IsUnavailable(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Unavailable
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// IsLoopback reports whether host is localhost or a loopback address:
// the only hosts a provider may reach over plain http (tests, a local
// OP), since a client secret or a code crosses every other network.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
