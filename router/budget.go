package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Key is the API key a request authenticated with, as budgets see it.
// llm.Request knows nothing of keys, so the gateway puts it on the
// request's context (WithKey), as it does the Policy.
type Key struct {
	// Name is the account the key's spend is kept under: its configured
	// name. Keys that share a name share an account.
	Name string
	// MonthlyBudgetUSD caps the key's cloud spend per calendar month
	// (UTC); 0: no cap of its own (the overall one still applies).
	MonthlyBudgetUSD float64
}

type keyKey struct{}

// WithKey returns ctx carrying the request's API key for the budget.
func WithKey(ctx context.Context, k Key) context.Context {
	return context.WithValue(ctx, keyKey{}, k)
}

// KeyFrom returns the key ctx carries; ok is false for a request without
// one (a server without API keys).
func KeyFrom(ctx context.Context) (k Key, ok bool) {
	k, ok = ctx.Value(keyKey{}).(Key)
	return k, ok
}

// BudgetError is a reservation refused because the request's worst-case
// cost would take a month's spend past a limit. It unwraps to
// ErrBudgetExhausted.
type BudgetError struct {
	// Key names the key whose limit it is; "" for the overall limit.
	Key         string
	LimitUSD    float64
	SpentUSD    float64 // settled this month
	ReservedUSD float64 // held by requests in flight
	CostUSD     float64 // the worst case asked for
}

func (e *BudgetError) Error() string {
	scope := "overall"
	if e.Key != "" {
		scope = "key " + e.Key
	}
	return fmt.Sprintf("%v: %s: spent $%.4f and reserved $%.4f of $%.2f, the request may cost $%.4f",
		ErrBudgetExhausted, scope, e.SpentUSD, e.ReservedUSD, e.LimitUSD, e.CostUSD)
}

func (e *BudgetError) Unwrap() error { return ErrBudgetExhausted }

// BudgetOptions configure a Budget.
type BudgetOptions struct {
	// MonthlyUSD caps the cloud spend of all requests together per
	// calendar month (UTC); 0: no overall cap. Per-key caps come with each
	// request's Key.
	MonthlyUSD float64
	// Ledger persists each month's spend; nil: it is kept in memory only
	// and a restart resets it.
	Ledger Ledger
	Now    func() time.Time // nil: time.Now
	Logger *slog.Logger     // nil: slog.Default()
}

// Budget enforces the monthly cloud spend limits, overall and per key,
// before a request is sent: a request reserves its worst-case cost, which
// counts against the limits until the request settles it to what it
// actually cost (or releases it, having failed before the first token).
// So requests in flight together can never overspend a limit, however many
// there are. The month is the calendar month in UTC; at its end spend
// starts again from zero, and reservations in flight carry over.
//
// One Budget serves every Router of a server (Options.Budget), since the
// limits are the server's and the keys', not a model's. Safe for
// concurrent use.
type Budget struct {
	limit  float64
	ledger Ledger
	now    func() time.Time
	log    *slog.Logger

	mu    sync.Mutex
	month time.Time // the first instant of the month being counted
	total account
	keys  map[string]*account
	// settles counts the settles so far, written the ones the ledger
	// holds: a write covers every settle counted before its snapshot.
	settles, written uint64

	writeMu sync.Mutex // one ledger write at a time, in snapshot order
}

// account is the spend of one scope: the whole server or one key.
type account struct {
	spent    float64 // settled this month
	reserved float64 // held by requests in flight
	inFlight int     // reservations held; at 0, reserved is exactly 0
	limit    float64 // for a key, the limit its last request carried
}

// exceeds reports whether cost more would take a past limit. At the
// limit nothing more is allowed, not even a request that costs nothing.
func (a *account) exceeds(limit, cost float64) bool {
	used := a.spent + a.reserved
	return used >= limit || used+cost > limit
}

func (a *account) release(cost float64) {
	a.inFlight--
	a.reserved -= cost
	if a.inFlight <= 0 || a.reserved < 0 {
		// Float subtraction leaves dust that would never go away.
		a.inFlight, a.reserved = max(a.inFlight, 0), 0
	}
}

// ErrBudgetConfig is wrapped by NewBudget's errors about its options.
var ErrBudgetConfig = errors.New("router: invalid budget")

// NewBudget returns a budget with this month's spend loaded from the
// ledger, if there is one.
func NewBudget(ctx context.Context, opts BudgetOptions) (*Budget, error) {
	if opts.MonthlyUSD < 0 {
		return nil, fmt.Errorf("%w: monthly limit %v is negative", ErrBudgetConfig, opts.MonthlyUSD)
	}
	b := &Budget{limit: opts.MonthlyUSD, ledger: opts.Ledger, now: opts.Now, log: opts.Logger, keys: map[string]*account{}}
	if b.now == nil {
		b.now = time.Now
	}
	if b.log == nil {
		b.log = slog.Default()
	}
	b.month = monthOf(b.now())
	if b.ledger != nil {
		rec, err := loadRecord(ctx, b.ledger, b.month)
		if err != nil {
			return nil, err
		}
		b.total.spent = rec.TotalUSD
		for name, usd := range rec.Keys {
			b.keys[name] = &account{spent: usd}
		}
	}
	return b, nil
}

func monthOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// roll starts a new month's count when the calendar has moved on. The
// reservations in flight carry over: they settle into the new month.
func (b *Budget) roll() {
	m := monthOf(b.now())
	if m.Equal(b.month) {
		return
	}
	b.month = m
	b.total.spent = 0
	for _, a := range b.keys {
		a.spent = 0
	}
}

func (b *Budget) account(name string) *account {
	a := b.keys[name]
	if a == nil {
		a = &account{}
		b.keys[name] = a
	}
	return a
}

// Reservation is a request's claim on the budget, held from before it is
// sent until it is settled or released, exactly once.
type Reservation struct {
	b     *Budget
	key   string
	keyed bool
	cost  float64
	done  bool // guarded by b.mu
}

// Reserve claims costUSD, the request's worst-case cost, against the
// overall limit and the limit of the key ctx carries. It fails with a
// *BudgetError, and claims nothing, when either would be exceeded.
func (b *Budget) Reserve(ctx context.Context, costUSD float64) (*Reservation, error) {
	key, keyed := KeyFrom(ctx)
	costUSD = max(costUSD, 0)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.roll()
	refuse := func(name string, a *account, limit float64) error {
		return &BudgetError{Key: name, LimitUSD: limit, SpentUSD: a.spent, ReservedUSD: a.reserved, CostUSD: costUSD}
	}
	if b.limit > 0 && b.total.exceeds(b.limit, costUSD) {
		return nil, refuse("", &b.total, b.limit)
	}
	var a *account
	if keyed {
		a = b.account(key.Name)
		a.limit = key.MonthlyBudgetUSD
		if a.limit > 0 && a.exceeds(a.limit, costUSD) {
			return nil, refuse(key.Name, a, a.limit)
		}
		a.reserved += costUSD
		a.inFlight++
	}
	b.total.reserved += costUSD
	b.total.inFlight++
	return &Reservation{b: b, key: key.Name, keyed: keyed, cost: costUSD}, nil
}

// Release gives the reservation back unspent: the request failed before
// anything was generated. A reservation already settled or released is
// left alone.
func (r *Reservation) Release() {
	b := r.b
	b.mu.Lock()
	defer b.mu.Unlock()
	r.end()
}

// end returns the reservation to its accounts; b.mu is held.
func (r *Reservation) end() bool {
	if r.done {
		return false
	}
	r.done = true
	r.b.total.release(r.cost)
	if r.keyed {
		r.b.account(r.key).release(r.cost)
	}
	return true
}

// Settle replaces the reservation by costUSD, what the request actually
// cost, counted in the month it ends in, and persists the month's spend
// before returning. The spend counts in memory whatever the ledger says;
// the error is the ledger's, and the spend is persisted with the next
// settle that succeeds.
func (r *Reservation) Settle(ctx context.Context, costUSD float64) error {
	b := r.b
	b.mu.Lock()
	b.roll()
	if !r.end() {
		b.mu.Unlock()
		return nil
	}
	costUSD = max(costUSD, 0)
	b.total.spent += costUSD
	if r.keyed {
		b.account(r.key).spent += costUSD
	}
	b.settles++
	n := b.settles
	b.mu.Unlock()
	if b.ledger == nil || costUSD == 0 {
		return nil
	}
	return b.persist(ctx, n)
}

// BudgetStatus is a Budget's state at one moment, for metrics.
type BudgetStatus struct {
	Month       time.Time // the first instant of the month counted
	LimitUSD    float64   // the overall limit; 0: none
	SpentUSD    float64   // settled this month, overall
	ReservedUSD float64   // held by requests in flight
	// Keys are the keys whose last request carried a limit of their own.
	Keys map[string]KeyStatus
}

// KeyStatus is one key's part of a BudgetStatus.
type KeyStatus struct {
	LimitUSD, SpentUSD, ReservedUSD float64
}

// Status returns the budget's state now.
func (b *Budget) Status() BudgetStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.roll()
	s := BudgetStatus{Month: b.month, LimitUSD: b.limit, SpentUSD: b.total.spent, ReservedUSD: b.total.reserved,
		Keys: map[string]KeyStatus{}}
	for name, a := range b.keys {
		if a.limit > 0 {
			s.Keys[name] = KeyStatus{LimitUSD: a.limit, SpentUSD: a.spent, ReservedUSD: a.reserved}
		}
	}
	return s
}

// Spent is this month's settled spend, overall.
func (b *Budget) Spent() float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.roll()
	return b.total.spent
}

// SpentBy is this month's settled spend of the key named name.
func (b *Budget) SpentBy(name string) float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.roll()
	if a := b.keys[name]; a != nil {
		return a.spent
	}
	return 0
}
