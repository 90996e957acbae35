package gateway

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/infergate/infergate/llm"
	"github.com/infergate/infergate/router"
)

func (s *Server) handleEmbeddings(r *request) {
	er, m, ok := parseFor(s, r, KindEmbedding, parseEmbeddingRequest, func(er *embeddingRequest) string { return er.Model })
	if !ok {
		return
	}
	for i, t := range er.Tokens {
		param := "input"
		if len(er.Tokens) > 1 {
			param = indexParam("input", i)
		}
		if e := m.checkTokens(t, param); e != nil {
			r.fail(e)
			return
		}
	}
	policy, ok := routePolicy(r)
	if !ok {
		return
	}
	dims := int(m.dims.Load())
	if er.Dimensions > 0 && dims > 0 && er.Dimensions != dims {
		r.fail(errDimensions(m.ID, er.Dimensions, dims))
		return
	}
	est := 0
	for _, t := range er.Texts {
		est += len(t)/4 + 2
	}
	for _, t := range er.Tokens {
		est += len(t)
	}
	if !r.admit(est) {
		return
	}
	r.logAttrs = append(r.logAttrs, slog.String("model", m.ID), slog.Int("inputs", er.inputs()))
	res, route, err := embedRouted(router.WithPolicy(s.baseCtx, policy), m.Embedder,
		llm.EmbedRequest{Texts: er.Texts, Tokens: er.Tokens, Truncate: er.Truncate})
	if route == "" {
		route = llm.RouteLocal // failed before any route took it; counted as generations are
	}
	status := fasthttp.StatusOK
	defer func() {
		sc := statusClass(status)
		s.metrics.requests.WithLabelValues("embeddings", m.ID, route, sc).Inc()
		s.metrics.e2e.WithLabelValues("embeddings", m.ID, route, sc).Observe(time.Since(r.start).Seconds())
		if res.PromptTokens > 0 {
			s.metrics.promptTokens.WithLabelValues(m.ID, route).Add(float64(res.PromptTokens))
		}
		r.who.limits.settle(est, res.PromptTokens)
		r.logAttrs = append(r.logAttrs, slog.Int("prompt_tokens", res.PromptTokens), slog.String("route", route))
	}()
	if err != nil {
		e := fromBackend(err, "input")
		if e.Code == "server_overloaded" {
			s.metrics.overloaded.WithLabelValues(m.ID).Inc()
		}
		status = e.Status
		r.fail(e)
		return
	}
	if len(res.Vectors) != er.inputs() {
		status = fasthttp.StatusInternalServerError
		r.fail(errInternal(fmt.Errorf("embedder returned %d vectors for %d inputs", len(res.Vectors), er.inputs())))
		return
	}
	if len(res.Vectors) > 0 {
		got := len(res.Vectors[0])
		if dims == 0 {
			m.dims.Store(int64(got))
		}
		if er.Dimensions > 0 && er.Dimensions != got {
			status = fasthttp.StatusBadRequest
			r.fail(errDimensions(m.ID, er.Dimensions, got))
			return
		}
	}
	r.ctx.Response.Header.Set("X-Infergate-Route", route)
	r.ctx.SetContentType("application/json")
	r.ctx.Response.SetBodyRaw(appendEmbeddings(make([]byte, 0, embeddingsSize(res.Vectors, er.Base64)), m.ID, res, er.Base64))
}

func errDimensions(model string, asked, has int) *APIError {
	return errUnsupportedValue("dimensions", "The model '%s' produces %d-dimensional embeddings and cannot shorten them; omit 'dimensions' or set it to %d (asked for %d).", model, has, has, asked)
}

// embeddingsSize guesses the response size, to allocate it once.
func embeddingsSize(vecs [][]float32, b64 bool) int {
	n := 128
	for _, v := range vecs {
		if b64 {
			n += base64.StdEncoding.EncodedLen(4*len(v)) + 48
		} else {
			n += 12*len(v) + 48
		}
	}
	return n
}

// appendEmbeddings renders the /v1/embeddings response. base64 is the
// vector's little-endian float32 bytes, which is what OpenAI's clients
// decode (they request it by default, as it is a quarter of the size).
func appendEmbeddings(b []byte, model string, res llm.EmbedResult, b64 bool) []byte {
	b = append(b, `{"object":"list","data":[`...)
	var raw []byte
	for i, v := range res.Vectors {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"object":"embedding","index":`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `,"embedding":`...)
		if b64 {
			raw = raw[:0]
			for _, f := range v {
				raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(f))
			}
			b = append(b, '"')
			b = base64.StdEncoding.AppendEncode(b, raw)
			b = append(b, '"')
		} else {
			b = append(b, '[')
			for k, f := range v {
				if k > 0 {
					b = append(b, ',')
				}
				b = appendFloat32(b, f)
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	b = append(b, `],"model":`...)
	b = appendJSONString(b, model)
	b = append(b, `,"usage":{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(res.PromptTokens), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(res.PromptTokens), 10)
	return append(b, "}}"...)
}
