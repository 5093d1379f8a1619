// Package bench holds tether's benchmarks: whole HTTP requests through the
// complete handler that `tether serve` runs (built by package app), each
// reported next to a baseline measured in the same run, because absolute
// figures mean little across machines while ratios travel:
//
//   - BenchmarkBare: a bare net/http handler that does nothing, over the
//     same loopback HTTP client: the cost of HTTP itself, the baseline.
//   - BenchmarkSignIn: password sign-in, POST /api/v4/session/token.
//   - BenchmarkRefresh: token refresh, POST /api/v4/session/token/refresh.
//   - BenchmarkPrepare: start of an upstream sign-in, PUT /api/v4/session/openid.
//   - BenchmarkFinish: end of an upstream sign-in, POST /api/v4/session/openid,
//     against the in-process zitadel OP with discovery and JWKS cached.
//
// Each runs on SQLite and, when provisioned, PostgreSQL, with concurrent
// clients (b.RunParallel). Besides ns/op each reports req/s, x-bare (ns/op
// divided by BenchmarkBare's) and, on PostgreSQL, x-sqlite (ns/op divided
// by the same benchmark's latest on SQLite in this run).
//
// Run them with scripts/bench, which provisions PostgreSQL as scripts/test
// does and prints a table; `go test ./bench` alone runs nothing.
package bench
