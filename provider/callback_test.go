package provider_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/tether-id/tether/provider"
)

func TestParseCallback(t *testing.T) {
	tests := []struct {
		name      string
		query     string
		wantState string
		want      provider.Callback
		wantErr   bool
	}{
		{name: "code", query: "code=abc&state=s1", wantState: "s1", want: provider.Callback{Code: "abc"}},
		{name: "code and iss", query: "code=abc&state=s1&iss=https%3A%2F%2Fop.example%2F",
			wantState: "s1", want: provider.Callback{Code: "abc", Iss: "https://op.example/"}},
		{name: "error response", query: "error=access_denied&error_description=User+cancelled&state=s1",
			wantState: "s1", want: provider.Callback{Error: "access_denied", ErrorDescription: "User cancelled"}},
		{name: "localized description", query: "error=access_denied&error_description=" + url.QueryEscape("用户取消") + "&state=s1",
			wantState: "s1", want: provider.Callback{Error: "access_denied", ErrorDescription: "用户取消"}},
		{name: "unknown parameters ignored, even repeated", query: "code=abc&state=s1&scope=a&scope=b&session_state=x",
			wantState: "s1", want: provider.Callback{Code: "abc"}},
		{name: "missing state", query: "code=abc", wantErr: true},
		{name: "empty state", query: "code=abc&state=", wantErr: true},
		{name: "neither code nor error", query: "state=s1", wantErr: true},
		{name: "both code and error", query: "code=abc&error=access_denied&state=s1", wantErr: true},
		{name: "repeated code", query: "code=abc&code=def&state=s1", wantErr: true},
		{name: "repeated state", query: "code=abc&state=s1&state=s2", wantErr: true},
		{name: "repeated iss", query: "code=abc&state=s1&iss=a&iss=b", wantErr: true},
		{name: "repeated empty error_uri", query: "code=abc&state=s1&error_uri=&error_uri=", wantErr: true},
		{name: "control character in code", query: "code=a%0Ab&state=s1", wantErr: true},
		{name: "non-ASCII state", query: "code=abc&state=%C3%A9", wantErr: true},
		{name: "control character in description", query: "error=x&error_description=a%1Bb&state=s1", wantErr: true},
		{name: "C1 control in description", query: "error=x&error_description=a%C2%85b&state=s1", wantErr: true},
		{name: "invalid UTF-8 in description", query: "error=x&error_description=%FF&state=s1", wantErr: true},
		{name: "overlong code", query: "code=" + strings.Repeat("a", provider.MaxCallbackValue+1) + "&state=s1", wantErr: true},
		{name: "longest code", query: "code=" + strings.Repeat("a", provider.MaxCallbackValue) + "&state=s1",
			wantState: "s1", want: provider.Callback{Code: strings.Repeat("a", provider.MaxCallbackValue)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			state, cb, err := provider.ParseCallback(q)
			if tt.wantErr {
				var pe *provider.Error
				if !errors.As(err, &pe) || pe.Reason != "bad_callback" {
					t.Fatalf("ParseCallback(%q) error = %v, want a bad_callback *provider.Error", tt.query, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseCallback(%q): %v", tt.query, err)
			}
			if state != tt.wantState || cb != tt.want {
				t.Errorf("ParseCallback(%q) = %q, %+v; want %q, %+v", tt.query, state, cb, tt.wantState, tt.want)
			}
		})
	}
}

// FuzzParseCallback checks that any query either fails cleanly or yields
// a callback obeying every rule ParseCallback promises.
func FuzzParseCallback(f *testing.F) {
	f.Add("code=abc&state=s1")
	f.Add("error=access_denied&error_description=no&state=s1&iss=https%3A%2F%2Fop%2F")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		state, cb, err := provider.ParseCallback(q)
		if err != nil {
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.Reason != "bad_callback" {
				t.Fatalf("error %v is not a bad_callback *provider.Error", err)
			}
			if state != "" || cb != (provider.Callback{}) {
				t.Fatalf("error with a result: %q %+v", state, cb)
			}
			return
		}
		if state == "" || (cb.Code == "") == (cb.Error == "") {
			t.Fatalf("accepted %q: state %q, code %q, error %q", raw, state, cb.Code, cb.Error)
		}
		if cb.Relayed {
			t.Fatal("a parsed callback is never relayed")
		}
		for name, v := range map[string]string{"state": state, "code": cb.Code, "iss": cb.Iss, "error": cb.Error, "error_description": cb.ErrorDescription} {
			if len(q[name]) > 1 {
				t.Fatalf("accepted a repeated %s in %q", name, raw)
			}
			if v != q.Get(name) {
				t.Fatalf("%s = %q, query has %q", name, v, q.Get(name))
			}
			if len(v) > provider.MaxCallbackValue {
				t.Fatalf("accepted a %d-byte %s", len(v), name)
			}
			for _, r := range v {
				if r < 0x20 || (r >= 0x7f && r <= 0x9f) || r == '\uFFFD' {
					t.Fatalf("accepted %s %q with a control or invalid character", name, v)
				}
				if name != "error_description" && r > 0x7e {
					t.Fatalf("accepted non-ASCII %s %q", name, v)
				}
			}
		}
	})
}
