package mail

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
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
// quoted-printable, multipart/alternative when there is an HTML body,
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
		b.WriteString(fold(name + ": " + value))
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
		header("Content-Type", "text/plain; charset=utf-8")
		header("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		if err := writeQP(&b, m.Text); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	}

	mw := multipart.NewWriter(&b)
	header("Content-Type", `multipart/alternative; boundary="`+mw.Boundary()+`"`)
	b.WriteString("\r\n")
	// The last alternative is the preferred one (RFC 2046 §5.1.4).
	for _, part := range []struct{ typ, body string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.typ + "; charset=utf-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		if err := writeQP(w, part.body); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// writeQP writes s quoted-printable. In text mode the writer turns every
// line break into CRLF and keeps lines within 76 characters with soft
// breaks, so long links survive mail servers that wrap lines.
func writeQP(w interface{ Write([]byte) (int, error) }, s string) error {
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	qp := quotedprintable.NewWriter(w)
	if _, err := qp.Write([]byte(s)); err != nil {
		return err
	}
	return qp.Close()
}

// encodeText returns s as header text: unchanged when it is printable
// ASCII, else as RFC 2047 encoded words, B (base64) when most of it is
// not ASCII (Chinese), Q when most of it is (an accent, a dash).
func encodeText(s string) string {
	ascii := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= ' ' && s[i] <= '~' {
			ascii++
		}
	}
	if ascii == len(s) {
		return s
	}
	if ascii*3 < len(s)*2 {
		return mime.BEncoding.Encode("utf-8", s)
	}
	return mime.QEncoding.Encode("utf-8", s)
}

// fold breaks a header line at spaces so that its lines stay within
// maxLine where a space allows it. Encoded words never contain spaces,
// so they are never split.
func fold(line string) string {
	if len(line) <= maxLine {
		return line
	}
	var b strings.Builder
	start := 0 // start of the current output line in line
	last := -1 // last space seen on the current line
	for i := 0; i < len(line); i++ {
		if line[i] == ' ' && i > start {
			if i-start > maxLine && last > start {
				b.WriteString(line[start:last])
				b.WriteString("\r\n")
				start = last
			}
			last = i
		}
	}
	if len(line)-start > maxLine && last > start {
		b.WriteString(line[start:last])
		b.WriteString("\r\n")
		start = last
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
