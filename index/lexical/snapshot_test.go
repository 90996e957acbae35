package lexical

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"testing"
)

// snapshotOf returns x's snapshot bytes.
func snapshotOf(t testing.TB, x *Index) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := x.WriteTo(&buf)
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("WriteTo: %d, %v (wrote %d)", n, err, buf.Len())
	}
	return buf.Bytes()
}

// sampleIndexes are small indexes covering the snapshot's cases: empty,
// tombstones, big posting lists, custom params.
func sampleIndexes() map[string]*Index {
	empty := New(Params{})
	small := New(Params{K1: 0.9, B: 0.4})
	small.Add(1, "refund ORD-2024-00817 refund refund")
	small.Add(2, "shipping policy for Café orders")
	small.Add(3, "")
	tomb := New(Params{})
	for i := range uint64(40) {
		tomb.Add(i, fmt.Sprintf("common text %d E%d", i, 1000+i%7))
	}
	tomb.Delete(3)
	tomb.Delete(9)
	tomb.Add(5, "replaced text")
	return map[string]*Index{"empty": empty, "small": small, "tombstones": tomb}
}

func TestSnapshotRoundTrip(t *testing.T) {
	queries := []string{"refund", "ORD-2024-00817", "cafe orders", "common", "E1003 text", "replaced", "nothing"}
	for name, x := range sampleIndexes() {
		snap := snapshotOf(t, x)
		y, err := Load(bytes.NewReader(snap))
		if err != nil {
			t.Fatalf("%s: Load: %v", name, err)
		}
		if y.Params() != x.Params() {
			t.Fatalf("%s: params %v, want %v", name, y.Params(), x.Params())
		}
		sameResults(t, y, x, queries, 100)
		if again := snapshotOf(t, y); !bytes.Equal(again, snap) {
			t.Fatalf("%s: a loaded index writes a different snapshot", name)
		}
		// A loaded index keeps working: adds, deletes, compaction.
		y.Add(77, "refund common")
		x.Add(77, "refund common")
		y.Delete(2)
		x.Delete(2)
		y.Compact()
		sameResults(t, y, x, queries, 100)
	}
}

// TestLoadReadsOnlyTheSnapshot: a snapshot inside a larger stream.
func TestLoadReadsOnlyTheSnapshot(t *testing.T) {
	snap := snapshotOf(t, sampleIndexes()["small"])
	r := bytes.NewReader(append(snap, "trailing data"...))
	if _, err := Load(r); err != nil {
		t.Fatal(err)
	}
	if rest, _ := io.ReadAll(r); string(rest) != "trailing data" {
		t.Fatalf("Load consumed past the snapshot: %q left", rest)
	}
}

func TestLoadCorrupt(t *testing.T) {
	snap := snapshotOf(t, sampleIndexes()["tombstones"])
	for i := range snap {
		for _, bit := range []byte{0x01, 0x80} {
			bad := bytes.Clone(snap)
			bad[i] ^= bit
			if _, err := Load(bytes.NewReader(bad)); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("byte %d ^ %#x: err = %v, want ErrCorrupt", i, bit, err)
			}
		}
	}
	for n := range len(snap) {
		if _, err := Load(bytes.NewReader(snap[:n])); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d bytes: err = %v, want ErrCorrupt", n, err)
		}
	}
	// A newer version with a valid header checksum is ErrVersion, not damage.
	newer := bytes.Clone(snap)
	binary.LittleEndian.PutUint32(newer[8:], snapshotVersion+1)
	fixChecksums(newer)
	if _, err := Load(bytes.NewReader(newer)); !errors.Is(err, ErrVersion) {
		t.Fatalf("newer version: err = %v, want ErrVersion", err)
	}
	// Consistent checksums over inconsistent contents: still ErrCorrupt.
	for _, tc := range []struct {
		name string
		edit func(b []byte)
	}{
		{"document length off by one", func(b []byte) {
			n := binary.LittleEndian.Uint32(b[32:]) // ordinals; lengths follow the ids
			p := headerSize + 8*int(n) + 4*7
			binary.LittleEndian.PutUint32(b[p:], binary.LittleEndian.Uint32(b[p:])+1)
		}},
		{"two live documents with one id", func(b []byte) {
			copy(b[headerSize+8:headerSize+16], b[headerSize:headerSize+8])
		}},
		{"NaN K1", func(b []byte) { binary.LittleEndian.PutUint64(b[16:], 0x7ff8000000000001) }},
	} {
		bad := bytes.Clone(snap)
		tc.edit(bad)
		fixChecksums(bad)
		if _, err := Load(bytes.NewReader(bad)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err = %v, want ErrCorrupt", tc.name, err)
		}
	}
	// Errors from the reader itself are passed on as they are.
	boom := errors.New("disk on fire")
	if _, err := Load(io.MultiReader(bytes.NewReader(snap[:100]), errReader{boom})); !errors.Is(err, boom) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("reader error: got %v", err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// fixChecksums rewrites both CRCs of a (possibly edited) snapshot, taking
// the last trailerSize bytes as the trailer, so that tests and the fuzzer
// reach the checks behind them.
func fixChecksums(b []byte) {
	if len(b) < headerSize {
		return
	}
	binary.LittleEndian.PutUint32(b[56:], crc32.Checksum(b[:56], castagnoli))
	if len(b) < headerSize+trailerSize {
		return
	}
	body := b[headerSize : len(b)-trailerSize]
	binary.LittleEndian.PutUint32(b[len(b)-trailerSize:], crc32.Checksum(body, castagnoli))
	copy(b[len(b)-4:], trailerMagic[:])
}

func FuzzLoad(f *testing.F) {
	for _, x := range sampleIndexes() {
		f.Add(snapshotOf(f, x), false)
		f.Add(snapshotOf(f, x), true)
	}
	f.Add([]byte("IGBM25\r\n"), false)
	f.Fuzz(func(t *testing.T, data []byte, fix bool) {
		if fix {
			data = bytes.Clone(data)
			fixChecksums(data)
		}
		x, err := Load(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrVersion) {
				t.Fatalf("error wraps neither ErrCorrupt nor ErrVersion: %v", err)
			}
			return
		}
		// Whatever loads is a working index.
		x.mu.RLock()
		var queries []string
		for s := range x.dict {
			if len(queries) < 8 {
				queries = append(queries, s)
			}
		}
		x.mu.RUnlock()
		for _, q := range queries {
			checkHits(t, x.Search(q, 5, nil), 5)
		}
		snap := snapshotOf(t, x)
		y, err := Load(bytes.NewReader(snap))
		if err != nil {
			t.Fatalf("reloading a loaded index's snapshot: %v", err)
		}
		if !bytes.Equal(snapshotOf(t, y), snap) {
			t.Fatal("snapshot does not round-trip")
		}
		x.Add(1, "fuzz text")
		x.Compact()
		checkHits(t, x.Search("fuzz", 5, nil), 5)
	})
}
