package qq

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrMalformed is wrapped by every error about an answer that is not in QQ
// Connect's format (HTML pages, empty or truncated bodies, missing fields),
// as opposed to an error QQ reported itself, which is an *APIError.
var ErrMalformed = errors.New("malformed QQ Connect response")

// APIError is an error QQ Connect reported in a body: {"error":100016,
// "error_description":...} from the OAuth endpoints (JSON or JSONP), or
// {"ret":-1,"msg":...} from the OpenAPI. QQ sends these with HTTP 200.
type APIError struct {
	// Code is QQ's number (100016, 100019, -1, 1002...). It is 0 when the
	// body named the error with a word instead of a number.
	Code int64
	// Description is QQ's text, shortened and stripped of control
	// characters; it comes from upstream and is only fit for logs.
	Description string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("QQ Connect error %d: %s", e.Code, e.Description)
}

// Codes QQ Connect answers that the provider treats specially.
const (
	// CodeNoUnionIDPermission is /me's answer to unionid=1 when the app
	// was not granted unionid ("companyid not set").
	CodeNoUnionIDPermission = 100048
)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// tokenResponse is the answer of /oauth2.0/token.
type tokenResponse struct {
	AccessToken  string
	RefreshToken string
	// ExpiresIn is the access token lifetime in seconds, 0 when absent.
	ExpiresIn int64
	// OpenID is only sent with need_openid=1, which tether does not ask for.
	OpenID string
}

// meResponse is the answer of /oauth2.0/me.
type meResponse struct {
	ClientID string
	OpenID   string
	// UnionID is "" when not asked for or not granted.
	UnionID string
}

// userInfo is the answer of /user/get_user_info.
type userInfo struct {
	Nickname string
	// Avatar is figureurl_qq_2 (100 px), else figureurl_qq_1 (40 px), and
	// only when it is an http(s) URL.
	Avatar string
	// Fields are all the top-level members of the body but ret and msg,
	// kept for Identity.Claims.
	Fields map[string]json.RawMessage
}

// Limits on values that become part of an identity or of later requests.
// QQ's openid is 32 characters, unionid about 36 and tokens 32; the limits
// leave room without letting an answer smuggle in arbitrary data.
const (
	maxIDLen    = 128
	maxTokenLen = 2048
	// maxExpiresIn bounds expires_in (QQ says 60 or 90 days) so that the
	// expiry computation cannot overflow.
	maxExpiresIn = 10 * 366 * 24 * 3600
)

// parseTokenResponse reads the token endpoint's answer in any of the forms
// QQ uses: JSON with expires_in as a string or a number (fmt=json), the
// urlencoded default, or a JSONP error.
func parseTokenResponse(body []byte) (tokenResponse, error) {
	var t tokenResponse
	obj, isJSON, err := jsonPayload(body)
	if err != nil {
		return t, err
	}
	if !isJSON {
		return parseTokenForm(obj)
	}
	if err := checkStatus(obj); err != nil {
		return t, err
	}
	var raw struct {
		AccessToken  *string `json:"access_token"`
		RefreshToken *string `json:"refresh_token"`
		ExpiresIn    *number `json:"expires_in"`
		OpenID       *string `json:"openid"`
	}
	if err := json.Unmarshal(obj, &raw); err != nil {
		return t, malformed("token: %v", err)
	}
	t.AccessToken = deref(raw.AccessToken)
	t.RefreshToken = deref(raw.RefreshToken)
	t.OpenID = deref(raw.OpenID)
	if raw.ExpiresIn != nil {
		t.ExpiresIn = raw.ExpiresIn.val
	}
	return t, t.validate()
}

// parseTokenForm reads the urlencoded token answer:
// access_token=...&expires_in=7776000&refresh_token=...
func parseTokenForm(body []byte) (tokenResponse, error) {
	var t tokenResponse
	if body[0] == '<' {
		return t, malformed("token: an HTML page instead of a token")
	}
	q, err := url.ParseQuery(string(body))
	if err != nil {
		return t, malformed("token: neither JSON nor urlencoded: %v", err)
	}
	if code := q.Get("error"); code != "" {
		if err := apiError(code, q.Get("error_description")); err != nil {
			return t, err
		}
	}
	t.AccessToken = q.Get("access_token")
	t.RefreshToken = q.Get("refresh_token")
	t.OpenID = q.Get("openid")
	if s := q.Get("expires_in"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return t, malformed("token: expires_in %q is not an integer", clean(s))
		}
		t.ExpiresIn = n
	}
	return t, t.validate()
}

func (t tokenResponse) validate() error {
	if t.AccessToken == "" {
		return malformed("token: no access_token")
	}
	if !validValue(t.AccessToken, maxTokenLen) {
		return malformed("token: access_token has unexpected characters or length")
	}
	if t.RefreshToken != "" && !validValue(t.RefreshToken, maxTokenLen) {
		return malformed("token: refresh_token has unexpected characters or length")
	}
	if t.OpenID != "" && !validValue(t.OpenID, maxIDLen) {
		return malformed("token: openid has unexpected characters or length")
	}
	if t.ExpiresIn < 0 || t.ExpiresIn > maxExpiresIn {
		return malformed("token: expires_in %d out of range", t.ExpiresIn)
	}
	return nil
}

// parseMe reads /oauth2.0/me: JSONP (callback( {...} );) by default, plain
// JSON with fmt=json.
func parseMe(body []byte) (meResponse, error) {
	var m meResponse
	obj, isJSON, err := jsonPayload(body)
	if err != nil {
		return m, err
	}
	if !isJSON {
		return m, notJSON("me", obj)
	}
	if err := checkStatus(obj); err != nil {
		return m, err
	}
	var raw struct {
		ClientID *idString `json:"client_id"`
		OpenID   *string   `json:"openid"`
		UnionID  *string   `json:"unionid"`
	}
	if err := json.Unmarshal(obj, &raw); err != nil {
		return m, malformed("me: %v", err)
	}
	if raw.ClientID != nil {
		m.ClientID = string(*raw.ClientID)
	}
	m.OpenID = deref(raw.OpenID)
	m.UnionID = deref(raw.UnionID)
	switch {
	case m.ClientID == "":
		return m, malformed("me: no client_id")
	case m.OpenID == "":
		return m, malformed("me: no openid")
	case !validValue(m.OpenID, maxIDLen):
		return m, malformed("me: openid has unexpected characters or length")
	case m.UnionID != "" && !validValue(m.UnionID, maxIDLen):
		return m, malformed("me: unionid has unexpected characters or length")
	}
	return m, nil
}

// parseUserInfo reads /user/get_user_info, which is JSON whatever its
// Content-Type says, with ret 0 on success.
func parseUserInfo(body []byte) (userInfo, error) {
	var u userInfo
	obj, isJSON, err := jsonPayload(body)
	if err != nil {
		return u, err
	}
	if !isJSON {
		return u, notJSON("get_user_info", obj)
	}
	if err := checkStatus(obj); err != nil {
		return u, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(obj, &fields); err != nil {
		return u, malformed("get_user_info: %v", err)
	}
	if _, ok := fields["ret"]; !ok {
		return u, malformed("get_user_info: no ret")
	}
	var raw struct {
		Nickname *string `json:"nickname"`
		QQ1      *string `json:"figureurl_qq_1"`
		QQ2      *string `json:"figureurl_qq_2"`
	}
	if err := json.Unmarshal(obj, &raw); err != nil {
		return u, malformed("get_user_info: %v", err)
	}
	delete(fields, "ret")
	delete(fields, "msg")
	u.Nickname = deref(raw.Nickname)
	u.Fields = fields
	if a := deref(raw.QQ2); webURL(a) {
		u.Avatar = a
	} else if a := deref(raw.QQ1); webURL(a) {
		u.Avatar = a
	}
	return u, nil
}

// jsonPayload finds the JSON object in body. QQ wraps JSON as JSONP,
// "callback( {...} );" followed by a newline, and clients must tolerate
// spacing variations. isJSON is false when body is neither, in which case
// obj is the trimmed body.
func jsonPayload(body []byte) (obj []byte, isJSON bool, err error) {
	b := trimSpace(body)
	if len(b) == 0 {
		return nil, false, malformed("empty body")
	}
	if b[0] == '{' {
		return b, true, nil
	}
	name := 0
	for name < len(b) && isIdentByte(b[name]) {
		name++
	}
	if name == 0 {
		return b, false, nil
	}
	rest := trimSpace(b[name:])
	if len(rest) == 0 || rest[0] != '(' {
		return b, false, nil
	}
	rest = trimSpace(rest[1:])
	rest = bytes.TrimSuffix(rest, []byte(";"))
	rest = trimSpace(rest)
	if len(rest) == 0 || rest[len(rest)-1] != ')' {
		return nil, false, malformed("unterminated JSONP body")
	}
	inner := trimSpace(rest[:len(rest)-1])
	if len(inner) == 0 || inner[0] != '{' {
		return nil, false, malformed("JSONP body without an object")
	}
	return inner, true, nil
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '$' || c == '.' ||
		'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// trimSpace trims ASCII space and a UTF-8 byte order mark.
func trimSpace(b []byte) []byte {
	b = bytes.TrimSpace(b)
	for bytes.HasPrefix(b, []byte("\uFEFF")) {
		b = bytes.TrimSpace(b[3:])
	}
	return b
}

func notJSON(what string, b []byte) error {
	if b[0] == '<' {
		return malformed("%s: an HTML page instead of JSON", what)
	}
	return malformed("%s: not JSON", what)
}

// checkStatus returns the *APIError that obj reports in "error" (OAuth
// endpoints) or "ret" (OpenAPI), or nil. It reads only those members, so an
// error body is reported as such even when its other members are odd.
func checkStatus(obj []byte) error {
	var s struct {
		Error            json.RawMessage `json:"error"`
		ErrorDescription json.RawMessage `json:"error_description"`
		Ret              json.RawMessage `json:"ret"`
		Msg              json.RawMessage `json:"msg"`
	}
	if err := json.Unmarshal(obj, &s); err != nil {
		return malformed("%v", err)
	}
	if len(s.Error) > 0 {
		code, err := scalar(s.Error)
		if err != nil {
			return malformed("error member: %v", err)
		}
		if err := apiError(code, text(s.ErrorDescription)); err != nil {
			return err
		}
	}
	if len(s.Ret) > 0 {
		code, err := scalar(s.Ret)
		if err != nil {
			return malformed("ret member: %v", err)
		}
		if err := apiError(code, text(s.Msg)); err != nil {
			return err
		}
	}
	return nil
}

// apiError turns QQ's error code, a number or a string, into an *APIError,
// or nil when it says "no error" (0 or empty).
func apiError(code, description string) error {
	code = strings.TrimSpace(code)
	if code == "" || code == "0" {
		return nil
	}
	n, err := strconv.ParseInt(code, 10, 64)
	switch {
	case err != nil:
		// A word instead of a number: still an error, never a success.
		return &APIError{Description: clean(code + ": " + description)}
	case n == 0: // "00", "-0"
		return nil
	}
	return &APIError{Code: n, Description: clean(description)}
}

// scalar returns a JSON number or string as text; null is "".
func scalar(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case string(raw) == "null":
		return "", nil
	case len(raw) > 0 && raw[0] == '"':
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	case len(raw) > 0 && (raw[0] == '-' || '0' <= raw[0] && raw[0] <= '9'):
		return string(raw), nil
	}
	return "", fmt.Errorf("neither a number nor a string")
}

// text returns a JSON string member for logs; anything else is shown raw.
func text(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// number is an integer QQ sends either as a JSON number or as a string
// ("expires_in":"7776000").
type number struct{ val int64 }

func (n *number) UnmarshalJSON(b []byte) error {
	s, err := scalar(b)
	if err != nil {
		return err
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not an integer", clean(s))
	}
	n.val = v
	return nil
}

// idString is an id QQ sends as a string; a bare number is accepted too.
type idString string

func (s *idString) UnmarshalJSON(b []byte) error {
	v, err := scalar(b)
	*s = idString(v)
	return err
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// validValue reports whether s can serve as an id or token: printable
// ASCII without spaces, at most max bytes.
func validValue(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// webURL reports whether s is an absolute http(s) URL, the only kind of
// avatar worth showing.
func webURL(s string) bool {
	if s == "" || len(s) > 2048 {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// clean shortens upstream text for logs and drops control characters and
// invalid UTF-8.
func clean(s string) string {
	const max = 200
	var b strings.Builder
	n := 0
	for _, r := range s {
		if r == utf8.RuneError || r < ' ' || r == 0x7f {
			continue
		}
		if n == max {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}
