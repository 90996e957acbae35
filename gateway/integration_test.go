package gateway

import (
	"bufio"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infergate/infergate/batcher"
	"github.com/infergate/infergate/internal/testenv"
	"github.com/infergate/infergate/models"
)

// Integration tests: the real server on a loopback port in front of the
// real scheduler and the real test models (make models).

var (
	realOnce          sync.Once
	realChat, realEmb *batcher.Batcher
	realErr           error
	closers           []*batcher.Batcher
	closersMu         sync.Mutex
)

func TestMain(m *testing.M) {
	code := m.Run()
	closersMu.Lock()
	for _, b := range closers {
		_ = b.Close()
	}
	closersMu.Unlock()
	os.Exit(code)
}

func quietLogger() *slog.Logger {
	if os.Getenv("INFERGATE_TEST_LOG") != "" {
		return slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewJSONHandler(io.Discard, nil))
}

// newBatcher loads a test model; without the models in models/cache (run
// make models) the test is skipped, or fails under CI.
func newBatcher(t testing.TB, name string, cfg batcher.Config) *batcher.Batcher {
	t.Helper()
	path, err := models.TestModelPath(name)
	if err != nil {
		testenv.Missing(t, "test model missing: %v", err)
	}
	cfg.ModelPath = path
	cfg.Threads = 1 // CI machines are small and shared; the test models are tiny
	cfg.Logger = quietLogger()
	b, err := batcher.New(cfg)
	if err != nil {
		t.Fatalf("loading %s: %v", name, err)
	}
	closersMu.Lock()
	closers = append(closers, b)
	closersMu.Unlock()
	return b
}

func realModels(t testing.TB) (*batcher.Batcher, *batcher.Batcher) {
	t.Helper()
	for _, name := range []string{models.StoriesModel, models.MiniLMModel} {
		if _, err := models.TestModelPath(name); err != nil {
			testenv.Missing(t, "test model missing: %v", err)
		}
	}
	realOnce.Do(func() {
		defer func() {
			if p := recover(); p != nil {
				realErr = fmt.Errorf("%v", p)
			}
		}()
		realChat = newBatcher(t, models.StoriesModel, batcher.Config{Parallel: 4, CtxSize: 4 * 1024, QueueLen: 64})
		realEmb = newBatcher(t, models.MiniLMModel, batcher.Config{Embedding: true, Parallel: 4, QueueLen: 64})
	})
	if realErr != nil || realChat == nil {
		t.Fatalf("loading the test models failed: %v", realErr)
	}
	return realChat, realEmb
}

func modelOf(b *batcher.Batcher, kind ModelKind) Model {
	m := Model{ID: b.ModelID(), Kind: kind, VocabSize: b.Info().VocabSize}
	if kind == KindChat {
		m.Generator, m.ContextLength = Local{B: b}, b.SeqCtx()
	} else {
		m.Embedder, m.Dimensions, m.ContextLength = Local{B: b}, b.Info().EmbeddingSize, b.Info().ContextTrain
	}
	return m
}

func realConfig(t testing.TB) Config {
	chat, emb := realModels(t)
	return Config{
		Models:    []Model{modelOf(chat, KindChat), modelOf(emb, KindEmbedding)},
		Keys:      []APIKey{{Name: "test", Hash: HashKey("sk-test")}, {Name: "slow", Hash: HashKey("sk-slow"), RequestsPerMinute: 1}},
		AdminKeys: []KeyHash{HashKey("sk-admin")},
		Limits:    Limits{MaxBodyBytes: 64 << 10, MaxMessages: 8},
		Logger:    quietLogger(),
		Version:   "integration",
	}
}

const key = "sk-test"

func chatBody(extra string) string {
	return `{"model":"stories260K","messages":[{"role":"system","content":"You tell stories."},{"role":"user","content":"Once upon a time"}]` + extra + `}`
}

func TestIntegrationChat(t *testing.T) {
	_, base := startServer(t, realConfig(t))

	resp, body := do(t, "POST", base+"/v1/chat/completions", key, chatBody(`,"max_tokens":6,"temperature":0`))
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var c chatCompletion
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Choices) != 1 || c.Choices[0].Message.Content == "" || c.Choices[0].FinishReason != "length" ||
		c.Usage.CompletionTokens != 6 || c.Usage.PromptTokens < 5 || c.Usage.TotalTokens != c.Usage.PromptTokens+6 {
		t.Fatalf("%s", body)
	}
	if resp.Header.Get("X-Infergate-Route") != "local" || resp.Header.Get("X-Request-Id") == "" {
		t.Errorf("headers %v", resp.Header)
	}
	greedy := c.Choices[0].Message.Content

	// The same prompt again: greedy decoding repeats itself, and the
	// prompt now comes from the prefix cache.
	_, body = do(t, "POST", base+"/v1/chat/completions", key, chatBody(`,"max_tokens":6,"temperature":0`))
	var c2 chatCompletion
	_ = json.Unmarshal(body, &c2)
	if c2.Choices[0].Message.Content != greedy {
		t.Errorf("greedy output changed: %q then %q", greedy, c2.Choices[0].Message.Content)
	}
	if c2.Usage.PromptTokensDetails.CachedTokens == 0 {
		t.Errorf("no cached tokens on a repeated prompt: %+v", c2.Usage)
	}

	// Seeded sampling is reproducible.
	outs := map[string]bool{}
	for range 2 {
		_, body := do(t, "POST", base+"/v1/chat/completions", key, chatBody(`,"max_tokens":8,"temperature":1,"seed":1234`))
		var c chatCompletion
		_ = json.Unmarshal(body, &c)
		outs[c.Choices[0].Message.Content] = true
	}
	if len(outs) != 1 {
		t.Errorf("seeded sampling differs: %v", outs)
	}

	// Streamed, with usage.
	for _, stream := range []string{`,"stream":true`, `,"stream":true,"stream_options":{"include_usage":true}`} {
		resp, body = do(t, "POST", base+"/v1/chat/completions", key, chatBody(`,"max_tokens":6,"temperature":0`+stream))
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		events := sseEvents(t, strings.NewReader(string(body)))
		if events[len(events)-1] != "[DONE]" {
			t.Fatalf("no [DONE]: %q", events)
		}
		var text strings.Builder
		var finish string
		var u *usage
		for _, ev := range events[:len(events)-1] {
			var ch chunk
			if err := json.Unmarshal([]byte(ev), &ch); err != nil {
				t.Fatalf("%q: %v", ev, err)
			}
			if ch.Usage != nil {
				u = ch.Usage
				continue
			}
			if d := ch.Choices[0].Delta; d.Content != nil {
				text.WriteString(*d.Content)
			}
			if f := ch.Choices[0].FinishReason; f != nil {
				finish = *f
			}
		}
		if text.String() != greedy || finish != "length" {
			t.Errorf("streamed %q (%s), non-streamed %q", text.String(), finish, greedy)
		}
		if strings.Contains(stream, "include_usage") && (u == nil || u.CompletionTokens != 6) {
			t.Errorf("usage %+v", u)
		}
	}
}

func TestIntegrationResponseFormat(t *testing.T) {
	_, base := startServer(t, realConfig(t))
	schema := `{"type":"json_schema","json_schema":{"name":"verdict","strict":true,"schema":{"type":"object","properties":{"answer":{"enum":["yes","no"]},"n":{"type":"integer","minimum":0}},"required":["answer","n"],"additionalProperties":false}}}`
	resp, body := do(t, "POST", base+"/v1/chat/completions", key, chatBody(`,"max_tokens":48,"seed":7,"response_format":`+schema))
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var c chatCompletion
	_ = json.Unmarshal(body, &c)
	out := c.Choices[0].Message.Content
	var v struct {
		Answer string `json:"answer"`
		N      *int   `json:"n"`
	}
	if c.Choices[0].FinishReason == "stop" {
		if err := json.Unmarshal([]byte(out), &v); err != nil || (v.Answer != "yes" && v.Answer != "no") || v.N == nil || *v.N < 0 {
			t.Errorf("output %q does not match the schema: %v", out, err)
		}
	} else if !strings.HasPrefix(out, `{`) {
		t.Errorf("output %q (finish %s) does not start as the schema's object", out, c.Choices[0].FinishReason)
	}

	resp, body = do(t, "POST", base+"/v1/chat/completions", key, chatBody(`,"max_tokens":40,"seed":3,"response_format":{"type":"json_object"}`))
	_ = json.Unmarshal(body, &c)
	out = c.Choices[0].Message.Content
	if resp.StatusCode != 200 || !strings.HasPrefix(out, "{") || (c.Choices[0].FinishReason == "stop" && !json.Valid([]byte(out))) {
		t.Errorf("json_object: %d %q (%s)", resp.StatusCode, out, c.Choices[0].FinishReason)
	}

	resp, body = do(t, "POST", base+"/v1/chat/completions", key, chatBody(`,"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"string","pattern":"a+"}}}`))
	wantError(t, resp, body, 400, TypeInvalidRequest, "unsupported_value")
}

// TestIntegrationSchemaBeyondRepetitionLimit: schemas with counts above
// llama.cpp's repetition limit of 2000 reach its real grammar parser and
// are served (maxLength 5000 was a 500); a schema that cannot be sampled
// is the client's 400.
func TestIntegrationSchemaBeyondRepetitionLimit(t *testing.T) {
	_, base := startServer(t, realConfig(t))
	for _, tc := range []struct{ schema, starts string }{
		{`{"type":"string","maxLength":5000}`, `"`},
		{`{"type":"string","minLength":2500,"maxLength":1000000}`, `"`},
		{`{"type":"array","items":{"type":"integer"},"minItems":2001}`, `[`},
		{`{"type":"object","properties":{"a":{"type":"string","maxLength":4357},"b":{"type":"array","items":{"type":"string","maxLength":3000},"maxItems":2500}},"required":["a","b"]}`, `{`},
	} {
		rf := `{"type":"json_schema","json_schema":{"name":"s","schema":` + tc.schema + `}}`
		resp, body := do(t, "POST", base+"/v1/chat/completions", key, chatBody(`,"max_tokens":8,"seed":1,"response_format":`+rf))
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d %s", tc.schema, resp.StatusCode, body)
			continue
		}
		var c chatCompletion
		if err := json.Unmarshal(body, &c); err != nil || !strings.HasPrefix(c.Choices[0].Message.Content, tc.starts) {
			t.Errorf("%s: output %s does not start with %s (%v)", tc.schema, body, tc.starts, err)
		}
	}
	rf := `{"type":"json_schema","json_schema":{"name":"s","schema":{"$defs":{"a":{"anyOf":[{"$ref":"#/$defs/a"},{"type":"null"}]}},"$ref":"#/$defs/a"}}}`
	resp, body := do(t, "POST", base+"/v1/chat/completions", key, chatBody(`,"max_tokens":8,"response_format":`+rf))
	if e := wantError(t, resp, body, 400, TypeInvalidRequest, "unsupported_value"); e.Error.Param == nil || *e.Error.Param != "response_format" {
		t.Errorf("left-recursive schema: %s", body)
	}
}

// TestIntegrationPrefixCacheHitRatio sends one long prompt three times to
// the real scheduler: the repeats are served mostly from the prefix cache
// (reused over computed tokens would be about 2, hence the old 23.2), and
// /metrics and /admin/status report the fraction of prompt tokens reused,
// reused / (reused + computed), which is at most 1.
func TestIntegrationPrefixCacheHitRatio(t *testing.T) {
	b := newBatcher(t, models.StoriesModel, batcher.Config{Parallel: 2, CtxSize: 2048})
	cfg := realConfig(t)
	cfg.Models = []Model{modelOf(b, KindChat)}
	_, base := startServer(t, cfg)

	prompt := strings.Repeat("Once upon a time there was a little dog named Max who loved to run. ", 8)
	body := `{"prompt":"` + prompt + `","max_tokens":2,"temperature":0}`
	var cached []int
	for range 3 {
		resp, raw := do(t, "POST", base+"/v1/completions", key, body)
		var c textCompletion
		if resp.StatusCode != 200 || json.Unmarshal(raw, &c) != nil {
			t.Fatalf("%d %s", resp.StatusCode, raw)
		}
		cached = append(cached, c.Usage.PromptTokensDetails.CachedTokens)
	}
	st := b.Stats()
	if cached[1] == 0 || cached[2] == 0 || st.PrefixHitTokens < uint64(cached[1]+cached[2]) || st.PromptTokens == 0 {
		t.Fatalf("the repeated prompt was not served from the cache: cached %v, stats %+v", cached, st)
	}
	want := float64(st.PrefixHitTokens) / float64(st.PrefixHitTokens+st.PromptTokens)

	_, metrics := do(t, "GET", base+"/metrics", "", "")
	got, ok := metricValue(string(metrics), `infergate_prefix_cache_hit_ratio{kind="chat",model="`+b.ModelID()+`"}`)
	if !ok || got < 0 || got > 1 || math.Abs(got-want) > 1e-9 {
		t.Errorf("/metrics: ratio %v (found %v), want %v from %d reused and %d computed", got, ok, want, st.PrefixHitTokens, st.PromptTokens)
	}

	resp, raw := do(t, "GET", base+"/admin/status", "sk-admin", "")
	var status struct {
		Models []modelStatus `json:"models"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(raw, &status) != nil || len(status.Models) != 1 {
		t.Fatalf("%d %s", resp.StatusCode, raw)
	}
	ms := status.Models[0]
	if r := ms.PrefixCacheHitRatio; r < 0 || r > 1 || math.Abs(r-want) > 1e-9 ||
		ms.PrefixCacheHitTokens != st.PrefixHitTokens || ms.PromptTokens != st.PromptTokens {
		t.Errorf("/admin/status: %+v, want ratio %v from stats %+v", ms, want, st)
	}
}

// metricValue finds the sample of series (name and labels, as written) in
// a Prometheus text exposition.
func metricValue(text, series string) (float64, bool) {
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
			return v, err == nil
		}
	}
	return 0, false
}

func TestIntegrationCompletions(t *testing.T) {
	chat, _ := realModels(t)
	_, base := startServer(t, realConfig(t))
	resp, body := do(t, "POST", base+"/v1/completions", key, `{"model":"stories260K","prompt":"Once upon a time","max_tokens":5,"temperature":0,"echo":true}`)
	var c textCompletion
	if resp.StatusCode != 200 || json.Unmarshal(body, &c) != nil {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if !strings.HasPrefix(c.Choices[0].Text, "Once upon a time") || len(c.Choices[0].Text) <= len("Once upon a time") || c.Usage.CompletionTokens != 5 {
		t.Errorf("%s", body)
	}

	resp, body = do(t, "POST", base+"/v1/completions", key, `{"prompt":["Tom had a","The sun"],"max_tokens":4,"temperature":0}`)
	if resp.StatusCode != 200 || json.Unmarshal(body, &c) != nil || len(c.Choices) != 2 || c.Choices[1].Index != 1 ||
		c.Choices[0].Text == "" || c.Choices[1].Text == "" || c.Usage.CompletionTokens != 8 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}

	// Token prompt, streamed.
	resp, body = do(t, "POST", base+"/v1/completions", key, `{"prompt":[1,403,407],"max_tokens":4,"stream":true,"stream_options":{"include_usage":true}}`)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	events := sseEvents(t, strings.NewReader(string(body)))
	var ch chunk
	if err := json.Unmarshal([]byte(events[len(events)-2]), &ch); err != nil || ch.Usage == nil || ch.Usage.PromptTokens != 3 || ch.Usage.CompletionTokens != 4 {
		t.Errorf("usage event %q", events[len(events)-2])
	}

	vocab := chat.Info().VocabSize
	resp, body = do(t, "POST", base+"/v1/completions", key, fmt.Sprintf(`{"prompt":[1,%d]}`, vocab))
	e := wantError(t, resp, body, 400, TypeInvalidRequest, "invalid_value")
	if *e.Error.Param != "prompt[1]" {
		t.Errorf("%s", body)
	}

	// A prompt longer than a slot's context.
	long := strings.Repeat("once upon a time there was a dog ", chat.SeqCtx()/4)
	resp, body = do(t, "POST", base+"/v1/completions", key, `{"prompt":"`+long+`"}`)
	wantError(t, resp, body, 400, TypeInvalidRequest, "context_length_exceeded")
}

func TestIntegrationEmbeddings(t *testing.T) {
	_, base := startServer(t, realConfig(t))
	type embResp struct {
		Data []struct {
			Index     int             `json:"index"`
			Embedding json.RawMessage `json:"embedding"`
		} `json:"data"`
		Model string `json:"model"`
		Usage struct {
			PromptTokens int `json:"prompt_tokens"`
		} `json:"usage"`
	}
	embed := func(body string) ([][]float32, embResp) {
		t.Helper()
		resp, b := do(t, "POST", base+"/v1/embeddings", key, body)
		var r embResp
		if resp.StatusCode != 200 || json.Unmarshal(b, &r) != nil {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
		var vecs [][]float32
		for _, d := range r.Data {
			var v []float32
			if d.Embedding[0] == '"' {
				var s string
				_ = json.Unmarshal(d.Embedding, &s)
				raw, err := base64.StdEncoding.DecodeString(s)
				if err != nil {
					t.Fatal(err)
				}
				for k := 0; k+4 <= len(raw); k += 4 {
					v = append(v, math.Float32frombits(binary.LittleEndian.Uint32(raw[k:])))
				}
			} else if err := json.Unmarshal(d.Embedding, &v); err != nil {
				t.Fatal(err)
			}
			vecs = append(vecs, v)
		}
		return vecs, r
	}
	cos := func(a, b []float32) float64 {
		var d float64
		for i := range a {
			d += float64(a[i]) * float64(b[i])
		}
		return d
	}
	vecs, r := embed(`{"model":"all-MiniLM-L6-v2-Q4_K_M","input":["The cat sits on the mat.","A cat is sitting on a mat.","Quarterly revenue rose by ten percent."]}`)
	if len(vecs) != 3 || len(vecs[0]) != 384 || r.Usage.PromptTokens == 0 || r.Model != "all-MiniLM-L6-v2-Q4_K_M" {
		t.Fatalf("%d vectors of %d", len(vecs), len(vecs[0]))
	}
	if n := cos(vecs[0], vecs[0]); math.Abs(n-1) > 1e-3 {
		t.Errorf("not normalised: %v", n)
	}
	if near, far := cos(vecs[0], vecs[1]), cos(vecs[0], vecs[2]); near <= far+0.2 {
		t.Errorf("similar sentences %.3f, unrelated %.3f", near, far)
	}
	// The same text alone: a different batch composition may move the last
	// bits, so compare with a tolerance (exact base64 encoding is checked
	// in TestEmbeddings).
	b64, _ := embed(`{"input":"The cat sits on the mat.","encoding_format":"base64","dimensions":384}`)
	if len(b64[0]) != 384 || cos(b64[0], vecs[0]) < 0.999 {
		t.Errorf("base64 vector differs from the float one: cosine %v", cos(b64[0], vecs[0]))
	}
	toks, r := embed(`{"input":[[101,7592,2088,102],[101,102]]}`)
	if len(toks) != 2 || r.Usage.PromptTokens != 6 {
		t.Errorf("token inputs: %d vectors, %d tokens", len(toks), r.Usage.PromptTokens)
	}
	resp, body := do(t, "POST", base+"/v1/embeddings", key, `{"input":"x","dimensions":128}`)
	wantError(t, resp, body, 400, TypeInvalidRequest, "unsupported_value")
}

func TestIntegrationInfoAndErrors(t *testing.T) {
	_, base := startServer(t, realConfig(t))

	resp, body := do(t, "GET", base+"/v1/models", key, "")
	var list struct {
		Data []modelObject `json:"data"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &list) != nil || len(list.Data) != 2 ||
		list.Data[0].ID != "stories260K" || list.Data[1].Dimensions != 384 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if resp, body := do(t, "GET", base+"/v1/models/stories260K", key, ""); resp.StatusCode != 200 {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
	resp, body = do(t, "GET", base+"/v1/models/gpt-4o", key, "")
	wantError(t, resp, body, 404, TypeInvalidRequest, "model_not_found")

	for _, path := range []string{"/healthz", "/readyz"} {
		if resp, body := do(t, "GET", base+path, "", ""); resp.StatusCode != 200 {
			t.Errorf("%s: %d %s", path, resp.StatusCode, body)
		}
	}
	resp, body = do(t, "GET", base+"/admin/status", "sk-admin", "")
	var st struct {
		Models []modelStatus `json:"models"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &st) != nil || st.Models[0].Slots != 4 || st.Models[0].KVSize == 0 {
		t.Errorf("%d %s", resp.StatusCode, body)
	}

	// Every error status the API produces (5xx: see below and the
	// recovery tests).
	resp, body = do(t, "POST", base+"/v1/chat/completions", "", chatBody(""))
	wantError(t, resp, body, 401, TypeInvalidRequest, "missing_api_key")
	resp, body = do(t, "POST", base+"/v1/chat/completions", "sk-wrong", chatBody(""))
	wantError(t, resp, body, 401, TypeInvalidRequest, "invalid_api_key")
	resp, body = do(t, "POST", base+"/v1/chat/completions", key, chatBody(`,"temperature":"warm"`))
	e := wantError(t, resp, body, 400, TypeInvalidRequest, "invalid_type")
	if *e.Error.Param != "temperature" {
		t.Errorf("%s", body)
	}
	resp, body = do(t, "POST", base+"/v1/chat/completions", key, chatBody(`,"n":3`))
	wantError(t, resp, body, 400, TypeInvalidRequest, "unsupported_value")
	msgs := strings.TrimSuffix(strings.Repeat(`{"role":"user","content":"x"},`, 9), ",")
	resp, body = do(t, "POST", base+"/v1/chat/completions", key, `{"messages":[`+msgs+`]}`)
	wantError(t, resp, body, 400, TypeInvalidRequest, "invalid_value")
	resp, body = do(t, "POST", base+"/v1/embeddings", key, `{"model":"stories260K","input":"x"}`)
	wantError(t, resp, body, 400, TypeInvalidRequest, "invalid_value")
	resp, body = do(t, "POST", base+"/v1/nope", key, "{}")
	wantError(t, resp, body, 404, TypeInvalidRequest, "unknown_url")
	resp, body = do(t, "DELETE", base+"/v1/models", key, "")
	wantError(t, resp, body, 405, TypeInvalidRequest, "method_not_allowed")
	resp, body = do(t, "POST", base+"/v1/embeddings", key, `{"input":"`+strings.Repeat("a", 70<<10)+`"}`)
	wantError(t, resp, body, 413, TypeInvalidRequest, "request_too_large")
	do(t, "POST", base+"/v1/embeddings", "sk-slow", `{"input":"a"}`)
	resp, body = do(t, "POST", base+"/v1/embeddings", "sk-slow", `{"input":"a"}`)
	wantError(t, resp, body, 429, "requests", "rate_limit_exceeded")
	if resp.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}

	// A model that has been shut down: 503 with Retry-After.
	closed := newBatcher(t, models.StoriesModel, batcher.Config{Parallel: 1})
	_ = closed.Close()
	cfg := realConfig(t)
	cfg.Models = []Model{modelOf(closed, KindChat)}
	_, base2 := startServer(t, cfg)
	resp, body = do(t, "POST", base2+"/v1/chat/completions", key, chatBody(""))
	wantError(t, resp, body, 503, TypeUnavailable, "model_unavailable")
	if resp.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}

	// Metrics carry the real scheduler's gauges.
	resp, body = do(t, "GET", base+"/metrics", "", "")
	for _, want := range []string{`infergate_slots{kind="chat",model="stories260K"} 4`, `infergate_requests_total{endpoint="embeddings",model="all-MiniLM-L6-v2-Q4_K_M",route="local",status_class="2xx"} 1`,
		`infergate_kv_cache_size_cells{kind="chat",model="stories260K"}`, `infergate_errors_total{code="rate_limit_exceeded",type="requests"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestIntegrationOverloadAndDisconnect holds the only slot of a
// one-slot, no-queue model with an endless stream: a second request is
// refused 429, and when the stream's client disconnects its generation is
// cancelled and the slot freed.
func TestIntegrationOverloadAndDisconnect(t *testing.T) {
	one := newBatcher(t, models.StoriesModel, batcher.Config{Parallel: 1, QueueLen: 0, CtxSize: 2048})
	cfg := realConfig(t)
	cfg.Models = []Model{modelOf(one, KindChat)}
	_, base := startServer(t, cfg)

	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"prompt":"Once","max_tokens":100000,"ignore_eos":true,"stream":true}`
	fmt.Fprintf(conn, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s", key, len(body), body)
	br := bufio.NewReader(conn)
	status, err := br.ReadString('\n')
	if err != nil || !strings.Contains(status, "200") {
		t.Fatalf("%q %v", status, err)
	}
	for seen := 0; seen < 3; {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(line, `"text"`) {
			seen++
		}
	}
	if st := one.Stats(); st.Running != 1 {
		t.Fatalf("running %d", st.Running)
	}
	resp, b := do(t, "POST", base+"/v1/completions", key, `{"prompt":"Twice","max_tokens":2}`)
	wantError(t, resp, b, 429, TypeOverloaded, "server_overloaded")
	if resp.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}

	conn.Close()
	testenv.Eventually(t, 10*time.Second, func() bool { return one.Stats().Running == 0 },
		"slot still busy after the client left: %+v", one.Stats())
	// The slot serves the next request, and the scheduler generates that
	// request's tokens only: the cancelled stream no longer runs.
	before := one.Stats().GeneratedTokens
	resp, b = do(t, "POST", base+"/v1/completions", key, `{"prompt":"Twice","max_tokens":2}`)
	var next textCompletion
	if resp.StatusCode != 200 || json.Unmarshal(b, &next) != nil {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	if after := one.Stats().GeneratedTokens; after-before != uint64(next.Usage.CompletionTokens) {
		t.Errorf("still generating: %d tokens generated for a request of %d", after-before, next.Usage.CompletionTokens)
	}

	// A non-streamed request whose client leaves is cancelled too.
	conn2, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	body = `{"prompt":"Once","max_tokens":100000,"ignore_eos":true}`
	fmt.Fprintf(conn2, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s", key, len(body), body)
	testenv.Eventually(t, 10*time.Second, func() bool { return one.Stats().Running == 1 },
		"the non-streamed generation did not start")
	conn2.Close()
	testenv.Eventually(t, 10*time.Second, func() bool { return one.Stats().Running == 0 },
		"non-streamed generation kept its slot after the client left: %+v", one.Stats())
}

// TestIntegrationGracefulShutdown: with a drain delay, /readyz turns 503
// while requests are still served; a stream in flight runs to its end.
func TestIntegrationGracefulShutdown(t *testing.T) {
	cfg := realConfig(t)
	cfg.DrainDelay = 700 * time.Millisecond
	s, base := startServer(t, cfg)
	resp, err := http.DefaultClient.Do(mustRequest(t, "POST", base+"/v1/completions", key,
		`{"prompt":"Once","max_tokens":64,"ignore_eos":true,"stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	shut := shutdownAsync(s, 60*time.Second)
	testenv.Eventually(t, 5*time.Second, s.Draining, "Shutdown did not start draining")
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	r, err := client.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 503 || r.Header.Get("Retry-After") == "" {
		t.Errorf("readyz while draining: %d %s", r.StatusCode, rb)
	}
	r2, err := client.Do(mustRequest(t, "POST", base+"/v1/embeddings", key, `{"input":"still served"}`))
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != 200 {
		t.Errorf("request during the drain delay: %d", r2.StatusCode)
	}
	events := sseEvents(t, resp.Body)
	if events[len(events)-1] != "[DONE]" {
		t.Errorf("stream cut: %q", events[len(events)-3:])
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), time.Second); err == nil {
		t.Error("still accepting after shutdown")
	}
}

func mustRequest(t testing.TB, method, url, key, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	return req
}
