package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/tether-id/tether/core"
)

var sessionTests = []test{
	{"Session/RoundTrip", testSessionRoundTrip},
	{"Session/FirstToken", testSessionFirstToken},
	{"Session/UnknownUser", testSessionUnknownUser},
	{"Session/ListLive", testSessionListLive},
	{"Session/Update", testSessionUpdate},
	{"Session/RotationUsesSession", testSessionRotation},
	{"Session/Revoke", testSessionRevoke},
	{"Session/RevokeChainAndUser", testSessionRevokeChainAndUser},
	{"Session/Purge", testSessionPurge},
	{"RefreshToken/Get", testRefreshTokenGet},
}

func testSessionRoundTrip(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	ses := newSession(u.ID)
	first := firstToken(ses)
	must(t, s.CreateSession(ctx, ses, first))
	got, err := s.GetSession(ctx, ses.ID)
	must(t, err)
	sameSession(t, got, ses)
	tok, err := s.GetRefreshToken(ctx, first.Hash)
	must(t, err)
	sameToken(t, tok, first)

	// The smallest session: a password sign-in of tether's own.
	plain := core.Session{ID: newID(), UserID: u.ID, Method: core.MethodPassword, CreatedAt: t0, LastUsedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	must(t, s.CreateSession(ctx, plain, firstToken(plain)))
	got, err = s.GetSession(ctx, plain.ID)
	must(t, err)
	sameSession(t, got, plain)

	_, err = s.GetSession(ctx, "no-such-session")
	wantErr(t, err, core.ErrNotFound, "GetSession of an unknown id")
	// Duplicate ids are refused.
	if err := s.CreateSession(ctx, ses, firstToken(ses)); err == nil {
		t.Fatal("CreateSession accepted a duplicate id")
	}
}

// testSessionFirstToken: the first token must belong to the session.
func testSessionFirstToken(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	other := mustCreateUser(t, s)
	ses := newSession(u.ID)
	for name, tok := range map[string]core.RefreshToken{
		"other chain": {Hash: newID(), ChainID: newID(), UserID: u.ID, CreatedAt: t0, ExpiresAt: ses.ExpiresAt},
		"other user":  {Hash: newID(), ChainID: ses.ID, UserID: other.ID, CreatedAt: t0, ExpiresAt: ses.ExpiresAt},
		"no hash":     {ChainID: ses.ID, UserID: u.ID, CreatedAt: t0, ExpiresAt: ses.ExpiresAt},
	} {
		if err := s.CreateSession(ctx, ses, tok); err == nil {
			t.Errorf("%s: CreateSession accepted the token", name)
		}
	}
	_, err := s.GetSession(ctx, ses.ID)
	wantErr(t, err, core.ErrNotFound, "session of a refused CreateSession")
}

func testSessionUnknownUser(t *testing.T, s core.Store) {
	ses := newSession("no-such-user")
	err := s.CreateSession(context.Background(), ses, firstToken(ses))
	wantErr(t, err, core.ErrNotFound, "CreateSession for an unknown user")
}

// testSessionListLive: ListSessions shows a user's live sessions, most
// recently used first, without revoked or expired ones or anyone else's.
func testSessionListLive(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	other := mustCreateUser(t, s)
	now := t0.Add(time.Hour)
	mk := func(userID string, lastUsed, expires time.Time) core.Session {
		ses := newSession(userID)
		ses.LastUsedAt, ses.ExpiresAt = lastUsed, expires
		must(t, s.CreateSession(ctx, ses, firstToken(ses)))
		return ses
	}
	older := mk(u.ID, now.Add(-time.Hour), now.Add(time.Hour))
	newer := mk(u.ID, now.Add(-time.Minute), now.Add(time.Hour))
	mk(u.ID, now.Add(-2*time.Hour), now.Add(-time.Second)) // expired
	revoked := mk(u.ID, now, now.Add(time.Hour))
	must(t, s.RevokeSession(ctx, u.ID, revoked.ID, now))
	mk(other.ID, now, now.Add(time.Hour))

	got, err := s.ListSessions(ctx, u.ID, now)
	must(t, err)
	if len(got) != 2 {
		t.Fatalf("ListSessions = %d sessions %+v, want 2", len(got), got)
	}
	sameSession(t, got[0], newer)
	sameSession(t, got[1], older)
	got, err = s.ListSessions(ctx, "no-such-user", now)
	must(t, err)
	if len(got) != 0 {
		t.Fatalf("ListSessions of an unknown user = %+v", got)
	}
}

// testSessionUpdate: UpdateSession saves what changes after a sign-in and
// nothing else.
func testSessionUpdate(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	ses := newSession(u.ID)
	must(t, s.CreateSession(ctx, ses, firstToken(ses)))
	want := ses
	want.LastUsedAt = t0.Add(time.Hour)
	want.LastIP = "192.0.2.9"
	want.UserAgent = "curl/8"
	want.UpstreamTokens = []byte{0, 1, 2, 0}
	want.CheckedAt = t0.Add(time.Hour)
	arg := want
	arg.UserID, arg.ClientID, arg.Scopes = "someone-else", "other-app", []string{"x"} // not saved
	arg.CreatedAt, arg.ExpiresAt = t0.Add(-time.Hour), t0.Add(time.Minute)            // not saved
	must(t, s.UpdateSession(ctx, arg))
	got, err := s.GetSession(ctx, ses.ID)
	must(t, err)
	sameSession(t, got, want)

	// Clearing the upstream tokens.
	want.UpstreamTokens = nil
	must(t, s.UpdateSession(ctx, want))
	got, err = s.GetSession(ctx, ses.ID)
	must(t, err)
	sameSession(t, got, want)

	wantErr(t, s.UpdateSession(ctx, newSession(u.ID)), core.ErrNotFound, "UpdateSession of an unknown session")
}

// testSessionRotation: a rotation marks the session used and moves its
// expiry to the new token's.
func testSessionRotation(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	ses := newSession(u.ID)
	first := firstToken(ses)
	must(t, s.CreateSession(ctx, ses, first))
	now := t0.Add(time.Hour)
	next := rotate(t, s, first.Hash, now)
	got, err := s.GetSession(ctx, ses.ID)
	must(t, err)
	want := ses
	want.LastUsedAt, want.ExpiresAt = now, next.ExpiresAt
	sameSession(t, got, want)
}

func testSessionRevoke(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	other := mustCreateUser(t, s)
	ses := newSession(u.ID)
	first := firstToken(ses)
	must(t, s.CreateSession(ctx, ses, first))
	keep := newSession(u.ID)
	keepFirst := firstToken(keep)
	must(t, s.CreateSession(ctx, keep, keepFirst))

	wantErr(t, s.RevokeSession(ctx, other.ID, ses.ID, t0), core.ErrNotFound, "RevokeSession of another user's session")
	wantErr(t, s.RevokeSession(ctx, u.ID, "no-such-session", t0), core.ErrNotFound, "RevokeSession of an unknown session")
	at := t0.Add(time.Hour)
	must(t, s.RevokeSession(ctx, u.ID, ses.ID, at))
	got, err := s.GetSession(ctx, ses.ID)
	must(t, err)
	if !sameTime(got.RevokedAt, at) {
		t.Fatalf("session revoked at %v, want %v", got.RevokedAt, at)
	}
	_, err = s.RotateRefreshToken(ctx, first.Hash, at.Add(time.Second), successor(at))
	wantExactly(t, err, core.ErrInvalidToken, "rotation in a revoked session")
	// Revoking again is harmless and keeps the first time.
	must(t, s.RevokeSession(ctx, u.ID, ses.ID, at.Add(time.Hour)))
	got, err = s.GetSession(ctx, ses.ID)
	must(t, err)
	if !sameTime(got.RevokedAt, at) {
		t.Fatalf("session revoked at %v after a second revocation, want %v", got.RevokedAt, at)
	}
	rotate(t, s, keepFirst.Hash, at)
}

// testSessionRevokeChainAndUser: signing out, a replay and a ban revoke
// the sessions, not only their tokens.
func testSessionRevokeChainAndUser(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	a, b, c := newSession(u.ID), newSession(u.ID), newSession(u.ID)
	af, bf, cf := firstToken(a), firstToken(b), firstToken(c)
	for _, p := range []struct {
		s core.Session
		t core.RefreshToken
	}{{a, af}, {b, bf}, {c, cf}} {
		must(t, s.CreateSession(ctx, p.s, p.t))
	}
	now := t0.Add(time.Hour)
	_, err := s.RevokeRefreshChain(ctx, af.Hash, now)
	must(t, err)
	rotate(t, s, bf.Hash, now)
	_, err = s.RotateRefreshToken(ctx, bf.Hash, now.Add(time.Second), successor(now))
	wantExactly(t, err, core.ErrTokenReused, "replay")
	live, err := s.ListSessions(ctx, u.ID, now)
	must(t, err)
	if len(live) != 1 || live[0].ID != c.ID {
		t.Fatalf("live sessions after a sign-out and a replay: %+v, want only %s", live, c.ID)
	}
	must(t, s.RevokeUserRefreshTokens(ctx, u.ID, now))
	live, err = s.ListSessions(ctx, u.ID, now)
	must(t, err)
	if len(live) != 0 {
		t.Fatalf("live sessions after RevokeUserRefreshTokens: %+v", live)
	}
}

// testSessionPurge: a purge removes sessions that expired or were revoked
// before now, with their tokens, and keeps live ones.
func testSessionPurge(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	now := t0.Add(30 * 24 * time.Hour)
	expired, live, revoked := newSession(u.ID), newSession(u.ID), newSession(u.ID)
	expired.ExpiresAt = now.Add(-time.Minute)
	live.ExpiresAt = now.Add(time.Hour)
	revoked.ExpiresAt = now.Add(time.Hour)
	for _, ses := range []core.Session{expired, live, revoked} {
		must(t, s.CreateSession(ctx, ses, firstToken(ses)))
	}
	must(t, s.RevokeSession(ctx, u.ID, revoked.ID, now.Add(-time.Hour)))
	_, err := s.PurgeRefreshTokens(ctx, now)
	must(t, err)
	for _, id := range []string{expired.ID, revoked.ID} {
		_, err := s.GetSession(ctx, id)
		wantErr(t, err, core.ErrNotFound, "purged session")
	}
	_, err = s.GetSession(ctx, live.ID)
	must(t, err)
}

func testRefreshTokenGet(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	t1 := newToken(u.ID)
	must(t, s.CreateSession(ctx, sessionOf(t1), t1))
	now := t0.Add(time.Hour)
	rotate(t, s, t1.Hash, now)
	got, err := s.GetRefreshToken(ctx, t1.Hash)
	must(t, err)
	want := t1
	want.UsedAt = now
	sameToken(t, got, want)
	// Looking does not use: the used token is still caught as a replay.
	_, err = s.RotateRefreshToken(ctx, t1.Hash, now, successor(now))
	wantExactly(t, err, core.ErrTokenReused, "replay after GetRefreshToken")
	_, err = s.GetRefreshToken(ctx, "no-such-token")
	wantExactly(t, err, core.ErrInvalidToken, "GetRefreshToken of an unknown hash")
}
