package index

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/infergate/infergate/store"
)

const childEnv = "INFERGATE_INDEX_KILL_CHILD"

// TestKillChild is the process TestKill kills: it upserts groups of
// documents and deletes them in a loop, printing each operation before it
// starts and after it was acknowledged. It does nothing in a normal run.
func TestKillChild(t *testing.T) {
	dir := os.Getenv(childEnv)
	if dir == "" {
		return
	}
	kb := openKB(t, dir)
	ctx := context.Background()
	if _, err := kb.Collection("kb"); err != nil {
		mustCreate(t, kb, "kb")
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	out := bufio.NewWriter(os.Stdout)
	say := func(format string, args ...any) {
		fmt.Fprintf(out, format+"\n", args...)
		out.Flush()
	}
	say("ready")
	for op := 0; ; op++ {
		g := rng.IntN(8) // a group of three documents, upserted together
		if rng.IntN(4) == 0 {
			id := fmt.Sprintf("doc-%04d", 3*g)
			say("begin delete %s", id)
			if err := kb.DeleteDocument(ctx, "kb", id); err == nil {
				say("ack delete %s", id)
			}
			continue
		}
		v := op + 100
		var docs []DocumentInput
		for j := range 3 {
			docs = append(docs, synthDoc(3*g+j, v))
		}
		say("begin upsert %d %d", g, v)
		if _, err := kb.Upsert(ctx, "kb", docs); err != nil {
			t.Fatal(err)
		}
		say("ack upsert %d %d", g, v)
	}
}

// TestKill kills a process ingesting into the knowledge base with SIGKILL
// at random moments, 20 times; after each, every acknowledged write is
// there, each document is whole (record, chunks, vectors, graph and BM25
// entries all present, nothing left of an older version) and searchable,
// and a group upserted together is at one version.
func TestKill(t *testing.T) {
	embedder(t) // the model must be there, or the child cannot run
	dir := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	// want[id] is the version the last acknowledged write left (0:
	// deleted or never written); maybe[id] is the in-flight write's.
	want := map[string]int{}
	totalAcks := 0
	for round := range 20 {
		cmd := exec.Command(exe, "-test.run", "^TestKillChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), childEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = nil
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		if l, ok := <-lines; !ok || l != "ready" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("round %d: child said %q before anything", round, l)
		}
		time.Sleep(time.Duration(200+rng.IntN(2500)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		maybe := map[string]int{}
		for l := range lines {
			f := strings.Fields(l)
			switch {
			case len(f) == 3 && f[1] == "delete":
				if f[0] == "ack" {
					want[f[2]] = 0
					delete(maybe, f[2])
					totalAcks++
				} else {
					maybe[f[2]] = 0
				}
			case len(f) == 4 && f[1] == "upsert":
				var g, v int
				fmt.Sscan(f[2], &g)
				fmt.Sscan(f[3], &v)
				for j := range 3 {
					id := fmt.Sprintf("doc-%04d", 3*g+j)
					if f[0] == "ack" {
						want[id] = v
						delete(maybe, id)
					} else {
						maybe[id] = v
					}
				}
				if f[0] == "ack" {
					totalAcks++
				}
			}
		}
		checkKilled(t, dir, round, want, maybe)
		// What the in-flight write did is now the truth for the next round.
		kb := openKB(t, dir)
		for id := range maybe {
			want[id] = versionOf(t, kb, id)
		}
		kb.close(t)
	}
	t.Logf("%d acknowledged writes over 20 kills", totalAcks)
	if totalAcks < 20 {
		t.Errorf("only %d writes were acknowledged over 20 rounds: the test did not exercise much", totalAcks)
	}
}

// versionOf is the revision in a stored document's content (0: absent).
func versionOf(t *testing.T, kb *testKB, id string) int {
	d, err := kb.GetDocument(context.Background(), "kb", id)
	if err != nil {
		return 0
	}
	var v int
	i := strings.Index(d.Content, "(revision ")
	fmt.Sscanf(d.Content[i:], "(revision %d)", &v)
	return v
}

func checkKilled(t *testing.T, dir string, round int, want, maybe map[string]int) {
	t.Helper()
	kb := openKB(t, dir)
	defer kb.close(t)
	ctx := context.Background()
	c, err := kb.get("kb")
	if err != nil {
		t.Fatalf("round %d: %v", round, err)
	}
	group := map[int]int{}
	for i := range 24 {
		id := fmt.Sprintf("doc-%04d", i)
		got := versionOf(t, kb, id)
		w := want[id]
		if m, ok := maybe[id]; ok && got == m {
			w = m
		}
		if got != w {
			t.Fatalf("round %d: %s at version %d, want %d (acknowledged) or the in-flight %v", round, id, got, want[id], maybe[id])
		}
		if got == 0 {
			continue
		}
		// Upserted groups are written together: one version per group
		// unless a delete of the group's first document came between.
		if i%3 != 0 {
			if gv, ok := group[i/3]; ok && gv != got {
				t.Fatalf("round %d: group %d half written: versions %d and %d", round, i/3, gv, got)
			}
			group[i/3] = got
		}
		c.mu.RLock()
		e := c.docs[id]
		c.mu.RUnlock()
		n := 0
		err := kb.KB.st.Walk(ctx, store.PrefixRange(store.DocumentChunksPrefix("kb", id)), nil, 0, func(_, v []byte) error {
			rec, err := decodeChunk(v)
			if err != nil {
				return err
			}
			if rec.ID < e.first || rec.ID >= e.first+uint64(e.n) {
				return fmt.Errorf("chunk %d outside the document's ids", rec.ID)
			}
			if _, err := kb.KB.st.Get(ctx, store.VectorKey("kb", rec.ID)); err != nil {
				return fmt.Errorf("chunk %d has no vector: %w", rec.ID, err)
			}
			if !c.graph.Contains(rec.ID) || !c.lex.Contains(rec.ID) {
				return fmt.Errorf("chunk %d missing from the graph or the lexical index", rec.ID)
			}
			n++
			return nil
		})
		if err != nil || n != e.n {
			t.Fatalf("round %d: %s: %d of %d chunks whole: %v", round, id, n, e.n, err)
		}
		hits, err := kb.Search(ctx, "kb", Query{Text: fmt.Sprintf("ORD-2026-%05d", i), K: 3})
		if err != nil || len(hits) == 0 || hits[0].DocumentID != id {
			t.Fatalf("round %d: %s not found by its order number: %v %v", round, id, hits, err)
		}
	}
	// Nothing stored belongs to no document.
	info, _ := kb.Collection("kb")
	vectors := 0
	if err := kb.KB.st.Walk(ctx, store.PrefixRange(store.VectorsPrefix("kb")), nil, 0, func(_, _ []byte) error { vectors++; return nil }); err != nil {
		t.Fatal(err)
	}
	if vectors != info.Chunks || c.graph.Len() != info.Chunks || c.lex.Len() != info.Chunks {
		t.Fatalf("round %d: %d vectors stored, %d in the graph, %d in BM25, for %d chunks", round, vectors, c.graph.Len(), c.lex.Len(), info.Chunks)
	}
}
