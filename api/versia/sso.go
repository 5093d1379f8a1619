package versia

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"

	"github.com/tether-id/tether/api/httpx"
	"github.com/tether-id/tether/core"
)

// ssoProvider is Versia's SSOProvider. The icon is the configured URL as
// is (Versia proxies it through its media proxy; tether has none) and is
// left out when unset.
type ssoProvider struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Icon string `json:"icon,omitempty"`
}

func toSSOProvider(p core.Provider) ssoProvider {
	return ssoProvider{ID: p.ID, Name: p.Name, Icon: p.Icon}
}

// configured returns the provider the path's {issuer} names, enabled or
// not: a disabled provider keeps its linked identities, which can still be
// listed and unlinked. Unknown → Versia's "Issuer with ID ... not found".
func (h *Handler) configured(id string) (core.Provider, error) {
	p, ok := h.svc.Provider(id)
	if !ok {
		return core.Provider{}, errIssuerNotFound(id)
	}
	return p, nil
}

// GET /api/v1/sso → the configured providers the caller has linked, in
// link order. Identities of providers no longer configured are dropped,
// as Versia Server does.
func (h *Handler) list(w http.ResponseWriter, r *http.Request, u core.User) {
	ids, err := h.svc.Identities(r.Context(), u.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := []ssoProvider{}
	for _, id := range ids {
		if p, ok := h.svc.Provider(id.ProviderID); ok {
			out = append(out, toSSOProvider(p))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// GET /api/v1/sso/{issuer} → the provider when the caller has linked it.
func (h *Handler) get(w http.ResponseWriter, r *http.Request, u core.User) {
	p, err := h.configured(r.PathValue("issuer"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ids, err := h.svc.Identities(r.Context(), u.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	for _, id := range ids {
		if id.ProviderID == p.ID {
			writeJSON(w, http.StatusOK, toSSOProvider(p))
			return
		}
	}
	h.fail(w, r, errNotLinked)
}

// DELETE /api/v1/sso/{issuer} → 204 once the caller's identity of that
// provider is unlinked; 409 when it is the account's last way to sign in.
func (h *Handler) unlink(w http.ResponseWriter, r *http.Request, u core.User) {
	p, err := h.configured(r.PathValue("issuer"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	err = h.svc.Unlink(r.Context(), u.ID, p.ID, httpx.Client(r))
	h.opts.Metrics.Unlink(p.ID, err)
	if errors.Is(err, core.ErrIdentityNotLinked) {
		err = errNotLinked
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// POST /api/v1/sso {issuer} → 200 {"link": authorize URL} for a link flow
// bound to the caller and to this browser. The seed documents this JSON
// answer; Versia Server 0.7 and later answer 302 instead, which a client
// calling with fetch cannot read anyway, so tether keeps the document's.
func (h *Handler) link(w http.ResponseWriter, r *http.Request, u core.User) {
	issuer, err := readIssuer(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p, err := h.configured(issuer)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !p.Enabled {
		// Not offered by /api/v2/instance, so to a client it does not
		// exist; details say why for whoever reads the answer.
		h.fail(w, r, withDetails(errIssuerNotFound(issuer), "This sign-in provider is not enabled"))
		return
	}
	authURL, err := h.svc.Prepare(r.Context(), core.PrepareRequest{
		ProviderID:    p.ID,
		Purpose:       core.PurposeLink,
		UserID:        u.ID,
		RedirectURI:   h.opts.Callbacks.VersiaURL(p.ID),
		BrowserSecret: h.opts.Binder.Secret(w, r),
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.opts.Metrics.FlowStarted(p.ID, core.PurposeLink)
	writeJSON(w, http.StatusOK, struct {
		Link string `json:"link"`
	}{authURL})
}

// readIssuer reads the "issuer" field of a JSON body, or of a form body
// (urlencoded or multipart, as Versia Server 0.6 accepted). Errors are
// 422 validation errors naming the field, worded like Versia's validator
// ("Validation error: Required at \"issuer\""), with details
// {"issuer": problem}.
func readIssuer(r *http.Request) (string, error) {
	invalid := func(problem string) error {
		return withDetails(core.Invalid("issuer", "Validation error: %s at \"issuer\"", problem), map[string]string{"issuer": problem})
	}
	r.Body = http.MaxBytesReader(nil, r.Body, httpx.MaxBody)
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mediaType {
	case "application/x-www-form-urlencoded", "multipart/form-data":
		var err error
		if mediaType == "multipart/form-data" {
			err = r.ParseMultipartForm(httpx.MaxBody)
		} else {
			err = r.ParseForm()
		}
		if err != nil {
			return "", withDetails(core.Invalid("", "Validation error: the request body is not a valid form"), err.Error())
		}
		switch vs := r.PostForm["issuer"]; {
		case len(vs) == 0 || vs[0] == "":
			return "", invalid("Required")
		case len(vs) > 1:
			return "", invalid("Expected string, received array")
		default:
			return vs[0], nil
		}
	}
	// Anything else is read as JSON, the documented body.
	var body map[string]json.RawMessage
	if err := httpx.DecodeJSON(r, &body); err != nil {
		var ce *core.Error
		if errors.As(err, &ce) && ce.Reason == httpx.ReasonBodyTooLarge {
			return "", core.Invalid("", "Validation error: the request body is too large")
		}
		return "", core.Invalid("", "Validation error: the request body is not a JSON object")
	}
	raw, ok := body["issuer"]
	if !ok || string(raw) == "null" {
		return "", invalid("Required")
	}
	var issuer string
	if err := json.Unmarshal(raw, &issuer); err != nil {
		return "", invalid(fmt.Sprintf("Expected string, received %s", jsonType(raw)))
	}
	if issuer == "" {
		return "", invalid("Required")
	}
	return issuer, nil
}

// jsonType names the JSON type of a value the way zod does.
func jsonType(raw json.RawMessage) string {
	switch raw[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case '"':
		return "string"
	}
	return "number"
}

// instanceProvider is an entry of instance.sso.providers; Versia's v2
// instance always has an icon, "" when none is set.
type instanceProvider struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Icon string `json:"icon"`
}

// GET /api/v2/instance (public) → what Versia clients read to offer
// linking: sso.providers lists the enabled providers. forced is always
// false: tether never disables password sign-in for SSO.
func (h *Handler) instance(w http.ResponseWriter, r *http.Request) {
	type sso struct {
		Forced    bool               `json:"forced"`
		Providers []instanceProvider `json:"providers"`
	}
	out := struct {
		SSO sso `json:"sso"`
	}{SSO: sso{Providers: []instanceProvider{}}}
	for _, p := range h.svc.Providers() {
		if p.Enabled {
			out.SSO.Providers = append(out.SSO.Providers, instanceProvider{ID: p.ID, Name: p.Name, Icon: p.Icon})
		}
	}
	writeJSON(w, http.StatusOK, out)
}
