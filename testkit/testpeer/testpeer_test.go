package testpeer_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tether-id/tether/testkit/testpeer"
)

// authURL is an authorization request for op without the RP library,
// with or without PKCE.
func authURL(op *testpeer.OP, pkce bool) string {
	q := url.Values{
		"response_type": {"code"}, "client_id": {op.ClientID}, "redirect_uri": {op.RedirectURI()},
		"scope": {"openid email"}, "state": {"st"}, "nonce": {"nc"},
	}
	if pkce {
		// RFC 7636 Appendix B's example pair.
		q.Set("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
		q.Set("code_challenge_method", "S256")
	}
	endpoint := strings.TrimSuffix(op.Issuer, "/") + "/auth"
	return endpoint + "?" + q.Encode()
}

func TestZitadelRequiresPKCE(t *testing.T) {
	t.Parallel()
	op := testpeer.Zitadel(t)
	resp, err := http.Get(authURL(op, false))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("authorization without PKCE: HTTP %d, want 400", resp.StatusCode)
	}
	back := op.Login(t, authURL(op, true), testpeer.Alice)
	if back.Query().Get("code") == "" || back.Query().Get("state") != "st" {
		t.Errorf("login with PKCE came back as %s", back)
	}
}

func TestZitadelChecksPasswords(t *testing.T) {
	t.Parallel()
	op := testpeer.Zitadel(t)
	ft := &fatalRecorder{TB: t}
	func() {
		defer func() { recover() }()
		op.Login(ft, authURL(op, true), testpeer.User{Login: "alice", Password: "wrong"})
	}()
	if !strings.Contains(ft.msg, "login page again") {
		t.Errorf("login with a wrong password: %q, want a login-page failure", ft.msg)
	}
}

func TestPanvaRequiresPKCE(t *testing.T) {
	t.Parallel()
	for _, logto := range []bool{false, true} {
		op := testpeer.Panva(t, testpeer.PanvaOptions{Logto: logto})
		back := op.Login(t, authURL(op, false), testpeer.Alice)
		if q := back.Query(); q.Get("error") != "invalid_request" || !strings.Contains(q.Get("error_description"), "PKCE") {
			t.Errorf("logto=%v: authorization without PKCE came back as %s", logto, back)
		}
		back = op.Login(t, authURL(op, true), testpeer.User{Login: "carol"})
		if q := back.Query(); q.Get("code") == "" || q.Get("iss") != op.Issuer {
			t.Errorf("logto=%v: login as any name came back as %s", logto, back)
		}
	}
}

// fatalRecorder records Fatalf and stops the helper by panicking, so a
// test can check that the browser fails where it should.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = strings.TrimSpace(strings.SplitN(fmt.Sprintf(format, args...), "\n", 2)[0])
	panic(f)
}

func (f *fatalRecorder) Helper() {}
