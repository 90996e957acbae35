package router

import (
	"sync"
	"time"
)

// Spend tracks cloud spend for the monthly budget. Spent is what has been
// spent in the current calendar month, Add records a generation's cost.
// The in-memory MemorySpend forgets on restart; a persisted one (the
// issue's requirement) implements the same interface.
type Spend interface {
	Spent() float64
	Add(usd float64)
}

// MemorySpend is a Spend kept in memory, reset at each calendar month
// (UTC). Safe for concurrent use.
type MemorySpend struct {
	now func() time.Time

	mu    sync.Mutex
	month time.Time // the first instant of the month being counted
	usd   float64
}

// NewMemorySpend returns an empty tracker; now is the clock (nil: time.Now).
func NewMemorySpend(now func() time.Time) *MemorySpend {
	if now == nil {
		now = time.Now
	}
	return &MemorySpend{now: now}
}

func (s *MemorySpend) roll() {
	t := s.now().UTC()
	m := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	if !m.Equal(s.month) {
		s.month, s.usd = m, 0
	}
}

// Spent implements Spend.
func (s *MemorySpend) Spent() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.roll()
	return s.usd
}

// Add implements Spend.
func (s *MemorySpend) Add(usd float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.roll()
	s.usd += usd
}
