// Package qq signs people in with Tencent QQ Connect (graph.qq.com), whose
// OAuth 2.0 dialect differs from the standard in ways that generic clients
// such as golang.org/x/oauth2 get wrong: the token endpoint answers
// urlencoded or, with fmt=json, JSON whose expires_in is a string; errors
// come with HTTP 200 as {"error":100016,...} with a numeric code, or as
// JSONP; /oauth2.0/me answers JSONP; user info errors are {"ret":-1,...};
// and everything is served as text/html. There is no PKCE, no nonce, no
// ID token and no email.
//
// A sign-in is: authorize → code → /oauth2.0/token → access token →
// /oauth2.0/me (openid, and unionid when the app was granted it) →
// /user/get_user_info (nickname, avatar). The identity's subject is the
// openid or the unionid, as configured.
package qq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tether-id/tether/provider"
)

// QQ Connect's endpoints.
const (
	DefaultAuthorizeURL = "https://graph.qq.com/oauth2.0/authorize"
	DefaultTokenURL     = "https://graph.qq.com/oauth2.0/token"
	DefaultMeURL        = "https://graph.qq.com/oauth2.0/me"
	DefaultUserInfoURL  = "https://graph.qq.com/user/get_user_info"
)

// Identity keys: which QQ id becomes the identity's subject.
const (
	// KeyOpenID is per app: the same person has a different openid in
	// each QQ Connect app. Always available.
	KeyOpenID = "openid"
	// KeyUnionID is the same across all apps of one developer, and needs
	// the unionid permission granted by Tencent.
	KeyUnionID = "unionid"
)

// Reasons of the *provider.Error values Exchange and AuthURL return. Each
// names the step that failed; errors.As on the error finds an *APIError
// when QQ reported the failure itself, and errors.Is(err, ErrMalformed)
// holds when QQ's answer made no sense.
const (
	ReasonAuthRequest    = "auth_request"    // the flow lacks state or redirect URI
	ReasonCallbackError  = "callback_error"  // the callback carried error=...
	ReasonMissingCode    = "missing_code"    // the callback carried no code
	ReasonIssMismatch    = "iss_mismatch"    // the callback carried iss; QQ never sends one
	ReasonTokenExchange  = "token_exchange"  // /oauth2.0/token failed
	ReasonOpenID         = "openid_lookup"   // /oauth2.0/me failed
	ReasonClientMismatch = "client_mismatch" // /oauth2.0/me names another app
	ReasonUnionIDMissing = "unionid_missing" // key is unionid but QQ gave none
	ReasonUserInfo       = "userinfo"        // /user/get_user_info failed
	ReasonRefresh        = "refresh"         // a re-check could not refresh the tokens
	ReasonSubjectChanged = "subject_changed" // a re-check found another account
)

// DefaultScopes are asked for when the config names none.
var DefaultScopes = []string{"get_user_info"}

// Config configures one QQ Connect provider.
type Config struct {
	// ID is the provider's id in tether, used in messages.
	ID string
	// AppID and AppKey are the QQ Connect app's credentials, sent as
	// client_id and client_secret.
	AppID  string
	AppKey string
	// Key is KeyOpenID (the default) or KeyUnionID. Both ids are kept in
	// the identity's claims whichever is the subject.
	Key string
	// Scopes are QQ API names, sent comma-separated; DefaultScopes if none.
	Scopes []string
	// Endpoints override QQ's URLs, for tests; empty fields keep QQ's.
	Endpoints Endpoints
	// HTTPClient makes the calls to QQ; a client with a 30 s timeout if
	// nil.
	HTTPClient *http.Client
}

// Endpoints are the URLs of QQ Connect. Plain http is accepted only for
// loopback hosts, since the app key travels in the token URL's query.
type Endpoints struct {
	Authorize string
	Token     string
	Me        string
	UserInfo  string
}

// Provider is a configured QQ Connect provider. It is safe for concurrent
// use.
type Provider struct {
	id       string
	appID    string
	appKey   string
	key      string
	scope    string
	issuer   string
	client   *http.Client
	authURL  *url.URL
	tokenURL *url.URL
	meURL    *url.URL
	infoURL  *url.URL
}

var (
	_ provider.Provider  = (*Provider)(nil)
	_ provider.Checker   = (*Provider)(nil)
	_ provider.Refresher = (*Provider)(nil)
)

// New checks cfg and returns the provider. It makes no network calls.
func New(cfg Config) (*Provider, error) {
	p := &Provider{id: cfg.ID, appID: cfg.AppID, appKey: cfg.AppKey, key: cfg.Key, client: cfg.HTTPClient}
	if strings.TrimSpace(cfg.AppID) == "" {
		return nil, fmt.Errorf("qq provider %q: app_id is required", cfg.ID)
	}
	if strings.TrimSpace(cfg.AppKey) == "" {
		return nil, fmt.Errorf("qq provider %q: app_key is required", cfg.ID)
	}
	if p.key == "" {
		p.key = KeyOpenID
	}
	if err := CheckKey(p.key); err != nil {
		return nil, fmt.Errorf("qq provider %q: key: %w", cfg.ID, err)
	}
	scopes := cfg.Scopes
	if len(scopes) == 0 {
		scopes = DefaultScopes
	}
	for _, s := range scopes {
		if s == "" || strings.ContainsAny(s, ", \t\r\n") {
			return nil, fmt.Errorf("qq provider %q: scope %q is not a QQ API name", cfg.ID, s)
		}
	}
	p.scope = strings.Join(scopes, ",")
	for _, e := range []struct {
		name, value, fallback string
		dst                   **url.URL
	}{
		{"authorize", cfg.Endpoints.Authorize, DefaultAuthorizeURL, &p.authURL},
		{"token", cfg.Endpoints.Token, DefaultTokenURL, &p.tokenURL},
		{"me", cfg.Endpoints.Me, DefaultMeURL, &p.meURL},
		{"userinfo", cfg.Endpoints.UserInfo, DefaultUserInfoURL, &p.infoURL},
	} {
		v := e.value
		if v == "" {
			v = e.fallback
		}
		u, err := parseEndpoint(v)
		if err != nil {
			return nil, fmt.Errorf("qq provider %q: %s endpoint: %w", cfg.ID, e.name, err)
		}
		*e.dst = u
	}
	p.issuer = (&url.URL{Scheme: p.authURL.Scheme, Host: p.authURL.Host}).String()
	if p.client == nil {
		p.client = &http.Client{Timeout: 30 * time.Second}
	}
	return p, nil
}

// CheckKey is the rule for the identity key: openid or unionid.
func CheckKey(key string) error {
	if key != KeyOpenID && key != KeyUnionID {
		return fmt.Errorf("want %s or %s, got %q", KeyUnionID, KeyOpenID, key)
	}
	return nil
}

// CheckEndpoint is the rule for an endpoint override: an absolute URL
// without user info or fragment, https or http on loopback.
func CheckEndpoint(s string) error {
	_, err := parseEndpoint(s)
	return err
}

func parseEndpoint(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if u.Host == "" || u.User != nil || u.Fragment != "" {
		return nil, fmt.Errorf("%q is not an absolute URL without user info or fragment", s)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !provider.IsLoopback(u.Hostname()) {
			return nil, fmt.Errorf("%q: plain http is only allowed for loopback hosts", s)
		}
	default:
		return nil, fmt.Errorf("%q: scheme must be https", s)
	}
	return u, nil
}

// Issuer is the issuer recorded in identities: the scheme and host of the
// authorize endpoint, "https://graph.qq.com" unless overridden. QQ has no
// issuer of its own.
func (p *Provider) Issuer() string { return p.issuer }

// Key is the configured identity key, KeyOpenID or KeyUnionID.
func (p *Provider) Key() string { return p.key }

// AuthURL returns QQ's authorize URL for req. QQ knows neither PKCE nor
// nonce, so only state and the redirect URI bind the flow upstream; the
// core's browser binding and single-use flows do the rest.
func (p *Provider) AuthURL(ctx context.Context, req provider.AuthRequest) (string, error) {
	if req.State == "" {
		return "", provider.Errorf(ReasonAuthRequest, "state is required")
	}
	if req.RedirectURI == "" {
		return "", provider.Errorf(ReasonAuthRequest, "redirect URI is required")
	}
	u := *p.authURL
	q := u.Query()
	q.Set("response_type", "code")
	q.Set("client_id", p.appID)
	q.Set("redirect_uri", req.RedirectURI)
	q.Set("state", req.State)
	q.Set("scope", p.scope)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Exchange redeems the callback's code and returns the QQ identity. Every
// failure is a *provider.Error whose Reason names the step (the Reason*
// constants); failures to reach QQ, and 5xx answers, are Unavailable.
func (p *Provider) Exchange(ctx context.Context, req provider.AuthRequest, cb provider.Callback) (provider.Identity, error) {
	var id provider.Identity
	switch {
	case cb.Error != "":
		return id, &provider.Error{
			Reason:  ReasonCallbackError,
			Message: "QQ sign-in was cancelled or refused",
			Err:     fmt.Errorf("callback error %q: %q", clean(cb.Error), clean(cb.ErrorDescription)),
		}
	case cb.Iss != "":
		// QQ never sends iss; one present means the response came from
		// another provider (a mix-up) or was forged.
		return id, provider.Errorf(ReasonIssMismatch, "The sign-in response names an issuer; QQ Connect sends none")
	case cb.Code == "":
		return id, provider.Errorf(ReasonMissingCode, "The sign-in response has no authorization code")
	case req.RedirectURI == "":
		return id, provider.Errorf(ReasonAuthRequest, "redirect URI is required")
	}

	tok, err := p.redeem(ctx, url.Values{"grant_type": {"authorization_code"}, "code": {cb.Code}, "redirect_uri": {req.RedirectURI}})
	if err != nil {
		return id, stepError(ReasonTokenExchange, "QQ Connect did not accept the sign-in", err)
	}
	if id, err = p.account(ctx, tok.AccessToken); err != nil {
		return id, err
	}
	id.Tokens = tok.tokens()
	return id, nil
}

// account asks QQ who holds accessToken (/oauth2.0/me, checked to be
// this app's) and for the profile (/user/get_user_info): the identity
// without its tokens.
func (p *Provider) account(ctx context.Context, accessToken string) (provider.Identity, error) {
	var id provider.Identity
	me, err := p.me(ctx, accessToken)
	if err != nil {
		var api *APIError
		if p.key == KeyUnionID && errors.As(err, &api) && api.Code == CodeNoUnionIDPermission {
			return id, stepError(ReasonUnionIDMissing, "This QQ Connect app has no unionid permission", err)
		}
		return id, stepError(ReasonOpenID, "QQ Connect did not return the account id", err)
	}
	if me.ClientID != p.appID {
		return id, &provider.Error{
			Reason:  ReasonClientMismatch,
			Message: "The QQ access token belongs to another app",
			Err:     fmt.Errorf("/me client_id %q, want %q", clean(me.ClientID), p.appID),
		}
	}
	subject := me.OpenID
	if p.key == KeyUnionID {
		if me.UnionID == "" {
			return id, provider.Errorf(ReasonUnionIDMissing, "QQ Connect returned no unionid; check that the app has the unionid permission")
		}
		subject = me.UnionID
	}
	info, err := p.userInfo(ctx, accessToken, me.OpenID)
	if err != nil {
		return id, stepError(ReasonUserInfo, "QQ Connect did not return the profile", err)
	}

	claims := make(map[string]json.RawMessage, len(info.Fields)+2)
	for k, v := range info.Fields {
		claims[k] = v
	}
	claims["openid"] = jsonString(me.OpenID)
	delete(claims, "unionid")
	if me.UnionID != "" {
		claims["unionid"] = jsonString(me.UnionID)
	}
	raw, err := json.Marshal(claims)
	if err != nil {
		return id, stepError(ReasonUserInfo, "QQ Connect returned an unreadable profile", err)
	}
	return provider.Identity{
		Issuer:  p.issuer,
		Subject: subject,
		Name:    info.Nickname,
		Avatar:  info.Avatar,
		Claims:  raw,
	}, nil
}

// Refresh checks that the QQ account of prev still accepts this app
// (provider.Refresher). A still-valid access token is used as it is
// (QQ's live 60 to 90 days, and its refresh tokens are single use);
// otherwise the refresh token buys a new pair. Then /oauth2.0/me and
// /user/get_user_info, as at sign-in, must name the same account, and
// give its current nickname and picture.
//
// QQ answers with numbers: a token it calls illegal, revoked or failing
// its check (100013, 100015, 100016), a refresh token it will not take
// (100022), an authorization the person withdrew (100030) and
// get_user_info's "please log in" (ret 1002) mean the grant is gone:
// Revoked. Network failures, 5xx and 429 are Unavailable.
func (p *Provider) Refresh(ctx context.Context, prev provider.Identity) (provider.Identity, error) {
	tokens := prev.Tokens
	if tokens.AccessToken == "" || (!tokens.Expiry.IsZero() && !time.Now().Add(refreshMargin).Before(tokens.Expiry)) {
		if tokens.RefreshToken == "" {
			return provider.Identity{}, provider.Errorf(ReasonRefresh, "The QQ sign-in left no usable token, so the account cannot be checked")
		}
		tok, err := p.redeem(ctx, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tokens.RefreshToken}})
		if err != nil {
			return provider.Identity{}, revokedIf(stepError(ReasonRefresh, "QQ Connect did not accept the refresh token", err))
		}
		tokens = tok.tokens()
		if tokens.RefreshToken == "" {
			tokens.RefreshToken = prev.Tokens.RefreshToken
		}
	}
	id, err := p.account(ctx, tokens.AccessToken)
	if err != nil {
		return provider.Identity{}, revokedIf(err)
	}
	if id.Subject != prev.Subject {
		return provider.Identity{}, &provider.Error{Reason: ReasonSubjectChanged, Revoked: true,
			Message: "The QQ access token now belongs to another account"}
	}
	id.Tokens = tokens
	return id, nil
}

// refreshMargin: an access token this close to its expiry is refreshed
// rather than used.
const refreshMargin = time.Minute

// revokedCodes are QQ's answers that mean the grant is gone.
var revokedCodes = map[int64]bool{
	100013: true, // access token illegal
	100015: true, // access token revoked
	100016: true, // access token check failed
	100022: true, // refresh token refused
	100030: true, // the person withdrew the app's authorization
	1002:   true, // get_user_info: please sign in
}

// revokedIf marks err Revoked when QQ's own answer says the grant is gone.
func revokedIf(err error) error {
	var pe *provider.Error
	var api *APIError
	if errors.As(err, &pe) && errors.As(err, &api) && revokedCodes[api.Code] {
		pe.Revoked = true
	}
	return err
}

func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s) // a string always marshals
	return b
}

type issuedToken struct {
	tokenResponse
	issued time.Time
}

func (t issuedToken) tokens() provider.Tokens {
	out := provider.Tokens{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken}
	if t.ExpiresIn > 0 {
		out.Expiry = t.issued.Add(time.Duration(t.ExpiresIn) * time.Second)
	}
	return out
}

// redeem calls the token endpoint with grant (a code with its redirect
// URI, or a refresh token) and the app's credentials. fmt=json is always
// sent; the urlencoded form is still understood in case QQ ignores it.
func (p *Provider) redeem(ctx context.Context, grant url.Values) (issuedToken, error) {
	issued := time.Now()
	var t tokenResponse
	grant.Set("client_id", p.appID)
	grant.Set("client_secret", p.appKey)
	grant.Set("fmt", "json")
	err := p.call(ctx, p.tokenURL, grant, func(body []byte) (err error) {
		t, err = parseTokenResponse(body)
		return err
	})
	return issuedToken{t, issued}, err
}

// me asks for the openid and the unionid. An app without the unionid
// permission gets 100048 for unionid=1; with the openid key the unionid is
// only a bonus, so the call is retried without it.
func (p *Provider) me(ctx context.Context, accessToken string) (meResponse, error) {
	var m meResponse
	get := func(params url.Values) error {
		return p.call(ctx, p.meURL, params, func(body []byte) (err error) {
			m, err = parseMe(body)
			return err
		})
	}
	err := get(url.Values{"access_token": {accessToken}, "unionid": {"1"}, "fmt": {"json"}})
	var api *APIError
	if p.key == KeyOpenID && errors.As(err, &api) && api.Code == CodeNoUnionIDPermission {
		err = get(url.Values{"access_token": {accessToken}, "fmt": {"json"}})
	}
	return m, err
}

func (p *Provider) userInfo(ctx context.Context, accessToken, openID string) (userInfo, error) {
	var u userInfo
	err := p.call(ctx, p.infoURL, url.Values{
		"access_token":       {accessToken},
		"oauth_consumer_key": {p.appID},
		"openid":             {openID},
	}, func(body []byte) (err error) {
		u, err = parseUserInfo(body)
		return err
	})
	return u, err
}

// maxBody caps how much of an answer is read. QQ's are a few hundred
// bytes; anything near the cap is not QQ talking.
const maxBody = 1 << 20

// unavailableError marks failures to reach QQ: network errors, 5xx and 429.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return "QQ Connect unavailable: " + e.err.Error() }
func (e *unavailableError) Unwrap() error { return e.err }

// call GETs endpoint with params added to its query and hands the body to
// parse. QQ answers errors with HTTP 200, so the body decides; a non-200
// answer is a failure even when its body parses.
func (p *Provider) call(ctx context.Context, endpoint *url.URL, params url.Values, parse func([]byte) error) error {
	u := *endpoint
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(provider.WithEndpoint(ctx, p.endpoint(endpoint)), http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("building request to %s: %w", endpoint.Redacted(), redactURLError(err, endpoint))
	}
	req.Header.Set("Accept", "application/json, text/javascript, */*")
	resp, err := p.client.Do(req)
	if err != nil {
		// The URL carries the app key, code or access token; never let it
		// reach a log through the error text.
		return &unavailableError{redactURLError(err, endpoint)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return &unavailableError{fmt.Errorf("reading %s: %w", endpoint.Redacted(), redactURLError(err, endpoint))}
	}
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
		return &unavailableError{fmt.Errorf("%s answered HTTP %d", endpoint.Redacted(), resp.StatusCode)}
	}
	if len(body) > maxBody {
		return malformed("%s answered more than %d bytes", endpoint.Redacted(), maxBody)
	}
	err = parse(body)
	if resp.StatusCode != http.StatusOK {
		var api *APIError
		if errors.As(err, &api) {
			return err
		}
		return malformed("%s answered HTTP %d", endpoint.Redacted(), resp.StatusCode)
	}
	return err
}

// endpoint names one of the provider's endpoints for the requests sent
// to it (provider.WithEndpoint).
func (p *Provider) endpoint(u *url.URL) provider.Endpoint {
	switch u {
	case p.tokenURL:
		return provider.EndpointToken
	case p.meURL:
		return provider.EndpointMe
	case p.infoURL:
		return provider.EndpointGetUserInfo
	}
	return ""
}

// redactURLError replaces the URL in a *url.Error, which net/http fills
// with the full request URL, by the endpoint without its query.
func redactURLError(err error, endpoint *url.URL) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	safe := *endpoint
	safe.RawQuery = ""
	return &url.Error{Op: ue.Op, URL: safe.Redacted(), Err: redactURLError(ue.Err, endpoint)}
}

// stepError wraps err from one step of the exchange. message says what
// went wrong when QQ answered; an unreachable QQ gets its own message.
func stepError(reason, message string, err error) *provider.Error {
	e := &provider.Error{Reason: reason, Message: message, Err: err}
	var u *unavailableError
	if errors.As(err, &u) {
		e.Unavailable = true
		e.Message = "QQ Connect could not be reached; try again later"
	}
	return e
}
