// Package web serves tether's own pages: sign-in, sign-up, the callback
// pages registered at the providers, the account page (linked
// identities, linking, unlinking, sign-out) and the landing of the Versia
// callback redirect. Pages are rendered on the server with html/template
// from files embedded in the binary, in English or Simplified Chinese, and
// need no JavaScript; see docs/web.md for sessions, CSRF and the
// Content-Security-Policy.
package web

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tether-id/tether/api"
	"github.com/tether-id/tether/api/httpx"
	"github.com/tether-id/tether/core"
	"github.com/tether-id/tether/internal/ratelimit"
	"github.com/tether-id/tether/metrics"
)

// Options configure the pages.
type Options struct {
	// PublicURL is the external base URL; callback URLs derive from it,
	// and cookies are Secure when it is https.
	PublicURL string
	// Callbacks are the providers' redirect URIs.
	Callbacks *api.Callbacks
	// Secret keys the CSRF tokens (the configuration's secret_key).
	Secret []byte
	// RedirectAllowList are origins or URL prefixes the pages may send a
	// person to after signing in (web.redirect_allow_list).
	RedirectAllowList []string
	// Binder sets and reads the browser-binding cookie; required.
	Binder *httpx.Binder
	// Limiter limits sign-in routes per client address; nil disables.
	Limiter *ratelimit.Limiter
	// Accounts locks out password sign-in per email after repeated
	// failures; nil disables. It is the Cloudreve surface's, so an email
	// has one budget across both.
	Accounts *ratelimit.Backoff
	// MailQuota limits the messages anyone can have sent to one address
	// (reset, verification, change of address); nil disables. Shared by
	// every surface.
	MailQuota *ratelimit.Quota
	// Metrics counts the outcomes of sign-ins, sign-ups, links, unlinks,
	// refreshes and flows, and the requests a rate limit refused; nil
	// counts nothing.
	Metrics *metrics.Surface
	// Resume, when set, finishes an app's authorization request that a
	// sign-in was for (next continues it) in the sign-in's own answer,
	// and reports whether it answered (op.Handler.Resume).
	Resume func(w http.ResponseWriter, r *http.Request, next string, b *core.BrowserSession) bool
	// Refresher coalesces a browser's concurrent refreshes; nil makes a
	// new one.
	Refresher *Refresher
	// Now is the clock; nil means time.Now. It must be the service's.
	Now    func() time.Time
	Logger *slog.Logger
}

// Handler serves the pages.
type Handler struct {
	svc       *core.Service
	opts      Options
	log       *slog.Logger
	now       func() time.Time
	secure    bool
	publicURL string
	allow     allowList
	csrfKey   []byte
	origins   *http.CrossOriginProtection
	refresher *Refresher
	pages     map[string]*template.Template
	imgSrc    string
}

var (
	//go:embed templates/*.html
	templateFiles embed.FS
	//go:embed assets
	assetFiles embed.FS
)

// New returns the pages over svc.
func New(svc *core.Service, opts Options) (*Handler, error) {
	if len(opts.Secret) < 32 {
		return nil, errors.New("web: the secret must be at least 32 bytes")
	}
	if opts.Binder == nil {
		return nil, errors.New("web: a browser binder is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Refresher == nil {
		opts.Refresher = NewRefresher(opts.Now)
	}
	publicURL := strings.TrimSuffix(opts.PublicURL, "/")
	allow, err := newAllowList(publicURL, opts.RedirectAllowList)
	if err != nil {
		return nil, err
	}
	key := hmac.New(sha256.New, opts.Secret)
	key.Write([]byte("tether web csrf v1"))
	origins := http.NewCrossOriginProtection()
	if err := origins.AddTrustedOrigin(allow.self.String()); err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	h := &Handler{
		svc:       svc,
		opts:      opts,
		log:       opts.Logger,
		now:       opts.Now,
		secure:    allow.self.Scheme == "https",
		publicURL: publicURL,
		allow:     allow,
		csrfKey:   key.Sum(nil),
		origins:   origins,
		refresher: opts.Refresher,
		imgSrc:    imageSources(svc.Providers()),
	}
	if h.pages, err = parsePages(); err != nil {
		return nil, err
	}
	return h, nil
}

// Register adds the pages to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", h.root)
	mux.HandleFunc("GET /login", h.loginPage)
	mux.HandleFunc("POST /login", h.limited(h.login))
	mux.HandleFunc("POST /login/provider", h.limited(h.startSignIn))
	mux.HandleFunc("GET /signup", h.signUpPage)
	mux.HandleFunc("POST /signup", h.limited(h.signUp))
	mux.HandleFunc("GET /account", h.account)
	mux.HandleFunc("POST /account/link", h.limited(h.startLink))
	mux.HandleFunc("GET /account/unlink/{provider}", h.unlinkPage)
	mux.HandleFunc("POST /account/unlink/{provider}", h.unlink)
	mux.HandleFunc("POST /logout", h.logout)
	mux.HandleFunc("POST /account/apps/{client}/revoke", h.revokeApp)
	mux.HandleFunc("POST /language", h.setLanguage)
	mux.HandleFunc("GET /callback/openid/{provider}", h.limited(h.callback))
	mux.HandleFunc("GET /login/qq", h.limited(h.callback))
	mux.HandleFunc("GET /assets/{file}", h.asset)
	h.registerEmail(mux)
}

// limited refuses a request over the per-IP limit with a page.
func (h *Handler) limited(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := httpx.AllowIP(h.opts.Limiter, r); err != nil {
			h.refused(w, r, err)
			st := &requestState{lang: negotiate(r)}
			h.renderProblem(w, r, st, "title_error", problemFor(err, ""), nil)
			return
		}
		next(w, r)
	}
}

// refused sets Retry-After when err is a rate limit's, and counts the
// request as refused by that limit.
func (h *Handler) refused(w http.ResponseWriter, r *http.Request, err error) {
	if wait, ok := httpx.RetryAfter(err); ok {
		w.Header().Set("Retry-After", strconv.Itoa(httpx.Seconds(wait)))
		h.opts.Metrics.Refused(r, err)
	}
}

// Page names, one template file each.
const (
	pageLogin   = "login"
	pageSignUp  = "signup"
	pageAccount = "account"
	pageUnlink  = "unlink"
	pageMessage = "message"
	pageConsent = "consent"
	pageSignOut = "signout"
)

func parsePages() (map[string]*template.Template, error) {
	// part_*.html define blocks that several pages use.
	base, err := template.ParseFS(templateFiles, "templates/layout.html", "templates/part_*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, name := range []string{pageLogin, pageSignUp, pageAccount, pageUnlink, pageMessage, pageConsent, pageSignOut,
		pageForgot, pageReset, pageConfirm, pageSent, pageDelete} {
		t, err := template.Must(base.Clone()).ParseFS(templateFiles, "templates/"+name+".html")
		if err != nil {
			return nil, err
		}
		pages[name] = t
	}
	return pages, nil
}

// view is what every template gets. Fields a page does not use stay
// zero.
type view struct {
	lang *language
	// formAction is false on pages whose forms start a sign-in at a
	// provider; see csp.
	formAction bool

	Lang      string
	Title     string
	CSRF      string
	Back      string
	Languages []langChoice
	Notice    string
	Error     *problemView

	// sign-in and sign-up
	Redirect  string
	Email     string
	Providers []providerView
	SignUp    bool
	MinLen    int

	// account
	User         *accountView
	Identities   []identityView
	Linkable     []providerView
	Passwordless bool

	// unlink confirmation
	Unlink *identityView
	Guard  bool

	// an app of tether's OpenID Provider: the sign-in page for it, the
	// consent and sign-out pages, the account page's apps
	App    string
	AppID  string
	Scopes []string
	Hidden []hiddenField
	Apps   []appView
	// Force keeps a signed-in browser on the sign-in page (prompt=login).
	Force bool
	// SignOutAt is the name of the provider the session came from when
	// it offers RP-initiated logout: the account page then offers signing
	// out there too.
	SignOutAt string

	// message
	Message string
	Quote   []string
	Actions []actionView

	// email flows, devices and deletion (mailview.go)
	Mail *mailView
}

type langChoice struct {
	Tag, Name string
	Current   bool
}

type problemView struct {
	Text      string
	Detail    string
	Reference string
}

type actionView struct {
	Href, Text string
	Primary    bool
}

// T returns the page language's text for key (see language.T).
func (v *view) T(key string, args ...any) (string, error) { return v.lang.T(key, args...) }

// Asset returns the URL of an embedded asset, versioned by its content so
// that it can be cached.
func (v *view) Asset(name string) string { return "/assets/" + name + "?v=" + assetVersions[name] }

var assetVersions = func() map[string]string {
	out := map[string]string{}
	entries, err := fs.ReadDir(assetFiles, "assets")
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		b, _ := assetFiles.ReadFile("assets/" + e.Name())
		sum := sha256.Sum256(b)
		out[e.Name()] = hex.EncodeToString(sum[:6])
	}
	return out
}()

// render writes a page with the security headers. Rendering goes to a
// buffer first, so a template error gives a clean 500, never half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, st *requestState, status int, page string, v *view) {
	v.lang = st.lang
	v.Lang = st.lang.Tag
	userID := ""
	if st.signedIn {
		userID = st.user.ID
	}
	v.CSRF = h.csrfToken(h.csrfSecret(w, r, st, false), userID)
	if v.Back == "" {
		v.Back = "/"
		if r.Method == http.MethodGet {
			v.Back = r.URL.RequestURI()
		}
	}
	for _, l := range languages {
		v.Languages = append(v.Languages, langChoice{Tag: l.Tag, Name: l.Name, Current: l == st.lang})
	}
	var buf bytes.Buffer
	if err := h.pages[page].ExecuteTemplate(&buf, "layout", v); err != nil {
		h.log.ErrorContext(r.Context(), "web: rendering a page", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h.securityHeaders(w, v.formAction)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// securityHeaders are set on every page and redirect. The policy allows
// no script at all, styles and images only from tether itself (plus the
// configured provider icons and data: icons), no framing, no <base>, and
// forms that post only to tether.
//
// form-action is left out on the two pages whose buttons start a sign-in
// at a provider (sign-in and account): browsers apply form-action to
// every redirect that follows a form submission, and the provider's
// authorization endpoint may redirect further (to another host for some
// providers) before showing its login page, which no fixed list can
// foresee.
func (h *Handler) securityHeaders(w http.ResponseWriter, formAction bool) {
	csp := "default-src 'none'; style-src 'self'; img-src " + h.imgSrc + "; base-uri 'none'; frame-ancestors 'none'"
	if formAction {
		csp += "; form-action 'self'"
	}
	hd := w.Header()
	hd.Set("Content-Security-Policy", csp)
	hd.Set("X-Frame-Options", "DENY")
	// same-origin: the callback URL (code and state) never reaches another
	// site, and same-origin POSTs keep their Origin header for the CSRF
	// check.
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cache-Control", "no-store")
	hd.Add("Vary", "Cookie, Accept-Language")
}

// redirect sends the browser on with 303 See Other, so a POST is followed
// by a GET.
func (h *Handler) redirect(w http.ResponseWriter, r *http.Request, to string) {
	h.securityHeaders(w, true)
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// imageSources is the CSP img-src list: tether itself, data: icons and
// the origins of the configured provider icons.
func imageSources(providers []core.Provider) string {
	srcs := []string{"'self'", "data:"}
	for _, p := range providers {
		u, err := url.Parse(p.Icon)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			continue
		}
		origin := u.Scheme + "://" + u.Host
		if !slices.Contains(srcs, origin) {
			srcs = append(srcs, origin)
		}
	}
	return strings.Join(srcs, " ")
}

// asset serves the embedded style sheet and icons.
func (h *Handler) asset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	b, err := assetFiles.ReadFile(path.Join("assets", name))
	if err != nil || strings.Contains(name, "/") {
		http.NotFound(w, r)
		return
	}
	switch path.Ext(name) {
	case ".css":
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
	case ".svg":
		w.Header().Set("Content-Type", "image/svg+xml")
	default:
		w.Header().Set("Content-Type", "application/octet-stream")
	}
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.URL.Query().Get("v") == assetVersions[name] {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "public, max-age=300")
	}
	_, _ = w.Write(b)
}
