package tethertest

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tether-id/tether/config"
	"github.com/tether-id/tether/testkit/mailtest"
)

// SMTP is the smtp block that sends to mp: plain SMTP on loopback, as
// the configuration would fill it in.
func SMTP(mp *mailtest.Mailpit) config.SMTP {
	return config.SMTP{Host: mp.Host(), Port: mp.Port(), TLS: "none", From: "tether <no-reply@example.test>",
		Timeout: config.Duration(10 * time.Second)}
}

// TakeMail waits for a message to address on mp, returns the newest
// with its link (nil when it has none), and deletes every message to
// address, so that the next call waits for the next one.
func TakeMail(t testing.TB, mp *mailtest.Mailpit, address string) (*mailtest.Message, *url.URL) {
	t.Helper()
	msg := mp.Wait(t, address, 20*time.Second)
	mp.DeleteTo(t, address)
	for _, l := range linkRE.FindAllString(msg.Text, -1) {
		if u, err := url.Parse(strings.TrimRight(l, ".,;:)")); err == nil && u.Query().Get("id") != "" {
			return msg, u
		}
	}
	return msg, nil
}

// linkRE finds the links of a text body; the action link is the one with
// an account id (the site's address is named too).
var linkRE = regexp.MustCompile(`https?://[^\s<>"']+`)
