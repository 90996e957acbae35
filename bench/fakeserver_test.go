package bench

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeServer speaks OpenAI's wire format well enough to stand in for a
// real server: chat and text completions (SSE or JSON) and embeddings.
// Every reply is unique, so history sent back by multi-turn sessions can be
// checked against what was really sent.
type fakeServer struct {
	tokenDelay time.Duration // between streamed chunks
	failEvery  int           // every n-th request answers 503
	noUsage    bool          // never report usage
	routes     []string      // X-Infergate-Route values, round robin
	hang       bool          // stream headers, then nothing
	garbage    bool          // stream a chunk that is not JSON
	apiKey     string        // required bearer token, if set

	n          atomic.Int64
	mu         sync.Mutex
	sent       map[string]bool // replies sent
	badHistory int             // assistant messages that were never sent
	maxHistory int             // most assistant messages seen in one request
	bodies     []chatRequest
}

func startFake(t *testing.T, f *fakeServer) *httptest.Server {
	t.Helper()
	f.sent = map[string]bool{}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return srv
}

// seen returns what the server received. The lock matters even after
// the run: the race detector sees no ordering through the socket.
func (f *fakeServer) seen() (bodies []chatRequest, badHistory, maxHistory int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.bodies), f.badHistory, f.maxHistory
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := f.n.Add(1)
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "bad method or content type", http.StatusBadRequest)
		return
	}
	if f.apiKey != "" && r.Header.Get("Authorization") != "Bearer "+f.apiKey {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":{"message":"bad key","type":"auth"}}`)
		return
	}
	if len(f.routes) > 0 {
		w.Header().Set(RouteHeader, f.routes[int(n)%len(f.routes)])
	}
	if f.failEvery > 0 && n%int64(f.failEvery) == 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"error":{"message":"queue full","type":"overloaded"}}`)
		return
	}
	switch r.URL.Path {
	case "/v1/embeddings":
		f.embeddings(w, r)
	case "/v1/chat/completions", "/v1/completions":
		f.generate(w, r, n, r.URL.Path == "/v1/chat/completions")
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeServer) embeddings(w http.ResponseWriter, r *http.Request) {
	var req embedRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	type item struct {
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	}
	resp := struct {
		Data  []item `json:"data"`
		Usage *usage `json:"usage,omitempty"`
	}{}
	toks := 0
	for i, in := range req.Input {
		resp.Data = append(resp.Data, item{Index: i, Embedding: []float32{0.1, 0.2, 0.3}})
		toks += len(strings.Fields(in))
	}
	if !f.noUsage {
		resp.Usage = &usage{PromptTokens: toks, TotalTokens: toks}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(resp)
}

func (f *fakeServer) generate(w http.ResponseWriter, r *http.Request, n int64, chat bool) {
	var req chatRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	prompt := len(strings.Fields(req.Prompt))
	assistants := 0
	f.mu.Lock()
	for _, m := range req.Messages {
		prompt += len(strings.Fields(m.Content))
		if m.Role == "assistant" {
			assistants++
			if !f.sent[m.Content] {
				f.badHistory++
			}
		}
	}
	f.maxHistory = max(f.maxHistory, assistants)
	f.bodies = append(f.bodies, req)
	f.mu.Unlock()

	out := max(req.MaxTokens, 1)
	toks := make([]string, out)
	for i := range toks {
		toks[i] = fmt.Sprintf("r%dt%d ", n, i)
	}
	reply := strings.Join(toks, "")
	f.mu.Lock()
	f.sent[reply] = true
	f.mu.Unlock()
	u := &usage{PromptTokens: prompt, CompletionTokens: out, TotalTokens: prompt + out}
	if f.noUsage {
		u = nil
	}

	if !req.Stream {
		w.Header().Set("Content-Type", "application/json")
		var body map[string]any
		if chat {
			body = map[string]any{"choices": []any{map[string]any{"message": map[string]any{"role": "assistant", "content": reply}, "finish_reason": "length"}}}
		} else {
			body = map[string]any{"choices": []any{map[string]any{"text": reply, "finish_reason": "length"}}}
		}
		if u != nil {
			body["usage"] = u
		}
		json.NewEncoder(w).Encode(body)
		return
	}

	w.Header().Set("Content-Type", "text/event-stream")
	fl := w.(http.Flusher)
	send := func(v any) {
		b, _ := json.Marshal(v)
		fmt.Fprintf(w, "data: %s\n\n", b)
		fl.Flush()
	}
	if f.hang {
		fmt.Fprint(w, ": waiting\n\n")
		fl.Flush()
		<-r.Context().Done()
		return
	}
	if chat {
		send(map[string]any{"choices": []any{map[string]any{"delta": map[string]any{"role": "assistant", "content": ""}}}})
	}
	for i, tok := range toks {
		if f.garbage && i == 1 {
			fmt.Fprint(w, "data: {not json\n\n")
			fl.Flush()
			return
		}
		if f.tokenDelay > 0 {
			time.Sleep(f.tokenDelay)
		}
		var fin any
		if i == len(toks)-1 {
			fin = "length"
		}
		if chat {
			send(map[string]any{"choices": []any{map[string]any{"delta": map[string]any{"content": tok}, "finish_reason": fin}}})
		} else {
			send(map[string]any{"choices": []any{map[string]any{"text": tok, "finish_reason": fin}}})
		}
		if i%4 == 0 {
			fmt.Fprint(w, ": keepalive\n\n")
		}
	}
	if u != nil && req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		send(map[string]any{"choices": []any{}, "usage": u})
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
	fl.Flush()
}
