package jwt

import (
	"bytes"
	"encoding/base64"
	"strings"
	"sync"
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
	joseSigner, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: s.key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	wrongType, _ := josejwt.Signed(joseSigner).Claims(map[string]any{"sub": "user-1", "token_type": "refresh", "exp": now.Add(time.Hour).Unix()}).Serialize()
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

// TestGoJoseCompatible: Issue builds the compact JWS itself; go-jose must
// read it as an HS256 JWT with the same claims, and a token go-jose's
// builder signs with the key must verify.
func TestGoJoseCompatible(t *testing.T) {
	s, err := NewSigner(bytes.Repeat([]byte("k"), 32))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	tok, exp, err := s.Issue("user-2", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := josejwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		t.Fatal(err)
	}
	if h := parsed.Headers[0]; h.Algorithm != "HS256" || h.ExtraHeaders["typ"] != "JWT" {
		t.Fatalf("header %+v", h)
	}
	var c claims
	if err := parsed.Claims(s.key, &c); err != nil {
		t.Fatal(err)
	}
	if c.Subject != "user-2" || c.TokenType != TypeAccess || c.ID == "" || !c.Expiry.Time().Equal(exp) ||
		!c.IssuedAt.Time().Equal(now) || !c.NotBefore.Time().Equal(now) {
		t.Fatalf("claims %+v", c)
	}

	joseSigner, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: s.key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	byJose, err := josejwt.Signed(joseSigner).Claims(claims{
		Claims:    josejwt.Claims{Subject: "user-3", Expiry: josejwt.NewNumericDate(now.Add(time.Hour)), NotBefore: josejwt.NewNumericDate(now)},
		TokenType: TypeAccess,
	}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	if sub, err := s.Verify(byJose, now); err != nil || sub != "user-3" {
		t.Fatalf("Verify of go-jose's token: %q, %v", sub, err)
	}
	// Concurrent issuers share the pooled MACs.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				tok, _, err := s.Issue("user-4", now, time.Hour)
				if err != nil {
					t.Error(err)
					return
				}
				if sub, err := s.Verify(tok, now); err != nil || sub != "user-4" {
					t.Errorf("Verify: %q, %v", sub, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkIssue(b *testing.B) {
	s, _ := NewSigner(bytes.Repeat([]byte("k"), 32))
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.Issue("6f1c2b1e-8a4e-4f61-9d55-3e9b1f0f7c21", now, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}
