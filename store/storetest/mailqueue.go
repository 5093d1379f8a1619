package storetest

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/tether-id/tether/core"
)

var mailTests = []test{
	{"Mail/RoundTrip", testMailRoundTrip},
	{"Mail/ClaimDue", testMailClaimDue},
	{"Mail/Lease", testMailLease},
	{"Mail/Done", testMailDone},
	{"Mail/NextAt", testMailNextAt},
	{"Mail/ClaimRace", testMailClaimRace},
	{"Mail/Purge", testMailPurge},
}

// newMail returns a queued message due at due, its body holding every
// byte value.
func newMail(due time.Time) core.QueuedMail {
	body := make([]byte, 256)
	for i := range body {
		body[i] = byte(i)
	}
	return core.QueuedMail{
		ID:            newID(),
		Kind:          "reset_password",
		State:         core.MailQueued,
		Message:       body,
		NextAttemptAt: due,
		CreatedAt:     t0,
	}
}

func sameMail(t *testing.T, got, want core.QueuedMail) {
	t.Helper()
	for _, p := range []struct {
		got  *time.Time
		want time.Time
	}{
		{&got.NextAttemptAt, want.NextAttemptAt}, {&got.LeaseUntil, want.LeaseUntil},
		{&got.CreatedAt, want.CreatedAt}, {&got.FinishedAt, want.FinishedAt},
	} {
		fixTime(p.got, p.want)
	}
	if bytes.Equal(got.Message, want.Message) {
		got.Message = want.Message
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("queued mail:\n got %+v\nwant %+v", got, want)
	}
}

func testMailRoundTrip(t *testing.T, s core.Store) {
	ctx := context.Background()
	m := newMail(t0)
	m.Attempts, m.LastError = 2, "dial: connection refused 名字"
	must(t, s.EnqueueMail(ctx, m))
	got, err := s.GetMail(ctx, m.ID)
	must(t, err)
	sameMail(t, got, m)
	_, err = s.GetMail(ctx, "no-such-mail")
	wantErr(t, err, core.ErrNotFound, "GetMail of an unknown id")
	if err := s.EnqueueMail(ctx, m); err == nil {
		t.Fatal("EnqueueMail accepted a duplicate id")
	}
	err = s.UpdateMail(ctx, newMail(t0))
	wantErr(t, err, core.ErrNotFound, "UpdateMail of an unknown id")
}

// testMailClaimDue: claims take due messages, the longest due first,
// leased and with one more attempt; nothing not yet due.
func testMailClaimDue(t *testing.T, s core.Store) {
	ctx := context.Background()
	now := t0.Add(time.Hour)
	later := newMail(now.Add(time.Minute))
	second := newMail(now.Add(-time.Minute))
	first := newMail(now.Add(-time.Hour))
	for _, m := range []core.QueuedMail{later, second, first} {
		must(t, s.EnqueueMail(ctx, m))
	}
	lease := now.Add(90 * time.Second)
	for _, want := range []core.QueuedMail{first, second} {
		got, err := s.ClaimMail(ctx, now, lease)
		must(t, err)
		want.Attempts, want.LeaseUntil = 1, lease
		sameMail(t, got, want)
		stored, err := s.GetMail(ctx, want.ID)
		must(t, err)
		sameMail(t, stored, want)
	}
	_, err := s.ClaimMail(ctx, now, lease)
	wantErr(t, err, core.ErrNotFound, "ClaimMail with nothing due")
	got, err := s.ClaimMail(ctx, later.NextAttemptAt, lease)
	must(t, err)
	if got.ID != later.ID {
		t.Fatalf("claimed %s once due, want %s", got.ID, later.ID)
	}
}

// testMailLease: a claimed message is not claimed again until its lease
// lapses (its worker died); a released one is.
func testMailLease(t *testing.T, s core.Store) {
	ctx := context.Background()
	m := newMail(t0)
	must(t, s.EnqueueMail(ctx, m))
	lease := t0.Add(time.Minute)
	_, err := s.ClaimMail(ctx, t0, lease)
	must(t, err)
	_, err = s.ClaimMail(ctx, lease.Add(-time.Millisecond), lease.Add(time.Minute))
	wantErr(t, err, core.ErrNotFound, "ClaimMail of a leased message")
	again, err := s.ClaimMail(ctx, lease, lease.Add(time.Minute))
	must(t, err)
	if again.ID != m.ID || again.Attempts != 2 {
		t.Fatalf("after the lease lapsed: %+v", again)
	}
	// Released (a retry scheduled), it is due again at its new time.
	again.LeaseUntil, again.NextAttemptAt, again.LastError = time.Time{}, lease.Add(10*time.Second), "451 try later"
	must(t, s.UpdateMail(ctx, again))
	_, err = s.ClaimMail(ctx, lease.Add(5*time.Second), lease.Add(time.Hour))
	wantErr(t, err, core.ErrNotFound, "ClaimMail before the retry is due")
	third, err := s.ClaimMail(ctx, lease.Add(10*time.Second), lease.Add(time.Hour))
	must(t, err)
	if third.Attempts != 3 || third.LastError != "451 try later" {
		t.Fatalf("third claim %+v", third)
	}
}

// testMailDone: a sent or failed message keeps no body, is never claimed
// again, and counts under its state.
func testMailDone(t *testing.T, s core.Store) {
	ctx := context.Background()
	now := t0.Add(time.Minute)
	sent, failed, queued := newMail(t0), newMail(t0), newMail(now.Add(time.Hour))
	for _, m := range []core.QueuedMail{sent, failed, queued} {
		must(t, s.EnqueueMail(ctx, m))
	}
	for _, done := range []struct {
		m     core.QueuedMail
		state core.MailState
	}{{sent, core.MailSent}, {failed, core.MailFailed}} {
		m, err := s.ClaimMail(ctx, now, now.Add(time.Minute))
		must(t, err)
		m.State, m.Message, m.LeaseUntil, m.FinishedAt = done.state, nil, time.Time{}, now
		if done.state == core.MailFailed {
			m.LastError = "550 no such mailbox"
		}
		must(t, s.UpdateMail(ctx, m))
		got, err := s.GetMail(ctx, m.ID)
		must(t, err)
		sameMail(t, got, m)
		if got.Message != nil {
			t.Fatalf("a %s message kept its body", done.state)
		}
	}
	_, err := s.ClaimMail(ctx, now.Add(time.Minute), now.Add(time.Hour))
	wantErr(t, err, core.ErrNotFound, "ClaimMail with only done messages due")
	c, err := s.CountMail(ctx)
	must(t, err)
	if c != (core.MailCounts{Queued: 1, Sent: 1, Failed: 1}) {
		t.Fatalf("CountMail = %+v", c)
	}
}

func testMailNextAt(t *testing.T, s core.Store) {
	ctx := context.Background()
	if _, ok, err := s.NextMailAt(ctx); err != nil || ok {
		t.Fatalf("NextMailAt of an empty queue = %v, %v", ok, err)
	}
	a, b := newMail(t0.Add(time.Minute)), newMail(t0.Add(2*time.Minute))
	must(t, s.EnqueueMail(ctx, a))
	must(t, s.EnqueueMail(ctx, b))
	at, ok, err := s.NextMailAt(ctx)
	must(t, err)
	if !ok || !sameTime(at, a.NextAttemptAt) {
		t.Fatalf("NextMailAt = %v %v, want %v", at, ok, a.NextAttemptAt)
	}
	// Leased past b's time, a is due when its lease lapses.
	_, err = s.ClaimMail(ctx, a.NextAttemptAt, t0.Add(5*time.Minute))
	must(t, err)
	at, _, err = s.NextMailAt(ctx)
	must(t, err)
	if !sameTime(at, b.NextAttemptAt) {
		t.Fatalf("NextMailAt = %v, want %v (b, while a is leased)", at, b.NextAttemptAt)
	}
}

// testMailClaimRace: workers racing for the queue, on one instance or
// several, each get different messages, and every message goes to
// exactly one of them.
func testMailClaimRace(t *testing.T, s core.Store) {
	ctx := context.Background()
	const n = Racers / 2
	for range n {
		must(t, s.EnqueueMail(ctx, newMail(t0)))
	}
	var mu sync.Mutex
	claimed := map[string]int{}
	errs := race(Racers, func(int) error {
		m, err := s.ClaimMail(ctx, t0, t0.Add(time.Minute))
		if err == nil {
			mu.Lock()
			claimed[m.ID]++
			mu.Unlock()
		}
		return err
	})
	for _, err := range errs {
		if err != nil && !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("ClaimMail: %v", err)
		}
	}
	if len(claimed) != n {
		t.Fatalf("%d of %d messages claimed", len(claimed), n)
	}
	for id, times := range claimed {
		if times != 1 {
			t.Errorf("message %s claimed %d times", id, times)
		}
	}
}

func testMailPurge(t *testing.T, s core.Store) {
	ctx := context.Background()
	now := t0.Add(time.Hour)
	var old, recent []core.QueuedMail
	for i := range 4 {
		m := newMail(t0)
		m.State, m.Message = core.MailSent, nil
		if i%2 == 1 {
			m.State = core.MailFailed
		}
		m.FinishedAt = now.Add(-time.Minute)
		old = append(old, m)
		r := m
		r.ID, r.FinishedAt = newID(), now.Add(time.Minute)
		recent = append(recent, r)
	}
	queued := newMail(t0) // never purged, however old
	for _, m := range append(append(old, recent...), queued) {
		must(t, s.EnqueueMail(ctx, m))
	}
	n, err := s.PurgeMail(ctx, now)
	must(t, err)
	if n != len(old) {
		t.Errorf("PurgeMail = %d, want %d", n, len(old))
	}
	for _, m := range old {
		if _, err := s.GetMail(ctx, m.ID); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("old %s message survived: %v", m.State, err)
		}
	}
	for _, m := range append(recent, queued) {
		if _, err := s.GetMail(ctx, m.ID); err != nil {
			t.Errorf("message %s (%s): %v", m.ID, m.State, err)
		}
	}
}
