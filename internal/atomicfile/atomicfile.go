// Package atomicfile replaces files crash-safely: a crash at any moment
// leaves either the previous file or the complete new one, never a torn
// mixture. The HNSW and lexical snapshots, the store's markers and pulled
// models are written through it.
package atomicfile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
)

// Write writes path through write: to a temporary file in path's
// directory, synced, renamed over path, and the directory synced so that
// the rename itself survives a power cut. On error the temporary file is
// removed and the previous file is left as it was, except when only the
// final directory sync failed: then the new file is in place but may not
// be durable yet. Only a crash can leave a temporary file behind (path's
// name followed by ".tmp-" and digits); the caller may delete such files.
// The file gets mode 0600.
func Write(path string, write func(io.Writer) (int64, error)) (err error) {
	// The temporary file must be on the same file system as path, or the
	// rename would not be atomic (or would fail): the same directory is.
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	tmp, renamed := f.Name(), false
	defer func() {
		if err != nil && !renamed {
			f.Close() // may already be closed; the first error is the one to report
			os.Remove(tmp)
		}
	}()
	if _, err := write(f); err != nil {
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	// Without this sync, a crash soon after the rename could leave path
	// naming a file whose data never reached the disk.
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("replacing %s: %w", path, err)
	}
	renamed = true
	if err := SyncDir(dir); err != nil {
		return fmt.Errorf("syncing the directory of %s: %w", path, err)
	}
	return nil
}

// SyncDir makes a rename or a creation in dir durable. Windows cannot open
// a directory for syncing, and NTFS journals the rename itself.
func SyncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}
