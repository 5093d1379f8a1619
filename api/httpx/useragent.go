package httpx

import "strings"

// Agent is what a sign-in history (Cloudreve's login_activity, the
// account page's devices) shows of a User-Agent.
type Agent struct{ Browser, OS, Device string }

// ParseUserAgent recognises the common browsers and systems well enough
// for a sign-in history; it is not a full User-Agent parser.
func ParseUserAgent(ua string) Agent {
	var a Agent
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"Chrome/", "Chrome"},
		{"Safari/", "Safari"}, {"curl/", "curl"}, {"Go-http-client/", "Go"}, {"okhttp/", "OkHttp"},
	} {
		if strings.Contains(ua, b.token) {
			a.Browser = b.name
			break
		}
	}
	for _, o := range []struct{ token, name string }{
		{"Windows", "Windows"}, {"Android", "Android"}, {"iPhone", "iOS"}, {"iPad", "iPadOS"},
		{"Mac OS X", "macOS"}, {"CrOS", "ChromeOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			a.OS = o.name
			break
		}
	}
	switch {
	case strings.Contains(ua, "iPad") || strings.Contains(ua, "Tablet"):
		a.Device = "Tablet"
	case strings.Contains(ua, "Mobile") || strings.Contains(ua, "Android"):
		a.Device = "Mobile"
	case a.OS != "":
		a.Device = "Desktop"
	}
	return a
}
