package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/testkit/mailtest"
)

// HTTP tests of the email pages: CSRF on every new form, the same answer
// for every address, mail switched off, and devices of other accounts.

func TestEmailFormsCSRF(t *testing.T) {
	mp := mailtest.Shared(t)
	e := mailEnv(t, mp, nil)
	address := mailtest.Recipient(t)
	u := e.user(t)
	u.signUp(address, "correct horse")
	u.get("/account")
	foreign := e.user(t)
	foreign.get("/login")
	bad := foreign.csrf()
	same := http.Header{"Origin": {u.base}, "Sec-Fetch-Site": {"same-origin"}}
	for _, f := range []struct {
		path string
		form url.Values
	}{
		{"/login/forgot", url.Values{"email": {address}}},
		{"/login/resend", url.Values{"email": {address}}},
		{"/session/reset", url.Values{"id": {"x"}, "secret": {"y"}, "password": {"long enough"}, "password_again": {"long enough"}}},
		{"/session/activate", url.Values{"id": {"x"}, "sign": {"y"}}},
		{"/session/activate_email", url.Values{"id": {"x"}, "sign": {"y"}}},
		{"/account/email/resend", url.Values{}},
		{"/account/email", url.Values{"email": {"new@example.test"}, "password": {"correct horse"}}},
		{"/account/reauth", url.Values{}},
		{"/account/delete", url.Values{"password": {"correct horse"}}},
		{"/account/sessions/revoke", url.Values{"session": {"x"}}},
		{"/account/sessions/revoke-others", url.Values{}},
	} {
		for name, h := range map[string]http.Header{
			"another browser's token": same,
			"cross-site":              {"Origin": {"http://evil.example"}, "Sec-Fetch-Site": {"cross-site"}},
		} {
			form := url.Values{"csrf": {bad}}
			for k, v := range f.form {
				form[k] = v
			}
			p := u.postRaw(f.path, form, h)
			if p.status != http.StatusForbidden || !strings.Contains(text(p.body), msg(t, "en", "err_csrf")) {
				t.Errorf("%s, %s: HTTP %d %s, want 403", f.path, name, p.status, p.loc)
			}
		}
	}
	if _, err := e.svc().UserByEmail(ctx(t), address); err != nil {
		t.Fatalf("the account went: %v", err)
	}
}

// TestForgotSameAnswer: the forgotten-password form answers with the same
// page for an address with an account and one without.
func TestForgotSameAnswer(t *testing.T) {
	mp := mailtest.Shared(t)
	e := mailEnv(t, mp, nil)
	owner := mailtest.Recipient(t)
	if _, err := e.svc().SignUp(ctx(t), core.NewUser{Email: owner, Password: "correct horse"}, core.Client{}); err != nil {
		t.Fatal(err)
	}
	u := e.user(t)
	u.get("/login/forgot")
	pages := map[string]page{}
	for _, a := range []string{owner, "nobody-" + owner} {
		p := u.post("/login/forgot", url.Values{"email": {a}})
		p.body = strings.ReplaceAll(p.body, a, "ADDRESS")
		pages[a] = p
	}
	a, b := pages[owner], pages["nobody-"+owner]
	if a.status != http.StatusOK || a.status != b.status || a.body != b.body {
		t.Errorf("different answers:\n%d %s\n%d %s", a.status, a.body, b.status, b.body)
	}
}

// TestMailOffPages: without a mail server the sign-in page offers no
// reset, and the pages that need mail say it is off.
func TestMailOffPages(t *testing.T) {
	e := startEnv(t, envOptions{})
	u := e.user(t)
	if p := u.get("/login"); strings.Contains(p.body, "/login/forgot") {
		t.Error("the sign-in page offers a reset without mail")
	}
	if p := u.get("/login/forgot"); p.status != http.StatusNotFound || !strings.Contains(text(p.body), msg(t, "en", "err_mail_disabled")) {
		t.Errorf("/login/forgot without mail: HTTP %d\n%s", p.status, text(p.body))
	}
	u.signUp("nomail@example.test", "correct horse")
	p := u.get("/account")
	if !strings.Contains(text(p.body), msg(t, "en", "email_change_off")) || strings.Contains(p.body, `action="/account/email/resend"`) {
		t.Errorf("account page without mail:\n%s", text(p.body))
	}
	// Deleting works without mail.
	u.get("/account/delete")
	if p := u.post("/account/delete", url.Values{"password": {"correct horse"}}); p.status != http.StatusOK ||
		!strings.Contains(text(p.body), msg(t, "en", "deleted_text")) {
		t.Errorf("delete without mail: HTTP %d\n%s", p.status, text(p.body))
	}
}

// TestRevokeForeignDevice: the devices form cannot sign out another
// account's session.
func TestRevokeForeignDevice(t *testing.T) {
	e := startEnv(t, envOptions{})
	victim := e.srv.Client(t).SignIn(e.srv.CreateUser(t, "victim@example.test", "correct horse", true).Email, "correct horse")
	victimSession, err := e.svc().SessionIDOf(ctx(t), victim.Token.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	u := e.user(t)
	u.signUp("mallory@example.test", "correct horse")
	u.get("/account")
	if p := u.post("/account/sessions/revoke", url.Values{"session": {victimSession}}); p.status != http.StatusSeeOther {
		t.Fatalf("HTTP %d", p.status)
	}
	if _, err := e.svc().Refresh(ctx(t), victim.Token.RefreshToken, core.Client{}); err != nil {
		t.Errorf("another account's session was signed out: %v", err)
	}
	// Signing out this device from the list is a sign-out.
	u.get("/account")
	own, _ := e.svc().SessionIDOf(ctx(t), cookie(t, u, "tether_refresh"))
	if p := u.post("/account/sessions/revoke", url.Values{"session": {own}}); p.status != http.StatusSeeOther || !strings.HasPrefix(p.loc, "/login") {
		t.Errorf("signing out this device: HTTP %d %s", p.status, p.loc)
	}
}

// TestEmailPagesHeaders: the pages links open carry the same security
// headers as every page, and forms post only to tether.
func TestEmailPagesHeaders(t *testing.T) {
	mp := mailtest.Shared(t)
	e := mailEnv(t, mp, nil)
	u := e.user(t)
	for _, path := range []string{"/session/activate?id=x&sign=y", "/session/reset?id=x&secret=y", "/login/forgot"} {
		p := u.get(path)
		csp := p.header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "form-action 'self'") || !strings.Contains(csp, "default-src 'none'") ||
			p.header.Get("Referrer-Policy") != "same-origin" || p.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: headers %v", path, p.header)
		}
	}
}
