package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Ledger is where a Budget keeps each month's spend, so that a restart
// does not reset it. cmd/infergate implements it over the store's meta
// records; the router defines it so as not to depend on a storage engine.
type Ledger interface {
	// Get returns the value stored under name, or nil and no error when
	// there is none.
	Get(ctx context.Context, name string) ([]byte, error)
	// Set stores value under name, durably (synced) before it returns nil.
	Set(ctx context.Context, name string, value []byte) error
}

// LedgerPrefix begins the names of the spend records: one per calendar
// month, "router.spend/YYYY-MM" (UTC), whose value is a spendRecord in
// JSON. Past months' records are kept, as a history.
const LedgerPrefix = "router.spend/"

// recordVersion is the version of spendRecord this build writes and reads.
const recordVersion = 1

// spendRecord is one month's settled spend, overall and per key. One
// record holds both, so that they are written together and never
// disagree after a crash.
type spendRecord struct {
	Version  int                `json:"version"`
	Month    string             `json:"month"`
	TotalUSD float64            `json:"total_usd"`
	Keys     map[string]float64 `json:"keys,omitempty"`
}

// ErrLedgerRecord: a stored spend record cannot be read. NewBudget fails
// rather than start the month again from zero.
var ErrLedgerRecord = errors.New("router: unreadable spend record")

// LedgerName is the name of month's record.
func LedgerName(month time.Time) string { return LedgerPrefix + monthOf(month).Format("2006-01") }

func loadRecord(ctx context.Context, l Ledger, month time.Time) (spendRecord, error) {
	name := LedgerName(month)
	b, err := l.Get(ctx, name)
	if err != nil {
		return spendRecord{}, fmt.Errorf("router: loading %s: %w", name, err)
	}
	if b == nil {
		return spendRecord{}, nil
	}
	var rec spendRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return spendRecord{}, fmt.Errorf("%w %s: %w", ErrLedgerRecord, name, err)
	}
	if rec.Version != recordVersion {
		return spendRecord{}, fmt.Errorf("%w %s: version %d, this build reads %d", ErrLedgerRecord, name, rec.Version, recordVersion)
	}
	return rec, nil
}

// persist writes the month's record if no write since settle n was
// counted has covered it. Writes are serialised, and each one snapshots
// the state when it starts, so that concurrent settles share one synced
// write (group commit) and a later snapshot is never overwritten by an
// earlier one.
func (b *Budget) persist(ctx context.Context, n uint64) error {
	b.writeMu.Lock()
	defer b.writeMu.Unlock()
	b.mu.Lock()
	if b.written >= n {
		b.mu.Unlock()
		return nil
	}
	upTo := b.settles
	rec := spendRecord{Version: recordVersion, Month: b.month.Format("2006-01"), TotalUSD: b.total.spent,
		Keys: map[string]float64{}}
	for name, a := range b.keys {
		if a.spent > 0 {
			rec.Keys[name] = a.spent
		}
	}
	name := LedgerName(b.month)
	b.mu.Unlock()

	v, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("router: encoding %s: %w", name, err)
	}
	if err := b.ledger.Set(ctx, name, v); err != nil {
		return fmt.Errorf("router: persisting %s: %w", name, err)
	}
	b.mu.Lock()
	b.written = max(b.written, upTo)
	b.mu.Unlock()
	return nil
}
