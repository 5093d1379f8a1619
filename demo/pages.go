package demo

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"hash/fnv"
	"html"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

var (
	//go:embed pages.html
	pagesHTML string
	//go:embed page.css
	pageCSS string

	pages = template.Must(template.New("").Parse(pagesHTML))

	// pageCSP allows the one inline style sheet by its hash, and images from
	// anywhere since a configured user's picture may live elsewhere.
	pageCSP = fmt.Sprintf("default-src 'none'; style-src 'sha256-%s'; img-src * data:; base-uri 'none'; frame-ancestors 'none'",
		base64.StdEncoding.EncodeToString(func() []byte { h := sha256.Sum256([]byte(pageCSS)); return h[:] }()))
)

// page is what every template gets.
type page struct {
	Title  string
	CSS    template.CSS
	Issuer string
	Client string

	// login
	Action         string
	ID             string
	Users          []userView
	SharedPassword string
	LoginHint      string
	Error          string

	// message
	Message string
}

type userView struct {
	User
	Initial string
}

func (o *OP) render(w http.ResponseWriter, status int, name string, p page) {
	p.CSS = template.CSS(pageCSS)
	p.Issuer = o.issuer
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, p); err != nil {
		o.log.Error("demo: rendering a page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (o *OP) renderExpired(w http.ResponseWriter) {
	o.render(w, http.StatusBadRequest, "message", page{
		Title:   "This sign-in has expired",
		Message: "The sign-in request is unknown, already finished or too old. Go back to the application and start again.",
	})
}

// loginPage shows the sign-in page of a pending authorization request.
func (o *OP) loginPage(w http.ResponseWriter, r *http.Request) {
	req, err := o.store.pendingRequest(r.URL.Query().Get("id"))
	if err != nil {
		o.renderExpired(w)
		return
	}
	o.renderLogin(w, http.StatusOK, req, req.loginHint, "")
}

func (o *OP) renderLogin(w http.ResponseWriter, status int, req *authRequest, username, problem string) {
	p := page{
		Title:     "Sign in",
		Client:    req.clientID,
		Action:    o.prefix + "/login",
		ID:        req.id,
		LoginHint: username,
		Error:     problem,
	}
	for i, u := range o.store.users {
		if u.Name == "" {
			u.Name = u.Username
		}
		p.Users = append(p.Users, userView{User: u, Initial: initial(u)})
		if i == 0 {
			p.SharedPassword = u.Password
		} else if u.Password != p.SharedPassword {
			p.SharedPassword = ""
		}
	}
	o.render(w, status, "login", p)
}

// login finishes the sign-in step of an authorization request: one click on a
// demo user, a username and password, or cancel. The request id in the form
// is unguessable and single use, which is CSRF protection enough for a demo.
// On success it hands back to the op package's callback, which redirects to
// the client with a code.
func (o *OP) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	form := r.PostForm
	req, err := o.store.pendingRequest(form.Get("id"))
	if err != nil {
		o.renderExpired(w)
		return
	}

	var username string
	switch {
	case form.Has("cancel"):
		o.store.DeleteAuthRequest(r.Context(), req.id)
		o.log.Info("demo: sign-in cancelled", "client", req.clientID)
		denied := oidc.ErrAccessDenied().WithDescription("the user cancelled the sign-in")
		op.AuthRequestError(&issWriter{ResponseWriter: w, op: o}, r, req, denied, o.provider)
		return
	case form.Has("as"):
		username = form.Get("as")
		if _, ok := o.store.user(username); !ok {
			o.renderLogin(w, http.StatusOK, req, "", "There is no demo user called "+username+".")
			return
		}
	default:
		username = strings.TrimSpace(form.Get("username"))
		if _, ok := o.store.checkPassword(username, form.Get("password")); !ok {
			o.log.Info("demo: wrong username or password", "username", username)
			o.renderLogin(w, http.StatusOK, req, username, "Wrong username or password.")
			return
		}
	}
	if err := o.store.completeLogin(req.id, username); err != nil {
		o.renderExpired(w)
		return
	}
	o.log.Info("demo: signed in", "username", username, "client", req.clientID)
	http.Redirect(w, r, o.prefix+"/authorize/callback?id="+url.QueryEscape(req.id), http.StatusSeeOther)
}

// signedOut is where end_session lands without a post_logout_redirect_uri.
func (o *OP) signedOut(w http.ResponseWriter, r *http.Request) {
	o.render(w, http.StatusOK, "message", page{
		Title:   "Signed out",
		Message: "You are signed out of the demo provider and the application's tokens from it are revoked. You can close this tab.",
	})
}

// avatarColours all carry white text at a contrast ratio above 4.5.
var avatarColours = []string{"#2453c7", "#6d28d9", "#0f766e", "#a34700", "#be123c", "#4d7c0f"}

// avatar serves a generated picture for a user, "<username>.svg", so the
// default users' picture claims point at something that needs no network.
func (o *OP) avatar(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutSuffix(r.PathValue("file"), ".svg")
	u, found := o.store.user(name)
	if !ok || !found {
		http.NotFound(w, r)
		return
	}
	h := fnv.New32a()
	h.Write([]byte(u.Username))
	colour := avatarColours[h.Sum32()%uint32(len(avatarColours))]

	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="128" height="128" viewBox="0 0 128 128">`+
		`<rect width="128" height="128" fill="%s"/>`+
		`<text x="64" y="64" dy=".35em" text-anchor="middle" fill="#fff" font-family="system-ui, sans-serif" font-size="60" font-weight="700">%s</text>`+
		`</svg>`, colour, html.EscapeString(initial(u)))
}

// initial is the first letter of the user's name, upper case.
func initial(u User) string {
	s := u.Name
	if s == "" {
		s = u.Username
	}
	r, _ := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError {
		return "?"
	}
	return string(unicode.ToUpper(r))
}
