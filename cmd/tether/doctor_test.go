package main

import (
	"strings"
	"testing"

	"github.com/tether-id/tether/testkit/testpeer"
)

// TestDoctorFrontends: with a Cloudreve frontend on its own origin,
// doctor lists both redirect URIs of each provider, says both need
// registering, and warns when the frontend's origin is not allowed by
// CORS.
func TestDoctorFrontends(t *testing.T) {
	op := testpeer.Zitadel(t)
	provider := "providers:\n  - { id: corp, kind: oidc, issuer: '" + op.Issuer + "', client_id: " + op.ClientID + ", client_secret: " + op.ClientSecret + " }\n"
	for _, tc := range []struct {
		name, extra string
		want        []string
	}{
		{"one origin", "", []string{
			"http://127.0.0.1:5212/callback/openid/2   (Cloudreve clients, tether's pages)",
			"http://127.0.0.1:5212/oauth/sso/corp/callback   (Versia clients)",
		}},
		{"frontend listed", "cloudreve: { frontend_url: 'https://cloud.example.com/' }\ncors: { allowed_origins: [https://cloud.example.com] }\n", []string{
			"✓ Cloudreve frontend https://cloud.example.com: its origin is in cors.allowed_origins",
			"every provider needs both redirect URIs below registered",
			"http://127.0.0.1:5212/callback/openid/2   (tether's pages)",
			"https://cloud.example.com/callback/openid/2   (Cloudreve clients: the frontend's callback page)",
		}},
		{"frontend not listed", "cloudreve: { frontend_url: 'https://cloud.example.com' }\nversia: { frontend_url: 'https://social.example.com' }\n", []string{
			"! Cloudreve frontend https://cloud.example.com: add https://cloud.example.com to cors.allowed_origins",
			"! Versia frontend https://social.example.com: add https://social.example.com to cors.allowed_origins",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := tether(t, "", nil, "doctor", "--config", writeConfig(t, tc.extra+provider))
			if code != 0 {
				t.Fatalf("doctor exited %d:\n%s\n%s", code, out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("doctor does not say %q:\n%s", w, out)
				}
			}
		})
	}
}
