package storetest

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-id/tether/core"
)

// Benchmark measures what the hot paths cost the store, from parallel
// goroutines (b.RunParallel; -cpu sets how many):
//
//   - Finish: the store calls of one upstream sign-in of a known identity:
//     create and consume the flow, look up and update the identity, store
//     the first refresh token, record the event.
//   - Refresh: one refresh-token rotation.
//
// s must be migrated; the benchmark adds its own users.
func Benchmark(b *testing.B, s core.Store) {
	ctx := context.Background()
	const accounts = 64
	ids := make([]core.Identity, accounts)
	for i := range ids {
		u := newUser()
		ids[i] = newIdentity(u.ID, "logto")
		if err := s.CreateUserWithIdentity(ctx, u, ids[i]); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int64

	b.Run("Finish", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				now := time.Now()
				id := ids[next.Add(1)%accounts]
				f := newFlow()
				f.ProviderID, f.Purpose, f.UserID = id.ProviderID, core.PurposeSignIn, ""
				f.CreatedAt, f.ExpiresAt = now, now.Add(10*time.Minute)
				if err := s.CreateFlow(ctx, f); err != nil {
					b.Fatal(err)
				}
				if _, err := s.ConsumeFlow(ctx, f.ID, now); err != nil {
					b.Fatal(err)
				}
				got, err := s.GetIdentity(ctx, id.IdentityKey)
				if err != nil {
					b.Fatal(err)
				}
				got.LastSignInAt = now
				if err := s.UpdateIdentity(ctx, got); err != nil {
					b.Fatal(err)
				}
				tok := newToken(got.UserID)
				tok.CreatedAt, tok.ExpiresAt = now, now.Add(time.Hour)
				if err := s.CreateSession(ctx, sessionOf(tok), tok); err != nil {
					b.Fatal(err)
				}
				e := core.Event{UserID: got.UserID, Kind: core.EventSignIn, Method: core.MethodOpenID, ProviderID: id.ProviderID, Success: true, At: now}
				if err := s.RecordEvent(ctx, e); err != nil {
					b.Fatal(err)
				}
			}
		})
	})

	b.Run("Refresh", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			userID := ids[next.Add(1)%accounts].UserID
			now := time.Now()
			tok := newToken(userID)
			tok.CreatedAt, tok.ExpiresAt = now, now.Add(time.Hour)
			if err := s.CreateSession(ctx, sessionOf(tok), tok); err != nil {
				b.Fatal(err)
			}
			for pb.Next() {
				var err error
				if tok, err = s.RotateRefreshToken(ctx, tok.Hash, time.Now(), successor(now)); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
