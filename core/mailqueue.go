package core

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/tether-id/tether/mail"
)

// The mail queue. A request that sends mail only adds the built message
// to the queue, in the transaction that writes what the message is about
// (the link it carries, the account it speaks of), and wakes the worker:
// a slow or absent mail server never holds up a request, and a message
// whose transaction committed is never lost, across restarts too. The
// worker (RunMailWorker) of any instance claims due messages one at a
// time with a lease, sends them and records the outcome: sent, failed for
// good (a permanent error), or due again after a backoff.

// Retry schedule: after the nth failed attempt a message waits
// retryBase·2ⁿ⁻¹, at most retryCap, so that once the mail server is back
// every waiting message goes out within retryCap; after giveUpAfter of
// trying it fails for good (its links have expired by then anyway).
const (
	retryBase   = time.Second
	retryCap    = 30 * time.Second
	giveUpAfter = 24 * time.Hour
)

// retryDelay is the wait after the attempts-th failed attempt.
func retryDelay(attempts int) time.Duration {
	d := retryBase
	for i := 1; i < attempts && d < retryCap; i++ {
		d *= 2
	}
	return min(d, retryCap)
}

// mailAD binds a sealed message to its queue row.
func mailAD(id string) []byte { return []byte("tether queued mail\x00" + id) }

// queueMail adds m to the queue inside q's transaction, sealed: it may
// carry a live link. The caller wakes the worker once the transaction
// has committed.
func (s *Service) queueMail(ctx context.Context, q Queries, m mail.Message) error {
	id := uuid.NewString()
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	sealed, err := s.box.Seal(b, mailAD(id))
	if err != nil {
		return err
	}
	now := s.now()
	return q.EnqueueMail(ctx, QueuedMail{ID: id, Kind: m.Kind, State: MailQueued, Message: sealed, NextAttemptAt: now, CreatedAt: now})
}

// wakeMail tells this instance's worker that a message is waiting.
func (s *Service) wakeMail() {
	select {
	case s.mailWake <- struct{}{}:
	default:
	}
}

// MailOutcome is what one attempt to send a queued message came to.
type MailOutcome string

const (
	MailOutcomeSent   MailOutcome = "sent"
	MailOutcomeRetry  MailOutcome = "retry"  // a temporary error: due again later
	MailOutcomeFailed MailOutcome = "failed" // a permanent error, or too long retried: given up
)

// MailWorkerOptions configure RunMailWorker.
type MailWorkerOptions struct {
	Sender mail.Sender
	// Lease is how long a claimed message is this worker's: one send
	// must end well within it (the SMTP timeout plus a margin). A worker
	// that dies mid-send leaves the message to another after the lease.
	Lease time.Duration
	// Poll is how often an idle worker looks for messages it was not
	// woken for (queued by another instance or the CLI); 10 s when zero.
	Poll time.Duration
	// Observe, when set, hears every attempt's outcome (metrics).
	Observe func(kind string, o MailOutcome)
}

// RunMailWorker sends queued mail until ctx ends. It is woken when this
// instance queues a message, and otherwise sleeps until the next message
// is due or Poll passes. At the end a send in progress is cancelled and
// its message released, due at once, for the next start.
func (s *Service) RunMailWorker(ctx context.Context, o MailWorkerOptions) {
	if o.Poll <= 0 {
		o.Poll = 10 * time.Second
	}
	if o.Lease <= 0 {
		o.Lease = 2 * time.Minute
	}
	for {
		_, err := s.DeliverDue(ctx, o)
		failing := err != nil && ctx.Err() == nil
		if failing {
			s.log.Warn("mail queue: claim failed", "err", err)
		}
		wait := o.Poll
		if at, ok, err := s.store.NextMailAt(ctx); err == nil && ok {
			wait = min(wait, max(at.Sub(s.now()), 10*time.Millisecond))
		}
		if failing {
			wait = max(wait, time.Second) // the database is struggling: do not spin
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.mailWake:
		case <-t.C:
		}
		t.Stop()
	}
}

// DeliverDue sends the messages due now, one claim at a time, until none
// is due, and returns how many attempts it made. RunMailWorker calls it
// whenever it wakes; tests call it to step the queue.
func (s *Service) DeliverDue(ctx context.Context, o MailWorkerOptions) (int, error) {
	if o.Lease <= 0 {
		o.Lease = 2 * time.Minute
	}
	n := 0
	for ctx.Err() == nil {
		now := s.now()
		m, err := s.store.ClaimMail(ctx, now, now.Add(o.Lease))
		if errors.Is(err, ErrNotFound) {
			return n, nil
		}
		if err != nil {
			return n, internal(err)
		}
		s.deliver(ctx, m, o)
		n++
	}
	return n, ctx.Err()
}

// deliver sends one claimed message and records the outcome. The link a
// message carries is never logged.
func (s *Service) deliver(ctx context.Context, m QueuedMail, o MailWorkerOptions) {
	log := s.log.With(slog.String("mail", m.ID), slog.String("kind", m.Kind), slog.Int("attempt", m.Attempts))
	var msg mail.Message
	err := errors.New("the queued message cannot be opened (was encryption_key changed?)")
	if b, oerr := s.box.Open(m.Message, mailAD(m.ID)); oerr == nil {
		err = json.Unmarshal(b, &msg)
	}
	if err == nil {
		sendCtx, cancel := context.WithTimeout(ctx, o.Lease*3/4)
		err = o.Sender.Send(sendCtx, msg)
		cancel()
	} else {
		err = &mail.Error{Op: "message", Permanent: true, Err: err}
	}
	now := s.now()
	m.LeaseUntil = time.Time{}
	var outcome MailOutcome
	switch {
	case err == nil:
		outcome = MailOutcomeSent
		m.State, m.Message, m.LastError, m.FinishedAt = MailSent, nil, "", now
		log.Info("mail sent")
	case ctx.Err() != nil:
		// Shutting down: give the message back, due at once, without
		// counting this as a failure.
		m.NextAttemptAt = now
		if uerr := s.store.UpdateMail(context.WithoutCancel(ctx), m); uerr != nil {
			log.Warn("mail queue: releasing a message at shutdown failed; it is retried when its lease ends", "err", uerr)
		}
		return
	case mail.IsPermanent(err) || now.Sub(m.CreatedAt) >= giveUpAfter:
		outcome = MailOutcomeFailed
		m.State, m.Message, m.LastError, m.FinishedAt = MailFailed, nil, clip(err.Error(), 500), now
		log.Warn("mail failed; not retried", "err", err)
	default:
		outcome = MailOutcomeRetry
		m.NextAttemptAt, m.LastError = now.Add(retryDelay(m.Attempts)), clip(err.Error(), 500)
		log.Warn("mail not sent; will retry", "err", err, "retry_in", retryDelay(m.Attempts))
	}
	if uerr := s.store.UpdateMail(context.WithoutCancel(ctx), m); uerr != nil {
		log.Error("mail queue: recording an attempt failed", "outcome", outcome, "err", uerr)
	}
	if o.Observe != nil {
		o.Observe(m.Kind, outcome)
	}
}

// MailCounts counts the queue's messages by state, for the queued-mail
// gauge.
func (s *Service) MailCounts(ctx context.Context) (MailCounts, error) {
	c, err := s.store.CountMail(ctx)
	return c, internal(err)
}

// QueuedMail returns the queue row with id, for tests and tools.
func (s *Service) QueuedMail(ctx context.Context, id string) (QueuedMail, error) {
	m, err := s.store.GetMail(ctx, id)
	return m, internal(err)
}

// background runs fn after the request that asked for it has been
// answered, so that the answer, and its timing, cannot depend on what fn
// finds (whether an address has an account). Wait waits for it.
func (s *Service) background(ctx context.Context, fn func(ctx context.Context)) {
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		fn(context.WithoutCancel(ctx))
	}()
}

// Wait waits for the work that requests left to the background (reset
// and resend requests) to finish. Call it before closing the store.
func (s *Service) Wait() { s.bg.Wait() }
