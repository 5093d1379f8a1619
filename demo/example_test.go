package demo_test

import (
	"log"
	"net/http"

	"github.com/tether-id/tether/demo"
)

// The OP is mounted at its issuer's path on the server that also serves the
// relying party; its handler expects the full paths.
func ExampleNew() {
	op, err := demo.New(demo.Config{
		Issuer:       "http://127.0.0.1:5212/demo",
		ClientID:     "tether-dev",
		ClientSecret: "generated at start",
		RedirectURIs: []string{"http://127.0.0.1:5212/callback/demo"},
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/demo/", op.Handler())
	// ... tether's own routes on mux, then http.ListenAndServe("127.0.0.1:5212", mux)
}
