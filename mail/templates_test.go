package mail

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestEveryLanguageHasEveryText(t *testing.T) {
	want := slices.Sorted(maps.Keys(texts[Languages[0]]))
	for _, tag := range Languages[1:] {
		if got := slices.Sorted(maps.Keys(texts[tag])); !slices.Equal(got, want) {
			t.Errorf("texts/%s.json keys differ from texts/%s.json:\n got %v\nwant %v", tag, Languages[0], got, want)
		}
	}
	// Every text is plain text: html/template escapes it, so markup
	// would show as markup.
	for tag, m := range texts {
		for k, v := range m {
			if strings.ContainsAny(v, "<>&") {
				t.Errorf("texts/%s.json %s: %q looks like HTML", tag, k, v)
			}
		}
	}
}

func TestMatchLang(t *testing.T) {
	for in, want := range map[string]string{
		"":                           "en",
		"en":                         "en",
		"en-US":                      "en",
		"zh-CN":                      "zh-CN",
		"zh_cn":                      "zh-CN",
		"zh":                         "zh-CN",
		"zh-Hans-CN":                 "zh-CN",
		"zh-TW":                      "zh-CN",
		"fr":                         "en",
		"fr-FR,zh-CN;q=0.8,en;q=0.5": "zh-CN",
		"de, en-GB;q=0.9":            "en",
	} {
		if got := MatchLang(in); got != want {
			t.Errorf("MatchLang(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestTemplates renders every kind in every language and checks what a
// reader needs: the product name, the site, the link (escaped in HTML),
// the expiry, and no link where there should be none.
func TestTemplates(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	site := Site{PublicURL: "https://files.example.com", Now: func() time.Time { return now }}
	const (
		to   = "Ann <ann@example.com>"
		link = `https://files.example.com/verify?token=a1&next=/home"><script>alert(1)</script>`
	)
	type kind struct {
		name    string
		build   func(lang string) (Message, error)
		link    bool
		subject map[string]string
		body    map[string][]string // texts that must appear in both bodies
	}
	kinds := []kind{
		{KindVerifyEmail, func(l string) (Message, error) { return site.VerifyEmail(l, to, link, 24*time.Hour) }, true,
			map[string]string{"en": "Verify your email address for tether", "zh-CN": "验证您在 tether 的邮箱地址"},
			map[string][]string{"en": {"ann@example.com is your email address", "expires in 1 day"}, "zh-CN": {"确认 ann@example.com 是您的邮箱地址", "1 天后失效"}}},
		{KindResetPassword, func(l string) (Message, error) { return site.ResetPassword(l, to, link, 30*time.Minute) }, true,
			map[string]string{"en": "Reset your tether password", "zh-CN": "重置您的 tether 密码"},
			map[string][]string{"en": {"expires in 30 minutes", "your password stays as it is"}, "zh-CN": {"30 分钟后失效", "密码不会改变"}}},
		{KindConfirmEmailChange, func(l string) (Message, error) {
			return site.ConfirmEmailChange(l, "new@example.com", link, 2*time.Hour)
		}, true,
			map[string]string{"en": "Confirm your new email address for tether", "zh-CN": "确认您在 tether 的新邮箱地址"},
			map[string][]string{"en": {"want new@example.com to be the email address", "expires in 2 hours"}, "zh-CN": {"将 new@example.com 设为", "2 小时后失效"}}},
		{KindEmailChanged, func(l string) (Message, error) { return site.EmailChanged(l, to, "new.address@example.org") }, false,
			map[string]string{"en": "Your tether email address was changed", "zh-CN": "您的 tether 邮箱地址已更改"},
			map[string][]string{"en": {"was changed to n***@example.org", "This wasn’t you?"}, "zh-CN": {"已更改为 n***@example.org", "不是您本人操作"}}},
		{KindAccountDeleted, func(l string) (Message, error) { return site.AccountDeleted(l, to) }, false,
			map[string]string{"en": "Your tether account was deleted", "zh-CN": "您的 tether 账户已删除"},
			map[string][]string{"en": {"was deleted"}, "zh-CN": {"已被删除"}}},
	}
	for _, k := range kinds {
		for _, lang := range Languages {
			t.Run(k.name+"/"+lang, func(t *testing.T) {
				m, err := k.build(lang)
				if err != nil {
					t.Fatal(err)
				}
				if m.Kind != k.name || m.Lang != lang || m.Subject != k.subject[lang] || !m.Date.Equal(now) {
					t.Errorf("kind %q lang %q subject %q date %v", m.Kind, m.Lang, m.Subject, m.Date)
				}
				if !strings.HasSuffix(m.ID, "@files.example.com") || m.Header["Auto-Submitted"] != "auto-generated" {
					t.Errorf("id %q header %v", m.ID, m.Header)
				}
				for name, body := range map[string]string{"text": m.Text, "html": m.HTML} {
					for _, want := range append([]string{"tether", "https://files.example.com"}, k.body[lang]...) {
						if !strings.Contains(body, want) {
							t.Errorf("%s body lacks %q:\n%s", name, want, body)
						}
					}
				}
				if !strings.Contains(m.HTML, `<html lang="`+lang+`">`) {
					t.Errorf("html lacks lang=%q", lang)
				}
				if strings.Contains(m.HTML, "<script>") {
					t.Errorf("the link's markup reached the HTML unescaped:\n%s", m.HTML)
				}
				if !k.link {
					if m.Link != "" || strings.Contains(m.HTML, "<a ") || strings.Contains(m.Text, "/verify") {
						t.Errorf("a %s message must have no link", k.name)
					}
					return
				}
				if m.Link != link || !strings.Contains(m.Text, "\n"+link+"\n") {
					t.Errorf("text lacks the link on a line of its own:\n%s", m.Text)
				}
				// html/template escapes the URL in href and in text.
				for _, want := range []string{
					`href="https://files.example.com/verify?token=a1&amp;next=/home%22%3e%3cscript%3ealert%281%29%3c/script%3e"`,
					`>https://files.example.com/verify?token=a1&amp;next=/home&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;</a>`,
				} {
					if !strings.Contains(m.HTML, want) {
						t.Errorf("html lacks %s:\n%s", want, m.HTML)
					}
				}
			})
		}
	}
}

func TestTemplatesRefuse(t *testing.T) {
	site := Site{PublicURL: "https://files.example.com"}
	tests := []struct {
		name string
		err  func() error
	}{
		{"javascript link", func() error {
			_, err := site.VerifyEmail("en", "a@example.com", "javascript:alert(1)", time.Hour)
			return err
		}},
		{"relative link", func() error { _, err := site.ResetPassword("en", "a@example.com", "/reset?t=1", time.Hour); return err }},
		{"no link", func() error { _, err := site.ConfirmEmailChange("en", "a@example.com", "", time.Hour); return err }},
		{"no validity", func() error { _, err := site.VerifyEmail("en", "a@example.com", "https://x.example/v", 0); return err }},
		{"bad recipient", func() error { _, err := site.AccountDeleted("en", "not an address"); return err }},
		{"bad new address", func() error { _, err := site.EmailChanged("en", "a@example.com", "nope"); return err }},
		{"no public url", func() error { _, err := Site{}.AccountDeleted("en", "a@example.com"); return err }},
	}
	for _, tc := range tests {
		if tc.err() == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func TestDuration(t *testing.T) {
	for _, tc := range []struct {
		d      time.Duration
		en, zh string
	}{
		{24 * time.Hour, "1 day", "1 天"},
		{72 * time.Hour, "3 days", "3 天"},
		{time.Hour, "1 hour", "1 小时"},
		{36 * time.Hour, "36 hours", "36 小时"},
		{90 * time.Minute, "90 minutes", "90 分钟"},
		{time.Minute, "1 minute", "1 分钟"},
		{10 * time.Second, "1 minute", "1 分钟"},
		{61 * time.Second, "2 minutes", "2 分钟"},
	} {
		if got := duration(texts["en"], tc.d); got != tc.en {
			t.Errorf("en %s = %q, want %q", tc.d, got, tc.en)
		}
		if got := duration(texts["zh-CN"], tc.d); got != tc.zh {
			t.Errorf("zh-CN %s = %q, want %q", tc.d, got, tc.zh)
		}
	}
}

func TestMaskAddress(t *testing.T) {
	for in, want := range map[string]string{
		"alice@example.com": "a***@example.com",
		"张三@example.com":    "张***@example.com",
		"a@example.com":     "a***@example.com",
		"nonsense":          "***",
	} {
		if got := MaskAddress(in); got != want {
			t.Errorf("MaskAddress(%q) = %q, want %q", in, got, want)
		}
	}
}
