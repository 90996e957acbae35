package gateway

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/infergate/infergate/internal/testenv"
)

// TestConnectionFloodIsBounded opens thousands of connections over the
// connection limit and leaves them silent, as a flood does, then drops
// them. Refusing them costs a bounded number of goroutines (it was one per
// connection, each living for its read and write deadlines) and bounded
// memory, and the server answers normally afterwards.
func TestConnectionFloodIsBounded(t *testing.T) {
	cfg := testConfig(helloGen())
	cfg.Limits.MaxConns = 1
	_, base := startServer(t, cfg)
	addr := strings.TrimPrefix(base, "http://")

	hold, status := healthzConn(t, base) // the only connection allowed
	if status != 200 {
		t.Fatalf("held connection: %d", status)
	}

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	baseG := runtime.NumGoroutine()
	var peak atomic.Int64
	stop := make(chan struct{})
	var sampled sync.WaitGroup
	sampled.Go(func() {
		for {
			if g := int64(runtime.NumGoroutine()); g > peak.Load() {
				peak.Store(g)
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	})

	const flood = 3000
	start := time.Now()
	conns := make([]net.Conn, 0, flood)
	resets := 0
	for i := range flood {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		switch {
		case errors.Is(err, syscall.ECONNRESET):
			// Dropped so fast that the reset beat connect's return.
			resets++
		case err != nil:
			t.Fatalf("dial %d: %v", i, err)
		default:
			conns = append(conns, c)
		}
		if time.Since(start) > time.Minute {
			t.Fatalf("only %d connections in a minute", i)
		}
	}
	close(stop)
	sampled.Wait()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	for _, c := range conns {
		_ = c.Close()
	}
	t.Logf("%d connections in %v (%d reset while connecting): goroutines %d before, %d at the peak; heap in use %d KiB before, %d KiB after",
		flood, time.Since(start).Round(time.Millisecond), resets, baseG, peak.Load(), before.HeapInuse>>10, after.HeapInuse>>10)

	// The refusals in flight, the sampler, and room for the runtime's and
	// fasthttp's own; one per connection would be thousands.
	if extra := int(peak.Load()) - baseG; extra > maxRefusing+64 {
		t.Errorf("%d more goroutines at the peak of the flood", extra)
	}
	if grown := int64(after.HeapInuse) - int64(before.HeapInuse); grown > 64<<20 {
		t.Errorf("heap in use grew by %d MiB", grown>>20)
	}

	// The refusals end within their deadlines, and a client arriving once
	// the held connection is gone is served.
	testenv.Eventually(t, 5*time.Second, func() bool { return runtime.NumGoroutine() <= baseG+8 },
		"goroutines did not come back down after the flood")
	_ = hold.Close()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	var metrics []byte
	testenv.Eventually(t, 5*time.Second, func() bool {
		// Until the server has seen the held connection close, the one
		// connection allowed is still taken.
		resp, err := client.Get(base + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		metrics, err = io.ReadAll(resp.Body)
		return err == nil && resp.StatusCode == 200
	}, "the server does not answer after the flood")
	if n, ok := metricValue(string(metrics), "infergate_connections_dropped_total"); !ok || n == 0 {
		t.Errorf("no connections counted as dropped (%v, found %v)", n, ok)
	}
}

// healthzConn opens a connection to the server at base, asks it for
// /healthz and returns it, still open (closed when the test ends), with
// the status it got: a 200 shows that the server accepted it.
func healthzConn(t testing.TB, base string) (net.Conn, int) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return c, resp.StatusCode
}
