// Package models knows about model files: it reads GGUF metadata without
// loading weights, keeps the catalogue of which file serves chat and which
// serves embeddings, and fetches model files (the pinned test models and
// downloads over HTTP).
//
// It is pure Go and imports no other infergate package, so the command line
// and the gateway can inspect and validate a model before llama.cpp ever
// opens it: llama.cpp aborts or crashes on some malformed files, while this
// reader returns an error that names the file and the problem.
package models

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"strings"
)

// Errors returned by the GGUF reader wrap one of these, so callers can tell
// the classes apart with errors.Is while the message carries the details.
var (
	// ErrNotGGUF means the file does not start with the GGUF magic.
	ErrNotGGUF = errors.New("not a GGUF file")
	// ErrUnsupportedVersion means the GGUF version is not 2 or 3.
	ErrUnsupportedVersion = errors.New("unsupported GGUF version")
	// ErrTruncated means the header or the tensor data extends past the end
	// of the file.
	ErrTruncated = errors.New("truncated")
	// ErrCorrupt means the header holds values no valid GGUF file has.
	ErrCorrupt = errors.New("corrupt GGUF")
)

// FormatError is the error returned for a file that fails validation.
type FormatError struct {
	// Path names the file (or whatever name the caller gave to Read).
	Path string
	// Kind is one of ErrNotGGUF, ErrUnsupportedVersion, ErrTruncated,
	// ErrCorrupt.
	Kind error
	// Detail says what exactly is wrong.
	Detail string
}

// Error formats the error as "path: kind: detail".
func (e *FormatError) Error() string {
	return e.Path + ": " + e.Kind.Error() + ": " + e.Detail
}

// Unwrap returns Kind, for errors.Is.
func (e *FormatError) Unwrap() error { return e.Kind }

// Limits that keep a corrupt or hostile header from making the reader
// allocate gigabytes. Lengths are also checked against the bytes left in the
// file, which is the tighter bound for all but very large files.
const (
	// maxStringLen is far above any real value (chat templates are kilobytes,
	// an embedded tokenizer.json a few tens of megabytes).
	maxStringLen = 64 << 20
	// maxKeyLen is the GGUF specification's limit for keys.
	maxKeyLen = 65535
	// maxArrayLen is far above the largest vocabularies and merge lists
	// (a few hundred thousand entries).
	maxArrayLen = 1 << 24
	// maxArrayDepth bounds recursion through nested arrays.
	maxArrayDepth = 8
	// maxTensors is far above the tensor count of the largest models.
	maxTensors = 1 << 20
	// maxKVs is far above the key count of any real file (tens to hundreds).
	maxKVs = 1 << 20
	// maxTensorName mirrors GGML_MAX_NAME (64, including the terminating NUL);
	// llama.cpp refuses longer names.
	maxTensorName = 63
	// maxDims mirrors GGML_MAX_DIMS.
	maxDims = 4
	// DefaultAlignment is the data alignment when general.alignment is absent.
	DefaultAlignment = 32
)

// ValueType is the type tag of a GGUF metadata value.
type ValueType uint32

// The GGUF metadata value types, numbered as in the specification.
const (
	TypeUint8   ValueType = 0
	TypeInt8    ValueType = 1
	TypeUint16  ValueType = 2
	TypeInt16   ValueType = 3
	TypeUint32  ValueType = 4
	TypeInt32   ValueType = 5
	TypeFloat32 ValueType = 6
	TypeBool    ValueType = 7
	TypeString  ValueType = 8
	TypeArray   ValueType = 9
	TypeUint64  ValueType = 10
	TypeInt64   ValueType = 11
	TypeFloat64 ValueType = 12
)

var valueTypeNames = [...]string{
	"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
	"bool", "string", "array", "uint64", "int64", "float64",
}

// String returns the type's name in the specification ("uint32", "string").
func (t ValueType) String() string {
	if int(t) < len(valueTypeNames) {
		return valueTypeNames[t]
	}
	return fmt.Sprintf("ValueType(%d)", uint32(t))
}

// fixedSize is the encoded size of a scalar type; 0 for string and array.
func (t ValueType) fixedSize() int {
	switch t {
	case TypeUint8, TypeInt8, TypeBool:
		return 1
	case TypeUint16, TypeInt16:
		return 2
	case TypeUint32, TypeInt32, TypeFloat32:
		return 4
	case TypeUint64, TypeInt64, TypeFloat64:
		return 8
	}
	return 0
}

// minSize is the fewest bytes one value of the type can occupy; it bounds
// how many elements a claimed array length can really have.
func (t ValueType) minSize() uint64 {
	switch t {
	case TypeString:
		return 8 // the length prefix
	case TypeArray:
		return 12 // element type and count
	}
	return uint64(t.fixedSize())
}

// Array is a metadata array value.
type Array struct {
	// Type is the element type.
	Type ValueType
	// Values holds the elements as a typed slice: []uint8, []int8, []uint16,
	// []int16, []uint32, []int32, []float32, []bool, []string, []uint64,
	// []int64, []float64, or []Array for nested arrays.
	Values any
}

// Len returns the number of elements.
func (a Array) Len() int {
	switch v := a.Values.(type) {
	case []uint8:
		return len(v)
	case []int8:
		return len(v)
	case []uint16:
		return len(v)
	case []int16:
		return len(v)
	case []uint32:
		return len(v)
	case []int32:
		return len(v)
	case []float32:
		return len(v)
	case []bool:
		return len(v)
	case []string:
		return len(v)
	case []uint64:
		return len(v)
	case []int64:
		return len(v)
	case []float64:
		return len(v)
	case []Array:
		return len(v)
	}
	return 0
}

// KV is one metadata key-value pair. Value holds a Go value of the matching
// type: uint8, int8, uint16, int16, uint32, int32, float32, bool, string,
// uint64, int64, float64, or Array.
type KV struct {
	Key   string
	Type  ValueType
	Value any
}

// GGMLType is a tensor's ggml element type.
type GGMLType uint32

// The ggml tensor types, numbered as in ggml.h. Gaps are types that ggml
// removed; GGUF files no longer contain them.
const (
	GGMLTypeF32     GGMLType = 0
	GGMLTypeF16     GGMLType = 1
	GGMLTypeQ4_0    GGMLType = 2
	GGMLTypeQ4_1    GGMLType = 3
	GGMLTypeQ5_0    GGMLType = 6
	GGMLTypeQ5_1    GGMLType = 7
	GGMLTypeQ8_0    GGMLType = 8
	GGMLTypeQ8_1    GGMLType = 9
	GGMLTypeQ2_K    GGMLType = 10
	GGMLTypeQ3_K    GGMLType = 11
	GGMLTypeQ4_K    GGMLType = 12
	GGMLTypeQ5_K    GGMLType = 13
	GGMLTypeQ6_K    GGMLType = 14
	GGMLTypeQ8_K    GGMLType = 15
	GGMLTypeIQ2_XXS GGMLType = 16
	GGMLTypeIQ2_XS  GGMLType = 17
	GGMLTypeIQ3_XXS GGMLType = 18
	GGMLTypeIQ1_S   GGMLType = 19
	GGMLTypeIQ4_NL  GGMLType = 20
	GGMLTypeIQ3_S   GGMLType = 21
	GGMLTypeIQ2_S   GGMLType = 22
	GGMLTypeIQ4_XS  GGMLType = 23
	GGMLTypeI8      GGMLType = 24
	GGMLTypeI16     GGMLType = 25
	GGMLTypeI32     GGMLType = 26
	GGMLTypeI64     GGMLType = 27
	GGMLTypeF64     GGMLType = 28
	GGMLTypeIQ1_M   GGMLType = 29
	GGMLTypeBF16    GGMLType = 30
	GGMLTypeTQ1_0   GGMLType = 34
	GGMLTypeTQ2_0   GGMLType = 35
	GGMLTypeMXFP4   GGMLType = 39
)

// ggmlTypeInfo gives a type's name and block layout: blockElems elements are
// stored in blockBytes bytes. The sizes are those of ggml's block structs.
type ggmlTypeInfo struct {
	name       string
	blockElems uint64
	blockBytes uint64
}

var ggmlTypes = map[GGMLType]ggmlTypeInfo{
	GGMLTypeF32:     {"F32", 1, 4},
	GGMLTypeF16:     {"F16", 1, 2},
	GGMLTypeQ4_0:    {"Q4_0", 32, 18},
	GGMLTypeQ4_1:    {"Q4_1", 32, 20},
	GGMLTypeQ5_0:    {"Q5_0", 32, 22},
	GGMLTypeQ5_1:    {"Q5_1", 32, 24},
	GGMLTypeQ8_0:    {"Q8_0", 32, 34},
	GGMLTypeQ8_1:    {"Q8_1", 32, 36},
	GGMLTypeQ2_K:    {"Q2_K", 256, 84},
	GGMLTypeQ3_K:    {"Q3_K", 256, 110},
	GGMLTypeQ4_K:    {"Q4_K", 256, 144},
	GGMLTypeQ5_K:    {"Q5_K", 256, 176},
	GGMLTypeQ6_K:    {"Q6_K", 256, 210},
	GGMLTypeQ8_K:    {"Q8_K", 256, 292},
	GGMLTypeIQ2_XXS: {"IQ2_XXS", 256, 66},
	GGMLTypeIQ2_XS:  {"IQ2_XS", 256, 74},
	GGMLTypeIQ3_XXS: {"IQ3_XXS", 256, 98},
	GGMLTypeIQ1_S:   {"IQ1_S", 256, 50},
	GGMLTypeIQ4_NL:  {"IQ4_NL", 32, 18},
	GGMLTypeIQ3_S:   {"IQ3_S", 256, 110},
	GGMLTypeIQ2_S:   {"IQ2_S", 256, 82},
	GGMLTypeIQ4_XS:  {"IQ4_XS", 256, 136},
	GGMLTypeI8:      {"I8", 1, 1},
	GGMLTypeI16:     {"I16", 1, 2},
	GGMLTypeI32:     {"I32", 1, 4},
	GGMLTypeI64:     {"I64", 1, 8},
	GGMLTypeF64:     {"F64", 1, 8},
	GGMLTypeIQ1_M:   {"IQ1_M", 256, 56},
	GGMLTypeBF16:    {"BF16", 1, 2},
	GGMLTypeTQ1_0:   {"TQ1_0", 256, 54},
	GGMLTypeTQ2_0:   {"TQ2_0", 256, 66},
	GGMLTypeMXFP4:   {"MXFP4", 32, 17},
}

// String returns ggml's name for the type ("Q4_K", "F16").
func (t GGMLType) String() string {
	if info, ok := ggmlTypes[t]; ok {
		return info.name
	}
	return fmt.Sprintf("GGMLType(%d)", uint32(t))
}

// BlockSize reports how many elements one block of the type holds and how
// many bytes it takes; ok is false for a type this package does not know.
func (t GGMLType) BlockSize() (elems, bytes uint64, ok bool) {
	info, ok := ggmlTypes[t]
	return info.blockElems, info.blockBytes, ok
}

// TensorInfo describes one tensor as the GGUF header declares it.
type TensorInfo struct {
	Name string
	// Dims lists the extent of each dimension, innermost (row length) first.
	Dims []uint64
	Type GGMLType
	// Offset is relative to the start of the data section (File.DataOffset).
	Offset uint64
}

// Elements returns the number of elements (the product of Dims). The reader
// rejects tensors whose element count overflows int64, so this is exact for
// any TensorInfo it returns.
func (t TensorInfo) Elements() uint64 {
	n := uint64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// Size returns the tensor's data size in bytes; ok is false when the type is
// unknown or the size does not fit in 64 bits.
func (t TensorInfo) Size() (size uint64, ok bool) {
	elems, bytes, known := t.Type.BlockSize()
	if !known {
		return 0, false
	}
	rows := uint64(1)
	row := uint64(1)
	for i, d := range t.Dims {
		if i == 0 {
			row = d
			continue
		}
		hi, lo := bits.Mul64(rows, d)
		if hi != 0 {
			return 0, false
		}
		rows = lo
	}
	if row%elems != 0 {
		return 0, false
	}
	hi, rowBytes := bits.Mul64(row/elems, bytes)
	if hi != 0 {
		return 0, false
	}
	hi, size = bits.Mul64(rowBytes, rows)
	return size, hi == 0
}

// File is the parsed header of a GGUF file: metadata and tensor infos. It
// holds no tensor data.
type File struct {
	// Path is the name the file was read under, used in error messages.
	Path string
	// Size is the file size in bytes.
	Size int64
	// Version is the GGUF format version (2 or 3).
	Version uint32
	// KV lists the metadata in file order.
	KV []KV
	// Tensors lists the tensor infos in file order.
	Tensors []TensorInfo
	// Alignment is the data alignment (general.alignment, default 32).
	Alignment uint64
	// DataOffset is where the tensor data section starts in the file.
	DataOffset int64

	index map[string]int
}

// ReadFile opens path and reads its GGUF header, validating it; the weights
// are not read. Errors name the file.
func ReadFile(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s: is a directory, not a GGUF file", path)
	}
	return Read(f, st.Size(), path)
}

// Read parses and validates the GGUF header of the size-byte file readable
// through r. name is used in error messages. Only the header is read, so the
// cost does not depend on the size of the weights.
//
// Besides parsing, Read checks what llama.cpp would otherwise trip over:
// the magic, the version, duplicate keys and tensor names, the alignment,
// tensor shapes and types, and that every tensor's data lies inside the file.
// A tensor of a type this package does not know is accepted without the
// extent check, so newer files still open.
func Read(r io.ReaderAt, size int64, name string) (*File, error) {
	if size < 0 {
		return nil, fmt.Errorf("%s: negative size %d", name, size)
	}
	d := &decoder{
		r:    bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 64<<10),
		size: size,
		name: name,
	}
	f, err := d.file()
	if err != nil {
		return nil, err
	}
	return f, nil
}

// decoder reads the header sequentially, tracking the position so that
// every length can be checked against the bytes that remain.
type decoder struct {
	r    *bufio.Reader
	pos  int64
	size int64
	name string
	// where describes the item being read, for error messages.
	where   string
	buf     [8]byte
	scratch []byte
}

func (d *decoder) errorf(kind error, format string, args ...any) error {
	return &FormatError{Path: d.name, Kind: kind, Detail: fmt.Sprintf(format, args...)}
}

func (d *decoder) remaining() uint64 { return uint64(d.size - d.pos) }

func (d *decoder) truncated(need uint64) error {
	end, carry := bits.Add64(uint64(d.pos), need, 0)
	if carry != 0 {
		end = math.MaxUint64
	}
	return d.errorf(ErrTruncated, "file is %d bytes, header needs at least %d reading %s", d.size, end, d.where)
}

// read fills p, reporting a read past the end of the file as truncation.
func (d *decoder) read(p []byte) error {
	if uint64(len(p)) > d.remaining() {
		return d.truncated(uint64(len(p)))
	}
	n, err := io.ReadFull(d.r, p)
	d.pos += int64(n)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			// The reader ended before the size it was given.
			return d.errorf(ErrTruncated, "file ends at %d bytes, before its stated size %d, reading %s", d.pos, d.size, d.where)
		}
		return fmt.Errorf("%s: reading %s: %w", d.name, d.where, err)
	}
	return nil
}

func (d *decoder) u32() (uint32, error) {
	if err := d.read(d.buf[:4]); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(d.buf[:4]), nil
}

func (d *decoder) u64() (uint64, error) {
	if err := d.read(d.buf[:8]); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(d.buf[:8]), nil
}

// str reads a length-prefixed string of at most limit bytes.
func (d *decoder) str(limit uint64) (string, error) {
	n, err := d.u64()
	if err != nil {
		return "", err
	}
	if n > limit {
		return "", d.errorf(ErrCorrupt, "%s: string length %d exceeds the limit of %d", d.where, n, limit)
	}
	if n > d.remaining() {
		return "", d.truncated(n)
	}
	// Read into a reused buffer so that each string costs one allocation,
	// the conversion; vocabularies hold hundreds of thousands of strings.
	if uint64(cap(d.scratch)) < n {
		d.scratch = make([]byte, n)
	}
	b := d.scratch[:n]
	if err := d.read(b); err != nil {
		return "", err
	}
	return string(b), nil
}

func (d *decoder) file() (*File, error) {
	d.where = "the magic"
	if d.size < 4 {
		return nil, d.errorf(ErrNotGGUF, "file is only %d bytes, too short for the \"GGUF\" magic", d.size)
	}
	var magic [4]byte
	if err := d.read(magic[:]); err != nil {
		return nil, err
	}
	if string(magic[:]) != "GGUF" {
		return nil, d.errorf(ErrNotGGUF, "starts with %q, want magic \"GGUF\"", magic[:])
	}

	d.where = "the version"
	version, err := d.u32()
	if err != nil {
		return nil, err
	}
	switch {
	case version == 2 || version == 3:
	case version != 0 && version&0xFFFF == 0 && bits.ReverseBytes32(version) <= 3:
		return nil, d.errorf(ErrUnsupportedVersion, "%d looks byte-swapped: big-endian GGUF files are not supported", version)
	case version == 1:
		return nil, d.errorf(ErrUnsupportedVersion, "1 is obsolete; this reader supports versions 2 and 3")
	default:
		return nil, d.errorf(ErrUnsupportedVersion, "%d; this reader supports versions 2 and 3", version)
	}

	d.where = "the tensor count"
	nTensors, err := d.u64()
	if err != nil {
		return nil, err
	}
	d.where = "the metadata count"
	nKV, err := d.u64()
	if err != nil {
		return nil, err
	}
	// Each tensor info takes at least 24 bytes (name length, dimension count,
	// type, offset) and each key-value pair at least 13 (key length, type,
	// one byte of value), so the counts are bounded by the file's size.
	if nTensors > maxTensors || nKV > maxKVs {
		return nil, d.errorf(ErrCorrupt, "header claims %d tensors and %d metadata keys, beyond the limits of %d and %d", nTensors, nKV, maxTensors, maxKVs)
	}
	if nTensors*24+nKV*13 > d.remaining() {
		return nil, d.errorf(ErrCorrupt, "header claims %d tensors and %d metadata keys, more than a %d-byte file can hold", nTensors, nKV, d.size)
	}

	f := &File{
		Path:    d.name,
		Size:    d.size,
		Version: version,
		// Capacities are capped: the counts are not yet proven, and a large
		// file leaves room for large (false) counts.
		KV:        make([]KV, 0, min(nKV, 4096)),
		Tensors:   make([]TensorInfo, 0, min(nTensors, 4096)),
		Alignment: DefaultAlignment,
		index:     make(map[string]int, min(nKV, 4096)),
	}

	for i := uint64(0); i < nKV; i++ {
		d.where = fmt.Sprintf("metadata key %d", i)
		key, err := d.str(maxKeyLen)
		if err != nil {
			return nil, err
		}
		d.where = fmt.Sprintf("metadata key %q", key)
		if _, dup := f.index[key]; dup {
			return nil, d.errorf(ErrCorrupt, "duplicate metadata key %q", key)
		}
		t, err := d.u32()
		if err != nil {
			return nil, err
		}
		v, err := d.value(ValueType(t), 0)
		if err != nil {
			return nil, err
		}
		f.index[key] = len(f.KV)
		f.KV = append(f.KV, KV{Key: key, Type: ValueType(t), Value: v})
	}

	if i, ok := f.index["general.alignment"]; ok {
		// llama.cpp asserts on any other type, which would abort the process.
		a, isU32 := f.KV[i].Value.(uint32)
		if !isU32 {
			return nil, d.errorf(ErrCorrupt, "general.alignment is %s, want uint32", f.KV[i].Type)
		}
		if a == 0 || a&(a-1) != 0 {
			return nil, d.errorf(ErrCorrupt, "general.alignment %d is not a power of two", a)
		}
		f.Alignment = uint64(a)
	}

	names := make(map[string]struct{}, min(nTensors, 4096))
	for i := uint64(0); i < nTensors; i++ {
		ti, err := d.tensorInfo(i, f.Alignment)
		if err != nil {
			return nil, err
		}
		if _, dup := names[ti.Name]; dup {
			return nil, d.errorf(ErrCorrupt, "duplicate tensor name %q", ti.Name)
		}
		names[ti.Name] = struct{}{}
		f.Tensors = append(f.Tensors, ti)
	}

	// The data section starts at the next multiple of the alignment.
	start := (uint64(d.pos) + f.Alignment - 1) / f.Alignment * f.Alignment
	f.DataOffset = int64(start)
	// Report the tensor reaching furthest, so the message says how big the
	// file must be rather than merely the first tensor that does not fit.
	var far uint64
	farName := ""
	for _, ti := range f.Tensors {
		n, ok := ti.Size()
		if !ok {
			if _, _, known := ti.Type.BlockSize(); known {
				return nil, d.errorf(ErrCorrupt, "tensor %q: size of %v %s overflows", ti.Name, ti.Dims, ti.Type)
			}
			continue // unknown type: no size, so no extent check
		}
		end, c1 := bits.Add64(start, ti.Offset, 0)
		end, c2 := bits.Add64(end, n, 0)
		if c1|c2 != 0 {
			end = math.MaxUint64
		}
		if end > far {
			far, farName = end, ti.Name
		}
	}
	if far > uint64(d.size) {
		return nil, d.errorf(ErrTruncated, "file is %d bytes, tensor %q needs up to %d", d.size, farName, far)
	}
	return f, nil
}

func (d *decoder) tensorInfo(i uint64, alignment uint64) (TensorInfo, error) {
	var ti TensorInfo
	d.where = fmt.Sprintf("tensor %d name", i)
	name, err := d.str(maxStringLen)
	if err != nil {
		return ti, err
	}
	if name == "" {
		// llama.cpp looks tensors up by name; an empty one is damage, such as
		// a count that runs into the zero padding after the header.
		return ti, d.errorf(ErrCorrupt, "tensor %d has an empty name", i)
	}
	if len(name) > maxTensorName {
		return ti, d.errorf(ErrCorrupt, "tensor %d name is %d bytes, longer than llama.cpp's limit of %d", i, len(name), maxTensorName)
	}
	ti.Name = name
	d.where = fmt.Sprintf("tensor %q", name)

	nDims, err := d.u32()
	if err != nil {
		return ti, err
	}
	if nDims > maxDims {
		return ti, d.errorf(ErrCorrupt, "tensor %q has %d dimensions, at most %d allowed", name, nDims, maxDims)
	}
	ti.Dims = make([]uint64, nDims)
	elems := uint64(1)
	for j := range ti.Dims {
		n, err := d.u64()
		if err != nil {
			return ti, err
		}
		// llama.cpp divides by the extents to check for overflow, so a zero
		// would crash it; a negative one (as int64) is nonsense.
		if n == 0 || n > math.MaxInt64 {
			return ti, d.errorf(ErrCorrupt, "tensor %q dimension %d has invalid extent %d", name, j, int64(n))
		}
		hi, lo := bits.Mul64(elems, n)
		if hi != 0 || lo > math.MaxInt64 {
			return ti, d.errorf(ErrCorrupt, "tensor %q: element count of shape %v overflows", name, ti.Dims[:j+1])
		}
		elems = lo
		ti.Dims[j] = n
	}

	t, err := d.u32()
	if err != nil {
		return ti, err
	}
	ti.Type = GGMLType(t)
	if blockElems, _, known := ti.Type.BlockSize(); known {
		row := uint64(1)
		if nDims > 0 {
			row = ti.Dims[0]
		}
		if row%blockElems != 0 {
			return ti, d.errorf(ErrCorrupt, "tensor %q of type %s has rows of %d elements, not a multiple of the block size %d", name, ti.Type, row, blockElems)
		}
	}

	off, err := d.u64()
	if err != nil {
		return ti, err
	}
	if off%alignment != 0 {
		return ti, d.errorf(ErrCorrupt, "tensor %q offset %d is not a multiple of the alignment %d", name, off, alignment)
	}
	ti.Offset = off
	return ti, nil
}

// value reads one value of type t; depth counts enclosing arrays.
func (d *decoder) value(t ValueType, depth int) (any, error) {
	switch t {
	case TypeString:
		return d.str(maxStringLen)
	case TypeArray:
		return d.array(depth + 1)
	}
	size := t.fixedSize()
	if size == 0 {
		return nil, d.errorf(ErrCorrupt, "%s has unknown value type %d", d.where, uint32(t))
	}
	if err := d.read(d.buf[:size]); err != nil {
		return nil, err
	}
	b := d.buf[:size]
	le := binary.LittleEndian
	switch t {
	case TypeUint8:
		return b[0], nil
	case TypeInt8:
		return int8(b[0]), nil
	case TypeBool:
		// llama.cpp reads any non-zero byte as true.
		return b[0] != 0, nil
	case TypeUint16:
		return le.Uint16(b), nil
	case TypeInt16:
		return int16(le.Uint16(b)), nil
	case TypeUint32:
		return le.Uint32(b), nil
	case TypeInt32:
		return int32(le.Uint32(b)), nil
	case TypeFloat32:
		return math.Float32frombits(le.Uint32(b)), nil
	case TypeUint64:
		return le.Uint64(b), nil
	case TypeInt64:
		return int64(le.Uint64(b)), nil
	default: // TypeFloat64
		return math.Float64frombits(le.Uint64(b)), nil
	}
}

func (d *decoder) array(depth int) (Array, error) {
	if depth > maxArrayDepth {
		return Array{}, d.errorf(ErrCorrupt, "%s: arrays nested deeper than %d", d.where, maxArrayDepth)
	}
	et, err := d.u32()
	if err != nil {
		return Array{}, err
	}
	t := ValueType(et)
	n, err := d.u64()
	if err != nil {
		return Array{}, err
	}
	elem := t.minSize()
	if elem == 0 {
		return Array{}, d.errorf(ErrCorrupt, "%s: array has unknown element type %d", d.where, et)
	}
	if n > maxArrayLen {
		return Array{}, d.errorf(ErrCorrupt, "%s: array length %d exceeds the limit of %d", d.where, n, maxArrayLen)
	}
	if n > d.remaining()/elem {
		return Array{}, d.errorf(ErrTruncated, "file is %d bytes, %s: array of %d %s values needs at least %d more bytes", d.size, d.where, n, t, n*elem)
	}
	a := Array{Type: t}
	switch t {
	case TypeString:
		// Strings are read one by one, so memory grows only with bytes that
		// really exist.
		vs := make([]string, 0, min(n, 4096))
		for range n {
			s, err := d.str(maxStringLen)
			if err != nil {
				return Array{}, err
			}
			vs = append(vs, s)
		}
		a.Values = vs
	case TypeArray:
		vs := make([]Array, 0, min(n, 4096))
		for range n {
			v, err := d.array(depth + 1)
			if err != nil {
				return Array{}, err
			}
			vs = append(vs, v)
		}
		a.Values = vs
	default:
		// Fixed-size elements: n*size bytes were checked to exist above.
		raw := make([]byte, n*elem)
		if err := d.read(raw); err != nil {
			return Array{}, err
		}
		a.Values = decodeFixed(t, raw, int(n))
	}
	return a, nil
}

func decodeFixed(t ValueType, raw []byte, n int) any {
	le := binary.LittleEndian
	switch t {
	case TypeUint8:
		return raw
	case TypeInt8:
		return decodeEach(raw, n, 1, func(b []byte) int8 { return int8(b[0]) })
	case TypeBool:
		return decodeEach(raw, n, 1, func(b []byte) bool { return b[0] != 0 })
	case TypeUint16:
		return decodeEach(raw, n, 2, le.Uint16)
	case TypeInt16:
		return decodeEach(raw, n, 2, func(b []byte) int16 { return int16(le.Uint16(b)) })
	case TypeUint32:
		return decodeEach(raw, n, 4, le.Uint32)
	case TypeInt32:
		return decodeEach(raw, n, 4, func(b []byte) int32 { return int32(le.Uint32(b)) })
	case TypeFloat32:
		return decodeEach(raw, n, 4, func(b []byte) float32 { return math.Float32frombits(le.Uint32(b)) })
	case TypeUint64:
		return decodeEach(raw, n, 8, le.Uint64)
	case TypeInt64:
		return decodeEach(raw, n, 8, func(b []byte) int64 { return int64(le.Uint64(b)) })
	default: // TypeFloat64
		return decodeEach(raw, n, 8, func(b []byte) float64 { return math.Float64frombits(le.Uint64(b)) })
	}
}

// decodeEach decodes n elements of size bytes each from raw.
func decodeEach[T any](raw []byte, n, size int, f func([]byte) T) []T {
	vs := make([]T, n)
	for i := range vs {
		vs[i] = f(raw[size*i:])
	}
	return vs
}

// Get returns the value stored under key (see KV for the Go types).
func (f *File) Get(key string) (any, bool) {
	i, ok := f.index[key]
	if !ok {
		return nil, false
	}
	return f.KV[i].Value, true
}

// GetString returns the string stored under key; ok is false when the key is
// absent or not a string.
func (f *File) GetString(key string) (string, bool) {
	v, _ := f.Get(key)
	s, ok := v.(string)
	return s, ok
}

// GetUint returns the integer stored under key as a uint64, whatever its
// integer width; ok is false when the key is absent, not an integer, or
// negative. Writers disagree on the integer types of keys such as
// context_length, hence the leniency.
func (f *File) GetUint(key string) (uint64, bool) {
	v, _ := f.Get(key)
	switch x := v.(type) {
	case uint8:
		return uint64(x), true
	case uint16:
		return uint64(x), true
	case uint32:
		return uint64(x), true
	case uint64:
		return x, true
	case int8:
		return uint64(x), x >= 0
	case int16:
		return uint64(x), x >= 0
	case int32:
		return uint64(x), x >= 0
	case int64:
		return uint64(x), x >= 0
	}
	return 0, false
}

// GetFloat returns the number stored under key as a float64; ok is false
// when the key is absent or not numeric.
func (f *File) GetFloat(key string) (float64, bool) {
	v, _ := f.Get(key)
	switch x := v.(type) {
	case float32:
		return float64(x), true
	case float64:
		return x, true
	case int8:
		return float64(x), true
	case int16:
		return float64(x), true
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	}
	if u, ok := f.GetUint(key); ok {
		return float64(u), true
	}
	return 0, false
}

// GetBool returns the bool stored under key.
func (f *File) GetBool(key string) (value, ok bool) {
	v, _ := f.Get(key)
	value, ok = v.(bool)
	return value, ok
}

// Architecture returns general.architecture (e.g. "llama", "bert"), which is
// also the prefix of the architecture-specific keys.
func (f *File) Architecture() string {
	s, _ := f.GetString("general.architecture")
	return s
}

// Name returns general.name, or "" when absent.
func (f *File) Name() string {
	s, _ := f.GetString("general.name")
	return s
}

// archUint reads "<architecture>.<suffix>".
func (f *File) archUint(suffix string) uint64 {
	arch := f.Architecture()
	if arch == "" {
		return 0
	}
	n, _ := f.GetUint(arch + "." + suffix)
	return n
}

// ContextLength returns the context length the model was trained with
// (<arch>.context_length), or 0 when absent.
func (f *File) ContextLength() uint64 { return f.archUint("context_length") }

// EmbeddingLength returns the hidden size (<arch>.embedding_length), which is
// the embedding dimension for embedding models; 0 when absent.
func (f *File) EmbeddingLength() uint64 { return f.archUint("embedding_length") }

// BlockCount returns the number of transformer blocks (<arch>.block_count),
// or 0 when absent.
func (f *File) BlockCount() uint64 { return f.archUint("block_count") }

// ChatTemplate returns tokenizer.chat_template, or "" when the model has
// none (base models such as stories260K).
func (f *File) ChatTemplate() string {
	s, _ := f.GetString("tokenizer.chat_template")
	return s
}

// PoolingType is how an embedding model pools token states into one vector,
// numbered as llama.cpp's enum llama_pooling_type.
type PoolingType int32

// Pooling types.
const (
	PoolingUnspecified PoolingType = -1
	PoolingNone        PoolingType = 0
	PoolingMean        PoolingType = 1
	PoolingCLS         PoolingType = 2
	PoolingLast        PoolingType = 3
	PoolingRank        PoolingType = 4
)

// String returns the pooling's lower-case name ("mean", "cls").
func (p PoolingType) String() string {
	switch p {
	case PoolingUnspecified:
		return "unspecified"
	case PoolingNone:
		return "none"
	case PoolingMean:
		return "mean"
	case PoolingCLS:
		return "cls"
	case PoolingLast:
		return "last"
	case PoolingRank:
		return "rank"
	}
	return fmt.Sprintf("PoolingType(%d)", int32(p))
}

// PoolingType returns <arch>.pooling_type, or PoolingUnspecified when
// absent.
func (f *File) PoolingType() PoolingType {
	arch := f.Architecture()
	if arch == "" {
		return PoolingUnspecified
	}
	n, ok := f.GetUint(arch + ".pooling_type")
	if !ok || n > math.MaxInt32 {
		return PoolingUnspecified
	}
	return PoolingType(n)
}

// FileType is the predominant quantisation of a model file
// (general.file_type), numbered as llama.cpp's enum llama_ftype.
type FileType uint32

// FileTypeUnknown is returned when general.file_type is absent.
const FileTypeUnknown FileType = math.MaxUint32

var fileTypeNames = map[FileType]string{
	0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 4: "Q4_1_SOME_F16",
	7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M",
	13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M",
	18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS",
	23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M",
	28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16",
	36: "TQ1_0", 37: "TQ2_0", 38: "MXFP4_MOE",
	FileTypeUnknown: "unknown",
}

// String returns the quantisation's conventional name ("Q4_K_M").
func (t FileType) String() string {
	if s, ok := fileTypeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("FileType(%d)", uint32(t))
}

// FileType returns general.file_type, or FileTypeUnknown when absent.
func (f *File) FileType() FileType {
	n, ok := f.GetUint("general.file_type")
	if !ok || n >= uint64(FileTypeUnknown) {
		return FileTypeUnknown
	}
	return FileType(n)
}

// ParameterCount returns the total number of tensor elements, which is the
// model's parameter count.
func (f *File) ParameterCount() uint64 {
	var n uint64
	for _, t := range f.Tensors {
		n += t.Elements()
	}
	return n
}

// Tensor returns the tensor info with the given name.
func (f *File) Tensor(name string) (TensorInfo, bool) {
	for _, t := range f.Tensors {
		if t.Name == name {
			return t, true
		}
	}
	return TensorInfo{}, false
}

// Summary is the part of a GGUF header that the serving layers use, small
// enough to keep for every catalogued model (the full metadata carries the
// whole vocabulary).
type Summary struct {
	Version         uint32      `json:"gguf_version"`
	Architecture    string      `json:"architecture"`
	Name            string      `json:"name,omitempty"`
	ContextLength   uint64      `json:"context_length,omitempty"`
	EmbeddingLength uint64      `json:"embedding_length,omitempty"`
	BlockCount      uint64      `json:"block_count,omitempty"`
	ChatTemplate    string      `json:"chat_template,omitempty"`
	PoolingType     PoolingType `json:"pooling_type"`
	FileType        FileType    `json:"file_type"`
	ParameterCount  uint64      `json:"parameter_count"`
	TensorCount     int         `json:"tensor_count"`
}

// Summary extracts the Summary of f.
func (f *File) Summary() Summary {
	return Summary{
		Version:         f.Version,
		Architecture:    f.Architecture(),
		Name:            f.Name(),
		ContextLength:   f.ContextLength(),
		EmbeddingLength: f.EmbeddingLength(),
		BlockCount:      f.BlockCount(),
		ChatTemplate:    f.ChatTemplate(),
		PoolingType:     f.PoolingType(),
		FileType:        f.FileType(),
		ParameterCount:  f.ParameterCount(),
		TensorCount:     len(f.Tensors),
	}
}

// String gives a one-line description, for logs and the command line.
func (s Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s", s.Architecture)
	if s.Name != "" {
		fmt.Fprintf(&b, " %q", s.Name)
	}
	fmt.Fprintf(&b, ", %d params, %s", s.ParameterCount, s.FileType)
	if s.ContextLength > 0 {
		fmt.Fprintf(&b, ", ctx %d", s.ContextLength)
	}
	if s.EmbeddingLength > 0 {
		fmt.Fprintf(&b, ", embd %d", s.EmbeddingLength)
	}
	if s.PoolingType != PoolingUnspecified {
		fmt.Fprintf(&b, ", pooling %s", s.PoolingType)
	}
	return b.String()
}
