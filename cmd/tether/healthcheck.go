package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// defaultListen is config.Defaults().Listen.
const defaultListen = "127.0.0.1:5212"

// healthcheck GETs a running tether's /healthz and exits 0 on a 200, 1
// otherwise: the container image's HEALTHCHECK, where distroless has no
// curl and no shell.
func (e *env) healthcheck(args []string) error {
	fset := e.flags("healthcheck")
	var target string
	var timeout time.Duration
	fset.StringVar(&target, "url", "", "the `URL` to GET (default: /healthz at $TETHER_LISTEN, or at "+defaultListen+")")
	fset.DurationVar(&timeout, "timeout", 5*time.Second, "give up after this long")
	if err := fset.Parse(args); err != nil {
		return err
	}
	if fset.NArg() > 0 {
		fmt.Fprintln(e.stderr, "usage: tether healthcheck [--url URL] [--timeout 5s]")
		return errUsage
	}
	if target == "" {
		var err error
		if target, err = healthURL(e.environ); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(e.ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	// Straight to the server: no proxy from the environment, no redirects.
	client := &http.Client{
		Transport:     &http.Transport{Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", target, resp.Status)
	}
	fmt.Fprintf(e.stdout, "%s: %s\n", target, resp.Status)
	return nil
}

// healthURL is /healthz at the address TETHER_LISTEN names (the image
// sets it), or at the default listen address; a wildcard host (0.0.0.0,
// ::) is reached on loopback.
func healthURL(environ []string) (string, error) {
	listen := defaultListen
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "TETHER_LISTEN="); ok && v != "" {
			listen = v
		}
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil || port == "" {
		return "", fmt.Errorf("healthcheck: TETHER_LISTEN: want host:port, got %q (or pass --url)", listen)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz", nil
}
