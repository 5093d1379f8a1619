package qq

import (
	"errors"
	"testing"
)

// The fuzz targets check that the parsers never panic and that every
// answer ends one of two ways: a result that satisfies the parser's
// promises, or an error that is either QQ's own (*APIError) or
// ErrMalformed. Seeds are in testdata/fuzz; plain "go test" runs them.

func checkOutcome(t *testing.T, err error) {
	t.Helper()
	var api *APIError
	if err != nil && !errors.As(err, &api) && !errors.Is(err, ErrMalformed) {
		t.Fatalf("error is neither *APIError nor ErrMalformed: %v", err)
	}
	if api != nil && api.Code == 0 && api.Description == "" {
		t.Fatalf("APIError without code or description: %v", err)
	}
}

func FuzzParseTokenResponse(f *testing.F) {
	f.Add([]byte("access_token=FE04CCE2&expires_in=7776000&refresh_token=88E4BE14"))
	f.Add([]byte(`{"access_token":"A","expires_in":"7776000","refresh_token":"R"}`))
	f.Add([]byte("callback( {\"error\":100019,\"error_description\":\"code to access token error\"} );\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		tok, err := parseTokenResponse(body)
		checkOutcome(t, err)
		if err != nil {
			return
		}
		if !validValue(tok.AccessToken, maxTokenLen) {
			t.Fatalf("accepted access token %q", tok.AccessToken)
		}
		if tok.RefreshToken != "" && !validValue(tok.RefreshToken, maxTokenLen) {
			t.Fatalf("accepted refresh token %q", tok.RefreshToken)
		}
		if tok.ExpiresIn < 0 || tok.ExpiresIn > maxExpiresIn {
			t.Fatalf("accepted expires_in %d", tok.ExpiresIn)
		}
	})
}

func FuzzParseMe(f *testing.F) {
	f.Add([]byte("callback( {\"client_id\":\"101\",\"openid\":\"9C1A7B3F0E2D4C6B8A9F1E3D5C7B9A0F\"} );\n"))
	f.Add([]byte(`{"client_id":"101","openid":"9C1A","unionid":"UID_3E1A"}`))
	f.Add([]byte(`{"error":100048,"error_description":"companyid not set"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		me, err := parseMe(body)
		checkOutcome(t, err)
		if err != nil {
			return
		}
		if me.ClientID == "" || !validValue(me.OpenID, maxIDLen) {
			t.Fatalf("accepted %+v", me)
		}
		if me.UnionID != "" && !validValue(me.UnionID, maxIDLen) {
			t.Fatalf("accepted unionid %q", me.UnionID)
		}
	})
}

func FuzzParseUserInfo(f *testing.F) {
	f.Add([]byte(`{"ret":0,"msg":"","nickname":"小企鹅","figureurl_qq_1":"http://thirdqq.qlogo.cn/g?s=40","figureurl_qq_2":"http://thirdqq.qlogo.cn/g?s=100"}`))
	f.Add([]byte(`{"ret":-1,"msg":"client request's parameters are invalid, invalid openid"}`))
	f.Add([]byte(`{"ret":1002,"msg":"请先登录"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		u, err := parseUserInfo(body)
		checkOutcome(t, err)
		if err != nil {
			return
		}
		if u.Avatar != "" && !webURL(u.Avatar) {
			t.Fatalf("accepted avatar %q", u.Avatar)
		}
		if _, has := u.Fields["ret"]; has {
			t.Fatal("Fields keep ret")
		}
	})
}
