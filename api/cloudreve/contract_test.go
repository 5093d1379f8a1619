package cloudreve_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v3"

	"github.com/tether-id/tether/api"
	"github.com/tether-id/tether/api/cloudreve"
	"github.com/tether-id/tether/testkit/tethertest"
)

const (
	seedCopy = "testdata/seed_prepare_openid.yaml"
	// seedFile is the seed itself, in ../shared beside the project.
	seedFile = "../../../shared/seeds/000_00069847cf99fcc9.txt"
)

// servedDocument fetches /api/openapi.json from a running tether.
func servedDocument(t *testing.T) *openapi3.T {
	t.Helper()
	srv := tethertest.Start(t, tethertest.Options{})
	resp, body := srv.Client(t).Do("GET", "/api/openapi.json", nil, "")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /api/openapi.json: HTTP %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	doc, err := openapi3.NewLoader().LoadFromData(body)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestSeedSchema checks that the served document agrees with the seed's
// schema for PUT /session/openid: the same request and response
// properties with the same types, formats, enums and nullability, the
// additive provider_key as the only extra request field, and anonymous
// access allowed.
func TestSeedSchema(t *testing.T) {
	t.Parallel()
	seed := loadSeed(t)
	doc := servedDocument(t)

	op := doc.Paths.Find("/api/v4/session/openid")
	if op == nil || op.Put == nil {
		t.Fatal("the document has no PUT /api/v4/session/openid")
	}
	seedOp := dig(t, seed, "paths", "/session/openid", "put")

	// Request body.
	seedReq := dig(t, seedOp, "requestBody", "content", "application/json", "schema")
	ourReq := op.Put.RequestBody.Value.Content.Get("application/json").Schema.Value
	seedProps := dig(t, seedReq, "properties")
	for name := range seedProps {
		p := ourReq.Properties[name]
		if p == nil {
			t.Errorf("request: the seed's property %q is missing", name)
			continue
		}
		if got, want := shapeOf(p.Value), seedShape(t, dig(t, seedProps, name)); got != want {
			t.Errorf("request property %q: ours %+v, seed %+v", name, got, want)
		}
	}
	for name := range ourReq.Properties {
		if _, ok := seedProps[name]; !ok && name != "provider_key" {
			t.Errorf("request: property %q is neither the seed's nor the additive provider_key", name)
		}
	}
	if ourReq.Properties["provider_key"] == nil || !slices.Equal(ourReq.Properties["provider_key"].Value.Type.Slice(), []string{"string"}) {
		t.Error("request: the additive provider_key (string) is not documented")
	}

	// Response: the success member of our anyOf is the seed's schema.
	seedResp := dig(t, seedOp, "responses", "200", "content", "application/json", "schema")
	ourResp := op.Put.Responses.Status(200).Value.Content.Get("application/json").Schema.Value
	var success *openapi3.Schema
	for _, s := range ourResp.AnyOf {
		if slices.Contains(s.Value.Required, "data") {
			success = s.Value
		}
	}
	if success == nil {
		t.Fatal("response: no anyOf member requires data")
	}
	seedRespProps := dig(t, seedResp, "properties")
	if got, want := sortedKeys(success.Properties), sortedKeys(seedRespProps); !slices.Equal(got, want) {
		t.Errorf("response properties %v, seed %v", got, want)
	}
	for name, p := range success.Properties {
		if sp, ok := seedRespProps[name].(map[string]any); ok {
			if got, want := shapeOf(p.Value), seedShape(t, sp); got != want {
				t.Errorf("response property %q: ours %+v, seed %+v", name, got, want)
			}
		}
	}
	var seedRequired []string
	for _, r := range seedResp["required"].([]any) {
		seedRequired = append(seedRequired, r.(string))
	}
	if got := slices.Sorted(slices.Values(success.Required)); !slices.Equal(got, slices.Sorted(slices.Values(seedRequired))) {
		t.Errorf("response required %v, seed %v", got, seedRequired)
	}

	// The seed's operation needs no authorization (security: []); ours
	// allows anonymous calls and accepts a bearer token for linking.
	if op.Put.Security == nil || !slices.ContainsFunc(*op.Put.Security, func(r openapi3.SecurityRequirement) bool { return len(r) == 0 }) {
		t.Error("PUT /session/openid does not allow anonymous calls")
	}
}

// TestSeedCopy checks that testdata holds the seed's OpenAPI block as it
// is in ../shared, when ../shared is there (it is not part of a clone).
func TestSeedCopy(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(seedFile)
	if os.IsNotExist(err) {
		t.Skipf("%s is not beside the project; the copy in %s is used as is", filepath.Clean(seedFile), seedCopy)
	}
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(raw), "```yaml\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatalf("%s has no yaml block", seedFile)
	}
	if copied := seedYAML(t); copied != block {
		t.Errorf("%s differs from the OpenAPI block of %s", seedCopy, seedFile)
	}
}

// seedYAML is the copy without its leading comment.
func seedYAML(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(seedCopy)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for strings.HasPrefix(s, "#") {
		_, s, _ = strings.Cut(s, "\n")
	}
	return s
}

func loadSeed(t *testing.T) map[string]any {
	t.Helper()
	var seed map[string]any
	if err := yaml.Unmarshal([]byte(seedYAML(t)), &seed); err != nil {
		t.Fatalf("%s: %v", seedCopy, err)
	}
	return seed
}

// dig walks nested maps.
func dig(t *testing.T, m map[string]any, keys ...string) map[string]any {
	t.Helper()
	for _, k := range keys {
		next, ok := m[k].(map[string]any)
		if !ok {
			t.Fatalf("seed: no object at %q", k)
		}
		m = next
	}
	return m
}

// shape is what the contract compares of a property.
type shape struct {
	Type, Format, Enum string
	Nullable           bool
}

func shapeOf(s *openapi3.Schema) shape {
	var enum []string
	for _, v := range s.Enum {
		enum = append(enum, fmt.Sprint(v))
	}
	return shape{Type: strings.Join(s.Type.Slice(), ","), Format: s.Format, Enum: strings.Join(enum, ","), Nullable: s.Nullable}
}

func seedShape(t *testing.T, m map[string]any) shape {
	t.Helper()
	var enum []string
	if e, ok := m["enum"].([]any); ok {
		for _, v := range e {
			enum = append(enum, fmt.Sprint(v))
		}
	}
	str := func(k string) string { s, _ := m[k].(string); return s }
	nullable, _ := m["nullable"].(bool)
	return shape{Type: str("type"), Format: str("format"), Enum: strings.Join(enum, ","), Nullable: nullable}
}

func sortedKeys[V any](m map[string]V) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// routeRecorder records the patterns Register adds.
type routeRecorder struct{ patterns []string }

func (r *routeRecorder) Handle(pattern string, _ http.Handler) {
	r.patterns = append(r.patterns, pattern)
}

// TestDocumentCoversEveryRoute checks that every route the surface
// registers is in the OpenAPI document and every /api/v4 operation of the
// document is registered.
func TestDocumentCoversEveryRoute(t *testing.T) {
	t.Parallel()
	b, err := api.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		t.Fatal(err)
	}
	rec := &routeRecorder{}
	cloudreve.New(nil, cloudreve.Options{}).Register(rec)
	registered := map[string]bool{}
	for _, p := range rec.patterns {
		method, path, ok := strings.Cut(p, " ")
		if !ok {
			if p != "/api/v4/" {
				t.Errorf("route %q has no method", p)
			}
			continue // the catch-all that answers unknown routes in the envelope
		}
		registered[method+" "+path] = true
		item := doc.Paths.Find(path)
		if item == nil || item.GetOperation(method) == nil {
			t.Errorf("route %s is not in the OpenAPI document", p)
		}
	}
	for path, item := range doc.Paths.Map() {
		if !strings.HasPrefix(path, "/api/v4/") {
			continue
		}
		for method := range item.Operations() {
			if !registered[method+" "+path] {
				t.Errorf("the document has %s %s, which is not registered", method, path)
			}
		}
	}
}

// TestUnknownRoute: anything else under /api/v4 answers 404 in the
// envelope, not an HTML page. (It is not in the document, so the plain
// client is used.)
func TestUnknownRoute(t *testing.T) {
	t.Parallel()
	srv := tethertest.Start(t, tethertest.Options{})
	c := srv.Client(t)
	for _, r := range [][2]string{{"GET", "/api/v4/no/such/route"}, {"GET", "/api/v4/session/openid"}, {"POST", "/api/v4/user/setting"}} {
		env := c.Cloudreve(r[0], r[1], nil, "")
		if env.Status != http.StatusOK || env.Code != 404 || env.CorrelationID == "" {
			t.Errorf("%s %s: HTTP %d %s", r[0], r[1], env.Status, env.Raw)
		}
	}
}
