package web

import (
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// The translations live in i18n/<tag>.json, one flat object of key →
// text per language, so a translator edits one file and a test checks
// that every language has every key. Texts are fmt formats: %s, %d and
// %[n]s for arguments.
//
//go:embed i18n/*.json
var i18nFiles embed.FS

// language is one language the pages are written in.
type language struct {
	Tag  string // BCP 47, as in <html lang> and the cookie
	Name string // the language's name in itself, for the switch
	text map[string]string
}

// Supported language tags. English is the default.
const (
	langEN = "en"
	langZH = "zh-CN"
)

// languages lists the supported languages in the switch's order.
var languages = mustLoadLanguages(
	language{Tag: langEN, Name: "English"},
	language{Tag: langZH, Name: "简体中文"},
)

func mustLoadLanguages(ls ...language) []*language {
	out := make([]*language, 0, len(ls))
	for _, l := range ls {
		b, err := i18nFiles.ReadFile("i18n/" + l.Tag + ".json")
		if err != nil {
			panic(err)
		}
		if err := json.Unmarshal(b, &l.text); err != nil {
			panic(fmt.Sprintf("web: i18n/%s.json: %v", l.Tag, err))
		}
		out = append(out, &l)
	}
	return out
}

func languageByTag(tag string) (*language, bool) {
	for _, l := range languages {
		if strings.EqualFold(l.Tag, tag) {
			return l, true
		}
	}
	return nil, false
}

// T returns the text of key formatted with args, or an error when the key
// is missing, so that a template naming an unknown key fails to render
// instead of showing the key to a person.
func (l *language) T(key string, args ...any) (string, error) {
	s, ok := l.text[key]
	if !ok {
		return "", fmt.Errorf("web: no %s text for %q", l.Tag, key)
	}
	if len(args) == 0 {
		return s, nil
	}
	return fmt.Sprintf(s, args...), nil
}

// langCookie remembers the language chosen with the switch.
const langCookie = "tether_lang"

// negotiate picks the language of a request: the switch's cookie when it
// names a supported language, else the best supported match of
// Accept-Language, else English.
func negotiate(r *http.Request) *language {
	if c, err := r.Cookie(langCookie); err == nil {
		if l, ok := languageByTag(c.Value); ok {
			return l
		}
	}
	return fromAcceptLanguage(r.Header.Get("Accept-Language"))
}

// fromAcceptLanguage reads an Accept-Language header (RFC 9110 §12.5.4):
// the supported language with the highest weight wins, ties going to the
// one listed first. Any Chinese tag (zh, zh-CN, zh-Hans, zh-TW...) selects
// Simplified Chinese, the only Chinese the pages are written in; any
// English tag selects English. "*" means any language: the default.
func fromAcceptLanguage(header string) *language {
	type choice struct {
		l *language
		q float64
	}
	var choices []choice
	for part := range strings.SplitSeq(header, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if name, v, ok := strings.Cut(strings.TrimSpace(params), "="); ok && strings.TrimSpace(name) == "q" {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || f < 0 || f > 1 {
				continue
			}
			q = f
		}
		if q == 0 {
			continue
		}
		primary, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		switch primary {
		case "zh":
			choices = append(choices, choice{languages[1], q})
		case "en", "*":
			choices = append(choices, choice{languages[0], q})
		}
	}
	if len(choices) == 0 {
		return languages[0]
	}
	// Stable: equal weights keep the header's order.
	slices.SortStableFunc(choices, func(a, b choice) int {
		switch {
		case a.q > b.q:
			return -1
		case a.q < b.q:
			return 1
		}
		return 0
	})
	return choices[0].l
}
