package mail

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"net/textproto"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// reserved are the header fields encode writes itself; Message.Header
// may not set them, so a caller cannot add a second To or break the MIME
// structure.
var reserved = map[string]bool{
	"From": true, "To": true, "Cc": true, "Bcc": true, "Subject": true, "Date": true,
	"Message-Id": true, "Mime-Version": true, "Content-Type": true,
	"Content-Transfer-Encoding": true, "Content-Language": true,
}

// maxLine is where header lines are folded (RFC 5322 §2.1.1: SHOULD be at
// most 78 characters).
const maxLine = 78

// encode renders m as an RFC 5322 message from from: UTF-8 text in
// quoted-printable or base64, multipart/alternative when there is an HTML body,
// non-ASCII header text in RFC 2047 encoded words, CRLF line endings.
// Dot-stuffing is left to the SMTP data writer. now stamps a message
// without a Date.
func encode(m Message, from *netmail.Address, now time.Time) ([]byte, error) {
	to, err := netmail.ParseAddress(m.To)
	if err != nil {
		return nil, fmt.Errorf("to %q: %w", m.To, err)
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		return nil, errors.New("subject contains a line break")
	}
	if !utf8.ValidString(m.Subject) || !utf8.ValidString(m.Text) || !utf8.ValidString(m.HTML) {
		return nil, errors.New("subject or body is not valid UTF-8")
	}
	if m.Text == "" && m.HTML == "" {
		return nil, errors.New("the message has no body")
	}
	extra := make(map[string]string, len(m.Header))
	for k, v := range m.Header {
		ck := textproto.CanonicalMIMEHeaderKey(k)
		if !validFieldName(k) || reserved[ck] {
			return nil, fmt.Errorf("header %q cannot be set", k)
		}
		if _, dup := extra[ck]; dup {
			return nil, fmt.Errorf("header %s is set twice", ck)
		}
		if strings.ContainsAny(v, "\r\n") || !utf8.ValidString(v) {
			return nil, fmt.Errorf("header %s: value must be one line of UTF-8", ck)
		}
		extra[ck] = v
	}

	id := strings.Trim(m.ID, "<>")
	if id == "" {
		id = NewMessageID(domainOf(from.Address))
	}
	if strings.ContainsAny(id, " \t\r\n<>") || !strings.Contains(id, "@") {
		return nil, fmt.Errorf("message id %q: want local@domain", m.ID)
	}
	date := m.Date
	if date.IsZero() {
		date = now
	}

	var b bytes.Buffer
	header := func(name, value string) {
		b.WriteString(fold(name, value))
		b.WriteString("\r\n")
	}
	header("From", from.String())
	header("To", to.String())
	header("Subject", encodeText(m.Subject))
	header("Date", date.Format(time.RFC1123Z))
	header("Message-ID", "<"+id+">")
	header("MIME-Version", "1.0")
	if m.Lang != "" {
		header("Content-Language", m.Lang)
	}
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		header(k, encodeText(extra[k]))
	}

	if m.HTML == "" {
		enc := bodyEncoding(m.Text)
		header("Content-Type", "text/plain; charset=utf-8")
		header("Content-Transfer-Encoding", enc)
		b.WriteString("\r\n")
		if err := writeBody(&b, enc, m.Text); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	}

	mw := multipart.NewWriter(&b)
	header("Content-Type", `multipart/alternative; boundary="`+mw.Boundary()+`"`)
	b.WriteString("\r\n")
	// The last alternative is the preferred one (RFC 2046 §5.1.4).
	for _, part := range []struct{ typ, body string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		enc := bodyEncoding(part.body)
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.typ + "; charset=utf-8"},
			"Content-Transfer-Encoding": {enc},
		})
		if err != nil {
			return nil, err
		}
		if err := writeBody(w, enc, part.body); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// bodyEncoding picks the transfer encoding of a body: quoted-printable
// when it is mostly ASCII (English text, HTML markup), which stays
// readable in the source, and base64 when it is mostly not (Chinese text),
// where quoted-printable would triple its size.
func bodyEncoding(s string) string {
	if asciiShare(s) < 2.0/3 {
		return "base64"
	}
	return "quoted-printable"
}

// writeBody writes s in the transfer encoding enc with CRLF line endings
// and lines within 76 characters, so that long links survive mail
// servers that wrap lines.
func writeBody(w io.Writer, enc, s string) error {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	if enc == "base64" {
		s = strings.ReplaceAll(s, "\n", "\r\n")
		e := base64.StdEncoding.EncodeToString([]byte(s))
		for len(e) > 76 {
			if _, err := io.WriteString(w, e[:76]+"\r\n"); err != nil {
				return err
			}
			e = e[76:]
		}
		_, err := io.WriteString(w, e+"\r\n")
		return err
	}
	// In text mode the writer turns every line break into CRLF.
	qp := quotedprintable.NewWriter(w)
	if _, err := io.WriteString(qp, s); err != nil {
		return err
	}
	return qp.Close()
}

// asciiShare is the share of printable ASCII bytes (and line breaks and
// tabs) in s; 1 for "".
func asciiShare(s string) float64 {
	if s == "" {
		return 1
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c >= ' ' && c <= '~') || c == '\n' || c == '\r' || c == '\t' {
			n++
		}
	}
	return float64(n) / float64(len(s))
}

// encodeText returns s as header text: unchanged when it is printable
// ASCII, else as RFC 2047 encoded words, B (base64) when most of it is
// not ASCII (Chinese), Q when most of it is (an accent, a dash).
func encodeText(s string) string {
	switch share := asciiShare(s); {
	case share == 1:
		return s
	case share < 2.0/3:
		return mime.BEncoding.Encode("utf-8", s)
	}
	return mime.QEncoding.Encode("utf-8", s)
}

// fold writes a header field, breaking its line at spaces (RFC 5322
// folding) so that lines stay within maxLine where a space allows it.
// Encoded words never contain spaces, so they are never split; a long
// first word goes on a line of its own, after "Name:".
func fold(name, value string) string {
	line := name + ": " + value
	if len(line) <= maxLine {
		return line
	}
	var b strings.Builder
	start := 0            // start of the current output line in line
	last := len(name) + 1 // the last space seen: the line may break there
	for i := last + 1; i <= len(line); i++ {
		if i < len(line) && line[i] != ' ' {
			continue
		}
		// i is at a space or at the end: if the text since start is
		// too long, break at the space before.
		if i-start > maxLine && last > start {
			b.WriteString(line[start:last])
			b.WriteString("\r\n")
			start = last
		}
		last = i
	}
	b.WriteString(line[start:])
	return b.String()
}

// validFieldName reports whether k is a header field name: printable
// ASCII without colon or space (RFC 5322 §3.6.8).
func validFieldName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] > '~' || k[i] == ':' {
			return false
		}
	}
	return true
}

// NewMessageID returns a fresh Message-ID (without angle brackets) in
// domain: 26 random characters, then "@domain".
func NewMessageID(domain string) string {
	if domain == "" {
		domain = "tether.invalid"
	}
	return strings.ToLower(rand.Text()) + "@" + domain
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return ""
}
