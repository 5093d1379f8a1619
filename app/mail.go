package app

import (
	"errors"
	"net/url"
	"time"

	"github.com/tether-id/tether/config"
	"github.com/tether-id/tether/mail"
)

// MailSender builds the SMTP sender that cfg's smtp block describes; it is
// an error to call it without one (cfg.SMTP.Enabled() false), so that no
// nil *mail.SMTP ever hides in a mail.Sender. The public URL's host is the
// name tether gives in EHLO. config has already checked every value; the
// CA file is read again here, at start-up.
func MailSender(cfg *config.Config) (*mail.SMTP, error) {
	s := cfg.SMTP
	if !s.Enabled() {
		return nil, errors.New("smtp: no mail server is configured (smtp.host)")
	}
	sc := mail.SMTPConfig{
		Host: s.Host, Port: s.Port, Username: s.Username, Password: s.Password,
		From: s.From, TLS: mail.TLSMode(s.TLS), AllowPlaintext: s.AllowPlaintext,
		Timeout: time.Duration(s.Timeout),
	}
	if u, err := url.Parse(cfg.PublicURL); err == nil && u.Hostname() != "" {
		sc.HelloName = u.Hostname()
	}
	if s.CAFile != "" {
		pool, err := mail.LoadCAFile(s.CAFile)
		if err != nil {
			return nil, err
		}
		sc.RootCAs = pool
	}
	return mail.NewSMTP(sc)
}
