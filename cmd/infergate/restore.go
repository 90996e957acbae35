package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/infergate/infergate/internal/atomicfile"
	"github.com/infergate/infergate/store"
)

const restoreUsage = `Usage: infergate restore --from BACKUP --data-dir DIR [--force]

Restores a knowledge-base backup (written by POST /admin/backup into
<data-dir>/backups/NAME) into a data directory, with the server stopped:
BACKUP/store (a store checkpoint) becomes DIR/store and BACKUP/index (the
vector-graph snapshots) DIR/index. The copy is opened read-only before it
replaces anything. A DIR that has a store is refused unless --force, which
keeps the old store and index as store.old-TIME and index.old-TIME.
`

func runRestore(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	var from, dataDir string
	var force bool
	o := newOptions("restore")
	o.group("Restore")
	o.String(&from, "from", "", "backup `dir`ectory to restore (holding store/ and index/)")
	o.String(&dataDir, "data-dir", "./data", "data `dir`ectory to restore into")
	o.Bool(&force, "force", false, "replace an existing store, keeping it as store.old-TIME")
	_, err := o.parse(args, getenv)
	if errors.Is(err, errHelp) {
		fmt.Fprint(stdout, restoreUsage)
		o.usage(stdout)
		return 0
	}
	if err == nil && (from == "" || dataDir == "") {
		err = errors.New("--from and --data-dir are required")
	}
	if err != nil {
		fmt.Fprintf(stderr, "infergate restore: %v\n(see infergate restore --help)\n", err)
		return 2
	}
	colls, err := restore(ctx, from, dataDir, force, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "infergate restore: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "restored %s into %s: %d collections (%s)\n", from, dataDir, len(colls), strings.Join(colls, ", "))
	return 0
}

// restore copies the backup in from into dataDir and returns the names of
// the collections the restored store holds. The copy goes to temporary
// names first and is verified there, so that a failure leaves dataDir as
// it was; only the final renames change it.
func restore(ctx context.Context, from, dataDir string, force bool, log io.Writer) ([]string, error) {
	srcStore, srcIndex := filepath.Join(from, "store"), filepath.Join(from, "index")
	if st, err := os.Stat(srcStore); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("%s is not a backup: it has no store directory", from)
	}
	dstStore, dstIndex := filepath.Join(dataDir, "store"), filepath.Join(dataDir, "index")
	if _, err := os.Stat(dstStore); err == nil {
		if !force {
			return nil, fmt.Errorf("%s exists; stop the server and give --force to replace it (it is kept as store.old-TIME)", dstStore)
		}
		if err := checkNotInUse(ctx, dstStore); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, err
	}
	stamp := time.Now().UTC().Format("20060102t150405z")
	tmpStore, tmpIndex := dstStore+".restoring-"+stamp, dstIndex+".restoring-"+stamp
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmpStore)
			os.RemoveAll(tmpIndex)
		}
	}()
	if err := copyTree(srcStore, tmpStore); err != nil {
		return nil, err
	}
	if _, err := os.Stat(srcIndex); err == nil {
		if err := copyTree(srcIndex, tmpIndex); err != nil {
			return nil, err
		}
	} else if err := os.Mkdir(tmpIndex, 0o755); err != nil {
		return nil, err
	}
	colls, err := verifyStore(ctx, tmpStore)
	if err != nil {
		return nil, fmt.Errorf("the backup's store does not open: %w", err)
	}
	for _, p := range []string{dstStore, dstIndex} {
		if _, err := os.Stat(p); err == nil {
			old := p + ".old-" + stamp
			if err := os.Rename(p, old); err != nil {
				return nil, err
			}
			fmt.Fprintf(log, "kept the previous %s as %s\n", filepath.Base(p), old)
		}
	}
	if err := os.Rename(tmpStore, dstStore); err != nil {
		return nil, err
	}
	if err := os.Rename(tmpIndex, dstIndex); err != nil {
		return nil, err
	}
	ok = true
	return colls, atomicfile.SyncDir(dataDir)
}

// checkNotInUse refuses to replace a store that a server has open: Pebble
// holds a lock on it. A store that does not open for another reason (it
// is damaged, which may be why it is being restored) may be replaced.
func checkNotInUse(ctx context.Context, dir string) error {
	st, err := store.Open(ctx, dir, &store.Options{ReadOnly: true, Logger: quietLog()})
	if err == nil {
		return st.Close()
	}
	if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES) || strings.Contains(err.Error(), "lock held") {
		return fmt.Errorf("%s is in use (is a server running on it?): %w", dir, err)
	}
	return nil
}

// verifyStore opens a store read-only and lists its collections.
func verifyStore(ctx context.Context, dir string) ([]string, error) {
	st, err := store.Open(ctx, dir, &store.Options{ReadOnly: true, Logger: quietLog()})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	page, err := st.Scan(ctx, store.PrefixRange(store.KindPrefix(store.KindCollection)), store.ScanOptions{})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range page.Entries {
		name, err := store.ParseCollectionKey(e.Key)
		if err != nil {
			return nil, err
		}
		names = append(names, name)
	}
	return names, nil
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// copyTree copies the directory src to dst (which must not exist), every
// file and directory synced, so that the restore is on disk before the
// renames that make it take effect.
func copyTree(src, dst string) error {
	var dirs []string
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			dirs = append(dirs, target)
			return os.Mkdir(target, 0o755)
		case !d.Type().IsRegular():
			return fmt.Errorf("%s: not a regular file", path)
		}
		return copyFile(path, target)
	})
	if err != nil {
		return err
	}
	for _, d := range dirs {
		if err := atomicfile.SyncDir(d); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copying %s: %w", src, err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return fmt.Errorf("syncing %s: %w", dst, err)
	}
	return out.Close()
}
