package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/infergate/infergate/index"
	"github.com/infergate/infergate/internal/progress"
)

const ingestUsage = `Usage: infergate ingest --collection NAME [options] PATH...

Uploads documents into a knowledge-base collection of a running server.
Each PATH is a file or a folder (read recursively; hidden entries and
other file types are skipped):

  .md, .markdown   one Markdown document
  .html, .htm      one HTML document
  .txt             one plain-text document
  .jsonl           one document per line, as the API takes them:
                   {"id", "text"|"markdown"|"html", "metadata"}

A file's document id is its path relative to the argument (the folder, or
the file's own folder); the server takes the title from its first heading.
Documents go up in batches, several at once; a document whose content and
metadata are unchanged is not embedded again. A document the server refuses
is reported with its id and the others go on; the exit status is then 1.
Writes need the admin key (when the server has keys).
`

// ingestBatchBytes bounds one request's documents, well under the server's
// default limit (--max-ingest-body-bytes, 64 MiB) even with a whole batch
// of large files.
const ingestBatchBytes = 8 << 20

type ingestConfig struct {
	url, apiKey, adminKey, collection string
	create                            bool
	batch, concurrency                int
}

func runIngest(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	var c ingestConfig
	o := newOptions("ingest")
	o.group("Ingest")
	o.String(&c.url, "url", "http://127.0.0.1:8080", "the server's base `URL`")
	o.String(&c.adminKey, "admin-key", "", "admin key to send; writes need it when the server has keys")
	o.String(&c.apiKey, "api-key", "", "key to send when there is no --admin-key")
	o.String(&c.collection, "collection", "", "collection to write into (required)")
	o.Bool(&c.create, "create", false, "create the collection (with the server's defaults) unless it exists")
	o.Int(&c.batch, "batch", 32, fmt.Sprintf("documents per request (1-%d)", index.MaxDocumentsPerUpsert))
	o.Int(&c.concurrency, "concurrency", 2, "requests in flight")
	paths, _, err := o.parseArgs(args, getenv)
	if errors.Is(err, errHelp) {
		fmt.Fprint(stdout, ingestUsage)
		o.usage(stdout)
		return 0
	}
	switch {
	case err != nil:
	case c.collection == "":
		err = errors.New("--collection is required")
	case len(paths) == 0:
		err = errors.New("no PATH given")
	case c.batch < 1 || c.batch > index.MaxDocumentsPerUpsert:
		err = fmt.Errorf("--batch %d: want 1 to %d", c.batch, index.MaxDocumentsPerUpsert)
	case c.concurrency < 1:
		err = fmt.Errorf("--concurrency %d: want at least 1", c.concurrency)
	}
	if err != nil {
		fmt.Fprintf(stderr, "infergate ingest: %v\n(see infergate ingest --help)\n", err)
		return 2
	}
	client, err := newKBClient(c.url, cmp.Or(c.adminKey, c.apiKey))
	if err != nil {
		fmt.Fprintf(stderr, "infergate ingest: %v\n", err)
		return 2
	}
	sources, skipped, err := collectSources(paths)
	if err != nil {
		fmt.Fprintf(stderr, "infergate ingest: %v\n", err)
		return 2
	}
	if skipped > 0 {
		fmt.Fprintf(stderr, "skipping %d files of other types\n", skipped)
	}
	if c.create {
		if err := createCollection(ctx, client, c.collection, stderr); err != nil {
			fmt.Fprintf(stderr, "infergate ingest: creating the collection: %v\n", err)
			return 1
		}
	}
	total, err := countDocuments(sources)
	if err != nil {
		fmt.Fprintf(stderr, "infergate ingest: %v\n", err)
		return 1
	}
	in := &ingester{client: client, coll: c.collection, out: stderr, st: ingestStats{total: total, start: time.Now()}}
	if progress.IsTerminal(stderr) {
		in.line = progress.NewLine(stderr)
	}
	fatal := in.run(ctx, sources, c.batch, c.concurrency)
	in.summary(stdout)
	if fatal != nil {
		var ae *apiError
		if errors.As(fatal, &ae) && ae.Code == "collection_not_found" {
			fatal = fmt.Errorf("%w (give --create to create it)", fatal)
		}
		fmt.Fprintf(stderr, "infergate ingest: %v\n", fatal)
		return 1
	}
	if in.st.failed > 0 {
		return 1
	}
	return 0
}

// createCollection creates the collection unless it exists. Without
// --create nothing is checked first: the first batch's 404 says it.
func createCollection(ctx context.Context, c *kbClient, name string, log io.Writer) error {
	body, _ := json.Marshal(map[string]string{"name": name}) // a string always encodes
	_, err := c.call(ctx, http.MethodPost, "/v1/collections", body)
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusConflict {
		return nil
	}
	if err == nil {
		fmt.Fprintf(log, "created collection %s\n", name)
	}
	return err
}

// ingestSource is one file to read: a document, or a .jsonl file of them.
type ingestSource struct {
	path   string
	id     string // the document id of a document file
	format string // "text", "markdown", "html" or "jsonl"
}

func formatOf(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".md", ".markdown":
		return "markdown"
	case ".html", ".htm":
		return "html"
	case ".txt":
		return "text"
	case ".jsonl":
		return "jsonl"
	}
	return ""
}

// collectSources lists the files under paths, in order. A file named
// directly must be of a known type; in folders others are skipped.
func collectSources(paths []string) (sources []ingestSource, skipped int, err error) {
	for _, root := range paths {
		st, err := os.Stat(root)
		if err != nil {
			return nil, 0, err
		}
		if !st.IsDir() {
			f := formatOf(root)
			if f == "" {
				return nil, 0, fmt.Errorf("%s: unsupported file type (want .md, .markdown, .html, .htm, .txt or .jsonl)", root)
			}
			sources = append(sources, ingestSource{path: root, id: filepath.Base(root), format: f})
			continue
		}
		err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if path != root && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				return nil
			}
			f := formatOf(path)
			if f == "" || !d.Type().IsRegular() {
				skipped++
				return nil
			}
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			sources = append(sources, ingestSource{path: path, id: filepath.ToSlash(rel), format: f})
			return nil
		})
		if err != nil {
			return nil, 0, err
		}
	}
	return sources, skipped, nil
}

// countDocuments counts the documents to send, for the progress line.
func countDocuments(sources []ingestSource) (int, error) {
	n := 0
	for _, s := range sources {
		if s.format != "jsonl" {
			n++
			continue
		}
		err := eachLine(s.path, func(int, []byte) error { n++; return nil })
		if err != nil {
			return 0, err
		}
	}
	return n, nil
}

// eachLine calls fn with every non-blank line of a file, numbered from 1.
// Lines may be as long as documents are.
func eachLine(path string, fn func(n int, line []byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if line = bytes.TrimSpace(line); len(line) > 0 {
			if ferr := fn(n, line); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
}

// ingestDoc is one document ready to send.
type ingestDoc struct {
	id    string
	where string          // the file (and line) it came from
	body  json.RawMessage // as the API takes it
}

type ingestStats struct {
	total, done                         int
	created, updated, unchanged, failed int
	chunks, embedded                    int
	start                               time.Time
}

// ingester sends batches of documents and reports on them.
type ingester struct {
	client *kbClient
	coll   string
	out    io.Writer      // progress and failures
	line   *progress.Line // nil off a terminal

	mu      sync.Mutex // guards st, out, line and changed
	st      ingestStats
	changed bool // since the last log line
}

// run reads the sources into batches and sends them, concurrency at a
// time. It returns an error that stopped the run (the server refuses
// every request: a bad key, a deleted collection, the server gone).
func (in *ingester) run(ctx context.Context, sources []ingestSource, batch, concurrency int) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	batches := make(chan []ingestDoc)
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for b := range batches {
				if ctx.Err() != nil {
					in.fail(b, "not sent: "+context.Cause(ctx).Error())
					continue
				}
				if err := in.send(ctx, b); err != nil {
					cancel(err)
				}
			}
		})
	}
	stopReport := in.startReport()
	err := in.produce(ctx, sources, batch, batches)
	close(batches)
	wg.Wait()
	stopReport()
	if err != nil {
		return err
	}
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// produce reads the documents and hands them on in batches of at most
// batch documents and about ingestBatchBytes.
func (in *ingester) produce(ctx context.Context, sources []ingestSource, batch int, out chan<- []ingestDoc) error {
	var cur []ingestDoc
	size := 0
	add := func(d ingestDoc) error {
		if len(cur) > 0 && (len(cur) >= batch || size+len(d.body) > ingestBatchBytes) {
			select {
			case out <- cur:
			case <-ctx.Done():
				return context.Cause(ctx)
			}
			cur, size = nil, 0
		}
		cur, size = append(cur, d), size+len(d.body)
		return nil
	}
	for _, s := range sources {
		if s.format == "jsonl" {
			err := eachLine(s.path, func(n int, line []byte) error {
				d := ingestDoc{where: s.path + ":" + strconv.Itoa(n), body: line}
				var head struct {
					ID string `json:"id"`
				}
				if err := json.Unmarshal(line, &head); err != nil {
					in.fail([]ingestDoc{d}, "not a JSON document: "+err.Error())
					return nil
				}
				d.id = head.ID
				return add(d)
			})
			if err != nil {
				return err
			}
			continue
		}
		d := ingestDoc{id: s.id, where: s.path}
		data, err := os.ReadFile(s.path)
		switch {
		case err != nil:
			in.fail([]ingestDoc{d}, err.Error())
			continue
		case !utf8.Valid(data):
			// JSON would carry it as U+FFFD replacements, a mangled binary.
			in.fail([]ingestDoc{d}, "not UTF-8 text (a binary file?)")
			continue
		case len(data) > index.MaxDocumentBytes:
			in.fail([]ingestDoc{d}, fmt.Sprintf("%d bytes, over the server's limit of %d per document", len(data), index.MaxDocumentBytes))
			continue
		}
		d.body, _ = json.Marshal(map[string]string{"id": s.id, s.format: string(data)}) // strings always encode
		if err := add(d); err != nil {
			return err
		}
	}
	if len(cur) > 0 {
		select {
		case out <- cur:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	return nil
}

// send upserts one batch. A document the server refuses (its error names
// documents[i]) is reported and the rest sent again, since the server
// writes all of a request or nothing; overload and network errors are
// retried. It returns an error only when no later request can succeed.
func (in *ingester) send(ctx context.Context, b []ingestDoc) error {
	const attempts = 6
	backoff := 500 * time.Millisecond
	for try := 1; len(b) > 0; try++ {
		var body bytes.Buffer
		body.WriteString(`{"documents":[`)
		for i, d := range b {
			if i > 0 {
				body.WriteByte(',')
			}
			body.Write(d.body)
		}
		body.WriteString("]}")
		resp, err := in.client.call(ctx, http.MethodPost, collectionPath(in.coll)+"/documents", body.Bytes())
		if err == nil {
			var res struct {
				Data []index.UpsertResult `json:"data"`
			}
			if err := json.Unmarshal(resp, &res); err != nil || len(res.Data) != len(b) {
				in.fail(b, fmt.Sprintf("unexpected response: %.200s", resp))
				return nil
			}
			in.record(res.Data)
			return nil
		}
		var ae *apiError
		if !errors.As(err, &ae) {
			// No answer (connection refused or reset): the upsert may or may
			// not have been applied, and sending it again is harmless.
			if ctx.Err() != nil || try == attempts {
				in.fail(b, err.Error())
				return err
			}
		} else if i, ok := documentIndex(ae.Param); ok && i < len(b) && ae.Status/100 == 4 {
			in.fail(b[i:i+1], ae.Message)
			b = append(b[:i:i], b[i+1:]...)
			try = 0
			continue
		} else {
			switch {
			case (ae.Status == http.StatusTooManyRequests || ae.Status == http.StatusServiceUnavailable) && try < attempts:
				backoff = max(backoff, ae.RetryAfter)
			case ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden || ae.Status == http.StatusNotFound:
				in.fail(b, ae.Message)
				return ae
			default:
				in.fail(b, ae.Message)
				return nil
			}
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			in.fail(b, "not sent: "+context.Cause(ctx).Error())
			return nil
		}
		backoff = min(2*backoff, 30*time.Second)
	}
	return nil
}

// documentIndex reads i from a param "documents[i]..." of an error.
func documentIndex(param string) (int, bool) {
	rest, ok := strings.CutPrefix(param, "documents[")
	if !ok {
		return 0, false
	}
	end := strings.IndexByte(rest, ']')
	if end < 0 {
		return 0, false
	}
	i, err := strconv.Atoi(rest[:end])
	return i, err == nil && i >= 0
}

func (in *ingester) record(res []index.UpsertResult) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, r := range res {
		switch r.Status {
		case index.StatusCreated:
			in.st.created++
		case index.StatusUpdated:
			in.st.updated++
		default:
			in.st.unchanged++
		}
		in.st.chunks += r.Chunks
		in.st.embedded += r.Embedded
	}
	in.st.done += len(res)
	in.changed = true
}

// fail reports documents that were not ingested.
func (in *ingester) fail(docs []ingestDoc, msg string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.line != nil {
		in.line.Clear()
	}
	for _, d := range docs {
		id := d.id
		if id == "" {
			id = "(no id)"
		}
		fmt.Fprintf(in.out, "failed: %s (%s): %s\n", id, d.where, msg)
	}
	in.st.failed += len(docs)
	in.st.done += len(docs)
	in.changed = true
}

// startReport draws the progress line on a terminal every
// progress.Interval, or elsewhere logs a line every few seconds while
// documents are done. The returned function stops it.
func (in *ingester) startReport() func() {
	every := progress.Interval
	if in.line == nil {
		every = 3 * time.Second
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				in.mu.Lock()
				if in.line != nil {
					in.line.Clear()
				}
				in.mu.Unlock()
				return
			case now := <-t.C:
				in.mu.Lock()
				switch {
				case in.line != nil:
					in.line.Draw(in.progressText(now))
				case in.changed:
					fmt.Fprintln(in.out, in.progressText(now))
				}
				in.changed = false
				in.mu.Unlock()
			}
		}
	})
	return func() { close(stop); wg.Wait() }
}

// progressText is the progress line: documents done of all, chunks
// embedded, their rate, and the time left at the rate so far.
func (in *ingester) progressText(now time.Time) string {
	st := &in.st
	secs := now.Sub(st.start).Seconds()
	eta := "?"
	if st.done > 0 && st.done < st.total {
		left := secs / float64(st.done) * float64(st.total-st.done)
		eta = time.Duration(left * float64(time.Second)).Round(time.Second).String()
	} else if st.done >= st.total {
		eta = "0s"
	}
	frac := 1.0
	if st.total > 0 {
		frac = float64(st.done) / float64(st.total)
	}
	return fmt.Sprintf("%s %d/%d documents  %d chunks  %.1f chunks/s  ETA %s",
		progress.Bar(frac, 24), st.done, st.total, st.embedded, float64(st.embedded)/max(secs, 1e-9), eta)
}

// summary prints what the run did.
func (in *ingester) summary(w io.Writer) {
	in.mu.Lock()
	defer in.mu.Unlock()
	st := &in.st
	secs := time.Since(st.start).Seconds()
	fmt.Fprintf(w, "%d documents: %d created, %d updated, %d unchanged, %d failed; %d chunks (%d embedded) in %.1fs, %.1f chunks/s\n",
		st.done, st.created, st.updated, st.unchanged, st.failed, st.chunks, st.embedded, secs, float64(st.embedded)/max(secs, 1e-9))
}
