package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/tether-id/tether/core"
)

var tokenTests = []test{
	{"RefreshToken/Rotate", testTokenRotate},
	{"RefreshToken/ReuseRevokesChain", testTokenReuseRevokesChain},
	{"RefreshToken/Invalid", testTokenInvalid},
	{"RefreshToken/RevokeChain", testTokenRevokeChain},
	{"RefreshToken/RevokeUser", testTokenRevokeUser},
	{"RefreshToken/Purge", testTokenPurge},
}

// rotate rotates hash at now and returns the new token, failing the test
// unless it is exactly what next returned.
func rotate(t *testing.T, s core.Store, hash string, now time.Time) core.RefreshToken {
	t.Helper()
	var made core.RefreshToken
	got, err := s.RotateRefreshToken(context.Background(), hash, now, func(old core.RefreshToken) core.RefreshToken {
		made = successor(now)(old)
		return made
	})
	if err != nil {
		t.Fatalf("RotateRefreshToken at %v: %v", now, err)
	}
	sameToken(t, got, made)
	return got
}

func testTokenRotate(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	t1 := newToken(u.ID)
	must(t, s.CreateSession(ctx, sessionOf(t1), t1))

	now1 := t0.Add(time.Hour)
	calls := 0
	var made core.RefreshToken
	t2, err := s.RotateRefreshToken(ctx, t1.Hash, now1, func(old core.RefreshToken) core.RefreshToken {
		calls++
		old.UsedAt = time.Time{} // may or may not be set yet; not part of the contract
		sameToken(t, old, t1)
		made = successor(now1)(old)
		return made
	})
	must(t, err)
	if calls != 1 {
		t.Errorf("next called %d times, want 1", calls)
	}
	sameToken(t, t2, made)
	if t2.ChainID != t1.ChainID || t2.Hash == t1.Hash {
		t.Fatalf("rotated token %+v is not a new token of chain %s", t2, t1.ChainID)
	}
	now2 := now1.Add(time.Hour)
	t3 := rotate(t, s, t2.Hash, now2)

	// RevokeRefreshChain returns the stored token: every field round-trips.
	now3 := now2.Add(time.Hour)
	got, err := s.RevokeRefreshChain(ctx, t1.Hash, now3)
	must(t, err)
	want := t1
	want.UsedAt = now1
	want.RevokedAt = now3
	sameToken(t, got, want)
	got, err = s.RevokeRefreshChain(ctx, t3.Hash, now3)
	must(t, err)
	want = t3
	want.RevokedAt = now3
	sameToken(t, got, want)
}

func testTokenReuseRevokesChain(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	t1 := newToken(u.ID)
	must(t, s.CreateSession(ctx, sessionOf(t1), t1))
	other := newToken(u.ID) // another sign-in of the same user
	must(t, s.CreateSession(ctx, sessionOf(other), other))

	now := t0.Add(time.Hour)
	t2 := rotate(t, s, t1.Hash, now)
	t3 := rotate(t, s, t2.Hash, now.Add(time.Minute))

	replayAt := now.Add(2 * time.Minute)
	never := func(core.RefreshToken) core.RefreshToken {
		t.Error("next called for a replayed token")
		return core.RefreshToken{Hash: newID()}
	}
	replayed, err := s.RotateRefreshToken(ctx, t1.Hash, replayAt, never)
	wantExactly(t, err, core.ErrTokenReused, "replay of the first token")
	// The replayed token comes back, so the service can tell whose
	// session was stolen.
	if replayed.Hash != t1.Hash || replayed.UserID != t1.UserID || replayed.ChainID != t1.ChainID {
		t.Errorf("replay returned %+v, want the replayed token %+v", replayed, t1)
	}
	// The whole chain is revoked, the newest token included.
	_, err = s.RotateRefreshToken(ctx, t3.Hash, replayAt.Add(time.Second), never)
	wantExactly(t, err, core.ErrInvalidToken, "newest token after the replay")
	_, err = s.RotateRefreshToken(ctx, t2.Hash, replayAt.Add(time.Second), never)
	wantExactly(t, err, core.ErrTokenReused, "replay of the middle token")
	_, err = s.RotateRefreshToken(ctx, t1.Hash, replayAt.Add(time.Second), never)
	wantExactly(t, err, core.ErrTokenReused, "second replay of the first token")
	got, err := s.RevokeRefreshChain(ctx, t3.Hash, replayAt.Add(time.Hour))
	must(t, err)
	if !sameTime(got.RevokedAt, replayAt) {
		t.Errorf("newest token revoked at %v, want the replay time %v", got.RevokedAt, replayAt)
	}
	// Other chains live on.
	rotate(t, s, other.Hash, replayAt)
}

func testTokenInvalid(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	live := newToken(u.ID)
	must(t, s.CreateSession(ctx, sessionOf(live), live))
	revoked := newToken(u.ID)
	must(t, s.CreateSession(ctx, sessionOf(revoked), revoked))
	_, err := s.RevokeRefreshChain(ctx, revoked.Hash, t0.Add(time.Minute))
	must(t, err)

	for _, c := range []struct {
		name string
		hash string
		now  time.Time
	}{
		{"unknown", "no-such-token", t0.Add(time.Minute)},
		{"expired", live.Hash, live.ExpiresAt.Add(time.Second)},
		{"revoked", revoked.Hash, t0.Add(time.Hour)},
	} {
		_, err := s.RotateRefreshToken(ctx, c.hash, c.now, func(core.RefreshToken) core.RefreshToken {
			t.Errorf("%s: next called", c.name)
			return core.RefreshToken{Hash: newID()}
		})
		wantExactly(t, err, core.ErrInvalidToken, c.name+" token")
	}
	// Rejecting an expired token is not a replay: the chain is not revoked.
	rotate(t, s, live.Hash, t0.Add(time.Hour))
}

func testTokenRevokeChain(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	t1 := newToken(u.ID)
	must(t, s.CreateSession(ctx, sessionOf(t1), t1))
	other := newToken(u.ID)
	must(t, s.CreateSession(ctx, sessionOf(other), other))
	t2 := rotate(t, s, t1.Hash, t0.Add(time.Hour))

	// Sign-out presents the newest token; the old one is revoked with it.
	at := t0.Add(2 * time.Hour)
	got, err := s.RevokeRefreshChain(ctx, t2.Hash, at)
	must(t, err)
	want := t2
	want.RevokedAt = at
	sameToken(t, got, want)
	_, err = s.RotateRefreshToken(ctx, t2.Hash, at.Add(time.Second), successor(at))
	wantExactly(t, err, core.ErrInvalidToken, "rotation of a revoked token")
	got, err = s.RevokeRefreshChain(ctx, t1.Hash, at.Add(time.Hour))
	must(t, err)
	if got.RevokedAt.IsZero() {
		t.Error("the older token of a revoked chain is not revoked")
	}
	// Revoking again is harmless; unknown tokens are invalid.
	_, err = s.RevokeRefreshChain(ctx, t2.Hash, at.Add(time.Hour))
	must(t, err)
	_, err = s.RevokeRefreshChain(ctx, "no-such-token", at)
	wantExactly(t, err, core.ErrInvalidToken, "RevokeRefreshChain of an unknown token")
	rotate(t, s, other.Hash, at)
}

func testTokenRevokeUser(t *testing.T, s core.Store) {
	ctx := context.Background()
	a := mustCreateUser(t, s)
	b := mustCreateUser(t, s)
	a1, a2, b1 := newToken(a.ID), newToken(a.ID), newToken(b.ID)
	for _, tok := range []core.RefreshToken{a1, a2, b1} {
		must(t, s.CreateSession(ctx, sessionOf(tok), tok))
	}
	a1next := rotate(t, s, a1.Hash, t0.Add(time.Minute))

	at := t0.Add(time.Hour)
	must(t, s.RevokeUserRefreshTokens(ctx, a.ID, at))
	for _, hash := range []string{a1next.Hash, a2.Hash} {
		_, err := s.RotateRefreshToken(ctx, hash, at.Add(time.Second), successor(at))
		wantExactly(t, err, core.ErrInvalidToken, "rotation after RevokeUserRefreshTokens")
	}
	rotate(t, s, b1.Hash, at.Add(time.Second))
	must(t, s.RevokeUserRefreshTokens(ctx, "no-such-user", at))
}

func testTokenPurge(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	now := t0.Add(30 * 24 * time.Hour)

	expired := newToken(u.ID)
	expired.CreatedAt = now.Add(-48 * time.Hour)
	expired.ExpiresAt = now.Add(-time.Hour)
	revoked := newToken(u.ID)
	revoked.CreatedAt = now.Add(-48 * time.Hour)
	revoked.ExpiresAt = now.Add(24 * time.Hour)
	live := newToken(u.ID)
	live.CreatedAt = now.Add(-48 * time.Hour)
	live.ExpiresAt = now.Add(24 * time.Hour)
	used := newToken(u.ID)
	used.CreatedAt = now.Add(-48 * time.Hour)
	used.ExpiresAt = now.Add(24 * time.Hour)
	for _, tok := range []core.RefreshToken{expired, revoked, live, used} {
		must(t, s.CreateSession(ctx, sessionOf(tok), tok))
	}
	_, err := s.RevokeRefreshChain(ctx, revoked.Hash, now.Add(-time.Hour))
	must(t, err)
	usedNext := rotate(t, s, used.Hash, now.Add(-time.Hour))

	n, err := s.PurgeRefreshTokens(ctx, now)
	must(t, err)
	if n != 2 {
		t.Fatalf("PurgeRefreshTokens = %d, want 2 (one expired, one revoked)", n)
	}
	n, err = s.PurgeRefreshTokens(ctx, now)
	must(t, err)
	if n != 0 {
		t.Fatalf("second PurgeRefreshTokens = %d, want 0", n)
	}
	// A used token is kept until it expires, so replays are still caught.
	_, err = s.RotateRefreshToken(ctx, used.Hash, now, successor(now))
	wantExactly(t, err, core.ErrTokenReused, "replay after a purge")
	_, err = s.RotateRefreshToken(ctx, usedNext.Hash, now, successor(now))
	wantExactly(t, err, core.ErrInvalidToken, "rotation of a chain revoked by the replay")
	n, err = s.PurgeRefreshTokens(ctx, now.Add(time.Second))
	must(t, err)
	if n != 2 {
		t.Fatalf("PurgeRefreshTokens after the replay = %d, want 2 (the revoked chain)", n)
	}
	rotate(t, s, live.Hash, now)
}
