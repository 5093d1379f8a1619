package web

import (
	"hash/fnv"
	"html/template"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tether-id/tether/core"
)

// providerView is a provider as a button or list entry shows it.
type providerView struct {
	ID   string
	Name string
	// IconURL is the configured icon when the browser can load it
	// (http(s) or a data: image); otherwise the page shows Initial on a
	// coloured disc. Iconify names ("mdi:github") would need a CDN, which
	// the pages never use.
	IconURL template.URL
	Initial string
	Colour  string // a class name: c0..c5
}

type identityView struct {
	Provider providerView
	Name     string
	Email    string
	Linked   string
	// Disabled is true when the provider is switched off: the identity
	// stays linked but cannot be used to sign in.
	Disabled bool
	// Only is true when this identity is the account's only way to sign
	// in, so unlinking it would be refused.
	Only bool
}

type accountView struct {
	Nickname string
	Email    string // "" for the placeholder of accounts without one
	Since    string
	HasPass  bool
}

var dataImage = regexp.MustCompile(`^data:image/(png|gif|jpeg|webp|svg\+xml)(;base64)?,`)

func providerViewOf(p core.Provider) providerView {
	v := providerView{ID: p.ID, Name: p.Name, Initial: initial(p.Name, p.ID)}
	if u, err := url.Parse(p.Icon); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
		v.IconURL = template.URL(u.String())
	} else if dataImage.MatchString(p.Icon) {
		v.IconURL = template.URL(p.Icon)
	}
	h := fnv.New32a()
	h.Write([]byte(p.ID))
	v.Colour = "c" + string(rune('0'+h.Sum32()%6))
	return v
}

// initial is the first letter of name (else of id), upper case.
func initial(name, id string) string {
	for _, s := range []string{name, id} {
		for _, r := range s {
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				return string(unicode.ToUpper(r))
			}
		}
	}
	return "?"
}

// date formats t in the language's layout, in UTC.
func (l *language) date(t time.Time) string {
	layout, err := l.T("date_format")
	if err != nil {
		layout = time.DateOnly
	}
	return t.UTC().Format(layout)
}

// list joins names the way the language writes a list: "A, B" in
// English, "A、B" in Chinese.
func (l *language) list(names []string) string {
	sep, err := l.T("list_separator")
	if err != nil {
		sep = ", "
	}
	return strings.Join(names, sep)
}

func (h *Handler) accountViewOf(l *language, u core.User) *accountView {
	v := &accountView{Nickname: u.Nickname, Email: u.Email, Since: l.date(u.CreatedAt), HasPass: !u.Passwordless()}
	if strings.HasSuffix(strings.ToLower(u.Email), "@"+core.PlaceholderEmailDomain) {
		v.Email = ""
	}
	return v
}

// identityViews lists the user's identities, marking the one whose
// unlinking the core would refuse (the same rule as core.Service.Unlink:
// a passwordless account keeps one identity of an enabled provider).
func (h *Handler) identityViews(l *language, u core.User, ids []core.Identity) []identityView {
	usable := 0
	for _, id := range ids {
		if p, ok := h.svc.Provider(id.ProviderID); ok && p.Enabled {
			usable++
		}
	}
	out := make([]identityView, 0, len(ids))
	for _, id := range ids {
		p, ok := h.svc.Provider(id.ProviderID)
		if !ok {
			p = core.Provider{ID: id.ProviderID, Name: id.ProviderID}
		}
		v := identityView{
			Provider: providerViewOf(p),
			Name:     id.Name,
			Email:    id.Email,
			Linked:   l.date(id.LinkedAt),
			Disabled: !p.Enabled,
		}
		v.Only = u.Passwordless() && p.Enabled && usable == 1
		out = append(out, v)
	}
	return out
}

// enabledProviders are the providers a person can sign in or link with.
func (h *Handler) enabledProviders() []providerView {
	var out []providerView
	for _, p := range h.svc.Providers() {
		if p.Enabled {
			out = append(out, providerViewOf(p))
		}
	}
	return out
}

// truncate shortens s to at most n runes, for text taken from a URL.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}
