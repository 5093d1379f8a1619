package demo

import (
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// discovery serves the op package's discovery document, trimmed to what the
// demo really supports (the package also advertises the implicit flow, the
// device flow and public clients) and with RFC 9207's flag added, which the
// package does not know about.
func (o *OP) discovery(w http.ResponseWriter, r *http.Request) {
	ctx := op.ContextWithIssuer(r.Context(), o.issuer)
	cfg := op.CreateDiscoveryConfig(ctx, o.provider, o.store)
	cfg.ResponseTypesSupported = []string{string(oidc.ResponseTypeCode)}
	cfg.ResponseModesSupported = []string{string(oidc.ResponseModeQuery)}
	cfg.GrantTypesSupported = []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
	clientAuth := []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost}
	cfg.TokenEndpointAuthMethodsSupported = clientAuth
	cfg.RevocationEndpointAuthMethodsSupported = clientAuth
	cfg.IntrospectionEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic} // the package takes no other
	cfg.IntrospectionEndpointAuthSigningAlgValuesSupported = nil
	cfg.RevocationEndpointAuthSigningAlgValuesSupported = nil
	cfg.DeviceAuthorizationEndpoint = ""
	cfg.CheckSessionIframe = ""

	raw, err := json.Marshal(cfg)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	doc["authorization_response_iss_parameter_supported"] = true
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(doc)
}

// addIss adds RFC 9207's iss parameter to the authorization responses that h
// sends, successful or not. The op package has no hook for it, so the
// Location of redirects to a registered redirect URI is rewritten.
func (o *OP) addIss(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&issWriter{ResponseWriter: w, op: o}, r)
	})
}

type issWriter struct {
	http.ResponseWriter
	op      *OP
	written bool
}

func (w *issWriter) WriteHeader(status int) {
	if !w.written && status >= 300 && status < 400 {
		if loc, ok := w.op.withIss(w.Header().Get("Location")); ok {
			w.Header().Set("Location", loc)
		}
	}
	w.written = true
	w.ResponseWriter.WriteHeader(status)
}

func (w *issWriter) Write(b []byte) (int, error) {
	if !w.written {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *issWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// withIss returns location with iss added when location is an authorization
// response: a registered redirect URI, compared without its query, which the
// response merges its parameters into.
func (o *OP) withIss(location string) (string, bool) {
	u, err := url.Parse(location)
	if err != nil || !o.store.isRedirectURI(withoutQuery(u)) {
		return "", false
	}
	q := u.Query()
	q.Set("iss", o.issuer)
	u.RawQuery = q.Encode()
	return u.String(), true
}

func withoutQuery(u *url.URL) string {
	c := *u
	c.RawQuery, c.ForceQuery = "", false
	return c.String()
}
