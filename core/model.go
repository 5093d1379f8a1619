package core

import (
	"encoding/json"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"
)

// Status is the state of a local account. Only active accounts may sign in.
type Status string

const (
	StatusActive       Status = "active"
	StatusInactive     Status = "inactive"
	StatusManualBanned Status = "manual_banned"
	StatusSysBanned    Status = "sys_banned"
)

// Valid reports whether s is one of the four statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusActive, StatusInactive, StatusManualBanned, StatusSysBanned:
		return true
	}
	return false
}

// PermissionOAuth lets a user manage linked identities through the Versia
// surface. New accounts get it; an admin may revoke it.
const PermissionOAuth = "oauth"

// DefaultPermissions are granted to every new account.
func DefaultPermissions() []string { return []string{PermissionOAuth} }

// User is a local account.
type User struct {
	ID            string
	Email         string
	EmailVerified bool
	Nickname      string
	Avatar        string // URL of an upstream picture, or ""
	// PasswordHash is an argon2id PHC string; empty means passwordless: the
	// account signs in only through a linked identity.
	PasswordHash string
	Status       Status
	Permissions  []string // sorted, no duplicates
	Language     string
	CreatedAt    time.Time
}

// Passwordless reports whether the account has no password.
func (u User) Passwordless() bool { return u.PasswordHash == "" }

// Can reports whether the user holds permission.
func (u User) Can(permission string) bool {
	return slices.Contains(u.Permissions, permission)
}

// CheckCanSignIn returns ErrBanned or ErrInactive for accounts that may not
// sign in, whatever the method.
func (u User) CheckCanSignIn() error {
	switch u.Status {
	case StatusActive:
		return nil
	case StatusInactive:
		return ErrInactive
	default:
		return ErrBanned
	}
}

// NormalizePermissions returns perms sorted without duplicates or blanks.
func NormalizePermissions(perms []string) []string {
	out := make([]string, 0, len(perms))
	for _, p := range perms {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// EmailKey is the form under which emails are unique: case-insensitive.
// Every store indexes this value, so the rule is the same on every backend.
func EmailKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// ParseEmail validates a bare address ("a@b.c", no display name) and
// returns it trimmed.
func ParseEmail(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", Invalid(field, "%s cannot be empty", fieldTitle(field))
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" || len(s) > 254 {
		return "", Invalid(field, "%s is not a valid email address", fieldTitle(field))
	}
	return s, nil
}

func fieldTitle(field string) string {
	if field == "" {
		return field
	}
	return strings.ToUpper(field[:1]) + field[1:]
}

// PlaceholderEmailDomain marks accounts created from an identity that had no
// usable email (Cloudreve's convention: "<uuid>@openid.unmanaged").
const PlaceholderEmailDomain = "openid.unmanaged"

// IdentityKey identifies an upstream identity. It is unique across users.
type IdentityKey struct {
	ProviderID string
	Issuer     string
	Subject    string
}

// Identity is an upstream account linked to a local user.
type Identity struct {
	IdentityKey
	UserID        string
	Email         string
	EmailVerified bool
	Name          string
	Avatar        string
	// Claims are the raw upstream claims (ID token merged with userinfo;
	// for QQ both openid and unionid), kept for audit and remapping,
	// without the ones that change at every sign-in (iat, exp, nonce...).
	Claims       json.RawMessage
	LinkedAt     time.Time
	LastSignInAt time.Time
}

// Purpose says what finishing a flow does.
type Purpose string

const (
	PurposeSignIn Purpose = "sign_in"
	PurposeLink   Purpose = "link"
)

// Flow is one sign-in or link attempt with an upstream provider. Its ID is
// the OAuth state. A flow is single use: finishing consumes it atomically.
type Flow struct {
	ID           string // UUID v4 from crypto/rand; the OAuth state
	ProviderID   string
	Purpose      Purpose
	UserID       string // the linking user; empty for sign-in
	CodeVerifier string // PKCE
	Nonce        string
	RedirectURI  string // the callback URL sent upstream; the token exchange repeats it
	ReturnTo     string // where the web pages go afterwards, if allowed
	// BrowserHash is the SHA-256 of the browser-binding cookie that started
	// the flow (hex), or "" when binding is off.
	BrowserHash string
	CreatedAt   time.Time
	ExpiresAt   time.Time
}

// Session is one sign-in on one device: the chain of refresh tokens the
// sign-in started, and what tether knows of it. Signing out, a refresh
// token's reuse, a ban or a new password revoke it.
type Session struct {
	ID     string // also the ChainID of its refresh tokens
	UserID string
	// ClientID is the app the session was granted to when tether is its
	// OpenID Provider, with the granted Scopes; "" for tether's own
	// sessions (the Cloudreve and Versia APIs, the web pages).
	ClientID string
	Scopes   []string
	Method   Method
	// Identity is the upstream identity an openid sign-in used; zero for
	// a password sign-in.
	Identity IdentityKey
	// UpstreamTokens are the provider's tokens from that sign-in, sealed
	// with AES-256-GCM under the encryption key and bound to the session;
	// never logged, never returned by an API.
	UpstreamTokens []byte
	// CheckedAt is when the upstream account was last seen in good
	// standing (the sign-in, or a later re-check).
	CheckedAt time.Time
	// AuthTime is when the person authenticated; CreatedAt is when the
	// session began. They differ for an app's session, which begins when
	// the app redeems its code, after the person signed in to tether.
	// AMR is how they authenticated (an RFC 8176 value: pwd, or fed for
	// an upstream provider). Nonce is the app's nonce of that sign-in,
	// repeated in the ID tokens of its refreshes.
	AuthTime time.Time
	AMR      string
	Nonce    string
	// Parent is, for an app's session, the tether session of the browser
	// that authorized it: its upstream sign-in is what the app session's
	// refreshes re-check.
	Parent     string
	CreatedAt  time.Time
	LastUsedAt time.Time // the last refresh
	LastIP     string    // the address of the last sign-in or refresh
	UserAgent  string
	ExpiresAt  time.Time // when its newest refresh token expires
	RevokedAt  time.Time // zero unless revoked
}

// AMR values (RFC 8176, and "fed" as Microsoft's and others' name for a
// federated sign-in).
const (
	AMRPassword  = "pwd"
	AMRFederated = "fed"
)

// RefreshToken is the stored half of a refresh token. The token itself is
// random; only its SHA-256 (Hash) is kept. Every token of one session
// shares ChainID (the session's ID), so a reuse or a sign-out revokes
// them all.
type RefreshToken struct {
	Hash      string
	ChainID   string
	UserID    string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero until rotated
	RevokedAt time.Time // zero unless the chain was revoked
}

// TokenPair is what a sign-in or refresh hands to the client.
type TokenPair struct {
	AccessToken    string
	RefreshToken   string
	AccessExpires  time.Time
	RefreshExpires time.Time
}

// Method says how a person proved who they are.
type Method string

const (
	MethodPassword Method = "password"
	MethodOpenID   Method = "openid"
)

// Client describes who made a request, for audit events and rate limits.
type Client struct {
	IP        string
	UserAgent string
	// Actor is who acts through this client, for the audit events of
	// what it changes; "" is the person at one of tether's surfaces
	// (ActorUser). The admin CLI says AdminCLI.
	Actor Actor
}

// Successor checks that next, the token that replaces old in a rotation,
// continues old's chain, filling ChainID and UserID when next leaves them
// empty: a token outside the chain would escape reuse detection.
func Successor(old, next RefreshToken) (RefreshToken, error) {
	if next.ChainID == "" {
		next.ChainID = old.ChainID
	}
	if next.UserID == "" {
		next.UserID = old.UserID
	}
	if next.Hash == "" || next.ChainID != old.ChainID || next.UserID != old.UserID {
		return RefreshToken{}, fmt.Errorf("rotate refresh token: the new token must have a hash and continue chain %s of user %s", old.ChainID, old.UserID)
	}
	next.UsedAt, next.RevokedAt = time.Time{}, time.Time{}
	return next, nil
}

// AuthCode is an OAuth authorization code tether issued to an app, kept
// by the hash of its value. It is single use: a second use ends the
// session its first use started (SessionID, chosen when the code is
// issued).
type AuthCode struct {
	Hash          string
	ClientID      string
	RedirectURI   string
	UserID        string
	Scopes        []string
	Nonce         string
	CodeChallenge string // PKCE S256; "" when the app sent none
	AuthTime      time.Time
	AMR           string
	CreatedAt     time.Time
	ExpiresAt     time.Time
	UsedAt        time.Time
	SessionID     string
	// Browser is the tether session of the browser the code was issued
	// to; the app's session will name it as its Parent.
	Browser string
}

// Consent is what a person allowed an app: the scopes, remembered so that
// the app does not ask again for them.
type Consent struct {
	UserID    string
	ClientID  string
	Scopes    []string
	GrantedAt time.Time
}

// SigningKey is a key of tether's OpenID Provider. Every instance signs
// with the current key of each algorithm; a retired key stays published
// until ExpiresAt, when the last token it signed has expired.
type SigningKey struct {
	ID        string          // the kid
	Alg       string          // RS256, ES256 or EdDSA
	Public    json.RawMessage // the public JWK
	Private   []byte          // the PKCS#8 private key, sealed
	CreatedAt time.Time
	RetiredAt time.Time
	ExpiresAt time.Time
}

// Avatar is an account's picture as tether keeps it: fetched from the URL
// an upstream provider gave (Source), its media type sniffed. A failed
// fetch is kept with no Type, so it is not retried at every request.
type Avatar struct {
	UserID    string
	Source    string
	Type      string
	Data      []byte
	FetchedAt time.Time
}
