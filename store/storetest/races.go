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

var raceTests = []test{
	{"Race/CreateUserSameEmail", testRaceCreateUser},
	{"Race/CreateUserWithIdentity", testRaceCreateUserWithIdentity},
	{"Race/LinkIdentity", testRaceLinkIdentity},
	{"Race/UpdateUser", testRaceUpdateUser},
	{"Race/UnlinkLastIdentity", testRaceUnlink},
	{"Race/ConsumeFlow", testRaceConsumeFlow},
	{"Race/RotateRefreshToken", testRaceRotate},
	{"Race/ReplayDuringRotation", testRaceReplayDuringRotation},
	{"Race/RevokeDuringRotation", testRaceRevokeDuringRotation},
	{"Race/PurgeFlows", testRacePurgeFlows},
	{"Race/PurgeRefreshTokens", testRacePurgeRefreshTokens},
}

// Rounds is how many times each race case is repeated. Later rounds
// meet warm connection pools, where the racers really overlap.
const Rounds = 4

// race runs f(0) … f(n-1) at once, each in its own goroutine, and returns
// their errors.
func race(n int, f func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = f(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// oneWinner fails unless exactly one error is nil and every other one is
// the expected loss. It returns the winner's index.
func oneWinner(t *testing.T, errs []error, lose func(error) bool, what string) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("%s: racers %d and %d both won", what, winner, i)
		case err == nil:
			winner = i
		case !lose(err):
			t.Fatalf("%s: racer %d failed with %v", what, i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("%s: nobody won; errors: %v", what, errs)
	}
	return winner
}

func is(target error) func(error) bool {
	return func(err error) bool { return errors.Is(err, target) }
}

func testRaceCreateUser(t *testing.T, s core.Store) {
	ctx := context.Background()
	for round := range Rounds {
		users := make([]core.User, Racers)
		email := fmt.Sprintf("Race%d@Example.com", round)
		for i := range users {
			users[i] = newUser()
			// The same address, spelled differently by each racer.
			users[i].Email = email
			if i%2 == 1 {
				users[i].Email = strings.ToLower(email)
			}
		}
		errs := race(Racers, func(i int) error { return s.CreateUser(ctx, users[i]) })
		w := oneWinner(t, errs, is(core.ErrEmailTaken), "CreateUser")
		got, err := s.GetUserByEmail(ctx, email)
		must(t, err)
		if got.ID != users[w].ID {
			t.Fatalf("the account of %s is %s, want the winner %s", email, got.ID, users[w].ID)
		}
		all, err := s.ListUsers(ctx)
		must(t, err)
		if len(all) != round+1 {
			t.Fatalf("ListUsers = %d accounts after %d rounds, want one per round", len(all), round+1)
		}
	}
}

func testRaceCreateUserWithIdentity(t *testing.T, s core.Store) {
	ctx := context.Background()
	for round := range Rounds {
		key := newIdentity("", "logto").IdentityKey
		users := make([]core.User, Racers)
		ids := make([]core.Identity, Racers)
		for i := range users {
			users[i] = newUser() // a different email each
			ids[i] = newIdentity(users[i].ID, "logto")
			ids[i].IdentityKey = key
		}
		errs := race(Racers, func(i int) error { return s.CreateUserWithIdentity(ctx, users[i], ids[i]) })
		w := oneWinner(t, errs, is(core.ErrIdentityTaken), "CreateUserWithIdentity")
		all, err := s.ListUsers(ctx)
		must(t, err)
		if len(all) != round+1 || all[round].ID != users[w].ID {
			t.Fatalf("ListUsers = %d accounts after %d rounds, want only each round's winner", len(all), round+1)
		}
		got, err := s.GetIdentity(ctx, key)
		must(t, err)
		if got.UserID != users[w].ID {
			t.Fatalf("identity belongs to %s, want the winner %s", got.UserID, users[w].ID)
		}
	}
}

func testRaceLinkIdentity(t *testing.T, s core.Store) {
	ctx := context.Background()
	for range Rounds {
		key := newIdentity("", "logto").IdentityKey
		ids := make([]core.Identity, Racers)
		for i := range ids {
			u := mustCreateUser(t, s)
			ids[i] = newIdentity(u.ID, "logto")
			ids[i].IdentityKey = key
		}
		errs := race(Racers, func(i int) error { return s.LinkIdentity(ctx, ids[i]) })
		w := oneWinner(t, errs, is(core.ErrIdentityTaken), "LinkIdentity")
		got, err := s.GetIdentity(ctx, key)
		must(t, err)
		if got.UserID != ids[w].UserID {
			t.Fatalf("identity belongs to %s, want the winner %s", got.UserID, ids[w].UserID)
		}
	}
}

// testRaceUpdateUser checks UpdateUser is one read-modify-write: no update
// is lost when many run at once.
func testRaceUpdateUser(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	errs := race(Racers, func(i int) error {
		for round := range Rounds {
			_, err := s.UpdateUser(ctx, u.ID, func(u *core.User) error {
				u.Permissions = append(u.Permissions, fmt.Sprintf("p%02d.%d", i, round))
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	for _, err := range errs {
		must(t, err)
	}
	got, err := s.GetUser(ctx, u.ID)
	must(t, err)
	if want := len(u.Permissions) + Racers*Rounds; len(got.Permissions) != want {
		t.Fatalf("%d permissions after %d concurrent updates, want %d: %v", len(got.Permissions), Racers*Rounds, want, got.Permissions)
	}
}

// testRaceUnlink: a passwordless user with two identities races unlinks of
// both under a "keep one way to sign in" guard. Exactly one may succeed.
func testRaceUnlink(t *testing.T, s core.Store) {
	ctx := context.Background()
	keepOne := func(u core.User, ids []core.Identity) error {
		if u.Passwordless() && len(ids) <= 1 {
			return core.ErrLastSignInMethod
		}
		return nil
	}
	providers := []string{"logto", "qq"}
	for range Rounds {
		u := newUser()
		u.PasswordHash = ""
		must(t, s.CreateUserWithIdentity(ctx, u, newIdentity(u.ID, "logto")))
		mustLink(t, s, u.ID, "qq")
		errs := race(Racers, func(i int) error {
			_, err := s.UnlinkIdentity(ctx, u.ID, providers[i%2], keepOne)
			return err
		})
		oneWinner(t, errs, func(err error) bool {
			return errors.Is(err, core.ErrLastSignInMethod) || errors.Is(err, core.ErrIdentityNotLinked)
		}, "UnlinkIdentity")
		ids, err := s.ListIdentities(ctx, u.ID)
		must(t, err)
		if len(ids) != 1 {
			t.Fatalf("%d identities left, want 1", len(ids))
		}
	}
}

func testRaceConsumeFlow(t *testing.T, s core.Store) {
	ctx := context.Background()
	for range Rounds {
		f := newFlow()
		must(t, s.CreateFlow(ctx, f))
		got := make([]core.Flow, Racers)
		errs := race(Racers, func(i int) error {
			var err error
			got[i], err = s.ConsumeFlow(ctx, f.ID, t0.Add(time.Minute))
			return err
		})
		w := oneWinner(t, errs, is(core.ErrFlowNotFound), "ConsumeFlow")
		sameFlow(t, got[w], f)
	}
}

// testRaceRotate: one token refreshed by many at once. One rotation wins;
// to the others the token is already used, which is a replay, so the chain
// ends revoked, the winner's new token included.
func testRaceRotate(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	for range Rounds {
		tok := newToken(u.ID)
		must(t, s.CreateSession(ctx, sessionOf(tok), tok))
		now := t0.Add(time.Hour)
		got := make([]core.RefreshToken, Racers)
		errs := race(Racers, func(i int) error {
			var err error
			got[i], err = s.RotateRefreshToken(ctx, tok.Hash, now, successor(now))
			return err
		})
		w := oneWinner(t, errs, func(err error) bool { return isExactly(err, core.ErrTokenReused) }, "RotateRefreshToken")
		_, err := s.RotateRefreshToken(ctx, got[w].Hash, now.Add(time.Second), successor(now))
		wantExactly(t, err, core.ErrInvalidToken, "the winner's token after the losers' replays")
	}
}

// testRaceReplayDuringRotation: a stolen, already used token is replayed
// while the legitimate client rotates the newest one. Whatever the order,
// the chain must end revoked: the replay may not miss the token the
// rotation adds.
func testRaceReplayDuringRotation(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	for range Rounds * 4 {
		t1 := newToken(u.ID)
		must(t, s.CreateSession(ctx, sessionOf(t1), t1))
		now := t0.Add(time.Hour)
		t2 := rotate(t, s, t1.Hash, now)
		var t3 core.RefreshToken
		errs := race(2, func(i int) error {
			if i == 0 {
				_, err := s.RotateRefreshToken(ctx, t1.Hash, now, successor(now))
				return err
			}
			var err error
			t3, err = s.RotateRefreshToken(ctx, t2.Hash, now, successor(now))
			return err
		})
		wantExactly(t, errs[0], core.ErrTokenReused, "the replay")
		if errs[1] != nil {
			wantExactly(t, errs[1], core.ErrInvalidToken, "the rotation after the replay")
			continue
		}
		_, err := s.RotateRefreshToken(ctx, t3.Hash, now.Add(time.Second), successor(now))
		wantExactly(t, err, core.ErrInvalidToken, "the token the rotation added during the replay")
	}
}

// testRaceRevokeDuringRotation: a sign-out (RevokeRefreshChain) or a ban
// (RevokeUserRefreshTokens) racing a refresh of the same chain. Whichever
// goes first, nothing of the chain is usable afterwards, not even the
// token that the refresh added while the revocation ran.
func testRaceRevokeDuringRotation(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	now := t0.Add(time.Hour)
	revocations := []struct {
		name   string
		revoke func(tok core.RefreshToken) error
	}{
		{"RevokeRefreshChain", func(tok core.RefreshToken) error {
			_, err := s.RevokeRefreshChain(ctx, tok.Hash, now)
			return err
		}},
		{"RevokeUserRefreshTokens", func(core.RefreshToken) error { return s.RevokeUserRefreshTokens(ctx, u.ID, now) }},
	}
	for _, r := range revocations {
		for range Rounds * 4 {
			tok := newToken(u.ID)
			must(t, s.CreateSession(ctx, sessionOf(tok), tok))
			var next core.RefreshToken
			errs := race(2, func(i int) error {
				if i == 1 {
					return r.revoke(tok)
				}
				var err error
				next, err = s.RotateRefreshToken(ctx, tok.Hash, now, successor(now))
				return err
			})
			must(t, errs[1])
			if errs[0] != nil {
				wantExactly(t, errs[0], core.ErrInvalidToken, "the rotation after "+r.name)
				continue
			}
			_, err := s.RotateRefreshToken(ctx, next.Hash, now.Add(time.Second), successor(now))
			wantExactly(t, err, core.ErrInvalidToken, "the token the rotation added during "+r.name)
		}
	}
}

// testRacePurgeFlows: two instances purge at once; each expired flow is
// deleted, and counted, once.
func testRacePurgeFlows(t *testing.T, s core.Store) {
	ctx := context.Background()
	now := t0.Add(time.Hour)
	const expired = 60
	for i := range expired + 5 {
		f := newFlow()
		if i < expired {
			f.ExpiresAt = now.Add(-time.Duration(i+1) * time.Second)
		} else {
			f.ExpiresAt = now.Add(time.Hour)
		}
		must(t, s.CreateFlow(ctx, f))
	}
	counts := make([]int, 2)
	errs := race(2, func(i int) error {
		var err error
		counts[i], err = s.PurgeFlows(ctx, now)
		return err
	})
	for _, err := range errs {
		must(t, err)
	}
	if counts[0]+counts[1] != expired {
		t.Fatalf("concurrent purges deleted %d + %d flows, want %d in total", counts[0], counts[1], expired)
	}
	n, err := s.PurgeFlows(ctx, now)
	must(t, err)
	if n != 0 {
		t.Fatalf("a later purge found %d more", n)
	}
}

func testRacePurgeRefreshTokens(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	now := t0.Add(30 * 24 * time.Hour)
	const expired = 60
	for i := range expired + 5 {
		tok := newToken(u.ID)
		if i < expired {
			tok.ExpiresAt = now.Add(-time.Duration(i+1) * time.Second)
		} else {
			tok.ExpiresAt = now.Add(time.Hour)
		}
		must(t, s.CreateSession(ctx, sessionOf(tok), tok))
	}
	counts := make([]int, 2)
	errs := race(2, func(i int) error {
		var err error
		counts[i], err = s.PurgeRefreshTokens(ctx, now)
		return err
	})
	for _, err := range errs {
		must(t, err)
	}
	if counts[0]+counts[1] != expired {
		t.Fatalf("concurrent purges deleted %d + %d tokens, want %d in total", counts[0], counts[1], expired)
	}
}
