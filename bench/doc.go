// Package bench holds tether's benchmarks: whole HTTP requests through the
// complete handler that `tether serve` runs, each reported next to a
// baseline measured in the same run, because absolute figures mean little
// across machines while ratios travel. Run them with scripts/bench, which
// provisions PostgreSQL as scripts/test does, runs COUNT rounds and prints
// tables of the means; `go test ./bench` alone runs only the tests of the
// harness, no benchmark.
//
// In process (tether built by package app inside the benchmark, b.RunParallel
// clients, one per core):
//
//   - BenchmarkBare: a bare net/http handler that does nothing, over the
//     same loopback HTTP client: the baseline of x-bare for these.
//   - BenchmarkSignIn: password sign-in, POST /api/v4/session/token.
//   - BenchmarkRefresh: token refresh, POST /api/v4/session/token/refresh.
//   - BenchmarkPrepare: start of an upstream sign-in, PUT /api/v4/session/openid.
//
// tether as a process (process_test.go): `tether serve`, built once per
// run from this tree (or TETHER_BENCH_BIN), runs apart from the
// benchmark's browsers and its OP, so that its CPU time (utime + stime)
// and peak RSS (VmHWM), read from /proc, are its own. Users (32) browsers
// at once, each with its own cookie jar, against the bench OP (op.go: an
// in-process OpenID Provider with one ES256 key and no userinfo endpoint,
// which redirects back at once like an OP with a signed-in user and no
// consent screen); rate limits off, logs at info in JSON as in production:
//
//   - BenchmarkBrokeredSignIn: one op is a whole sign-in: prepare (PUT
//     /api/v4/session/openid), the OP's authorize (a 302, not followed),
//     finish (POST /api/v4/session/openid with code, state, provider and
//     iss), with the back-channel token request in between. bare is the
//     baseline: a bare net/http server process (this test binary
//     re-executed with BareEnv) answering the same three requests per
//     iteration with the same clients; sqlite and postgres sign in
//     returning people (32, whose accounts exist); new/sqlite and
//     new/postgres first sign-ins, which create the accounts.
//   - BenchmarkFinish: the finish alone, of flows prepared and authorized
//     before the clock starts, so that tether's CPU per op is a finish's.
//   - BenchmarkFinishScale: the finish of people picked at random among
//     1 000 seeded accounts (1k) and among 1 000 000 (1m, or
//     TETHER_BENCH_SCALE), inserted straight into the database by
//     SeedDatabase (seed.go) in large transactions.
//   - BenchmarkAppSignIn: tether as the OpenID Provider of apps. One op
//     is a whole sign-in of a signed-out browser into an app
//     (Browser.AppSignIn): the app's authorization request with
//     idp_hint, the OP, tether's callback (which sends the browser back to
//     the app with its code), the app's token request; rs256 and es256
//     name the app's ID-token algorithm, bare answers the same four
//     requests. BenchmarkSignature (in process) is one signature of each
//     kind: the part of an app sign-in's CPU no change to tether removes.
//
// Besides ns/op each process benchmark reports <op>/s, cpu-ns/op
// (tether's), p50-ms and p99-ms (the finish request as the browsers saw
// it), peak-rss-MiB, and the ratios x-bare and x-bare-cpu (over the bare
// server's ns/op and CPU per iteration), x-sqlite (PostgreSQL's ns/op
// over SQLite's) and x-1k, x-1k-cpu (a million accounts over a thousand).
// A run with TETHER_BENCH_PROFILE=DIR (scripts/bench: PROFILE=1) has each
// tether write a CPU profile there (tether serve --cpuprofile).
package bench
