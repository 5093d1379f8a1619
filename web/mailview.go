package web

import (
	"context"
	"net/http"
	"slices"

	"github.com/tether-id/tether/api/httpx"
	"github.com/tether-id/tether/core"
)

// mailView is what the pages of the email flows, the devices and
// account deletion show (templates/part_mail.html and the pages
// forgot, reset, confirm, sent and delete).
type mailView struct {
	// sign-in page
	Forgot      bool   // offer "forgot your password?"
	ResendEmail string // offer a new verification link for this address

	// account page
	Enabled       bool // a mail server is configured
	Verified      bool
	Mailable      bool // the account has a real address
	ChangeTo      string
	HasPass       bool
	Recent        bool // a passwordless account signed in within ReauthMinutes
	ReauthMinutes int
	Devices       []deviceView
	Others        int // devices other than this one

	// the pages that links in mail open
	Link *linkView
}

// linkView is a form that uses an email link.
type linkView struct {
	Action, ID, Param, Secret string
	Address                   string
	Text, Button              string
}

// deviceView is one session on the account page.
type deviceView struct {
	ID, Name, IP, LastUsed, Since string
	// Apps are the apps signed in to from this device.
	Apps    string
	Current bool
}

// deviceName is what the devices list calls a session: "Firefox on
// Windows", else whatever part of that is known.
func deviceName(st *requestState, ua string) string {
	a := httpx.ParseUserAgent(ua)
	switch {
	case a.Browser != "" && a.OS != "":
		return st.t("device_name", a.Browser, a.OS)
	case a.Browser != "":
		return a.Browser
	case a.OS != "":
		return a.OS
	}
	return st.t("device_unknown")
}

// appName is what the devices list calls the app a session was granted
// to: its configured name, else its client id.
func (h *Handler) appName(clientID string) string {
	if app, ok := h.svc.App(clientID); ok && app.Name != "" {
		return app.Name
	}
	return clientID
}

// accountMail fills the account page's parts of mail, devices and
// deletion.
func (h *Handler) accountMail(ctx context.Context, st *requestState, v *view) error {
	u := st.user
	mv := &mailView{
		Enabled:       h.svc.MailEnabled(),
		Verified:      u.EmailVerified,
		Mailable:      core.Mailable(u.Email),
		HasPass:       !u.Passwordless(),
		ReauthMinutes: int(h.svc.ReauthMaxAge().Minutes()),
	}
	sessions, err := h.svc.Sessions(ctx, u.ID)
	if err != nil {
		return err
	}
	current, _ := h.svc.SessionIDOf(ctx, st.refresh)
	mv.Recent = u.Passwordless() && h.svc.SignedInRecently(ctx, u.ID, current)
	// The devices are the browser sessions. An app's session is the app's
	// (its back end's user agent, not the person's device): it is listed
	// under the apps with access, and named on the device it started from.
	apps := map[string][]string{}
	for _, s := range sessions {
		if s.ClientID != "" && !slices.Contains(apps[s.Parent], h.appName(s.ClientID)) {
			apps[s.Parent] = append(apps[s.Parent], h.appName(s.ClientID))
		}
	}
	for _, s := range sessions {
		if s.ClientID != "" {
			continue
		}
		d := deviceView{
			ID: s.ID, Name: deviceName(st, s.UserAgent), Apps: st.lang.list(apps[s.ID]), IP: s.LastIP,
			LastUsed: st.lang.date(s.LastUsedAt), Since: st.lang.date(s.CreatedAt), Current: s.ID == current,
		}
		if d.Current {
			// This device first.
			mv.Devices = append([]deviceView{d}, mv.Devices...)
			continue
		}
		mv.Devices = append(mv.Devices, d)
		mv.Others++
	}
	v.Mail = mv
	return nil
}

// accountNotice is the notice of the account page after one of the
// email or device actions (the query says which).
func accountNotice(r *http.Request, st *requestState) string {
	if r.Method != http.MethodGet {
		return ""
	}
	q := r.URL.Query()
	switch {
	case q.Has("verified"):
		return st.t("notice_verified")
	case q.Has("verification_sent"):
		return st.t("notice_verification_sent", st.user.Email)
	case q.Has("change_sent"):
		return st.t("notice_change_sent")
	case q.Has("device_signed_out"):
		return st.t("notice_device_signed_out")
	case q.Has("others_signed_out"):
		return st.t("notice_others_signed_out")
	}
	return ""
}
