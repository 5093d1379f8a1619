package api

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"slices"
	"sync"
)

// The OpenAPI document is kept in fragments, one per surface
// (openapi/cloudreve.json, openapi/versia.json), each holding "paths" and
// "components.schemas"; OpenAPI merges them into openapi/base.json.
//
//go:embed openapi/*.json
var fragments embed.FS

var openAPI = sync.OnceValues(merge)

// OpenAPI returns the OpenAPI 3 document of every route tether serves under
// /api/v4, /api/v1/sso, /api/v2/instance and /oauth/sso.
func OpenAPI() ([]byte, error) { return openAPI() }

type fragment struct {
	Paths      map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas map[string]json.RawMessage `json:"schemas"`
	} `json:"components"`
}

func merge() ([]byte, error) {
	raw, err := fragments.ReadFile("openapi/base.json")
	if err != nil {
		return nil, err
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("openapi/base.json: %w", err)
	}
	var base fragment
	if err := json.Unmarshal(raw, &base); err != nil {
		return nil, fmt.Errorf("openapi/base.json: %w", err)
	}
	var components map[string]json.RawMessage
	if err := json.Unmarshal(doc["components"], &components); err != nil {
		return nil, fmt.Errorf("openapi/base.json components: %w", err)
	}
	paths, schemas := map[string]json.RawMessage{}, map[string]json.RawMessage{}
	for k, v := range base.Paths {
		paths[k] = v
	}
	for k, v := range base.Components.Schemas {
		schemas[k] = v
	}
	names, err := fs.Glob(fragments, "openapi/*.json")
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	for _, name := range names {
		if name == "openapi/base.json" {
			continue
		}
		b, err := fragments.ReadFile(name)
		if err != nil {
			return nil, err
		}
		var f fragment
		if err := json.Unmarshal(b, &f); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		for k, v := range f.Paths {
			if _, dup := paths[k]; dup {
				return nil, fmt.Errorf("%s: path %s defined twice", name, k)
			}
			paths[k] = v
		}
		for k, v := range f.Components.Schemas {
			if _, dup := schemas[k]; dup {
				return nil, fmt.Errorf("%s: schema %s defined twice", name, k)
			}
			schemas[k] = v
		}
	}
	if doc["paths"], err = json.Marshal(paths); err != nil {
		return nil, err
	}
	if components["schemas"], err = json.Marshal(schemas); err != nil {
		return nil, err
	}
	if doc["components"], err = json.Marshal(components); err != nil {
		return nil, err
	}
	return json.MarshalIndent(doc, "", "  ")
}
