package router

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newBudget(t *testing.T, limit float64, now func() time.Time) *Budget {
	t.Helper()
	b, err := NewBudget(t.Context(), BudgetOptions{MonthlyUSD: limit, Now: now, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A reservation counts against the limit until it is settled to the actual
// cost or released; at the limit nothing more is admitted.
func TestBudgetReserveSettleRelease(t *testing.T) {
	b := newBudget(t, 1, newClock().Now)
	steps := []struct {
		name    string
		reserve float64
		settle  float64 // <0: release instead
		ok      bool
		spent   float64
	}{
		{"fits", 0.6, 0.25, true, 0.25},
		{"worst case too large for what is left", 0.8, 0, false, 0.25},
		{"released", 0.7, -1, true, 0.25},
		{"exactly to the limit", 0.75, 0.75, true, 1},
		{"at the limit even a free request", 0, 0, false, 1},
	}
	for _, s := range steps {
		res, err := b.Reserve(t.Context(), s.reserve)
		if (err == nil) != s.ok {
			t.Fatalf("%s: reserve %v: %v", s.name, s.reserve, err)
		}
		if err != nil {
			var be *BudgetError
			if !errors.As(err, &be) || !errors.Is(err, ErrBudgetExhausted) || be.Key != "" || be.LimitUSD != 1 {
				t.Errorf("%s: error %v", s.name, err)
			}
			continue
		}
		if got := b.Status().ReservedUSD; got != s.reserve {
			t.Errorf("%s: reserved %v", s.name, got)
		}
		if s.settle < 0 {
			res.Release()
		} else if err := res.Settle(t.Context(), s.settle); err != nil {
			t.Fatal(err)
		}
		res.Release() // a second end changes nothing
		if got := b.Spent(); got != s.spent {
			t.Errorf("%s: spent %v, want %v", s.name, got, s.spent)
		}
		if got := b.Status().ReservedUSD; got != 0 {
			t.Errorf("%s: %v still reserved", s.name, got)
		}
	}
}

// Spend is per calendar month in UTC: it starts again from zero at the
// month's first instant, and a reservation made in the old month settles
// into the new one.
func TestBudgetMonthRollover(t *testing.T) {
	c := &clock{now: time.Date(2026, 1, 31, 23, 59, 0, 0, time.UTC)}
	b := newBudget(t, 10, c.Now)
	res, err := b.Reserve(t.Context(), 4)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Settle(t.Context(), 4); err != nil {
		t.Fatal(err)
	}
	inFlight, err := b.Reserve(t.Context(), 5)
	if err != nil {
		t.Fatal(err)
	}
	c.advance(59 * time.Second) // still January
	if got := b.Spent(); got != 4 {
		t.Errorf("spent %v before the month ends", got)
	}
	c.advance(time.Second) // 2026-02-01T00:00:00Z
	st := b.Status()
	if st.SpentUSD != 0 || st.ReservedUSD != 5 || !st.Month.Equal(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("new month: %+v", st)
	}
	// The carried reservation still counts: 5 + 6 > 10.
	if _, err := b.Reserve(t.Context(), 6); !errors.Is(err, ErrBudgetExhausted) {
		t.Errorf("reservation over the carried one: %v", err)
	}
	if err := inFlight.Settle(t.Context(), 2); err != nil {
		t.Fatal(err)
	}
	if got := b.Spent(); got != 2 {
		t.Errorf("February's spend %v, want the settled 2", got)
	}
}

// A key's limit applies to its own requests only, and the overall limit to
// all of them together.
func TestBudgetPerKey(t *testing.T) {
	b := newBudget(t, 10, newClock().Now)
	acme := WithKey(t.Context(), Key{Name: "acme", MonthlyBudgetUSD: 2})
	other := WithKey(t.Context(), Key{Name: "other"})
	spend := func(ctx context.Context, usd float64) error {
		res, err := b.Reserve(ctx, usd)
		if err != nil {
			return err
		}
		return res.Settle(ctx, usd)
	}
	if err := spend(acme, 1.5); err != nil {
		t.Fatal(err)
	}
	err := spend(acme, 1)
	var be *BudgetError
	if !errors.As(err, &be) || be.Key != "acme" || be.LimitUSD != 2 || be.SpentUSD != 1.5 {
		t.Fatalf("acme over its limit: %v", err)
	}
	// Neither the other key nor a keyless request is held to acme's limit.
	for _, ctx := range []context.Context{other, t.Context()} {
		if err := spend(ctx, 4); err != nil {
			t.Errorf("under the overall limit: %v", err)
		}
	}
	// 9.5 of 10 spent: acme's small request fits its own limit but not the
	// overall one.
	if err := spend(acme, 0.6); !errors.As(err, &be) || be.Key != "" {
		t.Errorf("over the overall limit: %v", err)
	}
	if b.SpentBy("acme") != 1.5 || b.SpentBy("other") != 4 || b.Spent() != 9.5 {
		t.Errorf("spent acme %v, other %v, all %v", b.SpentBy("acme"), b.SpentBy("other"), b.Spent())
	}
	st := b.Status()
	if len(st.Keys) != 1 || st.Keys["acme"] != (KeyStatus{LimitUSD: 2, SpentUSD: 1.5}) {
		t.Errorf("keys with a budget: %+v", st.Keys)
	}
}

// Many requests reserving at once never hold more than the limit, overall
// or per key, and exactly as many are admitted as fit (run with -race).
func TestBudgetConcurrentReservations(t *testing.T) {
	const (
		workers = 64
		rounds  = 50
		cost    = 0.25
	)
	b := newBudget(t, 10, newClock().Now) // 40 reservations fit overall
	keys := []Key{{Name: "a", MonthlyBudgetUSD: 3}, {Name: "b", MonthlyBudgetUSD: 100}}
	var admitted, keyA atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			k := keys[w%2]
			ctx := WithKey(t.Context(), k)
			for range rounds {
				res, err := b.Reserve(ctx, cost)
				if err != nil {
					if !errors.Is(err, ErrBudgetExhausted) {
						t.Error(err)
					}
					continue
				}
				admitted.Add(1)
				if k.Name == "a" {
					keyA.Add(1)
				}
				st := b.Status()
				if st.SpentUSD+st.ReservedUSD > 10 || st.Keys["a"].SpentUSD+st.Keys["a"].ReservedUSD > 3 {
					t.Errorf("overcommitted: %+v", st)
				}
				// Half the requests fail before their first token and
				// give their reservation back.
				if w%4 < 2 {
					res.Release()
					admitted.Add(-1)
					if k.Name == "a" {
						keyA.Add(-1)
					}
				} else if err := res.Settle(t.Context(), cost); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if got := admitted.Load(); got != 40 {
		t.Errorf("%d requests spent, want the 40 that fit", got)
	}
	if got := keyA.Load(); got > 12 {
		t.Errorf("key a spent %d requests' worth, its limit holds 12", got)
	}
	if st := b.Status(); st.SpentUSD != 10 || st.ReservedUSD != 0 {
		t.Errorf("final %+v", st)
	}
}

func TestNewBudgetRefusesNegative(t *testing.T) {
	if _, err := NewBudget(t.Context(), BudgetOptions{MonthlyUSD: -1}); !errors.Is(err, ErrBudgetConfig) {
		t.Errorf("err %v", err)
	}
}
