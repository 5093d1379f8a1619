package bench

import (
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-id/tether/testkit/pgtest"
	"github.com/tether-id/tether/testkit/testenv"
	"github.com/tether-id/tether/testkit/tethertest"
)

// The benchmarks of tether as a process: `tether serve` runs apart from
// the benchmark's browsers and OP, so its CPU time per operation is read
// from /proc, and so is its peak RSS. Each reports, besides ns/op:
//
//	<op>/s          operations per second, all browsers together
//	cpu-ns/op       tether's CPU time per operation (user + system)
//	p50-ms, p99-ms  the finish request's latency, as the browsers saw it
//	peak-rss-MiB    tether's peak resident set size (VmHWM) so far
//	x-bare          ns/op over the bare server's (BrokeredSignIn/bare, three
//	                requests per iteration), x-bare-cpu the same for CPU
//	x-sqlite        a PostgreSQL benchmark's ns/op over its SQLite twin's
//	x-1k            a scale benchmark's ns/op over the same benchmark on
//	                1 000 accounts; x-1k-cpu the same for CPU
//
// Ratios are taken against the mean of the baseline's runs so far in
// this process; scripts/bench recomputes them from the means of all runs.

// Users is how many people sign in at once.
const Users = 32

// sample is one run of a process benchmark.
type sample struct{ ns, cpu float64 }

// runs holds each benchmark's samples, for the ratios. The function of a
// benchmark is called several times per run (b.N = 1, then larger until
// -benchtime is reached); only the last call of a run is its result, so
// a call replaces the sample of the call before, and a call with b.N = 1
// (the start of the next run, with -count) keeps it.
var (
	runsMu sync.Mutex
	runs   = map[string]*series{}
)

type series struct {
	done []sample // earlier runs' results
	last *sample  // the latest call
}

func record(name string, n int, s sample) {
	runsMu.Lock()
	defer runsMu.Unlock()
	r := runs[name]
	if r == nil {
		r = &series{}
		runs[name] = r
	}
	if n == 1 && r.last != nil {
		r.done = append(r.done, *r.last)
	}
	r.last = &s
}

// meanOf returns the mean result of the runs of name so far.
func meanOf(name string) (sample, bool) {
	runsMu.Lock()
	defer runsMu.Unlock()
	r := runs[name]
	if r == nil || r.last == nil {
		return sample{}, false
	}
	all := append(slices.Clip(r.done), *r.last)
	var m sample
	for _, s := range all {
		m.ns += s.ns
		m.cpu += s.cpu
	}
	m.ns /= float64(len(all))
	m.cpu /= float64(len(all))
	return m, true
}

// target is a measured tether on one database.
type target struct {
	db   string // sqlite or postgres
	dsn  string
	proc *Process
}

// databases returns the DSN of a fresh SQLite database and, when
// provisioned (scripts/bench), of a fresh PostgreSQL schema.
func databases(b *testing.B) [][2]string {
	dbs := [][2]string{{"sqlite", "sqlite://" + filepath.Join(b.TempDir(), "tether.db")}}
	if os.Getenv(testenv.PostgresURL) != "" || testenv.CI() {
		dbs = append(dbs, [2]string{"postgres", pgtest.URL(b)})
	} else {
		b.Logf("%s is not set (scripts/bench provisions PostgreSQL): SQLite only", testenv.PostgresURL)
	}
	return dbs
}

// startTargets starts one tether per database, each with op as its
// provider; prepare, when set, runs on the database first (seeding).
func startTargets(b *testing.B, name string, op *OP, dbs [][2]string, prepare func(dsn string)) []target {
	var out []target
	for _, db := range dbs {
		if prepare != nil {
			prepare(db[1])
		}
		out = append(out, target{db: db[0], dsn: db[1], proc: StartTether(b, name+"/"+db[0], TetherConfig(db[1], op))})
	}
	return out
}

// browsers returns Users new browsers on a new transport, and a function
// that closes the transport's connections.
func browsers() ([]*Browser, func()) {
	tr := NewTransport(Users)
	out := make([]*Browser, Users)
	for i := range out {
		out[i] = NewBrowser(tr)
	}
	return out, tr.CloseIdleConnections
}

// parallel runs fn(w) for each of Users browsers at once and returns the
// first error.
func parallel(fn func(w int) error) error {
	errs := make([]error, Users)
	var wg sync.WaitGroup
	for w := range Users {
		wg.Go(func() { errs[w] = fn(w) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// load runs b.N iterations of step on Users goroutines, each taking the
// next iteration when done with one, and returns the durations step
// reported, sorted.
func load(b *testing.B, step func(w int) (time.Duration, error)) []time.Duration {
	var next atomic.Int64
	var failed atomic.Bool
	lat := make([][]time.Duration, Users)
	var wg sync.WaitGroup
	for w := range Users {
		wg.Go(func() {
			for !failed.Load() && next.Add(1) <= int64(b.N) {
				d, err := step(w)
				if err != nil {
					if !failed.Swap(true) {
						b.Error(err)
					}
					return
				}
				lat[w] = append(lat[w], d)
			}
		})
	}
	wg.Wait()
	all := slices.Concat(lat...)
	slices.Sort(all)
	return all
}

// measure runs run under the clock and reports the process metrics of p
// (nil for none) with unit per operation ("signins" → signins/s). lat are
// finish latencies; ratios come from the twins' samples (see the list at
// the top of the file).
func measure(b *testing.B, p *Process, unit string, run func() []time.Duration) {
	var cpu0 time.Duration
	if p != nil {
		cpu0 = p.CPU(b)
	}
	b.ResetTimer()
	lat := run()
	b.StopTimer()
	if b.Failed() || b.N == 0 {
		return
	}
	s := sample{ns: float64(b.Elapsed().Nanoseconds()) / float64(b.N)}
	b.ReportMetric(1e9/s.ns, unit+"/s")
	if p != nil {
		s.cpu = float64((p.CPU(b) - cpu0).Nanoseconds()) / float64(b.N)
		b.ReportMetric(s.cpu, "cpu-ns/op")
		b.ReportMetric(float64(p.PeakRSS(b))/(1<<20), "peak-rss-MiB")
	}
	if len(lat) > 0 {
		b.ReportMetric(ms(quantile(lat, 0.50)), "p50-ms")
		b.ReportMetric(ms(quantile(lat, 0.99)), "p99-ms")
	}
	name := b.Name()
	record(name, b.N, s)
	ratio := func(twin, metric string, cpuToo bool) {
		if twin == name {
			return
		}
		if m, ok := meanOf(twin); ok && m.ns > 0 {
			b.ReportMetric(s.ns/m.ns, metric)
			if cpuToo && m.cpu > 0 && s.cpu > 0 {
				b.ReportMetric(s.cpu/m.cpu, metric+"-cpu")
			}
		}
	}
	if top, _, ok := strings.Cut(name, "/"); ok && p != nil {
		ratio(top+"/bare", "x-bare", true) // where the benchmark has a bare twin
	}
	if strings.HasSuffix(name, "/postgres") {
		ratio(strings.TrimSuffix(name, "/postgres")+"/sqlite", "x-sqlite", false)
	}
	if strings.Contains(name, "/1m/") {
		ratio(strings.Replace(name, "/1m/", "/1k/", 1), "x-1k", true)
	}
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// quantile returns the q-quantile of sorted durations (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// returning is the subject of browser w in the returning-user benchmarks:
// Users people who sign in again and again.
func returning(w int) string { return fmt.Sprintf("user-%02d", w) }

// BenchmarkBrokeredSignIn: Users browsers at once, each signing a person
// in through the bench OP from start to end (prepare, authorize at the
// OP, finish), again and again. One op is one whole sign-in.
//
//   - bare: the baseline, a bare net/http server (a process like tether)
//     answering the same three requests per iteration;
//   - sqlite, postgres: returning people (Users of them, each with an
//     account from an earlier sign-in);
//   - new/sqlite, new/postgres: first sign-ins, each of a new person,
//     whose account is created.
func BenchmarkBrokeredSignIn(b *testing.B) {
	op := NewOP(b, tethertest.OIDCCallbackURL(PublicURL))
	bare := StartBare(b)
	targets := startTargets(b, "BrokeredSignIn", op, databases(b), nil)

	b.Run("bare", func(b *testing.B) {
		brs, done := browsers()
		defer done()
		if err := parallel(func(w int) error { _, err := brs[w].Bare(bare.URL); return err }); err != nil {
			b.Fatal(err)
		}
		measure(b, bare, "iterations", func() []time.Duration {
			return load(b, func(w int) (time.Duration, error) { return brs[w].Bare(bare.URL) })
		})
	})
	for _, t := range targets {
		b.Run(t.db, func(b *testing.B) {
			brs, done := browsers()
			defer done()
			// Off the clock: every person's account exists, the caches
			// (discovery, JWKS) are warm, the connections are open.
			if err := parallel(func(w int) error {
				op.SetUser(brs[w].Jar, returning(w))
				_, err := brs[w].SignIn(t.proc.URL)
				return err
			}); err != nil {
				b.Fatalf("%v\n%s", err, t.proc.Log())
			}
			measure(b, t.proc, "signins", func() []time.Duration {
				return load(b, func(w int) (time.Duration, error) { return brs[w].SignIn(t.proc.URL) })
			})
		})
	}
	tag := strings.ToLower(rand.Text()[:8])
	var n atomic.Int64
	newcomer := func() string { return "new-" + tag + "-" + strconv.FormatInt(n.Add(1), 10) }
	for _, t := range targets {
		b.Run("new/"+t.db, func(b *testing.B) {
			brs, done := browsers()
			defer done()
			if err := parallel(func(w int) error {
				op.SetUser(brs[w].Jar, newcomer())
				_, err := brs[w].SignIn(t.proc.URL)
				return err
			}); err != nil {
				b.Fatalf("%v\n%s", err, t.proc.Log())
			}
			measure(b, t.proc, "signins", func() []time.Duration {
				return load(b, func(w int) (time.Duration, error) {
					op.SetUser(brs[w].Jar, newcomer())
					return brs[w].SignIn(t.proc.URL)
				})
			})
		})
	}
}

// finishes measures the finish alone: Users browsers, each finishing its
// share of b.N sign-ins that were prepared and authorized at the OP
// before the clock started (as subject(w) says), so that tether's CPU
// time per op is a finish's. One op is one finish.
func finishes(b *testing.B, op *OP, t target, subject func(w int) string) {
	brs, done := browsers()
	defer done()
	// Off the clock: warm caches and connections, then b.N flows.
	if err := parallel(func(w int) error {
		op.SetUser(brs[w].Jar, subject(w))
		_, err := brs[w].SignIn(t.proc.URL)
		return err
	}); err != nil {
		b.Fatalf("%v\n%s", err, t.proc.Log())
	}
	flows := make([][]map[string]any, Users)
	if err := parallel(func(w int) error {
		for i := w; i < b.N; i += Users {
			op.SetUser(brs[w].Jar, subject(w))
			authURL, err := brs[w].Prepare(t.proc.URL)
			if err != nil {
				return err
			}
			q, err := brs[w].Authorize(authURL)
			if err != nil {
				return err
			}
			flows[w] = append(flows[w], FinishBody(q))
		}
		return nil
	}); err != nil {
		b.Fatalf("%v\n%s", err, t.proc.Log())
	}
	measure(b, t.proc, "finishes", func() []time.Duration {
		var failed atomic.Bool
		lat := make([][]time.Duration, Users)
		var wg sync.WaitGroup
		for w := range Users {
			wg.Go(func() {
				for _, body := range flows[w] {
					start := time.Now()
					if _, err := brs[w].Finish(t.proc.URL, body); err != nil {
						if !failed.Swap(true) {
							b.Error(err)
						}
						return
					}
					lat[w] = append(lat[w], time.Since(start))
				}
			})
		}
		wg.Wait()
		all := slices.Concat(lat...)
		slices.Sort(all)
		return all
	})
}

// BenchmarkFinish: the finish alone (POST /api/v4/session/openid) of
// returning people, Users at once, on each database: x-sqlite compares
// PostgreSQL with SQLite.
func BenchmarkFinish(b *testing.B) {
	op := NewOP(b, tethertest.OIDCCallbackURL(PublicURL))
	for _, t := range startTargets(b, "Finish", op, databases(b), nil) {
		b.Run(t.db, func(b *testing.B) { finishes(b, op, t, returning) })
	}
}

// ScaleEnv overrides how many accounts BenchmarkFinishScale's large
// database holds (default 1 000 000).
const ScaleEnv = "TETHER_BENCH_SCALE"

// BenchmarkFinishScale: the finish of returning people picked at random
// among 1 000 accounts (1k) and among 1 000 000 (1m, or ScaleEnv), seeded
// straight into the database (SeedDatabase). x-1k is the cost with many
// accounts over the cost with few; peak-rss-MiB is tether's.
func BenchmarkFinishScale(b *testing.B) {
	large := 1_000_000
	if v := os.Getenv(ScaleEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1000 {
			b.Fatalf("%s=%q: want a number of accounts, at least 1000", ScaleEnv, v)
		}
		large = n
	}
	op := NewOP(b, tethertest.OIDCCallbackURL(PublicURL))
	for _, db := range databases(b) {
		for _, size := range []struct {
			label string
			n     int
		}{{"1k", 1000}, {"1m", large}} {
			dsn := db[1]
			if size.label == "1m" { // a database of its own
				if db[0] == "sqlite" {
					dsn = "sqlite://" + filepath.Join(b.TempDir(), "tether.db")
				} else {
					dsn = pgtest.URL(b)
				}
			}
			name := size.label + "/" + db[0]
			start := time.Now()
			if err := SeedDatabase(b.Context(), dsn, Seed{N: size.n, Issuer: op.Issuer, ClientID: op.ClientID, ProviderID: ProviderID}); err != nil {
				b.Fatal(err)
			}
			b.Logf("%s: seeded %d accounts in %s", name, size.n, time.Since(start).Round(time.Millisecond))
			t := target{db: db[0], dsn: dsn, proc: StartTether(b, "FinishScale/"+name, TetherConfig(dsn, op))}
			n := size.n
			b.Run(name, func(b *testing.B) {
				finishes(b, op, t, func(int) string { return SeedSubject(mrand.IntN(n)) })
			})
		}
	}
}

// BenchmarkAppSignIn: tether as the OpenID Provider of apps (SPEC §8).
// Users signed-out browsers at once, each signing a person into an app
// through tether and the bench OP upstream, from start to end
// (Browser.AppSignIn: authorize, the OP, tether's callback, which sends
// the browser back to the app with its code, and the app's token
// request), again and again, on SQLite. One op is one
// whole sign-in; people are returning ones (their accounts exist).
//
//   - bare: the baseline, the bare server answering the same four
//     requests per iteration;
//   - rs256, es256: the app's ID tokens signed with RS256 or ES256 (the
//     access tokens are ES256 JWTs in both).
func BenchmarkAppSignIn(b *testing.B) {
	op := NewOP(b, tethertest.OIDCCallbackURL(PublicURL))
	bare := StartBare(b)
	p := StartTether(b, "AppSignIn", AppConfig("sqlite://"+filepath.Join(b.TempDir(), "tether.db"), op, AppRS256, AppES256))

	b.Run("bare", func(b *testing.B) {
		brs, done := browsers()
		defer done()
		if err := parallel(func(w int) error { _, err := brs[w].BareApp(bare.URL); return err }); err != nil {
			b.Fatal(err)
		}
		measure(b, bare, "iterations", func() []time.Duration {
			return load(b, func(w int) (time.Duration, error) { return brs[w].BareApp(bare.URL) })
		})
	})
	for _, app := range []App{AppRS256, AppES256} {
		b.Run(strings.ToLower(app.Alg), func(b *testing.B) {
			brs, done := browsers()
			defer done()
			// Off the clock: accounts, keys, caches and connections.
			if err := parallel(func(w int) error {
				_, _, err := brs[w].AppSignIn(p.URL, op, app, returning(w))
				return err
			}); err != nil {
				b.Fatalf("%v\n%s", err, p.Log())
			}
			measure(b, p, "signins", func() []time.Duration {
				return load(b, func(w int) (time.Duration, error) {
					_, d, err := brs[w].AppSignIn(p.URL, op, app, returning(w))
					return d, err
				})
			})
		})
	}
}
