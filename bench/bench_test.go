package bench

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-id/tether/config"
	"github.com/tether-id/tether/testkit/pgtest"
	"github.com/tether-id/tether/testkit/testenv"
	"github.com/tether-id/tether/testkit/testpeer"
	"github.com/tether-id/tether/testkit/tethertest"
)

func TestMain(m *testing.M) {
	if os.Getenv(BareEnv) != "" {
		// This binary re-executed as the baseline process (StartBare).
		os.Exit(serveBare())
	}
	// zitadel's example OP logs every request through the default logger.
	slog.SetDefault(slog.New(slog.DiscardHandler))
	flag.Parse()
	if f := flag.Lookup("test.bench"); f != nil && f.Value.String() != "" && inProcessSelected(f.Value.String()) {
		// The baseline for x-bare, measured once per run before the
		// benchmarks (testing.Benchmark cannot run inside one), with the
		// same -benchtime.
		r := testing.Benchmark(runBare)
		bareNsPerOp = float64(r.T.Nanoseconds()) / float64(r.N)
	}
	code := m.Run()
	removeBinary()
	os.Exit(code)
}

// inProcessSelected reports whether the -bench pattern may select a
// benchmark that uses the in-process baseline (BenchmarkBare's), so that
// a run of the process benchmarks alone does not spend time on it.
func inProcessSelected(pattern string) bool {
	top, _, _ := strings.Cut(pattern, "/")
	re, err := regexp.Compile(top)
	if err != nil {
		return true
	}
	for _, name := range []string{"BenchmarkBare", "BenchmarkSignIn", "BenchmarkRefresh", "BenchmarkPrepare"} {
		if re.MatchString(name) {
			return true
		}
	}
	return false
}

// transport is shared by every client here, bare baseline included, so
// all pay the same for HTTP: keep-alive connections, enough for the
// parallel clients.
var transport = &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}

func newClient(jar http.CookieJar) *http.Client {
	return &http.Client{
		Transport: transport, Jar: jar, Timeout: time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// call sends a JSON request and returns the Cloudreve envelope's code and
// data. It never fails the benchmark itself, so RunParallel bodies may
// call it.
func call(c *http.Client, method, u string, body any) (code int, data json.RawMessage, err error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequest(method, u, bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	var env struct {
		Code int             `json:"code"`
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return 0, nil, fmt.Errorf("%s %s: not an envelope: %s", method, u, raw)
	}
	if env.Code != 0 {
		return env.Code, env.Data, fmt.Errorf("%s %s: %s", method, u, raw)
	}
	return 0, env.Data, nil
}

// BenchmarkBare is the baseline: a net/http handler that does nothing,
// called like the others (POST with a small JSON body, keep-alive, the
// same number of parallel clients).
func BenchmarkBare(b *testing.B) {
	runBare(b)
	report(b, "")
}

func runBare(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	c := newClient(nil)
	body := []byte(`{"email":"someone@example.test"}`)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Post(srv.URL, "application/json", bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

// bareNsPerOp is BenchmarkBare's ns/op, measured by TestMain.
var bareNsPerOp float64

// last holds each benchmark's latest ns/op, for x-sqlite. -count runs a
// sub-benchmark several times in a row, so a PostgreSQL run compares with
// the last SQLite run; scripts/bench compares the means.
var last sync.Map

// report adds req/s and x-bare, and x-sqlite when the benchmark has a
// SQLite twin measured earlier in this run.
func report(b *testing.B, twin string) {
	if b.N == 0 || b.Elapsed() == 0 {
		return
	}
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	last.Store(b.Name(), ns)
	b.ReportMetric(1e9/ns, "req/s")
	if bareNsPerOp > 0 {
		b.ReportMetric(ns/bareNsPerOp, "x-bare")
	}
	if v, ok := last.Load(twin); ok && twin != "" {
		b.ReportMetric(ns/v.(float64), "x-sqlite")
	}
}

// fixture is a tether on one database with the zitadel OP as its OIDC
// provider (Cloudreve code 2), started once per top-level benchmark.
type fixture struct {
	name string
	srv  *tethertest.Server
	op   *testpeer.OP
}

// fixtures starts one tether on SQLite and, when scripts/bench (or
// scripts/test) provisioned it, one on PostgreSQL.
func fixtures(b *testing.B) []fixture {
	dbs := [][2]string{{"sqlite", "sqlite://" + filepath.Join(b.TempDir(), "tether.db")}}
	if os.Getenv(testenv.PostgresURL) != "" || testenv.CI() {
		dbs = append(dbs, [2]string{"postgres", pgtest.URL(b)})
	} else {
		b.Logf("%s is not set (scripts/bench provisions PostgreSQL): SQLite only", testenv.PostgresURL)
	}
	var out []fixture
	for _, db := range dbs {
		// Every server gets the OP's only redirect URI as public URL
		// prefix; nothing listens there, the benchmark relays the codes.
		op := testpeer.Zitadel(b, tethertest.OIDCCallbackURL("http://tether.bench"))
		srv := tethertest.Start(b, tethertest.Options{
			Database: db[1],
			// Logs are encoded as in production, then dropped.
			Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
			Configure: func(c *config.Config) {
				c.PublicURL = "http://tether.bench"
				c.Providers = []config.Provider{tethertest.OIDCProvider("corp", op)}
			},
		})
		out = append(out, fixture{name: db[0], srv: srv, op: op})
	}
	return out
}

// each runs fn as a sub-benchmark per fixture and reports it.
func each(b *testing.B, fn func(b *testing.B, f fixture)) {
	for _, f := range fixtures(b) {
		b.Run(f.name, func(b *testing.B) {
			fn(b, f)
			twin := ""
			if f.name != "sqlite" {
				twin = strings.TrimSuffix(b.Name(), f.name) + "sqlite"
			}
			report(b, twin)
		})
	}
}

const password = "bench-password-0123"

// BenchmarkSignIn: password sign-in of one account by parallel clients.
// argon2id (19 MiB, two passes) dominates it, by design.
func BenchmarkSignIn(b *testing.B) {
	each(b, func(b *testing.B, f fixture) {
		email := "signin-" + f.name + "@example.test"
		if _, err := f.srv.App.Store.GetUserByEmail(b.Context(), email); err != nil {
			f.srv.CreateUser(b, email, password, true)
		}
		c := newClient(nil)
		body := map[string]string{"email": email, "password": password}
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, _, err := call(c, "POST", f.srv.URL+"/api/v4/session/token", body); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkRefresh: each parallel client rotates its own refresh token
// over and over (one chain per client, as each browser has).
func BenchmarkRefresh(b *testing.B) {
	each(b, func(b *testing.B, f fixture) {
		email := "refresh-" + f.name + "@example.test"
		if _, err := f.srv.App.Store.GetUserByEmail(b.Context(), email); err != nil {
			f.srv.CreateUser(b, email, password, true)
		}
		c := newClient(nil)
		// RunParallel starts GOMAXPROCS clients; sign each in off the clock.
		tokens := make(chan string, runtime.GOMAXPROCS(0))
		for range cap(tokens) {
			_, data, err := call(c, "POST", f.srv.URL+"/api/v4/session/token", map[string]string{"email": email, "password": password})
			if err != nil {
				b.Fatal(err)
			}
			var login tethertest.Login
			if err := json.Unmarshal(data, &login); err != nil {
				b.Fatal(err)
			}
			tokens <- login.Token.RefreshToken
		}
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			tok := <-tokens
			for pb.Next() {
				_, data, err := call(c, "POST", f.srv.URL+"/api/v4/session/token/refresh", map[string]string{"refresh_token": tok})
				if err != nil {
					b.Error(err)
					return
				}
				var next tethertest.Tokens
				if err := json.Unmarshal(data, &next); err != nil {
					b.Error(err)
					return
				}
				tok = next.RefreshToken
			}
		})
	})
}

// BenchmarkPrepare: parallel browsers start upstream sign-ins: a flow is
// stored and the authorization URL built (discovery cached).
func BenchmarkPrepare(b *testing.B) {
	each(b, func(b *testing.B, f fixture) {
		prepare := map[string]any{"provider": tethertest.OIDCCode}
		jar, _ := cookiejar.New(nil)
		if _, _, err := call(newClient(jar), "PUT", f.srv.URL+"/api/v4/session/openid", prepare); err != nil {
			b.Fatal(err) // warms the discovery cache
		}
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			jar, _ := cookiejar.New(nil)
			c := newClient(jar)
			for pb.Next() {
				if _, _, err := call(c, "PUT", f.srv.URL+"/api/v4/session/openid", prepare); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
