package httpx

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/tether-id/tether/core"
)

// MaxBody bounds request bodies; tether's requests are small.
const MaxBody = 64 << 10

// The reasons (core.Error.Reason) of DecodeJSON's errors, for surfaces
// that word them their own way.
const (
	ReasonBodyEmpty    = "body_empty"
	ReasonBodyTooLarge = "body_too_large"
	ReasonBodyNotJSON  = "body_not_json"
	ReasonFieldType    = "field_type"
)

// DecodeJSON reads a request body that is exactly one JSON value into v.
// Errors are core.Invalid values, worded the Cloudreve way ("Provider
// must be a number") and with a Reason above. Unknown fields are
// ignored: clients send extra ones (captcha, tickets) that tether does
// not use.
//
// Anything after the value but white space makes the body invalid:
// `{"provider":2}}` and `{} {}` are not JSON, and a surface that accepted
// them would read differently from a proxy or a firewall in front of it.
func DecodeJSON(r *http.Request, v any) error {
	return decodeJSON(http.MaxBytesReader(nil, r.Body, MaxBody), v)
}

func decodeJSON(body io.Reader, v any) error {
	dec := json.NewDecoder(body)
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te) && te.Field != "":
			e := core.Invalid(te.Field, "%s must be %s", FieldTitle(te.Field), typeWord(te.Type.Kind().String()))
			e.Reason = ReasonFieldType
			return e
		case errors.Is(err, io.EOF):
			return invalidBody(ReasonBodyEmpty, "Request body cannot be empty")
		}
		return bodyError(err)
	}
	// Token, unlike More, also sees a stray '}' or ']' after the value.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return bodyError(err)
	}
	return nil
}

// bodyError is the error for a body that is too large or not JSON.
func bodyError(err error) error {
	var me *http.MaxBytesError
	if errors.As(err, &me) {
		return invalidBody(ReasonBodyTooLarge, "Request body is too large")
	}
	return invalidBody(ReasonBodyNotJSON, "Request body is not valid JSON")
}

func invalidBody(reason, msg string) *core.Error {
	e := core.Invalid("", "%s", msg)
	e.Reason = reason
	return e
}

func typeWord(kind string) string {
	switch kind {
	case "int", "int64", "int32", "uint", "uint64", "float64":
		return "a number"
	case "bool":
		return "true or false"
	case "string":
		return "a string"
	}
	return fmt.Sprintf("of type %s", kind)
}

// FieldTitle turns a JSON field name into the Cloudreve message form:
// "session_id" → "SessionID", "refresh_token" → "RefreshToken".
func FieldTitle(field string) string {
	var b strings.Builder
	for _, part := range strings.Split(field, "_") {
		switch part {
		case "":
		case "id":
			b.WriteString("ID")
		default:
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}
