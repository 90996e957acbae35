package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/infergate/infergate/llm"
)

// Embed computes embeddings with the upstream model that EmbeddingModels
// maps model to; a model not declared there fails with KindUnsupported, as
// do token-id inputs. The vectors are L2-normalised and in input order,
// as llm.EmbedResult promises, whatever order the upstream used.
// Truncate cannot be honoured: the upstream refuses (KindClient) or cuts
// inputs by its own rules.
func (c *Client) Embed(ctx context.Context, model string, req llm.EmbedRequest) (llm.EmbedResult, error) {
	remote, ok := c.cfg.EmbeddingModels[model]
	if !ok {
		return llm.EmbedResult{}, c.unknownModel(model)
	}
	if len(req.Tokens) > 0 {
		e := unsupported("token ids are the local tokenizer's")
		e.Upstream = c.cfg.Name
		return llm.EmbedResult{}, e
	}
	if len(req.Texts) == 0 {
		return llm.EmbedResult{}, &llm.RequestError{Field: llm.FieldInput, Err: errors.New("no input")}
	}
	body, err := json.Marshal(oaEmbedRequest{Model: remote, Input: req.Texts, EncodingFormat: "float"})
	if err != nil {
		return llm.EmbedResult{}, fmt.Errorf("upstream %s: %w", c.cfg.Name, err)
	}
	start := time.Now()
	if err := c.acquire(ctx); err != nil {
		return llm.EmbedResult{}, err
	}
	rctx, cancel := context.WithCancelCause(ctx)
	g := &generation{c: c, ctx: ctx, rctx: rctx, cancel: cancel, remote: remote, start: start}
	g.wd = startWatchdog(c.cfg.RequestTimeout, ErrFirstTokenTimeout, cancel)
	defer g.close()

	hr, err := c.newRequest(rctx, "/embeddings", body, false)
	if err != nil {
		return llm.EmbedResult{}, err
	}
	resp, err := c.http.Do(hr)
	if err != nil {
		return llm.EmbedResult{}, g.fail(err)
	}
	g.body = resp.Body
	if resp.StatusCode/100 != 2 {
		e := c.errorResponse(resp)
		g.log(e)
		return llm.EmbedResult{}, e
	}
	b, err := readBody(resp.Body)
	if err != nil {
		return llm.EmbedResult{}, g.fail(err)
	}
	res, err := decodeEmbeddings(b, len(req.Texts))
	if err != nil {
		return llm.EmbedResult{}, g.fail(err)
	}
	g.ended = true
	return res, nil
}

// decodeEmbeddings checks and orders an /embeddings response for n inputs.
func decodeEmbeddings(b []byte, n int) (llm.EmbedResult, error) {
	var r oaEmbedResponse
	if err := json.Unmarshal(b, &r); err != nil {
		return llm.EmbedResult{}, malformed("embeddings: %w", err)
	}
	if len(r.Data) != n {
		return llm.EmbedResult{}, malformed("embeddings: %d vectors for %d inputs", len(r.Data), n)
	}
	out := llm.EmbedResult{Vectors: make([][]float32, n)}
	dims := -1
	for _, d := range r.Data {
		if d.Index < 0 || d.Index >= n || out.Vectors[d.Index] != nil {
			return llm.EmbedResult{}, malformed("embeddings: bad or repeated index %d", d.Index)
		}
		if len(d.Embedding) == 0 || (dims >= 0 && len(d.Embedding) != dims) {
			return llm.EmbedResult{}, malformed("embeddings: vector %d has %d dimensions", d.Index, len(d.Embedding))
		}
		dims = len(d.Embedding)
		out.Vectors[d.Index] = normalise(d.Embedding)
	}
	if r.Usage != nil {
		if r.Usage.PromptTokens < 0 {
			return llm.EmbedResult{}, malformed("embeddings: negative usage")
		}
		out.PromptTokens = r.Usage.PromptTokens
	}
	return out, nil
}

// normalise scales v to unit length in place; OpenAI's vectors already
// are, other servers' need not be.
func normalise(v []float32) []float32 {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	if sum == 0 || math.IsInf(sum, 0) || math.IsNaN(sum) {
		return v
	}
	inv := 1 / math.Sqrt(sum)
	for i, x := range v {
		v[i] = float32(float64(x) * inv)
	}
	return v
}
