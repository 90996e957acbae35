package store

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testOptions() *Options { return &Options{Logger: quietLogger(), CacheBytes: 4 << 20} }

// openTest opens a store in dir (a new temporary directory when empty) and
// closes it when the test ends.
func openTest(t testing.TB, dir string, opts *Options) *Store {
	t.Helper()
	if dir == "" {
		dir = filepath.Join(t.TempDir(), "store")
	}
	if opts == nil {
		opts = testOptions()
	}
	s, err := Open(context.Background(), dir, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func mustSet(t testing.TB, s *Store, key, value string) {
	t.Helper()
	if err := s.Set(context.Background(), []byte(key), []byte(value)); err != nil {
		t.Fatalf("Set(%q): %v", key, err)
	}
}

func mustGet(t testing.TB, s *Store, key []byte) string {
	t.Helper()
	v, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return string(v)
}

// rawSetFormat overwrites the format record of the store in dir with version
// v, bypassing the store, as an older or newer build would have left it.
func rawSetFormat(t *testing.T, dir string, v uint32) {
	t.Helper()
	db, err := pebble.Open(dir, &pebble.Options{Logger: pebbleLogger{log: quietLogger()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set(formatKey(), formatValue(v), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestOpenCreatesAndReopens(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b", "store")
	s, err := Open(context.Background(), dir, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if s.Dir() != dir {
		t.Errorf("Dir() = %q, want %q", s.Dir(), dir)
	}
	mustSet(t, s, string(DocumentKey("kb", "d1")), "v1")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(listDir(t, dir), creatingFile) {
		t.Errorf("%s left behind after creation", creatingFile)
	}
	s = openTest(t, dir, nil)
	if got := mustGet(t, s, DocumentKey("kb", "d1")); got != "v1" {
		t.Errorf("after reopen Get = %q, want v1", got)
	}
	if v, err := s.readFormat(); err != nil || v != FormatVersion {
		t.Errorf("format = %d, %v; want %d", v, err, FormatVersion)
	}
}

func TestOpenEmptyDirectory(t *testing.T) {
	dir := t.TempDir() // exists, empty: a mounted volume, say
	s := openTest(t, dir, nil)
	mustSet(t, s, string(MetaKey("x")), "y")
}

func TestOpenRefusesNotAStore(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T) string
		opts  Options
	}{
		{"regular file", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "file")
			if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			return p
		}, Options{}},
		{"directory of other files", func(t *testing.T) string {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644); err != nil {
				t.Fatal(err)
			}
			return dir
		}, Options{}},
		{"pebble database of another program", func(t *testing.T) string {
			dir := t.TempDir()
			db, err := pebble.Open(dir, &pebble.Options{Logger: pebbleLogger{log: quietLogger()}})
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Set([]byte("their key"), []byte("v"), pebble.Sync); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			return dir
		}, Options{}},
		{"format record of another program", func(t *testing.T) string {
			dir := t.TempDir()
			db, err := pebble.Open(dir, &pebble.Options{Logger: pebbleLogger{log: quietLogger()}})
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Set(formatKey(), []byte("something else"), pebble.Sync); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			return dir
		}, Options{}},
		{"read-only, missing", func(t *testing.T) string { return filepath.Join(t.TempDir(), "none") }, Options{ReadOnly: true}},
		{"read-only, empty", func(t *testing.T) string { return t.TempDir() }, Options{ReadOnly: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.setup(t)
			var before []string
			if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
				before = listDir(t, dir)
			}
			opts := tt.opts
			opts.Logger = quietLogger()
			s, err := Open(context.Background(), dir, &opts)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			var fe *FormatError
			if !errors.Is(err, ErrNotStore) || !errors.As(err, &fe) {
				t.Fatalf("Open error = %v, want a *FormatError wrapping ErrNotStore", err)
			}
			if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
				if after := listDir(t, dir); !slices.Equal(before, after) && before != nil {
					t.Errorf("directory changed: %v -> %v", before, after)
				}
			}
			t.Logf("error: %v", err)
		})
	}
}

func TestOpenRefusesNewerFormat(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	s := openTest(t, dir, nil)
	mustSet(t, s, string(CollectionKey("kb")), "c")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rawSetFormat(t, dir, FormatVersion+1)
	for _, readOnly := range []bool{false, true} {
		_, err := Open(context.Background(), dir, &Options{Logger: quietLogger(), ReadOnly: readOnly})
		var fe *FormatError
		if !errors.Is(err, ErrNewerFormat) || !errors.As(err, &fe) {
			t.Fatalf("read-only %v: Open error = %v, want *FormatError wrapping ErrNewerFormat", readOnly, err)
		}
		if fe.Found != FormatVersion+1 || fe.Supported != FormatVersion {
			t.Errorf("FormatError found %d supported %d", fe.Found, fe.Supported)
		}
		t.Logf("error: %v", err)
	}
	// Untouched: a build that knows the format still finds it.
	rawSetFormat(t, dir, FormatVersion)
	s = openTest(t, dir, nil)
	if got := mustGet(t, s, CollectionKey("kb")); got != "c" {
		t.Errorf("Get = %q", got)
	}
}

func TestOpenUpgradesOlderFormat(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	s := openTest(t, dir, nil)
	mustSet(t, s, string(DocumentKey("kb", "old")), "old layout")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rawSetFormat(t, dir, FormatVersion-1)

	// No upgrade step: refused, and so is a read-only open.
	for _, o := range []*Options{{Logger: quietLogger()}, {Logger: quietLogger(), ReadOnly: true}} {
		if _, err := Open(context.Background(), dir, o); !errors.Is(err, ErrOlderFormat) {
			t.Fatalf("Open (read-only %v) error = %v, want ErrOlderFormat", o.ReadOnly, err)
		}
	}

	// A failing step changes nothing.
	failing := func(from uint32) upgradeStep {
		return func(ctx context.Context, s *Store, b *Batch) error {
			b.Set(MetaKey("half"), []byte("x"))
			return errors.New("step failed")
		}
	}
	if _, err := Open(context.Background(), dir, &Options{Logger: quietLogger(), upgrades: failing}); err == nil {
		t.Fatal("Open with a failing upgrade succeeded")
	}

	var ran []uint32
	step := func(from uint32) upgradeStep {
		return func(ctx context.Context, s *Store, b *Batch) error {
			ran = append(ran, from)
			old, err := s.Get(ctx, DocumentKey("kb", "old"))
			if err != nil {
				return err
			}
			b.Delete(DocumentKey("kb", "old"))
			b.Set(DocumentKey("kb", "new"), append(old, " upgraded"...))
			return nil
		}
	}
	s = openTest(t, dir, &Options{Logger: quietLogger(), upgrades: step})
	if !slices.Equal(ran, []uint32{FormatVersion - 1}) {
		t.Errorf("steps ran from %v", ran)
	}
	if v, err := s.readFormat(); err != nil || v != FormatVersion {
		t.Errorf("format after upgrade = %d, %v", v, err)
	}
	if got := mustGet(t, s, DocumentKey("kb", "new")); got != "old layout upgraded" {
		t.Errorf("upgraded record = %q", got)
	}
	if _, err := s.Get(context.Background(), MetaKey("half")); !errors.Is(err, ErrNotFound) {
		t.Errorf("failed step's write present: %v", err)
	}
}

func TestOpenFinishesInterruptedCreation(t *testing.T) {
	// What a process killed during creation leaves: the marker, and a
	// Pebble database (complete or not) without the format record.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, creatingFile), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := pebble.Open(dir, &pebble.Options{Logger: pebbleLogger{log: quietLogger()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), dir, &Options{Logger: quietLogger(), ReadOnly: true}); !errors.Is(err, ErrNotStore) {
		t.Fatalf("read-only Open of an interrupted creation: %v, want ErrNotStore", err)
	}
	s := openTest(t, dir, nil)
	if v, err := s.readFormat(); err != nil || v != FormatVersion {
		t.Errorf("format = %d, %v", v, err)
	}
	if slices.Contains(listDir(t, dir), creatingFile) {
		t.Errorf("marker still present")
	}
}

func TestOpenTwiceFails(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	s := openTest(t, dir, nil)
	if s2, err := Open(context.Background(), dir, testOptions()); err == nil {
		s2.Close()
		t.Fatal("second Open of a directory in use succeeded")
	} else {
		t.Logf("error: %v", err)
	}
	mustSet(t, s, string(MetaKey("still")), "works")
}

func TestOpenCanceledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := filepath.Join(t.TempDir(), "store")
	if _, err := Open(ctx, dir, testOptions()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Open error = %v, want context.Canceled", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("directory created by a canceled Open")
	}
}

func TestClose(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, "", nil)
	mustSet(t, s, string(DocumentKey("kb", "a")), "1")
	mustSet(t, s, string(DocumentKey("kb", "b")), "2")
	it, err := s.Iterate(ctx, PrefixRange(DocumentsPrefix("kb")), ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !it.Next() {
		t.Fatal(it.Err())
	}
	snap, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	snapIt, err := snap.Iterate(ctx, Range{}, ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pending := s.NewBatch()
	pending.Set(MetaKey("late"), []byte("x"))

	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if it.Next() || !errors.Is(it.Err(), ErrClosed) {
		t.Errorf("iterator after Close: Err = %v, want ErrClosed", it.Err())
	}
	if snapIt.Next() || !errors.Is(snapIt.Err(), ErrClosed) {
		t.Errorf("snapshot iterator after Close: Err = %v, want ErrClosed", snapIt.Err())
	}
	for name, err := range map[string]error{
		"iterator Close":          it.Close(),
		"snapshot iterator Close": snapIt.Close(),
		"snapshot Close":          snap.Close(),
	} {
		if err != nil {
			t.Errorf("%s after store Close: %v", name, err)
		}
	}
	_, errGet := s.Get(ctx, DocumentKey("kb", "a"))
	_, errSnapGet := snap.Get(ctx, DocumentKey("kb", "a"))
	_, errIter := s.Iterate(ctx, Range{}, ScanOptions{})
	_, errScan := s.Scan(ctx, Range{}, ScanOptions{})
	_, errSnap := s.Snapshot()
	for name, err := range map[string]error{
		"Get":            errGet,
		"Snapshot.Get":   errSnapGet,
		"Iterate":        errIter,
		"Scan":           errScan,
		"Snapshot":       errSnap,
		"Set":            s.Set(ctx, MetaKey("x"), nil),
		"Delete":         s.Delete(ctx, MetaKey("x")),
		"pending Commit": pending.Commit(ctx),
		"Checkpoint":     s.Checkpoint(ctx, filepath.Join(t.TempDir(), "ck")),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}

func TestReadOnly(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "store")
	s := openTest(t, dir, nil)
	mustSet(t, s, string(DocumentKey("kb", "a")), "1")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ro := openTest(t, dir, &Options{Logger: quietLogger(), ReadOnly: true})
	if got := mustGet(t, ro, DocumentKey("kb", "a")); got != "1" {
		t.Errorf("Get = %q", got)
	}
	if err := ro.Set(ctx, DocumentKey("kb", "b"), nil); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Set on a read-only store: %v, want ErrReadOnly", err)
	}
	if err := ro.Checkpoint(ctx, filepath.Join(t.TempDir(), "ck")); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Checkpoint of a read-only store: %v, want ErrReadOnly", err)
	}
}
