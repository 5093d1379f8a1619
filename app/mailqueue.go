package app

import (
	"context"
	"math"
	"reflect"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tether-id/tether/config"
	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/mail"
	"github.com/tether-id/tether/web"
)

// mailSetup is how a generation sends mail: the sender (the SMTP server
// of the smtp block, else Options.MailSender, tether dev's outbox), the
// lease its sends need, and the core's mail options.
type mailSetup struct {
	smtp   config.SMTP
	sender mail.Sender
	lease  time.Duration
	core   core.MailOptions
}

// newMailSetup picks the sender and fills the core's mail options.
// Without a sender, mail is off: sign-up works, the flows that need mail
// say they are not enabled.
func newMailSetup(cfg *config.Config, fallback mail.Sender) (mailSetup, error) {
	m := mailSetup{smtp: cfg.SMTP, sender: fallback, lease: time.Minute}
	if cfg.SMTP.Enabled() {
		smtp, err := MailSender(cfg)
		if err != nil {
			return mailSetup{}, err
		}
		m.sender = smtp
		// A send is bounded by smtp.timeout; the lease outlasts it, so a
		// message is never sent twice by two live workers.
		m.lease = cfg.SMTP.Timeout.D() + 30*time.Second
	}
	m.core = core.MailOptions{
		Enabled:         m.sender != nil,
		Site:            mail.Site{PublicURL: cfg.PublicURL},
		Link:            web.EmailLink(cfg.PublicURL),
		VerifyTTL:       cfg.Account.VerifyEmailTTL.D(),
		ResetTTL:        cfg.Account.ResetPasswordTTL.D(),
		ChangeTTL:       cfg.Account.ChangeEmailTTL.D(),
		ReauthMaxAge:    cfg.Account.ReauthMaxAge.D(),
		RequireVerified: cfg.Registration.RequireVerifiedEmail,
	}
	return m, nil
}

// mailing is the App's mail worker, which empties the queue: one per
// process, started by StartMail, stopped by Close, and started again
// with the new sender by a reload that changes the smtp block. A reload
// that leaves smtp alone leaves the worker running on the service it
// started with: every generation's service has the same store and keys,
// and wakes it (core.Service.Successor).
type mailing struct {
	observe func(kind string, o core.MailOutcome)

	mu      sync.Mutex
	wanted  bool // StartMail was called, Close was not
	running bool
	stop    context.CancelFunc
	done    chan struct{}
}

// registerMailMetrics adds the mail metrics to reg: messages sent, given
// up and retried by this instance, by kind, and the messages waiting in
// the queue (read from the database at each scrape, so every instance
// reports the whole queue).
func (a *App) registerMailMetrics(reg *prometheus.Registry) {
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
		c, err := a.current().svc.MailCounts(ctx)
		if err != nil {
			return math.NaN()
		}
		return float64(c.Queued)
	})
	reg.MustRegister(outcomes, queued)
	a.mail.observe = func(kind string, o core.MailOutcome) { outcomes.WithLabelValues(kind, string(o)).Inc() }
}

// StartMail starts the worker that sends queued mail, once; Close stops
// it. Serve calls it; tests that build an App call it themselves. Without
// a sender it does nothing (until a reload brings one).
func (a *App) StartMail() {
	a.mail.mu.Lock()
	defer a.mail.mu.Unlock()
	a.mail.wanted = true
	if !a.mail.running {
		a.mail.start(a.current())
	}
}

// start runs the worker on g's service and sender; m.mu is held.
func (m *mailing) start(g *generation) {
	if g.mail.sender == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.stop, m.done, m.running = cancel, make(chan struct{}), true
	// The worker holds the service, not the generation and its surfaces.
	svc, done := g.svc, m.done
	opts := core.MailWorkerOptions{Sender: g.mail.sender, Lease: g.mail.lease, Observe: m.observe}
	go func() {
		defer close(done)
		svc.RunMailWorker(ctx, opts)
	}()
}

// halt stops the worker, if it runs, and waits for it: a send in
// progress is cancelled and its message left due for the next start.
// m.mu is held.
func (m *mailing) halt() {
	if !m.running {
		return
	}
	m.stop()
	<-m.done
	m.running = false
}

// reloaded starts the worker again on g when its smtp block differs
// from prev's.
func (m *mailing) reloaded(prev, g *generation) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.wanted || reflect.DeepEqual(prev.mail.smtp, g.mail.smtp) {
		return
	}
	m.halt()
	m.start(g)
}

// stopMail stops the worker for good.
func (a *App) stopMail() {
	a.mail.mu.Lock()
	defer a.mail.mu.Unlock()
	a.mail.wanted = false
	a.mail.halt()
}
