package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tether-id/tether/core"
)

const eventsUsage = `usage: tether events (--config FILE | --dev) [flags]

Reads the audit trail of every account, oldest first, and exits; with
--follow, prints new events as JSON lines as they are recorded, until
interrupted (SIGINT, SIGTERM).

  --config FILE       the configuration (or --dev [--data DIR]: tether dev's)
  --user EMAIL|ID     only this account's events (an ID works for a deleted account)
  --kind KIND         only events of this kind; repeatable, or comma-separated
  --since WHEN        only events at or after WHEN: a duration back from now (24h, 90m)
                      or an RFC 3339 time (2026-05-01T00:00:00Z)
  --limit N           the N newest events (default 100; 0 for all); not with --follow
  --json              JSON lines instead of a table
  --follow            then print every new event as a JSON line; without --since or
                      --after, only the events recorded from now on
  --after CURSOR      with --follow: resume after the event whose "cursor" this is
  --interval DURATION with --follow: how often to look for new events (default 1s)

kinds: %s
`

// eventJSON is one event as tether events --json and --follow print it:
// one object per line, every field always present.
type eventJSON struct {
	Cursor     string    `json:"cursor"`
	ID         string    `json:"id"`
	At         time.Time `json:"at"`
	Kind       string    `json:"kind"`
	UserID     string    `json:"user_id"`
	Actor      string    `json:"actor"`
	Success    bool      `json:"success"`
	Method     string    `json:"method"`
	ProviderID string    `json:"provider_id"`
	ClientID   string    `json:"client_id"`
	Detail     string    `json:"detail"`
	IP         string    `json:"ip"`
	UserAgent  string    `json:"user_agent"`
}

func toJSON(ev core.Event) eventJSON {
	return eventJSON{Cursor: string(ev.Cursor), ID: ev.ID, At: ev.At.UTC(), Kind: string(ev.Kind), UserID: ev.UserID, Actor: string(ev.Actor),
		Success: ev.Success, Method: string(ev.Method), ProviderID: ev.ProviderID, ClientID: ev.ClientID, Detail: ev.Detail,
		IP: ev.IP, UserAgent: ev.UserAgent}
}

// followPage is how many events one poll of --follow reads at most.
const followPage = 500

func (e *env) events(args []string) error {
	fs := e.flags("events")
	fs.Usage = func() { fmt.Fprintf(e.stderr, eventsUsage, kindList()) }
	var c configFlags
	c.add(fs)
	user := fs.String("user", "", "")
	var kinds []core.EventKind
	fs.Func("kind", "", func(s string) error {
		for _, k := range splitList(s) {
			if !core.EventKind(k).Known() {
				return fmt.Errorf("unknown kind %q (tether events -h lists them)", k)
			}
			kinds = append(kinds, core.EventKind(k))
		}
		return nil
	})
	var since time.Time
	fs.Func("since", "", func(s string) error {
		if d, err := time.ParseDuration(s); err == nil && d > 0 {
			since = time.Now().Add(-d)
			return nil
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return errors.New("want a duration back from now (24h) or an RFC 3339 time (2026-05-01T00:00:00Z)")
		}
		since = t
		return nil
	})
	limit := fs.Int("limit", 100, "")
	asJSON := fs.Bool("json", false, "")
	follow := fs.Bool("follow", false, "")
	after := fs.String("after", "", "")
	interval := fs.Duration("interval", time.Second, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage // the flag package said what and printed the usage
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	usage := func(format string, a ...any) error {
		fmt.Fprintf(e.stderr, "tether events: "+format+"\n", a...)
		return errUsage
	}
	switch {
	case fs.NArg() > 0:
		return usage("unexpected argument %q", fs.Arg(0))
	case *limit < 0:
		return usage("--limit: want 0 or more, got %d", *limit)
	case *follow && set["limit"]:
		return usage("--limit does not apply with --follow (use --since or --after to choose where to start)")
	case !*follow && set["after"]:
		return usage("--after needs --follow")
	case !*follow && set["interval"]:
		return usage("--interval needs --follow")
	case *interval <= 0:
		return usage("--interval: want a positive duration, got %s", *interval)
	}

	a, err := e.open(c)
	if err != nil {
		return err
	}
	defer a.Close()
	q := core.AuditQuery{Kinds: kinds, Since: since}
	if *user != "" {
		q.UserID = *user
		if strings.Contains(*user, "@") {
			u, err := e.findUser(a.Service, userSelector{email: *user})
			if err != nil {
				return err
			}
			q.UserID = u.ID
		}
	}
	if *follow {
		return e.followEvents(a.Service, q, core.EventCursor(*after), *interval)
	}
	q.Limit = *limit
	events, err := a.Service.AuditEvents(e.ctx, q)
	if err != nil {
		return err
	}
	slices.Reverse(events) // oldest first, like a log
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		for _, ev := range events {
			if err := enc.Encode(toJSON(ev)); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tEVENT\tUSER\tACTOR\tOK\tMETHOD\tPROVIDER\tCLIENT\tIP\tDETAIL")
	for _, ev := range events {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\t%s\t%s\t%s\t%s\t%s\n", ev.At.UTC().Format(time.RFC3339), ev.Kind, ev.UserID, ev.Actor, ev.Success,
			ev.Method, ev.ProviderID, ev.ClientID, ev.IP, ev.Detail)
	}
	return tw.Flush()
}

// followEvents prints the events q selects after cursor (from the end of
// the trail when cursor is "" and q has no Since) as JSON lines, each
// written at once, polling every interval, until the context ends. A
// database that fails a poll is tried again at the next one: the cursor
// keeps the place.
func (e *env) followEvents(svc *core.Service, q core.AuditQuery, cursor core.EventCursor, interval time.Duration) error {
	if cursor == "" && q.Since.IsZero() {
		var err error
		if cursor, err = svc.EventsEnd(e.ctx); err != nil {
			if e.ctx.Err() != nil {
				return nil // interrupted before it began
			}
			return err
		}
	}
	if e.following != nil {
		e.following(cursor)
	}
	q.Limit = followPage
	enc := json.NewEncoder(e.stdout)
	first := true
	for {
		events, next, err := svc.FollowEvents(e.ctx, q, cursor)
		switch {
		case e.ctx.Err() != nil:
			return nil
		case first && core.ErrorCode(err) == core.CodeInvalid:
			fmt.Fprintf(e.stderr, "tether events: --after: %s\n", core.ErrorMessage(err))
			return errUsage
		case err != nil:
			fmt.Fprintf(e.stderr, "tether events: %v (trying again)\n", err)
		default:
			first = false
			for _, ev := range events {
				if err := enc.Encode(toJSON(ev)); err != nil {
					return err
				}
			}
			cursor = next
			if len(events) == followPage {
				continue // more is waiting
			}
		}
		if !sleep(e.ctx, interval) {
			return nil
		}
	}
}

// sleep waits d, or until ctx ends (false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// kindList is every kind, for the usage text, wrapped.
func kindList() string {
	var b strings.Builder
	width := len("kinds: ")
	for i, k := range core.EventKinds() {
		if i > 0 {
			b.WriteString(",")
			if width+len(k) > 76 {
				b.WriteString("\n       ")
				width = len("kinds: ")
			} else {
				b.WriteString(" ")
			}
		}
		b.WriteString(string(k))
		width += len(k) + 2
	}
	return b.String()
}
