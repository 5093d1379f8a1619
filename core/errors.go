package core

import (
	"errors"
	"fmt"
)

// Code classifies an error once, in the domain. Each API surface maps codes
// to its own wire format (Cloudreve numbers, Versia HTTP statuses) in a single
// table, so the core never knows how an error is shown.
type Code string

// The codes. The comment after each names the Cloudreve code it becomes.
const (
	CodeInvalid           Code = "invalid"             // 40001 bad parameters
	CodeUnauthenticated   Code = "unauthenticated"     // 401 login required
	CodeForbidden         Code = "forbidden"           // 403 permission missing
	CodeNotFound          Code = "not_found"           // 404 generic lookup miss
	CodeBanned            Code = "banned"              // 40017
	CodeInactive          Code = "inactive"            // 40018
	CodeDisabled          Code = "disabled"            // 40019 provider or feature not enabled
	CodeInvalidCredential Code = "invalid_credential"  // 40020 bad token, upstream rejected
	CodeTokenReused       Code = "token_reused"        // 40020 a used refresh token came back: theft
	CodeFlowNotFound      Code = "flow_not_found"      // 40023 sign-in session missing/expired/used/foreign
	CodeEmailTaken        Code = "email_taken"         // 40032
	CodeProviderLinked    Code = "provider_linked"     // 40066 user already has this provider
	CodeIdentityTaken     Code = "identity_taken"      // 40067 identity linked to another account
	CodeIdentityNotLinked Code = "identity_not_linked" // 40068
	CodeWrongPassword     Code = "wrong_password"      // 40069
	CodeLastSignInMethod  Code = "last_sign_in_method" // 40084
	CodeRateLimited       Code = "rate_limited"        // 429
	CodeInternal          Code = "internal"            // 50001 storage or unexpected
	CodeTokenSigning      Code = "token_signing"       // 50002
	CodeUpstream          Code = "upstream"            // 40020 provider unreachable or answered with an error

	// Codes of the OpenID Provider's own surface, named as OAuth names
	// its errors (RFC 6749 §4.1.2.1, §5.2; OpenID Connect Core §3.1.2.6).
	CodeInvalidGrant    Code = "invalid_grant"    // a code or refresh token that is unknown, used, expired or another client's
	CodeInvalidClient   Code = "invalid_client"   // client authentication failed
	CodeLoginRequired   Code = "login_required"   // prompt=none and nobody is signed in
	CodeConsentRequired Code = "consent_required" // prompt=none and the person has not consented
	CodeAccessDenied    Code = "access_denied"    // the person said no

	// Email: links, verification, re-authentication.
	CodeLinkInvalid     Code = "link_invalid"     // 40030 email link unknown, expired, used or no longer valid
	CodeEmailUnverified Code = "email_unverified" // 40018 password sign-in refused until the address is verified
	CodeReauthRequired  Code = "reauth_required"  // 401 a fresh sign-in is needed first
)

// Error is the one error type the core returns. Message is safe to show to
// the person who made the request; Err, the cause, is only logged.
type Error struct {
	Code    Code
	Message string
	// Field names the offending request field for CodeInvalid.
	Field string
	// Reason is a finer, stable cause under Code ("other_browser"), for
	// surfaces that explain failures in their own words; "" when the code
	// says it all.
	Reason string
	Err    error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, core.ErrEmailTaken) holds for any email-taken error,
// whatever its message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Errorf returns an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with code and message that records cause.
func Wrap(code Code, cause error, message string) *Error {
	return &Error{Code: code, Message: message, Err: cause}
}

// Invalid returns a CodeInvalid error for field, worded the Cloudreve way
// ("Email cannot be empty").
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: CodeInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err, CodeInternal for errors that are not
// *Error, and "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrorMessage returns the message of err that is safe to show. Errors that
// are not *Error are internal and shown as "Internal error".
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error"
}

// ErrorReason returns the Reason of err, "" when it has none or is not an
// *Error.
func ErrorReason(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// Sentinel errors that stores and providers return. Compare with errors.Is:
// any *Error with the same code matches.
var (
	ErrNotFound          = &Error{Code: CodeNotFound, Message: "Not found"}
	ErrEmailTaken        = &Error{Code: CodeEmailTaken, Message: "Email already in use"}
	ErrIdentityTaken     = &Error{Code: CodeIdentityTaken, Message: "This identity is already linked to another account"}
	ErrProviderLinked    = &Error{Code: CodeProviderLinked, Message: "An identity of this provider is already linked; unlink it first"}
	ErrIdentityNotLinked = &Error{Code: CodeIdentityNotLinked, Message: "This identity is not linked to any account"}
	ErrFlowNotFound      = &Error{Code: CodeFlowNotFound, Message: "Sign-in session not found, expired or already used"}
	ErrFlowOtherBrowser  = &Error{Code: CodeFlowNotFound, Reason: "other_browser", Message: "This sign-in was started in another browser"}
	ErrFlowOtherProvider = &Error{Code: CodeFlowNotFound, Reason: "other_provider", Message: "This sign-in session belongs to another provider"}
	ErrFlowOtherAccount  = &Error{Code: CodeFlowNotFound, Reason: "other_account", Message: "This link was started by another account"}
	ErrFlowWrongPurpose  = &Error{Code: CodeFlowNotFound, Reason: "wrong_purpose", Message: "This sign-in session cannot be finished here"}
	ErrProviderDisabled  = &Error{Code: CodeDisabled, Reason: "provider_disabled", Message: "This sign-in provider is not enabled"}
	ErrSignUpDisabled    = &Error{Code: CodeDisabled, Reason: "sign_up_disabled", Message: "Registration is disabled"}
	ErrLastSignInMethod  = &Error{Code: CodeLastSignInMethod, Message: "This account has no other way to sign in"}
	ErrInvalidToken      = &Error{Code: CodeInvalidCredential, Message: "Invalid or expired credential"}
	ErrTokenReused       = &Error{Code: CodeTokenReused, Message: "Refresh token already used; the session has been revoked"}
	// ErrUpstreamRevoked: a refresh re-checked the session's upstream
	// account and the provider no longer accepts it; the session has been
	// revoked.
	ErrUpstreamRevoked = &Error{Code: CodeInvalidCredential, Reason: "upstream_revoked", Message: "The sign-in provider no longer accepts this account; sign in again"}
	ErrWrongPassword   = &Error{Code: CodeWrongPassword, Message: "Incorrect email or password"}
	ErrBanned          = &Error{Code: CodeBanned, Message: "This account has been banned"}
	ErrInactive        = &Error{Code: CodeInactive, Message: "This account is not activated"}
	ErrUnauthenticated = &Error{Code: CodeUnauthenticated, Message: "Login required"}
	ErrInvalidGrant    = &Error{Code: CodeInvalidGrant, Message: "The authorization code or refresh token is invalid, expired, used or not this client's"}
	ErrCodeReused      = &Error{Code: CodeTokenReused, Reason: "code_reused", Message: "The authorization code was used already; the tokens issued from it are revoked"}
	ErrInvalidClient   = &Error{Code: CodeInvalidClient, Message: "Client authentication failed"}
	ErrKeyRotated      = &Error{Code: CodeInternal, Reason: "key_rotated", Message: "Another instance rotated the signing key first"}
	// ErrMissingOAuth: the account lacks PermissionOAuth, which governs
	// linking and unlinking identities on every surface.
	ErrMissingOAuth = &Error{Code: CodeForbidden, Reason: "missing_oauth", Message: "Missing permissions"}

	// ErrAppTokenReused: an app's used refresh token came back and its
	// session was revoked. The app is told only invalid_grant, as for
	// any unusable token (the same message); Reason lets the metrics
	// count the reuse.
	ErrAppTokenReused = &Error{Code: CodeInvalidGrant, Reason: "token_reused", Message: ErrInvalidGrant.Message}

	// Email links (Reason tells apart why a link does not work), mail and
	// re-authentication.
	ErrLinkNotFound        = &Error{Code: CodeLinkInvalid, Reason: "unknown", Message: "This link is not valid, or a newer one replaced it"}
	ErrLinkExpired         = &Error{Code: CodeLinkInvalid, Reason: "expired", Message: "This link has expired"}
	ErrLinkUsed            = &Error{Code: CodeLinkInvalid, Reason: "used", Message: "This link was already used"}
	ErrLinkOtherAddress    = &Error{Code: CodeLinkInvalid, Reason: "other_address", Message: "This link was sent to an address the account no longer uses"}
	ErrLinkPasswordChanged = &Error{Code: CodeLinkInvalid, Reason: "password_changed", Message: "The password was changed after this link was sent"}
	ErrEmailUnverified     = &Error{Code: CodeEmailUnverified, Message: "Email address not verified; follow the link sent to it, or ask for a new one"}
	ErrMailDisabled        = &Error{Code: CodeDisabled, Reason: "mail_disabled", Message: "Email is not enabled on this site"}
	ErrReauthRequired      = &Error{Code: CodeReauthRequired, Message: "Sign in again to confirm this"}
)
