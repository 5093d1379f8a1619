package app_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tether-id/tether/app"
	"github.com/tether-id/tether/config"
	"github.com/tether-id/tether/mail"
	"github.com/tether-id/tether/testkit/mailtest"
)

// TestMailSender goes from configuration keys (file and TETHER_*
// variables) to a message in mailpit, in each TLS mode.
func TestMailSender(t *testing.T) {
	t.Parallel()
	cert := mailtest.NewCert(t)
	tests := []struct {
		name   string
		server func(t *testing.T) *mailtest.Mailpit
		smtp   string // the smtp block, %s = host, %d = port
		env    []string
		user   string
	}{
		{"none to loopback, from the environment", func(t *testing.T) *mailtest.Mailpit { return mailtest.Shared(t) }, "", []string{"TETHER_SMTP_TLS=none", "TETHER_SMTP_FROM=tether <no-reply@x.example>"}, ""},
		{"starttls with password file and CA", func(t *testing.T) *mailtest.Mailpit {
			return mailtest.Start(t, mailtest.Options{Cert: cert, Auth: "tether:s3cret"})
		}, "smtp: { host: %s, port: %d, from: no-reply@x.example, username: tether, password: s3cret, ca_file: " + cert.CertFile + " }\n", nil, "tether"},
		{"implicit", func(t *testing.T) *mailtest.Mailpit {
			return mailtest.Start(t, mailtest.Options{Cert: cert, ImplicitTLS: true})
		}, "smtp: { host: %s, port: %d, tls: implicit, from: no-reply@x.example, ca_file: " + cert.CertFile + " }\n", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mp := tc.server(t)
			y := "public_url: https://x.example\nsecret_key: 0123456789abcdef0123456789abcdef\nencryption_key: AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
			env := tc.env
			if tc.smtp != "" {
				y += fmt.Sprintf(tc.smtp, mp.Host(), mp.Port())
			} else {
				env = append(env, "TETHER_SMTP_HOST="+mp.Host(), fmt.Sprintf("TETHER_SMTP_PORT=%d", mp.Port()))
			}
			cfg, err := config.Parse([]byte(y), env, config.Options{})
			if err != nil {
				t.Fatal(err)
			}
			s, err := app.MailSender(cfg)
			if err != nil {
				t.Fatal(err)
			}
			to := mailtest.Recipient(t)
			m, err := mail.Site{PublicURL: cfg.PublicURL}.AccountDeleted("zh-CN", to)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Send(context.Background(), m); err != nil {
				t.Fatal(err)
			}
			got := mp.Wait(t, to, 10*time.Second)
			if got.Subject != "您的 tether 账户已删除" || got.Username != tc.user {
				t.Errorf("subject %q user %q", got.Subject, got.Username)
			}
		})
	}
}

func TestMailSenderAbsent(t *testing.T) {
	cfg, err := config.Parse(nil, nil, config.Options{Dev: true})
	if err != nil {
		t.Fatal(err)
	}
	if s, err := app.MailSender(cfg); s != nil || err == nil {
		t.Errorf("MailSender = %v, %v; want an error without smtp", s, err)
	}
}
