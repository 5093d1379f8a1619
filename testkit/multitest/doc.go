// Package multitest tests tether the way larger sites run it: several
// instances behind a load balancer on one PostgreSQL database
// (multi_test.go), and a tether process killed with SIGKILL in the middle
// of a load, after which the database must still be consistent
// (crash_test.go). It has no code of its own, only tests.
package multitest
