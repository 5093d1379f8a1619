package qq_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tether-id/tether/provider"
	"github.com/tether-id/tether/provider/qq"
	"github.com/tether-id/tether/provider/qq/qqtest"
)

const (
	appID    = "101000042"
	appKey   = "3f6c2d1e0a9b8c7d6e5f4a3b2c1d0e9f"
	redirect = "http://127.0.0.1:5212/callback/qq"
)

// newFake starts a fake QQ Connect with redirect registered and a provider
// pointed at it.
func newFake(t *testing.T, key string) (*qqtest.Server, *qq.Provider) {
	t.Helper()
	s := qqtest.NewServer(t, appID, appKey)
	s.RegisterRedirectURI(redirect)
	return s, newProvider(t, s, key, appKey)
}

func newProvider(t *testing.T, s *qqtest.Server, key, secret string) *qq.Provider {
	t.Helper()
	p, err := qq.New(qq.Config{ID: "qq", AppID: appID, AppKey: secret, Key: key, Endpoints: s.Endpoints()})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// authorize starts a flow and plays the browser at the fake: it returns
// the request the flow fixed and the callback QQ sent back.
func authorize(t *testing.T, s *qqtest.Server, p *qq.Provider) (provider.AuthRequest, provider.Callback) {
	t.Helper()
	req := provider.AuthRequest{State: rand.Text(), RedirectURI: redirect}
	authURL, err := p.AuthURL(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	back, err := s.Authorize(authURL)
	if err != nil {
		t.Fatal(err)
	}
	if got := back.Query().Get("state"); got != req.State {
		t.Fatalf("callback state = %q, want %q", got, req.State)
	}
	if !strings.HasPrefix(back.String(), redirect+"?") {
		t.Fatalf("callback %s is not at %s", back, redirect)
	}
	return req, provider.Callback{Code: back.Query().Get("code")}
}

func signIn(t *testing.T, s *qqtest.Server, p *qq.Provider) (provider.Identity, error) {
	t.Helper()
	req, cb := authorize(t, s, p)
	return p.Exchange(context.Background(), req, cb)
}

func claims(t *testing.T, id provider.Identity) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(id.Claims, &m); err != nil {
		t.Fatalf("claims %s: %v", id.Claims, err)
	}
	return m
}

func TestSignIn(t *testing.T) {
	for _, key := range []string{"", qq.KeyOpenID, qq.KeyUnionID} {
		t.Run("key="+key, func(t *testing.T) {
			s, p := newFake(t, key)
			u := s.User()
			before := time.Now()
			id, err := signIn(t, s, p)
			after := time.Now()
			if err != nil {
				t.Fatal(err)
			}
			wantSubject := u.OpenID
			if key == qq.KeyUnionID {
				wantSubject = u.UnionID
			}
			if id.Issuer != s.URL() || id.Subject != wantSubject {
				t.Errorf("identity (%q, %q), want (%q, %q)", id.Issuer, id.Subject, s.URL(), wantSubject)
			}
			if id.Email != "" || id.EmailVerified {
				t.Errorf("email %q verified %v; QQ gives none", id.Email, id.EmailVerified)
			}
			if id.Name != u.Nickname || id.Avatar != u.FigureQQ2 {
				t.Errorf("profile (%q, %q), want (%q, %q)", id.Name, id.Avatar, u.Nickname, u.FigureQQ2)
			}
			c := claims(t, id)
			if c["openid"] != u.OpenID || c["unionid"] != u.UnionID || c["nickname"] != u.Nickname || c["figureurl_qq_1"] != u.FigureQQ1 {
				t.Errorf("claims %s lack openid, unionid or profile", id.Claims)
			}
			if _, has := c["ret"]; has {
				t.Errorf("claims %s keep ret", id.Claims)
			}
			tok := id.Tokens
			if tok.AccessToken == "" || tok.RefreshToken == "" || tok.IDToken != "" {
				t.Errorf("tokens %+v", tok)
			}
			if tok.Expiry.Before(before.Add(qqtest.TokenLifetime)) || tok.Expiry.After(after.Add(qqtest.TokenLifetime)) {
				t.Errorf("expiry %v not %v after the exchange", tok.Expiry, qqtest.TokenLifetime)
			}
		})
	}
}

// TestRequests checks what the provider sends QQ, against the list in the
// QQ Connect documentation.
func TestRequests(t *testing.T) {
	s, p := newFake(t, qq.KeyOpenID)
	req, cb := authorize(t, s, p)
	if _, err := p.Exchange(context.Background(), req, cb); err != nil {
		t.Fatal(err)
	}
	access := s.LastQuery(qqtest.Me).Get("access_token")
	tests := []struct {
		ep   qqtest.Endpoint
		want url.Values
	}{
		{qqtest.Authorize, url.Values{
			"response_type": {"code"}, "client_id": {appID}, "redirect_uri": {redirect},
			"state": {req.State}, "scope": {"get_user_info"},
		}},
		{qqtest.Token, url.Values{
			"grant_type": {"authorization_code"}, "client_id": {appID}, "client_secret": {appKey},
			"code": {cb.Code}, "redirect_uri": {redirect}, "fmt": {"json"},
		}},
		{qqtest.Me, url.Values{"access_token": {access}, "unionid": {"1"}, "fmt": {"json"}}},
		{qqtest.UserInfo, url.Values{"access_token": {access}, "oauth_consumer_key": {appID}, "openid": {s.User().OpenID}}},
	}
	for _, tt := range tests {
		if got := s.LastQuery(tt.ep); fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s got %v, want %v", tt.ep, got, tt.want)
		}
	}
}

func TestAuthURL(t *testing.T) {
	p, err := qq.New(qq.Config{
		AppID: appID, AppKey: appKey, Scopes: []string{"get_user_info", "get_vip_info"},
		Endpoints: qq.Endpoints{Authorize: "https://graph.qq.com/oauth2.0/authorize?display=mobile"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.AuthURL(context.Background(), provider.AuthRequest{
		State: "st", RedirectURI: redirect, Nonce: "n", CodeVerifier: "v", LoginHint: "h",
	})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(got)
	if err != nil {
		t.Fatal(err)
	}
	want := url.Values{
		"display": {"mobile"}, "response_type": {"code"}, "client_id": {appID},
		"redirect_uri": {redirect}, "state": {"st"}, "scope": {"get_user_info,get_vip_info"},
	}
	if u.Host != "graph.qq.com" || u.Path != "/oauth2.0/authorize" || fmt.Sprint(u.Query()) != fmt.Sprint(want) {
		t.Errorf("AuthURL = %s, want parameters %v only", got, want)
	}

	for _, req := range []provider.AuthRequest{{RedirectURI: redirect}, {State: "st"}} {
		_, err := p.AuthURL(context.Background(), req)
		if reason(err) != qq.ReasonAuthRequest {
			t.Errorf("AuthURL(%+v) = %v, want %s", req, err, qq.ReasonAuthRequest)
		}
	}
}

func reason(err error) string {
	var pe *provider.Error
	if errors.As(err, &pe) {
		return pe.Reason
	}
	return fmt.Sprintf("not a *provider.Error: %v", err)
}

// TestQuirks signs in through each oddity QQ is known for; all must work.
func TestQuirks(t *testing.T) {
	jsonp := func(s *qqtest.Server, format string) {
		s.ReplyNext(qqtest.Me, qqtest.Raw(200, fmt.Sprintf(format, appID, s.User().OpenID)))
	}
	tests := []struct {
		name    string
		key     string
		arrange func(s *qqtest.Server)
		check   func(t *testing.T, s *qqtest.Server, id provider.Identity)
	}{
		{"token urlencoded despite fmt=json", qq.KeyOpenID, func(s *qqtest.Server) {
			at := s.IssueToken(s.User())
			s.ReplyNext(qqtest.Token, qqtest.Raw(200, "access_token="+at+"&expires_in=5184000&refresh_token=88E4BE14\n"))
		}, func(t *testing.T, s *qqtest.Server, id provider.Identity) {
			if id.Tokens.RefreshToken != "88E4BE14" || time.Until(id.Tokens.Expiry) <= 59*24*time.Hour {
				t.Errorf("tokens %+v", id.Tokens)
			}
		}},
		{"token json with numeric expires_in", qq.KeyOpenID, func(s *qqtest.Server) {
			at := s.IssueToken(s.User())
			s.ReplyNext(qqtest.Token, qqtest.Raw(200, `{"access_token":"`+at+`","expires_in":7776000}`))
		}, func(t *testing.T, s *qqtest.Server, id provider.Identity) {
			if id.Tokens.RefreshToken != "" || time.Until(id.Tokens.Expiry) <= 89*24*time.Hour {
				t.Errorf("tokens %+v", id.Tokens)
			}
		}},
		{"token without expires_in", qq.KeyOpenID, func(s *qqtest.Server) {
			s.ReplyNext(qqtest.Token, qqtest.Raw(200, `{"access_token":"`+s.IssueToken(s.User())+`"}`))
		}, func(t *testing.T, s *qqtest.Server, id provider.Identity) {
			if !id.Tokens.Expiry.IsZero() {
				t.Errorf("expiry %v, want none", id.Tokens.Expiry)
			}
		}},
		{"me jsonp as sent", qq.KeyOpenID, func(s *qqtest.Server) {
			jsonp(s, "callback( {\"client_id\":\"%s\",\"openid\":\"%s\"} );\n")
		}, nil},
		{"me jsonp tight", qq.KeyOpenID, func(s *qqtest.Server) {
			jsonp(s, `callback({"client_id":"%s","openid":"%s"});`)
		}, nil},
		{"me jsonp spread over lines", qq.KeyOpenID, func(s *qqtest.Server) {
			jsonp(s, "\r\ncallback (\r\n\t{\"client_id\":\"%s\",\r\n\"openid\":\"%s\"}\r\n) ;\r\n\r\n")
		}, nil},
		{"me numeric client_id", qq.KeyOpenID, func(s *qqtest.Server) {
			jsonp(s, `{"client_id":%s,"openid":"%s"}`)
		}, nil},
		{"no unionid permission, openid key", qq.KeyOpenID, func(s *qqtest.Server) {
			s.DenyUnionID(true)
		}, func(t *testing.T, s *qqtest.Server, id provider.Identity) {
			if c := claims(t, id); c["unionid"] != nil || c["openid"] != s.User().OpenID {
				t.Errorf("claims %s", id.Claims)
			}
			if q := s.LastQuery(qqtest.Me); q.Has("unionid") {
				t.Errorf("last /me %v still asks for unionid", q)
			}
		}},
		{"unionid absent, openid key", qq.KeyOpenID, func(s *qqtest.Server) {
			jsonp(s, `{"client_id":"%s","openid":"%s"}`)
		}, func(t *testing.T, s *qqtest.Server, id provider.Identity) {
			if c := claims(t, id); c["unionid"] != nil {
				t.Errorf("claims %s", id.Claims)
			}
		}},
		{"no figureurl_qq_2", qq.KeyOpenID, func(s *qqtest.Server) {
			s.OmitFigureQQ2(true)
		}, func(t *testing.T, s *qqtest.Server, id provider.Identity) {
			if id.Avatar != s.User().FigureQQ1 {
				t.Errorf("avatar %q, want %q", id.Avatar, s.User().FigureQQ1)
			}
		}},
		{"another user", qq.KeyUnionID, func(s *qqtest.Server) {
			s.SignInAs(s.AddUser("Ｌｉｎｇ 🐧"))
		}, func(t *testing.T, s *qqtest.Server, id provider.Identity) {
			if id.Subject != s.User().UnionID || id.Name != "Ｌｉｎｇ 🐧" {
				t.Errorf("identity %q %q", id.Subject, id.Name)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, p := newFake(t, tt.key)
			tt.arrange(s)
			id, err := signIn(t, s, p)
			if err != nil {
				t.Fatal(err)
			}
			if want := s.User().OpenID; tt.key == qq.KeyOpenID && id.Subject != want {
				t.Errorf("subject %q, want %q", id.Subject, want)
			}
			if tt.check != nil {
				tt.check(t, s, id)
			}
		})
	}
}

// outcome is what a failed exchange must look like.
type outcome struct {
	reason      string
	unavailable bool
	code        int64 // QQ's code in an *APIError; 0 for none
	malformed   bool  // errors.Is(err, qq.ErrMalformed)
}

func TestExchangeErrors(t *testing.T) {
	huge := `{"access_token":"` + strings.Repeat("A", 2<<20) + `"}`
	tests := []struct {
		name    string
		key     string
		secret  string // app key the provider uses; appKey if ""
		arrange func(s *qqtest.Server, req *provider.AuthRequest, cb *provider.Callback)
		want    outcome
	}{
		{"callback error", "", "", func(s *qqtest.Server, req *provider.AuthRequest, cb *provider.Callback) {
			*cb = provider.Callback{Error: "access_denied", ErrorDescription: "user cancelled"}
		}, outcome{reason: qq.ReasonCallbackError}},
		{"callback with iss", "", "", func(s *qqtest.Server, req *provider.AuthRequest, cb *provider.Callback) {
			cb.Iss = s.URL()
		}, outcome{reason: qq.ReasonIssMismatch}},
		{"callback without code", "", "", func(s *qqtest.Server, req *provider.AuthRequest, cb *provider.Callback) {
			cb.Code = ""
		}, outcome{reason: qq.ReasonMissingCode}},
		{"flow without redirect URI", "", "", func(s *qqtest.Server, req *provider.AuthRequest, cb *provider.Callback) {
			req.RedirectURI = ""
		}, outcome{reason: qq.ReasonAuthRequest}},

		{"token: unknown code", "", "", func(s *qqtest.Server, req *provider.AuthRequest, cb *provider.Callback) {
			cb.Code = "0123456789ABCDEF0123456789ABCDEF"
		}, outcome{reason: qq.ReasonTokenExchange, code: 100019}},
		{"token: expired code", "", "", func(s *qqtest.Server, req *provider.AuthRequest, cb *provider.Callback) {
			s.Advance(qqtest.CodeLifetime + time.Second)
		}, outcome{reason: qq.ReasonTokenExchange, code: 100019}},
		{"token: other redirect URI", "", "", func(s *qqtest.Server, req *provider.AuthRequest, cb *provider.Callback) {
			req.RedirectURI = redirect + "/other"
		}, outcome{reason: qq.ReasonTokenExchange, code: 100010}},
		{"token: wrong app key", "", "wrong", nil, outcome{reason: qq.ReasonTokenExchange, code: 100009}},
		{"token: 100016", "", "", reply(qqtest.Token, qqtest.JSONError(100016, "access token check failed")),
			outcome{reason: qq.ReasonTokenExchange, code: 100016}},
		{"token: 100013", "", "", reply(qqtest.Token, qqtest.JSONError(100013, "access token is illegal")),
			outcome{reason: qq.ReasonTokenExchange, code: 100013}},
		{"token: 100019", "", "", reply(qqtest.Token, qqtest.JSONError(100019, "code to access token error")),
			outcome{reason: qq.ReasonTokenExchange, code: 100019}},
		{"token: JSONP 100019", "", "", reply(qqtest.Token, qqtest.JSONPError(100019, "code to access token error")),
			outcome{reason: qq.ReasonTokenExchange, code: 100019}},
		{"token: ret -1", "", "", reply(qqtest.Token, qqtest.RetError(-1, "invalid")),
			outcome{reason: qq.ReasonTokenExchange, code: -1}},
		{"token: error with HTTP 400", "", "", reply(qqtest.Token, qqtest.Raw(400, `{"error":100005,"error_description":"param code is wrong or lost"}`)),
			outcome{reason: qq.ReasonTokenExchange, code: 100005}},
		{"token: HTML", "", "", reply(qqtest.Token, qqtest.HTMLPage), outcome{reason: qq.ReasonTokenExchange, malformed: true}},
		{"token: empty", "", "", reply(qqtest.Token, qqtest.EmptyBody), outcome{reason: qq.ReasonTokenExchange, malformed: true}},
		{"token: garbage", "", "", reply(qqtest.Token, qqtest.Garbage), outcome{reason: qq.ReasonTokenExchange, malformed: true}},
		{"token: truncated", "", "", reply(qqtest.Token, qqtest.Raw(200, `{"access_token":"FE04","expires_in":"77`)),
			outcome{reason: qq.ReasonTokenExchange, malformed: true}},
		{"token: huge", "", "", reply(qqtest.Token, qqtest.Raw(200, huge)), outcome{reason: qq.ReasonTokenExchange, malformed: true}},
		{"token: token of success body with HTTP 404", "", "", reply(qqtest.Token, qqtest.Raw(404, `{"access_token":"A"}`)),
			outcome{reason: qq.ReasonTokenExchange, malformed: true}},
		{"token: 502", "", "", reply(qqtest.Token, qqtest.Raw(502, "<html>Bad Gateway</html>")),
			outcome{reason: qq.ReasonTokenExchange, unavailable: true}},
		{"token: 429", "", "", reply(qqtest.Token, qqtest.Raw(429, "")),
			outcome{reason: qq.ReasonTokenExchange, unavailable: true}},

		{"me: 100016", "", "", reply(qqtest.Me, qqtest.JSONError(100016, "access token check failed")),
			outcome{reason: qq.ReasonOpenID, code: 100016}},
		{"me: 100013", "", "", reply(qqtest.Me, qqtest.JSONError(100013, "access token is illegal")),
			outcome{reason: qq.ReasonOpenID, code: 100013}},
		{"me: JSONP 100016", "", "", reply(qqtest.Me, qqtest.JSONPError(100016, "access token check failed")),
			outcome{reason: qq.ReasonOpenID, code: 100016}},
		{"me: expired token", "", "", func(s *qqtest.Server, req *provider.AuthRequest, cb *provider.Callback) {
			at := s.IssueToken(s.User())
			s.ReplyNext(qqtest.Token, qqtest.Raw(200, "access_token="+at+"&expires_in=7776000"))
			s.Advance(qqtest.TokenLifetime + time.Second)
		}, outcome{reason: qq.ReasonOpenID, code: 100014}},
		{"me: HTML", "", "", reply(qqtest.Me, qqtest.HTMLPage), outcome{reason: qq.ReasonOpenID, malformed: true}},
		{"me: empty", "", "", reply(qqtest.Me, qqtest.EmptyBody), outcome{reason: qq.ReasonOpenID, malformed: true}},
		{"me: garbage", "", "", reply(qqtest.Me, qqtest.Garbage), outcome{reason: qq.ReasonOpenID, malformed: true}},
		{"me: truncated JSONP", "", "", reply(qqtest.Me, qqtest.Raw(200, `callback( {"client_id":"`+appID+`","openid":"9C1A`)),
			outcome{reason: qq.ReasonOpenID, malformed: true}},
		{"me: no openid", "", "", reply(qqtest.Me, qqtest.Raw(200, `{"client_id":"`+appID+`"}`)),
			outcome{reason: qq.ReasonOpenID, malformed: true}},
		{"me: 503", "", "", reply(qqtest.Me, qqtest.Raw(503, "")), outcome{reason: qq.ReasonOpenID, unavailable: true}},
		{"me: another app's token", "", "", func(s *qqtest.Server, req *provider.AuthRequest, cb *provider.Callback) {
			s.ReplyNext(qqtest.Me, qqtest.Raw(200, `callback( {"client_id":"101999999","openid":"`+s.User().OpenID+`"} );`))
		}, outcome{reason: qq.ReasonClientMismatch}},
		{"me: no unionid permission, unionid key", qq.KeyUnionID, "", func(s *qqtest.Server, req *provider.AuthRequest, cb *provider.Callback) {
			s.DenyUnionID(true)
		}, outcome{reason: qq.ReasonUnionIDMissing, code: qq.CodeNoUnionIDPermission}},
		{"me: unionid absent, unionid key", qq.KeyUnionID, "", func(s *qqtest.Server, req *provider.AuthRequest, cb *provider.Callback) {
			s.ReplyNext(qqtest.Me, qqtest.Raw(200, `{"client_id":"`+appID+`","openid":"`+s.User().OpenID+`"}`))
		}, outcome{reason: qq.ReasonUnionIDMissing}},
		{"me: 100048 twice, openid key", qq.KeyOpenID, "", func(s *qqtest.Server, req *provider.AuthRequest, cb *provider.Callback) {
			s.ReplyNext(qqtest.Me, qqtest.JSONError(100048, "companyid not set"))
			s.ReplyNext(qqtest.Me, qqtest.JSONError(100048, "companyid not set"))
		}, outcome{reason: qq.ReasonOpenID, code: 100048}},

		{"userinfo: ret -1", "", "", reply(qqtest.UserInfo, qqtest.RetError(-1, "client request's parameters are invalid, invalid openid")),
			outcome{reason: qq.ReasonUserInfo, code: -1}},
		{"userinfo: ret 1002", "", "", reply(qqtest.UserInfo, qqtest.RetError(1002, "请先登录")),
			outcome{reason: qq.ReasonUserInfo, code: 1002}},
		{"userinfo: 100016", "", "", reply(qqtest.UserInfo, qqtest.JSONError(100016, "access token check failed")),
			outcome{reason: qq.ReasonUserInfo, code: 100016}},
		{"userinfo: JSONP error", "", "", reply(qqtest.UserInfo, qqtest.JSONPError(100013, "access token is illegal")),
			outcome{reason: qq.ReasonUserInfo, code: 100013}},
		{"userinfo: HTML", "", "", reply(qqtest.UserInfo, qqtest.HTMLPage), outcome{reason: qq.ReasonUserInfo, malformed: true}},
		{"userinfo: empty", "", "", reply(qqtest.UserInfo, qqtest.EmptyBody), outcome{reason: qq.ReasonUserInfo, malformed: true}},
		{"userinfo: garbage", "", "", reply(qqtest.UserInfo, qqtest.Garbage), outcome{reason: qq.ReasonUserInfo, malformed: true}},
		{"userinfo: truncated", "", "", reply(qqtest.UserInfo, qqtest.Raw(200, `{"ret":0,"msg":"","nickname":"小`)),
			outcome{reason: qq.ReasonUserInfo, malformed: true}},
		{"userinfo: without ret", "", "", reply(qqtest.UserInfo, qqtest.Raw(200, `{"nickname":"n"}`)),
			outcome{reason: qq.ReasonUserInfo, malformed: true}},
		{"userinfo: 500", "", "", reply(qqtest.UserInfo, qqtest.Raw(500, "{}")), outcome{reason: qq.ReasonUserInfo, unavailable: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, p := newFake(t, tt.key)
			if tt.secret != "" {
				p = newProvider(t, s, tt.key, tt.secret)
			}
			req, cb := authorize(t, s, p)
			if tt.arrange != nil {
				tt.arrange(s, &req, &cb)
			}
			id, err := p.Exchange(context.Background(), req, cb)
			t.Log(err)
			checkOutcome(t, err, tt.want)
			if id.Subject != "" || id.Tokens.AccessToken != "" {
				t.Errorf("failed exchange returned identity %+v", id)
			}
			for _, secret := range []string{appKey, cb.Code} {
				if secret != "" && strings.Contains(err.Error(), secret) {
					t.Errorf("error %q reveals %q", err, secret)
				}
			}
		})
	}
}

func reply(ep qqtest.Endpoint, r qqtest.Reply) func(*qqtest.Server, *provider.AuthRequest, *provider.Callback) {
	return func(s *qqtest.Server, _ *provider.AuthRequest, _ *provider.Callback) { s.ReplyNext(ep, r) }
}

func checkOutcome(t *testing.T, err error, want outcome) {
	t.Helper()
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want a *provider.Error", err)
	}
	if pe.Reason != want.reason || pe.Unavailable != want.unavailable {
		t.Errorf("reason %q unavailable %v, want %q %v (%v)", pe.Reason, pe.Unavailable, want.reason, want.unavailable, err)
	}
	if pe.Message == "" {
		t.Error("no message to show")
	}
	var api *qq.APIError
	switch {
	case want.code != 0:
		if !errors.As(err, &api) || api.Code != want.code {
			t.Errorf("err = %v, want QQ error %d", err, want.code)
		}
	case errors.As(err, &api):
		t.Errorf("err = %v, want no QQ error", err)
	}
	if got := errors.Is(err, qq.ErrMalformed); got != want.malformed {
		t.Errorf("errors.Is(%v, ErrMalformed) = %v, want %v", err, got, want.malformed)
	}
}

func TestCodeReuse(t *testing.T) {
	s, p := newFake(t, qq.KeyOpenID)
	req, cb := authorize(t, s, p)
	if _, err := p.Exchange(context.Background(), req, cb); err != nil {
		t.Fatal(err)
	}
	_, err := p.Exchange(context.Background(), req, cb)
	checkOutcome(t, err, outcome{reason: qq.ReasonTokenExchange, code: 100020})
}

// TestUnreachable checks that a QQ that cannot be reached is reported as
// unavailable, and that the error text, which net/http fills with the
// request URL, reveals neither the app key nor the code.
func TestUnreachable(t *testing.T) {
	s, p := newFake(t, qq.KeyOpenID)
	req, cb := authorize(t, s, p)
	s.Close()
	_, err := p.Exchange(context.Background(), req, cb)
	checkOutcome(t, err, outcome{reason: qq.ReasonTokenExchange, unavailable: true})
	t.Log(err)
	for _, secret := range []string{appKey, cb.Code} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q reveals %q", err, secret)
		}
	}
}

func TestCancelledLogin(t *testing.T) {
	s, p := newFake(t, qq.KeyOpenID)
	s.CancelNextLogin()
	authURL, err := p.AuthURL(context.Background(), provider.AuthRequest{State: "st", RedirectURI: redirect})
	if err != nil {
		t.Fatal(err)
	}
	if back, err := s.Authorize(authURL); err == nil {
		t.Fatalf("cancelled login came back to %s", back)
	}
	// The window closes and nothing comes back; the next login works.
	if _, err := signIn(t, s, p); err != nil {
		t.Fatal(err)
	}
}

func TestNew(t *testing.T) {
	valid := func(edit func(*qq.Config)) qq.Config {
		c := qq.Config{ID: "qq", AppID: appID, AppKey: appKey}
		if edit != nil {
			edit(&c)
		}
		return c
	}
	bad := map[string]qq.Config{
		"no app id":          valid(func(c *qq.Config) { c.AppID = "" }),
		"no app key":         valid(func(c *qq.Config) { c.AppKey = " " }),
		"unknown key":        valid(func(c *qq.Config) { c.Key = "email" }),
		"empty scope":        valid(func(c *qq.Config) { c.Scopes = []string{""} }),
		"scope with comma":   valid(func(c *qq.Config) { c.Scopes = []string{"get_user_info,add_t"} }),
		"relative endpoint":  valid(func(c *qq.Config) { c.Endpoints.Token = "/oauth2.0/token" }),
		"http non-loopback":  valid(func(c *qq.Config) { c.Endpoints.Me = "http://graph.qq.com/oauth2.0/me" }),
		"ftp endpoint":       valid(func(c *qq.Config) { c.Endpoints.UserInfo = "ftp://graph.qq.com/user/get_user_info" }),
		"endpoint with user": valid(func(c *qq.Config) { c.Endpoints.Authorize = "https://u:p@graph.qq.com/oauth2.0/authorize" }),
		"unparsable":         valid(func(c *qq.Config) { c.Endpoints.Authorize = "https://graph.qq.com/%zz" }),
	}
	for name, cfg := range bad {
		if _, err := qq.New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}

	p, err := qq.New(valid(nil))
	if err != nil {
		t.Fatal(err)
	}
	if p.Issuer() != "https://graph.qq.com" || p.Key() != qq.KeyOpenID {
		t.Errorf("defaults: issuer %q key %q", p.Issuer(), p.Key())
	}
	for _, ep := range []string{"http://127.0.0.1:9/x", "http://[::1]:9/x", "http://localhost:9/x"} {
		if _, err := qq.New(valid(func(c *qq.Config) { c.Endpoints.Authorize = ep })); err != nil {
			t.Errorf("loopback %s refused: %v", ep, err)
		}
	}
}

func TestCheck(t *testing.T) {
	s, p := newFake(t, qq.KeyOpenID)
	checks := p.Check(context.Background())
	if len(checks) != 4 {
		t.Fatalf("checks %+v, want config and three endpoints", checks)
	}
	for _, c := range checks {
		if !c.OK {
			t.Errorf("against the fake: %+v", c)
		}
		if strings.Contains(c.Info, appKey) {
			t.Errorf("check %q reveals the app key", c.Info)
		}
	}

	// Not QQ: a web server answering HTML, one accepting anything, and
	// nothing at all.
	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<html>It works!</html>"))
	}))
	defer html.Close()
	lax := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"ret":0,"access_token":"A","client_id":"x","openid":"O"}`))
	}))
	defer lax.Close()
	s.Close()
	for _, base := range []string{html.URL, lax.URL, s.URL()} {
		p, err := qq.New(qq.Config{AppID: appID, AppKey: appKey, Endpoints: qq.Endpoints{
			Authorize: base + "/a", Token: base + "/t", Me: base + "/m", UserInfo: base + "/u",
		}})
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range p.Check(context.Background())[1:] {
			if c.OK {
				t.Errorf("%s: %+v", base, c)
			}
			if want := []string{"endpoints.token", "endpoints.me", "endpoints.user_info"}[i]; c.Key != want {
				t.Errorf("%s: check %q names the key %q, want %q", base, c.Name, c.Key, want)
			}
		}
	}
}
