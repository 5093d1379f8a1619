package storetest

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/tether-id/tether/core"
)

var oauthTests = []test{
	{"SigningKey/Rotate", testSigningKeyRotate},
	{"SigningKey/RaceRotate", testSigningKeyRace},
	{"AuthCode/UseOnce", testAuthCodeUseOnce},
	{"AuthCode/Invalid", testAuthCodeInvalid},
	{"AuthCode/RaceUse", testAuthCodeRace},
	{"Session/WithoutRefreshToken", testSessionWithoutToken},
	{"Consent/RoundTrip", testConsent},
	{"Consent/RevokeClientSessions", testRevokeClientSessions},
	{"AccessToken/Check", testAccessTokenCheck},
	{"Grants/Purge", testGrantsPurge},
}

func newKey(alg string, at time.Time) core.SigningKey {
	id := newID()
	return core.SigningKey{
		ID:        id,
		Alg:       alg,
		Public:    json.RawMessage(`{"kty":"EC","crv":"P-256","kid":"` + id + `","x":"a","y":"b"}`),
		Private:   []byte{0, 1, 2, 255, 0},
		CreatedAt: at,
	}
}

func sameKey(t *testing.T, got, want core.SigningKey) {
	t.Helper()
	fixTime(&got.CreatedAt, want.CreatedAt)
	fixTime(&got.RetiredAt, want.RetiredAt)
	fixTime(&got.ExpiresAt, want.ExpiresAt)
	if sameJSON(got.Public, want.Public) {
		got.Public = want.Public
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("signing key:\n got %+v\nwant %+v", got, want)
	}
}

func keyIDs(keys []core.SigningKey) []string {
	var ids []string
	for _, k := range keys {
		ids = append(ids, k.ID)
	}
	return ids
}

// testSigningKeyRotate: one current key per algorithm; a rotation
// retires the one it names and keeps it published until its end.
func testSigningKeyRotate(t *testing.T, s core.Store) {
	ctx := context.Background()
	rs1 := newKey("RS256", t0)
	es1 := newKey("ES256", t0.Add(time.Second))
	must(t, s.RotateSigningKey(ctx, rs1, "", time.Time{}))
	must(t, s.RotateSigningKey(ctx, es1, "", time.Time{}))
	wantExactly(t, s.RotateSigningKey(ctx, newKey("RS256", t0), "", time.Time{}), core.ErrKeyRotated, "a second current RS256 key")
	keys, err := s.ListSigningKeys(ctx, t0)
	must(t, err)
	if len(keys) != 2 {
		t.Fatalf("keys %v, want 2", keyIDs(keys))
	}
	sameKey(t, keys[0], es1) // newest first
	sameKey(t, keys[1], rs1)

	at := t0.Add(time.Hour)
	rs2 := newKey("RS256", at)
	keep := at.Add(2 * time.Hour)
	must(t, s.RotateSigningKey(ctx, rs2, rs1.ID, keep))
	wantExactly(t, s.RotateSigningKey(ctx, newKey("RS256", at), rs1.ID, keep), core.ErrKeyRotated, "a rotation of a key retired already")
	keys, err = s.ListSigningKeys(ctx, at)
	must(t, err)
	if len(keys) != 3 {
		t.Fatalf("keys %v, want 3", keyIDs(keys))
	}
	sameKey(t, keys[0], rs2)
	retired := rs1
	retired.RetiredAt, retired.ExpiresAt = at, keep
	sameKey(t, keys[2], retired)
	// Past its end the retired key is not listed, and a purge removes it.
	keys, err = s.ListSigningKeys(ctx, keep.Add(time.Second))
	must(t, err)
	if len(keys) != 2 {
		t.Fatalf("keys after the retired one's end %v, want 2", keyIDs(keys))
	}
	n, err := s.PurgeGrants(ctx, keep.Add(time.Second))
	must(t, err)
	if n != 1 {
		t.Fatalf("PurgeGrants = %d, want 1 (the expired key)", n)
	}
}

// testSigningKeyRace: instances rotating the same key at once make
// exactly one new key.
func testSigningKeyRace(t *testing.T, s core.Store) {
	ctx := context.Background()
	first := newKey("EdDSA", t0)
	must(t, s.RotateSigningKey(ctx, first, "", time.Time{}))
	for round := range Rounds {
		keys, err := s.ListSigningKeys(ctx, t0)
		must(t, err)
		current := keys[0].ID
		at := t0.Add(time.Duration(round+1) * time.Hour)
		errs := race(Racers, func(int) error {
			return s.RotateSigningKey(ctx, newKey("EdDSA", at), current, at.Add(time.Hour))
		})
		oneWinner(t, errs, func(err error) bool { return isExactly(err, core.ErrKeyRotated) }, "RotateSigningKey")
	}
}

func newCode(userID string) core.AuthCode {
	return core.AuthCode{
		Hash:          newID(),
		ClientID:      "grafana",
		RedirectURI:   "https://grafana.example/login/generic_oauth",
		UserID:        userID,
		Scopes:        []string{"openid", "email", "offline_access"},
		Nonce:         "n-" + newID(),
		CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		AuthTime:      t0.Add(-time.Minute),
		AMR:           core.AMRPassword,
		CreatedAt:     t0,
		ExpiresAt:     t0.Add(time.Minute),
		SessionID:     newID(),
		Browser:       newID(),
	}
}

func sameCode(t *testing.T, got, want core.AuthCode) {
	t.Helper()
	for _, p := range []struct {
		got  *time.Time
		want time.Time
	}{{&got.AuthTime, want.AuthTime}, {&got.CreatedAt, want.CreatedAt}, {&got.ExpiresAt, want.ExpiresAt}, {&got.UsedAt, want.UsedAt}} {
		fixTime(p.got, p.want)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("auth code:\n got %+v\nwant %+v", got, want)
	}
}

// testAuthCodeUseOnce: a code is used once; its replay revokes the
// session its first use started, and nothing else.
func testAuthCodeUseOnce(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	c := newCode(u.ID)
	must(t, s.CreateAuthCode(ctx, c))
	got, err := s.UseAuthCode(ctx, c.Hash, t0.Add(time.Second))
	must(t, err)
	sameCode(t, got, c)
	// The exchange starts the session the code named.
	ses := newSession(u.ID)
	ses.ID = c.SessionID
	first := firstToken(ses)
	must(t, s.CreateSession(ctx, ses, first))
	other := newSession(u.ID)
	otherFirst := firstToken(other)
	must(t, s.CreateSession(ctx, other, otherFirst))

	replayAt := t0.Add(2 * time.Second)
	got, err = s.UseAuthCode(ctx, c.Hash, replayAt)
	wantExactly(t, err, core.ErrCodeReused, "second use of a code")
	if got.SessionID != c.SessionID || got.UserID != u.ID {
		t.Errorf("replay returned %+v, want the code", got)
	}
	revoked, err := s.GetSession(ctx, ses.ID)
	must(t, err)
	if !sameTime(revoked.RevokedAt, replayAt) {
		t.Fatalf("session of a replayed code: revoked at %v, want %v", revoked.RevokedAt, replayAt)
	}
	_, err = s.RotateRefreshToken(ctx, first.Hash, replayAt.Add(time.Second), successor(replayAt))
	wantExactly(t, err, core.ErrInvalidToken, "refresh token of a replayed code")
	rotate(t, s, otherFirst.Hash, replayAt)
}

func testAuthCodeInvalid(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	c := newCode(u.ID)
	must(t, s.CreateAuthCode(ctx, c))
	_, err := s.UseAuthCode(ctx, c.Hash, c.ExpiresAt)
	wantExactly(t, err, core.ErrInvalidGrant, "use at expiry")
	_, err = s.UseAuthCode(ctx, "no-such-code", t0)
	wantExactly(t, err, core.ErrInvalidGrant, "unknown code")
	wantErr(t, s.CreateAuthCode(ctx, newCode("no-such-user")), core.ErrNotFound, "code for an unknown user")
}

func testAuthCodeRace(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	for range Rounds {
		c := newCode(u.ID)
		must(t, s.CreateAuthCode(ctx, c))
		errs := race(Racers, func(int) error {
			_, err := s.UseAuthCode(ctx, c.Hash, t0.Add(time.Second))
			return err
		})
		oneWinner(t, errs, func(err error) bool { return isExactly(err, core.ErrCodeReused) }, "UseAuthCode")
	}
}

// testSessionWithoutToken: an app's session without offline access has
// no refresh token; it lives until its access tokens expire.
func testSessionWithoutToken(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	ses := newSession(u.ID)
	ses.ExpiresAt = t0.Add(time.Hour)
	must(t, s.CreateSession(ctx, ses, core.RefreshToken{}))
	got, err := s.GetSession(ctx, ses.ID)
	must(t, err)
	sameSession(t, got, ses)
	must(t, s.CheckAccessToken(ctx, ses.ID, newID(), t0))
	wantExactly(t, s.CheckAccessToken(ctx, ses.ID, newID(), ses.ExpiresAt), core.ErrInvalidToken, "access token of an ended session")
}

func testConsent(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	_, err := s.GetConsent(ctx, u.ID, "grafana")
	wantErr(t, err, core.ErrNotFound, "GetConsent before any")
	a := core.Consent{UserID: u.ID, ClientID: "grafana", Scopes: []string{"openid", "email"}, GrantedAt: t0}
	b := core.Consent{UserID: u.ID, ClientID: "gitea", Scopes: []string{"openid"}, GrantedAt: t0.Add(time.Minute)}
	must(t, s.SaveConsent(ctx, a))
	must(t, s.SaveConsent(ctx, b))
	same := func(got, want core.Consent) {
		t.Helper()
		fixTime(&got.GrantedAt, want.GrantedAt)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("consent:\n got %+v\nwant %+v", got, want)
		}
	}
	got, err := s.GetConsent(ctx, u.ID, "grafana")
	must(t, err)
	same(got, a)
	// Saving again replaces.
	a.Scopes, a.GrantedAt = []string{"openid", "email", "profile"}, t0.Add(time.Hour)
	must(t, s.SaveConsent(ctx, a))
	list, err := s.ListConsents(ctx, u.ID)
	must(t, err)
	if len(list) != 2 {
		t.Fatalf("consents %+v, want 2", list)
	}
	same(list[0], a)
	same(list[1], b)
	must(t, s.DeleteConsent(ctx, u.ID, "grafana"))
	must(t, s.DeleteConsent(ctx, u.ID, "grafana")) // nothing to forget
	_, err = s.GetConsent(ctx, u.ID, "grafana")
	wantErr(t, err, core.ErrNotFound, "GetConsent after DeleteConsent")
	wantErr(t, s.SaveConsent(ctx, core.Consent{UserID: "no-such-user", ClientID: "x", GrantedAt: t0}), core.ErrNotFound, "consent of an unknown user")
}

func testRevokeClientSessions(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	other := mustCreateUser(t, s)
	app, app2, own, theirs := newSession(u.ID), newSession(u.ID), newSession(u.ID), newSession(other.ID)
	app2.ClientID, own.ClientID = "gitea", ""
	theirs.ClientID = app.ClientID
	firsts := map[string]core.RefreshToken{}
	for _, ses := range []core.Session{app, app2, own, theirs} {
		firsts[ses.ID] = firstToken(ses)
		must(t, s.CreateSession(ctx, ses, firsts[ses.ID]))
	}
	at := t0.Add(time.Hour)
	must(t, s.RevokeClientSessions(ctx, u.ID, app.ClientID, at))
	_, err := s.RotateRefreshToken(ctx, firsts[app.ID].Hash, at, successor(at))
	wantExactly(t, err, core.ErrInvalidToken, "refresh token of a revoked app")
	wantExactly(t, s.CheckAccessToken(ctx, app.ID, newID(), at), core.ErrInvalidToken, "access token of a revoked app")
	for _, ses := range []core.Session{app2, own, theirs} {
		rotate(t, s, firsts[ses.ID].Hash, at)
	}
}

func testAccessTokenCheck(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	ses := newSession(u.ID)
	must(t, s.CreateSession(ctx, ses, firstToken(ses)))
	jti := newID()
	must(t, s.CheckAccessToken(ctx, ses.ID, jti, t0))
	must(t, s.RevokeAccessToken(ctx, jti, t0.Add(time.Hour)))
	must(t, s.RevokeAccessToken(ctx, jti, t0.Add(time.Hour))) // again: harmless
	wantExactly(t, s.CheckAccessToken(ctx, ses.ID, jti, t0), core.ErrInvalidToken, "a revoked access token")
	must(t, s.CheckAccessToken(ctx, ses.ID, newID(), t0)) // another token of the session
	wantExactly(t, s.CheckAccessToken(ctx, "no-such-session", newID(), t0), core.ErrInvalidToken, "a token of an unknown session")
	must(t, s.RevokeSession(ctx, u.ID, ses.ID, t0))
	wantExactly(t, s.CheckAccessToken(ctx, ses.ID, newID(), t0), core.ErrInvalidToken, "a token of a revoked session")
}

func testGrantsPurge(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	now := t0.Add(24 * time.Hour)
	old, live := newCode(u.ID), newCode(u.ID)
	old.ExpiresAt, live.ExpiresAt = now.Add(-time.Second), now.Add(time.Minute)
	must(t, s.CreateAuthCode(ctx, old))
	must(t, s.CreateAuthCode(ctx, live))
	must(t, s.RevokeAccessToken(ctx, "old", now.Add(-time.Second)))
	must(t, s.RevokeAccessToken(ctx, "live", now.Add(time.Minute)))
	n, err := s.PurgeGrants(ctx, now)
	must(t, err)
	if n != 2 {
		t.Fatalf("PurgeGrants = %d, want 2 (an expired code and a revoked id)", n)
	}
	_, err = s.UseAuthCode(ctx, live.Hash, now)
	must(t, err)
	// The revoked id that has not expired is still listed.
	ses := newSession(u.ID)
	ses.ExpiresAt = now.Add(time.Hour)
	must(t, s.CreateSession(ctx, ses, core.RefreshToken{}))
	wantExactly(t, s.CheckAccessToken(ctx, ses.ID, "live", now), core.ErrInvalidToken, "a revoked id after a purge")
}
