package testpeer

import (
	"bufio"
	_ "embed"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tether-id/tether/testkit/testenv"
)

//go:embed panva/provider.mjs
var panvaScript []byte

// PanvaOptions configures Panva.
type PanvaOptions struct {
	// Logto configures the OP like Logto: issuer under /oidc, ES384 ID
	// tokens, refresh tokens for offline_access with prompt=consent,
	// Logto's extra authorize parameters and the API resource
	// https://api.example.test. Otherwise the issuer is the root (no
	// trailing slash) and ID tokens are RS256.
	Logto bool
	// RedirectURIs default to http://rp.test/callback.
	RedirectURIs []string
	// AuthMethod is the client's token endpoint auth method:
	// client_secret_basic (default), client_secret_post, or none for a
	// public client (OP.ClientSecret is then empty).
	AuthMethod string
	// PostLogoutRedirectURIs are registered for RP-initiated logout;
	// default http://rp.test/logged-out.
	PostLogoutRedirectURIs []string
}

// panvaStartTimeout bounds node's start; it is a safety net, not a
// measurement.
const panvaStartTimeout = 60 * time.Second

// Panva starts panva's oidc-provider (testkit/testpeer/panva/provider.mjs)
// under node on 127.0.0.1 and a free port, and stops it when the test ends.
// It needs TETHERTEST_NODE_MODULES (set by scripts/test): without it the
// test is skipped, or failed under CI. Every login it accepts needs PKCE.
func Panva(t testing.TB, opts PanvaOptions) *OP {
	t.Helper()
	modules := testenv.Need(t, testenv.NodeModules)
	if _, err := os.Stat(filepath.Join(modules, "oidc-provider", "package.json")); err != nil {
		testenv.Missing(t, testenv.NodeModules+" has no oidc-provider: "+err.Error())
	}
	node, err := exec.LookPath("node")
	if err != nil {
		testenv.Missing(t, "node is not installed")
	}
	if len(opts.RedirectURIs) == 0 {
		opts.RedirectURIs = []string{defaultRedirectURI}
	}
	if opts.AuthMethod == "" {
		opts.AuthMethod = "client_secret_basic"
	}
	if len(opts.PostLogoutRedirectURIs) == 0 {
		opts.PostLogoutRedirectURIs = []string{DefaultPostLogoutRedirectURI}
	}
	secret := ClientSecret
	if opts.AuthMethod == "none" {
		secret = ""
	}
	mode := "plain"
	if opts.Logto {
		mode = "logto"
	}

	// ES modules resolve packages from the script's own folder, not
	// NODE_PATH: run a copy of the script next to a link to the modules.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "provider.mjs"), panvaScript, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(modules, filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(node, "provider.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"MODE="+mode,
		"PORT=0",
		"CLIENT_ID="+ClientID,
		"CLIENT_SECRET="+secret,
		"REDIRECT_URIS="+strings.Join(opts.RedirectURIs, ","),
		"POST_LOGOUT_REDIRECT_URIS="+strings.Join(opts.PostLogoutRedirectURIs, ","),
		"AUTH_METHOD="+opts.AuthMethod,
	)
	stderr := &testenv.SyncBuffer{}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("panva OP: starting node: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("panva OP stderr:\n%s", stderr.String())
		}
	})

	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			ready <- sc.Text()
		}
		close(ready)
		for sc.Scan() { // keep draining so node never blocks on stdout
		}
	}()
	var line string
	select {
	case line = <-ready:
	case <-time.After(panvaStartTimeout):
		t.Fatalf("panva OP did not start within %s; stderr:\n%s", panvaStartTimeout, stderr.String())
	}
	var hello struct {
		Issuer string `json:"issuer"`
	}
	if err := json.Unmarshal([]byte(line), &hello); err != nil || hello.Issuer == "" {
		t.Fatalf("panva OP: unexpected first line %q (%v); stderr:\n%s", line, err, stderr.String())
	}
	u, err := url.Parse(hello.Issuer)
	if err != nil {
		t.Fatalf("panva OP: issuer %q: %v", hello.Issuer, err)
	}
	return &OP{
		Issuer:                 hello.Issuer,
		ClientID:               ClientID,
		ClientSecret:           secret,
		RedirectURIs:           opts.RedirectURIs,
		PostLogoutRedirectURIs: opts.PostLogoutRedirectURIs,
		origin:                 u.Scheme + "://" + u.Host,
		panva:                  true,
	}
}
