package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/testkit/pgtest"
	"github.com/tether-id/tether/testkit/testenv"
)

// configWith writes a configuration whose database is dsn.
func configWith(t *testing.T, dsn string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tether.yaml")
	y := "public_url: http://127.0.0.1:5212\nlisten: 127.0.0.1:0\ndatabase: " + dsn +
		"\nsecret_key: " + testSecret + "\nencryption_key: " + testEncKey + "\n"
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// admin runs a command against cfg that must succeed, and returns its
// output.
func admin(t *testing.T, cfg, stdin string, args ...string) string {
	t.Helper()
	code, out, stderr := tether(t, stdin, nil, append(args, "--config", cfg)...)
	if code != 0 {
		t.Fatalf("%v: exit %d: %s", args, code, stderr)
	}
	return out
}

// addUser runs tether user add and returns the new account's id.
func addUser(t *testing.T, cfg, email string) string {
	t.Helper()
	out := admin(t, cfg, "", "user", "add", "--email", email)
	f := strings.Fields(out) // created user ID <EMAIL>
	if len(f) != 4 || f[0] != "created" {
		t.Fatalf("user add: %q", out)
	}
	return f[2]
}

// eventFields are the fields of every line of tether events --json and
// --follow, as docs/operations.md lists them.
var eventFields = []string{"actor", "at", "client_id", "cursor", "detail", "id", "ip", "kind", "method", "provider_id", "success", "user_agent", "user_id"}

// parseLines decodes JSON lines of events, checking each has exactly the
// documented fields.
func parseLines(t *testing.T, out string) []eventJSON {
	t.Helper()
	var events []eventJSON
	for line := range strings.Lines(out) {
		if !strings.HasPrefix(line, `{"cursor":"`) {
			t.Fatalf("a line that does not start with its cursor: %q", line)
		}
		var fields map[string]any
		if err := json.Unmarshal([]byte(line), &fields); err != nil {
			t.Fatalf("not a JSON line: %q: %v", line, err)
		}
		keys := make([]string, 0, len(fields))
		for k := range fields {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, eventFields) {
			t.Fatalf("fields %v, want %v", keys, eventFields)
		}
		var ev eventJSON
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatal(err)
		}
		events = append(events, ev)
	}
	return events
}

func kindsOf(events []eventJSON) []string {
	var out []string
	for _, ev := range events {
		out = append(out, ev.Kind)
	}
	return out
}

// TestAdminCLIEvents: each admin command records what it changed, as the
// admin CLI's: kind, account, actor admin:cli, success and detail,
// without an address or user agent.
func TestAdminCLIEvents(t *testing.T) {
	cfg := configWith(t, "sqlite://"+filepath.Join(t.TempDir(), "t.db"))
	admin(t, cfg, "", "migrate")
	tests := []struct {
		name   string
		run    [][]string // after user add --email E; "E" stands for the address
		stdin  string
		kind   core.EventKind
		detail string
	}{
		{"add", nil, "", core.EventAccountCreated, ""},
		{"ban", [][]string{{"set", "--status", "manual_banned"}}, "", core.EventBan, "manual_banned"},
		{"system ban", [][]string{{"set", "--status", "sys_banned"}}, "", core.EventBan, "sys_banned"},
		{"unban", [][]string{{"set", "--status", "manual_banned"}, {"set", "--status", "active"}}, "", core.EventUnban, "active"},
		{"deactivate", [][]string{{"set", "--status", "inactive"}}, "", core.EventDeactivate, ""},
		{"activate", [][]string{{"set", "--status", "inactive"}, {"set", "--status", "active"}}, "", core.EventActivate, ""},
		{"grant", [][]string{{"set", "--grant", "admin"}}, "", core.EventGrant, "admin"},
		{"revoke", [][]string{{"set", "--revoke", "oauth"}}, "", core.EventRevoke, "oauth"},
		{"password", [][]string{{"set", "--password-stdin"}}, "a new password 123\n", core.EventPasswordChanged, ""},
		{"verified", [][]string{{"set", "--email-verified"}}, "", core.EventEmailVerified, ""},
		{"unverified", [][]string{{"set", "--email-verified"}, {"set", "--email-verified=false"}}, "", core.EventEmailUnverified, ""},
		{"new address", [][]string{{"set", "--new-email", "moved-E"}}, "", core.EventEmailChanged, ""},
		{"nickname", [][]string{{"set", "--nickname", "Someone"}}, "", core.EventProfileChanged, "nickname"},
		{"delete", [][]string{{"delete", "--yes"}}, "", core.EventAccountDeleted, ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			email := "row" + string(rune('a'+i)) + "@example.com"
			id := addUser(t, cfg, email)
			for _, args := range tt.run {
				args = slices.Clone(args)
				for j := range args {
					args[j] = strings.ReplaceAll(args[j], "E", email)
				}
				if args[0] == "delete" || args[0] == "set" {
					args = append([]string{"user", args[0], "--id", id}, args[1:]...)
				}
				admin(t, cfg, tt.stdin, args...)
			}
			events := parseLines(t, admin(t, cfg, "", "events", "--json", "--user", id, "--kind", string(tt.kind), "--limit", "1"))
			if len(events) != 1 {
				t.Fatalf("%d %s events", len(events), tt.kind)
			}
			ev := events[0]
			if ev.Kind != string(tt.kind) || ev.UserID != id || ev.Actor != "admin:cli" || !ev.Success || ev.Detail != tt.detail || ev.IP != "" || ev.UserAgent != "" {
				t.Errorf("event %+v, want %s of %s by admin:cli, detail %q", ev, tt.kind, id, tt.detail)
			}
		})
	}
}

// TestEvents reads the trail across accounts with each filter, as a
// table and as JSON lines, and refuses bad flags naming them.
func TestEvents(t *testing.T) {
	cfg := configWith(t, "sqlite://"+filepath.Join(t.TempDir(), "t.db"))
	a := addUser(t, cfg, "a@example.com")
	b := addUser(t, cfg, "b@example.com")
	admin(t, cfg, "", "user", "set", "--email", "a@example.com", "--status", "manual_banned")
	admin(t, cfg, "", "user", "set", "--email", "b@example.com", "--grant", "admin")
	c := addUser(t, cfg, "c@example.com")
	admin(t, cfg, "", "user", "delete", "--email", "c@example.com", "--yes")

	all := parseLines(t, admin(t, cfg, "", "events", "--json"))
	if got, want := kindsOf(all), []string{"account_created", "account_created", "ban", "grant", "account_created", "account_deleted"}; !slices.Equal(got, want) {
		t.Fatalf("all events, oldest first: %v, want %v", got, want)
	}
	if all[0].UserID != a || all[1].UserID != b || all[5].UserID != c {
		t.Errorf("accounts: %+v", all)
	}
	cursors := map[string]bool{}
	for i, ev := range all {
		if ev.Cursor == "" || cursors[ev.Cursor] || ev.ID == "" || ev.At.IsZero() || i > 0 && ev.At.Before(all[i-1].At) {
			t.Errorf("event %d: %+v", i, ev)
		}
		cursors[ev.Cursor] = true
	}

	filters := []struct {
		name string
		args []string
		want []string // kinds
	}{
		{"user by email", []string{"--user", "a@example.com"}, []string{"account_created", "ban"}},
		{"user by id", []string{"--user", b}, []string{"account_created", "grant"}},
		{"deleted account by id", []string{"--user", c}, []string{"account_created", "account_deleted"}},
		{"kinds repeated", []string{"--kind", "ban", "--kind", "grant"}, []string{"ban", "grant"}},
		{"kinds listed", []string{"--kind", "grant,ban"}, []string{"ban", "grant"}},
		{"user and kind", []string{"--user", "a@example.com", "--kind", "grant"}, nil},
		{"limit keeps the newest", []string{"--limit", "2"}, []string{"account_created", "account_deleted"}},
		{"no limit", []string{"--limit", "0"}, kindsOf(all)},
		{"since a duration", []string{"--since", "1h"}, kindsOf(all)},
		{"since a time", []string{"--since", "2999-01-01T00:00:00Z"}, nil},
		{"since a past time", []string{"--since", all[0].At.Add(-time.Second).Format(time.RFC3339)}, kindsOf(all)},
	}
	for _, f := range filters {
		t.Run(f.name, func(t *testing.T) {
			got := parseLines(t, admin(t, cfg, "", append([]string{"events", "--json"}, f.args...)...))
			if !slices.Equal(kindsOf(got), f.want) {
				t.Fatalf("%v: %v, want %v", f.args, kindsOf(got), f.want)
			}
		})
	}

	table := admin(t, cfg, "", "events")
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 7 || !strings.Contains(lines[0], "EVENT") || !strings.Contains(lines[0], "ACTOR") ||
		!strings.Contains(lines[3], "ban") || !strings.Contains(lines[3], a) || !strings.Contains(lines[3], "admin:cli") {
		t.Errorf("table:\n%s", table)
	}
	// tether user events, the account's shortcut, newest first.
	if out := admin(t, cfg, "", "user", "events", "--email", "a@example.com"); !strings.Contains(out, "ACTOR") ||
		strings.Index(out, "ban") > strings.Index(out, "account_created") {
		t.Errorf("user events:\n%s", out)
	}

	usage := []struct {
		args []string
		want string
	}{
		{[]string{"--kind", "nope"}, `invalid value "nope" for flag -kind: unknown kind "nope"`},
		{[]string{"--kind", "ban,nope"}, `flag -kind: unknown kind "nope"`},
		{[]string{"--since", "yesterday"}, `invalid value "yesterday" for flag -since`},
		{[]string{"--since", "-1h"}, `for flag -since`},
		{[]string{"--limit", "-1"}, "--limit: want 0 or more"},
		{[]string{"--limit", "x"}, `invalid value "x" for flag -limit`},
		{[]string{"--follow", "--limit", "5"}, "--limit does not apply with --follow"},
		{[]string{"--after", "3"}, "--after needs --follow"},
		{[]string{"--interval", "1s"}, "--interval needs --follow"},
		{[]string{"--follow", "--interval", "0s"}, "--interval: want a positive duration"},
		{[]string{"--follow", "--after", "not-a-cursor"}, `--after: "not-a-cursor" is not a cursor`},
		{[]string{"--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"stray"}, `unexpected argument "stray"`},
	}
	for _, u := range usage {
		code, out, stderr := tether(t, "", nil, append(append([]string{"events"}, u.args...), "--config", cfg)...)
		if code != 2 || !strings.Contains(stderr, u.want) || out != "" {
			t.Errorf("events %v: exit %d, stderr %q; want 2 and %q", u.args, code, stderr, u.want)
		}
	}
	if code, _, stderr := tether(t, "", nil, "events", "--user", "nobody@example.com", "--config", cfg); code != 1 || !strings.Contains(stderr, "no such user") {
		t.Errorf("unknown user: exit %d, %q", code, stderr)
	}
	if code, _, stderr := tether(t, "", nil, "events"); code != 1 || !strings.Contains(stderr, "--config FILE is required") {
		t.Errorf("no configuration: exit %d, %q", code, stderr)
	}
}

// follower is a running tether events --follow.
type follower struct {
	out    *testenv.SyncBuffer
	stderr *testenv.SyncBuffer
	cancel context.CancelFunc
	done   chan int
}

// startFollow runs tether events --follow with args until stop, and
// returns once it has its starting cursor: anything written afterwards
// must reach it.
func startFollow(t *testing.T, cfg string, args ...string) *follower {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := &follower{out: new(testenv.SyncBuffer), stderr: new(testenv.SyncBuffer), cancel: cancel, done: make(chan int, 1)}
	ready := make(chan struct{})
	e := &env{ctx: ctx, stdin: strings.NewReader(""), stdout: f.out, stderr: f.stderr, following: func(core.EventCursor) { close(ready) }}
	go func() {
		f.done <- e.exit(e.dispatch(append([]string{"events", "--follow", "--interval", "20ms", "--config", cfg}, args...)))
	}()
	t.Cleanup(func() { cancel(); <-f.done })
	select {
	case <-ready:
	case code := <-f.done:
		t.Fatalf("events --follow exited with %d: %s", code, f.stderr.String())
	}
	return f
}

// wait returns the first n lines the follower printed, once it has.
func (f *follower) wait(t *testing.T, n int) []eventJSON {
	t.Helper()
	deadline := time.Now().Add(time.Minute) // a hung follower fails, rather than hangs, the test
	for {
		if out := f.out.String(); strings.Count(out, "\n") >= n {
			return parseLines(t, out)[:n]
		}
		select {
		case code := <-f.done:
			t.Fatalf("events --follow exited with %d: %s", code, f.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("events --follow printed %q, want %d lines; stderr %q", f.out.String(), n, f.stderr.String())
		}
	}
}

// stop interrupts the follower, which exits with 0 having printed
// exactly want lines.
func (f *follower) stop(t *testing.T, want int) []eventJSON {
	t.Helper()
	f.cancel()
	if code := <-f.done; code != 0 {
		t.Fatalf("events --follow exited with %d: %s", code, f.stderr.String())
	}
	f.done <- 0 // for the cleanup
	events := parseLines(t, f.out.String())
	if len(events) != want {
		t.Fatalf("events --follow printed %d lines, want %d: %v", len(events), want, kindsOf(events))
	}
	return events
}

// TestEventsFollow: tether events --follow prints, as JSON lines, the
// events other connections record after it started, once each and in
// order; resumes after a cursor it printed; and with --since starts with
// the past. On SQLite and on PostgreSQL.
func TestEventsFollow(t *testing.T) {
	for _, db := range []struct {
		name string
		dsn  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "t.db") }},
		{"postgres", func(t *testing.T) string { return pgtest.URL(t) }},
	} {
		t.Run(db.name, func(t *testing.T) {
			cfg := configWith(t, db.dsn(t))
			a := addUser(t, cfg, "a@example.com") // before the follower: not printed

			f := startFollow(t, cfg)
			admin(t, cfg, "", "user", "set", "--email", "a@example.com", "--status", "manual_banned")
			b := addUser(t, cfg, "b@example.com")
			got := f.wait(t, 2)
			if kindsOf(got)[0] != "ban" || got[0].UserID != a || got[0].Actor != "admin:cli" || got[0].Detail != "manual_banned" ||
				kindsOf(got)[1] != "account_created" || got[1].UserID != b {
				t.Fatalf("followed: %+v", got)
			}
			admin(t, cfg, "", "user", "set", "--email", "b@example.com", "--grant", "admin", "--grant", "audit")
			got = f.wait(t, 4)
			f.stop(t, 4)
			if got[2].Kind != "grant" || got[3].Kind != "grant" || got[2].Detail != "admin" || got[3].Detail != "audit" {
				t.Fatalf("followed: %+v", got)
			}

			// Resumed after the last line: only what came since.
			admin(t, cfg, "", "user", "set", "--email", "b@example.com", "--revoke", "audit")
			f = startFollow(t, cfg, "--after", got[3].Cursor)
			admin(t, cfg, "", "user", "delete", "--email", "a@example.com", "--yes")
			got = f.wait(t, 2)
			f.stop(t, 2)
			if kindsOf(got)[0] != "revoke" || kindsOf(got)[1] != "account_deleted" || got[1].UserID != a {
				t.Fatalf("resumed: %+v", got)
			}

			// --since with a filter: the past first, then what comes.
			f = startFollow(t, cfg, "--since", "1h", "--kind", "ban,unban")
			admin(t, cfg, "", "user", "set", "--email", "b@example.com", "--status", "sys_banned")
			admin(t, cfg, "", "user", "set", "--email", "b@example.com", "--status", "active")
			got = f.wait(t, 3)
			f.stop(t, 3)
			if got[0].Kind != "ban" || got[0].UserID != a || got[1].Kind != "ban" || got[1].Detail != "sys_banned" ||
				got[2].Kind != "unban" || got[2].UserID != b {
				t.Fatalf("since: %+v", got)
			}
		})
	}
}

// TestEventsDocumented: docs/operations.md describes every kind of event
// and every field of the JSON lines.
func TestEventsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "\n## Audit trail\n")
	if !ok {
		t.Fatal("docs/operations.md has no Audit trail section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	for _, k := range core.EventKinds() {
		if !strings.Contains(section, "\n| `"+string(k)+"` |") && !strings.Contains(section, "`"+string(k)+"`, `") && !strings.Contains(section, ", `"+string(k)+"` |") {
			t.Errorf("the Audit trail section has no row for kind %s", k)
		}
	}
	for _, f := range eventFields {
		if !strings.Contains(section, "`"+f+"`") {
			t.Errorf("the Audit trail section does not describe field %s", f)
		}
	}
}
