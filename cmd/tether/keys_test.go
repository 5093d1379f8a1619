package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// clientsConfig registers two apps, with ID tokens in two algorithms.
const clientsConfig = `clients:
  - id: grafana
    secret: grafana-secret-0123456789
    redirect_uris: [https://grafana.example.com/login/generic_oauth]
  - id: spa
    id_token_alg: EdDSA
    redirect_uris: [https://app.example.com/callback]
`

func TestKeys(t *testing.T) {
	cfg := writeConfig(t, clientsConfig)
	keys := func(args ...string) string {
		t.Helper()
		code, out, stderr := tether(t, "", nil, append(append([]string{"keys"}, args...), "--config", cfg)...)
		if code != 0 {
			t.Fatalf("keys %v: exit %d: %s", args, code, stderr)
		}
		return out
	}
	list := func() []keyJSON {
		t.Helper()
		var out []keyJSON
		for line := range strings.Lines(keys("list", "--json")) {
			var k keyJSON
			if err := json.Unmarshal([]byte(line), &k); err != nil {
				t.Fatalf("list --json: %v: %q", err, line)
			}
			out = append(out, k)
		}
		return out
	}

	if out := keys("list"); !strings.Contains(out, "no signing keys yet") {
		t.Fatalf("list before any key: %q", out)
	}

	out := keys("rotate")
	for _, want := range []string{"made a new signing key for every algorithm", "KID", "RS256", "ES256", "EdDSA", "current", "while current",
		"access tokens are signed with ES256", "RS256  grafana", "EdDSA  spa"} {
		if !strings.Contains(out, want) {
			t.Errorf("rotate output lacks %q:\n%s", want, out)
		}
	}
	first := list()
	if len(first) != 3 {
		t.Fatalf("after the first rotation: %+v", first)
	}
	for i, alg := range []string{"RS256", "ES256", "EdDSA"} {
		if k := first[i]; k.Alg != alg || k.State != "current" || k.RetiredAt != nil || k.PublishedUntil != nil || k.KID == "" {
			t.Errorf("key %d: %+v, want the current %s key", i, k, alg)
		}
	}

	// A second rotation retires every key; each stays published until
	// the tokens it signed have expired (tokens.access_ttl, 1h).
	before := time.Now()
	keys("rotate")
	second := list()
	if len(second) != 6 {
		t.Fatalf("after the second rotation: %+v", second)
	}
	for i, k := range second {
		old := first[i/2]
		switch {
		case k.Alg != old.Alg:
			t.Errorf("key %d: %s, want %s (by algorithm, newest first)", i, k.Alg, old.Alg)
		case i%2 == 0 && (k.State != "current" || k.KID == old.KID):
			t.Errorf("key %d: %+v, want a new current key", i, k)
		case i%2 == 1 && (k.State != "retired" || k.KID != old.KID || k.RetiredAt == nil || k.PublishedUntil == nil):
			t.Errorf("key %d: %+v, want %s retired", i, k, old.KID)
		case i%2 == 1 && (k.PublishedUntil.Before(before.Add(time.Hour)) || k.PublishedUntil.After(time.Now().Add(time.Hour+2*time.Minute))):
			t.Errorf("key %d published until %s, want about an hour after %s", i, k.PublishedUntil, before)
		}
	}
	if out := keys("list"); !strings.Contains(out, "retired") || !strings.Contains(out, second[1].PublishedUntil.Format(time.RFC3339)) {
		t.Errorf("list does not show the retired keys:\n%s", out)
	}

	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"keys"}, 2, "usage: tether keys"},
		{[]string{"keys", "shred"}, 2, `unknown command "shred"`},
		{[]string{"keys", "list"}, 1, "--config FILE is required"},
		{[]string{"keys", "list", "--config", cfg, "extra"}, 1, `unexpected argument "extra"`},
	} {
		if code, _, stderr := tether(t, "", nil, tt.args...); code != tt.code || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, %q; want %d and %q", tt.args, code, stderr, tt.code, tt.want)
		}
	}
}

// TestKeysDev: --dev works on the data of `tether dev`, as every admin
// command does.
func TestKeysDev(t *testing.T) {
	dir := t.TempDir()
	code, out, stderr := tether(t, "", nil, "keys", "rotate", "--dev", "--data", dir)
	if code != 0 || !strings.Contains(out, "current") {
		t.Fatalf("keys rotate --dev: exit %d\n%s%s", code, out, stderr)
	}
	if code, out, stderr := tether(t, "", nil, "keys", "list", "--dev", "--data", dir, "--json"); code != 0 || strings.Count(out, "\n") != 3 {
		t.Fatalf("keys list --dev: exit %d\n%s%s", code, out, stderr)
	}
}
