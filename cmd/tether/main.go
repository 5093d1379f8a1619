// Command tether runs the tether sign-in broker and administers it.
//
//	tether serve --config tether.yaml   production server (--pid-file FILE; --cpuprofile FILE: diagnostics)
//	tether reload --config tether.yaml  make the running server read its configuration again (SIGHUP)
//	tether dev [--data DIR]             zero-config demo with a built-in OpenID provider
//	tether migrate --config tether.yaml apply database migrations
//	tether backup --config tether.yaml --to FILE     online copy of a SQLite database
//	tether restore --config tether.yaml --from FILE  put a backup back, the server stopped
//	tether healthcheck [--url URL]      GET /healthz: exit 0 when it answers 200 (the image's HEALTHCHECK)
//	tether doctor --config tether.yaml  check every provider's setup
//	tether user add|list|set|events     administer accounts
//	tether events --config tether.yaml  read (or --follow) the audit trail of every account
//	tether keys list|rotate             the OpenID Provider's signing keys
//	tether version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"

	"github.com/tether-id/tether/app"
	"github.com/tether-id/tether/config"
	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/store/sqlstore"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Environ()))
}

// env is what a command may touch, so tests can run commands in-process.
type env struct {
	ctx     context.Context
	stdin   io.Reader
	stdout  io.Writer
	stderr  io.Writer
	environ []string
	// listening, when set, is told the addresses the server listens on:
	// the main one, and the metrics one ("" when none).
	listening func(addr, metricsAddr string)
	// following, when set, is told the cursor tether events --follow
	// starts after, once it has it.
	following func(core.EventCursor)
	// upstream, when set, is the HTTP client admin commands reach the
	// providers with (tests: one that trusts a test server's TLS
	// certificate); nil is app's.
	upstream *http.Client
	// usageShown is set once a FlagSet has printed its usage: the
	// command's arguments were wrong (exit status 2).
	usageShown bool
}

const usage = `usage: tether <command> [flags]

commands:
  serve    --config FILE        run the server (--pid-file FILE: write its process id there;
                                --cpuprofile FILE: write a CPU profile until it stops)
  reload   --config FILE        make the running server read its configuration again
           | --pid-file FILE    (sends it SIGHUP; the server's log says what changed)
  dev      [--data DIR]         run a zero-config demo (SQLite, demo provider)
  migrate  --config FILE        apply database migrations
  backup   --config FILE --to BACKUP    copy a SQLite database while tether serves from it (--force: replace BACKUP)
  restore  --config FILE --from BACKUP  put a backup back, every tether on the database stopped (--keep=false)
  healthcheck [--url URL]       GET /healthz of a running tether: exit 0 on 200, else 1
  doctor   --config FILE        check each provider: discovery, issuer, keys, redirect URIs
  user     add|list|set|events  administer accounts (tether user -h)
  events   --config FILE        read the audit trail, or --follow it as JSON lines (tether events -h)
  keys     list|rotate          the OpenID Provider's signing keys (tether keys -h)
  version                       print the version
`

// errUsage marks errors whose message is the usage text already printed.
var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, environ []string) int {
	e := &env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, environ: environ}
	return e.exit(e.dispatch(args))
}

func (e *env) exit(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage), errors.Is(err, flag.ErrHelp):
		return 2
	case e.usageShown: // a flag the command does not know; the FlagSet said so
		return 2
	}
	fmt.Fprintln(e.stderr, "tether:", err)
	return 1
}

func (e *env) dispatch(args []string) error {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, usage)
		return errUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return e.serve(rest)
	case "reload":
		return e.reload(rest)
	case "dev":
		return e.dev(rest)
	case "migrate":
		return e.migrate(rest)
	case "backup":
		return e.backup(rest)
	case "restore":
		return e.restore(rest)
	case "healthcheck":
		return e.healthcheck(rest)
	case "doctor":
		return e.doctor(rest)
	case "user":
		return e.user(rest)
	case "events":
		return e.events(rest)
	case "keys":
		return e.keys(rest)
	case "version", "--version", "-v":
		fmt.Fprintln(e.stdout, "tether", versionString())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(e.stdout, usage)
		return nil
	}
	fmt.Fprintf(e.stderr, "tether: unknown command %q\n\n%s", cmd, usage)
	return errUsage
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// flags returns a FlagSet that prints its usage to stderr.
func (e *env) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("tether "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		e.usageShown = true
		fmt.Fprintf(fs.Output(), "Usage of %s:\n", fs.Name())
		fs.PrintDefaults()
	}
	return fs
}

// configFlags adds --config and --dev (use tether dev's configuration and
// data directory) to fs.
type configFlags struct {
	path string
	dev  bool
	data string
}

func (c *configFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&c.path, "config", "", "configuration file (YAML)")
	fs.BoolVar(&c.dev, "dev", false, "use the configuration of `tether dev`")
	fs.StringVar(&c.data, "data", "data", "with --dev: the data directory")
}

func (e *env) loadConfig(c configFlags) (*config.Config, error) {
	if c.dev {
		cfg, _, err := devConfig(c.data, e.environ)
		return cfg, err
	}
	if c.path == "" {
		return nil, errors.New("--config FILE is required (or --dev for the dev setup)")
	}
	return config.Load(c.path, e.environ, config.Options{})
}

func logger(cfg *config.Config, w io.Writer) *slog.Logger {
	return leveledLogger(cfg, w, new(slog.LevelVar))
}

// leveledLogger is a logger whose level is level, set to log.level: a
// reload sets it again (app.Options.LogLevel).
func leveledLogger(cfg *config.Config, w io.Writer, level *slog.LevelVar) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(cfg.Log.Level))
	level.Set(l)
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func (e *env) serve(args []string) error {
	fs := e.flags("serve")
	var c configFlags
	var cpuProfile, pidFile string
	fs.StringVar(&c.path, "config", "", "configuration file (YAML)")
	fs.StringVar(&pidFile, "pid-file", "", "write the process id to `FILE` while serving, for tether reload (overrides pid_file)")
	fs.StringVar(&cpuProfile, "cpuprofile", "", "diagnostics: write a CPU profile (pprof) of the server to `FILE`, from the moment it listens until it stops")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.path == "" {
		fmt.Fprintln(e.stderr, "tether serve: --config FILE is required")
		return errUsage
	}
	// SIGHUP reloads the configuration. Asked for before anything else,
	// so that an early one never ends the process (its default action).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	cfg, err := config.Load(c.path, e.environ, config.Options{})
	if err != nil {
		return err
	}
	level := new(slog.LevelVar)
	log := leveledLogger(cfg, e.stderr, level)
	a, err := app.New(e.ctx, cfg, app.Options{Logger: log, LogLevel: level})
	if err != nil {
		return err
	}
	defer a.Close()
	if cpuProfile != "" {
		stop, err := startCPUProfile(cpuProfile)
		if err != nil {
			return err
		}
		defer func() {
			if err := stop(); err != nil {
				log.Error("cpu profile not written", "file", cpuProfile, "err", err)
			}
		}()
		log.Info("writing a CPU profile until shutdown", "file", cpuProfile)
	}
	stopReloads := make(chan struct{})
	reloads := make(chan struct{})
	go func() {
		defer close(reloads)
		for {
			select {
			case <-hup:
				e.reloadFrom(a, log, c.path)
			case <-stopReloads:
				return
			}
		}
	}()
	defer func() { close(stopReloads); <-reloads }()
	if pidFile == "" {
		pidFile = cfg.PIDFile
	}
	// The process id is written once the server listens, and removed
	// when it stops.
	removePID := func() {}
	defer func() { removePID() }()
	ready := func() error {
		if pidFile == "" {
			return nil
		}
		var err error
		removePID, err = writePIDFile(pidFile)
		return err
	}
	return e.listenAndServe(a, log, cfg.Listen, ready)
}

// reloadFrom reads the configuration file again, with the environment
// the server started with, and applies it (app.App.Reload, which logs
// what changed). A file that does not load changes nothing; the log
// names the key.
func (e *env) reloadFrom(a *app.App, log *slog.Logger, path string) {
	cfg, err := config.Load(path, e.environ, config.Options{})
	if err != nil {
		log.Error(app.NotReloaded, "err", err)
		return
	}
	_, _ = a.Reload(cfg)
}

// startCPUProfile profiles the process into path until stop is called:
// a diagnostics aid (`go tool pprof tether FILE`), at a cost of a few
// percent of CPU while it runs.
func startCPUProfile(path string) (stop func() error, err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}

// listenAndServe listens on addr (and on metrics.listen when set),
// calls ready once the ports are taken, and serves until the context
// ends.
func (e *env) listenAndServe(a *app.App, log *slog.Logger, addr string, ready func() error) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	var mln net.Listener
	metricsAddr := ""
	if m := a.Config.Metrics.Listen; m != "" {
		if mln, err = net.Listen("tcp", m); err != nil {
			ln.Close()
			return fmt.Errorf("metrics.listen: %w", err)
		}
		metricsAddr = mln.Addr().String()
		log.Info("metrics listening", "addr", metricsAddr)
	}
	log.Info("tether listening", "addr", ln.Addr().String(), "public_url", a.Config.PublicURL, "version", versionString())
	if err := ready(); err != nil {
		ln.Close()
		if mln != nil {
			mln.Close()
		}
		return err
	}
	if e.listening != nil {
		e.listening(ln.Addr().String(), metricsAddr)
	}
	return a.Serve(e.ctx, ln, mln)
}

func (e *env) migrate(args []string) error {
	fs := e.flags("migrate")
	var c configFlags
	c.add(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := e.loadConfig(c)
	if err != nil {
		return err
	}
	st, err := sqlstore.Open(e.ctx, cfg.Database)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(e.ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	fmt.Fprintln(e.stdout, "database is up to date")
	return nil
}

// open builds the app for an admin command (no server).
func (e *env) open(c configFlags) (*app.App, error) {
	cfg, err := e.loadConfig(c)
	if err != nil {
		return nil, err
	}
	return app.New(e.ctx, cfg, app.Options{HTTPClient: e.upstream, Logger: slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
}
