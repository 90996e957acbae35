package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/infergate/infergate/internal/atomicfile"
	"github.com/infergate/infergate/internal/progress"
)

// pullClient has no overall timeout, since a model download can take hours;
// stalls are caught by pullStallTimeout instead.
var pullClient = &http.Client{Transport: pullTransport()}

func pullTransport() http.RoundTripper {
	t, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return http.DefaultTransport
	}
	t = t.Clone()
	t.ResponseHeaderTimeout = time.Minute
	return t
}

// pullStallTimeout aborts a download that receives no bytes for this long;
// without it a silent peer would hang Pull forever. A variable for tests.
var pullStallTimeout = 2 * time.Minute

// forcedProgress marks a writer that gets a progress bar even when it is not
// a terminal.
type forcedProgress struct{ io.Writer }

// ForceProgress wraps w so that Pull draws its progress bar on it even when
// w is not a terminal (a log file, a test buffer).
func ForceProgress(w io.Writer) io.Writer { return forcedProgress{w} }

// progressWriter returns where to draw progress, or nil for nowhere.
func progressWriter(w io.Writer) io.Writer {
	if f, ok := w.(forcedProgress); ok {
		return f.Writer
	}
	if progress.IsTerminal(w) {
		return w
	}
	return nil
}

// Pull downloads the GGUF file at rawURL (http or https) to dest.
//
// The body goes to dest+".part" and is renamed to dest only once complete
// and verified, so dest never holds a partial file. An interrupted download
// leaves the .part file behind and the next Pull resumes it with an HTTP
// range request (starting over when the server ignores ranges). Two Pulls
// must not write the same dest at once.
//
// When wantSHA256 (hex) is given, the file must match it: on a mismatch the
// .part file is deleted and an error returned; when dest already exists
// with that checksum, Pull returns at once. Whether or not a checksum is
// given, the result must be a valid GGUF file (see Read).
//
// Progress (bytes, percentage, rate) is drawn on progress when it is a
// terminal, or any writer wrapped with ForceProgress; nil means silence.
func Pull(ctx context.Context, rawURL, dest, wantSHA256 string, progress io.Writer) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("pull: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("pull %s: unsupported URL scheme %q (want http or https)", rawURL, u.Scheme)
	}
	want := strings.ToLower(strings.TrimSpace(wantSHA256))
	if want != "" {
		if b, err := hex.DecodeString(want); err != nil || len(b) != sha256.Size {
			return fmt.Errorf("pull %s: checksum %q is not a hex SHA-256", rawURL, wantSHA256)
		}
		if sum, err := fileSHA256(dest); err == nil && sum == want {
			if _, err := ReadFile(dest); err == nil {
				return nil // already there
			}
		}
	}
	if dir := filepath.Dir(dest); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("pull %s: %w", rawURL, err)
		}
	}
	part := dest + ".part"
	sum, size, err := download(ctx, rawURL, part, progressWriter(progress))
	if err != nil {
		return fmt.Errorf("pull %s: %w", rawURL, err)
	}
	if want != "" && sum != want {
		os.Remove(part)
		return fmt.Errorf("pull %s: checksum mismatch: got sha256 %s, want %s (download deleted)", rawURL, sum, want)
	}
	if _, err := ReadFile(part); err != nil {
		os.Remove(part)
		return fmt.Errorf("pull %s: downloaded file is not a valid model (deleted): %w", rawURL, err)
	}
	if err := os.Rename(part, dest); err != nil {
		return fmt.Errorf("pull %s: %w", rawURL, err)
	}
	syncDir(filepath.Dir(dest))
	if w := progressWriter(progress); w != nil {
		fmt.Fprintf(w, "%s: %s, sha256 %s\n", dest, formatBytes(size), sum)
	}
	return nil
}

// download fetches rawURL into part, resuming what part already holds, and
// returns the SHA-256 and size of the complete file.
func download(ctx context.Context, rawURL, part string, progress io.Writer) (string, int64, error) {
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return "", 0, err
	}
	ok := false
	defer func() {
		f.Close()
		if !ok {
			// Keep bytes already fetched for resuming; an empty file only
			// clutters the folder.
			if st, err := os.Stat(part); err == nil && st.Size() == 0 {
				os.Remove(part)
			}
		}
	}()

	// Hash what an earlier attempt left, so the checksum covers the whole
	// file without downloading it again.
	h := sha256.New()
	have, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return "", 0, err
	}
	if have > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
	}
	resp, err := pullClient.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()

	total := int64(-1)
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0:
		start, end, size, err := parseContentRange(resp.Header.Get("Content-Range"))
		if err != nil || start != have {
			return "", 0, fmt.Errorf("server answered the resume request with Content-Range %q, expected bytes from %d (delete %s to start over)", resp.Header.Get("Content-Range"), have, part)
		}
		if size >= 0 {
			total = size
		} else if end >= 0 {
			total = end + 1
		}
	case resp.StatusCode == http.StatusOK:
		// Fresh download, or a server that ignores ranges: start over.
		if have > 0 {
			if err := restart(f, h); err != nil {
				return "", 0, err
			}
			have = 0
		}
		total = resp.ContentLength
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && have > 0:
		// The part file is as long as (or longer than) the remote file. Only
		// a fresh download can tell whether it is complete and right.
		resp.Body.Close()
		if err := restart(f, h); err != nil {
			return "", 0, err
		}
		ok = true // the part file is now empty; let the retry own it
		f.Close()
		return download(ctx, rawURL, part, progress)
	default:
		return "", 0, fmt.Errorf("GET: %s", resp.Status)
	}

	bar := newProgressBar(progress, have, total)
	stall := time.AfterFunc(pullStallTimeout, func() {
		cancel(fmt.Errorf("no data received for %v", pullStallTimeout))
	})
	defer stall.Stop()

	got := have
	buf := make([]byte, 256<<10)
	var readErr error
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			stall.Reset(pullStallTimeout)
			if _, werr := f.Write(buf[:n]); werr != nil {
				return "", 0, werr
			}
			h.Write(buf[:n])
			got += int64(n)
			bar.update(got)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			readErr = err
			break
		}
	}
	bar.finish(got)
	if readErr != nil {
		if cause := context.Cause(ctx); cause != nil {
			readErr = cause
		}
		return "", 0, fmt.Errorf("download interrupted after %d bytes (kept %s to resume): %w", got, part, readErr)
	}
	if total >= 0 && got != total {
		return "", 0, fmt.Errorf("download ended after %d of %d bytes (kept %s to resume)", got, total, part)
	}
	if err := f.Sync(); err != nil {
		return "", 0, err
	}
	ok = true
	return hex.EncodeToString(h.Sum(nil)), got, nil
}

// restart empties the part file and the running hash.
func restart(f *os.File, h hash.Hash) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	h.Reset()
	return nil
}

// parseContentRange parses "bytes start-end/size"; end and size are -1 when
// the server wrote "*".
func parseContentRange(s string) (start, end, size int64, err error) {
	bad := fmt.Errorf("malformed Content-Range %q", s)
	rest, found := strings.CutPrefix(s, "bytes ")
	if !found {
		return 0, 0, 0, bad
	}
	rng, sz, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, 0, bad
	}
	size = -1
	if sz != "*" {
		if size, err = strconv.ParseInt(sz, 10, 64); err != nil {
			return 0, 0, 0, bad
		}
	}
	a, b, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, 0, bad
	}
	if start, err = strconv.ParseInt(a, 10, 64); err != nil {
		return 0, 0, 0, bad
	}
	if end, err = strconv.ParseInt(b, 10, 64); err != nil {
		return 0, 0, 0, bad
	}
	return start, end, size, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// syncDir makes a rename durable; failures are ignored because some
// platforms and file systems cannot sync directories.
func syncDir(dir string) { _ = atomicfile.SyncDir(dir) }

// progressBar draws one self-overwriting line: bytes, percentage, rate.
type progressBar struct {
	line    *progress.Line // nil: draw nothing
	total   int64          // -1 when unknown
	resumed int64          // bytes present before this attempt, excluded from the rate
	start   time.Time
}

func newProgressBar(w io.Writer, have, total int64) *progressBar {
	p := &progressBar{total: total, resumed: have, start: time.Now()}
	if w != nil {
		p.line = progress.NewLine(w)
	}
	return p
}

func (p *progressBar) update(done int64) {
	if now := time.Now(); p.line != nil && p.line.Due(now) {
		p.line.Draw(p.text(done, now))
	}
}

func (p *progressBar) finish(done int64) {
	if p.line != nil {
		p.line.Done(p.text(done, time.Now()))
	}
}

func (p *progressBar) text(done int64, now time.Time) string {
	var b strings.Builder
	b.WriteString(formatBytes(done))
	if p.total > 0 {
		frac := float64(done) / float64(p.total)
		fmt.Fprintf(&b, " / %s  %3.0f%%  %s", formatBytes(p.total), frac*100, progress.Bar(frac, 30))
	}
	if secs := now.Sub(p.start).Seconds(); secs > 0 {
		fmt.Fprintf(&b, "  %s/s", formatBytes(int64(float64(done-p.resumed)/secs)))
	}
	return b.String()
}

// formatBytes renders a byte count with binary units.
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v := float64(n)
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
		v /= unit
		if v < unit || u == "TiB" {
			return fmt.Sprintf("%.1f %s", v, u)
		}
	}
	return "" // unreachable
}
