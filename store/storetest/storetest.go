// Package storetest is the conformance suite for core.Store. Every backend
// runs it from its own tests, and a backend is done when it passes:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) core.Store {
//			s := openFreshStore(t) // empty and migrated
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// The suite checks the documented behaviour of every method, the sentinel
// errors (with errors.Is), round trips of every field, and races that the
// database itself must settle (run it with -race).
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tether-id/tether/core"
)

// Precision is how closely a stored time must come back. Stores keep times
// in UTC with at least millisecond precision.
const Precision = time.Millisecond

// Racers is how many goroutines each race case starts.
const Racers = 16

type test struct {
	name string
	fn   func(t *testing.T, s core.Store)
}

// Run runs the suite, then runs it again with every call inside an
// Update of its own. open must return a fresh, empty, migrated store for
// each subtest and arrange for it to be closed when t ends.
func Run(t *testing.T, open func(t *testing.T) core.Store) {
	var all []test
	all = append(all, userTests...)
	all = append(all, identityTests...)
	all = append(all, flowTests...)
	all = append(all, tokenTests...)
	all = append(all, sessionTests...)
	all = append(all, oauthTests...)
	all = append(all, eventTests...)
	all = append(all, updateTests...)
	all = append(all, emailLinkTests...)
	all = append(all, mailTests...)
	all = append(all, deleteUserTests...)
	for _, tc := range append(all, raceTests...) {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
	// Once more with every call inside its own Update: Queries in a
	// transaction must behave as they do on the Store.
	for _, tc := range all {
		t.Run("InUpdate/"+tc.name, func(t *testing.T) { tc.fn(t, inUpdate{open(t)}) })
	}
}

// t0 has sub-millisecond digits and a non-UTC zone on purpose: stores must
// keep the instant and return it in UTC.
var t0 = time.Date(2026, 5, 20, 8, 30, 15, 123456789, time.FixedZone("UTC+8", 8*60*60))

func newID() string { return strings.ToLower(rand.Text()) }

// newUser returns an account with every field set and a unique email.
func newUser() core.User {
	id := newID()
	return core.User{
		ID:            id,
		Email:         "Ada." + id + "@Example.com",
		EmailVerified: true,
		Nickname:      "Ada Lovelace 🦊 名字",
		Avatar:        "https://img.example.com/" + id + ".png",
		PasswordHash:  "$argon2id$v=19$m=65536,t=3,p=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
		Status:        core.StatusActive,
		Permissions:   []string{"admin", core.PermissionOAuth},
		Language:      "zh-CN",
		CreatedAt:     t0,
	}
}

// newIdentity returns an identity of provider for userID with every field
// set, including nested JSON claims and tokens holding every byte value.
func newIdentity(userID, provider string) core.Identity {
	sub := newID()
	return core.Identity{
		IdentityKey:   core.IdentityKey{ProviderID: provider, Issuer: "https://" + provider + ".example.com/oidc", Subject: sub},
		UserID:        userID,
		Email:         sub + "@upstream.example",
		EmailVerified: true,
		Name:          "Upstream Name",
		Avatar:        "https://upstream.example/" + sub + ".jpg",
		Claims:        json.RawMessage(`{"sub":"` + sub + `","groups":["a","b"],"n":1.5,"ok":true,"nested":{"名":"字","nil":null}}`),
		LinkedAt:      t0.Add(time.Minute),
	}
}

func newFlow() core.Flow {
	return core.Flow{
		ID:           newID(),
		ProviderID:   "logto",
		Purpose:      core.PurposeLink,
		UserID:       newID(),
		CodeVerifier: "verifier-" + newID(),
		Nonce:        "nonce-" + newID(),
		RedirectURI:  "https://files.example.com/callback/logto",
		ReturnTo:     "/home?tab=accounts",
		BrowserHash:  "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		CreatedAt:    t0,
		ExpiresAt:    t0.Add(10 * time.Minute),
	}
}

// newSession returns a session of userID with every field set.
func newSession(userID string) core.Session {
	tokens := make([]byte, 256) // every byte value
	for i := range tokens {
		tokens[i] = byte(255 - i)
	}
	return core.Session{
		ID:             newID(),
		UserID:         userID,
		ClientID:       "grafana",
		Scopes:         []string{"openid", "offline_access", "email"},
		Method:         core.MethodOpenID,
		Identity:       core.IdentityKey{ProviderID: "logto", Issuer: "https://logto.example.com/oidc", Subject: newID()},
		UpstreamTokens: tokens,
		CheckedAt:      t0.Add(time.Second),
		AuthTime:       t0.Add(-time.Minute),
		AMR:            core.AMRFederated,
		Nonce:          "nonce-" + newID(),
		Parent:         newID(),
		CreatedAt:      t0,
		LastUsedAt:     t0.Add(time.Minute),
		LastIP:         "2001:db8::7",
		UserAgent:      "Mozilla/5.0 (X11; Linux x86_64) 名字",
		ExpiresAt:      t0.Add(14 * 24 * time.Hour),
	}
}

// sessionOf returns the smallest session that tok can begin.
func sessionOf(tok core.RefreshToken) core.Session {
	return core.Session{ID: tok.ChainID, UserID: tok.UserID, Method: core.MethodPassword,
		CreatedAt: tok.CreatedAt, LastUsedAt: tok.CreatedAt, ExpiresAt: tok.ExpiresAt}
}

// firstToken returns the first refresh token of ses.
func firstToken(ses core.Session) core.RefreshToken {
	return core.RefreshToken{Hash: newID(), ChainID: ses.ID, UserID: ses.UserID, CreatedAt: ses.CreatedAt, ExpiresAt: ses.ExpiresAt}
}

func newToken(userID string) core.RefreshToken {
	return core.RefreshToken{
		Hash:      newID(),
		ChainID:   newID(),
		UserID:    userID,
		CreatedAt: t0,
		ExpiresAt: t0.Add(14 * 24 * time.Hour),
	}
}

// successor is the next func every rotation in the suite uses: a fresh
// token in the same chain.
func successor(now time.Time) func(core.RefreshToken) core.RefreshToken {
	return func(old core.RefreshToken) core.RefreshToken {
		return core.RefreshToken{
			Hash:      newID(),
			ChainID:   old.ChainID,
			UserID:    old.UserID,
			CreatedAt: now,
			ExpiresAt: now.Add(14 * 24 * time.Hour),
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantErr fails unless errors.Is(err, target).
func wantErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error = %v, want %v", what, err, target)
	}
}

// wantExactly fails unless err is, or wraps, the *core.Error target itself
// and not merely one with the same code. ErrTokenReused and ErrInvalidToken
// share a code, so errors.Is cannot tell them apart.
func wantExactly(t *testing.T, err error, target *core.Error, what string) {
	t.Helper()
	if !isExactly(err, target) {
		t.Fatalf("%s: error = %v, want %v", what, err, target)
	}
}

func isExactly(err error, target *core.Error) bool {
	var e *core.Error
	return errors.As(err, &e) && e.Code == target.Code && e.Message == target.Message
}

// sameTime reports whether got is want as a store returns it: the same
// instant within Precision, in UTC; zero stays zero.
func sameTime(got, want time.Time) bool {
	if want.IsZero() || got.IsZero() {
		return want.IsZero() && got.IsZero()
	}
	d := got.Sub(want)
	return got.Location() == time.UTC && d < Precision && d > -Precision
}

// fixTime replaces *got by want when they are the same time, so that a
// following reflect.DeepEqual ignores the precision and zone a store may
// legitimately change and reports everything else.
func fixTime(got *time.Time, want time.Time) {
	if sameTime(*got, want) {
		*got = want
	}
}

func sameJSON(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == 0 && len(b) == 0
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func sameUser(t *testing.T, got, want core.User) {
	t.Helper()
	fixTime(&got.CreatedAt, want.CreatedAt)
	if len(got.Permissions) == 0 && len(want.Permissions) == 0 {
		got.Permissions = want.Permissions
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("user:\n got %+v\nwant %+v", got, want)
	}
}

func sameIdentity(t *testing.T, got, want core.Identity) {
	t.Helper()
	fixTime(&got.LinkedAt, want.LinkedAt)
	fixTime(&got.LastSignInAt, want.LastSignInAt)
	if sameJSON(got.Claims, want.Claims) {
		got.Claims = want.Claims
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("identity:\n got %+v\nwant %+v", got, want)
	}
}

func sameIdentities(t *testing.T, got, want []core.Identity) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d identities %+v, want %d %+v", len(got), got, len(want), want)
	}
	for i := range got {
		sameIdentity(t, got[i], want[i])
	}
}

func sameFlow(t *testing.T, got, want core.Flow) {
	t.Helper()
	fixTime(&got.CreatedAt, want.CreatedAt)
	fixTime(&got.ExpiresAt, want.ExpiresAt)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("flow:\n got %+v\nwant %+v", got, want)
	}
}

func sameToken(t *testing.T, got, want core.RefreshToken) {
	t.Helper()
	fixTime(&got.CreatedAt, want.CreatedAt)
	fixTime(&got.ExpiresAt, want.ExpiresAt)
	fixTime(&got.UsedAt, want.UsedAt)
	fixTime(&got.RevokedAt, want.RevokedAt)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("refresh token:\n got %+v\nwant %+v", got, want)
	}
}

func sameSession(t *testing.T, got, want core.Session) {
	t.Helper()
	for _, p := range []struct {
		got  *time.Time
		want time.Time
	}{
		{&got.CheckedAt, want.CheckedAt}, {&got.AuthTime, want.AuthTime}, {&got.CreatedAt, want.CreatedAt}, {&got.LastUsedAt, want.LastUsedAt},
		{&got.ExpiresAt, want.ExpiresAt}, {&got.RevokedAt, want.RevokedAt},
	} {
		fixTime(p.got, p.want)
	}
	if bytes.Equal(got.UpstreamTokens, want.UpstreamTokens) { // nil and empty alike
		got.UpstreamTokens = want.UpstreamTokens
	}
	if len(got.Scopes) == 0 && len(want.Scopes) == 0 {
		got.Scopes = want.Scopes
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("session:\n got %+v\nwant %+v", got, want)
	}
}

func sameEvents(t *testing.T, got, want []core.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events %+v, want %d %+v", len(got), got, len(want), want)
	}
	for i := range got {
		fixTime(&got[i].At, want[i].At)
		// The store gives every event it reads its cursor.
		if got[i].Cursor == "" {
			t.Fatalf("event %d has no cursor: %+v", i, got[i])
		}
		got[i].Cursor = want[i].Cursor
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("event %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

// mustCreateUser stores a new user and returns it.
func mustCreateUser(t *testing.T, s core.Store) core.User {
	t.Helper()
	u := newUser()
	must(t, s.CreateUser(context.Background(), u))
	return u
}

// mustLink links a new identity of provider to user and returns it.
func mustLink(t *testing.T, s core.Store, userID, provider string) core.Identity {
	t.Helper()
	id := newIdentity(userID, provider)
	must(t, s.LinkIdentity(context.Background(), id))
	return id
}
