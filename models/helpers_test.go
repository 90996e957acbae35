package models

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
)

var (
	fallbackOnce sync.Once
	fallbackDir  string
	fallbackErr  error
)

// testModel returns the path of a pinned test model: from the repository's
// models/cache when `make models` has run, otherwise copied once per test
// binary into a temporary folder, so `go test ./models/` works on its own.
func testModel(tb testing.TB, name string) string {
	tb.Helper()
	if p, err := TestModelPath(name); err == nil {
		return p
	}
	fallbackOnce.Do(func() {
		fallbackDir, fallbackErr = os.MkdirTemp("", "infergate-models-test-")
		if fallbackErr == nil {
			_, fallbackErr = EnsureTestModels(context.Background(), fallbackDir)
		}
	})
	if fallbackErr != nil {
		tb.Fatalf("test models unavailable (run `make models`): %v", fallbackErr)
	}
	return filepath.Join(fallbackDir, name)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fallbackDir != "" {
		os.RemoveAll(fallbackDir)
	}
	os.Exit(code)
}

func readAll(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// ggufHeader returns the bytes of a real model up to its data section.
func ggufHeader(tb testing.TB, name string) []byte {
	tb.Helper()
	path := testModel(tb, name)
	f, err := ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return readAll(tb, path)[:f.DataOffset]
}

// builder writes GGUF files for tests, including malformed ones.
type builder struct{ bytes.Buffer }

func (b *builder) u32(v uint32) *builder {
	binary.Write(&b.Buffer, binary.LittleEndian, v)
	return b
}

func (b *builder) u64(v uint64) *builder {
	binary.Write(&b.Buffer, binary.LittleEndian, v)
	return b
}

func (b *builder) str(s string) *builder {
	b.u64(uint64(len(s)))
	b.WriteString(s)
	return b
}

// header writes magic, version and counts.
func (b *builder) header(version uint32, nTensors, nKV uint64) *builder {
	b.WriteString("GGUF")
	return b.u32(version).u64(nTensors).u64(nKV)
}

// kv writes one key-value pair; v must be of the Go type matching t (see KV).
func (b *builder) kv(key string, t ValueType, v any) *builder {
	b.str(key)
	b.u32(uint32(t))
	b.value(t, v)
	return b
}

func (b *builder) value(t ValueType, v any) {
	switch t {
	case TypeString:
		b.str(v.(string))
	case TypeArray:
		a := v.(Array)
		b.u32(uint32(a.Type))
		rv := reflect.ValueOf(a.Values)
		b.u64(uint64(rv.Len()))
		for i := 0; i < rv.Len(); i++ {
			b.value(a.Type, rv.Index(i).Interface())
		}
	case TypeBool:
		if v.(bool) {
			b.WriteByte(1)
		} else {
			b.WriteByte(0)
		}
	default:
		if err := binary.Write(&b.Buffer, binary.LittleEndian, v); err != nil {
			panic(fmt.Sprintf("encoding %T as %s: %v", v, t, err))
		}
	}
}

func (b *builder) tensor(name string, dims []uint64, t GGMLType, offset uint64) *builder {
	b.str(name)
	b.u32(uint32(len(dims)))
	for _, d := range dims {
		b.u64(d)
	}
	return b.u32(uint32(t)).u64(offset)
}

// pad zero-fills to the next multiple of align.
func (b *builder) pad(align int) *builder {
	for b.Len()%align != 0 {
		b.WriteByte(0)
	}
	return b
}

type testTensor struct {
	name string
	dims []uint64
	typ  GGMLType
}

// buildValid writes a complete, valid GGUF v3 file with the given metadata
// and tensors laid out as llama.cpp expects.
func buildValid(kvs []KV, tensors []testTensor) []byte {
	var b builder
	b.header(3, uint64(len(tensors)), uint64(len(kvs)))
	align := uint64(DefaultAlignment)
	for _, kv := range kvs {
		b.kv(kv.Key, kv.Type, kv.Value)
		if kv.Key == "general.alignment" {
			align = uint64(kv.Value.(uint32))
		}
	}
	var off uint64
	var sizes []uint64
	for _, t := range tensors {
		b.tensor(t.name, t.dims, t.typ, off)
		n, ok := TensorInfo{Dims: t.dims, Type: t.typ}.Size()
		if !ok {
			n = 64
		}
		sizes = append(sizes, n)
		off += (n + align - 1) / align * align
	}
	b.pad(int(align))
	for _, n := range sizes {
		b.Write(make([]byte, n))
		b.pad(int(align))
	}
	return b.Bytes()
}

// allTypesKVs has one value of every metadata type, nested arrays included.
func allTypesKVs() []KV {
	return []KV{
		{"general.architecture", TypeString, "llama"},
		{"general.name", TypeString, "tiny ünïcode ✓"},
		{"t.u8", TypeUint8, uint8(200)},
		{"t.i8", TypeInt8, int8(-5)},
		{"t.u16", TypeUint16, uint16(65000)},
		{"t.i16", TypeInt16, int16(-30000)},
		{"t.u32", TypeUint32, uint32(4000000000)},
		{"t.i32", TypeInt32, int32(-2000000000)},
		{"t.f32", TypeFloat32, float32(1.5)},
		{"t.bool", TypeBool, true},
		{"t.u64", TypeUint64, uint64(math.MaxUint64)},
		{"t.i64", TypeInt64, int64(math.MinInt64)},
		{"t.f64", TypeFloat64, math.Pi},
		{"t.empty", TypeString, ""},
		{"t.arr.u8", TypeArray, Array{TypeUint8, []uint8{1, 2, 3}}},
		{"t.arr.i8", TypeArray, Array{TypeInt8, []int8{-1, 0, 1}}},
		{"t.arr.u16", TypeArray, Array{TypeUint16, []uint16{1, 65535}}},
		{"t.arr.i16", TypeArray, Array{TypeInt16, []int16{-1, 1}}},
		{"t.arr.u32", TypeArray, Array{TypeUint32, []uint32{7}}},
		{"t.arr.i32", TypeArray, Array{TypeInt32, []int32{-7, 7}}},
		{"t.arr.f32", TypeArray, Array{TypeFloat32, []float32{0.25, -2}}},
		{"t.arr.bool", TypeArray, Array{TypeBool, []bool{true, false}}},
		{"t.arr.str", TypeArray, Array{TypeString, []string{"a", "", "héllo"}}},
		{"t.arr.u64", TypeArray, Array{TypeUint64, []uint64{1 << 40}}},
		{"t.arr.i64", TypeArray, Array{TypeInt64, []int64{-1 << 40}}},
		{"t.arr.f64", TypeArray, Array{TypeFloat64, []float64{1e300}}},
		{"t.arr.empty", TypeArray, Array{TypeInt32, []int32{}}},
		{"t.arr.nested", TypeArray, Array{TypeArray, []Array{
			{TypeString, []string{"x", "y"}},
			{TypeArray, []Array{{TypeUint8, []uint8{9}}}},
		}}},
		{"llama.context_length", TypeUint64, uint64(4096)},
		{"llama.embedding_length", TypeInt32, int32(128)},
		{"llama.block_count", TypeUint16, uint16(3)},
		{"llama.pooling_type", TypeUint32, uint32(2)},
		{"general.file_type", TypeUint32, uint32(7)},
		{"tokenizer.chat_template", TypeString, "{{ messages }}"},
	}
}
