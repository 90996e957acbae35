package hnsw

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"unsafe"
)

// Snapshot layout (all integers little-endian):
//
//	header, 64 bytes:
//	  0  magic "IGHNSW\r\n"  (the CR LF catches text-mode copies)
//	  8  version u32
//	 12  flags u32            bit 0: int8-quantised vectors
//	 16  dim, metric, M, efConstruction, efSearch, count, live  (u32 each)
//	 44  entry u64            level<<32 | id, or all ones when empty
//	 52  seed u64
//	 60  CRC-32C of bytes 0..59
//	body, sections in this order, each covering node ids 0..count-1:
//	  meta     u32 per node   state (1 live, 2 free slot, 3 deleted) | level<<8
//	  keys     u64 per node
//	  vectors  f32 dim per node; or, quantised, i8 dim per node followed by
//	           f32 scale and squared norm per node
//	  links    u32 (2M+1) per node: count, then ids
//	  upper    for each node with level > 0 in id order: level * (M+1) u32
//	trailer, 16 bytes: body length u64, CRC-32C of the body u32, "END!"
//
// Every version keeps the magic and the header's length and CRC position,
// so that a reader can tell a damaged header from a newer one.
//
// Each section is the in-memory slabs byte for byte, written and read
// block by block, so saving and loading run at memory-copy speed plus one
// CRC pass (hardware CRC-32C is tens of GB/s); nothing is re-inserted. The
// format does not depend on how memory is cut into blocks. Slabs are
// allocated only as their section's bytes arrive, so a header claiming a
// huge count cannot make Load allocate much more than it has read.
const (
	snapshotVersion = 1
	headerSize      = 64
	trailerSize     = 16
	flagQuantized   = 1
	// writeBuffer gathers the small slabs of the first blocks into large
	// writes; slabs bigger than this go to the writer directly.
	writeBuffer = 1 << 20
)

var (
	snapshotMagic = [8]byte{'I', 'G', 'H', 'N', 'S', 'W', '\r', '\n'}
	trailerMagic  = [4]byte{'E', 'N', 'D', '!'}
	castagnoli    = crc32.MakeTable(crc32.Castagnoli)
	littleEndian  = binary.NativeEndian.Uint16([]byte{1, 0}) == 1
)

// WriteTo writes a snapshot of the index to w and returns the bytes written.
// The snapshot is the index as it stood when WriteTo was called. Searches,
// inserts and deletes keep running while it writes: it holds inserts and
// deletes off only while it copies the neighbour lists and node states (a
// memory copy of about 4*(2M+2) bytes per node, milliseconds at 100,000
// nodes), and until it returns, Adds take fresh ids rather than reuse freed
// slots, whose vectors it may still be reading. w is written in large
// pieces; wrap it in a bufio.Writer only if it is slow with large writes.
func (x *Index) WriteTo(w io.Writer) (int64, error) {
	c := x.takeCut()
	defer x.saving.Add(-1)

	bw := bufio.NewWriterSize(w, writeBuffer)
	sw := &snapWriter{w: bw}
	var hdr [headerSize]byte
	copy(hdr[0:8], snapshotMagic[:])
	le := binary.LittleEndian
	le.PutUint32(hdr[8:], snapshotVersion)
	var flags uint32
	if x.quant {
		flags |= flagQuantized
	}
	le.PutUint32(hdr[12:], flags)
	le.PutUint32(hdr[16:], uint32(x.dim))
	le.PutUint32(hdr[20:], uint32(x.cfg.Metric))
	le.PutUint32(hdr[24:], uint32(x.m))
	le.PutUint32(hdr[28:], uint32(x.efC))
	le.PutUint32(hdr[32:], uint32(x.efSearch))
	le.PutUint32(hdr[36:], c.count)
	le.PutUint32(hdr[40:], c.live)
	le.PutUint64(hdr[44:], c.entry)
	le.PutUint64(hdr[52:], x.cfg.Seed)
	le.PutUint32(hdr[60:], crc32.Checksum(hdr[:60], castagnoli))
	sw.raw(hdr[:])
	sw.crc, sw.body = 0, 0

	sw.u32s(c.meta)
	c.eachBlock(x, func(blk *block, n int) { sw.u64s(blk.keys[:n]) })
	if x.quant {
		c.eachBlock(x, func(blk *block, n int) { sw.bytes(asBytes(blk.codes[:n*x.dim])) })
		c.eachBlock(x, func(blk *block, n int) { sw.f32s(blk.qp[:2*n]) })
	} else {
		c.eachBlock(x, func(blk *block, n int) { sw.f32s(blk.vecs[:n*x.dim]) })
	}
	sw.u32s(c.links)
	sw.u32s(c.upper)

	var tr [trailerSize]byte
	le.PutUint64(tr[0:], uint64(sw.body))
	le.PutUint32(tr[8:], sw.crc)
	copy(tr[12:], trailerMagic[:])
	sw.raw(tr[:])
	if sw.err == nil {
		sw.err = bw.Flush()
	}
	return sw.n, sw.err
}

// cut is the state a snapshot writes, taken at one instant. Inserts and
// deletes rewrite the neighbour lists and meta words of existing nodes, so
// those are copied. Keys and vectors of existing nodes change only when a
// freed slot is reused, which Add defers while x.saving is non-zero, so
// they are read from the live blocks: copying the vectors too would double
// the index's memory for the duration and make inserts wait several times
// longer.
type cut struct {
	count uint32
	live  uint32
	entry uint64
	dir   []*block
	meta  []uint32 // count words
	links []uint32 // count level-0 lists
	upper []uint32 // lists above level 0, in id order
}

// takeCut copies what a snapshot needs under the locks that exclude every
// writer (addMu for inserts, mu for deletes), and marks a save as running
// before they are released, so that no Add can reuse a slot the snapshot
// still reads. The caller decrements x.saving when it has done reading.
func (x *Index) takeCut() *cut {
	// The copies' memory is allocated and touched before the locks are
	// taken, so that inserts do not wait for its page faults: at 100,000
	// nodes those took most of the time the copy held the locks. The
	// headroom covers inserts that land in between; append grows a copy in
	// the rare case it does not.
	n := int(x.next.Load())
	n += n/32 + 64
	c := &cut{
		meta:  touched(make([]uint32, 0, n)),
		links: touched(make([]uint32, 0, n*x.s0)),
		// Levels above 0 add up to about 1/(M-1) per node.
		upper: touched(make([]uint32, 0, 2*n/(x.m-1)*x.s1+x.s1*maxLevelCap)),
	}

	x.addMu.Lock()
	defer x.addMu.Unlock()
	x.mu.RLock()
	defer x.mu.RUnlock()
	x.saving.Add(1)

	c.count = x.next.Load()
	c.live = uint32(x.live.Load())
	c.entry = x.entry.Load()
	c.dir = *x.dir.Load()
	chunks := *x.upper.Load()
	c.eachBlock(x, func(blk *block, n int) {
		c.meta = append(c.meta, blk.meta[:n]...)
		c.links = append(c.links, blk.links[:n*x.s0]...)
		for i, m := range blk.meta[:n] {
			if level := int(m >> 8); level > 0 {
				o := blk.upOff[i]
				p := int(o & (upperChunk - 1))
				c.upper = append(c.upper, chunks[o>>upperShift][p:p+level*x.s1]...)
			}
		}
	})
	return c
}

// touched writes to every page of s's backing array, so that the kernel
// maps them now rather than at first use. It stores one word a page in a
// loop rather than calling clear: clear becomes one runtime memclr that
// cannot be preempted, and a garbage collection waiting to stop the world
// would stall every insert until it returned.
func touched(s []uint32) []uint32 {
	all := s[:cap(s)]
	for i := 0; i < len(all); i += 1024 { // 4 KiB pages
		all[i] = 0
	}
	return s
}

// eachBlock calls f with each block holding ids below the cut's count and
// the number of those ids it holds, in id order.
func (c *cut) eachBlock(x *Index, f func(blk *block, n int)) {
	for b, start := uint32(0), uint32(0); start < c.count; b++ {
		n := min(x.blockCap(b), int(c.count-start))
		f(c.dir[b], n)
		start += uint32(n)
	}
}

// snapWriter writes slabs as bytes, keeping a running CRC of the body.
type snapWriter struct {
	w    io.Writer
	n    int64
	body int64
	crc  uint32
	err  error
	buf  []byte // big-endian hosts only
}

func (s *snapWriter) raw(p []byte) {
	if s.err != nil {
		return
	}
	n, err := s.w.Write(p)
	s.n += int64(n)
	s.err = err
}

func (s *snapWriter) bytes(p []byte) {
	s.crc = crc32.Update(s.crc, castagnoli, p)
	s.body += int64(len(p))
	s.raw(p)
}

// swapped writes a slab element by element on big-endian hosts, where the
// in-memory bytes are not the file's.
func (s *snapWriter) swapped(n, size int, put func(b []byte, i int)) {
	const chunk = 4096
	for i := 0; i < n; i += chunk {
		m := min(chunk, n-i)
		if cap(s.buf) < m*size {
			s.buf = make([]byte, chunk*size)
		}
		b := s.buf[:m*size]
		for j := 0; j < m; j++ {
			put(b[j*size:], i+j)
		}
		s.bytes(b)
	}
}

func (s *snapWriter) u32s(v []uint32) {
	if littleEndian {
		s.bytes(asBytes(v))
		return
	}
	s.swapped(len(v), 4, func(b []byte, i int) { binary.LittleEndian.PutUint32(b, v[i]) })
}

func (s *snapWriter) u64s(v []uint64) {
	if littleEndian {
		s.bytes(asBytes(v))
		return
	}
	s.swapped(len(v), 8, func(b []byte, i int) { binary.LittleEndian.PutUint64(b, v[i]) })
}

func (s *snapWriter) f32s(v []float32) {
	if littleEndian {
		s.bytes(asBytes(v))
		return
	}
	s.swapped(len(v), 4, func(b []byte, i int) { binary.LittleEndian.PutUint32(b, math.Float32bits(v[i])) })
}

func (s *snapWriter) i8s(v []int8) { s.bytes(asBytes(v)) }

// asBytes views a slab as its bytes without copying.
func asBytes[T uint32 | uint64 | float32 | int8](v []T) []byte {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), len(v)*int(unsafe.Sizeof(v[0])))
}

// Load reads a snapshot written by WriteTo. Errors wrapping ErrCorrupt
// (bad checksum, truncated stream, inconsistent contents) or ErrVersion mean
// the snapshot cannot be used and the index should be rebuilt; other errors
// come from r. Load reads exactly the snapshot's bytes and no further, so a
// snapshot can sit inside a larger stream. It does no buffering of its own
// and needs none: an *os.File can be passed directly, as nearly all bytes
// arrive in reads of whole slabs. A quantised index needs SetSource again
// for re-ranking.
func Load(r io.Reader) (*Index, error) {
	x, err := load(r)
	if err != nil {
		return nil, err
	}
	return x, nil
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// snapReader reads slabs from the body, keeping a running CRC.
type snapReader struct {
	r    io.Reader
	crc  uint32
	body int64
	buf  []byte // big-endian hosts only
}

func readErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return corrupt("truncated")
	}
	return fmt.Errorf("hnsw: reading snapshot: %w", err)
}

func (s *snapReader) bytes(p []byte) error {
	if _, err := io.ReadFull(s.r, p); err != nil {
		return readErr(err)
	}
	s.crc = crc32.Update(s.crc, castagnoli, p)
	s.body += int64(len(p))
	return nil
}

func (s *snapReader) swapped(n, size int, get func(b []byte, i int)) error {
	const chunk = 4096
	for i := 0; i < n; i += chunk {
		m := min(chunk, n-i)
		if cap(s.buf) < m*size {
			s.buf = make([]byte, chunk*size)
		}
		b := s.buf[:m*size]
		if err := s.bytes(b); err != nil {
			return err
		}
		for j := 0; j < m; j++ {
			get(b[j*size:], i+j)
		}
	}
	return nil
}

func (s *snapReader) u32s(v []uint32) error {
	if littleEndian {
		return s.bytes(asBytes(v))
	}
	return s.swapped(len(v), 4, func(b []byte, i int) { v[i] = binary.LittleEndian.Uint32(b) })
}

func (s *snapReader) u64s(v []uint64) error {
	if littleEndian {
		return s.bytes(asBytes(v))
	}
	return s.swapped(len(v), 8, func(b []byte, i int) { v[i] = binary.LittleEndian.Uint64(b) })
}

func (s *snapReader) f32s(v []float32) error {
	if littleEndian {
		return s.bytes(asBytes(v))
	}
	return s.swapped(len(v), 4, func(b []byte, i int) { v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b)) })
}

func load(r io.Reader) (*Index, error) {
	var hdr [headerSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, readErr(err)
	}
	if [8]byte(hdr[0:8]) != snapshotMagic {
		return nil, corrupt("not an index snapshot (bad magic)")
	}
	// The checksum comes before any field is believed: a flipped bit in the
	// version word is damage, and reporting it as a newer format would send
	// an operator looking for a build that does not exist.
	le := binary.LittleEndian
	if got, want := crc32.Checksum(hdr[:60], castagnoli), le.Uint32(hdr[60:]); got != want {
		return nil, corrupt("header checksum mismatch")
	}
	if v := le.Uint32(hdr[8:]); v != snapshotVersion {
		return nil, fmt.Errorf("%w: %d (this build reads %d)", ErrVersion, v, snapshotVersion)
	}
	flags := le.Uint32(hdr[12:])
	cfg := Config{
		Dim:            int(le.Uint32(hdr[16:])),
		Metric:         Metric(le.Uint32(hdr[20:])),
		M:              int(le.Uint32(hdr[24:])),
		EfConstruction: int(le.Uint32(hdr[28:])),
		EfSearch:       int(le.Uint32(hdr[32:])),
		Quantize:       flags&flagQuantized != 0,
		Seed:           le.Uint64(hdr[52:]),
	}
	count, live, entry := le.Uint32(hdr[36:]), le.Uint32(hdr[40:]), le.Uint64(hdr[44:])
	switch {
	case flags&^flagQuantized != 0:
		return nil, corrupt("unknown flags %#x", flags)
	case cfg.Dim <= 0 || cfg.Dim > maxDim:
		return nil, corrupt("dimension %d", cfg.Dim)
	case le.Uint32(hdr[20:]) > uint32(L2):
		return nil, corrupt("metric %d", le.Uint32(hdr[20:]))
	case cfg.M < 2 || cfg.M > maxM:
		return nil, corrupt("M %d", cfg.M)
	case cfg.EfConstruction < cfg.M || cfg.EfConstruction > 1<<20 || cfg.EfSearch <= 0 || cfg.EfSearch > 1<<20:
		return nil, corrupt("ef %d/%d", cfg.EfConstruction, cfg.EfSearch)
	case count > maxNodes || live > count:
		return nil, corrupt("counts %d/%d", live, count)
	case cfg.Seed == 0:
		return nil, corrupt("zero seed")
	}
	x := newIndex(cfg)
	sr := &snapReader{r: r}

	// Body. Each section allocates its slab in a block only when the
	// section reaches that block.
	var dir []*block
	for b, start := uint32(0), uint32(0); start < count; b++ {
		n := min(x.blockCap(b), int(count-start))
		blk := &block{meta: make([]uint32, x.blockCap(b))}
		if err := sr.u32s(blk.meta[:n]); err != nil {
			return nil, err
		}
		for i, m := range blk.meta[:n] {
			if state, level := m&0xff, m>>8; state == stateUnused || state > stateDeleted || level > maxLevelCap {
				return nil, corrupt("node %d: meta %#x", int(start)+i, m)
			}
		}
		dir = append(dir, blk)
		start += uint32(n)
	}
	x.dir.Store(&dir)
	x.next.Store(count)
	err := x.readSection(count, func(b uint32, blk *block, n int) error {
		blk.keys = make([]uint64, x.blockCap(b))
		return sr.u64s(blk.keys[:n])
	})
	if err == nil && x.quant {
		err = x.readSection(count, func(b uint32, blk *block, n int) error {
			blk.codes = make([]int8, x.blockCap(b)*x.dim)
			adviseHugePages(blk.codes)
			return sr.bytes(asBytes(blk.codes[:n*x.dim]))
		})
		if err == nil {
			err = x.readSection(count, func(b uint32, blk *block, n int) error {
				blk.qp = make([]float32, 2*x.blockCap(b))
				return sr.f32s(blk.qp[:2*n])
			})
		}
	} else if err == nil {
		err = x.readSection(count, func(b uint32, blk *block, n int) error {
			blk.vecs = x.newVecs(b)
			return sr.f32s(blk.vecs[:n*x.dim])
		})
	}
	if err == nil {
		err = x.readSection(count, func(b uint32, blk *block, n int) error {
			blk.links = make([]uint32, x.blockCap(b)*x.s0)
			adviseHugePages(blk.links)
			return sr.u32s(blk.links[:n*x.s0])
		})
	}
	if err == nil {
		err = x.readSection(count, func(b uint32, blk *block, n int) error {
			blk.upOff = make([]uint32, x.blockCap(b))
			for i, m := range blk.meta[:n] {
				blk.upOff[i] = noNode
				if level := int(m >> 8); level > 0 {
					o := x.allocUpper(level)
					blk.upOff[i] = o
					p := int(o & (upperChunk - 1))
					if err := sr.u32s((*x.upper.Load())[o>>upperShift][p : p+level*x.s1]); err != nil {
						return err
					}
				}
			}
			return nil
		})
	}
	if err != nil {
		return nil, err
	}

	var tr [trailerSize]byte
	if _, err := io.ReadFull(r, tr[:]); err != nil {
		return nil, readErr(err)
	}
	if [4]byte(tr[12:16]) != trailerMagic || int64(le.Uint64(tr[0:])) != sr.body {
		return nil, corrupt("bad trailer")
	}
	if le.Uint32(tr[8:]) != sr.crc {
		return nil, corrupt("body checksum mismatch")
	}
	if err := x.validate(live, entry); err != nil {
		return nil, err
	}
	return x, nil
}

// readSection calls f for each block of a loaded index in id order, with
// the number of ids the block holds, stopping at the first error.
func (x *Index) readSection(count uint32, f func(b uint32, blk *block, n int) error) error {
	dir := *x.dir.Load()
	for b, start := uint32(0), uint32(0); start < count; b++ {
		n := min(x.blockCap(b), int(count-start))
		if err := f(b, dir[b], n); err != nil {
			return err
		}
		start += uint32(n)
	}
	return nil
}

// validate checks what the checksum cannot: that a well-formed snapshot
// also describes a graph every later operation can walk without going out
// of bounds. It rebuilds the key map and free list on the way.
func (x *Index) validate(live uint32, entry uint64) error {
	count := x.next.Load()
	x.keys = make(map[uint64]uint32, live)
	var nLive uint32
	topLevel := -1
	for id := uint32(0); id < count; id++ {
		blk, off := x.node(id)
		m := blk.meta[off]
		level := int(m >> 8)
		for l := 0; l <= level; l++ {
			ls := x.linkSlot(id, l)
			c := ls[0]
			if c > uint32(x.maxLinks(l)) {
				return corrupt("node %d level %d: %d links", id, l, c)
			}
			for _, nb := range ls[1 : 1+c] {
				if nb >= count {
					return corrupt("node %d level %d: link to %d of %d", id, l, nb, count)
				}
			}
		}
		switch m & 0xff {
		case stateFree:
			x.free = append(x.free, id)
			continue
		case stateDeleted:
			x.dead = append(x.dead, id)
			continue
		}
		nLive++
		topLevel = max(topLevel, level)
		key := blk.keys[off]
		if _, dup := x.keys[key]; dup {
			return corrupt("key %d appears twice", key)
		}
		x.keys[key] = id
	}
	if nLive != live {
		return corrupt("%d live nodes, header says %d", nLive, live)
	}
	x.live.Store(int64(nLive))
	if nLive == 0 {
		if entry != noEntry {
			return corrupt("entry point in an empty index")
		}
		return nil
	}
	id, level := uint32(entry), int(entry>>32)
	if entry == noEntry || id >= count || !x.isLive(id) || x.levelOf(id) != level || level != topLevel {
		return corrupt("entry point %#x", entry)
	}
	x.entry.Store(entry)
	return nil
}
