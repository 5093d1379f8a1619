package storetest

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/tether-id/tether/core"
)

var emailLinkTests = []test{
	{"EmailLink/RoundTrip", testLinkRoundTrip},
	{"EmailLink/UnknownUser", testEmailLinkUnknownUser},
	{"EmailLink/ConsumeOnce", testLinkConsumeOnce},
	{"EmailLink/Expired", testLinkExpired},
	{"EmailLink/NewestOnly", testLinkNewestOnly},
	{"EmailLink/Purge", testLinkPurge},
}

// newLink returns a link of kind for userID with every field set.
func newLink(userID string, kind core.LinkKind) core.EmailLink {
	return core.EmailLink{
		Hash:      newID(),
		UserID:    userID,
		Kind:      kind,
		Email:     "New." + newID() + "@Example.com",
		Binding:   "binding-" + newID(),
		CreatedAt: t0,
		ExpiresAt: t0.Add(time.Hour),
	}
}

func sameLink(t *testing.T, got, want core.EmailLink) {
	t.Helper()
	fixTime(&got.CreatedAt, want.CreatedAt)
	fixTime(&got.ExpiresAt, want.ExpiresAt)
	fixTime(&got.UsedAt, want.UsedAt)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("email link:\n got %+v\nwant %+v", got, want)
	}
}

func testLinkRoundTrip(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	for _, kind := range []core.LinkKind{core.LinkVerifyEmail, core.LinkResetPassword, core.LinkChangeEmail} {
		l := newLink(u.ID, kind)
		must(t, s.CreateEmailLink(ctx, l))
		got, err := s.GetEmailLink(ctx, l.Hash)
		must(t, err)
		sameLink(t, got, l)
	}
	_, err := s.GetEmailLink(ctx, "no-such-link")
	wantErr(t, err, core.ErrNotFound, "GetEmailLink of an unknown hash")
}

func testEmailLinkUnknownUser(t *testing.T, s core.Store) {
	err := s.CreateEmailLink(context.Background(), newLink("no-such-user", core.LinkVerifyEmail))
	wantErr(t, err, core.ErrNotFound, "CreateEmailLink for an unknown user")
}

// testLinkConsumeOnce: a link is used once, whoever races for it.
func testLinkConsumeOnce(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	l := newLink(u.ID, core.LinkResetPassword)
	must(t, s.CreateEmailLink(ctx, l))
	now := t0.Add(time.Minute)
	errs := race(Racers, func(int) error {
		got, err := s.ConsumeEmailLink(ctx, l.Hash, now)
		if err == nil {
			want := l
			want.UsedAt = now
			sameLink(t, got, want)
		}
		return err
	})
	oneWinner(t, errs, func(err error) bool { return isExactly(err, core.ErrLinkUsed) }, "racing ConsumeEmailLink")
	_, err := s.ConsumeEmailLink(ctx, l.Hash, now.Add(time.Second))
	wantExactly(t, err, core.ErrLinkUsed, "ConsumeEmailLink of a used link")
	got, err := s.GetEmailLink(ctx, l.Hash)
	must(t, err)
	if !sameTime(got.UsedAt, now) {
		t.Fatalf("UsedAt %v, want %v", got.UsedAt, now)
	}
	_, err = s.ConsumeEmailLink(ctx, "no-such-link", now)
	wantErr(t, err, core.ErrNotFound, "ConsumeEmailLink of an unknown hash")
}

func testLinkExpired(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	l := newLink(u.ID, core.LinkVerifyEmail)
	must(t, s.CreateEmailLink(ctx, l))
	_, err := s.ConsumeEmailLink(ctx, l.Hash, l.ExpiresAt)
	wantExactly(t, err, core.ErrLinkExpired, "ConsumeEmailLink at its expiry")
	got, err := s.GetEmailLink(ctx, l.Hash)
	must(t, err)
	if !got.UsedAt.IsZero() {
		t.Fatal("an expired link was marked used")
	}
	_, err = s.ConsumeEmailLink(ctx, l.Hash, l.ExpiresAt.Add(-time.Microsecond*1000))
	must(t, err)
}

// testLinkNewestOnly: a new link of a kind replaces the account's unused
// ones of that kind, and nothing else.
func testLinkNewestOnly(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	other := mustCreateUser(t, s)
	used := newLink(u.ID, core.LinkVerifyEmail)
	must(t, s.CreateEmailLink(ctx, used))
	_, err := s.ConsumeEmailLink(ctx, used.Hash, t0)
	must(t, err)
	first := newLink(u.ID, core.LinkVerifyEmail)
	reset := newLink(u.ID, core.LinkResetPassword)
	theirs := newLink(other.ID, core.LinkVerifyEmail)
	for _, l := range []core.EmailLink{first, reset, theirs} {
		must(t, s.CreateEmailLink(ctx, l))
	}
	second := newLink(u.ID, core.LinkVerifyEmail)
	must(t, s.CreateEmailLink(ctx, second))

	_, err = s.GetEmailLink(ctx, first.Hash)
	wantErr(t, err, core.ErrNotFound, "the replaced link")
	_, err = s.ConsumeEmailLink(ctx, first.Hash, t0)
	wantErr(t, err, core.ErrNotFound, "consuming the replaced link")
	for _, l := range []core.EmailLink{second, reset, theirs} {
		got, err := s.GetEmailLink(ctx, l.Hash)
		must(t, err)
		sameLink(t, got, l)
	}
	_, err = s.ConsumeEmailLink(ctx, used.Hash, t0)
	wantExactly(t, err, core.ErrLinkUsed, "a used link after a newer one")
}

func testLinkPurge(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	now := t0.Add(2 * time.Hour)
	var dead, live []core.EmailLink
	for i := range 6 {
		l := newLink(u.ID, core.LinkKind("kind-"+newID()))
		if i%2 == 0 {
			l.ExpiresAt = now.Add(-time.Minute)
			dead = append(dead, l)
		} else {
			l.ExpiresAt = now.Add(time.Minute)
			live = append(live, l)
		}
		must(t, s.CreateEmailLink(ctx, l))
	}
	_, err := s.ConsumeEmailLink(ctx, live[0].Hash, t0) // used but not expired: kept
	must(t, err)
	n, err := s.PurgeEmailLinks(ctx, now)
	must(t, err)
	if n != len(dead) {
		t.Errorf("PurgeEmailLinks = %d, want %d", n, len(dead))
	}
	for _, l := range dead {
		if _, err := s.GetEmailLink(ctx, l.Hash); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("expired link %s survived the purge: %v", l.Hash, err)
		}
	}
	for _, l := range live {
		_, err := s.GetEmailLink(ctx, l.Hash)
		must(t, err)
	}
}
