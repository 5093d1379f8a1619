package demo

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// storage is the OP's op.Storage: one client, a fixed list of users, and
// authorization requests, codes and tokens in memory. The op package reads
// the requests it is handed without locking, so it only ever gets copies.
type storage struct {
	client        *client
	users         []User
	byName        map[string]*User
	key           *signingKey
	redirectBases map[string]bool // RedirectURIs without their query

	mu       sync.Mutex
	requests map[string]*authRequest
	codes    map[string]string // code → authorization request id
	access   map[string]*accessToken
	refresh  map[string]*refreshToken
}

var (
	_ op.Storage                   = (*storage)(nil)
	_ op.CanSetUserinfoFromRequest = (*storage)(nil)
)

var (
	errNotFound     = errors.New("not found or expired")
	errWrongSecret  = errors.New("unknown client or wrong secret")
	errUnknownUser  = errors.New("unknown user")
	errUnsupported  = errors.New("not supported by the demo provider")
	errTokenRequest = errors.New("unexpected token request")
)

func newStorage(cfg Config, loginPath string) (*storage, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generating the signing key: %w", err)
	}
	s := &storage{
		client: &client{
			id:             cfg.ClientID,
			secret:         cfg.ClientSecret,
			redirectURIs:   slices.Clone(cfg.RedirectURIs),
			postLogoutURIs: slices.Clone(cfg.PostLogoutRedirectURIs),
			loginPath:      loginPath,
		},
		users:         slices.Clone(cfg.Users),
		byName:        make(map[string]*User, len(cfg.Users)),
		key:           &signingKey{id: rand.Text(), key: key},
		redirectBases: make(map[string]bool, len(cfg.RedirectURIs)),
		requests:      make(map[string]*authRequest),
		codes:         make(map[string]string),
		access:        make(map[string]*accessToken),
		refresh:       make(map[string]*refreshToken),
	}
	for i := range s.users {
		s.byName[s.users[i].Username] = &s.users[i]
	}
	for _, raw := range cfg.RedirectURIs {
		u, err := url.Parse(raw)
		if err != nil {
			return nil, err
		}
		s.redirectBases[withoutQuery(u)] = true
	}
	return s, nil
}

func (s *storage) isRedirectURI(withoutQuery string) bool { return s.redirectBases[withoutQuery] }

func (s *storage) user(username string) (User, bool) {
	u, ok := s.byName[username]
	if !ok {
		return User{}, false
	}
	return *u, true
}

// checkPassword reports whether username exists and password is theirs.
func (s *storage) checkPassword(username, password string) (User, bool) {
	u, ok := s.user(username)
	if !ok {
		return User{}, false
	}
	return u, subtle.ConstantTimeCompare([]byte(u.Password), []byte(password)) == 1
}

// purge drops what has expired. Callers hold s.mu.
func (s *storage) purge(now time.Time) {
	for id, r := range s.requests {
		if now.Sub(r.created) > authRequestTTL {
			delete(s.requests, id)
		}
	}
	for code, id := range s.codes {
		if s.requests[id] == nil {
			delete(s.codes, code)
		}
	}
	for id, t := range s.access {
		if now.After(t.expires) {
			delete(s.access, id)
		}
	}
	for tok, t := range s.refresh {
		if now.After(t.expires) {
			delete(s.refresh, tok)
		}
	}
}

// CreateAuthRequest stores a validated authorization request. The op package
// has already checked the client and the redirect URI, so an error here is
// sent back to the client as an error redirect. It enforces what the demo
// requires beyond the package: PKCE with S256, the openid scope, the query
// response mode, and a sign-in page (so no prompt=none).
func (s *storage) CreateAuthRequest(_ context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	switch {
	case req.CodeChallenge == "" || req.CodeChallengeMethod != oidc.CodeChallengeMethodS256:
		return nil, oidc.ErrInvalidRequest().WithDescription("PKCE is required: send a code_challenge with code_challenge_method=S256")
	case !slices.Contains(req.Scopes, oidc.ScopeOpenID):
		return nil, oidc.ErrInvalidScope().WithDescription("the openid scope is required")
	case req.ResponseMode != "" && req.ResponseMode != oidc.ResponseModeQuery:
		return nil, oidc.ErrInvalidRequest().WithDescription("only response_mode=query is supported")
	case slices.Contains(req.Prompt, oidc.PromptNone):
		return nil, oidc.ErrLoginRequired().WithDescription("the demo provider keeps no sessions: every sign-in shows its page")
	}
	now := time.Now()
	r := &authRequest{
		id:           rand.Text(),
		created:      now,
		clientID:     req.ClientID,
		redirectURI:  req.RedirectURI,
		state:        req.State,
		nonce:        req.Nonce,
		loginHint:    req.LoginHint,
		scopes:       slices.Clone(req.Scopes),
		responseType: req.ResponseType,
		responseMode: req.ResponseMode,
		challenge:    &oidc.CodeChallenge{Challenge: req.CodeChallenge, Method: req.CodeChallengeMethod},
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.purge(now)
	s.requests[r.id] = r
	return r.clone(), nil
}

func (s *storage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.liveRequest(id)
	if err != nil {
		return nil, err
	}
	return r.clone(), nil
}

// pendingRequest returns a copy of the authorization request id while it
// still waits for the user.
func (s *storage) pendingRequest(id string) (*authRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.liveRequest(id)
	if err != nil {
		return nil, err
	}
	if r.done {
		return nil, errNotFound
	}
	return r.clone(), nil
}

func (s *storage) liveRequest(id string) (*authRequest, error) {
	r, ok := s.requests[id]
	if !ok || time.Since(r.created) > authRequestTTL {
		return nil, errNotFound
	}
	return r, nil
}

// completeLogin marks the pending request id as signed in by username.
func (s *storage) completeLogin(id, username string) error {
	if _, ok := s.user(username); !ok {
		return errUnknownUser
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.liveRequest(id)
	if err != nil {
		return err
	}
	if r.done {
		return errNotFound
	}
	r.subject, r.authTime, r.done = username, time.Now(), true
	return nil
}

// AuthRequestByCode redeems code: a code is single use even when the token
// request then fails, as RFC 6749 §4.1.2 requires.
func (s *storage) AuthRequestByCode(_ context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.codes[code]
	if !ok {
		return nil, errNotFound
	}
	delete(s.codes, code)
	r, err := s.liveRequest(id)
	if err != nil || !r.done {
		return nil, errNotFound
	}
	return r.clone(), nil
}

func (s *storage) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.liveRequest(id); err != nil {
		return err
	}
	s.codes[code] = id
	return nil
}

func (s *storage) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.requests, id)
	for code, rid := range s.codes {
		if rid == id {
			delete(s.codes, code)
		}
	}
	return nil
}

func (s *storage) CreateAccessToken(_ context.Context, req op.TokenRequest) (string, time.Time, error) {
	clientID, err := tokenClientID(req)
	if err != nil {
		return "", time.Time{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.newAccessToken(clientID, req, "")
	return t.id, t.expires, nil
}

// CreateAccessAndRefreshTokens issues a refresh token with the access token.
// On a refresh (currentRefreshToken set) the old refresh token is consumed:
// refresh tokens rotate and are single use.
func (s *storage) CreateAccessAndRefreshTokens(_ context.Context, req op.TokenRequest, currentRefreshToken string) (string, string, time.Time, error) {
	clientID, err := tokenClientID(req)
	if err != nil {
		return "", "", time.Time{}, err
	}
	authTime, amr := time.Now(), []string(nil)
	if ar, ok := req.(*authRequest); ok {
		authTime, amr = ar.authTime, ar.GetAMR()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.purge(now)
	if currentRefreshToken != "" {
		old, ok := s.refresh[currentRefreshToken]
		if !ok || old.clientID != clientID {
			return "", "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("refresh token unknown, used or expired")
		}
		delete(s.refresh, currentRefreshToken)
		delete(s.access, old.accessTokenID)
		authTime, amr = old.authTime, old.amr
	}
	rt := &refreshToken{
		token:    rand.Text(),
		clientID: clientID,
		subject:  req.GetSubject(),
		scopes:   slices.Clone(req.GetScopes()),
		audience: slices.Clone(req.GetAudience()),
		amr:      amr,
		authTime: authTime,
		expires:  now.Add(refreshTokenTTL),
	}
	at := s.newAccessToken(clientID, req, rt.token)
	rt.accessTokenID = at.id
	s.refresh[rt.token] = rt
	return at.id, rt.token, at.expires, nil
}

// newAccessToken records an access token. Callers hold s.mu.
func (s *storage) newAccessToken(clientID string, req op.TokenRequest, refreshToken string) *accessToken {
	t := &accessToken{
		id:           rand.Text(),
		clientID:     clientID,
		subject:      req.GetSubject(),
		scopes:       slices.Clone(req.GetScopes()),
		audience:     slices.Clone(req.GetAudience()),
		refreshToken: refreshToken,
		expires:      time.Now().Add(accessTokenTTL),
	}
	s.access[t.id] = t
	return t
}

func tokenClientID(req op.TokenRequest) (string, error) {
	switch r := req.(type) {
	case *authRequest:
		return r.clientID, nil
	case *refreshTokenRequest:
		return r.clientID, nil
	}
	return "", errTokenRequest
}

func (s *storage) TokenRequestByRefreshToken(_ context.Context, token string) (op.RefreshTokenRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.refresh[token]
	if !ok || time.Now().After(t.expires) {
		return nil, errNotFound
	}
	return &refreshTokenRequest{refreshToken: *t, scopes: slices.Clone(t.scopes)}, nil
}

// TerminateSession revokes every token the client holds for the user.
func (s *storage) TerminateSession(_ context.Context, userID, clientID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, t := range s.access {
		if t.subject == userID && t.clientID == clientID {
			delete(s.access, id)
		}
	}
	for tok, t := range s.refresh {
		if t.subject == userID && t.clientID == clientID {
			delete(s.refresh, tok)
		}
	}
	return nil
}

// RevokeToken revokes an access token by id or a refresh token by value,
// and with a refresh token the access token issued beside it.
func (s *storage) RevokeToken(_ context.Context, tokenOrID, _, clientID string) *oidc.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.access[tokenOrID]; ok {
		if t.clientID != clientID {
			return oidc.ErrInvalidClient().WithDescription("the token was not issued to this client")
		}
		delete(s.access, tokenOrID)
		return nil
	}
	if t, ok := s.refresh[tokenOrID]; ok {
		if t.clientID != clientID {
			return oidc.ErrInvalidClient().WithDescription("the token was not issued to this client")
		}
		delete(s.refresh, tokenOrID)
		delete(s.access, t.accessTokenID)
	}
	return nil // RFC 7009: an unknown token is not an error
}

func (s *storage) GetRefreshTokenInfo(_ context.Context, _ string, token string) (string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.refresh[token]
	if !ok {
		return "", "", op.ErrInvalidRefreshToken
	}
	return t.subject, t.token, nil
}

func (s *storage) SigningKey(context.Context) (op.SigningKey, error) { return s.key, nil }

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{s.key.SignatureAlgorithm()}, nil
}

func (s *storage) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{publicKey{s.key}}, nil
}

func (s *storage) GetClientByClientID(_ context.Context, clientID string) (op.Client, error) {
	if clientID != s.client.id {
		return nil, errWrongSecret
	}
	return s.client, nil
}

func (s *storage) AuthorizeClientIDSecret(_ context.Context, clientID, secret string) error {
	idOK := subtle.ConstantTimeCompare([]byte(clientID), []byte(s.client.id))
	secretOK := subtle.ConstantTimeCompare([]byte(secret), []byte(s.client.secret))
	if idOK&secretOK != 1 {
		return errWrongSecret
	}
	return nil
}

// SetUserinfoFromScopes is deprecated in op in favour of SetUserinfoFromRequest.
func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest fills the ID token's claims.
func (s *storage) SetUserinfoFromRequest(_ context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	return s.setUserinfo(info, req.GetSubject(), scopes)
}

// SetUserinfoFromToken answers the userinfo endpoint.
func (s *storage) SetUserinfoFromToken(_ context.Context, info *oidc.UserInfo, tokenID, subject, _ string) error {
	t, err := s.accessToken(tokenID)
	if err != nil {
		return err
	}
	if t.subject != subject {
		return errNotFound
	}
	return s.setUserinfo(info, t.subject, t.scopes)
}

func (s *storage) SetIntrospectionFromToken(_ context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	t, err := s.accessToken(tokenID)
	if err != nil {
		return err
	}
	if t.subject != subject || t.clientID != clientID {
		return errNotFound
	}
	info := new(oidc.UserInfo)
	if err := s.setUserinfo(info, t.subject, t.scopes); err != nil {
		return err
	}
	resp.SetUserInfo(info)
	resp.Scope = t.scopes
	resp.ClientID = t.clientID
	resp.Expiration = oidc.FromTime(t.expires)
	return nil
}

func (s *storage) accessToken(id string) (accessToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.access[id]
	if !ok || time.Now().After(t.expires) {
		return accessToken{}, errNotFound
	}
	return *t, nil
}

// setUserinfo puts the user's claims that scopes grant into info.
// email_verified goes in as an extra claim because the op package's field
// omits false, and an unverified address must say so.
func (s *storage) setUserinfo(info *oidc.UserInfo, subject string, scopes []string) error {
	u, ok := s.user(subject)
	if !ok {
		return errUnknownUser
	}
	info.Subject = u.Username
	for _, scope := range scopes {
		switch scope {
		case oidc.ScopeProfile:
			info.Name = u.Name
			info.PreferredUsername = u.Username
			info.Picture = u.Picture
		case oidc.ScopeEmail:
			if u.Email != "" {
				info.Email = u.Email
				info.AppendClaims("email_verified", u.EmailVerified)
			}
		}
	}
	return nil
}

func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errUnsupported
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errUnsupported
}

func (s *storage) Health(context.Context) error { return nil }

// authRequest is an authorization request from its creation until its code
// is redeemed.
type authRequest struct {
	id           string
	created      time.Time
	clientID     string
	redirectURI  string
	state        string
	nonce        string
	loginHint    string
	scopes       []string
	responseType oidc.ResponseType
	responseMode oidc.ResponseMode
	challenge    *oidc.CodeChallenge

	// Set once the user has signed in.
	done     bool
	subject  string
	authTime time.Time
}

func (r *authRequest) clone() *authRequest {
	c := *r
	c.scopes = slices.Clone(r.scopes)
	ch := *r.challenge
	c.challenge = &ch
	return &c
}

func (r *authRequest) GetID() string                         { return r.id }
func (r *authRequest) GetACR() string                        { return "" }
func (r *authRequest) GetAudience() []string                 { return []string{r.clientID} }
func (r *authRequest) GetAuthTime() time.Time                { return r.authTime }
func (r *authRequest) GetClientID() string                   { return r.clientID }
func (r *authRequest) GetCodeChallenge() *oidc.CodeChallenge { return r.challenge }
func (r *authRequest) GetNonce() string                      { return r.nonce }
func (r *authRequest) GetRedirectURI() string                { return r.redirectURI }
func (r *authRequest) GetResponseType() oidc.ResponseType    { return r.responseType }
func (r *authRequest) GetResponseMode() oidc.ResponseMode    { return r.responseMode }
func (r *authRequest) GetScopes() []string                   { return r.scopes }
func (r *authRequest) GetState() string                      { return r.state }
func (r *authRequest) GetSubject() string                    { return r.subject }
func (r *authRequest) Done() bool                            { return r.done }

func (r *authRequest) GetAMR() []string {
	if r.done {
		return []string{"pwd"}
	}
	return nil
}

type accessToken struct {
	id           string
	clientID     string
	subject      string
	scopes       []string
	audience     []string
	refreshToken string
	expires      time.Time
}

type refreshToken struct {
	token         string
	clientID      string
	subject       string
	scopes        []string
	audience      []string
	amr           []string
	authTime      time.Time
	accessTokenID string
	expires       time.Time
}

// refreshTokenRequest is a refresh grant in progress; the client may narrow
// its scopes.
type refreshTokenRequest struct {
	refreshToken
	scopes []string
}

func (r *refreshTokenRequest) GetAMR() []string             { return r.amr }
func (r *refreshTokenRequest) GetAudience() []string        { return r.audience }
func (r *refreshTokenRequest) GetAuthTime() time.Time       { return r.authTime }
func (r *refreshTokenRequest) GetClientID() string          { return r.clientID }
func (r *refreshTokenRequest) GetScopes() []string          { return r.scopes }
func (r *refreshTokenRequest) GetSubject() string           { return r.subject }
func (r *refreshTokenRequest) SetCurrentScopes(sc []string) { r.scopes = sc }

// client is the one confidential web client.
type client struct {
	id             string
	secret         string
	redirectURIs   []string
	postLogoutURIs []string
	loginPath      string
}

var _ op.Client = (*client)(nil)

func (c *client) GetID() string                       { return c.id }
func (c *client) RedirectURIs() []string              { return c.redirectURIs }
func (c *client) PostLogoutRedirectURIs() []string    { return c.postLogoutURIs }
func (c *client) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c *client) AuthMethod() oidc.AuthMethod         { return oidc.AuthMethodBasic }
func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *client) LoginURL(id string) string           { return c.loginPath + "?id=" + url.QueryEscape(id) }
func (c *client) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }
func (c *client) IDTokenLifetime() time.Duration      { return idTokenTTL }
func (c *client) DevMode() bool                       { return false }
func (c *client) IsScopeAllowed(string) bool          { return false }
func (c *client) ClockSkew() time.Duration            { return 0 }
func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(scopes []string) []string { return scopes }
}
func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(scopes []string) []string { return scopes }
}

// GrantTypes: refresh_token is listed, but the op package only issues a
// refresh token when offline_access was granted.
func (c *client) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
}

// IDTokenUserinfoClaimsAssertion puts the profile and email claims in the ID
// token too, so a relying party that skips userinfo still gets them.
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }

// signingKey is the per-process RS256 key.
type signingKey struct {
	id  string
	key *rsa.PrivateKey
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k *signingKey) Key() any                                    { return k.key }
func (k *signingKey) ID() string                                  { return k.id }

type publicKey struct{ k *signingKey }

func (p publicKey) ID() string                         { return p.k.id }
func (p publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (p publicKey) Use() string                        { return "sig" }
func (p publicKey) Key() any                           { return &p.k.key.PublicKey }
