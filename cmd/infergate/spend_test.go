package main

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/infergate/infergate/router"
	"github.com/infergate/infergate/store"
)

func openTestStore(t *testing.T, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(t.Context(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// The month's spend, overall and per key, survives closing and reopening
// a real store on disk, settles made at once included; each month has its
// own record, and the limits apply to what was spent before the restart.
func TestSpendLedgerSurvivesReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	dec := func() time.Time { return time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC) }
	jan := func() time.Time { return time.Date(2027, 1, 1, 0, 30, 0, 0, time.UTC) }
	open := func(st *store.Store, now func() time.Time, limit float64) *router.Budget {
		t.Helper()
		b, err := router.NewBudget(t.Context(), router.BudgetOptions{MonthlyUSD: limit, Ledger: storeLedger{st}, Now: now, Logger: quietLog()})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	spend := func(b *router.Budget, ctx context.Context, usd float64) {
		t.Helper()
		res, err := b.Reserve(ctx, usd)
		if err != nil {
			t.Fatal(err)
		}
		if err := res.Settle(ctx, usd); err != nil {
			t.Fatal(err)
		}
	}

	st := openTestStore(t, dir)
	b := open(st, dec, 0)
	spend(b, router.WithKey(t.Context(), router.Key{Name: "acme"}), 1.25)
	spend(b, t.Context(), 0.5)
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() { spend(b, router.WithKey(t.Context(), router.Key{Name: "b"}), 0.01) })
	}
	wg.Wait()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st = openTestStore(t, dir)
	defer st.Close()
	b = open(st, dec, 3)
	if !near(b.Spent(), 2.75) || b.SpentBy("acme") != 1.25 || !near(b.SpentBy("b"), 1) {
		t.Fatalf("after reopening: spent %v, acme %v, b %v; want 2.75, 1.25, 1", b.Spent(), b.SpentBy("acme"), b.SpentBy("b"))
	}
	if _, err := b.Reserve(t.Context(), 0.3); !errors.Is(err, router.ErrBudgetExhausted) {
		t.Errorf("over the limit with the spend from before the restart: %v", err)
	}
	raw, err := st.Get(t.Context(), store.MetaKey("router.spend/2026-12"))
	var rec struct {
		Version int    `json:"version"`
		Month   string `json:"month"`
	}
	if err != nil || json.Unmarshal(raw, &rec) != nil || rec.Version != 1 || rec.Month != "2026-12" {
		t.Errorf("record router.spend/2026-12: %s, %v", raw, err)
	}

	// January starts from zero, in a record of its own; December's stays.
	b = open(st, jan, 3)
	if b.Spent() != 0 {
		t.Errorf("January starts at %v", b.Spent())
	}
	spend(b, t.Context(), 0.3)
	if b = open(st, jan, 0); b.Spent() != 0.3 {
		t.Errorf("January after reopening: %v", b.Spent())
	}
	if b = open(st, dec, 0); !near(b.Spent(), 2.75) {
		t.Errorf("December's record after January's: %v", b.Spent())
	}

	// A record this build cannot read stops the start rather than reset
	// the month.
	if err := st.Set(t.Context(), store.MetaKey(router.LedgerName(dec())), []byte(`{"version":99}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := router.NewBudget(t.Context(), router.BudgetOptions{Ledger: storeLedger{st}, Now: dec}); !errors.Is(err, router.ErrLedgerRecord) {
		t.Errorf("newer record: %v", err)
	}
}

// Through the real server: a key's monthly budget and the overall one
// keep a cloud-only model's requests from the cloud once spent, a
// local-only key never reaches it, and after a restart on the same data
// directory the spend, overall and per key, is still there.
func TestServeBudgetsSurviveRestart(t *testing.T) {
	cloud, calls := fakeAnthropic(t, "Hello", "end_turn")
	dir := t.TempDir()
	// Each request costs $0.000321 and reserves its worst case, $0.000378
	// (the prompt's 26-token bound and max_tokens 20).
	cfg := anthropicConfig(t, dir, cloud.URL, `keys:
  - {name: capped, key: sk-capped, monthly_budget_usd: 0.0005}
  - {name: open, key: sk-open}
  - {name: onprem, key: sk-onprem, local_only: true}
routing:
  monthly_budget_usd: 0.001
`)
	args := []string{"--addr", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"), "--config", cfg,
		"--chat-model", "", "--embed-model", ""}
	srv := startServe(t, args...)
	base := "http://" + srv.addr
	steps := []struct {
		key    string
		status int
	}{
		{"sk-capped", http.StatusOK},
		{"sk-capped", http.StatusServiceUnavailable}, // its $0.0005 cannot cover another
		{"sk-open", http.StatusOK},
		{"sk-open", http.StatusServiceUnavailable}, // the overall $0.001 cannot
		{"sk-onprem", http.StatusServiceUnavailable},
	}
	for i, s := range steps {
		if got := postChat(t, base, s.key, "claudy", i%2 == 0); got.status != s.status {
			t.Errorf("step %d (%s): %d, want %d: %s", i, s.key, got.status, s.status, got.body)
		}
	}
	if calls.Load() != 2 {
		t.Errorf("%d requests reached the cloud API, want 2", calls.Load())
	}
	m := scrapeMetrics(t, base)
	for name, want := range map[string]float64{
		`infergate_router_requests_total{model="claudy",reason="budget",route="none"}`:     2,
		`infergate_router_requests_total{model="claudy",reason="local_only",route="none"}`: 1,
		`infergate_cloud_budget_usd`:                   0.001,
		`infergate_cloud_key_budget_usd{key="capped"}`: 0.0005,
	} {
		if m[name] != want {
			t.Errorf("%s = %v, want %v", name, m[name], want)
		}
	}
	if !near(m["infergate_cloud_spend_usd"], 2*anCostUSD) || !near(m[`infergate_cloud_key_spend_usd{key="capped"}`], anCostUSD) {
		t.Errorf("spend %v, capped's %v", m["infergate_cloud_spend_usd"], m[`infergate_cloud_key_spend_usd{key="capped"}`])
	}
	srv.stop(t)

	srv = startServe(t, args...)
	defer srv.stop(t)
	base = "http://" + srv.addr
	if got := scrapeMetrics(t, base)["infergate_cloud_spend_usd"]; !near(got, 2*anCostUSD) {
		t.Errorf("spend after the restart %v, want %v", got, 2*anCostUSD)
	}
	for _, key := range []string{"sk-capped", "sk-open"} {
		if got := postChat(t, base, key, "claudy", false); got.status != http.StatusServiceUnavailable {
			t.Errorf("%s after the restart: %d %s", key, got.status, got.body)
		}
	}
	if calls.Load() != 2 {
		t.Errorf("%d requests reached the cloud API after the restart, want 2", calls.Load())
	}
}
