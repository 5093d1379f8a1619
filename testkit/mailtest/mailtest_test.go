package mailtest_test

import (
	"net/smtp"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tether-id/tether/testkit/mailtest"
)

func TestFirstLink(t *testing.T) {
	tests := []struct {
		name, text, html, want string
	}{
		{"text", "Open\nhttps://x.example/v?t=1&a=2\nnow.", "", "https://x.example/v?t=1&a=2"},
		{"text, trailing dot", "Go to https://x.example/v.", "", "https://x.example/v"},
		{"html only", "", `<a href="https://x.example/v?t=1&amp;a=2">go</a>`, "https://x.example/v?t=1&a=2"},
		{"text wins", "see http://a.example/1", `<a href="https://b.example/2">`, "http://a.example/1"},
		{"none", "no link", "<p>none</p>", ""},
	}
	for _, tc := range tests {
		m := &mailtest.Message{Text: tc.text, HTML: tc.html}
		if got := m.Link(); got != tc.want {
			t.Errorf("%s: Link() = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestRecipient(t *testing.T) {
	a, b := mailtest.Recipient(t), mailtest.Recipient(t)
	if a == b {
		t.Errorf("two calls gave %q", a)
	}
	if !regexp.MustCompile(`^testrecipient\.[a-z0-9]{8}@example\.test$`).MatchString(a) {
		t.Errorf("Recipient = %q", a)
	}
}

// TestStartStopRestart sends to a private server, stops it (the port
// refuses), restarts it on the same port and finds the first message
// still there.
func TestStartStopRestart(t *testing.T) {
	t.Parallel()
	mp := mailtest.Start(t, mailtest.Options{})
	to := mailtest.Recipient(t)
	send := func(subject string) error {
		return smtp.SendMail(mp.SMTP, nil, "from@example.test", []string{to},
			[]byte("To: "+to+"\r\nSubject: "+subject+"\r\n\r\nSee https://x.example/a?b=c\r\n"))
	}
	if err := send("one"); err != nil {
		t.Fatal(err)
	}
	got := mp.Wait(t, to, 10*time.Second)
	if got.Subject != "one" || got.Link() != "https://x.example/a?b=c" {
		t.Errorf("got %+v", got)
	}

	mp.Stop(t)
	if err := send("lost"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("send to a stopped server: %v", err)
	}
	mp.Restart(t)
	if err := send("two"); err != nil {
		t.Fatal(err)
	}
	if n := len(mp.To(t, to)); n != 2 {
		t.Errorf("%d messages after the restart, want 2", n)
	}
	mp.DeleteTo(t, to)
	if n := len(mp.To(t, to)); n != 0 {
		t.Errorf("%d messages after DeleteTo", n)
	}
	if err := send("three"); err != nil {
		t.Fatal(err)
	}
	mp.Wait(t, to, 10*time.Second)
	mp.DeleteAll(t)
	if n := len(mp.List(t)); n != 0 {
		t.Errorf("%d messages after DeleteAll", n)
	}
}
