package bench

import (
	"bytes"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// sampleReport is a fully populated report, so the round trip covers
// every field.
func sampleReport(label string, scale float64) *Report {
	lv := func(c int) LevelResult {
		f := float64(c) * scale
		return LevelResult{
			Label: level{concurrency: c}.label(), Concurrency: c, DurationS: 10,
			Requests: 100, Completed: 98, Failed: 2,
			Errors:            map[string]int{"http_503": 1, errTimeout: 1},
			ErrorMsgs:         map[string]string{"http_503": "queue full", errTimeout: "slow"},
			RequestThroughput: 2 * f, InputTokensPerS: 100 * f, OutputTokensPerS: 50 * f, TotalTokensPerS: 150 * f,
			InputTokens: 1000, OutputTokens: 500, InputTokensMean: 10.2, OutputTokensMean: 5.1,
			RequestedInputMean: 9.5, UsageReported: 98,
			TTFT:    Dist{Count: 98, Mean: 20 * f, P50: 18 * f, P90: 30 * f, P99: 40 * f, Min: 5, Max: 41 * f},
			TPOT:    Dist{Count: 98, Mean: 2, P50: 2, P90: 3, P99: 4, Min: 1, Max: 5},
			ITL:     Dist{Count: 400, Mean: 2, P50: 2, P90: 3, P99: 4, Min: 0.5, Max: 6},
			E2E:     Dist{Count: 98, Mean: 100 * f, P50: 90 * f, P90: 150 * f, P99: 200 * f, Min: 50, Max: 210 * f},
			Goodput: &Goodput{SLO: "ttft=500ms", Met: 90, Fraction: 0.9, RequestsPerS: 1.8 * f},
			Routes:  map[string]RouteShare{"local": {Requests: 88, Share: 88.0 / 98}, "cloud": {Requests: 10, Share: 10.0 / 98}},
			Turns:   []TurnStats{{Turn: 1, Requests: 49, InputTokensMean: 10, TTFTMeanMs: 20, TTFTP50Ms: 19, OutputTokensMean: 5}},
		}
	}
	return &Report{
		Format: ReportFormat, Label: label, StartedAt: "2025-01-02T03:04:05Z", FinishedAt: "2025-01-02T03:05:05Z",
		Params: Params{
			URL: "http://127.0.0.1:8080/v1", Model: "m", API: "chat", Stream: true, Mode: "closed",
			Concurrency: []int{1, 4}, Requests: 100, Timeout: "2m0s", InputTokens: "256", OutputTokens: "128",
			Turns: 2, SLO: "ttft=500ms", Seed: 1, APIKeySet: true, HeaderNames: []string{"X-Tenant"},
		},
		Client: ClientInfo{Hostname: "h", OS: "linux", Arch: "amd64", CPUs: 2, GoVersion: "go1.26"},
		Warmup: &WarmupResult{Requests: 4, Failed: 1, Errors: map[string]int{errConnection: 1}},
		Levels: []LevelResult{lv(1), lv(4)},
	}
}

func TestReportJSONRoundTrip(t *testing.T) {
	want := sampleReport("base", 1)
	p := filepath.Join(t.TempDir(), "sub", "r.json") // the folder is created
	if err := want.WriteJSON(p); err != nil {
		t.Fatal(err)
	}
	got, err := ReadReport(p)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip differs:\n got %+v\nwant %+v", got, want)
	}
}

func TestReadReportRejectsOtherFormats(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.json")
	if err := writeFile(p, []byte(`{"format":"something-else"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadReport(p); err == nil {
		t.Error("accepted a report of another format")
	}
}

func TestWriteSummary(t *testing.T) {
	var buf bytes.Buffer
	sampleReport("base", 1).WriteSummary(&buf)
	out := buf.String()
	for _, want := range []string{
		"base: chat http://127.0.0.1:8080/v1 model=m stream=true in=256 out=128 turns=2",
		"c=1", "c=4", "requests/s", "output tok/s", "TTFT p99 ms", "TPOT p50 ms", "ITL p90 ms", "E2E mean ms",
		"goodput req/s", "within SLO %", "cloud:10% local:90%", "http_503:1 timeout:1",
		"http_503: queue full", "by turn",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	// Non-streamed runs have no TTFT/TPOT/ITL rows.
	r := sampleReport("", 1)
	r.Params.Stream = false
	buf.Reset()
	r.WriteSummary(&buf)
	if strings.Contains(buf.String(), "TPOT") || strings.Contains(buf.String(), "TTFT") {
		t.Errorf("non-streamed summary shows streaming metrics:\n%s", buf.String())
	}
}

func TestWriteCompare(t *testing.T) {
	a, b := sampleReport("old", 1), sampleReport("new", 2)
	b.Params.InputTokens = "512"
	b.Levels = append(b.Levels, LevelResult{Label: "c=16", Concurrency: 16})
	a.Levels[0].Label = "c=2" // unmatched on purpose
	var buf bytes.Buffer
	WriteCompare(&buf, a, b, "a.json", "b.json")
	out := buf.String()
	for _, want := range []string{
		"A: a.json (old)", "B: b.json (new)",
		"input_tokens: 256 vs 512",
		"level c=4",
		"only in A: c=2", "only in B: c=1 c=16",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("compare lacks %q:\n%s", want, out)
		}
	}
	// At c=4, B's throughputs and latencies are twice A's.
	rows := map[string][]string{}
	for line := range strings.SplitSeq(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 {
			rows[strings.Join(f[:len(f)-3], " ")] = f[len(f)-3:]
		}
	}
	for name, want := range map[string][]string{
		"requests/s":   {"8.00", "16.0", "2.00x"},
		"output tok/s": {"200", "400", "2.00x"},
		"TTFT p50 ms":  {"72.0", "144", "2.00x"},
		"TPOT p50 ms":  {"2.00", "2.00", "1.00x"},
	} {
		if got := rows[name]; !reflect.DeepEqual(got, want) {
			t.Errorf("row %s = %v, want %v", name, rows[name], want)
		}
	}
}

func TestRatioAndFormat(t *testing.T) {
	tests := []struct {
		a, b float64
		want string
	}{{0, 5, "-"}, {2, 1, "0.50x"}, {3, 3, "1.00x"}}
	for _, tt := range tests {
		if got := ratio(tt.a, tt.b); got != tt.want {
			t.Errorf("ratio(%v, %v) = %q, want %q", tt.a, tt.b, got, tt.want)
		}
	}
	for v, want := range map[float64]string{0: "0", 0.01234: "0.012", 1.234: "1.23", 12.34: "12.3", 1234.5: "1234"} {
		if got := fmtNum(v); got != want {
			t.Errorf("fmtNum(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestHTML(t *testing.T) {
	r := sampleReport("<b>label</b>", 1)
	page := r.HTML()
	for _, want := range []string{"<!DOCTYPE html>", "<svg", "End-to-end latency vs request throughput", "Time per output token", "Goodput", "&lt;b&gt;label&lt;/b&gt;", "<polyline"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, bad := range []string{"<script", "<b>label", "src=", "href=", "NaN", "Inf"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	// A single level with zero figures must still draw finite axes.
	empty := &Report{Format: ReportFormat, Params: Params{API: "chat", Stream: true}, Levels: []LevelResult{{Label: "c=1"}}}
	if p := empty.HTML(); strings.Contains(p, "NaN") || strings.Contains(p, "Inf") {
		t.Error("empty level gives non-finite coordinates")
	}
}

func TestNiceCeil(t *testing.T) {
	for v, want := range map[float64]float64{0: 1, 0.7: 1, 1: 1, 1.1: 2, 2.2: 2.5, 3: 5, 7: 10, 120: 200, 240: 250} {
		if got := niceCeil(v); got != want {
			t.Errorf("niceCeil(%v) = %v, want %v", v, got, want)
		}
	}
}
