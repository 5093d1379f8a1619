package qqtest_test

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tether-id/tether/provider/qq/qqtest"
)

const (
	appID    = "101000042"
	appKey   = "3f6c2d1e0a9b8c7d6e5f4a3b2c1d0e9f"
	redirect = "https://cloud.example.test/callback?provider=qq"
)

var (
	upperHex32 = regexp.MustCompile(`^[0-9A-F]{32}$`)
	unionID    = regexp.MustCompile(`^UID_[0-9A-F]{32}$`)
)

// get calls the fake like a QQ client and returns the body, checking the
// status and the text/html Content-Type QQ uses for everything.
func get(t *testing.T, s *qqtest.Server, ep qqtest.Endpoint, q url.Values) string {
	t.Helper()
	resp, err := http.Get(s.URL() + string(ep) + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: HTTP %d", ep, resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("%s: Content-Type %q", ep, ct)
	}
	return string(b)
}

func authorizeURL(s *qqtest.Server, redirectURI string) string {
	return s.URL() + string(qqtest.Authorize) + "?" + url.Values{
		"response_type": {"code"}, "client_id": {appID}, "redirect_uri": {redirectURI},
		"state": {"xyz"}, "scope": {"get_user_info"},
	}.Encode()
}

func code(t *testing.T, s *qqtest.Server) string {
	t.Helper()
	back, err := s.Authorize(authorizeURL(s, redirect))
	if err != nil {
		t.Fatal(err)
	}
	q := back.Query()
	if q.Get("state") != "xyz" || q.Get("provider") != "qq" || !upperHex32.MatchString(q.Get("code")) {
		t.Fatalf("callback %s: want state, the redirect's own query and an upper-hex code", back)
	}
	return q.Get("code")
}

func tokenQuery(code string, extra ...string) url.Values {
	q := url.Values{
		"grant_type": {"authorization_code"}, "client_id": {appID}, "client_secret": {appKey},
		"code": {code}, "redirect_uri": {redirect},
	}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return q
}

func newServer(t *testing.T) *qqtest.Server {
	s := qqtest.NewServer(t, appID, appKey)
	s.RegisterRedirectURI(redirect)
	return s
}

func TestUsers(t *testing.T) {
	s := newServer(t)
	a, b := s.User(), s.AddUser("b")
	for _, u := range []qqtest.User{a, b} {
		if !upperHex32.MatchString(u.OpenID) || !unionID.MatchString(u.UnionID) || u.FigureQQ1 == "" || u.FigureQQ2 == "" {
			t.Errorf("user %+v", u)
		}
	}
	if a.OpenID == b.OpenID || a.UnionID == b.UnionID {
		t.Error("users share ids")
	}
	s.SignInAs(b)
	if s.User() != b {
		t.Errorf("User() = %+v after SignInAs(%+v)", s.User(), b)
	}
}

func TestAuthorizeErrors(t *testing.T) {
	s := newServer(t)
	tests := map[string]url.Values{
		"unregistered redirect": {"response_type": {"code"}, "client_id": {appID}, "redirect_uri": {redirect + "&x=1"}, "state": {"s"}},
		"unknown app":           {"response_type": {"code"}, "client_id": {"1"}, "redirect_uri": {redirect}, "state": {"s"}},
		"no state":              {"response_type": {"code"}, "client_id": {appID}, "redirect_uri": {redirect}},
		"token flow":            {"response_type": {"token"}, "client_id": {appID}, "redirect_uri": {redirect}, "state": {"s"}},
	}
	for name, q := range tests {
		if back, err := s.Authorize(s.URL() + string(qqtest.Authorize) + "?" + q.Encode()); err == nil {
			t.Errorf("%s: redirected to %s", name, back)
		}
	}
	if body := get(t, s, qqtest.Authorize, tests["unregistered redirect"]); !strings.Contains(body, "100010") {
		t.Errorf("unregistered redirect page %q lacks 100010", body)
	}
	s.CancelNextLogin()
	if back, err := s.Authorize(authorizeURL(s, redirect)); err == nil {
		t.Errorf("cancelled login redirected to %s", back)
	}
	code(t, s) // cancel is for one login only
}

func TestToken(t *testing.T) {
	tests := []struct {
		name  string
		query func(code string) url.Values
		want  *regexp.Regexp
	}{
		{"urlencoded by default", func(c string) url.Values { return tokenQuery(c) },
			regexp.MustCompile(`^access_token=[0-9A-F]{32}&expires_in=7776000&refresh_token=[0-9A-F]{32}$`)},
		{"urlencoded with openid", func(c string) url.Values { return tokenQuery(c, "need_openid", "1") },
			regexp.MustCompile(`^access_token=[0-9A-F]{32}&expires_in=7776000&refresh_token=[0-9A-F]{32}&openid=[0-9A-F]{32}$`)},
		{"json with string expires_in", func(c string) url.Values { return tokenQuery(c, "fmt", "json") },
			regexp.MustCompile(`^\{"access_token":"[0-9A-F]{32}","expires_in":"7776000","refresh_token":"[0-9A-F]{32}"\}$`)},
		{"jsonp error", func(string) url.Values { return tokenQuery("ABC") },
			regexp.MustCompile(`^callback\( \{"error":100019,"error_description":"[^"]+"\} \);\n$`)},
		{"json error", func(string) url.Values { return tokenQuery("ABC", "fmt", "json") },
			regexp.MustCompile(`^\{"error":100019,"error_description":"[^"]+"\}$`)},
		{"wrong secret", func(c string) url.Values { return tokenQuery(c, "client_secret", "x", "fmt", "json") },
			regexp.MustCompile(`"error":100009`)},
		{"unknown app", func(c string) url.Values { return tokenQuery(c, "client_id", "1", "fmt", "json") },
			regexp.MustCompile(`"error":100008`)},
		{"other redirect", func(c string) url.Values { return tokenQuery(c, "redirect_uri", "https://x.test/", "fmt", "json") },
			regexp.MustCompile(`"error":100010`)},
		{"no code", func(string) url.Values { return tokenQuery("", "fmt", "json") },
			regexp.MustCompile(`"error":100005`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t)
			if got := get(t, s, qqtest.Token, tt.query(code(t, s))); !tt.want.MatchString(got) {
				t.Errorf("got %q, want %v", got, tt.want)
			}
		})
	}
}

func TestCodeSingleUseAndExpiring(t *testing.T) {
	s := newServer(t)
	c := code(t, s)
	if got := get(t, s, qqtest.Token, tokenQuery(c, "fmt", "json")); !strings.Contains(got, "access_token") {
		t.Fatalf("first use: %s", got)
	}
	if got := get(t, s, qqtest.Token, tokenQuery(c, "fmt", "json")); !strings.Contains(got, `"error":100020`) {
		t.Errorf("reuse: %s, want 100020", got)
	}
	c = code(t, s)
	s.Advance(qqtest.CodeLifetime + time.Second)
	if got := get(t, s, qqtest.Token, tokenQuery(c, "fmt", "json")); !strings.Contains(got, `"error":100019`) {
		t.Errorf("expired: %s, want 100019", got)
	}
}

func TestRefresh(t *testing.T) {
	s := newServer(t)
	q, _ := url.ParseQuery(get(t, s, qqtest.Token, tokenQuery(code(t, s))))
	refresh := url.Values{
		"grant_type": {"refresh_token"}, "client_id": {appID}, "client_secret": {appKey},
		"refresh_token": {q.Get("refresh_token")},
	}
	q2, _ := url.ParseQuery(get(t, s, qqtest.Token, refresh))
	if !upperHex32.MatchString(q2.Get("access_token")) || q2.Get("refresh_token") == q.Get("refresh_token") {
		t.Fatalf("refresh gave %v", q2)
	}
	if got := get(t, s, qqtest.Token, refresh); !strings.Contains(got, `"error":100022`) {
		t.Errorf("refresh token reuse: %s, want 100022", got)
	}
	if got := get(t, s, qqtest.Me, url.Values{"access_token": {q2.Get("access_token")}, "fmt": {"json"}}); !strings.Contains(got, s.User().OpenID) {
		t.Errorf("refreshed access token: %s", got)
	}
}

func TestMe(t *testing.T) {
	s := newServer(t)
	u := s.User()
	q, _ := url.ParseQuery(get(t, s, qqtest.Token, tokenQuery(code(t, s))))
	at := q.Get("access_token")
	tests := []struct {
		name  string
		query url.Values
		want  string
	}{
		{"jsonp", url.Values{"access_token": {at}},
			`callback( {"client_id":"` + appID + `","openid":"` + u.OpenID + `"} );` + "\n"},
		{"json", url.Values{"access_token": {at}, "fmt": {"json"}},
			`{"client_id":"` + appID + `","openid":"` + u.OpenID + `"}`},
		{"unionid", url.Values{"access_token": {at}, "fmt": {"json"}, "unionid": {"1"}},
			`{"client_id":"` + appID + `","openid":"` + u.OpenID + `","unionid":"` + u.UnionID + `"}`},
		{"bad token", url.Values{"access_token": {"ABC"}},
			`callback( {"error":100016,"error_description":"access token check failed"} );` + "\n"},
		{"no token", url.Values{"fmt": {"json"}},
			`{"error":100007,"error_description":"param access token is wrong or lost"}`},
	}
	for _, tt := range tests {
		if got := get(t, s, qqtest.Me, tt.query); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
	s.DenyUnionID(true)
	if got := get(t, s, qqtest.Me, url.Values{"access_token": {at}, "unionid": {"1"}, "fmt": {"json"}}); !strings.Contains(got, `"error":100048`) {
		t.Errorf("denied unionid: %s", got)
	}
	if got := get(t, s, qqtest.Me, url.Values{"access_token": {at}, "fmt": {"json"}}); !strings.Contains(got, u.OpenID) {
		t.Errorf("denied unionid, openid only: %s", got)
	}
	s.Advance(qqtest.TokenLifetime + time.Second)
	if got := get(t, s, qqtest.Me, url.Values{"access_token": {at}, "fmt": {"json"}}); !strings.Contains(got, `"error":100014`) {
		t.Errorf("expired token: %s", got)
	}
}

func TestUserInfo(t *testing.T) {
	s := newServer(t)
	u := s.User()
	q, _ := url.ParseQuery(get(t, s, qqtest.Token, tokenQuery(code(t, s))))
	at := q.Get("access_token")
	ok := url.Values{"access_token": {at}, "oauth_consumer_key": {appID}, "openid": {u.OpenID}}
	body := get(t, s, qqtest.UserInfo, ok)
	for _, want := range []string{`{"ret":0,"msg":"",`, `"nickname":"` + u.Nickname + `"`, `"figureurl_qq_1":"` + u.FigureQQ1 + `"`, `"figureurl_qq_2":"` + u.FigureQQ2 + `"`, `"vip":"0"`} {
		if !strings.Contains(body, want) {
			t.Errorf("get_user_info %s lacks %s", body, want)
		}
	}
	s.OmitFigureQQ2(true)
	if body := get(t, s, qqtest.UserInfo, ok); strings.Contains(body, "figureurl_qq_2") || !strings.Contains(body, "figureurl_qq_1") {
		t.Errorf("without figureurl_qq_2: %s", body)
	}
	tests := map[string]struct {
		query url.Values
		want  string
	}{
		"no token":     {url.Values{"oauth_consumer_key": {appID}, "openid": {u.OpenID}}, `"ret":1002`},
		"bad token":    {url.Values{"access_token": {"ABC"}, "oauth_consumer_key": {appID}, "openid": {u.OpenID}}, `"ret":100016`},
		"wrong openid": {url.Values{"access_token": {at}, "oauth_consumer_key": {appID}, "openid": {"ABC"}}, `"ret":-1`},
		"wrong app":    {url.Values{"access_token": {at}, "oauth_consumer_key": {"1"}, "openid": {u.OpenID}}, `"ret":-1`},
	}
	for name, tt := range tests {
		if got := get(t, s, qqtest.UserInfo, tt.query); !strings.Contains(got, tt.want) {
			t.Errorf("%s: got %s, want %s", name, got, tt.want)
		}
	}
}

func TestReplyNext(t *testing.T) {
	s := newServer(t)
	s.ReplyNext(qqtest.Me, qqtest.JSONPError(100013, "access token is illegal"))
	s.ReplyNext(qqtest.Me, qqtest.RetError(-1, "x"))
	s.ReplyNext(qqtest.Me, qqtest.JSONError(100016, "y"))
	want := []string{
		"callback( {\"error\":100013,\"error_description\":\"access token is illegal\"} );\n",
		`{"ret":-1,"msg":"x"}`,
		`{"error":100016,"error_description":"y"}`,
		`callback( {"error":100007,"error_description":"param access token is wrong or lost"} );` + "\n",
	}
	for i, w := range want {
		if got := get(t, s, qqtest.Me, url.Values{"n": {"x"}}); got != w {
			t.Errorf("reply %d: got %q, want %q", i, got, w)
		}
	}
	if got := s.LastQuery(qqtest.Me).Get("n"); got != "x" {
		t.Errorf("LastQuery = %v", s.LastQuery(qqtest.Me))
	}
	s.ReplyNext(qqtest.Token, qqtest.Raw(503, "busy"))
	resp, err := http.Get(s.URL() + string(qqtest.Token))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("status %d, want 503", resp.StatusCode)
	}
}
