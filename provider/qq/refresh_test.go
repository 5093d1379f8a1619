package qq_test

import (
	"context"
	"testing"
	"time"

	"github.com/tether-id/tether/provider"
	"github.com/tether-id/tether/provider/qq/qqtest"
)

// TestRefresh: a re-check uses a still-valid access token as it is,
// refreshes an expired one, brings back the current nickname, and tells
// a withdrawn authorization (Revoked) from a QQ that is down
// (Unavailable).
func TestRefresh(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, p := newFake(t, "openid")
	id, err := signIn(t, s, p)
	if err != nil {
		t.Fatal(err)
	}
	u := s.User()

	s.Rename(u, "新名字")
	got, err := p.Refresh(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "新名字" || got.Subject != id.Subject || got.Tokens != id.Tokens {
		t.Errorf("with a valid access token: %+v (tokens before %+v)", got, id.Tokens)
	}
	if q := s.LastQuery(qqtest.Token); q.Get("grant_type") != "authorization_code" {
		t.Errorf("a valid access token was refreshed: %v", q)
	}

	// Expired: the refresh token buys a new pair.
	expired := got
	expired.Tokens.Expiry = time.Now().Add(-time.Minute)
	got, err = p.Refresh(ctx, expired)
	if err != nil {
		t.Fatal(err)
	}
	if q := s.LastQuery(qqtest.Token); q.Get("grant_type") != "refresh_token" || q.Get("refresh_token") != id.Tokens.RefreshToken || q.Get("fmt") != "json" {
		t.Errorf("refresh request %v", q)
	}
	if got.Tokens.AccessToken == id.Tokens.AccessToken || got.Tokens.RefreshToken == id.Tokens.RefreshToken || !got.Tokens.Expiry.After(time.Now()) {
		t.Errorf("tokens after refresh: %+v", got.Tokens)
	}

	// Down: no revocation.
	s.ReplyNext(qqtest.Me, qqtest.Raw(503, "busy"))
	_, err = p.Refresh(ctx, got)
	if !provider.IsUnavailable(err) || provider.IsRevoked(err) {
		t.Errorf("QQ down: %v", err)
	}

	// The person withdraws the app: the access token is refused, and so
	// is the refresh token.
	s.Revoke(u)
	_, err = p.Refresh(ctx, got)
	if !provider.IsRevoked(err) {
		t.Errorf("withdrawn, access token: %v, want revoked", err)
	}
	got.Tokens.Expiry = time.Now().Add(-time.Minute)
	_, err = p.Refresh(ctx, got)
	if !provider.IsRevoked(err) {
		t.Errorf("withdrawn, refresh token: %v, want revoked", err)
	}

	// Nothing to use: not checkable, neither revoked nor unavailable.
	got.Tokens.RefreshToken = ""
	_, err = p.Refresh(ctx, got)
	if err == nil || provider.IsRevoked(err) || provider.IsUnavailable(err) {
		t.Errorf("no usable token: %v", err)
	}
}
