package web_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tether-id/tether/config"
	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/testkit/mailtest"
	"github.com/tether-id/tether/testkit/testpeer"
	"github.com/tether-id/tether/testkit/tethertest"
)

// Browser tests of the email flows (issue 15): a real SMTP server
// (mailpit) receives the messages, the test reads them through its API,
// and headless Chromium follows their links, in English and Chinese,
// with screenshots at desktop and phone widths.

// mailEnv is a running tether that mails through mp.
func mailEnv(t *testing.T, mp *mailtest.Mailpit, configure func(*config.Config)) *env {
	t.Helper()
	return startEnv(t, envOptions{configure: func(c *config.Config) {
		c.SMTP = tethertest.SMTP(mp)
		if configure != nil {
			configure(c)
		}
	}})
}

// link waits for the message to address and returns its action link as
// a path on tether.
func (e *env) link(t *testing.T, mp *mailtest.Mailpit, address, wantPath string) string {
	t.Helper()
	msg, u := tethertest.TakeMail(t, mp, address)
	if u == nil || u.Path != wantPath || !strings.HasPrefix(u.String(), e.srv.URL) {
		t.Fatalf("message %q to %s: link %v, want %s on %s", msg.Subject, address, u, wantPath, e.srv.URL)
	}
	return u.RequestURI()
}

// lang holds what a run of the flows needs in one language.
type lang struct {
	tag, accept string
	t           func(key string, args ...any) string
	prefix      string // of the screenshots
}

func langs(t *testing.T) []lang {
	return []lang{
		{"en", "en-US,en;q=0.9", func(k string, a ...any) string { return msg(t, "en", k, a...) }, "email-en"},
		{"zh-CN", "zh-CN,zh;q=0.9", func(k string, a ...any) string { return msg(t, "zh-CN", k, a...) }, "email-zh"},
	}
}

// checkLang fails for English text on a Chinese page. Addresses are
// left out: the test's own are made of its English name.
func (tb *tab) checkLang(l lang, english []string, where string) {
	tb.t.Helper()
	if l.tag == "en" {
		return
	}
	page := addressRE.ReplaceAllString(tb.text(), "")
	for _, s := range english {
		if strings.Contains(page, s) {
			tb.t.Errorf("%s: English text %q on the Chinese page:\n%s", where, s, page)
		}
	}
}

const iPhone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"

// signInAs signs in with a password through the Cloudreve API, as a
// client with the User-Agent ua.
func signInAs(t *testing.T, c *tethertest.Client, address, password, ua string) tethertest.Login {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"email": address, "password": password})
	req, _ := http.NewRequest(http.MethodPost, c.URL("/api/v4/session/token"), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", ua)
	resp, err := c.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct {
		Code int
		Data tethertest.Login
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil || env.Code != 0 {
		t.Fatalf("sign-in as %s: code %d %v", ua, env.Code, err)
	}
	return env.Data
}

var addressRE = regexp.MustCompile(`[^\s@]+@[^\s@]+`)

// TestBrowserEmailFlows follows every emailed link in a browser, in both
// languages: verification after sign-up, password reset, change of
// address; then the devices list and account deletion.
func TestBrowserEmailFlows(t *testing.T) {
	mp := mailtest.Shared(t)
	e := mailEnv(t, mp, nil)
	english := englishTexts(t)
	for _, l := range langs(t) {
		t.Run(l.tag, func(t *testing.T) {
			tb := e.tab(t, l.accept)
			shoot := func(name string) {
				tb.checkLang(l, english, name)
				tb.shoot(l.prefix + "-" + name)
			}
			address := mailtest.Recipient(t)

			// Sign-up mails a verification link; the account page says
			// the address is not verified yet.
			tb.open("/signup")
			tb.fill("#email", address)
			tb.fill("#password", "correct horse battery")
			tb.fill("#password_again", "correct horse battery")
			tb.press(`form[action="/signup"] button[type=submit]`)
			tb.wantPath("/account")
			tb.want(l.t("email_unverified"), l.t("verify_send"), l.t("devices_title"), l.t("device_this"), l.t("delete_open"))
			shoot("account-unverified")
			verify := e.link(t, mp, address, "/session/activate")

			// Asking again replaces the first link.
			tb.press(`form[action="/account/email/resend"] button`)
			tb.want(l.t("notice_verification_sent", address))
			verify2 := e.link(t, mp, address, "/session/activate")

			// The link opens a page with a button; nothing happens on GET.
			tb.open(verify)
			tb.want(l.t("title_link_invalid"), l.t("err_link_unknown"))
			shoot("link-replaced")
			tb.open(verify2)
			tb.want(l.t("title_verify"), address, l.t("verify_button"))
			if u, _ := e.svc().UserByEmail(ctx(t), address); u.EmailVerified {
				t.Fatal("opening the link verified the address")
			}
			shoot("verify-confirm")
			tb.press(`form[action="/session/activate"] button`)
			tb.wantPath("/account?verified=1")
			tb.want(l.t("notice_verified"), l.t("email_verified"))
			shoot("account-verified")
			tb.open(verify2)
			tb.want(l.t("err_link_used"))
			shoot("link-used")

			// Forgotten password, from the sign-in page.
			tb.open("/account")
			tb.press(`form[action="/logout"] button`)
			tb.press(`a[href^="/login/forgot"]`)
			tb.wantPath("/login/forgot")
			shoot("forgot")
			tb.fill("#email", address)
			tb.press(`form[action="/login/forgot"] button`)
			tb.want(l.t("title_forgot_sent"), address)
			shoot("forgot-sent")
			reset := e.link(t, mp, address, "/session/reset")
			tb.open(reset)
			tb.want(l.t("title_reset"), address, l.t("reset_sessions_note"))
			shoot("reset")
			tb.fill("#password", "a brand new password")
			tb.fill("#password_again", "a different new password")
			tb.press(`form[action="/session/reset"] button`)
			tb.want(l.t("err_password_mismatch"))
			shoot("reset-mismatch")
			tb.fill("#password", "a brand new password")
			tb.fill("#password_again", "a brand new password")
			tb.press(`form[action="/session/reset"] button`)
			tb.wantPath("/login?reset=1")
			tb.want(l.t("notice_password_reset"))
			shoot("login-after-reset")
			tb.open(reset)
			tb.want(l.t("err_link_used"), l.t("action_new_reset_link"))
			tb.open("/login")
			tb.fill("#email", address)
			tb.fill("#password", "a brand new password")
			tb.press(`form[action="/login"] button[type=submit]`)
			tb.wantPath("/account")

			// Change of address: the link goes to the new address, the
			// old one is told.
			newAddress := mailtest.Recipient(t)
			tb.fill("#new_email", newAddress)
			tb.fill("#email_password", "a brand new password")
			tb.press(`form[action="/account/email"] button`)
			tb.wantPath("/account?change_sent=1")
			tb.want(l.t("notice_change_sent"), address)
			shoot("account-change-sent")
			change := e.link(t, mp, newAddress, "/session/activate_email")
			tb.open(change)
			tb.want(l.t("title_change_confirm"), newAddress)
			shoot("change-confirm")
			tb.press(`form[action="/session/activate_email"] button`)
			tb.want(l.t("title_changed"), l.t("changed_text", newAddress))
			shoot("changed")
			notice, _ := tethertest.TakeMail(t, mp, address)
			masked := newAddress[:1] + "***@example.test"
			if !strings.Contains(notice.Text, masked) {
				t.Errorf("notice to the old address: %q\n%s", notice.Subject, notice.Text)
			}

			// A second device, then sign it out from here.
			api := e.srv.Client(t)
			other := signInAs(t, api, newAddress, "a brand new password", iPhone)
			tb.open("/account")
			tb.want(l.t("devices_sign_out_others"), l.t("device_name", "Safari", "iOS"), "127.0.0.1")
			shoot("account-devices")
			tb.press(`form[action="/account/sessions/revoke-others"] button`)
			tb.want(l.t("notice_others_signed_out"))
			if env := api.Cloudreve("POST", "/api/v4/session/token/refresh", map[string]string{"refresh_token": other.Token.RefreshToken}, ""); env.Code != 40020 {
				t.Errorf("the other device's session: %s", env.Raw)
			}

			// Deletion: the password again, then gone.
			tb.press(`a[href="/account/delete"]`)
			tb.want(l.t("title_delete"), l.t("delete_warning"))
			shoot("delete")
			tb.fill("#password", "not the password")
			tb.press(`form[action="/account/delete"] button`)
			tb.want(l.t("err_password_wrong"))
			shoot("delete-wrong-password")
			tb.fill("#password", "a brand new password")
			tb.press(`form[action="/account/delete"] button`)
			tb.want(l.t("title_deleted"), l.t("deleted_text_mail", newAddress))
			shoot("deleted")
			if _, err := e.svc().UserByEmail(ctx(t), newAddress); err == nil {
				t.Error("the account is still there")
			}
			bye, _ := tethertest.TakeMail(t, mp, newAddress)
			if !strings.Contains(bye.Subject, "tether") {
				t.Errorf("deletion notice %q", bye.Subject)
			}
			tb.open("/account")
			tb.wantPath("/login")
		})
	}
}

// TestBrowserEmailLinkProblems: an expired link, and a link for an
// address the account no longer has, each say so.
func TestBrowserEmailLinkProblems(t *testing.T) {
	mp := mailtest.Shared(t)
	e := mailEnv(t, mp, nil)
	address := mailtest.Recipient(t)
	u, err := e.svc().SignUp(ctx(t), core.NewUser{Email: address, Password: "correct horse"}, core.Client{})
	if err != nil {
		t.Fatal(err)
	}
	verify := e.link(t, mp, address, "/session/activate")
	for _, l := range langs(t) {
		tb := e.tab(t, l.accept)
		// Another address: the admin changed it.
		if _, err := e.svc().UpdateUser(ctx(t), u.ID, func(x *core.User) error { x.Email = "moved-" + address; return nil }, core.AdminCLI); err != nil {
			t.Fatal(err)
		}
		tb.open(verify)
		tb.want(l.t("err_link_other_address"))
		tb.shoot(l.prefix + "-link-other-address")
		if _, err := e.svc().UpdateUser(ctx(t), u.ID, func(x *core.User) error { x.Email = address; return nil }, core.AdminCLI); err != nil {
			t.Fatal(err)
		}
		// Expired.
		if err := e.svc().RequestPasswordReset(ctx(t), address, "", core.Client{}); err != nil {
			t.Fatal(err)
		}
		reset := e.link(t, mp, address, "/session/reset")
		e.clock.Advance(time.Hour + time.Minute)
		tb.open(reset)
		tb.want(l.t("err_link_expired"), l.t("action_new_reset_link"))
		tb.shoot(l.prefix + "-link-expired")
		tb.press(`main a.button.primary`)
		tb.wantPath("/login/forgot")
	}
}

// TestBrowserRequireVerified: with registration.require_verified_email,
// sign-up ends on "check your inbox", and a sign-in before the link is
// followed is refused with a way to have it sent again.
func TestBrowserRequireVerified(t *testing.T) {
	mp := mailtest.Shared(t)
	e := mailEnv(t, mp, func(c *config.Config) { c.Registration.RequireVerifiedEmail = true })
	english := englishTexts(t)
	for _, l := range langs(t) {
		tb := e.tab(t, l.accept)
		address := mailtest.Recipient(t)
		tb.open("/signup")
		tb.fill("#email", address)
		tb.fill("#password", "correct horse battery")
		tb.fill("#password_again", "correct horse battery")
		tb.press(`form[action="/signup"] button[type=submit]`)
		tb.want(l.t("title_signup_sent"), address, l.t("resend_button"))
		tb.checkLang(l, english, "signup-sent")
		tb.shoot(l.prefix + "-signup-sent")
		e.link(t, mp, address, "/session/activate")

		tb.open("/login")
		tb.fill("#email", address)
		tb.fill("#password", "correct horse battery")
		tb.press(`form[action="/login"] button[type=submit]`)
		tb.want(l.t("err_email_unverified"), l.t("resend_lead", address))
		tb.checkLang(l, english, "login-unverified")
		tb.shoot(l.prefix + "-login-unverified")
		tb.press(`form[action="/login/resend"] button`)
		tb.want(l.t("verify_sent_to", address))
		verify := e.link(t, mp, address, "/session/activate")

		// Followed in a browser that is not signed in.
		tb.open(verify)
		tb.press(`form[action="/session/activate"] button`)
		tb.want(l.t("title_verified"), l.t("verified_text", address))
		tb.shoot(l.prefix + "-verified-signed-out")
		tb.press(`main a.button`)
		tb.fill("#email", address)
		tb.fill("#password", "correct horse battery")
		tb.press(`form[action="/login"] button[type=submit]`)
		tb.wantPath("/account")
	}
}

// TestBrowserLinkByVerifiedEmail: a self-registered account is linked to
// a provider's identity with the same address once the address is
// verified through the mailed link, and not before.
func TestBrowserLinkByVerifiedEmail(t *testing.T) {
	mp := mailtest.Start(t, mailtest.Options{}) // Alice's address is the OP's, shared by other tests
	e := mailEnv(t, mp, func(c *config.Config) {
		for i := range c.Providers {
			if c.Providers[i].ID == "zitadel" {
				c.Providers[i].LinkByVerifiedEmail = true
			}
		}
	})
	tb := e.tab(t, "")
	en := func(key string, args ...any) string { return msg(t, "en", key, args...) }
	tb.open("/signup")
	tb.fill("#email", testpeer.Alice.Email)
	tb.fill("#password", "correct horse battery")
	tb.fill("#password_again", "correct horse battery")
	tb.press(`form[action="/signup"] button[type=submit]`)
	tb.press(`form[action="/logout"] button`)

	// Not verified yet: the provider's Alice is not linked to it.
	tb.press(`button[value=zitadel]`)
	tb.opLogin(testpeer.Alice)
	tb.want(en("err_email_taken"))
	tb.shoot("link-by-email-unverified")

	verify := e.link(t, mp, testpeer.Alice.Email, "/session/activate")
	tb.open(verify)
	tb.press(`form[action="/session/activate"] button`)
	tb.want(en("title_verified"))

	tb.open("/login")
	tb.press(`button[value=zitadel]`)
	tb.opLogin(testpeer.Alice)
	tb.wantPath("/account")
	tb.want(testpeer.Alice.Email, "Zitadel", en("password_set"), en("email_verified"))
	tb.shoot("link-by-email-linked")
	ids, err := e.svc().Identities(ctx(t), accountID(t, e, testpeer.Alice.Email))
	if err != nil || len(ids) != 1 || ids[0].ProviderID != "zitadel" {
		t.Errorf("identities %+v %v", ids, err)
	}
}

// TestBrowserDeletePasswordless: an account without a password confirms
// its deletion with a recent sign-in; an older one signs in again first
// and comes back to the page.
func TestBrowserDeletePasswordless(t *testing.T) {
	mp := mailtest.Shared(t)
	e := mailEnv(t, mp, nil)
	for _, l := range langs(t) {
		tb := e.tab(t, l.accept)
		tb.open("/login")
		tb.press(`button[value=zitadel]`)
		tb.opLogin(testpeer.Bob)
		tb.wantPath("/account")
		e.clock.Advance(11 * time.Minute)
		tb.open("/account/delete")
		tb.want(l.t("reauth_needed", 10), l.t("reauth_button"))
		tb.shoot(l.prefix + "-delete-reauth")
		tb.open("/account")
		tb.want(l.t("reauth_needed", 10)) // the change of address asks too
		tb.open("/account/delete")
		tb.press(`form[action="/account/reauth"] button`)
		tb.wantPath("/login?reauth=1")
		tb.want(l.t("notice_reauth"))
		tb.press(`button[value=zitadel]`)
		tb.opLogin(testpeer.Bob)
		tb.wantPath("/account/delete")
		tb.want(l.t("delete_confirm_recent"))
		tb.shoot(l.prefix + "-delete-recent")
		tb.press(`form[action="/account/delete"] button`)
		tb.want(l.t("title_deleted"))
		if _, err := e.svc().UserByEmail(ctx(t), testpeer.Bob.Email); err == nil {
			t.Error("Bob's account is still there")
		}
	}
}
