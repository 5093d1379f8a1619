package mail

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"strings"
	"testing"
	"time"
)

var testFrom = &netmail.Address{Name: "tether", Address: "no-reply@files.example.com"}

// parse reads an encoded message back with the standard library, as a
// mail client would.
func parse(t *testing.T, raw []byte) (*netmail.Message, map[string]string) {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("not a message: %v\n%s", err, raw)
	}
	bodies := map[string]string{}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(mt, "multipart/") {
		bodies[mt] = decodeBody(t, msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
		return msg, bodies
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		bodies[pt] = decodeBody(t, p.Header.Get("Content-Transfer-Encoding"), p)
	}
	return msg, bodies
}

func decodeBody(t *testing.T, enc string, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	switch enc {
	case "base64":
		b = mustB64(t, b)
	case "quoted-printable":
		b = mustQP(t, b)
	default:
		t.Fatalf("unexpected transfer encoding %q", enc)
	}
	return strings.ReplaceAll(string(b), "\r\n", "\n")
}

func TestEncode(t *testing.T) {
	date := time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("CST", 8*3600))
	long := strings.Repeat("长", 60)
	tests := []struct {
		name     string
		m        Message
		subject  string // decoded
		bodies   map[string]string
		encoding map[string]string // transfer encoding by media type, checked in the raw text
	}{
		{
			name:    "text and html",
			m:       Message{To: "Ann <ann@example.com>", Subject: "Hello", Text: "line 1\nline 2", HTML: "<p>hi</p>", ID: "abc@x.example", Date: date, Lang: "en"},
			subject: "Hello",
			bodies:  map[string]string{"text/plain": "line 1\nline 2\n", "text/html": "<p>hi</p>\n"},
		},
		{
			name:    "chinese",
			m:       Message{To: "张三 <zhang@example.com>", Subject: "验证您的邮箱地址", Text: "请打开下方链接确认您的邮箱地址。\n", Date: date},
			subject: "验证您的邮箱地址",
			bodies:  map[string]string{"text/plain": "请打开下方链接确认您的邮箱地址。\n"},
		},
		{
			name:    "long chinese subject over several encoded words",
			m:       Message{To: "a@example.com", Subject: long, Text: "x"},
			subject: long,
			bodies:  map[string]string{"text/plain": "x\n"},
		},
		{
			name:    "mostly ascii subject with a dash",
			m:       Message{To: "a@example.com", Subject: "Reset your password – tether", Text: "x"},
			subject: "Reset your password – tether",
			bodies:  map[string]string{"text/plain": "x\n"},
		},
		{
			name:    "CRLF or LF in, CRLF out; long lines wrapped softly",
			m:       Message{To: "a@example.com", Subject: "s", Text: "a\r\nb\n" + strings.Repeat("x", 200) + "\n"},
			subject: "s",
			bodies:  map[string]string{"text/plain": "a\nb\n" + strings.Repeat("x", 200) + "\n"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := encode(tc.m, testFrom, date)
			if err != nil {
				t.Fatal(err)
			}
			if bare := bytes.Count(raw, []byte("\n")) - bytes.Count(raw, []byte("\r\n")); bare != 0 {
				t.Errorf("%d bare LFs", bare)
			}
			for i, line := range bytes.Split(raw, []byte("\r\n")) {
				if len(line) > 78 {
					t.Errorf("line %d has %d characters: %q", i, len(line), line)
				}
			}
			msg, bodies := parse(t, raw)
			subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
			if err != nil || subject != tc.subject {
				t.Errorf("subject decodes to %q (%v), want %q", subject, err, tc.subject)
			}
			for typ, want := range tc.bodies {
				if bodies[typ] != want {
					t.Errorf("%s body = %q, want %q", typ, bodies[typ], want)
				}
			}
			if len(bodies) != len(tc.bodies) {
				t.Errorf("parts = %v", bodies)
			}
			to, err := msg.Header.AddressList("To")
			if want, _ := netmail.ParseAddress(tc.m.To); err != nil || len(to) != 1 || *to[0] != *want {
				t.Errorf("To = %v (%v), want %v", to, err, want)
			}
			if f, err := msg.Header.AddressList("From"); err != nil || *f[0] != *testFrom {
				t.Errorf("From = %v (%v)", f, err)
			}
			if d, err := msg.Header.Date(); err != nil || !d.Equal(date) {
				t.Errorf("Date = %v (%v), want %v", d, err, date)
			}
			id := msg.Header.Get("Message-Id")
			if !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, ">") || (tc.m.ID != "" && id != "<"+tc.m.ID+">") ||
				(tc.m.ID == "" && !strings.HasSuffix(id, "@files.example.com>")) {
				t.Errorf("Message-ID = %q", id)
			}
			if msg.Header.Get("Mime-Version") != "1.0" || msg.Header.Get("Content-Language") != tc.m.Lang {
				t.Errorf("header = %v", msg.Header)
			}
		})
	}
}

func TestEncodeRefuses(t *testing.T) {
	ok := Message{To: "a@example.com", Subject: "s", Text: "x"}
	tests := []struct {
		name   string
		change func(*Message)
		want   string
	}{
		{"bad recipient", func(m *Message) { m.To = "nobody" }, "to"},
		{"two recipients", func(m *Message) { m.To = "a@example.com, b@example.com" }, "to"},
		{"line break in subject", func(m *Message) { m.Subject = "hi\r\nBcc: evil@example.com" }, "subject"},
		{"no body", func(m *Message) { m.Text = "" }, "no body"},
		{"invalid UTF-8", func(m *Message) { m.Text = "\xff" }, "UTF-8"},
		{"reserved header", func(m *Message) { m.Header = map[string]string{"bcc": "evil@example.com"} }, "cannot be set"},
		{"content header", func(m *Message) { m.Header = map[string]string{"Content-Type": "text/html"} }, "cannot be set"},
		{"bad header name", func(m *Message) { m.Header = map[string]string{"X Y": "z"} }, "cannot be set"},
		{"header injection", func(m *Message) { m.Header = map[string]string{"X-A": "b\r\nBcc: evil@example.com"} }, "one line"},
		{"same header twice", func(m *Message) { m.Header = map[string]string{"x-a": "1", "X-A": "2"} }, "twice"},
		{"bad message id", func(m *Message) { m.ID = "no at sign" }, "message id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := ok
			tc.change(&m)
			if _, err := encode(m, testFrom, time.Now()); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestFold(t *testing.T) {
	tests := []struct {
		name, value string
	}{
		{"Subject", "short"},
		{"Subject", strings.Repeat("word ", 40)},
		{"X-Long-Header-Name", "oneverylongtokenwithoutanyspace" + strings.Repeat("x", 100) + " tail"},
		{"Subject", "=?utf-8?b?" + strings.Repeat("A", 60) + "?= =?utf-8?b?" + strings.Repeat("B", 60) + "?="},
	}
	for _, tc := range tests {
		got := fold(tc.name, tc.value)
		if unfolded := strings.ReplaceAll(got, "\r\n", ""); unfolded != tc.name+": "+tc.value {
			t.Errorf("fold(%q) does not unfold to the original: %q", tc.value, got)
		}
		for _, line := range strings.Split(got, "\r\n") {
			if len(line) > maxLine && strings.Contains(strings.TrimLeft(line, " "), " ") {
				t.Errorf("line %q is too long although it has a space to break at", line)
			}
		}
	}
}

func mustB64(t *testing.T, b []byte) []byte {
	t.Helper()
	out, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(b), "\r\n", ""))
	if err != nil {
		t.Fatalf("base64: %v", err)
	}
	return out
}

func mustQP(t *testing.T, b []byte) []byte {
	t.Helper()
	out, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(b)))
	if err != nil {
		t.Fatalf("quoted-printable: %v", err)
	}
	return out
}
