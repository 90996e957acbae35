package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/infergate/infergate/batcher"
	"github.com/infergate/infergate/models"
	"github.com/infergate/infergate/router"
	"github.com/infergate/infergate/upstream"
)

// TestEmbeddingsRoute: /v1/embeddings reports where the vectors were
// computed in X-Infergate-Route and in its metrics, honours
// X-Infergate-Route-Policy, and spills to the upstream declared to compute
// the same model once the local engine cannot run.
func TestEmbeddingsRoute(t *testing.T) {
	b := newBatcher(t, models.MiniLMModel, batcher.Config{Embedding: true, Parallel: 1})
	id := b.ModelID()
	// A hosted embeddings API on loopback speaking OpenAI's wire format;
	// its vectors are recognisable: 1 in the first dimension.
	var calls atomic.Int64
	cloud := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var req struct {
			Model string   `json:"model"`
			Input []string `json:"input"`
		}
		if r.URL.Path != "/v1/embeddings" || json.NewDecoder(r.Body).Decode(&req) != nil || req.Model != "cloud-minilm" {
			http.Error(w, `{"error":{"message":"bad request","type":"invalid_request_error","param":null,"code":null}}`, http.StatusBadRequest)
			return
		}
		vec := "1" + strings.Repeat(",0", 383)
		var data []string
		for i := range req.Input {
			data = append(data, fmt.Sprintf(`{"object":"embedding","index":%d,"embedding":[%s]}`, i, vec))
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"object":"list","data":[%s],"model":"cloud-minilm","usage":{"prompt_tokens":%d,"total_tokens":%d}}`,
			strings.Join(data, ","), 3*len(req.Input), 3*len(req.Input))
	}))
	defer cloud.Close()
	up, err := upstream.New(upstream.Config{Name: "fake", Kind: upstream.APIOpenAI, BaseURL: cloud.URL + "/v1",
		EmbeddingModels: map[string]string{id: "cloud-minilm"}}, upstream.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	er, err := router.NewEmbedRouter(id, router.EmbedOptions{Local: b, Clouds: []router.Cloud{{Upstream: up}}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	m := modelOf(b, KindEmbedding)
	m.Embedder = RouterEmbedder{R: er, Local: b}
	_, base := startServer(t, Config{Models: []Model{m}, Logger: quietLogger(), Version: "test"})

	embed := func(hdr ...string) (*http.Response, []float32, string) {
		t.Helper()
		resp, body := do(t, "POST", base+"/v1/embeddings", "", `{"model":"`+id+`","input":["Where is my order?"],"encoding_format":"float"}`, hdr...)
		var r struct {
			Data []struct {
				Embedding []float32 `json:"embedding"`
			} `json:"data"`
		}
		if resp.StatusCode == 200 && (json.Unmarshal(body, &r) != nil || len(r.Data) != 1 || len(r.Data[0].Embedding) != 384) {
			t.Fatalf("embeddings: %s", body)
		}
		if resp.StatusCode != 200 {
			return resp, nil, string(body)
		}
		return resp, r.Data[0].Embedding, string(body)
	}

	resp, vec, body := embed()
	if resp.StatusCode != 200 || resp.Header.Get("X-Infergate-Route") != "local" || vec[0] == 1 || calls.Load() != 0 {
		t.Fatalf("local engine running: %d, route %q, %d cloud calls: %s", resp.StatusCode, resp.Header.Get("X-Infergate-Route"), calls.Load(), body)
	}
	if resp, _, body := embed(HeaderRoutePolicy, "nearby"); resp.StatusCode != 400 || !strings.Contains(body, `"param":"`+HeaderRoutePolicy+`"`) {
		t.Errorf("bad route policy: %d %s", resp.StatusCode, body)
	}

	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if resp, _, body := embed(HeaderRoutePolicy, "local-only"); resp.StatusCode != http.StatusServiceUnavailable ||
		!strings.Contains(body, `"code":"model_unavailable"`) || calls.Load() != 0 {
		t.Errorf("local-only, local engine closed: %d %s (%d cloud calls)", resp.StatusCode, body, calls.Load())
	}
	resp, vec, body = embed()
	if resp.StatusCode != 200 || resp.Header.Get("X-Infergate-Route") != "cloud:fake" || vec[0] != 1 || calls.Load() != 1 {
		t.Fatalf("local engine closed: %d, route %q, %d cloud calls: %s", resp.StatusCode, resp.Header.Get("X-Infergate-Route"), calls.Load(), body)
	}
	_, metrics := do(t, "GET", base+"/metrics", "", "")
	for _, route := range []string{"local", "cloud:fake"} {
		if want := fmt.Sprintf(`infergate_requests_total{endpoint="embeddings",model="%s",route="%s",status_class="2xx"} 1`, id, route); !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
