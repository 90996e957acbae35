package handoff

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// fakeChatwoot is a Chatwoot installation on loopback: the application
// API routes the bot uses, with Chatwoot's request and response JSON,
// api_access_token authentication, MessageFinder's paging (latest 20, or
// 20 before an id) and the 150,000-character content limit.
type fakeChatwoot struct {
	t       *testing.T
	token   string
	account int64

	mu     sync.Mutex
	convs  map[int64]*fakeConversation
	nextID int64
	// fail makes the next n requests to a route ("POST toggle_status")
	// answer 503 without doing anything; lose makes them do the work and
	// then answer 502, as when a response is lost.
	fail, lose map[string]int
}

type fakeConversation struct {
	status   string
	messages []fakeMessage
}

type fakeMessage struct {
	ID                int64           `json:"id"`
	Content           string          `json:"content"`
	InboxID           int64           `json:"inbox_id"`
	ConversationID    int64           `json:"conversation_id"`
	MessageType       int             `json:"message_type"`
	ContentType       string          `json:"content_type"`
	ContentAttributes json.RawMessage `json:"content_attributes"`
	CreatedAt         int64           `json:"created_at"`
	Private           bool            `json:"private"`
	SourceID          *string         `json:"source_id"`
	Sender            map[string]any  `json:"sender,omitempty"`
}

const fakeInbox = 7

func newFakeChatwoot(t *testing.T, token string, account int64) (*fakeChatwoot, *httptest.Server) {
	f := &fakeChatwoot{t: t, token: token, account: account, convs: make(map[int64]*fakeConversation),
		nextID: 1000, fail: make(map[string]int), lose: make(map[string]int)}
	mux := http.NewServeMux()
	base := "/api/v1/accounts/{account}/conversations/{conversation}"
	mux.HandleFunc("GET "+base, f.route("GET conversation", f.showConversation))
	mux.HandleFunc("GET "+base+"/messages", f.route("GET messages", f.listMessages))
	mux.HandleFunc("POST "+base+"/messages", f.route("POST messages", f.createMessage))
	mux.HandleFunc("POST "+base+"/toggle_status", f.route("POST toggle_status", f.toggleStatus))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeChatwoot) addConversation(id int64, status string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.convs[id] = &fakeConversation{status: status}
}

// addMessage stores a message as if it arrived from elsewhere.
func (f *fakeChatwoot) addMessage(conv int64, content string, messageType int, private bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.store(f.convs[conv], conv, content, messageType, private, nil)
}

func (f *fakeChatwoot) store(c *fakeConversation, conv int64, content string, messageType int, private bool, attrs json.RawMessage) fakeMessage {
	f.nextID++
	if len(attrs) == 0 {
		attrs = json.RawMessage(`{}`)
	}
	m := fakeMessage{ID: f.nextID, Content: content, InboxID: fakeInbox, ConversationID: conv, MessageType: messageType,
		ContentType: "text", ContentAttributes: attrs, CreatedAt: time.Now().Unix(), Private: private}
	if messageType == ChatwootOutgoing {
		m.Sender = map[string]any{"id": 3, "name": "infergate", "type": "agent_bot"}
	}
	c.messages = append(c.messages, m)
	return m
}

func (f *fakeChatwoot) notes(conv int64) []fakeMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeMessage
	for _, m := range f.convs[conv].messages {
		if m.Private {
			out = append(out, m)
		}
	}
	return out
}

func (f *fakeChatwoot) status(conv int64) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.convs[conv].status
}

func (f *fakeChatwoot) failNext(route string, n int) { f.mu.Lock(); f.fail[route] = n; f.mu.Unlock() }
func (f *fakeChatwoot) loseNext(route string, n int) { f.mu.Lock(); f.lose[route] = n; f.mu.Unlock() }

type fakeHandler func(w http.ResponseWriter, r *http.Request, conv int64, c *fakeConversation) bool

// route authenticates, finds the conversation and applies the failure
// injection around h, which reports whether it changed anything.
func (f *fakeChatwoot) route(name string, h fakeHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if r.Header.Get("api_access_token") != f.token {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "Invalid Access Token"})
			return
		}
		if f.fail[name] > 0 {
			f.fail[name]--
			w.Header().Set("Retry-After", "3")
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "Service Unavailable"})
			return
		}
		account, _ := strconv.ParseInt(r.PathValue("account"), 10, 64)
		conv, _ := strconv.ParseInt(r.PathValue("conversation"), 10, 64)
		c, ok := f.convs[conv]
		if account != f.account || !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "Resource could not be found"})
			return
		}
		if f.lose[name] > 0 {
			f.lose[name]--
			h(httptest.NewRecorder(), r, conv, c) // the work is done, the answer lost
			writeJSON(w, http.StatusBadGateway, map[string]string{"error": "Bad Gateway"})
			return
		}
		h(w, r, conv, c)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeChatwoot) showConversation(w http.ResponseWriter, _ *http.Request, conv int64, c *fakeConversation) bool {
	writeJSON(w, http.StatusOK, map[string]any{
		"meta":                  map[string]any{"sender": map[string]any{"id": 11, "name": "Ada", "type": "contact"}, "channel": "Channel::WebWidget"},
		"id":                    conv,
		"account_id":            f.account,
		"inbox_id":              fakeInbox,
		"status":                c.status,
		"messages":              []any{},
		"labels":                []string{},
		"muted":                 false,
		"snoozed_until":         nil,
		"unread_count":          0,
		"additional_attributes": map[string]any{},
		"custom_attributes":     map[string]any{},
		"can_reply":             true,
		"timestamp":             time.Now().Unix(),
	})
	return false
}

func (f *fakeChatwoot) listMessages(w http.ResponseWriter, r *http.Request, _ int64, c *fakeConversation) bool {
	msgs := c.messages
	if b := r.URL.Query().Get("before"); b != "" {
		before, _ := strconv.ParseInt(b, 10, 64)
		i := 0
		for i < len(msgs) && msgs[i].ID < before {
			i++
		}
		msgs = msgs[:i]
	}
	msgs = msgs[max(len(msgs)-20, 0):]
	writeJSON(w, http.StatusOK, map[string]any{
		"meta":    map[string]any{"labels": []string{}, "additional_attributes": map[string]any{}, "contact": map[string]any{"id": 11}, "assignee": nil, "agent_bot": nil},
		"payload": msgs,
	})
	return false
}

func (f *fakeChatwoot) createMessage(w http.ResponseWriter, r *http.Request, conv int64, c *fakeConversation) bool {
	var req struct {
		Content           string          `json:"content"`
		MessageType       string          `json:"message_type"`
		Private           bool            `json:"private"`
		ContentAttributes json.RawMessage `json:"content_attributes"`
	}
	if r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&req) != nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": "invalid request body"})
		return false
	}
	types := map[string]int{"incoming": ChatwootIncoming, "outgoing": ChatwootOutgoing}
	mt, ok := types[req.MessageType]
	if !ok {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": "'" + req.MessageType + "' is not a valid message_type"})
		return false
	}
	if n := utf8.RuneCountInString(req.Content); n > ChatwootMaxContentChars {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": "Validation failed: Content is too long (maximum is 150000 characters)"})
		return false
	}
	writeJSON(w, http.StatusOK, f.store(c, conv, req.Content, mt, req.Private, req.ContentAttributes))
	return true
}

func (f *fakeChatwoot) toggleStatus(w http.ResponseWriter, r *http.Request, conv int64, c *fakeConversation) bool {
	var req struct {
		Status string `json:"status"`
	}
	if json.NewDecoder(r.Body).Decode(&req) != nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": "invalid request body"})
		return false
	}
	switch req.Status {
	case ChatwootStatusOpen, ChatwootStatusPending, ChatwootStatusResolved, ChatwootStatusSnoozed:
		c.status = req.Status
	default:
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": "'" + req.Status + "' is not a valid status"})
		return false
	}
	writeJSON(w, http.StatusOK, map[string]any{"meta": map[string]any{}, "payload": map[string]any{
		"success": true, "conversation_id": conv, "current_status": c.status, "snoozed_until": nil,
	}})
	return true
}

const (
	cwToken   = "bot-token-123"
	cwAccount = int64(1)
	cwConv    = int64(42)
)

func newChatwootPair(t *testing.T, status string, maxNote int) (*fakeChatwoot, *Chatwoot, *ChatwootClient) {
	t.Helper()
	f, srv := newFakeChatwoot(t, cwToken, cwAccount)
	f.addConversation(cwConv, status)
	client, err := NewChatwootClient(ChatwootConfig{BaseURL: srv.URL + "/", Token: cwToken, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	target, err := NewChatwoot(ChatwootTargetConfig{Client: client, MaxNoteChars: maxNote, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return f, target, client
}

func chatwootTicket() Ticket {
	tk := testTicket()
	tk.Chatwoot = &ChatwootRef{AccountID: cwAccount, ConversationID: cwConv}
	return tk
}

func TestChatwootDeliverPostsNoteAndOpens(t *testing.T) {
	f, target, _ := newChatwootPair(t, ChatwootStatusPending, 0)
	f.addMessage(cwConv, "How do I export my invoices?", ChatwootIncoming, false)
	if err := target.Deliver(context.Background(), chatwootTicket()); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	notes := f.notes(cwConv)
	if len(notes) != 1 {
		t.Fatalf("%d notes, want 1", len(notes))
	}
	n := notes[0]
	if n.MessageType != ChatwootOutgoing || !strings.HasPrefix(n.Content, noteMarker("ho_01HX")+"\n") {
		t.Fatalf("note = %+v", n)
	}
	for _, want := range []string{"**Reason:** unanswerable", "[Billing](https://docs.example/billing)", "score 0.210", "**Customer**", "> How do I export my invoices?", "**Bot**", "id user-42 (verified)"} {
		if !strings.Contains(n.Content, want) {
			t.Errorf("note lacks %q:\n%s", want, n.Content)
		}
	}
	if !strings.Contains(string(n.ContentAttributes), `"infergate_ticket_id":"ho_01HX"`) {
		t.Errorf("content_attributes = %s", n.ContentAttributes)
	}
	if s := f.status(cwConv); s != ChatwootStatusOpen {
		t.Fatalf("status = %q, want open", s)
	}
}

func TestChatwootRetriesCreateExactlyOneNote(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(f *fakeChatwoot)
		// filler messages posted between the failed attempt and the retry
		filler int
	}{
		{"toggle fails after the note", func(f *fakeChatwoot) { f.failNext("POST toggle_status", 1) }, 0},
		{"status read fails after the note", func(f *fakeChatwoot) { f.failNext("GET conversation", 1) }, 0},
		{"note stored but its answer lost", func(f *fakeChatwoot) { f.loseNext("POST messages", 1) }, 0},
		{"note pushed beyond the first page", func(f *fakeChatwoot) { f.failNext("POST toggle_status", 1) }, 45},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, target, _ := newChatwootPair(t, ChatwootStatusPending, 0)
			tt.break_(f)
			err := target.Deliver(context.Background(), chatwootTicket())
			var de *DeliveryError
			if !errors.As(err, &de) || de.Permanent || de.Target != "chatwoot" {
				t.Fatalf("first Deliver = %v, want a retryable DeliveryError", err)
			}
			if de.Status == http.StatusServiceUnavailable && de.RetryAfter != 3*time.Second {
				t.Fatalf("RetryAfter = %s, want 3s", de.RetryAfter)
			}
			for i := range tt.filler {
				f.addMessage(cwConv, fmt.Sprintf("customer message %d", i), ChatwootIncoming, false)
			}
			for range 2 {
				if err := target.Deliver(context.Background(), chatwootTicket()); err != nil {
					t.Fatalf("retry: %v", err)
				}
			}
			if n := len(f.notes(cwConv)); n != 1 {
				t.Fatalf("%d notes after retries, want exactly 1", n)
			}
			if s := f.status(cwConv); s != ChatwootStatusOpen {
				t.Fatalf("status = %q, want open", s)
			}
		})
	}
}

func TestChatwootLeavesAHumansStatusAlone(t *testing.T) {
	for _, status := range []string{ChatwootStatusResolved, ChatwootStatusSnoozed, ChatwootStatusOpen} {
		t.Run(status, func(t *testing.T) {
			f, target, _ := newChatwootPair(t, status, 0)
			if err := target.Deliver(context.Background(), chatwootTicket()); err != nil {
				t.Fatalf("Deliver: %v", err)
			}
			if got := f.status(cwConv); got != status {
				t.Fatalf("status = %q, want it left at %q", got, status)
			}
			if n := len(f.notes(cwConv)); n != 1 {
				t.Fatalf("%d notes, want 1", n)
			}
		})
	}
}

func TestChatwootIgnoresSpoofedMarkers(t *testing.T) {
	f, target, _ := newChatwootPair(t, ChatwootStatusPending, 0)
	marker := noteMarker("ho_01HX")
	f.addMessage(cwConv, marker+"\nI am a note, trust me", ChatwootIncoming, false) // the customer typed it
	f.addMessage(cwConv, "see below\n"+marker, ChatwootOutgoing, true)              // marker not on the first line
	if err := target.Deliver(context.Background(), chatwootTicket()); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if n := len(f.notes(cwConv)); n != 2 {
		t.Fatalf("%d private notes, want the unrelated one and ours", n)
	}
}

func TestChatwootPermanentFailures(t *testing.T) {
	tests := []struct {
		name       string
		token      string
		ticket     func() Ticket
		wantStatus int
	}{
		{"bad token", "wrong", chatwootTicket, http.StatusUnauthorized},
		{"unknown conversation", cwToken, func() Ticket {
			tk := chatwootTicket()
			tk.Chatwoot.ConversationID = 999
			return tk
		}, http.StatusNotFound},
		{"not a Chatwoot ticket", cwToken, testTicket, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFakeChatwoot(t, cwToken, cwAccount)
			f.addConversation(cwConv, ChatwootStatusPending)
			client, err := NewChatwootClient(ChatwootConfig{BaseURL: srv.URL, Token: tt.token})
			if err != nil {
				t.Fatal(err)
			}
			target, _ := NewChatwoot(ChatwootTargetConfig{Client: client, Logger: slog.New(slog.DiscardHandler)})
			err = target.Deliver(context.Background(), tt.ticket())
			var de *DeliveryError
			if !errors.As(err, &de) || !de.Permanent || de.Status != tt.wantStatus {
				t.Fatalf("Deliver = %v, want a permanent DeliveryError with status %d", err, tt.wantStatus)
			}
			if n := len(f.notes(cwConv)); n != 0 {
				t.Fatalf("%d notes posted on a refused delivery", n)
			}
		})
	}
}

func TestChatwootHugeTranscriptFitsTheLimit(t *testing.T) {
	f, target, _ := newChatwootPair(t, ChatwootStatusPending, 0)
	tk := chatwootTicket()
	tk.Transcript = nil
	for i := range 400 {
		tk.Transcript = append(tk.Transcript, Message{Role: "user", Content: fmt.Sprintf("turn %d ", i) + strings.Repeat("é", 1000)})
	}
	if err := target.Deliver(context.Background(), tk); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	notes := f.notes(cwConv)
	if len(notes) != 1 {
		t.Fatalf("%d notes, want 1", len(notes))
	}
	c := notes[0].Content
	if !strings.Contains(c, "turn 399 ") || strings.Contains(c, "turn 0 ") || !strings.Contains(c, "earlier messages omitted") {
		t.Fatalf("note kept the wrong turns (first 300 chars: %q)", c[:300])
	}
}

func TestChatwootClient(t *testing.T) {
	f, _, client := newChatwootPair(t, ChatwootStatusPending, 0)
	ctx := context.Background()
	status, err := client.ConversationStatus(ctx, cwAccount, cwConv)
	if err != nil || status != ChatwootStatusPending {
		t.Fatalf("ConversationStatus = %q, %v; want pending", status, err)
	}
	m, err := client.SendMessage(ctx, cwAccount, cwConv, "Invoices are under Billing → Export.")
	if err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	if m.ID == 0 || m.MessageType != ChatwootOutgoing || m.Private || m.ConversationID != cwConv {
		t.Fatalf("SendMessage returned %+v", m)
	}
	f.mu.Lock()
	stored := f.convs[cwConv].messages
	f.mu.Unlock()
	if len(stored) != 1 || stored[0].Private || stored[0].Content != "Invoices are under Billing → Export." {
		t.Fatalf("stored = %+v", stored)
	}
	now, err := client.ToggleStatus(ctx, cwAccount, cwConv, ChatwootStatusOpen)
	if err != nil || now != ChatwootStatusOpen {
		t.Fatalf("ToggleStatus = %q, %v", now, err)
	}
	if status, _ := client.ConversationStatus(ctx, cwAccount, cwConv); status != ChatwootStatusOpen {
		t.Fatalf("status after toggle = %q", status)
	}
	_, err = client.SendMessage(ctx, cwAccount, cwConv, strings.Repeat("x", ChatwootMaxContentChars+1))
	var api *ChatwootAPIError
	if !errors.As(err, &api) || api.Status != http.StatusUnprocessableEntity || api.Retryable() || !strings.Contains(api.Message, "too long") {
		t.Fatalf("oversized SendMessage = %v, want a non-retryable 422 with Chatwoot's message", err)
	}
}

func TestChatwootClientPagesMessages(t *testing.T) {
	f, _, client := newChatwootPair(t, ChatwootStatusPending, 0)
	for i := range 30 {
		f.addMessage(cwConv, strconv.Itoa(i), ChatwootIncoming, false)
	}
	ctx := context.Background()
	latest, err := client.Messages(ctx, cwAccount, cwConv, 0)
	if err != nil || len(latest) != 20 || latest[0].Content != "10" || latest[19].Content != "29" {
		t.Fatalf("latest page: %d messages, err %v", len(latest), err)
	}
	older, err := client.Messages(ctx, cwAccount, cwConv, latest[0].ID)
	if err != nil || len(older) != 10 || older[0].Content != "0" || older[9].Content != "9" {
		t.Fatalf("older page: %d messages, err %v", len(older), err)
	}
}

func TestNewChatwootClientValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  ChatwootConfig
	}{
		{"no token", ChatwootConfig{BaseURL: "https://chat.example"}},
		{"relative url", ChatwootConfig{BaseURL: "chat.example", Token: "t"}},
		{"unparsable url", ChatwootConfig{BaseURL: "https://[::1", Token: "t"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewChatwootClient(tt.cfg); err == nil {
				t.Fatal("accepted an invalid config")
			}
		})
	}
	if _, err := NewChatwoot(ChatwootTargetConfig{}); err == nil {
		t.Fatal("NewChatwoot accepted a nil client")
	}
}

func TestChatwootRenderNote(t *testing.T) {
	long := Ticket{ID: "ho_9", Bot: "acme", Reason: "asked_for_human", ConversationID: "c9", User: User{}}
	for i := range 10 {
		long.Transcript = append(long.Transcript, Message{Role: []string{"user", "assistant"}[i%2], Content: fmt.Sprintf("message number %d with some text", i)})
	}
	full := RenderNote(long, 0)
	tests := []struct {
		name        string
		t           Ticket
		max         int
		want, avoid []string
	}{
		{"everything fits", chatwootTicket(), 0,
			[]string{noteMarker("ho_01HX") + "\n", "**Customer**", "**Bot**", "> I could not find", "1. [Billing](https://docs.example/billing) · billing.md · score 0.210", "> Invoices are emailed monthly."},
			[]string{"omitted"}},
		{"anonymous user, agent message, multi-line content", Ticket{ID: "x", User: User{}, Transcript: []Message{{Role: "agent", Content: "line one\nline two"}}}, 0,
			[]string{"anonymous", "**Agent**", "> line one\n> line two\n"}, nil},
		{"oldest dropped first", long, len(full) - 60,
			[]string{noteMarker("ho_9"), "message number 9 ", "earlier message"}, []string{"message number 0 "}},
		{"only the newest fits", long, utf8.RuneCountInString(RenderNote(Ticket{ID: "ho_9", Bot: "acme", Reason: "asked_for_human", ConversationID: "c9"}, 0)) + 120,
			[]string{"message number 9 ", "9 earlier messages omitted"}, []string{"message number 8 "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := RenderNote(tt.t, tt.max)
			if tt.max > 0 && utf8.RuneCountInString(got) > tt.max {
				t.Fatalf("note has %d characters, limit %d", utf8.RuneCountInString(got), tt.max)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("note lacks %q:\n%s", w, got)
				}
			}
			for _, a := range tt.avoid {
				if strings.Contains(got, a) {
					t.Errorf("note has %q:\n%s", a, got)
				}
			}
		})
	}
}

func TestChatwootRenderNoteNeverExceedsLimit(t *testing.T) {
	tk := chatwootTicket()
	tk.Detail = strings.Repeat("d", 5000)
	tk.Transcript = []Message{{Role: "user", Content: strings.Repeat("日本語", 2000)}}
	for _, max := range []int{50, 300, 1000, 2500, 7000} {
		got := RenderNote(tk, max)
		if n := utf8.RuneCountInString(got); n > max {
			t.Errorf("max %d: note has %d characters", max, n)
		}
		if !utf8.ValidString(got) {
			t.Errorf("max %d: truncation split a character", max)
		}
		if max >= 1000 && !strings.HasPrefix(got, noteMarker(tk.ID)+"\n") {
			t.Errorf("max %d: marker line lost", max)
		}
	}
}
