package store

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// killChildEnv names the store directory to the child process of
// TestDurabilityUnderSIGKILL; the child runs TestKillChild.
const killChildEnv = "INFERGATE_STORE_KILL_CHILD_DIR"

const killCollection = "kill"

// The child's batches are deterministic, so the parent can check every byte.
// Batch j writes document b<j> with killChunks(j) chunks, a vector and a
// posting per chunk, and the meta record kill.head = j; a batch j with
// killDeleter(j) also deletes batch j-3 (all its records). So the head names
// the last batch committed, and from it the exact expected contents follow.

func killDoc(j int) string         { return fmt.Sprintf("b%08d", j) }
func killChunks(j int) int         { return 1 + (j*7919)%13 }
func killDeletes(j int) bool       { return j >= 3 && j%5 == 0 }
func killDeletedBy(j int) int      { return j + 3 } // the batch that deletes j, if killDeletes(j+3)
func killHeadKey() []byte          { return MetaKey("kill.head") }
func killVectorID(j, c int) uint64 { return uint64(j)<<8 | uint64(c) }

// killValue is size bytes that name their batch and chunk, so that a record
// with another record's value (a torn or misplaced write) does not pass.
func killValue(j, c, size int) []byte {
	pattern := []byte(fmt.Sprintf("[%d.%d]", j, c))
	return bytes.Repeat(pattern, size/len(pattern)+1)[:size]
}

func killChunkSize(j, c int) int { return 50 + (j*131+c*977)%1500 }

// killVectorBytes is a 64-dimension float32 vector: smaller than MiniLM's
// 384, to keep the full check after every round cheap.
const killVectorBytes = 64 * 4

func writeKillBatch(ctx context.Context, s *Store, j int) error {
	b := s.NewBatch()
	doc := killDoc(j)
	n := killChunks(j)
	b.Set(DocumentKey(killCollection, doc), []byte(strconv.Itoa(n)))
	for c := range n {
		b.Set(ChunkKey(killCollection, doc, uint32(c)), killValue(j, c, killChunkSize(j, c)))
		b.Set(VectorKey(killCollection, killVectorID(j, c)), killValue(j, c, killVectorBytes))
		b.Set(PostingKey(killCollection, "t"+strconv.Itoa(c%3), doc, uint32(c)), []byte{byte(c)})
	}
	if killDeletes(j) {
		deleteKillBatch(b, j-3)
	}
	b.Set(killHeadKey(), []byte(strconv.Itoa(j)))
	return b.Commit(ctx)
}

func deleteKillBatch(b *Batch, j int) {
	doc := killDoc(j)
	b.Delete(DocumentKey(killCollection, doc))
	b.DeletePrefix(DocumentChunksPrefix(killCollection, doc))
	for c := range killChunks(j) {
		b.Delete(VectorKey(killCollection, killVectorID(j, c)))
		b.Delete(PostingKey(killCollection, "t"+strconv.Itoa(c%3), doc, uint32(c)))
	}
}

// killHead reads the last committed batch, -1 when none.
func killHead(ctx context.Context, s *Store) (int, error) {
	v, err := s.Get(ctx, killHeadKey())
	if errors.Is(err, ErrNotFound) {
		return -1, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(string(v))
}

// TestKillChild is the child process of TestDurabilityUnderSIGKILL: it
// writes synced batches forever and prints "ack <j>" after each Commit
// returns. Run directly, without the environment variable, it does nothing.
func TestKillChild(t *testing.T) {
	dir := os.Getenv(killChildEnv)
	if dir == "" {
		return // only the child of TestDurabilityUnderSIGKILL
	}
	ctx := context.Background()
	s, err := Open(ctx, dir, testOptions())
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	head, err := killHead(ctx, s)
	if err != nil {
		fmt.Fprintln(os.Stderr, "head:", err)
		os.Exit(2)
	}
	deadline := time.Now().Add(30 * time.Second) // never outlive a lost parent
	for j := head + 1; time.Now().Before(deadline); j++ {
		if err := writeKillBatch(ctx, s, j); err != nil {
			fmt.Fprintln(os.Stderr, "commit:", err)
			os.Exit(2)
		}
		// One write(2) per line, unbuffered: the line is in the pipe the
		// moment the batch is acknowledged.
		if _, err := os.Stdout.WriteString("ack " + strconv.Itoa(j) + "\n"); err != nil {
			os.Exit(2)
		}
	}
	os.Exit(3)
}

// TestDurabilityUnderSIGKILL runs TestKillChild in a child process and kills
// it with SIGKILL at random moments, about 20 times, reopening the store
// after each kill: every acknowledged batch must be present in full, and no
// batch may be half-present.
func TestDurabilityUnderSIGKILL(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("INFERGATE_STORE_KILL_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (INFERGATE_STORE_KILL_SEED to repeat)", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	dir := filepath.Join(t.TempDir(), "store")
	const rounds = 20
	budget := 60 * time.Second
	if testing.Short() {
		budget = 20 * time.Second
	}
	start := time.Now()
	maxAcked := -1
	done := 0
	for round := 0; round < rounds && time.Since(start) < budget; round++ {
		t0 := time.Now()
		acked, stderr := killRound(t, dir, round, rng)
		if acked > maxAcked {
			maxAcked = acked
		}
		t1 := time.Now()
		head := verifyKillStore(t, dir, maxAcked)
		t.Logf("round %2d: acknowledged up to %d, head %d (child %v, verify %v)",
			round, acked, head, t1.Sub(t0).Round(time.Millisecond), time.Since(t1).Round(time.Millisecond))
		if t.Failed() {
			t.Logf("child stderr:\n%s", stderr)
			return
		}
		done++
	}
	if done < rounds {
		t.Logf("time budget %v spent after %d rounds", budget, done)
	}
	if done < rounds/2 {
		t.Errorf("only %d kill rounds ran in %v", done, budget)
	}
	if maxAcked < 0 {
		t.Fatal("no batch was ever acknowledged: the child never made progress")
	}
}

// killRound starts the child, kills it at a random moment (some rounds only
// after it has acknowledged a few batches, so the store grows; some early,
// during Open) and returns the highest batch it acknowledged.
func killRound(t *testing.T, dir string, round int, rng *rand.Rand) (int, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), killChildEnv+"="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var last atomic.Int64
	last.Store(-1)
	var acks atomic.Int64
	readDone := make(chan error, 1)
	go func() {
		r := bufio.NewReader(out)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				// A line without its newline was cut by the kill: not an
				// acknowledgement the parent may count.
				if errors.Is(err, io.EOF) {
					err = nil
				}
				readDone <- err
				return
			}
			n, perr := strconv.Atoi(strings.TrimPrefix(strings.TrimSuffix(line, "\n"), "ack "))
			if perr != nil {
				readDone <- fmt.Errorf("child printed %q", line)
				return
			}
			last.Store(int64(n))
			acks.Add(1)
		}
	}()

	// The moment: after a random number of acknowledgements (0 in a quarter
	// of the rounds: the kill can land in Open or the first commit), plus a
	// random delay.
	wantAcks := int64(0)
	if round%4 != 0 {
		wantAcks = int64(1 + rng.IntN(30))
	}
	deadline := time.Now().Add(15 * time.Second)
	for acks.Load() < wantAcks && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(time.Duration(rng.IntN(30_000)) * time.Microsecond)
	if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) { // SIGKILL
		t.Fatal(err)
	}
	if err := <-readDone; err != nil {
		t.Error(err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != -1 {
		t.Errorf("child did not die by the signal: %v\n%s", err, stderr.String())
	}
	return int(last.Load()), stderr.String()
}

// verifyKillStore opens the store and checks its exact contents against the
// head batch: every batch up to the head is present in full unless a batch
// up to the head deleted it, every other batch is absent, nothing else is
// there, and the head is at least the highest acknowledged batch.
func verifyKillStore(t *testing.T, dir string, maxAcked int) int {
	t.Helper()
	ctx := context.Background()
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if maxAcked >= 0 {
			t.Fatalf("store directory missing after %d acknowledged batches", maxAcked+1)
		}
		return -1
	}
	if _, err := os.Stat(filepath.Join(dir, creatingFile)); err == nil {
		t.Logf("the kill interrupted the store's creation")
	}
	s, err := Open(ctx, dir, testOptions())
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer s.Close()
	head, err := killHead(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if head < maxAcked {
		t.Fatalf("head %d, but batch %d was acknowledged: acknowledged writes lost", head, maxAcked)
	}
	want := map[string][]byte{}
	if head >= 0 {
		want[string(killHeadKey())] = []byte(strconv.Itoa(head))
	}
	for j := 0; j <= head; j++ {
		if killDeletes(killDeletedBy(j)) && killDeletedBy(j) <= head {
			continue
		}
		doc := killDoc(j)
		n := killChunks(j)
		want[string(DocumentKey(killCollection, doc))] = []byte(strconv.Itoa(n))
		for c := range n {
			want[string(ChunkKey(killCollection, doc, uint32(c)))] = killValue(j, c, killChunkSize(j, c))
			want[string(VectorKey(killCollection, killVectorID(j, c)))] = killValue(j, c, killVectorBytes)
			want[string(PostingKey(killCollection, "t"+strconv.Itoa(c%3), doc, uint32(c)))] = []byte{byte(c)}
		}
	}
	it, err := s.Iterate(ctx, Range{}, ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	got := 0
	for it.Next() {
		if bytes.Equal(it.Key(), formatKey()) {
			continue
		}
		got++
		w, ok := want[string(it.Key())]
		if !ok {
			k, _ := ParseKey(it.Key())
			t.Errorf("unexpected record %+v (head %d): a half-written or resurrected batch", k, head)
			continue
		}
		if !bytes.Equal(w, it.Value()) {
			t.Errorf("record %q has a wrong value", it.Key())
		}
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	if got != len(want) {
		missing := 0
		for k := range want {
			if _, err := s.Get(ctx, []byte(k)); err != nil {
				if missing < 5 {
					pk, _ := ParseKey([]byte(k))
					t.Errorf("missing %+v (head %d)", pk, head)
				}
				missing++
			}
		}
		t.Errorf("%d records, want %d (%d missing)", got, len(want), missing)
	}
	return head
}
