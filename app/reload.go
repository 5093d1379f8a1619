package app

import (
	"log/slog"
	"slices"
	"strings"

	"github.com/tether-id/tether/config"
)

// Reloaded says what a Reload did.
type Reloaded struct {
	// Changed are the top-level keys (sections) whose new values now
	// apply, in the order of the configuration.
	Changed []string
	// Restart are the keys whose new values wait for a restart: the
	// running ones stay (RestartKeys).
	Restart []string
}

// fixedKey is a key that a running tether keeps until it restarts. keep
// reports whether dst's value differs from src's and sets it to src's.
type fixedKey struct {
	key  string
	keep func(dst, src *config.Config) bool
}

// restartOnly are the keys a reload does not change: the listeners are
// bound and the store is open; every callback URL, cookie, flow and
// token issued so far depends on the public URL and the secrets;
// migrations run at start; the log's format is its handler's.
var restartOnly = []fixedKey{
	{"public_url", func(d, s *config.Config) bool { return keep(&d.PublicURL, s.PublicURL) }},
	{"allow_insecure_public_url", func(d, s *config.Config) bool { return keep(&d.AllowInsecurePublicURL, s.AllowInsecurePublicURL) }},
	{"listen", func(d, s *config.Config) bool { return keep(&d.Listen, s.Listen) }},
	{"pid_file", func(d, s *config.Config) bool { return keep(&d.PIDFile, s.PIDFile) }},
	{"metrics.listen", func(d, s *config.Config) bool { return keep(&d.Metrics.Listen, s.Metrics.Listen) }},
	{"database", func(d, s *config.Config) bool { return keep(&d.Database, s.Database) }},
	{"auto_migrate", func(d, s *config.Config) bool { return keep(&d.AutoMigrate, s.AutoMigrate) }},
	// A secret is compared by value: the same key read from another
	// file is no change.
	{"secret_key", func(d, s *config.Config) bool {
		d.SecretKeyFile = s.SecretKeyFile
		return keep(&d.SecretKey, s.SecretKey)
	}},
	{"encryption_key", func(d, s *config.Config) bool {
		d.EncryptionKeyFile = s.EncryptionKeyFile
		return keep(&d.EncryptionKey, s.EncryptionKey)
	}},
	{"log.format", func(d, s *config.Config) bool { return keep(&d.Log.Format, s.Log.Format) }},
}

// fixedLevel makes log.level restart-only, for an App without
// Options.LogLevel.
var fixedLevel = fixedKey{"log.level", func(d, s *config.Config) bool { return keep(&d.Log.Level, s.Log.Level) }}

// keep sets *dst to src and reports whether they differed.
func keep[T comparable](dst *T, src T) bool {
	differ := *dst != src
	*dst = src
	return differ
}

func (a *App) fixed() []fixedKey {
	if a.opts.LogLevel != nil {
		return restartOnly
	}
	return append(slices.Clip(restartOnly), fixedLevel)
}

// RestartKeys are the keys whose changes a Reload reports as needing a
// restart instead of applying them.
func (a *App) RestartKeys() []string {
	var out []string
	for _, k := range a.fixed() {
		out = append(out, k.key)
	}
	return out
}

// Reload applies cfg, a configuration read again, on the same store, and
// logs what it did. It builds a new generation (the core service, the
// providers, the apps, the rate limiters, CORS and the pages) and swaps
// it in at once: requests that arrive afterwards see only the new one,
// requests in flight finish on the old one. The keys of RestartKeys keep
// their running values (reported in Reloaded.Restart and logged); a
// changed smtp block restarts the mail worker with its new sender. If
// the new generation cannot be built, nothing changes and the error is
// returned (and logged), naming the key when it can.
func (a *App) Reload(cfg *config.Config) (Reloaded, error) {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	prev := a.current()
	next := *cfg
	var restart []string
	for _, k := range a.fixed() {
		if k.keep(&next, prev.cfg) {
			restart = append(restart, k.key)
		}
	}
	g, err := a.build(&next, prev)
	if err != nil {
		a.log.Error(NotReloaded, "err", err)
		return Reloaded{}, err
	}
	a.gen.Store(g)
	a.mail.reloaded(prev, g)
	r := Reloaded{Changed: config.Changed(prev.cfg, &next), Restart: restart}
	changed := strings.Join(r.Changed, ",")
	if changed == "" {
		changed = "nothing"
	}
	a.log.Info("configuration reloaded", "changed", changed)
	if len(restart) > 0 {
		a.log.Warn("configuration changes need a restart; the running values stay until then", "keys", strings.Join(restart, ","))
	}
	a.setLogLevel(&next) // after the lines above, which a higher level would hide
	return r, nil
}

// NotReloaded is the message logged, with the error that names the key,
// when a configuration is not applied; cmd/tether logs it too for a file
// that does not load.
const NotReloaded = "configuration not reloaded; the running configuration stays"

// setLogLevel sets Options.LogLevel, if any, to cfg's log.level.
func (a *App) setLogLevel(cfg *config.Config) {
	if a.opts.LogLevel == nil {
		return
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.Log.Level)); err == nil {
		a.opts.LogLevel.Set(level)
	}
}
