package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/tether-id/tether/app"
	"github.com/tether-id/tether/config"
	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/op"
)

// doctorClients reports on the apps that sign their users in through
// tether (config `clients:`): what to enter in each app, and a check of
// each redirect URI with a warning where the URI is allowed but weaker
// (plain http on loopback, a private-use scheme) and for public clients.
// config.Load refuses a bad redirect URI already; the checks run again
// here so that the report says, URI by URI, why each one is good. It
// returns the number of failed checks.
func doctorClients(w io.Writer, a *app.App) int {
	cfg := a.Config
	if len(cfg.Clients) == 0 {
		fmt.Fprintln(w, "\nno clients configured: no app signs its users in through tether (see clients: in the README)")
		return 0
	}
	issuer := cfg.PublicURL
	fmt.Fprintf(w, "\nOpenID Provider for %d app(s)\n", len(cfg.Clients))
	fmt.Fprintf(w, "  issuer:        %s\n", issuer)
	fmt.Fprintf(w, "  discovery URL: %s\n", issuer+op.PathDiscovery)
	if u, err := url.Parse(issuer); err == nil && u.Scheme != "https" {
		fmt.Fprintf(w, "  ! the issuer is plain http: apps and their libraries may refuse it, and should outside a test\n")
	}
	failed := 0
	for i, cl := range cfg.Clients {
		failed += doctorClient(w, a, i, cl)
	}
	return failed
}

func doctorClient(w io.Writer, a *app.App, i int, cl config.Client) int {
	public := cl.Secret == ""
	kind := "confidential"
	if public {
		kind = "public"
	}
	consent := "asks for consent"
	if !cl.Consent {
		consent = "no consent step"
	}
	fmt.Fprintf(w, "\nclient %q (%s, %s, %s)\n", cl.ID, cl.Name, kind, consent)
	fmt.Fprintln(w, "  enter in the app:")
	fmt.Fprintf(w, "    issuer / discovery:  %s  (%s)\n", a.Config.PublicURL, a.Config.PublicURL+op.PathDiscovery)
	fmt.Fprintf(w, "    client id:           %s\n", cl.ID)
	switch {
	case public:
		fmt.Fprintln(w, "    client secret:       none (public client): the app sends no secret and must use PKCE with S256")
	case cl.SecretFile != "":
		fmt.Fprintf(w, "    client secret:       set: the contents of %s (client_secret_basic or client_secret_post)\n", cl.SecretFile)
	default:
		fmt.Fprintf(w, "    client secret:       set: the value of clients[%d].secret (client_secret_basic or client_secret_post)\n", i)
	}
	fmt.Fprintf(w, "    scopes:              openid profile email  (add offline_access for a refresh token)\n")
	fmt.Fprintf(w, "    ID token algorithm:  %s\n", cl.IDTokenAlg)
	fmt.Fprintln(w, "    redirect URIs registered (the app must send one of these exactly):")
	for _, u := range cl.RedirectURIs {
		fmt.Fprintf(w, "      %s\n", u)
	}
	if len(cl.PostLogoutRedirectURIs) == 0 {
		fmt.Fprintln(w, "    post-logout redirect URIs: none (the app cannot send the person back after signing out at tether)")
	} else {
		fmt.Fprintln(w, "    post-logout redirect URIs:")
		for _, u := range cl.PostLogoutRedirectURIs {
			fmt.Fprintf(w, "      %s\n", u)
		}
	}

	failed := 0
	report := func(mark, format string, args ...any) {
		if mark == "✗" {
			failed++
		}
		fmt.Fprintf(w, "  %s %s\n", mark, fmt.Sprintf(format, args...))
	}
	for _, u := range cl.RedirectURIs {
		checkAppURI(report, "redirect URI", u, public)
	}
	for _, u := range cl.PostLogoutRedirectURIs {
		checkAppURI(report, "post-logout redirect URI", u, public)
	}
	if public {
		report("!", "public client: anyone can use its client id, so tether requires PKCE (S256) and never sends it a secret; right for single-page and native apps, but give a web app with a server a secret")
		if !cl.Consent {
			report("!", "public client without consent: another app that answers on the same redirect URI could sign people in unasked; consent: true is safer (RFC 8252 §8.6)")
		}
	}
	if len(cl.Providers) == 0 {
		report("✓", "upstream providers offered: every enabled one")
	} else {
		var on []string
		for _, id := range cl.Providers {
			p, ok := a.Service.Provider(id)
			switch {
			case !ok:
				report("✗", "provider %q: not configured", id)
			case !p.Enabled:
				report("!", "provider %q is disabled: the app's users are not offered it", id)
			default:
				on = append(on, id)
			}
		}
		if len(on) > 0 {
			report("✓", "upstream providers offered: %s", strings.Join(on, ", "))
		} else {
			report("!", "no enabled provider is offered: the app's users can sign in with a password only")
		}
	}
	return failed
}

// checkAppURI checks a redirect URI the way config does (absolute, no
// fragment, https or http on loopback, or a private-use scheme) and says
// what kind it is.
func checkAppURI(report func(mark, format string, args ...any), what, raw string, public bool) {
	if err := config.CheckRedirectURI(raw); err != nil {
		report("✗", "%s %s", what, err)
		return
	}
	u, _ := url.Parse(raw) // CheckRedirectURI parsed it
	switch {
	case u.Scheme == "https":
		report("✓", "%s %s: https", what, raw)
	case u.Scheme == "http" && public && what == "redirect URI" && u.Hostname() != "localhost":
		report("!", "%s %s: plain http on loopback, for a native app or a test; any port matches (RFC 8252 §7.3)", what, raw)
	case u.Scheme == "http" && public && what == "redirect URI":
		report("!", "%s %s: plain http on loopback, for a native app or a test; as a localhost URI its port must match exactly (http://127.0.0.1 would match any port, RFC 8252 §8.3)", what, raw)
	case u.Scheme == "http":
		report("!", "%s %s: plain http on loopback, for a native app or a test; the port must match exactly", what, raw)
	default:
		report("!", "%s %s: a private-use scheme (%s:), for a native app; any app on the device may claim it, so PKCE is what protects the code", what, raw, u.Scheme)
	}
}

// doctorKeys reports the signing keys the JWKS publishes.
func doctorKeys(ctx context.Context, w io.Writer, a *app.App) {
	if len(a.Config.Clients) == 0 {
		return
	}
	keys, err := a.Store.ListSigningKeys(ctx, time.Now())
	if err != nil {
		fmt.Fprintf(w, "\n✗ signing keys: %v\n", err)
		return
	}
	var current []string
	retired := 0
	for _, alg := range core.SigningAlgs {
		for _, k := range keys {
			if k.Alg == alg && k.RetiredAt.IsZero() {
				current = append(current, alg)
			}
		}
	}
	for _, k := range keys {
		if !k.RetiredAt.IsZero() {
			retired++
		}
	}
	if len(current) == 0 {
		fmt.Fprintln(w, "\n✓ signing keys: none yet; tether makes them when it first signs a token (tether keys list)")
		return
	}
	fmt.Fprintf(w, "\n✓ signing keys: %s current, %d retired still published (tether keys list)\n", strings.Join(current, ", "), retired)
}
