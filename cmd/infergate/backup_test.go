package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// fakeKB stands in for the knowledge base in the scheduler's own tests:
// it writes a backup's shape (store/, index/), or fails halfway.
type fakeKB struct {
	fail  bool
	mu    sync.Mutex
	calls int
}

func (f *fakeKB) Backup(ctx context.Context, dest string) error {
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
	if err := os.MkdirAll(filepath.Join(dest, "store"), 0o755); err != nil {
		return err
	}
	if f.fail {
		return errors.New("disk full") // leaves its partial copy behind
	}
	return os.WriteFile(filepath.Join(dest, "store", "MANIFEST"), []byte("x"), 0o644)
}

func (f *fakeKB) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func mkdirs(t *testing.T, root string, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := os.MkdirAll(filepath.Join(root, n), 0o755); err != nil {
			t.Fatal(err)
		}
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

func scheduledName(at time.Time) string { return scheduledPrefix + at.UTC().Format(backupStamp) }

// TestBackupSchedulerKeepsTheNewest: old scheduled backups beyond --backup-
// keep go, named backups and other files stay, and what a crash left
// midway is cleared at start.
func TestBackupSchedulerKeepsTheNewest(t *testing.T) {
	dir := t.TempDir()
	old := []string{scheduledName(time.Now().Add(-3 * time.Hour)), scheduledName(time.Now().Add(-2 * time.Hour))}
	mkdirs(t, dir, append(old, "nightly", tmpBackupPrefix+scheduledName(time.Now().Add(-time.Hour)),
		delBackupPrefix+old[0]+"x", tmpBackupPrefix+"nightly")...)
	kb := &fakeKB{}
	b := newBackupScheduler(kb, dir, 20*time.Millisecond, 2, slog.New(slog.DiscardHandler))
	stop := b.start(context.Background())
	waitForCount(t, b.total.WithLabelValues("success"), 4)
	stop()
	names, err := b.scheduled()
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 2 || slices.Contains(names, old[0]) || slices.Contains(names, old[1]) {
		t.Errorf("kept %v, want the 2 newest, none of %v", names, old)
	}
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(dir, n, "store", "MANIFEST")); err != nil {
			t.Errorf("backup %s: %v", n, err)
		}
	}
	got := listDir(t, dir)
	want := append([]string{tmpBackupPrefix + "nightly", "nightly"}, names...)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("the folder holds %v, want %v", got, want)
	}
	if valueOf(t, b.lastSuccess) == 0 || valueOf(t, b.pruneErrors) != 0 {
		t.Errorf("last success %v, prune errors %v", valueOf(t, b.lastSuccess), valueOf(t, b.pruneErrors))
	}
}

// TestBackupSchedulerFailure: a failed backup is counted and leaves no
// partial copy, and the backups before it are kept.
func TestBackupSchedulerFailure(t *testing.T) {
	dir := t.TempDir()
	prev := scheduledName(time.Now().Add(-time.Hour))
	mkdirs(t, dir, prev)
	kb := &fakeKB{fail: true}
	b := newBackupScheduler(kb, dir, 20*time.Millisecond, 1, slog.New(slog.DiscardHandler))
	stop := b.start(context.Background())
	waitForCount(t, b.total.WithLabelValues("failure"), 2)
	stop()
	if got := listDir(t, dir); !slices.Equal(got, []string{prev}) {
		t.Errorf("the folder holds %v, want only %s", got, prev)
	}
	if s, ls := valueOf(t, b.total.WithLabelValues("success")), valueOf(t, b.lastSuccess); s != 0 || ls != 0 {
		t.Errorf("success %v, last success %v after failures only", s, ls)
	}
}

// TestBackupScheduleResumes: after a restart the schedule continues from
// the newest backup on disk.
func TestBackupScheduleResumes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		newest time.Duration // age of the newest scheduled backup; 0: none
		want   bool          // a backup at once
	}{
		{name: "no backup yet", want: true},
		{name: "newest older than the interval", newest: 2 * time.Hour, want: true},
		{name: "newest within the interval", newest: 10 * time.Minute, want: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.newest != 0 {
				mkdirs(t, dir, scheduledName(time.Now().Add(-tc.newest)), scheduledName(time.Now().Add(-3*time.Hour)))
			}
			kb := &fakeKB{}
			b := newBackupScheduler(kb, dir, time.Hour, 3, slog.New(slog.DiscardHandler))
			stop := b.start(context.Background())
			deadline := time.Now().Add(500 * time.Millisecond)
			for kb.count() == 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			stop()
			if got := kb.count() > 0; got != tc.want {
				t.Errorf("backed up at once: %v, want %v", got, tc.want)
			}
		})
	}
}

func TestBackupSettings(t *testing.T) {
	for _, tc := range []struct {
		name    string
		c       serveConfig
		on      bool
		dir     string
		wantErr string
	}{
		{name: "off", c: serveConfig{dataDir: "d", backupKeep: 7}},
		{name: "default folder", c: serveConfig{dataDir: "d", backupInterval: time.Hour, backupKeep: 7}, on: true, dir: filepath.Join("d", "backups")},
		{name: "own folder", c: serveConfig{dataDir: "d", backupInterval: time.Hour, backupKeep: 1, backupDir: "/mnt/b"}, on: true, dir: "/mnt/b"},
		{name: "negative interval", c: serveConfig{dataDir: "d", backupInterval: -time.Second, backupKeep: 7}, wantErr: "--backup-interval"},
		{name: "keep none", c: serveConfig{dataDir: "d", backupInterval: time.Hour}, wantErr: "--backup-keep 0"},
		{name: "no data dir", c: serveConfig{backupInterval: time.Hour, backupKeep: 7}, wantErr: "needs --data-dir"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			on, err := tc.c.backupSettings()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || on != tc.on || tc.c.backupDir != tc.dir {
				t.Errorf("on %v, dir %q, err %v; want %v, %q", on, tc.c.backupDir, err, tc.on, tc.dir)
			}
		})
	}
}

// ack is a document the server acknowledged, and when the test saw it.
type ack struct {
	id, text string
	at       time.Time
}

// TestScheduledBackupUnderWriteLoad: serve with backups every second
// while a client writes documents one by one; restore a backup with
// `infergate restore`, serve it, and find every document acknowledged
// before that backup started. --backup-keep keeps exactly that many.
func TestScheduledBackupUnderWriteLoad(t *testing.T) {
	_, emb := testModels(t)
	dir := t.TempDir()
	data, backups := filepath.Join(dir, "data"), filepath.Join(dir, "backups")
	common := []string{"--addr", "127.0.0.1:0", "--chat-model", "", "--embed-model", emb, "--threads", "1",
		"--api-key", "sk-user", "--admin-key", "sk-admin", "--shutdown-timeout", "5s"}
	const keep = 2
	srv := startServe(t, append(common, "--data-dir", data, "--backup-interval", "1s", "--backup-keep", strconv.Itoa(keep),
		"--backup-dir", backups)...)
	base := "http://" + srv.addr
	stopped := false
	defer func() {
		if !stopped {
			srv.stop(t)
		}
	}()
	if code, body := kbPost(t, base+"/v1/collections", "sk-admin", `{"name":"support"}`); code != 201 {
		t.Fatalf("create collection: %d %s", code, body)
	}

	topics := []string{"refunds for annual plans", "resetting a forgotten password", "parcel tracking numbers",
		"cancelling a subscription", "the command palette shortcut", "invoices in another currency"}
	var (
		mu      sync.Mutex
		acks    []ack
		lastErr string
		done    = make(chan struct{})
	)
	go func() {
		defer close(done)
		client := &http.Client{Timeout: 30 * time.Second}
		for i := 0; ; i++ {
			id := fmt.Sprintf("ticket-%04d", i)
			text := fmt.Sprintf("Ticket %d (code zx%04d) asks about %s.", i, i, topics[i%len(topics)])
			body, _ := json.Marshal(map[string]any{"documents": []map[string]string{{"id": id, "text": text}}})
			req, _ := http.NewRequest("POST", base+"/v1/collections/support/documents", strings.NewReader(string(body)))
			req.Header.Set("Authorization", "Bearer sk-admin")
			resp, err := client.Do(req)
			if err != nil {
				mu.Lock()
				lastErr = err.Error()
				mu.Unlock()
				return // the server has stopped
			}
			rb, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			at := time.Now()
			if resp.StatusCode != 200 || !strings.Contains(string(rb), `"created"`) {
				mu.Lock()
				lastErr = fmt.Sprintf("%d %s", resp.StatusCode, rb)
				mu.Unlock()
				return
			}
			mu.Lock()
			acks = append(acks, ack{id: id, text: text, at: at})
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	}()

	// Three backups while the writes go on, then stop the server under
	// the write load.
	written := strings.Count(srv.logs.String(), "scheduled backup written")
	deadline := time.Now().Add(90 * time.Second)
	for strings.Count(srv.logs.String(), "scheduled backup written") < written+3 {
		select {
		case <-done:
			t.Fatalf("the writer stopped: %s", lastErr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("fewer than 3 backups in 90s:\n%s", srv.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	metrics := scrapeMetrics(t, base)
	if n, ok := metrics[`infergate_backups_total{outcome="success"}`]; !ok || n < 3 {
		t.Errorf("infergate_backups_total{success} = %v (exposed: %v), want at least 3", n, ok)
	}
	if n, ok := metrics[`infergate_backups_total{outcome="failure"}`]; !ok || n != 0 {
		t.Errorf("infergate_backups_total{failure} = %v (exposed: %v), want 0", n, ok)
	}
	if ts := metrics["infergate_backup_last_success_timestamp_seconds"]; time.Since(time.Unix(int64(ts), 0)) > time.Minute {
		t.Errorf("infergate_backup_last_success_timestamp_seconds = %v", ts)
	}
	srv.stop(t)
	stopped = true
	<-done
	mu.Lock()
	acked := slices.Clone(acks)
	mu.Unlock()

	var scheduled []string
	for _, n := range listDir(t, backups) {
		if strings.HasPrefix(n, scheduledPrefix) {
			scheduled = append(scheduled, n)
		} else {
			t.Errorf("unexpected %s in the backup folder", n)
		}
	}
	if len(scheduled) != keep {
		t.Fatalf("%d scheduled backups kept, want %d: %v", len(scheduled), keep, scheduled)
	}
	// The newest backup with writes acknowledged both before and after it
	// started: one taken under the load.
	var chosen string
	var before []ack
	for i := len(scheduled) - 1; i >= 0 && chosen == ""; i-- {
		start, ok := stampOf(scheduled[i])
		if !ok {
			t.Fatalf("backup name %s", scheduled[i])
		}
		// The name is the start truncated to the millisecond: what was
		// acknowledged before it was acknowledged before the start.
		n := 0
		for n < len(acked) && acked[n].at.Before(start) {
			n++
		}
		if n > 0 && n < len(acked) {
			chosen, before = scheduled[i], acked[:n]
		}
	}
	if chosen == "" {
		t.Fatalf("no kept backup has writes before and after it: %v, %d acknowledged", scheduled, len(acked))
	}
	t.Logf("restoring %s: %d of %d documents acknowledged before it", chosen, len(before), len(acked))

	restored := filepath.Join(dir, "restored")
	out, errs, code := runCmd(t, "restore", "--from", filepath.Join(backups, chosen), "--data-dir", restored)
	if code != 0 || !strings.Contains(out, "1 collections (support)") {
		t.Fatalf("restore: exit %d\n%s%s", code, out, errs)
	}
	srv = startServe(t, append(common, "--data-dir", restored)...)
	defer srv.stop(t)
	base = "http://" + srv.addr
	for _, a := range before {
		req, _ := http.NewRequest("GET", base+"/v1/collections/support/documents/"+url.PathEscape(a.id), nil)
		req.Header.Set("Authorization", "Bearer sk-user")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct{ ID, Content string }
		err = json.NewDecoder(resp.Body).Decode(&doc)
		resp.Body.Close()
		if resp.StatusCode != 200 || err != nil || doc.ID != a.id || !strings.Contains(doc.Content, a.text) {
			t.Errorf("document %s acknowledged before the backup: %d %v %+v", a.id, resp.StatusCode, err, doc)
		}
	}
	// Its vectors too: the last one written before the backup is the
	// nearest neighbour of its own text.
	last := before[len(before)-1]
	code, body := kbPost(t, base+"/v1/collections/support/search", "sk-user",
		fmt.Sprintf(`{"query":%q,"mode":"vector","k":1}`, last.text))
	var res struct {
		Data []struct {
			DocumentID string `json:"document_id"`
		}
	}
	if err := json.Unmarshal([]byte(body), &res); code != 200 || err != nil || len(res.Data) != 1 || res.Data[0].DocumentID != last.id {
		t.Errorf("vector search for %s: %d %v %s", last.id, code, err, body)
	}
}

func kbPost(t *testing.T, url, key, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// valueOf is the value of a collector of one counter or gauge.
func valueOf(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 || len(mfs[0].GetMetric()) != 1 {
		t.Fatalf("gathering: %v, %d families", err, len(mfs))
	}
	m := mfs[0].GetMetric()[0]
	if m.GetCounter() != nil {
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

// waitForCount waits up to 10s for counter c to reach n.
func waitForCount(t *testing.T, c prometheus.Collector, n float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for valueOf(t, c) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the counter stayed at %v in 10s, want %v", valueOf(t, c), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
