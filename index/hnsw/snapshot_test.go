package hnsw

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"testing"
)

func snapshotBytes(t testing.TB, x *Index) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := x.WriteTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Fatalf("WriteTo returned %d, wrote %d", n, buf.Len())
	}
	return buf.Bytes()
}

// snapshotIndexes builds the small indexes the snapshot tests and the fuzz
// corpus use: every metric, quantised or not, with deleted slots, and empty.
func snapshotIndexes(t testing.TB) map[string]*Index {
	ds := genData(21, distMixture, 300, 0, 12)
	out := map[string]*Index{}
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"cosine", Config{Dim: 12, Metric: Cosine, M: 6}},
		{"l2-int8", Config{Dim: 12, Metric: L2, M: 4, Quantize: true}},
		{"dot", Config{Dim: 12, Metric: Dot, M: 5}},
	} {
		cfg := tc.cfg
		cfg.Seed = 21
		x := buildIndex(t, cfg, ds, true)
		for k := uint64(0); k < 300; k += 9 {
			x.Delete(k)
		}
		out[tc.name] = x
	}
	empty, _ := New(Config{Dim: 3, Seed: 1})
	out["empty"] = empty
	tiny, _ := New(Config{Dim: 2, Seed: 1})
	tiny.Add(1, []float32{1, 0})
	out["one"] = tiny
	return out
}

// TestSnapshotRoundTrip: Load(WriteTo(x)) writes the same bytes again and
// answers every query exactly as x does.
func TestSnapshotRoundTrip(t *testing.T) {
	ds := genData(22, distMixture, 0, 20, 12)
	for name, x := range snapshotIndexes(t) {
		t.Run(name, func(t *testing.T) {
			b1 := snapshotBytes(t, x)
			y, err := Load(bytes.NewReader(b1))
			if err != nil {
				t.Fatal(err)
			}
			if b2 := snapshotBytes(t, y); !bytes.Equal(b1, b2) {
				t.Fatalf("snapshot of the loaded index differs (%d vs %d bytes)", len(b1), len(b2))
			}
			cx, cy := x.Config(), y.Config()
			cx.Source, cy.Source = nil, nil
			if x.Len() != y.Len() || fmt.Sprintf("%+v", cx) != fmt.Sprintf("%+v", cy) {
				t.Fatalf("Len/Config differ: %d/%+v vs %d/%+v", x.Len(), x.Config(), y.Len(), y.Config())
			}
			y.exactBelow = x.exactBelow
			for _, q := range ds.queries {
				q = q[:x.dim]
				a, _ := x.Search(q, 10, 32, nil)
				b, _ := y.Search(q, 10, 32, nil)
				if !slices.Equal(a, b) {
					t.Fatalf("results differ after load:\n%v\n%v", a, b)
				}
			}
			// The loaded index keeps working: deletes, adds, slot reuse.
			for k := uint64(0); k < 20; k++ {
				y.Delete(k)
				if err := y.Add(k+1000, ds.queries[k%20][:x.dim]); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestSnapshotCorruption flips bytes across the whole snapshot and cuts it
// short at many lengths: every damaged stream must be rejected with
// ErrCorrupt, never loaded, and never reported as a version it is not.
func TestSnapshotCorruption(t *testing.T) {
	x := snapshotIndexes(t)["cosine"]
	good := snapshotBytes(t, x)
	step := 1
	if len(good) > 1500 {
		step = len(good) / 1500
	}
	for pos := 0; pos < len(good); pos += step {
		for _, flip := range []byte{0x01, 0x80} {
			bad := slices.Clone(good)
			bad[pos] ^= flip
			_, err := Load(bytes.NewReader(bad))
			if !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrVersion) {
				t.Fatalf("byte %d ^ %#x: Load error = %v, want ErrCorrupt", pos, flip, err)
			}
		}
	}
	for _, n := range []int{0, 1, 8, headerSize - 1, headerSize, headerSize + 1, len(good) / 2, len(good) - trailerSize, len(good) - 1} {
		_, err := Load(bytes.NewReader(good[:n]))
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d bytes: error = %v, want ErrCorrupt", n, err)
		}
	}
	if _, err := Load(errReader{}); err == nil || errors.Is(err, ErrCorrupt) {
		t.Fatalf("I/O error should pass through, got %v", err)
	}
}

// TestSnapshotHeaderChecksumFirst: the header checksum is verified before
// the version is believed, so a damaged version word is corruption, and
// only an intact header with another version is ErrVersion.
func TestSnapshotHeaderChecksumFirst(t *testing.T) {
	good := snapshotBytes(t, snapshotIndexes(t)["one"])
	le := binary.LittleEndian
	tests := []struct {
		name        string
		edit        func(b []byte)
		fixChecksum bool
		want, never error
	}{
		{"version+1, stale checksum", func(b []byte) { le.PutUint32(b[8:], snapshotVersion+1) }, false, ErrCorrupt, ErrVersion},
		{"version high bit flipped", func(b []byte) { b[11] ^= 0x80 }, false, ErrCorrupt, ErrVersion},
		{"version zeroed", func(b []byte) { le.PutUint32(b[8:], 0) }, false, ErrCorrupt, ErrVersion},
		{"checksum damaged", func(b []byte) { b[60] ^= 1 }, false, ErrCorrupt, ErrVersion},
		{"version+1, checksum recomputed", func(b []byte) { le.PutUint32(b[8:], snapshotVersion+1) }, true, ErrVersion, ErrCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bad := slices.Clone(good)
			tc.edit(bad)
			if tc.fixChecksum {
				le.PutUint32(bad[60:], crc32.Checksum(bad[:60], castagnoli))
			}
			_, err := Load(bytes.NewReader(bad))
			if !errors.Is(err, tc.want) || errors.Is(err, tc.never) {
				t.Fatalf("Load error = %v, want %v and not %v", err, tc.want, tc.never)
			}
		})
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, io.ErrClosedPipe }

// TestSnapshotSemanticChecks forges snapshots with valid checksums but
// impossible contents; the checksum alone would accept them.
func TestSnapshotSemanticChecks(t *testing.T) {
	x := snapshotIndexes(t)["dot"]
	good := snapshotBytes(t, x)
	count := int(binary.LittleEndian.Uint32(good[36:]))
	// Section offsets: meta, keys, vectors, links.
	metaOff := headerSize
	keysOff := metaOff + count*4
	linksOff := keysOff + count*8 + count*x.dim*4
	forge := []struct {
		name string
		edit func(b []byte)
	}{
		{"link out of range", func(b []byte) { binary.LittleEndian.PutUint32(b[linksOff+4:], uint32(count)) }},
		{"too many links", func(b []byte) { binary.LittleEndian.PutUint32(b[linksOff:], uint32(x.m0+1)) }},
		{"bad state", func(b []byte) { b[metaOff+4] = 7 }},
		{"duplicate key", func(b []byte) { copy(b[keysOff+8*2:keysOff+8*3], b[keysOff+8*1:keysOff+8*2]) }},
		{"live count", func(b []byte) { binary.LittleEndian.PutUint32(b[40:], binary.LittleEndian.Uint32(b[40:])-1) }},
		{"entry point", func(b []byte) { binary.LittleEndian.PutUint64(b[44:], 5) }},
		{"dimension", func(b []byte) { binary.LittleEndian.PutUint32(b[16:], 0) }},
	}
	for _, f := range forge {
		bad := slices.Clone(good)
		f.edit(bad)
		fixChecksums(bad)
		_, err := Load(bytes.NewReader(bad))
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: error = %v, want ErrCorrupt", f.name, err)
		} else {
			t.Logf("%s: %v", f.name, err)
		}
	}
}

// fixChecksums recomputes both CRCs (and the body length) of a snapshot
// so that edits reach the semantic checks; shorter inputs are left alone.
func fixChecksums(b []byte) {
	if len(b) < headerSize+trailerSize {
		return
	}
	le := binary.LittleEndian
	le.PutUint32(b[60:], crc32.Checksum(b[:60], castagnoli))
	body := b[headerSize : len(b)-trailerSize]
	tr := b[len(b)-trailerSize:]
	le.PutUint64(tr[0:], uint64(len(body)))
	le.PutUint32(tr[8:], crc32.Checksum(body, castagnoli))
}

// FuzzLoad feeds arbitrary bytes to Load. No input may panic, hang or
// allocate without bound; an accepted input must be usable. With fix set,
// the checksums are repaired first so that mutations reach the checks
// behind them.
func FuzzLoad(f *testing.F) {
	// Small seeds keep mutation and minimisation fast: a few dozen nodes of
	// a few dimensions, with tombstones, freed slots and upper levels.
	ds := genData(23, distMixture, 60, 0, 4)
	for i, cfg := range []Config{
		{Dim: 4, Metric: Cosine, M: 3},
		{Dim: 4, Metric: L2, M: 2, Quantize: true},
		{Dim: 4, Metric: Dot, M: 4},
	} {
		cfg.Seed = uint64(i + 1)
		x := buildIndex(f, cfg, ds, true)
		for k := uint64(0); k < 60; k++ {
			if k%uint64(i+2) != 0 { // 40, 30 and 15 deletes: the first passes minConsolidate
				x.Delete(k)
			}
		}
		b := snapshotBytes(f, x)
		f.Add(b, false)
		f.Add(b, true)
	}
	f.Add([]byte("IGHNSW\r\n"), false)
	f.Add([]byte{}, false)
	f.Fuzz(func(t *testing.T, data []byte, fix bool) {
		if fix {
			data = slices.Clone(data)
			fixChecksums(data)
		}
		x, err := Load(bytes.NewReader(data))
		if err != nil {
			if x != nil {
				t.Fatal("index returned with an error")
			}
			return
		}
		q := make([]float32, x.dim)
		for i := range q {
			q[i] = float32(i%3) - 1
		}
		x.exactBelow = 0
		if _, err := x.Search(q, 5, 16, nil); err != nil {
			t.Fatal(err)
		}
		x.Search(q, 5, 16, func(k uint64) bool { return k%2 == 0 })
		if err := x.Add(1<<40, q); err != nil {
			t.Fatal(err)
		}
		x.Delete(1 << 40)
	})
}
