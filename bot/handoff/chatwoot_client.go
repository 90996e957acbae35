package handoff

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/infergate/infergate/internal/retryafter"
)

// Chatwoot conversation statuses (Conversation#status).
const (
	ChatwootStatusOpen     = "open"
	ChatwootStatusPending  = "pending"
	ChatwootStatusResolved = "resolved"
	ChatwootStatusSnoozed  = "snoozed"
)

// Chatwoot message types as its API returns them: integers
// (message_type_before_type_cast), while requests send the names.
const (
	ChatwootIncoming = 0
	ChatwootOutgoing = 1
	ChatwootActivity = 2
	ChatwootTemplate = 3
)

// maxChatwootBody bounds a response read from Chatwoot: a page of twenty
// messages of at most 150,000 characters each, with room for the JSON.
const maxChatwootBody = 16 << 20

// ChatwootConfig configures a client of one Chatwoot installation, acting
// as an agent bot (or any user) through its access token.
type ChatwootConfig struct {
	// BaseURL is the installation, e.g. https://chat.example.
	BaseURL string
	// Token is the agent bot's access token, sent as api_access_token.
	Token string
	// Timeout bounds one request; zero means DefaultRequestTimeout.
	Timeout time.Duration
	// Client sends the requests; nil means a client of its own.
	Client *http.Client
}

// ChatwootClient calls the part of Chatwoot's application API
// (/api/v1/accounts/{account}/conversations/…) that the bot uses.
type ChatwootClient struct {
	base    string
	token   string
	timeout time.Duration
	client  *http.Client
}

// ChatwootMessage is a message as Chatwoot's API returns it.
type ChatwootMessage struct {
	ID             int64  `json:"id"`
	Content        string `json:"content"`
	ConversationID int64  `json:"conversation_id"`
	MessageType    int    `json:"message_type"`
	Private        bool   `json:"private"`
	CreatedAt      int64  `json:"created_at"`
	// ContentAttributes is kept raw: its shape depends on the content type
	// and on the Chatwoot version.
	ContentAttributes json.RawMessage `json:"content_attributes,omitempty"`
}

// ChatwootAPIError is a non-2xx answer from Chatwoot.
type ChatwootAPIError struct {
	Method, Path string
	Status       int
	// Message is Chatwoot's error text ({"error": …} or
	// {"message": …}), or the start of the body.
	Message string
	// RetryAfter is Chatwoot's Retry-After on a retryable status.
	RetryAfter time.Duration
}

func (e *ChatwootAPIError) Error() string {
	return fmt.Sprintf("chatwoot: %s %s: status %d: %s", e.Method, e.Path, e.Status, e.Message)
}

// Retryable says whether the same request may succeed later (408, 429,
// 5xx); a 401, 404 or 422 will not.
func (e *ChatwootAPIError) Retryable() bool { return retryableStatus(e.Status) }

// NewChatwootClient returns a client for cfg.
func NewChatwootClient(cfg ChatwootConfig) (*ChatwootClient, error) {
	u, err := parseEndpoint("chatwoot base url", cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	if cfg.Token == "" {
		return nil, errors.New("handoff: chatwoot: an access token is required")
	}
	c := &ChatwootClient{base: strings.TrimRight(u.String(), "/"), token: cfg.Token, timeout: cfg.Timeout, client: cfg.Client}
	if c.timeout <= 0 {
		c.timeout = DefaultRequestTimeout
	}
	if c.client == nil {
		c.client = &http.Client{}
	}
	return c, nil
}

// SendMessage posts a reply the customer sees (outgoing, not private).
// The bot calls it only after ConversationStatus said pending.
func (c *ChatwootClient) SendMessage(ctx context.Context, account, conversation int64, content string) (ChatwootMessage, error) {
	return c.createMessage(ctx, account, conversation, createMessageRequest{Content: content, MessageType: "outgoing"})
}

// CreatePrivateNote posts a note only agents see, with optional
// content_attributes.
func (c *ChatwootClient) CreatePrivateNote(ctx context.Context, account, conversation int64, content string, attrs map[string]any) (ChatwootMessage, error) {
	return c.createMessage(ctx, account, conversation, createMessageRequest{Content: content, MessageType: "outgoing", Private: true, ContentAttributes: attrs})
}

type createMessageRequest struct {
	Content           string         `json:"content"`
	MessageType       string         `json:"message_type"`
	Private           bool           `json:"private"`
	ContentAttributes map[string]any `json:"content_attributes,omitempty"`
}

func (c *ChatwootClient) createMessage(ctx context.Context, account, conversation int64, req createMessageRequest) (ChatwootMessage, error) {
	var m ChatwootMessage
	err := c.do(ctx, http.MethodPost, conversationPath(account, conversation)+"/messages", nil, req, &m)
	return m, err
}

// Messages returns one page of a conversation's messages, oldest first:
// the latest twenty when before is 0, else the twenty before message id
// before (Chatwoot's MessageFinder).
func (c *ChatwootClient) Messages(ctx context.Context, account, conversation, before int64) ([]ChatwootMessage, error) {
	var q url.Values
	if before > 0 {
		q = url.Values{"before": {strconv.FormatInt(before, 10)}}
	}
	var resp struct {
		Payload []ChatwootMessage `json:"payload"`
	}
	if err := c.do(ctx, http.MethodGet, conversationPath(account, conversation)+"/messages", q, nil, &resp); err != nil {
		return nil, err
	}
	return resp.Payload, nil
}

// ConversationStatus returns the conversation's status: the bot answers
// only while it is pending, since open means a human has it.
func (c *ChatwootClient) ConversationStatus(ctx context.Context, account, conversation int64) (string, error) {
	var resp struct {
		Status string `json:"status"`
	}
	if err := c.do(ctx, http.MethodGet, conversationPath(account, conversation), nil, nil, &resp); err != nil {
		return "", err
	}
	if resp.Status == "" {
		return "", fmt.Errorf("chatwoot: conversation %d has no status in the response", conversation)
	}
	return resp.Status, nil
}

// ToggleStatus sets the conversation's status and returns the status
// Chatwoot reports afterwards.
func (c *ChatwootClient) ToggleStatus(ctx context.Context, account, conversation int64, status string) (string, error) {
	var resp struct {
		Payload struct {
			Success       bool   `json:"success"`
			CurrentStatus string `json:"current_status"`
		} `json:"payload"`
	}
	err := c.do(ctx, http.MethodPost, conversationPath(account, conversation)+"/toggle_status", nil, map[string]string{"status": status}, &resp)
	if err != nil {
		return "", err
	}
	return resp.Payload.CurrentStatus, nil
}

func conversationPath(account, conversation int64) string {
	return "/api/v1/accounts/" + strconv.FormatInt(account, 10) + "/conversations/" + strconv.FormatInt(conversation, 10)
}

// do sends one request with its own timeout and decodes a 2xx JSON answer
// into out; any other answer is a *ChatwootAPIError.
func (c *ChatwootClient) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("chatwoot: encode %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("chatwoot: %s %s: %w", method, path, err)
	}
	req.Header.Set("api_access_token", c.token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("chatwoot: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxChatwootBody))
	if err != nil {
		return fmt.Errorf("chatwoot: %s %s: read response: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &ChatwootAPIError{Method: method, Path: path, Status: resp.StatusCode, Message: chatwootErrorMessage(data)}
		if e.Retryable() {
			e.RetryAfter = retryafter.Parse(resp.Header.Get("Retry-After"), time.Now())
		}
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("chatwoot: %s %s: decode response: %w", method, path, err)
	}
	return nil
}

// chatwootErrorMessage extracts Chatwoot's error text: {"error": "…"}
// from authentication, {"message": "…"} from render_could_not_create_error.
func chatwootErrorMessage(body []byte) string {
	var e struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) == nil {
		if e.Error != "" {
			return e.Error
		}
		if e.Message != "" {
			return e.Message
		}
	}
	s := strings.TrimSpace(string(body))
	if len(s) > maxErrorBody {
		s = s[:maxErrorBody]
	}
	return s
}
