// Package mail sends tether's email: address verification, password
// reset, change of address and account deletion notices.
//
// A Message is what is sent, already rendered: the Site methods
// (VerifyEmail, ResetPassword, ...) build one in the reader's language. A
// Sender delivers it: SMTP talks to a mail server, Outbox keeps messages
// in memory for `tether dev`. Senders do not retry; a queue above them
// does, and a failed Send says whether a retry can help (IsPermanent), so
// the queue can give up on a bad address but keep a message while the
// mail server is down.
package mail

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Message is one email to one recipient. It holds no secrets beyond the
// link it carries and is plain data, so a queue may store it as JSON and
// send it later, from another instance.
type Message struct {
	// To is the recipient: "alice@example.com" or "Alice <alice@example.com>".
	To string `json:"to"`
	// Subject is plain text; non-ASCII is encoded (RFC 2047) when sent.
	Subject string `json:"subject"`
	// Text is the text/plain body.
	Text string `json:"text"`
	// HTML is the text/html body. With it the message is
	// multipart/alternative; without it, plain text only.
	HTML string `json:"html,omitempty"`
	// Lang is the BCP 47 tag of the text ("en", "zh-CN"), sent as
	// Content-Language.
	Lang string `json:"lang,omitempty"`
	// ID is the Message-ID without angle brackets. Set it before the
	// message is queued so that every attempt sends the same id and a
	// duplicate delivery can be recognised; a Sender makes one up when it
	// is empty.
	ID string `json:"id,omitempty"`
	// Date is when the message was written; a Sender uses the time of
	// sending when it is zero.
	Date time.Time `json:"date,omitzero"`
	// Header holds further header fields, such as Auto-Submitted. The
	// fields a Sender writes itself (From, To, Subject, Date, Message-ID,
	// MIME-Version, Content-*) cannot be set here.
	Header map[string]string `json:"header,omitempty"`

	// Kind says what the message is for ("verify_email", ...), for logs,
	// metrics and the dev outbox. It is not sent.
	Kind string `json:"kind,omitempty"`
	// Link is the message's one action link, if any, for the dev outbox.
	// It is not sent separately, and real senders never log it: it is a
	// credential until it expires.
	Link string `json:"link,omitempty"`
}

// Sender delivers messages. Send either hands the message to the next hop
// or returns an error; it does not retry. Errors say whether they are
// permanent (see IsPermanent).
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// SenderFunc lets an ordinary function be a Sender, for tests of code that
// sends.
type SenderFunc func(ctx context.Context, m Message) error

// Send calls f(ctx, m).
func (f SenderFunc) Send(ctx context.Context, m Message) error { return f(ctx, m) }

// Error is a failed send.
type Error struct {
	// Op is the step that failed: "message" (the message itself could
	// not be encoded), "dial", "hello", "starttls", "auth", "mail",
	// "rcpt", "data" or "quit".
	Op string
	// Code is the SMTP reply code when the server answered, else 0.
	Code int
	// Permanent is true when sending the same message again cannot
	// succeed: the message is malformed or its recipient, sender or
	// content was refused with a 5xx reply. Everything about reaching and
	// talking to the mail server (refused connections, timeouts, unknown
	// host, TLS, a 5xx to AUTH, 530 "authentication required") is
	// temporary: it is the server's or the configuration's fault, not the
	// message's, and the message can go out once it is fixed.
	Permanent bool
	Err       error
}

func (e *Error) Error() string {
	kind := "temporary"
	if e.Permanent {
		kind = "permanent"
	}
	return fmt.Sprintf("mail: %s: %v (%s)", e.Op, e.Err, kind)
}

func (e *Error) Unwrap() error { return e.Err }

// IsPermanent reports whether err (or an error it wraps) is a permanent
// send failure: retrying the same message is pointless. Any other non-nil
// error is temporary.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent
}
