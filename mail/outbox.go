package mail

import (
	"context"
	_ "embed"
	"encoding/json"
	htmltemplate "html/template"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

//go:embed templates/outbox.html
var outboxPage string

var outboxTmpl = htmltemplate.Must(htmltemplate.New("outbox").Parse(outboxPage))

// Outbox is the Sender of `tether dev`, where there is no mail server: it
// keeps the last messages in memory, logs each one with its link, and
// serves them on a page, so that a newcomer can follow a verification or
// reset link without setting anything up. It never fails.
//
// The page shows live links (password resets!) to anyone who can reach
// it: mount it only in dev mode.
type Outbox struct {
	mu    sync.Mutex
	msgs  []Message // oldest first, at most size
	size  int
	log   *slog.Logger
	now   func() time.Time
	total int
}

// NewOutbox returns an outbox that keeps the last size messages (100 when
// size < 1) and logs to log (slog.Default() when nil).
func NewOutbox(size int, log *slog.Logger) *Outbox {
	if size < 1 {
		size = 100
	}
	if log == nil {
		log = slog.Default()
	}
	return &Outbox{size: size, log: log, now: time.Now}
}

// Send keeps m and logs it.
func (o *Outbox) Send(ctx context.Context, m Message) error {
	if m.Date.IsZero() {
		m.Date = o.now()
	}
	o.mu.Lock()
	o.total++
	if len(o.msgs) == o.size {
		o.msgs = slices.Delete(o.msgs, 0, 1)
	}
	o.msgs = append(o.msgs, m)
	o.mu.Unlock()
	o.log.InfoContext(ctx, "mail: kept in the dev outbox", "to", m.To, "subject", m.Subject, "kind", m.Kind, "link", m.Link)
	return nil
}

// Messages returns the kept messages, newest first.
func (o *Outbox) Messages() []Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := slices.Clone(o.msgs)
	slices.Reverse(out)
	return out
}

// ServeHTTP lists the kept messages, newest first: an HTML page, or JSON
// (a list of Message) when the request asks for application/json or
// ?format=json, for scripts and end-to-end tests.
func (o *Outbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	msgs := o.Messages()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	if r.URL.Query().Get("format") == "json" || strings.Contains(r.Header.Get("Accept"), "application/json") {
		w.Header().Set("Content-Type", "application/json")
		if msgs == nil {
			msgs = []Message{}
		}
		json.NewEncoder(w).Encode(msgs)
		return
	}
	// The HTML bodies are shown in sandboxed frames (no scripts, no
	// same-origin access); the page itself runs no script at all.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-src 'self'; base-uri 'none'; form-action 'none'")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	o.mu.Lock()
	total := o.total
	o.mu.Unlock()
	if err := outboxTmpl.Execute(w, struct {
		Messages []Message
		Total    int
		Size     int
	}{msgs, total, o.size}); err != nil {
		o.log.Error("mail: outbox page", "err", err)
	}
}
