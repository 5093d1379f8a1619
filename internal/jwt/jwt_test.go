package jwt

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
)

func TestIssueVerify(t *testing.T) {
	secret := bytes.Repeat([]byte("s"), 32)
	s, err := NewSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewSigner(bytes.Repeat([]byte("o"), 32))
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tok, exp, err := s.Issue("user-1", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !exp.Equal(now.Add(time.Hour)) {
		t.Fatalf("exp = %v", exp)
	}
	if again, _, _ := s.Issue("user-1", now, time.Hour); again == tok {
		t.Fatal("two tokens issued at the same instant are identical")
	}
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	for _, want := range []string{`"token_type":"access"`, `"sub":"user-1"`, `"exp":`, `"nbf":`} {
		if !strings.Contains(string(payload), want) {
			t.Errorf("payload %s lacks %s", payload, want)
		}
	}

	// A token with the right key but the wrong type, and one signed with
	// the raw secret instead of the derived key.
	wrongType, _ := josejwt.Signed(s.signer).Claims(map[string]any{"sub": "user-1", "token_type": "refresh", "exp": now.Add(time.Hour).Unix()}).Serialize()
	rawSigner, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: secret}, nil)
	rawKey, _ := josejwt.Signed(rawSigner).Claims(map[string]any{"sub": "user-1", "token_type": "access", "exp": now.Add(time.Hour).Unix()}).Serialize()
	none := "eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"user-1","token_type":"access","exp":9999999999}`)) + "."

	tests := []struct {
		name   string
		signer *Signer
		token  string
		at     time.Time
		ok     bool
	}{
		{"valid", s, tok, now.Add(time.Minute), true},
		{"within leeway after expiry", s, tok, exp.Add(Leeway / 2), true},
		{"expired", s, tok, exp.Add(Leeway + time.Second), false},
		{"not yet valid", s, tok, now.Add(-Leeway - time.Second), false},
		{"other secret", other, tok, now, false},
		{"wrong token_type", s, wrongType, now, false},
		{"signed with raw secret", s, rawKey, now, false},
		{"alg none", s, none, now, false},
		{"garbage", s, "a.b.c", now, false},
		{"tampered", s, tok[:len(tok)-2] + "AA", now, false},
	}
	for _, tt := range tests {
		sub, err := tt.signer.Verify(tt.token, tt.at)
		if tt.ok != (err == nil) || (tt.ok && sub != "user-1") {
			t.Errorf("%s: Verify = %q, %v", tt.name, sub, err)
		}
	}
	if _, err := NewSigner([]byte("short")); err == nil {
		t.Error("short secret accepted")
	}
}
