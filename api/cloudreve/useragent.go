package cloudreve

import "strings"

// agent is what login_activity shows of a User-Agent.
type agent struct{ Browser, OS, Device string }

// parseUserAgent recognises the common browsers and systems well enough
// for a sign-in history; it is not a full User-Agent parser.
func parseUserAgent(ua string) agent {
	var a agent
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
