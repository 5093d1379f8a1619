package storetest

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tether-id/tether/core"
)

var userTests = []test{
	{"User/RoundTrip", testUserRoundTrip},
	{"User/GetUnknown", testUserGetUnknown},
	{"User/EmailCaseInsensitive", testUserEmailCaseInsensitive},
	{"User/EmailTaken", testUserEmailTaken},
	{"User/UnverifiedEmailBlocksNobody", testUserUnverifiedEmail},
	{"User/Avatar", testUserAvatar},
	{"User/DuplicateID", testUserDuplicateID},
	{"User/ListOldestFirst", testUserListOldestFirst},
	{"User/Update", testUserUpdate},
	{"User/UpdateEmailTaken", testUserUpdateEmailTaken},
	{"User/UpdateOwnEmailCase", testUserUpdateOwnEmailCase},
	{"User/UpdateAbort", testUserUpdateAbort},
	{"User/UpdateUnknown", testUserUpdateUnknown},
	{"Ping", func(t *testing.T, s core.Store) { must(t, s.Ping(context.Background())) }},
}

func testUserRoundTrip(t *testing.T, s core.Store) {
	ctx := context.Background()
	full := newUser()
	bare := core.User{ID: newID(), Email: "bare@example.com", Status: core.StatusSysBanned, CreatedAt: time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)}
	for _, u := range []core.User{full, bare} {
		must(t, s.CreateUser(ctx, u))
		got, err := s.GetUser(ctx, u.ID)
		must(t, err)
		sameUser(t, got, u)
		got, err = s.GetUserByEmail(ctx, u.Email)
		must(t, err)
		sameUser(t, got, u)
	}
	if got, _ := s.GetUser(ctx, bare.ID); !got.Passwordless() {
		t.Error("an account stored without a password hash is not passwordless")
	}
}

func testUserGetUnknown(t *testing.T, s core.Store) {
	ctx := context.Background()
	mustCreateUser(t, s)
	_, err := s.GetUser(ctx, "no-such-user")
	wantErr(t, err, core.ErrNotFound, "GetUser of an unknown id")
	_, err = s.GetUserByEmail(ctx, "nobody@example.com")
	wantErr(t, err, core.ErrNotFound, "GetUserByEmail of an unknown email")
}

func testUserEmailCaseInsensitive(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := newUser()
	u.Email = "Grace.Hopper@Example.COM"
	must(t, s.CreateUser(ctx, u))
	for _, email := range []string{"grace.hopper@example.com", "GRACE.HOPPER@EXAMPLE.COM", "  grace.hopper@example.com "} {
		got, err := s.GetUserByEmail(ctx, email)
		if err != nil {
			t.Fatalf("GetUserByEmail(%q): %v", email, err)
		}
		if got.ID != u.ID || got.Email != u.Email {
			t.Fatalf("GetUserByEmail(%q) = %s %q, want %s %q (the email as it was typed)", email, got.ID, got.Email, u.ID, u.Email)
		}
	}
}

func testUserEmailTaken(t *testing.T, s core.Store) {
	ctx := context.Background()
	first := newUser()
	first.Email = "A@x.io"
	must(t, s.CreateUser(ctx, first))
	for _, email := range []string{"A@x.io", "a@X.io", "a@x.io"} {
		second := newUser()
		second.Email = email
		err := s.CreateUser(ctx, second)
		wantErr(t, err, core.ErrEmailTaken, "CreateUser with "+email)
		_, err = s.GetUser(ctx, second.ID)
		wantErr(t, err, core.ErrNotFound, "GetUser of the rejected account")
	}
	users, err := s.ListUsers(ctx)
	must(t, err)
	if len(users) != 1 {
		t.Fatalf("ListUsers = %d accounts, want 1", len(users))
	}
}

func testUserDuplicateID(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	again := newUser()
	again.ID = u.ID
	if err := s.CreateUser(ctx, again); err == nil {
		t.Fatal("CreateUser with an existing id succeeded")
	}
	got, err := s.GetUser(ctx, u.ID)
	must(t, err)
	sameUser(t, got, u)
}

func testUserListOldestFirst(t *testing.T, s core.Store) {
	ctx := context.Background()
	users, err := s.ListUsers(ctx)
	must(t, err)
	if len(users) != 0 {
		t.Fatalf("ListUsers of an empty store = %d accounts", len(users))
	}
	// Inserted out of order; created_at decides.
	var want []core.User
	for _, offset := range []time.Duration{time.Hour, -time.Hour, 0, 2 * time.Hour} {
		u := newUser()
		u.CreatedAt = t0.Add(offset)
		must(t, s.CreateUser(ctx, u))
		want = append(want, u)
	}
	want = []core.User{want[1], want[2], want[0], want[3]}
	got, err := s.ListUsers(ctx)
	must(t, err)
	if len(got) != len(want) {
		t.Fatalf("ListUsers = %d accounts, want %d", len(got), len(want))
	}
	for i := range got {
		sameUser(t, got[i], want[i])
	}
}

func testUserUpdate(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	other := mustCreateUser(t, s)

	want := u
	want.Email = "new." + u.ID + "@example.org"
	want.EmailVerified = false
	want.Nickname = "Renamed"
	want.Avatar = ""
	want.PasswordHash = ""
	want.Status = core.StatusManualBanned
	want.Permissions = nil
	want.Language = "en-US"

	calls := 0
	got, err := s.UpdateUser(ctx, u.ID, func(cur *core.User) error {
		calls++
		sameUser(t, *cur, u)
		id := cur.ID
		*cur = want
		cur.ID = id
		return nil
	})
	must(t, err)
	if calls != 1 {
		t.Errorf("update called %d times, want 1", calls)
	}
	sameUser(t, got, want)
	stored, err := s.GetUser(ctx, u.ID)
	must(t, err)
	sameUser(t, stored, want)
	stored, err = s.GetUserByEmail(ctx, strings.ToUpper(want.Email))
	must(t, err)
	sameUser(t, stored, want)
	_, err = s.GetUserByEmail(ctx, u.Email)
	wantErr(t, err, core.ErrNotFound, "GetUserByEmail of the old email")

	// The old email is free again.
	reuse := newUser()
	reuse.Email = u.Email
	must(t, s.CreateUser(ctx, reuse))
	// Other accounts are untouched.
	stored, err = s.GetUser(ctx, other.ID)
	must(t, err)
	sameUser(t, stored, other)
}

func testUserUpdateEmailTaken(t *testing.T, s core.Store) {
	ctx := context.Background()
	a := mustCreateUser(t, s)
	b := mustCreateUser(t, s)
	_, err := s.UpdateUser(ctx, b.ID, func(u *core.User) error {
		u.Email = strings.ToUpper(a.Email)
		u.Nickname = "must not be saved"
		return nil
	})
	wantErr(t, err, core.ErrEmailTaken, "UpdateUser to another account's email")
	got, err := s.GetUser(ctx, b.ID)
	must(t, err)
	sameUser(t, got, b)
}

func testUserUpdateOwnEmailCase(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	got, err := s.UpdateUser(ctx, u.ID, func(u *core.User) error {
		u.Email = strings.ToLower(u.Email)
		return nil
	})
	must(t, err)
	if got.Email != strings.ToLower(u.Email) {
		t.Fatalf("email = %q, want %q", got.Email, strings.ToLower(u.Email))
	}
}

func testUserUpdateAbort(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	for _, abort := range []error{errors.New("custom abort"), core.ErrBanned} {
		_, err := s.UpdateUser(ctx, u.ID, func(cur *core.User) error {
			cur.Nickname = "must not be saved"
			cur.Status = core.StatusInactive
			return abort
		})
		wantErr(t, err, abort, "UpdateUser whose update fails")
		got, err := s.GetUser(ctx, u.ID)
		must(t, err)
		sameUser(t, got, u)
	}
}

func testUserUpdateUnknown(t *testing.T, s core.Store) {
	called := false
	_, err := s.UpdateUser(context.Background(), "no-such-user", func(*core.User) error {
		called = true
		return nil
	})
	wantErr(t, err, core.ErrNotFound, "UpdateUser of an unknown id")
	if called {
		t.Error("update was called for an unknown user")
	}
}

// testUserUnverifiedEmail: an address belongs to the account that
// verified it or signs in with it (a password). A passwordless account
// whose address was never verified (made from an upstream identity whose
// provider did not verify it) blocks nobody, is never the one found by
// email while an owner exists, and cannot become verified while another
// account owns the address.
func testUserUnverifiedEmail(t *testing.T, s core.Store) {
	ctx := context.Background()
	squat := newUser()
	squat.Email, squat.EmailVerified, squat.PasswordHash = "Owner@Example.com", false, ""
	must(t, s.CreateUser(ctx, squat))
	second := newUser()
	second.Email, second.EmailVerified, second.PasswordHash = "owner@example.com", false, ""
	must(t, s.CreateUser(ctx, second)) // another unverified one: no owner yet
	got, err := s.GetUserByEmail(ctx, "owner@example.com")
	must(t, err)
	if got.ID != squat.ID {
		t.Fatalf("GetUserByEmail without an owner = %s, want the oldest, %s", got.ID, squat.ID)
	}

	owner := newUser()
	owner.Email, owner.EmailVerified = "OWNER@example.com", false // a password sign-up
	owner.CreatedAt = t0.Add(time.Hour)
	must(t, s.CreateUser(ctx, owner))
	got, err = s.GetUserByEmail(ctx, "owner@example.com")
	must(t, err)
	if got.ID != owner.ID {
		t.Fatalf("GetUserByEmail = %s, want the account with a password, %s", got.ID, owner.ID)
	}
	// Now the address has an owner: another password account or a
	// verified one cannot take it.
	rival := newUser()
	rival.Email = "owner@EXAMPLE.com"
	wantErr(t, s.CreateUser(ctx, rival), core.ErrEmailTaken, "a second owner of the address")
	_, err = s.UpdateUser(ctx, squat.ID, func(u *core.User) error { u.EmailVerified = true; return nil })
	wantErr(t, err, core.ErrEmailTaken, "verifying an address another account owns")
	// Without an owner the unverified one can verify it.
	free := newUser()
	free.Email, free.EmailVerified, free.PasswordHash = "free@example.com", false, ""
	must(t, s.CreateUser(ctx, free))
	_, err = s.UpdateUser(ctx, free.ID, func(u *core.User) error { u.EmailVerified = true; return nil })
	must(t, err)
}

// testUserAvatar: an account keeps one picture, replaced by the next,
// gone with the account.
func testUserAvatar(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	_, err := s.GetAvatar(ctx, u.ID)
	wantErr(t, err, core.ErrNotFound, "GetAvatar before any")
	png := core.Avatar{UserID: u.ID, Source: "https://img.example/a.png", Type: "image/png", Data: []byte{0x89, 'P', 'N', 'G', 0, 1}, FetchedAt: t0}
	must(t, s.SaveAvatar(ctx, png))
	same := func(got, want core.Avatar) {
		t.Helper()
		fixTime(&got.FetchedAt, want.FetchedAt)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("avatar:\n got %+v\nwant %+v", got, want)
		}
	}
	got, err := s.GetAvatar(ctx, u.ID)
	must(t, err)
	same(got, png)
	failed := core.Avatar{UserID: u.ID, Source: "https://img.example/b.svg", FetchedAt: t0.Add(time.Hour)}
	must(t, s.SaveAvatar(ctx, failed))
	got, err = s.GetAvatar(ctx, u.ID)
	must(t, err)
	same(got, failed)
	wantErr(t, s.SaveAvatar(ctx, core.Avatar{UserID: "no-such-user", Source: "x", FetchedAt: t0}), core.ErrNotFound, "avatar of an unknown user")
}
