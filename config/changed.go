package config

import (
	"reflect"
	"strings"
)

// Changed returns the top-level keys (public_url, providers, smtp, ...)
// whose values differ between a and b, in the order of Config: what a
// reload says it changed. A secret and its *_file key count as one key,
// the secret's, and only their values are compared, never shown.
func Changed(a, b *Config) []string {
	va, vb := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	t := va.Type()
	secrets := map[string]bool{}
	for i := range t.NumField() {
		if t.Field(i).Tag.Get("secret") == "true" {
			secrets[t.Field(i).Tag.Get("yaml")] = true
		}
	}
	var out []string
	for i := range t.NumField() {
		key := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		if key == "" || key == "-" {
			continue
		}
		if base, ok := strings.CutSuffix(key, "_file"); ok && secrets[base] {
			continue // the file's content is the secret's value
		}
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			out = append(out, key)
		}
	}
	return out
}
