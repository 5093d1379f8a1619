package testpeer

import (
	"net"
	"net/http"
	"testing"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
)

// Zitadel starts zitadel/oidc's example OP in-process on 127.0.0.1 and a
// random port, with ClientID registered for redirectURIs (default
// http://rp.test/callback) and the users Alice and Bob. Its issuer ends in
// a slash, like the example's. It stops when the test ends.
//
// The library requires PKCE only from public clients; this OP refuses any
// authorization request without an S256 challenge, like the OPs tether
// meets in production. It has no consent page and puts profile and email
// claims in userinfo only.
func Zitadel(t testing.TB, redirectURIs ...string) *OP {
	t.Helper()
	if len(redirectURIs) == 0 {
		redirectURIs = []string{defaultRedirectURI}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("zitadel OP: %v", err)
	}
	origin := "http://" + ln.Addr().String()
	issuer := origin + "/"

	// The storage's own client map, not storage.RegisterClients, which
	// writes a package-global map that parallel tests would race on.
	clients := map[string]*storage.Client{
		ClientID: storage.WebClient(ClientID, ClientSecret, redirectURIs...),
	}
	st := storage.NewStorageWithClients(zitadelUsers{}, clients)
	router := exampleop.SetupServer(issuer, st, nil, false)

	srv := &http.Server{Handler: requireS256(router)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &OP{
		Issuer:       issuer,
		ClientID:     ClientID,
		ClientSecret: ClientSecret,
		RedirectURIs: redirectURIs,
		origin:       origin,
	}
}

// requireS256 answers 400 to an authorization request without an S256
// PKCE challenge.
func requireS256(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/auth" {
			q := r.URL.Query()
			if q.Get("code_challenge") == "" || q.Get("code_challenge_method") != "S256" {
				http.Error(w, "PKCE with S256 is required", http.StatusBadRequest)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// zitadelUsers is the example storage's UserStore holding Alice and Bob.
type zitadelUsers struct{}

func (zitadelUsers) user(u User, first, last string) *storage.User {
	return &storage.User{
		ID: u.Subject, Username: u.Login, Password: u.Password,
		FirstName: first, LastName: last,
		Email: u.Email, EmailVerified: u.EmailVerified,
	}
}

func (z zitadelUsers) all() []*storage.User {
	return []*storage.User{z.user(Alice, "Alice", "Liddell"), z.user(Bob, "Bob", "Builder")}
}

func (z zitadelUsers) GetUserByID(id string) *storage.User {
	for _, u := range z.all() {
		if u.ID == id {
			return u
		}
	}
	return nil
}

func (z zitadelUsers) GetUserByUsername(name string) *storage.User {
	for _, u := range z.all() {
		if u.Username == name {
			return u
		}
	}
	return nil
}

// ExampleClientID names the example's JWT-profile service user.
func (zitadelUsers) ExampleClientID() string { return storage.ServiceUserID }
