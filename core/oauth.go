package core

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"hash"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// This file is tether's OpenID Provider (SPEC §8): apps send their users
// to tether's authorization endpoint, tether signs them in (with a
// password or any upstream provider, every linked identity leading to the
// same account), asks for consent where the app wants it, and hands the
// app a code, which it redeems for an ID token, an access token and, with
// offline_access, a refresh token. Package op speaks the protocol over
// HTTP; the rules are here.

// CodeTTL is how long an authorization code lives.
const CodeTTL = 60 * time.Second

// Errors of the authorization endpoint. The first two are shown on a page
// and never sent to the redirect URI, which cannot be trusted then; the
// others go back to the app. Reason is the OAuth error code where it is
// more precise than Code's.
var (
	ErrUnknownClient       = &Error{Code: CodeInvalid, Reason: "unknown_client", Message: "Unknown client"}
	ErrRedirectURI         = &Error{Code: CodeInvalid, Reason: "redirect_uri", Message: "The redirect URI is not registered for this client"}
	ErrResponseType        = &Error{Code: CodeInvalid, Reason: "unsupported_response_type", Message: "Only response_type=code is supported"}
	ErrScopeOpenID         = &Error{Code: CodeInvalid, Reason: "invalid_scope", Message: "The scope must include openid"}
	ErrRequestObject       = &Error{Code: CodeInvalid, Reason: "request_not_supported", Message: "Request objects are not supported"}
	ErrRequestURI          = &Error{Code: CodeInvalid, Reason: "request_uri_not_supported", Message: "request_uri is not supported"}
	ErrPKCERequired        = &Error{Code: CodeInvalid, Reason: "invalid_request", Message: "A public client must use PKCE (code_challenge with S256)"}
	ErrLoginRequired       = &Error{Code: CodeLoginRequired, Message: "The person must sign in"}
	ErrConsentRequired     = &Error{Code: CodeConsentRequired, Message: "The person must consent"}
	ErrAccessDenied        = &Error{Code: CodeAccessDenied, Message: "The person did not allow the app"}
	ErrScopeNotGranted     = &Error{Code: CodeInvalid, Reason: "invalid_scope", Message: "The scope asked for was not granted"}
	ErrNotThisClientsToken = &Error{Code: CodeInvalid, Reason: "unauthorized_client", Message: "The token was not issued to this client"}
)

// AuthRequest is an app's authorization request, checked. Between the
// authorization endpoint, the sign-in page and the consent page it is
// carried sealed (SealAuthRequest), so that no instance has to remember
// it and the browser cannot change it.
type AuthRequest struct {
	ClientID      string   `json:"c"`
	RedirectURI   string   `json:"r"`
	Scopes        []string `json:"s"`
	State         string   `json:"st,omitempty"`
	Nonce         string   `json:"n,omitempty"`
	CodeChallenge string   `json:"cc,omitempty"` // S256
	Prompt        []string `json:"p,omitempty"`  // none, login, consent
	MaxAge        int      `json:"m"`            // seconds; -1 when not sent
	LoginHint     string   `json:"lh,omitempty"`
	IDPHint       string   `json:"ih,omitempty"`
	UILocales     string   `json:"ul,omitempty"`
	// IssuedAt is when the app sent the request. prompt=login is met by a
	// sign-in after it.
	IssuedAt time.Time `json:"t"`
}

// ShownNotSent reports whether an authorization request's error must be
// shown to the person rather than sent to the app: the client or its
// redirect URI is unknown, so the redirect URI cannot be trusted.
func ShownNotSent(err error) bool {
	r := ErrorReason(err)
	return r == ErrUnknownClient.Reason || r == ErrRedirectURI.Reason
}

// HasPrompt reports whether the request carries prompt value p.
func (r AuthRequest) HasPrompt(p string) bool { return slices.Contains(r.Prompt, p) }

// ParseAuthRequest checks an authorization request (OpenID Connect Core
// §3.1.2.1, RFC 6749 §4.1.1, RFC 7636, RFC 9700) and returns it with its
// app. ErrUnknownClient and ErrRedirectURI must be shown to the person;
// any other error goes back to req.RedirectURI, which is then known good.
func (s *Service) ParseAuthRequest(q url.Values) (AuthRequest, App, error) {
	req := AuthRequest{ClientID: q.Get("client_id"), RedirectURI: q.Get("redirect_uri"), State: q.Get("state"), MaxAge: -1, IssuedAt: s.now()}
	app, ok := s.App(req.ClientID)
	if !ok {
		return req, App{}, ErrUnknownClient
	}
	if req.RedirectURI == "" || !app.AllowsRedirect(req.RedirectURI) {
		return req, app, ErrRedirectURI
	}
	for _, p := range []string{"client_id", "redirect_uri", "response_type", "scope", "state", "nonce", "code_challenge", "code_challenge_method", "prompt", "max_age", "login_hint"} {
		if len(q[p]) > 1 {
			return req, app, Invalid(p, "%s is repeated", p)
		}
	}
	switch {
	case q.Has("request"):
		return req, app, ErrRequestObject
	case q.Has("request_uri"):
		return req, app, ErrRequestURI
	case q.Get("response_type") != "code":
		return req, app, ErrResponseType
	}
	if m := q.Get("response_mode"); m != "" && m != "query" {
		return req, app, Invalid("response_mode", "Only response_mode=query is supported")
	}
	req.Scopes = ParseScopes(q.Get("scope"))
	if !slices.Contains(req.Scopes, ScopeOpenID) {
		return req, app, ErrScopeOpenID
	}
	req.Nonce = q.Get("nonce")
	switch method := q.Get("code_challenge_method"); {
	case q.Get("code_challenge") == "" && app.Public():
		return req, app, ErrPKCERequired
	case q.Get("code_challenge") == "":
	case method != "S256":
		return req, app, Invalid("code_challenge_method", "Only code_challenge_method=S256 is supported")
	case !validChallenge(q.Get("code_challenge")):
		return req, app, Invalid("code_challenge", "The code_challenge is not a base64url SHA-256")
	default:
		req.CodeChallenge = q.Get("code_challenge")
	}
	for _, p := range strings.Fields(q.Get("prompt")) {
		switch p {
		case "none", "login", "consent":
			if !slices.Contains(req.Prompt, p) {
				req.Prompt = append(req.Prompt, p)
			}
		case "select_account":
			// One account per browser: choosing one is signing in again.
			req.Prompt = append(req.Prompt, "login")
		default:
			return req, app, Invalid("prompt", "Unknown prompt value %q", p)
		}
	}
	if req.HasPrompt("none") && len(req.Prompt) > 1 {
		return req, app, Invalid("prompt", "prompt=none cannot be combined with other values")
	}
	if v := q.Get("max_age"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return req, app, Invalid("max_age", "max_age must be a number of seconds")
		}
		req.MaxAge = n
	}
	req.LoginHint = clip(q.Get("login_hint"), 254)
	if h := q.Get("idp_hint"); h != "" {
		if p, ok := s.byID[h]; ok && p.Enabled && app.Offers(h) {
			req.IDPHint = h
		}
	}
	req.UILocales = clip(q.Get("ui_locales"), 64)
	return req, app, nil
}

// validChallenge reports whether c is what S256 makes: 43 base64url
// characters (RFC 7636 §4.2 allows 43 to 128; S256's is always 43).
func validChallenge(c string) bool {
	b, err := base64.RawURLEncoding.DecodeString(c)
	return err == nil && len(b) == sha256.Size
}

// SealAuthRequest returns r sealed for a URL or a form field.
func (s *Service) SealAuthRequest(r AuthRequest) (string, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return "", internal(err)
	}
	sealed, err := s.box.Seal(b, []byte("tether authorization request"))
	if err != nil {
		return "", internal(err)
	}
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

// OpenAuthRequest opens what SealAuthRequest made. A request older than
// the flow lifetime is refused, as a flow would be.
func (s *Service) OpenAuthRequest(sealed string) (AuthRequest, App, error) {
	var r AuthRequest
	b, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil {
		return r, App{}, ErrFlowNotFound
	}
	plain, err := s.box.Open(b, []byte("tether authorization request"))
	if err != nil || json.Unmarshal(plain, &r) != nil {
		return r, App{}, ErrFlowNotFound
	}
	if s.now().Sub(r.IssuedAt) > s.opts.FlowTTL {
		return r, App{}, ErrFlowNotFound
	}
	app, ok := s.App(r.ClientID)
	if !ok || !app.AllowsRedirect(r.RedirectURI) {
		return r, App{}, ErrUnknownClient // the configuration changed meanwhile
	}
	return r, app, nil
}

// BrowserSession is the tether session of the browser an authorization
// request came from.
type BrowserSession struct {
	User      User
	SessionID string
	AuthTime  time.Time
	AMR       string
}

// AuthorizeStep is what an authorization request needs next.
type AuthorizeStep int

const (
	// StepLogin: the person must sign in (again) at tether.
	StepLogin AuthorizeStep = iota
	// StepConsent: the person must allow the app Scopes.
	StepConsent
	// StepRedirect: done; send the browser to Location.
	StepRedirect
)

// Consent is the person's answer on the consent page, if they gave one.
type ConsentAnswer int

const (
	ConsentNotAsked ConsentAnswer = iota
	ConsentApproved
	ConsentDenied
)

// AuthorizeResult is the outcome of Authorize.
type AuthorizeResult struct {
	Step AuthorizeStep
	// Scopes are what the consent page asks for.
	Scopes []string
	// Location is the redirect URI with the code, or with the error, the
	// state and tether's issuer (RFC 9207).
	Location string
}

// Authorize decides an authorization request for the browser's session b
// (nil when signed out), given the person's answer on the consent page.
// When the request is done it issues the code: one write, with the
// consent given and the audit event. Errors that belong to the app
// (login_required, consent_required, access_denied) come back as a
// StepRedirect to the redirect URI, not as an error.
func (s *Service) Authorize(ctx context.Context, req AuthRequest, app App, b *BrowserSession, answer ConsentAnswer, c Client) (AuthorizeResult, error) {
	now := s.now()
	none := req.HasPrompt("none")
	// prompt=login and max_age are measured at the request (auth_time has
	// whole seconds): a sign-in made for this request meets both, however
	// long it took, where measuring max_age from now would send the
	// person back to the sign-in form again and again (max_age=0).
	asked := req.IssuedAt.Truncate(time.Second)
	needLogin := b == nil ||
		req.HasPrompt("login") && b.AuthTime.Before(asked) ||
		req.MaxAge >= 0 && asked.Sub(b.AuthTime) > time.Duration(req.MaxAge)*time.Second
	if needLogin {
		if none {
			return s.AuthorizeError(req, ErrLoginRequired), nil
		}
		return AuthorizeResult{Step: StepLogin}, nil
	}
	if err := b.User.CheckCanSignIn(); err != nil {
		return s.AuthorizeError(req, ErrAccessDenied), nil
	}
	if answer == ConsentDenied {
		s.record(ctx, Event{UserID: b.User.ID, Kind: EventAppConsent, ClientID: app.ID, Detail: string(CodeAccessDenied)}, c)
		return s.AuthorizeError(req, ErrAccessDenied), nil
	}
	saveConsent := false
	if app.Consent && answer != ConsentApproved {
		granted, err := s.store.GetConsent(ctx, b.User.ID, app.ID)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return AuthorizeResult{}, internal(err)
		}
		if req.HasPrompt("consent") || !covers(granted.Scopes, req.Scopes) {
			if none {
				return s.AuthorizeError(req, ErrConsentRequired), nil
			}
			return AuthorizeResult{Step: StepConsent, Scopes: req.Scopes}, nil
		}
	} else if app.Consent {
		saveConsent = true
	}

	code := randomToken(32)
	ac := AuthCode{
		Hash:          Hash(code),
		ClientID:      app.ID,
		RedirectURI:   req.RedirectURI,
		UserID:        b.User.ID,
		Scopes:        req.Scopes,
		Nonce:         req.Nonce,
		CodeChallenge: req.CodeChallenge,
		AuthTime:      b.AuthTime,
		AMR:           b.AMR,
		CreatedAt:     now,
		ExpiresAt:     now.Add(CodeTTL),
		SessionID:     uuid.NewString(),
		Browser:       b.SessionID,
	}
	err := s.store.Update(ctx, func(q Queries) error {
		if saveConsent {
			if err := q.SaveConsent(ctx, Consent{UserID: b.User.ID, ClientID: app.ID, Scopes: req.Scopes, GrantedAt: now}); err != nil {
				return err
			}
			if err := q.RecordEvent(ctx, s.event(Event{UserID: b.User.ID, Kind: EventAppConsent, ClientID: app.ID, Success: true, Detail: strings.Join(req.Scopes, " ")}, c)); err != nil {
				return err
			}
		}
		if err := q.CreateAuthCode(ctx, ac); err != nil {
			return err
		}
		return q.RecordEvent(ctx, s.event(Event{UserID: b.User.ID, Kind: EventAppAuthorize, ClientID: app.ID, Success: true}, c))
	})
	if err != nil {
		return AuthorizeResult{}, internal(err)
	}
	return AuthorizeResult{Step: StepRedirect, Location: s.redirectTo(req, url.Values{"code": {code}})}, nil
}

// AuthorizeError answers an authorization request with err at its
// redirect URI (RFC 6749 §4.1.2.1).
func (s *Service) AuthorizeError(req AuthRequest, err error) AuthorizeResult {
	v := url.Values{"error": {OAuthError(err)}}
	if d := ErrorMessage(err); d != "" {
		v.Set("error_description", d)
	}
	return AuthorizeResult{Step: StepRedirect, Location: s.redirectTo(req, v)}
}

// redirectTo is req's redirect URI with v, the state and the issuer added
// to its query.
func (s *Service) redirectTo(req AuthRequest, v url.Values) string {
	u, _ := url.Parse(req.RedirectURI) // checked against the app's
	q := u.Query()
	for k, vs := range v {
		q[k] = vs
	}
	if req.State != "" {
		q.Set("state", req.State)
	}
	q.Set("iss", s.opts.Issuer)
	u.RawQuery = q.Encode()
	return u.String()
}

// OAuthError is the OAuth error code of err: its Reason when that names
// one, else by its Code.
func OAuthError(err error) string {
	switch r := ErrorReason(err); r {
	case "unsupported_response_type", "invalid_scope", "request_not_supported", "request_uri_not_supported",
		"invalid_request", "unauthorized_client", "unsupported_grant_type":
		return r
	}
	switch ErrorCode(err) {
	case CodeInvalid:
		return "invalid_request"
	case CodeLoginRequired:
		return "login_required"
	case CodeConsentRequired:
		return "consent_required"
	case CodeAccessDenied, CodeBanned, CodeInactive, CodeForbidden:
		return "access_denied"
	case CodeInvalidGrant, CodeInvalidCredential, CodeTokenReused:
		return "invalid_grant"
	case CodeInvalidClient:
		return "invalid_client"
	case CodeRateLimited:
		return "temporarily_unavailable"
	}
	return "server_error"
}

// AppTokens is what a token request gets.
type AppTokens struct {
	AccessToken  string
	IDToken      string
	RefreshToken string // "" without offline_access
	ExpiresIn    int    // seconds of the access token
	Scopes       []string
}

// ExchangeCode redeems an authorization code (RFC 6749 §4.1.3) for app:
// one write that uses the code up, starts the app's session (with a
// refresh token when offline_access was granted) and records the event.
// A code used before revokes what it gave the first time; a code of
// another client, redirect URI or code verifier is used up all the same.
func (s *Service) ExchangeCode(ctx context.Context, app App, code, redirectURI, verifier string, c Client) (AppTokens, error) {
	if code == "" {
		return AppTokens{}, Invalid("code", "code is required")
	}
	now := s.now()
	var ac AuthCode
	var u User
	var ses Session
	var first RefreshToken
	var refresh string
	var refused error
	err := s.store.Update(ctx, func(q Queries) error {
		var err error
		ac, err = q.UseAuthCode(ctx, Hash(code), now)
		if errors.Is(err, ErrCodeReused) {
			refused = err // commit the revocation, then report
			return q.RecordEvent(ctx, s.event(Event{UserID: ac.UserID, Kind: EventAppReused, ClientID: app.ID, Detail: "code_reused"}, c))
		}
		if err != nil {
			return err
		}
		// A refused code is used up all the same, with its event.
		failed := func(why error) error {
			return q.RecordEvent(ctx, s.event(Event{UserID: ac.UserID, Kind: EventAppSignIn, ClientID: app.ID, Detail: string(ErrorCode(why))}, c))
		}
		if refused = checkCode(ac, app, redirectURI, verifier); refused != nil {
			return failed(refused)
		}
		if u, err = q.GetUser(ctx, ac.UserID); err != nil {
			return err
		}
		if err := u.CheckCanSignIn(); err != nil {
			refused = ErrInvalidGrant
			return failed(err)
		}
		ses = Session{
			ID: ac.SessionID, UserID: u.ID, ClientID: app.ID, Scopes: ac.Scopes, Method: methodOf(ac.AMR),
			AuthTime: ac.AuthTime, AMR: ac.AMR, Nonce: ac.Nonce, Parent: ac.Browser, CheckedAt: now, CreatedAt: now, LastUsedAt: now,
			LastIP: c.IP, UserAgent: c.UserAgent, ExpiresAt: now.Add(s.opts.AccessTTL),
		}
		if parent, err := q.GetSession(ctx, ac.Browser); err == nil {
			ses.Identity = parent.Identity // which upstream account, for the account page
		}
		if slices.Contains(ac.Scopes, ScopeOfflineAccess) {
			refresh = randomToken(32)
			ses.ExpiresAt = now.Add(s.opts.RefreshTTL)
			first = RefreshToken{Hash: Hash(refresh), ChainID: ses.ID, UserID: u.ID, CreatedAt: now, ExpiresAt: ses.ExpiresAt}
		}
		if err := q.CreateSession(ctx, ses, first); err != nil {
			return err
		}
		return q.RecordEvent(ctx, s.event(Event{UserID: u.ID, Kind: EventAppSignIn, Method: ses.Method, ClientID: app.ID, Success: true}, c))
	})
	if err != nil {
		if errors.Is(err, ErrInvalidGrant) {
			return AppTokens{}, ErrInvalidGrant
		}
		return AppTokens{}, internal(err)
	}
	if refused != nil {
		return AppTokens{}, refused
	}
	return s.appTokens(ctx, app, u, ses, refresh)
}

// checkCode checks a code against the token request that redeems it.
func checkCode(ac AuthCode, app App, redirectURI, verifier string) error {
	switch {
	case ac.ClientID != app.ID:
		return ErrInvalidGrant
	case ac.RedirectURI != redirectURI:
		return ErrInvalidGrant
	case ac.CodeChallenge == "" && verifier != "":
		// A verifier without a challenge: the request that asked for the
		// code did not come from the one redeeming it (RFC 9700 §4.8.2).
		return ErrInvalidGrant
	case ac.CodeChallenge != "" && !pkceS256(verifier, ac.CodeChallenge):
		return ErrInvalidGrant
	}
	return nil
}

// pkceS256 checks a code verifier against an S256 challenge (RFC 7636).
func pkceS256(verifier, challenge string) bool {
	if len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	return subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(challenge)) == 1
}

func methodOf(amr string) Method {
	if amr == AMRFederated {
		return MethodOpenID
	}
	return MethodPassword
}

// RefreshApp exchanges an app's refresh token (RFC 6749 §6), with the
// rotation and reuse detection of every tether session. scope may narrow
// the session's scopes for the new access token. The token must be the
// app's.
func (s *Service) RefreshApp(ctx context.Context, app App, refresh, scope string, c Client) (AppTokens, error) {
	if refresh == "" {
		return AppTokens{}, Invalid("refresh_token", "refresh_token is required")
	}
	now := s.now()
	hash := Hash(refresh)
	old, err := s.store.GetRefreshToken(ctx, hash)
	if errors.Is(err, ErrInvalidToken) {
		return AppTokens{}, ErrInvalidGrant
	}
	if err != nil {
		return AppTokens{}, internal(err)
	}
	ses, err := s.store.GetSession(ctx, old.ChainID)
	if err != nil {
		return AppTokens{}, internal(err)
	}
	if ses.ClientID != app.ID {
		return AppTokens{}, ErrInvalidGrant // another app's, or tether's own
	}
	unused := old.UsedAt.IsZero()
	if unused && (!old.RevokedAt.IsZero() || !now.Before(old.ExpiresAt)) {
		return AppTokens{}, ErrInvalidGrant
	}
	scopes := ses.Scopes
	if scope != "" {
		scopes = ParseScopes(scope)
		if !covers(ses.Scopes, scopes) || len(scopes) == 0 {
			return AppTokens{}, ErrScopeNotGranted
		}
	}
	u, err := s.store.GetUser(ctx, ses.UserID)
	if err == nil {
		err = u.CheckCanSignIn()
	}
	if err != nil && unused {
		_ = s.endSession(ctx, hash, now, err, Event{UserID: ses.UserID, Kind: EventAppRefresh, ClientID: app.ID}, c)
		return AppTokens{}, ErrInvalidGrant
	}
	// The upstream account behind the sign-in that authorized the app is
	// re-checked as the tether session's own refreshes re-check it: the
	// check runs on that session (which holds the upstream tokens, so one
	// grant at the provider has one owner), before the write.
	var parent Session
	var chk upstreamCheck
	if unused && ses.Parent != "" {
		parent, err = s.store.GetSession(ctx, ses.Parent)
		if err == nil && parent.RevokedAt.IsZero() && now.Before(parent.ExpiresAt) {
			if chk, err = s.recheck(ctx, parent, c); errors.Is(err, ErrUpstreamRevoked) {
				_ = s.endSession(ctx, hash, now, err, Event{UserID: ses.UserID, Kind: EventAppRefresh, ClientID: app.ID}, c)
				return AppTokens{}, ErrInvalidGrant
			}
			if err != nil {
				return AppTokens{}, err
			}
		}
	}
	next := randomToken(32)
	reused := false
	err = s.store.Update(ctx, func(q Queries) error {
		_, err := q.RotateRefreshToken(ctx, hash, now, func(RefreshToken) RefreshToken {
			return RefreshToken{Hash: Hash(next), CreatedAt: now, ExpiresAt: now.Add(s.opts.RefreshTTL)}
		})
		if errors.Is(err, ErrTokenReused) {
			reused = true
			return q.RecordEvent(ctx, s.event(Event{UserID: ses.UserID, Kind: EventAppReused, ClientID: app.ID, Detail: string(CodeTokenReused)}, c))
		}
		if err != nil {
			return err
		}
		if ses.LastIP != c.IP || ses.UserAgent != c.UserAgent {
			ses.LastUsedAt, ses.LastIP, ses.UserAgent = now, c.IP, c.UserAgent
			if err := q.UpdateSession(ctx, ses); err != nil {
				return err
			}
		}
		if chk.changed() {
			if err := chk.save(ctx, q, parent); err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
		}
		return q.RecordEvent(ctx, s.event(Event{UserID: ses.UserID, Kind: EventAppRefresh, ClientID: app.ID, Success: true}, c))
	})
	if err != nil {
		if errors.Is(err, ErrInvalidToken) {
			return AppTokens{}, ErrInvalidGrant
		}
		return AppTokens{}, internal(err)
	}
	if reused {
		s.log.WarnContext(ctx, "app refresh token reused; session revoked", "user", ses.UserID, "app", app.ID, "session", ses.ID)
		return AppTokens{}, ErrAppTokenReused
	}
	ses.Scopes = scopes
	return s.appTokens(ctx, app, u, ses, next)
}

// accessClaims are the claims of an app's access token: an RFC 9068 JWT
// that the app's API can check offline against the JWKS.
type accessClaims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience []string `json:"aud"`
	ClientID string   `json:"client_id"`
	Expiry   int64    `json:"exp"`
	IssuedAt int64    `json:"iat"`
	AuthTime int64    `json:"auth_time,omitempty"`
	ID       string   `json:"jti"`
	Scope    string   `json:"scope"`
	Session  string   `json:"sid"`
}

// appTokens signs the access token and the ID token of ses.
func (s *Service) appTokens(ctx context.Context, app App, u User, ses Session, refresh string) (AppTokens, error) {
	now := s.now()
	exp := now.Add(s.opts.AccessTTL)
	at := accessClaims{
		Issuer: s.opts.Issuer, Subject: u.ID, Audience: []string{app.ID}, ClientID: app.ID,
		Expiry: exp.Unix(), IssuedAt: now.Unix(), AuthTime: ses.AuthTime.Unix(),
		ID: randomToken(16), Scope: strings.Join(ses.Scopes, " "), Session: ses.ID,
	}
	access, err := s.sign(ctx, s.opts.AccessTokenAlg, "at+jwt", at)
	if err != nil {
		return AppTokens{}, err
	}
	claims := map[string]any{
		"iss": s.opts.Issuer, "sub": u.ID, "aud": app.ID, "azp": app.ID,
		"exp": exp.Unix(), "iat": now.Unix(), "auth_time": ses.AuthTime.Unix(),
		"at_hash": halfHash(app.IDTokenAlg, access), "sid": ses.ID,
	}
	if ses.AMR != "" {
		claims["amr"] = []string{ses.AMR}
	}
	if ses.Nonce != "" {
		claims["nonce"] = ses.Nonce
	}
	for k, v := range userClaims(s.opts.Issuer, u, ses.Scopes) {
		claims[k] = v
	}
	id, err := s.sign(ctx, app.IDTokenAlg, "JWT", claims)
	if err != nil {
		return AppTokens{}, err
	}
	return AppTokens{AccessToken: access, IDToken: id, RefreshToken: refresh, ExpiresIn: int(s.opts.AccessTTL / time.Second), Scopes: ses.Scopes}, nil
}

// userClaims are the claims about the person that the scopes allow.
func userClaims(issuer string, u User, scopes []string) map[string]any {
	c := map[string]any{}
	if slices.Contains(scopes, ScopeEmail) && !strings.HasSuffix(u.Email, "@"+PlaceholderEmailDomain) {
		c["email"], c["email_verified"] = u.Email, u.EmailVerified
	}
	if slices.Contains(scopes, ScopeProfile) {
		c["name"] = u.Nickname
		if u.Avatar != "" {
			// tether's copy: an app need not reach the upstream's server,
			// nor learn where the picture came from.
			c["picture"] = issuer + "/api/v4/user/avatar/" + url.PathEscape(u.ID)
		}
		if u.Language != "" {
			c["locale"] = u.Language
		}
	}
	return c
}

// halfHash is the left half of the hash of token, base64url: at_hash
// (OpenID Connect Core §3.1.3.6), with the hash of the ID token's
// algorithm; SHA-512 for EdDSA over Ed25519.
func halfHash(alg, token string) string {
	var h hash.Hash = sha256.New()
	if alg == "EdDSA" {
		h = sha512.New()
	}
	h.Write([]byte(token))
	sum := h.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

// accessToken checks an access token tether issued: signature, type,
// issuer, expiry, and that neither it nor its session was revoked.
func (s *Service) accessToken(ctx context.Context, token string) (accessClaims, error) {
	var c accessClaims
	payload, err := s.verify(ctx, token, "at+jwt")
	if err != nil {
		return c, err
	}
	now := s.now()
	if json.Unmarshal(payload, &c) != nil || c.Issuer != s.opts.Issuer || now.Unix() >= c.Expiry || c.Session == "" || c.ID == "" {
		return c, ErrInvalidToken
	}
	if err := s.store.CheckAccessToken(ctx, c.Session, c.ID, now); err != nil {
		return c, internal(err)
	}
	return c, nil
}

// UserInfo returns the claims about the person that an access token's
// scopes allow (OpenID Connect Core §5.3). ErrInvalidToken for a token
// that is not good, revoked, or whose person may not sign in.
func (s *Service) UserInfo(ctx context.Context, token string) (map[string]any, error) {
	c, err := s.accessToken(ctx, token)
	if err != nil {
		return nil, err
	}
	u, err := s.store.GetUser(ctx, c.Subject)
	if err == nil {
		err = u.CheckCanSignIn()
	}
	if err != nil {
		return nil, ErrInvalidToken
	}
	claims := userClaims(s.opts.Issuer, u, strings.Fields(c.Scope))
	claims["sub"] = u.ID
	return claims, nil
}

// Introspect describes a token of app's (RFC 7662): an access token or a
// refresh token. Anything else, including another app's token, is
// inactive.
func (s *Service) Introspect(ctx context.Context, app App, token string) (map[string]any, error) {
	inactive := map[string]any{"active": false}
	if strings.Count(token, ".") == 2 {
		c, err := s.accessToken(ctx, token)
		if ErrorCode(err) == CodeInternal {
			return nil, err
		}
		if err != nil || c.ClientID != app.ID {
			return inactive, nil
		}
		if u, err := s.store.GetUser(ctx, c.Subject); err != nil || u.CheckCanSignIn() != nil {
			return inactive, nil
		}
		return map[string]any{
			"active": true, "token_type": "Bearer", "scope": c.Scope, "client_id": c.ClientID, "sub": c.Subject,
			"exp": c.Expiry, "iat": c.IssuedAt, "iss": c.Issuer, "aud": c.Audience, "jti": c.ID, "sid": c.Session,
		}, nil
	}
	rt, err := s.store.GetRefreshToken(ctx, Hash(token))
	if errors.Is(err, ErrInvalidToken) {
		return inactive, nil
	}
	if err != nil {
		return nil, internal(err)
	}
	now := s.now()
	if !rt.UsedAt.IsZero() || !rt.RevokedAt.IsZero() || !now.Before(rt.ExpiresAt) {
		return inactive, nil
	}
	ses, err := s.store.GetSession(ctx, rt.ChainID)
	if err != nil || ses.ClientID != app.ID {
		return inactive, nil
	}
	if u, err := s.store.GetUser(ctx, ses.UserID); err != nil || u.CheckCanSignIn() != nil {
		return inactive, nil
	}
	return map[string]any{
		"active": true, "token_type": "refresh_token", "scope": strings.Join(ses.Scopes, " "), "client_id": app.ID,
		"sub": ses.UserID, "exp": rt.ExpiresAt.Unix(), "iat": rt.CreatedAt.Unix(), "iss": s.opts.Issuer, "sid": ses.ID,
	}, nil
}

// RevokeToken ends a token of app's (RFC 7009): a refresh token ends its
// session, and with it every access token issued in it; an access token
// ends alone. Tokens that are unknown or no longer valid need nothing.
func (s *Service) RevokeToken(ctx context.Context, app App, token string, c Client) error {
	if strings.Count(token, ".") == 2 {
		payload, err := s.verify(ctx, token, "at+jwt")
		if ErrorCode(err) == CodeInternal {
			return err
		}
		var at accessClaims
		if err != nil || json.Unmarshal(payload, &at) != nil || at.Issuer != s.opts.Issuer {
			return nil
		}
		if at.ClientID != app.ID {
			return ErrNotThisClientsToken
		}
		if time.Unix(at.Expiry, 0).Before(s.now()) {
			return nil
		}
		return internal(s.store.Update(ctx, func(q Queries) error {
			if err := q.RevokeAccessToken(ctx, at.ID, time.Unix(at.Expiry, 0)); err != nil {
				return err
			}
			return q.RecordEvent(ctx, s.event(Event{UserID: at.Subject, Kind: EventAppTokenRevoked, ClientID: app.ID, Success: true, Detail: "access_token"}, c))
		}))
	}
	hash := Hash(token)
	rt, err := s.store.GetRefreshToken(ctx, hash)
	if errors.Is(err, ErrInvalidToken) {
		return nil
	}
	if err != nil {
		return internal(err)
	}
	ses, err := s.store.GetSession(ctx, rt.ChainID)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return internal(err)
	}
	if ses.ClientID != app.ID {
		return ErrNotThisClientsToken
	}
	return internal(s.store.Update(ctx, func(q Queries) error {
		if _, err := q.RevokeRefreshChain(ctx, hash, s.now()); err != nil {
			return err
		}
		return q.RecordEvent(ctx, s.event(Event{UserID: ses.UserID, Kind: EventAppTokenRevoked, ClientID: app.ID, Success: true, Detail: "refresh_token"}, c))
	}))
}

// IDTokenHint is what an ID token tether issued says about a sign-out
// request (OpenID Connect RP-Initiated Logout 1.0 §2).
type IDTokenHint struct {
	ClientID string
	UserID   string
	Session  string
}

// CheckIDTokenHint verifies an ID token tether issued to one of its apps.
// It may have expired: a sign-out often comes long after the sign-in.
func (s *Service) CheckIDTokenHint(ctx context.Context, token string) (IDTokenHint, error) {
	payload, err := s.verify(ctx, token, "JWT")
	if err != nil {
		return IDTokenHint{}, err
	}
	var c struct {
		Issuer   string `json:"iss"`
		Subject  string `json:"sub"`
		Audience any    `json:"aud"`
		AZP      string `json:"azp"`
		Session  string `json:"sid"`
	}
	if json.Unmarshal(payload, &c) != nil || c.Issuer != s.opts.Issuer || c.AZP == "" {
		return IDTokenHint{}, ErrInvalidToken
	}
	if _, ok := s.App(c.AZP); !ok {
		return IDTokenHint{}, ErrInvalidToken
	}
	return IDTokenHint{ClientID: c.AZP, UserID: c.Subject, Session: c.Session}, nil
}

// AppAccess is an app a person allowed, or that holds a session of
// theirs, for the account page's "Apps with access".
type AppAccess struct {
	App       App
	Scopes    []string  // granted
	GrantedAt time.Time // zero for an app that asks no consent
	LastUsed  time.Time
	Sessions  int
}

// AppsWithAccess lists the apps that hold the person's consent or a live
// session, most recently used first.
func (s *Service) AppsWithAccess(ctx context.Context, userID string) ([]AppAccess, error) {
	consents, err := s.store.ListConsents(ctx, userID)
	if err != nil {
		return nil, internal(err)
	}
	sessions, err := s.store.ListSessions(ctx, userID, s.now())
	if err != nil {
		return nil, internal(err)
	}
	byApp := map[string]*AppAccess{}
	var order []string
	get := func(clientID string) *AppAccess {
		a, ok := byApp[clientID]
		if !ok {
			app, known := s.App(clientID)
			if !known {
				app = App{ID: clientID, Name: clientID}
			}
			a = &AppAccess{App: app}
			byApp[clientID] = a
			order = append(order, clientID)
		}
		return a
	}
	for _, c := range consents {
		a := get(c.ClientID)
		a.Scopes, a.GrantedAt = c.Scopes, c.GrantedAt
		a.LastUsed = c.GrantedAt
	}
	for _, ses := range sessions {
		if ses.ClientID == "" {
			continue
		}
		a := get(ses.ClientID)
		a.Sessions++
		if ses.LastUsedAt.After(a.LastUsed) {
			a.LastUsed = ses.LastUsedAt
		}
		if a.GrantedAt.IsZero() {
			a.Scopes = ses.Scopes
		}
	}
	out := make([]AppAccess, 0, len(order))
	for _, id := range order {
		out = append(out, *byApp[id])
	}
	slices.SortStableFunc(out, func(a, b AppAccess) int { return b.LastUsed.Compare(a.LastUsed) })
	return out, nil
}

// RevokeApp takes an app's access away from a person: their consent is
// forgotten and the app's sessions end, refresh tokens and access tokens
// with them, in one write.
func (s *Service) RevokeApp(ctx context.Context, userID, clientID string, c Client) error {
	return internal(s.store.Update(ctx, func(q Queries) error {
		if err := q.DeleteConsent(ctx, userID, clientID); err != nil {
			return err
		}
		if err := q.RevokeClientSessions(ctx, userID, clientID, s.now()); err != nil {
			return err
		}
		return q.RecordEvent(ctx, s.event(Event{UserID: userID, Kind: EventAppRevoked, ClientID: clientID, Success: true}, c))
	}))
}
