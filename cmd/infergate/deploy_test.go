package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infergate/infergate/deploy"
)

// TestDeployMetricsExist scrapes a running server and checks that every
// metric named by the Grafana dashboard and the Prometheus rules
// (deploy/) is one that /metrics exposes. Labelled series appear only
// once observed, so the test first sends what a day of traffic would:
// local and cloud chat, a failing cloud, embeddings, a bad request, a rate
// limit, a knowledge-base upsert and search, and spend against budgets.
func TestDeployMetricsExist(t *testing.T) {
	chat, emb := testModels(t)
	var failing atomic.Bool
	cloud, _ := fakeOpenAI(t, "Hello from the cloud", &failing)
	dir := t.TempDir()
	hook, tickets := webhookReceiver(t)
	t.Setenv("INFERGATE_TEST_CLOUD_KEY", "sk-cloud")
	t.Setenv("INFERGATE_TEST_BOT_WEBHOOK", botWebhookSecret)
	cfg := filepath.Join(dir, "infergate.yaml")
	yaml := fmt.Sprintf(`keys:
  - {name: user, key: sk-user, monthly_budget_usd: 5}
  - {name: slow, key: sk-slow, rpm: 1}
upstreams:
  - name: fake
    kind: openai
    base_url: %s/v1
    api_key_env: INFERGATE_TEST_CLOUD_KEY
    models: {cloudy: gpt-cloud}
    price_per_mtok: {input: 1, output: 2}
routing:
  monthly_budget_usd: 50
  retry: {max_attempts: 1}
bots:
  - name: ops
    collection: ops
    model: stories260K
    identity: {allow_anonymous: true}
    handoff:
      webhook: {url: "%s/hooks", secret_env: INFERGATE_TEST_BOT_WEBHOOK}
`, cloud.URL, hook.URL)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServe(t, "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"), "--config", cfg,
		"--chat-model", chat, "--embed-model", emb, "--parallel", "2", "--threads", "1", "--admin-key", "sk-admin",
		"--shutdown-timeout", "5s")
	defer srv.stop(t)
	base := "http://" + srv.addr

	send := func(key, path, body string, want int) {
		t.Helper()
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("POST %s %s: %d, want %d: %s", path, body, resp.StatusCode, want, b)
		}
	}
	send("sk-user", "/v1/chat/completions", `{"model":"stories260K","messages":[{"role":"user","content":"Hi"}],"max_tokens":4,"stream":true}`, 200)
	send("sk-user", "/v1/chat/completions", `{"model":"stories260K","messages":[{"role":"user","content":"Hi"}],"max_tokens":4}`, 200)
	send("sk-user", "/v1/embeddings", `{"model":"all-MiniLM-L6-v2-Q4_K_M","input":["reset my password"]}`, 200)
	send("sk-user", "/v1/chat/completions", `{"model":"cloudy","messages":[{"role":"user","content":"Hi"}],"stream":true}`, 200)
	failing.Store(true)
	send("sk-user", "/v1/chat/completions", `{"model":"cloudy","messages":[{"role":"user","content":"Hi"}]}`, http.StatusBadGateway)
	failing.Store(false)
	send("sk-user", "/v1/chat/completions", `{"messages":`, http.StatusBadRequest)
	send("sk-slow", "/v1/embeddings", `{"model":"all-MiniLM-L6-v2-Q4_K_M","input":"one"}`, 200)
	send("sk-slow", "/v1/embeddings", `{"model":"all-MiniLM-L6-v2-Q4_K_M","input":"two"}`, http.StatusTooManyRequests)
	send("sk-admin", "/v1/collections", `{"name":"ops"}`, http.StatusCreated)
	send("sk-admin", "/v1/collections/ops/documents", `{"documents":[{"id":"refunds","markdown":"# Refunds\n\nAnnual plans are refunded within 5 days."}]}`, 200)
	send("sk-user", "/v1/collections/ops/search", `{"query":"money back","k":3}`, 200)
	// A bot conversation handed to a human: the bot's and the handoff
	// outbox's series, once its ticket reached the webhook.
	other := botClient{t, base, map[string]string{}}
	oid, osecret := other.create("ops")
	other.hdr["X-Infergate-Conversation-Secret"] = osecret
	if code, body := other.do("POST", "/v1/bots/ops/conversations/"+oid+"/messages", `{"content":"Which telescope sees the rings of Saturn best?"}`); code != 200 || !strings.Contains(body, `"answered":false`) {
		t.Fatalf("an uncovered question: %d %s", code, body)
	}
	anon := botClient{t, base, map[string]string{}}
	id, secret := anon.create("ops")
	anon.hdr["X-Infergate-Conversation-Secret"] = secret
	if code, body := anon.do("POST", "/v1/bots/ops/conversations/"+id+"/messages", `{"content":"I want to talk to a human"}`); code != 200 {
		t.Fatalf("bot message: %d %s", code, body)
	}
	if code, body := anon.do("POST", "/v1/bots/ops/conversations/"+id+"/resolve", `{"csat":4}`); code != 200 {
		t.Fatalf("resolve: %d %s", code, body)
	}
	select {
	case <-tickets:
	case <-time.After(30 * time.Second):
		t.Fatal("the handoff ticket never reached the webhook")
	}
	// The deliverer records the delivery once the receiver has answered.
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, body := get(t, base+"/metrics"); strings.Contains(body, "infergate_handoff_delivery_delay_seconds_count") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no delivery recorded on /metrics 10 s after the webhook received the ticket")
		}
		time.Sleep(20 * time.Millisecond)
	}

	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	exposed, histograms := parseExposition(t, resp.Body)
	resp.Body.Close()
	if len(exposed) < 50 {
		t.Fatalf("only %d series names on /metrics", len(exposed))
	}
	ruleExprs, recorded, err := deploy.Rules()
	if err != nil {
		t.Fatal(err)
	}
	dashExprs, err := deploy.DashboardExprs()
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, e := range append(ruleExprs, dashExprs...) {
		names, err := deploy.MetricNames(e.Query)
		if err != nil {
			t.Errorf("%s: %v", e.Source, err)
			continue
		}
		for _, n := range names {
			used[n] = true
			switch {
			case recorded[n], deploy.External[n] != "":
			case !exposed[deploy.SeriesFamily(n, histograms)] && !exposed[n]:
				t.Errorf("%s: %s is not on /metrics (nor a recording rule)", e.Source, n)
			}
		}
	}
	for r := range recorded {
		if !used[r] {
			t.Logf("recording rule %s is used by no alert or panel", r)
		}
	}
	if len(used) < 40 {
		t.Errorf("only %d names used", len(used))
	}
}

// parseExposition reads Prometheus' text format: the names of the series
// exposed (a histogram's family name and its _bucket, _sum and _count),
// and which families are histograms.
func parseExposition(t *testing.T, r io.Reader) (names, histograms map[string]bool) {
	t.Helper()
	names, histograms = map[string]bool{}, map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			names[f[2]] = true
			if f[3] == "histogram" {
				histograms[f[2]] = true
			}
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		name := line
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name = line[:i]
		}
		names[name] = true
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return names, histograms
}
