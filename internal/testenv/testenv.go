// Package testenv holds what infergate's tests share about their
// environment: how a test treats a prerequisite that is missing (a test
// model, node, an npm package), and how it waits for a condition instead
// of sleeping.
package testenv

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"
)

// Missing reports that a prerequisite of the test is absent. On a
// developer's machine the test is skipped; under CI (the CI environment
// variable set to anything) it fails, because a skipped test passes
// without having run.
func Missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if os.Getenv("CI") != "" {
		tb.Fatalf("CI is set, so this prerequisite is required: "+format, args...)
	}
	tb.Skipf(format, args...)
}

// CheckMissing runs need, a helper that finds a test's prerequisite, where
// that prerequisite is absent, and fails t unless need skips with CI unset
// and fails (without skipping) with CI set.
func CheckMissing(t *testing.T, need func(tb testing.TB)) {
	t.Helper()
	for _, ci := range []string{"", "true"} {
		t.Run("CI="+ci, func(t *testing.T) {
			t.Setenv("CI", ci)
			out := Record(t, need)
			if wantSkip := ci == ""; out.Skipped != wantSkip || out.Failed == wantSkip {
				t.Errorf("CI=%q: %+v; want skipped %v, failed %v", ci, out, wantSkip, !wantSkip)
			}
		})
	}
}

// pollInterval is how often Eventually checks: short next to the
// timeouts tests use, long enough not to spin a shared CI machine.
const pollInterval = 5 * time.Millisecond

// Eventually waits until cond holds, checking it every few milliseconds,
// and fails the test with the message if it does not hold within timeout.
// It is how a test waits for something another goroutine does.
func Eventually(tb testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("after %v: "+format, append([]any{timeout}, args...)...)
		}
		time.Sleep(pollInterval)
	}
}

// Outcome is how a test helper ended when run by Record.
type Outcome struct {
	Skipped, Failed bool
	Message         string // what it logged with its last Skip or Fatal
}

// Record runs f with a testing.TB that records a skip or failure instead
// of ending t, so that a test can check how a helper treats a missing
// prerequisite. A Skip or Fatal ends f, as it ends a test.
func Record(t *testing.T, f func(tb testing.TB)) Outcome {
	t.Helper()
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out
}

// recorder is a testing.TB whose failures and skips end only the
// goroutine that Record runs.
type recorder struct {
	testing.TB
	mu  sync.Mutex
	out Outcome
}

func (r *recorder) Helper() {}

func (r *recorder) end(skip bool, msg string) {
	r.mu.Lock()
	if skip {
		r.out.Skipped = true
	} else {
		r.out.Failed = true
	}
	r.out.Message = msg
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recorder) Fatal(args ...any)                 { r.end(false, fmt.Sprint(args...)) }
func (r *recorder) Fatalf(format string, args ...any) { r.end(false, fmt.Sprintf(format, args...)) }
func (r *recorder) FailNow()                          { r.end(false, "") }
func (r *recorder) Skip(args ...any)                  { r.end(true, fmt.Sprint(args...)) }
func (r *recorder) Skipf(format string, args ...any)  { r.end(true, fmt.Sprintf(format, args...)) }
func (r *recorder) SkipNow()                          { r.end(true, "") }

func (r *recorder) Error(args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.out.Failed, r.out.Message = true, fmt.Sprint(args...)
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.out.Failed, r.out.Message = true, fmt.Sprintf(format, args...)
}

func (r *recorder) Fail() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.out.Failed = true
}

func (r *recorder) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.Failed
}

func (r *recorder) Skipped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.Skipped
}
