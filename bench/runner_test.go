package bench

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runMain runs Main against url with args and returns the exit code,
// stdout, stderr and the JSON report (nil when none was written).
func runMain(t *testing.T, ctx context.Context, url string, args ...string) (int, string, string, *Report) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "r.json")
	all := append([]string{"--url", url, "--json", p}, args...)
	var stdout, stderr bytes.Buffer
	code := Main(ctx, all, &stdout, &stderr)
	var rep *Report
	if _, err := os.Stat(p); err == nil {
		var rerr error
		if rep, rerr = ReadReport(p); rerr != nil {
			t.Fatal(rerr)
		}
	}
	return code, stdout.String(), stderr.String(), rep
}

func TestRunClosedSweepStreaming(t *testing.T) {
	f := &fakeServer{failEvery: 5, routes: []string{"local", "local", "local", "cloud"}, tokenDelay: 200 * time.Microsecond, apiKey: "sekret"}
	srv := startFake(t, f)
	htmlPath := filepath.Join(t.TempDir(), "r.html")
	code, stdout, stderr, rep := runMain(t, context.Background(), srv.URL,
		"--model", "tiny", "--api-key", "sekret", "--concurrency", "1,4", "--requests", "20",
		"--input-tokens", "20-40", "--output-tokens", "8", "--slo", "ttft=5s,tpot=1s", "--warmup", "2",
		"--html", htmlPath, "--label", "fake")
	if code != ExitOK {
		t.Fatalf("exit %d\nstderr: %s", code, stderr)
	}
	if rep == nil || len(rep.Levels) != 2 {
		t.Fatalf("report: %+v", rep)
	}
	if rep.Warmup == nil || rep.Warmup.Requests != 2 {
		t.Errorf("warmup = %+v", rep.Warmup)
	}
	for _, l := range rep.Levels {
		if l.Requests != 20 || l.Completed+l.Failed != 20 || l.Errors["http_503"] != l.Failed || l.Failed == 0 {
			t.Errorf("%s: requests %d completed %d failed %d errors %v", l.Label, l.Requests, l.Completed, l.Failed, l.Errors)
		}
		if l.ErrorMsgs["http_503"] != "queue full" {
			t.Errorf("%s: error examples %v", l.Label, l.ErrorMsgs)
		}
		// The fake server reports usage: 8 tokens per reply, and a prompt
		// of as many tokens as words.
		if l.OutputTokensMean != 8 || l.UsageReported != l.Completed || l.InputTokensMean < 15 || l.InputTokensMean > 45 {
			t.Errorf("%s: tokens out %v in %v, usage %d/%d", l.Label, l.OutputTokensMean, l.InputTokensMean, l.UsageReported, l.Completed)
		}
		if l.TTFT.Count != l.Completed || l.TTFT.P50 <= 0 || l.TPOT.Count != l.Completed || l.ITL.Count != 7*l.Completed {
			t.Errorf("%s: ttft %+v tpot %+v itl count %d", l.Label, l.TTFT, l.TPOT, l.ITL.Count)
		}
		if l.E2E.P50 < l.TTFT.P50 || l.RequestThroughput <= 0 || l.OutputTokensPerS <= 0 || l.TotalTokensPerS <= l.OutputTokensPerS {
			t.Errorf("%s: e2e %+v throughput %v %v %v", l.Label, l.E2E, l.RequestThroughput, l.OutputTokensPerS, l.TotalTokensPerS)
		}
		if l.Goodput == nil || l.Goodput.Met != l.Completed {
			t.Errorf("%s: goodput %+v", l.Label, l.Goodput)
		}
		shares := 0.0
		for _, r := range l.Routes {
			shares += r.Share
		}
		if len(l.Routes) != 2 || shares < 0.999 || shares > 1.001 {
			t.Errorf("%s: routes %+v", l.Label, l.Routes)
		}
	}
	if rep.Params.Model != "tiny" || !rep.Params.APIKeySet || rep.Label != "fake" {
		t.Errorf("params %+v", rep.Params)
	}
	for _, s := range []string{stdout, stderr} {
		if strings.Contains(s, "sekret") {
			t.Error("the API key leaked into the output")
		}
	}
	data, _ := os.ReadFile(filepath.Join(filepath.Dir(htmlPath), "r.html"))
	if !strings.Contains(string(data), "<svg") {
		t.Error("no HTML report")
	}
	if !strings.Contains(stdout, "TTFT p50 ms") || !strings.Contains(stdout, "c=4") {
		t.Errorf("summary:\n%s", stdout)
	}
	if !strings.Contains(stderr, "c=1: ") {
		t.Errorf("no per-level line on stderr: %s", stderr)
	}
	bodies, bad, _ := f.seen()
	if bad != 0 {
		t.Errorf("history mismatch in single-turn run")
	}
	for _, b := range bodies {
		if b.Model != "tiny" || !b.Stream || b.StreamOptions == nil || !b.StreamOptions.IncludeUsage || b.MaxTokens != 8 {
			t.Fatalf("request body %+v", b)
		}
	}
}

func TestRunOpenLoop(t *testing.T) {
	f := &fakeServer{}
	srv := startFake(t, f)
	start := time.Now()
	code, _, stderr, rep := runMain(t, context.Background(), srv.URL,
		"--rate", "400,800", "--burstiness", "0.5", "--requests", "30", "--input-tokens", "16", "--output-tokens", "4")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if len(rep.Levels) != 2 || rep.Levels[0].Label != "rate=400" || rep.Levels[0].Completed != 30 || rep.Levels[1].Completed != 30 {
		t.Fatalf("levels %+v", rep.Levels)
	}
	if rep.Params.Mode != "open" || rep.Params.Burstiness != 0.5 {
		t.Errorf("params %+v", rep.Params)
	}
	// 30 arrivals at 400/s take about 75ms; far more means the schedule
	// was not followed.
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("open loop took %v", el)
	}
}

func TestRunDuration(t *testing.T) {
	srv := startFake(t, &fakeServer{tokenDelay: time.Millisecond})
	start := time.Now()
	code, _, stderr, rep := runMain(t, context.Background(), srv.URL,
		"--concurrency", "2", "--duration", "150ms", "--output-tokens", "3", "--input-tokens", "8")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("a 150ms level took %v", el)
	}
	if l := rep.Levels[0]; l.Completed < 4 || l.DurationS < 0.14 {
		t.Errorf("level %+v", l)
	}
}

func TestRunNonStreamingCompletions(t *testing.T) {
	f := &fakeServer{noUsage: true}
	srv := startFake(t, f)
	code, stdout, stderr, rep := runMain(t, context.Background(), srv.URL+"/v1",
		"--api", "completions", "--stream=false", "--requests", "6", "--concurrency", "3", "--output-tokens", "5", "--temperature", "-1")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	l := rep.Levels[0]
	if l.Completed != 6 || l.UsageReported != 0 || l.TPOT.Count != 0 || l.ITL.Count != 0 || l.OutputTokensMean == 0 {
		t.Errorf("level %+v", l)
	}
	if !strings.Contains(stdout, "usage reported %") || strings.Contains(stdout, "TTFT") {
		t.Errorf("summary:\n%s", stdout)
	}
	bodies, _, _ := f.seen()
	if bodies[0].Prompt == "" || bodies[0].Stream || bodies[0].Temperature != nil {
		t.Errorf("body %+v", bodies[0])
	}
}

func TestRunStreamWithoutUsage(t *testing.T) {
	srv := startFake(t, &fakeServer{noUsage: true})
	code, _, stderr, rep := runMain(t, context.Background(), srv.URL, "--requests", "3", "--output-tokens", "6", "--input-tokens", "8")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// Without usage the harness counts content chunks and estimates the
	// prompt from its own request.
	if l := rep.Levels[0]; l.OutputTokensMean != 6 || l.UsageReported != 0 || l.InputTokensMean != 8 {
		t.Errorf("level %+v", l)
	}
}

func TestRunMultiTurn(t *testing.T) {
	f := &fakeServer{}
	srv := startFake(t, f)
	code, stdout, stderr, rep := runMain(t, context.Background(), srv.URL,
		"--turns", "3", "--concurrency", "2", "--requests", "12", "--output-tokens", "4", "--input-tokens", "10", "--system-tokens", "30")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	bodies, bad, maxHist := f.seen()
	if bad != 0 {
		t.Errorf("%d assistant messages in history were never sent by the server", bad)
	}
	if maxHist != 2 {
		t.Errorf("longest history had %d replies, want 2", maxHist)
	}
	sys := ""
	for _, b := range bodies {
		if b.Messages[0].Role != "system" || (sys != "" && b.Messages[0].Content != sys) {
			t.Fatal("system prompt missing or not shared")
		}
		sys = b.Messages[0].Content
	}
	l := rep.Levels[0]
	if l.Completed != 12 || len(l.Turns) != 3 || l.Turns[2].InputTokensMean <= l.Turns[0].InputTokensMean {
		t.Errorf("turns %+v", l.Turns)
	}
	if !strings.Contains(stdout, "by turn") {
		t.Errorf("summary:\n%s", stdout)
	}
}

func TestRunDataset(t *testing.T) {
	p := filepath.Join(t.TempDir(), "d.jsonl")
	data := `{"messages":[{"role":"system","content":"You help."},{"role":"user","content":"How do I reset my password?"},{"role":"assistant","content":"Open settings and choose reset password, then follow the email."},{"role":"user","content":"Thanks"}]}
{"conversations":[{"from":"human","value":"Where is my order?"},{"from":"gpt","value":"Let me check."}]}
`
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	f := &fakeServer{}
	srv := startFake(t, f)
	code, _, stderr, rep := runMain(t, context.Background(), srv.URL, "--dataset", p, "--turns", "2", "--requests", "6")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if rep.Levels[0].Completed != 6 || !rep.Params.OutputFromDataset {
		t.Errorf("level %+v params %+v", rep.Levels[0], rep.Params)
	}
	seen := map[string]bool{}
	bodies, _, _ := f.seen()
	for _, b := range bodies {
		seen[b.Messages[len(b.Messages)-1].Content] = true
		if b.MaxTokens != estimateTokens("Open settings and choose reset password, then follow the email.") && b.MaxTokens != estimateTokens("Let me check.") && b.MaxTokens != 128 {
			t.Errorf("max_tokens %d not from the dataset's replies", b.MaxTokens)
		}
	}
	for _, want := range []string{"How do I reset my password?", "Thanks", "Where is my order?"} {
		if !seen[want] {
			t.Errorf("dataset turn %q never sent", want)
		}
	}
}

func TestRunEmbeddings(t *testing.T) {
	f := &fakeServer{}
	srv := startFake(t, f)
	code, stdout, stderr, rep := runMain(t, context.Background(), srv.URL, "--embed", "--batch", "4", "--requests", "5", "--concurrency", "2", "--input-tokens", "12")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	l := rep.Levels[0]
	if l.Completed != 5 || l.InputTokensMean != 48 || l.EmbeddingsPerS <= 0 || l.TTFT.Count != 0 || rep.Params.API != "embeddings" {
		t.Errorf("level %+v", l)
	}
	if !strings.Contains(stdout, "embeddings/s") || strings.Contains(stdout, "TTFT") {
		t.Errorf("summary:\n%s", stdout)
	}
}

func TestRunErrorKinds(t *testing.T) {
	tests := []struct {
		name string
		f    *fakeServer
		args []string
		kind string
	}{
		{"timeout", &fakeServer{hang: true}, []string{"--timeout", "150ms"}, errTimeout},
		{"malformed stream", &fakeServer{garbage: true}, nil, errMalformed},
		{"unauthorised", &fakeServer{apiKey: "k"}, nil, "http_401"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startFake(t, tt.f)
			args := append([]string{"--requests", "2", "--output-tokens", "4", "--input-tokens", "8"}, tt.args...)
			code, stdout, _, rep := runMain(t, context.Background(), srv.URL, args...)
			if code != ExitFailed {
				t.Errorf("exit %d, want %d (no request succeeded)", code, ExitFailed)
			}
			if l := rep.Levels[0]; l.Failed != 2 || l.Errors[tt.kind] != 2 {
				t.Errorf("errors %v", l.Errors)
			}
			if !strings.Contains(stdout, tt.kind+":2") {
				t.Errorf("summary:\n%s", stdout)
			}
		})
	}
}

func TestRunConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	code, _, stderr, rep := runMain(t, context.Background(), "http://"+addr, "--requests", "2", "--warmup", "1")
	if code != ExitFailed || !strings.Contains(stderr, "every warmup request failed (connection:1)") {
		t.Errorf("exit %d, stderr %s", code, stderr)
	}
	if rep == nil || rep.Warmup.Errors[errConnection] != 1 {
		t.Errorf("report %+v", rep)
	}
}

func TestRunInterrupted(t *testing.T) {
	f := &fakeServer{tokenDelay: 2 * time.Millisecond}
	srv := startFake(t, f)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for f.n.Load() < 5 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	start := time.Now()
	code, stdout, stderr, rep := runMain(t, ctx, srv.URL, "--concurrency", "2,4", "--requests", "1000", "--output-tokens", "20", "--input-tokens", "8")
	if code != ExitInterrupted {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("cancel took %v to take effect", el)
	}
	if rep == nil || !rep.Interrupted || len(rep.Levels) != 1 || !rep.Levels[0].Interrupted {
		t.Fatalf("report %+v", rep)
	}
	l := rep.Levels[0]
	if l.Canceled == 0 || l.Failed != 0 || l.Completed >= 1000 {
		t.Errorf("level: completed %d failed %d canceled %d", l.Completed, l.Failed, l.Canceled)
	}
	if !strings.Contains(stdout, "interrupted") || !strings.Contains(stderr, "interrupted at c=2") {
		t.Errorf("stdout %s\nstderr %s", stdout, stderr)
	}
}

func TestCompareMain(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	if err := sampleReport("A", 1).WriteJSON(a); err != nil {
		t.Fatal(err)
	}
	if err := sampleReport("B", 1.5).WriteJSON(b); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := Main(context.Background(), []string{"--compare", a, b}, &stdout, &stderr); code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "1.50x") {
		t.Errorf("compare:\n%s", stdout.String())
	}
	if code := Main(context.Background(), []string{"--compare", a, filepath.Join(dir, "missing.json")}, &stdout, &stderr); code != ExitUsage {
		t.Errorf("missing file: exit %d", code)
	}
}

func TestProgressLine(t *testing.T) {
	r := &runner{cfg: &config{Requests: 10}}
	lr := &levelRun{lv: level{concurrency: 4}, start: time.Unix(0, 0), limit: 10}
	lr.done.Store(5)
	lr.failed.Store(1)
	lr.outTokens.Store(100)
	got := r.progressLine(lr, time.Unix(2, 0))
	want := "c=4       [############------------] 5/10 done, 1 failed, 2.5 req/s, 50 out tok/s, 2.0s"
	if got != want {
		t.Errorf("progress line\n got %q\nwant %q", got, want)
	}
}
