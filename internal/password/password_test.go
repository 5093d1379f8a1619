package password

import (
	"strings"
	"testing"
)

func TestHashCheck(t *testing.T) {
	h, err := Default.Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("unexpected PHC string %q", h)
	}
	h2, _ := Default.Hash("correct horse")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
	tests := []struct {
		password string
		want     bool
	}{
		{"correct horse", true},
		{"correct horsE", false},
		{"", false},
		{"correct horse ", false},
	}
	for _, tt := range tests {
		got, err := Check(h, tt.password)
		if err != nil || got != tt.want {
			t.Errorf("Check(%q) = %v, %v; want %v", tt.password, got, err, tt.want)
		}
	}
}

func TestCheckMalformed(t *testing.T) {
	for _, h := range []string{
		"",
		"plain",
		"$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=18$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=0,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=19456,t=2,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
	} {
		if ok, err := Check(h, "x"); ok || err == nil {
			t.Errorf("Check(%q) = %v, %v; want false, error", h, ok, err)
		}
	}
}

func TestNeedsRehash(t *testing.T) {
	weak := Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	h, _ := weak.Hash("pw")
	if !Default.NeedsRehash(h) {
		t.Error("weak hash not flagged for rehash")
	}
	if ok, _ := Check(h, "pw"); !ok {
		t.Error("weak hash no longer verifies")
	}
	h, _ = Default.Hash("pw")
	if Default.NeedsRehash(h) {
		t.Error("default hash flagged for rehash")
	}
}

func BenchmarkHash(b *testing.B) {
	for b.Loop() {
		_, _ = Default.Hash("benchmark password")
	}
}

// TestCheckDummy: the dummy hash is made on first use, not at start-up,
// and with the cost it is asked for, so that a wrong email costs what a
// wrong password of that cost does.
func TestCheckDummy(t *testing.T) {
	cheap := Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	other := cheap
	other.Time = 2
	for _, p := range []Params{Default, cheap, other} {
		if _, ok := dummies.Load(p); ok {
			t.Fatalf("a dummy hash for %+v exists before the first CheckDummy", p)
		}
	}
	for _, p := range []Params{cheap, other} {
		p.CheckDummy("guess")
		h, ok := dummies.Load(p)
		if !ok {
			t.Fatalf("no dummy hash for %+v after CheckDummy", p)
		}
		got, salt, key, err := parse(h.(string))
		if err != nil {
			t.Fatal(err)
		}
		got.SaltLen, got.KeyLen = len(salt), uint32(len(key))
		if got != p {
			t.Errorf("dummy hash made with %+v, want %+v", got, p)
		}
		if ok, _ := Check(h.(string), "tether-dummy-password"); !ok {
			t.Errorf("the dummy hash is not a hash of the dummy password")
		}
	}
	if _, ok := dummies.Load(Default); ok {
		t.Error("CheckDummy of other params made the default dummy hash")
	}
}
