package lexical

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"slices"
	"unicode/utf8"
)

// Snapshot errors. Either means "rebuild the index from the chunk texts";
// other errors from Load come from its reader.
var (
	// ErrCorrupt: a damaged, truncated or inconsistent snapshot, or not one.
	ErrCorrupt = errors.New("lexical: snapshot is corrupt")
	// ErrVersion: an intact snapshot of a format this build cannot read.
	ErrVersion = errors.New("lexical: unsupported snapshot version")
)

// Snapshot layout (integers little-endian):
//
//	header, 60 bytes:
//	  0  magic "IGBM25\r\n"  (the CR LF catches text-mode copies)
//	  8  version u32, flags u32 (none defined: 0)
//	 16  K1 f64, B f64
//	 32  ordinals u32, terms u32
//	 40  strings length u64, postings length u64
//	 56  CRC-32C of bytes 0..55
//	body:
//	  ids       u64 per ordinal
//	  lengths   u32 per ordinal: terms in the document, bit 31 for a tombstone
//	  term table, per term: length u8, postings length u32
//	  strings   the terms, concatenated in term order
//	  postings  each term's list exactly as in memory, in term order
//	trailer, 8 bytes: CRC-32C of the body u32, "END!"
//
// Every version keeps the magic and the header's length and CRC position,
// so that a damaged header is never mistaken for a newer one. Postings are
// written as they sit in memory, so Load only copies and checks them; no
// text is analysed again. Tombstones are written too: Compact first for a
// smaller snapshot.
const (
	snapshotVersion = 1
	headerSize      = 60
	trailerSize     = 8
	termEntrySize   = 5
	maxPostingsLen  = 1 << 40
)

var (
	snapshotMagic = [8]byte{'I', 'G', 'B', 'M', '2', '5', '\r', '\n'}
	trailerMagic  = [4]byte{'E', 'N', 'D', '!'}
	castagnoli    = crc32.MakeTable(crc32.Castagnoli)
)

// WriteTo writes a snapshot of the index to w and returns the bytes written.
// The snapshot is the index as it stood when WriteTo was called: the lock
// is held only while document lengths, term headers and term strings are
// copied (posting bytes are append-only and shared, never rewritten in
// place), and the writing itself runs while searches and writers go on.
func (x *Index) WriteTo(w io.Writer) (int64, error) {
	x.mu.RLock()
	k1, b := x.k1, x.b
	ids := x.ids[:len(x.ids):len(x.ids)]
	lens := slices.Clone(x.lens)
	terms := slices.Clone(x.terms)
	names := make([]string, len(terms))
	for s, tid := range x.dict {
		names[tid] = s
	}
	x.mu.RUnlock()

	var strLen, postLen uint64
	for i, t := range terms {
		strLen += uint64(len(names[i]))
		postLen += uint64(len(t.post))
	}
	var hdr [headerSize]byte
	copy(hdr[0:8], snapshotMagic[:])
	le := binary.LittleEndian
	le.PutUint32(hdr[8:], snapshotVersion)
	le.PutUint64(hdr[16:], math.Float64bits(k1))
	le.PutUint64(hdr[24:], math.Float64bits(b))
	le.PutUint32(hdr[32:], uint32(len(ids)))
	le.PutUint32(hdr[36:], uint32(len(terms)))
	le.PutUint64(hdr[40:], strLen)
	le.PutUint64(hdr[48:], postLen)
	le.PutUint32(hdr[56:], crc32.Checksum(hdr[:56], castagnoli))

	sw := &snapWriter{w: bufio.NewWriterSize(w, 1<<20)}
	sw.write(hdr[:])
	sw.crc = 0
	var buf [8 << 10]byte
	for i := 0; i < len(ids); i += len(buf) / 8 {
		chunk := ids[i:min(len(ids), i+len(buf)/8)]
		for j, id := range chunk {
			le.PutUint64(buf[8*j:], id)
		}
		sw.write(buf[:8*len(chunk)])
	}
	for i := 0; i < len(lens); i += len(buf) / 4 {
		chunk := lens[i:min(len(lens), i+len(buf)/4)]
		for j, l := range chunk {
			le.PutUint32(buf[4*j:], l)
		}
		sw.write(buf[:4*len(chunk)])
	}
	for i := 0; i < len(terms); i += len(buf) / termEntrySize {
		chunk := terms[i:min(len(terms), i+len(buf)/termEntrySize)]
		for j, t := range chunk {
			buf[termEntrySize*j] = byte(len(names[i+j]))
			le.PutUint32(buf[termEntrySize*j+1:], uint32(len(t.post)))
		}
		sw.write(buf[:termEntrySize*len(chunk)])
	}
	for _, s := range names {
		sw.writeString(s)
	}
	for _, t := range terms {
		sw.write(t.post)
	}
	var tr [trailerSize]byte
	le.PutUint32(tr[0:], sw.crc)
	copy(tr[4:], trailerMagic[:])
	sw.write(tr[:])
	if sw.err == nil {
		sw.err = sw.w.Flush()
	}
	return sw.n, sw.err
}

type snapWriter struct {
	w   *bufio.Writer
	crc uint32
	n   int64
	err error
}

func (s *snapWriter) write(p []byte) {
	if s.err != nil {
		return
	}
	s.crc = crc32.Update(s.crc, castagnoli, p)
	n, err := s.w.Write(p)
	s.n += int64(n)
	s.err = err
}

func (s *snapWriter) writeString(p string) {
	if s.err != nil {
		return
	}
	s.crc = crc32.Update(s.crc, castagnoli, []byte(p))
	n, err := s.w.WriteString(p)
	s.n += int64(n)
	s.err = err
}

// Load reads a snapshot written by WriteTo, with the BM25 Params it was
// written with. It checks both checksums and then every invariant the
// index relies on (each posting list decodes, is ordered and in range, each
// document's term frequencies add up to its length, terms and live ids are
// unique), so a snapshot that loads can be searched without a panic. Load
// reads exactly the snapshot's bytes, so one can sit inside a larger
// stream, and allocates only as data arrives, so a damaged length cannot
// make it reserve memory the input does not back.
func Load(r io.Reader) (*Index, error) {
	var hdr [headerSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, readErr(err)
	}
	if [8]byte(hdr[:8]) != snapshotMagic {
		return nil, corrupt("not a lexical index snapshot")
	}
	le := binary.LittleEndian
	if crc32.Checksum(hdr[:56], castagnoli) != le.Uint32(hdr[56:]) {
		return nil, corrupt("header checksum mismatch")
	}
	if v := le.Uint32(hdr[8:]); v != snapshotVersion {
		return nil, fmt.Errorf("%w: %d (this build reads %d)", ErrVersion, v, snapshotVersion)
	}
	if f := le.Uint32(hdr[12:]); f != 0 {
		return nil, corrupt("unknown flags %#x", f)
	}
	p := Params{K1: math.Float64frombits(le.Uint64(hdr[16:])), B: math.Float64frombits(le.Uint64(hdr[24:]))}
	if err := p.check(); err != nil {
		return nil, corrupt("%v", err)
	}
	nOrd, nTerms := uint64(le.Uint32(hdr[32:])), uint64(le.Uint32(hdr[36:]))
	strLen, postLen := le.Uint64(hdr[40:]), le.Uint64(hdr[48:])
	if nOrd == math.MaxUint32 || strLen > nTerms*maxTermBytes || strLen < nTerms || postLen > maxPostingsLen || postLen < nTerms {
		return nil, corrupt("impossible sizes: %d ordinals, %d terms, %d string bytes, %d posting bytes", nOrd, nTerms, strLen, postLen)
	}
	bodyLen := 12*nOrd + termEntrySize*nTerms + strLen + postLen
	cr := &crcReader{r: bufio.NewReaderSize(io.LimitReader(r, int64(bodyLen+trailerSize)), 64<<10)}

	raw, err := cr.read(8 * nOrd)
	if err != nil {
		return nil, err
	}
	ids := make([]uint64, nOrd)
	for i := range ids {
		ids[i] = le.Uint64(raw[8*i:])
	}
	if raw, err = cr.read(4 * nOrd); err != nil {
		return nil, err
	}
	lens := make([]uint32, nOrd)
	for i := range lens {
		lens[i] = le.Uint32(raw[4*i:])
	}
	table, err := cr.read(termEntrySize * nTerms)
	if err != nil {
		return nil, err
	}
	var sumStr, sumPost uint64
	for i := uint64(0); i < nTerms; i++ {
		e := table[termEntrySize*i:]
		sumStr += uint64(e[0])
		sumPost += uint64(le.Uint32(e[1:]))
	}
	if sumStr != strLen || sumPost != postLen {
		return nil, corrupt("term table does not add up to the section lengths")
	}
	rawStr, err := cr.read(strLen)
	if err != nil {
		return nil, err
	}
	terms := make([]term, nTerms)
	var block []byte
	for i := range terms {
		n := uint64(le.Uint32(table[termEntrySize*i+1:]))
		if n >= smallPostings {
			if terms[i].post, err = cr.read(n); err != nil {
				return nil, err
			}
			continue
		}
		if uint64(cap(block)-len(block)) < n {
			block = make([]byte, 0, min(arenaBlock, postLen))
		}
		off := len(block)
		block = block[:off+int(n)]
		if err := cr.full(block[off:]); err != nil {
			return nil, err
		}
		terms[i].post = block[off : off+int(n) : off+int(n)]
	}
	crc := cr.crc
	var tr [trailerSize]byte
	if err := cr.full(tr[:]); err != nil {
		return nil, err
	}
	if le.Uint32(tr[:]) != crc || [4]byte(tr[4:]) != trailerMagic {
		return nil, corrupt("body checksum mismatch")
	}

	x := &Index{k1: p.K1, b: p.B, ids: ids, lens: lens, terms: terms}
	x.ords = make(map[uint64]uint32, nOrd)
	for o, l := range lens {
		if l&^deadBit > maxDocTerms {
			return nil, corrupt("document %d: length %d", o, l&^deadBit)
		}
		if l&deadBit != 0 {
			x.dead++
			continue
		}
		if _, dup := x.ords[ids[o]]; dup {
			return nil, corrupt("id %d is live twice", ids[o])
		}
		x.ords[ids[o]] = uint32(o)
		x.total += uint64(l)
	}
	names := string(rawStr)
	x.dict = make(map[string]uint32, nTerms)
	sums := make([]uint32, nOrd)
	off := 0
	for i := range terms {
		l := int(table[termEntrySize*i])
		name := names[off : off+l]
		off += l
		if l == 0 || !utf8.ValidString(name) {
			return nil, corrupt("term %d: bad string %q", i, name)
		}
		if x.dict[name] = uint32(i); len(x.dict) != i+1 {
			return nil, corrupt("term %q appears twice", name)
		}
		t := &terms[i]
		if t.n, t.last, err = checkPostings(t.post, sums); err != nil {
			return nil, corrupt("term %q: %v", name, err)
		}
	}
	for o, s := range sums {
		if s != lens[o]&^deadBit {
			return nil, corrupt("document %d: term frequencies add up to %d, length says %d", o, s, lens[o]&^deadBit)
		}
	}
	return x, nil
}

// checkPostings decodes a list from a snapshot with every check the hot
// loops leave out, adding each frequency to its document's sum.
func checkPostings(p []byte, sums []uint32) (n, last uint32, err error) {
	if len(p) == 0 {
		return 0, 0, errors.New("empty postings")
	}
	var doc uint64
	for i := 0; i < len(p); n++ {
		v, k := uint64(p[i]), 1
		if v >= 0x80 {
			if v, k = binary.Uvarint(p[i:]); k <= 0 || v>>1 > math.MaxUint32 {
				return 0, 0, errors.New("bad varint")
			}
		}
		i += k
		if n > 0 && v>>1 == 0 {
			return 0, 0, errors.New("ordinals out of order")
		}
		doc += v >> 1
		if doc >= uint64(len(sums)) {
			return 0, 0, fmt.Errorf("ordinal %d out of range", doc)
		}
		tf := uint64(1)
		if v&1 == 0 {
			if i == len(p) {
				return 0, 0, errors.New("missing term frequency")
			}
			if tf, k = uint64(p[i]), 1; tf >= 0x80 {
				tf, k = binary.Uvarint(p[i:])
			}
			if k <= 0 || tf == 0 || tf > maxDocTerms {
				return 0, 0, errors.New("bad term frequency")
			}
			i += k
		}
		if s := uint64(sums[doc]) + tf; s > maxDocTerms {
			return 0, 0, fmt.Errorf("document %d: frequencies too large", doc)
		} else {
			sums[doc] = uint32(s)
		}
	}
	return n, uint32(doc), nil
}

// crcReader reads the body, keeping a running CRC.
type crcReader struct {
	r   io.Reader
	crc uint32
}

func (c *crcReader) full(p []byte) error {
	if _, err := io.ReadFull(c.r, p); err != nil {
		return readErr(err)
	}
	c.crc = crc32.Update(c.crc, castagnoli, p)
	return nil
}

// read reads n bytes, growing its buffer as they arrive rather than
// trusting n up front.
func (c *crcReader) read(n uint64) ([]byte, error) {
	const step = 1 << 20
	if n <= step {
		b := make([]byte, n)
		return b, c.full(b)
	}
	b := make([]byte, 0, step)
	for uint64(len(b)) < n {
		if len(b) == cap(b) {
			b = slices.Grow(b, int(min(uint64(cap(b)), n-uint64(len(b)))))
		}
		m := int(min(uint64(cap(b)), n))
		if err := c.full(b[len(b):m]); err != nil {
			return nil, err
		}
		b = b[:m]
	}
	return b, nil
}

func readErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return corrupt("truncated")
	}
	return err
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}
