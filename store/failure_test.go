package store

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// TestWriteFailureLeavesStoreUnchanged injects a failure into the WAL (as a
// full disk would cause) under a commit: the commit returns a wrapped
// ErrFailed, the store refuses further calls, and after reopening, the
// failed batch is absent and everything acknowledged before is present.
func TestWriteFailureLeavesStoreUnchanged(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "store")
	toggle := &errorfs.Toggle{Injector: errorfs.InjectorFunc(func(op errorfs.Op) error {
		if strings.HasSuffix(op.Path, ".log") && op.Kind.ReadOrWrite() == errorfs.OpIsWrite {
			return errorfs.ErrInjected
		}
		return nil
	})}
	opts := testOptions()
	opts.fs = errorfs.Wrap(vfs.Default, toggle)
	s, err := Open(ctx, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	writeDocument(t, s, "kb", "before", 3, 0)

	toggle.On()
	b := s.NewBatch()
	b.Set(DocumentKey("kb", "failed"), []byte("x"))
	b.Set(ChunkKey("kb", "failed", 0), []byte("x"))
	err = b.Commit(ctx)
	toggle.Off()
	var oe *OpError
	if !errors.Is(err, ErrFailed) || !errors.As(err, &oe) || oe.Op != "commit" {
		t.Fatalf("Commit under a WAL failure: %v, want an *OpError wrapping ErrFailed", err)
	}
	t.Logf("commit error: %v", err)

	// Nothing reads the unacknowledged state, and nothing more is written.
	if _, err := s.Get(ctx, DocumentKey("kb", "failed")); !errors.Is(err, ErrFailed) {
		t.Errorf("Get after failure: %v, want ErrFailed", err)
	}
	if _, err := s.Scan(ctx, Range{}, ScanOptions{}); !errors.Is(err, ErrFailed) {
		t.Errorf("Scan after failure: %v, want ErrFailed", err)
	}
	if err := s.Set(ctx, MetaKey("after"), nil); !errors.Is(err, ErrFailed) {
		t.Errorf("Set after failure: %v, want ErrFailed", err)
	}

	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		t.Logf("Close of a failed store: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Close of a failed store hangs")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	s = openTest(t, dir, nil)
	if got := count(t, s, PrefixRange(DocumentChunksPrefix("kb", "before"))); got != 3 {
		t.Errorf("%d chunks of the acknowledged document, want 3", got)
	}
	for _, k := range [][]byte{DocumentKey("kb", "failed"), ChunkKey("kb", "failed", 0)} {
		if _, err := s.Get(ctx, k); !errors.Is(err, ErrNotFound) {
			t.Errorf("failed batch's %q: %v, want ErrNotFound", k, err)
		}
	}
	writeDocument(t, s, "kb", "after", 1, 3)
}
