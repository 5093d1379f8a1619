package httpx

import (
	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/internal/ratelimit"
)

// AllowMail takes one message to address from q's budget (nil: no
// limit): every surface calls it before asking the core to mail someone
// on a caller's word (a password reset, a new verification link, a change
// of address). The key is the address as the core compares addresses,
// whether or not an account has it, so the limit tells nothing about
// which exist.
func AllowMail(q *ratelimit.Quota, address string) error {
	key := core.EmailKey(address)
	if q == nil || key == "" {
		return nil
	}
	if ok, wait := q.Allow(key); !ok {
		return RateLimited(LimitMail, wait, "Too many emails to this address, try again in %ds", Seconds(wait))
	}
	return nil
}
