package cloudreve_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tether-id/tether/config"
	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/testkit/mailtest"
	"github.com/tether-id/tether/testkit/tethertest"
)

// The email routes (issue 15) against a real SMTP server: the shared
// mailpit, read through its API; every exchange checked against the
// OpenAPI document.

// mailEnv starts a server that mails through the shared mailpit.
func mailEnv(t *testing.T, opts envOptions) (*env, *mailtest.Mailpit) {
	t.Helper()
	mp := mailtest.Shared(t)
	configure := opts.configure
	opts.configure = func(c *config.Config) {
		c.SMTP = tethertest.SMTP(mp)
		if configure != nil {
			configure(c)
		}
	}
	return newEnv(t, opts), mp
}

// signUpVerified signs up address through the API and returns the
// account id and the verification link's sign.
func (c *client) signUpMail(mp *mailtest.Mailpit, address, password string) (id, sign string) {
	c.t.Helper()
	var u cloudreveUser
	ok(c.t, c.call("POST", "/api/v4/user", map[string]any{"email": address, "password": password, "language": "zh-CN"}, ""), &u)
	msg, link := tethertest.TakeMail(c.t, mp, address)
	if link == nil || link.Path != "/session/activate" || link.Query().Get("id") != u.ID {
		c.t.Fatalf("sign-up mail %q: link %v", msg.Subject, link)
	}
	if !strings.Contains(msg.Subject, "验证") {
		c.t.Errorf("the verification mail is not in the account's language: %q", msg.Subject)
	}
	return u.ID, link.Query().Get("sign")
}

func TestActivate(t *testing.T) {
	t.Parallel()
	clk := newClock()
	e, mp := mailEnv(t, envOptions{now: clk.Now})
	c := e.client(t)
	address := mailtest.Recipient(t)
	id, sign := c.signUpMail(mp, address, "correct horse")

	want(t, c.callInvalid("GET", "/api/v4/user/activate/"+id, nil, ""), 40001, "")
	want(t, c.call("GET", "/api/v4/user/activate/"+id+"?sign=made-up", nil, ""), 40030, "not valid")
	want(t, c.call("GET", "/api/v4/user/activate/someone-else?sign="+sign, nil, ""), 40030, "not valid")
	var u cloudreveUser
	ok(t, c.call("GET", "/api/v4/user/activate/"+id+"?sign="+sign, nil, ""), &u)
	if u.ID != id || u.Email != address {
		t.Errorf("activate answered %+v", u)
	}
	got, err := e.srv.App.Service.User(t.Context(), id)
	if err != nil || !got.EmailVerified {
		t.Fatalf("after activation: %+v %v", got, err)
	}
	want(t, c.call("GET", "/api/v4/user/activate/"+id+"?sign="+sign, nil, ""), 40030, "already used")

	// Expired: a second account's link a day later.
	other := mailtest.Recipient(t)
	id2, sign2 := c.signUpMail(mp, other, "correct horse")
	clk.Advance(24*time.Hour + time.Second)
	want(t, c.call("GET", "/api/v4/user/activate/"+id2+"?sign="+sign2, nil, ""), 40030, "expired")
}

func TestPasswordResetRoutes(t *testing.T) {
	t.Parallel()
	e, mp := mailEnv(t, envOptions{})
	c := e.client(t)
	address := mailtest.Recipient(t)
	id, _ := c.signUpMail(mp, address, "correct horse")
	var l tethertest.Login
	ok(t, c.passwordSignIn(address, "correct horse"), &l)

	ok(t, c.call("POST", "/api/v4/user/reset", map[string]any{"email": strings.ToUpper(address), "language": "en"}, ""), nil)
	msg, link := tethertest.TakeMail(t, mp, address)
	if link == nil || link.Path != "/session/reset" || link.Query().Get("id") != id || !strings.Contains(msg.HTML, link.String()[:40]) {
		t.Fatalf("reset mail %q: link %v", msg.Subject, link)
	}
	secret := link.Query().Get("secret")
	reset := func(id, password, secret string) tethertest.Envelope {
		return c.call("PATCH", "/api/v4/user/reset/"+id, map[string]any{"password": password, "secret": secret}, "")
	}
	want(t, c.callInvalid("PATCH", "/api/v4/user/reset/"+id, map[string]any{"password": "long enough"}, ""), 40001, "Secret cannot be empty")
	want(t, c.callInvalid("PATCH", "/api/v4/user/reset/"+id, map[string]any{"password": "short", "secret": secret}, ""), 40001, "Password must be 8 to 128")
	want(t, reset("someone-else", "new password", secret), 40030, "")
	var u cloudreveUser
	ok(t, reset(id, "new password", secret), &u)
	if u.ID != id {
		t.Errorf("reset answered %+v", u)
	}
	want(t, reset(id, "newer password", secret), 40030, "already used")
	// Every session ended; the new password works.
	want(t, c.refresh(l.Token.RefreshToken), 40020, "")
	want(t, c.passwordSignIn(address, "correct horse"), 40069, "")
	ok(t, c.passwordSignIn(address, "new password"), nil)

	// A link sent before the password changed (here by another link)
	// no longer works.
	ok(t, c.call("POST", "/api/v4/user/reset", map[string]any{"email": address}, ""), nil)
	_, first := tethertest.TakeMail(t, mp, address)
	if err := e.srv.App.Service.SetPassword(t.Context(), id, "set by an admin", core.AdminCLI); err != nil {
		t.Fatal(err)
	}
	want(t, reset(id, "another password", first.Query().Get("secret")), 40030, "password was changed")
}

// TestResetEnumeration: asking for a reset answers the same, byte for
// byte, whether or not an account has the address, and whatever that
// account is; only the owner's inbox tells.
func TestResetEnumeration(t *testing.T) {
	t.Parallel()
	e, mp := mailEnv(t, envOptions{})
	c := e.client(t)
	owner := mailtest.Recipient(t)
	c.signUpMail(mp, owner, "correct horse")
	nobody := mailtest.Recipient(t)
	var bodies [][]byte
	for _, address := range []string{owner, nobody, strings.ToUpper(owner), nobody} {
		env := c.call("POST", "/api/v4/user/reset", map[string]any{"email": address}, "")
		ok(t, env, nil)
		bodies = append(bodies, env.Raw)
	}
	for i := range bodies {
		if !bytes.Equal(bodies[i], bodies[0]) {
			t.Errorf("answer %d differs:\n%s\n%s", i, bodies[i], bodies[0])
		}
	}
	mp.Wait(t, owner, 20*time.Second)
	time.Sleep(300 * time.Millisecond) // the background lookups are done by now
	if got := mp.To(t, nobody); len(got) != 0 {
		t.Errorf("%d messages to an address without an account", len(got))
	}
	// Failures differ only in correlation_id.
	stripped := func(raw []byte) string {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		delete(m, "correlation_id")
		b, _ := json.Marshal(m)
		return string(b)
	}
	a := c.callInvalid("POST", "/api/v4/user/reset", map[string]any{"email": "not an address"}, "")
	b := c.callInvalid("POST", "/api/v4/user/reset", map[string]any{"email": "also not"}, "")
	if a.Code != 40001 || stripped(a.Raw) != stripped(b.Raw) {
		t.Errorf("bad addresses: %s / %s", a.Raw, b.Raw)
	}
}

// TestMailRateLimit: messages to one address are limited, the same for
// known and unknown addresses.
func TestMailRateLimit(t *testing.T) {
	t.Parallel()
	e, _ := mailEnv(t, envOptions{configure: func(c *config.Config) {
		c.RateLimit.Enabled, c.RateLimit.PerIPPerMinute = true, 1000
		c.RateLimit.MailPerAddress, c.RateLimit.MailWindow = 2, config.Duration(time.Hour)
	}})
	c := e.client(t)
	for _, address := range []string{mailtest.Recipient(t), mailtest.Recipient(t)} {
		for range 2 {
			ok(t, c.call("POST", "/api/v4/user/reset", map[string]any{"email": address}, ""), nil)
		}
		want(t, c.call("POST", "/api/v4/user/reset", map[string]any{"email": address}, ""), 429, "Too many emails to this address")
		if ra := c.header.Get("Retry-After"); ra != "1800" {
			t.Errorf("Retry-After %q, want 1800", ra)
		}
	}
}

func TestMailDisabledRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.client(t)
	want(t, c.call("POST", "/api/v4/user/reset", map[string]any{"email": "a@example.test"}, ""), 40019, "Email is not enabled")
	// The link routes answer for links, of which there are none.
	want(t, c.call("GET", "/api/v4/user/activate/x?sign=y", nil, ""), 40030, "")
	want(t, c.call("PATCH", "/api/v4/user/reset/x", map[string]any{"password": "long enough", "secret": "y"}, ""), 40030, "")
	// Sign-up works without mail.
	ok(t, c.call("POST", "/api/v4/user", map[string]any{"email": "nomail@example.test", "password": "correct horse"}, ""), nil)
}

func TestRequireVerifiedEmail(t *testing.T) {
	t.Parallel()
	e, mp := mailEnv(t, envOptions{configure: func(c *config.Config) { c.Registration.RequireVerifiedEmail = true }})
	c := e.client(t)
	address := mailtest.Recipient(t)
	id, sign := c.signUpMail(mp, address, "correct horse")
	want(t, c.passwordSignIn(address, "wrong password"), 40069, "")
	want(t, c.passwordSignIn(address, "correct horse"), 40018, "not verified")
	ok(t, c.call("GET", "/api/v4/user/activate/"+id+"?sign="+sign, nil, ""), nil)
	ok(t, c.passwordSignIn(address, "correct horse"), nil)
}

// TestMailLanguages: messages are written in the account's language,
// else in the request's.
func TestMailLanguages(t *testing.T) {
	t.Parallel()
	e, mp := mailEnv(t, envOptions{})
	c := e.client(t)
	en := mailtest.Recipient(t)
	ok(t, c.call("POST", "/api/v4/user", map[string]any{"email": en, "password": "correct horse"}, ""), nil)
	msg, _ := tethertest.TakeMail(t, mp, en)
	if !strings.HasPrefix(msg.Subject, "Verify your email address") {
		t.Errorf("subject %q", msg.Subject)
	}
	ok(t, c.call("POST", "/api/v4/user/reset", map[string]any{"email": en, "language": "zh-CN"}, ""), nil)
	msg = mp.Wait(t, en, 20*time.Second)
	if !strings.Contains(msg.Subject, "密码") {
		t.Errorf("a reset for an account without a language, asked in Chinese: %q", msg.Subject)
	}
	h := mp.Headers(t, msg.ID)
	if h["Content-Language"][0] != "zh-CN" || h["Auto-Submitted"][0] != "auto-generated" {
		t.Errorf("headers %v", h)
	}
}
