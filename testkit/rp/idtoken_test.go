package rp

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"testing"
)

func TestHalfHash(t *testing.T) {
	t.Parallel()
	const token = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
	s256 := sha256.Sum256([]byte(token))
	s384 := sha512.Sum384([]byte(token))
	s512 := sha512.Sum512([]byte(token))
	enc := base64.RawURLEncoding.EncodeToString
	cases := []struct {
		alg, want string
	}{
		// OpenID Connect Core's example pair (Appendix A.3's access token
		// and at_hash, RS256).
		{"RS256", "77QmUPtjPfzWtF2AnpK9RQ"},
		{"ES256", enc(s256[:16])},
		{"PS384", enc(s384[:24])},
		{"ES384", enc(s384[:24])},
		{"ES512", enc(s512[:32])},
		{"EdDSA", enc(s512[:32])},
		{"none", ""},
		{"XYZ", ""},
	}
	for _, tc := range cases {
		got, err := halfHash(tc.alg, token)
		if tc.want == "" {
			if err == nil {
				t.Errorf("%s: %q, want an error", tc.alg, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.alg, got, err, tc.want)
		}
	}
}
