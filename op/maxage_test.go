package op_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/tether-id/tether/testkit/rp"
	"github.com/tether-id/tether/testkit/tethertest"
)

// TestMaxAgeReauthenticates: max_age asks for a sign-in as recent as the
// request allows, and a sign-in made for the request meets it, even with
// max_age=0 (OpenID Connect Core §3.1.2.1: the same as prompt=login). A
// sign-in older than max_age seconds is asked again.
func TestMaxAgeReauthenticates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, maxAge := range []string{"0", "1", "3600"} {
		t.Run("max_age="+maxAge, func(t *testing.T) {
			b := e.Browser(t)
			// A tether session before the request.
			c := rp.New(t, e.rpConfig(firstParty, b, tethertest.Password(email, password)))
			first := rp.MustLogin(t, c, nil)
			// Old enough for max_age, counted in whole seconds as
			// auth_time is.
			switch maxAge {
			case "0":
				time.Sleep(1100 * time.Millisecond)
			case "1":
				time.Sleep(2100 * time.Millisecond)
			}
			passwords := 0
			c2 := rp.New(t, e.rpConfig(firstParty, b, tethertest.Step{Page: "/login", Do: func(b *tethertest.Browser) (tethertest.Page, error) {
				passwords++
				return tethertest.Password(email, password).Do(b)
			}}))
			tok := rp.MustLogin(t, c2, url.Values{"max_age": {maxAge}})
			want := 1
			if maxAge == "3600" {
				want = 0
			}
			if passwords != want {
				t.Errorf("the sign-in form was shown %d times, want %d", passwords, want)
			}
			at, _ := tok.Claims["auth_time"].(float64)
			prev, _ := first.Claims["auth_time"].(float64)
			if fresh := at > prev; fresh != (want == 1) {
				t.Errorf("auth_time %v after %v: fresh %v, want %v", at, prev, fresh, want == 1)
			}
		})
	}
}
