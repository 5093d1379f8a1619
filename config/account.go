package config

import "time"

// finishAccount validates the account block, the mail rate limit and
// registration.require_verified_email, which needs a mail server outside
// tether dev (whose outbox stands in for one): without one no new
// account could ever verify its address, so nobody could sign up.
func (c *Config) finishAccount(opts Options, fail func(key, format string, args ...any)) {
	for _, d := range []struct {
		key string
		v   Duration
		min time.Duration
	}{
		{"account.verify_email_ttl", c.Account.VerifyEmailTTL, time.Minute},
		{"account.reset_password_ttl", c.Account.ResetPasswordTTL, time.Minute},
		{"account.change_email_ttl", c.Account.ChangeEmailTTL, time.Minute},
		{"account.reauth_max_age", c.Account.ReauthMaxAge, time.Minute},
	} {
		if d.v.D() < d.min {
			fail(d.key, "must be at least %s, got %s", d.min, d.v)
		}
	}
	if c.RateLimit.MailPerAddress < 0 {
		fail("rate_limit.mail_per_address", "must be 0 (off) or more, got %d", c.RateLimit.MailPerAddress)
	}
	if c.RateLimit.MailWindow <= 0 {
		fail("rate_limit.mail_window", "must be positive")
	}
	if c.Registration.RequireVerifiedEmail && !c.SMTP.Enabled() && !opts.Dev {
		fail("registration.require_verified_email", "needs a mail server (smtp.host): without one no new account could verify its address")
	}
}
