package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/infergate/infergate/router"
	"github.com/infergate/infergate/store"
)

// storeLedger keeps the router's spend records in the store's meta kind,
// under the names the router gives them (router.LedgerPrefix, then the
// month): the router defines the Ledger it needs and does not import the
// store.
type storeLedger struct{ st *store.Store }

var _ router.Ledger = storeLedger{}

// Get implements router.Ledger.
func (l storeLedger) Get(ctx context.Context, name string) ([]byte, error) {
	v, err := l.st.Get(ctx, store.MetaKey(name))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return v, err
}

// Set implements router.Ledger; the store syncs it before returning.
func (l storeLedger) Set(ctx context.Context, name string, value []byte) error {
	return l.st.Set(ctx, store.MetaKey(name), value)
}

// openBudget returns the cloud budget that all the routers share, with
// this month's spend read from st; st nil (no --data-dir): kept in memory,
// so a restart resets it.
func openBudget(ctx context.Context, st *store.Store, routing router.Config, clouds int, log *slog.Logger) (*router.Budget, error) {
	opts := router.BudgetOptions{MonthlyUSD: routing.MonthlyBudgetUSD, Logger: log}
	if st != nil {
		opts.Ledger = storeLedger{st}
	} else if clouds > 0 {
		log.Warn("cloud spend is not persisted without --data-dir: a restart resets this month's budgets")
	}
	b, err := router.NewBudget(ctx, opts)
	if err != nil {
		return nil, err
	}
	if clouds > 0 {
		s := b.Status()
		log.Info("cloud budget", "month", s.Month.Format("2006-01"), "spent_usd", s.SpentUSD,
			"monthly_budget_usd", s.LimitUSD, "persisted", st != nil)
	}
	return b, nil
}
