package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/tether-id/tether/core"
)

var flowTests = []test{
	{"Flow/ConsumeOnce", testFlowConsumeOnce},
	{"Flow/ConsumeUnknown", testFlowConsumeUnknown},
	{"Flow/ConsumeExpired", testFlowConsumeExpired},
	{"Flow/DuplicateID", testFlowDuplicateID},
	{"Flow/Purge", testFlowPurge},
	{"Flow/GetDoesNotConsume", testFlowGet},
}

func testFlowConsumeOnce(t *testing.T, s core.Store) {
	ctx := context.Background()
	full := newFlow()
	signIn := core.Flow{ID: newID(), ProviderID: "qq", Purpose: core.PurposeSignIn, CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}
	for _, f := range []core.Flow{full, signIn} {
		must(t, s.CreateFlow(ctx, f))
	}
	for _, f := range []core.Flow{full, signIn} {
		got, err := s.ConsumeFlow(ctx, f.ID, f.CreatedAt.Add(time.Second))
		must(t, err)
		sameFlow(t, got, f)
		_, err = s.ConsumeFlow(ctx, f.ID, f.CreatedAt.Add(time.Second))
		wantErr(t, err, core.ErrFlowNotFound, "second ConsumeFlow")
	}
}

func testFlowConsumeUnknown(t *testing.T, s core.Store) {
	must(t, s.CreateFlow(context.Background(), newFlow()))
	_, err := s.ConsumeFlow(context.Background(), "no-such-flow", t0)
	wantErr(t, err, core.ErrFlowNotFound, "ConsumeFlow of an unknown id")
}

func testFlowConsumeExpired(t *testing.T, s core.Store) {
	ctx := context.Background()
	f := newFlow()
	must(t, s.CreateFlow(ctx, f))
	_, err := s.ConsumeFlow(ctx, f.ID, f.ExpiresAt.Add(time.Second))
	wantErr(t, err, core.ErrFlowNotFound, "ConsumeFlow after expiry")
}

func testFlowDuplicateID(t *testing.T, s core.Store) {
	ctx := context.Background()
	f := newFlow()
	must(t, s.CreateFlow(ctx, f))
	// A second flow with the same state must not replace the first.
	again := newFlow()
	again.ID = f.ID
	if err := s.CreateFlow(ctx, again); err == nil {
		t.Fatal("CreateFlow with an existing id succeeded")
	}
	got, err := s.ConsumeFlow(ctx, f.ID, t0)
	must(t, err)
	sameFlow(t, got, f)
}

func testFlowPurge(t *testing.T, s core.Store) {
	ctx := context.Background()
	now := t0.Add(time.Hour)
	var live []core.Flow
	for i, expires := range []time.Duration{-time.Hour, -time.Minute, -time.Millisecond * 10, time.Minute, time.Hour} {
		f := newFlow()
		f.ExpiresAt = now.Add(expires)
		must(t, s.CreateFlow(ctx, f))
		if i >= 3 {
			live = append(live, f)
		}
	}
	n, err := s.PurgeFlows(ctx, now)
	must(t, err)
	if n != 3 {
		t.Fatalf("PurgeFlows = %d, want 3", n)
	}
	n, err = s.PurgeFlows(ctx, now)
	must(t, err)
	if n != 0 {
		t.Fatalf("second PurgeFlows = %d, want 0", n)
	}
	for _, f := range live {
		got, err := s.ConsumeFlow(ctx, f.ID, now)
		must(t, err)
		sameFlow(t, got, f)
	}
}

// testFlowGet: GetFlow reads a flow without using it up, and hides an
// expired one.
func testFlowGet(t *testing.T, s core.Store) {
	ctx := context.Background()
	f := newFlow()
	must(t, s.CreateFlow(ctx, f))
	for range 2 {
		got, err := s.GetFlow(ctx, f.ID, f.CreatedAt.Add(time.Second))
		must(t, err)
		sameFlow(t, got, f)
	}
	_, err := s.GetFlow(ctx, f.ID, f.ExpiresAt)
	wantErr(t, err, core.ErrFlowNotFound, "GetFlow at expiry")
	_, err = s.GetFlow(ctx, "no-such-flow", t0)
	wantErr(t, err, core.ErrFlowNotFound, "GetFlow of an unknown id")
	got, err := s.ConsumeFlow(ctx, f.ID, f.CreatedAt.Add(time.Second))
	must(t, err)
	sameFlow(t, got, f)
	_, err = s.GetFlow(ctx, f.ID, f.CreatedAt.Add(time.Second))
	wantErr(t, err, core.ErrFlowNotFound, "GetFlow after ConsumeFlow")
}
