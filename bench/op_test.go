package bench

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/tether-id/tether/config"
	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/testkit/pgtest"
	"github.com/tether-id/tether/testkit/tethertest"
)

// These tests keep the benchmarks honest: the bench OP passes tether's
// full ID-token validation and refuses what an OP must refuse, seeded
// accounts are what sign-ins leave, and the process harness reads what
// it should. They run in the normal test suite; the benchmarks do not.

// inProcess starts tether in this process on dsn with op as its OIDC
// provider, under PublicURL.
func inProcess(t *testing.T, dsn string, op *OP) *tethertest.Server {
	return tethertest.Start(t, tethertest.Options{
		Database: dsn,
		Logger:   slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Configure: func(c *config.Config) {
			c.PublicURL = PublicURL
			c.Providers = []config.Provider{{
				ID: ProviderID, Kind: config.KindOIDC, Name: "Bench", Enabled: true, DirectSignIn: true,
				Issuer: op.Issuer, ClientID: op.ClientID, ClientSecret: op.ClientSecret,
			}}
		},
	})
}

func TestOPSignIn(t *testing.T) {
	op := NewOP(t, tethertest.OIDCCallbackURL(PublicURL))
	srv := inProcess(t, "sqlite://"+filepath.Join(t.TempDir(), "tether.db"), op)
	br := NewBrowser(NewTransport(1))

	// Nobody signed in at the OP: it says so, through the redirect.
	authURL, err := br.Prepare(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := br.Authorize(authURL); err == nil || !strings.Contains(err.Error(), "login_required") {
		t.Fatalf("authorize without an OP session: %v, want login_required", err)
	}

	op.SetUser(br.Jar, "alice")
	var first, again tethertest.Login
	for _, l := range []*tethertest.Login{&first, &again} {
		authURL, err := br.Prepare(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		q, err := br.Authorize(authURL)
		if err != nil {
			t.Fatal(err)
		}
		if q.Get("iss") != op.Issuer || q.Get("code") == "" {
			t.Fatalf("callback query %v", q)
		}
		data, err := br.Finish(srv.URL, FinishBody(q))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, l); err != nil {
			t.Fatal(err)
		}
		// The code is single use: a replay of the finish fails (the flow
		// is consumed), and so does redeeming it at the OP again.
		if _, err := br.Finish(srv.URL, FinishBody(q)); err == nil || !strings.Contains(err.Error(), "40023") {
			t.Fatalf("replayed finish: %v, want 40023", err)
		}
	}
	email, _ := Profile("alice")
	if first.User.Email != email || again.User.ID != first.User.ID || first.Token.AccessToken == "" {
		t.Fatalf("first sign-in %+v, second %+v: want one account of %s", first.User, again.User, email)
	}
	if op.Authorized.Load() != 2 || op.Redeemed.Load() != 2 {
		t.Fatalf("the OP issued %d and redeemed %d codes, want 2 and 2", op.Authorized.Load(), op.Redeemed.Load())
	}
	// The identity holds what StoredClaims says, so seeded identities
	// look like returning ones.
	id, err := srv.App.Store.GetIdentity(t.Context(), core.IdentityKey{ProviderID: ProviderID, Issuer: op.Issuer, Subject: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if string(id.Claims) != StoredClaims(op.Issuer, op.ClientID, "alice") {
		t.Fatalf("stored claims %s, StoredClaims says %s", id.Claims, StoredClaims(op.Issuer, op.ClientID, "alice"))
	}
}

// TestOPRefuses: the token endpoint checks the client, the verifier, the
// redirect URI and single use.
func TestOPRefuses(t *testing.T) {
	const redirect = "http://127.0.0.1/cb"
	op := NewOP(t, redirect)
	br := NewBrowser(NewTransport(1))
	op.SetUser(br.Jar, "bob")
	verifier := strings.Repeat("v", 43)
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	code := func() string {
		q, err := br.Authorize(op.Issuer + "/authorize?" + url.Values{
			"response_type": {"code"}, "client_id": {op.ClientID}, "redirect_uri": {redirect}, "scope": {"openid"},
			"state": {"s"}, "nonce": {"n"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
		}.Encode())
		if err != nil {
			t.Fatal(err)
		}
		return q.Get("code")
	}
	redeem := func(code, verifier, redirectURI, secret string) (int, string) {
		req, _ := http.NewRequest("POST", op.Issuer+"/token", strings.NewReader(url.Values{
			"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {redirectURI},
		}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(op.ClientID, secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tt := range []struct {
		name                     string
		verifier, redirect, secr string
		status                   int
		want                     string
	}{
		{"wrong secret", verifier, redirect, "nope", 401, "invalid_client"},
		{"wrong verifier", strings.Repeat("w", 43), redirect, op.ClientSecret, 400, "PKCE"},
		{"wrong redirect", verifier, redirect + "x", op.ClientSecret, 400, "redirect_uri"},
	} {
		if status, body := redeem(code(), tt.verifier, tt.redirect, tt.secr); status != tt.status || !strings.Contains(body, tt.want) {
			t.Errorf("%s: HTTP %d %s, want %d and %q", tt.name, status, body, tt.status, tt.want)
		}
	}
	c := code()
	if status, body := redeem(c, verifier, redirect, op.ClientSecret); status != 200 || !strings.Contains(body, "id_token") {
		t.Fatalf("good redemption: HTTP %d %s", status, body)
	}
	if status, body := redeem(c, verifier, redirect, op.ClientSecret); status != 400 || !strings.Contains(body, "invalid_grant") {
		t.Fatalf("second redemption: HTTP %d %s, want invalid_grant", status, body)
	}
}

// TestSeed: seeded accounts sign in as returning people (no account is
// created, the identity's profile is unchanged), on both databases.
func TestSeed(t *testing.T) {
	dbs := map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "tether.db") },
		"postgres": func(t *testing.T) string { return pgtest.URL(t) },
	}
	for name, dsn := range dbs {
		t.Run(name, func(t *testing.T) {
			dsn := dsn(t)
			op := NewOP(t, tethertest.OIDCCallbackURL(PublicURL))
			const n = 2500
			seed := Seed{N: n, Issuer: op.Issuer, ClientID: op.ClientID, ProviderID: ProviderID, Batch: 1000}
			if err := SeedDatabase(context.Background(), dsn, seed); err != nil {
				t.Fatal(err)
			}
			srv := inProcess(t, dsn, op)
			users, err := srv.App.Store.ListUsers(t.Context())
			if err != nil || len(users) != n {
				t.Fatalf("%d users (%v), want %d", len(users), err, n)
			}
			sub := SeedSubject(n - 1)
			key := core.IdentityKey{ProviderID: ProviderID, Issuer: op.Issuer, Subject: sub}
			before, err := srv.App.Store.GetIdentity(t.Context(), key)
			if err != nil {
				t.Fatal(err)
			}
			br := NewBrowser(NewTransport(1))
			op.SetUser(br.Jar, sub)
			authURL, err := br.Prepare(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			q, err := br.Authorize(authURL)
			if err != nil {
				t.Fatal(err)
			}
			data, err := br.Finish(srv.URL, FinishBody(q))
			if err != nil {
				t.Fatal(err)
			}
			var login tethertest.Login
			if err := json.Unmarshal(data, &login); err != nil {
				t.Fatal(err)
			}
			email, name := Profile(sub)
			if login.User.ID != before.UserID || login.User.Email != email || login.User.Nickname != name {
				t.Fatalf("signed in %+v, want the seeded account %s (%s)", login.User, before.UserID, email)
			}
			after, err := srv.App.Store.GetIdentity(t.Context(), key)
			if err != nil {
				t.Fatal(err)
			}
			if string(after.Claims) != string(before.Claims) || !after.LastSignInAt.After(before.LastSignInAt) {
				t.Fatalf("identity after the sign-in: claims %s (were %s), last sign-in %v (was %v): want only the time moved",
					after.Claims, before.Claims, after.LastSignInAt, before.LastSignInAt)
			}
			if users, _ := srv.App.Store.ListUsers(t.Context()); len(users) != n {
				t.Fatalf("%d users after the sign-in, want %d", len(users), n)
			}
			// A second seed of the same numbers fails: the rows exist.
			if err := SeedDatabase(context.Background(), dsn, seed); err == nil {
				t.Fatal("seeding the same accounts twice succeeded")
			}
		})
	}
}

// TestProcesses: the bare process and a tether process start, serve a
// sign-in, and have CPU time and a peak RSS to read.
func TestProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds tether")
	}
	op := NewOP(t, tethertest.OIDCCallbackURL(PublicURL))
	bare := StartBare(t)
	tether := StartTether(t, "test", TetherConfig("sqlite://"+filepath.Join(t.TempDir(), "tether.db"), op))
	br := NewBrowser(NewTransport(1))
	if _, err := br.Bare(bare.URL); err != nil {
		t.Fatal(err)
	}
	op.SetUser(br.Jar, "carol")
	if _, err := br.SignIn(tether.URL); err != nil {
		t.Fatalf("%v\n%s", err, tether.Log())
	}
	for _, p := range []*Process{bare, tether} {
		if cpu, rss := p.CPU(t), p.PeakRSS(t); cpu < 0 || rss < 1<<20 {
			t.Errorf("%s: CPU %v, peak RSS %d bytes", p.URL, cpu, rss)
		}
	}
}

// TestAppSignIn: the app sign-in of BenchmarkAppSignIn is a real one.
// For each app, a signed-out browser goes upstream every time and comes
// back with an ID token that go-oidc verifies against tether's JWKS with
// the app's algorithm, for the same person in both apps; the access
// token is good at userinfo; and the bare twin answers its four requests.
func TestAppSignIn(t *testing.T) {
	if testing.Short() {
		t.Skip("builds tether")
	}
	op := NewOP(t, tethertest.OIDCCallbackURL(PublicURL))
	bare := StartBare(t)
	p := StartTether(t, "test-app", AppConfig("sqlite://"+filepath.Join(t.TempDir(), "tether.db"), op, AppRS256, AppES256))
	br := NewBrowser(NewTransport(1))
	if _, err := br.BareApp(bare.URL); err != nil {
		t.Fatal(err)
	}
	ctx := oidc.InsecureIssuerURLContext(t.Context(), PublicURL)
	keys := oidc.NewRemoteKeySet(ctx, p.URL+"/oauth2/jwks")
	subjects := map[string]bool{}
	for _, app := range []App{AppRS256, AppES256} {
		for range 2 {
			before := op.Authorized.Load()
			tok, _, err := br.AppSignIn(p.URL, op, app, "dora")
			if err != nil {
				t.Fatalf("%s: %v\n%s", app.ID, err, p.Log())
			}
			if op.Authorized.Load() != before+1 {
				t.Errorf("%s: the sign-in did not go to the OP", app.ID)
			}
			v := oidc.NewVerifier(PublicURL, keys, &oidc.Config{ClientID: app.ID, SupportedSigningAlgs: []string{app.Alg}})
			id, err := v.Verify(ctx, tok.IDToken)
			if err != nil {
				t.Fatalf("%s: ID token: %v", app.ID, err)
			}
			subjects[id.Subject] = true
			req, _ := http.NewRequest("GET", p.URL+"/oauth2/userinfo", nil)
			req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
			resp, err := br.Client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var info struct{ Sub, Email string }
			json.NewDecoder(resp.Body).Decode(&info)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || info.Sub != id.Subject || info.Email != "dora@bench.test" {
				t.Errorf("%s: userinfo HTTP %d %+v, want sub %s", app.ID, resp.StatusCode, info, id.Subject)
			}
		}
	}
	if len(subjects) != 1 {
		t.Errorf("one person has subjects %v in the two apps, want one", subjects)
	}
}
