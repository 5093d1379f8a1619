// Package qqtest runs a fake QQ Connect (graph.qq.com) for tests in any
// package. It reproduces what the real service does on the wire, quirks
// included: the authorize endpoint checks the registered redirect URI and
// answers with an upper-case hex code; codes are single use (100020) and
// expire after 10 minutes; the token endpoint answers urlencoded unless
// fmt=json, and then expires_in is a JSON string; errors are JSONP unless
// fmt=json, always with HTTP 200; /oauth2.0/me answers JSONP unless
// fmt=json and adds the unionid only for unionid=1; get_user_info reports
// errors as {"ret":...}; every answer is served as text/html.
//
// Unlike the real service, authorize redirects straight back without a
// login page; SignInAs chooses who is signed in. ReplyNext injects any
// answer, for error paths.
package qqtest

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-id/tether/provider/qq"
)

// Endpoint names one of the fake's endpoints, for ReplyNext and LastQuery.
type Endpoint string

// The endpoints, served at QQ's paths.
const (
	Authorize Endpoint = "/oauth2.0/authorize"
	Token     Endpoint = "/oauth2.0/token"
	Me        Endpoint = "/oauth2.0/me"
	UserInfo  Endpoint = "/user/get_user_info"
)

// Lifetimes QQ documents.
const (
	CodeLifetime  = 10 * time.Minute
	TokenLifetime = 90 * 24 * time.Hour // expires_in=7776000
)

// User is a QQ account.
type User struct {
	OpenID   string // 32 upper-case hex characters, per app
	UnionID  string // "UID_" and 32 upper-case hex characters
	Nickname string
	// FigureQQ1 and FigureQQ2 are the 40 px and 100 px avatars.
	FigureQQ1 string
	FigureQQ2 string
}

// Reply is an answer injected with ReplyNext. Status 0 means 200.
type Reply struct {
	Status int
	Body   string
}

// JSONError is an OAuth endpoint error as sent with fmt=json:
// {"error":100016,"error_description":"..."}, the code a number.
func JSONError(code int, description string) Reply {
	return Reply{Body: errorJSON(code, description)}
}

// JSONPError is an OAuth endpoint error as sent without fmt=json:
// callback( {"error":100019,"error_description":"..."} );
func JSONPError(code int, description string) Reply {
	return Reply{Body: jsonp(errorJSON(code, description))}
}

// RetError is an OpenAPI error: {"ret":-1,"msg":"..."}.
func RetError(ret int, msg string) Reply {
	return Reply{Body: mustJSON(struct {
		Ret int    `json:"ret"`
		Msg string `json:"msg"`
	}{ret, msg})}
}

// Raw is any answer.
func Raw(status int, body string) Reply { return Reply{Status: status, Body: body} }

// Common broken answers.
var (
	HTMLPage  = Raw(200, "<!DOCTYPE html><html><head><title>QQ互联</title></head><body>系统繁忙，请稍后再试</body></html>")
	EmptyBody = Raw(200, "")
	Garbage   = Raw(200, "\x00\xff\xfe{{{ not qq ]]]\x1b[0m")
)

// Server is a fake QQ Connect for one app.
type Server struct {
	AppID  string
	AppKey string

	srv *httptest.Server

	mu        sync.Mutex
	offset    time.Duration // added to the real clock by Advance
	users     map[string]*User
	signIn    *User
	redirects map[string]bool
	codes     map[string]*grant
	access    map[string]*grant
	refresh   map[string]*grant
	cancel    bool
	noUnionID bool
	omitQQ2   bool
	replies   map[Endpoint][]Reply
	queries   map[Endpoint]url.Values
}

// grant is what a code or token stands for.
type grant struct {
	user        *User
	redirectURI string
	expires     time.Time
	used        bool
}

// NewServer starts a fake QQ Connect for the app appID/appKey, closed when
// the test ends. It has one user, who signs in until SignInAs says
// otherwise, and no registered redirect URI.
func NewServer(t testing.TB, appID, appKey string) *Server {
	t.Helper()
	s := &Server{
		AppID:     appID,
		AppKey:    appKey,
		users:     map[string]*User{},
		redirects: map[string]bool{},
		codes:     map[string]*grant{},
		access:    map[string]*grant{},
		refresh:   map[string]*grant{},
		replies:   map[Endpoint][]Reply{},
		queries:   map[Endpoint]url.Values{},
	}
	u := s.AddUser("小企鹅")
	s.SignInAs(u)
	mux := http.NewServeMux()
	mux.HandleFunc(string(Authorize), s.serve(Authorize, s.authorize))
	mux.HandleFunc(string(Token), s.serve(Token, s.token))
	mux.HandleFunc(string(Me), s.serve(Me, s.me))
	mux.HandleFunc(string(UserInfo), s.serve(UserInfo, s.userInfo))
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the fake's base URL, the stand-in for https://graph.qq.com.
func (s *Server) URL() string { return s.srv.URL }

// Endpoints are the fake's URLs, for qq.Config.
func (s *Server) Endpoints() qq.Endpoints {
	return qq.Endpoints{
		Authorize: s.srv.URL + string(Authorize),
		Token:     s.srv.URL + string(Token),
		Me:        s.srv.URL + string(Me),
		UserInfo:  s.srv.URL + string(UserInfo),
	}
}

// Close stops the server before the test ends, to test unreachable QQ.
func (s *Server) Close() { s.srv.Close() }

// RegisterRedirectURI allows uri as a redirect_uri (exact match); others
// get error 100010.
func (s *Server) RegisterRedirectURI(uri string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.redirects[uri] = true
}

// AddUser creates a QQ account with fresh ids and avatars.
func (s *Server) AddUser(nickname string) User {
	k := hexID(8)
	u := &User{
		OpenID:    hexID(16),
		UnionID:   "UID_" + hexID(16),
		Nickname:  nickname,
		FigureQQ1: "http://thirdqq.qlogo.cn/g?b=oidb&k=" + k + "&s=40&t=1557133284",
		FigureQQ2: "http://thirdqq.qlogo.cn/g?b=oidb&k=" + k + "&s=100&t=1557133284",
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.OpenID] = u
	return *u
}

// SignInAs makes u, from AddUser, the account that authorizes from now on.
func (s *Server) SignInAs(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.signIn = s.users[u.OpenID]
	if s.signIn == nil {
		panic("qqtest: SignInAs with a user not made by AddUser")
	}
}

// User returns the account that signs in next.
func (s *Server) User() User {
	s.mu.Lock()
	defer s.mu.Unlock()
	return *s.signIn
}

// CancelNextLogin makes the next authorize behave like a person closing
// QQ's login window: a page and no redirect, as on the PC web.
func (s *Server) CancelNextLogin() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cancel = true
}

// DenyUnionID makes /me answer unionid=1 with 100048, as for an app
// without the unionid permission.
func (s *Server) DenyUnionID(deny bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noUnionID = deny
}

// OmitFigureQQ2 drops figureurl_qq_2 from get_user_info, as QQ does for
// some accounts.
func (s *Server) OmitFigureQQ2(omit bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.omitQQ2 = omit
}

// Revoke withdraws u's authorization of the app, as a person does in
// QQ's settings: every access and refresh token of u stops working
// (100016, 100022).
func (s *Server) Revoke(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, tokens := range []map[string]*grant{s.access, s.refresh} {
		for k, g := range tokens {
			if g.user.OpenID == u.OpenID {
				delete(tokens, k)
			}
		}
	}
}

// Rename changes u's nickname, as the person would in QQ.
func (s *Server) Rename(u User, nickname string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.OpenID].Nickname = nickname
}

// ReplyNext makes the next request to ep answer r instead of being
// processed. Several replies queue up.
func (s *Server) ReplyNext(ep Endpoint, r Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replies[ep] = append(s.replies[ep], r)
}

// Advance moves the fake's clock, to expire codes and tokens.
func (s *Server) Advance(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offset += d
}

// IssueToken returns a valid access token for u, as the token endpoint
// would give, for tests that inject their own token answer with ReplyNext.
func (s *Server) IssueToken(u User) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := &grant{user: s.users[u.OpenID], expires: s.now().Add(TokenLifetime)}
	if g.user == nil {
		panic("qqtest: IssueToken for a user not made by AddUser")
	}
	at := hexID(16)
	s.access[at] = g
	return at
}

// LastQuery returns the parameters of the last request to ep, nil if none.
func (s *Server) LastQuery(ep Endpoint) url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[ep]
}

// Authorize plays the browser: it GETs authURL without following the
// redirect and returns where QQ sends the browser back to. A cancelled
// login or an authorize error, which QQ shows as a page, is an error.
func (s *Server) Authorize(authURL string) (*url.URL, error) {
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(authURL)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return nil, fmt.Errorf("qqtest: authorize answered %d without redirect: %s", resp.StatusCode, b.String())
	}
	return resp.Location()
}

func (s *Server) now() time.Time { return time.Now().Add(s.offset) }

// serve records the query, plays an injected reply if one is queued, and
// otherwise calls h with the lock held.
func (s *Server) serve(ep Endpoint, h func(w http.ResponseWriter, q url.Values)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm() // GET query and POST body; QQ takes both
		s.mu.Lock()
		defer s.mu.Unlock()
		s.queries[ep] = r.Form
		// The official samples serve everything, JSON included, as HTML.
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if q := s.replies[ep]; len(q) > 0 {
			s.replies[ep] = q[1:]
			if q[0].Status != 0 {
				w.WriteHeader(q[0].Status)
			}
			w.Write([]byte(q[0].Body))
			return
		}
		h(w, r.Form)
	}
}

func (s *Server) authorize(w http.ResponseWriter, q url.Values) {
	page := func(code int, msg string) {
		fmt.Fprintf(w, "<html><body><p>error: %d</p><p>error_description: %s</p></body></html>", code, msg)
	}
	switch {
	case q.Get("response_type") != "code":
		page(100000, "缺少参数response_type或response_type非法")
		return
	case q.Get("client_id") == "":
		page(100001, "缺少参数client_id")
		return
	case q.Get("client_id") != s.AppID:
		page(100008, "该appid不存在")
		return
	case !s.redirects[q.Get("redirect_uri")]:
		page(100010, "redirect uri is illegal")
		return
	case q.Get("state") == "":
		page(100029, "state is required")
		return
	case s.cancel:
		s.cancel = false
		fmt.Fprint(w, "<html><body><script>window.close()</script></body></html>")
		return
	}
	code := hexID(16)
	s.codes[code] = &grant{user: s.signIn, redirectURI: q.Get("redirect_uri"), expires: s.now().Add(CodeLifetime)}
	back, _ := url.Parse(q.Get("redirect_uri")) // registered, so it parses
	bq := back.Query()
	bq.Set("code", code)
	bq.Set("state", q.Get("state"))
	back.RawQuery = bq.Encode()
	w.Header().Set("Location", back.String())
	w.WriteHeader(http.StatusFound)
}

func (s *Server) token(w http.ResponseWriter, q url.Values) {
	asJSON := q.Get("fmt") == "json"
	fail := func(code int, desc string) {
		if asJSON {
			fmt.Fprint(w, errorJSON(code, desc))
		} else {
			fmt.Fprint(w, jsonp(errorJSON(code, desc)))
		}
	}
	switch {
	case q.Get("grant_type") == "":
		fail(100004, "param grant_type is wrong or lost")
		return
	case q.Get("client_id") == "":
		fail(100001, "param client_id is wrong or lost")
		return
	case q.Get("client_id") != s.AppID:
		fail(100008, "client_id is not exist")
		return
	case q.Get("client_secret") == "":
		fail(100002, "param client_secret is wrong or lost")
		return
	case q.Get("client_secret") != s.AppKey:
		fail(100009, "client secret is illegal")
		return
	}
	var user *User
	switch q.Get("grant_type") {
	case "authorization_code":
		code := q.Get("code")
		g := s.codes[code]
		switch {
		case code == "":
			fail(100005, "param code is wrong or lost")
			return
		case g == nil || s.now().After(g.expires):
			fail(100019, "code to access token error")
			return
		case g.used:
			fail(100020, "code is reused error")
			return
		case q.Get("redirect_uri") != g.redirectURI:
			fail(100010, "redirect uri is illegal")
			return
		}
		g.used = true
		user = g.user
	case "refresh_token":
		rt := q.Get("refresh_token")
		g := s.refresh[rt]
		switch {
		case rt == "":
			fail(100006, "param refresh token is wrong or lost")
			return
		case g == nil || g.used || s.now().After(g.expires):
			fail(100022, "refresh token is illegal")
			return
		}
		g.used = true
		user = g.user
	default:
		fail(100004, "param grant_type is wrong or lost")
		return
	}
	at, rt := hexID(16), hexID(16)
	s.access[at] = &grant{user: user, expires: s.now().Add(TokenLifetime)}
	s.refresh[rt] = &grant{user: user, expires: s.now().Add(TokenLifetime)}
	expires := fmt.Sprint(int(TokenLifetime / time.Second))
	withOpenID := q.Get("need_openid") == "1"
	if asJSON {
		body := struct {
			AccessToken  string `json:"access_token"`
			ExpiresIn    string `json:"expires_in"` // a string, as QQ sends it
			RefreshToken string `json:"refresh_token"`
			OpenID       string `json:"openid,omitempty"`
		}{at, expires, rt, ""}
		if withOpenID {
			body.OpenID = user.OpenID
		}
		fmt.Fprint(w, mustJSON(body))
		return
	}
	// QQ's own order, which url.Values.Encode would not keep.
	body := "access_token=" + at + "&expires_in=" + expires + "&refresh_token=" + rt
	if withOpenID {
		body += "&openid=" + user.OpenID
	}
	fmt.Fprint(w, body)
}

// user returns the account an access token stands for, or writes the
// error and returns nil.
func (s *Server) user(token string, fail func(int, string)) *User {
	g := s.access[token]
	switch {
	case token == "":
		fail(100007, "param access token is wrong or lost")
	case g == nil:
		fail(100016, "access token check failed")
	case s.now().After(g.expires):
		fail(100014, "access token expired")
	default:
		return g.user
	}
	return nil
}

func (s *Server) me(w http.ResponseWriter, q url.Values) {
	asJSON := q.Get("fmt") == "json"
	write := func(body string) {
		if asJSON {
			fmt.Fprint(w, body)
		} else {
			fmt.Fprint(w, jsonp(body))
		}
	}
	fail := func(code int, desc string) { write(errorJSON(code, desc)) }
	u := s.user(q.Get("access_token"), fail)
	if u == nil {
		return
	}
	withUnionID := q.Get("unionid") == "1"
	if withUnionID && s.noUnionID {
		fail(qq.CodeNoUnionIDPermission, "companyid not set")
		return
	}
	body := struct {
		ClientID string `json:"client_id"`
		OpenID   string `json:"openid"`
		UnionID  string `json:"unionid,omitempty"`
	}{s.AppID, u.OpenID, ""}
	if withUnionID {
		body.UnionID = u.UnionID
	}
	write(mustJSON(body))
}

func (s *Server) userInfo(w http.ResponseWriter, q url.Values) {
	fail := func(ret int, msg string) { fmt.Fprint(w, RetError(ret, msg).Body) }
	if q.Get("access_token") == "" {
		fail(1002, "请先登录")
		return
	}
	u := s.user(q.Get("access_token"), fail)
	switch {
	case u == nil:
		return
	case q.Get("oauth_consumer_key") != s.AppID:
		fail(-1, "client request's parameters are invalid, invalid oauth_consumer_key")
		return
	case q.Get("openid") != u.OpenID:
		fail(-1, "client request's parameters are invalid, invalid openid")
		return
	}
	qzone := strings.Replace(u.FigureQQ1, "thirdqq.qlogo.cn/g", "qzapp.qlogo.cn/qzapp", 1)
	info := userInfoBody{
		Nickname:     u.Nickname,
		Gender:       "男",
		GenderType:   2,
		Year:         "0",
		Figure:       qzone,
		Figure1:      qzone,
		Figure2:      qzone,
		FigureQQ1:    u.FigureQQ1,
		FigureQQ2:    u.FigureQQ2,
		IsYellowVIP:  "0",
		VIP:          "0",
		YellowLevel:  "0",
		Level:        "0",
		IsYellowYear: "0",
	}
	if s.omitQQ2 {
		info.FigureQQ2 = ""
	}
	fmt.Fprint(w, mustJSON(info))
}

// userInfoBody is get_user_info's answer, members in QQ's order.
type userInfoBody struct {
	Ret           int    `json:"ret"`
	Msg           string `json:"msg"`
	IsLost        int    `json:"is_lost"`
	Nickname      string `json:"nickname"`
	Gender        string `json:"gender"`
	GenderType    int    `json:"gender_type"`
	Province      string `json:"province"`
	City          string `json:"city"`
	Year          string `json:"year"`
	Constellation string `json:"constellation"`
	Figure        string `json:"figureurl"`
	Figure1       string `json:"figureurl_1"`
	Figure2       string `json:"figureurl_2"`
	FigureQQ1     string `json:"figureurl_qq_1"`
	FigureQQ2     string `json:"figureurl_qq_2,omitempty"`
	IsYellowVIP   string `json:"is_yellow_vip"`
	VIP           string `json:"vip"`
	YellowLevel   string `json:"yellow_vip_level"`
	Level         string `json:"level"`
	IsYellowYear  string `json:"is_yellow_year_vip"`
}

func errorJSON(code int, description string) string {
	return mustJSON(struct {
		Error            int    `json:"error"`
		ErrorDescription string `json:"error_description"`
	}{code, description})
}

// jsonp wraps body the way QQ does, spaces and trailing newline included.
func jsonp(body string) string { return "callback( " + body + " );\n" }

// mustJSON encodes v like QQ: no HTML escaping of & < >.
func mustJSON(v any) string {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		panic(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// hexID returns n random bytes as upper-case hex, QQ's format for codes,
// tokens and openids.
func hexID(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return fmt.Sprintf("%X", b)
}
