package mail_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tether-id/tether/mail"
	"github.com/tether-id/tether/testkit/testenv"
)

func TestOutbox(t *testing.T) {
	var logs testenv.SyncBuffer
	o := mail.NewOutbox(3, slog.New(slog.NewJSONHandler(&logs, nil)))
	var sent []mail.Message
	for i := range 5 {
		m, err := site.VerifyEmail("en", fmt.Sprintf("user%d@example.com", i), fmt.Sprintf("%s/verify?token=t%d&x=1", publicURL, i), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if err := o.Send(context.Background(), m); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, m)
	}

	got := o.Messages()
	if len(got) != 3 || got[0].To != "user4@example.com" || got[2].To != "user2@example.com" {
		t.Fatalf("kept %d messages, newest first want user4..user2: %+v", len(got), got)
	}
	if !strings.Contains(logs.String(), `"link":"https://files.example.com/verify?token=t4&x=1"`) {
		t.Errorf("the link was not logged:\n%s", logs.String())
	}

	tests := []struct {
		name, method, target, accept string
		status                       int
		check                        func(t *testing.T, rec *httptest.ResponseRecorder)
	}{
		{"page", http.MethodGet, "/demo/outbox", "text/html", http.StatusOK, func(t *testing.T, rec *httptest.ResponseRecorder) {
			body := rec.Body.String()
			for _, want := range []string{
				sent[4].Subject, "user4@example.com", "user2@example.com",
				`href="https://files.example.com/verify?token=t4&amp;x=1"`,
				`<iframe sandbox srcdoc="&lt;!doctype html&gt;`,
				"(5 since start)",
			} {
				if !strings.Contains(body, want) {
					t.Errorf("page lacks %q", want)
				}
			}
			if strings.Contains(body, "user1@example.com") {
				t.Error("page shows a message beyond the limit")
			}
			if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("CSP = %q", csp)
			}
		}},
		{"json by query", http.MethodGet, "/demo/outbox?format=json", "", http.StatusOK, checkJSON},
		{"json by accept", http.MethodGet, "/demo/outbox", "application/json", http.StatusOK, checkJSON},
		{"post", http.MethodPost, "/demo/outbox", "", http.StatusMethodNotAllowed, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.target, nil)
			if tc.accept != "" {
				req.Header.Set("Accept", tc.accept)
			}
			rec := httptest.NewRecorder()
			o.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d", rec.Code, tc.status)
			}
			if tc.check != nil {
				tc.check(t, rec)
			}
		})
	}
}

func checkJSON(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	var msgs []mail.Message
	if err := json.Unmarshal(rec.Body.Bytes(), &msgs); err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 3 || msgs[0].Link != publicURL+"/verify?token=t4&x=1" || msgs[0].Kind != mail.KindVerifyEmail {
		t.Errorf("json = %+v", msgs)
	}
}

func TestOutboxEmpty(t *testing.T) {
	o := mail.NewOutbox(0, nil)
	for target, want := range map[string]string{"/": "No messages yet.", "/?format=json": "[]"} {
		rec := httptest.NewRecorder()
		o.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("%s: body %q lacks %q", target, rec.Body.String(), want)
		}
	}
}
