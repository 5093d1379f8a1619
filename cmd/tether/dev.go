package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/tether-id/tether/api"
	"github.com/tether-id/tether/app"
	"github.com/tether-id/tether/config"
	"github.com/tether-id/tether/demo"
	"github.com/tether-id/tether/mail"
)

// devSecrets are generated on the first `tether dev` and kept in the data
// directory, so sessions and linked identities survive restarts.
type devSecrets struct {
	SecretKey     string `json:"secret_key"`
	EncryptionKey string `json:"encryption_key"`
	DemoSecret    string `json:"demo_client_secret"`
}

// Demo provider settings.
const (
	demoID       = "demo"
	demoClientID = "tether-dev"
	demoPath     = "/demo"
	// outboxPath shows the mail tether dev would have sent.
	outboxPath = demoPath + "/outbox"
)

func random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func loadDevSecrets(dir string) (devSecrets, error) {
	path := filepath.Join(dir, "dev-secrets.json")
	var s devSecrets
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &s); err != nil {
			return s, fmt.Errorf("%s: %w (delete it to regenerate)", path, err)
		}
		return s, nil
	case !errors.Is(err, os.ErrNotExist):
		return s, err
	}
	s = devSecrets{SecretKey: random(36), EncryptionKey: random(32), DemoSecret: random(24)}
	b, _ = json.MarshalIndent(s, "", "  ")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return s, err
	}
	return s, nil
}

// devConfig is the configuration of `tether dev`: SQLite in dataDir,
// secrets generated once, text logs, and the demo provider. TETHER_*
// variables still apply (TETHER_LISTEN, TETHER_PUBLIC_URL, ...).
func devConfig(dataDir string, environ []string) (*config.Config, devSecrets, error) {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, devSecrets{}, err
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, devSecrets{}, err
	}
	secrets, err := loadDevSecrets(abs)
	if err != nil {
		return nil, devSecrets{}, err
	}
	base := fmt.Sprintf("database: %q\nlog: { format: text }\n", "sqlite://"+filepath.Join(abs, "tether.db"))
	cfg, err := config.Parse([]byte(base), environ, config.Options{Dev: true})
	if err != nil {
		return nil, devSecrets{}, err
	}
	if cfg.SecretKey == "" {
		cfg.SecretKey = secrets.SecretKey
	}
	if cfg.EncryptionKey == "" {
		cfg.EncryptionKey = secrets.EncryptionKey
	}
	cfg.Providers = append(cfg.Providers, config.Provider{
		ID: demoID, Kind: config.KindOIDC, Name: "Demo provider", Enabled: true,
		Issuer: cfg.PublicURL + demoPath, ClientID: demoClientID, ClientSecret: secrets.DemoSecret,
		DirectSignIn: true, Insecure: strings.HasPrefix(cfg.PublicURL, "http://"),
	})
	return cfg, secrets, nil
}

func (e *env) dev(args []string) error {
	fs := e.flags("dev")
	data := fs.String("data", "data", "data directory (SQLite database and generated secrets)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, secrets, err := devConfig(*data, e.environ)
	if err != nil {
		return err
	}
	log := logger(cfg, e.stderr)
	op, err := demo.New(demo.Config{
		Issuer:       cfg.PublicURL + demoPath,
		ClientID:     demoClientID,
		ClientSecret: secrets.DemoSecret,
		RedirectURIs: []string{
			cfg.PublicURL + api.CallbackPath(demoID, config.KindOIDC, true),
			cfg.PublicURL + api.VersiaCallbackPath(demoID),
		},
		PostLogoutRedirectURIs: []string{cfg.PublicURL + "/"},
		Logger:                 log,
	})
	if err != nil {
		return err
	}
	// Without TETHER_SMTP_*, mail goes to an outbox in memory: its page
	// lists the messages with their links, and the log shows each link.
	var outbox *mail.Outbox
	var sender mail.Sender
	outboxLine := ""
	if !cfg.SMTP.Enabled() {
		outbox = mail.NewOutbox(100, log)
		sender = outbox
		outboxLine = fmt.Sprintf("\n  Mail outbox:     %s%s  (tether dev sends no email; links are also logged)", cfg.PublicURL, outboxPath)
	}
	a, err := app.New(e.ctx, cfg, app.Options{
		Logger: log,
		Mount: func(mux *http.ServeMux) {
			mux.Handle(demoPath+"/", op.Handler())
			if outbox != nil {
				mux.Handle("GET "+outboxPath, outbox)
			}
		},
		// A demo on one port: /metrics beside the pages, unless
		// metrics.listen says otherwise.
		PublicMetrics: true,
		MailSender:    sender,
	})
	if err != nil {
		return err
	}
	defer a.Close()
	abs, _ := filepath.Abs(*data)
	banner := func() error {
		fmt.Fprintf(e.stdout, `
tether dev is running.

  Sign in:         %s/login
  Demo provider:   %s%s  (users alice, bob (unverified email), carol; password %q)%s
  Data directory:  %s  (delete it to start over)

Press Ctrl+C to stop.

`, cfg.PublicURL, cfg.PublicURL, demoPath, demo.DemoPassword, outboxLine, abs)
		return nil
	}
	return e.listenAndServe(a, log.With(slog.String("mode", "dev")), cfg.Listen, banner)
}
