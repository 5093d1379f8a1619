// Package apitest checks HTTP exchanges against the OpenAPI document that
// tether serves at /api/openapi.json, the way an API client generated
// from it would see them. Both API surfaces' tests use it, so a route or
// a field the document does not describe fails a test.
package apitest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/google/uuid"
)

// Router fetches /api/openapi.json from the tether at base, exactly as a
// client would, validates the document and returns the router that finds
// each request's operation.
func Router(t testing.TB, base string) routers.Router {
	t.Helper()
	resp, err := http.Get(base + "/api/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/openapi.json: HTTP %d, %v", resp.StatusCode, err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		t.Fatalf("openapi: %v", err)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableSchemaFormatValidation()); err != nil {
		t.Fatalf("openapi: %v", err)
	}
	// The document's server is "/", relative to wherever tether runs.
	doc.Servers = openapi3.Servers{{URL: base}}
	r, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatalf("openapi router: %v", err)
	}
	return r
}

// Options are the validation options of every check: all errors at
// once, the response status checked, the formats tether uses checked,
// and the bearer scheme satisfied by the presence of a token (whether it
// is good is the server's answer, not the document's).
var Options = &openapi3filter.Options{
	IncludeResponseStatus: true,
	MultiError:            true,
	AuthenticationFunc:    BearerPresent,
	SchemaValidationOptions: []openapi3.SchemaValidationOption{
		openapi3.WithStringFormatValidator("uuid", openapi3.NewCallbackValidator(func(s string) error {
			_, err := uuid.Parse(s)
			return err
		})),
		openapi3.WithStringFormatValidator("uri", openapi3.NewCallbackValidator(func(s string) error {
			if u, err := url.Parse(s); err != nil || !u.IsAbs() {
				return errors.New("not an absolute URI")
			}
			return nil
		})),
		openapi3.WithStringFormatValidator("email", openapi3.NewCallbackValidator(func(s string) error {
			if a, err := mail.ParseAddress(s); err != nil || a.Address != s {
				return errors.New("not an email address")
			}
			return nil
		})),
	},
}

// BearerPresent is the document's bearer scheme: an "Authorization:
// Bearer <token>" header.
func BearerPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if in.SecurityScheme == nil || in.SecurityScheme.Type != "http" || in.SecurityScheme.Scheme != "bearer" {
		return errors.New("unknown security scheme " + in.SecuritySchemeName)
	}
	h := in.RequestValidationInput.Request.Header.Get("Authorization")
	if !strings.HasPrefix(h, "Bearer ") || len(h) == len("Bearer ") {
		return errors.New("no bearer token")
	}
	return nil
}
