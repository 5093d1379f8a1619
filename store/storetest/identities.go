package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/tether-id/tether/core"
)

var identityTests = []test{
	{"Identity/CreateUserWithIdentity", testCreateUserWithIdentity},
	{"Identity/CreateUserWithIdentityEmailTaken", testCreateUserWithIdentityEmailTaken},
	{"Identity/CreateUserWithIdentityTaken", testCreateUserWithIdentityTaken},
	{"Identity/Link", testLink},
	{"Identity/LinkIdentityTaken", testLinkIdentityTaken},
	{"Identity/LinkProviderLinked", testLinkProviderLinked},
	{"Identity/LinkUnknownUser", testLinkUnknownUser},
	{"Identity/GetByFullKey", testGetIdentityByFullKey},
	{"Identity/ListOldestFirst", testListIdentitiesOldestFirst},
	{"Identity/Update", testUpdateIdentity},
	{"Identity/UpdateUnknown", testUpdateIdentityUnknown},
	{"Identity/Touch", testTouchIdentity},
	{"Identity/Unlink", testUnlink},
	{"Identity/UnlinkGuardAborts", testUnlinkGuardAborts},
	{"Identity/UnlinkNotLinked", testUnlinkNotLinked},
}

func testCreateUserWithIdentity(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := newUser()
	u.PasswordHash = ""
	id := newIdentity(u.ID, "logto")
	must(t, s.CreateUserWithIdentity(ctx, u, id))

	got, err := s.GetUser(ctx, u.ID)
	must(t, err)
	sameUser(t, got, u)
	gotID, err := s.GetIdentity(ctx, id.IdentityKey)
	must(t, err)
	sameIdentity(t, gotID, id)
	ids, err := s.ListIdentities(ctx, u.ID)
	must(t, err)
	sameIdentities(t, ids, []core.Identity{id})

	// An identity with no claims, tokens or profile round-trips as empty.
	u2 := newUser()
	bare := core.Identity{
		IdentityKey: core.IdentityKey{ProviderID: "qq", Issuer: "", Subject: "UID_" + newID()},
		UserID:      u2.ID,
		LinkedAt:    time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC),
	}
	must(t, s.CreateUserWithIdentity(ctx, u2, bare))
	gotID, err = s.GetIdentity(ctx, bare.IdentityKey)
	must(t, err)
	sameIdentity(t, gotID, bare)
}

func testCreateUserWithIdentityEmailTaken(t *testing.T, s core.Store) {
	ctx := context.Background()
	existing := mustCreateUser(t, s)
	u := newUser()
	u.Email = existing.Email
	id := newIdentity(u.ID, "logto")
	err := s.CreateUserWithIdentity(ctx, u, id)
	wantErr(t, err, core.ErrEmailTaken, "CreateUserWithIdentity with a taken email")
	_, err = s.GetIdentity(ctx, id.IdentityKey)
	wantErr(t, err, core.ErrNotFound, "GetIdentity after the failed create")
	_, err = s.GetUser(ctx, u.ID)
	wantErr(t, err, core.ErrNotFound, "GetUser after the failed create")
}

func testCreateUserWithIdentityTaken(t *testing.T, s core.Store) {
	ctx := context.Background()
	owner := mustCreateUser(t, s)
	id := mustLink(t, s, owner.ID, "logto")

	u := newUser()
	again := id
	again.UserID = u.ID
	err := s.CreateUserWithIdentity(ctx, u, again)
	wantErr(t, err, core.ErrIdentityTaken, "CreateUserWithIdentity with a linked identity")
	_, err = s.GetUser(ctx, u.ID)
	wantErr(t, err, core.ErrNotFound, "GetUser after the failed create")
	_, err = s.GetUserByEmail(ctx, u.Email)
	wantErr(t, err, core.ErrNotFound, "GetUserByEmail after the failed create")
	got, err := s.GetIdentity(ctx, id.IdentityKey)
	must(t, err)
	sameIdentity(t, got, id)
	// The email was not reserved by the failed attempt.
	u.ID = newID()
	must(t, s.CreateUser(ctx, u))
}

func testLink(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	a := mustLink(t, s, u.ID, "logto")
	b := newIdentity(u.ID, "qq")
	b.LastSignInAt = t0.Add(time.Hour)
	b.LinkedAt = t0.Add(2 * time.Minute)
	must(t, s.LinkIdentity(ctx, b))
	for _, want := range []core.Identity{a, b} {
		got, err := s.GetIdentity(ctx, want.IdentityKey)
		must(t, err)
		sameIdentity(t, got, want)
	}
}

func testLinkIdentityTaken(t *testing.T, s core.Store) {
	ctx := context.Background()
	owner := mustCreateUser(t, s)
	other := mustCreateUser(t, s)
	id := mustLink(t, s, owner.ID, "logto")

	for _, userID := range []string{other.ID, owner.ID} {
		again := id
		again.UserID = userID
		again.Name = "must not be saved"
		err := s.LinkIdentity(ctx, again)
		wantErr(t, err, core.ErrIdentityTaken, "LinkIdentity of a linked identity")
	}
	got, err := s.GetIdentity(ctx, id.IdentityKey)
	must(t, err)
	sameIdentity(t, got, id)
	ids, err := s.ListIdentities(ctx, other.ID)
	must(t, err)
	sameIdentities(t, ids, nil)
}

func testLinkProviderLinked(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	first := mustLink(t, s, u.ID, "logto")
	second := newIdentity(u.ID, "logto") // same provider, other subject
	err := s.LinkIdentity(ctx, second)
	wantErr(t, err, core.ErrProviderLinked, "LinkIdentity of a second identity of one provider")
	_, err = s.GetIdentity(ctx, second.IdentityKey)
	wantErr(t, err, core.ErrNotFound, "GetIdentity of the rejected identity")
	ids, err := s.ListIdentities(ctx, u.ID)
	must(t, err)
	sameIdentities(t, ids, []core.Identity{first})
}

func testLinkUnknownUser(t *testing.T, s core.Store) {
	ctx := context.Background()
	id := newIdentity("no-such-user", "logto")
	err := s.LinkIdentity(ctx, id)
	wantErr(t, err, core.ErrNotFound, "LinkIdentity to an unknown user")
	_, err = s.GetIdentity(ctx, id.IdentityKey)
	wantErr(t, err, core.ErrNotFound, "GetIdentity of the rejected identity")
}

func testGetIdentityByFullKey(t *testing.T, s core.Store) {
	ctx := context.Background()
	a := mustCreateUser(t, s)
	b := mustCreateUser(t, s)
	c := mustCreateUser(t, s)
	ia := mustLink(t, s, a.ID, "corp")
	// The same subject from another issuer, or from another provider, is
	// another identity.
	ib := newIdentity(b.ID, "corp")
	ib.Subject = ia.Subject
	ib.Issuer = "https://other-issuer.example.com"
	must(t, s.LinkIdentity(ctx, ib))
	ic := newIdentity(c.ID, "logto")
	ic.Subject = ia.Subject
	ic.Issuer = ia.Issuer
	must(t, s.LinkIdentity(ctx, ic))

	for _, want := range []core.Identity{ia, ib, ic} {
		got, err := s.GetIdentity(ctx, want.IdentityKey)
		must(t, err)
		sameIdentity(t, got, want)
	}
	for _, key := range []core.IdentityKey{
		{ProviderID: "corp", Issuer: ia.Issuer, Subject: "other"},
		{ProviderID: "corp", Issuer: ia.Issuer + "/", Subject: ia.Subject},
		{ProviderID: "qq", Issuer: ia.Issuer, Subject: ia.Subject},
		{ProviderID: "corp", Issuer: ia.Issuer, Subject: ""},
	} {
		_, err := s.GetIdentity(ctx, key)
		wantErr(t, err, core.ErrNotFound, "GetIdentity of an unlinked key")
	}
}

func testListIdentitiesOldestFirst(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	other := mustCreateUser(t, s)
	mustLink(t, s, other.ID, "logto")

	var want []core.Identity
	for i, offset := range []time.Duration{time.Hour, -time.Hour, 0} {
		id := newIdentity(u.ID, []string{"logto", "qq", "corp"}[i])
		id.LinkedAt = t0.Add(offset)
		must(t, s.LinkIdentity(ctx, id))
		want = append(want, id)
	}
	got, err := s.ListIdentities(ctx, u.ID)
	must(t, err)
	sameIdentities(t, got, []core.Identity{want[1], want[2], want[0]})

	got, err = s.ListIdentities(ctx, "no-such-user")
	must(t, err)
	sameIdentities(t, got, nil)
}

func testUpdateIdentity(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	other := mustCreateUser(t, s)
	id := mustLink(t, s, u.ID, "logto")
	untouched := mustLink(t, s, other.ID, "logto")

	want := id
	want.Email = "changed@upstream.example"
	want.EmailVerified = false
	want.Name = "Changed"
	want.Avatar = ""
	want.Claims = json.RawMessage(`{"sub":"` + id.Subject + `","email":"changed@upstream.example"}`)
	want.LastSignInAt = t0.Add(3 * time.Hour)

	arg := want
	arg.UserID = other.ID             // not saved: an identity moves only by unlink and link
	arg.LinkedAt = t0.Add(-time.Hour) // not saved
	must(t, s.UpdateIdentity(ctx, arg))
	got, err := s.GetIdentity(ctx, id.IdentityKey)
	must(t, err)
	sameIdentity(t, got, want)
	got, err = s.GetIdentity(ctx, untouched.IdentityKey)
	must(t, err)
	sameIdentity(t, got, untouched)

	// Clearing claims.
	want.Claims = nil
	must(t, s.UpdateIdentity(ctx, want))
	got, err = s.GetIdentity(ctx, id.IdentityKey)
	must(t, err)
	sameIdentity(t, got, want)
}

func testUpdateIdentityUnknown(t *testing.T, s core.Store) {
	u := mustCreateUser(t, s)
	err := s.UpdateIdentity(context.Background(), newIdentity(u.ID, "logto"))
	wantErr(t, err, core.ErrNotFound, "UpdateIdentity of an unlinked identity")
}

func testUnlink(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	a := mustLink(t, s, u.ID, "logto")
	b := newIdentity(u.ID, "qq")
	b.LinkedAt = a.LinkedAt.Add(time.Second)
	must(t, s.LinkIdentity(ctx, b))

	calls := 0
	removed, err := s.UnlinkIdentity(ctx, u.ID, "logto", func(gu core.User, ids []core.Identity) error {
		calls++
		sameUser(t, gu, u)
		sameIdentities(t, ids, []core.Identity{a, b})
		return nil
	})
	must(t, err)
	if calls != 1 {
		t.Errorf("guard called %d times, want 1", calls)
	}
	sameIdentity(t, removed, a)
	_, err = s.GetIdentity(ctx, a.IdentityKey)
	wantErr(t, err, core.ErrNotFound, "GetIdentity of the unlinked identity")
	ids, err := s.ListIdentities(ctx, u.ID)
	must(t, err)
	sameIdentities(t, ids, []core.Identity{b})

	// The identity may now be linked elsewhere, and the user may link
	// another identity of the provider.
	other := mustCreateUser(t, s)
	moved := a
	moved.UserID = other.ID
	must(t, s.LinkIdentity(ctx, moved))
	mustLink(t, s, u.ID, "logto")

	// A nil guard allows everything.
	_, err = s.UnlinkIdentity(ctx, u.ID, "qq", nil)
	must(t, err)
}

func testUnlinkGuardAborts(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	id := mustLink(t, s, u.ID, "logto")
	for _, refuse := range []error{core.ErrLastSignInMethod, errors.New("custom refusal")} {
		_, err := s.UnlinkIdentity(ctx, u.ID, "logto", func(core.User, []core.Identity) error { return refuse })
		wantErr(t, err, refuse, "UnlinkIdentity refused by its guard")
		got, err := s.GetIdentity(ctx, id.IdentityKey)
		must(t, err)
		sameIdentity(t, got, id)
	}
}

func testUnlinkNotLinked(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	other := mustCreateUser(t, s)
	mustLink(t, s, other.ID, "qq")
	mustLink(t, s, u.ID, "logto")
	guard := func(core.User, []core.Identity) error {
		t.Error("guard called although nothing is linked")
		return nil
	}
	for _, c := range []struct{ user, provider string }{
		{u.ID, "qq"},           // the user has none; another user has one
		{u.ID, "corp"},         // nobody has one
		{"no-such-user", "qq"}, // unknown user
		{other.ID, "logto"},    // the other user's provider is not this one
	} {
		_, err := s.UnlinkIdentity(ctx, c.user, c.provider, guard)
		wantErr(t, err, core.ErrIdentityNotLinked, "UnlinkIdentity("+c.user+", "+c.provider+")")
	}
	ids, err := s.ListIdentities(ctx, other.ID)
	must(t, err)
	if len(ids) != 1 {
		t.Fatalf("the other user has %d identities, want 1", len(ids))
	}
}

// testTouchIdentity: TouchIdentity moves LastSignInAt and nothing else,
// and only while the identity belongs to the account named.
func testTouchIdentity(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	other := mustCreateUser(t, s)
	id := mustLink(t, s, u.ID, "logto")
	at := t0.Add(5 * time.Hour)
	must(t, s.TouchIdentity(ctx, id.IdentityKey, u.ID, at))
	got, err := s.GetIdentity(ctx, id.IdentityKey)
	must(t, err)
	want := id
	want.LastSignInAt = at
	sameIdentity(t, got, want)
	wantErr(t, s.TouchIdentity(ctx, id.IdentityKey, other.ID, at), core.ErrNotFound, "TouchIdentity for another account")
	unknown := id.IdentityKey
	unknown.Subject = "no-such-subject"
	wantErr(t, s.TouchIdentity(ctx, unknown, u.ID, at), core.ErrNotFound, "TouchIdentity of an unknown identity")
}
