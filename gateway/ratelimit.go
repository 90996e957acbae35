package gateway

import (
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// bucket is a token bucket holding up to one minute's allowance and
// refilled continuously, so a client may burst a minute's worth and then
// proceeds at the steady rate.
type bucket struct {
	perMinute float64
	tokens    float64
	last      time.Time
}

func newBucket(perMinute int, now time.Time) *bucket {
	return &bucket{perMinute: float64(perMinute), tokens: float64(perMinute), last: now}
}

func (b *bucket) refill(now time.Time) {
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = math.Min(b.perMinute, b.tokens+dt*b.perMinute/60)
		b.last = now
	}
}

// wait is how long until the bucket holds need tokens.
func (b *bucket) wait(need float64) time.Duration {
	if b.tokens >= need {
		return 0
	}
	return time.Duration((need - b.tokens) / (b.perMinute / 60) * float64(time.Second))
}

// limiter holds one caller's request and token buckets; nil buckets are
// unlimited.
type limiter struct {
	mu       sync.Mutex
	requests *bucket
	tokens   *bucket
	lastUse  time.Time
}

func newLimiter(rpm, tpm int, now time.Time) *limiter {
	l := &limiter{lastUse: now}
	if rpm > 0 {
		l.requests = newBucket(rpm, now)
	}
	if tpm > 0 {
		l.tokens = newBucket(tpm, now)
	}
	return l
}

// limitState is what the x-ratelimit-* headers report.
type limitState struct {
	rpm, tpm             int
	remainingRequests    int
	remainingTokens      int
	resetRequests, reset time.Duration
}

// admit takes one request and reserves est tokens. A request is admitted
// when the token bucket holds its estimate, or holds a whole minute's
// allowance for a request larger than that, so that no request is refused
// forever. The reservation is settled against the real count by settle.
func (l *limiter) admit(est int, now time.Time) (ok bool, kind string, retry time.Duration, st limitState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lastUse = now
	if l.requests != nil {
		l.requests.refill(now)
		if l.requests.tokens < 1 {
			return false, "requests", l.requests.wait(1), l.stateLocked()
		}
	}
	if l.tokens != nil {
		l.tokens.refill(now)
		need := math.Min(float64(est), l.tokens.perMinute)
		if need < 1 {
			need = 1
		}
		if l.tokens.tokens < need {
			return false, "tokens", l.tokens.wait(need), l.stateLocked()
		}
		l.tokens.tokens -= float64(est)
	}
	if l.requests != nil {
		l.requests.tokens--
	}
	return true, "", 0, l.stateLocked()
}

// settle corrects a reservation of est tokens to the used count. The
// bucket may go negative: a request that used more than estimated delays
// the caller's next ones rather than being cut off.
func (l *limiter) settle(est, used int) {
	if l == nil || l.tokens == nil || est == used {
		return
	}
	l.mu.Lock()
	l.tokens.tokens = math.Min(l.tokens.perMinute, l.tokens.tokens+float64(est-used))
	l.mu.Unlock()
}

func (l *limiter) stateLocked() limitState {
	var st limitState
	if b := l.requests; b != nil {
		st.rpm = int(b.perMinute)
		st.remainingRequests = max(int(b.tokens), 0)
		st.resetRequests = b.wait(b.perMinute)
	}
	if b := l.tokens; b != nil {
		st.tpm = int(b.perMinute)
		st.remainingTokens = max(int(b.tokens), 0)
		st.reset = b.wait(b.perMinute)
	}
	return st
}

// setHeaders writes OpenAI's x-ratelimit-* headers.
func (st limitState) setHeaders(h *fasthttp.ResponseHeader) {
	if st.rpm > 0 {
		h.Set("x-ratelimit-limit-requests", strconv.Itoa(st.rpm))
		h.Set("x-ratelimit-remaining-requests", strconv.Itoa(st.remainingRequests))
		h.Set("x-ratelimit-reset-requests", formatReset(st.resetRequests))
	}
	if st.tpm > 0 {
		h.Set("x-ratelimit-limit-tokens", strconv.Itoa(st.tpm))
		h.Set("x-ratelimit-remaining-tokens", strconv.Itoa(st.remainingTokens))
		h.Set("x-ratelimit-reset-tokens", formatReset(st.reset))
	}
}

func formatReset(d time.Duration) string {
	if d < time.Millisecond {
		return "0s"
	}
	return d.Round(time.Millisecond).String()
}

func errRateLimited(kind string, retry time.Duration, st limitState) *APIError {
	limit, unit := st.rpm, "requests"
	if kind == "tokens" {
		limit, unit = st.tpm, "tokens"
	}
	return &APIError{
		Status:     fasthttp.StatusTooManyRequests,
		Type:       kind, // OpenAI reports "requests" or "tokens" here
		Code:       "rate_limit_exceeded",
		Message:    "Rate limit reached: limit " + strconv.Itoa(limit) + " " + unit + " per minute. Retry after the time given in Retry-After.",
		RetryAfter: max(retry, time.Millisecond),
	}
}

// addrLimiters holds a limiter per client address for servers that run
// without API keys, so that limits still apply per caller.
type addrLimiters struct {
	mu       sync.Mutex
	rpm, tpm int
	byAddr   map[string]*limiter
	lastGC   time.Time
}

func (a *addrLimiters) get(addr string, now time.Time) *limiter {
	if a.rpm <= 0 && a.tpm <= 0 {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.byAddr == nil {
		a.byAddr = map[string]*limiter{}
	}
	l, ok := a.byAddr[addr]
	if !ok {
		l = newLimiter(a.rpm, a.tpm, now)
		a.byAddr[addr] = l
	}
	// An address idle for over a minute has a full bucket again, which is
	// the same as having none: drop it so the map cannot grow without bound.
	if now.Sub(a.lastGC) > time.Minute && len(a.byAddr) > 1024 {
		a.lastGC = now
		for k, v := range a.byAddr {
			v.mu.Lock()
			idle := now.Sub(v.lastUse) > 2*time.Minute
			v.mu.Unlock()
			if idle && v != l {
				delete(a.byAddr, k)
			}
		}
	}
	return l
}
