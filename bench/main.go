package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Exit codes of Main.
const (
	ExitOK          = 0   // the run finished (request failures are in the report)
	ExitFailed      = 1   // no request succeeded, or a report could not be written
	ExitUsage       = 2   // bad flags, refused target, unreadable dataset
	ExitInterrupted = 130 // the context was cancelled (Ctrl-C); partial figures were printed
)

// config is a parsed command line; the exported surface is Main and the
// report types, so that flags stay the one interface.
type config struct {
	WaitReady   time.Duration
	URL         string
	Model       string
	APIKey      string
	Headers     http.Header
	API         string // "chat" or "completions"
	Stream      bool
	Embed       bool
	Batch       int
	Concurrency []int
	Rates       []float64
	Burstiness  float64
	MaxInflight int
	Requests    int
	Duration    time.Duration
	Warmup      int
	Timeout     time.Duration

	InputTokens       LengthDist
	OutputTokens      LengthDist
	OutputFromDataset bool
	SystemTokens      int
	Turns             int
	Dataset           string
	IgnoreEOS         bool
	Temperature       float64 // negative: not sent
	SLO               SLO
	Seed              uint64
	AllowRemote       bool

	JSONPath string
	HTMLPath string
	Label    string

	Compare      bool
	CompareFiles []string
}

const usageHead = `Usage: infergate bench --url URL [flags]
       infergate bench --compare A.json B.json
       infergate bench fake-upstream [flags]   (a fake cloud API: fake-upstream --help)

Load-tests any OpenAI-compatible server (infergate, llama-server, vLLM,
Ollama) over HTTP. --url is the server's root or its /v1 root.

Load: closed loop with --concurrency (a comma list is a sweep, one level
each), or open loop with --rate (requests/s; a list is a sweep) and
gamma-distributed gaps (--burstiness 1 is Poisson). Each level runs
--requests requests, or for --duration, whichever ends first; without
either, closed loop runs max(100, 4 x concurrency) and open loop
max(100, 20 x rate) requests per level.

Workloads: chat (default) or --api completions, streamed unless
--stream=false; synthetic prompts of --input-tokens words drawn at random
(close to that many tokens on common tokenizers; the server's usage gives
true counts) or a --dataset JSONL of conversations ({"messages":[...]},
ShareGPT {"conversations":[...]} or {"prompt":...}); --turns N replays N
turns per conversation with the server's real replies as history;
--embed --batch B sends embedding batches. Knowledge-base search is not
benchmarked yet: infergate has no search endpoint.

Length distributions: N (fixed), A-B (uniform), normal:MEAN,SD.
Targets other than loopback are refused unless --allow-remote.
Ctrl-C stops the run and prints the levels measured so far.
Exit codes: 0 done, 1 no request succeeded or a report failed to write,
2 usage, 130 interrupted.

Flags:
`

// parseArgs parses the command line. It returns a nil config with the exit
// code when Main should stop (help, usage error).
func parseArgs(args []string, stderr io.Writer) (*config, int) {
	cfg := &config{Headers: http.Header{}}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageHead)
		fs.PrintDefaults()
	}

	fs.StringVar(&cfg.URL, "url", "", "server base URL, e.g. http://127.0.0.1:8080 (required)")
	fs.StringVar(&cfg.Model, "model", "", "model name sent in requests (omitted when empty)")
	fs.StringVar(&cfg.APIKey, "api-key", "", "bearer token (default $INFERGATE_BENCH_API_KEY); never written to reports")
	fs.Func("header", "extra request header `Name: value` (repeatable); values are not written to reports", func(s string) error {
		k, v, ok := strings.Cut(s, ":")
		if !ok || strings.TrimSpace(k) == "" {
			return errors.New(`want "Name: value"`)
		}
		cfg.Headers.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		return nil
	})
	fs.StringVar(&cfg.API, "api", "chat", "chat (/v1/chat/completions) or completions (/v1/completions)")
	fs.BoolVar(&cfg.Stream, "stream", true, "stream responses (SSE); TTFT, TPOT and ITL need it")
	fs.BoolVar(&cfg.Embed, "embed", false, "benchmark /v1/embeddings instead of generation")
	fs.IntVar(&cfg.Batch, "batch", 1, "texts per embeddings request (with --embed)")
	conc := fs.String("concurrency", "1", "closed loop: concurrent conversations per level, comma list for a sweep, e.g. 1,4,16,64")
	rate := fs.String("rate", "", "open loop: conversation arrivals per second, comma list for a sweep")
	fs.Float64Var(&cfg.Burstiness, "burstiness", 1, "open loop: gamma shape of inter-arrival gaps; 1 is Poisson, below 1 burstier")
	fs.IntVar(&cfg.MaxInflight, "max-inflight", 1024, "open loop: cap on conversations in flight (arrivals beyond it wait and count as late)")
	fs.IntVar(&cfg.Requests, "requests", 0, "requests per level (0: see above)")
	fs.DurationVar(&cfg.Duration, "duration", 0, "time per level to start requests in (0: unlimited); in-flight requests are awaited")
	fs.IntVar(&cfg.Warmup, "warmup", 0, "unmeasured requests sent before the first level, at its concurrency")
	fs.DurationVar(&cfg.Timeout, "timeout", 120*time.Second, "limit for one request, start to last byte")
	in := fs.String("input-tokens", "256", "prompt length distribution in tokens (synthetic prompts; per text with --embed)")
	out := fs.String("output-tokens", "128", "max_tokens distribution (with --dataset the default is each recorded reply's length)")
	fs.IntVar(&cfg.SystemTokens, "system-tokens", 0, "a system prompt of about N tokens shared by every conversation (exercises prefix caching)")
	fs.IntVar(&cfg.Turns, "turns", 1, "user turns per conversation; each resends the history with the server's replies")
	fs.StringVar(&cfg.Dataset, "dataset", "", "JSONL file of conversations instead of synthetic prompts")
	fs.BoolVar(&cfg.IgnoreEOS, "ignore-eos", false, `send "ignore_eos": true (vLLM, llama-server) so replies run to max_tokens`)
	fs.Float64Var(&cfg.Temperature, "temperature", 0, "sampling temperature; negative: not sent")
	slo := fs.String("slo", "", "goodput objectives, e.g. ttft=500ms,tpot=50ms,e2e=10s (bare numbers are ms)")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of prompts and arrivals; equal seeds give equal workloads")
	fs.DurationVar(&cfg.WaitReady, "wait-ready", 0, "wait up to this long for the server to answer GET /v1/models before starting (for a server just launched)")
	fs.BoolVar(&cfg.AllowRemote, "allow-remote", false, "allow a target that is not a loopback address")
	fs.StringVar(&cfg.JSONPath, "json", "", "write every figure and the parameters to this JSON file")
	fs.StringVar(&cfg.HTMLPath, "html", "", "write a self-contained HTML report with SVG plots to this file")
	fs.StringVar(&cfg.Label, "label", "", "name of this run in reports and comparisons")
	fs.BoolVar(&cfg.Compare, "compare", false, "compare two JSON reports given as arguments: --compare A.json B.json")

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, ExitOK
		}
		return nil, ExitUsage
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	fail := func(format string, a ...any) (*config, int) {
		fmt.Fprintf(stderr, "bench: "+format+"\n", a...)
		return nil, ExitUsage
	}

	if cfg.Compare {
		if fs.NArg() != 2 {
			return fail("--compare takes two report files: --compare A.json B.json")
		}
		cfg.CompareFiles = fs.Args()
		return cfg, ExitOK
	}
	if fs.NArg() > 0 {
		return fail("unexpected argument %q (flags must come before it)", fs.Arg(0))
	}
	if cfg.URL == "" {
		return fail("--url is required (e.g. --url http://127.0.0.1:8080)")
	}
	if cfg.APIKey == "" {
		cfg.APIKey = os.Getenv("INFERGATE_BENCH_API_KEY")
	}
	if cfg.API != "chat" && cfg.API != "completions" {
		return fail("--api must be chat or completions, not %q", cfg.API)
	}
	if set["rate"] && set["concurrency"] {
		return fail("--concurrency (closed loop) and --rate (open loop) exclude each other; use --max-inflight to cap an open loop")
	}
	var err error
	if set["rate"] {
		if cfg.Rates, err = parseRates(*rate); err != nil {
			return fail("%v", err)
		}
	} else if cfg.Concurrency, err = parseConcurrency(*conc); err != nil {
		return fail("%v", err)
	}
	switch {
	case math.IsNaN(cfg.Burstiness) || cfg.Burstiness <= 0 || cfg.Burstiness > 1000:
		return fail("--burstiness must be in (0, 1000]")
	case cfg.MaxInflight < 1 || cfg.MaxInflight > 65536:
		return fail("--max-inflight must be in [1, 65536]")
	case cfg.Requests < 0 || cfg.Requests > maxRequestsPerLevel:
		return fail("--requests must be in [0, %d]", maxRequestsPerLevel)
	case cfg.Duration < 0 || cfg.Duration > 24*time.Hour:
		return fail("--duration must be in [0, 24h]")
	case cfg.Warmup < 0 || cfg.Warmup > 10000:
		return fail("--warmup must be in [0, 10000]")
	case cfg.Timeout <= 0 || cfg.Timeout > time.Hour:
		return fail("--timeout must be in (0, 1h]")
	case cfg.Batch < 1 || cfg.Batch > 2048:
		return fail("--batch must be in [1, 2048]")
	case set["batch"] && !cfg.Embed:
		return fail("--batch applies to --embed only")
	case cfg.Turns < 1 || cfg.Turns > 100:
		return fail("--turns must be in [1, 100]")
	case cfg.Embed && cfg.Turns > 1:
		return fail("--turns does not apply to --embed")
	case cfg.SystemTokens < 0 || cfg.SystemTokens > maxLength:
		return fail("--system-tokens must be in [0, %d]", maxLength)
	case math.IsNaN(cfg.Temperature) || math.IsInf(cfg.Temperature, 0) || cfg.Temperature > 10:
		return fail("--temperature must be a number up to 10")
	}
	if cfg.InputTokens, err = ParseLengthDist(*in); err != nil {
		return fail("--input-tokens: %v", err)
	}
	if cfg.OutputTokens, err = ParseLengthDist(*out); err != nil {
		return fail("--output-tokens: %v", err)
	}
	cfg.OutputFromDataset = cfg.Dataset != "" && !set["output-tokens"]
	if cfg.SLO, err = ParseSLO(*slo); err != nil {
		return fail("%v", err)
	}
	if cfg.SLO.TPOT > 0 && (!cfg.Stream || cfg.Embed) {
		fmt.Fprintln(stderr, "bench: warning: the tpot objective needs streaming and is not checked")
	}
	if cfg.Embed && cfg.SLO.TTFT > 0 {
		fmt.Fprintln(stderr, "bench: warning: embeddings have no first token; the ttft objective is checked against end-to-end latency")
	}
	return cfg, ExitOK
}

// parseConcurrency parses a comma list of distinct concurrencies.
func parseConcurrency(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 4096 {
			return nil, fmt.Errorf("--concurrency %q: each value must be an integer in [1, 4096]", s)
		}
		if slices.Contains(out, n) {
			return nil, fmt.Errorf("--concurrency %q: %d appears twice", s, n)
		}
		out = append(out, n)
	}
	return out, nil
}

// parseRates parses a comma list of distinct arrival rates.
func parseRates(s string) ([]float64, error) {
	var out []float64
	for f := range strings.SplitSeq(s, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || !(r > 0 && r <= 100000) {
			return nil, fmt.Errorf("--rate %q: each value must be in (0, 100000] requests/s", s)
		}
		if slices.Contains(out, r) {
			return nil, fmt.Errorf("--rate %q: %s appears twice", s, fmtNum(r))
		}
		out = append(out, r)
	}
	return out, nil
}

// levels lists the sweep in the order given.
func (c *config) levels() []level {
	var out []level
	for _, n := range c.Concurrency {
		out = append(out, level{concurrency: n})
	}
	for _, r := range c.Rates {
		out = append(out, level{rate: r})
	}
	return out
}

// params records the run's parameters for the report.
func (c *config) params(base *url.URL) Params {
	p := Params{
		URL: base.String(), Model: c.Model, API: c.API, Stream: c.Stream && !c.Embed,
		Concurrency: c.Concurrency, Rate: c.Rates, Requests: c.Requests, Warmup: c.Warmup,
		Timeout: c.Timeout.String(), InputTokens: c.InputTokens.String(), OutputTokens: c.OutputTokens.String(),
		OutputFromDataset: c.OutputFromDataset, SystemTokens: c.SystemTokens, Turns: c.Turns,
		Dataset: c.Dataset, IgnoreEOS: c.IgnoreEOS, Temperature: c.Temperature, SLO: c.SLO.String(),
		Seed: c.Seed, APIKeySet: c.APIKey != "", AllowRemote: c.AllowRemote, Mode: "closed",
	}
	if c.Duration > 0 {
		p.Duration = c.Duration.String()
	}
	if len(c.Rates) > 0 {
		p.Mode, p.Burstiness, p.MaxInflight = "open", c.Burstiness, c.MaxInflight
	}
	if c.Embed {
		p.API, p.Batch, p.OutputTokens = "embeddings", c.Batch, ""
	}
	for k := range c.Headers {
		p.HeaderNames = append(p.HeaderNames, k)
	}
	slices.Sort(p.HeaderNames)
	return p
}

func clientInfo() ClientInfo {
	h, _ := os.Hostname()
	return ClientInfo{Hostname: h, OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
}

// isTerminal reports whether w is a character device, where a redrawn
// progress line is welcome; in a log file it would be noise.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("TERM") == "dumb" {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Main runs `infergate bench` with args (without the subcommand name). The
// summary goes to stdout; progress, warnings and errors to stderr. Cancel
// ctx (e.g. on SIGINT) to stop: requests in flight are abandoned, and the
// levels measured so far are printed and written to --json/--html.
// `infergate bench fake-upstream` serves a FakeCloud instead.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "fake-upstream" {
		return fakeUpstreamMain(ctx, args[1:], stdout, stderr)
	}
	cfg, code := parseArgs(args, stderr)
	if cfg == nil {
		return code
	}
	if cfg.Compare {
		return compareFiles(cfg.CompareFiles, stdout, stderr)
	}
	base, err := apiBase(cfg.URL)
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return ExitUsage
	}
	if err := checkTarget(ctx, base.Hostname(), cfg.AllowRemote, net.DefaultResolver.LookupIPAddr); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return ExitUsage
	}
	if cfg.WaitReady > 0 {
		if err := waitReady(ctx, newClient(cfg, base, 1), cfg.WaitReady); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return ExitFailed
		}
	}
	var dataset []datasetConv
	if cfg.Dataset != "" {
		if dataset, err = loadDataset(cfg.Dataset); err != nil {
			fmt.Fprintln(stderr, "bench: dataset:", err)
			return ExitUsage
		}
	}
	rep, code := run(ctx, cfg, base, dataset, stderr)
	rep.WriteSummary(stdout)
	if cfg.JSONPath != "" {
		if err := rep.WriteJSON(cfg.JSONPath); err != nil {
			fmt.Fprintln(stderr, "bench: writing JSON report:", err)
			code = max(code, ExitFailed)
		}
	}
	if cfg.HTMLPath != "" {
		if err := rep.WriteHTML(cfg.HTMLPath); err != nil {
			fmt.Fprintln(stderr, "bench: writing HTML report:", err)
			code = max(code, ExitFailed)
		}
	}
	return code
}

// run performs the warmup and every level, and returns the report with the
// exit code.
func run(ctx context.Context, cfg *config, base *url.URL, dataset []datasetConv, stderr io.Writer) (*Report, int) {
	levels := cfg.levels()
	maxConns := cfg.MaxInflight
	if len(cfg.Rates) == 0 {
		maxConns = slices.Max(cfg.Concurrency)
	}
	cl := newClient(cfg, base, maxConns)
	defer cl.close()
	r := &runner{cfg: cfg, client: cl, work: newWorkload(cfg, dataset), progress: stderr, live: isTerminal(stderr)}
	rep := &Report{
		Format:    ReportFormat,
		Label:     cfg.Label,
		StartedAt: time.Now().UTC().Format(time.RFC3339),
		Params:    cfg.params(base),
		Client:    clientInfo(),
	}
	finish := func(code int) (*Report, int) {
		rep.FinishedAt = time.Now().UTC().Format(time.RFC3339)
		return rep, code
	}

	if cfg.Warmup > 0 {
		wc := 1
		if len(cfg.Concurrency) > 0 {
			wc = min(cfg.Warmup, cfg.Concurrency[0])
		}
		fmt.Fprintf(stderr, "warmup: %d requests at concurrency %d\n", cfg.Warmup, wc)
		lr := r.runLevel(ctx, level{concurrency: wc}, int64(cfg.Warmup), 0, 0)
		w := summarize(lr, SLO{}, false)
		rep.Warmup = &WarmupResult{Requests: w.Requests, Failed: w.Failed, Errors: w.Errors}
		if ctx.Err() != nil {
			rep.Interrupted = true
			fmt.Fprintln(stderr, "interrupted during warmup")
			return finish(ExitInterrupted)
		}
		if w.Requests > 0 && w.Completed == 0 {
			fmt.Fprintf(stderr, "bench: every warmup request failed (%s); is the server up and --model right?\n", errorCell(w.Errors))
			for k, m := range w.ErrorMsgs {
				fmt.Fprintf(stderr, "  %s: %s\n", k, m)
			}
			return finish(ExitFailed)
		}
	}

	completed := 0
	for i, lv := range levels {
		lr := r.runLevel(ctx, lv, r.limitFor(lv), cfg.Duration, uint64(i+1))
		interrupted := ctx.Err() != nil
		res := summarize(lr, cfg.SLO, interrupted)
		completed += res.Completed
		if res.Requests > 0 || !interrupted {
			rep.Levels = append(rep.Levels, res)
			fmt.Fprintln(stderr, levelLine(&res))
		}
		if interrupted {
			rep.Interrupted = true
			fmt.Fprintf(stderr, "interrupted at %s\n", lv.label())
			return finish(ExitInterrupted)
		}
	}
	if completed == 0 {
		fmt.Fprintln(stderr, "bench: no request succeeded")
		return finish(ExitFailed)
	}
	return finish(ExitOK)
}

// levelLine is the one-line account of a finished level on stderr.
func levelLine(l *LevelResult) string {
	s := fmt.Sprintf("%s: %d ok, %d failed in %ss, %s req/s", l.Label, l.Completed, l.Failed, fmtNum(l.DurationS), fmtNum(l.RequestThroughput))
	if l.OutputTokensPerS > 0 {
		s += fmt.Sprintf(", %s out tok/s, TTFT p50 %sms", fmtNum(l.OutputTokensPerS), fmtNum(l.TTFT.P50))
	}
	s += fmt.Sprintf(", E2E p50 %sms", fmtNum(l.E2E.P50))
	if len(l.Errors) > 0 {
		s += ", errors " + errorCell(l.Errors)
	}
	return s
}

// compareFiles implements --compare.
func compareFiles(files []string, stdout, stderr io.Writer) int {
	a, err := ReadReport(files[0])
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return ExitUsage
	}
	b, err := ReadReport(files[1])
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return ExitUsage
	}
	WriteCompare(stdout, a, b, files[0], files[1])
	return ExitOK
}
