package router

import (
	"cmp"
	"errors"
	"fmt"
	"time"
)

// Defaults for the Config fields left zero.
const (
	DefaultTTFTSLO     = 800 * time.Millisecond
	DefaultReturnRatio = 0.8

	DefaultMaxAttempts   = 3
	DefaultBaseBackoff   = 100 * time.Millisecond
	DefaultMaxBackoff    = 2 * time.Second
	DefaultMaxRetryAfter = 5 * time.Second

	DefaultFailureThreshold = 5
	DefaultWindow           = 20
	DefaultMinRequests      = 10
	DefaultFailureRatio     = 0.5
	DefaultCooldown         = 30 * time.Second
)

// ErrConfig is wrapped by Config.Validate's errors.
var ErrConfig = errors.New("router: invalid config")

// Config is the --config YAML's routing section. ttft_slo and
// monthly_budget_usd are fixed names (operators' files must keep working);
// the rest may grow.
type Config struct {
	// TTFTSLO is the time-to-first-token objective: a request whose
	// predicted local wait exceeds it goes to the cloud. 0: DefaultTTFTSLO.
	TTFTSLO time.Duration `yaml:"ttft_slo"`
	// MonthlyBudgetUSD caps cloud spend per calendar month (UTC); at the
	// cap the cloud is not used. 0: no cap.
	MonthlyBudgetUSD float64 `yaml:"monthly_budget_usd"`
	// ReturnRatio is the hysteresis: once spilling, requests return to
	// local only when the predicted wait is below ReturnRatio×TTFTSLO.
	// 0: DefaultReturnRatio; must be in (0, 1].
	ReturnRatio float64       `yaml:"return_ratio"`
	Retry       RetryConfig   `yaml:"retry"`
	Breaker     BreakerConfig `yaml:"breaker"`
}

// RetryConfig bounds the retries of one upstream before the first token.
type RetryConfig struct {
	// MaxAttempts is the attempts per upstream, the first included.
	MaxAttempts int `yaml:"max_attempts"`
	// BaseBackoff doubles per attempt up to MaxBackoff; each delay is
	// jittered to between half and all of it, so that clients refused
	// together do not come back together.
	BaseBackoff time.Duration `yaml:"base_backoff"`
	MaxBackoff  time.Duration `yaml:"max_backoff"`
	// MaxRetryAfter is the longest Retry-After honoured by waiting: a
	// longer one would break the SLO anyway, so the next upstream is tried.
	MaxRetryAfter time.Duration `yaml:"max_retry_after"`
}

// BreakerConfig configures each upstream's circuit breaker.
type BreakerConfig struct {
	// FailureThreshold consecutive failures open the breaker.
	FailureThreshold int `yaml:"failure_threshold"`
	// Window is the number of recent outcomes over which FailureRatio is
	// measured, once at least MinRequests are in it.
	Window       int     `yaml:"window"`
	MinRequests  int     `yaml:"min_requests"`
	FailureRatio float64 `yaml:"failure_ratio"`
	// Cooldown is how long an open breaker refuses before admitting a probe.
	Cooldown time.Duration `yaml:"cooldown"`
}

// WithDefaults returns c with its zero fields set to the defaults.
func (c Config) WithDefaults() Config {
	c.TTFTSLO = cmp.Or(c.TTFTSLO, DefaultTTFTSLO)
	c.ReturnRatio = cmp.Or(c.ReturnRatio, DefaultReturnRatio)
	r := &c.Retry
	r.MaxAttempts = cmp.Or(r.MaxAttempts, DefaultMaxAttempts)
	r.BaseBackoff = cmp.Or(r.BaseBackoff, DefaultBaseBackoff)
	r.MaxBackoff = cmp.Or(r.MaxBackoff, DefaultMaxBackoff)
	r.MaxRetryAfter = cmp.Or(r.MaxRetryAfter, DefaultMaxRetryAfter)
	c.Breaker = c.Breaker.withDefaults()
	return c
}

func (b BreakerConfig) withDefaults() BreakerConfig {
	b.FailureThreshold = cmp.Or(b.FailureThreshold, DefaultFailureThreshold)
	b.Window = cmp.Or(b.Window, DefaultWindow)
	b.MinRequests = cmp.Or(b.MinRequests, DefaultMinRequests)
	b.FailureRatio = cmp.Or(b.FailureRatio, DefaultFailureRatio)
	b.Cooldown = cmp.Or(b.Cooldown, DefaultCooldown)
	return b
}

// Validate reports what is wrong with c, wrapping ErrConfig.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: routing: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.TTFTSLO < 0:
		return bad("ttft_slo is negative")
	case c.MonthlyBudgetUSD < 0:
		return bad("monthly_budget_usd is negative")
	case c.ReturnRatio < 0 || c.ReturnRatio > 1:
		return bad("return_ratio %v is not in (0, 1]", c.ReturnRatio)
	case c.Retry.MaxAttempts < 0:
		return bad("retry.max_attempts is negative")
	case c.Retry.BaseBackoff < 0 || c.Retry.MaxBackoff < 0 || c.Retry.MaxRetryAfter < 0:
		return bad("retry durations must not be negative")
	case c.Breaker.FailureThreshold < 0 || c.Breaker.Window < 0 || c.Breaker.MinRequests < 0:
		return bad("breaker counts must not be negative")
	case c.Breaker.FailureRatio < 0 || c.Breaker.FailureRatio > 1:
		return bad("breaker.failure_ratio %v is not in (0, 1]", c.Breaker.FailureRatio)
	case c.Breaker.Cooldown < 0:
		return bad("breaker.cooldown is negative")
	}
	return nil
}
