package main

import (
	"bufio"
	"errors"
	"fmt"
	"strings"

	"github.com/tether-id/tether/core"
)

// userDelete deletes an account as its owner can from the account page,
// without the owner's proof: the identities, sessions (the apps' too),
// email links and consents go; the audit events stay without IP
// addresses and user agents. The notice to the account's address is
// queued; the running server sends it.
func (e *env) userDelete(args []string) error {
	fs := e.flags("user delete")
	var c configFlags
	c.add(fs)
	var sel userSelector
	sel.add(fs)
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := sel.check(e, "user delete"); err != nil {
		return err
	}
	a, u, err := e.openUser(c, sel)
	if err != nil {
		return err
	}
	defer a.Close()
	if !*yes {
		fmt.Fprintf(e.stdout, "Delete the account %s <%s>, its linked identities and every session? This cannot be undone.\nType yes to delete: ", u.ID, u.Email)
		line, _ := bufio.NewReader(e.stdin).ReadString('\n')
		if strings.TrimSpace(line) != "yes" {
			return errors.New("not deleted")
		}
	}
	if err := a.Service.DeleteAccount(e.ctx, core.DeleteRequest{UserID: u.ID, Admin: true}, core.AdminCLI); err != nil {
		return describe(err)
	}
	fmt.Fprintf(e.stdout, "deleted user %s <%s>\n", u.ID, u.Email)
	return nil
}
