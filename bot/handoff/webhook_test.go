package handoff

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// signedReceiver is a help desk's webhook endpoint as a receiver should write
// one: it verifies the signature with VerifySignature, refuses replays,
// and creates one ticket per Idempotency-Key.
type signedReceiver struct {
	t      *testing.T
	secret []byte

	mu       sync.Mutex
	tickets  map[string]Ticket // by Idempotency-Key
	requests int
	// status, when non-zero, is answered instead of accepting (with
	// retryAfter as Retry-After), failing the next fail requests.
	status     int
	retryAfter string
	fail       int
}

func newSignedReceiver(t *testing.T, secret []byte) (*signedReceiver, *httptest.Server) {
	r := &signedReceiver{t: t, secret: secret, tickets: make(map[string]Ticket)}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv
}

func (r *signedReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "want a JSON POST", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := VerifySignature(req.Header.Get(SignatureHeader), body, r.secret, DefaultSignatureTolerance, time.Now()); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if r.fail > 0 {
		r.fail--
		if r.retryAfter != "" {
			w.Header().Set("Retry-After", r.retryAfter)
		}
		http.Error(w, "receiver says no", r.status)
		return
	}
	var tk Ticket
	if err := json.Unmarshal(body, &tk); err != nil {
		http.Error(w, err.Error(), http.StatusUnprocessableEntity)
		return
	}
	key := req.Header.Get("Idempotency-Key")
	if key == "" || key != tk.ID {
		http.Error(w, "Idempotency-Key must be the ticket id", http.StatusBadRequest)
		return
	}
	if _, dup := r.tickets[key]; !dup {
		r.tickets[key] = tk
	}
	w.WriteHeader(http.StatusCreated)
}

func testTicket() Ticket {
	return Ticket{
		ID:             "ho_01HX",
		Bot:            "acme",
		ConversationID: "conv_1",
		User:           User{ID: "user-42", Verified: true, Email: "ada@example.com"},
		Reason:         "unanswerable",
		CreatedAt:      time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		Transcript: []Message{
			{Role: "user", Content: "How do I export my invoices?", CreatedAt: time.Date(2026, 3, 1, 11, 59, 0, 0, time.UTC)},
			{Role: "assistant", Content: "I could not find that in our documentation.", CreatedAt: time.Date(2026, 3, 1, 11, 59, 5, 0, time.UTC)},
		},
		Passages: []Passage{{Document: "billing.md", Title: "Billing", URL: "https://docs.example/billing", Text: "Invoices are emailed monthly.", Score: 0.21}},
	}
}

func newTestWebhook(t *testing.T, url string, secret []byte, timeout time.Duration) *Webhook {
	t.Helper()
	w, err := NewWebhook(WebhookConfig{URL: url, Secret: secret, Timeout: timeout, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("NewWebhook: %v", err)
	}
	return w
}

func TestWebhookDeliversSignedTicketOnce(t *testing.T) {
	secret := []byte("whsec_acme")
	r, srv := newSignedReceiver(t, secret)
	w := newTestWebhook(t, srv.URL, secret, 0)
	tk := testTicket()
	for range 3 { // at-least-once delivery: the deliverer may repeat
		if err := w.Deliver(context.Background(), tk); err != nil {
			t.Fatalf("Deliver: %v", err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.requests != 3 || len(r.tickets) != 1 {
		t.Fatalf("requests=%d tickets=%d, want 3 requests and exactly 1 ticket", r.requests, len(r.tickets))
	}
	got := r.tickets[tk.ID]
	if got.ConversationID != tk.ConversationID || !got.User.Verified || len(got.Transcript) != 2 || got.Passages[0].Score != 0.21 {
		t.Fatalf("receiver got %+v", got)
	}
}

func TestWebhookWrongSecretIsRefusedPermanently(t *testing.T) {
	_, srv := newSignedReceiver(t, []byte("the receiver's secret"))
	w := newTestWebhook(t, srv.URL, []byte("a different secret"), 0)
	err := w.Deliver(context.Background(), testTicket())
	var de *DeliveryError
	if !errors.As(err, &de) || de.Status != http.StatusUnauthorized || !de.Permanent {
		t.Fatalf("Deliver = %#v, want a permanent 401 DeliveryError", err)
	}
}

func TestWebhookClassifiesStatuses(t *testing.T) {
	tests := []struct {
		status     int
		retryAfter string
		permanent  bool
		wantAfter  time.Duration
	}{
		{http.StatusRequestTimeout, "", false, 0},
		{http.StatusTooManyRequests, "7", false, 7 * time.Second},
		{http.StatusInternalServerError, "", false, 0},
		{http.StatusBadGateway, "", false, 0},
		{http.StatusServiceUnavailable, "120", false, 2 * time.Minute},
		{http.StatusBadRequest, "", true, 0},
		{http.StatusForbidden, "", true, 0},
		{http.StatusNotFound, "", true, 0},
		{http.StatusGone, "30", true, 0}, // Retry-After means nothing on a refusal
		{http.StatusUnprocessableEntity, "", true, 0},
	}
	secret := []byte("whsec")
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			r, srv := newSignedReceiver(t, secret)
			r.status, r.retryAfter, r.fail = tt.status, tt.retryAfter, 1
			w := newTestWebhook(t, srv.URL, secret, 0)
			err := w.Deliver(context.Background(), testTicket())
			var de *DeliveryError
			if !errors.As(err, &de) {
				t.Fatalf("Deliver = %v, want a *DeliveryError", err)
			}
			if de.Target != "webhook" || de.Status != tt.status || de.Permanent != tt.permanent || de.RetryAfter != tt.wantAfter {
				t.Fatalf("DeliveryError = %+v, want status %d permanent %v retry-after %s", de, tt.status, tt.permanent, tt.wantAfter)
			}
			if !tt.permanent {
				if err := w.Deliver(context.Background(), testTicket()); err != nil {
					t.Fatalf("retry after a transient failure: %v", err)
				}
			}
		})
	}
}

func TestWebhookTimeoutIsRetryable(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	w := newTestWebhook(t, srv.URL, []byte("s"), 50*time.Millisecond)
	start := time.Now()
	err := w.Deliver(context.Background(), testTicket())
	var de *DeliveryError
	if !errors.As(err, &de) || de.Permanent || de.Status != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Deliver = %v, want a retryable DeliveryError wrapping the deadline", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Deliver took %s with a 50ms timeout", d)
	}
}

func TestWebhookReceiverDownIsRetryable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	w := newTestWebhook(t, url, []byte("s"), time.Second)
	err := w.Deliver(context.Background(), testTicket())
	var de *DeliveryError
	if !errors.As(err, &de) || de.Permanent || de.Status != 0 {
		t.Fatalf("Deliver = %v, want a retryable DeliveryError without status", err)
	}
}

func TestWebhookDoesNotFollowRedirects(t *testing.T) {
	var followed bool
	mux := http.NewServeMux()
	mux.HandleFunc("/hook", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/elsewhere", http.StatusFound) })
	mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) { followed = true })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	w := newTestWebhook(t, srv.URL+"/hook", []byte("s"), time.Second)
	err := w.Deliver(context.Background(), testTicket())
	var de *DeliveryError
	if !errors.As(err, &de) || de.Status != http.StatusFound || !de.Permanent || followed {
		t.Fatalf("Deliver = %v (followed=%v), want a permanent 302 and no redirect followed", err, followed)
	}
}

func TestNewWebhookValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  WebhookConfig
	}{
		{"relative url", WebhookConfig{URL: "/hooks", Secret: []byte("s")}},
		{"ftp url", WebhookConfig{URL: "ftp://helpdesk.example/hooks", Secret: []byte("s")}},
		{"unparsable url", WebhookConfig{URL: "http://[::1", Secret: []byte("s")}},
		{"no secret", WebhookConfig{URL: "https://helpdesk.example/hooks"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewWebhook(tt.cfg); err == nil {
				t.Fatal("NewWebhook accepted an invalid config")
			}
		})
	}
}
