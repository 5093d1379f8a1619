package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tether-id/tether/core"
)

var updateTests = []test{
	{"Update/AllOrNothing", testUpdateAllOrNothing},
	{"Update/CommitsTogether", testUpdateCommitsTogether},
	{"Update/ReadsOwnWrites", testUpdateReadsOwnWrites},
	{"Update/ConcurrentOwnResults", testUpdateConcurrentOwnResults},
	{"Update/ReplayInsideUpdate", testUpdateReplay},
	{"Update/CancelledBeforeTurn", testUpdateCancelled},
}

// inUpdate is a Store whose every Queries call runs inside its own
// Update, so the suite checks that Queries in a transaction behave as on
// the Store.
type inUpdate struct{ core.Store }

func tx[T any](s inUpdate, ctx context.Context, fn func(q core.Queries) (T, error)) (T, error) {
	var out T
	err := s.Store.Update(ctx, func(q core.Queries) error {
		var err error
		out, err = fn(q)
		return err
	})
	return out, err
}

func tx0(s inUpdate, ctx context.Context, fn func(q core.Queries) error) error {
	return s.Store.Update(ctx, fn)
}

func (s inUpdate) CreateUser(ctx context.Context, u core.User) error {
	return tx0(s, ctx, func(q core.Queries) error { return q.CreateUser(ctx, u) })
}
func (s inUpdate) CreateUserWithIdentity(ctx context.Context, u core.User, id core.Identity) error {
	return tx0(s, ctx, func(q core.Queries) error { return q.CreateUserWithIdentity(ctx, u, id) })
}
func (s inUpdate) GetUser(ctx context.Context, id string) (core.User, error) {
	return tx(s, ctx, func(q core.Queries) (core.User, error) { return q.GetUser(ctx, id) })
}
func (s inUpdate) GetUserByEmail(ctx context.Context, email string) (core.User, error) {
	return tx(s, ctx, func(q core.Queries) (core.User, error) { return q.GetUserByEmail(ctx, email) })
}
func (s inUpdate) ListUsers(ctx context.Context) ([]core.User, error) {
	return tx(s, ctx, func(q core.Queries) ([]core.User, error) { return q.ListUsers(ctx) })
}
func (s inUpdate) UpdateUser(ctx context.Context, id string, update func(*core.User) error) (core.User, error) {
	return tx(s, ctx, func(q core.Queries) (core.User, error) { return q.UpdateUser(ctx, id, update) })
}
func (s inUpdate) LinkIdentity(ctx context.Context, id core.Identity) error {
	return tx0(s, ctx, func(q core.Queries) error { return q.LinkIdentity(ctx, id) })
}
func (s inUpdate) GetIdentity(ctx context.Context, key core.IdentityKey) (core.Identity, error) {
	return tx(s, ctx, func(q core.Queries) (core.Identity, error) { return q.GetIdentity(ctx, key) })
}
func (s inUpdate) ListIdentities(ctx context.Context, userID string) ([]core.Identity, error) {
	return tx(s, ctx, func(q core.Queries) ([]core.Identity, error) { return q.ListIdentities(ctx, userID) })
}
func (s inUpdate) UpdateIdentity(ctx context.Context, id core.Identity) error {
	return tx0(s, ctx, func(q core.Queries) error { return q.UpdateIdentity(ctx, id) })
}
func (s inUpdate) TouchIdentity(ctx context.Context, key core.IdentityKey, userID string, at time.Time) error {
	return tx0(s, ctx, func(q core.Queries) error { return q.TouchIdentity(ctx, key, userID, at) })
}
func (s inUpdate) UnlinkIdentity(ctx context.Context, userID, providerID string, guard func(core.User, []core.Identity) error) (core.Identity, error) {
	return tx(s, ctx, func(q core.Queries) (core.Identity, error) { return q.UnlinkIdentity(ctx, userID, providerID, guard) })
}
func (s inUpdate) CreateFlow(ctx context.Context, f core.Flow) error {
	return tx0(s, ctx, func(q core.Queries) error { return q.CreateFlow(ctx, f) })
}
func (s inUpdate) GetFlow(ctx context.Context, id string, now time.Time) (core.Flow, error) {
	return tx(s, ctx, func(q core.Queries) (core.Flow, error) { return q.GetFlow(ctx, id, now) })
}
func (s inUpdate) ConsumeFlow(ctx context.Context, id string, now time.Time) (core.Flow, error) {
	return tx(s, ctx, func(q core.Queries) (core.Flow, error) { return q.ConsumeFlow(ctx, id, now) })
}
func (s inUpdate) PurgeFlows(ctx context.Context, now time.Time) (int, error) {
	return tx(s, ctx, func(q core.Queries) (int, error) { return q.PurgeFlows(ctx, now) })
}
func (s inUpdate) CreateSession(ctx context.Context, ses core.Session, first core.RefreshToken) error {
	return tx0(s, ctx, func(q core.Queries) error { return q.CreateSession(ctx, ses, first) })
}
func (s inUpdate) GetSession(ctx context.Context, id string) (core.Session, error) {
	return tx(s, ctx, func(q core.Queries) (core.Session, error) { return q.GetSession(ctx, id) })
}
func (s inUpdate) ListSessions(ctx context.Context, userID string, now time.Time) ([]core.Session, error) {
	return tx(s, ctx, func(q core.Queries) ([]core.Session, error) { return q.ListSessions(ctx, userID, now) })
}
func (s inUpdate) UpdateSession(ctx context.Context, ses core.Session) error {
	return tx0(s, ctx, func(q core.Queries) error { return q.UpdateSession(ctx, ses) })
}
func (s inUpdate) GetRefreshToken(ctx context.Context, hash string) (core.RefreshToken, error) {
	return tx(s, ctx, func(q core.Queries) (core.RefreshToken, error) { return q.GetRefreshToken(ctx, hash) })
}

// RotateRefreshToken commits a replay's revocation, as the contract asks
// of a caller inside Update.
func (s inUpdate) RotateRefreshToken(ctx context.Context, hash string, now time.Time, next func(core.RefreshToken) core.RefreshToken) (core.RefreshToken, error) {
	var reused error
	out, err := tx(s, ctx, func(q core.Queries) (core.RefreshToken, error) {
		out, err := q.RotateRefreshToken(ctx, hash, now, next)
		if errors.Is(err, core.ErrTokenReused) {
			reused = err
			return out, nil
		}
		return out, err
	})
	if err == nil && reused != nil {
		err = reused
	}
	return out, err
}
func (s inUpdate) RevokeRefreshChain(ctx context.Context, hash string, now time.Time) (core.RefreshToken, error) {
	return tx(s, ctx, func(q core.Queries) (core.RefreshToken, error) { return q.RevokeRefreshChain(ctx, hash, now) })
}
func (s inUpdate) RevokeSession(ctx context.Context, userID, id string, now time.Time) error {
	return tx0(s, ctx, func(q core.Queries) error { return q.RevokeSession(ctx, userID, id, now) })
}
func (s inUpdate) RevokeUserRefreshTokens(ctx context.Context, userID string, now time.Time) error {
	return tx0(s, ctx, func(q core.Queries) error { return q.RevokeUserRefreshTokens(ctx, userID, now) })
}
func (s inUpdate) PurgeRefreshTokens(ctx context.Context, now time.Time) (int, error) {
	return tx(s, ctx, func(q core.Queries) (int, error) { return q.PurgeRefreshTokens(ctx, now) })
}
func (s inUpdate) ListSigningKeys(ctx context.Context, now time.Time) ([]core.SigningKey, error) {
	return tx(s, ctx, func(q core.Queries) ([]core.SigningKey, error) { return q.ListSigningKeys(ctx, now) })
}
func (s inUpdate) RotateSigningKey(ctx context.Context, next core.SigningKey, replaces string, keepUntil time.Time) error {
	return tx0(s, ctx, func(q core.Queries) error { return q.RotateSigningKey(ctx, next, replaces, keepUntil) })
}
func (s inUpdate) CreateAuthCode(ctx context.Context, c core.AuthCode) error {
	return tx0(s, ctx, func(q core.Queries) error { return q.CreateAuthCode(ctx, c) })
}

// UseAuthCode commits a replay's revocation, as the contract asks of a
// caller inside Update.
func (s inUpdate) UseAuthCode(ctx context.Context, hash string, now time.Time) (core.AuthCode, error) {
	var reused error
	out, err := tx(s, ctx, func(q core.Queries) (core.AuthCode, error) {
		out, err := q.UseAuthCode(ctx, hash, now)
		if errors.Is(err, core.ErrCodeReused) {
			reused = err
			return out, nil
		}
		return out, err
	})
	if err == nil && reused != nil {
		err = reused
	}
	return out, err
}
func (s inUpdate) GetConsent(ctx context.Context, userID, clientID string) (core.Consent, error) {
	return tx(s, ctx, func(q core.Queries) (core.Consent, error) { return q.GetConsent(ctx, userID, clientID) })
}
func (s inUpdate) SaveConsent(ctx context.Context, c core.Consent) error {
	return tx0(s, ctx, func(q core.Queries) error { return q.SaveConsent(ctx, c) })
}
func (s inUpdate) ListConsents(ctx context.Context, userID string) ([]core.Consent, error) {
	return tx(s, ctx, func(q core.Queries) ([]core.Consent, error) { return q.ListConsents(ctx, userID) })
}
func (s inUpdate) DeleteConsent(ctx context.Context, userID, clientID string) error {
	return tx0(s, ctx, func(q core.Queries) error { return q.DeleteConsent(ctx, userID, clientID) })
}
func (s inUpdate) RevokeClientSessions(ctx context.Context, userID, clientID string, now time.Time) error {
	return tx0(s, ctx, func(q core.Queries) error { return q.RevokeClientSessions(ctx, userID, clientID, now) })
}
func (s inUpdate) RevokeAccessToken(ctx context.Context, id string, expires time.Time) error {
	return tx0(s, ctx, func(q core.Queries) error { return q.RevokeAccessToken(ctx, id, expires) })
}
func (s inUpdate) CheckAccessToken(ctx context.Context, session, id string, now time.Time) error {
	return tx0(s, ctx, func(q core.Queries) error { return q.CheckAccessToken(ctx, session, id, now) })
}
func (s inUpdate) PurgeGrants(ctx context.Context, now time.Time) (int, error) {
	return tx(s, ctx, func(q core.Queries) (int, error) { return q.PurgeGrants(ctx, now) })
}
func (s inUpdate) GetAvatar(ctx context.Context, userID string) (core.Avatar, error) {
	return tx(s, ctx, func(q core.Queries) (core.Avatar, error) { return q.GetAvatar(ctx, userID) })
}
func (s inUpdate) SaveAvatar(ctx context.Context, a core.Avatar) error {
	return tx0(s, ctx, func(q core.Queries) error { return q.SaveAvatar(ctx, a) })
}
func (s inUpdate) RecordEvent(ctx context.Context, e core.Event) error {
	return tx0(s, ctx, func(q core.Queries) error { return q.RecordEvent(ctx, e) })
}
func (s inUpdate) ListEvents(ctx context.Context, eq core.EventQuery) ([]core.Event, error) {
	return tx(s, ctx, func(q core.Queries) ([]core.Event, error) { return q.ListEvents(ctx, eq) })
}
func (s inUpdate) PurgeEvents(ctx context.Context, before time.Time) (int, error) {
	return tx(s, ctx, func(q core.Queries) (int, error) { return q.PurgeEvents(ctx, before) })
}

var errAbort = errors.New("storetest: abort")

// testUpdateAllOrNothing: an error from fn undoes every write fn made,
// and comes back as it was returned.
func testUpdateAllOrNothing(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := newUser()
	id := newIdentity(u.ID, "logto")
	f := newFlow()
	must(t, s.CreateFlow(ctx, f))
	err := s.Update(ctx, func(q core.Queries) error {
		if _, err := q.ConsumeFlow(ctx, f.ID, t0); err != nil {
			return err
		}
		if err := q.CreateUserWithIdentity(ctx, u, id); err != nil {
			return err
		}
		ses := newSession(u.ID)
		if err := q.CreateSession(ctx, ses, firstToken(ses)); err != nil {
			return err
		}
		return errAbort
	})
	if err != errAbort {
		t.Fatalf("Update = %v, want fn's own error", err)
	}
	_, err = s.GetUser(ctx, u.ID)
	wantErr(t, err, core.ErrNotFound, "user created in an aborted Update")
	_, err = s.GetIdentity(ctx, id.IdentityKey)
	wantErr(t, err, core.ErrNotFound, "identity linked in an aborted Update")
	got, err := s.GetFlow(ctx, f.ID, t0)
	must(t, err)
	sameFlow(t, got, f)

	// A store error inside fn, returned, undoes the writes before it too.
	taken := mustCreateUser(t, s)
	other := newUser()
	other.Email = taken.Email
	err = s.Update(ctx, func(q core.Queries) error {
		if _, err := q.ConsumeFlow(ctx, f.ID, t0); err != nil {
			return err
		}
		return q.CreateUser(ctx, other)
	})
	wantErr(t, err, core.ErrEmailTaken, "CreateUser with a taken email inside Update")
	_, err = s.GetFlow(ctx, f.ID, t0)
	must(t, err)
}

func testUpdateCommitsTogether(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := newUser()
	id := newIdentity(u.ID, "qq")
	ses := newSession(u.ID)
	first := firstToken(ses)
	f := newFlow()
	must(t, s.CreateFlow(ctx, f))
	e := core.Event{ID: newID(), UserID: u.ID, Kind: core.EventSignUp, Method: core.MethodOpenID, ProviderID: "qq", Success: true, At: t0}
	must(t, s.Update(ctx, func(q core.Queries) error {
		if _, err := q.ConsumeFlow(ctx, f.ID, t0); err != nil {
			return err
		}
		if err := q.CreateUserWithIdentity(ctx, u, id); err != nil {
			return err
		}
		if err := q.CreateSession(ctx, ses, first); err != nil {
			return err
		}
		return q.RecordEvent(ctx, e)
	}))
	got, err := s.GetUser(ctx, u.ID)
	must(t, err)
	sameUser(t, got, u)
	gotID, err := s.GetIdentity(ctx, id.IdentityKey)
	must(t, err)
	id.UserID = u.ID
	sameIdentity(t, gotID, id)
	gotSes, err := s.GetSession(ctx, ses.ID)
	must(t, err)
	sameSession(t, gotSes, ses)
	gotTok, err := s.GetRefreshToken(ctx, first.Hash)
	must(t, err)
	sameToken(t, gotTok, first)
	events, err := s.ListEvents(ctx, core.EventQuery{UserID: u.ID})
	must(t, err)
	sameEvents(t, events, []core.Event{e})
	_, err = s.GetFlow(ctx, f.ID, t0)
	wantErr(t, err, core.ErrFlowNotFound, "flow consumed in a committed Update")
}

// testUpdateReadsOwnWrites: reads inside Update see the transaction's
// writes, and the Store sees them once it has committed.
func testUpdateReadsOwnWrites(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := newUser()
	must(t, s.Update(ctx, func(q core.Queries) error {
		if err := q.CreateUser(ctx, u); err != nil {
			return err
		}
		got, err := q.GetUserByEmail(ctx, u.Email)
		if err != nil {
			return err
		}
		if got.ID != u.ID {
			return fmt.Errorf("read inside Update: %+v", got)
		}
		_, err = q.UpdateUser(ctx, u.ID, func(x *core.User) error { x.Nickname = "Inside"; return nil })
		return err
	}))
	got, err := s.GetUser(ctx, u.ID)
	must(t, err)
	if got.Nickname != "Inside" {
		t.Fatalf("nickname %q after Update", got.Nickname)
	}
}

// testUpdateConcurrentOwnResults: of Updates that run at once (and on
// SQLite share commits), each gets its own outcome: the failing ones
// leave nothing behind, the others all commit.
func testUpdateConcurrentOwnResults(t *testing.T, s core.Store) {
	ctx := context.Background()
	users := make([]core.User, Racers*2)
	for i := range users {
		users[i] = newUser()
	}
	errs := race(len(users), func(i int) error {
		return s.Update(ctx, func(q core.Queries) error {
			if err := q.CreateUser(ctx, users[i]); err != nil {
				return err
			}
			if i%3 == 0 {
				return fmt.Errorf("racer %d: %w", i, errAbort)
			}
			return nil
		})
	})
	for i, err := range errs {
		_, gerr := s.GetUser(ctx, users[i].ID)
		if i%3 == 0 {
			if !errors.Is(err, errAbort) {
				t.Errorf("racer %d: Update = %v, want its own error", i, err)
			}
			wantErr(t, gerr, core.ErrNotFound, fmt.Sprintf("racer %d's aborted user", i))
		} else {
			must(t, err)
			must(t, gerr)
		}
	}
}

// testUpdateReplay: a replay inside Update revokes the chain in that
// transaction; rolled back, the chain lives on; committed, it is dead.
func testUpdateReplay(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	t1 := newToken(u.ID)
	must(t, s.CreateSession(ctx, sessionOf(t1), t1))
	now := t0.Add(time.Hour)
	t2 := rotate(t, s, t1.Hash, now)

	replay := func(commit bool) error {
		return s.Update(ctx, func(q core.Queries) error {
			_, err := q.RotateRefreshToken(ctx, t1.Hash, now.Add(time.Minute), successor(now))
			wantExactly(t, err, core.ErrTokenReused, "replay inside Update")
			if commit {
				return nil
			}
			return err
		})
	}
	wantExactly(t, replay(false), core.ErrTokenReused, "rolled-back replay")
	t3 := rotate(t, s, t2.Hash, now.Add(2*time.Minute)) // still alive
	must(t, replay(true))
	_, err := s.RotateRefreshToken(ctx, t3.Hash, now.Add(3*time.Minute), successor(now))
	wantExactly(t, err, core.ErrInvalidToken, "rotation after a committed replay")
}

// testUpdateCancelled: an Update whose context has ended changes nothing.
func testUpdateCancelled(t *testing.T, s core.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	u := newUser()
	err := s.Update(ctx, func(q core.Queries) error { return q.CreateUser(ctx, u) })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Update with a cancelled context = %v, want context.Canceled", err)
	}
	_, err = s.GetUser(context.Background(), u.ID)
	wantErr(t, err, core.ErrNotFound, "user of a cancelled Update")
}
