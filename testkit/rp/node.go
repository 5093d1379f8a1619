package rp

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tether-id/tether/testkit/testenv"
)

//go:embed node/rp.mjs
var nodeScript []byte

// NodeRP is panva's openid-client (testkit/rp/node/rp.mjs) in a node
// child process, driven over line-delimited JSON. Its checks are the
// library's; the wrapper adds only refresh continuity (a refreshed ID
// token must keep the sub), which openid-client cannot know.
type NodeRP struct {
	cfg    Config
	stdin  io.WriteCloser
	lines  chan nodeAnswer
	exited chan struct{}
	stderr *testenv.SyncBuffer

	mu   sync.Mutex // one request at a time, as the script serves them
	next int
}

var _ Client = (*NodeRP)(nil)

// NodeError is an error thrown by openid-client (or the script), as the
// script reports it.
type NodeError struct {
	// Name is the JavaScript class: ResponseBodyError,
	// AuthorizationResponseError, WWWAuthenticateChallengeError,
	// ClientError, TypeError...
	Name    string `json:"name"`
	Message string `json:"message"`
	// Code is openid-client's code, such as OAUTH_RESPONSE_BODY_ERROR or
	// OAUTH_JWT_CLAIM_COMPARISON_FAILED.
	Code string `json:"code"`
	// OAuthError and Description are the OAuth error and
	// error_description, when the OP sent one.
	OAuthError  string `json:"error"`
	Description string `json:"error_description"`
	// Status is the HTTP status of the answer that failed, when any.
	Status int `json:"status"`
	// Cause is the error's cause made plain: a compared claim, a
	// WWW-Authenticate challenge list, a body...
	Cause any `json:"cause"`
}

func (e *NodeError) Error() string {
	s := "rp (openid-client): " + e.Name
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.OAuthError != "" {
		s += " " + e.OAuthError
	}
	s += ": " + e.Message
	if e.Description != "" {
		s += " (" + e.Description + ")"
	}
	return s
}

type nodeAnswer struct {
	ID     int             `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *NodeError      `json:"error"`
}

// Node starts the openid-client RP for cfg and runs discovery, failing
// the test when either fails. It needs node and TETHERTEST_RP_NODE_MODULES
// (set by scripts/test): without them the test is skipped, or failed
// under CI. The process ends with the test. Config.HTTPClient and Now do
// not apply; ClockSkew becomes openid-client's clock tolerance.
func Node(t testing.TB, cfg Config) *NodeRP {
	t.Helper()
	n := StartNode(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), discoveryTimeout)
	defer cancel()
	if _, err := n.Discovery(ctx); err != nil {
		t.Fatalf("rp.Node: discovery of %s: %v", cfg.Issuer, err)
	}
	return n
}

// nodeStopTimeout bounds the wait for node to exit once its stdin closes.
const nodeStopTimeout = 10 * time.Second

// StartNode starts the openid-client RP without discovery, so a test can
// see a discovery error from Discovery.
func StartNode(t testing.TB, cfg Config) *NodeRP {
	t.Helper()
	modules := testenv.Need(t, testenv.RPNodeModules)
	if _, err := os.Stat(filepath.Join(modules, "openid-client", "package.json")); err != nil {
		testenv.Missing(t, testenv.RPNodeModules+" has no openid-client: "+err.Error())
	}
	node, err := exec.LookPath("node")
	if err != nil {
		testenv.Missing(t, "node is not installed")
	}
	cfg = cfg.withDefaults()
	conf, err := json.Marshal(map[string]any{
		"issuer": cfg.Issuer, "client_id": cfg.ClientID, "client_secret": cfg.ClientSecret,
		"auth_method": cfg.AuthMethod, "redirect_uri": cfg.RedirectURL, "scopes": cfg.Scopes,
		"clock_tolerance": int(cfg.ClockSkew / time.Second),
	})
	if err != nil {
		t.Fatal(err)
	}

	// ES modules resolve packages from the script's own folder, not
	// NODE_PATH: run a copy of the script next to a link to the modules.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rp.mjs"), nodeScript, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(modules, filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "rp.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "RP_CONFIG="+string(conf))
	n := &NodeRP{cfg: cfg, lines: make(chan nodeAnswer, 16), exited: make(chan struct{}), stderr: &testenv.SyncBuffer{}}
	cmd.Stderr = n.stderr
	if n.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("rp.Node: starting node: %v", err)
	}
	go n.read(stdout)
	waited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(waited)
	}()
	t.Cleanup(func() {
		n.stdin.Close() // the script ends when its input does
		select {
		case <-waited:
		case <-time.After(nodeStopTimeout):
			cmd.Process.Kill()
			<-waited
		}
		if t.Failed() {
			if s := n.stderr.String(); s != "" {
				t.Logf("openid-client RP stderr:\n%s", s)
			}
		}
	})
	return n
}

func (n *NodeRP) read(stdout io.Reader) {
	defer close(n.exited)
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var a nodeAnswer
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			a = nodeAnswer{ID: -1, Error: &NodeError{Name: "ProtocolError", Message: fmt.Sprintf("%v: %.200q", err, sc.Bytes())}}
		}
		n.lines <- a
	}
}

// call sends one request and decodes its result into out.
func (n *NodeRP) call(ctx context.Context, op string, args map[string]any, out any) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.next++
	id := n.next
	req := map[string]any{"id": id, "op": op}
	for k, v := range args {
		req[k] = v
	}
	line, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if _, err := n.stdin.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("rp (openid-client): %s: %w; stderr:\n%s", op, err, n.stderr.String())
	}
	for {
		select {
		case a := <-n.lines:
			if a.ID != id && a.ID != -1 {
				continue // the answer to a request whose caller gave up
			}
			if a.Error != nil {
				return a.Error
			}
			if out == nil {
				return nil
			}
			return json.Unmarshal(a.Result, out)
		case <-n.exited:
			return fmt.Errorf("rp (openid-client): node exited during %s; stderr:\n%s", op, n.stderr.String())
		case <-ctx.Done():
			return fmt.Errorf("rp (openid-client): %s: %w", op, ctx.Err())
		}
	}
}

// Config returns the RP's configuration with its defaults.
func (n *NodeRP) Config() Config { return n.cfg }

// Discovery runs openid-client's discovery (once; later calls answer
// from it) and returns the server metadata.
func (n *NodeRP) Discovery(ctx context.Context) (map[string]any, error) {
	var m map[string]any
	err := n.call(ctx, "discover", nil, &m)
	return m, err
}

// AuthRequest builds the authorization request with openid-client:
// random state, nonce and PKCE S256 challenge; params as for RP.AuthRequest
// (a name without values removes the default).
func (n *NodeRP) AuthRequest(ctx context.Context, params url.Values) (*AuthRequest, error) {
	if params == nil {
		params = url.Values{}
	}
	var out struct {
		URL          string `json:"url"`
		State        string `json:"state"`
		Nonce        string `json:"nonce"`
		CodeVerifier string `json:"code_verifier"`
		RedirectURI  string `json:"redirect_uri"`
		Scope        string `json:"scope"`
		MaxAge       *int   `json:"max_age"`
	}
	if err := n.call(ctx, "authorize", map[string]any{"params": params}, &out); err != nil {
		return nil, err
	}
	return &AuthRequest{
		URL: out.URL, State: out.State, Nonce: out.Nonce, CodeVerifier: out.CodeVerifier,
		RedirectURI: out.RedirectURI, Scope: out.Scope, MaxAge: out.MaxAge,
	}, nil
}

// Login runs AuthRequest, the UserAgent and Callback.
func (n *NodeRP) Login(ctx context.Context, params url.Values) (*Tokens, error) {
	return login(ctx, n, n.cfg.UserAgent, params)
}

// Callback hands the redirect to openid-client's authorizationCodeGrant
// with the request's state, nonce, PKCE verifier and max_age: it checks
// iss (RFC 9207), state and error, redeems the code and validates the ID
// token.
func (n *NodeRP) Callback(ctx context.Context, req *AuthRequest, callback *url.URL) (*Tokens, error) {
	if callback == nil {
		return nil, checkErr("callback_url", "no callback")
	}
	return n.tokens(ctx, "callback", map[string]any{
		"url": callback.String(), "state": req.State, "nonce": req.Nonce,
		"code_verifier": req.CodeVerifier, "max_age": req.MaxAge, "scope": req.Scope,
	}, nil)
}

// Refresh runs openid-client's refreshTokenGrant. A refreshed ID token
// must keep the sub; as with the Go RP, the old refresh token, ID token
// and claims carry over when the answer has none.
func (n *NodeRP) Refresh(ctx context.Context, tokens *Tokens) (*Tokens, error) {
	if tokens.RefreshToken == "" {
		return nil, errors.New("rp: no refresh token to refresh")
	}
	return n.tokens(ctx, "refresh", map[string]any{"refresh_token": tokens.RefreshToken}, tokens)
}

func (n *NodeRP) tokens(ctx context.Context, op string, args map[string]any, prev *Tokens) (*Tokens, error) {
	var out struct {
		Tokens map[string]any `json:"tokens"`
		Claims map[string]any `json:"claims"`
	}
	if err := n.call(ctx, op, args, &out); err != nil {
		return nil, err
	}
	str := func(k string) string { s, _ := out.Tokens[k].(string); return s }
	t := &Tokens{
		AccessToken: str("access_token"), TokenType: str("token_type"), RefreshToken: str("refresh_token"),
		IDToken: str("id_token"), Scope: str("scope"), Claims: out.Claims, Response: out.Tokens,
	}
	if f, ok := out.Tokens["expires_in"].(float64); ok {
		t.ExpiresIn = int64(f)
	}
	if prev == nil {
		return t, nil
	}
	if t.RefreshToken == "" {
		t.RefreshToken = prev.RefreshToken
	}
	if t.IDToken == "" {
		t.IDToken, t.Claims = prev.IDToken, prev.Claims
	} else if prev.Claims != nil && t.Subject() != prev.Subject() {
		return nil, checkErr("refresh", "the refreshed ID token's sub %q is not the original's %q", t.Subject(), prev.Subject())
	}
	return t, nil
}

// UserInfo runs openid-client's fetchUserInfo, which requires userinfo's
// sub to equal the ID token's.
func (n *NodeRP) UserInfo(ctx context.Context, tokens *Tokens) (map[string]any, error) {
	var out map[string]any
	err := n.call(ctx, "userinfo", map[string]any{"access_token": tokens.AccessToken, "sub": tokens.Subject()}, &out)
	return out, err
}

// Revoke runs openid-client's tokenRevocation.
func (n *NodeRP) Revoke(ctx context.Context, token, hint string) error {
	return n.call(ctx, "revoke", map[string]any{"token": token, "hint": hint}, nil)
}

// Introspect runs openid-client's tokenIntrospection.
func (n *NodeRP) Introspect(ctx context.Context, token, hint string) (*Introspection, error) {
	var raw json.RawMessage
	if err := n.call(ctx, "introspect", map[string]any{"token": token, "hint": hint}, &raw); err != nil {
		return nil, err
	}
	return parseIntrospection(raw)
}

// LogoutURL runs openid-client's buildEndSessionUrl.
func (n *NodeRP) LogoutURL(ctx context.Context, req LogoutRequest) (string, error) {
	var pairs [][2]string
	for k, vs := range req.values() {
		for _, v := range vs {
			pairs = append(pairs, [2]string{k, v})
		}
	}
	var out struct {
		URL string `json:"url"`
	}
	err := n.call(ctx, "logout_url", map[string]any{"params": pairs}, &out)
	return out.URL, err
}
