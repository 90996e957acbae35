package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/infergate/infergate/batcher"
	"github.com/infergate/infergate/gateway"
	"github.com/infergate/infergate/index"
	"github.com/infergate/infergate/inference"
	"github.com/infergate/infergate/models"
	"github.com/infergate/infergate/router"
	"github.com/infergate/infergate/store"
	"github.com/infergate/infergate/upstream"
)

// serveConfig is everything `infergate serve` is configured with.
type serveConfig struct {
	config           string
	addr             string
	dataDir          string
	snapshotInterval time.Duration
	tlsCert, tlsKey  string

	backupInterval time.Duration
	// retention is how long the bots' conversations are kept (0: forever).
	retention  time.Duration
	backupKeep int
	backupDir  string

	chatModel, chatModelID   string
	embedModel, embedModelID string
	chatTemplate             string
	parallel, embedParallel  int
	ctxSize, batchSize       int
	prefillChunk             int
	flashAttn, cacheType     string
	longPrefill              int
	threads, gpuLayers       int
	libDir                   string
	queueLen                 int
	maxQueueWait             time.Duration

	apiKeys        []string
	apiKeysFile    string
	adminKeys      []string
	metricsAdmin   bool
	rpm, tpm       int
	trustedProxies []string

	maxBodyBytes, maxHeaderBytes int
	maxIngestBodyBytes           int
	maxMessages, maxInputs       int
	maxConns, maxConnsPerIP      int
	readTimeout, writeTimeout    time.Duration
	idleTimeout, streamKeepAlive time.Duration
	shutdownTimeout, drainDelay  time.Duration

	logLevel, logFormat string
}

func serveOptions(c *serveConfig) *options {
	o := newOptions("serve")
	o.group("Server")
	o.String(&c.config, "config", "", "YAML `file` with any of these options by name (e.g. parallel: 8), a keys: list of API keys ({name, key or sha256, rpm, tpm, monthly_budget_usd, local_only}), upstreams: cloud APIs ({name, kind openai|anthropic, base_url, api_key_env, models: {local-id: cloud-id}, embedding_models: {local-embedding-id: the identical cloud model}, max_concurrency, price_per_mtok}) routing: when to use them ({ttft_slo, monthly_budget_usd}) and bots: support bots served at /v1/bots/{name} (see the README, Support bots)")
	o.String(&c.addr, "addr", "127.0.0.1:8080", "`host:port` to listen on")
	o.String(&c.dataDir, "data-dir", "./data", "`dir`ectory for everything the server persists: the store (store/: the knowledge base, this month's cloud spend), its vector-graph snapshots (index/), backups (backups/)")
	o.Duration(&c.snapshotInterval, "snapshot-interval", index.DefaultSnapshotInterval, "how often the knowledge base snapshots the vector graphs of changed collections, so that a restart need not rebuild them (also at shutdown; negative: only then)")
	o.Duration(&c.drainDelay, "drain-delay", 0, "on SIGTERM/SIGINT, keep serving this long with /readyz at 503 before closing the listener, so load balancers can stop routing here (e.g. 5s behind Kubernetes)")
	o.Duration(&c.shutdownTimeout, "shutdown-timeout", 30*time.Second, "on SIGTERM/SIGINT, how long requests and streams in progress may run (after --drain-delay) before they are cut")
	o.String(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	o.String(&c.logFormat, "log-format", "json", "json or text")
	o.String(&c.tlsCert, "tls-cert", "", "PEM `file` of the certificate chain to serve HTTPS with (TLS 1.2 or later, HTTP/1.1); needs --tls-key. On SIGHUP both files are read again: new connections get the new certificate, open ones carry on, and a pair that fails to load is logged and the previous one kept")
	o.String(&c.tlsKey, "tls-key", "", "PEM `file` of the private key of --tls-cert")

	o.group("Backups")
	o.Duration(&c.retention, "conversation-retention", 0, "delete the support bots' conversations (turns, feedback and handoff tickets with them) this long after they began, checked hourly, e.g. 2160h for 90 days (0: keep them)")
	o.Duration(&c.backupInterval, "backup-interval", 0, "back the data directory up this often (0: off): a consistent checkpoint of the store and the vector graphs while the server writes, into --backup-dir/scheduled-TIME, at once if the newest is older than this; restore one with infergate restore --from")
	o.Int(&c.backupKeep, "backup-keep", 7, "scheduled backups to keep; older ones are deleted after each new one (backups named by POST /admin/backup are never deleted)")
	o.String(&c.backupDir, "backup-dir", "", "`dir`ectory of the scheduled backups (default: <data-dir>/backups); put it on another disk to survive the loss of the data directory's")

	o.group("Models")
	o.String(&c.chatModel, "chat-model", "models/cache/stories260K.gguf", "GGUF `file` of the chat/completions model; empty for none")
	o.String(&c.chatModelID, "chat-model-id", "", "id clients use for the chat model (default: file name without .gguf)")
	o.String(&c.embedModel, "embed-model", "models/cache/all-MiniLM-L6-v2-Q4_K_M.gguf", "GGUF `file` of the embedding model; empty for none")
	o.String(&c.embedModelID, "embed-model-id", "", "id clients use for the embedding model (default: file name without .gguf)")
	o.String(&c.chatTemplate, "chat-template", "", "chat template: a Jinja template text or a llama.cpp built-in name (chatml, llama3, ...); default: the model's own, else chatml")

	o.group("Scheduler and engine")
	o.Int(&c.parallel, "parallel", batcher.DefaultParallel, "sequences the chat model generates at once (slots)")
	o.Int(&c.embedParallel, "embed-parallel", 8, "inputs the embedding model encodes at once")
	o.Int(&c.ctxSize, "ctx-size", 0, "KV cache cells of the chat model, split evenly among slots (0: parallel × min(model context, 4096))")
	o.Int(&c.batchSize, "batch-size", batcher.DefaultBatchSize, "tokens decoded per step")
	o.Int(&c.prefillChunk, "prefill-chunk", batcher.DefaultPrefillChunk, "most prompt tokens added to a step while other sequences generate (chunked prefill; the scheduler adapts below it)")
	o.Int(&c.threads, "threads", 0, "CPU threads for llama.cpp (0: half the CPUs, i.e. the physical cores on SMT machines)")
	o.Int(&c.longPrefill, "long-prefill", batcher.DefaultLongPrefill, "prompts with more tokens than this are chunked across steps; shorter ones run whole in the next step (-1: chunk all)")
	o.String(&c.flashAttn, "flash-attn", "auto", "flash attention: on, off, or auto (off on CPU, where it is slower; llama.cpp's choice with --gpu-layers)")
	o.String(&c.cacheType, "cache-type", "f16", "element type of the KV cache: f32, f16, bf16, q8_0, q5_1, q5_0, q4_1, q4_0 or iq4_nl (quantized types save memory and need flash attention; f32 can be faster on CPU for small models)")
	o.Int(&c.gpuLayers, "gpu-layers", 0, "layers to offload to the GPU (-1: all); needs a backend from --lib-dir")
	o.String(&c.libDir, "lib-dir", "", "`dir`ectory of ggml GPU backend libraries (libggml-cuda.so, built by make cuda) to load at start")
	o.Int(&c.queueLen, "queue-len", 256, "requests that may wait for a slot per model; more are refused with 429")
	o.Duration(&c.maxQueueWait, "max-queue-wait", 0, "refuse (429) a request whose predicted wait for a slot exceeds this (0: no limit)")

	o.group("Authentication and rate limits")
	o.List(&c.apiKeys, "api-key", "API key clients must send as Authorization: Bearer KEY; repeatable or comma-separated; sha256:HEX for a hashed key (no keys: open server)")
	o.String(&c.apiKeysFile, "api-keys-file", "", "`file` of API keys, one per line: KEY|sha256:HEX [name=NAME] [rpm=N] [tpm=N]")
	o.List(&c.adminKeys, "admin-key", "key for /admin/* (and /metrics with --metrics-require-admin); repeatable; sha256:HEX for a hashed key")
	o.Bool(&c.metricsAdmin, "metrics-require-admin", false, "require an admin key for /metrics")
	o.Int(&c.rpm, "rpm", 0, "requests per minute per API key (per client address without keys); 0: unlimited")
	o.Int(&c.tpm, "tpm", 0, "prompt+completion tokens per minute per API key; 0: unlimited")
	o.List(&c.trustedProxies, "trusted-proxies", "CIDRs (or addresses) of the reverse proxies and load balancers in front; from them the client address is the rightmost untrusted one in X-Forwarded-For (or Forwarded: for=), for per-address limits, and --max-conns-per-ip does not apply to them; those headers from other peers are ignored (none: the socket address)")

	o.group("Request limits and timeouts")
	o.Int(&c.maxBodyBytes, "max-body-bytes", 4<<20, "largest request body; larger ones get 413")
	o.Int(&c.maxIngestBodyBytes, "max-ingest-body-bytes", 64<<20, "largest body of a document upload (POST /v1/collections/{name}/documents); larger ones get 413")
	o.Int(&c.maxHeaderBytes, "max-header-bytes", 16<<10, "largest request line plus headers; larger ones get 431")
	o.Int(&c.maxMessages, "max-messages", 1024, "most messages in one chat request")
	o.Int(&c.maxInputs, "max-embedding-inputs", 2048, "most inputs in one embeddings request")
	o.Int(&c.maxConns, "max-conns", 10000, "most open client connections; more get 503")
	o.Int(&c.maxConnsPerIP, "max-conns-per-ip", 0, "most open connections from one address; more get 429 (0: unlimited)")
	o.Duration(&c.readTimeout, "read-timeout", 30*time.Second, "time to receive a whole request, headers and body (defeats slow senders)")
	o.Duration(&c.writeTimeout, "write-timeout", 60*time.Second, "time for each write of a response; a stream renews it per event, so it drops stalled readers, not long streams")
	o.Duration(&c.idleTimeout, "idle-timeout", 120*time.Second, "keep-alive connections idle this long are closed")
	o.Duration(&c.streamKeepAlive, "stream-keepalive", 10*time.Second, "SSE comment interval while a stream waits (keeps proxies from timing out, detects departed clients)")
	return o
}

const serveUsage = `Usage: infergate serve [options]

Serves the OpenAI-compatible API (/v1/chat/completions, /v1/completions,
/v1/embeddings, /v1/models), the knowledge base (/v1/collections/...),
/healthz, /readyz, /metrics, /admin/status and /admin/backup.

SIGTERM or SIGINT drains and stops the server; SIGHUP reloads the TLS
certificate and key (--tls-cert, --tls-key).

Every option may also be given as the environment variable shown, or in the
YAML file named by --config. The command line wins over the environment,
which wins over the file.
`

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	var c serveConfig
	o := serveOptions(&c)
	fc, err := o.parse(args, getenv)
	if errors.Is(err, errHelp) {
		fmt.Fprint(stdout, serveUsage)
		o.usage(stdout)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "infergate serve: %v\n(see infergate serve --help)\n", err)
		return 2
	}
	log, err := newLogger(stderr, c.logLevel, c.logFormat)
	if err != nil {
		fmt.Fprintf(stderr, "infergate serve: %v\n", err)
		return 2
	}
	slog.SetDefault(log)
	if err := serve(ctx, &c, fc, log); err != nil {
		log.Error("serve failed", "error", err.Error())
		return 1
	}
	return 0
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want json or text", format)
	}
}

// keys gathers the API keys from the flags, the keys file and the config
// file, hashing plain keys at once.
func (c *serveConfig) keys(fc *fileConfig) ([]gateway.APIKey, []gateway.KeyHash, error) {
	var keys []gateway.APIKey
	for i, k := range c.apiKeys {
		h, err := gateway.ParseKey(k)
		if err != nil {
			return nil, nil, fmt.Errorf("--api-key %d: %w", i+1, err)
		}
		keys = append(keys, gateway.APIKey{Name: fmt.Sprintf("key-%d", i+1), Hash: h})
	}
	if c.apiKeysFile != "" {
		f, err := os.Open(c.apiKeysFile)
		if err != nil {
			return nil, nil, fmt.Errorf("--api-keys-file: %w", err)
		}
		fileKeys, err := gateway.ParseKeysFile(f)
		f.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("--api-keys-file %s: %w", c.apiKeysFile, err)
		}
		keys = append(keys, fileKeys...)
	}
	for i, k := range fc.Keys {
		var h gateway.KeyHash
		var err error
		switch {
		case k.Key != "" && k.SHA256 != "":
			err = errors.New("give key or sha256, not both")
		case k.Key != "":
			h, err = gateway.ParseKey(k.Key)
		case k.SHA256 != "":
			h, err = gateway.ParseKey("sha256:" + strings.TrimPrefix(k.SHA256, "sha256:"))
		default:
			err = errors.New("needs key or sha256")
		}
		if err != nil {
			return nil, nil, fmt.Errorf("config keys[%d]: %w", i, err)
		}
		keys = append(keys, gateway.APIKey{Name: k.Name, Hash: h, RequestsPerMinute: k.RPM, TokensPerMinute: k.TPM,
			MonthlyBudgetUSD: k.MonthlyBudgetUSD, LocalOnly: k.LocalOnly})
	}
	var admin []gateway.KeyHash
	for i, k := range c.adminKeys {
		h, err := gateway.ParseKey(k)
		if err != nil {
			return nil, nil, fmt.Errorf("--admin-key %d: %w", i+1, err)
		}
		admin = append(admin, h)
	}
	return keys, admin, nil
}

// serve loads the models, serves until ctx is cancelled, then shuts down
// gracefully.
func serve(ctx context.Context, c *serveConfig, fc *fileConfig, log *slog.Logger) error {
	keys, admin, err := c.keys(fc)
	if err != nil {
		return err
	}
	trusted, err := gateway.ParseTrustedProxies(c.trustedProxies)
	if err != nil {
		return fmt.Errorf("--trusted-proxies: %w", err)
	}
	useTLS, err := checkTLSFlags(c.tlsCert, c.tlsKey)
	if err != nil {
		return err
	}
	backups, err := c.backupSettings()
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		log.Warn("no API keys configured: the API is open to anyone who can reach " + c.addr)
	}
	// The certificate loads before the models, so that a bad one fails
	// fast; it serves once the listener is up.
	var certs *certReloader
	if useTLS {
		if certs, err = newCertReloader(c.tlsCert, c.tlsKey, log); err != nil {
			return fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
	}
	if c.dataDir != "" {
		if err := os.MkdirAll(c.dataDir, 0o755); err != nil {
			return fmt.Errorf("--data-dir: %w", err)
		}
	}
	if c.libDir != "" {
		loaded, err := inference.LoadBackends(c.libDir)
		if err != nil {
			return fmt.Errorf("--lib-dir: %w", err)
		}
		log.Info("GPU backends loaded", "backends", loaded)
	}
	for _, d := range inference.Devices() {
		log.Info("compute device", "name", d.Name, "type", d.Type.String(), "description", d.Description,
			"memory_free_mib", d.MemoryFree>>20, "memory_total_mib", d.MemoryTotal>>20)
	}

	// The catalogue validates the files (a readable GGUF of the right kind)
	// before llama.cpp opens them, and supplies /v1/models' metadata.
	var entries []models.Entry
	if c.chatModel != "" {
		entries = append(entries, models.Entry{ID: c.chatModelID, Path: c.chatModel, Kind: models.KindChat})
	}
	if c.embedModel != "" {
		entries = append(entries, models.Entry{ID: c.embedModelID, Path: c.embedModel, Kind: models.KindEmbedding})
	}
	clouds, err := cloudUpstreams(fc.Upstreams, fc.Routing, log)
	if err != nil {
		return err
	}
	if len(entries) == 0 && len(clouds) == 0 {
		return errors.New("no models: set --chat-model and/or --embed-model, or configure upstreams")
	}
	// The store opens before the models, as the routers' budget reads this
	// month's spend from it; deferred first, it closes last, after the
	// knowledge base and the models.
	var st *store.Store
	if c.dataDir != "" {
		if st, err = store.Open(ctx, filepath.Join(c.dataDir, "store"), &store.Options{Logger: log}); err != nil {
			return fmt.Errorf("opening the store: %w", err)
		}
		defer func() {
			if err := st.Close(); err != nil {
				log.Error("closing the store", "error", err.Error())
			}
		}()
	}
	budget, err := openBudget(ctx, st, fc.Routing, len(clouds), log)
	if err != nil {
		return err
	}
	routerMetrics := router.NewMetrics(clouds, budget)
	cat, err := models.NewCatalog(entries)
	if err != nil {
		return fmt.Errorf("model catalogue: %w", err)
	}

	var served []gateway.Model
	var batchers []*batcher.Batcher
	defer func() {
		for _, b := range batchers {
			if err := b.Close(); err != nil {
				log.Warn("closing model", "model", b.ModelID(), "error", err.Error())
			}
		}
	}()
	for _, m := range cat.List() {
		bc := batcher.Config{
			ID: m.ID, ModelPath: m.Path, ChatTemplate: c.chatTemplate,
			Parallel: c.parallel, CtxSize: c.ctxSize, BatchSize: c.batchSize, PrefillChunk: c.prefillChunk,
			FlashAttention: c.flashAttn, CacheType: c.cacheType, LongPrefill: c.longPrefill,
			Threads: c.threads, GPULayers: c.gpuLayers, QueueLen: c.queueLen, MaxQueueWait: c.maxQueueWait,
			Logger: log,
		}
		gm := gateway.Model{ID: m.ID, Kind: gateway.KindChat, OwnedBy: m.OwnedBy, Created: m.Created, Path: m.Path}
		if m.Kind == models.KindEmbedding {
			bc.Embedding = true
			bc.Parallel = c.embedParallel
			bc.CtxSize = 0
			bc.ChatTemplate = ""
			gm.Kind = gateway.KindEmbedding
		}
		start := time.Now()
		b, err := batcher.New(bc)
		if err != nil {
			return fmt.Errorf("loading %s: %w", m.Path, err)
		}
		batchers = append(batchers, b)
		info := b.Info()
		gm.VocabSize = info.VocabSize
		if gm.Kind == gateway.KindChat {
			gm.Generator = gateway.Local{B: b}
			gm.ContextLength = b.SeqCtx()
			if servedBy(clouds, m.ID) {
				r, err := router.New(m.ID, fc.Routing, router.Options{Local: b, Clouds: clouds, Budget: budget, Metrics: routerMetrics, Logger: log})
				if err != nil {
					return fmt.Errorf("routing %s: %w", m.ID, err)
				}
				gm.Generator = gateway.RouterGenerator{R: r, Local: b}
			}
		} else {
			gm.Embedder = gateway.Local{B: b}
			// Embeddings spill only to upstreams declared to compute
			// this very model (embedding_models).
			er, err := router.NewEmbedRouter(m.ID, router.EmbedOptions{Local: b, Clouds: clouds, Logger: log})
			if err != nil {
				return fmt.Errorf("routing %s: %w", m.ID, err)
			}
			if ups := er.Upstreams(); len(ups) > 0 {
				gm.Embedder = gateway.RouterEmbedder{R: er, Local: b}
				log.Info("embeddings may spill to the cloud", "model", m.ID, "upstreams", ups)
			}
			gm.ContextLength = info.ContextTrain
			gm.Dimensions = info.EmbeddingSize
		}
		served = append(served, gm)
		log.Info("model ready", "model", m.ID, "kind", string(m.Kind), "path", m.Path, "load_seconds", time.Since(start).Seconds())
	}

	// Models that only a cloud API serves.
	for _, id := range cloudOnlyModels(fc.Upstreams, served) {
		r, err := router.New(id, fc.Routing, router.Options{Clouds: clouds, Budget: budget, Metrics: routerMetrics, Logger: log})
		if err != nil {
			return fmt.Errorf("routing %s: %w", id, err)
		}
		served = append(served, gateway.Model{ID: id, Kind: gateway.KindChat, OwnedBy: "cloud", Generator: gateway.RouterGenerator{R: r}})
		log.Info("model ready", "model", id, "kind", "chat", "route", "cloud only")
	}

	var kb gateway.KB // a nil *index.KB in it would not be a nil KB
	var scheduler *backupScheduler
	collectors := []prometheus.Collector{routerMetrics}
	if c.dataDir != "" {
		k, err := openKB(ctx, c, st, batchers, log)
		if err != nil {
			return err
		}
		// Deferred after the models' close, so run before it: the
		// knowledge base's final snapshots, once the server has stopped.
		defer k.close()
		kb = k.kb
		if backups {
			scheduler = newBackupScheduler(k.kb, c.backupDir, c.backupInterval, c.backupKeep, log)
			collectors = append(collectors, scheduler.collectors()...)
		}
	}
	if certs != nil {
		collectors = append(collectors, certs.collectors()...)
	}
	var bots *openedBots
	var botMap map[string]gateway.Bot
	var convs gateway.Conversations // nil unless there are bots: no typed nil
	if len(fc.Bots) > 0 {
		var k *index.KB
		if ik, ok := kb.(*index.KB); ok {
			k = ik
		}
		if c.retention < 0 {
			return fmt.Errorf("--conversation-retention %s: want 0 (keep) or a positive duration", c.retention)
		}
		if bots, err = openBots(fc.Bots, st, k, served, os.Getenv, log); err != nil {
			return err
		}
		bots.retention = c.retention
		botMap, convs = bots.bots, bots.convs
		collectors = append(collectors, bots.collectors...)
	}

	srv, err := gateway.New(gateway.Config{
		Models: served, Keys: keys, AdminKeys: admin, MetricsRequireAdmin: c.metricsAdmin,
		Logger: log, Version: version, DrainDelay: c.drainDelay, TrustedProxies: trusted,
		KB: kb, DataDir: c.dataDir, Collectors: collectors, Bots: botMap, Conversations: convs,
		Limits: gateway.Limits{
			RequestsPerMinute: c.rpm, TokensPerMinute: c.tpm,
			MaxBodyBytes: c.maxBodyBytes, MaxIngestBodyBytes: c.maxIngestBodyBytes, MaxHeaderBytes: c.maxHeaderBytes,
			MaxMessages: c.maxMessages, MaxEmbeddingInputs: c.maxInputs,
			MaxConns: c.maxConns, MaxConnsPerIP: c.maxConnsPerIP,
			ReadTimeout: c.readTimeout, WriteTimeout: c.writeTimeout, IdleTimeout: c.idleTimeout,
			StreamKeepAlive: c.streamKeepAlive,
		},
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	if certs != nil {
		// TLS beneath the gateway's connection accounting, so that even
		// a refusal over the connection limits is answered in TLS.
		ln = tls.NewListener(ln, certs.tlsConfig())
		certs.reloadOnSIGHUP(ctx)
		certs.logCertificate("serving HTTPS")
	}
	served2 := make(chan error, 1)
	go func() { served2 <- srv.Serve(ln) }()
	if bots != nil {
		// Deferred after the store's close, so run before it: no
		// delivery writes to a closed store.
		stopBots := bots.start(ctx)
		defer stopBots()
	}
	if scheduler != nil {
		// Deferred after the knowledge base's close, so run before it: a
		// backup in progress ends before the store closes under it.
		stopBackups := scheduler.start(ctx)
		defer stopBackups()
	}

	select {
	case err := <-served2:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	log.Info("signal received: draining", "timeout", c.shutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), c.drainDelay+c.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("requests were cut short by the shutdown timeout", "error", err.Error())
	}
	if err := <-served2; err != nil {
		log.Warn("server stopped with an error", "error", err.Error())
	}
	return nil
}

// openedKB is the knowledge base and the store under it.
type openedKB struct {
	kb  *index.KB
	log *slog.Logger
}

// openKB opens the knowledge base on st (<data-dir>/store), embedding
// with the served embedding model. Without one it still opens, so that
// lexical search over the existing collections works.
func openKB(ctx context.Context, c *serveConfig, st *store.Store, batchers []*batcher.Batcher, log *slog.Logger) (*openedKB, error) {
	start := time.Now()
	embedders := map[string]index.Embedder{}
	for _, b := range batchers {
		if b.Embedding() {
			embedders[b.ModelID()] = b
		}
	}
	kb, err := index.Open(ctx, index.Config{Store: st, Dir: filepath.Join(c.dataDir, "index"),
		Embedders: embedders, SnapshotInterval: c.snapshotInterval, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("opening the knowledge base: %w", err)
	}
	log.Info("knowledge base ready", "collections", len(kb.Collections()), "embedding_models", len(embedders),
		"data_dir", c.dataDir, "load_seconds", time.Since(start).Seconds())
	return &openedKB{kb: kb, log: log}, nil
}

func (k *openedKB) close() {
	if err := k.kb.Close(); err != nil {
		k.log.Error("closing the knowledge base: its snapshots may be stale (they are rebuilt from the store at the next start)", "error", err.Error())
	}
}

// cloudUpstreams builds a client for each configured upstream, with one
// circuit breaker each, shared by every model the upstream serves.
func cloudUpstreams(cfgs []upstream.Config, routing router.Config, log *slog.Logger) ([]router.Cloud, error) {
	if err := routing.Validate(); err != nil {
		return nil, fmt.Errorf("config routing: %w", err)
	}
	breaker := routing.WithDefaults().Breaker
	var clouds []router.Cloud
	for i, cfg := range cfgs {
		c, err := upstream.New(cfg, upstream.Options{Logger: log})
		if err != nil {
			return nil, fmt.Errorf("config upstreams[%d] (%s): %w", i, cfg.Name, err)
		}
		clouds = append(clouds, router.Cloud{Upstream: c, Breaker: router.NewBreaker(breaker, nil)})
		log.Info("upstream configured", "upstream", cfg.Name, "kind", string(cfg.Kind), "models", len(cfg.Models))
	}
	return clouds, nil
}

func servedBy(clouds []router.Cloud, model string) bool {
	for _, c := range clouds {
		if c.Upstream.Serves(model) {
			return true
		}
	}
	return false
}

// cloudOnlyModels are the model ids the upstreams map that no local model
// serves, sorted.
func cloudOnlyModels(cfgs []upstream.Config, local []gateway.Model) []string {
	have := map[string]bool{}
	for _, m := range local {
		have[m.ID] = true
	}
	var ids []string
	for _, cfg := range cfgs {
		for id := range cfg.Models {
			if !have[id] {
				have[id] = true
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	return ids
}
