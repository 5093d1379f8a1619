package rp

import (
	"net/url"
	"testing"
)

// The Must helpers run one step with either RP under the test's context
// and fail the test on an error, for tests whose point lies elsewhere.

// MustLogin signs in through c's UserAgent.
func MustLogin(t testing.TB, c Client, params url.Values) *Tokens {
	t.Helper()
	tok, err := c.Login(t.Context(), params)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	return tok
}

// MustUserInfo fetches userinfo.
func MustUserInfo(t testing.TB, c Client, tokens *Tokens) map[string]any {
	t.Helper()
	claims, err := c.UserInfo(t.Context(), tokens)
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	return claims
}

// MustRefresh refreshes tokens.
func MustRefresh(t testing.TB, c Client, tokens *Tokens) *Tokens {
	t.Helper()
	tok, err := c.Refresh(t.Context(), tokens)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	return tok
}

// MustRevoke revokes token.
func MustRevoke(t testing.TB, c Client, token, hint string) {
	t.Helper()
	if err := c.Revoke(t.Context(), token, hint); err != nil {
		t.Fatalf("revoke: %v", err)
	}
}

// MustIntrospect introspects token.
func MustIntrospect(t testing.TB, c Client, token, hint string) *Introspection {
	t.Helper()
	in, err := c.Introspect(t.Context(), token, hint)
	if err != nil {
		t.Fatalf("introspect: %v", err)
	}
	return in
}

// MustLogoutURL builds a logout URL.
func MustLogoutURL(t testing.TB, c Client, req LogoutRequest) string {
	t.Helper()
	u, err := c.LogoutURL(t.Context(), req)
	if err != nil {
		t.Fatalf("logout URL: %v", err)
	}
	return u
}
