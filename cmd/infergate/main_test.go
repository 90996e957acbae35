package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infergate/infergate/internal/testenv"
	"github.com/infergate/infergate/models"
)

func noEnv(string) string { return "" }

func TestServeHelpDocumentsEveryOption(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"serve", "--help"}, &out, &errb, noEnv); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var c serveConfig
	o := serveOptions(&c)
	for name, opt := range o.byName {
		if !strings.Contains(out.String(), "--"+name+" ") && !strings.Contains(out.String(), "--"+name+"\n") {
			t.Errorf("--%s is not documented", name)
		}
		if !strings.Contains(out.String(), opt.env) {
			t.Errorf("%s is not documented", opt.env)
		}
	}
	for _, must := range []string{"--addr", "--data-dir", "--chat-model", "--embed-model", "--parallel", "--ctx-size", "--batch-size",
		"--threads", "--gpu-layers", "--lib-dir", "--queue-len", "--max-queue-wait", "--api-key", "--api-keys-file", "--admin-key",
		"--rpm", "--tpm", "--read-timeout", "--write-timeout", "--idle-timeout", "--max-body-bytes", "--shutdown-timeout", "--chat-template",
		"--max-conns", "--max-messages", "--snapshot-interval", "--max-ingest-body-bytes", "INFERGATE_SNAPSHOT_INTERVAL",
		"[default 127.0.0.1:8080] [env INFERGATE_ADDR]"} {
		if !strings.Contains(out.String(), must) {
			t.Errorf("help lacks %q", must)
		}
	}
}

func TestOptionPrecedence(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "infergate.yaml")
	yaml := `
parallel: 3
ctx_size: 999
rpm: 5
read-timeout: 7s
admin-key: [a1, a2]
keys:
  - name: alice
    key: sk-alice
    rpm: 9
  - name: bob
    sha256: ` + strings.Repeat("ab", 32) + `
`
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"INFERGATE_CONFIG": cfgPath, "INFERGATE_CTX_SIZE": "2048", "INFERGATE_TPM": "100"}
	var c serveConfig
	fc, err := serveOptions(&c).parse([]string{"--rpm", "11"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	// flag > env > file > default
	if c.rpm != 11 || c.ctxSize != 2048 || c.tpm != 100 || c.parallel != 3 || c.readTimeout != 7*time.Second || c.batchSize != 512 {
		t.Errorf("%+v", c)
	}
	keys, admin, err := c.keys(fc)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].Name != "alice" || keys[0].RequestsPerMinute != 9 || keys[1].Hash.String() != "sha256:"+strings.Repeat("ab", 32) || len(admin) != 2 {
		t.Errorf("keys %+v admin %d", keys, len(admin))
	}

	if err := os.WriteFile(cfgPath, []byte("paralel: 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := serveOptions(&c).parse(nil, func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "paralel") {
		t.Errorf("a misspelt option was accepted: %v", err)
	}
	if _, err := serveOptions(&c).parse(nil, func(k string) string {
		if k == "INFERGATE_PARALLEL" {
			return "many"
		}
		return ""
	}); err == nil || !strings.Contains(err.Error(), "INFERGATE_PARALLEL") {
		t.Errorf("a bad environment value was accepted: %v", err)
	}
}

func TestTrustedProxiesOption(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, yaml string
		args       []string
		env        map[string]string
		want       []string
	}{
		{name: "flags", args: []string{"--trusted-proxies", "10.0.0.0/8,192.168.0.0/16", "--trusted-proxies", "::1"},
			want: []string{"10.0.0.0/8", "192.168.0.0/16", "::1"}},
		{name: "environment", env: map[string]string{"INFERGATE_TRUSTED_PROXIES": "10.0.0.0/8, 172.16.0.0/12"},
			want: []string{"10.0.0.0/8", "172.16.0.0/12"}},
		{name: "file list", yaml: "trusted-proxies: [10.0.0.0/8, fd00::/8]\n", want: []string{"10.0.0.0/8", "fd00::/8"}},
		{name: "file string", yaml: "trusted_proxies: 10.1.0.0/16,10.2.0.0/16\n", want: []string{"10.1.0.0/16", "10.2.0.0/16"}},
		{name: "flag over file", yaml: "trusted-proxies: [10.0.0.0/8]\n", args: []string{"--trusted-proxies", "192.0.2.1"}, want: []string{"192.0.2.1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range tc.env {
				env[k] = v
			}
			if tc.yaml != "" {
				path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".yaml")
				if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
					t.Fatal(err)
				}
				env["INFERGATE_CONFIG"] = path
			}
			var c serveConfig
			if _, err := serveOptions(&c).parse(tc.args, func(k string) string { return env[k] }); err != nil {
				t.Fatal(err)
			}
			if strings.Join(c.trustedProxies, " ") != strings.Join(tc.want, " ") {
				t.Errorf("got %q, want %q", c.trustedProxies, tc.want)
			}
		})
	}

	// A bad prefix stops serve before it loads anything.
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"serve", "--trusted-proxies", "10.0.0.0/33", "--chat-model", "", "--embed-model", ""}, &out, &errb, noEnv)
	if code == 0 || !strings.Contains(errb.String(), "--trusted-proxies") {
		t.Errorf("exit %d: %s", code, errb.String())
	}
}

func TestVersionAndUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"version"}, &out, &errb, noEnv); code != 0 || !strings.HasPrefix(out.String(), "infergate ") {
		t.Errorf("%d %q", code, out.String())
	}
	if code := run(context.Background(), []string{"frobnicate"}, &out, &errb, noEnv); code != 2 || !strings.Contains(errb.String(), "unknown command") {
		t.Errorf("%d %q", code, errb.String())
	}
	if code := run(context.Background(), []string{"serve", "--no-such-flag"}, &out, &errb, noEnv); code != 2 {
		t.Errorf("bad flag: exit %d", code)
	}
}

// testModels finds the test models; without them (make models) the test
// is skipped, or fails under CI.
func testModels(tb testing.TB) (chat, emb string) {
	tb.Helper()
	return testModel(tb, models.StoriesModel), testModel(tb, models.MiniLMModel)
}

func testModel(tb testing.TB, name string) string {
	tb.Helper()
	path, err := models.TestModelPath(name)
	if err != nil {
		testenv.Missing(tb, "test model missing: %v", err)
	}
	return path
}

func TestMissingModelFailsUnderCI(t *testing.T) {
	testenv.CheckMissing(t, func(tb testing.TB) { testModel(tb, "no-such-model.gguf") })
}

func TestModelsList(t *testing.T) {
	chat, emb := testModels(t)
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"models", "--json", "--chat-model", chat, "--embed-model", emb}, &out, &errb, noEnv)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var list []models.Model
	if err := json.Unmarshal(out.Bytes(), &list); err != nil || len(list) != 2 || list[0].ID != "stories260K" || list[1].Kind != models.KindEmbedding {
		t.Fatalf("%v %s", err, out.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"models", "list", "--chat-model", chat, "--embed-model", ""}, &out, &errb, noEnv); code != 0 ||
		!strings.Contains(out.String(), "stories260K") || strings.Contains(out.String(), "MiniLM") {
		t.Fatalf("%d %s", code, out.String())
	}
}

// lockedBuffer collects the server's logs while the test reads them.
// served is an `infergate serve` running in the test's process.
type served struct {
	addr   string
	logs   *lockedBuffer
	cancel context.CancelFunc
	done   chan int
}

// startServe runs `infergate serve` with args and waits until it listens.
func startServe(t *testing.T, args ...string) *served {
	t.Helper()
	srv := &served{logs: &lockedBuffer{}, done: make(chan int, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	srv.cancel = cancel
	go func() { srv.done <- run(ctx, append([]string{"serve"}, args...), io.Discard, srv.logs, noEnv) }()
	deadline := time.Now().Add(60 * time.Second)
	for srv.addr == "" {
		if time.Now().After(deadline) {
			t.Fatalf("server did not start:\n%s", srv.logs.String())
		}
		select {
		case code := <-srv.done:
			t.Fatalf("serve exited %d:\n%s", code, srv.logs.String())
		case <-time.After(20 * time.Millisecond):
		}
		sc := bufio.NewScanner(strings.NewReader(srv.logs.String()))
		for sc.Scan() {
			var line struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
				srv.addr = line.Addr
			}
		}
	}
	return srv
}

// stop does what SIGTERM does and waits for a clean exit.
func (srv *served) stop(t *testing.T) {
	t.Helper()
	srv.cancel()
	select {
	case code := <-srv.done:
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, srv.logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestServe runs `infergate serve` in-process on a random port with the
// test models, a key from a keys file, and stops it as SIGTERM would.
func TestServe(t *testing.T) {
	chat, emb := testModels(t)
	dir := t.TempDir()
	keysFile := filepath.Join(dir, "keys")
	if err := os.WriteFile(keysFile, []byte("sk-from-file name=ops rpm=100\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServe(t, "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"),
		"--chat-model", chat, "--embed-model", emb, "--parallel", "2", "--threads", "1", "--api-keys-file", keysFile,
		"--shutdown-timeout", "5s", "--trusted-proxies", "127.0.0.0/8,::1")
	logs := srv.logs
	addr := srv.addr
	base := "http://" + addr
	if resp, err := http.Get(base + "/readyz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", err, resp)
	}
	req, _ := http.NewRequest("POST", base+"/v1/chat/completions", strings.NewReader(`{"messages":[{"role":"user","content":"Hi"}],"max_tokens":3}`))
	req.Header.Set("Authorization", "Bearer sk-from-file")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"completion_tokens":3`) {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err != nil {
		t.Errorf("data dir not created: %v", err)
	}
	srv.stop(t)
	for _, want := range []string{`"msg":"model ready"`, `"msg":"signal received: draining"`, `"msg":"shut down"`, `"key":"ops"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %s", want)
		}
	}
}

func TestModelsPull(t *testing.T) {
	chat, _ := testModels(t)
	data, err := os.ReadFile(chat)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "stories.gguf", time.Time{}, bytes.NewReader(data))
	}))
	defer srv.Close()
	sum := sha256.Sum256(data)
	dest := filepath.Join(t.TempDir(), "m.gguf")
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"models", "pull", srv.URL + "/stories.gguf", "--sha256", hex.EncodeToString(sum[:]), "--out", dest}, &out, &errb, noEnv)
	if code != 0 || strings.TrimSpace(out.String()) != dest {
		t.Fatalf("exit %d: %s %s", code, out.String(), errb.String())
	}
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, data) {
		t.Fatal("downloaded file differs")
	}
	code = run(context.Background(), []string{"models", "pull", srv.URL + "/stories.gguf", "--sha256", strings.Repeat("0", 64), "--out", dest + "2"}, &out, &errb, noEnv)
	if code == 0 {
		t.Fatal("a checksum mismatch was accepted")
	}
	if _, err := os.Stat(dest + "2"); err == nil {
		t.Fatal("a file failing its checksum was kept")
	}
}
