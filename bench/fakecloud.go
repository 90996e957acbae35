package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// FakeCloudConfig shapes a FakeCloud's answers.
type FakeCloudConfig struct {
	// FirstToken is the delay before the first token of a reply; each
	// request adds a uniform draw from [0, Jitter). A hosted API's TTFT is
	// a few hundred milliseconds and varies from request to request.
	FirstToken, Jitter time.Duration
	// TokensPerSecond is the decode speed, drawn once per request (a
	// shared deployment runs some requests faster than others). The zero
	// value sends every token at once after the first.
	TokensPerSecond LengthDist
	// DefaultMaxTokens is the reply length for a request that sets no
	// limit; 0 means 64.
	DefaultMaxTokens int
	// Models, when set, are the only model names accepted (others get
	// OpenAI's 404 model_not_found) and what GET /v1/models lists; empty
	// accepts any name.
	Models []string
	// APIKey, when set, must be sent as Authorization: Bearer APIKEY.
	APIKey string
	// Seed makes the replies' words reproducible.
	Seed uint64
}

// FakeCloud is a stand-in for a hosted OpenAI-compatible API, served over
// real HTTP so that a gateway's cloud client is exercised exactly as in
// production: POST /v1/chat/completions and /v1/completions (streamed as
// SSE chunks with stream_options.include_usage honoured, or whole), and
// GET /v1/models. It answers with the latency profile of its config and
// with exactly max_tokens (or max_completion_tokens) tokens of words,
// finishing "length", unless a stop sequence ends the reply first
// ("stop"); with response_format json_object or json_schema the reply is
// a JSON object that fits the limit. Parameters the OpenAI API does not
// define are refused with its 400, as the real API refuses them, so a
// client that leaks local-only fields (ignore_eos, grammar) is caught.
//
// It exists for what cannot reach a real cloud: the overload experiment
// (`infergate bench fake-upstream`) and tests. It is an http.Handler and
// safe for concurrent use.
type FakeCloud struct {
	cfg  FakeCloudConfig
	seq  atomic.Uint64
	reqs atomic.Int64

	mu  sync.Mutex
	rng *rand.Rand
}

// NewFakeCloud returns a fake cloud API with cfg.
func NewFakeCloud(cfg FakeCloudConfig) *FakeCloud {
	if cfg.DefaultMaxTokens <= 0 {
		cfg.DefaultMaxTokens = 64
	}
	cfg.Models = slices.Clone(cfg.Models)
	return &FakeCloud{cfg: cfg, rng: newRand(cfg.Seed, 7)}
}

// Requests is the number of generation requests received, valid or not.
func (f *FakeCloud) Requests() int64 { return f.reqs.Load() }

// oaGenRequest is the request body of /chat/completions and /completions:
// every top-level parameter OpenAI documents for them, so that an unknown
// one can be refused as the real API refuses it. The ones the fake does
// not act on are kept raw.
type oaGenRequest struct {
	Model               string          `json:"model"`
	Messages            []oaMessage     `json:"messages"`
	Prompt              json.RawMessage `json:"prompt"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Stream              bool            `json:"stream"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Stop           json.RawMessage `json:"stop"`
	N              *int            `json:"n"`
	ResponseFormat *struct {
		Type string `json:"type"`
	} `json:"response_format"`

	Temperature       json.RawMessage `json:"temperature"`
	TopP              json.RawMessage `json:"top_p"`
	Seed              json.RawMessage `json:"seed"`
	FrequencyPenalty  json.RawMessage `json:"frequency_penalty"`
	PresencePenalty   json.RawMessage `json:"presence_penalty"`
	LogitBias         json.RawMessage `json:"logit_bias"`
	Logprobs          json.RawMessage `json:"logprobs"`
	TopLogprobs       json.RawMessage `json:"top_logprobs"`
	User              json.RawMessage `json:"user"`
	Tools             json.RawMessage `json:"tools"`
	ToolChoice        json.RawMessage `json:"tool_choice"`
	ParallelToolCalls json.RawMessage `json:"parallel_tool_calls"`
	ServiceTier       json.RawMessage `json:"service_tier"`
	Store             json.RawMessage `json:"store"`
	Metadata          json.RawMessage `json:"metadata"`
	ReasoningEffort   json.RawMessage `json:"reasoning_effort"`
	Modalities        json.RawMessage `json:"modalities"`
	Prediction        json.RawMessage `json:"prediction"`
	Audio             json.RawMessage `json:"audio"`
	WebSearchOptions  json.RawMessage `json:"web_search_options"`
	Suffix            json.RawMessage `json:"suffix"` // completions
	Echo              json.RawMessage `json:"echo"`
	BestOf            json.RawMessage `json:"best_of"`
}

// oaMessage is a chat message; content is a string or an array of parts.
type oaMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
	Name    string          `json:"name,omitempty"`
	// Assistant tool calls and tool results, accepted and not acted on.
	ToolCalls  json.RawMessage `json:"tool_calls,omitempty"`
	ToolCallID string          `json:"tool_call_id,omitempty"`
	Refusal    json.RawMessage `json:"refusal,omitempty"`
}

// oaError writes OpenAI's error shape with its status.
func oaError(w http.ResponseWriter, status int, typ, param, code, format string, args ...any) {
	body := map[string]any{"message": fmt.Sprintf(format, args...), "type": typ, "param": nil, "code": nil}
	if param != "" {
		body["param"] = param
	}
	if code != "" {
		body["code"] = code
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": body})
}

// ServeHTTP implements http.Handler.
func (f *FakeCloud) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.cfg.APIKey != "" && r.Header.Get("Authorization") != "Bearer "+f.cfg.APIKey {
		oaError(w, http.StatusUnauthorized, "invalid_request_error", "", "invalid_api_key", "Incorrect API key provided.")
		return
	}
	switch {
	case r.URL.Path == "/v1/models" && r.Method == http.MethodGet:
		f.models(w)
	case r.URL.Path == "/v1/chat/completions" || r.URL.Path == "/v1/completions":
		if r.Method != http.MethodPost {
			oaError(w, http.StatusMethodNotAllowed, "invalid_request_error", "", "", "Use POST for %s.", r.URL.Path)
			return
		}
		f.reqs.Add(1)
		f.generate(w, r, r.URL.Path == "/v1/chat/completions")
	default:
		oaError(w, http.StatusNotFound, "invalid_request_error", "", "unknown_url", "Unknown request URL: %s %s.", r.Method, r.URL.Path)
	}
}

func (f *FakeCloud) models(w http.ResponseWriter) {
	data := []map[string]any{}
	for _, m := range f.cfg.Models {
		data = append(data, map[string]any{"id": m, "object": "model", "created": 1700000000, "owned_by": "fake-cloud"})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data})
}

// reply is one generation as the fake will send it.
type reply struct {
	tokens     []string
	finish     string // "length" or "stop"
	prompt     int    // prompt tokens, estimated at four characters each
	firstToken time.Duration
	perToken   time.Duration
}

func (f *FakeCloud) generate(w http.ResponseWriter, r *http.Request, chat bool) {
	var req oaGenRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		// The real API names the unknown argument; so does the decoder.
		oaError(w, http.StatusBadRequest, "invalid_request_error", "", "", "We could not parse the JSON body of your request: %v.", err)
		return
	}
	if req.Model == "" {
		oaError(w, http.StatusBadRequest, "invalid_request_error", "model", "", "You must provide a model parameter.")
		return
	}
	if len(f.cfg.Models) > 0 && !slices.Contains(f.cfg.Models, req.Model) {
		oaError(w, http.StatusNotFound, "invalid_request_error", "model", "model_not_found", "The model `%s` does not exist or you do not have access to it.", req.Model)
		return
	}
	promptChars, bad := promptLength(&req, chat)
	if bad != nil {
		oaError(w, http.StatusBadRequest, "invalid_request_error", bad.param, "", "%s", bad.msg)
		return
	}
	if req.N != nil && *req.N != 1 {
		oaError(w, http.StatusBadRequest, "invalid_request_error", "n", "", "This fake API generates one choice per request.")
		return
	}
	if req.StreamOptions != nil && !req.Stream {
		oaError(w, http.StatusBadRequest, "invalid_request_error", "stream_options", "", "The 'stream_options' parameter is only allowed when 'stream' is enabled.")
		return
	}
	stops, serr := parseStop(req.Stop)
	if serr != nil {
		oaError(w, http.StatusBadRequest, "invalid_request_error", "stop", "", "%v", serr)
		return
	}
	limit := f.cfg.DefaultMaxTokens
	for _, p := range []*int{req.MaxTokens, req.MaxCompletionTokens} {
		if p != nil {
			if *p < 1 {
				oaError(w, http.StatusBadRequest, "invalid_request_error", "max_tokens", "integer_below_min_value", "Invalid 'max_tokens': integer below minimum value. Expected a value >= 1, but got %d instead.", *p)
				return
			}
			limit = *p
		}
	}
	jsonMode := req.ResponseFormat != nil && (req.ResponseFormat.Type == "json_object" || req.ResponseFormat.Type == "json_schema")
	rep := f.compose(limit, jsonMode, stops)
	rep.prompt = max(1, (promptChars+3)/4)

	id := f.seq.Add(1)
	meta := chunkMeta{created: time.Now().Unix(), model: req.Model, chat: chat}
	if chat {
		meta.id, meta.object = "chatcmpl-fake"+strconv.FormatUint(id, 10), "chat.completion"
	} else {
		meta.id, meta.object = "cmpl-fake"+strconv.FormatUint(id, 10), "text_completion"
	}
	if req.Stream {
		f.stream(w, r, &meta, &rep, req.StreamOptions != nil && req.StreamOptions.IncludeUsage)
		return
	}
	// Not streamed: the whole reply once it would have been generated.
	if !wait(r, rep.firstToken+time.Duration(max(len(rep.tokens)-1, 0))*rep.perToken) {
		return
	}
	text := strings.Join(rep.tokens, "")
	var choice map[string]any
	if chat {
		choice = map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": text, "refusal": nil}, "logprobs": nil, "finish_reason": rep.finish}
	} else {
		choice = map[string]any{"index": 0, "text": text, "logprobs": nil, "finish_reason": rep.finish}
	}
	body := meta.fields()
	body["choices"] = []any{choice}
	body["usage"] = rep.usage()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body)
}

// requestProblem is a 400's message and the parameter it names.
type requestProblem struct{ param, msg string }

// promptLength checks the chat messages or the completions prompt and
// returns their length in characters, for the usage the fake reports.
func promptLength(req *oaGenRequest, chat bool) (int, *requestProblem) {
	// Each endpoint refuses the other's input, as the API does.
	switch {
	case chat && len(req.Prompt) > 0:
		return 0, &requestProblem{"prompt", "Unrecognized request argument supplied: prompt"}
	case !chat && req.Messages != nil:
		return 0, &requestProblem{"messages", "Unrecognized request argument supplied: messages"}
	}
	if !chat {
		var s string
		var list []string
		switch {
		case json.Unmarshal(req.Prompt, &s) == nil:
			return len(s), nil
		case json.Unmarshal(req.Prompt, &list) == nil && len(list) == 1:
			return len(list[0]), nil
		}
		return 0, &requestProblem{"prompt", "'prompt' must be a string (this fake API generates one choice per request)."}
	}
	if len(req.Messages) == 0 {
		return 0, &requestProblem{"messages", "'messages' must contain at least one message."}
	}
	n := 0
	for i, m := range req.Messages {
		switch m.Role {
		case "system", "developer", "user", "assistant", "tool":
		default:
			return 0, &requestProblem{fmt.Sprintf("messages.[%d].role", i), fmt.Sprintf("Invalid value: '%s'. Supported values are: 'system', 'developer', 'user', 'assistant' and 'tool'.", m.Role)}
		}
		text, err := contentText(m.Content)
		if err != nil {
			return 0, &requestProblem{fmt.Sprintf("messages.[%d].content", i), err.Error()}
		}
		n += len(text)
	}
	return n, nil
}

// parseStop reads "stop": null, a string or up to four strings.
func parseStop(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil || len(many) > 4 {
		return nil, errors.New("'stop' must be a string or an array of at most 4 strings")
	}
	return many, nil
}

// compose draws a reply of at most limit tokens and its timing.
func (f *FakeCloud) compose(limit int, jsonMode bool, stops []string) reply {
	f.mu.Lock()
	defer f.mu.Unlock()
	rep := reply{finish: "length", firstToken: f.cfg.FirstToken}
	if f.cfg.Jitter > 0 {
		rep.firstToken += time.Duration(f.rng.Int64N(int64(f.cfg.Jitter)))
	}
	if f.cfg.TokensPerSecond.Kind != "" {
		tps := max(f.cfg.TokensPerSecond.Sample(f.rng), 1)
		rep.perToken = time.Second / time.Duration(tps)
	}
	word := func(i int) string {
		w := words[f.rng.IntN(len(words))]
		if i == 0 {
			return w
		}
		return " " + w
	}
	if jsonMode {
		// An object that fits in limit tokens: {"answer":"words"}.
		if limit < 3 {
			rep.tokens = []string{`{"`, `"}`}[:limit]
			return rep
		}
		rep.tokens = append(rep.tokens, `{"answer":"`)
		for i := range limit - 2 {
			rep.tokens = append(rep.tokens, word(i))
		}
		rep.tokens = append(rep.tokens, `"}`)
		rep.finish = "stop"
		return rep
	}
	var text strings.Builder // kept only to look for stop sequences
	for i := range limit {
		tok := word(i)
		if len(stops) > 0 {
			text.WriteString(tok)
			if k := firstStop(text.String(), stops); k >= 0 {
				// The reply ends before the stop sequence, as the API
				// cuts it, even when the sequence began in an earlier
				// token.
				rep.tokens = cutTokens(append(rep.tokens, tok), k)
				rep.finish = "stop"
				return rep
			}
		}
		rep.tokens = append(rep.tokens, tok)
	}
	return rep
}

// cutTokens keeps the first n bytes of the tokens' concatenation.
func cutTokens(tokens []string, n int) []string {
	for i, t := range tokens {
		if n <= len(t) {
			if n == 0 {
				return tokens[:i]
			}
			return append(tokens[:i], t[:n])
		}
		n -= len(t)
	}
	return tokens
}

// firstStop is the offset of the earliest stop sequence in text, -1 if none.
func firstStop(text string, stops []string) int {
	first := -1
	for _, s := range stops {
		if k := strings.Index(text, s); s != "" && k >= 0 && (first < 0 || k < first) {
			first = k
		}
	}
	return first
}

func (rep *reply) usage() map[string]any {
	return map[string]any{
		"prompt_tokens": rep.prompt, "completion_tokens": len(rep.tokens), "total_tokens": rep.prompt + len(rep.tokens),
		"prompt_tokens_details":     map[string]any{"cached_tokens": 0, "audio_tokens": 0},
		"completion_tokens_details": map[string]any{"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
	}
}

// chunkMeta is what every object of one response repeats.
type chunkMeta struct {
	id, object, model string
	created           int64
	chat              bool
}

func (m *chunkMeta) fields() map[string]any {
	return map[string]any{"id": m.id, "object": m.object, "created": m.created, "model": m.model, "system_fingerprint": "fp_fakecloud"}
}

// stream sends rep as server-sent events at its pace: OpenAI's chunk
// objects, the usage chunk (empty choices) when asked for, then [DONE].
func (f *FakeCloud) stream(w http.ResponseWriter, r *http.Request, meta *chunkMeta, rep *reply, includeUsage bool) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()
	object := meta.object
	if meta.chat {
		object = "chat.completion.chunk"
	}
	var buf bytes.Buffer
	send := func(choices []any, usage any) bool {
		c := meta.fields()
		c["object"], c["choices"] = object, choices
		if includeUsage {
			c["usage"] = usage // null on every chunk but the last, as OpenAI sends it
		}
		buf.Reset()
		buf.WriteString("data: ")
		_ = json.NewEncoder(&buf).Encode(c) // ends in "\n"
		buf.WriteString("\n")
		if _, err := w.Write(buf.Bytes()); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	choice := func(text string, finish any, first bool) []any {
		if !meta.chat {
			return []any{map[string]any{"index": 0, "text": text, "logprobs": nil, "finish_reason": finish}}
		}
		delta := map[string]any{}
		if first {
			delta = map[string]any{"role": "assistant", "content": "", "refusal": nil}
		} else if finish == nil {
			delta = map[string]any{"content": text}
		}
		return []any{map[string]any{"index": 0, "delta": delta, "logprobs": nil, "finish_reason": finish}}
	}

	start := time.Now()
	if !wait(r, rep.firstToken) {
		return
	}
	if meta.chat && !send(choice("", nil, true), nil) {
		return
	}
	for i, tok := range rep.tokens {
		// Paced from the first token, so that a slow write does not slow
		// the schedule: the decode speed is the server's, not the reader's.
		if !wait(r, time.Until(start.Add(rep.firstToken+time.Duration(i)*rep.perToken))) {
			return
		}
		if !send(choice(tok, nil, false), nil) {
			return
		}
	}
	if !send(choice("", rep.finish, false), nil) {
		return
	}
	if includeUsage && !send([]any{}, rep.usage()) {
		return
	}
	_, _ = w.Write([]byte("data: [DONE]\n\n"))
	_ = rc.Flush()
}

// wait sleeps d unless the client goes away first; it reports whether to
// go on.
func wait(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return r.Context().Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}
