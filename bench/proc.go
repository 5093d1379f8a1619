package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tether-id/tether/testkit/testenv"
	"github.com/tether-id/tether/testkit/tethertest"
)

// The processes measured by the benchmarks run apart from the benchmark
// (its clients and the OP), so that their CPU time, read from /proc, is
// theirs alone: tether (`tether serve`, built once per run) and the bare
// net/http server it is compared with (this test binary, re-executed
// with BareEnv set).

// BareEnv makes TestMain serve a bare net/http handler instead of running
// tests: the baseline process (see serveBare).
const BareEnv = "TETHER_BENCH_BARE"

// ProfileEnv names a folder: each tether process then writes a CPU
// profile there (tether serve --cpuprofile), named after the benchmark.
const ProfileEnv = "TETHER_BENCH_PROFILE"

// Process is a running server process under measurement.
type Process struct {
	URL  string
	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	log  bytes.Buffer // the last of its stderr, for failures
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// BinEnv names a tether binary to measure instead of building one from
// this tree: to compare two versions, build the other one and run the
// benchmarks once with it and once without.
const BinEnv = "TETHER_BENCH_BIN"

// tetherBinary builds cmd/tether once per run, as `tether serve` is
// built for production (CGO off), unless BinEnv names a binary.
func tetherBinary(tb testing.TB) string {
	tb.Helper()
	if bin := os.Getenv(BinEnv); bin != "" {
		return bin
	}
	buildOnce.Do(func() {
		goCmd, err := exec.LookPath("go")
		if err != nil {
			buildErr = fmt.Errorf("the go command, to build tether: %w", err)
			return
		}
		dir, err := os.MkdirTemp("", "tether-bench-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "tether")
		cmd := exec.Command(goCmd, "build", "-o", binPath, "github.com/tether-id/tether/cmd/tether")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		testenv.Missing(tb, buildErr.Error())
	}
	return binPath
}

// removeBinary deletes the binary built by tetherBinary; TestMain calls
// it at the end.
func removeBinary() {
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
}

// TetherConfig is the configuration of a measured tether: one OIDC
// provider (op, Cloudreve code 2, creating accounts), rate limits off,
// logs at info in JSON as in production, a loopback http public URL.
func TetherConfig(dsn string, op *OP) map[string]any {
	return map[string]any{
		"listen":         "127.0.0.1:0",
		"public_url":     PublicURL,
		"database":       dsn,
		"secret_key":     tethertest.SecretKey,
		"encryption_key": tethertest.EncryptionKey,
		"log":            map[string]any{"level": "info", "format": "json"},
		"rate_limit":     map[string]any{"enabled": false},
		"providers": []map[string]any{{
			"id": ProviderID, "kind": "oidc", "name": "Bench",
			"issuer": op.Issuer, "client_id": op.ClientID, "client_secret": op.ClientSecret,
		}},
	}
}

// PublicURL is the measured tether's public URL. Nothing needs to answer
// there: the benchmark's browsers stop at the OP's redirect and relay
// the code, as Cloudreve's callback page does.
const PublicURL = "http://127.0.0.1"

// ProviderID is the id of the bench OP in tether's configuration.
const ProviderID = "bench"

// StartTether runs `tether serve` with cfg until tb ends, then stops it
// with SIGTERM (which also writes its CPU profile when ProfileEnv asks
// for one). name names the profile file.
func StartTether(tb testing.TB, name string, cfg map[string]any) *Process {
	tb.Helper()
	bin := tetherBinary(tb)
	b, err := yaml.Marshal(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(tb.TempDir(), "tether.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		tb.Fatal(err)
	}
	args := []string{"serve", "--config", path}
	if dir := os.Getenv(ProfileEnv); dir != "" {
		prof := filepath.Join(dir, "tether-"+strings.NewReplacer("/", "-", " ", "_").Replace(name)+".pprof")
		args = append(args, "--cpuprofile", prof)
		tb.Logf("tether's CPU profile: %s (go tool pprof -top %s %s)", prof, bin, prof)
	}
	cmd := exec.Command(bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TETHER_") { // the config file says it all
			cmd.Env = append(cmd.Env, kv)
		}
	}
	return startProcess(tb, cmd, func(line string) string {
		var rec struct{ Msg, Addr string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "tether listening" {
			return "http://" + rec.Addr
		}
		return ""
	})
}

// StartBare runs the bare baseline server, this test binary re-executed
// with BareEnv, until tb ends.
func StartBare(tb testing.TB) *Process {
	tb.Helper()
	self, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), BareEnv+"=1")
	return startProcess(tb, cmd, func(line string) string {
		addr, ok := strings.CutPrefix(line, "bare listening on ")
		if ok {
			return "http://" + addr
		}
		return ""
	})
}

// startProcess starts cmd, reads its stderr until listening finds the
// URL in a line, then keeps draining it (keeping the last lines for a
// failure's message). The process gets SIGTERM when tb ends.
func startProcess(tb testing.TB, cmd *exec.Cmd, listening func(line string) string) *Process {
	tb.Helper()
	p := &Process{cmd: cmd, done: make(chan struct{})}
	pipe, err := cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	urls := make(chan string, 1)
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		found := false
		for sc.Scan() {
			line := sc.Text()
			if !found {
				if u := listening(line); u != "" {
					found = true
					urls <- u
				}
			}
			p.mu.Lock()
			if p.log.Len() > 64<<10 {
				p.log.Reset()
			}
			p.log.WriteString(line + "\n")
			p.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, pipe)
		_ = cmd.Wait()
	}()
	tb.Cleanup(func() { p.stop(tb) })
	select {
	case p.URL = <-urls:
	case <-p.done:
		tb.Fatalf("%s exited before listening:\n%s", cmd.Path, p.Log())
	case <-time.After(2 * time.Minute):
		tb.Fatalf("%s did not listen within 2 minutes:\n%s", cmd.Path, p.Log())
	}
	return p
}

// Log returns the last of the process's stderr.
func (p *Process) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

func (p *Process) stop(tb testing.TB) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		tb.Errorf("%s did not stop within 30s of SIGTERM", p.cmd.Path)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// clockTick is USER_HZ, the unit of utime and stime in /proc: 100 on
// every Linux architecture Go runs on.
const clockTick = 10 * time.Millisecond

// CPU returns the CPU time (user and system) the process has used.
func (p *Process) CPU(tb testing.TB) time.Duration {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		tb.Fatalf("CPU time of %s: %v (the benchmarks need Linux's /proc)", p.cmd.Path, err)
	}
	// The command name, in parentheses, may hold spaces; the fields after
	// it are fixed: utime and stime are the 14th and 15th of the line.
	s := string(b)
	rest := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	utime, err1 := strconv.ParseInt(rest[11], 10, 64)
	stime, err2 := strconv.ParseInt(rest[12], 10, 64)
	if err1 != nil || err2 != nil {
		tb.Fatalf("cannot read /proc/%d/stat: %q", p.cmd.Process.Pid, s)
	}
	return time.Duration(utime+stime) * clockTick
}

// PeakRSS returns the process's peak resident set size (VmHWM) in bytes.
func (p *Process) PeakRSS(tb testing.TB) int64 {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		tb.Fatalf("peak RSS of %s: %v", p.cmd.Path, err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				tb.Fatalf("VmHWM: %q", v)
			}
			return kb << 10
		}
	}
	tb.Fatalf("no VmHWM in /proc/%d/status", p.cmd.Process.Pid)
	return 0
}

// serveBare is the baseline process: a net/http server whose handler does
// nothing, with the same server settings as tether's (app.httpServer's
// timeouts do not cost anything per request). It serves until SIGTERM.
func serveBare() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "bare listening on %s\n", ln.Addr())
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	go func() {
		<-stop
		srv.Close()
	}()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
