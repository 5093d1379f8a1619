package web

import (
	"fmt"
	"net/url"
	"strings"
)

// allowList decides where the pages may send a person after signing in.
// A same-origin path is always allowed; an absolute URL only when it is on
// tether's own origin or matches an entry of web.redirect_allow_list.
// Anything else is refused, and the pages fall back to the account page:
// there is no open redirect.
type allowList struct {
	self    *url.URL // the public URL's origin
	entries []*url.URL
}

// maxRedirect bounds the length of a redirect target.
const maxRedirect = 2048

func newAllowList(publicURL string, entries []string) (allowList, error) {
	self, err := url.Parse(publicURL)
	if err != nil || (self.Scheme != "http" && self.Scheme != "https") || self.Host == "" {
		return allowList{}, fmt.Errorf("web: public URL %q is not an absolute http(s) URL", publicURL)
	}
	a := allowList{self: &url.URL{Scheme: self.Scheme, Host: strings.ToLower(self.Host)}}
	for _, e := range entries {
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			return allowList{}, fmt.Errorf("web: redirect allow-list entry %q is not an absolute http(s) URL", e)
		}
		a.entries = append(a.entries, &url.URL{Scheme: u.Scheme, Host: strings.ToLower(u.Host), Path: u.Path})
	}
	return a, nil
}

// Check returns target as it may be used in a Location header, and
// whether it is allowed.
func (a allowList) Check(target string) (string, bool) {
	if target == "" || len(target) > maxRedirect {
		return "", false
	}
	// Browsers drop tabs and newlines from URLs and read "\" as "/", so
	// "/\evil.example" or "/\t/evil.example" would leave the site; refuse
	// every control character, space and backslash outright.
	for i := 0; i < len(target); i++ {
		if c := target[i]; c <= ' ' || c == 0x7f || c == '\\' {
			return "", false
		}
	}
	if rel, ok := relativePath(target); ok {
		return rel, true
	}
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Opaque != "" {
		return "", false
	}
	host := strings.ToLower(u.Host)
	if u.Scheme == a.self.Scheme && host == a.self.Host {
		return u.String(), true
	}
	for _, e := range a.entries {
		if u.Scheme != e.Scheme || host != e.Host {
			continue
		}
		if e.Path == "" || e.Path == "/" {
			return u.String(), true
		}
		// A path prefix must hold after the browser resolves dot
		// segments, so URLs holding any are refused.
		if hasDotSegment(u.Path) {
			continue
		}
		prefix := strings.TrimSuffix(e.Path, "/")
		if u.Path == prefix || strings.HasPrefix(u.Path, prefix+"/") {
			return u.String(), true
		}
	}
	return "", false
}

// relativePath accepts a path on tether's own origin: it starts with one
// "/" (never "//", a scheme-relative URL to another host) and parses as a
// bare path with an optional query and fragment.
func relativePath(target string) (string, bool) {
	if !strings.HasPrefix(target, "/") || strings.HasPrefix(target, "//") {
		return "", false
	}
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "", false
	}
	return target, true
}

func hasDotSegment(p string) bool {
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}
