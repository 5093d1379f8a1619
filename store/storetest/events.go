package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-id/tether/core"
)

var eventTests = []test{
	{"Event/ListNewestFirst", testEventsNewestFirst},
	{"Event/Purge", testEventsPurge},
	{"Event/AuditAcrossAccounts", testAuditEvents},
	{"Event/Follow", testFollowEvents},
	{"Event/FollowFilters", testFollowFilters},
	{"Event/FollowAfterPurge", testFollowAfterPurge},
	{"Event/FollowBadCursor", testFollowBadCursor},
	{"Event/FollowWhileWriting", testFollowWhileWriting},
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
			Actor:      core.ActorUser,
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
	banned := event(a.ID, core.EventBan, t0.Add(4*time.Minute))
	banned.Actor, banned.Method, banned.ProviderID, banned.ClientID = core.ActorAdminCLI, "", "", ""
	banned.IP, banned.UserAgent, banned.Detail = "", "", string(core.StatusManualBanned)
	// Recorded out of order; At decides.
	evs := []core.Event{
		event(a.ID, core.EventSignUp, t0),
		event(a.ID, core.EventLink, t0.Add(3*time.Minute)),
		failed,
		event(a.ID, core.EventSignIn, t0.Add(2*time.Minute)),
		event(b.ID, core.EventSignIn, t0.Add(time.Hour)),
		event("", core.EventSignInFailed, t0.Add(time.Hour)),
		banned,
	}
	for _, e := range evs {
		must(t, s.RecordEvent(ctx, e))
	}
	newestA := []core.Event{evs[6], evs[1], evs[3], evs[2], evs[0]}
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
		e := core.Event{ID: newID(), UserID: user, Kind: core.EventSignInFailed, Actor: core.ActorUser, Method: core.MethodPassword, At: t0.Add(time.Duration(i) * time.Hour)}
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

// auditEvent is an event of user at, with every field set.
func auditEvent(userID string, kind core.EventKind, at time.Time) core.Event {
	return core.Event{ID: newID(), UserID: userID, Kind: kind, Actor: core.ActorUser, Method: core.MethodPassword,
		ProviderID: "corp", ClientID: "grafana", Success: true, IP: "192.0.2.1", UserAgent: "curl/8.5.0", Detail: "d", At: at}
}

// testAuditEvents: AuditEvents reads every account's events, and those
// tied to none, newest first, filtered by account, kinds and time.
func testAuditEvents(t *testing.T, s core.Store) {
	ctx := context.Background()
	a, b := mustCreateUser(t, s), mustCreateUser(t, s)
	ban := auditEvent(a.ID, core.EventBan, t0.Add(3*time.Minute))
	ban.Actor, ban.IP, ban.UserAgent = core.ActorAdminCLI, "", ""
	evs := []core.Event{
		auditEvent(a.ID, core.EventSignUp, t0),
		auditEvent(b.ID, core.EventSignIn, t0.Add(time.Minute)),
		auditEvent("", core.EventSignInFailed, t0.Add(2*time.Minute)),
		ban,
		auditEvent(b.ID, core.EventGrant, t0.Add(3*time.Minute)), // same time as the ban, recorded after
		auditEvent(a.ID, core.EventSignIn, t0.Add(5*time.Minute)),
	}
	for _, e := range evs {
		must(t, s.RecordEvent(ctx, e))
	}
	pick := func(is ...int) []core.Event {
		var out []core.Event
		for _, i := range is {
			out = append(out, evs[i])
		}
		return out
	}
	tests := []struct {
		name string
		q    core.AuditQuery
		want []core.Event
	}{
		{"all", core.AuditQuery{}, pick(5, 4, 3, 2, 1, 0)},
		{"limit", core.AuditQuery{Limit: 2}, pick(5, 4)},
		{"user", core.AuditQuery{UserID: a.ID}, pick(5, 3, 0)},
		{"kinds", core.AuditQuery{Kinds: []core.EventKind{core.EventBan, core.EventGrant}}, pick(4, 3)},
		{"since", core.AuditQuery{Since: t0.Add(2 * time.Minute)}, pick(5, 4, 3, 2)},
		{"everything", core.AuditQuery{UserID: b.ID, Kinds: []core.EventKind{core.EventSignIn}, Since: t0.Add(time.Minute), Limit: 5}, pick(1)},
		{"none", core.AuditQuery{UserID: a.ID, Kinds: []core.EventKind{core.EventGrant}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.AuditEvents(ctx, tt.q)
			must(t, err)
			sameEvents(t, got, tt.want)
		})
	}
	all, err := s.AuditEvents(ctx, core.AuditQuery{})
	must(t, err)
	seen := map[core.EventCursor]bool{}
	for _, e := range all {
		if seen[e.Cursor] {
			t.Fatalf("two events at cursor %q", e.Cursor)
		}
		seen[e.Cursor] = true
	}
}

// follow polls FollowEvents from after until it has returned n events,
// and returns them with the last cursor. Where writers commit
// concurrently, an event is returned once it is settled, so a poll may
// come back short while another transaction (of any test on the same
// server) is still running.
func follow(t *testing.T, s core.Store, q core.AuditQuery, after core.EventCursor, n int) ([]core.Event, core.EventCursor) {
	t.Helper()
	var got []core.Event
	for {
		page, next, err := s.FollowEvents(context.Background(), q, after)
		must(t, err)
		if next == "" {
			t.Fatalf("FollowEvents after %q returned no cursor", after)
		}
		if q.Limit > 0 && len(page) > q.Limit {
			t.Fatalf("FollowEvents returned %d events, over its limit %d", len(page), q.Limit)
		}
		got = append(got, page...)
		after = next
		if len(got) > n {
			t.Fatalf("FollowEvents returned %d events, want %d: %+v", len(got), n, got)
		}
		if len(got) == n {
			return got, after
		}
		if len(page) == 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// nothingMore checks that FollowEvents has nothing after cursor.
func nothingMore(t *testing.T, s core.Store, q core.AuditQuery, after core.EventCursor) {
	t.Helper()
	got, next, err := s.FollowEvents(context.Background(), q, after)
	must(t, err)
	if len(got) != 0 || next == "" {
		t.Fatalf("FollowEvents after the last event: %+v, cursor %q", got, next)
	}
}

// testFollowEvents: FollowEvents returns the trail in the order it was
// committed (not by time), in pages, and resumes after its cursor with
// exactly the events committed since, whether one transaction recorded
// one event or several.
func testFollowEvents(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	got, _, err := s.FollowEvents(ctx, core.AuditQuery{}, "")
	must(t, err)
	if len(got) != 0 {
		t.Fatalf("FollowEvents of an empty trail: %+v", got)
	}
	var evs []core.Event
	for i, min := range []int{4, 0, 2, 9, 1} { // times out of order: commits decide
		e := auditEvent(u.ID, core.EventSignIn, t0.Add(time.Duration(min)*time.Minute))
		e.Detail = fmt.Sprint(i)
		must(t, s.RecordEvent(ctx, e))
		evs = append(evs, e)
	}
	got, c1 := follow(t, s, core.AuditQuery{}, "", len(evs))
	sameEvents(t, got, evs)
	nothingMore(t, s, core.AuditQuery{}, c1)

	// In pages of two, from the start: the same events.
	got, c := follow(t, s, core.AuditQuery{Limit: 2}, "", len(evs))
	sameEvents(t, got, evs)
	nothingMore(t, s, core.AuditQuery{Limit: 2}, c)

	// One transaction with two events, then one on its own.
	more := []core.Event{auditEvent(u.ID, core.EventLink, t0), auditEvent(u.ID, core.EventSignIn, t0), auditEvent("", core.EventSignInFailed, t0)}
	must(t, s.Update(ctx, func(q core.Queries) error {
		must(t, q.RecordEvent(ctx, more[0]))
		return q.RecordEvent(ctx, more[1])
	}))
	must(t, s.RecordEvent(ctx, more[2]))
	got, c2 := follow(t, s, core.AuditQuery{}, c1, len(more))
	sameEvents(t, got, more)
	nothingMore(t, s, core.AuditQuery{}, c2)
	all := append(evs, more...)

	// From the end: what is committed afterwards, and nothing settled
	// before it.
	end, err := s.EventsEnd(ctx)
	must(t, err)
	last := auditEvent(u.ID, core.EventSignOut, t0)
	must(t, s.RecordEvent(ctx, last))
	all = append(all, last)
	var tail []core.Event
	after := end
	for len(tail) == 0 || tail[len(tail)-1].ID != last.ID {
		page, next, err := s.FollowEvents(ctx, core.AuditQuery{}, after)
		must(t, err)
		tail, after = append(tail, page...), next
		if len(page) == 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	// A suffix of the trail that ends with the new event (on PostgreSQL,
	// events committed just before EventsEnd but not yet settled then come
	// first).
	if len(tail) > len(all) {
		t.Fatalf("FollowEvents from the end: %d events", len(tail))
	}
	sameEvents(t, tail, all[len(all)-len(tail):])
	nothingMore(t, s, core.AuditQuery{}, after)
}

// testFollowFilters: a follower that selects some events gets those, in
// order, and its cursor moves past the others, which it never sees.
func testFollowFilters(t *testing.T, s core.Store) {
	ctx := context.Background()
	a, b := mustCreateUser(t, s), mustCreateUser(t, s)
	record := func(es ...core.Event) {
		for _, e := range es {
			must(t, s.RecordEvent(ctx, e))
		}
	}
	a1 := auditEvent(a.ID, core.EventSignIn, t0)
	b1 := auditEvent(b.ID, core.EventSignIn, t0.Add(time.Minute))
	a2 := auditEvent(a.ID, core.EventBan, t0.Add(2*time.Minute))
	b2 := auditEvent(b.ID, core.EventBan, t0.Add(3*time.Minute))
	record(a1, b1, a2, b2)

	byUser := core.AuditQuery{UserID: a.ID}
	got, ca := follow(t, s, byUser, "", 2)
	sameEvents(t, got, []core.Event{a1, a2})
	byKind := core.AuditQuery{Kinds: []core.EventKind{core.EventBan, core.EventUnban}, Limit: 1}
	got, ck := follow(t, s, byKind, "", 2)
	sameEvents(t, got, []core.Event{a2, b2})
	since := core.AuditQuery{Since: t0.Add(time.Minute)}
	got, cs := follow(t, s, since, "", 3)
	sameEvents(t, got, []core.Event{b1, a2, b2})

	b3 := auditEvent(b.ID, core.EventUnban, t0.Add(4*time.Minute))
	a3 := auditEvent(a.ID, core.EventSignOut, t0) // before since: never selected by it
	record(b3, a3)
	got, _ = follow(t, s, byUser, ca, 1)
	sameEvents(t, got, []core.Event{a3})
	got, _ = follow(t, s, byKind, ck, 1)
	sameEvents(t, got, []core.Event{b3})
	got, c := follow(t, s, since, cs, 1)
	sameEvents(t, got, []core.Event{b3})
	nothingMore(t, s, since, c)
}

// testFollowAfterPurge: a cursor stays good after the purge removed every
// event: what is recorded afterwards comes after it (positions are never
// reused).
func testFollowAfterPurge(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	for range 3 {
		must(t, s.RecordEvent(ctx, auditEvent(u.ID, core.EventSignIn, t0)))
	}
	_, c := follow(t, s, core.AuditQuery{}, "", 3)
	if _, err := s.PurgeEvents(ctx, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	nothingMore(t, s, core.AuditQuery{}, c)
	e := auditEvent(u.ID, core.EventSignOut, t0.Add(2*time.Hour))
	must(t, s.RecordEvent(ctx, e))
	got, _ := follow(t, s, core.AuditQuery{}, c, 1)
	sameEvents(t, got, []core.Event{e})
}

// testFollowBadCursor: a cursor that is not the store's is CodeInvalid,
// naming the field after.
func testFollowBadCursor(t *testing.T, s core.Store) {
	for _, c := range []core.EventCursor{"nonsense", "-1", "1:x", "x:1", "1:2:3", "١٢"} {
		_, _, err := s.FollowEvents(context.Background(), core.AuditQuery{}, c)
		var ce *core.Error
		if !errors.As(err, &ce) || ce.Code != core.CodeInvalid || ce.Field != "after" {
			t.Errorf("FollowEvents after %q: %v, want CodeInvalid on after", c, err)
		}
	}
}

// testFollowWhileWriting: writers record events at once, alone and two
// to a transaction, while a follower polls in small pages: the follower
// gets every event exactly once, and each writer's events in the order
// it committed them.
func testFollowWhileWriting(t *testing.T, s core.Store) {
	ctx := context.Background()
	const perWriter = 12
	u := mustCreateUser(t, s)
	var wg sync.WaitGroup
	errs := make(chan error, Racers)
	for w := range Racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWriter; i += 2 {
				e1 := auditEvent(u.ID, core.EventRefresh, t0)
				e1.Detail = fmt.Sprintf("%d-%02d", w, i)
				e2 := auditEvent(u.ID, core.EventRefresh, t0)
				e2.Detail = fmt.Sprintf("%d-%02d", w, i+1)
				var err error
				if i%4 == 0 {
					err = s.Update(ctx, func(q core.Queries) error {
						if err := q.RecordEvent(ctx, e1); err != nil {
							return err
						}
						return q.RecordEvent(ctx, e2)
					})
				} else if err = s.RecordEvent(ctx, e1); err == nil {
					err = s.RecordEvent(ctx, e2)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	got, _ := follow(t, s, core.AuditQuery{Limit: 7}, "", Racers*perWriter)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	last := map[string]string{}
	for _, e := range got {
		if seen[e.ID] {
			t.Fatalf("event %s (%s) returned twice", e.ID, e.Detail)
		}
		seen[e.ID] = true
		w, _, _ := strings.Cut(e.Detail, "-")
		if e.Detail <= last[w] {
			t.Fatalf("writer %s: event %s after %s", w, e.Detail, last[w])
		}
		last[w] = e.Detail
	}
}
