package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/tether-id/tether/api"
	"github.com/tether-id/tether/config"
	"github.com/tether-id/tether/provider"
	"github.com/tether-id/tether/server"
)

// doctor checks each provider the way a sign-in would use it (discovery
// reachable, issuer matching exactly, JWKS parsing, algorithms supported)
// and prints the redirect URIs to register upstream; then each client of
// the OpenID Provider, with what to enter in the app (doctorClients). A
// failed check names the configuration key to look at. It exits 1 when
// the configuration does not load (the error names the key), when the
// database does not answer, or when an enabled provider or a client
// fails a check; 0 otherwise, warnings (!) included; 2 for bad flags.
func (e *env) doctor(args []string) error {
	fs := e.flags("doctor")
	var c configFlags
	c.add(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	a, err := e.open(c)
	if err != nil {
		return err
	}
	defer a.Close()
	fmt.Fprintf(e.stdout, "tether %s — public URL %s\n", versionString(), a.Config.PublicURL)
	if err := a.Store.Ping(e.ctx); err != nil {
		fmt.Fprintf(e.stdout, "\n✗ database: %v\n", err)
		return errors.New("database unreachable")
	}
	fmt.Fprintln(e.stdout, "\n✓ database reachable")
	e.doctorFrontends(a.Config)
	all := a.Service.Providers()
	if len(all) == 0 {
		fmt.Fprintln(e.stdout, "\nno providers configured: only email and password sign-in is available")
	}
	failed := 0
	for _, p := range all {
		state := "enabled"
		if !p.Enabled {
			state = "disabled"
		}
		fmt.Fprintf(e.stdout, "\nprovider %q (%s, %s, Cloudreve code %d)\n", p.ID, p.Kind, state, api.CloudreveCode(p.Kind))
		fmt.Fprintln(e.stdout, "  redirect URIs to register:")
		if a.Callbacks.SeparateCloudreveFrontend() {
			// Two callback pages: register both.
			fmt.Fprintf(e.stdout, "    %s   (tether's pages)\n", a.Callbacks.URL(p.ID))
			fmt.Fprintf(e.stdout, "    %s   (Cloudreve clients: the frontend's callback page)\n", a.Callbacks.CloudreveURL(p.ID))
		} else {
			fmt.Fprintf(e.stdout, "    %s   (Cloudreve clients, tether's pages)\n", a.Callbacks.URL(p.ID))
		}
		fmt.Fprintf(e.stdout, "    %s   (Versia clients)\n", a.Callbacks.VersiaURL(p.ID))
		checker, ok := p.Upstream.(provider.Checker)
		if !ok {
			continue
		}
		ctx, cancel := context.WithTimeout(e.ctx, 20*time.Second)
		checks := checker.Check(ctx)
		cancel()
		for _, ch := range checks {
			mark, key := "✓", ""
			if !ch.OK {
				mark = "✗"
				if p.Enabled {
					failed++
				}
				if ch.Key != "" {
					key = fmt.Sprintf(" (config: %s.%s)", providerKey(a.Config, p.ID), ch.Key)
				}
			}
			fmt.Fprintf(e.stdout, "  %s %s: %s%s\n", mark, ch.Name, ch.Info, key)
		}
	}
	failed += doctorClients(e.stdout, a)
	doctorKeys(e.ctx, e.stdout, a)
	if failed > 0 {
		return fmt.Errorf("%d check(s) failed", failed)
	}
	return nil
}

// providerKey is the configuration key of the provider with id:
// providers[i].
func providerKey(cfg *config.Config, id string) string {
	for i, p := range cfg.Providers {
		if p.ID == id {
			return fmt.Sprintf("providers[%d]", i)
		}
	}
	return "providers"
}

// doctorFrontends describes the web frontends on their own URLs: which
// redirect URIs they add, and whether cors.allowed_origins lets their
// scripts call tether.
func (e *env) doctorFrontends(cfg *config.Config) {
	for _, f := range []struct{ name, url, calls string }{
		{"Cloudreve", cfg.Cloudreve.FrontendURL, "prepare and finish"},
		{"Versia", cfg.Versia.FrontendURL, "the SSO API"},
	} {
		if f.url == "" {
			continue
		}
		origin, err := server.Origin(originOf(f.url))
		public, _ := server.Origin(originOf(cfg.PublicURL))
		switch {
		case err != nil:
		case origin == public:
			fmt.Fprintf(e.stdout, "\n✓ %s frontend %s is on tether's origin\n", f.name, f.url)
		case slices.Contains(cfg.CORS.AllowedOrigins, origin):
			fmt.Fprintf(e.stdout, "\n✓ %s frontend %s: its origin is in cors.allowed_origins\n", f.name, f.url)
		default:
			fmt.Fprintf(e.stdout, "\n! %s frontend %s: add %s to cors.allowed_origins, or its scripts cannot call %s (unless a proxy serves tether on the frontend's origin)\n",
				f.name, f.url, origin, f.calls)
		}
		if f.name == "Cloudreve" {
			fmt.Fprintln(e.stdout, "  every provider needs both redirect URIs below registered: the frontend's callback pages for Cloudreve clients, tether's own for its pages")
		}
	}
}

// originOf is the scheme://host[:port] of u.
func originOf(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	return p.Scheme + "://" + p.Host
}
