package cloudreve

import "testing"

func TestParseUserAgent(t *testing.T) {
	for _, tc := range []struct {
		ua   string
		want agent
	}{
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36", agent{"Chrome", "Linux", "Desktop"}},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0", agent{"Edge", "Windows", "Desktop"}},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15", agent{"Safari", "macOS", "Desktop"}},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", agent{"Safari", "iOS", "Mobile"}},
		{"Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", agent{"Safari", "iPadOS", "Tablet"}},
		{"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36", agent{"Chrome", "Android", "Mobile"}},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0", agent{"Firefox", "Windows", "Desktop"}},
		{"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 OPR/111.0.0.0", agent{"Opera", "ChromeOS", "Desktop"}},
		{"curl/8.5.0", agent{"curl", "", ""}},
		{"Go-http-client/1.1", agent{"Go", "", ""}},
		{"okhttp/4.12.0", agent{"OkHttp", "", ""}},
		{"", agent{}},
	} {
		if got := parseUserAgent(tc.ua); got != tc.want {
			t.Errorf("parseUserAgent(%q) = %+v, want %+v", tc.ua, got, tc.want)
		}
	}
}
