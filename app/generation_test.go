package app

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"weak"

	"github.com/tether-id/tether/config"
	"github.com/tether-id/tether/mail"
)

// TestOldGenerationReleased: once a reload has replaced a generation and
// its requests are answered, nothing keeps it: no goroutine, timer or
// worker holds its server, surfaces or service, so reloads do not
// accumulate memory. (The mail worker runs on the first generation's
// service, so the one checked is the second.)
func TestOldGenerationReleased(t *testing.T) {
	cfg := config.Defaults()
	cfg.PublicURL = "http://127.0.0.1:1"
	cfg.Database = "sqlite://" + filepath.Join(t.TempDir(), "tether.db")
	cfg.SecretKey, cfg.EncryptionKey = strings.Repeat("k", 32), "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	cfg.Providers = []config.Provider{{ID: "corp", Kind: config.KindOIDC, Name: "Corp", Enabled: true, Issuer: "https://corp.example", ClientID: "x", ClientSecret: "y"}}
	cfg.Clients = []config.Client{{ID: "app", Name: "App", Secret: "app-secret-0123456789", RedirectURIs: []string{"https://app.example/cb"}, IDTokenAlg: "RS256"}}
	log := slog.New(slog.DiscardHandler)
	a, err := New(context.Background(), &cfg, Options{Logger: log, MailSender: mail.NewOutbox(10, log)})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	a.StartMail()
	reload := func(origin string) {
		t.Helper()
		next := cfg
		next.CORS.AllowedOrigins = []string{origin}
		if _, err := a.Reload(&next); err != nil {
			t.Fatal(err)
		}
	}
	reload("https://second.example")
	second := a.current()
	for _, r := range []*http.Request{
		httptest.NewRequest("GET", "/login", nil),
		httptest.NewRequest("GET", "/api/v4/site/config/login", nil),
		httptest.NewRequest("GET", "/.well-known/openid-configuration", nil),
		httptest.NewRequest("GET", "/oauth2/authorize?client_id=app&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&response_type=code&scope=openid", nil),
		httptest.NewRequest("POST", "/api/v4/session/token", strings.NewReader(`{"email":"a@b.example","password":"wrong password"}`)),
	} {
		a.Handler().ServeHTTP(httptest.NewRecorder(), r)
	}
	srv, svc, gen := weak.Make(second.srv), weak.Make(second.svc), weak.Make(second)
	second = nil
	reload("https://third.example")
	for range 5 {
		runtime.GC()
	}
	if srv.Value() != nil || svc.Value() != nil || gen.Value() != nil {
		t.Errorf("the replaced generation is still reachable: server %v, service %v, generation %v",
			srv.Value() != nil, svc.Value() != nil, gen.Value() != nil)
	}
}
