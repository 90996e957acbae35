package models

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// modelServer serves content at /model.gguf through http.ServeContent, which
// honours Range requests, and records the Range headers it saw.
type modelServer struct {
	*httptest.Server
	mu       sync.Mutex
	ranges   []string
	requests atomic.Int32
}

func newModelServer(t *testing.T, handler func(w http.ResponseWriter, r *http.Request)) *modelServer {
	t.Helper()
	s := &modelServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		s.mu.Lock()
		s.ranges = append(s.ranges, r.Header.Get("Range"))
		s.mu.Unlock()
		handler(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func serveBytes(content []byte) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/model.gguf" {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, "model.gguf", time.Unix(1700000000, 0), bytes.NewReader(content))
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func TestPull(t *testing.T) {
	model := readAll(t, testModel(t, StoriesModel))
	text := []byte("this is not a model\n")
	tests := []struct {
		name     string
		handler  func(http.ResponseWriter, *http.Request)
		path     string
		sha      string
		wantErr  []string
		is       error
		keepPart bool // whether a .part file should remain
	}{
		{name: "ok with checksum", handler: serveBytes(model), path: "/model.gguf", sha: sha(model)},
		{name: "ok upper-case checksum", handler: serveBytes(model), path: "/model.gguf", sha: strings.ToUpper(sha(model))},
		{name: "ok without checksum", handler: serveBytes(model), path: "/model.gguf"},
		{
			name: "checksum mismatch", handler: serveBytes(model), path: "/model.gguf",
			sha:     sha([]byte("something else")),
			wantErr: []string{"checksum mismatch", sha(model), "deleted"},
		},
		{
			name: "HTTP 404", handler: serveBytes(model), path: "/missing.gguf",
			wantErr: []string{"404 Not Found", "/missing.gguf"},
		},
		{
			name: "server error", handler: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "boom", http.StatusInternalServerError)
			},
			path: "/model.gguf", wantErr: []string{"500"},
		},
		{
			name: "server closes mid-body", path: "/model.gguf",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", strconv.Itoa(len(model)))
				w.Write(model[:len(model)/2])
				w.(http.Flusher).Flush()
				panic(http.ErrAbortHandler) // drop the connection
			},
			wantErr:  []string{"interrupted", "kept", "resume"},
			keepPart: true,
		},
		{
			name: "not a GGUF file", handler: serveBytes(text), path: "/model.gguf", sha: sha(text),
			wantErr: []string{"not a valid model", "not a GGUF file"},
			is:      ErrNotGGUF,
		},
		{
			name: "bad checksum argument", handler: serveBytes(model), path: "/model.gguf", sha: "abc",
			wantErr: []string{"not a hex SHA-256"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newModelServer(t, tc.handler)
			dest := filepath.Join(t.TempDir(), "sub", "model.gguf")
			var progress bytes.Buffer
			err := Pull(context.Background(), srv.URL+tc.path, dest, tc.sha, ForceProgress(&progress))
			if exists(dest+".part") != tc.keepPart {
				t.Errorf(".part file present = %v, want %v", !tc.keepPart, tc.keepPart)
			}
			if tc.wantErr != nil {
				if err == nil {
					t.Fatal("no error")
				}
				for _, s := range tc.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
				if tc.is != nil && !errors.Is(err, tc.is) {
					t.Errorf("error %q is not %v", err, tc.is)
				}
				if exists(dest) {
					t.Error("dest created despite the error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, dest); !bytes.Equal(got, model) {
				t.Fatalf("downloaded %d bytes, differ from the %d served", len(got), len(model))
			}
			out := progress.String()
			for _, s := range []string{"100%", "1.1 MiB / 1.1 MiB", "/s", sha(model)} {
				if !strings.Contains(out, s) {
					t.Errorf("progress output %q lacks %q", out, s)
				}
			}
		})
	}
}

// TestPullResume: an interrupted download is resumed with a range request,
// and the result is verified as a whole.
func TestPullResume(t *testing.T) {
	model := readAll(t, testModel(t, StoriesModel))
	var broken atomic.Bool
	broken.Store(true)
	srv := newModelServer(t, func(w http.ResponseWriter, r *http.Request) {
		if broken.Load() {
			w.Header().Set("Content-Length", strconv.Itoa(len(model)))
			w.Write(model[:400000])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		serveBytes(model)(w, r)
	})
	dest := filepath.Join(t.TempDir(), "model.gguf")
	url := srv.URL + "/model.gguf"
	if err := Pull(context.Background(), url, dest, sha(model), nil); err == nil {
		t.Fatal("first pull: no error")
	}
	st, err := os.Stat(dest + ".part")
	if err != nil || st.Size() == 0 || st.Size() > 400000 {
		t.Fatalf("partial file after interruption: %v, %v", st, err)
	}
	have := st.Size()
	broken.Store(false)
	if err := Pull(context.Background(), url, dest, sha(model), nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readAll(t, dest), model) || exists(dest+".part") {
		t.Fatal("resumed download differs from the model, or .part left behind")
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if want := "bytes=" + strconv.FormatInt(have, 10) + "-"; srv.ranges[len(srv.ranges)-1] != want {
		t.Errorf("resume sent Range %q, want %q", srv.ranges[len(srv.ranges)-1], want)
	}
}

// TestPullResumeIgnoredRange: a server that ignores Range answers 200 with
// the whole file; the partial file must be discarded, not appended to.
func TestPullResumeIgnoredRange(t *testing.T) {
	model := readAll(t, testModel(t, StoriesModel))
	srv := newModelServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(model)))
		w.Write(model)
	})
	dest := filepath.Join(t.TempDir(), "model.gguf")
	if err := os.WriteFile(dest+".part", []byte("stale bytes from another attempt"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Pull(context.Background(), srv.URL+"/model.gguf", dest, sha(model), nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readAll(t, dest), model) {
		t.Fatal("download differs from the model")
	}
}

// TestPullCompletePart: a .part file that is already complete (a crash
// between download and rename) makes the server answer 416; Pull starts
// over and succeeds.
func TestPullCompletePart(t *testing.T) {
	model := readAll(t, testModel(t, StoriesModel))
	srv := newModelServer(t, serveBytes(model))
	dest := filepath.Join(t.TempDir(), "model.gguf")
	if err := os.WriteFile(dest+".part", model, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Pull(context.Background(), srv.URL+"/model.gguf", dest, sha(model), nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readAll(t, dest), model) || exists(dest+".part") {
		t.Fatal("download differs from the model, or .part left behind")
	}
}

func TestPullAlreadyPresent(t *testing.T) {
	model := readAll(t, testModel(t, StoriesModel))
	srv := newModelServer(t, serveBytes(model))
	dest := filepath.Join(t.TempDir(), "model.gguf")
	if err := os.WriteFile(dest, model, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Pull(context.Background(), srv.URL+"/model.gguf", dest, sha(model), nil); err != nil {
		t.Fatal(err)
	}
	if n := srv.requests.Load(); n != 0 {
		t.Errorf("%d requests for a file already present with the right checksum", n)
	}
}

func TestPullStall(t *testing.T) {
	model := readAll(t, testModel(t, StoriesModel))
	old := pullStallTimeout
	pullStallTimeout = 300 * time.Millisecond
	t.Cleanup(func() { pullStallTimeout = old })
	srv := newModelServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(model)))
		w.Write(model[:1000])
		w.(http.Flusher).Flush()
		<-r.Context().Done() // then say nothing until the client gives up
	})
	dest := filepath.Join(t.TempDir(), "model.gguf")
	err := Pull(context.Background(), srv.URL+"/model.gguf", dest, "", nil)
	if err == nil || !strings.Contains(err.Error(), "no data received") {
		t.Fatalf("err = %v, want a stall error", err)
	}
}

func TestPullCancel(t *testing.T) {
	srv := newModelServer(t, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	dest := filepath.Join(t.TempDir(), "model.gguf")
	err := Pull(ctx, srv.URL+"/model.gguf", dest, "", nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if exists(dest) || exists(dest+".part") {
		t.Error("files left after a cancelled pull that received nothing")
	}
}

func TestPullBadURL(t *testing.T) {
	for _, u := range []string{"ftp://example.com/m.gguf", "file:///etc/passwd", "::"} {
		if err := Pull(context.Background(), u, filepath.Join(t.TempDir(), "m.gguf"), "", nil); err == nil {
			t.Errorf("Pull(%q): no error", u)
		}
	}
}

func TestProgressWriter(t *testing.T) {
	var buf bytes.Buffer
	if progressWriter(&buf) != nil {
		t.Error("a plain buffer got a progress bar")
	}
	if progressWriter(ForceProgress(&buf)) != &buf {
		t.Error("ForceProgress not honoured")
	}
	if progressWriter(nil) != nil {
		t.Error("nil writer got a progress bar")
	}
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if progressWriter(f) != nil {
		t.Error("a regular file got a progress bar")
	}
}

func TestFormatBytes(t *testing.T) {
	tests := map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1185376: "1.1 MiB", 20999104: "20.0 MiB", 5 << 30: "5.0 GiB"}
	for n, want := range tests {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
