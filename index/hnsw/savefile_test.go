package hnsw

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// dirNames lists dir, so that tests can see leftover temporary files.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// TestSaveFile: SaveFile writes exactly WriteTo's bytes, creates or
// replaces the file, leaves nothing else in the directory, and the result
// loads.
func TestSaveFile(t *testing.T) {
	idx := snapshotIndexes(t)
	tests := []struct {
		name     string
		previous []byte // nil: no file at path yet
	}{
		{"new file", nil},
		{"replaces a snapshot", snapshotBytes(t, idx["dot"])},
		{"replaces a longer file", bytes.Repeat([]byte("x"), 1<<20)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "index.snap")
			if tc.previous != nil {
				if err := os.WriteFile(path, tc.previous, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			x := idx["cosine"]
			if err := x.SaveFile(path); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if want := snapshotBytes(t, x); !bytes.Equal(got, want) {
				t.Fatalf("file holds %d bytes that differ from WriteTo's %d", len(got), len(want))
			}
			if names := dirNames(t, dir); !slices.Equal(names, []string{"index.snap"}) {
				t.Fatalf("directory holds %q, want only index.snap", names)
			}
			y, err := Load(bytes.NewReader(got))
			if err != nil {
				t.Fatal(err)
			}
			if y.Len() != x.Len() {
				t.Fatalf("loaded Len = %d, want %d", y.Len(), x.Len())
			}
		})
	}
}

var errInjected = errors.New("injected write failure")

// TestSaveFileFailureKeepsPrevious makes saves fail at each step that can
// fail in a test: the previous snapshot must stay byte for byte, no
// temporary file may remain, and the cause must be wrapped in the error.
// A save that wrote to path in place would fail the midway cases.
func TestSaveFileFailureKeepsPrevious(t *testing.T) {
	idx := snapshotIndexes(t)
	previous := snapshotBytes(t, idx["dot"])
	next := snapshotBytes(t, idx["cosine"])
	tests := []struct {
		name string
		// write gets the file being written and the target path; it
		// returns the error to inject.
		write func(t *testing.T, w io.Writer, path string) error
		// targetIsDir puts a non-empty directory at path, so that the
		// rename, after a complete write and sync, fails.
		targetIsDir bool
		want        error
	}{
		{
			name: "write fails midway",
			write: func(t *testing.T, w io.Writer, path string) error {
				f, ok := w.(*os.File)
				if !ok {
					t.Fatalf("snapshot written to a %T, want a temporary *os.File", w)
				}
				if f.Name() == path || filepath.Dir(f.Name()) != filepath.Dir(path) {
					t.Fatalf("snapshot written to %s, want a temporary file beside %s", f.Name(), path)
				}
				if _, err := w.Write(next[:len(next)/2]); err != nil {
					t.Fatal(err)
				}
				if got, _ := os.ReadFile(path); !bytes.Equal(got, previous) {
					t.Fatal("the previous snapshot changed while the new one was being written")
				}
				return errInjected
			},
			want: errInjected,
		},
		{
			name: "write fails at once",
			write: func(t *testing.T, w io.Writer, path string) error {
				return errInjected
			},
			want: errInjected,
		},
		{
			name: "rename fails",
			write: func(t *testing.T, w io.Writer, path string) error {
				_, err := w.Write(next)
				return err
			},
			targetIsDir: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "index.snap")
			check := func() {}
			if tc.targetIsDir {
				if err := os.MkdirAll(filepath.Join(path, "keep"), 0o700); err != nil {
					t.Fatal(err)
				}
				check = func() {
					if names := dirNames(t, path); !slices.Equal(names, []string{"keep"}) {
						t.Fatalf("target directory now holds %q", names)
					}
				}
			} else {
				if err := os.WriteFile(path, previous, 0o600); err != nil {
					t.Fatal(err)
				}
				check = func() {
					if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, previous) {
						t.Fatalf("previous snapshot not intact after a failed save (%d bytes, %v)", len(got), err)
					}
				}
			}
			err := writeFileAtomic(path, func(w io.Writer) (int64, error) {
				return 0, tc.write(t, w, path)
			})
			if err == nil {
				t.Fatal("save succeeded, want an error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("error = %v, want it to wrap %v", err, tc.want)
			}
			t.Logf("error: %v", err)
			check()
			if names := dirNames(t, dir); !slices.Equal(names, []string{"index.snap"}) {
				t.Fatalf("directory holds %q after a failed save, want only index.snap", names)
			}
		})
	}
	// The public path fails cleanly too when the directory does not exist.
	missing := filepath.Join(t.TempDir(), "absent", "index.snap")
	if err := idx["one"].SaveFile(missing); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("SaveFile into a missing directory: %v, want os.ErrNotExist", err)
	}
}
