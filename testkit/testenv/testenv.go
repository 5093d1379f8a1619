// Package testenv tells tests where the real components they need are
// (PostgreSQL, Chromium, the node OpenID provider and relying party,
// mailpit) and enforces the rule that, with CI=true, a missing component
// fails the test instead of skipping it. scripts/test provisions the
// components and sets the TETHERTEST_* variables read here.
package testenv

import (
	"os"
	"strconv"
	"testing"
)

// Variables set by scripts/test.
const (
	// PostgresURL is a connection URL to a throw-away PostgreSQL server
	// whose user may create databases.
	PostgresURL = "TETHERTEST_POSTGRES_URL"
	// Chromium is the path of a headless-capable Chromium binary.
	Chromium = "TETHERTEST_CHROMIUM"
	// NodeModules is the node_modules folder holding oidc-provider.
	NodeModules = "TETHERTEST_NODE_MODULES"
	// RPNodeModules is the node_modules folder holding openid-client,
	// the node relying party of testkit/rp.
	RPNodeModules = "TETHERTEST_RP_NODE_MODULES"
	// MailpitBin is the mailpit binary, for tests that start their own
	// SMTP server (testkit/mailtest.Start).
	MailpitBin = "TETHERTEST_MAILPIT_BIN"
	// MailpitSMTP is host:port of a shared mailpit SMTP server that takes
	// any recipient, without TLS or authentication.
	MailpitSMTP = "TETHERTEST_MAILPIT_SMTP"
	// MailpitAPI is the base URL of that server's HTTP API.
	MailpitAPI = "TETHERTEST_MAILPIT_API"
	// Output is a folder where tests leave artifacts (screenshots).
	Output = "TETHERTEST_OUTPUT"
)

// CI reports whether the tests run in CI (CI=true or CI=1).
func CI() bool {
	ok, _ := strconv.ParseBool(os.Getenv("CI"))
	return ok
}

// Need returns the value of the environment variable name. When it is
// unset the test is skipped, or failed under CI, with a message saying how
// to get the component.
func Need(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		Missing(t, name+" is not set; run scripts/test, which provisions it")
	}
	return v
}

// Missing skips the test, or fails it under CI, because a component it
// needs is not there.
func Missing(t testing.TB, why string) {
	t.Helper()
	if CI() {
		t.Fatalf("required test component missing (CI=true): %s", why)
	}
	t.Skipf("component missing: %s", why)
}
