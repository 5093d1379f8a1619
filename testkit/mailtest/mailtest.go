// Package mailtest gives tests a real SMTP server, mailpit, and reads what
// it received through mailpit's HTTP API.
//
// Shared is the server scripts/test started: plain SMTP, any recipient,
// used by every package's tests at once, so each test sends to its own
// Recipient and reads only that address's mail. Start runs a private
// server for tests that need TLS, authentication, refused recipients or a
// server that goes down and comes back on the same port.
package mailtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tether-id/tether/testkit/testenv"
)

// Mailpit is a running mailpit server.
type Mailpit struct {
	// SMTP is the SMTP server's host:port (127.0.0.1:port).
	SMTP string
	// API is the base URL of the HTTP API (http://127.0.0.1:port).
	API string

	client *http.Client
	proc   *process // nil for the shared server
}

// Shared returns the mailpit server scripts/test started
// (TETHERTEST_MAILPIT_SMTP, TETHERTEST_MAILPIT_API). Without one the test
// is skipped, or failed under CI=true.
func Shared(t testing.TB) *Mailpit {
	t.Helper()
	smtp := testenv.Need(t, testenv.MailpitSMTP)
	api := testenv.Need(t, testenv.MailpitAPI)
	return &Mailpit{SMTP: smtp, API: strings.TrimRight(api, "/"), client: &http.Client{Timeout: 10 * time.Second}}
}

// Host returns the SMTP server's host.
func (m *Mailpit) Host() string { h, _, _ := net.SplitHostPort(m.SMTP); return h }

// Port returns the SMTP server's port.
func (m *Mailpit) Port() int {
	_, p, _ := net.SplitHostPort(m.SMTP)
	var n int
	fmt.Sscan(p, &n)
	return n
}

// Recipient returns an address no other test uses, derived from the
// test's name, under example.test (RFC 2606: never a real domain).
func Recipient(t testing.TB) string {
	t.Helper()
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r - 'A' + 'a'
		}
		return '.'
	}, t.Name())
	name = strings.Trim(regexp.MustCompile(`\.+`).ReplaceAllString(name, "."), ".")
	if len(name) > 40 {
		name = name[len(name)-40:]
	}
	return strings.TrimLeft(name+"."+strings.ToLower(rand.Text()[:8]), ".") + "@example.test"
}

// Address is a mailbox in mailpit's JSON.
type Address struct {
	Name    string
	Address string
}

// Summary is one message in a list.
type Summary struct {
	ID        string // mailpit's id, for Get
	MessageID string
	From      *Address
	To        []Address
	Subject   string
	Created   time.Time
	Snippet   string
}

// Message is one message as mailpit parsed it: Subject decoded, Text and
// HTML decoded from their transfer encodings.
type Message struct {
	ID        string
	MessageID string
	From      *Address
	To        []Address
	Subject   string
	Date      time.Time
	Text      string
	HTML      string
	Username  string // the SMTP AUTH user, if any
	Size      int
}

// Link returns the first http(s) link of the text body, or else of the
// HTML body's href attributes, or "".
func (msg *Message) Link() string {
	if l := FirstLink(msg.Text); l != "" {
		return l
	}
	return FirstHref(msg.HTML)
}

var (
	linkRE = regexp.MustCompile(`https?://[^\s<>"']+`)
	hrefRE = regexp.MustCompile(`(?i)href\s*=\s*"(https?://[^"]*)"`)
)

// FirstLink returns the first http(s) URL in plain text, or "".
func FirstLink(text string) string {
	return strings.TrimRight(linkRE.FindString(text), ".,;:)")
}

// FirstHref returns the first http(s) href in HTML, entities decoded, or
// "".
func FirstHref(htmlBody string) string {
	if m := hrefRE.FindStringSubmatch(htmlBody); m != nil {
		return html.UnescapeString(m[1])
	}
	return ""
}

// List returns the newest messages (up to 1000), newest first.
func (m *Mailpit) List(t testing.TB) []Summary {
	t.Helper()
	var out struct{ Messages []Summary }
	m.call(t, http.MethodGet, "/api/v1/messages?limit=1000", &out)
	return out.Messages
}

// To returns the messages sent to addr, newest first. mailpit's search
// matches substrings; the list is filtered to the exact address.
func (m *Mailpit) To(t testing.TB, addr string) []Summary {
	t.Helper()
	var out struct{ Messages []Summary }
	m.call(t, http.MethodGet, "/api/v1/search?limit=1000&query="+url.QueryEscape(`to:"`+addr+`"`), &out)
	var mine []Summary
	for _, s := range out.Messages {
		for _, a := range s.To {
			if strings.EqualFold(a.Address, addr) {
				mine = append(mine, s)
				break
			}
		}
	}
	return mine
}

// Get returns one message by mailpit's id.
func (m *Mailpit) Get(t testing.TB, id string) *Message {
	t.Helper()
	var msg Message
	m.call(t, http.MethodGet, "/api/v1/message/"+url.PathEscape(id), &msg)
	return &msg
}

// Headers returns a message's header fields as sent (encoded words left
// encoded), by canonical name.
func (m *Mailpit) Headers(t testing.TB, id string) map[string][]string {
	t.Helper()
	var h map[string][]string
	m.call(t, http.MethodGet, "/api/v1/message/"+url.PathEscape(id)+"/headers", &h)
	return h
}

// Raw returns a message's source as received.
func (m *Mailpit) Raw(t testing.TB, id string) []byte {
	t.Helper()
	var b []byte
	m.call(t, http.MethodGet, "/api/v1/message/"+url.PathEscape(id)+"/raw", &b)
	return b
}

// Wait waits up to timeout for a message to addr and returns the newest.
func (m *Mailpit) Wait(t testing.TB, addr string, timeout time.Duration) *Message {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if got := m.To(t, addr); len(got) > 0 {
			return m.Get(t, got[0].ID)
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailtest: no message to %s within %s", addr, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// DeleteAll deletes every message. On the shared server it deletes other
// tests' mail too: use it only on a server of your own.
func (m *Mailpit) DeleteAll(t testing.TB) {
	t.Helper()
	m.call(t, http.MethodDelete, "/api/v1/messages", nil)
}

// DeleteTo deletes the messages sent to addr (and to addresses that
// contain it), which is safe on the shared server.
func (m *Mailpit) DeleteTo(t testing.TB, addr string) {
	t.Helper()
	m.call(t, http.MethodDelete, "/api/v1/search?query="+url.QueryEscape(`to:"`+addr+`"`), nil)
}

// call sends a request to the API and decodes a JSON answer into out (or
// copies it into *[]byte).
func (m *Mailpit) call(t testing.TB, method, path string, out any) {
	t.Helper()
	req, err := http.NewRequest(method, m.API+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := m.client.Do(req)
	if err != nil {
		t.Fatalf("mailtest: %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("mailtest: %s %s: %v", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("mailtest: %s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(body))
	}
	switch out := out.(type) {
	case nil:
	case *[]byte:
		*out = body
	default:
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("mailtest: %s %s: %v in %.200q", method, path, err, body)
		}
	}
}

// Options configure a private server.
type Options struct {
	// Cert makes the server offer STARTTLS with this certificate.
	Cert *Cert
	// RequireSTARTTLS refuses mail from clients that do not use
	// STARTTLS. Needs Cert.
	RequireSTARTTLS bool
	// ImplicitTLS speaks TLS from the first byte (like port 465). Needs
	// Cert.
	ImplicitTLS bool
	// Auth requires SMTP AUTH (PLAIN or LOGIN) with "user:password".
	// mailpit then also requires TLS, unless AuthAllowInsecure.
	Auth string
	// AuthAllowInsecure offers AUTH without TLS.
	AuthAllowInsecure bool
	// AllowedRecipients is a regular expression; other recipients are
	// refused with 550.
	AllowedRecipients string
	// Chaos sets mailpit's failure triggers, for example
	// "Recipient:451:100" (every RCPT gets 451).
	Chaos string
}

// startTimeout bounds mailpit's start; it is a safety net, not a
// measurement.
const startTimeout = 30 * time.Second

// Start runs a mailpit of the test's own on free ports of 127.0.0.1 and
// stops it when the test ends. It needs TETHERTEST_MAILPIT_BIN (set by
// scripts/test): without it the test is skipped, or failed under CI.
func Start(t testing.TB, opts Options) *Mailpit {
	t.Helper()
	bin := testenv.Need(t, testenv.MailpitBin)
	if _, err := os.Stat(bin); err != nil {
		testenv.Missing(t, testenv.MailpitBin+": "+err.Error())
	}
	dir := t.TempDir()
	args := []string{
		"--database", filepath.Join(dir, "mailpit.db"),
		"--disable-version-check", "--smtp-disable-rdns",
	}
	if opts.Cert != nil {
		args = append(args, "--smtp-tls-cert", opts.Cert.CertFile, "--smtp-tls-key", opts.Cert.KeyFile)
	}
	if opts.RequireSTARTTLS {
		args = append(args, "--smtp-require-starttls")
	}
	if opts.ImplicitTLS {
		args = append(args, "--smtp-require-tls")
	}
	if opts.Auth != "" {
		f := filepath.Join(dir, "smtp-auth")
		if err := os.WriteFile(f, []byte(opts.Auth+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--smtp-auth-file", f)
	}
	if opts.AuthAllowInsecure {
		args = append(args, "--smtp-auth-allow-insecure")
	}
	if opts.AllowedRecipients != "" {
		args = append(args, "--smtp-allowed-recipients", opts.AllowedRecipients)
	}
	if opts.Chaos != "" {
		args = append(args, "--enable-chaos", "--chaos-triggers", opts.Chaos)
	}

	var m *Mailpit
	for attempt := 0; ; attempt++ {
		smtpAddr, apiAddr := freePort(t), freePort(t)
		p := &process{bin: bin, args: slices.Concat(args, []string{"--smtp", smtpAddr, "--listen", apiAddr})}
		m = &Mailpit{SMTP: smtpAddr, API: "http://" + apiAddr, client: &http.Client{Timeout: 10 * time.Second}, proc: p}
		err := m.start()
		if err == nil {
			break
		}
		// A port taken between freePort and the start is worth another
		// try; anything else is reported at once.
		if attempt == 4 || !strings.Contains(p.log.String(), "address already in use") {
			t.Fatalf("mailtest: %v\nmailpit output:\n%s", err, p.log.String())
		}
	}
	t.Cleanup(func() {
		m.proc.stop()
		if t.Failed() {
			t.Logf("mailpit %s output:\n%s", m.SMTP, m.proc.log.String())
		}
	})
	return m
}

// Stop stops a server of the test's own, as if the mail server went
// down: connections to its SMTP port are refused until Restart.
func (m *Mailpit) Stop(t testing.TB) {
	t.Helper()
	if m.proc == nil {
		t.Fatal("mailtest: Stop is only for a server from Start")
	}
	m.proc.stop()
}

// Restart starts a stopped server again on the same ports, with the
// messages it had.
func (m *Mailpit) Restart(t testing.TB) {
	t.Helper()
	if m.proc == nil {
		t.Fatal("mailtest: Restart is only for a server from Start")
	}
	if err := m.start(); err != nil {
		t.Fatalf("mailtest: restart: %v\nmailpit output:\n%s", err, m.proc.log.String())
	}
}

// process is one mailpit child process, restartable with the same
// arguments.
type process struct {
	bin  string
	args []string
	log  testenv.SyncBuffer
	cmd  *exec.Cmd
	done chan struct{}
}

func (m *Mailpit) start() error {
	p := m.proc
	p.cmd = exec.Command(p.bin, p.args...)
	p.cmd.Stdout, p.cmd.Stderr = &p.log, &p.log
	if err := p.cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", p.bin, err)
	}
	p.done = make(chan struct{})
	go func() { p.cmd.Wait(); close(p.done) }()

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for {
		if m.ready(ctx) {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("mailpit exited at start: %v", p.cmd.ProcessState)
		case <-ctx.Done():
			p.stop()
			return fmt.Errorf("mailpit not ready within %s", startTimeout)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ready reports whether both the API and the SMTP port answer.
func (m *Mailpit) ready(ctx context.Context) bool {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.API+"/readyz", nil)
	resp, err := m.client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	c, err := net.DialTimeout("tcp", m.SMTP, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// stop ends the process (SIGTERM, then SIGKILL after 10 s) and waits for
// it; a stopped process is left alone.
func (p *process) stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// freePort returns 127.0.0.1:port for a port nothing listened on a moment
// ago.
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
