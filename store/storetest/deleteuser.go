package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/tether-id/tether/core"
)

var deleteUserTests = []test{
	{"DeleteUser/Everything", testDeleteUserEverything},
	{"DeleteUser/Unknown", testDeleteUserUnknown},
}

// testDeleteUserEverything: deleting an account deletes its identities,
// sessions, refresh tokens, email links, link flows, the OpenID
// Provider's codes and consents and its kept picture, keeps its audit
// events without IP address and user agent, and touches nobody else.
func testDeleteUserEverything(t *testing.T, s core.Store) {
	ctx := context.Background()
	u := mustCreateUser(t, s)
	other := mustCreateUser(t, s)
	id := mustLink(t, s, u.ID, "logto")
	otherID := mustLink(t, s, other.ID, "logto")
	ses := newSession(u.ID)
	first := firstToken(ses)
	must(t, s.CreateSession(ctx, ses, first))
	otherSes := newSession(other.ID)
	must(t, s.CreateSession(ctx, otherSes, firstToken(otherSes)))
	link := newLink(u.ID, core.LinkChangeEmail)
	must(t, s.CreateEmailLink(ctx, link))
	otherLink := newLink(other.ID, core.LinkChangeEmail)
	must(t, s.CreateEmailLink(ctx, otherLink))
	flow := newFlow()
	flow.UserID = u.ID
	must(t, s.CreateFlow(ctx, flow))
	otherFlow := newFlow()
	otherFlow.UserID = other.ID
	must(t, s.CreateFlow(ctx, otherFlow))
	code := newCode(u.ID)
	must(t, s.CreateAuthCode(ctx, code))
	otherCode := newCode(other.ID)
	must(t, s.CreateAuthCode(ctx, otherCode))
	must(t, s.SaveConsent(ctx, core.Consent{UserID: u.ID, ClientID: "grafana", Scopes: []string{"openid"}, GrantedAt: t0}))
	must(t, s.SaveConsent(ctx, core.Consent{UserID: other.ID, ClientID: "grafana", Scopes: []string{"openid"}, GrantedAt: t0}))
	must(t, s.SaveAvatar(ctx, core.Avatar{UserID: u.ID, Source: "https://img.example/a.png", Type: "image/png", Data: []byte{0x89, 'P', 'N', 'G'}, FetchedAt: t0}))
	must(t, s.SaveAvatar(ctx, core.Avatar{UserID: other.ID, Source: "https://img.example/b.png", Type: "image/png", Data: []byte{0x89, 'P', 'N', 'G'}, FetchedAt: t0}))
	event := func(userID string) core.Event {
		return core.Event{ID: newID(), UserID: userID, Kind: core.EventSignIn, Method: core.MethodPassword, Success: true,
			IP: "192.0.2.1", UserAgent: "Mozilla/5.0", At: t0}
	}
	ev, otherEv := event(u.ID), event(other.ID)
	must(t, s.RecordEvent(ctx, ev))
	must(t, s.RecordEvent(ctx, otherEv))

	must(t, s.DeleteUser(ctx, u.ID))

	_, err := s.GetUser(ctx, u.ID)
	wantErr(t, err, core.ErrNotFound, "the deleted account")
	_, err = s.GetIdentity(ctx, id.IdentityKey)
	wantErr(t, err, core.ErrNotFound, "an identity of the deleted account")
	_, err = s.GetSession(ctx, ses.ID)
	wantErr(t, err, core.ErrNotFound, "a session of the deleted account")
	_, err = s.GetRefreshToken(ctx, first.Hash)
	wantErr(t, err, core.ErrInvalidToken, "a refresh token of the deleted account")
	_, err = s.GetEmailLink(ctx, link.Hash)
	wantErr(t, err, core.ErrNotFound, "an email link of the deleted account")
	_, err = s.GetFlow(ctx, flow.ID, t0)
	wantErr(t, err, core.ErrFlowNotFound, "a link flow of the deleted account")
	_, err = s.UseAuthCode(ctx, code.Hash, t0)
	wantErr(t, err, core.ErrInvalidGrant, "an authorization code of the deleted account")
	_, err = s.GetConsent(ctx, u.ID, "grafana")
	wantErr(t, err, core.ErrNotFound, "a consent of the deleted account")
	_, err = s.GetAvatar(ctx, u.ID)
	wantErr(t, err, core.ErrNotFound, "the kept picture of the deleted account")
	events, err := s.ListEvents(ctx, core.EventQuery{UserID: u.ID})
	must(t, err)
	ev.IP, ev.UserAgent = "", ""
	sameEvents(t, events, []core.Event{ev})

	// The other account is untouched.
	got, err := s.GetUser(ctx, other.ID)
	must(t, err)
	sameUser(t, got, other)
	gotID, err := s.GetIdentity(ctx, otherID.IdentityKey)
	must(t, err)
	sameIdentity(t, gotID, otherID)
	_, err = s.GetSession(ctx, otherSes.ID)
	must(t, err)
	_, err = s.GetEmailLink(ctx, otherLink.Hash)
	must(t, err)
	_, err = s.GetFlow(ctx, otherFlow.ID, t0)
	must(t, err)
	_, err = s.GetConsent(ctx, other.ID, "grafana")
	must(t, err)
	_, err = s.GetAvatar(ctx, other.ID)
	must(t, err)
	_, err = s.UseAuthCode(ctx, otherCode.Hash, t0)
	must(t, err)
	events, err = s.ListEvents(ctx, core.EventQuery{UserID: other.ID})
	must(t, err)
	sameEvents(t, events, []core.Event{otherEv})

	// The address and the identity are free again.
	again := newUser()
	again.Email = u.Email
	must(t, s.CreateUser(ctx, again))
	id.UserID, id.LinkedAt = again.ID, t0.Add(time.Hour)
	must(t, s.LinkIdentity(ctx, id))
}

func testDeleteUserUnknown(t *testing.T, s core.Store) {
	err := s.DeleteUser(context.Background(), "no-such-user")
	wantErr(t, err, core.ErrNotFound, "DeleteUser of an unknown id")
}
