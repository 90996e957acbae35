package upstream

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/infergate/infergate/llm"
)

func TestConfigValidate(t *testing.T) {
	ok := Config{Name: "openai", Kind: APIOpenAI, Models: map[string]string{"a": "b"}}
	tests := []struct {
		name   string
		change func(*Config)
		want   string // part of the error; "" for valid
	}{
		{"valid", func(*Config) {}, ""},
		{"anthropic", func(c *Config) { c.Kind = APIAnthropic; c.BaseURL = "https://api.anthropic.com/v1" }, ""},
		{"no name", func(c *Config) { c.Name = "" }, "name is required"},
		{"name with a colon", func(c *Config) { c.Name = "a:b" }, "name may hold only"},
		{"bad kind", func(c *Config) { c.Kind = "gemini" }, `kind is "gemini"`},
		{"relative base_url", func(c *Config) { c.BaseURL = "api.openai.com/v1" }, "not an http(s) URL"},
		{"ftp base_url", func(c *Config) { c.BaseURL = "ftp://x/v1" }, "not an http(s) URL"},
		{"empty model", func(c *Config) { c.Models = map[string]string{"a": ""} }, "empty side"},
		{"anthropic embeddings", func(c *Config) { c.Kind = APIAnthropic; c.EmbeddingModels = map[string]string{"e": "e"} }, "serves no embeddings"},
		{"negative concurrency", func(c *Config) { c.MaxConcurrency = -1 }, "max_concurrency"},
		{"negative price", func(c *Config) { c.PricePerMTok.Output = -1 }, "price_per_mtok"},
		{"negative timeout", func(c *Config) { c.IdleTimeout = -time.Second }, "idle_timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.change(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want ErrConfig containing %q", err, tc.want)
			}
		})
	}
}

func TestNew(t *testing.T) {
	env := map[string]string{"KEY": "sk-1"}
	getenv := func(k string) string { return env[k] }
	c, err := New(Config{Name: "a", Kind: APIAnthropic, APIKeyEnv: "KEY", Models: map[string]string{"m": "claude"}}, Options{Getenv: getenv})
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.Config()
	if cfg.BaseURL != "https://api.anthropic.com/v1" || cfg.ConnectTimeout != DefaultConnectTimeout ||
		cfg.FirstTokenTimeout != DefaultFirstTokenTimeout || cfg.IdleTimeout != DefaultIdleTimeout ||
		cfg.RequestTimeout != DefaultRequestTimeout || cfg.MaxTokens != DefaultMaxTokens {
		t.Errorf("defaults not applied: %+v", cfg)
	}
	if c.Route() != "cloud:a" || c.Name() != "a" || !c.Serves("m") || c.Serves("x") || c.ServesEmbeddings("m") {
		t.Error("accessors")
	}
	if _, err := c.Model("x"); !errors.Is(err, ErrUnknownModel) {
		t.Errorf("Model(unknown): %v", err)
	}
	if _, err := New(Config{Name: "a", Kind: APIOpenAI, APIKeyEnv: "MISSING"}, Options{Getenv: getenv}); !errors.Is(err, ErrNoAPIKey) {
		t.Errorf("missing key: %v", err)
	}
	if _, err := New(Config{Name: "a", Kind: APIOpenAI, BaseURL: "http://127.0.0.1:1/v1/"}, Options{}); err != nil {
		t.Errorf("keyless: %v", err)
	}
	if _, err := New(Config{Kind: APIOpenAI}, Options{}); !errors.Is(err, ErrConfig) {
		t.Errorf("invalid config: %v", err)
	}
}

func TestPriceCost(t *testing.T) {
	tests := []struct {
		price              Price
		prompt, completion int
		want               float64
	}{
		{Price{0.15, 0.60}, 0, 0, 0},
		{Price{0.15, 0.60}, 1_000_000, 0, 0.15},
		{Price{0.15, 0.60}, 2000, 500, (2000*0.15 + 500*0.60) / 1e6},
		{Price{3, 15}, 1_000_000, 1_000_000, 18},
	}
	for _, tc := range tests {
		if got := tc.price.Cost(tc.prompt, tc.completion); got < tc.want-1e-12 || got > tc.want+1e-12 {
			t.Errorf("%+v.Cost(%d, %d) = %g, want %g", tc.price, tc.prompt, tc.completion, got, tc.want)
		}
	}
	c, err := New(Config{Name: "a", Kind: APIOpenAI, PricePerMTok: Price{1, 2}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Cost(llm.Result{PromptTokens: 1e6, CompletionTokens: 1e6}); got != 3 {
		t.Errorf("Client.Cost %g", got)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	tests := []struct {
		name   string
		header http.Header
		want   time.Duration
	}{
		{"absent", http.Header{}, 0},
		{"seconds", http.Header{"Retry-After": {"7"}}, 7 * time.Second},
		{"spaces", http.Header{"Retry-After": {" 3 "}}, 3 * time.Second},
		{"zero", http.Header{"Retry-After": {"0"}}, 0},
		{"negative", http.Header{"Retry-After": {"-5"}}, 0},
		{"garbage", http.Header{"Retry-After": {"soon"}}, 0},
		{"huge", http.Header{"Retry-After": {"999999999999999999"}}, 24 * time.Hour},
		{"date", http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}, 90 * time.Second},
		{"past date", http.Header{"Retry-After": {now.Add(-time.Minute).Format(http.TimeFormat)}}, 0},
		{"ms wins", http.Header{"Retry-After-Ms": {"250"}, "Retry-After": {"1"}}, 250 * time.Millisecond},
		{"fractional ms", http.Header{"Retry-After-Ms": {"1.5"}}, 1500 * time.Microsecond},
		{"bad ms falls back", http.Header{"Retry-After-Ms": {"x"}, "Retry-After": {"2"}}, 2 * time.Second},
	}
	for _, tc := range tests {
		if got := retryAfter(tc.header, now); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestStatusError(t *testing.T) {
	tests := []struct {
		status    int
		code      string
		kind      ErrorKind
		retryable bool
	}{
		{400, "", KindClient, false},
		{401, "", KindAuth, false},
		{403, "", KindAuth, false},
		{404, "model_not_found", KindClient, false},
		{408, "", KindServer, true},
		{413, "", KindClient, false},
		{429, "rate_limit_exceeded", KindRateLimited, true},
		{429, "insufficient_quota", KindRateLimited, false},
		{500, "", KindServer, true},
		{501, "", KindServer, false},
		{502, "", KindServer, true},
		{503, "", KindServer, true},
		{504, "", KindServer, true},
		{529, "overloaded_error", KindServer, true},
		{302, "", KindClient, false},
	}
	for _, tc := range tests {
		e := statusError("u", tc.status, http.Header{}, tc.code, "", time.Now())
		if e.Kind != tc.kind || e.Retryable != tc.retryable || e.Status != tc.status {
			t.Errorf("%d %s: %+v, want %s retryable=%v", tc.status, tc.code, e, tc.kind, tc.retryable)
		}
	}
}

func TestErrorMessage(t *testing.T) {
	tests := []struct {
		e    *Error
		want string
	}{
		{&Error{Upstream: "oa", Kind: KindRateLimited, Status: 429, Code: "rate_limit_exceeded", Message: "slow down"},
			"upstream oa: rate_limited (HTTP 429) rate_limit_exceeded: slow down"},
		{&Error{Upstream: "an", Kind: KindConnection, Err: ErrStreamCut, TokensSent: true},
			"upstream an: connection: stream ended before its end marker (after text was sent)"},
	}
	for _, tc := range tests {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("%q, want %q", got, tc.want)
		}
	}
	if (&Error{Retryable: true, TokensSent: true}).CanRetry() || !(&Error{Retryable: true}).CanRetry() {
		t.Error("CanRetry")
	}
}

func TestParseErrorBody(t *testing.T) {
	tests := []struct {
		body, code, msg string
	}{
		{oaErrorBody("invalid_request_error", "model_not_found", "no such model"), "model_not_found", "no such model"},
		{`{"error":{"message":"m","type":"server_error","code":null}}`, "server_error", "m"},
		{`{"error":{"message":"m","type":"t","code":1234}}`, "1234", "m"},
		{anErrorBody("overloaded_error", "Overloaded"), "overloaded_error", "Overloaded"},
		{`{"error":"plain words"}`, "", "plain words"},
		{`<html>bad gateway</html>`, "", "<html>bad gateway</html>"},
		{``, "", ""},
	}
	for _, tc := range tests {
		if code, msg := parseErrorBody([]byte(tc.body)); code != tc.code || msg != tc.msg {
			t.Errorf("%s: %q %q, want %q %q", tc.body, code, msg, tc.code, tc.msg)
		}
	}
	long := strings.Repeat("é", 400)
	if _, msg := parseErrorBody([]byte(long)); len(msg) > 520 || !strings.HasSuffix(msg, "…") {
		t.Errorf("long body not clipped: %d bytes", len(msg))
	}
}
