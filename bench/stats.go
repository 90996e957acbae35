package bench

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// percentile returns the p-th percentile (0 ≤ p ≤ 100) of sorted values by
// linear interpolation between closest ranks (NumPy's default method, as
// vLLM's benchmark uses), so figures are comparable with its reports.
// It returns 0 for no values.
func percentile(sorted []float64, p float64) float64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if n == 1 || p <= 0 {
		return sorted[0]
	}
	if p >= 100 {
		return sorted[n-1]
	}
	rank := p / 100 * float64(n-1)
	lo := int(math.Floor(rank))
	hi := min(lo+1, n-1)
	return sorted[lo] + (sorted[hi]-sorted[lo])*(rank-float64(lo))
}

// Dist summarises a latency distribution, in milliseconds. Count 0 means
// the metric was not measured (e.g. TPOT without streaming).
type Dist struct {
	Count int     `json:"count"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	Min   float64 `json:"min_ms"`
	Max   float64 `json:"max_ms"`
}

// newDist summarises vals (milliseconds); vals is sorted in place.
func newDist(vals []float64) Dist {
	if len(vals) == 0 {
		return Dist{}
	}
	slices.Sort(vals)
	sum := 0.0
	for _, v := range vals {
		sum += v
	}
	return Dist{
		Count: len(vals),
		Mean:  sum / float64(len(vals)),
		P50:   percentile(vals, 50),
		P90:   percentile(vals, 90),
		P99:   percentile(vals, 99),
		Min:   vals[0],
		Max:   vals[len(vals)-1],
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// SLO is a service-level objective per request; a zero field is not
// checked. Goodput counts the successful requests that meet every set
// field.
type SLO struct {
	TTFT time.Duration
	TPOT time.Duration
	E2E  time.Duration
}

// IsZero reports whether no objective is set.
func (s SLO) IsZero() bool { return s == SLO{} }

// ParseSLO parses "ttft=500ms,tpot=50ms,e2e=10s". A bare number is
// milliseconds, as in vLLM's --goodput.
func ParseSLO(s string) (SLO, error) {
	var slo SLO
	if strings.TrimSpace(s) == "" {
		return slo, nil
	}
	for part := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return slo, fmt.Errorf("--slo %q: want key=value pairs, e.g. ttft=500ms,tpot=50ms", s)
		}
		v = strings.TrimSpace(v)
		d, err := time.ParseDuration(v)
		if err != nil {
			f, ferr := strconv.ParseFloat(v, 64)
			if ferr != nil {
				return slo, fmt.Errorf("--slo %s: %q is not a duration (e.g. 500ms) or milliseconds", k, v)
			}
			d = time.Duration(f * float64(time.Millisecond))
		}
		if d <= 0 {
			return slo, fmt.Errorf("--slo %s must be positive", k)
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "ttft":
			slo.TTFT = d
		case "tpot":
			slo.TPOT = d
		case "e2e", "e2el":
			slo.E2E = d
		default:
			return slo, fmt.Errorf("--slo: unknown objective %q (want ttft, tpot, e2e)", k)
		}
	}
	return slo, nil
}

// String renders the SLO in ParseSLO's syntax.
func (s SLO) String() string {
	var parts []string
	if s.TTFT > 0 {
		parts = append(parts, "ttft="+s.TTFT.String())
	}
	if s.TPOT > 0 {
		parts = append(parts, "tpot="+s.TPOT.String())
	}
	if s.E2E > 0 {
		parts = append(parts, "e2e="+s.E2E.String())
	}
	return strings.Join(parts, ",")
}

// met reports whether a request counts toward goodput. TPOT is checked
// only where it is defined (streamed, two or more tokens): a one-token
// reply has no time per output token to miss.
func (s SLO) met(o *outcome) bool {
	if !o.ok() {
		return false
	}
	if s.TTFT > 0 && o.ttft() > s.TTFT {
		return false
	}
	if s.TPOT > 0 {
		if t, ok := o.tpot(); ok && t > s.TPOT {
			return false
		}
	}
	if s.E2E > 0 && o.end.Sub(o.start) > s.E2E {
		return false
	}
	return true
}

// Goodput is the rate of requests that succeeded within the SLO.
type Goodput struct {
	SLO          string  `json:"slo"`
	Met          int     `json:"met"`
	Fraction     float64 `json:"fraction"` // of requests sent (failures count against it)
	RequestsPerS float64 `json:"requests_per_s"`
}

// RouteShare is the part of completed requests one route served, and
// their time to first token: whether each route kept the TTFT objective is
// what a router's choice between them is judged by.
type RouteShare struct {
	Requests int     `json:"requests"`
	Share    float64 `json:"share"`
	TTFT     Dist    `json:"ttft"` // count 0 for embeddings
}

// TurnStats describes the n-th turn of multi-turn conversations: with a
// working prefix cache, TTFT grows far slower than the prompt.
type TurnStats struct {
	Turn             int     `json:"turn"`
	Requests         int     `json:"requests"`
	InputTokensMean  float64 `json:"input_tokens_mean"`
	TTFTMeanMs       float64 `json:"ttft_mean_ms"`
	TTFTP50Ms        float64 `json:"ttft_p50_ms"`
	OutputTokensMean float64 `json:"output_tokens_mean"`
}

// LevelResult is every figure for one level of the sweep. Durations are in
// milliseconds and rates per second of the level's wall time (from its
// first request to its last response).
type LevelResult struct {
	Label       string  `json:"label"`
	Concurrency int     `json:"concurrency,omitempty"`
	Rate        float64 `json:"rate,omitempty"`
	DurationS   float64 `json:"duration_s"`

	Requests  int               `json:"requests"` // sent and finished: completed + failed
	Completed int               `json:"completed"`
	Failed    int               `json:"failed"`
	Canceled  int               `json:"canceled,omitempty"` // in flight at Ctrl-C; in no other figure
	Errors    map[string]int    `json:"errors,omitempty"`
	ErrorMsgs map[string]string `json:"error_examples,omitempty"` // the first message per kind

	RequestThroughput float64 `json:"request_throughput"`
	InputTokensPerS   float64 `json:"input_tokens_per_s"`
	OutputTokensPerS  float64 `json:"output_tokens_per_s"`
	TotalTokensPerS   float64 `json:"total_tokens_per_s"`
	EmbeddingsPerS    float64 `json:"embeddings_per_s,omitempty"`

	InputTokens      int64   `json:"input_tokens"`
	OutputTokens     int64   `json:"output_tokens"`
	InputTokensMean  float64 `json:"input_tokens_mean"`
	OutputTokensMean float64 `json:"output_tokens_mean"`
	// RequestedInputMean is the harness's own estimate of the prompts it
	// sent; set beside InputTokensMean it shows how close the synthetic
	// prompts came to the requested lengths (chat templates add some).
	RequestedInputMean float64 `json:"requested_input_tokens_mean"`
	// UsageReported counts completed requests whose token counts the
	// server reported; the others were estimated (see the package doc).
	UsageReported int `json:"usage_reported"`

	TTFT Dist `json:"ttft"`
	TPOT Dist `json:"tpot"`
	ITL  Dist `json:"itl"`
	E2E  Dist `json:"e2e"`

	Goodput *Goodput              `json:"goodput,omitempty"`
	Routes  map[string]RouteShare `json:"routes,omitempty"`
	Turns   []TurnStats           `json:"turns,omitempty"`

	LateStarts    int     `json:"late_starts,omitempty"` // open loop: arrivals held by --max-inflight
	MaxStartLagMs float64 `json:"max_start_lag_ms,omitempty"`
	Interrupted   bool    `json:"interrupted,omitempty"`
}

// summarize computes a level's figures from its samples.
func summarize(lr *levelRun, slo SLO, interrupted bool) LevelResult {
	res := LevelResult{
		Label:       lr.lv.label(),
		Concurrency: lr.lv.concurrency,
		Rate:        lr.lv.rate,
		Interrupted: interrupted,
	}
	if n := lr.lateStarts.Load(); n > 0 {
		res.LateStarts = int(n)
		res.MaxStartLagMs = ms(time.Duration(lr.maxLag.Load()))
	}
	end := lr.start
	var ttft, tpot, itl, e2e []float64
	var reqIn int64
	routes := map[string]int{}
	routeTTFT := map[string][]float64{}
	turns := map[int][]*outcome{}
	embeddings := 0
	for i := range lr.outcomes {
		o := &lr.outcomes[i]
		if o.canceled {
			res.Canceled++
			continue
		}
		if o.end.After(end) {
			end = o.end
		}
		res.Requests++
		if !o.ok() {
			res.Failed++
			if res.Errors == nil {
				res.Errors, res.ErrorMsgs = map[string]int{}, map[string]string{}
			}
			res.Errors[o.errKind]++
			if _, seen := res.ErrorMsgs[o.errKind]; !seen {
				res.ErrorMsgs[o.errKind] = o.errMsg
			}
			continue
		}
		res.Completed++
		res.InputTokens += int64(o.promptTokens)
		res.OutputTokens += int64(o.outputTokens)
		reqIn += int64(o.estPrompt)
		embeddings += o.inputs
		if o.fromUsage {
			res.UsageReported++
		}
		if o.route != "" {
			routes[o.route]++
		}
		e2e = append(e2e, ms(o.end.Sub(o.start)))
		if o.inputs == 0 {
			ttft = append(ttft, ms(o.ttft()))
			if o.route != "" {
				routeTTFT[o.route] = append(routeTTFT[o.route], ms(o.ttft()))
			}
		}
		if t, ok := o.tpot(); ok {
			tpot = append(tpot, ms(t))
		}
		for _, d := range o.itls {
			itl = append(itl, ms(d))
		}
		turns[o.turn] = append(turns[o.turn], o)
	}
	res.DurationS = end.Sub(lr.start).Seconds()
	if res.DurationS > 0 {
		s := res.DurationS
		res.RequestThroughput = float64(res.Completed) / s
		res.InputTokensPerS = float64(res.InputTokens) / s
		res.OutputTokensPerS = float64(res.OutputTokens) / s
		res.TotalTokensPerS = float64(res.InputTokens+res.OutputTokens) / s
		res.EmbeddingsPerS = float64(embeddings) / s
	}
	if res.Completed > 0 {
		c := float64(res.Completed)
		res.InputTokensMean = float64(res.InputTokens) / c
		res.OutputTokensMean = float64(res.OutputTokens) / c
		res.RequestedInputMean = float64(reqIn) / c
	}
	res.TTFT, res.TPOT, res.ITL, res.E2E = newDist(ttft), newDist(tpot), newDist(itl), newDist(e2e)

	if !slo.IsZero() {
		g := &Goodput{SLO: slo.String()}
		for i := range lr.outcomes {
			if slo.met(&lr.outcomes[i]) {
				g.Met++
			}
		}
		if res.Requests > 0 {
			g.Fraction = float64(g.Met) / float64(res.Requests)
		}
		if res.DurationS > 0 {
			g.RequestsPerS = float64(g.Met) / res.DurationS
		}
		res.Goodput = g
	}
	if len(routes) > 0 {
		res.Routes = map[string]RouteShare{}
		for k, n := range routes {
			res.Routes[k] = RouteShare{Requests: n, Share: float64(n) / float64(res.Completed), TTFT: newDist(routeTTFT[k])}
		}
	}
	if len(turns) > 1 {
		keys := make([]int, 0, len(turns))
		for k := range turns {
			keys = append(keys, k)
		}
		sort.Ints(keys)
		for _, k := range keys {
			os := turns[k]
			ts := TurnStats{Turn: k, Requests: len(os)}
			var tt []float64
			for _, o := range os {
				ts.InputTokensMean += float64(o.promptTokens)
				ts.OutputTokensMean += float64(o.outputTokens)
				tt = append(tt, ms(o.ttft()))
			}
			ts.InputTokensMean /= float64(len(os))
			ts.OutputTokensMean /= float64(len(os))
			d := newDist(tt)
			ts.TTFTMeanMs, ts.TTFTP50Ms = d.Mean, d.P50
			res.Turns = append(res.Turns, ts)
		}
	}
	return res
}
