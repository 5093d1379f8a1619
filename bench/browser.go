package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"time"
)

// Browser is one person's browser in a benchmark: its own cookie jar
// (tether's browser-binding cookie, the OP's session), redirects not
// followed, on a transport shared with the other browsers of the run
// (keep-alive connections, enough for all of them).
type Browser struct {
	Client *http.Client
	Jar    http.CookieJar
}

// NewTransport returns a keep-alive transport for n concurrent browsers.
func NewTransport(n int) *http.Transport {
	return &http.Transport{MaxIdleConns: 4 * n, MaxIdleConnsPerHost: 2 * n, IdleConnTimeout: time.Minute}
}

// NewBrowser returns a browser with an empty jar on tr.
func NewBrowser(tr http.RoundTripper) *Browser {
	jar, _ := cookiejar.New(nil)
	return &Browser{Jar: jar, Client: &http.Client{
		Transport: tr, Jar: jar, Timeout: time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// CloudreveOIDC is the Cloudreve provider code of the bench OP: the only
// generic OIDC provider of the measured tether.
const CloudreveOIDC = 2

// Prepare starts an upstream sign-in on tether at base (PUT
// /api/v4/session/openid) and returns the OP's authorization URL.
func (br *Browser) Prepare(base string) (string, error) {
	data, err := br.cloudreve("PUT", base+"/api/v4/session/openid", map[string]any{"provider": CloudreveOIDC})
	if err != nil {
		return "", err
	}
	var authURL string
	if err := json.Unmarshal(data, &authURL); err != nil || authURL == "" {
		return "", fmt.Errorf("prepare: no authorization URL in %s", data)
	}
	return authURL, nil
}

// Authorize visits the authorization URL; the OP answers at once with a
// redirect to tether's callback, whose query (code, state, iss) is
// returned. The redirect is not followed: the callback page would only
// relay it to Finish.
func (br *Browser) Authorize(authURL string) (url.Values, error) {
	resp, err := br.Client.Get(authURL)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return nil, fmt.Errorf("authorize: HTTP %d, want 302", resp.StatusCode)
	}
	loc, err := resp.Location()
	if err != nil {
		return nil, err
	}
	q := loc.Query()
	if e := q.Get("error"); e != "" {
		return nil, fmt.Errorf("authorize: %s: %s", e, q.Get("error_description"))
	}
	return q, nil
}

// FinishBody is what Cloudreve's callback page posts for the callback
// query q: code, state as session_id, the provider code, and iss.
func FinishBody(q url.Values) map[string]any {
	return map[string]any{"code": q.Get("code"), "session_id": q.Get("state"), "provider_id": CloudreveOIDC, "iss": q.Get("iss")}
}

// Finish ends the sign-in (POST /api/v4/session/openid) and returns the
// envelope's data: {user, token}.
func (br *Browser) Finish(base string, body map[string]any) (json.RawMessage, error) {
	return br.cloudreve("POST", base+"/api/v4/session/openid", body)
}

// SignIn is one whole brokered sign-in: prepare, authorize, finish. It
// returns how long the finish took.
func (br *Browser) SignIn(base string) (time.Duration, error) {
	authURL, err := br.Prepare(base)
	if err != nil {
		return 0, err
	}
	q, err := br.Authorize(authURL)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	_, err = br.Finish(base, FinishBody(q))
	return time.Since(start), err
}

// cloudreve sends a JSON request and returns the envelope's data; a
// non-zero code is an error.
func (br *Browser) cloudreve(method, u string, body any) (json.RawMessage, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(method, u, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := br.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var env struct {
		Code int             `json:"code"`
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, fmt.Errorf("%s %s: not an envelope: %.200s", method, u, raw)
	}
	if env.Code != 0 {
		return nil, fmt.Errorf("%s %s: %.300s", method, u, raw)
	}
	return env.Data, nil
}

// Bare does what SignIn does, against the bare server at base: the same
// three requests (a PUT and a POST with the same JSON bodies, a GET with
// an authorization URL's query), each answered with nothing. It returns
// how long the last one (the finish's twin) took.
func (br *Browser) Bare(base string) (time.Duration, error) {
	var start time.Time
	for _, r := range []struct {
		method, path string
		body         []byte
	}{
		{"PUT", "/api/v4/session/openid", bareBodies[0]},
		{"GET", "/authorize?" + bareQuery, nil},
		{"POST", "/api/v4/session/openid", bareBodies[1]},
	} {
		start = time.Now()
		var body io.Reader
		if r.body != nil {
			body = bytes.NewReader(r.body)
		}
		req, err := http.NewRequest(r.method, base+r.path, body)
		if err != nil {
			return 0, err
		}
		if r.body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := br.Client.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("bare %s: HTTP %d", r.method, resp.StatusCode)
		}
	}
	return time.Since(start), nil
}

// The bare requests' bodies and query, the sizes of the real ones.
var (
	bareBodies = [2][]byte{
		[]byte(`{"provider":2}`),
		[]byte(`{"code":"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567ABCDEFGHIJKLMNOPQRSTUVWXYZ234567","iss":"http://127.0.0.1:40000","provider_id":2,"session_id":"6f1c2b1e-8a4e-4f61-9d55-3e9b1f0f7c21"}`),
	}
	bareQuery = url.Values{
		"client_id": {"tether-bench"}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"},
		"nonce": {"dGhpcyBpcyBhIG5vbmNlIG9mIDMyIGJ5dGVzIGxvbmc"}, "redirect_uri": {"http://127.0.0.1/callback/openid/2"},
		"response_type": {"code"}, "scope": {"openid profile email"}, "state": {"6f1c2b1e-8a4e-4f61-9d55-3e9b1f0f7c21"},
	}.Encode()
)
