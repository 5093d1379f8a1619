package mail_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tether-id/tether/mail"
	"github.com/tether-id/tether/testkit/mailtest"
)

const (
	publicURL = "https://files.example.com"
	from      = "tether <no-reply@files.example.com>"
	// The link has characters that HTML must escape and that quoted-
	// printable must carry across soft line breaks.
	link = "https://files.example.com/verify?token=ab_CD-12&lang=zh-CN&state=%2Fhome%3Fa%3D1&padding=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
)

var site = mail.Site{PublicURL: publicURL}

// sender returns an SMTP sender for a mailpit server.
func sender(t *testing.T, mp *mailtest.Mailpit, cfg mail.SMTPConfig) *mail.SMTP {
	t.Helper()
	cfg.Host, cfg.Port = mp.Host(), mp.Port()
	if cfg.From == "" {
		cfg.From = from
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 20 * time.Second
	}
	s, err := mail.NewSMTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSendArrivesWithBothParts(t *testing.T) {
	t.Parallel()
	mp := mailtest.Shared(t)
	s := sender(t, mp, mail.SMTPConfig{TLS: mail.NoTLS, HelloName: "files.example.com"})
	for _, tc := range []struct {
		lang, subject, intro string
	}{
		{"en", "Verify your email address for tether", "is your email address"},
		{"zh-CN", "验证您在 tether 的邮箱地址", "是您的邮箱地址"},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			t.Parallel()
			to := mailtest.Recipient(t)
			m, err := site.VerifyEmail(tc.lang, "Ann Example <"+to+">", link, 24*time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Send(context.Background(), m); err != nil {
				t.Fatal(err)
			}
			got := mp.Wait(t, to, 10*time.Second)

			if got.Subject != tc.subject {
				t.Errorf("subject = %q, want %q (mailpit decodes RFC 2047)", got.Subject, tc.subject)
			}
			if got.From == nil || got.From.Address != "no-reply@files.example.com" || got.From.Name != "tether" {
				t.Errorf("from = %+v", got.From)
			}
			if len(got.To) != 1 || got.To[0].Address != to || got.To[0].Name != "Ann Example" {
				t.Errorf("to = %+v", got.To)
			}
			if got.MessageID != m.ID {
				t.Errorf("Message-ID = %q, want %q", got.MessageID, m.ID)
			}
			if !got.Date.Equal(m.Date.Truncate(time.Second)) {
				t.Errorf("Date = %v, want %v", got.Date, m.Date)
			}
			for name, body := range map[string]string{"text": got.Text, "html": got.HTML} {
				if !strings.Contains(body, tc.intro) || !strings.Contains(body, publicURL) {
					t.Errorf("%s body lacks the intro or the public URL:\n%s", name, body)
				}
			}
			if l := mailtest.FirstLink(got.Text); l != link {
				t.Errorf("text link = %q, want %q", l, link)
			}
			if l := mailtest.FirstHref(got.HTML); l != link {
				t.Errorf("html link = %q, want %q", l, link)
			}
			if !strings.Contains(got.HTML, strings.ReplaceAll(link, "&", "&amp;")) {
				t.Errorf("html does not escape & in the link")
			}

			h := mp.Headers(t, got.ID)
			for name, want := range map[string]string{
				"Auto-Submitted":   "auto-generated",
				"Content-Language": tc.lang,
				"Mime-Version":     "1.0",
			} {
				if v := first(h, name); v != want {
					t.Errorf("header %s = %q, want %q", name, v, want)
				}
			}
			if ct := first(h, "Content-Type"); !strings.HasPrefix(ct, "multipart/alternative;") {
				t.Errorf("Content-Type = %q", ct)
			}
			if tc.lang == "zh-CN" && !strings.HasPrefix(first(h, "Subject"), "=?utf-8?b?") {
				t.Errorf("Chinese subject sent as %q, want base64 encoded words", first(h, "Subject"))
			}

			raw := mp.Raw(t, got.ID)
			for _, want := range []string{
				"Content-Type: text/plain; charset=utf-8",
				"Content-Type: text/html; charset=utf-8",
				"Content-Transfer-Encoding: quoted-printable",
			} {
				if !bytes.Contains(raw, []byte(want)) {
					t.Errorf("raw message lacks %q", want)
				}
			}
			if i := bytes.Index(raw, []byte("text/plain")); i < 0 || i > bytes.Index(raw, []byte("text/html")) {
				t.Error("text/plain must come before text/html (the last alternative is preferred)")
			}
			if bare := bytes.Count(raw, []byte("\n")) - bytes.Count(raw, []byte("\r\n")); bare != 0 {
				t.Errorf("%d bare LF line endings", bare)
			}
			// mailpit prepends a Received field; tether's part starts at
			// From.
			ours := raw[bytes.Index(raw, []byte("\r\nFrom: "))+2:]
			for i, line := range bytes.Split(ours, []byte("\r\n")) {
				if len(line) > 78 {
					t.Errorf("line %d is %d characters long: %q", i, len(line), line)
				}
			}
		})
	}
}

// TestSendPlainTextOnly checks a message without an HTML body, and a line
// that starts with a dot (dot-stuffing).
func TestSendPlainTextOnly(t *testing.T) {
	t.Parallel()
	mp := mailtest.Shared(t)
	to := mailtest.Recipient(t)
	body := "first line\n.a line that starts with a dot\n.\nlast line — ünïcödé 中文\n"
	err := sender(t, mp, mail.SMTPConfig{TLS: mail.NoTLS}).Send(context.Background(), mail.Message{
		To: to, Subject: "Plain – ça va? 你好", Text: body, Lang: "en",
		Header: map[string]string{"auto-submitted": "auto-generated"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := mp.Wait(t, to, 10*time.Second)
	if got.Subject != "Plain – ça va? 你好" {
		t.Errorf("subject = %q", got.Subject)
	}
	if strings.ReplaceAll(got.Text, "\r\n", "\n") != body {
		t.Errorf("text = %q, want %q", got.Text, body)
	}
	if got.HTML != "" {
		t.Errorf("html = %q, want none", got.HTML)
	}
	h := mp.Headers(t, got.ID)
	if ct := first(h, "Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if first(h, "Message-Id") == "" || first(h, "Date") == "" {
		t.Error("the sender must add Message-ID and Date")
	}
	if first(h, "Auto-Submitted") != "auto-generated" {
		t.Errorf("headers = %v", h)
	}
}

// TestTLSModes sends through private mailpit servers in every TLS mode,
// with and without authentication.
func TestTLSModes(t *testing.T) {
	t.Parallel()
	cert := mailtest.NewCert(t)
	tests := []struct {
		name   string
		server mailtest.Options
		client mail.SMTPConfig
		user   string // the SMTP user mailpit records
	}{
		{"starttls with auth", mailtest.Options{Cert: cert, Auth: "tether:s3cr3t!%#ü"},
			mail.SMTPConfig{TLS: mail.STARTTLS, Username: "tether", Password: "s3cr3t!%#ü"}, "tether"},
		{"starttls required, no auth", mailtest.Options{Cert: cert, RequireSTARTTLS: true},
			mail.SMTPConfig{TLS: mail.STARTTLS}, ""},
		{"implicit tls with auth", mailtest.Options{Cert: cert, ImplicitTLS: true, Auth: "tether:s3cret"},
			mail.SMTPConfig{TLS: mail.ImplicitTLS, Username: "tether", Password: "s3cret"}, "tether"},
		{"implicit tls", mailtest.Options{Cert: cert, ImplicitTLS: true},
			mail.SMTPConfig{TLS: mail.ImplicitTLS}, ""},
		{"none to loopback with auth", mailtest.Options{Auth: "tether:s3cret", AuthAllowInsecure: true},
			mail.SMTPConfig{TLS: mail.NoTLS, Username: "tether", Password: "s3cret"}, "tether"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mp := mailtest.Start(t, tc.server)
			tc.client.RootCAs = cert.Pool
			s := sender(t, mp, tc.client)
			if err := s.Verify(context.Background()); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			to := mailtest.Recipient(t)
			m, err := site.ResetPassword("en", to, link, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Send(context.Background(), m); err != nil {
				t.Fatal(err)
			}
			got := mp.Wait(t, to, 10*time.Second)
			if got.Subject != "Reset your tether password" || got.Username != tc.user {
				t.Errorf("subject %q, user %q; want user %q", got.Subject, got.Username, tc.user)
			}
		})
	}
}

// TestFailures checks that each failure is reported at the right step and
// classified: only a refusal of this message is permanent.
func TestFailures(t *testing.T) {
	t.Parallel()
	cert := mailtest.NewCert(t)
	shared := mailtest.Shared(t)
	otherCert := mailtest.NewCert(t)

	tests := []struct {
		name      string
		server    func(t *testing.T) *mailtest.Mailpit
		client    mail.SMTPConfig
		to        string // default: a fresh recipient
		op        string
		code      int
		permanent bool
		contains  string
	}{
		{"starttls not offered", func(*testing.T) *mailtest.Mailpit { return shared },
			mail.SMTPConfig{TLS: mail.STARTTLS}, "", "starttls", 0, false, "does not offer STARTTLS"},
		{"untrusted certificate", func(t *testing.T) *mailtest.Mailpit { return mailtest.Start(t, mailtest.Options{Cert: cert}) },
			mail.SMTPConfig{TLS: mail.STARTTLS, RootCAs: otherCert.Pool}, "", "starttls", 0, false, "certificate"},
		{"implicit tls to a plain server", func(*testing.T) *mailtest.Mailpit { return shared },
			mail.SMTPConfig{TLS: mail.ImplicitTLS, Timeout: 3 * time.Second}, "", "dial", 0, false, ""},
		{"wrong password", func(t *testing.T) *mailtest.Mailpit {
			return mailtest.Start(t, mailtest.Options{Cert: cert, Auth: "tether:right"})
		}, mail.SMTPConfig{TLS: mail.STARTTLS, RootCAs: cert.Pool, Username: "tether", Password: "wrong"}, "", "auth", 535, false, ""},
		{"auth required, none given", func(t *testing.T) *mailtest.Mailpit {
			return mailtest.Start(t, mailtest.Options{Cert: cert, Auth: "tether:right"})
		}, mail.SMTPConfig{TLS: mail.STARTTLS, RootCAs: cert.Pool}, "", "mail", 530, false, ""},
		{"recipient refused (550)", func(t *testing.T) *mailtest.Mailpit {
			return mailtest.Start(t, mailtest.Options{AllowedRecipients: `@allowed\.test$`})
		}, mail.SMTPConfig{TLS: mail.NoTLS}, "", "rcpt", 550, true, ""},
		{"recipient deferred (451)", func(t *testing.T) *mailtest.Mailpit {
			return mailtest.Start(t, mailtest.Options{Chaos: "Recipient:451:100"})
		}, mail.SMTPConfig{TLS: mail.NoTLS}, "", "rcpt", 451, false, ""},
		{"sender deferred (421)", func(t *testing.T) *mailtest.Mailpit {
			return mailtest.Start(t, mailtest.Options{Chaos: "Sender:421:100"})
		}, mail.SMTPConfig{TLS: mail.NoTLS}, "", "mail", 421, false, ""},
		{"bad recipient address", func(*testing.T) *mailtest.Mailpit { return shared },
			mail.SMTPConfig{TLS: mail.NoTLS}, "not an address", "message", 0, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mp := tc.server(t)
			to := tc.to
			if to == "" {
				to = mailtest.Recipient(t)
			}
			err := sender(t, mp, tc.client).Send(context.Background(), mail.Message{To: to, Subject: "x", Text: "x"})
			checkError(t, err, tc.op, tc.code, tc.permanent, tc.contains)
			if tc.to == "" && len(mp.To(t, to)) != 0 {
				t.Error("the message arrived anyway")
			}
		})
	}
}

// TestServerDown stops a server, sends (a temporary failure), starts it
// again on the same port and sends again.
func TestServerDown(t *testing.T) {
	t.Parallel()
	mp := mailtest.Start(t, mailtest.Options{})
	s := sender(t, mp, mail.SMTPConfig{TLS: mail.NoTLS})
	to := mailtest.Recipient(t)
	m := mail.Message{To: to, Subject: "retry me", Text: "x", ID: mail.NewMessageID("files.example.com")}

	mp.Stop(t)
	err := s.Send(context.Background(), m)
	checkError(t, err, "dial", 0, false, "refused")

	mp.Restart(t)
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if got := mp.Wait(t, to, 10*time.Second); got.MessageID != m.ID {
		t.Errorf("Message-ID %q, want the one set before the first attempt, %q", got.MessageID, m.ID)
	}
}

func TestNetworkFailures(t *testing.T) {
	t.Parallel()
	// A server that accepts connections and never says a word.
	mute, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mute.Close() })
	go func() {
		for {
			c, err := mute.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	closed := freeAddr(t)

	tests := []struct {
		name    string
		cfg     mail.SMTPConfig
		ctx     func() (context.Context, context.CancelFunc)
		op      string
		wantErr error
	}{
		{"connection refused", mail.SMTPConfig{Host: "127.0.0.1", Port: port(closed)}, nil, "dial", nil},
		{"unknown host", mail.SMTPConfig{Host: "no-such-host.invalid", AllowPlaintext: true}, nil, "dial", nil},
		{"server silent past the timeout", mail.SMTPConfig{Host: "127.0.0.1", Port: port(mute.Addr().String()), Timeout: 300 * time.Millisecond},
			nil, "hello", context.DeadlineExceeded},
		{"context cancelled", mail.SMTPConfig{Host: "127.0.0.1", Port: port(mute.Addr().String())},
			func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 200*time.Millisecond)
			},
			"hello", context.DeadlineExceeded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.cfg.TLS, tc.cfg.From = mail.NoTLS, from
			s, err := mail.NewSMTP(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			if tc.ctx != nil {
				ctx, cancel = tc.ctx()
			}
			defer cancel()
			start := time.Now()
			err = s.Send(ctx, mail.Message{To: "a@example.test", Subject: "x", Text: "x"})
			checkError(t, err, tc.op, 0, false, "")
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error %v does not wrap %v", err, tc.wantErr)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s", d)
			}
		})
	}
}

func checkError(t *testing.T, err error, op string, code int, permanent bool, contains string) {
	t.Helper()
	var e *mail.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want a *mail.Error", err, err)
	}
	if e.Op != op || e.Code != code || e.Permanent != permanent || mail.IsPermanent(err) != permanent {
		t.Errorf("error = %v: op %q code %d permanent %v; want op %q code %d permanent %v", err, e.Op, e.Code, e.Permanent, op, code, permanent)
	}
	if !strings.Contains(err.Error(), contains) {
		t.Errorf("error %q does not mention %q", err, contains)
	}
}

func first(h map[string][]string, name string) string {
	if v := h[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func port(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n := 0
	for _, r := range p {
		n = n*10 + int(r-'0')
	}
	return n
}
