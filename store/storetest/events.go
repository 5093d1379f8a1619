package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/tether-id/tether/core"
)

var eventTests = []test{
	{"Event/ListNewestFirst", testEventsNewestFirst},
	{"Event/Purge", testEventsPurge},
}

func testEventsNewestFirst(t *testing.T, s core.Store) {
	ctx := context.Background()
	a := mustCreateUser(t, s)
	b := mustCreateUser(t, s)
	event := func(userID string, kind core.EventKind, at time.Time) core.Event {
		return core.Event{
			ID:         newID(),
			UserID:     userID,
			Kind:       kind,
			Method:     core.MethodOpenID,
			ProviderID: "logto",
			ClientID:   "grafana",
			Success:    true,
			IP:         "2001:db8::1",
			UserAgent:  "Mozilla/5.0 (X11; Linux x86_64) 测试",
			At:         at,
		}
	}
	failed := event(a.ID, core.EventSignInFailed, t0.Add(time.Minute))
	failed.Success = false
	failed.Method = core.MethodPassword
	failed.ProviderID = ""
	failed.Detail = string(core.CodeWrongPassword)
	// Recorded out of order; At decides.
	evs := []core.Event{
		event(a.ID, core.EventSignUp, t0),
		event(a.ID, core.EventLink, t0.Add(3*time.Minute)),
		failed,
		event(a.ID, core.EventSignIn, t0.Add(2*time.Minute)),
		event(b.ID, core.EventSignIn, t0.Add(time.Hour)),
		event("", core.EventSignInFailed, t0.Add(time.Hour)),
	}
	for _, e := range evs {
		must(t, s.RecordEvent(ctx, e))
	}
	newestA := []core.Event{evs[1], evs[3], evs[2], evs[0]}
	for _, limit := range []int{10, 4, 2, 1} {
		got, err := s.ListEvents(ctx, core.EventQuery{UserID: a.ID, Limit: limit})
		must(t, err)
		sameEvents(t, got, newestA[:min(limit, len(newestA))])
	}
	got, err := s.ListEvents(ctx, core.EventQuery{UserID: b.ID, Limit: 10})
	must(t, err)
	sameEvents(t, got, evs[4:5])
	got, err = s.ListEvents(ctx, core.EventQuery{UserID: "no-such-user", Limit: 10})
	must(t, err)
	sameEvents(t, got, nil)

	// Filtered by kind, as login_activity reads them: refreshes and links
	// must not crowd out sign-ins.
	kinds := []core.EventKind{core.EventSignIn, core.EventSignInFailed}
	got, err = s.ListEvents(ctx, core.EventQuery{UserID: a.ID, Kinds: kinds, Limit: 10})
	must(t, err)
	sameEvents(t, got, []core.Event{evs[3], evs[2]})
	got, err = s.ListEvents(ctx, core.EventQuery{UserID: a.ID, Kinds: kinds, Limit: 1})
	must(t, err)
	sameEvents(t, got, []core.Event{evs[3]})
	got, err = s.ListEvents(ctx, core.EventQuery{UserID: a.ID, Kinds: []core.EventKind{core.EventUnlink}, Limit: 10})
	must(t, err)
	sameEvents(t, got, nil)
}

// testEventsPurge: PurgeEvents deletes the events older than its time,
// whoever they belong to, and counts them.
func testEventsPurge(t *testing.T, s core.Store) {
	ctx := context.Background()
	var kept []core.Event
	for i, user := range []string{"u1", "u1", "", "u2", "u1"} {
		e := core.Event{ID: newID(), UserID: user, Kind: core.EventSignInFailed, Method: core.MethodPassword, At: t0.Add(time.Duration(i) * time.Hour)}
		must(t, s.RecordEvent(ctx, e))
		if i >= 3 && user == "u1" {
			kept = append(kept, e)
		}
	}
	n, err := s.PurgeEvents(ctx, t0.Add(3*time.Hour))
	must(t, err)
	if n != 3 {
		t.Fatalf("PurgeEvents = %d, want 3", n)
	}
	got, err := s.ListEvents(ctx, core.EventQuery{UserID: "u1"})
	must(t, err)
	sameEvents(t, got, kept)
	n, err = s.PurgeEvents(ctx, t0.Add(3*time.Hour))
	must(t, err)
	if n != 0 {
		t.Fatalf("second PurgeEvents = %d, want 0", n)
	}
}
