package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tether-id/tether/testkit/testenv"
)

// tether runs a command in-process and returns its exit code and output.
func tether(t *testing.T, stdin string, environ []string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb testenv.SyncBuffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb, environ)
	return code, out.String(), errb.String()
}

const (
	testSecret = "0123456789abcdef0123456789abcdef"
	testEncKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
)

func writeConfig(t *testing.T, extra string) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "tether.yaml")
	y := "public_url: http://127.0.0.1:5212\nlisten: 127.0.0.1:0\ndatabase: sqlite://" + filepath.Join(dir, "t.db") +
		"\nsecret_key: " + testSecret + "\nencryption_key: " + testEncKey + "\n" + extra
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigErrorsStopStartup(t *testing.T) {
	tests := []struct {
		name  string
		extra string
		env   []string
		want  string
	}{
		{"unknown key", "tokns: {}\n", nil, `tokns: unknown key (did you mean "tokens"?)`},
		{"bad duration", "tokens: { access_ttl: forever }\n", nil, `tokens.access_ttl: invalid duration "forever"`},
		{"unknown env", "", []string{"TETHER_DATABSE=x"}, "TETHER_DATABSE: unknown environment variable (did you mean TETHER_DATABASE?)"},
		{"bad provider", "providers:\n  - { id: x, kind: saml, client_id: a, client_secret: b }\n", nil, "providers[0].kind: want logto, qq or oidc"},
		{"http public_url off loopback", "", []string{"TETHER_PUBLIC_URL=http://files.example.com"}, `public_url: must be https (cookies would not be Secure over plain http), got "http://files.example.com"`},
		{"bad metrics listen", "metrics: { listen: localhost }\n", nil, `metrics.listen: want host:port, got "localhost"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := tether(t, "", tt.env, "serve", "--config", writeConfig(t, tt.extra))
			if code != 1 || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d, stderr %q; want 1 and %q", code, stderr, tt.want)
			}
		})
	}
	// Missing secret outside dev.
	dir := t.TempDir()
	p := filepath.Join(dir, "t.yaml")
	os.WriteFile(p, []byte("public_url: https://x.example\nencryption_key: "+testEncKey+"\n"), 0o600)
	if code, _, stderr := tether(t, "", nil, "serve", "--config", p); code != 1 || !strings.Contains(stderr, "secret_key: required") {
		t.Fatalf("missing secret: exit %d, %q", code, stderr)
	}
	if code, _, stderr := tether(t, "", nil, "serve"); code != 2 || !strings.Contains(stderr, "--config FILE is required") {
		t.Fatalf("no --config: exit %d, %q", code, stderr)
	}
	if code, _, stderr := tether(t, "", nil, "frobnicate"); code != 2 || !strings.Contains(stderr, `unknown command "frobnicate"`) {
		t.Fatalf("unknown command: exit %d, %q", code, stderr)
	}
}

// get answers the status of GET u.
func get(t *testing.T, u string) int {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestServeAndGracefulShutdown runs serve with metrics.listen: /metrics
// answers there and not on the public listener, which answers
// everything else; both stop on shutdown.
func TestServeAndGracefulShutdown(t *testing.T) {
	cfg := writeConfig(t, "metrics: { listen: 127.0.0.1:0 }\n")
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan [2]string, 1)
	var stderr testenv.SyncBuffer
	e := &env{ctx: ctx, stdin: strings.NewReader(""), stdout: io.Discard, stderr: &stderr,
		listening: func(a, m string) { addrc <- [2]string{a, m} }}
	done := make(chan int, 1)
	go func() { done <- e.exit(e.dispatch([]string{"serve", "--config", cfg})) }()
	var addr, metricsAddr string
	select {
	case a := <-addrc:
		addr, metricsAddr = a[0], a[1]
	case code := <-done:
		t.Fatalf("serve exited early with %d: %s", code, stderr.String())
	}
	for _, path := range []string{"/healthz", "/readyz", "/api/openapi.json"} {
		if s := get(t, "http://"+addr+path); s != 200 {
			t.Fatalf("GET %s: HTTP %d", path, s)
		}
	}
	if s := get(t, "http://"+addr+"/metrics"); s != 404 {
		t.Errorf("/metrics on the public listener: HTTP %d, want 404", s)
	}
	if s := get(t, "http://"+metricsAddr+"/metrics"); s != 200 {
		t.Errorf("/metrics on metrics.listen: HTTP %d", s)
	}
	if s := get(t, "http://"+metricsAddr+"/api/openapi.json"); s != 404 {
		t.Errorf("the metrics listener serves the API: HTTP %d", s)
	}
	// The API answers in its envelope before the shutdown.
	resp, err := http.Post("http://"+addr+"/api/v4/session/token", "application/json", strings.NewReader(`{"email":"a@b.c","password":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	var env struct{ Code int }
	json.NewDecoder(resp.Body).Decode(&env)
	resp.Body.Close()
	if env.Code != 40069 {
		t.Fatalf("sign-in of unknown user: code %d", env.Code)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited with %d after shutdown: %s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not shut down")
	}
	if _, err := net.Dial("tcp", metricsAddr); err == nil {
		t.Error("the metrics listener still accepts after shutdown")
	}
	logs := stderr.String()
	for _, want := range []string{`"msg":"tether listening"`, `"msg":"metrics listening"`, `"msg":"shutting down"`, `"msg":"request"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("JSON logs lack %s:\n%s", want, logs)
		}
	}
}

func TestUserAdmin(t *testing.T) {
	cfg := writeConfig(t, "")
	run := func(stdin string, args ...string) string {
		t.Helper()
		code, out, stderr := tether(t, stdin, nil, append(args, "--config", cfg)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		return out
	}
	if out := run("", "migrate"); !strings.Contains(out, "up to date") {
		t.Fatalf("migrate: %q", out)
	}
	run("correct horse battery\n", "user", "add", "--email", "Ann@Example.com", "--password-stdin", "--email-verified")
	run("", "user", "add", "--email", "sso@example.com")
	if code, _, stderr := tether(t, "", nil, "user", "add", "--email", "ann@example.com", "--config", cfg); code != 1 || !strings.Contains(stderr, "Email already in use") {
		t.Fatalf("duplicate add: %d %q", code, stderr)
	}
	out := run("", "user", "list", "--json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("list: %q", out)
	}
	var ann struct {
		Email         string   `json:"email"`
		EmailVerified bool     `json:"email_verified"`
		Passwordless  bool     `json:"passwordless"`
		Permissions   []string `json:"permissions"`
		Status        string   `json:"status"`
	}
	json.Unmarshal([]byte(lines[0]), &ann)
	if ann.Email != "Ann@Example.com" || !ann.EmailVerified || ann.Passwordless || len(ann.Permissions) != 1 || ann.Permissions[0] != "oauth" {
		t.Fatalf("ann = %+v", ann)
	}
	out = run("", "user", "set", "--email", "ann@example.com", "--revoke", "oauth", "--grant", "admin", "--status", "manual_banned")
	if !strings.Contains(out, "status=manual_banned permissions=admin") {
		t.Fatalf("set: %q", out)
	}
	if code, _, stderr := tether(t, "", nil, "user", "set", "--email", "ann@example.com", "--status", "gone", "--config", cfg); code != 1 || !strings.Contains(stderr, "--status") {
		t.Fatalf("bad status: %d %q", code, stderr)
	}
	if code, _, stderr := tether(t, "", nil, "user", "set", "--email", "nobody@example.com", "--config", cfg); code != 1 || !strings.Contains(stderr, "no such user") {
		t.Fatalf("unknown user: %d %q", code, stderr)
	}
	if out := run("", "user", "list"); !strings.Contains(out, "manual_banned") || !strings.Contains(out, "sso@example.com") {
		t.Fatalf("list table: %q", out)
	}
	if out := run("", "user", "events", "--email", "ann@example.com"); !strings.Contains(out, "EVENT") {
		t.Fatalf("events: %q", out)
	}
}

func TestVersion(t *testing.T) {
	if code, out, _ := tether(t, "", nil, "version"); code != 0 || !strings.HasPrefix(out, "tether ") {
		t.Fatalf("version: %d %q", code, out)
	}
}

func TestDevConfig(t *testing.T) {
	dir := t.TempDir()
	cfg, s1, err := devConfig(dir, []string{"TETHER_LISTEN=127.0.0.1:6001"})
	if err != nil {
		t.Fatal(err)
	}
	_, s2, err := devConfig(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s1 != s2 || s1.SecretKey == "" {
		t.Fatal("dev secrets not kept between runs")
	}
	if cfg.PublicURL != "http://127.0.0.1:6001" || len(cfg.Providers) != 1 || cfg.Providers[0].Issuer != "http://127.0.0.1:6001/demo" {
		t.Fatalf("dev config: %+v", cfg)
	}
	if info, err := os.Stat(filepath.Join(dir, "dev-secrets.json")); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("secrets file: %v %v", info, err)
	}
	if !strings.HasPrefix(cfg.Database, "sqlite:///") {
		t.Fatalf("dev database %q is not an absolute sqlite path", cfg.Database)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startDev runs `tether dev` on a free port with its data in a temporary
// folder until the test ends, and returns its base URL and its output
// and log.
func startDev(t *testing.T) (base string, stdout, stderr *testenv.SyncBuffer) {
	t.Helper()
	addr := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr = new(testenv.SyncBuffer), new(testenv.SyncBuffer)
	ready := make(chan struct{})
	e := &env{ctx: ctx, stdin: strings.NewReader(""), stdout: stdout, stderr: stderr,
		environ: []string{"TETHER_LISTEN=" + addr}, listening: func(string, string) { close(ready) }}
	done := make(chan int, 1)
	go func() { done <- e.exit(e.dispatch([]string{"dev", "--data", t.TempDir()})) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-ready:
	case code := <-done:
		t.Fatalf("dev exited with %d: %s", code, stderr.String())
	}
	base = "http://" + addr
	return base, stdout, stderr
}

// TestDevSignInThroughDemoProvider runs `tether dev` as the README says
// and signs in through the built-in demo provider with the Cloudreve API,
// the way a newcomer's first sign-in goes.
func TestDevSignInThroughDemoProvider(t *testing.T) {
	base, stdout, _ := startDev(t)
	if !strings.Contains(stdout.String(), "Sign in:         "+base+"/login") {
		t.Fatalf("dev banner lacks the sign-in URL:\n%s", stdout.String())
	}
	// dev has one listener, and /metrics on it.
	if s := get(t, base+"/metrics"); s != 200 {
		t.Errorf("dev /metrics: HTTP %d", s)
	}

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	call := func(method, u string, body string, form url.Values) *http.Response {
		t.Helper()
		var req *http.Request
		if form != nil {
			req, _ = http.NewRequest(method, u, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			req, _ = http.NewRequest(method, u, strings.NewReader(body))
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	envelope := func(resp *http.Response) (int, json.RawMessage) {
		t.Helper()
		defer resp.Body.Close()
		var e struct {
			Code int
			Data json.RawMessage
		}
		json.NewDecoder(resp.Body).Decode(&e)
		return e.Code, e.Data
	}

	code, data := envelope(call("PUT", base+"/api/v4/session/openid", `{"provider":2}`, nil))
	var authURL string
	json.Unmarshal(data, &authURL)
	if code != 0 || !strings.HasPrefix(authURL, base+"/demo/authorize?") {
		t.Fatalf("prepare: %d %s", code, data)
	}
	loginPage := call("GET", authURL, "", nil).Header.Get("Location")
	lp, _ := url.Parse(loginPage)
	afterLogin := call("POST", base+"/demo/login", "", url.Values{"id": {lp.Query().Get("id")}, "as": {"bob"}}).Header.Get("Location")
	callback, _ := url.Parse(call("GET", base+afterLogin, "", nil).Header.Get("Location"))
	if callback.Path != "/callback/openid/2" || callback.Query().Get("iss") != base+"/demo" {
		t.Fatalf("callback %s", callback)
	}
	q := callback.Query()
	body, _ := json.Marshal(map[string]any{"code": q.Get("code"), "session_id": q.Get("state"), "provider_id": 2})
	code, data = envelope(call("POST", base+"/api/v4/session/openid", string(body), nil))
	var login struct {
		User struct{ Email, Nickname string }
	}
	json.Unmarshal(data, &login)
	if code != 0 || login.User.Email != "bob@demo.tether.test" {
		t.Fatalf("finish: %d %s", code, data)
	}
}

// TestServeCPUProfile: serve --cpuprofile writes a gzipped pprof profile
// when it shuts down, and an unwritable path stops startup.
func TestServeCPUProfile(t *testing.T) {
	cfg := writeConfig(t, "")
	prof := filepath.Join(t.TempDir(), "cpu.pprof")
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	var stderr testenv.SyncBuffer
	e := &env{ctx: ctx, stdin: strings.NewReader(""), stdout: io.Discard, stderr: &stderr,
		listening: func(a, _ string) { addrc <- a }}
	done := make(chan int, 1)
	go func() { done <- e.exit(e.dispatch([]string{"serve", "--config", cfg, "--cpuprofile", prof})) }()
	select {
	case addr := <-addrc:
		if s := get(t, "http://"+addr+"/healthz"); s != 200 {
			t.Fatalf("GET /healthz: HTTP %d", s)
		}
	case code := <-done:
		t.Fatalf("serve exited early with %d: %s", code, stderr.String())
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited with %d: %s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not shut down")
	}
	b, err := os.ReadFile(prof)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Fatalf("the profile is not gzipped pprof data (%d bytes)", len(b))
	}

	code, _, errs := tether(t, "", nil, "serve", "--config", cfg, "--cpuprofile", filepath.Join(t.TempDir(), "no", "such", "dir", "cpu.pprof"))
	if code != 1 || !strings.Contains(errs, "--cpuprofile") {
		t.Fatalf("unwritable profile: exit %d, %q", code, errs)
	}
}
