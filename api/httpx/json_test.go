package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tether-id/tether/core"
)

type body struct {
	Provider *int   `json:"provider"`
	Email    string `json:"email"`
}

func TestDecodeJSON(t *testing.T) {
	tests := []struct {
		name, body string
		reason     string // "" means accepted
		msg        string
	}{
		{"object", `{"provider":2}`, "", ""},
		{"white space around", " \n{\"provider\":2}\r\n\t ", "", ""},
		{"unknown fields", `{"provider":2,"captcha":"x"}`, "", ""},
		{"null", `null`, "", ""},
		{"empty", ``, ReasonBodyEmpty, "Request body cannot be empty"},
		{"only white space", "  \n", ReasonBodyEmpty, "Request body cannot be empty"},
		{"stray brace", `{"provider":2}}`, ReasonBodyNotJSON, "Request body is not valid JSON"},
		{"stray bracket", `{"email":"a"}]`, ReasonBodyNotJSON, "Request body is not valid JSON"},
		{"two objects", `{} {}`, ReasonBodyNotJSON, "Request body is not valid JSON"},
		{"object then number", `{}1`, ReasonBodyNotJSON, "Request body is not valid JSON"},
		{"object then garbage", `{}x`, ReasonBodyNotJSON, "Request body is not valid JSON"},
		{"truncated", `{"provider":`, ReasonBodyNotJSON, "Request body is not valid JSON"},
		{"array", `[]`, ReasonBodyNotJSON, "Request body is not valid JSON"},
		{"wrong type", `{"provider":"2"}`, ReasonFieldType, "Provider must be a number"},
		{"too large", `{"email":"` + strings.Repeat("a", MaxBody) + `"}`, ReasonBodyTooLarge, "Request body is too large"},
		{"too large after the value", `{}` + strings.Repeat(" ", MaxBody), ReasonBodyTooLarge, "Request body is too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
			var v body
			err := DecodeJSON(r, &v)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ce *core.Error
			if !errors.As(err, &ce) || ce.Code != core.CodeInvalid || ce.Reason != tt.reason || ce.Message != tt.msg {
				t.Fatalf("err %#v, want invalid %s %q", err, tt.reason, tt.msg)
			}
		})
	}
}

// FuzzDecodeJSON: whatever the body, DecodeJSON answers with nil or a
// core.Invalid error, never panics, and accepts only bodies that are one
// JSON value.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"provider":2}`, `{"provider":2}}`, `{} {}`, `{"email":"a"}]`, ``, `null`, `{"provider":"x"}`, "{\"email\":\"\xff\"}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := httptest.NewRequest("POST", "/", bytes.NewReader(b))
		var v body
		err := DecodeJSON(r, &v)
		if err == nil {
			if !json.Valid(b) {
				t.Fatalf("accepted %q, which is not one JSON value", b)
			}
			return
		}
		if core.ErrorCode(err) != core.CodeInvalid {
			t.Fatalf("error %v is not a core.Invalid", err)
		}
	})
}
