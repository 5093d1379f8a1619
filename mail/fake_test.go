package mail_test

import (
	"context"
	"encoding/base64"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-id/tether/mail"
)

// fakeSMTP is a scripted SMTP server for the replies mailpit cannot be
// made to give: it answers each command with a reply from its script
// ("250 ok" when the script has none) and records what it was told. It is
// small on purpose; everything a real server does is tested against
// mailpit.
type fakeSMTP struct {
	addr    string
	greet   string            // the greeting; "220 fake" when empty
	ext     []string          // EHLO extensions, e.g. "AUTH LOGIN"
	replies map[string]string // by verb ("MAIL", "RCPT", "DATA", "AUTH"), or "." for the end of data
	hangup  string            // close the connection instead of answering this verb

	mu   sync.Mutex
	seen []string // the commands and decoded AUTH LOGIN answers, in order
}

func startFake(t *testing.T, f *fakeSMTP) *fakeSMTP {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	f.addr = l.Addr().String()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go f.serve(c)
		}
	}()
	return f
}

func (f *fakeSMTP) record(s string) {
	f.mu.Lock()
	f.seen = append(f.seen, s)
	f.mu.Unlock()
}

func (f *fakeSMTP) commands() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.seen, "|")
}

func (f *fakeSMTP) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	tp := textproto.NewConn(c)
	reply := func(s string) { tp.PrintfLine("%s", s) }
	greet := f.greet
	if greet == "" {
		greet = "220 fake ESMTP"
	}
	reply(greet)
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, _, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		f.record(line)
		if verb == f.hangup {
			return
		}
		switch verb {
		case "EHLO":
			lines := append([]string{"fake"}, f.ext...)
			for i, l := range lines {
				sep := "-"
				if i == len(lines)-1 {
					sep = " "
				}
				reply("250" + sep + l)
			}
			continue
		case "QUIT":
			reply("221 bye")
			return
		case "AUTH":
			if strings.HasPrefix(strings.ToUpper(line), "AUTH LOGIN") {
				for _, prompt := range []string{"VXNlcm5hbWU6", "UGFzc3dvcmQ6"} { // Username:, Password:
					reply("334 " + prompt)
					answer, err := tp.ReadLine()
					if err != nil {
						return
					}
					b, _ := base64.StdEncoding.DecodeString(answer)
					f.record("login:" + string(b))
				}
			}
		case "DATA":
			if r, ok := f.replies["DATA"]; ok {
				reply(r)
				continue
			}
			reply("354 go ahead")
			if _, err := tp.ReadDotBytes(); err != nil {
				return
			}
			if f.hangup == "." {
				return
			}
			verb = "."
		}
		if r, ok := f.replies[verb]; ok {
			reply(r)
		} else if verb == "AUTH" {
			reply("235 ok")
		} else {
			reply("250 ok")
		}
	}
}

// TestReplyClassification drives the sender through a scripted server to
// check how each reply is classified at each step.
func TestReplyClassification(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		fake      *fakeSMTP
		user      string
		op        string
		code      int
		permanent bool
	}{
		{"greeting 421", &fakeSMTP{greet: "421 too busy"}, "", "hello", 421, false},
		{"greeting 554", &fakeSMTP{greet: "554 no service"}, "", "hello", 554, false},
		{"sender 553", &fakeSMTP{replies: map[string]string{"MAIL": "553 5.7.1 sender not allowed"}}, "", "mail", 553, true},
		{"recipient 550", &fakeSMTP{replies: map[string]string{"RCPT": "550 5.1.1 no such user"}}, "", "rcpt", 550, true},
		{"recipient 452", &fakeSMTP{replies: map[string]string{"RCPT": "452 4.2.2 mailbox full"}}, "", "rcpt", 452, false},
		{"relay needs auth 530", &fakeSMTP{replies: map[string]string{"RCPT": "530 5.7.0 authentication required"}}, "", "rcpt", 530, false},
		{"data refused 554", &fakeSMTP{replies: map[string]string{"DATA": "554 5.5.1 no valid recipients"}}, "", "data", 554, true},
		{"content rejected 554", &fakeSMTP{replies: map[string]string{".": "554 5.7.1 message rejected as spam"}}, "", "data", 554, true},
		{"content deferred 451", &fakeSMTP{replies: map[string]string{".": "451 4.3.0 try again later"}}, "", "data", 451, false},
		{"too big 552", &fakeSMTP{replies: map[string]string{".": "552 5.3.4 message too big"}}, "", "data", 552, true},
		{"hangup in data", &fakeSMTP{hangup: "."}, "", "data", 0, false},
		{"auth 535", &fakeSMTP{ext: []string{"AUTH PLAIN"}, replies: map[string]string{"AUTH": "535 5.7.8 bad credentials"}}, "u", "auth", 535, false},
		{"auth 454", &fakeSMTP{ext: []string{"AUTH PLAIN"}, replies: map[string]string{"AUTH": "454 4.7.0 try later"}}, "u", "auth", 454, false},
		{"no auth offered", &fakeSMTP{}, "u", "auth", 0, false},
		{"only CRAM-MD5 offered", &fakeSMTP{ext: []string{"AUTH CRAM-MD5"}}, "u", "auth", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := startFake(t, tc.fake)
			cfg := mail.SMTPConfig{Host: "127.0.0.1", Port: port(f.addr), From: from, TLS: mail.NoTLS, Timeout: 5 * time.Second}
			if tc.user != "" {
				cfg.Username, cfg.Password = tc.user, "p"
			}
			s, err := mail.NewSMTP(cfg)
			if err != nil {
				t.Fatal(err)
			}
			err = s.Send(context.Background(), mail.Message{To: "a@example.test", Subject: "s", Text: "x"})
			checkError(t, err, tc.op, tc.code, tc.permanent, "")
		})
	}
}

// TestAuthLogin checks the LOGIN mechanism, used when a server offers no
// PLAIN, on a loopback connection.
func TestAuthLogin(t *testing.T) {
	t.Parallel()
	f := startFake(t, &fakeSMTP{ext: []string{"AUTH LOGIN"}})
	s, err := mail.NewSMTP(mail.SMTPConfig{Host: "127.0.0.1", Port: port(f.addr), From: from, TLS: mail.NoTLS, Username: "tether", Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), mail.Message{To: "a@example.test", Subject: "s", Text: "x"}); err != nil {
		t.Fatal(err)
	}
	want := "EHLO localhost|AUTH LOGIN|login:tether|login:s3cret|MAIL FROM:<no-reply@files.example.com>|RCPT TO:<a@example.test>|DATA|QUIT"
	if got := f.commands(); got != want {
		t.Errorf("conversation:\n got %s\nwant %s", got, want)
	}
}

// TestNewSMTPRefuses checks the configurations that must not run.
func TestNewSMTPRefuses(t *testing.T) {
	tests := []struct {
		name string
		cfg  mail.SMTPConfig
		want string
	}{
		{"no host", mail.SMTPConfig{From: from}, "host"},
		{"bad mode", mail.SMTPConfig{Host: "smtp.example.com", From: from, TLS: "ssl"}, "tls"},
		{"bad port", mail.SMTPConfig{Host: "smtp.example.com", From: from, Port: 70000}, "port"},
		{"no from", mail.SMTPConfig{Host: "smtp.example.com"}, "from"},
		{"bad from", mail.SMTPConfig{Host: "smtp.example.com", From: "tether"}, "from"},
		{"plaintext to a remote host", mail.SMTPConfig{Host: "smtp.example.com", From: from, TLS: mail.NoTLS}, "AllowPlaintext"},
		{"password in plaintext to a remote host", mail.SMTPConfig{Host: "smtp.example.com", From: from, TLS: mail.NoTLS, AllowPlaintext: true, Username: "u", Password: "p"}, "plain text"},
		{"username without password", mail.SMTPConfig{Host: "smtp.example.com", From: from, Username: "u"}, "together"},
	}
	for _, tc := range tests {
		if _, err := mail.NewSMTP(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
	for _, ok := range []mail.SMTPConfig{
		{Host: "localhost", From: from, TLS: mail.NoTLS, Username: "u", Password: "p"},
		{Host: "::1", From: from, TLS: mail.NoTLS},
		{Host: "relay.internal", From: from, TLS: mail.NoTLS, AllowPlaintext: true},
		{Host: "smtp.example.com", From: from, TLS: mail.ImplicitTLS, Username: "u", Password: "p"},
	} {
		if _, err := mail.NewSMTP(ok); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
}
