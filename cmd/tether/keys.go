package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tether-id/tether/app"
	"github.com/tether-id/tether/core"
)

const keysUsage = `usage: tether keys <command> [flags]

commands:
  list     [--json]   the keys that sign the OpenID Provider's tokens, as the JWKS publishes them
  rotate   [--json]   make a new key for every algorithm now, then list the keys

every command takes --config FILE (or --dev [--data DIR] for the tether dev setup).
A retired key stays published until the tokens it signed have expired
(tokens.access_ttl after it was retired); running instances pick up new keys
within a minute. Keys also rotate by themselves every signing_keys.rotate_every.
`

func (e *env) keys(args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(e.stderr, keysUsage)
		return errUsage
	}
	switch args[0] {
	case "list":
		return e.keysList(args[1:], false)
	case "rotate":
		return e.keysList(args[1:], true)
	}
	fmt.Fprintf(e.stderr, "tether keys: unknown command %q\n\n%s", args[0], keysUsage)
	return errUsage
}

// keysList lists the published signing keys; with rotate it first makes
// a new key for every algorithm (core.Service.RotateKeys with force), as
// after a suspected leak or to try out how the apps follow a rotation.
func (e *env) keysList(args []string, rotate bool) error {
	name := "keys list"
	if rotate {
		name = "keys rotate"
	}
	fs := e.flags(name)
	var c configFlags
	c.add(fs)
	asJSON := fs.Bool("json", false, "one JSON object per key and line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("tether %s: unexpected argument %q", name, fs.Arg(0))
	}
	a, err := e.open(c)
	if err != nil {
		return err
	}
	defer a.Close()
	var keys []core.SigningKey
	if rotate {
		if keys, err = a.Service.RotateKeys(e.ctx, true); err != nil {
			return fmt.Errorf("rotate: %w", err)
		}
	} else if keys, err = a.Store.ListSigningKeys(e.ctx, time.Now()); err != nil {
		return fmt.Errorf("list: %w", err)
	}
	sortKeys(keys)
	if *asJSON {
		return writeKeysJSON(e.stdout, keys)
	}
	if rotate {
		fmt.Fprintln(e.stdout, "made a new signing key for every algorithm; running instances sign with them within a minute")
	}
	if len(keys) == 0 {
		fmt.Fprintln(e.stdout, "no signing keys yet: tether makes one for each algorithm when it first signs a token (or run tether keys rotate)")
		return nil
	}
	writeKeysTable(e.stdout, keys)
	writeKeyUse(e.stdout, a)
	return nil
}

// sortKeys orders keys by algorithm, as discovery lists them, then newest
// first: each algorithm's current key heads its group.
func sortKeys(keys []core.SigningKey) {
	slices.SortStableFunc(keys, func(a, b core.SigningKey) int {
		if d := slices.Index(core.SigningAlgs, a.Alg) - slices.Index(core.SigningAlgs, b.Alg); d != 0 {
			return d
		}
		return b.CreatedAt.Compare(a.CreatedAt)
	})
}

func keyState(k core.SigningKey) string {
	if k.RetiredAt.IsZero() {
		return "current"
	}
	return "retired"
}

func writeKeysTable(w io.Writer, keys []core.SigningKey) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tCREATED\tSTATE\tRETIRED\tPUBLISHED UNTIL")
	for _, k := range keys {
		retired, until := "-", "while current"
		if !k.RetiredAt.IsZero() {
			retired, until = k.RetiredAt.UTC().Format(time.RFC3339), k.ExpiresAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Alg, k.CreatedAt.UTC().Format(time.RFC3339), keyState(k), retired, until)
	}
	tw.Flush()
}

// writeKeyUse says which keys sign what: access tokens with
// signing_keys.access_token_alg, ID tokens with each client's id_token_alg.
func writeKeyUse(w io.Writer, a *app.App) {
	byAlg := map[string][]string{}
	for _, c := range a.Config.Clients {
		byAlg[c.IDTokenAlg] = append(byAlg[c.IDTokenAlg], c.ID)
	}
	fmt.Fprintf(w, "\naccess tokens are signed with %s", a.Config.SigningKeys.AccessTokenAlg)
	if len(a.Config.Clients) == 0 {
		fmt.Fprintln(w, "; no clients are configured, so nothing is signed yet")
		return
	}
	fmt.Fprintln(w, "; ID tokens:")
	for _, alg := range core.SigningAlgs {
		if ids := byAlg[alg]; len(ids) > 0 {
			fmt.Fprintf(w, "  %-6s %s\n", alg, strings.Join(ids, ", "))
		}
	}
}

type keyJSON struct {
	KID            string     `json:"kid"`
	Alg            string     `json:"alg"`
	State          string     `json:"state"`
	CreatedAt      time.Time  `json:"created_at"`
	RetiredAt      *time.Time `json:"retired_at,omitempty"`
	PublishedUntil *time.Time `json:"published_until,omitempty"`
}

func writeKeysJSON(w io.Writer, keys []core.SigningKey) error {
	enc := json.NewEncoder(w)
	for _, k := range keys {
		j := keyJSON{KID: k.ID, Alg: k.Alg, State: keyState(k), CreatedAt: k.CreatedAt.UTC()}
		if !k.RetiredAt.IsZero() {
			r, u := k.RetiredAt.UTC(), k.ExpiresAt.UTC()
			j.RetiredAt, j.PublishedUntil = &r, &u
		}
		if err := enc.Encode(j); err != nil {
			return err
		}
	}
	return nil
}
