package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/infergate/infergate/internal/atomicfile"
)

// FormatVersion is the store format this build writes: the key layout of the
// package documentation. Open refuses a store with a higher version and
// upgrades one with a lower version, one step at a time.
const FormatVersion uint32 = 1

// MaxBatchBytes bounds one Batch (keys, values and Pebble's per-record
// overhead); a batch that grows past it fails with ErrBatchTooLarge.
const MaxBatchBytes = 1 << 30

const (
	// formatMagic opens the format record's value, so that a Pebble database
	// of another program is not mistaken for a store.
	formatMagic = "infergate-store\x00"
	// creatingFile marks a directory in which Open is creating a store; it
	// exists only between the first file and the synced format record, so a
	// directory holding it is an interrupted creation (nothing was ever
	// acknowledged in it) and Open starts the creation again.
	creatingFile      = "STORE-CREATING"
	defaultCacheBytes = 32 << 20
	formatName        = "format"
)

// Options configure Open. The zero value is a read-write store with a
// 32 MiB block cache, logging to slog.Default().
type Options struct {
	// Logger receives the store's and Pebble's messages; nil is slog.Default().
	Logger *slog.Logger
	// ReadOnly opens an existing store without writing to it (for inspecting
	// a backup): writes fail with ErrReadOnly, a missing store is an error
	// rather than created, and an older format is refused, not upgraded.
	ReadOnly bool
	// CacheBytes is the size of Pebble's block cache; 0 is 32 MiB.
	CacheBytes int64

	// fs replaces the file system Pebble uses (tests inject faults with it).
	fs vfs.FS
	// upgrades replaces the built-in upgrade steps (tests).
	upgrades func(from uint32) upgradeStep
	// maxBatchBytes replaces MaxBatchBytes when positive (tests).
	maxBatchBytes int
}

// upgradeStep turns a store in format version from into from+1. It reads
// through s and writes through b, which Open commits atomically together with
// the new format version; a step that fails leaves the store as it was.
type upgradeStep func(ctx context.Context, s *Store, b *Batch) error

// builtinUpgrade is the store's upgrade path: the step from each older format
// version to the next. Version 1 is the first format, so there are no steps
// yet; a change of key layout adds FormatVersion+1 and its step here.
func builtinUpgrade(from uint32) upgradeStep {
	switch from {
	default:
		return nil
	}
}

// Store is one Pebble database in one directory. All its methods are safe for
// concurrent use; Batch and Iterator values are not (one goroutine each).
type Store struct {
	dir           string
	log           *slog.Logger
	readOnly      bool
	maxBatchBytes int

	// mu is read-locked for every call into Pebble and write-locked by
	// Close, so that Close waits for calls in flight and none starts after.
	mu sync.RWMutex
	db *pebble.DB // nil once closed

	failed atomic.Pointer[error] // set on a fatal Pebble error (ErrFailed)

	resMu sync.Mutex // guards iters and snaps
	iters map[*Iterator]struct{}
	snaps map[*Snapshot]struct{}
}

// Open opens the store in dir, creating it (and dir) when dir does not exist
// or is empty. It fails with a *FormatError wrapping ErrNotStore when dir
// holds something else, ErrNewerFormat when the store's format is newer than
// FormatVersion, and ErrOlderFormat when an older format has no upgrade step.
// A Pebble or file-system failure is an *OpError.
func Open(ctx context.Context, dir string, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.upgrades == nil {
		o.upgrades = builtinUpgrade
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("component", "store", "dir", dir)
	if err := ctx.Err(); err != nil {
		return nil, &OpError{Op: "open", Dir: dir, Err: err}
	}
	state, reason, err := inspectDir(dir)
	if err != nil {
		return nil, &OpError{Op: "open", Dir: dir, Err: err}
	}
	switch state {
	case dirPebble:
		return openExisting(ctx, dir, o, logger)
	case dirForeign:
		return nil, &FormatError{Dir: dir, Supported: FormatVersion, Reason: reason, Err: ErrNotStore}
	}
	if o.ReadOnly {
		return nil, &FormatError{Dir: dir, Supported: FormatVersion, Reason: reason + "; not created in read-only mode", Err: ErrNotStore}
	}
	return create(ctx, dir, o, logger, state == dirCreating)
}

type dirState int

const (
	dirAbsent   dirState = iota // no such directory
	dirEmpty                    // an empty directory
	dirCreating                 // an interrupted creation (creatingFile)
	dirPebble                   // a Pebble database
	dirForeign                  // anything else
)

func inspectDir(dir string) (dirState, string, error) {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return dirAbsent, "no such directory", nil
	case err != nil:
		return 0, "", err
	case !fi.IsDir():
		return dirForeign, "not a directory", nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, "", err
	}
	if len(entries) == 0 {
		return dirEmpty, "empty directory", nil
	}
	for _, e := range entries {
		if e.Name() == creatingFile {
			return dirCreating, "creation was interrupted", nil
		}
	}
	for _, e := range entries {
		// Pebble's manifest marker (or, in older formats, CURRENT) names the
		// live manifest: its presence is what makes a directory a database.
		if strings.HasPrefix(e.Name(), "marker.manifest.") || e.Name() == "CURRENT" {
			return dirPebble, "", nil
		}
	}
	return dirForeign, "directory holds files but no Pebble database", nil
}

func pebbleOptions(o Options, logger *slog.Logger, cache *pebble.Cache) *pebble.Options {
	pl := pebbleLogger{log: logger}
	return &pebble.Options{
		FS:       o.fs,
		Cache:    cache,
		Logger:   pl,
		ReadOnly: o.ReadOnly,
		EventListener: &pebble.EventListener{
			BackgroundError: func(err error) { logger.Error("pebble background error", "err", err) },
			WriteStallBegin: func(info pebble.WriteStallBeginInfo) {
				logger.Warn("pebble write stall", "reason", info.Reason)
			},
			WriteStallEnd: func() { logger.Info("pebble write stall ended") },
			DiskSlow: func(info pebble.DiskSlowInfo) {
				logger.Warn("pebble disk slow", "path", info.Path, "op", info.OpType.String(), "duration", info.Duration)
			},
		},
	}
}

func newCache(o Options) *pebble.Cache {
	size := o.CacheBytes
	if size <= 0 {
		size = defaultCacheBytes
	}
	return pebble.NewCache(size)
}

func newStore(dir string, db *pebble.DB, logger *slog.Logger, o Options) *Store {
	s := &Store{
		dir: dir, db: db, log: logger, readOnly: o.ReadOnly,
		maxBatchBytes: MaxBatchBytes,
		iters:         make(map[*Iterator]struct{}),
		snaps:         make(map[*Snapshot]struct{}),
	}
	if o.maxBatchBytes > 0 {
		s.maxBatchBytes = o.maxBatchBytes
	}
	return s
}

func create(ctx context.Context, dir string, o Options, logger *slog.Logger, interrupted bool) (*Store, error) {
	fail := func(err error) (*Store, error) { return nil, &OpError{Op: "create", Dir: dir, Err: err} }
	if interrupted {
		logger.Warn("store: restarting an interrupted creation")
		if err := clearInterrupted(dir); err != nil {
			return fail(err)
		}
	} else {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fail(err)
		}
		if err := syncDir(filepath.Dir(filepath.Clean(dir))); err != nil {
			return fail(err)
		}
	}
	if err := writeSynced(filepath.Join(dir, creatingFile)); err != nil {
		return fail(err)
	}
	if err := syncDir(dir); err != nil {
		return fail(err)
	}
	cache := newCache(o)
	defer cache.Unref()
	po := pebbleOptions(o, logger, cache)
	po.FormatMajorVersion = pebble.FormatNewest
	db, err := pebbleOpen(dir, po)
	if err != nil {
		return fail(err)
	}
	s := newStore(dir, db, logger, o)
	b := s.NewBatch()
	b.setFormat(FormatVersion)
	if err := b.Commit(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	if err := os.Remove(filepath.Join(dir, creatingFile)); err != nil {
		_ = s.Close()
		return fail(err)
	}
	if err := syncDir(dir); err != nil {
		_ = s.Close()
		return fail(err)
	}
	logger.Info("store: created", "format", FormatVersion)
	return s, nil
}

// clearInterrupted empties a directory whose creation was interrupted. The
// creation marker was written into an empty directory before anything else,
// so everything beside it is a leftover of that creation; a subdirectory is
// not (Pebble makes none), so it stops the clean-up rather than be removed.
func clearInterrupted(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			return fmt.Errorf("%w: interrupted creation left a subdirectory %q", ErrNotStore, e.Name())
		}
	}
	for _, e := range entries {
		if e.Name() == creatingFile {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return syncDir(dir)
}

func openExisting(ctx context.Context, dir string, o Options, logger *slog.Logger) (*Store, error) {
	// Probe read-only first: a read-write open replays and flushes the WAL,
	// which must not happen to a directory that is refused (another
	// program's database, a newer format).
	probe := o
	probe.ReadOnly = true
	s, err := openPebble(dir, probe, logger)
	if err != nil {
		return nil, err
	}
	found, err := s.readFormat()
	if err == nil {
		err = checkFormat(dir, found, o.ReadOnly)
	}
	if err != nil || o.ReadOnly {
		if err != nil {
			_ = s.Close()
			return nil, err
		}
		logger.Debug("store: opened", "format", found, "read_only", true)
		return s, nil
	}
	if err := s.Close(); err != nil {
		return nil, err
	}
	if s, err = openPebble(dir, o, logger); err != nil {
		return nil, err
	}
	if found < FormatVersion {
		if err := s.upgrade(ctx, found, o.upgrades); err != nil {
			_ = s.Close()
			return nil, err
		}
	}
	logger.Debug("store: opened", "format", FormatVersion, "read_only", false)
	return s, nil
}

func openPebble(dir string, o Options, logger *slog.Logger) (*Store, error) {
	cache := newCache(o)
	defer cache.Unref()
	po := pebbleOptions(o, logger, cache)
	po.ErrorIfNotExists = true
	db, err := pebbleOpen(dir, po)
	if errors.Is(err, pebble.ErrDBDoesNotExist) {
		return nil, &FormatError{Dir: dir, Supported: FormatVersion, Reason: "no Pebble database", Err: ErrNotStore}
	}
	if err != nil {
		return nil, &OpError{Op: "open", Dir: dir, Err: err}
	}
	return newStore(dir, db, logger, o), nil
}

// pebbleOpen is pebble.Open with a fatal error (say, a MANIFEST write that
// fails) returned as ErrFailed instead of a panic; Pebble's Open releases
// what it holds before the panic leaves it.
func pebbleOpen(dir string, po *pebble.Options) (db *pebble.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(fatalPanic)
			if !ok {
				panic(r)
			}
			db, err = nil, fmt.Errorf("%w: %s", ErrFailed, f.msg)
		}
	}()
	return pebble.Open(dir, po)
}

// checkFormat says whether a store in format found can be opened, upgraded
// when older (unless read-only).
func checkFormat(dir string, found uint32, readOnly bool) error {
	switch {
	case found > FormatVersion:
		return &FormatError{Dir: dir, Found: found, Supported: FormatVersion, Reason: "upgrade infergate to open it", Err: ErrNewerFormat}
	case found < FormatVersion && readOnly:
		return &FormatError{Dir: dir, Found: found, Supported: FormatVersion, Reason: "opened read-only, so not upgraded", Err: ErrOlderFormat}
	}
	return nil
}

func (s *Store) readFormat() (uint32, error) {
	v, closer, err := s.db.Get(formatKey())
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, &FormatError{Dir: s.dir, Supported: FormatVersion, Reason: "Pebble database without a format record", Err: ErrNotStore}
	}
	if err != nil {
		return 0, &OpError{Op: "open", Dir: s.dir, Err: err}
	}
	defer closer.Close()
	if len(v) != len(formatMagic)+4 || !bytes.HasPrefix(v, []byte(formatMagic)) {
		return 0, &FormatError{Dir: s.dir, Supported: FormatVersion, Reason: "format record is not infergate's", Err: ErrNotStore}
	}
	return binary.BigEndian.Uint32(v[len(formatMagic):]), nil
}

func (s *Store) upgrade(ctx context.Context, from uint32, steps func(uint32) upgradeStep) error {
	for v := from; v < FormatVersion; v++ {
		step := steps(v)
		if step == nil {
			return &FormatError{Dir: s.dir, Found: from, Supported: FormatVersion, Reason: fmt.Sprintf("no upgrade step from version %d", v), Err: ErrOlderFormat}
		}
		b := s.NewBatch()
		if err := step(ctx, s, b); err != nil {
			b.Close()
			return &OpError{Op: fmt.Sprintf("upgrade from format %d", v), Dir: s.dir, Err: err}
		}
		b.setFormat(v + 1)
		if err := b.Commit(ctx); err != nil {
			return err
		}
		s.log.Info("store: upgraded format", "from", v, "to", v+1)
	}
	return nil
}

func formatKey() []byte { return MetaKey(formatName) }

func formatValue(v uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte(formatMagic), v)
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// Close closes the store. It waits for calls in flight, closes the iterators
// and snapshots still open (their later calls fail with ErrClosed), and
// closes Pebble. Calling Close again returns nil.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil
	}
	s.resMu.Lock()
	iters, snaps := s.iters, s.snaps
	s.iters, s.snaps = nil, nil
	s.resMu.Unlock()
	for it := range iters {
		it.release()
	}
	for sn := range snaps {
		sn.release()
	}
	err := s.db.Close()
	s.db = nil
	if err != nil {
		return &OpError{Op: "close", Dir: s.dir, Err: err}
	}
	return nil
}

// acquire read-locks the store for one call into Pebble and returns the
// database, or the reason no call may be made. The caller must call
// s.mu.RUnlock when err is nil.
func (s *Store) acquire(op string) (*pebble.DB, error) {
	s.mu.RLock()
	if s.db == nil {
		s.mu.RUnlock()
		return nil, &OpError{Op: op, Dir: s.dir, Err: ErrClosed}
	}
	if err := s.failure(op); err != nil {
		s.mu.RUnlock()
		return nil, err
	}
	return s.db, nil
}

func (s *Store) failure(op string) error {
	if p := s.failed.Load(); p != nil {
		return &OpError{Op: op, Dir: s.dir, Err: *p}
	}
	return nil
}

// fatalPanic is what pebbleLogger.Fatalf panics with. Pebble calls Fatalf
// when its commit pipeline breaks (a WAL write or sync failed); in a commit
// that happens after the pipeline has released its locks, so the call can be
// turned into an error (ErrFailed) instead of ending the process. Elsewhere
// (background flushes and compactions) the panic ends the process, as
// Pebble's own Fatalf would.
type fatalPanic struct{ msg string }

// recoverFatal, deferred in a call into Pebble, turns a fatalPanic into
// ErrFailed and marks the store failed.
func (s *Store) recoverFatal(op string, err *error) {
	r := recover()
	if r == nil {
		return
	}
	f, ok := r.(fatalPanic)
	if !ok {
		panic(r)
	}
	ferr := fmt.Errorf("%w: %s", ErrFailed, f.msg)
	s.failed.CompareAndSwap(nil, &ferr)
	s.log.Error("store: failed; refusing further calls until reopened", "op", op, "err", f.msg)
	*err = &OpError{Op: op, Dir: s.dir, Err: ferr}
}

// pebbleLogger sends Pebble's messages to slog.
type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Debug(fmt.Sprintf(format, args...), "source", "pebble")
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error(fmt.Sprintf(format, args...), "source", "pebble")
}

func (l pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.log.Error(msg, "source", "pebble", "fatal", true)
	panic(fatalPanic{msg: msg})
}

// Checkpoint writes a consistent, openable copy of the store into dest, which
// must not exist, while writes continue. The copy holds every write
// acknowledged before Checkpoint was called (and possibly later ones, each
// whole). Pebble hard-links the immutable files where it can, so a checkpoint
// on the same file system is cheap at first and grows as the store compacts.
// It cannot be cancelled once started; ctx is checked before. A read-only
// store cannot be checkpointed (ErrReadOnly); copy its directory instead.
func (s *Store) Checkpoint(ctx context.Context, dest string) (err error) {
	if err := ctx.Err(); err != nil {
		return &OpError{Op: "checkpoint", Dir: s.dir, Err: err}
	}
	db, err := s.acquire("checkpoint")
	if err != nil {
		return err
	}
	defer s.mu.RUnlock()
	defer s.recoverFatal("checkpoint", &err)
	if s.readOnly {
		// Pebble cannot checkpoint a read-only database.
		return &OpError{Op: "checkpoint", Dir: s.dir, Err: ErrReadOnly}
	}
	if err := db.Checkpoint(dest, pebble.WithFlushedWAL()); err != nil {
		return &OpError{Op: "checkpoint", Dir: s.dir, Err: err}
	}
	if err := syncDir(filepath.Dir(filepath.Clean(dest))); err != nil {
		return &OpError{Op: "checkpoint", Dir: s.dir, Err: err}
	}
	return nil
}

func writeSynced(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error { return atomicfile.SyncDir(dir) }
