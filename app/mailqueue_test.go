package app_test

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tether-id/tether/config"
	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/testkit/mailtest"
	"github.com/tether-id/tether/testkit/pgtest"
	"github.com/tether-id/tether/testkit/tethertest"
)

// TestMailSurvivesOutageAndRestart: with the mail server down when a
// message is asked for, the request still answers at once; the message
// waits in the database, retried with backoff; tether restarts on the
// same database while the server is still down; once the server is back,
// the message goes out (well within a minute), once, with the Message-ID
// it was given when it was written.
func TestMailSurvivesOutageAndRestart(t *testing.T) {
	mp := mailtest.Start(t, mailtest.Options{})
	db := "sqlite://" + filepath.Join(t.TempDir(), "tether.db")
	start := func() *tethertest.Server {
		return tethertest.Start(t, tethertest.Options{Database: db, PublicMetrics: true,
			Configure: func(c *config.Config) { c.SMTP = tethertest.SMTP(mp) }})
	}
	first := start()
	address := mailtest.Recipient(t)
	mp.Stop(t)

	c := first.Client(t)
	began := time.Now()
	env := c.Cloudreve("POST", "/api/v4/user", map[string]string{"email": address, "password": "correct horse"}, "")
	if env.Code != 0 {
		t.Fatalf("sign-up: %s", env.Raw)
	}
	if d := time.Since(began); d > 2*time.Second {
		t.Errorf("sign-up took %s with the mail server down", d)
	}
	// A few attempts fail; the message stays queued.
	waitFor(t, 15*time.Second, "two failed attempts", func() bool {
		return strings.Contains(metrics(t, first), `tether_mail_total{kind="verify_email",outcome="retry"} 2`)
	})
	if !strings.Contains(metrics(t, first), "tether_mail_queued 1") {
		t.Errorf("metrics:\n%s", grep(metrics(t, first), "tether_mail"))
	}

	// tether stops and starts again on the same database.
	first.Close()
	second := start()
	counts, err := second.App.Service.MailCounts(context.Background())
	if err != nil || counts.Queued != 1 {
		t.Fatalf("after the restart: %+v %v", counts, err)
	}

	mp.Restart(t)
	back := time.Now()
	msg := mp.Wait(t, address, time.Minute)
	if d := time.Since(back); d > 35*time.Second {
		t.Errorf("the message went out %s after the mail server came back", d)
	}
	if !strings.Contains(msg.Text, "/session/activate?id=") {
		t.Errorf("message:\n%s", msg.Text)
	}
	waitFor(t, 10*time.Second, "the sent count", func() bool {
		return strings.Contains(metrics(t, second), `tether_mail_total{kind="verify_email",outcome="sent"} 1`)
	})
	time.Sleep(500 * time.Millisecond)
	if n := len(mp.To(t, address)); n != 1 {
		t.Errorf("%d messages arrived, want 1", n)
	}
	if !strings.Contains(metrics(t, second), "tether_mail_queued 0") {
		t.Errorf("metrics:\n%s", grep(metrics(t, second), "tether_mail"))
	}
}

// TestMailPermanentFailure: a recipient the server refuses fails for good
// at the first attempt.
func TestMailPermanentFailure(t *testing.T) {
	mp := mailtest.Start(t, mailtest.Options{AllowedRecipients: `@allowed\.test$`})
	srv := tethertest.Start(t, tethertest.Options{PublicMetrics: true,
		Configure: func(c *config.Config) { c.SMTP = tethertest.SMTP(mp) }})
	env := srv.Client(t).Cloudreve("POST", "/api/v4/user", map[string]string{"email": "refused@example.test", "password": "correct horse"}, "")
	if env.Code != 0 {
		t.Fatal(string(env.Raw))
	}
	waitFor(t, 15*time.Second, "the failure", func() bool {
		return strings.Contains(metrics(t, srv), `tether_mail_total{kind="verify_email",outcome="failed"} 1`)
	})
	c, _ := srv.App.Service.MailCounts(context.Background())
	if c.Failed != 1 || c.Queued != 0 {
		t.Errorf("counts %+v", c)
	}
}

// TestMailInstancesShareQueue: two instances on one PostgreSQL database,
// each with a worker, and messages queued on both: every message goes
// out exactly once.
func TestMailInstancesShareQueue(t *testing.T) {
	mp := mailtest.Start(t, mailtest.Options{})
	db := pgtest.URL(t)
	var servers []*tethertest.Server
	for range 2 {
		servers = append(servers, tethertest.Start(t, tethertest.Options{Database: db,
			Configure: func(c *config.Config) { c.SMTP = tethertest.SMTP(mp) }}))
	}
	const n = 12
	var addresses []string
	for i := range n {
		a := mailtest.Recipient(t)
		addresses = append(addresses, a)
		svc := servers[i%2].App.Service
		if _, err := svc.SignUp(context.Background(), core.NewUser{Email: a, Password: "correct horse"}, core.Client{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range addresses {
		mp.Wait(t, a, 30*time.Second)
	}
	time.Sleep(time.Second) // a duplicate would have arrived by now
	for _, a := range addresses {
		if got := len(mp.To(t, a)); got != 1 {
			t.Errorf("%s got %d messages", a, got)
		}
	}
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func metrics(t *testing.T, s *tethertest.Server) string {
	t.Helper()
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func grep(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
