package bench

import (
	"math"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	// Expected values are NumPy's percentile with its default (linear)
	// method.
	tests := []struct {
		name string
		vals []float64
		p    float64
		want float64
	}{
		{"empty", nil, 50, 0},
		{"single", []float64{7}, 99, 7},
		{"two p50", []float64{1, 3}, 50, 2},
		{"two p0", []float64{1, 3}, 0, 1},
		{"two p100", []float64{1, 3}, 100, 3},
		{"five p50", []float64{1, 2, 3, 4, 5}, 50, 3},
		{"five p90", []float64{1, 2, 3, 4, 5}, 90, 4.6},
		{"five p99", []float64{1, 2, 3, 4, 5}, 99, 4.96},
		{"four p50 between", []float64{10, 20, 30, 40}, 50, 25},
		{"four p90", []float64{10, 20, 30, 40}, 90, 37},
		{"ties", []float64{5, 5, 5, 5}, 99, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.vals, tt.p); math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("percentile(%v, %v) = %v, want %v", tt.vals, tt.p, got, tt.want)
			}
		})
	}
}

func TestNewDist(t *testing.T) {
	vals := make([]float64, 0, 100)
	for i := 100; i >= 1; i-- { // unsorted on purpose
		vals = append(vals, float64(i))
	}
	d := newDist(vals)
	want := Dist{Count: 100, Mean: 50.5, P50: 50.5, P90: 90.1, P99: 99.01, Min: 1, Max: 100}
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"count", float64(d.Count), float64(want.Count)}, {"mean", d.Mean, want.Mean},
		{"p50", d.P50, want.P50}, {"p90", d.P90, want.P90}, {"p99", d.P99, want.P99},
		{"min", d.Min, want.Min}, {"max", d.Max, want.Max},
	} {
		if math.Abs(c.got-c.want) > 1e-9 {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if (newDist(nil) != Dist{}) {
		t.Errorf("empty dist not zero: %+v", newDist(nil))
	}
}

func TestParseSLO(t *testing.T) {
	tests := []struct {
		in      string
		want    SLO
		wantErr bool
	}{
		{"", SLO{}, false},
		{"ttft=500ms", SLO{TTFT: 500 * time.Millisecond}, false},
		{"ttft=500ms,tpot=50ms", SLO{TTFT: 500 * time.Millisecond, TPOT: 50 * time.Millisecond}, false},
		{"ttft=250, tpot=12.5, e2e=2s", SLO{TTFT: 250 * time.Millisecond, TPOT: 12500 * time.Microsecond, E2E: 2 * time.Second}, false},
		{"e2el=3s", SLO{E2E: 3 * time.Second}, false},
		{"ttft", SLO{}, true},
		{"ttft=fast", SLO{}, true},
		{"ttft=-1s", SLO{}, true},
		{"queue=1s", SLO{}, true},
	}
	for _, tt := range tests {
		got, err := ParseSLO(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseSLO(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && got != tt.want {
			t.Errorf("ParseSLO(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		if !tt.wantErr {
			back, err := ParseSLO(got.String())
			if err != nil || back != got {
				t.Errorf("ParseSLO(%q).String() = %q does not round-trip", tt.in, got.String())
			}
		}
	}
}

// mkOutcome builds a streamed outcome from times in milliseconds.
func mkOutcome(ttftMs, e2eMs float64, tokens int) outcome {
	t0 := time.Unix(1000, 0)
	at := func(v float64) time.Time { return t0.Add(time.Duration(v * float64(time.Millisecond))) }
	return outcome{start: t0, firstToken: at(ttftMs), end: at(e2eMs), outputTokens: tokens, streamed: true, fromUsage: true}
}

func TestGoodput(t *testing.T) {
	slo := SLO{TTFT: 100 * time.Millisecond, TPOT: 10 * time.Millisecond}
	failed := mkOutcome(10, 20, 2)
	failed.errKind = "http_503"
	canceled := mkOutcome(10, 20, 2)
	canceled.canceled = true
	nonStream := outcome{start: time.Unix(0, 0), end: time.Unix(0, 0).Add(90 * time.Millisecond), outputTokens: 50}
	tests := []struct {
		name string
		o    outcome
		slo  SLO
		want bool
	}{
		{"within both", mkOutcome(50, 50+9*10, 10), slo, true},       // tpot exactly 10ms
		{"ttft over", mkOutcome(101, 200, 10), slo, false},           // ttft 101ms
		{"tpot over", mkOutcome(50, 50+9*11, 10), slo, false},        // tpot 11ms
		{"one token has no tpot", mkOutcome(50, 5000, 1), slo, true}, // tpot undefined
		{"failed never counts", failed, slo, false},                  //
		{"canceled never counts", canceled, slo, false},              //
		{"non-stream ttft is e2e", nonStream, slo, true},             // 90ms e2e, tpot unchecked
		{"non-stream over", nonStream, SLO{TTFT: 80 * time.Millisecond}, false},
		{"e2e objective", mkOutcome(10, 3000, 10), SLO{E2E: 2 * time.Second}, false},
	}
	for _, tt := range tests {
		if got := tt.slo.met(&tt.o); got != tt.want {
			t.Errorf("%s: met = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	lr := &levelRun{lv: level{concurrency: 4}, start: time.Unix(1000, 0)}
	add := func(o outcome, route string, turn int) {
		o.route, o.turn, o.promptTokens, o.estPrompt = route, turn, 100, 90
		lr.outcomes = append(lr.outcomes, o)
	}
	a := mkOutcome(100, 1000, 10) // tpot 100ms
	a.itls = []time.Duration{100 * time.Millisecond, 100 * time.Millisecond}
	add(a, "local", 1)
	add(mkOutcome(200, 2000, 10), "local", 2) // tpot 200ms, ends at +2s
	add(mkOutcome(300, 1500, 10), "cloud", 1)
	bad := mkOutcome(10, 20, 0)
	bad.errKind, bad.errMsg = errTimeout, "slow"
	add(bad, "", 1)
	gone := mkOutcome(10, 5000, 0)
	gone.canceled = true
	add(gone, "", 1)

	res := summarize(lr, SLO{TTFT: 250 * time.Millisecond}, false)
	if res.Requests != 4 || res.Completed != 3 || res.Failed != 1 || res.Canceled != 1 {
		t.Fatalf("counts: requests %d completed %d failed %d canceled %d", res.Requests, res.Completed, res.Failed, res.Canceled)
	}
	if res.DurationS != 2 { // the cancelled request's end does not count
		t.Errorf("duration = %v, want 2", res.DurationS)
	}
	if res.RequestThroughput != 1.5 || res.OutputTokensPerS != 15 || res.TotalTokensPerS != 165 {
		t.Errorf("throughput: %v req/s, %v out tok/s, %v tot tok/s", res.RequestThroughput, res.OutputTokensPerS, res.TotalTokensPerS)
	}
	// TPOTs: (1000-100)/9 = 100, (2000-200)/9 = 200, (1500-300)/9 = 133.3 ms.
	if res.TTFT.Mean != 200 || math.Abs(res.TPOT.P50-1200.0/9) > 1e-5 || res.TPOT.Max != 200 {
		t.Errorf("ttft mean = %v, tpot = %+v", res.TTFT.Mean, res.TPOT)
	}
	if res.ITL.Count != 2 || res.ITL.Mean != 100 {
		t.Errorf("itl = %+v", res.ITL)
	}
	if res.Errors[errTimeout] != 1 || res.ErrorMsgs[errTimeout] != "slow" {
		t.Errorf("errors = %v %v", res.Errors, res.ErrorMsgs)
	}
	if g := res.Goodput; g == nil || g.Met != 2 || g.Fraction != 0.5 || g.RequestsPerS != 1 {
		t.Errorf("goodput = %+v", res.Goodput)
	}
	if res.Routes["local"].Requests != 2 || math.Abs(res.Routes["cloud"].Share-1.0/3) > 1e-12 {
		t.Errorf("routes = %+v", res.Routes)
	}
	// Each route's TTFT is its own requests' only.
	if l, c := res.Routes["local"].TTFT, res.Routes["cloud"].TTFT; l.Count != 2 || l.Max != 200 || l.Min != 100 || c.Count != 1 || c.P99 != 300 {
		t.Errorf("TTFT by route: local %+v, cloud %+v", l, c)
	}
	if len(res.Turns) != 2 || res.Turns[0].Requests != 2 || res.Turns[1].TTFTMeanMs != 200 {
		t.Errorf("turns = %+v", res.Turns)
	}
	if res.RequestedInputMean != 90 || res.InputTokensMean != 100 {
		t.Errorf("input means: requested %v actual %v", res.RequestedInputMean, res.InputTokensMean)
	}
}
