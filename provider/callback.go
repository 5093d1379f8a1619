package provider

import (
	"net/url"
	"unicode/utf8"
)

// MaxCallbackValue is the longest callback parameter value accepted.
// Real codes and states are far shorter; the limit keeps a hostile query
// from reaching storage lookups and logs.
const MaxCallbackValue = 4096

// callbackParams are the parameters ParseCallback reads. RFC 6749 §3.1
// forbids repeating them; others (session_state, scope, authuser...) are
// ignored, whatever they hold.
var callbackParams = [...]string{"code", "state", "iss", "error", "error_description", "error_uri"}

// ParseCallback reads an authorization response from the query of the
// redirect back to tether. Every surface that sees the real callback query
// uses it, so the rules are the same everywhere: state is required (it
// names the flow), exactly one of code and error is present, no parameter
// tether reads is repeated, and values are bounded and free of control
// characters. The state is returned apart from the Callback because it
// selects the flow before the provider sees anything.
//
// Errors are *Error with Reason "bad_callback".
func ParseCallback(q url.Values) (state string, cb Callback, err error) {
	for _, name := range callbackParams {
		vs := q[name]
		if len(vs) > 1 {
			return "", Callback{}, Errorf("bad_callback", "the callback repeats the %q parameter", name)
		}
		if len(vs) == 0 {
			continue
		}
		v := vs[0]
		if len(v) > MaxCallbackValue {
			return "", Callback{}, Errorf("bad_callback", "the callback's %q parameter is too long", name)
		}
		ok := printableASCII(v)
		if name == "error_description" {
			// RFC 6749 allows only ASCII here, but providers send
			// localized text; any UTF-8 without control characters is
			// harmless to show.
			ok = printableText(v)
		}
		if !ok {
			return "", Callback{}, Errorf("bad_callback", "the callback's %q parameter holds invalid characters", name)
		}
	}
	state = q.Get("state")
	cb = Callback{
		Code:             q.Get("code"),
		Iss:              q.Get("iss"),
		Error:            q.Get("error"),
		ErrorDescription: q.Get("error_description"),
	}
	switch {
	case state == "":
		return "", Callback{}, Errorf("bad_callback", "the callback has no state")
	case cb.Code != "" && cb.Error != "":
		return "", Callback{}, Errorf("bad_callback", "the callback has both a code and an error")
	case cb.Code == "" && cb.Error == "":
		return "", Callback{}, Errorf("bad_callback", "the callback has neither a code nor an error")
	}
	return state, cb, nil
}

// printableASCII reports whether s holds only %x20-7E, the VSCHAR set of
// RFC 6749 Appendix A for code, state and error.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// printableText reports whether s is valid UTF-8 without C0 or C1 control
// characters.
func printableText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			return false
		}
	}
	return true
}
