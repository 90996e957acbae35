package upstream

import (
	"errors"
	"math"
	"net/http"
	"testing"

	"github.com/infergate/infergate/llm"
)

func TestEmbed(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		// Out of order and not unit length, as some servers answer.
		write(w, `{"object":"list","model":"cloud-embed","data":[`+
			`{"object":"embedding","index":1,"embedding":[0,3,4]},`+
			`{"object":"embedding","index":0,"embedding":[2,0,0]}],`+
			`"usage":{"prompt_tokens":6,"total_tokens":6}}`)
	})
	c := f.client(t, APIOpenAI)
	m, err := c.Model("embed")
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Embed(t.Context(), llm.EmbedRequest{Texts: []string{"first", "second"}})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]float32{{1, 0, 0}, {0, 0.6, 0.8}}
	for i := range want {
		for j := range want[i] {
			if math.Abs(float64(res.Vectors[i][j]-want[i][j])) > 1e-6 {
				t.Fatalf("vectors %v, want %v", res.Vectors, want)
			}
		}
	}
	if res.PromptTokens != 6 {
		t.Errorf("prompt tokens %d", res.PromptTokens)
	}
	req := f.last(t)
	if req.Path != "/v1/embeddings" {
		t.Errorf("path %q", req.Path)
	}
	jsonEqual(t, req.Body, `{"model":"cloud-embed","input":["first","second"],"encoding_format":"float"}`)
}

func TestEmbedFailures(t *testing.T) {
	tests := []struct {
		name  string
		model string
		req   llm.EmbedRequest
		body  string
		code  int
		kind  ErrorKind
	}{
		{"not declared identical", "local", llm.EmbedRequest{Texts: []string{"a"}}, "", 0, KindUnsupported},
		{"token ids", "embed", llm.EmbedRequest{Tokens: [][]int32{{1}}}, "", 0, KindUnsupported},
		{"500", "embed", llm.EmbedRequest{Texts: []string{"a"}}, oaErrorBody("server_error", "", "boom"), 500, KindServer},
		{"wrong count", "embed", llm.EmbedRequest{Texts: []string{"a", "b"}}, `{"data":[{"index":0,"embedding":[1]}]}`, 200, KindMalformed},
		{"repeated index", "embed", llm.EmbedRequest{Texts: []string{"a", "b"}}, `{"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[1]}]}`, 200, KindMalformed},
		{"ragged", "embed", llm.EmbedRequest{Texts: []string{"a", "b"}}, `{"data":[{"index":0,"embedding":[1]},{"index":1,"embedding":[1,2]}]}`, 200, KindMalformed},
		{"not json", "embed", llm.EmbedRequest{Texts: []string{"a"}}, `<html>`, 200, KindMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
				if tc.code == 0 {
					t.Error("request sent")
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.code)
				write(w, tc.body)
			})
			_, err := f.client(t, APIOpenAI).Embed(t.Context(), tc.model, tc.req)
			wantError(t, err, tc.kind, false)
		})
	}
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) { t.Error("request sent") })
	var re *llm.RequestError
	if _, err := f.client(t, APIOpenAI).Embed(t.Context(), "embed", llm.EmbedRequest{}); !errors.As(err, &re) {
		t.Errorf("no input: %v", err)
	}
}
