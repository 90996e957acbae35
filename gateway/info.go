package gateway

import (
	"encoding/json"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// modelObject is one entry of /v1/models: OpenAI's fields, then
// infergate's (clients ignore fields they do not know).
type modelObject struct {
	ID            string `json:"id"`
	Object        string `json:"object"`
	Created       int64  `json:"created"`
	OwnedBy       string `json:"owned_by"`
	Kind          string `json:"kind"`
	ContextLength int    `json:"context_length,omitempty"`
	Dimensions    int    `json:"dimensions,omitempty"`
}

func (m *model) object() modelObject {
	o := modelObject{ID: m.ID, Object: "model", OwnedBy: m.OwnedBy, Kind: string(m.Kind),
		ContextLength: m.ContextLength, Dimensions: int(m.dims.Load())}
	if !m.Created.IsZero() {
		o.Created = m.Created.Unix()
	}
	return o
}

// botModelObject lists a bot as the model "bot:<name>" (kind "bot").
func botModelObject(name string) modelObject {
	return modelObject{ID: BotModelPrefix + name, Object: "model", OwnedBy: "infergate", Kind: "bot"}
}

func writeJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeError(ctx, errInternal(err))
		return
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(body)
}

func (s *Server) handleListModels(r *request) {
	list := struct {
		Object string        `json:"object"`
		Data   []modelObject `json:"data"`
	}{Object: "list", Data: make([]modelObject, 0, len(s.models))}
	for _, m := range s.models {
		list.Data = append(list.Data, m.object())
	}
	for _, name := range slices.Sorted(maps.Keys(s.cfg.Bots)) {
		list.Data = append(list.Data, botModelObject(name))
	}
	writeJSON(r.ctx, fasthttp.StatusOK, list)
}

func (s *Server) handleGetModel(r *request) {
	// The id is the rest of the path, slashes included (ids such as
	// "org/model" are common); it may arrive percent-encoded.
	raw := string(r.ctx.Request.URI().PathOriginal())
	if q := strings.IndexByte(raw, '?'); q >= 0 {
		raw = raw[:q]
	}
	i := strings.Index(raw, "/models/")
	id := raw[i+len("/models/"):]
	if dec, err := url.PathUnescape(id); err == nil {
		id = dec
	}
	if name, isBot := isBotModel(id); isBot && s.cfg.Bots[name] != nil {
		writeJSON(r.ctx, fasthttp.StatusOK, botModelObject(name))
		return
	}
	m, ok := s.byName[id]
	if !ok {
		r.fail(errModelNotFound(id))
		return
	}
	writeJSON(r.ctx, fasthttp.StatusOK, m.object())
}

func (s *Server) handleHealthz(r *request) {
	writeJSON(r.ctx, fasthttp.StatusOK, map[string]string{"status": "ok"})
}

// handleReadyz answers 200 while the server should get traffic: models
// loaded and not draining. Load balancers take a 503 as "send elsewhere".
func (s *Server) handleReadyz(r *request) {
	if s.draining.Load() {
		r.ctx.Response.Header.Set("Retry-After", "5")
		writeJSON(r.ctx, fasthttp.StatusServiceUnavailable, map[string]string{"status": "draining"})
		return
	}
	var missing []string
	for _, m := range s.models {
		if st := m.stats(); st.Slots <= 0 {
			missing = append(missing, m.ID)
		}
	}
	if len(missing) > 0 {
		r.ctx.Response.Header.Set("Retry-After", "5")
		writeJSON(r.ctx, fasthttp.StatusServiceUnavailable, map[string]any{"status": "loading", "models": missing})
		return
	}
	writeJSON(r.ctx, fasthttp.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) handleMetrics(r *request) {
	s.promH(r.ctx)
}

// modelStatus is one model in /admin/status.
type modelStatus struct {
	ID                   string  `json:"id"`
	Kind                 string  `json:"kind"`
	Path                 string  `json:"path,omitempty"`
	Slots                int     `json:"slots"`
	SlotsBusy            int     `json:"slots_busy"`
	SlotsFree            int     `json:"slots_free"`
	QueueDepth           int     `json:"queue_depth"`
	KVUsed               int     `json:"kv_used"`
	KVSize               int     `json:"kv_size"`
	KVUsage              float64 `json:"kv_usage"`
	PredictedWaitSeconds float64 `json:"predicted_wait_seconds"`
	PrefixCacheHitRatio  float64 `json:"prefix_cache_hit_ratio"`  // reused / (reused + computed) prompt tokens
	PrefixCacheHitTokens uint64  `json:"prefix_cache_hit_tokens"` // prompt tokens reused from the prefix cache
	Steps                uint64  `json:"steps"`
	PromptTokens         uint64  `json:"prompt_tokens"` // prompt tokens computed (not reused)
	GeneratedTokens      uint64  `json:"generated_tokens"`
	Refused              uint64  `json:"refused"`
}

func (s *Server) handleStatus(r *request) {
	st := struct {
		Status        string        `json:"status"`
		Version       string        `json:"version,omitempty"`
		UptimeSeconds float64       `json:"uptime_seconds"`
		Connections   int           `json:"connections"`
		InFlight      int64         `json:"in_flight_requests"`
		Models        []modelStatus `json:"models"`
		StartedAt     time.Time     `json:"started_at"`
		APIKeys       int           `json:"api_keys"`
	}{
		Status:        "ready",
		Version:       s.cfg.Version,
		UptimeSeconds: time.Since(s.started).Seconds(),
		InFlight:      s.nact.Load(),
		StartedAt:     s.started.UTC(),
		APIKeys:       len(s.keys),
	}
	if s.draining.Load() {
		st.Status = "draining"
	}
	st.Connections = s.openConns()
	for _, m := range s.models {
		ms := m.stats()
		st.Models = append(st.Models, modelStatus{
			ID: m.ID, Kind: string(m.Kind), Path: m.Path,
			Slots: ms.Slots, SlotsBusy: ms.Running, SlotsFree: max(ms.Slots-ms.Running, 0),
			QueueDepth: ms.Waiting, KVUsed: ms.KVUsed, KVSize: ms.KVSize,
			KVUsage:              ratio(float64(ms.KVUsed), float64(ms.KVSize)),
			PredictedWaitSeconds: ms.PredictedWait.Seconds(),
			PrefixCacheHitRatio:  prefixHitRatio(ms),
			PrefixCacheHitTokens: ms.PrefixHitTokens,
			Steps:                ms.Steps, PromptTokens: ms.PromptTokens, GeneratedTokens: ms.GeneratedTokens,
			Refused: ms.Refused,
		})
	}
	writeJSON(r.ctx, fasthttp.StatusOK, st)
}
