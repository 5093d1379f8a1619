package config

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// KeyError is a configuration error tied to one key, written as a path:
// "tokens.access_ttl", "providers[1].client_secret", or an environment
// variable name.
type KeyError struct {
	Key     string
	Message string
}

func (e *KeyError) Error() string { return e.Key + ": " + e.Message }

// decoder fills a struct from a yaml.Node and records every problem with
// the full key path, instead of stopping at the first one like yaml.v3
// (whose messages name a line, not a key).
type decoder struct {
	errs []error
}

func (d *decoder) fail(path, format string, args ...any) {
	d.errs = append(d.errs, &KeyError{Key: path, Message: fmt.Sprintf(format, args...)})
}

var durationType = reflect.TypeFor[Duration]()

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return
		}
		n = n.Content[0]
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" && v.Kind() != reflect.String {
		return // "key:" with no value keeps the default
	}
	switch {
	case v.Type() == durationType:
		s, ok := d.scalar(n, path)
		if !ok {
			return
		}
		dur, err := time.ParseDuration(s)
		if err != nil {
			d.fail(path, "invalid duration %q (use a number with a unit: 90s, 10m, 1h)", s)
			return
		}
		v.SetInt(int64(dur))
	case v.Kind() == reflect.String:
		if n.Tag == "!!null" {
			v.SetString("")
			return
		}
		if s, ok := d.scalar(n, path); ok {
			v.SetString(s)
		}
	case v.Kind() == reflect.Bool:
		s, ok := d.scalar(n, path)
		if !ok {
			return
		}
		b, err := strconv.ParseBool(s)
		if err != nil {
			d.fail(path, "invalid boolean %q (use true or false)", s)
			return
		}
		v.SetBool(b)
	case v.Kind() == reflect.Int:
		s, ok := d.scalar(n, path)
		if !ok {
			return
		}
		i, err := strconv.Atoi(s)
		if err != nil {
			d.fail(path, "invalid integer %q", s)
			return
		}
		v.SetInt(int64(i))
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
		d.decodeStrings(n, v, path)
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Struct:
		if n.Kind != yaml.SequenceNode {
			d.fail(path, "expected a list")
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			elem := s.Index(i)
			if def, ok := elem.Addr().Interface().(interface{ defaults() }); ok {
				def.defaults()
			}
			d.decode(item, elem, fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case v.Kind() == reflect.Struct:
		d.decodeStruct(n, v, path)
	default:
		panic("config: unsupported field type " + v.Type().String())
	}
}

func (d *decoder) scalar(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.fail(path, "expected a single value, got a %s", kindName(n.Kind))
		return "", false
	}
	return n.Value, true
}

func (d *decoder) decodeStrings(n *yaml.Node, v reflect.Value, path string) {
	var out []string
	switch n.Kind {
	case yaml.ScalarNode:
		// "openid profile email" or "a,b": convenient in files and the
		// only way to write a list in an environment variable.
		out = strings.FieldsFunc(n.Value, func(r rune) bool { return r == ',' || r == ' ' })
	case yaml.SequenceNode:
		for i, item := range n.Content {
			if item.Kind != yaml.ScalarNode {
				d.fail(fmt.Sprintf("%s[%d]", path, i), "expected a string")
				continue
			}
			out = append(out, item.Value)
		}
	default:
		d.fail(path, "expected a list of strings")
		return
	}
	v.Set(reflect.ValueOf(out))
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, "expected a mapping of keys, got a %s", kindName(n.Kind))
		return
	}
	fields := fieldsOf(v.Type())
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i].Value, n.Content[i+1]
		kp := join(path, key)
		if seen[key] {
			d.fail(kp, "key appears twice")
			continue
		}
		seen[key] = true
		idx, ok := fields[key]
		if !ok {
			d.fail(kp, "unknown key%s", suggest(key, keysOf(fields)))
			continue
		}
		d.decode(val, v.Field(idx), kp)
	}
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "single value"
	}
	return "value"
}

// fieldsOf maps yaml key names to field indexes.
func fieldsOf(t reflect.Type) map[string]int {
	m := map[string]int{}
	for i := range t.NumField() {
		if tag := t.Field(i).Tag.Get("yaml"); tag != "" && tag != "-" {
			m[strings.Split(tag, ",")[0]] = i
		}
	}
	return m
}

func keysOf(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// suggest returns ` (did you mean "x"?)` for the closest known key, if it
// is close enough to be a likely typo.
func suggest(key string, known []string) string {
	best, bestDist := "", 1<<30
	for _, k := range known {
		if dist := levenshtein(strings.ToLower(key), k); dist < bestDist {
			best, bestDist = k, dist
		}
	}
	if best != "" && bestDist <= max(2, len(key)/3) {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// envSetting is one key an environment variable may set.
type envSetting struct {
	key string // the config key path it sets
	v   reflect.Value
}

// envSettings lists every leaf key of c under its TETHER_* name. Provider
// keys are reachable by provider id (TETHER_PROVIDERS_LOGTO_CLIENT_SECRET)
// and by index (TETHER_PROVIDERS_0_CLIENT_SECRET).
func envSettings(c *Config) map[string]envSetting {
	out := map[string]envSetting{}
	var walk func(v reflect.Value, name, path string)
	walk = func(v reflect.Value, name, path string) {
		t := v.Type()
		for i := range t.NumField() {
			tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
			if tag == "" || tag == "-" {
				continue // not a key
			}
			f := v.Field(i)
			fname, fpath := name+"_"+strings.ToUpper(tag), join(path, tag)
			switch {
			case f.Kind() == reflect.Struct && f.Type() != durationType:
				walk(f, fname, fpath)
			case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.Struct:
				for j := range f.Len() {
					elemPath := fmt.Sprintf("%s[%d]", fpath, j)
					walk(f.Index(j), fmt.Sprintf("%s_%d", fname, j), elemPath)
					if id := f.Index(j).FieldByName("ID"); id.IsValid() && id.String() != "" {
						walk(f.Index(j), fname+"_"+envWord(id.String()), elemPath)
					}
				}
			default:
				out[fname] = envSetting{key: fpath, v: f}
			}
		}
	}
	walk(reflect.ValueOf(c).Elem(), "TETHER", "")
	return out
}

func envWord(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '_'
	}, s)
}

// applyEnv sets keys from TETHER_* variables in environ. Unknown TETHER_*
// variables are errors: a typo would otherwise silently keep a default.
func applyEnv(c *Config, environ []string) error {
	settings := envSettings(c)
	names := make([]string, 0, len(settings))
	for n := range settings {
		names = append(names, n)
	}
	sort.Strings(names)
	d := &decoder{}
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "TETHER_") {
			continue
		}
		s, ok := settings[name]
		if !ok {
			d.fail(name, "unknown environment variable%s", suggestEnv(name, names))
			continue
		}
		before := len(d.errs)
		d.decode(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value}, s.v, s.key)
		for i := before; i < len(d.errs); i++ {
			var ke *KeyError
			if errors.As(d.errs[i], &ke) {
				ke.Key = name + " (" + ke.Key + ")"
			}
		}
	}
	return errors.Join(d.errs...)
}

func suggestEnv(name string, names []string) string {
	best, bestDist := "", 1<<30
	for _, n := range names {
		if dist := levenshtein(name, n); dist < bestDist {
			best, bestDist = n, dist
		}
	}
	if best != "" && bestDist <= 3 {
		return fmt.Sprintf(" (did you mean %s?)", best)
	}
	return ""
}
