package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/infergate/infergate/internal/atomicfile"
)

// Scheduled backups are named scheduledPrefix + their start time (UTC, to
// the millisecond), so that names sort in time order, the schedule can
// resume from the newest after a restart, and pruning touches only the
// scheduler's own backups, never those POST /admin/backup wrote by name.
const (
	scheduledPrefix = "scheduled-"
	backupStamp     = "20060102t150405.000z"
	// A backup is written under tmpBackupPrefix+name and renamed when
	// complete; one being pruned is first renamed to delBackupPrefix+name.
	// Either name left behind means a crash midway: it is deleted at the
	// next start. The leading dot keeps them out of plain ls listings.
	tmpBackupPrefix = ".tmp-"
	delBackupPrefix = ".del-"
)

// backuper writes a consistent copy of the knowledge base (its store
// checkpoint and graph snapshots) into dest, which must not exist;
// *index.KB is one.
type backuper interface {
	Backup(ctx context.Context, dest string) error
}

// backupScheduler backs the knowledge base up every interval into dir,
// keeping the newest keep scheduled backups. Each backup is the
// knowledge base's own checkpoint (consistent while the server writes:
// every write acknowledged before the backup starts is in it), written
// to a temporary name and renamed, so that dir only ever holds complete
// backups that `infergate restore --from` accepts.
type backupScheduler struct {
	kb       backuper
	dir      string
	interval time.Duration
	keep     int
	log      *slog.Logger

	total        *prometheus.CounterVec
	lastSuccess  prometheus.Gauge
	lastDuration prometheus.Gauge
	pruneErrors  prometheus.Counter
}

func newBackupScheduler(kb backuper, dir string, interval time.Duration, keep int, log *slog.Logger) *backupScheduler {
	b := &backupScheduler{kb: kb, dir: dir, interval: interval, keep: keep, log: log,
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "infergate_backups_total",
			Help: "Scheduled backups of the data directory (--backup-interval), by outcome: success or failure.",
		}, []string{"outcome"}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "infergate_backup_last_success_timestamp_seconds",
			Help: "When the last successful scheduled backup started, in seconds since the epoch (0: none since this process started).",
		}),
		lastDuration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "infergate_backup_last_duration_seconds",
			Help: "How long the last successful scheduled backup took.",
		}),
		pruneErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "infergate_backup_prune_errors_total",
			Help: "Old scheduled backups beyond --backup-keep that could not be deleted.",
		}),
	}
	for _, o := range []string{"success", "failure"} {
		b.total.WithLabelValues(o)
	}
	return b
}

// collectors are the scheduler's metrics, for the gateway's registry.
func (b *backupScheduler) collectors() []prometheus.Collector {
	return []prometheus.Collector{b.total, b.lastSuccess, b.lastDuration, b.pruneErrors}
}

// start runs the schedule in the background until ctx is done; the
// returned stop cancels it and waits for a backup in progress to end, so
// that the caller may close the knowledge base after it.
func (b *backupScheduler) start(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// run backs up at once if the newest scheduled backup in dir is older
// than interval (or there is none), then every interval from the start
// of the previous one. Resuming from the newest backup on disk keeps the
// cadence across restarts: a server restarted more often than interval
// still gets its backups.
func (b *backupScheduler) run(ctx context.Context) {
	b.removeLeftovers()
	next := time.Now()
	if names, err := b.scheduled(); err != nil {
		b.log.Error("listing scheduled backups", "dir", b.dir, "error", err.Error())
	} else if len(names) > 0 {
		if t, ok := stampOf(names[len(names)-1]); ok && t.Add(b.interval).After(next) {
			next = t.Add(b.interval)
		}
	}
	b.log.Info("scheduled backups on", "dir", b.dir, "interval", b.interval.String(), "keep", b.keep,
		"next", next.UTC().Format(time.RFC3339))
	timer := time.NewTimer(time.Until(next))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		start := time.Now()
		path, err := b.backupOnce(ctx, start)
		switch {
		case err != nil && ctx.Err() != nil:
			b.log.Info("scheduled backup interrupted by the shutdown", "error", err.Error())
			return
		case err != nil:
			b.total.WithLabelValues("failure").Inc()
			b.log.Error("scheduled backup failed; the previous backups are kept", "dir", b.dir, "error", err.Error())
		default:
			took := time.Since(start)
			b.total.WithLabelValues("success").Inc()
			b.lastSuccess.Set(float64(start.UnixMilli()) / 1e3)
			b.lastDuration.Set(took.Seconds())
			b.log.Info("scheduled backup written", "path", path, "seconds", took.Seconds())
			b.prune()
		}
		// A backup that took longer than interval is followed at once by
		// the next one: the schedule never runs two at a time.
		timer.Reset(time.Until(start.Add(b.interval)))
	}
}

// backupOnce writes one backup named after start and returns its path.
func (b *backupScheduler) backupOnce(ctx context.Context, start time.Time) (string, error) {
	name := scheduledPrefix + start.UTC().Format(backupStamp)
	final, tmp := filepath.Join(b.dir, name), filepath.Join(b.dir, tmpBackupPrefix+name)
	if err := os.MkdirAll(b.dir, 0o755); err != nil {
		return "", fmt.Errorf("creating the backup directory: %w", err)
	}
	if _, err := os.Lstat(final); err == nil {
		return "", fmt.Errorf("backup %s: %w", final, fs.ErrExist)
	}
	if err := b.kb.Backup(ctx, tmp); err != nil {
		// index.KB.Backup removes its partial copy itself; this is for
		// any backuper that does not, so the folder never fills up with
		// halves (a full disk is the likeliest failure).
		os.RemoveAll(tmp)
		return "", fmt.Errorf("backing up into %s: %w", tmp, err)
	}
	// The files are synced by their writers (Pebble's checkpoint, the
	// snapshots); the directories' entries are made durable here, before
	// the rename publishes the backup.
	if err := syncDirs(tmp); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("syncing %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("publishing backup %s: %w", final, err)
	}
	if err := atomicfile.SyncDir(b.dir); err != nil {
		return "", fmt.Errorf("syncing %s after the rename: %w", b.dir, err)
	}
	return final, nil
}

// prune deletes the oldest scheduled backups beyond keep. A failure is
// logged and counted, and retried after the next backup.
func (b *backupScheduler) prune() {
	names, err := b.scheduled()
	if err != nil {
		b.pruneErrors.Inc()
		b.log.Error("listing scheduled backups to prune", "dir", b.dir, "error", err.Error())
		return
	}
	for len(names) > b.keep {
		old := names[0]
		names = names[1:]
		// Renamed first, so that a crash midway through the deletion
		// leaves no partial backup under a name that restore accepts.
		doomed := filepath.Join(b.dir, delBackupPrefix+old)
		err := os.Rename(filepath.Join(b.dir, old), doomed)
		if err == nil {
			err = os.RemoveAll(doomed)
		}
		if err != nil {
			b.pruneErrors.Inc()
			b.log.Error("deleting an old scheduled backup", "backup", old, "error", err.Error())
			continue
		}
		b.log.Info("old scheduled backup deleted", "backup", old, "keep", b.keep)
	}
}

// scheduled lists the scheduler's backups in dir, oldest first.
func (b *backupScheduler) scheduled() ([]string, error) {
	entries, err := os.ReadDir(b.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if _, ok := stampOf(e.Name()); ok && e.IsDir() {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names) // the fixed-width stamp sorts in time order
	return names, nil
}

// removeLeftovers deletes what a crash during a backup or a pruning left.
func (b *backupScheduler) removeLeftovers() {
	entries, err := os.ReadDir(b.dir)
	if err != nil {
		return // none yet, or the next backup reports the problem
	}
	for _, e := range entries {
		n := e.Name()
		if !strings.HasPrefix(n, tmpBackupPrefix+scheduledPrefix) && !strings.HasPrefix(n, delBackupPrefix+scheduledPrefix) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(b.dir, n)); err != nil {
			b.log.Warn("removing an incomplete backup", "path", filepath.Join(b.dir, n), "error", err.Error())
		}
	}
}

// stampOf parses a scheduled backup's name.
func stampOf(name string) (time.Time, bool) {
	s, ok := strings.CutPrefix(name, scheduledPrefix)
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(backupStamp, s)
	return t, err == nil
}

// syncDirs syncs every directory under root, root included.
func syncDirs(root string) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		return atomicfile.SyncDir(path)
	})
}

// backupSettings checks the backup options and fills the default folder.
// It returns whether scheduled backups are on.
func (c *serveConfig) backupSettings() (bool, error) {
	switch {
	case c.backupInterval < 0:
		return false, fmt.Errorf("--backup-interval %s: want 0 (off) or a positive duration", c.backupInterval)
	case c.backupInterval == 0:
		return false, nil
	case c.dataDir == "":
		return false, errors.New("--backup-interval needs --data-dir: there is nothing to back up without one")
	case c.backupKeep < 1:
		return false, fmt.Errorf("--backup-keep %d: keep at least 1 backup", c.backupKeep)
	}
	if c.backupDir == "" {
		c.backupDir = filepath.Join(c.dataDir, "backups")
	}
	return true, nil
}
