package seal

import (
	"bytes"
	"encoding/base64"
	"testing"
)

func TestSealOpen(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	b, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := New(bytes.Repeat([]byte{8}, 32))
	s, err := b.Seal([]byte("upstream refresh token"), []byte("logto|sub-1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(s, []byte("upstream")) {
		t.Fatal("plaintext visible in sealed value")
	}
	flipped := bytes.Clone(s)
	flipped[len(flipped)-1] ^= 1
	tests := []struct {
		name string
		box  *Box
		in   []byte
		ad   string
		ok   bool
	}{
		{"same key and ad", b, s, "logto|sub-1", true},
		{"other ad", b, s, "logto|sub-2", false},
		{"other key", other, s, "logto|sub-1", false},
		{"altered", b, flipped, "logto|sub-1", false},
		{"truncated", b, s[:10], "logto|sub-1", false},
		{"empty", b, nil, "logto|sub-1", false},
	}
	for _, tt := range tests {
		pt, err := tt.box.Open(tt.in, []byte(tt.ad))
		if tt.ok && (err != nil || string(pt) != "upstream refresh token") {
			t.Errorf("%s: Open = %q, %v", tt.name, pt, err)
		}
		if !tt.ok && err == nil {
			t.Errorf("%s: Open succeeded, want error", tt.name)
		}
	}
}

func TestParseKey(t *testing.T) {
	raw := bytes.Repeat([]byte{0xfb}, 32)
	for _, s := range []string{
		base64.StdEncoding.EncodeToString(raw),
		base64.RawURLEncoding.EncodeToString(raw),
	} {
		k, err := ParseKey(s)
		if err != nil || !bytes.Equal(k, raw) {
			t.Errorf("ParseKey(%q) = %x, %v", s, k, err)
		}
	}
	for _, s := range []string{"", "short", base64.StdEncoding.EncodeToString(raw[:16]), "%%%"} {
		if _, err := ParseKey(s); err == nil {
			t.Errorf("ParseKey(%q) succeeded", s)
		}
	}
	if _, err := New(raw[:31]); err == nil {
		t.Error("New accepted a 31-byte key")
	}
}
