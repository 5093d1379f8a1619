package app

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tether-id/tether/config"
	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/internal/ratelimit"
	"github.com/tether-id/tether/mail"
	"github.com/tether-id/tether/web"
)

// mailing is how an App sends mail: the sender (the SMTP server of the
// smtp block, else Options.MailSender, tether dev's outbox), the core's
// mail options, and the worker that empties the queue.
type mailing struct {
	sender mail.Sender
	worker core.MailWorkerOptions

	once sync.Once
	stop context.CancelFunc
	done chan struct{}
}

// newMailing picks the sender and fills the core's mail options. Without
// a sender, mail is off: sign-up works, the flows that need mail say they
// are not enabled.
func newMailing(cfg *config.Config, fallback mail.Sender) (*mailing, core.MailOptions, error) {
	m := &mailing{sender: fallback}
	lease := time.Minute
	if cfg.SMTP.Enabled() {
		smtp, err := MailSender(cfg)
		if err != nil {
			return nil, core.MailOptions{}, err
		}
		m.sender = smtp
		// A send is bounded by smtp.timeout; the lease outlasts it, so a
		// message is never sent twice by two live workers.
		lease = cfg.SMTP.Timeout.D() + 30*time.Second
	}
	m.worker = core.MailWorkerOptions{Sender: m.sender, Lease: lease}
	opts := core.MailOptions{
		Enabled:         m.sender != nil,
		Site:            mail.Site{PublicURL: cfg.PublicURL},
		Link:            web.EmailLink(cfg.PublicURL),
		VerifyTTL:       cfg.Account.VerifyEmailTTL.D(),
		ResetTTL:        cfg.Account.ResetPasswordTTL.D(),
		ChangeTTL:       cfg.Account.ChangeEmailTTL.D(),
		ReauthMaxAge:    cfg.Account.ReauthMaxAge.D(),
		RequireVerified: cfg.Registration.RequireVerifiedEmail,
	}
	return m, opts, nil
}

// mailQuota is the per-address limit on messages anyone can ask for; nil
// when rate limits or this one are off.
func mailQuota(rl config.RateLimit, now func() time.Time) *ratelimit.Quota {
	if !rl.Enabled || rl.MailPerAddress == 0 {
		return nil
	}
	return ratelimit.NewQuota(ratelimit.QuotaOptions{Burst: rl.MailPerAddress, Window: rl.MailWindow.D(), MaxKeys: rl.MaxKeys, Now: now})
}

// registerMailMetrics adds the mail metrics to reg: messages sent, given
// up and retried by this instance, by kind, and the messages waiting in
// the queue (read from the database at each scrape, so every instance
// reports the whole queue).
func (m *mailing) registerMailMetrics(reg *prometheus.Registry, svc *core.Service) {
	outcomes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tether_mail_total",
		Help: "Attempts to send a queued message by this instance, by kind and outcome: sent, retry (a temporary error; tried again) or failed (a permanent error, or retried for a day; given up).",
	}, []string{"kind", "outcome"})
	for _, kind := range []string{mail.KindVerifyEmail, mail.KindResetPassword, mail.KindConfirmEmailChange, mail.KindEmailChanged, mail.KindAccountDeleted} {
		for _, o := range []core.MailOutcome{core.MailOutcomeSent, core.MailOutcomeRetry, core.MailOutcomeFailed} {
			outcomes.WithLabelValues(kind, string(o))
		}
	}
	queued := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "tether_mail_queued",
		Help: "Messages waiting in the mail queue (all instances).",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c, err := svc.MailCounts(ctx)
		if err != nil {
			return math.NaN()
		}
		return float64(c.Queued)
	})
	reg.MustRegister(outcomes, queued)
	m.worker.Observe = func(kind string, o core.MailOutcome) { outcomes.WithLabelValues(kind, string(o)).Inc() }
}

// StartMail starts the worker that sends queued mail, once; Close stops
// it. Serve calls it; tests that build an App call it themselves. Without
// a sender it does nothing.
func (a *App) StartMail() {
	if a.mail == nil || a.mail.sender == nil {
		return
	}
	a.mail.once.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		a.mail.stop, a.mail.done = cancel, make(chan struct{})
		go func() {
			defer close(a.mail.done)
			a.Service.RunMailWorker(ctx, a.mail.worker)
		}()
	})
}

// stopMail stops the worker, if it runs, and waits for it: a send in
// progress is cancelled and its message left due for the next start.
func (a *App) stopMail() {
	if a.mail == nil || a.mail.stop == nil {
		return
	}
	a.mail.stop()
	<-a.mail.done
}
