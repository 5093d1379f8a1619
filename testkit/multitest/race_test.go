//go:build race

package multitest

// The crash test builds tether with -race when the tests run with it:
// the child then shares the compiled packages of the test binary (a quick
// link instead of a full build) and reports its own data races.
func init() { raceEnabled = true }
