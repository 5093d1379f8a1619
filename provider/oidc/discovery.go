package oidc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/tether-id/tether/provider"
)

// discovery is the part of the OP's discovery document tether uses.
type discovery struct {
	Issuer                   string   `json:"issuer"`
	AuthorizationEndpoint    string   `json:"authorization_endpoint"`
	TokenEndpoint            string   `json:"token_endpoint"`
	UserinfoEndpoint         string   `json:"userinfo_endpoint"`
	JWKSURI                  string   `json:"jwks_uri"`
	EndSessionEndpoint       string   `json:"end_session_endpoint"`
	TokenEndpointAuthMethods []string `json:"token_endpoint_auth_methods_supported"`
	IDTokenSigningAlgs       []string `json:"id_token_signing_alg_values_supported"`
	CodeChallengeMethods     []string `json:"code_challenge_methods_supported"`
	// IssParameterSupported is RFC 9207's promise to send "iss" on
	// every authorization response.
	IssParameterSupported bool `json:"authorization_response_iss_parameter_supported"`
}

// discoveryURL is where OpenID Connect Discovery 1.0 §4 puts the document:
// the issuer with any trailing slash removed, plus the well-known path.
func discoveryURL(issuer string) string {
	return strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
}

// fetchDiscovery fetches and checks the discovery document.
func (p *Provider) fetchDiscovery(ctx context.Context) (*discovery, error) {
	d, err := p.fetchRawDiscovery(ctx)
	if err != nil {
		return nil, err
	}
	if err := p.checkDiscovery(d); err != nil {
		return nil, err
	}
	return d, nil
}

// fetchRawDiscovery fetches the discovery document without checking it.
func (p *Provider) fetchRawDiscovery(ctx context.Context) (*discovery, error) {
	var d discovery
	ctx = provider.WithEndpoint(ctx, provider.EndpointDiscovery)
	if err := p.getJSON(ctx, "discovery", discoveryURL(p.cfg.Issuer), "", &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// checkDiscovery checks that d is the configured issuer's and names the
// endpoints tether needs.
func (p *Provider) checkDiscovery(d *discovery) error {
	if d.Issuer != p.cfg.Issuer {
		return provider.Errorf("discovery_issuer_mismatch",
			"the provider's discovery document names issuer %q, but %q is configured (they must match exactly)", d.Issuer, p.cfg.Issuer)
	}
	endpoints := []struct {
		name, url string
		required  bool
	}{
		{"authorization_endpoint", d.AuthorizationEndpoint, true},
		{"token_endpoint", d.TokenEndpoint, true},
		{"jwks_uri", d.JWKSURI, true},
		{"userinfo_endpoint", d.UserinfoEndpoint, false},
		{"end_session_endpoint", d.EndSessionEndpoint, false},
	}
	for _, e := range endpoints {
		if e.url == "" {
			if e.required {
				return provider.Errorf("discovery", "the provider's discovery document has no %s", e.name)
			}
			continue
		}
		u, err := url.Parse(e.url)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return provider.Errorf("discovery", "the provider's discovery document has an invalid %s %q", e.name, e.url)
		}
		// The client secret, codes and tokens cross these endpoints, and
		// an https issuer's document could still name http ones. Plain
		// http is for loopback hosts (tests, a local OP) and for tether
		// dev's demo OP (Insecure), as for the issuer itself.
		if u.Scheme == "http" && !p.cfg.Insecure && !provider.IsLoopback(u.Hostname()) {
			return provider.Errorf("discovery",
				"the provider's discovery document names a plain-http %s %q; tether calls providers over https only (http only on loopback hosts)", e.name, e.url)
		}
	}
	return nil
}

// maxBody bounds every response body read from the OP.
const maxBody = 1 << 20

// getJSON fetches url and decodes its JSON body into v. A non-empty bearer
// is sent as the access token. Failures are *provider.Error with reason;
// network failures and 5xx answers are marked Unavailable.
func (p *Provider) getJSON(ctx context.Context, reason, url, bearer string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return &provider.Error{Reason: reason, Message: "invalid provider URL", Err: err}
	}
	req.Header.Set("Accept", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	body, resp, err := p.do(req, reason)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return statusError(reason, resp, body)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/jwt" {
		// Signed (or encrypted) userinfo needs client registration
		// tether does not ask for; say so instead of failing to parse.
		return provider.Errorf(reason, "the provider sent a signed JWT where tether expects JSON")
	}
	if err := decodeJSON(body, v); err != nil {
		return &provider.Error{Reason: reason, Message: "the provider sent an invalid JSON answer", Err: err}
	}
	return nil
}

// do sends req and reads the body (at most maxBody).
func (p *Provider) do(req *http.Request, reason string) ([]byte, *http.Response, error) {
	resp, err := p.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, nil, &provider.Error{Reason: reason, Message: "the provider could not be reached", Unavailable: true, Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, nil, &provider.Error{Reason: reason, Message: "the provider's answer could not be read", Unavailable: true, Err: err}
	}
	if len(body) > maxBody {
		return nil, nil, &provider.Error{Reason: reason, Message: "the provider's answer is too large"}
	}
	return body, resp, nil
}

// statusError describes a non-200 answer. 5xx means the OP is unavailable.
func statusError(reason string, resp *http.Response, body []byte) error {
	err := &httpError{Status: resp.StatusCode,
		text: fmt.Sprintf("%s %s: HTTP %d: %s", resp.Request.Method, resp.Request.URL.Redacted(), resp.StatusCode, snippet(body))}
	if resp.StatusCode >= 500 {
		return &provider.Error{Reason: reason, Message: "the provider is unavailable", Unavailable: true, Err: err}
	}
	return &provider.Error{Reason: reason, Message: fmt.Sprintf("the provider answered HTTP %d", resp.StatusCode), Err: err}
}

// httpError is an answer with an unexpected HTTP status.
type httpError struct {
	Status int
	text   string
}

func (e *httpError) Error() string { return e.text }

// decodeJSON decodes one JSON value, keeping numbers exact.
func decodeJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after JSON value")
	}
	return nil
}

// snippet returns the start of body for error messages, printable only.
func snippet(body []byte) string {
	const n = 200
	s := string(body)
	if len(s) > n {
		s = s[:n] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
