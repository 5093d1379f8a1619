package httpx

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/internal/ratelimit"
)

// LimitError is a request refused by a rate limit: a core error with
// CodeRateLimited that also says which limit refused it (for the
// metrics) and when to come back (for Retry-After).
type LimitError struct {
	// Limit is LimitAddress, LimitAccount or LimitMail.
	Limit string
	Wait  time.Duration
	err   *core.Error
}

// The limits, as a LimitError and the metrics name them.
const (
	LimitAddress = "address" // requests per client address (rate_limit.per_ip_per_minute)
	LimitAccount = "account" // wrong passwords per email, then a lock-out (rate_limit.per_account_*)
	LimitMail    = "mail"    // messages to one address (rate_limit.mail_per_address)
)

func (e *LimitError) Error() string { return e.err.Error() }
func (e *LimitError) Unwrap() error { return e.err }

// RateLimited returns a LimitError of limit with the given message.
func RateLimited(limit string, wait time.Duration, format string, args ...any) error {
	return &LimitError{Limit: limit, Wait: wait, err: core.Errorf(core.CodeRateLimited, format, args...)}
}

// Limit returns the limit that refused err ("" when err is no
// LimitError).
func Limit(err error) string {
	var le *LimitError
	if errors.As(err, &le) {
		return le.Limit
	}
	return ""
}

// RetryAfter returns the wait of a LimitError in err.
func RetryAfter(err error) (time.Duration, bool) {
	var le *LimitError
	if errors.As(err, &le) {
		return le.Wait, true
	}
	return 0, false
}

// Seconds is a wait in whole seconds for Retry-After: rounded up, and at
// least 1.
func Seconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}

// AllowIP takes one request of r's client from l's budget (nil: no
// limit). Over the budget it returns a LimitError worded for the
// Cloudreve surface.
func AllowIP(l *ratelimit.Limiter, r *http.Request) error {
	if l == nil {
		return nil
	}
	if ok, wait := l.Allow(Client(r).IP); !ok {
		return RateLimited(LimitAddress, wait, "Too many requests, try again in %ds", Seconds(wait))
	}
	return nil
}

// SignIn is core.Service.SignIn behind the per-account limit b (nil: no
// limit), which every surface with a password form uses. The key is the
// email as the core compares it (core.EmailKey), whether or not an
// account has it, so the limit answers the same for every email and
// tells nothing about which exist. A locked-out email is refused before
// any password work.
func SignIn(ctx context.Context, svc *core.Service, b *ratelimit.Backoff, email, password string, c core.Client) (core.User, core.TokenPair, error) {
	key := core.EmailKey(email)
	if b == nil || key == "" || password == "" {
		// An empty field is refused by the core without a password check.
		return svc.SignIn(ctx, email, password, c)
	}
	if ok, wait := b.Allow(key); !ok {
		return core.User{}, core.TokenPair{}, RateLimited(LimitAccount, wait, "Too many failed sign-in attempts, try again in %ds", Seconds(wait))
	}
	u, pair, err := svc.SignIn(ctx, email, password, c)
	switch core.ErrorCode(err) {
	case "":
		b.Record(key, ratelimit.Succeeded)
	case core.CodeWrongPassword:
		b.Record(key, ratelimit.Failed)
	default:
		b.Record(key, ratelimit.Void)
	}
	return u, pair, err
}
