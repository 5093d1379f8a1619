package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestUserDelete: `tether user delete` asks first (unless --yes), and
// the account is gone afterwards; `user list --json` shows who is
// verified.
func TestUserDelete(t *testing.T) {
	cfg := writeConfig(t, "")
	run := func(stdin string, args ...string) (int, string, string) {
		t.Helper()
		return tether(t, stdin, nil, append(args, "--config", cfg)...)
	}
	for _, args := range [][]string{
		{"user", "add", "--email", "keep@example.com", "--email-verified"},
		{"user", "add", "--email", "gone@example.com"},
		{"user", "add", "--email", "quick@example.com"},
	} {
		if code, _, stderr := run("", args...); code != 0 {
			t.Fatalf("%v: %s", args, stderr)
		}
	}
	_, out, _ := run("", "user", "list", "--json")
	if !strings.Contains(out, `"email":"keep@example.com","email_verified":true`) || !strings.Contains(out, `"email":"gone@example.com","email_verified":false`) {
		t.Errorf("list --json:\n%s", out)
	}
	if code, _, stderr := run("no\n", "user", "delete", "--email", "gone@example.com"); code != 1 || !strings.Contains(stderr, "not deleted") {
		t.Fatalf("declined: %d %q", code, stderr)
	}
	if code, out, stderr := run("yes\n", "user", "delete", "--email", "GONE@example.com"); code != 0 || !strings.Contains(out, "Type yes") || !strings.Contains(out, "deleted user") {
		t.Fatalf("confirmed: %d %q %q", code, out, stderr)
	}
	if code, _, stderr := run("", "user", "delete", "--email", "quick@example.com", "--yes"); code != 0 {
		t.Fatalf("--yes: %s", stderr)
	}
	if code, _, stderr := run("", "user", "delete", "--email", "gone@example.com", "--yes"); code != 1 || !strings.Contains(stderr, "no such user") {
		t.Fatalf("deleted twice: %d %q", code, stderr)
	}
	if code, _, _ := run("", "user", "delete", "--yes"); code != 2 {
		t.Fatalf("no selector: exit %d", code)
	}
	_, out, _ = run("", "user", "list", "--json")
	if strings.Count(strings.TrimSpace(out), "\n") != 0 || !strings.Contains(out, "keep@example.com") {
		t.Errorf("after deleting two of three:\n%s", out)
	}
}

func TestRequireVerifiedNeedsMail(t *testing.T) {
	code, _, stderr := tether(t, "", nil, "serve", "--config", writeConfig(t, "registration: { require_verified_email: true }\n"))
	if code != 1 || !strings.Contains(stderr, "registration.require_verified_email: needs a mail server") {
		t.Fatalf("exit %d, %q", code, stderr)
	}
}

// TestDevOutbox: `tether dev` needs no mail server: a sign-up's message
// is on the outbox page, with its link, and in the log; the link opens
// the verification page.
func TestDevOutbox(t *testing.T) {
	base, stdout, stderr := startDev(t)
	if !strings.Contains(stdout.String(), "Mail outbox:     "+base+"/demo/outbox") {
		t.Errorf("the banner does not name the outbox:\n%s", stdout.String())
	}
	resp, err := http.Post(base+"/api/v4/user", "application/json", strings.NewReader(`{"email":"dev@example.test","password":"correct horse"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var msgs []struct{ To, Kind, Link string }
	deadline := time.Now().Add(10 * time.Second)
	for len(msgs) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("nothing in the outbox; log:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
		r, err := http.Get(base + "/demo/outbox?format=json")
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(r.Body).Decode(&msgs)
		r.Body.Close()
	}
	m := msgs[0]
	if m.To != "dev@example.test" || m.Kind != "verify_email" || !strings.HasPrefix(m.Link, base+"/session/activate?") {
		t.Fatalf("outbox: %+v", msgs)
	}
	if !strings.Contains(stderr.String(), url.QueryEscape(m.Link)) && !strings.Contains(stderr.String(), m.Link) {
		t.Errorf("the log does not show the link:\n%s", stderr.String())
	}
	r, err := http.Get(m.Link)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 200 || !strings.Contains(string(body), "dev@example.test") {
		t.Errorf("the link's page: HTTP %d\n%s", r.StatusCode, body)
	}
}
