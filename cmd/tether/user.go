package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tether-id/tether/app"
	"github.com/tether-id/tether/core"
)

const userUsage = `usage: tether user <command> [flags]

commands:
  add     --email E [--password-stdin] [--nickname N] [--email-verified] [--permissions p,q]
  list    [--json]
  set     (--email E | --id ID) [--status S] [--grant P] [--revoke P] [--email-verified=BOOL] [--nickname N]
          [--new-email E] [--password-stdin]
  events  (--email E | --id ID) [--limit N]   the account's audit events, newest first (see also tether events)
  delete  (--email E | --id ID) [--yes]       delete the account (asks first unless --yes)

every command takes --config FILE (or --dev [--data DIR] for the tether dev setup).
statuses: active, inactive, manual_banned, sys_banned. Banning revokes the account's sessions.
every change is an audit event whose actor is admin:cli (ban, unban, grant, revoke, ...: tether events -h).
`

func (e *env) user(args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(e.stderr, userUsage)
		return errUsage
	}
	switch args[0] {
	case "add":
		return e.userAdd(args[1:])
	case "list":
		return e.userList(args[1:])
	case "set":
		return e.userSet(args[1:])
	case "events":
		return e.userEvents(args[1:])
	case "delete":
		return e.userDelete(args[1:])
	}
	fmt.Fprintf(e.stderr, "tether user: unknown command %q\n\n%s", args[0], userUsage)
	return errUsage
}

// readPassword reads one line from stdin, so passwords never appear in
// the process list or shell history.
func (e *env) readPassword() (string, error) {
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", errors.New("--password-stdin: no password on standard input")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (e *env) userAdd(args []string) error {
	fs := e.flags("user add")
	var c configFlags
	c.add(fs)
	email := fs.String("email", "", "email address (required)")
	nickname := fs.String("nickname", "", "display name (default: the email's local part)")
	verified := fs.Bool("email-verified", false, "mark the email as verified (enables verified-email linking)")
	withPassword := fs.Bool("password-stdin", false, "read a password from standard input; without it the account is passwordless")
	perms := fs.String("permissions", strings.Join(core.DefaultPermissions(), ","), "comma-separated permissions")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *email == "" {
		fmt.Fprintln(e.stderr, "tether user add: --email is required")
		return errUsage
	}
	n := core.NewUser{Email: *email, Nickname: *nickname, EmailVerified: *verified, Permissions: splitList(*perms)}
	if n.Permissions == nil {
		n.Permissions = []string{}
	}
	if *withPassword {
		pw, err := e.readPassword()
		if err != nil {
			return err
		}
		n.Password = pw
	}
	a, err := e.open(c)
	if err != nil {
		return err
	}
	defer a.Close()
	u, err := a.Service.CreateUser(e.ctx, n, core.AdminCLI)
	if err != nil {
		return describe(err)
	}
	fmt.Fprintf(e.stdout, "created user %s <%s>\n", u.ID, u.Email)
	return nil
}

// describe turns a core error into a CLI message.
func describe(err error) error {
	var ce *core.Error
	if errors.As(err, &ce) && ce.Code != core.CodeInternal {
		return errors.New(ce.Message)
	}
	return err
}

type userJSON struct {
	ID            string    `json:"id"`
	Email         string    `json:"email"`
	EmailVerified bool      `json:"email_verified"`
	Nickname      string    `json:"nickname"`
	Status        string    `json:"status"`
	Passwordless  bool      `json:"passwordless"`
	Permissions   []string  `json:"permissions"`
	Identities    []string  `json:"identities"`
	CreatedAt     time.Time `json:"created_at"`
}

func (e *env) userList(args []string) error {
	fs := e.flags("user list")
	var c configFlags
	c.add(fs)
	asJSON := fs.Bool("json", false, "print JSON lines")
	if err := fs.Parse(args); err != nil {
		return err
	}
	a, err := e.open(c)
	if err != nil {
		return err
	}
	defer a.Close()
	users, err := a.Service.Users(e.ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	if !*asJSON {
		fmt.Fprintln(tw, "ID\tEMAIL\tSTATUS\tPASSWORD\tPERMISSIONS\tIDENTITIES\tCREATED")
	}
	for _, u := range users {
		ids, err := a.Service.Identities(e.ctx, u.ID)
		if err != nil {
			return err
		}
		j := userJSON{ID: u.ID, Email: u.Email, EmailVerified: u.EmailVerified, Nickname: u.Nickname, Status: string(u.Status),
			Passwordless: u.Passwordless(), Permissions: u.Permissions, Identities: []string{}, CreatedAt: u.CreatedAt}
		for _, id := range ids {
			j.Identities = append(j.Identities, id.ProviderID)
		}
		if *asJSON {
			if err := json.NewEncoder(e.stdout).Encode(j); err != nil {
				return err
			}
			continue
		}
		pw := "yes"
		if j.Passwordless {
			pw = "no"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", j.ID, j.Email, j.Status, pw,
			strings.Join(j.Permissions, ","), strings.Join(j.Identities, ","), j.CreatedAt.Format(time.DateTime))
	}
	return tw.Flush()
}

// optionalBool is a flag that records whether it was given.
type optionalBool struct {
	set, value bool
}

func (b *optionalBool) String() string { return fmt.Sprint(b.value) }
func (b *optionalBool) Set(s string) error {
	var v bool
	if _, err := fmt.Sscan(s, &v); err != nil {
		return fmt.Errorf("want true or false")
	}
	b.set, b.value = true, v
	return nil
}
func (b *optionalBool) IsBoolFlag() bool { return true }

// selectUser adds --email and --id to fs.
type userSelector struct{ email, id string }

func (s *userSelector) add(fs *flag.FlagSet) {
	fs.StringVar(&s.email, "email", "", "the account's email")
	fs.StringVar(&s.id, "id", "", "the account's id")
}

// openUser opens tether as the configuration says and finds the account
// sel names; the caller closes the App.
func (e *env) openUser(c configFlags, sel userSelector) (*app.App, core.User, error) {
	a, err := e.open(c)
	if err != nil {
		return nil, core.User{}, err
	}
	u, err := e.findUser(a.Service, sel)
	if err != nil {
		a.Close()
		return nil, core.User{}, err
	}
	return a, u, nil
}

// check refuses a command given neither or both of --email and --id.
func (s *userSelector) check(e *env, command string) error {
	if (s.email == "") == (s.id == "") {
		fmt.Fprintf(e.stderr, "tether %s: give exactly one of --email or --id\n", command)
		return errUsage
	}
	return nil
}

func (e *env) userSet(args []string) error {
	fs := e.flags("user set")
	var c configFlags
	c.add(fs)
	var sel userSelector
	sel.add(fs)
	status := fs.String("status", "", "active, inactive, manual_banned or sys_banned")
	var grant, revoke []string
	fs.Func("grant", "grant a permission (repeatable), e.g. oauth", func(s string) error { grant = append(grant, s); return nil })
	fs.Func("revoke", "revoke a permission (repeatable)", func(s string) error { revoke = append(revoke, s); return nil })
	var verified optionalBool
	fs.Var(&verified, "email-verified", "mark the email verified (true) or not (false)")
	nickname := fs.String("nickname", "", "set the display name")
	newEmail := fs.String("new-email", "", "change the account's address (unverified, unless --email-verified=true)")
	withPassword := fs.Bool("password-stdin", false, "read a new password from standard input (revokes sessions)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := sel.check(e, "user set"); err != nil {
		return err
	}
	if *status != "" && !core.Status(*status).Valid() {
		return fmt.Errorf("--status: want active, inactive, manual_banned or sys_banned, got %q", *status)
	}
	a, u, err := e.openUser(c, sel)
	if err != nil {
		return err
	}
	defer a.Close()
	if *withPassword {
		pw, err := e.readPassword()
		if err != nil {
			return err
		}
		if err := a.Service.SetPassword(e.ctx, u.ID, pw, core.AdminCLI); err != nil {
			return describe(err)
		}
	}
	u, err = a.Service.UpdateUser(e.ctx, u.ID, func(u *core.User) error {
		if *status != "" {
			u.Status = core.Status(*status)
		}
		u.Permissions = append(u.Permissions, grant...)
		u.Permissions = slices.DeleteFunc(u.Permissions, func(p string) bool { return slices.Contains(revoke, p) })
		if verified.set {
			u.EmailVerified = verified.value
		}
		if *nickname != "" {
			u.Nickname = *nickname
		}
		if *newEmail != "" && *newEmail != u.Email {
			u.Email, u.EmailVerified = *newEmail, verified.set && verified.value
		}
		return nil
	}, core.AdminCLI)
	if err != nil {
		return describe(err)
	}
	fmt.Fprintf(e.stdout, "updated user %s <%s>: status=%s permissions=%s email_verified=%v\n",
		u.ID, u.Email, u.Status, strings.Join(u.Permissions, ","), u.EmailVerified)
	return nil
}

func (e *env) findUser(svc *core.Service, sel userSelector) (core.User, error) {
	var u core.User
	var err error
	if sel.id != "" {
		u, err = svc.User(e.ctx, sel.id)
	} else {
		u, err = svc.UserByEmail(e.ctx, sel.email)
	}
	if errors.Is(err, core.ErrNotFound) {
		return u, errors.New("no such user")
	}
	return u, err
}

func (e *env) userEvents(args []string) error {
	fs := e.flags("user events")
	var c configFlags
	c.add(fs)
	var sel userSelector
	sel.add(fs)
	limit := fs.Int("limit", 50, "how many events")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := sel.check(e, "user events"); err != nil {
		return err
	}
	a, u, err := e.openUser(c, sel)
	if err != nil {
		return err
	}
	defer a.Close()
	events, err := a.Service.Events(e.ctx, core.EventQuery{UserID: u.ID, Limit: *limit})
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tEVENT\tACTOR\tMETHOD\tPROVIDER\tOK\tIP\tDETAIL")
	for _, ev := range events {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%v\t%s\t%s\n", ev.At.Format(time.RFC3339), ev.Kind, ev.Actor, ev.Method, ev.ProviderID, ev.Success, ev.IP, ev.Detail)
	}
	return tw.Flush()
}
