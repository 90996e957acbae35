package router

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infergate/infergate/batcher"
	"github.com/infergate/infergate/internal/testenv"
	"github.com/infergate/infergate/llm"
	"github.com/infergate/infergate/models"
	"github.com/infergate/infergate/upstream"
)

const embedModel = "minilm"

// embedBatcher loads the real embedding test model: one input sequence at
// a time and no queue behind it, so that one request in flight fills it.
func embedBatcher(t *testing.T) *batcher.Batcher {
	t.Helper()
	path, err := models.TestModelPath(models.MiniLMModel)
	if err != nil {
		testenv.Missing(t, "test model missing: %v", err)
	}
	b, err := batcher.New(batcher.Config{ID: embedModel, ModelPath: path, Embedding: true, Parallel: 1, QueueLen: 0, Threads: 1, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// embedAPI is a hosted embeddings API on 127.0.0.1 speaking OpenAI's
// /v1/embeddings, that computes the identical model: it runs the same
// model file, as a TEI or vLLM server of all-MiniLM-L6-v2 would. While
// failing is set it answers 500.
type embedAPI struct {
	srv     *httptest.Server
	calls   atomic.Int64
	failing atomic.Bool
}

func newEmbedAPI(t *testing.T) *embedAPI {
	t.Helper()
	engine := embedBatcher(t)
	c := &embedAPI{}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		var req struct {
			Model          string   `json:"model"`
			Input          []string `json:"input"`
			EncodingFormat string   `json:"encoding_format"`
		}
		if r.URL.Path != "/v1/embeddings" || json.NewDecoder(r.Body).Decode(&req) != nil || req.Model != "all-MiniLM-L6-v2" {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":{"message":"bad request","type":"invalid_request_error","param":null,"code":null}}`))
			return
		}
		if c.failing.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			w.Write([]byte(`{"error":{"message":"The server had an error","type":"server_error","param":null,"code":null}}`))
			return
		}
		res, err := engine.Embed(r.Context(), llm.EmbedRequest{Texts: req.Input})
		if err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"error":{"message":"overloaded","type":"server_error","param":null,"code":null}}`))
			return
		}
		type item struct {
			Object    string    `json:"object"`
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		}
		out := struct {
			Object string `json:"object"`
			Data   []item `json:"data"`
			Model  string `json:"model"`
			Usage  struct {
				PromptTokens int `json:"prompt_tokens"`
				TotalTokens  int `json:"total_tokens"`
			} `json:"usage"`
		}{Object: "list", Model: req.Model}
		for i, v := range res.Vectors {
			out.Data = append(out.Data, item{Object: "embedding", Index: i, Embedding: v})
		}
		out.Usage.PromptTokens, out.Usage.TotalTokens = res.PromptTokens, res.PromptTokens
		json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

// client is a real upstream client of the fake, declaring it to compute
// the given local models' embeddings (and to serve the chat model "m").
func (c *embedAPI) client(t *testing.T, name string, declared ...string) *upstream.Client {
	t.Helper()
	em := map[string]string{}
	for _, m := range declared {
		em[m] = "all-MiniLM-L6-v2"
	}
	cl, err := upstream.New(upstream.Config{Name: name, Kind: upstream.APIOpenAI, BaseURL: c.srv.URL + "/v1",
		Models: map[string]string{"m": "gpt-test"}, EmbeddingModels: em}, upstream.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.CloseIdleConnections)
	return cl
}

func cosine(a, b []float32) float64 {
	var dot float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
	}
	return dot // both are unit length
}

// fillQueue keeps the local engine busy with one large request until the
// test ends, and returns once a request now would be refused. The request
// is sized from the engine's measured speed to last about three seconds,
// on a fast machine as on a loaded one: long enough for the checks made
// meanwhile (which end by checking that it still runs), short enough for
// the cleanup to wait for it, as a decode in progress is not interrupted.
func fillQueue(t *testing.T, b *batcher.Batcher) {
	t.Helper()
	text := strings.Repeat("the quick brown fox jumps over the lazy dog ", 14)
	probe := make([]string, 8)
	for i := range probe {
		probe[i] = text
	}
	start := time.Now()
	if _, err := b.Embed(context.Background(), llm.EmbedRequest{Texts: probe}); err != nil {
		t.Fatal(err)
	}
	perText := time.Since(start) / time.Duration(len(probe))
	texts := make([]string, max(8, int(3*time.Second/max(perText, time.Microsecond))))
	for i := range texts {
		texts[i] = text + strconv.Itoa(i)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = b.Embed(ctx, llm.EmbedRequest{Texts: texts})
	}()
	t.Cleanup(func() { cancel(); <-done })
	testenv.Eventually(t, 10*time.Second, b.QueueFull, "the local engine's queue never filled")
}

// TestEmbedRouterSpillsOnlyWhenLocalCannot: embeddings go to the upstream
// declared to compute the identical model only while the local engine
// cannot take them (queue full, or closed), and its vectors match the
// local model's; what must stay local stays local.
func TestEmbedRouterSpillsOnlyWhenLocalCannot(t *testing.T) {
	local := embedBatcher(t)
	cloud := newEmbedAPI(t)
	undeclared := newEmbedAPI(t)
	breaker := NewBreaker(BreakerConfig{FailureThreshold: 1, Cooldown: time.Hour}.withDefaults(), nil)
	e, err := NewEmbedRouter(embedModel, EmbedOptions{Local: local, Logger: quiet, Clouds: []Cloud{
		{Upstream: undeclared.client(t, "other", "another-model")}, // serves a different model: never used
		{Upstream: cloud.client(t, "emb", embedModel), Breaker: breaker},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Upstreams(); len(got) != 1 || got[0] != "emb" {
		t.Fatalf("upstreams %v, want only the one declared for %s", got, embedModel)
	}
	ctx := context.Background()
	texts := []string{"How do I reset my password?", "Where is my invoice?"}

	want, route, err := e.Embed(ctx, llm.EmbedRequest{Texts: texts})
	if err != nil || route != llm.RouteLocal || cloud.calls.Load() != 0 {
		t.Fatalf("local engine free: route %q, err %v, %d cloud calls", route, err, cloud.calls.Load())
	}

	t.Run("queue full", func(t *testing.T) {
		fillQueue(t, local)
		// What must stay local is refused for overload, not sent.
		for name, tc := range map[string]struct {
			ctx context.Context
			req llm.EmbedRequest
		}{
			"local-only": {WithPolicy(ctx, PolicyLocalOnly), llm.EmbedRequest{Texts: texts}},
			"token ids":  {ctx, llm.EmbedRequest{Tokens: [][]int32{{101, 2129, 102}}}},
			"truncate":   {ctx, llm.EmbedRequest{Texts: texts, Truncate: true}},
		} {
			_, route, err := e.Embed(tc.ctx, tc.req)
			var over *llm.OverloadedError
			if !errors.As(err, &over) || route != "" && route != llm.RouteLocal {
				t.Errorf("%s: route %q, err %v; want the local engine's overload", name, route, err)
			}
		}
		if n := cloud.calls.Load(); n != 0 {
			t.Fatalf("%d requests that must stay local reached the cloud", n)
		}

		got, route, err := e.Embed(ctx, llm.EmbedRequest{Texts: texts})
		if err != nil || route != "cloud:emb" || cloud.calls.Load() != 1 {
			t.Fatalf("queue full: route %q, err %v, %d cloud calls", route, err, cloud.calls.Load())
		}
		for i := range want.Vectors {
			if c := cosine(got.Vectors[i], want.Vectors[i]); c < 0.999 {
				t.Errorf("input %d: cloud vector's cosine with the local one %.5f; the models are declared identical", i, c)
			}
		}
		if got.PromptTokens != want.PromptTokens {
			t.Errorf("prompt tokens: cloud %d, local %d", got.PromptTokens, want.PromptTokens)
		}

		// The cloud fails: the local engine is asked again and refuses,
		// and the client sees its overload (a 429 with Retry-After).
		cloud.failing.Store(true)
		_, _, err = e.Embed(ctx, llm.EmbedRequest{Texts: texts})
		var over *llm.OverloadedError
		var nr *NoRouteError
		if !errors.As(err, &nr) || !errors.As(err, &over) || !errors.Is(err, ErrNoRoute) {
			t.Errorf("cloud failing, queue full: %v; want a NoRouteError holding the overload", err)
		}
		if breaker.State() != Open {
			t.Errorf("breaker %v after a 500 with threshold 1, want open", breaker.State())
		}
		calls := cloud.calls.Load()
		_, _, err = e.Embed(ctx, llm.EmbedRequest{Texts: texts})
		if !errors.Is(err, ErrBreakerOpen) || cloud.calls.Load() != calls {
			t.Errorf("open breaker: %v, %d calls after %d", err, cloud.calls.Load(), calls)
		}
		if !local.QueueFull() {
			t.Fatal("the local engine finished its large request during the checks, so they did not test a full queue")
		}
	})
	if n := undeclared.calls.Load(); n != 0 {
		t.Errorf("the upstream not declared for %s got %d requests", embedModel, n)
	}
}

// TestEmbedRouterLocalClosed: a local engine that has shut down sends
// interactive embeddings to the cloud; bulk ingestion and local-only
// requests get its error instead.
func TestEmbedRouterLocalClosed(t *testing.T) {
	local := embedBatcher(t)
	cloud := newEmbedAPI(t)
	e, err := NewEmbedRouter(embedModel, EmbedOptions{Local: local, Logger: quiet, Clouds: []Cloud{{Upstream: cloud.client(t, "emb", embedModel)}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := local.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	req := llm.EmbedRequest{Texts: []string{"Is the service down?"}}
	for name, tc := range map[string]struct {
		ctx context.Context
		req llm.EmbedRequest
	}{
		"local-only": {WithPolicy(ctx, PolicyLocalOnly), req},
		"bulk":       {ctx, llm.EmbedRequest{Texts: req.Texts, Priority: llm.PriorityBulk}},
	} {
		if _, route, err := e.Embed(tc.ctx, tc.req); !errors.Is(err, batcher.ErrClosed) || route != llm.RouteLocal {
			t.Errorf("%s: route %q, err %v; want the closed engine's error", name, route, err)
		}
	}
	if n := cloud.calls.Load(); n != 0 {
		t.Fatalf("%d requests that must stay local reached the cloud", n)
	}
	res, route, err := e.Embed(ctx, req)
	if err != nil || route != "cloud:emb" || len(res.Vectors) != 1 || len(res.Vectors[0]) != 384 {
		t.Fatalf("closed local engine: route %q, err %v, %d vectors", route, err, len(res.Vectors))
	}
	cloud.failing.Store(true)
	if _, _, err := e.Embed(ctx, req); !errors.Is(err, batcher.ErrClosed) || !errors.Is(err, ErrNoRoute) {
		t.Errorf("closed local engine, failing cloud: %v", err)
	}
}

func TestNewEmbedRouterNeedsLocal(t *testing.T) {
	if _, err := NewEmbedRouter(embedModel, EmbedOptions{}); !errors.Is(err, ErrConfig) {
		t.Errorf("no local engine: %v", err)
	}
}
