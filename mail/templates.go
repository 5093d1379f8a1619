package mail

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	htmltemplate "html/template"
	netmail "net/mail"
	"net/url"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode/utf8"
)

// The texts live in texts/<tag>.json, one flat object of key → fmt
// format per language, so a translator edits one file and a test checks
// that every language has every key. One layout per body type renders
// every kind: templates/message.txt with text/template and
// templates/message.html with html/template, which escapes every value,
// links included. The texts are plain text, never HTML.
//
//go:embed texts/*.json templates/message.txt templates/message.html
var files embed.FS

// Languages are the supported language tags; the first is the default.
var Languages = []string{"en", "zh-CN"}

var (
	texts     = mustLoadTexts()
	textTmpl  = texttemplate.Must(texttemplate.ParseFS(files, "templates/message.txt"))
	htmlTmpl  = htmltemplate.Must(htmltemplate.ParseFS(files, "templates/message.html"))
	errNoLink = errors.New("mail: a link is required")
)

func mustLoadTexts() map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, tag := range Languages {
		b, err := files.ReadFile("texts/" + tag + ".json")
		if err != nil {
			panic(err)
		}
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			panic(fmt.Sprintf("mail: texts/%s.json: %v", tag, err))
		}
		out[tag] = m
	}
	return out
}

// MatchLang returns the supported language closest to tags: one BCP 47
// tag ("zh-CN", "zh_cn", "zh-Hans") or an Accept-Language list
// ("zh-CN,zh;q=0.9,en;q=0.8", taken in order). Every Chinese tag gets
// Simplified Chinese, the only Chinese there is, which serves a reader of
// Traditional better than English; anything else gets English.
func MatchLang(tags string) string {
	for _, t := range strings.Split(tags, ",") {
		t, _, _ = strings.Cut(t, ";")
		t = strings.ToLower(strings.TrimSpace(strings.ReplaceAll(t, "_", "-")))
		primary, _, _ := strings.Cut(t, "-")
		switch primary {
		case "en":
			return "en"
		case "zh":
			return "zh-CN"
		}
	}
	return Languages[0]
}

// Site is what every message says about the service that sends it.
// Its methods build one Message each, in the language that MatchLang
// picks for lang, with a text and an HTML body, a Message-ID in the
// public URL's domain and Auto-Submitted: auto-generated (RFC 3834), so
// that vacation responders stay quiet.
type Site struct {
	// Name is the product name shown in subjects and bodies; "tether"
	// when empty.
	Name string
	// PublicURL is tether's public_url, named in every message so that
	// the reader knows which site wrote.
	PublicURL string
	// Now stamps Date; time.Now when nil.
	Now func() time.Time
}

// Message kinds, as in Message.Kind.
const (
	KindVerifyEmail        = "verify_email"
	KindResetPassword      = "reset_password"
	KindConfirmEmailChange = "confirm_email_change"
	KindEmailChanged       = "email_changed"
	KindAccountDeleted     = "account_deleted"
)

// VerifyEmail asks the owner of to to prove it by opening link, which is
// valid for valid (shown as "expires in 24 hours").
func (s Site) VerifyEmail(lang, to, link string, valid time.Duration) (Message, error) {
	addr, err := parseTo(to)
	if err != nil {
		return Message{}, err
	}
	return s.build(KindVerifyEmail, lang, to, link, valid, []any{addr}, []any{s.PublicURL})
}

// ResetPassword sends the account's address a link to choose a new
// password.
func (s Site) ResetPassword(lang, to, link string, valid time.Duration) (Message, error) {
	addr, err := parseTo(to)
	if err != nil {
		return Message{}, err
	}
	return s.build(KindResetPassword, lang, to, link, valid, []any{addr, s.PublicURL}, nil)
}

// ConfirmEmailChange goes to the new address of a change of address, with
// the link that makes the change.
func (s Site) ConfirmEmailChange(lang, to, link string, valid time.Duration) (Message, error) {
	addr, err := parseTo(to)
	if err != nil {
		return Message{}, err
	}
	return s.build(KindConfirmEmailChange, lang, to, link, valid, []any{addr, s.PublicURL}, nil)
}

// EmailChanged tells the old address (to) that the account now uses
// newAddress, with a "this wasn't me" hint and no link: a link would be a
// phishing template, and the person should go to the site themselves. The
// new address is shown masked (a***@example.com): whoever reads the old
// mailbox may not be its owner any more, which is often why the address
// was changed.
func (s Site) EmailChanged(lang, to, newAddress string) (Message, error) {
	if _, err := parseTo(to); err != nil {
		return Message{}, err
	}
	n, err := parseTo(newAddress)
	if err != nil {
		return Message{}, fmt.Errorf("mail: new address: %w", err)
	}
	return s.build(KindEmailChanged, lang, to, "", 0, []any{s.PublicURL, MaskAddress(n)}, []any{s.PublicURL})
}

// AccountDeleted confirms to the account's last address that the account
// is gone.
func (s Site) AccountDeleted(lang, to string) (Message, error) {
	if _, err := parseTo(to); err != nil {
		return Message{}, err
	}
	return s.build(KindAccountDeleted, lang, to, "", 0, []any{s.PublicURL}, nil)
}

// view is what the layouts render.
type view struct {
	Lang, Name, PublicURL, Subject string
	Greeting, Intro, Note, Footer  string
	Action, ActionLine, Link       string
	Expires, CopyLink              string
}

func (s Site) build(kind, lang, to, link string, valid time.Duration, introArgs, noteArgs []any) (Message, error) {
	if s.PublicURL == "" {
		return Message{}, errors.New("mail: Site.PublicURL is required")
	}
	name := s.Name
	if name == "" {
		name = "tether"
	}
	lang = MatchLang(lang)
	t := texts[lang]
	withLink := kind == KindVerifyEmail || kind == KindResetPassword || kind == KindConfirmEmailChange
	if withLink {
		if err := checkLink(link); err != nil {
			return Message{}, err
		}
		if valid <= 0 {
			return Message{}, errors.New("mail: a link's validity must be positive")
		}
	}
	v := view{
		Lang: lang, Name: name, PublicURL: s.PublicURL,
		Subject:  fmt.Sprintf(t[kind+".subject"], name),
		Greeting: t["greeting"],
		Intro:    fmt.Sprintf(t[kind+".intro"], introArgs...),
		Note:     t[kind+".note"],
		Footer:   fmt.Sprintf(t["footer"], name, s.PublicURL),
	}
	if len(noteArgs) > 0 {
		v.Note = fmt.Sprintf(v.Note, noteArgs...)
	}
	if withLink {
		v.Action, v.Link, v.CopyLink = t[kind+".action"], link, t["copy_link"]
		v.ActionLine = fmt.Sprintf(t["action_line"], v.Action)
		v.Expires = fmt.Sprintf(t["expires"], duration(t, valid))
	}

	var text, html bytes.Buffer
	if err := textTmpl.Execute(&text, v); err != nil {
		return Message{}, fmt.Errorf("mail: %s text: %w", kind, err)
	}
	if err := htmlTmpl.Execute(&html, v); err != nil {
		return Message{}, fmt.Errorf("mail: %s html: %w", kind, err)
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	domain := ""
	if u, err := url.Parse(s.PublicURL); err == nil {
		domain = u.Hostname()
	}
	return Message{
		To: to, Subject: v.Subject, Text: text.String(), HTML: html.String(), Lang: lang,
		ID: NewMessageID(domain), Date: now(),
		Header: map[string]string{
			"Auto-Submitted": "auto-generated",
			// Exchange's own spelling of the same wish.
			"X-Auto-Response-Suppress": "All",
		},
		Kind: kind, Link: link,
	}, nil
}

// parseTo checks a recipient and returns its bare address.
func parseTo(to string) (string, error) {
	a, err := netmail.ParseAddress(to)
	if err != nil {
		return "", fmt.Errorf("mail: recipient %q: %w", to, err)
	}
	return a.Address, nil
}

// checkLink accepts absolute http(s) URLs only, so that no template ever
// shows a javascript: or relative link.
func checkLink(link string) error {
	if link == "" {
		return errNoLink
	}
	u, err := url.Parse(link)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.ContainsAny(link, " \t\r\n") {
		return fmt.Errorf("mail: link %q: want an absolute http(s) URL", link)
	}
	return nil
}

// duration writes d in the largest unit that divides it: 48h is "2 days",
// 2h "2 hours", 90m "90 minutes". Seconds are rounded up to a minute.
func duration(t map[string]string, d time.Duration) string {
	unit := func(n int64, one, many string) string {
		if n == 1 {
			return t[one]
		}
		return fmt.Sprintf(t[many], n)
	}
	switch {
	case d%(24*time.Hour) == 0:
		return unit(int64(d/(24*time.Hour)), "day", "days")
	case d%time.Hour == 0:
		return unit(int64(d/time.Hour), "hour", "hours")
	}
	return unit(max(1, int64((d+time.Minute-1)/time.Minute)), "minute", "minutes")
}

// MaskAddress hides all but the first character of an address's local
// part: alice@example.com becomes a***@example.com.
func MaskAddress(addr string) string {
	local, domain, ok := strings.Cut(addr, "@")
	if !ok || local == "" {
		return "***"
	}
	_, size := utf8.DecodeRuneInString(local)
	return local[:size] + "***@" + domain
}
