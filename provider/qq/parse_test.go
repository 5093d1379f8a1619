package qq

import (
	"errors"
	"strings"
	"testing"
)

// wantErr describes an expected parse outcome: success (the zero value),
// an *APIError with code, or ErrMalformed.
type wantErr struct {
	api       bool
	malformed bool
	code      int64
}

var (
	ok      = wantErr{}
	garbled = wantErr{malformed: true}
)

func qqErr(code int64) wantErr { return wantErr{api: true, code: code} }

func checkErr(t *testing.T, err error, want wantErr) {
	t.Helper()
	var api *APIError
	switch {
	case want == ok:
		if err != nil {
			t.Fatalf("err = %v, want nil", err)
		}
	case want.malformed:
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("err = %v, want ErrMalformed", err)
		}
	case !errors.As(err, &api):
		t.Fatalf("err = %v, want *APIError %d", err, want.code)
	case api.Code != want.code:
		t.Fatalf("APIError code = %d, want %d (%v)", api.Code, want.code, err)
	}
}

func TestParseTokenResponse(t *testing.T) {
	tests := []struct {
		name string
		body string
		want tokenResponse
		err  wantErr
	}{
		{"urlencoded", "access_token=FE04CCE2&expires_in=7776000&refresh_token=88E4BE14",
			tokenResponse{AccessToken: "FE04CCE2", RefreshToken: "88E4BE14", ExpiresIn: 7776000}, ok},
		{"urlencoded with openid and newline", "access_token=A&expires_in=5184000&refresh_token=R&openid=O\n",
			tokenResponse{AccessToken: "A", RefreshToken: "R", ExpiresIn: 5184000, OpenID: "O"}, ok},
		{"urlencoded without expiry", "access_token=A",
			tokenResponse{AccessToken: "A"}, ok},
		{"json string expires_in", `{"access_token":"A","expires_in":"7776000","refresh_token":"R"}`,
			tokenResponse{AccessToken: "A", RefreshToken: "R", ExpiresIn: 7776000}, ok},
		{"json number expires_in", `{"access_token":"A","expires_in":7776000,"refresh_token":"R"}`,
			tokenResponse{AccessToken: "A", RefreshToken: "R", ExpiresIn: 7776000}, ok},
		{"json null expires_in", `{"access_token":"A","expires_in":null}`,
			tokenResponse{AccessToken: "A"}, ok},
		{"json with BOM and spaces", "\uFEFF  {\"access_token\":\"A\"} \r\n",
			tokenResponse{AccessToken: "A"}, ok},
		{"jsonp success", `callback( {"access_token":"A","expires_in":"60"} );`,
			tokenResponse{AccessToken: "A", ExpiresIn: 60}, ok},
		{"json error 0 is no error", `{"error":0,"access_token":"A"}`,
			tokenResponse{AccessToken: "A"}, ok},
		{"json error \"00\" is no error", `{"error":"00","ret":"-0","access_token":"A"}`,
			tokenResponse{AccessToken: "A"}, ok},

		{"json error", `{"error":100019,"error_description":"code to access token error"}`, tokenResponse{}, qqErr(100019)},
		{"json error as string", `{"error":"100020","error_description":"code is reused error"}`, tokenResponse{}, qqErr(100020)},
		{"json error word", `{"error":"invalid_request"}`, tokenResponse{}, qqErr(0)},
		{"error beside a token", `{"error":100016,"access_token":"A"}`, tokenResponse{}, qqErr(100016)},
		{"error with odd members", `{"error":100016,"access_token":17}`, tokenResponse{}, qqErr(100016)},
		{"jsonp error", "callback( {\"error\":100019,\"error_description\":\"code to access token error\"} );\n", tokenResponse{}, qqErr(100019)},
		{"jsonp error tight", `callback({"error":100010});`, tokenResponse{}, qqErr(100010)},
		{"urlencoded error", "error=100009&error_description=client+secret+is+illegal", tokenResponse{}, qqErr(100009)},
		{"ret error", `{"ret":-1,"msg":"invalid"}`, tokenResponse{}, qqErr(-1)},

		{"empty", "", tokenResponse{}, garbled},
		{"blank", " \n\t", tokenResponse{}, garbled},
		{"html", "<html><body>busy</body></html>", tokenResponse{}, garbled},
		{"garbage", "\x00\xff\xfe{{{", tokenResponse{}, garbled},
		{"truncated json", `{"access_token":"A","expires_in":"77`, tokenResponse{}, garbled},
		{"truncated jsonp", `callback( {"error":100019,"error_description":"code`, tokenResponse{}, garbled},
		{"jsonp without object", `callback( 42 );`, tokenResponse{}, garbled},
		{"json array", `[]`, tokenResponse{}, garbled},
		{"json no token", `{"expires_in":"1"}`, tokenResponse{}, garbled},
		{"json empty token", `{"access_token":""}`, tokenResponse{}, garbled},
		{"json token not a string", `{"access_token":123}`, tokenResponse{}, garbled},
		{"json token with space", `{"access_token":"A B"}`, tokenResponse{}, garbled},
		{"json token too long", `{"access_token":"` + strings.Repeat("A", maxTokenLen+1) + `"}`, tokenResponse{}, garbled},
		{"json expires_in word", `{"access_token":"A","expires_in":"soon"}`, tokenResponse{}, garbled},
		{"json expires_in negative", `{"access_token":"A","expires_in":-5}`, tokenResponse{}, garbled},
		{"json expires_in huge", `{"access_token":"A","expires_in":"9223372036854775807"}`, tokenResponse{}, garbled},
		{"json expires_in overflow", `{"access_token":"A","expires_in":1e400}`, tokenResponse{}, garbled},
		{"json error object", `{"error":{"code":1}}`, tokenResponse{}, garbled},
		{"trailing data", `{"access_token":"A"} x`, tokenResponse{}, garbled},
		{"urlencoded no token", "expires_in=1&refresh_token=R", tokenResponse{}, garbled},
		{"urlencoded bad escape", "access_token=%zz", tokenResponse{}, garbled},
		{"urlencoded expires_in word", "access_token=A&expires_in=never", tokenResponse{}, garbled},
		{"urlencoded bad refresh token", "access_token=A&refresh_token=%00", tokenResponse{}, garbled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseTokenResponse([]byte(tt.body))
			checkErr(t, err, tt.err)
			if tt.err == ok && got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseMe(t *testing.T) {
	const (
		openid  = "9C1A7B3F0E2D4C6B8A9F1E3D5C7B9A0F"
		unionid = "UID_3E1A7B3F0E2D4C6B8A9F1E3D5C7B9A0F"
	)
	both := meResponse{ClientID: "101", OpenID: openid, UnionID: unionid}
	only := meResponse{ClientID: "101", OpenID: openid}
	tests := []struct {
		name string
		body string
		want meResponse
		err  wantErr
	}{
		{"jsonp as sent", "callback( {\"client_id\":\"101\",\"openid\":\"" + openid + "\"} );\n", only, ok},
		{"jsonp tight", `callback({"client_id":"101","openid":"` + openid + `"});`, only, ok},
		{"jsonp no semicolon", `callback( {"client_id":"101","openid":"` + openid + `"} )`, only, ok},
		{"jsonp crlf and tabs", "\r\n\tcallback\t(\r\n{\"client_id\":\"101\",\"openid\":\"" + openid + "\"}\r\n)\t;\r\n", only, ok},
		{"jsonp other name", `jQuery_1.cb( {"client_id":"101","openid":"` + openid + `"} );`, only, ok},
		{"json", `{"client_id":"101","openid":"` + openid + `"}`, only, ok},
		{"json with unionid", `{"client_id":"101","openid":"` + openid + `","unionid":"` + unionid + `"}`, both, ok},
		{"jsonp with unionid", `callback( {"client_id":"101","openid":"` + openid + `","unionid":"` + unionid + `"} );`, both, ok},
		{"empty unionid", `{"client_id":"101","openid":"` + openid + `","unionid":""}`, only, ok},
		{"numeric client_id", `{"client_id":101,"openid":"` + openid + `"}`, only, ok},

		{"error 100016", `{"error":100016,"error_description":"access token check failed"}`, meResponse{}, qqErr(100016)},
		{"error 100013", `{"error":100013,"error_description":"access token is illegal"}`, meResponse{}, qqErr(100013)},
		{"error 100048", `{"error":100048,"error_description":"companyid not set"}`, meResponse{}, qqErr(100048)},
		{"jsonp error", "callback( {\"error\":100016,\"error_description\":\"access token check failed\"} );\n", meResponse{}, qqErr(100016)},

		{"empty", "", meResponse{}, garbled},
		{"html", "<!DOCTYPE html><html></html>", meResponse{}, garbled},
		{"urlencoded", "client_id=101&openid=" + openid, meResponse{}, garbled},
		{"garbage", "\xff\x00", meResponse{}, garbled},
		{"callback word only", "callback", meResponse{}, garbled},
		{"unterminated jsonp", `callback( {"client_id":"101","openid":"` + openid + `"}`, meResponse{}, garbled},
		{"truncated", `callback( {"client_id":"101","op`, meResponse{}, garbled},
		{"no openid", `{"client_id":"101"}`, meResponse{}, garbled},
		{"no client_id", `{"openid":"` + openid + `"}`, meResponse{}, garbled},
		{"openid not a string", `{"client_id":"101","openid":5}`, meResponse{}, garbled},
		{"openid with control character", `{"client_id":"101","openid":"A\u0000B"}`, meResponse{}, garbled},
		{"openid too long", `{"client_id":"101","openid":"` + strings.Repeat("A", maxIDLen+1) + `"}`, meResponse{}, garbled},
		{"unionid with space", `{"client_id":"101","openid":"` + openid + `","unionid":"U I"}`, meResponse{}, garbled},
		{"client_id object", `{"client_id":{},"openid":"` + openid + `"}`, meResponse{}, garbled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMe([]byte(tt.body))
			checkErr(t, err, tt.err)
			if tt.err == ok && got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseUserInfo(t *testing.T) {
	const (
		qq1 = "http://thirdqq.qlogo.cn/g?b=oidb&k=abc&s=40&t=1"
		qq2 = "http://thirdqq.qlogo.cn/g?b=oidb&k=abc&s=100&t=1"
	)
	tests := []struct {
		name     string
		body     string
		nickname string
		avatar   string
		err      wantErr
	}{
		{"full", `{"ret":0,"msg":"","is_lost":0,"nickname":"小企鹅","gender":"男","figureurl_qq_1":"` + qq1 + `","figureurl_qq_2":"` + qq2 + `","vip":"0"}`,
			"小企鹅", qq2, ok},
		{"no figureurl_qq_2", `{"ret":0,"msg":"","nickname":"n","figureurl_qq_1":"` + qq1 + `"}`, "n", qq1, ok},
		{"empty figureurl_qq_2", `{"ret":0,"nickname":"n","figureurl_qq_1":"` + qq1 + `","figureurl_qq_2":""}`, "n", qq1, ok},
		{"figureurl_qq_2 not a URL", `{"ret":0,"nickname":"n","figureurl_qq_1":"` + qq1 + `","figureurl_qq_2":"javascript:alert(1)"}`, "n", qq1, ok},
		{"no avatars", `{"ret":0,"nickname":"n"}`, "n", "", ok},
		{"ret as string", `{"ret":"0","nickname":"n"}`, "n", "", ok},
		{"escaped unicode", `{"ret":0,"nickname":"\u5c0f\u4f01\u9e45"}`, "小企鹅", "", ok},
		{"jsonp", `callback( {"ret":0,"nickname":"n"} );`, "n", "", ok},

		{"ret -1", `{"ret":-1,"msg":"client request's parameters are invalid, invalid openid"}`, "", "", qqErr(-1)},
		{"ret 1002", `{"ret":1002,"msg":"请先登录"}`, "", "", qqErr(1002)},
		{"ret as negative string", `{"ret":"-1","msg":"x"}`, "", "", qqErr(-1)},
		{"ret with profile", `{"ret":100030,"msg":"no permission","nickname":"n"}`, "", "", qqErr(100030)},
		{"oauth error", `{"error":100016,"error_description":"access token check failed"}`, "", "", qqErr(100016)},

		{"no ret", `{"nickname":"n"}`, "", "", garbled},
		{"empty object", `{}`, "", "", garbled},
		{"empty", "", "", "", garbled},
		{"html", "<html><head><title>502</title></head></html>", "", "", garbled},
		{"garbage", "\x1b[0m\xff", "", "", garbled},
		{"truncated", `{"ret":0,"nickname":"小`, "", "", garbled},
		{"nickname not a string", `{"ret":0,"nickname":1}`, "", "", garbled},
		{"ret bool", `{"ret":true}`, "", "", garbled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseUserInfo([]byte(tt.body))
			checkErr(t, err, tt.err)
			if tt.err != ok {
				return
			}
			if got.Nickname != tt.nickname || got.Avatar != tt.avatar {
				t.Errorf("got nickname %q avatar %q, want %q %q", got.Nickname, got.Avatar, tt.nickname, tt.avatar)
			}
			if _, has := got.Fields["ret"]; has {
				t.Error("Fields keep ret")
			}
			if _, has := got.Fields["nickname"]; !has {
				t.Error("Fields lack nickname")
			}
		})
	}
}

func TestClean(t *testing.T) {
	tests := []struct{ in, want string }{
		{"access token check failed", "access token check failed"},
		{"请先登录", "请先登录"},
		{"a\x00b\nc\x7fd\xffe", "abcde"},
		{strings.Repeat("x", 300), strings.Repeat("x", 200) + "…"},
	}
	for _, tt := range tests {
		if got := clean(tt.in); got != tt.want {
			t.Errorf("clean(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
