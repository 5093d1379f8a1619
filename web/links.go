package web

import (
	"net/url"
	"strings"

	"github.com/tether-id/tether/core"
)

// The pages that links in mail open. They take Cloudreve's paths and
// parameters (its frontend's /session/activate?id=&sign= and
// /session/reset?id=&secret=), so a link reads the same whichever
// serves it; tether's own pages answer them.
const (
	verifyPath = "/session/activate"
	resetPath  = "/session/reset"
	changePath = "/session/activate_email"
)

// EmailLink returns the function that builds the URL of the page for an
// email link (core.MailOptions.Link) under publicURL.
func EmailLink(publicURL string) func(kind core.LinkKind, userID, secret string) string {
	base := strings.TrimSuffix(publicURL, "/")
	return func(kind core.LinkKind, userID, secret string) string {
		path, param := verifyPath, "sign"
		switch kind {
		case core.LinkResetPassword:
			path, param = resetPath, "secret"
		case core.LinkChangeEmail:
			path = changePath
		}
		return base + path + "?" + url.Values{"id": {userID}, param: {secret}}.Encode()
	}
}
