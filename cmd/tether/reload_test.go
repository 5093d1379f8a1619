package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tether-id/tether/testkit/testenv"
)

// served is a `tether serve` running in-process.
type served struct {
	addr   string
	stderr *testenv.SyncBuffer
	stop   func() int // shuts it down and returns its exit code
}

func startServe(t *testing.T, args ...string) *served {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	s := &served{stderr: &testenv.SyncBuffer{}}
	e := &env{ctx: ctx, stdin: strings.NewReader(""), stdout: io.Discard, stderr: s.stderr,
		listening: func(a, _ string) { addrc <- a }}
	done := make(chan int, 1)
	go func() { done <- e.exit(e.dispatch(append([]string{"serve"}, args...))) }()
	select {
	case s.addr = <-addrc:
	case code := <-done:
		cancel()
		t.Fatalf("serve exited early with %d: %s", code, s.stderr.String())
	}
	var once bool
	var code int
	s.stop = func() int {
		if !once {
			once = true
			cancel()
			select {
			case code = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("serve did not shut down")
			}
		}
		return code
	}
	t.Cleanup(func() { s.stop() })
	return s
}

// logLines are the JSON log lines with message msg.
func (s *served) logLines(msg string) []map[string]any {
	var out []map[string]any
	for _, l := range strings.Split(s.stderr.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// waitLog waits for the nth log line with message msg and returns it:
// a reload is asynchronous to the signal that asks for it.
func (s *served) waitLog(t *testing.T, msg string, n int) map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if lines := s.logLines(msg); len(lines) >= n {
			return lines[n-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line %d %q within 10s:\n%s", n, msg, s.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// site returns the providers Cloudreve's login configuration lists, and
// the CORS origin allowed to origin.
func (s *served) site(t *testing.T, origin string) ([]string, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+s.addr+"/api/v4/site/config/login", nil)
	req.Header.Set("Origin", origin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct {
		Data struct {
			Providers []struct{ Name string } `json:"providers"`
		} `json:"data"`
	}
	json.NewDecoder(resp.Body).Decode(&env)
	var names []string
	for _, p := range env.Data.Providers {
		names = append(names, p.Name)
	}
	return names, resp.Header.Get("Access-Control-Allow-Origin")
}

// loginPage is the sign-in page.
func (s *served) loginPage(t *testing.T) string {
	t.Helper()
	resp, err := http.Get("http://" + s.addr + "/login")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// authorize sends an app's authorization request for client and returns
// the status: a redirect to the sign-in page for a known app, tether's
// error page for an unknown one.
func (s *served) authorize(t *testing.T, client string) int {
	t.Helper()
	q := url.Values{"client_id": {client}, "redirect_uri": {"https://app.example/cb"}, "response_type": {"code"}, "scope": {"openid"}}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get("http://" + s.addr + "/oauth2/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestServeReload runs `tether serve` and changes its configuration file
// under it: `tether reload --pid-file` applies a new provider, client,
// CORS origin and registration setting; a file with a mistake, sent by
// SIGHUP, keeps the running configuration and the log names the key
// (`tether reload --config` refuses to signal for it); a change to
// listen waits for a restart while the rest, a provider's secret read
// again from its file and the log level, applies. The pid file is there
// while the server runs, and gone after.
func TestServeReload(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "tether.pid")
	secretFile := filepath.Join(dir, "one_secret")
	write := func(p, content string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(secretFile, "first-secret\n")
	one := "  - { id: one, kind: oidc, name: One, issuer: https://one.example, client_id: x, client_secret_file: " + secretFile + " }\n"
	two := "  - { id: two, kind: oidc, name: Two, issuer: https://two.example, client_id: x, client_secret: y }\n"
	app := func(id string) string {
		return "  - { id: " + id + ", secret: " + id + "-secret-0123456789, redirect_uris: [https://app.example/cb] }\n"
	}
	cfg := writeConfig(t, "pid_file: "+pidFile+"\ncors: { allowed_origins: [https://old.example] }\nproviders:\n"+one+"clients:\n"+app("gone"))
	base, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	head := string(base[:strings.Index(string(base), "pid_file:")]) // public_url, listen, database, secrets
	rewrite := func(extra string) { write(cfg, head+"pid_file: "+pidFile+"\n"+extra) }

	s := startServe(t, "--config", cfg)
	if pid, err := readPIDFile(pidFile); err != nil || pid != os.Getpid() {
		t.Fatalf("pid file: %d, %v; want %d", pid, err, os.Getpid())
	}
	if names, allowed := s.site(t, "https://old.example"); !slices.Equal(names, []string{"One"}) || allowed != "https://old.example" {
		t.Fatalf("before: providers %v, CORS %q", names, allowed)
	}
	if page := s.loginPage(t); strings.Contains(page, `value="two"`) || !strings.Contains(page, `href="/signup"`) {
		t.Fatalf("the sign-in page before the reload:\n%s", page)
	}

	// 1. A new provider, client, origin; password sign-up off.
	rewrite("registration: { password: false }\ncors: { allowed_origins: [https://new.example] }\nproviders:\n" + one + two + "clients:\n" + app("fresh"))
	code, out, stderr := tether(t, "", nil, "reload", "--pid-file", pidFile)
	if code != 0 || !strings.Contains(out, "process "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("tether reload --pid-file: exit %d\n%s%s", code, out, stderr)
	}
	if l := s.waitLog(t, "configuration reloaded", 1); l["changed"] != "registration,cors,providers,clients" {
		t.Errorf("reload log line: %v", l)
	}
	if names, allowed := s.site(t, "https://new.example"); !slices.Equal(names, []string{"One", "Two"}) || allowed != "https://new.example" {
		t.Errorf("after the reload: providers %v, CORS %q", names, allowed)
	}
	if _, allowed := s.site(t, "https://old.example"); allowed != "" {
		t.Errorf("the old origin still gets CORS headers")
	}
	if s := s.authorize(t, "fresh"); s != http.StatusSeeOther {
		t.Errorf("the new client's authorization request: HTTP %d, want a redirect to sign in", s)
	}
	if s := s.authorize(t, "gone"); s != http.StatusBadRequest {
		t.Errorf("the removed client's authorization request: HTTP %d, want 400", s)
	}
	if page := s.loginPage(t); !strings.Contains(page, `value="two"`) || strings.Contains(page, `href="/signup"`) {
		t.Errorf("the sign-in page after the reload:\n%s", page)
	}

	// 2. A mistake: `tether reload --config` shows it and signals nothing;
	// SIGHUP makes the server read it, refuse it and say why.
	rewrite("providers:\n" + one + "  - { id: three, kind: saml, client_id: x, client_secret: y }\n")
	if code, _, stderr := tether(t, "", nil, "reload", "--config", cfg); code != 1 || !strings.Contains(stderr, "providers[1].kind") || !strings.Contains(stderr, "not asked to reload") {
		t.Errorf("tether reload --config with a mistake: exit %d, %s", code, stderr)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if l := s.waitLog(t, "configuration not reloaded; the running configuration stays", 1); !strings.Contains(l["err"].(string), "providers[1].kind: want logto, qq or oidc") {
		t.Errorf("the refusal does not name the key: %v", l)
	}
	if names, allowed := s.site(t, "https://new.example"); !slices.Equal(names, []string{"One", "Two"}) || allowed != "https://new.example" {
		t.Errorf("after a refused reload: providers %v, CORS %q", names, allowed)
	}

	// 3. listen needs a restart; the rest applies: the providers changed
	// only in the secret read again from its file, and log.level warn
	// silences the request lines.
	write(secretFile, "second-secret\n")
	head = strings.Replace(head, "listen: 127.0.0.1:0", "listen: 127.0.0.1:1", 1)
	rewrite("log: { level: warn }\ncors: { allowed_origins: [https://third.example] }\nproviders:\n" + one + two + "clients:\n" + app("fresh"))
	if code, out, stderr := tether(t, "", nil, "reload", "--config", cfg); code != 0 {
		t.Fatalf("tether reload --config: exit %d\n%s%s", code, out, stderr)
	}
	if l := s.waitLog(t, "configuration reloaded", 2); l["changed"] != "log,registration,cors,providers" {
		t.Errorf("reload log line: %v", l)
	}
	if l := s.waitLog(t, "configuration changes need a restart; the running values stay until then", 1); l["keys"] != "listen" {
		t.Errorf("restart log line: %v", l)
	}
	requests := len(s.logLines("request"))
	if names, allowed := s.site(t, "https://third.example"); !slices.Equal(names, []string{"One", "Two"}) || allowed != "https://third.example" {
		t.Errorf("after the third reload: providers %v, CORS %q", names, allowed)
	}
	if n := len(s.logLines("request")); n != requests {
		t.Errorf("log.level warn still logs requests")
	}

	if code := s.stop(); code != 0 {
		t.Fatalf("serve exited with %d: %s", code, s.stderr.String())
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("the pid file is left after shutdown: %v", err)
	}
	if code, _, stderr := tether(t, "", nil, "reload", "--pid-file", pidFile); code != 1 || !strings.Contains(stderr, "is tether serve running?") {
		t.Errorf("reload without a server: exit %d, %s", code, stderr)
	}
}

// TestServePIDFileFlag: --pid-file writes the process id, over the
// pid_file key, and usage errors of tether reload.
func TestServePIDFileFlag(t *testing.T) {
	dir := t.TempDir()
	flagFile, keyFile := filepath.Join(dir, "flag.pid"), filepath.Join(dir, "key.pid")
	cfg := writeConfig(t, "pid_file: "+keyFile+"\n")
	s := startServe(t, "--config", cfg, "--pid-file", flagFile)
	if pid, err := readPIDFile(flagFile); err != nil || pid != os.Getpid() {
		t.Errorf("--pid-file: %d, %v", pid, err)
	}
	if _, err := os.Stat(keyFile); !os.IsNotExist(err) {
		t.Errorf("pid_file was written although --pid-file overrides it")
	}
	if code := s.stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if _, err := os.Stat(flagFile); !os.IsNotExist(err) {
		t.Errorf("the pid file is left after shutdown: %v", err)
	}
	if code, _, stderr := tether(t, "", nil, "reload"); code != 2 || !strings.Contains(stderr, "--config FILE or --pid-file FILE is required") {
		t.Errorf("reload without flags: exit %d, %s", code, stderr)
	}
	if code, _, stderr := tether(t, "", nil, "reload", "--config", writeConfig(t, "")); code != 1 || !strings.Contains(stderr, "has no pid_file") {
		t.Errorf("reload --config without pid_file: exit %d, %s", code, stderr)
	}
	junk := filepath.Join(dir, "junk.pid")
	os.WriteFile(junk, []byte("tether\n"), 0o600)
	if code, _, stderr := tether(t, "", nil, "reload", "--pid-file", junk); code != 1 || !strings.Contains(stderr, "want a process id") {
		t.Errorf("reload with a junk pid file: exit %d, %s", code, stderr)
	}
}
