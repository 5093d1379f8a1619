package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// TLSMode is how the SMTP sender protects its connection.
type TLSMode string

const (
	// STARTTLS connects in plain text and upgrades with STARTTLS before
	// anything else is said (submission, port 587). A server that does
	// not offer STARTTLS gets nothing: there is no silent downgrade.
	STARTTLS TLSMode = "starttls"
	// ImplicitTLS speaks TLS from the first byte (submissions, port 465).
	ImplicitTLS TLSMode = "implicit"
	// NoTLS sends in plain text. It is meant for a relay on the same
	// machine; to another host it needs SMTPConfig.AllowPlaintext.
	NoTLS TLSMode = "none"
)

// ParseTLSMode returns the mode s names; "" is STARTTLS.
func ParseTLSMode(s string) (TLSMode, error) {
	switch m := TLSMode(s); m {
	case "":
		return STARTTLS, nil
	case STARTTLS, ImplicitTLS, NoTLS:
		return m, nil
	}
	return "", fmt.Errorf("want starttls, implicit or none, got %q", s)
}

// DefaultPort is the port each mode uses unless told otherwise: 587
// (submission) for STARTTLS, 465 for implicit TLS, 25 for none.
func DefaultPort(m TLSMode) int {
	switch m {
	case ImplicitTLS:
		return 465
	case NoTLS:
		return 25
	}
	return 587
}

// IsLoopback reports whether host is "localhost" or a loopback IP
// address. Plain text and passwords without TLS are accepted only to such
// hosts, where nobody else is on the wire.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// ParseFrom checks a From address ("tether <no-reply@example.com>" or a
// bare address).
func ParseFrom(s string) (*netmail.Address, error) {
	if s == "" {
		return nil, errors.New("required, e.g. tether <no-reply@example.com>")
	}
	a, err := netmail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("not an email address: %q (%v)", s, err)
	}
	return a, nil
}

// LoadCAFile reads PEM certificates to trust besides the system's roots,
// for a mail server whose certificate a private CA signed.
func LoadCAFile(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

// SMTPConfig configures an SMTP sender.
type SMTPConfig struct {
	Host string
	// Port defaults to DefaultPort(TLS).
	Port int
	// Username and Password, when set, authenticate with AUTH PLAIN (or
	// LOGIN when the server offers only that), never without TLS except
	// to a loopback host.
	Username string
	Password string
	// From is the sender: "tether <no-reply@example.com>". Its address is
	// also the envelope sender.
	From string
	// TLS defaults to STARTTLS.
	TLS TLSMode
	// RootCAs verifies the server's certificate; nil means the system's
	// roots. The certificate must match Host.
	RootCAs *x509.CertPool
	// AllowPlaintext permits TLS none to a host that is not loopback.
	AllowPlaintext bool
	// HelloName is the name given in EHLO, ideally this machine's public
	// name; "localhost" when empty.
	HelloName string
	// DialTimeout bounds connecting (and, for implicit TLS, the
	// handshake); 10 s when zero.
	DialTimeout time.Duration
	// Timeout bounds a whole Send, dial included; 1 min when zero.
	Timeout time.Duration
}

// SMTP sends mail through one SMTP server (a submission server or a
// relay). It opens one connection per message: tether sends little mail,
// and a fresh connection has no stale state to recover from.
type SMTP struct {
	cfg  SMTPConfig
	addr string
	from *netmail.Address
	tls  *tls.Config
	now  func() time.Time
}

// NewSMTP checks cfg and returns a sender. It does not connect; Verify
// does.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	if cfg.Host == "" {
		return nil, errors.New("mail: smtp host is required")
	}
	mode, err := ParseTLSMode(string(cfg.TLS))
	if err != nil {
		return nil, fmt.Errorf("mail: smtp tls: %w", err)
	}
	cfg.TLS = mode
	if cfg.Port == 0 {
		cfg.Port = DefaultPort(mode)
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		return nil, fmt.Errorf("mail: smtp port %d out of range", cfg.Port)
	}
	from, err := ParseFrom(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("mail: smtp from: %w", err)
	}
	if mode == NoTLS && !IsLoopback(cfg.Host) {
		if !cfg.AllowPlaintext {
			return nil, fmt.Errorf("mail: smtp tls none to %s, which is not a loopback host, needs AllowPlaintext", cfg.Host)
		}
		if cfg.Username != "" || cfg.Password != "" {
			return nil, fmt.Errorf("mail: smtp password would cross the network in plain text to %s; use starttls or implicit", cfg.Host)
		}
	}
	if (cfg.Username == "") != (cfg.Password == "") {
		return nil, errors.New("mail: smtp username and password go together")
	}
	if cfg.HelloName == "" {
		cfg.HelloName = "localhost"
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Minute
	}
	return &SMTP{
		cfg:  cfg,
		addr: net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)),
		from: from,
		tls:  &tls.Config{ServerName: strings.Trim(cfg.Host, "[]"), RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12},
		now:  time.Now,
	}, nil
}

// From returns the configured sender address.
func (s *SMTP) From() *netmail.Address { return s.from }

// Send delivers m to the server in one SMTP session. It returns an *Error
// whose Permanent field tells a queue whether to try again.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	rcpt, err := netmail.ParseAddress(m.To)
	if err != nil {
		return &Error{Op: "message", Permanent: true, Err: fmt.Errorf("to %q: %w", m.To, err)}
	}
	data, err := encode(m, s.from, s.now())
	if err != nil {
		return &Error{Op: "message", Permanent: true, Err: err}
	}
	return s.session(ctx, func(c *smtp.Client) error {
		if err := c.Mail(s.from.Address); err != nil {
			return replyError("mail", err)
		}
		if err := c.Rcpt(rcpt.Address); err != nil {
			return replyError("rcpt", err)
		}
		w, err := c.Data()
		if err != nil {
			return replyError("data", err)
		}
		if _, err := w.Write(data); err != nil {
			w.Close()
			return replyError("data", err)
		}
		// Close ends the data with "." and reads the server's verdict
		// on the message.
		if err := w.Close(); err != nil {
			return replyError("data", err)
		}
		return nil
	})
}

// Verify connects, greets, secures and authenticates as Send would, then
// quits without sending: a check for `tether doctor` and start-up.
func (s *SMTP) Verify(ctx context.Context) error {
	return s.session(ctx, func(*smtp.Client) error { return nil })
}

// session runs one SMTP conversation: connect, EHLO, STARTTLS, AUTH, then
// do, then QUIT. The whole conversation is bounded by cfg.Timeout and by
// ctx.
func (s *SMTP) session(ctx context.Context, do func(*smtp.Client) error) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()

	conn, err := s.dial(ctx)
	if err != nil {
		return &Error{Op: "dial", Err: err}
	}
	defer conn.Close()
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	// Cancelling ctx (or its deadline passing) unblocks any read or
	// write at once.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	err = s.converse(conn, do)
	if err != nil {
		// Say why the connection timed out. The connection's deadline
		// may fire a moment before ctx notices its own.
		cause := ctx.Err()
		if d, ok := ctx.Deadline(); ok && cause == nil && !time.Now().Before(d) {
			cause = context.DeadlineExceeded
		}
		var e *Error
		if cause != nil && errors.As(err, &e) && e.Code == 0 {
			e.Err = fmt.Errorf("%w (%w)", cause, e.Err)
		}
	}
	return err
}

func (s *SMTP) converse(conn net.Conn, do func(*smtp.Client) error) error {
	// The server name is given as the host: net/smtp's PLAIN refuses to
	// send a password without TLS unless it names a loopback host.
	c, err := smtp.NewClient(conn, strings.Trim(s.cfg.Host, "[]"))
	if err != nil {
		return replyError("hello", err)
	}
	defer c.Close()
	if err := c.Hello(s.cfg.HelloName); err != nil {
		return replyError("hello", err)
	}
	if s.cfg.TLS == STARTTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return &Error{Op: "starttls", Err: fmt.Errorf("%s does not offer STARTTLS; refusing to send in plain text (use tls: none only for a local relay)", s.addr)}
		}
		if err := c.StartTLS(s.tls.Clone()); err != nil {
			return replyError("starttls", err)
		}
	}
	if s.cfg.Username != "" {
		if err := s.auth(c); err != nil {
			return err
		}
	}
	if err := do(c); err != nil {
		return err
	}
	// The message is accepted once its data is; a failed QUIT does not
	// undo that, so its error is not worth a resend.
	_ = c.Quit()
	return nil
}

func (s *SMTP) dial(ctx context.Context) (net.Conn, error) {
	d := &net.Dialer{Timeout: s.cfg.DialTimeout}
	if s.cfg.TLS == ImplicitTLS {
		td := &tls.Dialer{NetDialer: d, Config: s.tls.Clone()}
		dctx, cancel := context.WithTimeout(ctx, s.cfg.DialTimeout)
		defer cancel()
		return td.DialContext(dctx, "tcp", s.addr)
	}
	return d.DialContext(ctx, "tcp", s.addr)
}

// auth authenticates with PLAIN, or LOGIN when the server offers only
// that. Both send the password as it is, so both demand TLS or a
// loopback host (net/smtp checks it again for PLAIN).
func (s *SMTP) auth(c *smtp.Client) error {
	ok, params := c.Extension("AUTH")
	if !ok {
		return &Error{Op: "auth", Err: errors.New("a username is configured but the server offers no AUTH")}
	}
	mechs := strings.Fields(strings.ToUpper(params))
	host := strings.Trim(s.cfg.Host, "[]")
	var a smtp.Auth
	switch {
	case slices.Contains(mechs, "PLAIN"):
		a = smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, host)
	case slices.Contains(mechs, "LOGIN"):
		a = &loginAuth{user: s.cfg.Username, pass: s.cfg.Password, host: host}
	default:
		return &Error{Op: "auth", Err: fmt.Errorf("the server offers AUTH %s; tether speaks PLAIN and LOGIN", params)}
	}
	if err := c.Auth(a); err != nil {
		return replyError("auth", err)
	}
	return nil
}

// loginAuth is the LOGIN mechanism (draft-murchison-sasl-login): the
// server prompts "Username:" and "Password:", the client answers each.
type loginAuth struct {
	user, pass, host string
	step             int
}

func (a *loginAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if !server.TLS && !IsLoopback(server.Name) {
		return "", nil, errors.New("unencrypted connection")
	}
	if server.Name != a.host {
		return "", nil, errors.New("wrong host name")
	}
	return "LOGIN", nil, nil
}

func (a *loginAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	a.step++
	switch a.step {
	case 1:
		return []byte(a.user), nil
	case 2:
		return []byte(a.pass), nil
	}
	return nil, fmt.Errorf("unexpected server challenge %q", fromServer)
}

// replyError classifies an error from one step of the conversation. A
// reply from the server decides by its code: 5xx is permanent for the
// steps about this message (MAIL, RCPT, DATA) and 4xx always temporary.
// Errors without a reply (network, timeout, TLS) are temporary, and so is
// anything that fails before MAIL: greeting, EHLO, STARTTLS and AUTH
// failures concern the server or tether's configuration, not the message.
// For the same reason 530 (authentication or TLS required, RFC 4954) is
// temporary at any step.
func replyError(op string, err error) *Error {
	e := &Error{Op: op, Err: err}
	var tp *textproto.Error
	if errors.As(err, &tp) {
		e.Code = tp.Code
		switch op {
		case "mail", "rcpt", "data":
			e.Permanent = tp.Code >= 500 && tp.Code < 600 && tp.Code != 530
		}
	}
	return e
}
