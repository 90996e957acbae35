package models

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

// The test models are two small real GGUF files shipped in the testdata/ of
// a pinned Go module, so that tests and `make run` need no model hosting:
// the Go module proxy and checksum database already serve and vouch for
// them.
const (
	// TestModelsModule is the module version whose testdata/ holds the test
	// models.
	TestModelsModule = "github.com/mutablelogic/go-llama@v0.0.11"

	// StoriesModel is a 260K-parameter llama model trained on TinyStories; a
	// base model without a chat template.
	StoriesModel = "stories260K.gguf"
	// MiniLMModel is sentence-transformers all-MiniLM-L6-v2 (BERT, 384
	// dimensions, mean pooling) quantised to Q4_K_M.
	MiniLMModel = "all-MiniLM-L6-v2-Q4_K_M.gguf"
)

// PinnedFile is a file whose exact size and SHA-256 are known in advance.
type PinnedFile struct {
	Name   string
	Size   int64
	SHA256 string
}

// TestModels lists the pinned test models. The values were computed from
// the files in TestModelsModule's testdata/.
var TestModels = []PinnedFile{
	{
		Name:   StoriesModel,
		Size:   1185376,
		SHA256: "270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d",
	},
	{
		Name:   MiniLMModel,
		Size:   20999104,
		SHA256: "2ec4cee28a27a9c973d5f5230930d6ef6e52694bd2bc71be26a9bef5b1d755e6",
	},
}

// testModelsCacheDir is where, relative to the repository root, `make models`
// keeps the test models; the folder is git-ignored.
const testModelsCacheDir = "models/cache"

func pinned(name string) (PinnedFile, bool) {
	for _, p := range TestModels {
		if p.Name == name {
			return p, true
		}
	}
	return PinnedFile{}, false
}

// EnsureTestModels makes sure every file in TestModels is present in
// cacheDir with the pinned size and SHA-256, copying missing or damaged ones
// from the module cache (downloading the module with `go mod download` if
// needed). It is idempotent: files that already verify are left alone and
// the go command is not run. It returns the paths of the models.
func EnsureTestModels(ctx context.Context, cacheDir string) ([]string, error) {
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, err
	}
	paths := make([]string, 0, len(TestModels))
	var srcDir string
	for _, p := range TestModels {
		dst := filepath.Join(cacheDir, p.Name)
		paths = append(paths, dst)
		if verifyFile(dst, p) == nil {
			continue
		}
		if srcDir == "" {
			dir, err := moduleDir(ctx, TestModelsModule)
			if err != nil {
				return nil, err
			}
			srcDir = filepath.Join(dir, "testdata")
		}
		if err := copyVerified(filepath.Join(srcDir, p.Name), dst, p); err != nil {
			return nil, err
		}
	}
	return paths, nil
}

// moduleDir asks the go command where a module version is extracted,
// downloading it first if necessary.
func moduleDir(ctx context.Context, modVersion string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", modVersion)
	// Outside any module, so that the command neither consults nor edits the
	// go.mod/go.sum of whatever repository the caller runs in.
	cmd.Dir = os.TempDir()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var info struct {
		Dir   string
		Error string
	}
	if err := json.Unmarshal(stdout.Bytes(), &info); err != nil && runErr == nil {
		return "", fmt.Errorf("go mod download %s: parsing output: %w", modVersion, err)
	}
	switch {
	case info.Error != "":
		return "", fmt.Errorf("go mod download %s: %s", modVersion, info.Error)
	case runErr != nil:
		return "", fmt.Errorf("go mod download %s: %w: %s", modVersion, runErr, bytes.TrimSpace(stderr.Bytes()))
	case info.Dir == "":
		return "", fmt.Errorf("go mod download %s: no module directory reported", modVersion)
	}
	return info.Dir, nil
}

// verifyFile checks path against the pinned size and SHA-256; the size is
// checked first so a wrong file is usually rejected without hashing it.
func verifyFile(path string, p PinnedFile) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() != p.Size {
		return fmt.Errorf("%s: size %d, want %d", path, st.Size(), p.Size)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != p.SHA256 {
		return fmt.Errorf("%s: sha256 %s, want %s", path, got, p.SHA256)
	}
	return nil
}

// copyVerified copies src to dst through a temporary file in dst's folder,
// so dst is either absent, the old file, or the complete verified copy.
func copyVerified(src, dst string, p PinnedFile) error {
	if err := verifyFile(src, p); err != nil {
		return fmt.Errorf("source does not match the pinned checksum: %w", err)
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	_, err = io.Copy(tmp, in)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// Module cache files are read-only; the cached copy need not be.
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = verifyFile(tmp.Name(), p)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		return fmt.Errorf("copying %s to %s: %w", src, dst, err)
	}
	return nil
}

// TestModelPath returns the path of a test model (StoriesModel, MiniLMModel)
// in the repository's models/cache/ folder, found by walking up from the
// working directory to the folder holding go.mod, so tests in any package
// can use it. When the file is missing or has the wrong size it returns an
// error telling the user to run `make models`.
func TestModelPath(name string) (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	root, err := findModuleRoot(wd)
	if err != nil {
		return "", err
	}
	path := filepath.Join(root, filepath.FromSlash(testModelsCacheDir), name)
	st, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("test model %s not found at %s: run `make models` to fetch the test models", name, path)
	}
	if err != nil {
		return "", err
	}
	// Only the size: hashing 20 MB in every test would add up, and
	// EnsureTestModels (make models) already verified the checksum.
	if p, ok := pinned(name); ok && st.Size() != p.Size {
		return "", fmt.Errorf("test model %s is %d bytes, want %d: run `make models` to fetch it again", path, st.Size(), p.Size)
	}
	return path, nil
}

// findModuleRoot walks up from dir to the first folder containing go.mod.
func findModuleRoot(dir string) (string, error) {
	for d := dir; ; {
		if st, err := os.Stat(filepath.Join(d, "go.mod")); err == nil && !st.IsDir() {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no go.mod found in %s or any parent folder: run from inside the infergate repository", dir)
		}
		d = parent
	}
}
