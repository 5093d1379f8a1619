// Package app builds a running tether from a configuration: the store,
// the providers, the core service and the HTTP server with every surface
// registered; and builds it again from a reloaded configuration (Reload)
// without stopping. cmd/tether and end-to-end tests both start tether
// this way, so tests exercise the same wiring as production.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-id/tether/api"
	"github.com/tether-id/tether/api/cloudreve"
	"github.com/tether-id/tether/api/httpx"
	"github.com/tether-id/tether/api/versia"
	"github.com/tether-id/tether/config"
	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/internal/avatar"
	"github.com/tether-id/tether/internal/ratelimit"
	"github.com/tether-id/tether/internal/seal"
	"github.com/tether-id/tether/mail"
	"github.com/tether-id/tether/op"
	"github.com/tether-id/tether/server"
	"github.com/tether-id/tether/store/sqlstore"
	"github.com/tether-id/tether/web"
)

// Options change how New builds an App.
type Options struct {
	Logger *slog.Logger
	// LogLevel, when set, is the level of Logger's handler: New and
	// Reload set it to log.level, which a reload then changes. Without
	// it log.level applies only at start.
	LogLevel *slog.LevelVar
	// HTTPClient is used to talk to upstream providers; nil means a client
	// with sensible timeouts.
	HTTPClient *http.Client
	// Mount registers extra handlers (tether dev mounts the demo OP) on
	// the mux of each configuration.
	Mount func(*http.ServeMux)
	// Now replaces the clock in tests.
	Now func() time.Time
	// Pictures fetches upstream pictures; nil means internal/avatar's,
	// which reaches public https addresses only.
	Pictures core.PictureFetcher
	// PublicMetrics serves /metrics on the main listener when
	// metrics.listen is empty (tether dev). Otherwise /metrics is served
	// only on the metrics listener, never beside the API.
	PublicMetrics bool
	// MailSender sends mail when the configuration has no smtp block
	// (tether dev's outbox); nil means no mail without one.
	MailSender mail.Sender
}

// App is a built tether instance: what lives as long as the process
// (the store, the metrics, the background workers) and the generation
// of the running configuration (the core service and the surfaces on
// their mux), which Reload replaces whole.
type App struct {
	// Config, Service, Server and Callbacks are those New built from the
	// configuration it was given. A Reload serves new ones and leaves
	// these, for the admin commands and tests, which never reload. The
	// services share the store, so any of them reads and writes the same
	// accounts.
	Config    *config.Config
	Store     *sqlstore.Store
	Service   *core.Service
	Server    *server.Server
	Callbacks *api.Callbacks

	log  *slog.Logger
	opts Options
	// Made once, shared by every generation: registering a collector
	// twice panics, and the counts go on across reloads. Whatever keeps
	// state for the process belongs here too, not in build.
	metrics   *server.Metrics
	opMetrics *op.Metrics
	outcomes  outcomes
	refresher *web.Refresher
	mail      *mailing

	gen      atomic.Pointer[generation]
	reloadMu sync.Mutex // one Reload at a time
}

// generation is tether as one configuration builds it on the App's
// store: the core service, the surfaces on their mux, the rate limiters
// and the providers. Each request runs on the generation it started on,
// whole (App.Handler), so a reload never mixes two configurations in one
// answer. An old generation keeps nothing running: once its last request
// is answered it is garbage.
type generation struct {
	cfg       *config.Config
	svc       *core.Service
	srv       *server.Server
	callbacks *api.Callbacks
	handler   http.Handler
	upstreams map[string]upstreamOf
	limits    limits
	mail      mailSetup
}

// New builds an App from cfg: it opens (and, with auto_migrate, migrates)
// the store, builds every provider and registers every surface.
func New(ctx context.Context, cfg *config.Config, opts Options) (*App, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Pictures == nil {
		opts.Pictures = func(ctx context.Context, u string) (string, []byte, error) {
			img, err := avatar.Fetch(ctx, u)
			return img.Type, img.Data, err
		}
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = upstreamClient()
	}
	st, err := sqlstore.Open(ctx, cfg.Database)
	if err != nil {
		return nil, err
	}
	if cfg.AutoMigrate {
		if err := st.Migrate(ctx); err != nil {
			st.Close()
			return nil, fmt.Errorf("database: migrate: %w", err)
		}
	}
	a := &App{Store: st, log: opts.Logger, opts: opts, refresher: web.NewRefresher(opts.Now), mail: &mailing{}}
	a.metrics = server.NewMetrics(nil)
	a.opMetrics = op.NewMetrics(a.metrics.Registry())
	a.outcomes = a.newOutcomes(cfg, a.metrics.Registry())
	g, err := a.build(cfg, nil)
	if err != nil {
		st.Close()
		return nil, err
	}
	a.gen.Store(g)
	a.setLogLevel(cfg)
	a.registerMailMetrics(a.metrics.Registry())
	a.Config, a.Service, a.Server, a.Callbacks = g.cfg, g.svc, g.srv, g.callbacks
	return a, nil
}

// upstreamClient is the HTTP client tether talks to its providers with.
// Every finish sends a token request to the same few hosts, so it keeps
// as many idle connections per host as sign-ins run at once: with
// http.DefaultTransport's two, most token requests under load would dial
// (and shake hands with TLS) again; measured, that was a fifth of the
// CPU of a sign-in (bench.BenchmarkBrokeredSignIn).
func upstreamClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 64
	return &http.Client{Timeout: 15 * time.Second, Transport: t}
}

// build makes the generation of cfg. prev is the running one (nil at
// start): a reload keeps its providers and rate limiters whose settings
// did not change, caches and counts included, and its core service hands
// over to the new one. build runs at every reload, so it registers no
// metrics and starts nothing in the background: those are the App's.
func (a *App) build(cfg *config.Config, prev *generation) (*generation, error) {
	opts := a.opts
	var prevUpstreams map[string]upstreamOf
	var prevLimits *limits
	if prev != nil {
		prevUpstreams, prevLimits = prev.upstreams, &prev.limits
	}
	providers, upstreams, err := providers(cfg, func(id string) *http.Client {
		return a.outcomes.UpstreamClient(id, opts.HTTPClient)
	}, prevUpstreams)
	if err != nil {
		return nil, err
	}
	encKey, err := seal.ParseKey(cfg.EncryptionKey)
	if err != nil {
		return nil, fmt.Errorf("encryption_key: %w", err)
	}
	mailer, err := newMailSetup(cfg, opts.MailSender)
	if err != nil {
		return nil, err
	}
	svcOpts := core.Options{
		Store:          a.Store,
		Providers:      providers,
		Secret:         []byte(cfg.SecretKey),
		EncryptionKey:  encKey,
		AccessTTL:      cfg.Tokens.AccessTTL.D(),
		RefreshTTL:     cfg.Tokens.RefreshTTL.D(),
		FlowTTL:        cfg.Flows.TTL.D(),
		EventRetention: cfg.Events.Retention.D(),
		BindBrowser:    cfg.Flows.BindBrowser,
		PasswordSignUp: cfg.Registration.Password,
		Issuer:         cfg.PublicURL,
		Apps:           Apps(cfg.Clients),
		KeyRotation:    cfg.SigningKeys.RotateEvery.D(),
		AccessTokenAlg: cfg.SigningKeys.AccessTokenAlg,
		Pictures:       opts.Pictures,
		Mail:           mailer.core,
		Now:            opts.Now,
		Logger:         opts.Logger,
	}
	var svc *core.Service
	if prev == nil {
		svc, err = core.New(svcOpts)
	} else {
		svc, err = prev.svc.Successor(svcOpts)
	}
	if err != nil {
		return nil, err
	}
	var proxies []netip.Prefix
	for _, p := range cfg.RateLimit.TrustedProxies {
		prefix, err := config.ParsePrefix(p)
		if err != nil {
			return nil, fmt.Errorf("rate_limit.trusted_proxies: %w", err)
		}
		proxies = append(proxies, prefix)
	}
	cors, err := server.NewCORS(cfg.CORS.AllowedOrigins, corsRules)
	if err != nil {
		return nil, fmt.Errorf("cors.allowed_origins: %w", err)
	}
	srv := server.New(server.Options{
		Logger: opts.Logger, TrustedProxies: proxies, Ready: a.Store.Ping, Metrics: a.metrics,
		PublicMetrics: opts.PublicMetrics && cfg.Metrics.Listen == "",
		CORS:          cors,
	})
	lim := newLimits(cfg.RateLimit, prevLimits, opts.Now)
	callbacks := api.NewCallbacks(cfg.PublicURL, cfg.Cloudreve.FrontendURL, providers)
	// The binder's key, like the pages' CSRF key, derives from
	// secret_key, which a reload keeps: cookies and forms made before a
	// reload verify after it.
	binder := httpx.NewBinder([]byte(cfg.SecretKey), cfg.PublicURL, cfg.Flows.TTL.D(), cfg.CORS.AllowedOrigins...)
	cloudreve.New(svc, cloudreve.Options{
		PublicURL: cfg.PublicURL, Callbacks: callbacks, Debug: cfg.Debug, Binder: binder,
		Limiter: lim.ip, Accounts: lim.accounts, MailQuota: lim.mail, Metrics: a.outcomes.cloudreve, Logger: opts.Logger,
	}).Register(srv.Mux)
	versia.New(svc, versia.Options{
		PublicURL: cfg.PublicURL, FrontendURL: cfg.Versia.FrontendURL, Callbacks: callbacks, Binder: binder, Limiter: lim.ip, Now: opts.Now,
		Metrics: a.outcomes.versia, Logger: opts.Logger,
	}).Register(srv.Mux)
	// The pages are the OpenID Provider's op.Browser, and resume its
	// authorization requests after a sign-in (op.Handler.Resume).
	var provider *op.Handler
	pages, err := web.New(svc, web.Options{
		PublicURL: cfg.PublicURL, Callbacks: callbacks, Secret: []byte(cfg.SecretKey), RedirectAllowList: cfg.Web.RedirectAllowList,
		Binder: binder, Limiter: lim.ip, Accounts: lim.accounts, MailQuota: lim.mail, Refresher: a.refresher, Now: opts.Now,
		Metrics: a.outcomes.web, Logger: opts.Logger,
		Resume: func(w http.ResponseWriter, r *http.Request, next string, b *core.BrowserSession) bool {
			return provider.Resume(w, r, next, b)
		},
	})
	if err != nil {
		return nil, err
	}
	pages.Register(srv.Mux)
	provider, err = op.New(svc, op.Options{Issuer: cfg.PublicURL, Browser: pages, Limiter: lim.ip, Metrics: a.opMetrics,
		Outcomes: a.outcomes.op, Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	provider.Register(srv.Mux)
	srv.Mux.HandleFunc("GET /api/openapi.json", serveOpenAPI)
	if opts.Mount != nil {
		opts.Mount(srv.Mux)
	}
	return &generation{
		cfg: cfg, svc: svc, srv: srv, callbacks: callbacks, handler: srv.Handler(),
		upstreams: upstreams, limits: lim, mail: mailer,
	}, nil
}

// limits are a generation's rate limiters, which every surface shares so
// that a client or an email has one budget however it comes; nil for
// the ones configured off. A reload keeps each limiter whose settings
// did not change, with what it has counted; one whose settings changed
// starts afresh.
type limits struct {
	cfg      config.RateLimit
	ip       *ratelimit.Limiter
	accounts *ratelimit.Backoff
	mail     *ratelimit.Quota
}

func newLimits(rl config.RateLimit, prev *limits, now func() time.Time) limits {
	l := limits{cfg: rl}
	if !rl.Enabled {
		return l
	}
	was := prev != nil && prev.cfg.Enabled && prev.cfg.MaxKeys == rl.MaxKeys
	if was && prev.ip != nil && prev.cfg.PerIPPerMinute == rl.PerIPPerMinute && prev.cfg.IPv6Prefix == rl.IPv6Prefix {
		l.ip = prev.ip
	} else {
		l.ip = ratelimit.New(ratelimit.Options{PerMinute: rl.PerIPPerMinute, IPv6Prefix: rl.IPv6Prefix, MaxKeys: rl.MaxKeys, Now: now})
	}
	switch {
	case rl.PerAccountFailures == 0:
	case was && prev.accounts != nil && prev.cfg.PerAccountFailures == rl.PerAccountFailures &&
		prev.cfg.PerAccountLockout == rl.PerAccountLockout && prev.cfg.PerAccountMaxLockout == rl.PerAccountMaxLockout:
		l.accounts = prev.accounts
	default:
		l.accounts = ratelimit.NewBackoff(ratelimit.BackoffOptions{
			Free: rl.PerAccountFailures, Lockout: rl.PerAccountLockout.D(), MaxLockout: rl.PerAccountMaxLockout.D(),
			MaxKeys: rl.MaxKeys, Now: now,
		})
	}
	switch {
	case rl.MailPerAddress == 0:
	case was && prev.mail != nil && prev.cfg.MailPerAddress == rl.MailPerAddress && prev.cfg.MailWindow == rl.MailWindow:
		l.mail = prev.mail
	default:
		l.mail = ratelimit.NewQuota(ratelimit.QuotaOptions{Burst: rl.MailPerAddress, Window: rl.MailWindow.D(), MaxKeys: rl.MaxKeys, Now: now})
	}
	return l
}

func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	doc, err := api.OpenAPI()
	if err != nil {
		http.Error(w, "openapi document unavailable", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(doc) // CORS: any origin, see corsRules
}

// Handler is the whole HTTP handler. Each request is answered by the
// generation that is current when it arrives, to its end: a reload
// while it runs does not change what it sees.
func (a *App) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.gen.Load().handler.ServeHTTP(w, r)
	})
}

// current is the running generation.
func (a *App) current() *generation { return a.gen.Load() }

// Close stops the mail worker, waits for the work requests left to the
// background (by every generation: their services share it), and
// releases the store.
func (a *App) Close() error {
	a.Service.Wait()
	a.stopMail()
	return a.Store.Close()
}

// MaxHeaderBytes bounds a request's headers (net/http allows 1 MiB):
// tether's requests carry a few cookies and a bearer token.
const MaxHeaderBytes = 16 << 10

// httpServer is how every listener of tether is served: with timeouts
// and bounded headers.
func (a *App) httpServer(ctx context.Context, h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
}

// Serve answers on ln, and serves /metrics on metrics when it is not nil
// (the listener of metrics.listen), until ctx is done; then it shuts
// down gracefully: it stops accepting, lets requests in flight finish
// (up to 15s) and stops the janitor that purges expired flows and
// tokens. If either server stops on its own, the other is shut down too
// and the error returned.
func (a *App) Serve(ctx context.Context, ln, metrics net.Listener) error {
	type served struct {
		hs *http.Server
		ln net.Listener
	}
	all := []served{{a.httpServer(ctx, a.Handler()), ln}}
	if metrics != nil {
		all = append(all, served{a.httpServer(ctx, a.metrics.Handler()), metrics})
	}
	a.StartMail()
	var wg sync.WaitGroup
	janitorCtx, stopJanitor := context.WithCancel(ctx)
	defer stopJanitor()
	wg.Go(func() { a.janitor(janitorCtx, time.Minute) })

	errc := make(chan error, len(all))
	for _, s := range all {
		go func() { errc <- s.hs.Serve(s.ln) }()
	}
	var err error
	pending := len(all)
	select {
	case err = <-errc:
		pending--
	case <-ctx.Done():
		a.log.Info("shutting down")
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for _, s := range all {
		if e := s.hs.Shutdown(shutdownCtx); errors.Is(e, context.DeadlineExceeded) {
			s.hs.Close()
		} else if e != nil && err == nil {
			err = e
		}
	}
	stopJanitor()
	wg.Wait()
	for range pending {
		if e := <-errc; !errors.Is(e, http.ErrServerClosed) && err == nil {
			err = e
		}
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Purge deletes what has expired (core.Service.Purge), as the janitor
// does every minute, and counts the flows that expired unused.
func (a *App) Purge(ctx context.Context) (core.Purged, error) {
	p, err := a.current().svc.Purge(ctx)
	a.outcomes.FlowsExpired(p.Flows)
	return p, err
}

// janitor purges expired flows and dead refresh tokens every interval.
func (a *App) janitor(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			g := a.current()
			p, err := a.Purge(ctx)
			if err != nil && ctx.Err() == nil {
				a.log.Warn("purge failed", "err", err)
			} else if p != (core.Purged{}) {
				a.log.Debug("purged", "flows", p.Flows, "refresh_tokens", p.RefreshTokens, "events", p.Events, "grants", p.Grants,
					"email_links", p.EmailLinks, "mail", p.Mail)
			}
			if len(g.cfg.Clients) > 0 {
				// Every instance looks; one of them makes each new key.
				if _, err := g.svc.RotateKeys(ctx, false); err != nil && ctx.Err() == nil {
					a.log.Warn("signing key rotation failed", "err", err)
				}
			}
		}
	}
}
