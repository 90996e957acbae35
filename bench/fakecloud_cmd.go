package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

const fakeUsage = `Usage: infergate bench fake-upstream [flags]

Serves a fake hosted OpenAI-compatible API on loopback, for experiments
that need a cloud upstream with realistic latency and no network (the
overload experiment, make overload): POST /v1/chat/completions and
/v1/completions, streamed or not, with usage; GET /v1/models. Each reply
is max_tokens words; its first token comes after --first-token plus up to
--jitter, the rest at --tokens-per-s drawn per request. Unknown request
parameters are refused with OpenAI's 400. Runs until interrupted.

Flags:
`

// fakeUpstreamMain runs `infergate bench fake-upstream`.
func fakeUpstreamMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench fake-upstream", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, fakeUsage)
		fs.PrintDefaults()
	}
	addr := fs.String("addr", "127.0.0.1:18182", "loopback `host:port` to listen on")
	var cfg FakeCloudConfig
	fs.DurationVar(&cfg.FirstToken, "first-token", 300*time.Millisecond, "least time to the first token")
	fs.DurationVar(&cfg.Jitter, "jitter", 100*time.Millisecond, "uniform extra time to the first token, from 0 to this")
	tps := fs.String("tokens-per-s", "50-100", "decode speed per request, a length distribution (N, A-B, normal:MEAN,SD)")
	fs.IntVar(&cfg.DefaultMaxTokens, "default-max-tokens", 64, "reply length for requests that set no max_tokens")
	models := fs.String("models", "", "comma list of the only model names accepted (empty: any)")
	keyEnv := fs.String("api-key-env", "", "environment `variable` holding the bearer token clients must send (empty: none)")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of the replies' words and latencies")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "bench fake-upstream: "+format+"\n", a...)
		return ExitUsage
	}
	if fs.NArg() > 0 {
		return fail("unexpected argument %q", fs.Arg(0))
	}
	if cfg.FirstToken < 0 || cfg.Jitter < 0 {
		return fail("--first-token and --jitter must not be negative")
	}
	var err error
	if cfg.TokensPerSecond, err = ParseLengthDist(*tps); err != nil {
		return fail("--tokens-per-s: %v", err)
	}
	if cfg.DefaultMaxTokens < 1 {
		return fail("--default-max-tokens must be at least 1")
	}
	for m := range strings.SplitSeq(*models, ",") {
		if m = strings.TrimSpace(m); m != "" {
			cfg.Models = append(cfg.Models, m)
		}
	}
	if *keyEnv != "" {
		if cfg.APIKey = os.Getenv(*keyEnv); cfg.APIKey == "" {
			return fail("--api-key-env: $%s is unset or empty", *keyEnv)
		}
	}
	// A fake API answers anyone who reaches it: keep it on this machine.
	host, _, err := net.SplitHostPort(*addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return fail("--addr %q: want a loopback address and port, e.g. 127.0.0.1:18182", *addr)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(stderr, "bench fake-upstream:", err)
		return ExitFailed
	}
	fake := NewFakeCloud(cfg)
	return serveFake(ctx, ln, fake, stdout, stderr)
}

// serveFake serves fake on ln until ctx is cancelled, then lets the
// requests in flight finish for a few seconds.
func serveFake(ctx context.Context, ln net.Listener, fake *FakeCloud, stdout, stderr io.Writer) int {
	srv := &http.Server{Handler: fake, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "fake upstream listening on http://%s/v1\n", ln.Addr())
	select {
	case err := <-done:
		fmt.Fprintln(stderr, "bench fake-upstream:", err)
		return ExitFailed
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		fmt.Fprintln(stderr, "bench fake-upstream: requests cut at shutdown:", err)
	}
	fmt.Fprintf(stdout, "fake upstream served %d generation requests\n", fake.Requests())
	return ExitOK
}
