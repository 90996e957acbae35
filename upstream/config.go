package upstream

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"strings"
	"time"
)

// API is the wire protocol an upstream speaks (the YAML's kind).
type API string

// The protocols spoken.
const (
	APIOpenAI    API = "openai"    // /chat/completions, /completions, /embeddings
	APIAnthropic API = "anthropic" // /messages
)

// Defaults for the Config fields left zero.
const (
	DefaultConnectTimeout    = 5 * time.Second
	DefaultFirstTokenTimeout = 20 * time.Second
	DefaultIdleTimeout       = 15 * time.Second
	DefaultRequestTimeout    = 2 * time.Minute
	// DefaultMaxTokens is sent to Anthropic, where max_tokens is required,
	// for a request that sets no limit.
	DefaultMaxTokens = 4096
)

// Config is one upstream as the --config YAML declares it under upstreams.
// The names of the YAML keys are fixed (operators' files must keep working);
// keys may be added.
type Config struct {
	// Name identifies the upstream in logs, metrics and the route it
	// reports (cloud:<name>).
	Name string `yaml:"name"`
	Kind API    `yaml:"kind"`
	// BaseURL is the API root including its version, e.g.
	// https://api.openai.com/v1 or https://api.anthropic.com/v1; the
	// endpoints' paths (/chat/completions, /messages, …) are appended.
	// Empty: the vendor's public URL for Kind.
	BaseURL string `yaml:"base_url"`
	// APIKeyEnv names the environment variable holding the API key, which
	// is read once, by New. Empty: no key is sent (a keyless server on the
	// local network).
	APIKeyEnv string `yaml:"api_key_env"`
	// Models maps a model id clients ask for (a local model's, or an id
	// served only by the cloud) to the upstream's model.
	Models map[string]string `yaml:"models"`
	// EmbeddingModels maps a local embedding model's id to an upstream
	// model that computes the identical vectors. An entry is the operator's
	// declaration that the two are interchangeable: a collection's vectors
	// must all come from one model, so embeddings go only where declared.
	EmbeddingModels map[string]string `yaml:"embedding_models"`
	// MaxConcurrency caps the requests in flight to this upstream; more
	// wait (as long as their context allows). 0: no cap.
	MaxConcurrency int   `yaml:"max_concurrency"`
	PricePerMTok   Price `yaml:"price_per_mtok"`

	// ConnectTimeout bounds the TCP connect and the TLS handshake.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// FirstTokenTimeout bounds the wait from sending a streamed request to
	// its first text (or its end, for an empty answer).
	FirstTokenTimeout time.Duration `yaml:"first_token_timeout"`
	// IdleTimeout bounds the gap between two pieces of text of a stream;
	// a longer gap is a stall.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// RequestTimeout bounds a request that is not streamed (an embedding,
	// or any request with NoStream), as there is no first token to wait for.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// NoStream makes generations use the APIs' non-streamed form, for
	// servers or proxies that cannot stream; the text then arrives whole.
	NoStream bool `yaml:"no_stream"`
	// MaxTokens is the limit sent to Anthropic for a request that sets
	// none; 0: DefaultMaxTokens. OpenAI-compatible APIs get no limit then.
	MaxTokens int `yaml:"max_tokens"`
}

// Price is what an upstream charges, in US dollars per million tokens.
type Price struct {
	Input  float64 `yaml:"input"`
	Output float64 `yaml:"output"`
}

// Cost is what a generation of that usage costs. Cached prompt tokens are
// charged as input: the configuration has no separate price for them, and
// over-estimating keeps a budget safe.
func (p Price) Cost(promptTokens, completionTokens int) float64 {
	return (float64(promptTokens)*p.Input + float64(completionTokens)*p.Output) / 1e6
}

// Errors from validating a Config.
var (
	ErrConfig   = errors.New("upstream: invalid config")
	ErrNoAPIKey = errors.New("upstream: API key variable is unset or empty")
)

func (c Config) withDefaults() Config {
	// Copies, so that the caller's maps can change without racing with
	// requests.
	c.Models = maps.Clone(c.Models)
	c.EmbeddingModels = maps.Clone(c.EmbeddingModels)
	if c.BaseURL == "" {
		switch c.Kind {
		case APIOpenAI:
			c.BaseURL = "https://api.openai.com/v1"
		case APIAnthropic:
			c.BaseURL = "https://api.anthropic.com/v1"
		}
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	c.ConnectTimeout = cmp.Or(c.ConnectTimeout, DefaultConnectTimeout)
	c.FirstTokenTimeout = cmp.Or(c.FirstTokenTimeout, DefaultFirstTokenTimeout)
	c.IdleTimeout = cmp.Or(c.IdleTimeout, DefaultIdleTimeout)
	c.RequestTimeout = cmp.Or(c.RequestTimeout, DefaultRequestTimeout)
	c.MaxTokens = cmp.Or(c.MaxTokens, DefaultMaxTokens)
	return c
}

// Validate reports what is wrong with c, wrapping ErrConfig.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: upstream %q: %s", ErrConfig, c.Name, fmt.Sprintf(format, args...))
	}
	if c.Name == "" {
		return bad("name is required")
	}
	// The name ends up in a route, a metric label and a header value.
	for _, r := range c.Name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return bad("name may hold only letters, digits, '-', '_' and '.'")
		}
	}
	if c.Kind != APIOpenAI && c.Kind != APIAnthropic {
		return bad("kind is %q, want %q or %q", c.Kind, APIOpenAI, APIAnthropic)
	}
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("base_url %q is not an http(s) URL", c.BaseURL)
		}
	}
	for local, remote := range c.Models {
		if local == "" || remote == "" {
			return bad("models: %q -> %q has an empty side", local, remote)
		}
	}
	for local, remote := range c.EmbeddingModels {
		if local == "" || remote == "" {
			return bad("embedding_models: %q -> %q has an empty side", local, remote)
		}
	}
	if len(c.EmbeddingModels) > 0 && c.Kind != APIOpenAI {
		return bad("embedding_models: kind %q serves no embeddings", c.Kind)
	}
	if c.MaxConcurrency < 0 {
		return bad("max_concurrency is negative")
	}
	if c.PricePerMTok.Input < 0 || c.PricePerMTok.Output < 0 {
		return bad("price_per_mtok is negative")
	}
	for _, d := range []struct {
		name string
		d    time.Duration
	}{
		{"connect_timeout", c.ConnectTimeout}, {"first_token_timeout", c.FirstTokenTimeout},
		{"idle_timeout", c.IdleTimeout}, {"request_timeout", c.RequestTimeout},
	} {
		if d.d < 0 {
			return bad("%s is negative", d.name)
		}
	}
	if c.MaxTokens < 0 {
		return bad("max_tokens is negative")
	}
	return nil
}
