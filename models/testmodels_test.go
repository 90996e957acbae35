package models

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestEnsureTestModels(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	ctx := context.Background()
	paths, err := EnsureTestModels(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != len(TestModels) {
		t.Fatalf("got %d paths", len(paths))
	}
	for i, p := range paths {
		if err := verifyFile(p, TestModels[i]); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadFile(p); err != nil {
			t.Fatal(err)
		}
	}

	// Idempotent: verified files are not rewritten.
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	for _, p := range paths {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	// Damage one: it must be replaced, the other left alone.
	if err := os.WriteFile(paths[0], []byte("GGUF damaged"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := EnsureTestModels(ctx, dir); err != nil {
		t.Fatal(err)
	}
	if err := verifyFile(paths[0], TestModels[0]); err != nil {
		t.Errorf("damaged file not repaired: %v", err)
	}
	if st, err := os.Stat(paths[1]); err != nil || !st.ModTime().Equal(old) {
		t.Errorf("intact file rewritten (mtime %v, want %v)", st.ModTime(), old)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".*.tmp"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestVerifyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := PinnedFile{"f", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}
	tests := []struct {
		p    PinnedFile
		want string
	}{
		{good, ""},
		{PinnedFile{"f", 4, good.SHA256}, "size 3, want 4"},
		{PinnedFile{"f", 3, strings.Repeat("0", 64)}, "sha256 ba7816bf"},
	}
	for _, tc := range tests {
		err := verifyFile(path, tc.p)
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("verifyFile(%+v) = %v, want %q", tc.p, err, tc.want)
		}
	}
}

func TestTestModelPath(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("module example.com/x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	deep := filepath.Join(root, "a", "b")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	src := testModel(t, StoriesModel) // before Chdir: may depend on the working directory
	t.Chdir(deep)

	_, err := TestModelPath(StoriesModel)
	if err == nil || !strings.Contains(err.Error(), "make models") || !strings.Contains(err.Error(), filepath.Join(root, "models", "cache", StoriesModel)) {
		t.Fatalf("absent: err = %v, want a hint to run `make models` naming the path", err)
	}

	cache := filepath.Join(root, "models", "cache")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(cache, StoriesModel)
	if err := os.WriteFile(dst, []byte("short"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := TestModelPath(StoriesModel); err == nil || !strings.Contains(err.Error(), "make models") {
		t.Fatalf("wrong size: err = %v", err)
	}
	if err := os.WriteFile(dst, readAll(t, src), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := TestModelPath(StoriesModel)
	if err != nil {
		t.Fatal(err)
	}
	if got != dst {
		t.Errorf("TestModelPath = %q, want %q", got, dst)
	}
}

func TestFindModuleRootNone(t *testing.T) {
	// The file system root has no go.mod in any sane test environment.
	if _, err := findModuleRoot(string(filepath.Separator)); err == nil || !strings.Contains(err.Error(), "go.mod") {
		t.Errorf("err = %v", err)
	}
}
